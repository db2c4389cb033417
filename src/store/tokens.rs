//! The `api_tokens` table: who may use the admin API (SPEC 9). Only the SHA-256 of a
//! token is stored; the token itself is shown once, by `tokens add`, and never kept.
//!
//! A request's token is hashed and its row found by that hash (an index lookup: its
//! timing tells nothing about the token, only about a hash nobody can invert), then the
//! stored hash is compared with the computed one in constant time (`subtle`) before the
//! row is believed.
use super::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The start of every token: recognisable in a config file or a secret scanner.
pub const TOKEN_PREFIX: &str = "lr_";
/// Random bytes in a token (from the operating system's generator).
const TOKEN_BYTES: usize = 32;

/// What a token may do (SPEC 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// The token's name is an agent id: its own leads, and changes for itself.
    Agent,
    /// Reads everything, changes nothing.
    Viewer,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Agent, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Agent => "agent",
            Self::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A token's row, without its hash (`tokens list`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    name: String,
    role: String,
    created_at: DateTime<Utc>,
    created_by: String,
    revoked_at: Option<DateTime<Utc>>,
}

impl TokenRow {
    fn info(self) -> Result<TokenInfo, StoreError> {
        let role = Role::parse(&self.role).ok_or_else(|| {
            StoreError::Unexpected(format!("token {:?} has role {:?}", self.name, self.role))
        })?;
        Ok(TokenInfo {
            name: self.name,
            role,
            created_at: self.created_at,
            created_by: self.created_by,
            revoked_at: self.revoked_at,
        })
    }
}

/// Who a valid token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    pub name: String,
    pub role: Role,
}

/// Why a token could not be added.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(
        "a token named {0:?} exists and is not revoked: revoke it first (`leadrouter tokens revoke {0}`)"
    )]
    Exists(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for TokenError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

/// A new random token: [`TOKEN_PREFIX`] and 64 hex digits (32 bytes from the OS).
pub fn new_token() -> Result<String, StoreError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| StoreError::Unexpected(format!("no random bytes from the OS: {e}")))?;
    Ok(format!("{TOKEN_PREFIX}{}", hex::encode(bytes)))
}

fn sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Store {
    /// Adds a token named `name` with `role`, made by `actor`, and returns it: the only
    /// time it is seen. A revoked token's name may be given a new token; a live one's not.
    pub async fn add_token(
        &self,
        name: &str,
        role: Role,
        actor: &str,
    ) -> Result<String, TokenError> {
        let token = new_token()?;
        let hash = sha256(&token);
        let stored = sqlx::query(
            "INSERT INTO api_tokens (name, role, token_sha256, created_at, created_by)
             VALUES ($1, $2, $3, now(), $4)
             ON CONFLICT (name) DO UPDATE SET
                 role = EXCLUDED.role, token_sha256 = EXCLUDED.token_sha256,
                 created_at = EXCLUDED.created_at, created_by = EXCLUDED.created_by,
                 revoked_at = NULL
             WHERE api_tokens.revoked_at IS NOT NULL",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(&hash[..])
        .bind(actor)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if stored == 0 {
            return Err(TokenError::Exists(name.to_owned()));
        }
        Ok(token)
    }

    /// Every token, by name, without hashes.
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let rows: Vec<TokenRow> = sqlx::query_as(
            "SELECT name, role, created_at, created_by, revoked_at FROM api_tokens ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TokenRow::info).collect()
    }

    /// Revokes the token `name`: its requests get 401 from then on. `None` when there is
    /// no such token; the row (revoked earlier or now) otherwise.
    pub async fn revoke_token(&self, name: &str) -> Result<Option<TokenInfo>, StoreError> {
        let row: Option<TokenRow> = sqlx::query_as(
            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE name = $1
             RETURNING name, role, created_at, created_by, revoked_at",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(TokenRow::info).transpose()
    }

    /// Whether some admin token is not revoked (`serve` refuses to start without one).
    pub async fn has_admin_token(&self) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM api_tokens WHERE role = 'admin' AND revoked_at IS NULL)",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// The owner of a live (not revoked) token, or `None`.
    pub async fn token_owner(&self, token: &str) -> Result<Option<TokenOwner>, StoreError> {
        let hash = sha256(token);
        let row: Option<(String, String, Vec<u8>)> = sqlx::query_as(
            "SELECT name, role, token_sha256 FROM api_tokens
             WHERE token_sha256 = $1 AND revoked_at IS NULL",
        )
        .bind(&hash[..])
        .fetch_optional(&self.pool)
        .await?;
        let Some((name, role, stored)) = row else {
            return Ok(None);
        };
        if !bool::from(stored.as_slice().ct_eq(&hash[..])) {
            return Ok(None);
        }
        let role = Role::parse(&role)
            .ok_or_else(|| StoreError::Unexpected(format!("token {name:?} has role {role:?}")))?;
        Ok(Some(TokenOwner { name, role }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_prefixed() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 2 * TOKEN_BYTES);
        assert_ne!(a, b);
        assert_ne!(sha256(&a), sha256(&b));
    }

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
