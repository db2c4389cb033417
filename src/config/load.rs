//! Loading: defaults, then the file, then the environment, all through one serde
//! deserialization (the `config` crate merges the sources; the section structs parse
//! them), then each section's checks.
use super::Config;
use super::env::EnvOverrides;
use super::error::{ConfigError, Invalid, Origin};
use super::keys::{self, ENV_PREFIX, ENV_SEPARATOR};
use config::{Environment, File, FileFormat, Source, Value, ValueKind};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// The YAML text of a config file and where it came from.
pub(super) struct FileText<'a> {
    pub path: &'a Path,
    pub text: String,
}

/// Parses and merges the sources. No path resolution and no checks yet.
pub(super) fn parse(file: Option<&FileText>, env: &EnvOverrides) -> Result<Loaded, ConfigError> {
    let mut builder = config::Config::builder();
    let mut in_file = HashSet::new();
    if let Some(file) = file {
        let parsed = File::from_str(&file.text, FileFormat::Yaml)
            .collect()
            .map_err(|e| ConfigError::Parse {
                path: file.path.to_owned(),
                message: describe(&e).1,
            })?;
        in_file = file_keys(&parsed, file.path)?;
        builder = builder.add_source(File::from_str(&file.text, FileFormat::Yaml));
    }
    let environment = Environment::with_prefix(ENV_PREFIX.trim_end_matches('_'))
        .prefix_separator("_")
        .separator(ENV_SEPARATOR)
        .source(Some(env.vars.clone()));
    let config = builder
        .add_source(environment)
        .build()
        .and_then(|c| c.try_deserialize::<Config>())
        .map_err(|e| {
            let (key, message) = describe(&e);
            match key {
                Some(key) => {
                    // Only a file or a variable is deserialized: blame the variable if
                    // one set the key, else the file.
                    let origin = match (env.origins.get(&key), file) {
                        (Some(var), _) => Origin::Env(var.clone()),
                        (None, Some(f)) => Origin::File(f.path.to_owned()),
                        (None, None) => Origin::Default,
                    };
                    ConfigError::Invalid {
                        key,
                        origin,
                        message,
                    }
                }
                None => ConfigError::Parse {
                    path: file
                        .map_or_else(|| PathBuf::from("(environment)"), |f| f.path.to_owned()),
                    message,
                },
            }
        })?;
    Ok(Loaded { config, in_file })
}

pub(super) struct Loaded {
    pub config: Config,
    /// The keys the file set (to blame it, not the default, for a bad value).
    pub in_file: HashSet<String>,
}

/// Where the value of `key` came from: the environment wins over the file.
pub(super) fn origin(
    key: &str,
    env: &EnvOverrides,
    in_file: &HashSet<String>,
    file: Option<&FileText>,
) -> Origin {
    if let Some(var) = env.origins.get(key) {
        return Origin::Env(var.clone());
    }
    match file {
        Some(f) if in_file.contains(key) => Origin::File(f.path.to_owned()),
        _ => Origin::Default,
    }
}

/// A check's failure as an error naming the key and the value's origin.
pub(super) fn invalid(
    e: Invalid,
    env: &EnvOverrides,
    in_file: &HashSet<String>,
    file: Option<&FileText>,
) -> ConfigError {
    ConfigError::Invalid {
        origin: origin(e.key, env, in_file, file),
        key: e.key.to_owned(),
        message: e.message,
    }
}

/// The keys a file sets, each checked against the schema so an unknown one is named
/// with its full path (`amqp.prefech`) and the keys it could have been.
fn file_keys(
    tree: &config::Map<String, Value>,
    path: &Path,
) -> Result<HashSet<String>, ConfigError> {
    let known = keys::defaults();
    let mut found = HashSet::new();
    for (section, value) in tree {
        check_known(section, &known, path)?;
        found.insert(section.clone());
        // Not a map: serde says what it expected, under the section's name.
        let ValueKind::Table(entries) = &value.kind else {
            continue;
        };
        for name in entries.keys() {
            let key = format!("{section}.{name}");
            check_known(&key, &known, path)?;
            found.insert(key);
        }
    }
    Ok(found)
}

fn check_known(
    key: &str,
    known: &BTreeMap<String, serde_json::Value>,
    path: &Path,
) -> Result<(), ConfigError> {
    let is_known = known.contains_key(key)
        || known
            .keys()
            .any(|k| k.strip_prefix(key).is_some_and(|r| r.starts_with('.')));
    if is_known {
        return Ok(());
    }
    Err(ConfigError::UnknownKey {
        path: path.to_owned(),
        key: key.to_owned(),
        near: keys::near(key, known),
    })
}

/// The key a `config` crate error is about (if any), and what is wrong, without the
/// crate's own "for key ..." suffix (our errors say where in their own words).
fn describe(e: &config::ConfigError) -> (Option<String>, String) {
    match e {
        config::ConfigError::Type {
            unexpected,
            expected,
            key,
            ..
        } => (
            key.clone(),
            format!("expected {}, got {unexpected}", plain_expected(expected)),
        ),
        config::ConfigError::At { error, key, .. } => {
            let (inner_key, message) = describe(error);
            (key.clone().or(inner_key), message)
        }
        config::ConfigError::NotFound(key) => (Some(key.clone()), "missing".into()),
        config::ConfigError::FileParse { cause, .. } => (None, cause.to_string()),
        other => (None, other.to_string()),
    }
}

/// The `config` crate's name for an integer type, as its range.
fn plain_expected(expected: &str) -> String {
    let range = match expected {
        "an unsigned 8 bit integer" => u64::from(u8::MAX),
        "an unsigned 16 bit integer" => u64::from(u16::MAX),
        "an unsigned 32 bit integer" => u64::from(u32::MAX),
        _ => return expected.to_owned(),
    };
    format!("an integer from 0 to {range}")
}
