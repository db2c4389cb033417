//! `rules.*`: the rules file and its reloading.
use super::error::Invalid;
use super::value;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    /// Resolved by [`Config::load`](super::Config::load): a relative path from the
    /// file (or the default) is taken from the config file's directory; one from the
    /// environment, from the working directory.
    pub path: PathBuf,
    /// Reload on change (SIGHUP always reloads).
    #[serde(with = "value::flag")]
    pub watch: bool,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("rules/routing.yaml"),
            watch: true,
        }
    }
}

impl RulesConfig {
    pub(super) fn check(&self) -> Result<(), Invalid> {
        if self.path.as_os_str().is_empty() {
            return Err(Invalid::new("rules.path", "must not be empty"));
        }
        Ok(())
    }
}
