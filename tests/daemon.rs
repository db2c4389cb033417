//! `leadrouter run` against the real RabbitMQ and PostgreSQL: a fresh database and fresh
//! queue names per test, the real binary, leads published as a web form would.
use common::daemon::{Env, lead_json};
use common::wait::poll_until;
use leadrouter::lead::{DEFAULT_MAX_MESSAGE_BYTES, parse_lead};
use leadrouter::routing::{MemoryState, decide};
use leadrouter::rules::Ruleset;
use serde_json::Value;
use sqlx::Row;
use std::collections::HashMap;
use std::time::Duration;

const SAMPLE_LEADS: &str = include_str!("../rules/samples/leads.jsonl");

#[tokio::test]
async fn published_leads_become_rows_with_the_owners_simulate_predicts_and_events_are_relayed() {
    let mut env = Env::new(None).await;
    // The sample leads carry fixed `received_at` times, long past by now: without a long
    // threshold the 1 s sweeper would raise alerts among the decision events read below.
    env.unassigned_after = "100000d";
    let events_q = env.bind_events().await;
    let mut d = env.spawn();
    d.wait_ready().await;
    let lines: Vec<String> = SAMPLE_LEADS.lines().map(str::to_owned).collect();
    env.publish(&lines).await;
    env.wait_count("SELECT count(*) FROM leads", lines.len() as i64, 20)
        .await;

    // The same engine, in memory, predicts every row.
    let rs = Ruleset::load(&env.rules).unwrap().ruleset;
    let mut state = MemoryState::new();
    let mut c = env.conn().await;
    for line in &lines {
        let lead = parse_lead(line.as_bytes(), DEFAULT_MAX_MESSAGE_BYTES).unwrap();
        let want = decide(&rs, &lead, &mut state);
        let row = sqlx::query("SELECT status, owner_id, queue, pool, rule, unassigned_since IS NULL AS owned, payload FROM leads WHERE lead_id = $1")
            .bind(lead.id.as_str())
            .fetch_one(&mut c)
            .await
            .unwrap();
        let got: (
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        ) = (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        assert_eq!(
            got,
            (
                want.status.as_str().to_owned(),
                want.owner_id.clone(),
                want.queue.clone(),
                want.pool.clone(),
                want.rule.clone()
            ),
            "lead {}",
            lead.id
        );
        assert_eq!(
            row.get::<bool, _>(5),
            want.owner_id.is_some(),
            "unassigned_since is set only while ownerless"
        );
        let payload: Value = row.get(6);
        assert_eq!(
            payload,
            serde_json::from_str::<Value>(line).unwrap(),
            "payload kept as received"
        );
    }
    let decisions: Vec<(String, String, Value)> =
        sqlx::query_as("SELECT actor, ruleset, trace FROM routing_decisions")
            .fetch_all(&mut c)
            .await
            .unwrap();
    assert_eq!(decisions.len(), lines.len());
    assert!(
        decisions
            .iter()
            .all(|(a, h, t)| a == "router" && h == rs.hash() && t["rules"].is_array())
    );

    // Every decision's event reaches the exchange, and the outbox empties.
    let mut seen = HashMap::new();
    let events = async || {
        while seen.len() < lines.len()
            && let Some(m) = env.amqp.get(&events_q).await
        {
            let body: Value = serde_json::from_slice(&m.delivery.data).unwrap();
            assert_eq!(
                m.delivery.routing_key.as_str(),
                format!("lead.{}", body["status"].as_str().unwrap())
            );
            assert!(body["event_id"].is_string() && body["at"].is_string());
            assert_eq!(body["actor"], "router");
            seen.insert(body["lead_id"].as_str().unwrap().to_owned(), body);
        }
        seen.len()
    };
    let _ = poll_until(Duration::from_secs(15), events, |n| *n >= lines.len()).await;
    assert_eq!(seen.len(), lines.len(), "one event per lead");
    assert_eq!(seen["lead-0016"]["queue"], "office-sf");
    env.wait_count("SELECT 32 - count(*) FROM outbox", 32, 10)
        .await;
    d.kill();
    env.cleanup().await;
}

#[tokio::test]
async fn a_redelivered_or_republished_lead_is_acked_without_a_second_decision_event_or_rotation_step()
 {
    let yaml = "pools:\n  p: {strategy: round_robin, members: [a, b]}\nrules:\n  - {name: all, assign: {pool: p}}\n";
    let mut env = Env::new(Some(yaml)).await;
    let events_q = env.bind_events().await;
    let mut d = env.spawn();
    d.wait_ready().await;
    env.publish(&[lead_json("dup-1", "")]).await;
    env.wait_count("SELECT count(*) FROM leads", 1, 15).await;
    env.publish(&[
        lead_json("dup-1", ""),
        lead_json("dup-1", ""),
        lead_json("next", ""),
    ])
    .await;
    env.wait_count("SELECT count(*) FROM leads", 2, 15).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        env.count("SELECT count(*) FROM routing_decisions WHERE lead_id = 'dup-1'")
            .await,
        1
    );
    let owners: Vec<(String, String)> =
        sqlx::query_as("SELECT lead_id, owner_id FROM leads ORDER BY lead_id")
            .fetch_all(&mut env.conn().await)
            .await
            .unwrap();
    assert_eq!(
        owners,
        vec![("dup-1".into(), "a".into()), ("next".into(), "b".into())],
        "no rotation step for duplicates"
    );
    let mut events = 0;
    while env.amqp.get(&events_q).await.is_some() {
        events += 1;
    }
    assert_eq!(events, 2, "one event per decision");
    assert_eq!(
        env.amqp.ready(&env.amqp.names.inbound.clone()).await,
        0,
        "duplicates are acked"
    );
    let metrics = d.get("/metrics").unwrap().1;
    assert!(
        metrics.contains("leadrouter_leads_duplicate_total 2"),
        "{metrics}"
    );
    d.kill();
    env.cleanup().await;
}

#[tokio::test]
async fn every_kind_of_malformed_message_is_dead_lettered_unchanged_with_its_reason() {
    let mut env = Env::new(None).await;
    let mut d = env.spawn();
    d.wait_ready().await;
    let deep = format!(
        "{{\"id\":\"deep\",\"x\":{}{}}}",
        "[".repeat(100),
        "]".repeat(100)
    );
    let huge = format!("{{\"id\":\"huge\",\"x\":\"{}\"}}", "a".repeat(300 * 1024));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not json at all".to_vec(), "invalid_json"),
        (b"[1,2,3]".to_vec(), "not_an_object"),
        (b"{\"source\":\"web_form\"}".to_vec(), "invalid_id"),
        (
            format!("{{\"id\":\"{}\"}}", "x".repeat(129)).into_bytes(),
            "invalid_id",
        ),
        (
            b"{\"id\":\"t1\",\"contact\":\"bob\"}".to_vec(),
            "wrong_field_type",
        ),
        (
            b"{\"id\":\"t2\",\"received_at\":\"yesterday\"}".to_vec(),
            "wrong_field_type",
        ),
        (deep.into_bytes(), "too_deep"),
        (huge.into_bytes(), "too_large"),
        (b"{\"id\":\"t3\",\"a\":1,\"a\":2}".to_vec(), "duplicate_key"),
        (
            b"{\"id\":\"t4\",\"name\":\"nul\\u0000here\"}".to_vec(),
            "nul_character",
        ),
        (
            b"{\"id\":\"t5\",\"price\":123456789012345678901234567890}".to_vec(),
            "inexact_number",
        ),
        (
            b"{\"id\":\"t6\",\"name\":\"\xff\xfe\"}".to_vec(),
            "invalid_utf8",
        ),
    ];
    for (body, _) in &cases {
        env.publish_raw(body).await;
    }
    env.publish(&[lead_json("good-after", "")]).await;
    env.wait_count("SELECT count(*) FROM leads", 1, 15).await;
    let dlq = env.amqp.names.dead_letter.clone();
    let mut got = Vec::new();
    let dead_letters = async || {
        while got.len() < cases.len()
            && let Some(m) = env.amqp.get(&dlq).await
        {
            let headers = m.delivery.properties.headers().clone().unwrap_or_default();
            let reason = headers
                .inner()
                .get("x-leadrouter-error")
                .map(|v| match v {
                    lapin::types::AMQPValue::LongString(s) => {
                        String::from_utf8_lossy(s.as_bytes()).into_owned()
                    }
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            got.push((m.delivery.data.clone(), reason));
        }
        got.len()
    };
    let _ = poll_until(Duration::from_secs(10), dead_letters, |n| *n >= cases.len()).await;
    assert_eq!(got.len(), cases.len(), "every bad message is dead-lettered");
    for ((body, label), (dl_body, reason)) in cases.iter().zip(&got) {
        assert_eq!(dl_body, body, "body unchanged");
        assert!(
            reason.starts_with(label),
            "reason {reason:?} should start with {label}"
        );
    }
    assert!(
        matches!(d.get("/readyz"), Some((200, _))),
        "still running and ready"
    );
    let metrics = d.get("/metrics").unwrap().1;
    assert!(
        metrics.contains("leadrouter_leads_rejected_total{reason=\"invalid_id\"} 2"),
        "{metrics}"
    );
    d.kill();
    env.cleanup().await;
}

#[tokio::test]
async fn two_instances_on_one_queue_deal_one_fair_rotation() {
    let yaml = "pools:\n  p: {strategy: round_robin, members: [a, b, c]}\nrules:\n  - {name: all, assign: {pool: p}}\n";
    let mut env = Env::new(Some(yaml)).await;
    let mut d1 = env.spawn();
    let mut d2 = env.spawn();
    d1.wait_ready().await;
    d2.wait_ready().await;
    let n = 600;
    let lines: Vec<String> = (0..n)
        .map(|i| lead_json(&format!("fair-{i}"), ""))
        .collect();
    env.publish(&lines).await;
    env.wait_count("SELECT count(*) FROM leads", n, 30).await;
    let counts: Vec<(String, i64)> =
        sqlx::query_as("SELECT owner_id, count(*) FROM leads GROUP BY owner_id ORDER BY owner_id")
            .fetch_all(&mut env.conn().await)
            .await
            .unwrap();
    let c: Vec<i64> = counts.iter().map(|(_, n)| *n).collect();
    assert_eq!(c.len(), 3, "{counts:?}");
    assert!(
        c.iter().max().unwrap() - c.iter().min().unwrap() <= 1,
        "{counts:?}"
    );
    assert_eq!(env.count("SELECT count(*) FROM routing_decisions").await, n);
    // Both instances did some of the work.
    let consumed = |d: &common::daemon::Daemon| {
        d.get("/metrics")
            .unwrap()
            .1
            .lines()
            .find_map(|l| {
                l.strip_prefix("leadrouter_leads_consumed_total ")?
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0)
    };
    let (c1, c2) = (consumed(&d1), consumed(&d2));
    assert_eq!(c1 + c2, n as u64);
    d1.kill();
    d2.kill();
    env.cleanup().await;
}

#[tokio::test]
async fn sigterm_drains_commits_and_exits_zero_then_nothing_is_lost() {
    let mut env = Env::new(None).await;
    let mut d = env.spawn();
    d.wait_ready().await;
    let n = 3000;
    let lines: Vec<String> = (0..n)
        .map(|i| lead_json(&format!("drain-{i}"), ""))
        .collect();
    env.publish(&lines).await;
    env.wait_count("SELECT count(*) FROM leads", 1, 15).await;
    let started = std::time::Instant::now();
    let status = d
        .terminate(Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("no exit within 10 s:\n{}", d.log_text()));
    assert!(status.success(), "exit status {status}:\n{}", d.log_text());
    assert!(started.elapsed() < Duration::from_secs(10));
    // Whatever the first instance held was committed and acked, or is redelivered now.
    let mut d2 = env.spawn();
    d2.wait_ready().await;
    env.wait_count("SELECT count(*) FROM leads", n, 30).await;
    assert_eq!(
        env.count("SELECT count(*) FROM routing_decisions").await,
        n,
        "each lead decided exactly once"
    );
    d2.kill();
    env.cleanup().await;
}

#[tokio::test]
async fn health_readiness_and_every_spec_metric_are_served() {
    let mut env = Env::new(None).await;
    let mut d = env.spawn();
    d.wait_ready().await;
    assert_eq!(d.get("/healthz").map(|r| r.0), Some(200));
    let (code, body) = d.get("/readyz").unwrap();
    assert_eq!(code, 200, "{body}");
    env.publish(&[
        lead_json("m-1", ""),
        "{\"id\":\"m-2\",\"source\":\"import\",\"attributes\":{\"previous_agent\":7}}".into(),
    ])
    .await;
    env.publish_raw(b"oops").await;
    env.wait_count("SELECT count(*) FROM leads", 2, 15).await;
    tokio::time::sleep(Duration::from_secs(3)).await; // gauges refresh every 2 s
    let metrics = d.get("/metrics").unwrap().1;
    for name in [
        "leadrouter_leads_consumed_total",
        "leadrouter_leads_decided_total{",
        "leadrouter_leads_rejected_total{reason=\"invalid_json\"}",
        "leadrouter_leads_duplicate_total",
        "leadrouter_leads_unmatched_total",
        "leadrouter_rule_errors_total{rule=\"custom\"}",
        "leadrouter_decision_seconds_bucket",
        "leadrouter_unassigned_leads",
        "leadrouter_unassigned_alerts_total",
        "leadrouter_rules_reloads_total",
        "leadrouter_ruleset_info{hash=",
        "leadrouter_broker_up 1",
        "leadrouter_database_up 1",
        "leadrouter_ready 1",
        "leadrouter_outbox_pending",
    ] {
        assert!(metrics.contains(name), "/metrics lacks {name}:\n{metrics}");
    }
    // Every series exists from the start (at 0): the events must have been counted.
    for (series, want) in [
        ("leadrouter_leads_consumed_total", 3.0),
        ("leadrouter_leads_decided_total", 2.0),
        (
            "leadrouter_leads_rejected_total{reason=\"invalid_json\"}",
            1.0,
        ),
        ("leadrouter_rule_errors_total{rule=\"custom\"}", 1.0),
        ("leadrouter_decision_seconds_count", 2.0),
    ] {
        assert_eq!(metric(&metrics, series), want, "{series}:\n{metrics}");
    }
    d.kill();
    env.cleanup().await;
}

#[tokio::test]
async fn a_failing_commit_is_retried_unacked_readiness_drops_and_nothing_is_lost() {
    let mut env = Env::new(None).await;
    let mut d = env.spawn();
    d.wait_ready().await;
    env.publish(&[lead_json("before", "")]).await;
    env.wait_count("SELECT count(*) FROM leads", 1, 15).await;
    // Break the write path without stopping PostgreSQL (pings still succeed).
    sqlx::query("ALTER TABLE routing_decisions RENAME TO routing_decisions_away")
        .execute(&mut env.conn().await)
        .await
        .unwrap();
    let lines: Vec<String> = (0..50)
        .map(|i| lead_json(&format!("during-{i}"), ""))
        .collect();
    env.publish(&lines).await;
    // /readyz drops while commits fail.
    d.wait_unready("commits: failing", Duration::from_secs(10))
        .await;
    assert_eq!(
        env.count("SELECT count(*) FROM leads").await,
        1,
        "nothing partial was written"
    );
    sqlx::query("ALTER TABLE routing_decisions_away RENAME TO routing_decisions")
        .execute(&mut env.conn().await)
        .await
        .unwrap();
    env.wait_count("SELECT count(*) FROM leads", 51, 20).await;
    assert_eq!(
        env.count("SELECT count(*) FROM routing_decisions").await,
        51
    );
    d.wait_ready().await;
    let metrics = d.get("/metrics").unwrap().1;
    assert!(
        metric(&metrics, "leadrouter_batch_retries_total") >= 1.0,
        "{metrics}"
    );
    d.kill();
    env.cleanup().await;
}

/// The sum of the samples of `series` in Prometheus text: a family name (all its label
/// sets) or one series with its labels as rendered.
fn metric(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(name, _)| {
            *name == series
                || name
                    .strip_prefix(series)
                    .is_some_and(|rest| rest.starts_with('{'))
        })
        .map(|(_, value)| value.parse::<f64>().expect("a sample value"))
        .sum()
}
