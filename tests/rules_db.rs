//! Rules kept in PostgreSQL (SPEC 10): `rules publish|history|rollback|show`, and a
//! daemon with `rules.source: database` routing by the active version, reloading within
//! 2 seconds of a publish through the API or a rollback, and refusing (and counting) a
//! version that does not load while the last good rules keep routing.
use common::admin::{cli, expect_code, stderr, stdout};
use common::daemon::{Env, lead_json};
use common::serve::{Serve, ServeConfig};
use common::wait::poll_until;
use leadrouter::store::Role;
use serde_json::json;
use std::time::{Duration, Instant};

const RULES_SCRIPTED: &str = r#"
pools:
  p: {strategy: round_robin, members: [alice, bob]}
rules:
  - name: scripted
    script: scripts/pick.rhai
  - name: everyone
    assign: {pool: p}
"#;
const PICK: &str = "if lead.source == \"vip\" { #{ agent: \"carol\" } } else { () }\n";

/// Every lead to one agent, through a script (so publishing carries scripts).
fn rules_to(agent: &str) -> String {
    format!(
        "rules:\n  - name: to-{agent}\n    script: scripts/{agent}.rhai\n  - name: rest\n    assign: unassigned\n"
    )
}

fn hash_in(out: &str) -> String {
    out.split_whitespace()
        .skip_while(|w| *w != "ruleset")
        .nth(1)
        .unwrap_or_else(|| panic!("no hash in {out:?}"))
        .trim_end_matches(|c: char| !c.is_ascii_hexdigit())
        .to_owned()
}

#[tokio::test]
async fn publish_history_show_and_rollback() {
    let db = common::db::TestDb::unique();
    let store = db.store().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("scripts")).unwrap();
    std::fs::write(dir.path().join("scripts/pick.rhai"), PICK).unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    std::fs::write(path("a.yaml"), RULES_SCRIPTED).unwrap();
    std::fs::write(path("b.yaml"), format!("{RULES_SCRIPTED}# second\n")).unwrap();
    std::fs::write(
        path("bad.yaml"),
        "rules:\n  - name: x\n    assign: {pool: nope}\n",
    )
    .unwrap();

    // Invalid: exit 2 with the check's errors, nothing stored.
    let o = cli(&db, &["rules", "publish", &path("bad.yaml")]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("bad.yaml:3") && stderr(&o).contains("nope"),
        "{}",
        stderr(&o)
    );
    let mut conn = db.conn().await;
    assert_eq!(
        common::db::count(&mut conn, "SELECT count(*) FROM rulesets").await,
        0
    );

    let o = cli(
        &db,
        &[
            "rules",
            "publish",
            &path("a.yaml"),
            "--note",
            "first",
            "--as",
            "ann",
        ],
    );
    expect_code(&o, 0);
    let a = hash_in(&stdout(&o));
    // The hash `check` gives the file: the daemon computes the same from the database.
    let check = cli(&db, &["check", &path("a.yaml")]);
    assert_eq!(hash_in(&stdout(&check)), a, "{}", stdout(&check));
    let o = cli(&db, &["rules", "publish", &path("a.yaml")]);
    expect_code(&o, 0);
    assert!(
        stdout(&o).contains("already the active version"),
        "{}",
        stdout(&o)
    );

    let o = cli(
        &db,
        &["rules", "publish", &path("b.yaml"), "--note", "second"],
    );
    expect_code(&o, 0);
    let b = hash_in(&stdout(&o));
    assert_ne!(a, b);
    assert!(
        stdout(&o).contains(&format!("previous version: {a}")),
        "{}",
        stdout(&o)
    );

    let o = cli(&db, &["rules", "history", "--json"]);
    expect_code(&o, 0);
    let h: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(h[0]["hash"], b.as_str(), "newest first: {h}");
    assert_eq!(h[0]["active"], true);
    assert_eq!(h[1]["hash"], a.as_str());
    assert_eq!(
        (h[1]["published_by"].clone(), h[1]["note"].clone()),
        (json!("ann"), json!("first"))
    );
    let o = cli(&db, &["rules", "history"]);
    assert!(
        stdout(&o).lines().nth(1).unwrap().starts_with(&b),
        "{}",
        stdout(&o)
    );

    // show: the active version by default; the scripts too.
    let o = cli(&db, &["rules", "show"]);
    expect_code(&o, 0);
    assert!(
        stdout(&o).contains("# second") && stdout(&o).contains(PICK.trim()),
        "{}",
        stdout(&o)
    );
    let o = cli(&db, &["rules", "show", &a]);
    assert!(!stdout(&o).contains("# second") && stdout(&o).contains("scripts/pick.rhai"));
    expect_code(&cli(&db, &["rules", "show", "0000000000000000"]), 2);

    let o = cli(&db, &["rules", "rollback", &a, "--note", "b was wrong"]);
    expect_code(&o, 0);
    let active: String = sqlx::query_scalar("SELECT hash FROM rulesets WHERE active")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(active, a);
    let o = cli(&db, &["rules", "rollback", "0000000000000000"]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("rules history"), "{}", stderr(&o));
    // Publishing b's text again activates the stored version: no second row.
    let o = cli(&db, &["rules", "publish", &path("b.yaml")]);
    assert!(stdout(&o).contains("published before"), "{}", stdout(&o));
    assert_eq!(
        common::db::count(&mut conn, "SELECT count(*) FROM rulesets").await,
        2
    );
    let log: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT hash, via, note FROM ruleset_activations ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        log,
        [
            (a.clone(), "publish".into(), Some("first".into())),
            (b.clone(), "publish".into(), Some("second".into())),
            (a.clone(), "rollback".into(), Some("b was wrong".into())),
            (b.clone(), "publish".into(), None),
        ]
    );
    store.close().await;
    db.cleanup().await;
}

/// The value of a series on the daemon's `/metrics` (0 when absent).
fn metric(body: &str, series: &str) -> f64 {
    body.lines()
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(name, _)| *name == series)
        .map(|(_, v)| v.parse::<f64>().unwrap())
        .sum()
}

#[tokio::test]
async fn a_daemon_follows_the_published_rules_within_two_seconds() {
    let mut env = Env::new(None).await;
    env.env
        .push(("LEADROUTER_RULES__SOURCE".into(), "database".into()));
    let store = env.db.store().await;
    let scripts = env.dir.path().join("rules/scripts");
    for agent in ["alice", "bob"] {
        std::fs::write(
            scripts.join(format!("{agent}.rhai")),
            format!("#{{ agent: \"{agent}\" }}\n"),
        )
        .unwrap();
    }
    let rules_a = env.dir.path().join("rules/a.yaml");
    std::fs::write(&rules_a, rules_to("alice")).unwrap();

    // Nothing published: the daemon refuses to start and says to publish.
    let mut d = env.spawn();
    let stopped = poll_until(Duration::from_secs(30), async || !d.is_running(), |s| *s).await;
    assert!(
        stopped.is_ok(),
        "the daemon kept running without rules:\n{}",
        d.log_text()
    );
    assert!(d.log_text().contains("rules publish"), "{}", d.log_text());

    let o = cli(&env.db, &["rules", "publish", rules_a.to_str().unwrap()]);
    expect_code(&o, 0);
    let hash_a = hash_in(&stdout(&o));
    let mut d = env.spawn();
    d.wait_ready().await;
    env.publish(&[lead_json("R-1", "")]).await;
    env.wait_count(
        "SELECT count(*) FROM leads WHERE lead_id = 'R-1' AND owner_id = 'alice'",
        1,
        15,
    )
    .await;

    // Publish bob's rules through the API.
    let admin = store.add_token("boss", Role::Admin, "setup").await.unwrap();
    let serve = Serve::start(ServeConfig {
        db: &env.db,
        rules_source: "database",
        rules_path: &env.rules,
        dir: env.dir.path(),
        extra_args: &[],
    })
    .await;
    let scripts_b = json!({"scripts/bob.rhai": "#{ agent: \"bob\" }\n"});
    let published = Instant::now();
    let r = serve.call(
        Some(&admin),
        "POST",
        "/api/v1/rules",
        Some(&json!({
            "yaml": rules_to("bob"), "scripts": scripts_b, "note": "to bob"
        })),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let hash_b = r.json()["hash"].as_str().unwrap().to_owned();
    let info = |h: &str| format!("leadrouter_ruleset_info{{hash=\"{h}\"}}");
    let swapped = poll_until(
        Duration::from_secs(2),
        async || d.get("/metrics").map(|m| metric(&m.1, &info(&hash_b))),
        |v| *v == Some(1.0),
    )
    .await;
    let took = published.elapsed();
    assert!(
        swapped.is_ok(),
        "not reloaded within 2 s:\n{}",
        d.log_tail(20)
    );
    eprintln!("publish to reload: {took:?}");
    env.publish(&[lead_json("R-2", "")]).await;
    env.wait_count(
        "SELECT count(*) FROM leads WHERE lead_id = 'R-2' AND owner_id = 'bob'",
        1,
        15,
    )
    .await;
    let ruleset: String =
        sqlx::query_scalar("SELECT ruleset FROM routing_decisions WHERE lead_id = 'R-2'")
            .fetch_one(&mut env.conn().await)
            .await
            .unwrap();
    assert_eq!(ruleset, hash_b);

    // A version that does not load (a hand edit, or a newer leadrouter's rules), made
    // active without any notification: the once-a-second check finds it, the daemon
    // refuses it, counts it, and bob's rules keep routing.
    let mut conn = env.conn().await;
    sqlx::raw_sql(
        "BEGIN;
         INSERT INTO rulesets (hash, yaml, scripts, published_at, published_by) VALUES ('bad0000000000000', 'rules: [', '{}', now(), 'hand');
         UPDATE rulesets SET active = false WHERE active;
         UPDATE rulesets SET active = true WHERE hash = 'bad0000000000000';
         COMMIT;",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let errors = r#"leadrouter_rules_reloads_total{result="error"}"#;
    let refused = poll_until(
        Duration::from_secs(3),
        async || d.get("/metrics").map(|m| metric(&m.1, errors)),
        |v| *v == Some(1.0),
    )
    .await;
    assert!(
        refused.is_ok(),
        "bad version not counted:\n{}",
        d.log_tail(20)
    );
    assert!(
        d.log_text().contains("published rules refused"),
        "{}",
        d.log_tail(20)
    );
    assert_eq!(metric(&d.get("/metrics").unwrap().1, &info(&hash_b)), 1.0);
    env.publish(&[lead_json("R-3", "")]).await;
    env.wait_count(
        "SELECT count(*) FROM leads WHERE lead_id = 'R-3' AND owner_id = 'bob'",
        1,
        15,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        metric(&d.get("/metrics").unwrap().1, errors),
        1.0,
        "refused once, not every second"
    );

    // A daemon starting now refuses the bad version at start (exit 2, as a bad file).
    let mut late = env.spawn();
    let stopped = poll_until(Duration::from_secs(30), async || !late.is_running(), |s| *s).await;
    assert!(
        stopped.is_ok(),
        "started on rules that do not load:\n{}",
        late.log_text()
    );
    assert!(
        late.log_text().contains("ruleset bad0000000000000"),
        "{}",
        late.log_text()
    );

    // Roll back to alice's rules with the CLI.
    let o = cli(&env.db, &["rules", "rollback", &hash_a]);
    expect_code(&o, 0);
    let back = poll_until(
        Duration::from_secs(2),
        async || d.get("/metrics").map(|m| metric(&m.1, &info(&hash_a))),
        |v| *v == Some(1.0),
    )
    .await;
    assert!(
        back.is_ok(),
        "rollback not followed within 2 s:\n{}",
        d.log_tail(20)
    );
    env.publish(&[lead_json("R-4", "")]).await;
    env.wait_count(
        "SELECT count(*) FROM leads WHERE lead_id = 'R-4' AND owner_id = 'alice'",
        1,
        15,
    )
    .await;
    let ok = metric(
        &d.get("/metrics").unwrap().1,
        r#"leadrouter_rules_reloads_total{result="ok"}"#,
    );
    assert_eq!(ok, 2.0);
    drop(serve);
    d.kill();
    store.close().await;
    env.cleanup().await;
}
