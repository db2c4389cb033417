//! Which environment variables set which keys. The values themselves are parsed by
//! serde with the file's (see [`super::load`]); this only picks the variables, applies
//! the two short URL names and remembers the variable behind each key for errors.
use super::error::{ConfigError, Origin};
use super::keys::{self, ENV_ALIASES};
use std::collections::HashMap;
use std::ffi::OsStr;

#[derive(Debug, Default)]
pub(super) struct EnvOverrides {
    /// `LEADROUTER_SECTION__KEY` → value, for the `config` crate's `Environment`.
    pub vars: HashMap<String, String>,
    /// Key → the variable that set it.
    pub origins: HashMap<String, String>,
}

impl EnvOverrides {
    /// Picks the configuration variables out of `env`. An unknown
    /// `LEADROUTER_SECTION__KEY` is an error naming it, so a typo never goes unnoticed.
    pub fn collect<I, K, V>(env: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let known = keys::defaults();
        let mut out = EnvOverrides::default();
        let mut aliased = Vec::new();
        for (var, value) in env {
            let Some(var) = var.as_ref().to_str() else {
                continue;
            };
            let key = match ENV_ALIASES.iter().find(|(alias, _)| *alias == var) {
                Some((_, key)) => (*key).to_owned(),
                None => match keys::key_of_var(var) {
                    Some(key) => key,
                    None => continue,
                },
            };
            let value = value
                .as_ref()
                .to_str()
                .ok_or_else(|| ConfigError::Invalid {
                    key: key.clone(),
                    origin: Origin::Env(var.to_owned()),
                    message: "the value is not valid UTF-8".into(),
                })?;
            if ENV_ALIASES.iter().any(|(alias, _)| *alias == var) {
                aliased.push((key, var.to_owned(), value.to_owned()));
                continue;
            }
            if !known.contains_key(&key) {
                return Err(ConfigError::UnknownEnv {
                    var: var.to_owned(),
                    near: keys::near(&key, &known),
                    key,
                });
            }
            if let Some(other) = out.origins.get(&key) {
                // Only the case differs: which one would win is not obvious.
                return Err(ConfigError::Invalid {
                    key,
                    origin: Origin::Env(var.to_owned()),
                    message: format!("also set by {other}; set it once"),
                });
            }
            out.vars.insert(keys::env_var(&key), value.to_owned());
            out.origins.insert(key, var.to_owned());
        }
        for (key, var, value) in aliased {
            if !out.origins.contains_key(&key) {
                out.vars.insert(keys::env_var(&key), value);
                out.origins.insert(key, var);
            }
        }
        Ok(out)
    }
}
