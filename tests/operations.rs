//! Day-to-day operations on a running daemon: unassigned alerts, hot reload.
use common::daemon::{Env, lead_json};
use common::wait::poll_until;
use serde_json::Value;
use std::time::Duration;

async fn drain(env: &Env, queue: &str, settle: Duration) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut quiet_since = std::time::Instant::now();
    while quiet_since.elapsed() < settle {
        match env.amqp.get(queue).await {
            Some(m) => {
                out.push((
                    m.delivery.routing_key.to_string(),
                    serde_json::from_slice(&m.delivery.data).unwrap(),
                ));
                quiet_since = std::time::Instant::now();
            }
            None => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    out
}

#[tokio::test]
async fn an_ownerless_lead_alerts_exactly_once_across_two_instances_and_a_restart() {
    let yaml = "rules:\n  - {name: office, when: {source: web_form}, assign: {queue: office-sf}}\n  - {name: own, assign: {agent: zed}}\n";
    let mut env = Env::new(Some(yaml)).await;
    let events_q = env.bind_events().await;
    let mut d1 = env.spawn();
    let mut d2 = env.spawn();
    d1.wait_ready().await;
    d2.wait_ready().await;
    let old = r#","received_at":"2020-01-01T00:00:00Z""#;
    env.publish(&[
        lead_json("old-queued-1", old),
        lead_json("old-queued-2", old),
        r#"{"id":"old-owned","source":"api","received_at":"2020-01-01T00:00:00Z"}"#.to_owned(),
        lead_json("fresh-queued", ""),
    ])
    .await;
    env.wait_count("SELECT count(*) FROM unassigned_alerts", 2, 15)
        .await;
    // Several sweeps of both instances later, still once per lead.
    tokio::time::sleep(Duration::from_secs(3)).await;
    d1.kill();
    let mut d3 = env.spawn();
    d3.wait_ready().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let alerts: Vec<(String, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT lead_id, unassigned_since FROM unassigned_alerts ORDER BY lead_id")
            .fetch_all(&mut env.conn().await)
            .await
            .unwrap();
    let ids: Vec<&str> = alerts.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(
        ids,
        ["old-queued-1", "old-queued-2"],
        "owned and fresh leads raise nothing"
    );
    assert_eq!(
        alerts[0].1.to_rfc3339(),
        "2020-01-01T00:00:00+00:00",
        "the spell starts at received_at"
    );
    let events = drain(&env, &events_q, Duration::from_secs(2)).await;
    let alert_events: Vec<&Value> = events
        .iter()
        .filter(|(k, _)| k == "lead.alert.unassigned")
        .map(|(_, b)| b)
        .collect();
    assert_eq!(alert_events.len(), 2, "{events:?}");
    for e in alert_events {
        assert_eq!(e["actor"], "sweeper");
        assert_eq!(e["status"], "queued");
        assert_eq!(e["queue"], "office-sf");
        let since =
            chrono::DateTime::parse_from_rfc3339(e["unassigned_since"].as_str().unwrap()).unwrap();
        assert_eq!(since.timestamp(), 1_577_836_800, "2020-01-01T00:00:00Z");
    }
    let total: u64 = [&d2, &d3]
        .iter()
        .map(|d| {
            d.get("/metrics")
                .unwrap()
                .1
                .lines()
                .find_map(|l| {
                    l.strip_prefix("leadrouter_unassigned_alerts_total ")?
                        .parse::<u64>()
                        .ok()
                })
                .unwrap_or(0)
        })
        .sum();
    assert!(total <= 2, "alerts counted once: {total}");
    d2.kill();
    d3.kill();
    env.cleanup().await;
}

fn decided_queue_and_hash(
    rows: &[(String, Option<String>, Option<String>)],
    id: &str,
) -> (Option<String>, Option<String>) {
    let r = rows
        .iter()
        .find(|r| r.0 == id)
        .unwrap_or_else(|| panic!("{id} decided"));
    (r.1.clone(), r.2.clone())
}

#[tokio::test]
async fn rules_reload_on_change_and_sighup_and_a_bad_file_leaves_the_old_rules_routing() {
    let rules_a = "rules:\n  - {name: a, assign: {queue: qa}}\n";
    let mut env = Env::new(Some(rules_a)).await;
    let mut d = env.spawn();
    d.wait_ready().await;
    let hash_of = |yaml: &str| {
        leadrouter::rules::Ruleset::from_source(yaml, std::path::Path::new("x"))
            .unwrap()
            .ruleset
            .hash()
            .to_owned()
    };
    env.publish(&[lead_json("r1", "")]).await;
    env.wait_count("SELECT count(*) FROM leads", 1, 15).await;

    // A good change to the file is picked up by the watcher.
    let rules_b = "rules:\n  - {name: b, assign: {queue: qb}}\n";
    std::fs::write(&env.rules, rules_b).unwrap();
    wait_metric(&d, "leadrouter_rules_reloads_total{result=\"ok\"} 1").await;
    env.publish(&[lead_json("r2", "")]).await;
    env.wait_count("SELECT count(*) FROM leads", 2, 15).await;

    // A bad file is refused; the last good rules keep routing.
    std::fs::write(
        &env.rules,
        "rules:\n  - {name: c, assign: {pool: nowhere}}\n",
    )
    .unwrap();
    wait_metric(&d, "leadrouter_rules_reloads_total{result=\"error\"} 1").await;
    env.publish(&[lead_json("r3", "")]).await;
    env.wait_count("SELECT count(*) FROM leads", 3, 15).await;
    assert!(
        d.log_text().contains("rules reload refused"),
        "the refusal is logged"
    );
    assert!(matches!(d.get("/readyz"), Some((200, _))));

    // SIGHUP reloads (here: the file fixed while the watcher is told nothing new).
    let rules_c = "rules:\n  - {name: c, assign: {queue: qc}}\n";
    std::fs::write(&env.rules, rules_c).unwrap();
    d.signal("HUP");
    wait_metric(&d, "leadrouter_rules_reloads_total{result=\"ok\"}").await;
    wait_metric(
        &d,
        &format!("leadrouter_ruleset_info{{hash=\"{}\"}} 1", hash_of(rules_c)),
    )
    .await;
    env.publish(&[lead_json("r4", "")]).await;
    env.wait_count("SELECT count(*) FROM leads", 4, 15).await;

    let rows: Vec<(String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT d.lead_id, d.queue, d.ruleset FROM routing_decisions d")
            .fetch_all(&mut env.conn().await)
            .await
            .unwrap();
    assert_eq!(
        decided_queue_and_hash(&rows, "r1"),
        (Some("qa".into()), Some(hash_of(rules_a)))
    );
    assert_eq!(
        decided_queue_and_hash(&rows, "r2"),
        (Some("qb".into()), Some(hash_of(rules_b)))
    );
    assert_eq!(
        decided_queue_and_hash(&rows, "r3"),
        (Some("qb".into()), Some(hash_of(rules_b))),
        "bad rules refused"
    );
    assert_eq!(
        decided_queue_and_hash(&rows, "r4"),
        (Some("qc".into()), Some(hash_of(rules_c)))
    );
    d.kill();
    env.cleanup().await;
}

async fn wait_metric(d: &common::daemon::Daemon, needle: &str) {
    let shown = poll_until(
        Duration::from_secs(10),
        async || d.get("/metrics").map(|(_, m)| m).unwrap_or_default(),
        |m| m.contains(needle),
    )
    .await;
    if let Err(metrics) = shown {
        panic!(
            "metrics never showed {needle}:\n{metrics}\n{}",
            d.log_text()
        );
    }
}

fn admin(env: &Env, args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_leadrouter"))
        .args(args)
        .env("DATABASE_URL", &env.db.url)
        .output()
        .expect("leadrouter runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[tokio::test]
async fn a_halt_takes_effect_in_the_running_daemon_for_the_next_lead() {
    let yaml = "pools:\n  p: {strategy: round_robin, members: [alice, bob]}\nrules:\n  - {name: all, assign: {pool: p}}\n";
    let mut env = Env::new(Some(yaml)).await;
    let mut d = env.spawn();
    d.wait_ready().await;
    env.publish(&[lead_json("h0", "")]).await;
    env.wait_count("SELECT count(*) FROM leads", 1, 15).await;
    admin(&env, &["agents", "halt", "bob", "--as", "ops"]);
    let lines: Vec<String> = (1..=6).map(|i| lead_json(&format!("h{i}"), "")).collect();
    env.publish(&lines).await;
    env.wait_count("SELECT count(*) FROM leads", 7, 15).await;
    let bob: i64 = env
        .count("SELECT count(*) FROM leads WHERE owner_id = 'bob'")
        .await;
    assert_eq!(bob, 0, "a halted agent receives no pool lead");
    let traces: Vec<Value> =
        sqlx::query_scalar("SELECT trace FROM routing_decisions WHERE lead_id = 'h1'")
            .fetch_all(&mut env.conn().await)
            .await
            .unwrap();
    assert_eq!(traces[0]["rules"][0]["skipped"][0]["agent"], "bob");
    admin(&env, &["agents", "resume", "bob"]);
    env.publish(&[lead_json("h7", ""), lead_json("h8", "")])
        .await;
    env.wait_count("SELECT count(*) FROM leads", 9, 15).await;
    assert!(
        env.count("SELECT count(*) FROM leads WHERE owner_id = 'bob'")
            .await
            >= 1,
        "resumed"
    );
    d.kill();
    env.cleanup().await;
}

#[tokio::test]
async fn a_reassignment_event_is_relayed_by_the_running_daemon_straight_away() {
    let yaml = "rules:\n  - {name: q, assign: {queue: office}}\n";
    let mut env = Env::new(Some(yaml)).await;
    let events_q = env.bind_events().await;
    let mut d = env.spawn();
    d.wait_ready().await;
    env.publish(&[lead_json("re-1", "")]).await;
    env.wait_count("SELECT count(*) FROM leads", 1, 15).await;
    let first = drain(&env, &events_q, Duration::from_millis(500)).await;
    assert_eq!(first.len(), 1);
    let started = std::time::Instant::now();
    admin(
        &env,
        &[
            "leads",
            "reassign",
            "re-1",
            "--to",
            "dana",
            "--note",
            "call before noon",
            "--as",
            "maria",
        ],
    );
    // The outbox backstop only takes events older than 5 s: arriving sooner means the
    // daemon heard the NOTIFY.
    let within = Duration::from_secs(4).saturating_sub(started.elapsed());
    let got = poll_until(
        within,
        async || env.amqp.get(&events_q).await,
        Option::is_some,
    )
    .await
    .unwrap_or_else(|none| none);
    let m = got.expect("reassignment event relayed before the backstop would run");
    assert_eq!(m.delivery.routing_key.as_str(), "lead.assigned");
    let body: Value = serde_json::from_slice(&m.delivery.data).unwrap();
    assert_eq!(
        (
            body["owner_id"].as_str(),
            body["actor"].as_str(),
            body["note"].as_str()
        ),
        (Some("dana"), Some("maria"), Some("call before noon"))
    );
    env.wait_count("SELECT 1 - count(*) FROM outbox", 1, 10)
        .await;
    d.kill();
    env.cleanup().await;
}

#[tokio::test]
async fn getting_an_owner_ends_the_ownerless_spell_and_losing_it_starts_a_new_one() {
    let yaml = "rules:\n  - {name: q, assign: {queue: office}}\n";
    let mut env = Env::new(Some(yaml)).await;
    env.unassigned_after = "2s";
    let mut d = env.spawn();
    d.wait_ready().await;
    env.publish(&[lead_json("spell", "")]).await;
    env.wait_count("SELECT count(*) FROM unassigned_alerts", 1, 15)
        .await;
    // Queue -> unassigned is the same spell: no new alert.
    admin(&env, &["leads", "unassign", "spell"]);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        env.count("SELECT count(*) FROM unassigned_alerts").await,
        1,
        "moving between queue and unassigned keeps the spell"
    );
    // An owner ends the spell; losing the owner starts a new one, which alerts again.
    admin(&env, &["leads", "reassign", "spell", "--to", "dana"]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        env.count("SELECT count(*) FROM unassigned_alerts").await,
        1,
        "no alert while owned"
    );
    admin(&env, &["leads", "reassign", "spell", "--queue", "office"]);
    env.wait_count("SELECT count(*) FROM unassigned_alerts", 2, 15)
        .await;
    assert_eq!(
        env.count("SELECT count(DISTINCT unassigned_since) FROM unassigned_alerts")
            .await,
        2
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        env.count("SELECT count(*) FROM unassigned_alerts").await,
        2,
        "once per spell"
    );
    d.kill();
    env.cleanup().await;
}
