//! `logging.*`: the log format and filter.
use super::error::Invalid;
use super::value::{Choice, choice_serde};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    pub format: LogFormat,
    /// A `tracing` filter: `info`, or directives like `info,leadrouter=debug,sqlx=warn`.
    pub level: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

impl Choice for LogFormat {
    const CHOICES: &'static [(&'static str, Self)] =
        &[("text", LogFormat::Text), ("json", LogFormat::Json)];
}
choice_serde!(LogFormat);

impl LoggingConfig {
    pub(super) fn check(&self) -> Result<(), Invalid> {
        tracing_subscriber::EnvFilter::builder()
            .parse(&self.level)
            .map_err(|e| Invalid::new("logging.level", format!("not a valid log filter ({e})")))?;
        Ok(())
    }
}
