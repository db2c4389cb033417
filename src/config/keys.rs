//! The list of keys, derived from the schema (the section structs and their
//! `Default`s) rather than written out a second time: the environment's names, the
//! unknown-key check and the reference's test all read it from here.
use super::Config;
use serde_json::Value;
use std::collections::BTreeMap;

/// Prefix of the per-key environment variables: `LEADROUTER_AMQP__PREFETCH=64`.
pub const ENV_PREFIX: &str = "LEADROUTER_";
/// Between the section and the key in a variable's name.
pub const ENV_SEPARATOR: &str = "__";

/// Short names for the two URLs. The `LEADROUTER_` form wins when both are set.
pub const ENV_ALIASES: &[(&str, &str)] =
    &[("AMQP_URL", "amqp.url"), ("DATABASE_URL", "database.url")];

/// Every key (`amqp.prefetch`) with its default as serialized (URLs redacted,
/// durations as text, an unset optional as `null`).
pub fn defaults() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let tree = serde_json::to_value(Config::default()).expect("the config serializes");
    flatten("", &tree, &mut out);
    out
}

fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (name, v) in map {
                let key = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                flatten(&key, v, out);
            }
        }
        leaf => {
            out.insert(prefix.to_owned(), leaf.clone());
        }
    }
}

/// The variable that sets `key`: `amqp.dead_letter_queue` → `LEADROUTER_AMQP__DEAD_LETTER_QUEUE`.
pub fn env_var(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.to_ascii_uppercase().replace('.', ENV_SEPARATOR)
    )
}

/// The key a `LEADROUTER_SECTION__KEY` variable sets (any case), or `None` for a
/// variable that is not a key: no prefix, or no separator (`LEADROUTER_CONFIG`, which
/// a launcher may use, is left alone).
pub fn key_of_var(var: &str) -> Option<String> {
    let prefix = var.get(..ENV_PREFIX.len())?;
    if !prefix.eq_ignore_ascii_case(ENV_PREFIX) {
        return None;
    }
    let rest = &var[ENV_PREFIX.len()..];
    rest.contains(ENV_SEPARATOR)
        .then(|| rest.to_ascii_lowercase().replace(ENV_SEPARATOR, "."))
}

/// For an unknown `key`, the keys it could have meant: those of its section, or the
/// sections if the section is unknown too.
pub fn near(key: &str, known: &BTreeMap<String, Value>) -> Vec<String> {
    let section = key.split('.').next().unwrap_or_default();
    let in_section: Vec<String> = known
        .keys()
        .filter(|k| k.split('.').next() == Some(section))
        .cloned()
        .collect();
    if !in_section.is_empty() {
        return in_section;
    }
    let mut sections: Vec<String> = known
        .keys()
        .filter_map(|k| k.split('.').next())
        .map(str::to_owned)
        .collect();
    sections.dedup();
    sections
}
