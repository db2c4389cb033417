//! Explicit migrations: `leadrouter migrate` (and `run`) create the database and apply
//! the schema; every other database command only checks it, writes nothing, and says
//! what to run when it is missing, older or newer. And a permanent database error stops
//! `run` at once with its message, instead of being retried forever.

use common::admin::{Files, RULES_A, cli, cli_with, expect_code, stderr, stdout};
use common::db::{TestDb, server_url};
use leadrouter::store::MIGRATOR;
use sqlx::migrate::Migrator;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `N (description)` for each embedded migration, as `migrate` reports them.
fn embedded() -> Vec<String> {
    MIGRATOR
        .iter()
        .map(|m| format!("{} ({})", m.version, m.description))
        .collect()
}

/// Every database command but `migrate`, reading and changing, with the arguments
/// that take each one to the database.
fn database_commands(rules: &Path) -> Vec<Vec<String>> {
    let rules = rules.to_str().unwrap();
    [
        &["leads", "show", "L-1"][..],
        &["agents", "list"],
        &["agents", "list", "--rules", rules],
        &["replay", "--since", "1h", "--rules", rules],
        &["agents", "halt", "bob"],
        &["agents", "resume", "bob"],
        &["agents", "reactivate", "bob"],
        &["agents", "offboard", "bob", "--to", "carol"],
        &[
            "agents",
            "offboard",
            "bob",
            "--pool",
            "west-agents",
            "--rules",
            rules,
        ],
        &["leads", "reassign", "L-1", "--to", "alice"],
        &["leads", "reassign", "L-1", "--queue", "office-sf"],
        &["leads", "unassign", "L-1"],
        &["leads", "assignees", "L-1", "--add", "carol"],
        &["leads", "claim", "L-1", "--as", "carol"],
    ]
    .iter()
    .map(|args| args.iter().map(|a| a.to_string()).collect())
    .collect()
}

/// Runs every database command against `db`, expecting exit 1 and `needle` in stderr.
fn every_command_refuses(db: &TestDb, rules: &Path, needle: &str) {
    for args in database_commands(rules) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = cli(db, &args);
        expect_code(&o, 1);
        assert!(
            stderr(&o).contains(needle),
            "{args:?} should say {needle:?}:\n{}",
            stderr(&o)
        );
    }
}

async fn exec(conn: &mut PgConnection, sql: &str) {
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(sql.to_owned()))
        .fetch_one(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Tables in the database's public schema: what a command could have created.
const TABLES: &str = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'";

#[tokio::test]
async fn migrate_creates_the_database_applies_the_schema_and_says_what_it_did() {
    let db = TestDb::unique();
    let o = cli(&db, &["migrate"]);
    expect_code(&o, 0);
    let out = stdout(&o);
    for m in embedded() {
        assert!(out.contains(&format!("applied migration {m}\n")), "{out}");
    }
    assert!(
        out.contains(&format!(
            "schema up to date ({} migrations applied)",
            embedded().len()
        )),
        "{out}"
    );
    assert!(db.exists().await);
    let mut conn = db.conn().await;
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM _sqlx_migrations WHERE success"
        )
        .await,
        embedded().len() as i64
    );

    let o = cli(&db, &["migrate"]);
    expect_code(&o, 0);
    assert!(
        stdout(&o).contains("schema up to date, nothing to apply"),
        "{}",
        stdout(&o)
    );
    // The commands work on it now.
    expect_code(&cli(&db, &["agents", "list"]), 0);
    drop(conn);
    db.cleanup().await;
}

#[tokio::test]
async fn no_other_command_creates_the_database_or_the_schema() {
    let files = Files::new();
    let rules = files.write("a.yaml", RULES_A);

    let missing = TestDb::unique();
    every_command_refuses(
        &missing,
        &rules,
        &format!(
            "database \"{}\" does not exist on 127.0.0.1:5432: run `leadrouter migrate` to create it",
            missing.name
        ),
    );
    assert!(!missing.exists().await, "no command created the database");

    let empty = TestDb::create().await;
    every_command_refuses(
        &empty,
        &rules,
        "has no leadrouter schema: run `leadrouter migrate` to create it",
    );
    let mut conn = empty.conn().await;
    assert_eq!(
        count(&mut conn, TABLES).await,
        0,
        "no command wrote a table"
    );
    drop(conn);
    empty.cleanup().await;
}

#[tokio::test]
async fn an_older_schema_is_refused_until_migrate_applies_the_rest() {
    let files = Files::new();
    let rules = files.write("a.yaml", RULES_A);
    let db = TestDb::create().await;
    let mut conn = db.conn().await;
    // The schema of an older release: the first migration only.
    let mut first = Migrator {
        migrations: MIGRATOR.migrations.clone(),
        ..Migrator::DEFAULT
    };
    first.migrations = first.migrations[..1].to_vec().into();
    first.run(&mut conn).await.unwrap();
    let tables = count(&mut conn, TABLES).await;

    let later = &embedded()[1..];
    every_command_refuses(
        &db,
        &rules,
        &format!(
            "is older than this leadrouter (pending migration{}: {}): run `leadrouter migrate`",
            if later.len() == 1 { "" } else { "s" },
            later.join(", ")
        ),
    );
    assert_eq!(count(&mut conn, TABLES).await, tables, "nothing written");
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM _sqlx_migrations").await,
        1
    );

    let o = cli(&db, &["migrate"]);
    expect_code(&o, 0);
    let out = stdout(&o);
    assert!(
        !out.contains(&format!("applied migration {}\n", embedded()[0])),
        "{out}"
    );
    for m in later {
        assert!(out.contains(&format!("applied migration {m}\n")), "{out}");
    }
    expect_code(&cli(&db, &["agents", "list"]), 0);
    drop(conn);
    db.cleanup().await;
}

/// Migration 3 names the `via` of every decision an older release recorded from what
/// the row is, and makes the column required.
#[tokio::test]
async fn the_ownership_migration_backfills_via_from_what_each_decision_was() {
    let db = TestDb::create().await;
    let mut conn = db.conn().await;
    let mut older = Migrator {
        migrations: MIGRATOR.migrations.clone(),
        ..Migrator::DEFAULT
    };
    older.migrations = older.migrations[..2].to_vec().into();
    older.run(&mut conn).await.unwrap();
    exec(
        &mut conn,
        "INSERT INTO leads (lead_id, status, owner_id, received_at, decided_at, payload)
         VALUES ('L-1', 'assigned', 'bob', now(), now(), '{\"id\": \"L-1\"}');
         INSERT INTO routing_decisions (lead_id, status, owner_id, queue, trace, decided_at, actor) VALUES
           ('L-1', 'assigned', 'alice', NULL, '{\"rules\": []}', now(), 'router'),
           ('L-1', 'queued', NULL, 'office-sf', NULL, now(), 'jdoe'),
           ('L-1', 'unassigned', NULL, NULL, NULL, now(), 'jdoe'),
           ('L-1', 'assigned', 'carol', NULL, NULL, now(), 'jdoe'),
           ('L-1', 'assigned', 'bob', NULL, '{\"manual\": \"offboard\", \"pool\": \"p\"}', now(), 'hr');",
    )
    .await;
    expect_code(&cli(&db, &["migrate"]), 0);
    let via: Vec<(String, Option<uuid::Uuid>)> =
        sqlx::query_as("SELECT via, bulk_id FROM routing_decisions ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let names: Vec<&str> = via.iter().map(|(v, _)| v.as_str()).collect();
    assert_eq!(
        names,
        ["route", "reassign", "unassign", "reassign", "offboard"]
    );
    assert!(via.iter().all(|(_, bulk)| bulk.is_none()));
    // Required from now on, and only the documented values.
    for bad in [
        "INSERT INTO routing_decisions (lead_id, status, owner_id, decided_at, actor)
         VALUES ('L-1', 'assigned', 'bob', now(), 'jdoe')",
        "INSERT INTO routing_decisions (lead_id, status, owner_id, decided_at, actor, via)
         VALUES ('L-1', 'assigned', 'bob', now(), 'jdoe', 'magic')",
    ] {
        let e = sqlx::query(bad).execute(&mut conn).await.expect_err(bad);
        assert!(
            matches!(
                e.as_database_error().and_then(|d| d.code()).as_deref(),
                Some("23502" | "23514")
            ),
            "{bad}: {e}"
        );
    }
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM lead_assignees").await,
        0
    );
    drop(conn);
    db.cleanup().await;
}

#[tokio::test]
async fn a_newer_or_modified_schema_is_refused_by_every_command_migrate_and_run() {
    let files = Files::new();
    let rules = files.write("a.yaml", RULES_A);
    let db = TestDb::create().await;
    db.store().await.close().await;
    let mut conn = db.conn().await;

    // A migration of a later release this binary does not know.
    exec(
        &mut conn,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'from the future', true, '\\x00', 0)",
    )
    .await;
    let newer = "is newer than this leadrouter (it has migration 9999, which this binary does not know): use a newer leadrouter binary";
    every_command_refuses(&db, &rules, newer);
    let o = cli(&db, &["migrate"]);
    expect_code(&o, 1);
    assert!(stderr(&o).contains(newer), "{}", stderr(&o));
    let (code, log, took) = run_daemon(&db.url);
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains(newer), "{log}");
    assert!(took < Duration::from_secs(10), "{took:?}\n{log}");

    // A migration changed after it was applied (another build of the same version).
    exec(
        &mut conn,
        "DELETE FROM _sqlx_migrations WHERE version = 9999",
    )
    .await;
    exec(
        &mut conn,
        "UPDATE _sqlx_migrations SET checksum = '\\x00' WHERE version = 1",
    )
    .await;
    let modified = format!(
        "migration {} applied to 127.0.0.1:5432/{} differs from the one this leadrouter embeds (checksum mismatch)",
        embedded()[0],
        db.name
    );
    every_command_refuses(&db, &rules, &modified);
    let o = cli(&db, &["migrate"]);
    expect_code(&o, 1);
    assert!(stderr(&o).contains(&modified), "{}", stderr(&o));
    let (code, log, took) = run_daemon(&db.url);
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains(&modified), "{log}");
    assert!(took < Duration::from_secs(10), "{took:?}\n{log}");
    drop(conn);
    db.cleanup().await;
}

/// A role for one test, dropped at the end.
struct Role {
    name: String,
}

impl Role {
    async fn create(options: &str) -> Role {
        let name = format!(
            "lr_role_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        superuser(&format!("CREATE ROLE {name} {options}")).await;
        Role { name }
    }

    /// The URL of `database` as this role, over TCP.
    fn url(&self, database: &str) -> String {
        let server = server_url();
        let (scheme, rest) = server.split_once("://").unwrap();
        let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        format!("{scheme}://{}@{host}/{database}", self.name)
    }

    async fn drop_role(self) {
        superuser(&format!("DROP ROLE IF EXISTS {}", self.name)).await;
    }
}

async fn superuser(sql: &str) {
    let mut c = PgConnection::connect(&format!("{}/postgres", server_url()))
        .await
        .expect("PostgreSQL reachable");
    exec(&mut c, sql).await;
    let _ = c.close().await;
}

/// Starts `leadrouter run` on `database_url` (the sample rules, a free HTTP port) and
/// waits for it to exit: (exit code, stderr, time taken). Fails if it is still
/// running after 30 s, i.e. when it retries what it should not.
fn run_daemon(database_url: &str) -> (Option<i32>, String, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = dir.path().join("leadrouter.yaml");
    std::fs::write(
        &config,
        format!(
            "database:\n  url: \"{database_url}\"\nrules:\n  path: {}\nhttp:\n  listen: 127.0.0.1:0\n",
            root.join("rules/routing.yaml").display()
        ),
    )
    .unwrap();
    let log = dir.path().join("daemon.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leadrouter"));
    cmd.args(["run", "--config", config.to_str().unwrap()])
        .env_remove("DATABASE_URL")
        .env_remove("AMQP_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("LEADROUTER_")) {
        cmd.env_remove(k);
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("leadrouter run starts");
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code(), read_log(), started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("leadrouter run still running after 30 s:\n{}", read_log());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What a permanent error looks like: exit 1 within a few seconds, the reason in the
/// message, and no retry logged.
#[track_caller]
fn stops_at_once(url: &str, reason: &str) {
    let (code, log, took) = run_daemon(url);
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains(reason), "the message names {reason:?}:\n{log}");
    assert!(log.contains("error: "), "{log}");
    assert!(!log.contains("database not ready"), "no retry:\n{log}");
    assert!(took < Duration::from_secs(10), "{took:?}\n{log}");
}

#[tokio::test]
async fn a_permanent_database_error_stops_run_with_its_message() {
    // The server trusts loopback connections (pg_hba `trust`), so a wrong password
    // cannot be refused here: a role that may not log in, a database the role may not
    // connect to and one it may not create are refused by the server the same way
    // (SQLSTATE 28000, 42501, 42501) and must not be retried either.
    let db = TestDb::create().await;
    db.store().await.close().await;

    let no_login = Role::create("NOLOGIN").await;
    stops_at_once(
        &no_login.url(&db.name),
        &format!(
            "cannot connect to PostgreSQL at 127.0.0.1:5432/{}: role \"{}\" is not permitted to log in (SQLSTATE 28000)",
            db.name, no_login.name
        ),
    );

    let member = Role::create("LOGIN").await;
    superuser(&format!(
        "REVOKE CONNECT ON DATABASE \"{}\" FROM PUBLIC",
        db.name
    ))
    .await;
    stops_at_once(
        &member.url(&db.name),
        &format!(
            "permission denied for database \"{}\" (SQLSTATE 42501)",
            db.name
        ),
    );

    let absent = TestDb::unique();
    stops_at_once(
        &member.url(&absent.name),
        &format!(
            "database \"{}\" does not exist on 127.0.0.1:5432 and cannot be created: permission denied to create database (SQLSTATE 42501)",
            absent.name
        ),
    );
    assert!(!absent.exists().await);

    db.cleanup().await;
    no_login.drop_role().await;
    member.drop_role().await;
}

#[test]
fn migrate_has_help_and_takes_a_config_file() {
    let o = cli_with(&["migrate", "--help"], |_| {});
    expect_code(&o, 0);
    assert!(stdout(&o).contains("--config <FILE>"), "{}", stdout(&o));
    let o = cli_with(&["--help"], |_| {});
    assert!(stdout(&o).contains("migrate"), "{}", stdout(&o));
}
