//! `rules.*`: where the rules come from (a file, or the active row of `rulesets`), and
//! the file's reloading.
use super::error::Invalid;
use super::value::{self, Choice, choice_serde};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    /// `file` (default): `path`; `database`: the active row of `rulesets` (SPEC 10).
    pub source: RulesSource,
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
            source: RulesSource::File,
            path: PathBuf::from("rules/routing.yaml"),
            watch: true,
        }
    }
}

/// Where the rules in force come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RulesSource {
    #[default]
    File,
    /// Published with `leadrouter rules publish` (or the API), kept in PostgreSQL.
    Database,
}

impl Choice for RulesSource {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("file", RulesSource::File),
        ("database", RulesSource::Database),
    ];
}
choice_serde!(RulesSource);

impl RulesConfig {
    pub(super) fn check(&self) -> Result<(), Invalid> {
        if self.path.as_os_str().is_empty() {
            return Err(Invalid::new("rules.path", "must not be empty"));
        }
        Ok(())
    }
}
