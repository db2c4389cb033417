//! What can go wrong loading the configuration. Every error names the key, and the
//! file or the environment variable the bad value came from.
use std::fmt;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not YAML, or not a map of sections.
    #[error("invalid config file {}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("invalid config file {}: unknown key `{key}`{}", path.display(), hint(near))]
    UnknownKey {
        path: PathBuf,
        key: String,
        /// The keys it could have been (same section, or the sections).
        near: Vec<String>,
    },
    #[error(
        "unknown configuration variable {var}: no such key `{key}`{}",
        hint(near)
    )]
    UnknownEnv {
        var: String,
        key: String,
        near: Vec<String>,
    },
    #[error("invalid value for `{key}`{origin}: {message}")]
    Invalid {
        key: String,
        origin: Origin,
        message: String,
    },
}

/// Where a value came from, for naming it in an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default (or a file that did not set the key).
    Default,
    File(PathBuf),
    /// The environment variable that set it (`LEADROUTER_AMQP__PREFETCH`, `AMQP_URL`).
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => Ok(()),
            Origin::File(path) => write!(f, " in {}", path.display()),
            Origin::Env(var) => write!(f, " (from {var})"),
        }
    }
}

fn hint(known: &[String]) -> String {
    if known.is_empty() {
        String::new()
    } else {
        format!(" (known: {})", known.join(", "))
    }
}

/// A value that fails its check: the key, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub key: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(key: &'static str, message: impl Into<String>) -> Self {
        Self {
            key,
            message: message.into(),
        }
    }
}
