//! For the admin command tests: the real binary against a test database, rules files in
//! a temporary directory, and leads seeded the way the daemon writes them
//! (`Store::route_batch` deciding with the real engine).
use crate::db::TestDb;
use chrono::{DateTime, Duration, Utc};
use leadrouter::lead::Lead;
use leadrouter::routing::decide;
use leadrouter::rules::Ruleset;
use leadrouter::store::{BatchOutcome, Store};
use serde_json::Value;
use sqlx::PgConnection;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Rules with a round_robin pool, a second pool, a queue and a catch-all.
pub const RULES_A: &str = r#"
regions:
  west: {states: [CA, OR, WA]}
pools:
  west-agents:
    strategy: round_robin
    members: [alice, bob, carol]
  luxury:
    strategy: round_robin
    members: [dana, eve]
rules:
  - name: direct-to-agent
    when: {source: agent_site, agent_id: {exists: true}}
    assign: {agent_from: agent_id}
  - name: luxury
    when: {price: {gte: 1000000}}
    assign: {pool: luxury}
  - name: west-buyers
    when: {region: west}
    assign: {pool: west-agents}
  - name: office-sf
    when: {address.city: San Francisco}
    assign: {queue: office-sf}
  - name: everyone-else
    assign: unassigned
"#;

/// A temporary directory holding rules files.
pub struct Files {
    pub dir: tempfile::TempDir,
}

impl Default for Files {
    fn default() -> Files {
        Files::new()
    }
}

impl Files {
    pub fn new() -> Files {
        Files {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Writes `text` to `name` in the directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write file");
        path
    }
}

pub fn load_rules(path: &Path) -> Ruleset {
    match Ruleset::load(path) {
        Ok(l) => l.ruleset,
        Err(e) => panic!("rules should load:\n{e}"),
    }
}

/// Runs `leadrouter ARGS` against `db` (DATABASE_URL on the child only), as user `tester`.
pub fn cli(db: &TestDb, args: &[&str]) -> Output {
    cli_with(args, |c| {
        c.env("DATABASE_URL", &db.url);
    })
}

/// Runs `leadrouter ARGS` with the environment `setup` gives it.
pub fn cli_with(args: &[&str], setup: impl FnOnce(&mut Command)) -> Output {
    let mut cmd = Command::new(crate::binary());
    // Not the repository: its sample rules must not stand in for the default path.
    cmd.args(args)
        .current_dir(std::env::temp_dir())
        .env_remove("DATABASE_URL")
        .env_remove("LEADROUTER_DATABASE__URL")
        .env_remove("LEADROUTER_RULES__PATH")
        .env("USER", "tester")
        .env_remove("LOGNAME");
    setup(&mut cmd);
    cmd.output().expect("the leadrouter binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the exit code, showing both streams when it differs.
#[track_caller]
pub fn expect_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

/// A lead from a JSON object (its `id`), received at `at`.
pub fn lead_at(payload: Value, at: DateTime<Utc>) -> Lead {
    let mut l = crate::engine::lead(payload);
    l.received_at = Some(at);
    l
}

/// `minutes` minutes ago.
pub fn ago(minutes: i64) -> DateTime<Utc> {
    Utc::now() - Duration::minutes(minutes)
}

/// Routes `leads` in one batch, as the daemon does, with the real engine.
pub async fn seed(store: &Store, rs: &Ruleset, leads: Vec<Lead>) -> BatchOutcome {
    let pools: Vec<String> = rs.pools().map(|p| p.name.clone()).collect();
    store
        .route_batch(
            &leads,
            rs.hash(),
            rs.least_loaded_agents(),
            &pools,
            |l, s| decide(rs, l, s),
        )
        .await
        .expect("route_batch")
}

/// Every table's content as text, to prove a command wrote nothing.
pub async fn dump(conn: &mut PgConnection) -> Vec<String> {
    let mut out = Vec::new();
    for table in [
        "leads",
        "routing_decisions",
        "agents",
        "pool_rotations",
        "outbox",
        "unassigned_alerts",
        "lead_assignees",
    ] {
        let sql = format!(
            "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]') FROM {table} t"
        );
        let rows: Value = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *conn)
            .await
            .expect("dump table");
        out.push(format!("{table}: {rows}"));
    }
    out
}

/// The owner state of a lead: (status, owner_id, queue, pool, rule, unassigned_since).
pub type LeadRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<DateTime<Utc>>,
);

pub async fn lead_row(conn: &mut PgConnection, id: &str) -> LeadRow {
    sqlx::query_as(
        "SELECT status, owner_id, queue, pool, rule, unassigned_since FROM leads WHERE lead_id = $1",
    )
    .bind(id)
    .fetch_one(conn)
    .await
    .unwrap_or_else(|e| panic!("lead {id}: {e}"))
}

/// Outbox event bodies for a lead, in write order.
pub async fn events_of(conn: &mut PgConnection, id: &str) -> Vec<(String, Value)> {
    sqlx::query_as("SELECT routing_key, body FROM outbox WHERE body->>'lead_id' = $1 ORDER BY seq")
        .bind(id)
        .fetch_all(conn)
        .await
        .expect("outbox")
}

/// A stored rotation's JSON, if any.
pub async fn rotation(conn: &mut PgConnection, pool: &str) -> Option<Value> {
    sqlx::query_scalar("SELECT state FROM pool_rotations WHERE pool = $1")
        .bind(pool)
        .fetch_optional(conn)
        .await
        .expect("pool_rotations")
}
