//! Typed configuration (SPEC section 5): a YAML file, every key defaulted, then
//! environment overrides (`AMQP_URL`, `DATABASE_URL`, `LEADROUTER_SECTION__KEY`).
//!
//! One place per key: its section's struct (the key and its doc), that struct's
//! `Default` (the default) and its `check` (what serde's types cannot say). The file
//! and the environment go through the same serde deserialization, so a value means
//! the same wherever it is written; the key list for the environment and for the
//! reference in docs/reference/configuration.md is derived from the structs
//! ([`keys`]). Adding a key is adding a field to its section.
//!
//! Errors name the key (and the file or the environment variable the value came
//! from), so an operator can fix a bad deployment from the first log line. URLs are
//! kept in [`SecretUrl`], whose `Debug`/`Display`/`Serialize` hide the password: the
//! config is logged at start and must never leak credentials.
mod admin;
mod alerts;
mod amqp;
mod database;
mod duration;
mod env;
mod error;
mod http;
pub mod keys;
mod load;
mod logging;
mod rules;
mod secret;
pub(crate) mod value;

#[cfg(test)]
mod tests;

pub use admin::AdminConfig;
pub use alerts::AlertsConfig;
pub use amqp::AmqpConfig;
pub use database::DatabaseConfig;
pub use duration::{format_duration, parse_duration};
pub use error::{ConfigError, Invalid, Origin};
pub use http::HttpConfig;
pub use keys::ENV_PREFIX;
pub use logging::{LogFormat, LoggingConfig};
pub use rules::{RulesConfig, RulesSource};
pub use secret::SecretUrl;
pub use value::Choice;

use env::EnvOverrides;
use load::FileText;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fmt;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub amqp: AmqpConfig,
    pub database: DatabaseConfig,
    pub rules: RulesConfig,
    pub http: HttpConfig,
    pub admin: AdminConfig,
    pub alerts: AlertsConfig,
    pub logging: LoggingConfig,
}

impl Config {
    /// Loads the file (if any), then applies the process environment, then checks.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(path, std::env::vars_os())
    }

    /// [`Config::load`] with an explicit environment, so tests never touch the process env.
    pub fn load_with_env<I, K, V>(path: Option<&Path>, env: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let file = match path {
            Some(path) => Some(FileText {
                path,
                text: std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?,
            }),
            None => None,
        };
        let env = EnvOverrides::collect(env)?;
        let loaded = load::parse(file.as_ref(), &env)?;
        let mut config = loaded.config;
        // Paths written in (or defaulted by) the file are relative to it, so a
        // deployment directory can be moved as a whole. One from the environment is
        // relative to the working directory, like any path given on a command line.
        if let Some(file) = &file
            && !env.origins.contains_key("rules.path")
            && config.rules.path.is_relative()
        {
            let base = file.path.parent().unwrap_or(Path::new(""));
            config.rules.path = base.join(&config.rules.path);
        }
        config
            .check()
            .map_err(|e| load::invalid(e, &env, &loaded.in_file, file.as_ref()))?;
        Ok(config)
    }

    /// Parses YAML text alone: no environment, no path resolution, no checks. Errors
    /// name the file `(text)`.
    pub fn from_yaml(text: &str) -> Result<Config, ConfigError> {
        let file = FileText {
            path: Path::new("(text)"),
            text: text.to_owned(),
        };
        load::parse(Some(&file), &EnvOverrides::default()).map(|l| l.config)
    }

    /// Runs every key's check (ranges, URL syntax, filter syntax).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check()
            .map_err(|e| load::invalid(e, &EnvOverrides::default(), &HashSet::new(), None))
    }

    fn check(&self) -> Result<(), Invalid> {
        self.amqp.check()?;
        self.database.check()?;
        self.rules.check()?;
        self.alerts.check()?;
        self.logging.check()
    }

    /// What the broker layer needs from this configuration.
    pub fn broker_settings(&self) -> crate::broker::BrokerSettings {
        self.amqp.broker_settings()
    }
}

impl fmt::Display for Config {
    /// The effective configuration as YAML, passwords redacted (safe to log).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_yaml::to_string(self) {
            Ok(s) => f.write_str(s.trim_end()),
            Err(_) => write!(f, "{self:?}"),
        }
    }
}

/// The URL's scheme is one of `schemes` (the message shows the URL redacted).
fn check_scheme(url: &SecretUrl, schemes: &[&str]) -> Result<(), String> {
    let scheme = url
        .expose()
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme {
        Some(s) if schemes.contains(&s.as_str()) => Ok(()),
        _ => {
            let schemes: Vec<String> = schemes.iter().map(|s| format!("{s}://")).collect();
            Err(format!(
                "expected a URL starting with {}, got {url}",
                schemes.join(" or ")
            ))
        }
    }
}
