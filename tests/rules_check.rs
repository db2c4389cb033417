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

// ------------------------------------------------------ queues and assignees (SPEC 3.1, 3.2)

#[test]
fn queue_sections_are_checked_key_by_key_with_their_lines() {
    let rules = "rules:\n  - {name: r, assign: {queue: office-sf}}\n";
    let with = |queues: &str| format!("queues:\n{queues}{rules}");
    one_error(
        &with("  office-sf:\n    managers: [mia]\n    memebrs: [nick]\n"),
        4,
        None,
        "queue `office-sf`: unknown key \"memebrs\" (expected managers, members)",
    );
    one_error(
        &with("  office-sf: {managers: mia}\n"),
        2,
        None,
        "queue `office-sf`: `managers` must be a list of agent ids, not \"mia\"",
    );
    one_error(
        &with("  office-sf:\n    members:\n      - nick\n      - \"\"\n"),
        5,
        None,
        "queue `office-sf`: `members`: an agent id is a non-empty string, not \"\"",
    );
    one_error(
        &with("  office-sf:\n    members: [nick, 7]\n"),
        3,
        None,
        "an agent id is a non-empty string, not 7",
    );
    one_error(
        &with("  office-sf:\n    members:\n      - nick\n      - nick\n"),
        5,
        None,
        "agent `nick` is listed twice",
    );
    one_error(
        &with("  office-sf: {}\n"),
        2,
        None,
        "queue `office-sf` lists no managers and no members",
    );
    one_error(
        &with("  office-sf: [mia]\n"),
        2,
        None,
        "queue `office-sf` must be a mapping with `managers` and/or `members`",
    );
    one_error(
        &format!("queues: [office-sf]\n{rules}"),
        1,
        None,
        "`queues` must be a mapping of queue name to {managers, members}",
    );
    let ok = common::engine::rules(&with(
        "  office-sf: {managers: [mia], members: [nick, olga]}\n",
    ));
    let q = ok.queue("office-sf").expect("listed");
    assert_eq!(
        (q.managers.as_slice(), q.members.as_slice()),
        (
            &["mia".to_owned()][..],
            &["nick".to_owned(), "olga".to_owned()][..]
        )
    );
    use leadrouter::rules::QueueRole;
    assert_eq!(ok.claim_role("office-sf", "mia"), Some(QueueRole::Manager));
    assert_eq!(ok.claim_role("office-sf", "olga"), Some(QueueRole::Member));
    assert_eq!(ok.claim_role("office-sf", "zed"), None);
    assert_eq!(
        ok.claim_role("office-la", "mia"),
        None,
        "not listed: no one"
    );
}

#[test]
fn a_listed_queue_no_rule_or_script_names_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("r.yaml");
    std::fs::write(
        &rules,
        "queues:\n  office-sf: {managers: [mia]}\n  buyers-pass: {members: [alice, bob]}\n  \
         office-la: {managers: [lou]}\n  office-ny: {managers: [ned]}\nrules:\n  \
         - {name: sf, when: {city: SF}, assign: {queue: office-sf}}\n  - {name: s, script: s.rhai}\n",
    )
    .unwrap();
    // `buyers-pass` is named as a string; `office-ny` only in a comment, `office-la` not at all.
    std::fs::write(
        dir.path().join("s.rhai"),
        "// \"office-ny\" closed in May\nif lead.pass == true { return #{queue: \"buyers-pass\"}; }\n()",
    )
    .unwrap();
    let loaded = leadrouter::rules::Ruleset::load(&rules).expect("valid with warnings");
    let w: Vec<(Option<usize>, &str)> = loaded
        .warnings
        .iter()
        .map(|w| (w.line, w.message.as_str()))
        .collect();
    assert_eq!(
        w,
        [
            (
                Some(4),
                "queue `office-la` is not named by any rule (`assign: {queue: office-la}`) or script (as the string \"office-la\")"
            ),
            (
                Some(5),
                "queue `office-ny` is not named by any rule (`assign: {queue: office-ny}`) or script (as the string \"office-ny\")"
            ),
        ],
        "{:#?}",
        loaded.warnings
    );
    assert_eq!(loaded.warnings[0].file, rules);
}

#[test]
fn also_assign_and_also_assign_from_are_checked_with_their_lines() {
    let rule = |extra: &str| format!("rules:\n  - name: r\n    assign: {{agent: bob}}\n{extra}");
    one_error(
        &rule("    also_assign: isa-maria\n"),
        4,
        Some("r"),
        "`also_assign` must be a list of agent ids, not \"isa-maria\"",
    );
    one_error(
        &rule("    also_assign: [isa-maria, \"  \"]\n"),
        4,
        Some("r"),
        "`also_assign`: an agent id is a non-empty string, not \"  \"",
    );
    one_error(
        &rule("    also_assign:\n      - isa-maria\n      - {agent: x}\n"),
        6,
        Some("r"),
        "`also_assign`: an agent id is a non-empty string, not {\"agent\":\"x\"}",
    );
    one_error(
        &rule("    also_assign: []\n"),
        4,
        Some("r"),
        "`also_assign` is empty",
    );
    one_error(
        &rule("    also_assign_from: [agent_id]\n"),
        4,
        Some("r"),
        "`also_assign_from` names a lead field holding an agent id or a list of ids",
    );
    one_error(
        &rule("    also_assign_from: \"\"\n"),
        4,
        Some("r"),
        "`also_assign_from` names a lead field",
    );
    one_error(
        &rule("    also_assign_from: attributes..co\n"),
        4,
        Some("r"),
        "also_assign_from: invalid field path `attributes..co`",
    );
    // Any deciding rule may have them: an owner, a queue, unassigned.
    for assign in [
        "{agent: bob}",
        "{queue: office-sf}",
        "unassigned",
        "{agent_from: agent_id}",
    ] {
        let yaml = format!(
            "rules:\n  - name: r\n    assign: {assign}\n    also_assign_from: co_agents\n    also_assign: [isa-maria]\n"
        );
        common::engine::rules(&yaml);
    }
}

#[test]
fn check_counts_the_queues() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("r.yaml");
    std::fs::write(
        &rules,
        "queues:\n  q: {members: [a]}\nrules:\n  - {name: r, assign: {queue: q}}\n",
    )
    .unwrap();
    let out = std::process::Command::new(common::binary())
        .args(["check", rules.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(": OK: 1 rule, 0 pools, 0 regions, 1 queue, ruleset "),
        "{text}"
    );
}
