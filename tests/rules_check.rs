//! Loading a rules file: every mistake named with file, line and rule; lint warnings.
use common::engine::try_rules;
use leadrouter::rules::Diagnostic;

fn errors(yaml: &str) -> Vec<Diagnostic> {
    match try_rules(yaml) {
        Ok(_) => panic!("should be invalid:\n{yaml}"),
        Err(e) => e.errors,
    }
}

/// Exactly one error, at `line`, for `rule`, whose message contains `needle`.
fn one_error(yaml: &str, line: usize, rule: Option<&str>, needle: &str) {
    let errs = errors(yaml);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let e = &errs[0];
    assert_eq!(e.file.to_str(), Some("test.yaml"));
    assert_eq!(e.line, Some(line), "{e}");
    assert_eq!(e.rule.as_deref(), rule, "{e}");
    assert!(e.message.contains(needle), "{e} should contain {needle:?}");
}

#[test]
fn unknown_pool() {
    one_error(
        "pools:\n  p: {members: [a]}\nrules:\n  - name: r1\n    assign: {pool: q}\n",
        5,
        Some("r1"),
        "unknown pool `q`",
    );
}

#[test]
fn unknown_region() {
    one_error(
        "regions:\n  west: {states: [CA]}\nrules:\n  - name: r1\n    when:\n      region: east\n    assign: unassigned\n",
        6,
        Some("r1"),
        "unknown region",
    );
}

#[test]
fn unknown_operator() {
    one_error(
        "rules:\n  - name: r1\n    when:\n      price: {greater: 5}\n    assign: unassigned\n",
        4,
        Some("r1"),
        "unknown operator \"greater\"",
    );
}

#[test]
fn unknown_rule_key() {
    one_error(
        "rules:\n  - name: r1\n    wehn: {a: 1}\n    assign: unassigned\n",
        1 + 1,
        Some("r1"),
        "unknown key \"wehn\"",
    );
}

#[test]
fn unknown_top_level_key() {
    let errs = errors("rules:\n  - {name: r, assign: unassigned}\npols: {}\n");
    assert!(
        errs.iter()
            .any(|e| e.line == Some(3) && e.message.contains("pols")),
        "{errs:#?}"
    );
}

#[test]
fn bad_regex() {
    one_error(
        "rules:\n  - name: r1\n    when:\n      email: {regex: \"([a-z\"}\n    assign: unassigned\n",
        4,
        Some("r1"),
        "bad regex",
    );
}

#[test]
fn duplicate_rule_names() {
    one_error(
        "rules:\n  - {name: r1, assign: unassigned}\n  - name: r1\n    assign: unassigned\n",
        3,
        Some("r1"),
        "duplicate rule name",
    );
}

#[test]
fn pool_with_no_members() {
    one_error(
        "pools:\n  p:\n    members: []\nrules:\n  - {name: r, assign: {pool: p}}\n",
        3,
        None,
        "no members",
    );
}

#[test]
fn weight_must_be_positive() {
    for w in ["0", "-2", "1.5", "heavy"] {
        let yaml = format!(
            "pools:\n  p:\n    strategy: weighted\n    members:\n      - {{agent: a, weight: {w}}}\nrules:\n  - {{name: r, assign: {{pool: p}}}}\n"
        );
        one_error(&yaml, 5, None, "weight must be a whole number > 0");
    }
}

#[test]
fn rhai_syntax_error_in_when_script_names_the_rules_line() {
    one_error(
        "rules:\n  - name: r1\n    when_script: 'lead.price >'\n    assign: unassigned\n",
        3,
        Some("r1"),
        "Rhai syntax error",
    );
    // A block scalar: the error's line inside the script counts from the line after the key.
    one_error(
        "rules:\n  - name: r1\n    when_script: |\n      lead.a == 1 &&\n      lead.b == (\n    assign: unassigned\n",
        5,
        Some("r1"),
        "Rhai syntax error",
    );
}

#[test]
fn rhai_syntax_error_in_a_script_file_names_that_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.rhai"), "let x = 1;\n\nif x > {\n").unwrap();
    let rules = dir.path().join("r.yaml");
    std::fs::write(&rules, "rules:\n  - name: s\n    script: bad.rhai\n").unwrap();
    let e = leadrouter::rules::Ruleset::load(&rules).expect_err("invalid");
    assert_eq!(e.errors.len(), 1);
    assert_eq!(e.errors[0].file, dir.path().join("bad.rhai"));
    assert!(e.errors[0].line.is_some());
    assert_eq!(e.errors[0].rule.as_deref(), Some("s"));
}

#[test]
fn missing_script_file() {
    one_error(
        "rules:\n  - name: s\n    script: nowhere.rhai\n",
        3,
        Some("s"),
        "cannot read script",
    );
}

#[test]
fn yaml_syntax_error_has_a_line() {
    let errs = errors("rules:\n  - name: a\n    assign: [\n");
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].line.is_some() && errs[0].message.contains("invalid YAML"),
        "{errs:#?}"
    );
}

#[test]
fn several_errors_are_reported_together() {
    let errs = errors(
        "pools:\n  p: {members: []}\nrules:\n  - {name: a, assign: {pool: x}}\n  - {name: b, when: {c: {bogus: 1}}, assign: unassigned}\n",
    );
    assert_eq!(errs.len(), 3, "{errs:#?}");
}

#[test]
fn warns_about_rules_that_can_never_decide() {
    let loaded = try_rules(
        "rules:\n  - name: a\n    when: {source: web}\n    assign: {queue: q1}\n  - name: b\n    when: {source: web}\n    assign: {queue: q2}\n  - name: pool-first\n    when: {source: api}\n    assign: {agent: x}\n  - name: fallback\n    when: {source: api}\n    assign: {queue: q3}\n  - name: catch-all\n    assign: unassigned\n  - name: after\n    when: {x: 1}\n    assign: unassigned\n",
    )
    .expect("valid with warnings");
    let w: Vec<(Option<&str>, Option<usize>)> = loaded
        .warnings
        .iter()
        .map(|w| (w.rule.as_deref(), w.line))
        .collect();
    assert_eq!(
        w,
        vec![(Some("b"), Some(5)), (Some("after"), Some(16))],
        "{:#?}",
        loaded.warnings
    );
    assert!(
        loaded.warnings[0]
            .message
            .contains("shadowed by rule \"a\"")
    );
    assert!(
        loaded.warnings[1]
            .message
            .contains("unreachable after rule \"catch-all\"")
    );
}

#[test]
fn the_ruleset_hash_changes_with_the_rules_and_their_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("r.yaml");
    std::fs::write(&rules, "rules:\n  - {name: s, script: s.rhai}\n").unwrap();
    std::fs::write(dir.path().join("s.rhai"), "()").unwrap();
    let h1 = leadrouter::rules::Ruleset::load(&rules)
        .unwrap()
        .ruleset
        .hash()
        .to_owned();
    let h1b = leadrouter::rules::Ruleset::load(&rules)
        .unwrap()
        .ruleset
        .hash()
        .to_owned();
    std::fs::write(dir.path().join("s.rhai"), "();").unwrap();
    let h2 = leadrouter::rules::Ruleset::load(&rules)
        .unwrap()
        .ruleset
        .hash()
        .to_owned();
    assert_eq!(h1, h1b);
    assert_ne!(h1, h2);
}
