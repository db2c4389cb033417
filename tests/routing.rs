//! The engine's decisions, end to end from rules YAML to `RoutingDecision` (no server).
use common::engine::{deal, lead, route, rules};
use leadrouter::routing::{
    AssigneeSkip, Availability, LeadStatus, MemoryState, RuleOutcome, decide,
};
use proptest::prelude::*;
use serde_json::json;

const SAMPLE: &str = include_str!("../rules/routing.yaml");

fn sample() -> leadrouter::rules::Ruleset {
    leadrouter::rules::Ruleset::load(std::path::Path::new("rules/routing.yaml"))
        .expect("sample loads")
        .ruleset
}

#[test]
fn first_rule_that_decides_wins_and_trace_lists_rules_tried() {
    let rs = rules(
        "rules:\n  - name: a\n    when: {source: x}\n    assign: {queue: qa}\n  - name: b\n    when: {source: web}\n    assign: {queue: qb}\n  - name: c\n    assign: {queue: qc}\n",
    );
    let d = route(&rs, json!({"source": "web"}));
    assert_eq!(
        (d.status, d.queue.as_deref(), d.rule.as_deref()),
        (LeadStatus::Queued, Some("qb"), Some("b"))
    );
    assert_eq!(d.owner_id, None);
    let outcomes: Vec<_> = d
        .trace
        .rules
        .iter()
        .map(|t| (&*t.rule, t.outcome))
        .collect();
    assert_eq!(
        outcomes,
        vec![("a", RuleOutcome::NoMatch), ("b", RuleOutcome::Decided)]
    );
    assert!(
        d.trace.rules[0].reason.contains("source = \"x\""),
        "{}",
        d.trace.rules[0].reason
    );
}

#[test]
fn no_rule_deciding_is_unmatched_not_an_explicit_unassigned() {
    let rs = rules("rules:\n  - name: a\n    when: {source: x}\n    assign: unassigned\n");
    let d = route(&rs, json!({"source": "web"}));
    assert_eq!(d.status, LeadStatus::Unassigned);
    assert_eq!(d.rule, None);
    assert!(d.is_unmatched());
    let d = route(&rs, json!({"source": "x"}));
    assert_eq!(
        (d.status, d.rule.as_deref()),
        (LeadStatus::Unassigned, Some("a"))
    );
    assert!(!d.is_unmatched());
}

#[test]
fn region_from_field_then_states_then_postal_prefixes_in_file_order() {
    let rs = rules(
        "regions:\n  west: {states: [CA, NV]}\n  northeast: {states: [NY], postal_prefixes: [\"07\", \"10\"]}\n  also-ca: {states: [CA]}\nrules:\n  - name: w\n    when: {region: west}\n    assign: {queue: w}\n  - name: ne\n    when: {region: northeast}\n    assign: {queue: ne}\n  - name: other\n    when: {region: also-ca}\n    assign: {queue: also}\n",
    );
    let q = |v| route(&rs, v).queue;
    assert_eq!(
        q(json!({"address": {"state": "CA"}})).as_deref(),
        Some("w"),
        "first region in file order wins"
    );
    assert_eq!(
        q(json!({"address": {"state": "ca"}})).as_deref(),
        Some("w"),
        "state codes match case-insensitively"
    );
    assert_eq!(
        q(json!({"address": {"postal_code": "07030"}})).as_deref(),
        Some("ne")
    );
    assert_eq!(
        q(json!({"address": {"state": "TX", "postal_code": "10001"}})).as_deref(),
        Some("ne")
    );
    assert_eq!(
        q(json!({"address": {"state": "TX", "postal_code": "70001"}})),
        None
    );
    assert_eq!(
        q(json!({"region": "northeast", "address": {"state": "CA"}})).as_deref(),
        Some("ne"),
        "the publisher's region overrides lookup"
    );
    let d = route(&rs, json!({"address": {"state": "NY"}}));
    assert_eq!(d.trace.region.as_deref(), Some("northeast"));
}

#[test]
fn combinators_any_all_not() {
    let rs = rules(
        r#"rules:
  - name: r
    when:
      any:
        - source: web_form
        - contact.phone: {exists: true}
      all:
        - price: {gte: 100}
        - price: {lt: 200}
      not: {contact.name: {prefix: "TEST"}}
    assign: {queue: yes}
"#,
    );
    let hit = |v| route(&rs, v).rule.is_some();
    assert!(hit(json!({"source": "web_form", "price": 150})));
    assert!(hit(json!({"contact": {"phone": "1"}, "price": 100})));
    assert!(
        !hit(json!({"source": "api", "price": 150})),
        "any: none holds"
    );
    assert!(
        !hit(json!({"source": "web_form", "price": 200})),
        "all: lt fails"
    );
    assert!(
        !hit(json!({"source": "web_form", "price": 150, "contact": {"name": "TEST x"}})),
        "not"
    );
    assert!(
        hit(json!({"source": "web_form", "price": 150, "contact": {"name": "test x"}})),
        "prefix is case-sensitive"
    );
    let d = route(&rs, json!({"source": "api", "price": 150}));
    assert!(
        d.trace.rules[0].reason.contains("any of"),
        "{}",
        d.trace.rules[0].reason
    );
}

#[test]
fn operators_through_yaml() {
    let rs = rules(
        r#"rules:
  - {name: eq, when: {a: 5}, assign: {queue: eq}}
  - {name: ne, when: {b: {ne: x}, c: {exists: true}}, assign: {queue: ne}}
  - {name: in, when: {d: {in: [1, two, true]}}, assign: {queue: in}}
  - {name: not_in, when: {e: {not_in: [x]}, f: {exists: true}}, assign: {queue: not_in}}
  - {name: regex, when: {g: {regex: "(?i)^vip-"}}, assign: {queue: regex}}
  - {name: contains, when: {h: {contains: gold}}, assign: {queue: contains}}
  - {name: nested, when: {i.j.k: {gt: 1.5, lte: 3}}, assign: {queue: nested}}
  - {name: index, when: {tags.1: hot}, assign: {queue: index}}
  - {name: absent, when: {zzz: {exists: false}, m: 1}, assign: {queue: absent}}
"#,
    );
    let q = |v| route(&rs, v).queue;
    assert_eq!(q(json!({"a": 5.0})).as_deref(), Some("eq"));
    assert_eq!(q(json!({"a": "5"})), None, "a string is not the number 5");
    assert_eq!(
        q(json!({"c": 1})).as_deref(),
        Some("ne"),
        "ne holds on a missing field"
    );
    assert_eq!(q(json!({"b": "x", "c": 1})), None);
    assert_eq!(q(json!({"d": "two"})).as_deref(), Some("in"));
    assert_eq!(q(json!({"d": true})).as_deref(), Some("in"));
    assert_eq!(q(json!({"d": "2"})), None);
    assert_eq!(
        q(json!({"f": 1})).as_deref(),
        Some("not_in"),
        "not_in holds on a missing field"
    );
    assert_eq!(q(json!({"g": "VIP-123"})).as_deref(), Some("regex"));
    assert_eq!(q(json!({"g": "a vip-1"})), None, "anchored with ^");
    assert_eq!(q(json!({"h": "golden"})).as_deref(), Some("contains"));
    assert_eq!(
        q(json!({"h": ["silver", "gold"]})).as_deref(),
        Some("contains")
    );
    assert_eq!(q(json!({"h": ["golden"]})), None);
    assert_eq!(q(json!({"i": {"j": {"k": 3}}})).as_deref(), Some("nested"));
    assert_eq!(q(json!({"i": {"j": {"k": 1.5}}})), None);
    assert_eq!(
        q(json!({"i": {"j": {"k": "2"}}})),
        None,
        "comparisons are on numbers only"
    );
    assert_eq!(q(json!({"tags": ["new", "hot"]})).as_deref(), Some("index"));
    assert_eq!(
        q(json!({"m": 1, "zzz": null})).as_deref(),
        Some("absent"),
        "null counts as missing"
    );
}

#[test]
fn agent_from_follows_if_halted_and_never_gives_inactive_agents_leads() {
    let rs = rules(
        r#"rules:
  - name: direct
    when: {agent_id: {exists: true}}
    assign: {agent_from: agent_id}
  - name: direct-anyway
    when: {source: listing}
    assign: {agent_from: agent_id}
    if_halted: assign
  - name: rest
    assign: {queue: office}
"#,
    );
    let mut st = MemoryState::new().with_halted(["ann".to_owned()]);
    st.inactive.insert("ivan".into());
    let d = decide(&rs, &lead(json!({"agent_id": "bob"})), &mut st);
    assert_eq!(
        (d.owner_id.as_deref(), d.rule.as_deref()),
        (Some("bob"), Some("direct"))
    );
    let d = decide(&rs, &lead(json!({"agent_id": "ann"})), &mut st);
    assert_eq!(
        (d.status, d.rule.as_deref()),
        (LeadStatus::Queued, Some("rest")),
        "halted + continue"
    );
    assert_eq!(d.trace.rules[0].outcome, RuleOutcome::Passed);
    assert!(d.trace.rules[0].reason.contains("halted"));
    let d = decide(
        &rs,
        &lead(json!({"agent_id": "ann", "source": "listing"})),
        &mut st,
    );
    assert_eq!(
        (d.owner_id.as_deref(), d.rule.as_deref()),
        (Some("ann"), Some("direct-anyway")),
        "if_halted: assign"
    );
    let d = decide(
        &rs,
        &lead(json!({"agent_id": "ivan", "source": "listing"})),
        &mut st,
    );
    assert_eq!(
        (d.status, d.rule.as_deref()),
        (LeadStatus::Queued, Some("rest")),
        "inactive: even if_halted: assign does not decide"
    );
    assert!(d.trace.rules[1].reason.contains("inactive"));
    let d = decide(&rs, &lead(json!({"agent_id": 42})), &mut st);
    assert_eq!(
        d.rule.as_deref(),
        Some("rest"),
        "a non-string agent id does not decide"
    );
}

#[test]
fn round_robin_rotates_in_order_and_skips_halted_and_inactive() {
    let rs = rules(
        "pools:\n  p: {strategy: round_robin, members: [a, b, c]}\nrules:\n  - {name: r, assign: {pool: p}}\n",
    );
    let mut st = MemoryState::new();
    let l = json!({});
    assert_eq!(
        deal(&rs, &mut st, &l, 7),
        ["a", "b", "c", "a", "b", "c", "a"]
    );
    st.halted.insert("b".into());
    assert_eq!(deal(&rs, &mut st, &l, 4), ["c", "a", "c", "a"]);
    st.inactive.insert("c".into());
    let d = decide(&rs, &lead(l.clone()), &mut st);
    assert_eq!(d.owner_id.as_deref(), Some("a"));
    let t = &d.trace.rules[0];
    assert_eq!(t.picked.as_ref().map(|p| p.agent.as_str()), Some("a"));
    let skipped: Vec<_> = t
        .skipped
        .iter()
        .map(|s| (s.agent.as_str(), s.why))
        .collect();
    assert_eq!(
        skipped,
        vec![("b", Availability::Halted), ("c", Availability::Inactive)]
    );
    assert_eq!(d.pool.as_deref(), Some("p"));
    st.halted.clear();
    assert_eq!(
        deal(&rs, &mut st, &l, 2),
        ["b", "a"],
        "b comes back in its place"
    );
}

#[test]
fn a_pool_with_nobody_available_does_not_decide() {
    let rs = rules(
        "pools:\n  p: {members: [a, b]}\nrules:\n  - {name: r, assign: {pool: p}}\n  - {name: fallback, assign: {queue: office}}\n",
    );
    let mut st = MemoryState::new().with_halted(["a".to_owned(), "b".to_owned()]);
    let d = decide(&rs, &lead(json!({})), &mut st);
    assert_eq!(
        (d.status, d.rule.as_deref(), d.pool),
        (LeadStatus::Queued, Some("fallback"), None)
    );
    assert_eq!(d.trace.rules[0].outcome, RuleOutcome::Passed);
    assert_eq!(d.trace.rules[0].skipped.len(), 2);
}

#[test]
fn weighted_interleaves_smoothly() {
    let rs = rules(
        "pools:\n  lux:\n    strategy: weighted\n    members:\n      - {agent: dana, weight: 3}\n      - {agent: eve, weight: 1}\nrules:\n  - {name: r, assign: {pool: lux}}\n",
    );
    let mut st = MemoryState::new();
    let got = deal(&rs, &mut st, &json!({}), 8);
    assert_eq!(
        got,
        ["dana", "dana", "eve", "dana", "dana", "dana", "eve", "dana"]
    );
}

#[test]
fn least_loaded_picks_fewest_open_leads_ties_to_first_listed() {
    let rs = rules(
        "pools:\n  p: {strategy: least_loaded, members: [a, b, c]}\nrules:\n  - {name: r, assign: {pool: p}}\n",
    );
    let mut st = MemoryState::new();
    st.open_leads.insert("a".into(), 2);
    st.open_leads.insert("b".into(), 1);
    st.open_leads.insert("c".into(), 1);
    let got = deal(&rs, &mut st, &json!({}), 5);
    assert_eq!(
        got,
        ["b", "c", "a", "b", "c"],
        "b and c tie at 1 (b first), then all tie at 2"
    );
    assert_eq!(st.open_leads["a"], 3);
    st.halted.insert("b".into());
    assert_eq!(deal(&rs, &mut st, &json!({}), 1), ["a"]);
}

#[test]
fn sample_rules_route_the_sample_leads_through_every_rule() {
    let rs = sample();
    let mut st = MemoryState::new();
    let mut rules_hit = std::collections::BTreeSet::new();
    for line in include_str!("../rules/samples/leads.jsonl").lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let d = decide(&rs, &lead(v), &mut st);
        rules_hit.insert(d.rule.clone().unwrap_or_default());
        assert!(
            d.rule_errors().next().is_none(),
            "no script errors on the samples: {:?}",
            d.trace
        );
    }
    let every: std::collections::BTreeSet<String> =
        rs.rules().iter().map(|r| r.name.to_string()).collect();
    assert_eq!(rules_hit, every, "the samples exercise every rule");
    assert!(SAMPLE.contains("when_script"));
}

// ------------------------------------------------------------- assignees (SPEC 3.1)

const ASSIGNING: &str = "pools:\n  p: {strategy: round_robin, members: [alice, bob]}\nrules:\n  - name: listing\n    when: {source: listing}\n    assign: {pool: p}\n    also_assign_from: co_agents\n    also_assign: [isa-maria, bob, dana]\n  - name: office\n    when: {source: office}\n    assign: {queue: office-sf}\n    also_assign_from: agent_id\n  - name: passing\n    when: {source: nobody}\n    assign: {agent_from: missing}\n    also_assign: [isa-maria]\n  - name: rest\n    assign: unassigned\n";

#[test]
fn a_deciding_rule_adds_assignees_in_order_once_each_without_the_owner() {
    let rs = rules(ASSIGNING);
    let mut st = MemoryState::new();
    st.halted.insert("erin".into());
    st.inactive.insert("dana".into());
    // The field's list first, then the fixed ids; alice (the pool's pick) is the owner.
    let d = decide(
        &rs,
        &lead(
            json!({"source": "listing", "co_agents": ["carol", "alice", "erin", "carol", 7, ""]}),
        ),
        &mut st,
    );
    assert_eq!(d.owner_id.as_deref(), Some("alice"));
    assert_eq!(d.assignees, ["carol", "isa-maria", "bob"]);
    let t = &d.trace.rules[0];
    assert_eq!(t.outcome, RuleOutcome::Decided);
    assert_eq!(t.assignees, d.assignees);
    let skipped: Vec<(&str, AssigneeSkip)> = t
        .assignees_skipped
        .iter()
        .map(|s| (s.agent.as_str(), s.why))
        .collect();
    assert_eq!(
        skipped,
        [
            ("alice", AssigneeSkip::Owner),
            ("erin", AssigneeSkip::Halted),
            ("dana", AssigneeSkip::Inactive),
        ]
    );
    // The next deal goes to bob, who then is no assignee; assignees never step the
    // rotation (alice, bob, alice: as without them).
    let d = decide(
        &rs,
        &lead(json!({"source": "listing", "co_agents": "carol"})),
        &mut st,
    );
    assert_eq!(d.owner_id.as_deref(), Some("bob"));
    assert_eq!(d.assignees, ["carol", "isa-maria"]);
    let d = decide(&rs, &lead(json!({"source": "listing"})), &mut st);
    assert_eq!(d.owner_id.as_deref(), Some("alice"));
    assert_eq!(d.assignees, ["isa-maria", "bob"]);
    assert_eq!(
        st.open_leads.get("isa-maria"),
        None,
        "an assignee is not an open lead"
    );
    assert_eq!(st.open_leads.get("carol"), None);
}

#[test]
fn assignees_come_with_queue_and_unassigned_outcomes_only_when_the_rule_decides() {
    let rs = rules(ASSIGNING);
    let d = route(&rs, json!({"source": "office", "agent_id": "nick"}));
    assert_eq!(
        (d.status, d.queue.as_deref()),
        (LeadStatus::Queued, Some("office-sf"))
    );
    assert_eq!(d.assignees, ["nick"], "a queued lead may have assignees");
    // A missing or non-id field names no one.
    for v in [
        json!({"source": "office"}),
        json!({"source": "office", "agent_id": {"x": 1}}),
    ] {
        assert!(route(&rs, v).assignees.is_empty());
    }
    // `passing` does not decide (its field is missing): no assignees from it.
    let d = route(&rs, json!({"source": "nobody"}));
    assert_eq!(d.rule.as_deref(), Some("rest"));
    assert!(d.assignees.is_empty());
    assert_eq!(d.trace.rules[2].outcome, RuleOutcome::Passed);
    assert!(d.trace.rules[2].assignees.is_empty());
    // The trace keeps assignees in its JSON, and reads back.
    let d = route(&rs, json!({"source": "office", "agent_id": "nick"}));
    let v = serde_json::to_value(&d.trace).unwrap();
    assert_eq!(v["rules"][1]["assignees"], json!(["nick"]));
    let back: leadrouter::routing::Trace = serde_json::from_value(v).unwrap();
    assert_eq!(back, d.trace);
}

proptest! {
    /// After every pick, each member's count is within 1 of its exact share.
    #[test]
    fn weighted_stays_within_one_of_exact_share(weights in prop::collection::vec(1u32..20, 1..7), n in 1usize..300) {
        let members: Vec<String> = weights.iter().enumerate().map(|(i, w)| format!("      - {{agent: m{i}, weight: {w}}}")).collect();
        let yaml = format!("pools:\n  p:\n    strategy: weighted\n    members:\n{}\nrules:\n  - {{name: r, assign: {{pool: p}}}}\n", members.join("\n"));
        let rs = rules(&yaml);
        let total: f64 = weights.iter().map(|&w| f64::from(w)).sum();
        let mut st = MemoryState::new();
        let mut counts = vec![0f64; weights.len()];
        for k in 1..=n {
            let owner = decide(&rs, &lead(json!({})), &mut st).owner_id.unwrap();
            let i: usize = owner[1..].parse().unwrap();
            counts[i] += 1.0;
            for (j, w) in weights.iter().enumerate() {
                let share = k as f64 * f64::from(*w) / total;
                prop_assert!((counts[j] - share).abs() <= 1.0, "pick {k}: m{j} has {} vs share {share:.3}", counts[j]);
            }
        }
    }

    /// Round robin: members available throughout differ by at most 1, whatever others do.
    #[test]
    fn round_robin_fair_among_always_available(n_members in 2usize..6, flaps in prop::collection::vec((0usize..6, any::<bool>()), 0..40), per_step in 1usize..5) {
        let names: Vec<String> = (0..n_members).map(|i| format!("m{i}")).collect();
        let yaml = format!("pools:\n  p: {{members: [{}]}}\nrules:\n  - {{name: r, assign: {{pool: p}}}}\n", names.join(", "));
        let rs = rules(&yaml);
        let mut st = MemoryState::new();
        // m0 is always available; others flap.
        let mut ever_halted = std::collections::HashSet::new();
        let mut counts = std::collections::HashMap::<String, i64>::new();
        for (who, halt) in flaps {
            let who = who % n_members;
            if who != 0 {
                if halt { st.halted.insert(names[who].clone()); ever_halted.insert(who); } else { st.halted.remove(&names[who]); }
            }
            for o in deal(&rs, &mut st, &json!({}), per_step) { *counts.entry(o).or_default() += 1; }
        }
        let steady: Vec<i64> = (0..n_members).filter(|i| !ever_halted.contains(i)).map(|i| counts.get(&names[i]).copied().unwrap_or(0)).collect();
        let (mx, mn) = (steady.iter().max().unwrap(), steady.iter().min().unwrap());
        prop_assert!(mx - mn <= 1, "counts among always-available: {steady:?}");
    }
}
