//! A ruleset compiled from memory (the YAML and a map of script path → source, as rules
//! kept in PostgreSQL will be) is the ruleset compiled from files: same hash, same
//! decisions and traces; and it reads no file.
use leadrouter::lead::{DEFAULT_MAX_MESSAGE_BYTES, Lead, parse_lead};
use leadrouter::routing::{MemoryState, RoutingDecision, decide};
use leadrouter::rules::Ruleset;
use std::collections::BTreeMap;
use std::path::Path;

fn sample_leads() -> Vec<Lead> {
    include_str!("../rules/samples/leads.jsonl")
        .lines()
        .map(|l| parse_lead(l.as_bytes(), DEFAULT_MAX_MESSAGE_BYTES).expect("sample lead"))
        .collect()
}

/// Every sample lead through `rs`, twice over, with one agent halted and one inactive
/// (so skips, `if_halted` and rotations show in the traces).
fn decisions(rs: &Ruleset) -> Vec<RoutingDecision> {
    let mut state = MemoryState::new().with_halted(["bob".to_owned()]);
    state.inactive.insert("dana".to_owned());
    let leads = sample_leads();
    leads
        .iter()
        .chain(&leads)
        .map(|l| decide(rs, l, &mut state))
        .collect()
}

#[test]
fn the_sample_from_memory_has_the_hash_and_decisions_of_the_sample_from_files() {
    let from_files = Ruleset::load(Path::new("rules/routing.yaml"))
        .expect("sample loads")
        .ruleset;
    let yaml = std::fs::read_to_string("rules/routing.yaml").unwrap();
    let scripts = BTreeMap::from([(
        "scripts/custom.rhai".to_owned(),
        std::fs::read_to_string("rules/scripts/custom.rhai").unwrap(),
    )]);
    assert_eq!(
        from_files.scripts(),
        &scripts,
        "the ruleset keeps the scripts it read"
    );
    let loaded = Ruleset::from_sources(&yaml, &scripts, Path::new("rules/routing.yaml"))
        .expect("sample loads from memory");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let from_memory = loaded.ruleset;

    assert_eq!(from_memory.hash(), from_files.hash());
    assert_eq!(from_memory.rules().len(), from_files.rules().len());
    let (a, b) = (decisions(&from_files), decisions(&from_memory));
    assert_eq!(a, b);
    assert!(
        a.iter().any(|d| d.rule.as_deref() == Some("custom")),
        "the script rule decides some sample lead"
    );
    assert!(
        from_memory.source_files().is_empty(),
        "nothing on disk to watch"
    );
    assert_eq!(
        from_files.source_files(),
        [
            Path::new("rules/routing.yaml"),
            Path::new("rules/scripts/custom.rhai")
        ]
    );
}

#[test]
fn memory_sources_read_no_file() {
    // The name points nowhere and the directory holds no script: nothing is read from disk.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.rhai"), "#{queue: \"from-disk\"}").unwrap();
    let name = dir.path().join("routing.yaml");
    let yaml = "rules:\n  - name: s\n    script: s.rhai\n";
    let scripts = BTreeMap::from([("s.rhai".to_owned(), "#{queue: \"from-memory\"}".to_owned())]);
    let rs = Ruleset::from_sources(yaml, &scripts, &name)
        .unwrap()
        .ruleset;
    let lead = parse_lead(br#"{"id": "x"}"#, DEFAULT_MAX_MESSAGE_BYTES).unwrap();
    let d = decide(&rs, &lead, &mut MemoryState::new());
    assert_eq!(d.queue.as_deref(), Some("from-memory"));

    let err = Ruleset::from_sources(yaml, &BTreeMap::new(), &name).expect_err("no script");
    assert_eq!(err.errors.len(), 1, "{err}");
    let e = &err.errors[0];
    assert_eq!(
        (e.file.as_path(), e.line, e.rule.as_deref()),
        (name.as_path(), Some(3), Some("s"))
    );
    assert_eq!(
        e.message,
        format!(
            "cannot read script {}: not among the ruleset's scripts",
            dir.path().join("s.rhai").display()
        )
    );
}

#[test]
fn a_script_error_from_memory_names_the_script_and_its_line() {
    let scripts = BTreeMap::from([(
        "scripts/bad.rhai".to_owned(),
        "let x = 1;\n\nif x > {\n".to_owned(),
    )]);
    let err = Ruleset::from_sources(
        "rules:\n  - name: s\n    script: scripts/bad.rhai\n",
        &scripts,
        Path::new("rules/routing.yaml"),
    )
    .expect_err("syntax error");
    assert_eq!(err.errors.len(), 1, "{err}");
    let e = &err.errors[0];
    assert_eq!(e.file, Path::new("rules/scripts/bad.rhai"));
    assert!(e.line.is_some(), "{e}");
    assert_eq!(e.rule.as_deref(), Some("s"));
    assert!(e.message.starts_with("Rhai syntax error"), "{e}");
}

#[test]
fn the_hash_from_memory_changes_with_a_script_and_only_then() {
    let yaml = "rules:\n  - {name: s, script: s.rhai}\n";
    let hash = |src: &str| {
        let scripts = BTreeMap::from([("s.rhai".to_owned(), src.to_owned())]);
        Ruleset::from_sources(yaml, &scripts, Path::new("r.yaml"))
            .unwrap()
            .ruleset
            .hash()
            .to_owned()
    };
    assert_eq!(hash("()"), hash("()"));
    assert_ne!(hash("()"), hash("();"));
    // The name is not part of the hash: the same text is the same ruleset wherever it lives.
    let scripts = BTreeMap::from([("s.rhai".to_owned(), "()".to_owned())]);
    let elsewhere = Ruleset::from_sources(yaml, &scripts, Path::new("db/ruleset"))
        .unwrap()
        .ruleset;
    assert_eq!(elsewhere.hash(), hash("()"));
}
