//! The documents that describe the configuration, checked against the code so neither
//! can drift: docs/reference/configuration.md (the reference table) and
//! config/leadrouter.yaml (every key with its default).
use crate::config::keys::{self, ENV_ALIASES};
use crate::config::{Config, ConfigError};
use crate::redact::redact_url;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

struct Row {
    kind: String,
    default: String,
    env: String,
}

/// The table under "## Keys": `| key | type | default | environment variable | check | meaning |`.
fn reference_table() -> BTreeMap<String, Row> {
    let doc = read("docs/reference/configuration.md");
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with("Keys"))
        .expect("docs/reference/configuration.md has a `## Keys` section");
    let mut rows = BTreeMap::new();
    for line in section.lines().filter(|l| l.trim_start().starts_with('|')) {
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
        let key = cells[0].trim().trim_matches('`');
        if key == "key" || key.starts_with("---") {
            continue;
        }
        assert_eq!(cells.len(), 6, "a row needs six cells: {line}");
        let plain = |s: &str| s.trim().trim_matches('`').to_owned();
        let row = Row {
            kind: plain(cells[1]),
            default: plain(cells[2]),
            env: cells[3].to_owned(),
        };
        assert!(
            rows.insert(key.to_owned(), row).is_none(),
            "{key} listed twice"
        );
    }
    rows
}

/// How the reference writes a default.
fn documented(default: &Value) -> String {
    match default {
        Value::Null => "unset".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn the_reference_lists_every_key_with_its_default_and_variable() {
    let defaults = keys::defaults();
    let table = reference_table();
    assert_eq!(
        defaults.keys().collect::<BTreeSet<_>>(),
        table.keys().collect::<BTreeSet<_>>(),
        "config keys (left) differ from docs/reference/configuration.md (right)"
    );
    for (key, default) in &defaults {
        let row = &table[key];
        // The table shows URLs as they are (the defaults hold no real secret); the
        // serialized config redacts them.
        let shown = if key.ends_with(".url") {
            redact_url(&row.default)
        } else {
            row.default.clone()
        };
        assert_eq!(shown, documented(default), "default of {key}");
        let var = keys::env_var(key);
        assert!(
            row.env.contains(&format!("`{var}`")),
            "{key}: the table should name `{var}`, has {}",
            row.env
        );
        for (alias, aliased) in ENV_ALIASES {
            assert_eq!(
                row.env.contains(&format!("`{alias}`")),
                aliased == key,
                "{key}: alias {alias}"
            );
        }
        let kind_fits = match default {
            Value::Bool(_) => row.kind == "boolean",
            Value::Number(_) | Value::Null => row.kind.starts_with("integer"),
            _ => !row.kind.starts_with("integer") && row.kind != "boolean",
        };
        assert!(kind_fits, "{key}: type `{}` for {default}", row.kind);
    }
}

#[test]
fn the_variables_in_the_reference_set_their_keys() {
    // Every documented variable is read by the loader, for the key on its row.
    for (key, row) in reference_table() {
        let vars = row
            .env
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect::<Vec<_>>();
        assert!(!vars.is_empty(), "{key}: no variable");
        for var in vars {
            let value = match key.as_str() {
                "amqp.url" => "amqp://u:p@elsewhere:5672/%2f",
                "database.url" => "postgres://u:p@elsewhere/db",
                "amqp.batch_size" => "7",
                "amqp.prefetch" | "amqp.max_message_bytes" => "9",
                "rules.watch" => "false",
                "http.listen" | "admin.listen" => "0.0.0.0:1",
                "rules.source" => "database",
                "alerts.unassigned_after" | "alerts.sweep_every" => "7s",
                "logging.format" => "json",
                "logging.level" => "debug",
                _ => "elsewhere",
            };
            let c = Config::load_with_env(None, [(var.as_str(), value)])
                .unwrap_or_else(|e| panic!("{var}={value}: {e}"));
            assert_ne!(
                keys::defaults()[&key],
                keys_of(&c)[&key],
                "{var} did not change {key}"
            );
        }
    }
}

fn keys_of(c: &Config) -> BTreeMap<String, Value> {
    let mut map = BTreeMap::new();
    let tree = serde_json::to_value(c).unwrap();
    for (section, v) in tree.as_object().unwrap() {
        for (name, v) in v.as_object().unwrap() {
            map.insert(format!("{section}.{name}"), v.clone());
        }
    }
    map
}

/// `a/b/../c` → `a/c`, without touching the file system.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn the_example_config_sets_every_key_to_its_default() {
    let text = read("config/leadrouter.yaml");
    let tree: Value = serde_yaml::from_str(&text).unwrap();
    let mut written = BTreeSet::new();
    for (section, v) in tree.as_object().unwrap() {
        for name in v.as_object().unwrap().keys() {
            written.insert(format!("{section}.{name}"));
        }
    }
    assert_eq!(
        keys::defaults().keys().cloned().collect::<BTreeSet<_>>(),
        written,
        "keys in the code (left) and in config/leadrouter.yaml (right)"
    );

    let path = root().join("config/leadrouter.yaml");
    let no_env: [(&str, &str); 0] = [];
    let mut loaded = Config::load_with_env(Some(&path), no_env).expect("config/leadrouter.yaml");
    // Its rules path is written relative to the file: `../rules/routing.yaml` is the
    // default `rules/routing.yaml` of a daemon started at the repository's root.
    assert_eq!(
        lexical(&loaded.rules.path),
        root().join("rules/routing.yaml")
    );
    loaded.rules.path = Config::default().rules.path;
    assert_eq!(loaded, Config::default());
}

#[test]
fn the_demo_config_loads() {
    let no_env: [(&str, &str); 0] = [];
    let c = Config::load_with_env(Some(&root().join("config/demo.yaml")), no_env)
        .expect("config/demo.yaml");
    assert_eq!(c.amqp.queue, "demo.leads.inbound");
}

#[test]
fn the_effective_config_reads_back() {
    let c = Config::default();
    let back = Config::from_yaml(&c.to_string()).unwrap();
    // All but the URLs, which come out redacted.
    assert_eq!(back.alerts, c.alerts);
    assert_eq!(back.rules, c.rules);
    assert_eq!(back.logging, c.logging);
    assert_eq!(back.amqp.batch_size, c.amqp.batch_size);
    assert_eq!(
        back.amqp.url.expose(),
        "amqp://guest:***@127.0.0.1:5672/%2f"
    );
    assert!(matches!(
        Config::from_yaml("amqp: {prefech: 1}"),
        Err(ConfigError::UnknownKey { .. })
    ));
}
