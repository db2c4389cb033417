//! The admin commands (`agents`, `leads`), run as the real binary against a fresh
//! PostgreSQL database per test, on data written the way the daemon writes it.

use chrono::{DateTime, Utc};
use common::admin::*;
use common::db::{TestDb, count};
use leadrouter::routing::LeadStatus;
use leadrouter::store::{AGENTS_CHANNEL, LeadOutcome};
use serde_json::{Value, json};
use sqlx::postgres::PgListener;
use std::collections::HashMap;
use std::time::Duration;

fn west(id: &str, minutes_ago: i64) -> leadrouter::lead::Lead {
    lead_at(
        json!({"id": id, "address": {"state": "CA"}}),
        ago(minutes_ago),
    )
}

fn direct(id: &str, agent: &str, minutes_ago: i64) -> leadrouter::lead::Lead {
    lead_at(
        json!({"id": id, "source": "agent_site", "agent_id": agent}),
        ago(minutes_ago),
    )
}

fn owners(out: &leadrouter::store::BatchOutcome) -> Vec<String> {
    out.leads
        .iter()
        .map(|o| match o {
            LeadOutcome::Decided { decision, .. } => decision.owner_id.clone().unwrap_or_default(),
            LeadOutcome::Duplicate => panic!("no duplicates here"),
        })
        .collect()
}

async fn agent_row(
    conn: &mut sqlx::PgConnection,
    id: &str,
) -> Option<(bool, bool, Option<String>)> {
    sqlx::query_as("SELECT halted, active, updated_by FROM agents WHERE agent_id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
        .unwrap()
}

async fn next_notification(listener: &mut PgListener) -> String {
    let n = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("a notification within 5 s")
        .expect("listener works");
    n.payload().to_owned()
}

#[tokio::test]
async fn halt_resume_and_list_round_trip() {
    let db = TestDb::create().await;
    let files = Files::new();
    let rules = files.write("a.yaml", RULES_A);
    let rules = rules.to_str().unwrap();
    let mut listener = PgListener::connect(&db.url).await.unwrap();
    listener.listen(AGENTS_CHANNEL).await.unwrap();

    // The schema does not exist yet: the command refuses and says what to run; only
    // `leadrouter migrate` (or `run`) writes the schema.
    let o = cli(&db, &["agents", "halt", "bob", "--as", "jdoe"]);
    expect_code(&o, 1);
    assert!(
        stderr(&o).contains("run `leadrouter migrate`"),
        "{}",
        stderr(&o)
    );
    expect_code(&cli(&db, &["migrate"]), 0);
    let o = cli(&db, &["agents", "halt", "bob", "--as", "jdoe"]);
    expect_code(&o, 0);
    assert!(
        stdout(&o).starts_with("halted bob (by jdoe at "),
        "{}",
        stdout(&o)
    );
    assert_eq!(next_notification(&mut listener).await, "bob");
    let mut conn = db.conn().await;
    assert_eq!(
        agent_row(&mut conn, "bob").await,
        Some((true, true, Some("jdoe".into())))
    );

    // Halting again writes nothing: the row still says who halted bob.
    let o = cli(&db, &["agents", "halt", "bob", "--as", "someone-else"]);
    expect_code(&o, 0);
    assert!(
        stdout(&o).contains("bob is already halted (by jdoe"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        agent_row(&mut conn, "bob").await,
        Some((true, true, Some("jdoe".into())))
    );

    let o = cli(&db, &["agents", "list"]);
    expect_code(&o, 0);
    let text = stdout(&o);
    let header: Vec<&str> = text
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .filter(|s| !s.is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(
        header,
        [
            "AGENT",
            "HALTED",
            "ACTIVE",
            "OPEN LEADS",
            "UPDATED AT",
            "UPDATED BY"
        ]
    );
    let bob: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!((bob[0], bob[1], bob[2], bob[3]), ("bob", "yes", "yes", "0"));
    assert_eq!(bob.last(), Some(&"jdoe"));
    assert_eq!(text.lines().count(), 2, "only agents with a row:\n{text}");

    // With --rules, pool members without a row are listed as available.
    let o = cli(&db, &["agents", "list", "--json", "--rules", rules]);
    expect_code(&o, 0);
    let listed: Vec<Value> = serde_json::from_str(&stdout(&o)).unwrap();
    let by_id: HashMap<&str, &Value> = listed
        .iter()
        .map(|a| (a["agent_id"].as_str().unwrap(), a))
        .collect();
    let mut ids: Vec<&str> = by_id.keys().copied().collect();
    ids.sort();
    assert_eq!(ids, ["alice", "bob", "carol", "dana", "eve"]);
    assert_eq!(by_id["bob"]["halted"], true);
    assert_eq!(by_id["bob"]["updated_by"], "jdoe");
    assert_eq!(by_id["bob"]["pools"], json!(["west-agents"]));
    assert_eq!(by_id["alice"]["halted"], false);
    assert_eq!(by_id["alice"]["active"], true);
    assert_eq!(by_id["alice"]["updated_by"], Value::Null);
    assert_eq!(by_id["dana"]["pools"], json!(["luxury"]));

    // Resume, as the login user ($USER on the child).
    let o = cli(&db, &["agents", "resume", "bob"]);
    expect_code(&o, 0);
    assert!(
        stdout(&o).starts_with("resumed bob (by tester at "),
        "{}",
        stdout(&o)
    );
    assert_eq!(next_notification(&mut listener).await, "bob");
    assert_eq!(
        agent_row(&mut conn, "bob").await,
        Some((false, true, Some("tester".into())))
    );
    let o = cli(&db, &["agents", "resume", "bob"]);
    expect_code(&o, 0);
    assert!(stdout(&o).contains("bob is not halted; nothing changed"));

    // Resuming an agent without a row writes no row.
    let o = cli(&db, &["agents", "resume", "zed"]);
    expect_code(&o, 0);
    assert_eq!(count(&mut conn, "SELECT count(*) FROM agents").await, 1);
    db.cleanup().await;
}

#[tokio::test]
async fn a_halted_agent_is_skipped_by_the_next_batch() {
    let db = TestDb::create().await;
    let store = db.store().await;
    let files = Files::new();
    let rs = load_rules(&files.write("a.yaml", RULES_A));

    expect_code(&cli(&db, &["agents", "halt", "bob"]), 0);
    let leads = (0..6).map(|i| west(&format!("W-{i}"), 60 - i)).collect();
    let out = seed(&store, &rs, leads).await;
    let dealt = owners(&out);
    assert_eq!(
        dealt,
        ["alice", "carol", "alice", "carol", "alice", "carol"]
    );
    let LeadOutcome::Decided { decision, .. } = &out.leads[1] else {
        panic!()
    };
    let step = decision
        .trace
        .rules
        .iter()
        .find(|r| &*r.rule == "west-buyers")
        .unwrap();
    assert_eq!(step.skipped.len(), 1);
    assert_eq!(step.skipped[0].agent, "bob");

    expect_code(&cli(&db, &["agents", "resume", "bob"]), 0);
    let leads = (0..3).map(|i| west(&format!("X-{i}"), 30 - i)).collect();
    let dealt = owners(&seed(&store, &rs, leads).await);
    assert_eq!(dealt, ["alice", "bob", "carol"]);
    db.cleanup().await;
}

#[tokio::test]
async fn reassign_to_an_agent_writes_the_lead_a_decision_and_an_event() {
    let db = TestDb::create().await;
    let store = db.store().await;
    let files = Files::new();
    let rs = load_rules(&files.write("a.yaml", RULES_A));
    seed(&store, &rs, vec![west("W-1", 10)]).await;
    let mut conn = db.conn().await;
    let rotation_before = rotation(&mut conn, "west-agents").await;
    assert_eq!(rotation_before, Some(json!({"last": "alice"})));
    let routed_at: DateTime<Utc> =
        sqlx::query_scalar("SELECT decided_at FROM leads WHERE lead_id = 'W-1'")
            .fetch_one(&mut conn)
            .await
            .unwrap();

    let o = cli(
        &db,
        &[
            "leads",
            "reassign",
            "W-1",
            "--to",
            "dave",
            "--note",
            "asked for Dave",
            "--as",
            "jdoe",
        ],
    );
    expect_code(&o, 0);
    let text = stdout(&o);
    assert!(
        text.starts_with(
            "W-1: assigned to alice (pool west-agents, rule west-buyers) → assigned to dave\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("by jdoe at ") && text.contains("note: \"asked for Dave\""),
        "{text}"
    );
    assert!(
        text.contains("event lead.assigned ") && text.contains("(previous_owner_id: alice)"),
        "{text}"
    );
    // dave has no row and no leads: allowed (available), but pointed out as a possible typo.
    assert!(
        stderr(&o).contains("note: dave has no agents row and no open leads"),
        "{}",
        stderr(&o)
    );

    assert_eq!(
        lead_row(&mut conn, "W-1").await,
        (
            "assigned".into(),
            Some("dave".into()),
            None,
            None,
            None,
            None
        )
    );
    let decided_at: DateTime<Utc> =
        sqlx::query_scalar("SELECT decided_at FROM leads WHERE lead_id = 'W-1'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(decided_at > routed_at);

    type Decision = (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<Value>,
        Option<String>,
        DateTime<Utc>,
        String,
        Option<String>,
    );
    let decisions: Vec<Decision> = sqlx::query_as(
        "SELECT status, owner_id, pool, rule, trace, ruleset, decided_at, actor, note
         FROM routing_decisions WHERE lead_id = 'W-1' ORDER BY id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(decisions.len(), 2);
    assert_eq!(decisions[0].7, "router");
    assert_eq!(
        decisions[1],
        (
            "assigned".into(),
            Some("dave".into()),
            None,
            None,
            None,
            None,
            decided_at,
            "jdoe".into(),
            Some("asked for Dave".into())
        )
    );

    let events = events_of(&mut conn, "W-1").await;
    assert_eq!(events.len(), 2);
    let (key, body) = &events[1];
    assert_eq!(key, "lead.assigned");
    assert_eq!(body["status"], "assigned");
    assert_eq!(body["owner_id"], "dave");
    assert_eq!(body["previous_owner_id"], "alice");
    assert_eq!(body["note"], "asked for Dave");
    assert_eq!(body["actor"], "jdoe");
    assert_eq!((&body["pool"], &body["rule"]), (&Value::Null, &Value::Null));
    let at: DateTime<Utc> = body["at"].as_str().unwrap().parse().unwrap();
    assert_eq!(at, decided_at);

    // A manual change moves no rotation.
    assert_eq!(rotation(&mut conn, "west-agents").await, rotation_before);
    db.cleanup().await;
}

#[tokio::test]
async fn reassign_refuses_an_inactive_agent_and_allows_a_halted_one() {
    let db = TestDb::create().await;
    let store = db.store().await;
    let files = Files::new();
    let rs = load_rules(&files.write("a.yaml", RULES_A));
    seed(&store, &rs, vec![west("W-1", 10)]).await;
    let mut conn = db.conn().await;

    let o = cli(&db, &["agents", "offboard", "frank", "--to", "alice"]);
    expect_code(&o, 0);
    assert!(
        stdout(&o).contains("frank had no open leads"),
        "{}",
        stdout(&o)
    );

    let before = dump(&mut conn).await;
    let o = cli(&db, &["leads", "reassign", "W-1", "--to", "frank"]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("agent \"frank\" is inactive (offboarded)"),
        "{}",
        stderr(&o)
    );
    assert_eq!(dump(&mut conn).await, before, "nothing changed");

    expect_code(&cli(&db, &["agents", "halt", "dave"]), 0);
    let o = cli(&db, &["leads", "reassign", "W-1", "--to", "dave"]);
    expect_code(&o, 0);
    assert!(
        stderr(&o).contains("note: dave is halted"),
        "{}",
        stderr(&o)
    );
    assert_eq!(lead_row(&mut conn, "W-1").await.1.as_deref(), Some("dave"));
    db.cleanup().await;
}

#[tokio::test]
async fn unknown_leads_and_reserved_actors_are_invalid_input() {
    let db = TestDb::create().await;
    let store = db.store().await;
    let files = Files::new();
    let rs = load_rules(&files.write("a.yaml", RULES_A));
    seed(&store, &rs, vec![west("W-1", 10)]).await;
    let mut conn = db.conn().await;
    let before = dump(&mut conn).await;

    for args in [
        &["leads", "show", "nope"][..],
        &["leads", "show", "nope", "--json"],
        &["leads", "reassign", "nope", "--to", "alice"],
        &["leads", "reassign", "nope", "--queue", "office-sf"],
        &["leads", "unassign", "nope"],
    ] {
        let o = cli(&db, args);
        expect_code(&o, 2);
        assert!(
            stderr(&o).contains("no lead with id \"nope\""),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    let o = cli(
        &db,
        &["leads", "reassign", "W-1", "--to", "bob", "--as", "router"],
    );
    expect_code(&o, 2);
    assert!(stderr(&o).contains("reserved"), "{}", stderr(&o));
    // --to and --queue together is a usage error.
    let o = cli(
        &db,
        &["leads", "reassign", "W-1", "--to", "bob", "--queue", "q"],
    );
    expect_code(&o, 2);
    assert_eq!(dump(&mut conn).await, before, "nothing changed");
    db.cleanup().await;
}

#[tokio::test]
async fn an_ownerless_spell_survives_queue_moves_and_ends_with_an_owner() {
    let db = TestDb::create().await;
    let store = db.store().await;
    let files = Files::new();
    let rs = load_rules(&files.write("a.yaml", RULES_A));
    let sf = lead_at(
        json!({"id": "S-1", "address": {"city": "San Francisco"}}),
        ago(30),
    );
    seed(&store, &rs, vec![sf]).await;
    let mut conn = db.conn().await;
    let row = lead_row(&mut conn, "S-1").await;
    assert_eq!(row.0, "queued");
    let since = row.5.expect("ownerless since received");

    let o = cli(&db, &["leads", "unassign", "S-1", "--note", "no capacity"]);
    expect_code(&o, 0);
    assert!(
        stdout(&o).contains("the same ownerless spell goes on"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        lead_row(&mut conn, "S-1").await,
        ("unassigned".into(), None, None, None, None, Some(since))
    );
    let (key, body) = events_of(&mut conn, "S-1").await.pop().unwrap();
    assert_eq!(key, "lead.unassigned");
    assert_eq!(body["note"], "no capacity");
    assert!(body.get("previous_owner_id").is_none(), "{body}");

    let o = cli(&db, &["leads", "reassign", "S-1", "--queue", "office-la"]);
    expect_code(&o, 0);
    assert_eq!(
        lead_row(&mut conn, "S-1").await,
        (
            "queued".into(),
            None,
            Some("office-la".into()),
            None,
            None,
            Some(since)
        )
    );
    assert_eq!(
        events_of(&mut conn, "S-1").await.pop().unwrap().0,
        "lead.queued"
    );

    // Already there: nothing written.
    let decisions = count(&mut conn, "SELECT count(*) FROM routing_decisions").await;
    let o = cli(&db, &["leads", "reassign", "S-1", "--queue", "office-la"]);
    expect_code(&o, 0);
    assert!(stdout(&o).contains("S-1 already is queued in office-la; nothing changed"));
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM routing_decisions").await,
        decisions
    );

    let o = cli(&db, &["leads", "reassign", "S-1", "--to", "alice"]);
    expect_code(&o, 0);
    assert_eq!(
        lead_row(&mut conn, "S-1").await,
        (
            "assigned".into(),
            Some("alice".into()),
            None,
            None,
            None,
            None
        )
    );

    // Ownerless again: a new spell, from the change.
    let o = cli(&db, &["leads", "unassign", "S-1"]);
    expect_code(&o, 0);
    assert!(
        stdout(&o).contains("a new ownerless spell starts"),
        "{}",
        stdout(&o)
    );
    let (since2, decided_at): (Option<DateTime<Utc>>, DateTime<Utc>) =
        sqlx::query_as("SELECT unassigned_since, decided_at FROM leads WHERE lead_id = 'S-1'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(since2, Some(decided_at));
    assert_ne!(since2, Some(since));
    let (_, body) = events_of(&mut conn, "S-1").await.pop().unwrap();
    assert_eq!(body["previous_owner_id"], "alice");
    assert_eq!(body["actor"], "tester");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM routing_decisions WHERE lead_id = 'S-1'"
        )
        .await,
        5
    );
    db.cleanup().await;
}

#[tokio::test]
async fn offboard_through_a_pool_deals_fairly_and_moves_the_rotation() {
    let db = TestDb::create().await;
    let store = db.store().await;
    let files = Files::new();
    let rules = files.write("a.yaml", RULES_A);
    let rs = load_rules(&rules);
    seed(&store, &rs, vec![west("W-0", 200)]).await;
    let carols: Vec<_> = (0..7)
        .map(|i| direct(&format!("C-{i}"), "carol", 100 - i))
        .collect();
    assert!(
        owners(&seed(&store, &rs, carols).await)
            .iter()
            .all(|o| o == "carol")
    );
    let mut conn = db.conn().await;
    let rotation_before = rotation(&mut conn, "west-agents").await;
    assert_eq!(rotation_before, Some(json!({"last": "alice"})));

    let o = cli(
        &db,
        &[
            "agents",
            "offboard",
            "carol",
            "--pool",
            "west-agents",
            "--rules",
            rules.to_str().unwrap(),
            "--note",
            "carol left",
            "--as",
            "hr",
        ],
    );
    expect_code(&o, 0);
    let text = stdout(&o);
    assert!(text.starts_with("offboarded carol (by hr at "), "{text}");
    assert!(
        text.contains("moved 7 open leads through pool west-agents (round_robin):"),
        "{text}"
    );
    assert!(text.contains("7 lead.assigned events written"), "{text}");
    assert!(
        text.contains("skipped in the pool: carol (inactive).\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "the rotation of pool west-agents moved on: the next lead goes to the member after bob."
        ),
        "{text}"
    );
    assert_eq!(
        agent_row(&mut conn, "carol").await,
        Some((false, false, Some("hr".into())))
    );

    // Dealt in received order through the rotation, carol skipped as inactive.
    // (lead_id, owner_id, pool, rule)
    type Dealt = (String, Option<String>, Option<String>, Option<String>);
    let dealt: Vec<Dealt> = sqlx::query_as(
        "SELECT lead_id, owner_id, pool, rule FROM leads WHERE lead_id LIKE 'C-%' ORDER BY received_at",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let dealt_owners: Vec<&str> = dealt.iter().map(|d| d.1.as_deref().unwrap()).collect();
    assert_eq!(
        dealt_owners,
        ["bob", "alice", "bob", "alice", "bob", "alice", "bob"]
    );
    let n = |a: &str| dealt_owners.iter().filter(|o| **o == a).count() as i64;
    assert!((n("alice") - n("bob")).abs() <= 1);
    assert!(
        dealt.iter().all(|d| d.2.is_none() && d.3.is_none()),
        "manual: pool and rule null"
    );
    assert_eq!(
        rotation(&mut conn, "west-agents").await,
        Some(json!({"last": "bob"}))
    );

    type Decision = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<Value>,
        String,
        Option<String>,
    );
    let decisions: Vec<Decision> = sqlx::query_as(
        "SELECT owner_id, pool, rule, ruleset, trace, actor, note FROM routing_decisions
         WHERE lead_id LIKE 'C-%' AND actor <> 'router' ORDER BY id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(decisions.len(), 7);
    for (d, owner) in decisions.iter().zip(&dealt_owners) {
        assert_eq!(d.0.as_deref(), Some(*owner));
        assert_eq!(
            d.1.as_deref(),
            Some("west-agents"),
            "the decision names the pool that dealt it"
        );
        assert_eq!((&d.2, &d.3), (&None, &None));
        let trace = d.4.as_ref().unwrap();
        assert_eq!(trace["manual"], "offboard");
        assert_eq!(trace["picked"]["agent"], *owner);
        assert_eq!((d.5.as_str(), d.6.as_deref()), ("hr", Some("carol left")));
    }
    // After bob comes carol: skipped, inactive.
    assert_eq!(
        decisions[1].4.as_ref().unwrap()["skipped"],
        json!([{"agent": "carol", "why": "inactive"}])
    );

    let events: Vec<Value> =
        sqlx::query_scalar("SELECT body FROM outbox WHERE body->>'actor' = 'hr' ORDER BY seq")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(events.len(), 7);
    for (e, owner) in events.iter().zip(&dealt_owners) {
        assert_eq!(e["event"], "lead.assigned");
        assert_eq!(e["owner_id"], *owner);
        assert_eq!(e["previous_owner_id"], "carol");
        assert_eq!(e["note"], "carol left");
    }

    let o = cli(&db, &["leads", "show", "C-1"]);
    expect_code(&o, 0);
    let text = stdout(&o);
    for want in [
        "hr (manual change)\n    assigned to alice (pool west-agents)\n    note: \"carol left\"\n",
        "    dealt by pool west-agents (round_robin) when carol was offboarded\n",
        "    skipped: carol (inactive)\n",
        "    picked: alice (round_robin: next after bob)\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }

    // The daemon path: carol gets nothing from the pool now.
    let leads = (0..4)
        .map(|i| west(&format!("W-{}", i + 1), 10 - i))
        .collect();
    assert_eq!(
        owners(&seed(&store, &rs, leads).await),
        ["alice", "bob", "alice", "bob"]
    );
    db.cleanup().await;
}

#[tokio::test]
async fn offboard_to_an_agent_and_its_refusals() {
    let db = TestDb::create().await;
    let store = db.store().await;
    let files = Files::new();
    let rules = files.write("a.yaml", RULES_A);
    let rs = load_rules(&rules);
    let mut leads: Vec<_> = (0..3)
        .map(|i| direct(&format!("C-{i}"), "carol", 50 - i))
        .collect();
    leads.push(direct("D-0", "dave", 40));
    seed(&store, &rs, leads).await;
    let mut conn = db.conn().await;
    let before = dump(&mut conn).await;

    let o = cli(&db, &["agents", "offboard", "carol", "--to", "carol"]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("itself"), "{}", stderr(&o));
    let o = cli(
        &db,
        &[
            "agents",
            "offboard",
            "carol",
            "--pool",
            "nope",
            "--rules",
            rules.to_str().unwrap(),
        ],
    );
    expect_code(&o, 2);
    assert!(stderr(&o).contains("no pool \"nope\""), "{}", stderr(&o));
    assert_eq!(dump(&mut conn).await, before, "nothing changed");

    expect_code(
        &cli(&db, &["agents", "offboard", "dave", "--to", "alice"]),
        0,
    );
    assert_eq!(lead_row(&mut conn, "D-0").await.1.as_deref(), Some("alice"));
    let before = dump(&mut conn).await;
    let o = cli(&db, &["agents", "offboard", "carol", "--to", "dave"]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("\"dave\" is inactive"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        dump(&mut conn).await,
        before,
        "nothing changed, carol still active"
    );

    let o = cli(
        &db,
        &[
            "agents", "offboard", "carol", "--to", "erin", "--note", "handover",
        ],
    );
    expect_code(&o, 0);
    assert!(
        stdout(&o).contains("moved 3 open leads to erin:"),
        "{}",
        stdout(&o)
    );
    for i in 0..3 {
        let id = format!("C-{i}");
        assert_eq!(
            lead_row(&mut conn, &id).await,
            (
                "assigned".into(),
                Some("erin".into()),
                None,
                None,
                None,
                None
            )
        );
        let (key, body) = events_of(&mut conn, &id).await.pop().unwrap();
        assert_eq!(key, "lead.assigned");
        assert_eq!(
            (&body["previous_owner_id"], &body["note"]),
            (&json!("carol"), &json!("handover"))
        );
    }
    let pools: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT pool FROM routing_decisions WHERE actor = 'tester' AND lead_id LIKE 'C-%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(pools, [None, None, None]);

    // Again: already offboarded, nothing left to move.
    let o = cli(&db, &["agents", "offboard", "carol", "--to", "erin"]);
    expect_code(&o, 0);
    assert!(
        stdout(&o).contains("carol was already offboarded"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("carol had no open leads"),
        "{}",
        stdout(&o)
    );

    // Reactivated, carol can be given leads again.
    expect_code(&cli(&db, &["agents", "reactivate", "carol"]), 0);
    expect_code(&cli(&db, &["leads", "reassign", "C-0", "--to", "carol"]), 0);
    db.cleanup().await;
}

#[tokio::test]
async fn offboard_to_a_pool_with_no_available_member_changes_nothing() {
    let db = TestDb::create().await;
    let store = db.store().await;
    let files = Files::new();
    let rules = files.write("a.yaml", RULES_A);
    let rs = load_rules(&rules);
    let lux = (0..4)
        .map(|i| {
            lead_at(
                json!({"id": format!("L-{i}"), "price": 2_000_000}),
                ago(20 - i),
            )
        })
        .collect();
    assert_eq!(
        owners(&seed(&store, &rs, lux).await),
        ["dana", "eve", "dana", "eve"]
    );
    expect_code(&cli(&db, &["agents", "halt", "eve"]), 0);
    let mut conn = db.conn().await;
    let before = dump(&mut conn).await;

    let o = cli(
        &db,
        &[
            "agents",
            "offboard",
            "dana",
            "--pool",
            "luxury",
            "--rules",
            rules.to_str().unwrap(),
        ],
    );
    expect_code(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("pool \"luxury\" has no available member"),
        "{err}"
    );
    assert!(err.contains("dana (inactive), eve (halted)"), "{err}");
    assert_eq!(
        dump(&mut conn).await,
        before,
        "nothing changed, dana still active"
    );
    db.cleanup().await;
}

#[tokio::test]
async fn leads_show_prints_the_row_and_its_history() {
    let db = TestDb::create().await;
    let store = db.store().await;
    let files = Files::new();
    let rs = load_rules(&files.write("a.yaml", RULES_A));
    seed(&store, &rs, vec![west("W-1", 10)]).await;
    expect_code(
        &cli(
            &db,
            &[
                "leads",
                "reassign",
                "W-1",
                "--to",
                "dave",
                "--note",
                "asked for Dave",
                "--as",
                "jdoe",
            ],
        ),
        0,
    );

    let o = cli(&db, &["leads", "show", "W-1"]);
    expect_code(&o, 0);
    let text = stdout(&o);
    for want in [
        "lead W-1\n",
        &format!("  {:<16} dave\n", "owner"),
        &format!("  {:<16} -\n", "rule"),
        "\"state\": \"CA\"",
        "history (oldest first):",
        &format!("router, ruleset {}", rs.hash()),
        "assigned to alice (pool west-agents, rule west-buyers)",
        "region: west",
        "picked: alice (round_robin: first in rotation)",
        "jdoe (manual change)",
        "note: \"asked for Dave\"",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    let (first, second) = (text.find("\n#1  ").unwrap(), text.find("\n#2  ").unwrap());
    assert!(first < second, "oldest first:\n{text}");
    assert!(text[first..second].contains("router") && text[second..].contains("jdoe"));

    let o = cli(&db, &["leads", "show", "W-1", "--json"]);
    expect_code(&o, 0);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["lead"]["owner_id"], "dave");
    assert_eq!(v["lead"]["status"], LeadStatus::Assigned.as_str());
    assert_eq!(v["lead"]["payload"]["id"], "W-1");
    let d = v["decisions"].as_array().unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(
        (&d[0]["actor"], &d[0]["ruleset"]),
        (&json!("router"), &json!(rs.hash()))
    );
    assert_eq!(d[0]["trace"]["rules"][2]["rule"], "west-buyers");
    assert_eq!(
        (&d[1]["actor"], &d[1]["note"], &d[1]["trace"]),
        (&json!("jdoe"), &json!("asked for Dave"), &Value::Null)
    );
    assert_eq!(v["alerts"], json!([]));
    db.cleanup().await;
}

#[test]
fn an_unreachable_database_is_a_runtime_failure_and_a_bad_config_is_invalid() {
    let o = cli_with(&["leads", "show", "L-1"], |c| {
        c.env("DATABASE_URL", "postgres://app:hunter2@127.0.0.1:1/x");
    });
    expect_code(&o, 1);
    assert!(
        stderr(&o).contains("cannot connect to PostgreSQL at 127.0.0.1:1/x"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("hunter2"), "{}", stderr(&o));

    let files = Files::new();
    let config = files.write("bad.yaml", "database:\n  ulr: postgres://x\n");
    let o = cli_with(
        &["agents", "list", "--config", config.to_str().unwrap()],
        |_| {},
    );
    expect_code(&o, 2);
    assert!(stderr(&o).contains("invalid config file"), "{}", stderr(&o));
}

#[test]
fn every_new_command_has_help() {
    for args in [
        &["agents", "--help"][..],
        &["agents", "halt", "--help"],
        &["agents", "resume", "--help"],
        &["agents", "list", "--help"],
        &["agents", "offboard", "--help"],
        &["agents", "reactivate", "--help"],
        &["leads", "--help"],
        &["leads", "show", "--help"],
        &["leads", "reassign", "--help"],
        &["leads", "unassign", "--help"],
        &["leads", "assignees", "--help"],
        &["leads", "claim", "--help"],
        &["replay", "--help"],
    ] {
        let o = cli_with(args, |_| {});
        expect_code(&o, 0);
        let text = stdout(&o);
        assert!(text.contains("Usage: leadrouter "), "{args:?}:\n{text}");
        // Every command that runs (not the groups) reads the config.
        if args.len() == 3 || args[0] == "replay" {
            assert!(text.contains("--config <FILE>"), "{args:?}:\n{text}");
        }
    }
}
