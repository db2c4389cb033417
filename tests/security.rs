//! The claims of `docs/security.md`, checked against the real servers: TLS to
//! PostgreSQL, and the daemon and the admin commands running with exactly the
//! least privileges the page documents (its PostgreSQL grants and RabbitMQ permissions
//! are read from the page itself, so the page cannot drift from what works).
//!
//! Needs the local PostgreSQL to offer TLS with a certificate for `localhost` (Debian's
//! default: `ssl = on` with the snakeoil certificate) and `rabbitmqctl` to add a user.
use common::daemon::{Env, lead_json};
use common::db::{TestDb, server_url};
use common::wait::poll_until;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::process::Command;
use std::time::Duration;

const SECURITY_MD: &str = include_str!("../docs/security.md");

/// The first fenced block after the line holding `marker`.
fn doc_block(marker: &str) -> &'static str {
    let at = SECURITY_MD
        .find(marker)
        .unwrap_or_else(|| panic!("docs/security.md lost its {marker:?} marker"));
    let rest = &SECURITY_MD[at..];
    let open = rest.find("```").expect("a fenced block after the marker");
    let body = &rest[open..];
    let body = &body[body.find('\n').expect("fence line") + 1..];
    &body[..body.find("```").expect("closing fence")]
}

/// `SHOW ssl` must be on; returns the server certificate's path (it names `localhost`).
async fn server_certificate() -> String {
    let mut c = PgConnection::connect(&format!("{}/postgres", server_url()))
        .await
        .expect("PostgreSQL reachable");
    let ssl: String = sqlx::query_scalar("SHOW ssl")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(
        ssl, "on",
        "these tests need PostgreSQL to offer TLS (ssl = on, as Debian configures it)"
    );
    let cert: String = sqlx::query_scalar("SHOW ssl_cert_file")
        .fetch_one(&mut c)
        .await
        .unwrap();
    let _ = c.close().await;
    if cert.starts_with('/') {
        cert
    } else {
        format!("/var/lib/postgresql/{cert}")
    }
}

/// The test server's URL for `user` and `database` with `localhost` as the host (the
/// name the certificate holds) and `query` appended.
fn url_as(user: &str, database: &str, query: &str) -> String {
    let server = server_url();
    let host_port = server
        .rsplit_once('@')
        .map_or(server.trim_start_matches("postgres://"), |(_, h)| h)
        .replace("127.0.0.1", "localhost");
    format!("postgres://{user}@{host_port}/{database}?{query}")
}

async fn uses_tls(url: &str) -> Result<bool, sqlx::Error> {
    let mut c = PgConnection::connect(url).await?;
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut c)
        .await?;
    let _ = c.close().await;
    Ok(ssl)
}

#[tokio::test]
async fn postgresql_over_tls_with_require_and_verify_full() {
    let cert = server_certificate().await;
    let db = TestDb::create().await;
    let require = url_as("postgres", &db.name, "sslmode=require");
    assert!(uses_tls(&require).await.expect("sslmode=require connects"));
    let verify = url_as(
        "postgres",
        &db.name,
        &format!("sslmode=verify-full&sslrootcert={cert}"),
    );
    assert!(uses_tls(&verify).await.expect("verify-full connects"));
    // The store (migrations, pool) over the verified connection.
    let store = leadrouter::store::Store::connect(&verify)
        .await
        .expect("Store::connect with verify-full");
    store.ping().await.unwrap();
    store.close().await;

    // verify-full refuses a host the certificate does not name, and an unknown CA.
    let wrong_host = verify.replace("localhost", "127.0.0.1");
    let err = uses_tls(&wrong_host)
        .await
        .expect_err("127.0.0.1 is not in the certificate");
    assert!(
        err.to_string().contains("certificate not valid for name"),
        "{err}"
    );
    let no_root = url_as("postgres", &db.name, "sslmode=verify-full");
    let err = uses_tls(&no_root)
        .await
        .expect_err("the snakeoil CA is not trusted by default");
    assert!(
        err.to_string().contains("invalid peer certificate"),
        "{err}"
    );
    db.cleanup().await;
}

/// A RabbitMQ user and four PostgreSQL roles for one test; removed on drop.
struct Principals {
    id: String,
    rabbit_user: String,
    roles: Vec<String>,
}

impl Principals {
    fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        Principals {
            rabbit_user: format!("lr-test-{id}"),
            roles: ["own", "dmn", "adm", "crm"]
                .iter()
                .map(|r| format!("lr_{r}_{id}"))
                .collect(),
            id,
        }
    }
    fn owner(&self) -> &str {
        &self.roles[0]
    }
    fn daemon(&self) -> &str {
        &self.roles[1]
    }
    fn admin(&self) -> &str {
        &self.roles[2]
    }
    fn crm(&self) -> &str {
        &self.roles[3]
    }
}

impl Drop for Principals {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["-q", "delete_user", &self.rabbit_user])
            .output();
        let roles = self.roles.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut c = PgConnection::connect(&format!("{}/postgres", server_url()))
                    .await
                    .ok()?;
                for r in roles {
                    let _ = sqlx::query(AssertSqlSafe(format!("DROP ROLE IF EXISTS {r}")))
                        .execute(&mut c)
                        .await;
                }
                Some(())
            })
        })
        .join();
    }
}

fn rabbitmqctl(args: &[&str]) {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl runs");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn exec_as_superuser(sql: &str) {
    let mut c = PgConnection::connect(&format!("{}/postgres", server_url()))
        .await
        .expect("PostgreSQL reachable");
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = c.close().await;
}

fn admin_cli(config: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_leadrouter"))
        .args(args)
        .args(["--config", config.to_str().unwrap()])
        .env_remove("DATABASE_URL")
        .env_remove("AMQP_URL")
        .output()
        .expect("leadrouter runs");
    assert!(
        out.status.success(),
        "leadrouter {args:?} as the admin role: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn the_daemon_and_admin_commands_run_with_only_the_documented_privileges_over_tls() {
    let cert = server_certificate().await;
    let who = Principals::new();
    // A queue its member claims from, and assignees the daemon adds (lead_assignees).
    let rules = "pools:\n  p: {strategy: round_robin, members: [a, b, c]}\nqueues:\n  office: {members: [a]}\nrules:\n  - {name: office, when: {source: office}, assign: {queue: office}}\n  - {name: all, assign: {pool: p}, also_assign: [c]}\n";
    let mut env = Env::new(Some(rules)).await;
    let names = env.amqp.names.clone();

    // RabbitMQ: a user with exactly the documented permissions, for these names.
    let console = doc_block("rabbitmq-permissions:");
    let set = &console[console.find("set_permissions").expect("set_permissions")..];
    let patterns: Vec<String> = set
        .split('\'')
        .skip(1)
        .step_by(2)
        .map(|p| {
            p.replace(r"leads\.inbound", &regex::escape(&names.inbound))
                .replace(r"leads\.dead", &regex::escape(&names.dead_letter))
                .replace(r"leads\.events", &regex::escape(&names.events_exchange))
        })
        .collect();
    assert_eq!(patterns.len(), 3, "configure, write, read in {set}");
    let password = format!("pw-{}", who.id);
    rabbitmqctl(&["-q", "add_user", &who.rabbit_user, &password]);
    rabbitmqctl(&[
        "-q",
        "set_permissions",
        "-p",
        "/",
        &who.rabbit_user,
        &patterns[0],
        &patterns[1],
        &patterns[2],
    ]);
    let guest_url = common::amqp::url();
    let (scheme, rest) = guest_url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let amqp_url = format!("{scheme}://{}:{password}@{host}", who.rabbit_user);

    // PostgreSQL: the owner applies the migrations, then runs the documented grants.
    let (owner, daemon, admin, crm) = (who.owner(), who.daemon(), who.admin(), who.crm());
    exec_as_superuser(&format!(
        "CREATE ROLE {owner} LOGIN; CREATE ROLE {daemon} LOGIN; CREATE ROLE {admin} LOGIN; CREATE ROLE {crm} LOGIN"
    ))
    .await;
    exec_as_superuser(&format!(
        "CREATE DATABASE \"{}\" OWNER {owner}",
        env.db.name
    ))
    .await;
    let tls = format!("sslmode=verify-full&sslrootcert={cert}");
    let owner_url = url_as(owner, &env.db.name, &tls);
    leadrouter::store::Store::connect(&owner_url)
        .await
        .expect("the owner applies the migrations")
        .close()
        .await;
    let grants = doc_block("postgresql-grants:")
        .replace("leadrouter_daemon", daemon)
        .replace("leadrouter_admin", admin)
        .replace("crm_reader", crm)
        .replace(
            "DATABASE leadrouter",
            &format!("DATABASE \"{}\"", env.db.name),
        );
    assert!(
        !grants.replace(&env.db.name, "").contains("leadrouter"),
        "unreplaced name in:\n{grants}"
    );
    let mut as_owner = PgConnection::connect(&owner_url).await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(grants.clone()))
        .execute(&mut as_owner)
        .await
        .unwrap_or_else(|e| panic!("the documented grants fail: {e}\n{grants}"));
    let _ = as_owner.close().await;

    // The daemon as the daemon role, over verified TLS, as the restricted RabbitMQ user.
    let events_q = env.bind_events().await;
    let mut d = env.spawn_with_urls(&amqp_url, &url_as(daemon, &env.db.name, &tls));
    d.wait_ready().await;
    let mut bodies: Vec<String> = (0..30)
        .map(|i| lead_json(&format!("priv-{i}"), ""))
        .collect();
    // Ownerless since 2020: the sweeper raises an alert (unassigned_alerts, outbox).
    bodies.push(
        r#"{"id":"priv-old","source":"office","received_at":"2020-01-01T00:00:00Z"}"#.to_owned(),
    );
    env.publish(&bodies).await;
    env.publish_raw(b"not json").await;
    env.wait_count("SELECT count(*) FROM leads", bodies.len() as i64, 30)
        .await;
    env.wait_count("SELECT count(*) FROM unassigned_alerts", 1, 30)
        .await;
    let dead = poll_until(
        Duration::from_secs(15),
        async || env.amqp.get(&names.dead_letter).await,
        Option::is_some,
    )
    .await
    .unwrap_or_else(|none| none);
    assert_eq!(
        dead.expect("the poison message is dead-lettered")
            .delivery
            .data,
        b"not json"
    );

    // The admin commands as the admin role.
    let config = env.dir.path().join("admin.yaml");
    std::fs::write(
        &config,
        format!(
            "database:\n  url: \"{}\"\nrules:\n  path: {}\n",
            url_as(admin, &env.db.name, &tls),
            env.rules.display()
        ),
    )
    .unwrap();
    admin_cli(&config, &["agents", "halt", "c", "--as", "sec-test"]);
    admin_cli(&config, &["agents", "resume", "c", "--as", "sec-test"]);
    admin_cli(&config, &["agents", "list"]);
    admin_cli(&config, &["leads", "show", "priv-1"]);
    admin_cli(
        &config,
        &[
            "leads", "reassign", "priv-1", "--to", "zed", "--as", "sec-test",
        ],
    );
    admin_cli(
        &config,
        &["leads", "unassign", "priv-2", "--as", "sec-test"],
    );
    admin_cli(
        &config,
        &[
            "leads",
            "assignees",
            "priv-3",
            "--add",
            "zed",
            "--remove",
            "c",
            "--as",
            "sec-test",
        ],
    );
    admin_cli(&config, &["leads", "claim", "priv-old", "--as", "a"]);
    admin_cli(
        &config,
        &["agents", "offboard", "b", "--pool", "p", "--as", "sec-test"],
    );
    admin_cli(&config, &["replay", "--since", "1h", "--json"]);
    // Rules in PostgreSQL and API tokens, as the admin role.
    let rules = env.rules.display().to_string();
    admin_cli(&config, &["rules", "publish", &rules, "--as", "sec-test"]);
    admin_cli(&config, &["rules", "history"]);
    admin_cli(
        &config,
        &[
            "tokens",
            "add",
            "sec-admin",
            "--role",
            "admin",
            "--as",
            "sec-test",
        ],
    );
    admin_cli(&config, &["tokens", "list"]);
    admin_cli(&config, &["tokens", "revoke", "sec-admin"]);

    // Every event, the admin ones included, relayed by the restricted daemon.
    let mut by_admin = 0;
    let mut alerts = 0;
    let mut router = std::collections::HashSet::new();
    let all_seen = |(router, alerts, by_admin): &(usize, usize, usize)| {
        *router >= bodies.len() && *alerts >= 1 && *by_admin >= 5
    };
    let events = async || {
        while !all_seen(&(router.len(), alerts, by_admin))
            && let Some(m) = env.amqp.get(&events_q).await
        {
            let body: serde_json::Value = serde_json::from_slice(&m.delivery.data).unwrap();
            match body["actor"].as_str() {
                Some("router") => {
                    router.insert(body["lead_id"].as_str().unwrap().to_owned());
                }
                Some("sweeper") => alerts += 1,
                // The admin commands' changes; a claim's actor is the claimer.
                Some("sec-test" | "a") => by_admin += 1,
                other => panic!("unexpected actor {other:?}"),
            }
        }
        (router.len(), alerts, by_admin)
    };
    let _ = poll_until(Duration::from_secs(30), events, &all_seen).await;
    assert_eq!(router.len(), bodies.len(), "an event per decided lead");
    assert!(alerts >= 1, "the alert event");
    assert!(
        by_admin >= 5,
        "reassign, unassign, assignees, claim and offboard events: {by_admin}"
    );
    env.wait_count("SELECT 1 - sign(count(*))::bigint FROM outbox", 1, 15)
        .await;
    assert_eq!(d.get("/readyz").map(|r| r.0), Some(200));
    let log = d.log_text();
    assert!(!log.contains("permission denied"), "{log}");

    // Nobody holds more than that.
    let refused = |role: &str, sql: &'static str| {
        let url = url_as(role, &env.db.name, &tls);
        async move {
            let mut c = PgConnection::connect(&url).await.unwrap();
            let r = sqlx::query(sql).execute(&mut c).await;
            let _ = c.close().await;
            match r {
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42501") => {}
                other => panic!("{sql} should be refused: {other:?}"),
            }
        }
    };
    refused(daemon, "UPDATE leads SET owner_id = 'x'").await;
    refused(daemon, "DELETE FROM routing_decisions").await;
    refused(daemon, "UPDATE agents SET halted = true").await;
    refused(daemon, "DELETE FROM lead_assignees").await;
    refused(admin, "DELETE FROM leads").await;
    refused(admin, "SELECT * FROM outbox").await;
    refused(crm, "SELECT * FROM outbox").await;
    refused(crm, "UPDATE leads SET owner_id = 'x'").await;
    refused(crm, "DELETE FROM lead_assignees").await;
    let mut c = PgConnection::connect(&url_as(crm, &env.db.name, &tls))
        .await
        .unwrap();
    for table in [
        "leads",
        "routing_decisions",
        "agents",
        "unassigned_alerts",
        "lead_assignees",
    ] {
        sqlx::query(AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .execute(&mut c)
            .await
            .unwrap_or_else(|e| panic!("the CRM reads {table}: {e}"));
    }
    let _ = c.close().await;

    d.kill();
    env.cleanup().await;
    drop(who);
}
