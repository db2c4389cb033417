//! `database.*`: where decisions are written.
use super::error::Invalid;
use super::secret::SecretUrl;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://` or `postgresql://`.
    pub url: SecretUrl,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: SecretUrl::new("postgres://postgres@127.0.0.1:5432/leadrouter"),
        }
    }
}

impl DatabaseConfig {
    pub(super) fn check(&self) -> Result<(), Invalid> {
        super::check_scheme(&self.url, &["postgres", "postgresql"])
            .map_err(|m| Invalid::new("database.url", m))?;
        // The parser the store connects with.
        sqlx::postgres::PgConnectOptions::from_str(self.url.expose()).map_err(|e| {
            Invalid::new(
                "database.url",
                format!(
                    "invalid PostgreSQL URL {}: {}",
                    self.url,
                    self.url.scrub(&e.to_string())
                ),
            )
        })?;
        Ok(())
    }
}
