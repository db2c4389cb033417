//! Owner and assignees, queues with members and claims (SPEC 3.1, 3.2): the router's
//! assignees, `leads assignees`, `leads claim` (twenty racing processes included),
//! reassignments and offboarding keeping the assignee list right, all run as the real
//! binary against a fresh PostgreSQL database per test.
use common::admin::*;
use common::db::{TestDb, count};
use common::wait::wait_until;
use leadrouter::store::ROUTING_LOCK_KEY;
use serde_json::{Value, json};
use sqlx::PgConnection;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const RULES: &str = r#"
pools:
  west-agents:
    strategy: round_robin
    members: [alice, bob, carol]
queues:
  office-sf:
    managers: [mia]
    members: [nick, olga, pat]
rules:
  - name: listing
    when: {source: listing}
    assign: {agent_from: agent_id}
    also_assign_from: co_agents
    also_assign: [isa-maria]
  - name: office-sf
    when: {address.city: San Francisco}
    assign: {queue: office-sf}
    also_assign: [isa-maria]
  - name: west
    when: {source: web}
    assign: {pool: west-agents}
  - name: everyone-else
    assign: unassigned
"#;

fn listing(id: &str, agent: &str, co_agents: Value, minutes_ago: i64) -> leadrouter::lead::Lead {
    lead_at(
        json!({"id": id, "source": "listing", "agent_id": agent, "co_agents": co_agents}),
        ago(minutes_ago),
    )
}

fn office(id: &str, minutes_ago: i64) -> leadrouter::lead::Lead {
    lead_at(
        json!({"id": id, "address": {"city": "San Francisco"}}),
        ago(minutes_ago),
    )
}

/// The lead's assignees as stored, in order: (agent, added_by, note).
async fn assignees(conn: &mut PgConnection, id: &str) -> Vec<(String, String, Option<String>)> {
    sqlx::query_as(
        "SELECT agent_id, added_by, note FROM lead_assignees WHERE lead_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(conn)
    .await
    .unwrap()
}

async fn assignee_ids(conn: &mut PgConnection, id: &str) -> Vec<String> {
    assignees(conn, id).await.into_iter().map(|a| a.0).collect()
}

/// The lead's decision rows: (via, actor, status, owner_id, note).
type DecisionRow = (String, String, String, Option<String>, Option<String>);

async fn decisions(conn: &mut PgConnection, id: &str) -> Vec<DecisionRow> {
    sqlx::query_as(
        "SELECT via, actor, status, owner_id, note FROM routing_decisions WHERE lead_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(conn)
    .await
    .unwrap()
}

/// Runs the binary with the rules in force at `rules` (as the config's `rules.path`).
fn cli_rules(db: &TestDb, rules: &Path, args: &[&str]) -> std::process::Output {
    cli_with(args, |c| {
        c.env("DATABASE_URL", &db.url)
            .env("LEADROUTER_RULES__PATH", rules);
    })
}

struct Setup {
    db: TestDb,
    store: leadrouter::store::Store,
    rules: PathBuf,
    rs: leadrouter::rules::Ruleset,
    _files: Files,
}

async fn setup(yaml: &str) -> Setup {
    let db = TestDb::create().await;
    let store = db.store().await;
    let files = Files::new();
    let rules = files.write("rules.yaml", yaml);
    let rs = load_rules(&rules);
    Setup {
        db,
        store,
        rules,
        rs,
        _files: files,
    }
}

#[tokio::test]
async fn rules_add_assignees_and_every_event_and_decision_says_via_and_assignees() {
    let s = setup(RULES).await;
    expect_code(&cli(&s.db, &["agents", "halt", "erin"]), 0);
    expect_code(
        &cli(&s.db, &["agents", "offboard", "dana", "--to", "alice"]),
        0,
    );
    let co = json!(["carol", "erin", "dana", "bob", "carol"]);
    seed(
        &s.store,
        &s.rs,
        vec![
            listing("L-1", "bob", co, 30),
            office("Q-1", 20),
            listing("L-2", "bob", json!("nick"), 10),
            lead_at(json!({"id": "W-1", "source": "web"}), ago(5)),
        ],
    )
    .await;
    let mut conn = s.db.conn().await;

    // Static ids, a field with one id, a field with a list: in order, once each; the
    // owner, a halted and an inactive agent left out.
    let l1 = assignees(&mut conn, "L-1").await;
    assert_eq!(
        l1,
        [
            ("carol".into(), "router".into(), None),
            ("isa-maria".into(), "router".into(), None)
        ]
    );
    assert_eq!(assignee_ids(&mut conn, "L-2").await, ["nick", "isa-maria"]);
    assert_eq!(
        assignee_ids(&mut conn, "Q-1").await,
        ["isa-maria"],
        "a queued lead too"
    );
    assert!(assignee_ids(&mut conn, "W-1").await.is_empty());

    // The trace says who was left out and why.
    let trace: Value = sqlx::query_scalar(
        "SELECT trace FROM routing_decisions WHERE lead_id = 'L-1' AND via = 'route'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let decided = &trace["rules"][0];
    assert_eq!(decided["outcome"], "decided");
    assert_eq!(decided["assignees"], json!(["carol", "isa-maria"]));
    assert_eq!(
        decided["assignees_skipped"],
        json!([
            {"agent": "erin", "why": "halted"},
            {"agent": "dana", "why": "inactive"},
            {"agent": "bob", "why": "owner"}
        ])
    );

    // Every router decision row says `route`; every event says `via` and `assignees`.
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM routing_decisions WHERE actor = 'router' AND via = 'route'"
        )
        .await,
        4
    );
    for (id, want) in [
        ("L-1", json!(["carol", "isa-maria"])),
        ("L-2", json!(["nick", "isa-maria"])),
        ("Q-1", json!(["isa-maria"])),
        ("W-1", json!([])),
    ] {
        let events = events_of(&mut conn, id).await;
        assert_eq!(events.len(), 1, "{id}");
        let (_, body) = &events[0];
        assert_eq!(body["via"], "route", "{id}");
        assert_eq!(body["assignees"], want, "{id}");
    }

    // `leads show` lists them, and the trace's left-out ones.
    let o = cli(&s.db, &["leads", "show", "L-1"]);
    expect_code(&o, 0);
    let text = stdout(&o);
    let row = format!(
        "  {:<16} carol (by router), isa-maria (by router)\n",
        "assignees"
    );
    for want in [
        row.as_str(),
        "assignees: carol, isa-maria\n",
        "not assignees: erin (halted), dana (inactive), bob (owner)\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    let o = cli(&s.db, &["leads", "show", "L-1", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["assignees"][1]["agent_id"], "isa-maria");
    assert_eq!(v["decisions"][0]["via"], "route");
    s.db.cleanup().await;
}

#[tokio::test]
async fn assignees_change_by_hand_with_one_decision_and_one_event() {
    let s = setup(RULES).await;
    expect_code(&cli(&s.db, &["agents", "halt", "erin"]), 0);
    expect_code(
        &cli(&s.db, &["agents", "offboard", "dana", "--to", "alice"]),
        0,
    );
    seed(
        &s.store,
        &s.rs,
        vec![listing("L-1", "bob", json!(["carol"]), 30)],
    )
    .await;
    let mut conn = s.db.conn().await;
    let lead_before = lead_row(&mut conn, "L-1").await;
    let decided_at: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT decided_at FROM leads WHERE lead_id = 'L-1'")
            .fetch_one(&mut conn)
            .await
            .unwrap();

    let o = cli(
        &s.db,
        &[
            "leads",
            "assignees",
            "L-1",
            "--add",
            "dave,erin",
            "--remove",
            "carol",
            "--note",
            "showing Saturday",
            "--as",
            "jdoe",
        ],
    );
    expect_code(&o, 0);
    let out = stdout(&o);
    assert!(
        out.starts_with(
            "L-1: assignees carol, isa-maria → isa-maria, dave, erin (+dave +erin -carol)\n  \
             the lead stays assigned to bob (rule listing)\n  by jdoe at "
        ),
        "{out}"
    );
    assert!(out.contains("event lead.assignees_changed "), "{out}");
    assert!(
        stderr(&o).contains("note: erin is halted"),
        "{}",
        stderr(&o)
    );
    let note = Some("showing Saturday".to_owned());
    assert_eq!(
        assignees(&mut conn, "L-1").await,
        [
            ("isa-maria".into(), "router".into(), None),
            ("dave".into(), "jdoe".into(), note.clone()),
            ("erin".into(), "jdoe".into(), note.clone()),
        ]
    );
    // The owner state stays: the lead's row is untouched.
    assert_eq!(lead_row(&mut conn, "L-1").await, lead_before);
    let still: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT decided_at FROM leads WHERE lead_id = 'L-1'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(still, decided_at);
    let rows = decisions(&mut conn, "L-1").await;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[1],
        (
            "assignees".into(),
            "jdoe".into(),
            "assigned".into(),
            Some("bob".into()),
            note.clone()
        )
    );
    let events = events_of(&mut conn, "L-1").await;
    assert_eq!(events.len(), 2);
    let (key, body) = &events[1];
    assert_eq!(key, "lead.assignees_changed");
    assert_eq!(body["event"], "lead.assignees_changed");
    assert_eq!(body["via"], "assignees");
    assert_eq!(body["actor"], "jdoe");
    assert_eq!(body["owner_id"], "bob");
    assert_eq!(body["status"], "assigned");
    assert_eq!(body["added"], json!(["dave", "erin"]));
    assert_eq!(body["removed"], json!(["carol"]));
    assert_eq!(body["assignees"], json!(["isa-maria", "dave", "erin"]));
    assert_eq!(body["note"], "showing Saturday");
    let o = cli(&s.db, &["leads", "show", "L-1"]);
    assert!(
        stdout(&o).contains("assignees by jdoe (manual change)\n    assigned to bob (rule listing)\n    note: \"showing Saturday\"\n    assignees +dave +erin -carol → isa-maria, dave, erin\n"),
        "{}",
        stdout(&o)
    );

    // Nothing to change: said so, nothing written.
    let before = dump(&mut conn).await;
    let o = cli(
        &s.db,
        &[
            "leads",
            "assignees",
            "L-1",
            "--add",
            "dave",
            "--remove",
            "carol",
        ],
    );
    expect_code(&o, 0);
    assert_eq!(
        stdout(&o),
        "L-1: nothing changed (already assignees: dave; not assignees: carol); assignees: isa-maria, dave, erin.\n"
    );
    assert_eq!(dump(&mut conn).await, before);

    // Refused with exit 2, nothing written: an inactive agent, the owner, an unknown
    // lead, the same agent added and removed, nothing asked.
    for (args, needle) in [
        (
            &["--add", "frank,dana"][..],
            "agent \"dana\" is inactive (offboarded)",
        ),
        (
            &["--add", "bob"],
            "\"bob\" owns lead \"L-1\": an owner is not also an assignee",
        ),
        (
            &["--add", "x", "--remove", "x"],
            "\"x\" is both to add and to remove",
        ),
        (&[], "give --add A,B and/or --remove C"),
        (&["--add", " "], "give --add A,B and/or --remove C"),
    ] {
        let mut all = vec!["leads", "assignees", "L-1"];
        all.extend_from_slice(args);
        let o = cli(&s.db, &all);
        expect_code(&o, 2);
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
    let o = cli(&s.db, &["leads", "assignees", "NOPE", "--add", "dave"]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("no lead with id \"NOPE\""),
        "{}",
        stderr(&o)
    );
    assert_eq!(dump(&mut conn).await, before, "nothing written");
    s.db.cleanup().await;
}

#[tokio::test]
async fn reassigning_keeps_the_assignees_and_a_new_owner_leaves_them() {
    let s = setup(RULES).await;
    seed(
        &s.store,
        &s.rs,
        vec![listing("L-1", "bob", json!(["carol", "dave"]), 30)],
    )
    .await;
    let mut conn = s.db.conn().await;
    assert_eq!(
        assignee_ids(&mut conn, "L-1").await,
        ["carol", "dave", "isa-maria"]
    );

    let o = cli(
        &s.db,
        &["leads", "reassign", "L-1", "--to", "carol", "--as", "jdoe"],
    );
    expect_code(&o, 0);
    assert!(
        stdout(&o).contains("  carol was an assignee: as the owner now, they leave the assignees (now: dave, isa-maria)\n"),
        "{}",
        stdout(&o)
    );
    assert_eq!(assignee_ids(&mut conn, "L-1").await, ["dave", "isa-maria"]);
    let o = cli(&s.db, &["leads", "unassign", "L-1", "--as", "jdoe"]);
    expect_code(&o, 0);
    assert!(
        stdout(&o).contains("  assignees stay: dave, isa-maria\n"),
        "{}",
        stdout(&o)
    );
    let o = cli(
        &s.db,
        &[
            "leads",
            "reassign",
            "L-1",
            "--queue",
            "office-sf",
            "--as",
            "jdoe",
        ],
    );
    expect_code(&o, 0);
    assert_eq!(assignee_ids(&mut conn, "L-1").await, ["dave", "isa-maria"]);

    let vias: Vec<String> = decisions(&mut conn, "L-1")
        .await
        .into_iter()
        .map(|d| d.0)
        .collect();
    assert_eq!(vias, ["route", "reassign", "unassign", "reassign"]);
    let events = events_of(&mut conn, "L-1").await;
    let got: Vec<(&str, &Value, &Value)> = events
        .iter()
        .map(|(k, b)| (k.as_str(), &b["via"], &b["assignees"]))
        .collect();
    let (route, reassign, unassign) = (json!("route"), json!("reassign"), json!("unassign"));
    let (all, left) = (
        json!(["carol", "dave", "isa-maria"]),
        json!(["dave", "isa-maria"]),
    );
    assert_eq!(
        got,
        [
            ("lead.assigned", &route, &all),
            ("lead.assigned", &reassign, &left),
            ("lead.unassigned", &unassign, &left),
            ("lead.queued", &reassign, &left),
        ]
    );
    assert_eq!(events[1].1["previous_owner_id"], "bob");
    s.db.cleanup().await;
}

#[tokio::test]
async fn members_and_managers_claim_others_are_refused_and_a_claimed_lead_is_a_conflict() {
    let s = setup(RULES).await;
    expect_code(&cli(&s.db, &["agents", "halt", "olga"]), 0);
    expect_code(
        &cli(&s.db, &["agents", "offboard", "pat", "--to", "alice"]),
        0,
    );
    let leads = (1..=6)
        .map(|i| office(&format!("Q-{i}"), 60 - i))
        .collect::<Vec<_>>();
    seed(&s.store, &s.rs, leads).await;
    seed(&s.store, &s.rs, vec![listing("L-1", "bob", json!([]), 5)]).await;
    let mut conn = s.db.conn().await;
    let claim =
        |id: &str, agent: &str| cli_rules(&s.db, &s.rules, &["leads", "claim", id, "--as", agent]);

    // A member.
    let o = cli_rules(
        &s.db,
        &s.rules,
        &[
            "leads",
            "claim",
            "Q-1",
            "--as",
            "nick",
            "--note",
            "I know them",
        ],
    );
    expect_code(&o, 0);
    let out = stdout(&o);
    assert!(
        out.starts_with("Q-1: queued in office-sf (rule office-sf) → assigned to nick (claimed as member of office-sf)\n  by nick at "),
        "{out}"
    );
    assert!(out.contains("  assignees stay: isa-maria\n"), "{out}");
    let row = lead_row(&mut conn, "Q-1").await;
    assert_eq!(
        (row.0.as_str(), row.1.as_deref(), row.2.as_deref(), row.5),
        ("assigned", Some("nick"), None, None),
        "an owner: the ownerless spell ends"
    );
    assert_eq!(
        decisions(&mut conn, "Q-1").await[1],
        (
            "claim".into(),
            "nick".into(),
            "assigned".into(),
            Some("nick".into()),
            Some("I know them".into())
        )
    );
    let events = events_of(&mut conn, "Q-1").await;
    assert_eq!(events.len(), 2);
    let (key, body) = &events[1];
    assert_eq!(key, "lead.assigned");
    assert_eq!(
        (
            &body["via"],
            &body["actor"],
            &body["owner_id"],
            &body["assignees"],
            &body["note"]
        ),
        (
            &json!("claim"),
            &json!("nick"),
            &json!("nick"),
            &json!(["isa-maria"]),
            &json!("I know them")
        )
    );

    // A manager.
    let o = claim("Q-2", "mia");
    expect_code(&o, 0);
    assert!(
        stdout(&o).contains("(claimed as manager of office-sf)"),
        "{}",
        stdout(&o)
    );

    // Refused, nothing written: not a member, inactive, an unknown lead.
    let before = dump(&mut conn).await;
    let o = claim("Q-3", "zed");
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("\"zed\" may not claim lead \"Q-3\": they are neither a manager nor a member of queue \"office-sf\""),
        "{}",
        stderr(&o)
    );
    let o = claim("Q-3", "pat");
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("agent \"pat\" is inactive"),
        "{}",
        stderr(&o)
    );
    let o = claim("NOPE", "nick");
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("no lead with id \"NOPE\""),
        "{}",
        stderr(&o)
    );
    let o = claim("Q-3", "router");
    expect_code(&o, 2);
    assert_eq!(dump(&mut conn).await, before, "nothing written");

    // Halted agents may claim (halting stops automatic routing only).
    let o = claim("Q-3", "olga");
    expect_code(&o, 0);
    assert!(
        stderr(&o).contains("note: olga is halted"),
        "{}",
        stderr(&o)
    );
    assert_eq!(lead_row(&mut conn, "Q-3").await.1.as_deref(), Some("olga"));

    // Not queued (any more): a conflict, exit 3, naming who has it and how.
    let before = dump(&mut conn).await;
    let o = claim("Q-1", "mia");
    expect_code(&o, 3);
    let err = stderr(&o);
    assert!(
        err.lines().any(|l| l
            .starts_with("error: lead \"Q-1\" is no longer queued: assigned to nick by claim at ")),
        "{err}"
    );
    let o = claim("L-1", "nick");
    expect_code(&o, 3);
    assert!(
        stderr(&o).contains("assigned to bob by route (router) at "),
        "{}",
        stderr(&o)
    );
    assert_eq!(dump(&mut conn).await, before, "nothing written");

    // An assignee who claims leaves the assignees.
    expect_code(
        &cli(&s.db, &["leads", "assignees", "Q-4", "--add", "nick"]),
        0,
    );
    assert_eq!(assignee_ids(&mut conn, "Q-4").await, ["isa-maria", "nick"]);
    expect_code(&claim("Q-4", "nick"), 0);
    assert_eq!(assignee_ids(&mut conn, "Q-4").await, ["isa-maria"]);
    let events = events_of(&mut conn, "Q-4").await;
    assert_eq!(events.last().unwrap().1["assignees"], json!(["isa-maria"]));

    // A queue the rules do not list: only admins hand its leads out.
    expect_code(
        &cli(&s.db, &["leads", "reassign", "Q-5", "--queue", "office-la"]),
        0,
    );
    let o = claim("Q-5", "mia");
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("queue \"office-la\" has no managers or members in the rules in force"),
        "{}",
        stderr(&o)
    );
    // Claiming needs the rules in force: a rules file that does not load is exit 2.
    let o = cli_rules(
        &s.db,
        Path::new("/nonexistent/rules.yaml"),
        &["leads", "claim", "Q-6", "--as", "mia"],
    );
    expect_code(&o, 2);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM routing_decisions WHERE via = 'claim'"
        )
        .await,
        4
    );
    s.db.cleanup().await;
}

#[tokio::test]
async fn of_twenty_concurrent_claims_on_one_lead_exactly_one_wins() {
    let members: Vec<String> = (0..20).map(|i| format!("m{i:02}")).collect();
    let yaml = format!(
        "queues:\n  buyers-pass: {{members: [{}]}}\nrules:\n  - {{name: pass, assign: {{queue: buyers-pass}}}}\n",
        members.join(", ")
    );
    let s = setup(&yaml).await;
    seed(&s.store, &s.rs, vec![lead_at(json!({"id": "R-1"}), ago(5))]).await;
    let mut conn = s.db.conn().await;

    // Hold the routing lock while the twenty start, so they all race from one point:
    // each is then waiting for it, having read nothing yet.
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(ROUTING_LOCK_KEY)
        .execute(&mut conn)
        .await
        .unwrap();
    let children: Vec<(String, std::process::Child)> = members
        .iter()
        .map(|m| {
            let child = Command::new(common::binary())
                .args(["leads", "claim", "R-1", "--as", m])
                .current_dir(std::env::temp_dir())
                .env_remove("LEADROUTER_DATABASE__URL")
                .env("DATABASE_URL", &s.db.url)
                .env("LEADROUTER_RULES__PATH", &s.rules)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn leadrouter");
            (m.clone(), child)
        })
        .collect();
    let waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
                   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
    wait_until(
        "twenty claims waiting for the lock",
        Duration::from_secs(60),
        async || s.db.count(waiting).await,
        |n| *n == 20,
    )
    .await;
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(ROUTING_LOCK_KEY)
        .execute(&mut conn)
        .await
        .unwrap();

    let mut won = Vec::new();
    let mut lost = Vec::new();
    for (m, child) in children {
        let o = child.wait_with_output().unwrap();
        match o.status.code() {
            Some(0) => won.push(m),
            Some(3) => lost.push((m, stderr(&o))),
            other => panic!("{m}: exit {other:?}: {}", stderr(&o)),
        }
    }
    assert_eq!(won.len(), 1, "one winner: {won:?}");
    assert_eq!(lost.len(), 19);
    let winner = &won[0];
    for (m, err) in &lost {
        // Under load sqlx may log a slow lock wait first: the error is a line of its own.
        let want =
            format!("error: lead \"R-1\" is no longer queued: assigned to {winner} by claim at ");
        assert!(err.lines().any(|l| l.starts_with(&want)), "{m}: {err}");
    }
    assert_eq!(
        lead_row(&mut conn, "R-1").await.1.as_deref(),
        Some(winner.as_str())
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM routing_decisions WHERE via = 'claim'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM outbox WHERE routing_key = 'lead.assigned' AND body->>'lead_id' = 'R-1'"
        )
        .await,
        1
    );
    s.db.cleanup().await;
}

#[tokio::test]
async fn offboarding_takes_the_agent_off_every_lead_it_works_one_event_each() {
    let s = setup(RULES).await;
    seed(
        &s.store,
        &s.rs,
        vec![
            listing("L-1", "bob", json!(["carol"]), 40),
            office("Q-1", 30),
            listing("L-4", "isa-maria", json!(["bob"]), 20),
            lead_at(json!({"id": "W-1", "source": "web"}), ago(10)),
        ],
    )
    .await;
    let mut conn = s.db.conn().await;
    assert_eq!(assignee_ids(&mut conn, "L-1").await, ["carol", "isa-maria"]);
    assert_eq!(
        assignee_ids(&mut conn, "L-4").await,
        ["bob"],
        "the owner is no assignee"
    );

    let o = cli(
        &s.db,
        &[
            "agents",
            "offboard",
            "isa-maria",
            "--to",
            "alice",
            "--note",
            "left",
            "--as",
            "hr",
        ],
    );
    expect_code(&o, 0);
    let out = stdout(&o);
    for want in [
        "moved 1 open lead to alice:\n",
        "removed isa-maria from the assignees of 2 leads: L-1, Q-1\n",
        "2 lead.assignees_changed events written to the outbox (removed: [isa-maria]).\n",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert_eq!(assignee_ids(&mut conn, "L-1").await, ["carol"]);
    assert!(assignee_ids(&mut conn, "Q-1").await.is_empty());
    assert_eq!(
        assignee_ids(&mut conn, "L-4").await,
        ["bob"],
        "kept by the move"
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM lead_assignees WHERE agent_id = 'isa-maria'"
        )
        .await,
        0
    );
    for (id, owner, left) in [
        ("L-1", json!("bob"), json!(["carol"])),
        ("Q-1", Value::Null, json!([])),
    ] {
        let events = events_of(&mut conn, id).await;
        assert_eq!(events.len(), 2, "{id}: one event for the slot");
        let (key, body) = &events[1];
        assert_eq!(key, "lead.assignees_changed");
        assert_eq!(
            (
                &body["via"],
                &body["removed"],
                &body["added"],
                &body["assignees"]
            ),
            (
                &json!("assignees"),
                &json!(["isa-maria"]),
                &json!([]),
                &left
            ),
            "{id}"
        );
        assert_eq!(
            (&body["actor"], &body["note"], &body["owner_id"]),
            (&json!("hr"), &json!("left"), &owner)
        );
        assert_eq!(decisions(&mut conn, id).await[1].0, "assignees");
    }
    let events = events_of(&mut conn, "L-4").await;
    assert_eq!(
        (&events[1].1["via"], &events[1].1["assignees"]),
        (&json!("offboard"), &json!(["bob"]))
    );

    // Through a pool: the pick, an assignee, leaves the list of the lead it now owns.
    expect_code(
        &cli(
            &s.db,
            &["leads", "assignees", "L-1", "--add", "carol,alice"],
        ),
        0,
    );
    assert_eq!(assignee_ids(&mut conn, "L-1").await, ["carol", "alice"]);
    let rules = s.rules.to_str().unwrap();
    let o = cli(
        &s.db,
        &[
            "agents",
            "offboard",
            "bob",
            "--pool",
            "west-agents",
            "--rules",
            rules,
        ],
    );
    expect_code(&o, 0);
    // W-1 took the rotation's first step (alice): bob's L-1 goes to the next, carol.
    assert_eq!(lead_row(&mut conn, "L-1").await.1.as_deref(), Some("carol"));
    assert_eq!(assignee_ids(&mut conn, "L-1").await, ["alice"]);
    let events = events_of(&mut conn, "L-1").await;
    let last = &events.last().unwrap().1;
    assert_eq!(
        (&last["via"], &last["assignees"]),
        (&json!("offboard"), &json!(["alice"]))
    );
    // bob was an assignee of L-4: removed there.
    assert!(assignee_ids(&mut conn, "L-4").await.is_empty());
    assert!(
        stdout(&o).contains("removed bob from the assignees of 1 lead: L-4\n"),
        "{}",
        stdout(&o)
    );
    s.db.cleanup().await;
}

#[tokio::test]
async fn simulate_and_replay_show_the_assignees() {
    let s = setup(RULES).await;
    let files = Files::new();
    let leads = files.write(
        "leads.jsonl",
        "{\"id\": \"L-1\", \"source\": \"listing\", \"agent_id\": \"bob\", \"co_agents\": [\"carol\"]}\n",
    );
    let o = cli_with(
        &[
            "simulate",
            "--rules",
            s.rules.to_str().unwrap(),
            "--halted",
            "carol",
            leads.to_str().unwrap(),
        ],
        |_| {},
    );
    expect_code(&o, 0);
    let line: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(line["assignees"], json!(["isa-maria"]));
    assert_eq!(line["offered_to"], Value::Null);
    assert_eq!(
        line["trace"]["rules"][0]["assignees_skipped"],
        json!([{"agent": "carol", "why": "halted"}])
    );

    // Replay: the recorded assignees are compared with what other rules would add.
    seed(
        &s.store,
        &s.rs,
        vec![listing("L-1", "bob", json!(["carol"]), 5)],
    )
    .await;
    let other = files.write(
        "other.yaml",
        &RULES.replace(
            "also_assign: [isa-maria]\n  - name: office-sf",
            "also_assign: [ivan]\n  - name: office-sf",
        ),
    );
    let o = cli(
        &s.db,
        &[
            "replay",
            "--since",
            "1h",
            "--rules",
            other.to_str().unwrap(),
            "--json",
        ],
    );
    expect_code(&o, 0);
    let r: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r["changed"], 1, "{r:#}");
    let t = &r["transitions"][0];
    assert_eq!(t["from"]["assignees"], json!(["carol", "isa-maria"]));
    assert_eq!(t["to"]["assignees"], json!(["carol", "ivan"]));
    let o = cli(
        &s.db,
        &[
            "replay",
            "--since",
            "1h",
            "--rules",
            other.to_str().unwrap(),
        ],
    );
    assert!(
        stdout(&o).contains("listing: agent bob + assignees carol, isa-maria  →  listing: agent bob + assignees carol, ivan"),
        "{}",
        stdout(&o)
    );
    // An assignees change is not a move by hand.
    expect_code(
        &cli(&s.db, &["leads", "assignees", "L-1", "--add", "dave"]),
        0,
    );
    let o = cli(
        &s.db,
        &[
            "replay",
            "--since",
            "1h",
            "--rules",
            other.to_str().unwrap(),
            "--json",
        ],
    );
    let r: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r["manual_corrections"]["changed_by_hand"], 0, "{r:#}");
    s.db.cleanup().await;
}

#[tokio::test]
async fn an_alert_says_how_the_lead_came_to_wait_and_who_works_it() {
    let s = setup(RULES).await;
    seed(&s.store, &s.rs, vec![office("Q-1", 30), office("Q-2", 20)]).await;
    // Moved between queues: the same ownerless spell, now waiting by a reassignment.
    let o = cli(&s.db, &["leads", "reassign", "Q-2", "--queue", "office-la"]);
    expect_code(&o, 0);
    // An assignees change afterwards does not change how the lead came to wait.
    expect_code(
        &cli(&s.db, &["leads", "assignees", "Q-2", "--add", "dave"]),
        0,
    );
    let events = s
        .store
        .sweep_unassigned(Duration::from_secs(60), 10)
        .await
        .unwrap();
    let mut bodies: Vec<Value> = events
        .iter()
        .map(|e| serde_json::from_str(e.body()).unwrap())
        .collect();
    bodies.sort_by_key(|b| b["lead_id"].as_str().unwrap().to_owned());
    let got: Vec<(&Value, &Value, &Value)> = bodies
        .iter()
        .map(|b| (&b["lead_id"], &b["via"], &b["assignees"]))
        .collect();
    let (q1, q2) = (json!("Q-1"), json!("Q-2"));
    let (route, reassign) = (json!("route"), json!("reassign"));
    let (q1_team, q2_team) = (json!(["isa-maria"]), json!(["isa-maria", "dave"]));
    assert_eq!(got, [(&q1, &route, &q1_team), (&q2, &reassign, &q2_team)]);
    s.db.cleanup().await;
}
