//! Rules YAML → [`Ruleset`], collecting every error with its file, line and rule.
//!
//! One file per part of the rules file: a top-level section is a file here plus a line
//! in [`SECTIONS`]; a rule's keys are listed in `rules.rs`, its assignments in `assign.rs`.
mod agents;
mod assign;
mod conditions;
mod operators;
mod pools;
mod queues;
mod regions;
mod rules;
mod schedules;
mod scripts;

use super::model::{Pool, Queue, Region, Rule, Settings};
use super::positions::Positions;
use super::schedule::Schedule;
use super::script::{Limits, Sandbox};
use super::sources::RuleSources;
use super::{Diagnostic, Loaded, RulesError, Ruleset, hash_sources, lint};
use serde_yaml::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What the sections compiled so far produced; a section may read earlier ones.
#[derive(Default)]
struct Parts {
    regions: Vec<Region>,
    schedules: BTreeMap<String, Schedule>,
    /// Every schedule named, valid or not (so a reference to a broken one is not also
    /// reported as unknown).
    schedule_names: BTreeSet<String>,
    agents: BTreeMap<String, Settings>,
    pools: BTreeMap<String, Pool>,
    /// Agent → the schedule whose midnight ends its day (`agents::day_schedules`).
    day_schedules: BTreeMap<String, String>,
    queues: BTreeMap<String, Queue>,
    /// `None` when `rules` is missing or not a list: nothing to route by.
    rules: Option<Vec<Rule>>,
}

/// Compiles one top-level section (its value, if the key is present) into `Parts`.
type Section = fn(&mut Compiler<'_>, Option<&Yaml>, &mut Parts);

/// The top-level keys a rules file accepts, in the order they are compiled (a section
/// may use the ones before it). Unknown keys are rejected with this list.
const SECTIONS: &[(&str, Section)] = &[
    ("regions", regions::section),
    ("schedules", schedules::section),
    ("agents", agents::section),
    ("pools", pools::section),
    ("queues", queues::section),
    ("rules", rules::section),
];

pub(super) fn compile(src: &RuleSources<'_>) -> Result<Loaded, RulesError> {
    let doc: Yaml = serde_yaml::from_str(src.yaml).map_err(|e| {
        let line = e.location().map(|l| l.line());
        RulesError::single(Diagnostic::new(
            src.name,
            line,
            None,
            format!("invalid YAML: {e}"),
        ))
    })?;
    let mut c = Compiler {
        src,
        path: src.name,
        pos: Positions::index(src.yaml),
        errors: Vec::new(),
        rule: None,
        sandbox: Sandbox::new(Limits::default()),
        scripts_read: Vec::new(),
    };
    let parts = c.document(&doc).filter(|_| c.errors.is_empty());
    // Every part that failed to compile said why, so no parts means errors to return.
    let Some(Parts {
        regions,
        schedules,
        agents,
        pools,
        day_schedules,
        queues,
        rules: Some(rules),
        ..
    }) = parts
    else {
        return Err(RulesError { errors: c.errors });
    };
    let scripts = std::mem::take(&mut c.scripts_read);
    let mut hashed: Vec<(&str, &[u8])> = vec![("rules", src.yaml.as_bytes())];
    hashed.extend(scripts.iter().map(|(n, s)| (n.as_str(), s.as_bytes())));
    let hash = hash_sources(hashed);
    let source_files = src.files_to_watch(scripts.iter().map(|(rel, _)| rel.as_str()));
    let ruleset = Ruleset {
        hash,
        path: src.name.to_owned(),
        least_loaded_agents: super::least_loaded(&pools),
        pool_names: pools.keys().cloned().collect(),
        source_files,
        scripts: scripts.into_iter().collect(),
        regions,
        schedules,
        agents,
        day_schedules,
        pools,
        queues,
        rules,
        sandbox: c.sandbox,
    };
    let warnings = lint::lint(&ruleset, &c.pos);
    Ok(Loaded { ruleset, warnings })
}

struct Compiler<'a> {
    src: &'a RuleSources<'a>,
    /// The rules file, named in errors.
    path: &'a Path,
    pos: Positions,
    errors: Vec<Diagnostic>,
    /// The rule being compiled, named in errors.
    rule: Option<String>,
    sandbox: Sandbox,
    /// Script files read (path as named, source), in order, for the ruleset hash.
    scripts_read: Vec<(String, String)>,
}

impl Compiler<'_> {
    /// Records an error at the YAML node `at` (a dotted path), in the current rule.
    fn err(&mut self, at: &str, msg: impl Into<String>) {
        let line = self.pos.line(at);
        let rule = self.rule.clone();
        self.errors
            .push(Diagnostic::new(self.path, line, rule.as_deref(), msg));
    }

    /// Whether an error was recorded for rule `name` so far.
    fn rule_has_errors(&self, name: &str) -> bool {
        self.errors.iter().any(|e| e.rule.as_deref() == Some(name))
    }

    fn document(&mut self, doc: &Yaml) -> Option<Parts> {
        let Some(top) = doc.as_mapping() else {
            let keys: Vec<String> = SECTIONS.iter().map(|(k, _)| format!("`{k}`")).collect();
            self.err(
                "",
                format!("the rules file must be a mapping with {}", and_list(&keys)),
            );
            return None;
        };
        for k in top.keys() {
            let known = k
                .as_str()
                .is_some_and(|k| SECTIONS.iter().any(|(s, _)| *s == k));
            if !known {
                let name = k.as_str().map_or_else(|| format!("{k:?}"), str::to_owned);
                let expected: Vec<&str> = SECTIONS.iter().map(|(s, _)| *s).collect();
                self.err(
                    &name,
                    format!(
                        "unknown top-level key `{name}` (expected {})",
                        expected.join(", ")
                    ),
                );
            }
        }
        let mut parts = Parts::default();
        for (key, section) in SECTIONS {
            section(self, top.get(key), &mut parts);
        }
        Some(parts)
    }

    fn key_str(&mut self, k: &Yaml, at: &str) -> Option<String> {
        match k.as_str() {
            Some(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            _ => {
                self.err(
                    at,
                    format!("keys must be non-empty strings, got {}", show(k)),
                );
                None
            }
        }
    }

    fn string_list(&mut self, v: &Yaml, at: &str, what: &str) -> Vec<String> {
        let Some(items) = v.as_sequence() else {
            self.err(at, format!("`{what}` must be a list of strings"));
            return vec![];
        };
        let mut out = Vec::new();
        for it in items {
            match it.as_str() {
                Some(s) if !s.trim().is_empty() => out.push(s.trim().to_owned()),
                _ => self.err(at, format!("`{what}`: expected a string, got {}", show(it))),
            }
        }
        out
    }
}

/// A YAML value as an admin wrote it, compactly, on one line (JSON notation).
fn show(v: &Yaml) -> String {
    match v {
        Yaml::Null => "nothing".into(),
        // JSON would print `null` for these: keep YAML's spelling (`.inf`, `.nan`).
        Yaml::Number(n) if n.as_f64().is_some_and(|f| !f.is_finite()) => n.to_string(),
        other => serde_json::to_string(other).unwrap_or_else(|_| format!("{other:?}")),
    }
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "none defined".into()
    } else {
        names.join(", ")
    }
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::Ruleset;
    use std::path::Path;

    fn first_error(yaml: &str) -> String {
        let e = Ruleset::from_source(yaml, Path::new("t.yaml")).expect_err("invalid");
        e.errors[0].message.clone()
    }

    #[test]
    fn the_top_level_keys_are_listed_once() {
        assert_eq!(
            first_error("[]"),
            "the rules file must be a mapping with `regions`, `schedules`, `agents`, `pools`, `queues` and `rules`"
        );
        assert_eq!(
            first_error("rules: [{name: r, assign: unassigned}]\npols: {}\n"),
            "unknown top-level key `pols` (expected regions, schedules, agents, pools, queues, rules)"
        );
    }

    #[test]
    fn and_list() {
        let l =
            |xs: &[&str]| super::and_list(&xs.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(l(&[]), "");
        assert_eq!(l(&["a"]), "a");
        assert_eq!(l(&["a", "b"]), "a and b");
        assert_eq!(l(&["a", "b", "c"]), "a, b and c");
    }
}
