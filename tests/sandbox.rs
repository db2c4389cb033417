//! Rhai scripts: bounded, sandboxed, and a failure never loses the lead.
use common::engine::{lead, route, rules};
use leadrouter::routing::{LeadStatus, MemoryState, RuleOutcome, decide};
use serde_json::json;
use std::time::{Duration, Instant};

fn script_rules(dir: &tempfile::TempDir, body: &str) -> leadrouter::rules::Ruleset {
    std::fs::write(dir.path().join("s.rhai"), body).unwrap();
    let yaml = "pools:\n  p: {members: [a, b]}\nrules:\n  - name: scripted\n    script: s.rhai\n  - name: next\n    assign: {queue: fallback}\n";
    let path = dir.path().join("rules.yaml");
    std::fs::write(&path, yaml).unwrap();
    leadrouter::rules::Ruleset::load(&path)
        .expect("loads")
        .ruleset
}

/// The script rule fails with a message containing `expect`; the next rule decides.
fn assert_bounded(body: &str, expect: &str) {
    let dir = tempfile::tempdir().unwrap();
    let rs = script_rules(&dir, body);
    let started = Instant::now();
    let d = route(&rs, json!({"id": "x"}));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "bounded in time: {:?}",
        started.elapsed()
    );
    assert_eq!(
        (d.status, d.rule.as_deref()),
        (LeadStatus::Queued, Some("next")),
        "{:?}",
        d.trace
    );
    let t = &d.trace.rules[0];
    assert_eq!(t.outcome, RuleOutcome::Error);
    assert!(
        t.reason.contains(expect),
        "reason {:?} should mention {expect:?}",
        t.reason
    );
    assert_eq!(d.rule_errors().count(), 1);
    // The next lead is unharmed: the same engine keeps routing.
    let d2 = route(&rs, json!({"id": "y"}));
    assert_eq!(d2.rule.as_deref(), Some("next"));
}

#[test]
fn infinite_loop_hits_the_operations_bound() {
    assert_bounded("loop { }", "too many operations");
}

#[test]
fn huge_string_hits_the_size_bound() {
    assert_bounded("let s = \"x\"; loop { s += s; }", "too large");
}

#[test]
fn huge_array_hits_a_bound() {
    // Size or wall time, whichever comes first (Rhai re-measures the array on each push).
    assert_bounded("let a = []; loop { a.push(1); }", "bound hit");
}

#[test]
fn slow_operations_hit_the_wall_time_bound() {
    // Each `index_of` scans 60 KB as one operation: the operations bound is far away.
    assert_bounded(
        "let s = \"\"; s.pad(60000, \"x\"); loop { s.index_of(\"y\"); }",
        "wall time",
    );
}

#[test]
fn deep_recursion_hits_the_call_depth_bound() {
    assert_bounded("fn f(n) { f(n + 1) } f(0)", "call depth");
}

// Closures that a native function runs (`map`, `filter`, `reduce`, `sort`, …) run on a
// copy of Rhai's operation count, which is thrown away after each call: without the
// sandbox's own count, a nested map ran a million closures "within" 100,000
// operations and never looked at the clock (11 s here for 1000 × 1000).

#[test]
fn nested_closures_hit_a_bound() {
    assert_bounded(
        "let a = []; a.pad(1000, 0); a.map(|x| { let b = []; b.pad(1000, 0); b.map(|y| y); 0 }); ()",
        "bound hit",
    );
}

#[test]
fn operations_inside_closures_count_towards_the_operations_bound() {
    // 1000 closures of ~250 operations each: far past 100,000 operations in all.
    assert_bounded(
        "let a = []; a.pad(1000, 0); a.filter(|x| { let i = 0; while i < 50 { i += 1; } true }); ()",
        "bound hit",
    );
}

#[test]
fn allocating_in_closures_hits_a_bound() {
    assert_bounded(
        "let a = []; a.pad(9000, \"\"); a.map(|x| { let s = \"\"; s.pad(60000, \"x\"); s })",
        "bound hit",
    );
}

#[test]
fn too_many_variables_is_a_bound() {
    let body: String = (0..300).map(|i| format!("let v{i} = {i};\n")).collect();
    assert_bounded(&(body + "()"), "too many variables (bound hit)");
}

#[test]
fn eval_is_disabled() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.rhai"), "eval(\"1\")").unwrap();
    std::fs::write(
        dir.path().join("rules.yaml"),
        "rules:\n  - {name: s, script: s.rhai}\n",
    )
    .unwrap();
    let err = leadrouter::rules::Ruleset::load(&dir.path().join("rules.yaml"))
        .expect_err("eval is refused");
    assert!(err.errors[0].file.ends_with("s.rhai"), "{err}");
}

#[test]
fn modules_are_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.rhai"), "import \"std\" as s;\n()").unwrap();
    std::fs::write(
        dir.path().join("rules.yaml"),
        "rules:\n  - {name: s, script: s.rhai}\n",
    )
    .unwrap();
    assert!(leadrouter::rules::Ruleset::load(&dir.path().join("rules.yaml")).is_err());
}

#[test]
fn runtime_error_is_recorded_and_next_rule_decides() {
    assert_bounded("let x = lead.missing.deeper; ()", "script error");
}

#[test]
fn script_results_agent_pool_queue_unassigned_and_continue() {
    let dir = tempfile::tempdir().unwrap();
    let rs = script_rules(
        &dir,
        r#"
switch lead.kind {
    "agent" => #{agent: "zed"},
    "pool" => #{pool: "p"},
    "queue" => #{queue: "office-" + lead.office},
    "unassigned" => "unassigned",
    "badpool" => #{pool: "nope"},
    "weird" => 42,
    _ => ()
}
"#,
    );
    let mut st = MemoryState::new();
    let mut go = |v| decide(&rs, &lead(v), &mut st);
    let d = go(json!({"kind": "agent"}));
    assert_eq!(
        (d.owner_id.as_deref(), d.rule.as_deref()),
        (Some("zed"), Some("scripted"))
    );
    let d = go(json!({"kind": "pool"}));
    assert_eq!(
        (d.owner_id.as_deref(), d.pool.as_deref()),
        (Some("a"), Some("p"))
    );
    let d = go(json!({"kind": "queue", "office": "sf"}));
    assert_eq!(
        (d.status, d.queue.as_deref()),
        (LeadStatus::Queued, Some("office-sf"))
    );
    let d = go(json!({"kind": "unassigned"}));
    assert_eq!(
        (d.status, d.rule.as_deref()),
        (LeadStatus::Unassigned, Some("scripted"))
    );
    let d = go(json!({"kind": "other"}));
    assert_eq!(d.rule.as_deref(), Some("next"), "() continues");
    assert_eq!(d.trace.rules[0].outcome, RuleOutcome::Passed);
    for bad in ["badpool", "weird"] {
        let d = go(json!({"kind": bad}));
        assert_eq!(
            (d.rule.as_deref(), d.trace.rules[0].outcome),
            (Some("next"), RuleOutcome::Error),
            "{bad}"
        );
    }
}

#[test]
fn script_agent_follows_if_halted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.rhai"), "#{agent: lead.agent}").unwrap();
    std::fs::write(
        dir.path().join("rules.yaml"),
        "rules:\n  - {name: s, script: s.rhai}\n  - {name: s2, script: s.rhai, if_halted: assign}\n",
    )
    .unwrap();
    let rs = leadrouter::rules::Ruleset::load(&dir.path().join("rules.yaml"))
        .unwrap()
        .ruleset;
    let mut st = MemoryState::new().with_halted(["h".to_owned()]);
    let d = decide(&rs, &lead(json!({"agent": "h"})), &mut st);
    assert_eq!(
        (d.owner_id.as_deref(), d.rule.as_deref()),
        (Some("h"), Some("s2"))
    );
}

#[test]
fn when_script_sees_the_lead_and_region_and_missing_fields_compare_false() {
    let rs = rules(
        "regions:\n  west: {states: [CA]}\nrules:\n  - name: lux\n    when_script: 'lead.price >= 1_000_000 && region == \"west\"'\n    assign: {queue: lux}\n  - {name: rest, assign: unassigned}\n",
    );
    let d = route(&rs, json!({"price": 2_000_000, "address": {"state": "CA"}}));
    assert_eq!(d.rule.as_deref(), Some("lux"));
    let d = route(
        &rs,
        json!({"price": 2_000_000.5, "address": {"state": "CA"}}),
    );
    assert_eq!(d.rule.as_deref(), Some("lux"), "floats compare with ints");
    let d = route(&rs, json!({"address": {"state": "CA"}}));
    assert_eq!(
        (d.rule.as_deref(), d.trace.rules[0].outcome),
        (Some("rest"), RuleOutcome::NoMatch),
        "missing price is false, not an error"
    );
    let d = route(&rs, json!({"price": 5, "address": {"state": "CA"}}));
    assert_eq!(d.trace.rules[0].outcome, RuleOutcome::NoMatch);
}

#[test]
fn when_script_must_return_a_boolean() {
    let rs = rules(
        "rules:\n  - {name: s, when_script: '42', assign: {queue: q}}\n  - {name: rest, assign: unassigned}\n",
    );
    let d = route(&rs, json!({}));
    assert_eq!(
        (d.rule.as_deref(), d.trace.rules[0].outcome),
        (Some("rest"), RuleOutcome::Error)
    );
}

#[test]
fn scripts_cannot_change_the_lead_for_later_rules() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.rhai"), "lead.source = \"hacked\"; ()").unwrap();
    std::fs::write(
        dir.path().join("rules.yaml"),
        "rules:\n  - {name: s, script: s.rhai}\n  - {name: web, when: {source: web}, assign: {queue: web}}\n",
    )
    .unwrap();
    let rs = leadrouter::rules::Ruleset::load(&dir.path().join("rules.yaml"))
        .unwrap()
        .ruleset;
    let d = route(&rs, json!({"source": "web"}));
    assert_eq!(d.rule.as_deref(), Some("web"));
    assert_eq!(
        d.trace.rules[0].outcome,
        RuleOutcome::Error,
        "assigning to the constant `lead` is an error"
    );
}

/// The `regex` operator uses the `regex` crate: finite automata, no backtracking, so
/// matching is O(m·n) in the worst case (m the pattern's size, n the input's). Patterns
/// that backtracking engines take exponential time on simply answer here.
#[test]
fn catastrophic_backtracking_patterns_answer_on_long_inputs() {
    let regex_rules = |pattern: &str| {
        rules(&format!(
            "rules:\n  - name: re\n    when: {{note: {{regex: {pattern:?}}}}}\n    assign: {{queue: matched}}\n  - {{name: rest, assign: unassigned}}\n"
        ))
    };
    let long_a = "a".repeat(200_000);
    for (pattern, input, matches) in [
        ("(a+)+$", format!("{long_a}!"), false),
        ("(a+)+$", long_a.clone(), true),
        ("^(a|a)*b$", long_a.clone(), false),
        ("^(a|aa)+$", format!("{long_a}b"), false),
        ("^(a*)*$", format!("{long_a}b"), false),
        (
            r"^(\w+\s?)*$",
            format!("{} !", "word ".repeat(40_000)),
            false,
        ),
        ("(x+x+)+y", "x".repeat(200_000), false),
    ] {
        let rs = regex_rules(pattern);
        let d = route(&rs, json!({"note": input}));
        let want = if matches { "re" } else { "rest" };
        assert_eq!(d.rule.as_deref(), Some(want), "{pattern}");
    }
}
