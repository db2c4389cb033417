//! The fault suite's publishing, observing and checks: publishing many leads fast, and
//! the checks every fault test ends with (each lead decided exactly once, rotations fair,
//! every event relayed).
//!
//! The faults themselves are the servers' own: each test that stops, restarts or kills
//! PostgreSQL or RabbitMQ starts a private one (`common::servers`) and points its daemon
//! and its checks at it, so the machine's servers, which other tests use meanwhile, are
//! never touched.
use common::daemon::{Daemon, Env};
use common::wait::poll_until;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Confirmation, ExchangeKind};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs the fault tests that run a daemon one after another: one daemon at a time keeps a
/// 2-core CI runner's timings sane (the tests assert on some: an exit within 10 s, an
/// event within 4 s). A test starts its private servers before it takes the lock, so
/// their boot overlaps the previous test. A tokio mutex: no poisoning when a test fails
/// while holding it.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// ---------------------------------------------------------------------------------
// Publishing and observing

/// Lead bodies `{prefix}-{i}` for `i` in `range`, all for the catch-all pool rule.
pub fn leads(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range
        .map(|i| common::daemon::lead_json(&format!("{prefix}-{i}"), ""))
        .collect()
}

/// Publishes `bodies` to `queue` of the broker at `amqp_url` on a connection of its own,
/// pipelined, and waits for every publisher confirm (a window at a time): thousands per
/// second, where the fixture's one-confirm-per-message publish does hundreds.
pub async fn publish_fast(amqp_url: &str, queue: &str, bodies: &[String]) {
    let conn = common::amqp::connect_to(amqp_url).await;
    let ch = conn.create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm.select");
    for window in bodies.chunks(500) {
        let mut pending = Vec::with_capacity(window.len());
        for body in window {
            let confirm = ch
                .basic_publish(
                    "".into(),
                    queue.into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    body.as_bytes(),
                    BasicProperties::default().with_delivery_mode(2),
                )
                .await
                .expect("publish");
            pending.push(confirm);
        }
        for confirm in pending {
            let c = tokio::time::timeout(Duration::from_secs(30), confirm)
                .await
                .expect("confirm within 30 s")
                .expect("publisher confirm");
            assert_eq!(
                c,
                Confirmation::Ack(None),
                "publish to {queue} not confirmed"
            );
        }
    }
    let _ = conn.close(200, "bye".into()).await;
}

/// A *durable* queue bound to the events exchange with `#`, so the events survive a
/// broker restart (the fixture's `bind_events` queue is transient).
pub async fn durable_events_queue(env: &mut Env) -> String {
    let queue = format!("{}.events-durable", env.amqp.names.inbound);
    let ch = env.amqp.conn.create_channel().await.expect("channel");
    ch.exchange_declare(
        env.amqp.names.events_exchange.as_str().into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("declare events exchange");
    ch.queue_declare(
        queue.as_str().into(),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("declare durable events queue");
    ch.queue_bind(
        queue.as_str().into(),
        env.amqp.names.events_exchange.as_str().into(),
        "#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("bind");
    let _ = ch.close(200, "ok".into()).await;
    env.amqp.extra_queues.push(queue.clone());
    queue
}

/// Declares the daemon's queues and exchange (as the daemon would), so leads can be
/// published before it starts: a backlog it is in the middle of when the fault hits.
pub async fn declare_topology(env: &Env) {
    let ch = env.amqp.conn.create_channel().await.expect("channel");
    leadrouter::broker::declare_topology(&ch, &env.amqp.names)
        .await
        .expect("declare topology");
    let _ = ch.close(200, "ok".into()).await;
}

/// After a broker restart the fixture's own connection is dead: open a new one.
pub async fn reconnect_fixture(env: &mut Env) {
    let conn = common::amqp::connect_to(&env.amqp.url).await;
    let channel = conn.create_channel().await.expect("channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm.select");
    env.amqp.conn = conn;
    env.amqp.channel = channel;
}

/// Consumes `queue` of the broker at `amqp_url` until every id in `want` was seen as an
/// event's `lead_id`, or `secs` pass. Returns the actors of each lead_id's events.
pub async fn collect_events(
    amqp_url: &str,
    queue: &str,
    want: &HashSet<String>,
    secs: u64,
) -> HashMap<String, Vec<String>> {
    let conn = common::amqp::connect_to(amqp_url).await;
    let ch = conn.create_channel().await.expect("channel");
    ch.basic_qos(2000, BasicQosOptions::default())
        .await
        .expect("qos");
    // Manual acks: with auto-ack, what the broker pushed ahead into this consumer's
    // buffer would be gone from the queue when we stop reading.
    let mut consumer = ch
        .basic_consume(
            queue.into(),
            "fault-test-events".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume events");
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    let mut missing = want.len();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while missing > 0 {
        let next = match tokio::time::timeout_at(deadline, consumer.next()).await {
            Ok(Some(Ok(d))) => d,
            Ok(other) => panic!("events consumer ended: {other:?}"),
            Err(_) => break,
        };
        next.ack(BasicAckOptions::default())
            .await
            .expect("ack event");
        let body: serde_json::Value =
            serde_json::from_slice(&next.data).expect("event body is JSON");
        let id = body["lead_id"].as_str().expect("lead_id").to_owned();
        let actors = seen.entry(id.clone()).or_default();
        actors.push(body["actor"].as_str().unwrap_or_default().to_owned());
        if actors.len() == 1 && want.contains(&id) {
            missing -= 1;
        }
    }
    let _ = conn.close(200, "bye".into()).await;
    seen
}

// ---------------------------------------------------------------------------------
// The checks

/// Waits (reconnecting as needed) until `leads` holds `want` rows; fails with the
/// daemons' logs after `secs`.
pub async fn wait_leads(env: &Env, want: i64, secs: u64, daemons: &[&Daemon]) {
    let stored = poll_until(
        Duration::from_secs(secs),
        async || env.db.try_count("SELECT count(*) FROM leads").await,
        |n| n.as_ref().is_ok_and(|n| *n >= want),
    )
    .await;
    if let Err(last) = stored {
        let logs: Vec<String> = daemons.iter().map(|d| d.log_tail(60)).collect();
        panic!(
            "leads reached {last:?}, not {want}, within {secs} s; daemon logs:\n{}",
            logs.join("\n-----\n")
        );
    }
}

/// Waits until at least `want` leads are stored (for "mid-stream" faults) and returns
/// the count seen.
pub async fn wait_some_leads(env: &Env, want: i64, secs: u64) -> i64 {
    env.db
        .wait_count(
            "SELECT count(*) FROM leads",
            want,
            Duration::from_secs(secs),
        )
        .await
}

/// Every id in `published` has exactly one router decision and a `leads` row, and
/// nothing else was decided.
pub async fn assert_each_decided_once(env: &Env, published: &HashSet<String>) {
    let mut c = env.conn().await;
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT lead_id, count(*) FROM routing_decisions WHERE actor = 'router' GROUP BY lead_id",
    )
    .fetch_all(&mut c)
    .await
    .expect("decisions");
    let twice: Vec<&(String, i64)> = rows.iter().filter(|(_, n)| *n != 1).collect();
    assert!(
        twice.is_empty(),
        "leads decided more than once: {} (e.g. {:?})",
        twice.len(),
        &twice[..twice.len().min(5)]
    );
    let decided: HashSet<String> = rows.into_iter().map(|(id, _)| id).collect();
    let stored: HashSet<String> = sqlx::query_scalar("SELECT lead_id FROM leads")
        .fetch_all(&mut c)
        .await
        .expect("leads")
        .into_iter()
        .collect();
    let lost: Vec<&String> = published.difference(&stored).take(5).collect();
    assert!(
        lost.is_empty(),
        "{} published leads have no row (e.g. {lost:?})",
        published.difference(&stored).count()
    );
    let undecided: Vec<&String> = published.difference(&decided).take(5).collect();
    assert!(undecided.is_empty(), "no router decision for {undecided:?}");
    assert_eq!(
        stored.len(),
        published.len(),
        "nothing but the published leads"
    );
    assert_eq!(decided.len(), published.len());
}

/// Per owner, how many leads `pool` dealt; asserts they differ by at most 1 among
/// `members` (all available throughout) and that nobody else got any.
pub async fn assert_rotation_fair(
    env: &Env,
    pool: &str,
    members: &[&str],
) -> BTreeMap<String, i64> {
    let counts: BTreeMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT owner_id, count(*) FROM leads WHERE pool = $1 GROUP BY owner_id",
    )
    .bind(pool)
    .fetch_all(&mut env.conn().await)
    .await
    .expect("rotation counts")
    .into_iter()
    .collect();
    let owners: Vec<&str> = counts.keys().map(String::as_str).collect();
    assert_eq!(owners, members, "dealt to exactly the members: {counts:?}");
    let (min, max) = (
        counts.values().min().copied().unwrap_or(0),
        counts.values().max().copied().unwrap_or(0),
    );
    assert!(
        max - min <= 1,
        "rotation counts differ by more than 1: {counts:?}"
    );
    counts
}

/// Every lead in `published` had at least one event on `events_queue`, and the outbox
/// empties. Returns the actors of the events seen, per lead.
pub async fn assert_every_event_relayed(
    env: &Env,
    events_queue: &str,
    published: &HashSet<String>,
    secs: u64,
) -> HashMap<String, Vec<String>> {
    let seen = collect_events(&env.amqp.url, events_queue, published, secs).await;
    let missing: Vec<&String> = published
        .iter()
        .filter(|id| !seen.contains_key(*id))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "{} leads have no event (e.g. {missing:?}); outbox holds {}",
        published
            .iter()
            .filter(|id| !seen.contains_key(*id))
            .count(),
        env.count("SELECT count(*) FROM outbox").await
    );
    env.wait_count("SELECT 1 - sign(count(*))::bigint FROM outbox", 1, secs)
        .await;
    seen
}

/// A counter or gauge from `/metrics`, summed over its label sets (0 if absent).
pub fn metric(d: &Daemon, name: &str) -> f64 {
    let (_, body) = d.get("/metrics").expect("/metrics answers");
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            let bare = key.split('{').next()?;
            (bare == name).then(|| value.parse::<f64>().ok())?
        })
        .fold(0.0, |a, b| a + b)
}

/// The log holds no panic (a recovered fault must not have panicked a task).
pub fn assert_no_panic(d: &Daemon) {
    let log = d.log_text();
    assert!(
        !log.contains("panicked"),
        "the daemon panicked:\n{}",
        d.log_tail(80)
    );
}

/// `leadrouter leads reassign LEAD --to AGENT --as fault-test` against the test
/// database: an admin change whose event the daemon relays from the outbox.
pub fn reassign(env: &Env, lead_id: &str, to: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_leadrouter"))
        .args([
            "leads",
            "reassign",
            lead_id,
            "--to",
            to,
            "--as",
            "fault-test",
        ])
        .env("DATABASE_URL", &env.db.url)
        .env_remove("AMQP_URL")
        .output()
        .expect("leadrouter runs");
    assert!(
        out.status.success(),
        "leads reassign: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Consumes `queue` until an event by actor `fault-test` for `lead_id` arrives;
/// returns how long that took from `since`, or fails after `secs`.
pub async fn wait_admin_event(
    env: &Env,
    queue: &str,
    lead_id: &str,
    since: Instant,
    secs: u64,
) -> Duration {
    let conn = common::amqp::connect_to(&env.amqp.url).await;
    let ch = conn.create_channel().await.expect("channel");
    let mut consumer = ch
        .basic_consume(
            queue.into(),
            "fault-test-admin-event".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume events");
    let deadline = tokio::time::Instant::from_std(since) + Duration::from_secs(secs);
    loop {
        let d = match tokio::time::timeout_at(deadline, consumer.next()).await {
            Ok(Some(Ok(d))) => d,
            Ok(other) => panic!("events consumer ended: {other:?}"),
            Err(_) => panic!("no event for the reassignment of {lead_id} within {secs} s"),
        };
        d.ack(BasicAckOptions::default()).await.expect("ack event");
        let body: serde_json::Value = serde_json::from_slice(&d.data).expect("JSON");
        if body["lead_id"] == lead_id && body["actor"] == "fault-test" {
            let _ = conn.close(200, "bye".into()).await;
            return since.elapsed();
        }
    }
}
