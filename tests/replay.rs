//! `leadrouter replay`, run as the real binary against leads the daemon's way of
//! writing put in a fresh PostgreSQL database.

use common::admin::*;
use common::db::TestDb;
use leadrouter::lead::Lead;
use serde_json::{Value, json};

/// RULES_A with `west-buyers` dealing from `luxury` and `office-sf` queuing elsewhere.
fn rules_b() -> String {
    let b = RULES_A
        .replace(
            "when: {region: west}\n    assign: {pool: west-agents}",
            "when: {region: west}\n    assign: {pool: luxury}",
        )
        .replace("assign: {queue: office-sf}", "assign: {queue: office-bay}");
    assert_ne!(b, RULES_A);
    b
}

/// Received in this order, within the last two hours, plus one three days old:
/// 2 direct to alice, 6 west (pool), 3 San Francisco (queue), 1 unmatched.
fn leads() -> Vec<Lead> {
    let mut v = vec![lead_at(
        json!({"id": "OLD-1", "address": {"state": "CA"}}),
        ago(3 * 24 * 60),
    )];
    for i in 1..=2 {
        v.push(lead_at(
            json!({"id": format!("D-{i}"), "source": "agent_site", "agent_id": "alice"}),
            ago(120 - i),
        ));
    }
    for i in 1..=6 {
        v.push(lead_at(
            json!({"id": format!("W-{i}"), "address": {"state": "OR"}, "source": "web_form"}),
            ago(100 - i),
        ));
    }
    for i in 1..=3 {
        v.push(lead_at(
            json!({"id": format!("S-{i}"), "address": {"city": "San Francisco"}}),
            ago(90 - i),
        ));
    }
    v.push(lead_at(json!({"id": "U-1"}), ago(80)));
    v
}

fn route(status: &str, rule: &str, pool: Value, queue: Value, owner: Value) -> Value {
    json!({"status": status, "rule": rule, "pool": pool, "queue": queue, "owner_id": owner})
}

fn replay_json(db: &TestDb, rules: &str) -> Value {
    let o = cli(db, &["replay", "--since", "1d", "--rules", rules, "--json"]);
    expect_code(&o, 0);
    serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}:\n{}", stdout(&o)))
}

#[tokio::test]
async fn replay_reports_what_other_rules_would_change_and_writes_nothing() {
    let db = TestDb::create().await;
    let store = db.store().await;
    let files = Files::new();
    let a = files.write("a.yaml", RULES_A);
    let b = files.write("b.yaml", &rules_b());
    let rs_b = load_rules(&b);
    seed(&store, &load_rules(&a), leads()).await;
    let mut conn = db.conn().await;
    let before = dump(&mut conn).await;
    let b = b.to_str().unwrap();

    let r = replay_json(&db, b);
    assert_eq!(r["since"], "1d");
    assert_eq!(r["ruleset"], rs_b.hash());
    assert_eq!((&r["halted"], &r["inactive"]), (&json!([]), &json!([])));
    assert_eq!(r["skipped"], json!({"unreadable": 0, "undecided": 0}));
    assert_eq!(r["replayed"], 12, "OLD-1 is outside the window");
    assert_eq!(r["changed"], 9);
    assert_eq!(r["unchanged"], 3);
    // No config and no rules/routing.yaml here: nothing to attribute changes with.
    assert_eq!(r["rules_in_force"], Value::Null);
    assert_eq!(r["also_with_rules_in_force"], 0);
    assert_eq!(
        r["transitions"],
        json!([
            {
                "from": route("assigned", "west-buyers", json!("west-agents"), Value::Null, Value::Null),
                "to": route("assigned", "west-buyers", json!("luxury"), Value::Null, Value::Null),
                "count": 6,
                "examples": ["W-1", "W-2", "W-3", "W-4", "W-5"],
                "also_with_rules_in_force": 0
            },
            {
                "from": route("queued", "office-sf", Value::Null, json!("office-sf"), Value::Null),
                "to": route("queued", "office-sf", Value::Null, json!("office-bay"), Value::Null),
                "count": 3,
                "examples": ["S-1", "S-2", "S-3"],
                "also_with_rules_in_force": 0
            }
        ])
    );
    let rule = |name: &str, n: u64| json!({"rule": name, "before": n, "after": n, "left": 0, "entered": 0});
    assert_eq!(
        r["by_rule"],
        json!([
            rule("direct-to-agent", 2),
            rule("west-buyers", 6),
            rule("office-sf", 3),
            rule("everyone-else", 1)
        ])
    );
    assert_eq!(
        r["by_status"],
        json!([
            {"status": "assigned", "before": 8, "after": 8},
            {"status": "queued", "before": 3, "after": 3},
            {"status": "unassigned", "before": 1, "after": 1}
        ])
    );
    assert_eq!(
        r["by_pool"],
        json!({"luxury": {"gained": 6, "lost": 0}, "west-agents": {"gained": 0, "lost": 6}})
    );
    assert_eq!(
        r["by_queue"],
        json!({"office-bay": {"gained": 3, "lost": 0}, "office-sf": {"gained": 0, "lost": 3}})
    );
    assert_eq!(r["by_agent"], json!({}));
    assert_eq!(r["rule_errors"], json!([]));
    assert_eq!(
        r["manual_corrections"],
        json!({"changed_by_hand": 0, "agreeing": 0, "examples": []})
    );

    // The text summary says the same for a person.
    let o = cli(&db, &["replay", "--since", "1d", "--rules", b]);
    expect_code(&o, 0);
    let text = stdout(&o);
    for want in [
        "Replayed 12 leads received since ",
        "(the last 1d)\n",
        &format!("  with rules {b} (ruleset {})\n", rs_b.hash()),
        "  and today's agents: halted: none; offboarded: none.\n",
        "9 of 12 leads would be routed differently (75.0%); 3 as before.\n",
        "  6  west-buyers: pool west-agents  →  west-buyers: pool luxury\n",
        "     e.g. W-1, W-2, W-3, W-4, W-5\n",
        "  3  office-sf: queue office-sf  →  office-sf: queue office-bay\n",
        "Pools:   luxury +6, west-agents -6\n",
        "Queues:  office-bay +3, office-sf -3\n",
        "Nothing was written.",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert!(
        !text.contains("Rules that would decide other leads"),
        "{text}"
    );

    assert_eq!(dump(&mut conn).await, before, "replay writes nothing");
    db.cleanup().await;
}

#[tokio::test]
async fn replay_uses_todays_agents_and_spots_manual_corrections() {
    let db = TestDb::create().await;
    let store = db.store().await;
    let files = Files::new();
    let a = files.write("a.yaml", RULES_A);
    let b = files.write("b.yaml", &rules_b());
    seed(&store, &load_rules(&a), leads()).await;

    // Today alice is halted, and an admin moved S-1 where rules B would send it.
    expect_code(&cli(&db, &["agents", "halt", "alice"]), 0);
    expect_code(
        &cli(&db, &["leads", "reassign", "S-1", "--queue", "office-bay"]),
        0,
    );
    let mut conn = db.conn().await;
    let before = dump(&mut conn).await;

    // The rules in force, from a config file (its relative rules path, its database URL).
    let config = files.write(
        "leadrouter.yaml",
        &format!("database:\n  url: {}\nrules:\n  path: a.yaml\n", db.url),
    );
    let o = cli_with(
        &[
            "replay",
            "--since",
            "1d",
            "--json",
            "--config",
            config.to_str().unwrap(),
        ],
        |_| {},
    );
    expect_code(&o, 0);
    let r: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r["halted"], json!(["alice"]));
    assert_eq!(r["replayed"], 12);
    assert_eq!(r["changed"], 2, "only alice's direct leads: {r:#}");
    assert_eq!(
        r["transitions"],
        json!([{
            "from": route("assigned", "direct-to-agent", Value::Null, Value::Null, json!("alice")),
            "to": route("unassigned", "everyone-else", Value::Null, Value::Null, Value::Null),
            "count": 2,
            "examples": ["D-1", "D-2"],
            "also_with_rules_in_force": 0
        }])
    );
    assert_eq!(r["by_agent"], json!({"alice": {"gained": 0, "lost": 2}}));
    let by_rule: Vec<&Value> = r["by_rule"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["left"] != 0 || c["entered"] != 0)
        .collect();
    assert_eq!(
        by_rule,
        [
            &json!({"rule": "direct-to-agent", "before": 2, "after": 0, "left": 2, "entered": 0}),
            &json!({"rule": "everyone-else", "before": 1, "after": 3, "left": 0, "entered": 2})
        ]
    );

    // Rules B, compared with the rules in force (A): alice's leads change whatever
    // the rules, and B would have sent S-1 where the admin put it by hand.
    let (b, config) = (b.to_str().unwrap(), config.to_str().unwrap());
    let args = ["replay", "--since", "1d", "--rules", b, "--config", config];
    let o = cli_with(&[&args[..], &["--json"]].concat(), |_| {});
    expect_code(&o, 0);
    let r: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r["rules_in_force"]["ruleset"], load_rules(&a).hash());
    assert_eq!(r["changed"], 11);
    assert_eq!(r["also_with_rules_in_force"], 2);
    let counts: Vec<(u64, u64)> = r["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["count"].as_u64().unwrap(),
                t["also_with_rules_in_force"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(counts, [(6, 0), (3, 0), (2, 2)]);
    assert_eq!(
        r["manual_corrections"],
        json!({"changed_by_hand": 1, "agreeing": 1, "examples": ["S-1"]})
    );
    let o = cli_with(&args, |_| {});
    expect_code(&o, 0);
    let text = stdout(&o);
    for want in [
        &format!(
            "  compared with the rules in force {} (ruleset ",
            a.display()
        ),
        "11 of 12 leads would be routed differently (91.7%); 1 as before.\n",
        "2 of them would change with the rules in force too",
        ": 9 come from these rules.\n",
        "e.g. D-1, D-2  (all also with the rules in force)\n",
        "  and today's agents: halted: alice; offboarded: none.\n",
        "Rules that would decide other leads:\n",
        "Agents named directly (pool picks are not compared): alice -2\n",
        "Manual corrections: 1 changed lead was moved by hand after the router decided it; \
         these rules would send it where the admin put it (S-1).\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }

    assert_eq!(dump(&mut conn).await, before, "replay writes nothing");
    db.cleanup().await;
}

#[tokio::test]
async fn replay_refuses_bad_input() {
    let db = TestDb::create().await;
    let files = Files::new();
    let broken = files.write(
        "broken.yaml",
        "rules:\n  - name: x\n    assign: {pool: nope}\n",
    );
    for args in [
        &["replay", "--since", "yesterday"][..],
        &["replay"],
        &[
            "replay",
            "--since",
            "1d",
            "--rules",
            "/nonexistent/rules.yaml",
        ],
        &[
            "replay",
            "--since",
            "1d",
            "--rules",
            broken.to_str().unwrap(),
        ],
    ] {
        let o = cli(&db, args);
        expect_code(&o, 2);
        assert!(!stderr(&o).is_empty(), "{args:?} says why");
    }
    let o = cli(
        &db,
        &[
            "replay",
            "--since",
            "1d",
            "--rules",
            broken.to_str().unwrap(),
        ],
    );
    assert!(stderr(&o).contains("unknown pool"), "{}", stderr(&o));
    db.cleanup().await;
}
