//! Fault tolerance, proven against the real servers: the real `leadrouter run` binary
//! is killed, its broker and database are stopped and restarted under it, it is fed
//! poison and hostile rules. After each fault the same checks:
//!
//! - every published lead has exactly one router decision and a `leads` row;
//! - the round-robin rotation's counts differ by at most 1 (every member is
//!   available throughout);
//! - every lead's event reached the events exchange at least once (a durable queue
//!   bound with `#` sees them) and the outbox empties;
//! - the daemon recovered by itself: `/readyz` is 200 again and it was not restarted
//!   (unless the fault was a kill), and nothing panicked.
//!
//! The tests that stop, restart or kill a server start one of their own
//! (`common::servers`: a private PostgreSQL or RabbitMQ node in a temporary directory, on
//! free ports) and point the daemon at it; the others use the machine's servers, as every
//! other test does. So the suite never touches the machine's servers and runs with plain
//! `cargo test`. The tests that run a daemon take [`SERIAL`] (one at a time), after
//! starting their servers.
mod harness;

use common::daemon::{Daemon, Env, Servers};
use common::servers::{PrivatePostgres, PrivateRabbit};
use common::wait::poll_until;
use harness::*;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Every lead goes through one round-robin pool: the rotation is checked after each fault.
const POOL_RULES: &str = "pools:\n  p: {strategy: round_robin, members: [a, b, c]}\nrules:\n  - {name: all, assign: {pool: p}}\n";
const MEMBERS: [&str; 3] = ["a", "b", "c"];

fn ids(bodies: &[String]) -> HashSet<String> {
    bodies
        .iter()
        .map(|b| {
            let v: serde_json::Value = serde_json::from_str(b).unwrap();
            v["id"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// The checks every fault test ends with (see the module docs).
async fn assert_nothing_lost(env: &Env, events_q: &str, published: &HashSet<String>) {
    assert_each_decided_once(env, published).await;
    assert_rotation_fair(env, "p", &MEMBERS).await;
    assert_every_event_relayed(env, events_q, published, 60).await;
}

/// After a database restart the relay LISTENs again: an admin change's event comes
/// well before the outbox backstop (which only takes events 5 s old) could send it.
async fn assert_listen_resumed(env: &Env, events_q: &str, lead_id: &str) {
    let since = Instant::now();
    reassign(env, lead_id, "zed");
    let took = wait_admin_event(env, events_q, lead_id, since, 30).await;
    assert!(
        took < Duration::from_secs(4),
        "the reassignment event took {took:?}: the relay no longer hears NOTIFY"
    );
}

async fn assert_recovered(d: &mut Daemon) {
    assert!(d.is_running(), "the daemon is still the same process");
    d.wait_ready().await;
    assert_no_panic(d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_in_the_middle_of_20000_leads_then_a_restart_decides_each_exactly_once() {
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let mut env = Env::new(Some(POOL_RULES)).await;
    let events_q = durable_events_queue(&mut env).await;
    let mut d = env.spawn();
    d.wait_ready().await;

    // Published while the daemon consumes; killed twice, restarted after each kill.
    let n = 20_000;
    let bodies = leads("kill", 0..n);
    let published = ids(&bodies);
    let (url, inbound) = (env.amqp.url.clone(), env.amqp.names.inbound.clone());
    let publisher = tokio::spawn(async move { publish_fast(&url, &inbound, &bodies).await });
    let mut duplicates = 0.0;
    for at in [n / 4, n * 3 / 5] {
        wait_some_leads(&env, at as i64, 120).await;
        duplicates += metric(&d, "leadrouter_leads_duplicate_total");
        d.kill();
        let at_kill = env.count("SELECT count(*) FROM leads").await;
        eprintln!("SIGKILL with {at_kill} of {n} leads decided");
        assert!(at_kill < n as i64, "the kill came mid-stream");
        d = env.spawn();
        d.wait_ready().await;
    }
    publisher.await.expect("publisher");
    wait_leads(&env, n as i64, 240, &[&d]).await;
    assert_nothing_lost(&env, &events_q, &published).await;
    assert_recovered(&mut d).await;
    duplicates += metric(&d, "leadrouter_leads_duplicate_total");
    eprintln!(
        "{duplicates} redeliveries recognised as duplicates; {:?} in all",
        started.elapsed()
    );
    d.kill();
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_stopped_and_started_mid_stream_the_running_daemon_reconnects_and_loses_nothing() {
    let mut rabbit = PrivateRabbit::start().await;
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let servers = Servers::machine().with_amqp(rabbit.url());
    let mut env = Env::on(Some(POOL_RULES), &servers).await;
    let events_q = durable_events_queue(&mut env).await;
    declare_topology(&env).await;
    // A backlog with poison in it: dead-lettering is under way when the broker goes.
    let n = 15_000;
    let mut bodies = leads("rmq", 0..n);
    let published = ids(&bodies);
    let poison: Vec<String> = (0..20).map(|i| format!("not json {i}")).collect();
    for (i, p) in poison.iter().enumerate() {
        bodies.insert(i * 400 + 100, p.clone());
    }
    publish_fast(&env.amqp.url, &env.amqp.names.inbound, &bodies).await;
    let mut d = env.spawn();
    d.wait_ready().await;

    wait_some_leads(&env, 500, 60).await;
    rabbit.stop_app().await;
    let at_stop = env.count("SELECT count(*) FROM leads").await;
    eprintln!("RabbitMQ stopped with {at_stop} of {n} leads decided");
    assert!(at_stop < n as i64, "the broker went away mid-stream");
    d.wait_unready("broker: down", Duration::from_secs(15))
        .await;
    assert!(metric(&d, "leadrouter_broker_up") == 0.0);
    // An admin change while the broker is away: its event waits in the outbox.
    let changed_at = Instant::now();
    reassign(&env, "rmq-0", "zed");
    assert!(env.count("SELECT count(*) FROM outbox").await >= 1);
    rabbit.start_app().await;
    reconnect_fixture(&mut env).await;

    // The daemon reconnects by itself and goes on with the backlog and new leads.
    let after = leads("rmq-after", 0..1000);
    publish_fast(&env.amqp.url, &env.amqp.names.inbound, &after).await;
    let published: HashSet<String> = published.union(&ids(&after)).cloned().collect();
    wait_leads(&env, published.len() as i64, 120, &[&d]).await;
    assert_each_decided_once(&env, &published).await;
    let seen = assert_every_event_relayed(&env, &events_q, &published, 60).await;
    // The reassignment's event went out once the broker was back (perhaps already
    // among those just collected).
    if !seen["rmq-0"].iter().any(|a| a == "fault-test") {
        wait_admin_event(&env, &events_q, "rmq-0", changed_at, 60).await;
    }
    assert_recovered(&mut d).await;
    assert!(metric(&d, "leadrouter_broker_up") == 1.0);
    // Every poison message reached the dead-letter queue (at least once: one whose
    // ack was lost with the connection is redelivered and rejected again).
    let dlq = env.amqp.names.dead_letter.clone();
    let mut dead = HashSet::new();
    while let Some(m) = env.amqp.get(&dlq).await {
        dead.insert(String::from_utf8(m.delivery.data).unwrap());
    }
    assert_eq!(dead, poison.into_iter().collect::<HashSet<_>>());
    eprintln!(
        "{} duplicates recognised; {:?} in all",
        metric(&d, "leadrouter_leads_duplicate_total"),
        started.elapsed()
    );
    d.kill();
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_killed_mid_stream_and_started_again_the_running_daemon_loses_nothing() {
    let mut rabbit = PrivateRabbit::start().await;
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let servers = Servers::machine().with_amqp(rabbit.url());
    let mut env = Env::on(Some(POOL_RULES), &servers).await;
    let events_q = durable_events_queue(&mut env).await;
    declare_topology(&env).await;
    // Persistent and confirmed, so on disk: the node's crash loses none of them.
    let n = 15_000;
    let bodies = leads("rmqkill", 0..n);
    let mut published = ids(&bodies);
    publish_fast(&env.amqp.url, &env.amqp.names.inbound, &bodies).await;
    let mut d = env.spawn();
    d.wait_ready().await;

    wait_some_leads(&env, 500, 60).await;
    // No connection is closed: the daemon sees its sockets die.
    rabbit.kill();
    let at_kill = env.count("SELECT count(*) FROM leads").await;
    eprintln!("RabbitMQ killed with {at_kill} of {n} leads decided");
    assert!(at_kill < n as i64, "the broker died mid-stream");
    d.wait_unready("broker: down", Duration::from_secs(15))
        .await;
    rabbit.start_again().await;
    reconnect_fixture(&mut env).await;

    let after = leads("rmqkill-after", 0..1000);
    publish_fast(&env.amqp.url, &env.amqp.names.inbound, &after).await;
    published.extend(ids(&after));
    wait_leads(&env, published.len() as i64, 120, &[&d]).await;
    assert_nothing_lost(&env, &events_q, &published).await;
    assert_recovered(&mut d).await;
    assert!(metric(&d, "leadrouter_broker_up") == 1.0);
    eprintln!(
        "{} duplicates recognised; {:?} in all",
        metric(&d, "leadrouter_leads_duplicate_total"),
        started.elapsed()
    );
    d.kill();
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_restarted_mid_stream_the_running_daemon_reconnects_and_loses_nothing() {
    let mut pg = PrivatePostgres::start().await;
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let mut env = Env::on(Some(POOL_RULES), &Servers::machine().with_db(pg.url())).await;
    let events_q = durable_events_queue(&mut env).await;
    declare_topology(&env).await;
    // Enough that the restart (1-2 s) lands mid-stream at several thousand leads/s.
    let n = 40_000;
    let bodies = leads("pgr", 0..n);
    let mut published = ids(&bodies);
    publish_fast(&env.amqp.url, &env.amqp.names.inbound, &bodies).await;
    let mut d = env.spawn();
    d.wait_ready().await;

    wait_some_leads(&env, 1000, 60).await;
    pg.restart().await;
    let at_restart = env.count("SELECT count(*) FROM leads").await;
    eprintln!("PostgreSQL restarted with {at_restart} of {n} leads decided");
    assert!(at_restart < n as i64, "the database restarted mid-stream");
    let after = leads("pgr-after", 0..1000);
    publish_fast(&env.amqp.url, &env.amqp.names.inbound, &after).await;
    published.extend(ids(&after));
    wait_leads(&env, published.len() as i64, 120, &[&d]).await;
    assert_nothing_lost(&env, &events_q, &published).await;
    assert_recovered(&mut d).await;
    assert_listen_resumed(&env, &events_q, "pgr-0").await;
    eprintln!(
        "{} batch retries; {:?} in all",
        metric(&d, "leadrouter_batch_retries_total"),
        started.elapsed()
    );
    d.kill();
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_killed_mid_stream_recovers_from_its_wal_and_the_running_daemon_loses_nothing() {
    let mut pg = PrivatePostgres::start().await;
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let mut env = Env::on(Some(POOL_RULES), &Servers::machine().with_db(pg.url())).await;
    let events_q = durable_events_queue(&mut env).await;
    declare_topology(&env).await;
    // A kill is instant (a restart takes a second or two): half the restart test's leads
    // are enough to land it mid-stream.
    let n = 20_000;
    let bodies = leads("pgkill", 0..n);
    let mut published = ids(&bodies);
    publish_fast(&env.amqp.url, &env.amqp.names.inbound, &bodies).await;
    let mut d = env.spawn();
    d.wait_ready().await;

    wait_some_leads(&env, 1000, 60).await;
    // Every server process at once, no shutdown: commits in flight get no answer, what
    // was committed is only in the WAL.
    pg.kill();
    d.wait_unready("down", Duration::from_secs(15)).await;
    pg.start_again().await;
    let at_kill = env.count("SELECT count(*) FROM leads").await;
    eprintln!("PostgreSQL killed with {at_kill} of {n} leads decided");
    assert!(at_kill < n as i64, "the database was killed mid-stream");
    let after = leads("pgkill-after", 0..1000);
    publish_fast(&env.amqp.url, &env.amqp.names.inbound, &after).await;
    published.extend(ids(&after));
    wait_leads(&env, published.len() as i64, 120, &[&d]).await;
    assert_nothing_lost(&env, &events_q, &published).await;
    assert_recovered(&mut d).await;
    assert_listen_resumed(&env, &events_q, "pgkill-0").await;
    eprintln!(
        "{} batch retries; {:?} in all",
        metric(&d, "leadrouter_batch_retries_total"),
        started.elapsed()
    );
    d.kill();
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_refusing_connections_for_10_seconds_readiness_drops_then_everything_is_decided()
{
    let mut pg = PrivatePostgres::start().await;
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let mut env = Env::on(Some(POOL_RULES), &Servers::machine().with_db(pg.url())).await;
    let events_q = durable_events_queue(&mut env).await;
    declare_topology(&env).await;
    let n = 10_000;
    let bodies = leads("pgdown", 0..n);
    let mut published = ids(&bodies);
    publish_fast(&env.amqp.url, &env.amqp.names.inbound, &bodies).await;
    let mut d = env.spawn();
    d.wait_ready().await;

    wait_some_leads(&env, 1000, 60).await;
    pg.stop().await;
    let down_since = Instant::now();
    d.wait_unready("down", Duration::from_secs(15)).await;
    // Leads keep arriving during the outage; they wait in the queue.
    let during = leads("pgdown-during", 0..1000);
    publish_fast(&env.amqp.url, &env.amqp.names.inbound, &during).await;
    published.extend(ids(&during));
    assert!(d.is_running(), "the daemon waits for the database");
    assert_eq!(
        d.get("/healthz").map(|r| r.0),
        Some(200),
        "alive throughout"
    );
    // The outage itself: 10 s of refused connections.
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(down_since.elapsed())).await;
    pg.start_again().await;
    wait_leads(&env, published.len() as i64, 120, &[&d]).await;
    assert_nothing_lost(&env, &events_q, &published).await;
    assert_recovered(&mut d).await;
    assert!(metric(&d, "leadrouter_database_up") == 1.0);
    assert_listen_resumed(&env, &events_q, "pgdown-0").await;
    eprintln!(
        "{} batch retries; {:?} in all",
        metric(&d, "leadrouter_batch_retries_total"),
        started.elapsed()
    );
    d.kill();
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_postgresql_is_down_exits_zero_within_10_seconds_and_nothing_is_lost() {
    let mut pg = PrivatePostgres::start().await;
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let mut env = Env::on(Some(POOL_RULES), &Servers::machine().with_db(pg.url())).await;
    let events_q = durable_events_queue(&mut env).await;
    declare_topology(&env).await;
    let n = 5_000;
    let bodies = leads("term", 0..n);
    let published = ids(&bodies);
    publish_fast(&env.amqp.url, &env.amqp.names.inbound, &bodies).await;
    let mut d = env.spawn();
    d.wait_ready().await;

    wait_some_leads(&env, 500, 60).await;
    pg.stop().await;
    d.wait_unready("down", Duration::from_secs(15)).await;
    // The batch it holds cannot commit: shutdown gives up on it (unacked) in time.
    let asked = Instant::now();
    let status = d
        .terminate(Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("no exit within 10 s:\n{}", d.log_text()));
    let took = asked.elapsed();
    assert!(status.success(), "exit status {status}:\n{}", d.log_text());
    assert!(took < Duration::from_secs(10));
    assert_no_panic(&d);
    pg.start_again().await;

    let mut d2 = env.spawn();
    d2.wait_ready().await;
    wait_leads(&env, n as i64, 120, &[&d2]).await;
    assert_nothing_lost(&env, &events_q, &published).await;
    assert_recovered(&mut d2).await;
    eprintln!("exited in {took:?}; {:?} in all", started.elapsed());
    d2.kill();
    env.cleanup().await;
}

/// `instances` daemons on one queue; the first is killed mid-stream and not restarted.
async fn instances_on_one_queue_one_killed(instances: usize, prefix: &str) {
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let mut env = Env::new(Some(POOL_RULES)).await;
    let events_q = durable_events_queue(&mut env).await;
    let mut daemons: Vec<Daemon> = (0..instances).map(|_| env.spawn()).collect();
    for d in &mut daemons {
        d.wait_ready().await;
    }
    let n = 10_000;
    let bodies = leads(prefix, 0..n);
    let published = ids(&bodies);
    let (url, inbound) = (env.amqp.url.clone(), env.amqp.names.inbound.clone());
    let publisher = tokio::spawn(async move { publish_fast(&url, &inbound, &bodies).await });
    wait_some_leads(&env, n as i64 / 3, 120).await;
    let consumed_by_victim = metric(&daemons[0], "leadrouter_leads_consumed_total");
    daemons[0].kill();
    let at_kill = env.count("SELECT count(*) FROM leads").await;
    eprintln!(
        "killed one of {instances} instances ({consumed_by_victim} consumed) with {at_kill} of {n} decided"
    );
    assert!(at_kill < n as i64, "the kill came mid-stream");
    assert!(
        consumed_by_victim > 0.0,
        "the killed instance had been working"
    );
    publisher.await.expect("publisher");
    let survivors: Vec<&Daemon> = daemons[1..].iter().collect();
    wait_leads(&env, n as i64, 180, &survivors).await;
    assert_nothing_lost(&env, &events_q, &published).await;
    for d in &mut daemons[1..] {
        assert_recovered(d).await;
    }
    eprintln!("{:?} in all", started.elapsed());
    for d in &mut daemons {
        d.kill();
    }
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_queue_one_killed_mid_stream_the_other_finishes_fairly() {
    instances_on_one_queue_one_killed(2, "two").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_one_queue_one_killed_mid_stream_the_others_finish_fairly() {
    instances_on_one_queue_one_killed(3, "three").await;
}

/// Every kind of poison the issue names, each with the reason it must be dead-lettered
/// for. Bodies are unique, so each dead letter can be matched to its case.
fn poison_cases() -> Vec<(Vec<u8>, &'static str)> {
    let mut cases: Vec<(Vec<u8>, &'static str)> = Vec::new();
    let mut add = |body: Vec<u8>, reason: &'static str| cases.push((body, reason));
    // Hostile nesting, 10,000 levels, arrays and objects.
    add(
        format!(
            r#"{{"id":"deep-a","x":{}{}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        )
        .into_bytes(),
        "too_deep",
    );
    add(
        format!(
            r#"{{"id":"deep-o","x":{}1{}}}"#,
            r#"{"a":"#.repeat(10_000),
            "}".repeat(10_000)
        )
        .into_bytes(),
        "too_deep",
    );
    // Unclosed: never valid JSON, still refused for its depth before any recursion.
    add("[".repeat(10_000).into_bytes(), "too_deep");
    // A 10 MB body (a well-formed lead otherwise).
    add(
        format!(
            r#"{{"id":"big","note":"{}"}}"#,
            "x".repeat(10 * 1024 * 1024)
        )
        .into_bytes(),
        "too_large",
    );
    // Invalid UTF-8: a stray byte, an overlong encoding, an encoded surrogate, a cut sequence.
    add(
        b"{\"id\":\"u1\",\"name\":\"\xff\"}".to_vec(),
        "invalid_utf8",
    );
    add(
        b"{\"id\":\"u2\",\"name\":\"\xc0\xaf\"}".to_vec(),
        "invalid_utf8",
    );
    add(
        b"{\"id\":\"u3\",\"name\":\"\xed\xa0\x80\"}".to_vec(),
        "invalid_utf8",
    );
    add(
        b"{\"id\":\"u4\",\"name\":\"\xe2\x82\"}".to_vec(),
        "invalid_utf8",
    );
    // Not a lead at all.
    add(b"".to_vec(), "invalid_json");
    add(b"{\"id\":\"t\",".to_vec(), "invalid_json");
    add(br#"{"id":"t"} trailing"#.to_vec(), "invalid_json");
    add(br#"{"id":"lone","s":"\ud800"}"#.to_vec(), "invalid_json");
    add(b"null".to_vec(), "not_an_object");
    add(br#""a string""#.to_vec(), "not_an_object");
    add(br#"[{"id":"in-an-array"}]"#.to_vec(), "not_an_object");
    // Every field of SPEC section 2 with a wrong type.
    for id in [
        "42",
        "null",
        "true",
        "[\"a\"]",
        "{\"v\":\"a\"}",
        "\"\"",
        &format!("\"{}\"", "x".repeat(129)),
    ] {
        add(
            format!(r#"{{"id":{id},"source":"web_form"}}"#).into_bytes(),
            "invalid_id",
        );
    }
    add(br#"{"source":"web_form"}"#.to_vec(), "invalid_id");
    for (i, (field, value)) in [
        ("received_at", "1714550400"),
        ("received_at", "\"yesterday\""),
        ("received_at", "true"),
        ("source", "1"),
        ("source", "[\"web_form\"]"),
        ("agent_id", "{}"),
        ("agent_id", "7"),
        ("region", "[\"west\"]"),
        ("contact", "\"Pat\""),
        ("contact", "[]"),
        ("address", "\"1 Main St\""),
        ("address", "42"),
    ]
    .into_iter()
    .enumerate()
    {
        add(
            format!(r#"{{"id":"wt-{field}-{i}","{field}":{value}}}"#).into_bytes(),
            "wrong_field_type",
        );
    }
    for (object, field, value) in [
        ("contact", "name", "1"),
        ("contact", "email", "[\"a@b\"]"),
        ("contact", "phone", "{}"),
        ("address", "street", "false"),
        ("address", "city", "1"),
        ("address", "state", "[\"CA\"]"),
        ("address", "postal_code", "94105"),
        ("address", "country", "{}"),
    ] {
        add(
            format!(r#"{{"id":"wt-{object}.{field}","{object}":{{"{field}":{value}}}}}"#)
                .into_bytes(),
            "wrong_field_type",
        );
    }
    // Numbers that cannot be kept exactly as sent.
    for n in [
        "1e400",
        "-1e400",
        "1e-400",
        "123456789012345678901234567890",
        "18446744073709551616",
        "-9223372036854775809",
        "0.30000000000000000001",
        &format!("1{}", "0".repeat(5000)),
    ] {
        add(
            format!(r#"{{"id":"num-{}","price":{n}}}"#, n.len()).into_bytes(),
            "inexact_number",
        );
    }
    // Duplicate keys, at the top and deep down.
    add(br#"{"id":"d1","id":"d1"}"#.to_vec(), "duplicate_key");
    add(
        br#"{"id":"d2","contact":{"name":"a","name":"b"}}"#.to_vec(),
        "duplicate_key",
    );
    add(
        br#"{"id":"d3","x":[{"y":{"k":1,"k":1}}]}"#.to_vec(),
        "duplicate_key",
    );
    // Text PostgreSQL cannot store.
    add(
        br#"{"id":"nul","name":"a\u0000b"}"#.to_vec(),
        "nul_character",
    );
    // Random bytes (a fixed xorshift sequence, so a failure is reproducible).
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..30 {
        let mut body: Vec<u8> = (0..(i * 37) % 500 + 1)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        body.extend_from_slice(format!("#{i}").as_bytes()); // unique
        add(body, "");
    }
    cases
}

fn header(m: &lapin::message::BasicGetMessage) -> String {
    let headers = m.delivery.properties.headers().clone().unwrap_or_default();
    match headers.inner().get(leadrouter::broker::ERROR_HEADER) {
        Some(lapin::types::AMQPValue::LongString(s)) => {
            String::from_utf8_lossy(s.as_bytes()).into_owned()
        }
        other => panic!("no {} header: {other:?}", leadrouter::broker::ERROR_HEADER),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_input_is_dead_lettered_with_reasons_and_the_leads_around_it_are_decided() {
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let mut env = Env::new(Some(POOL_RULES)).await;
    let events_q = durable_events_queue(&mut env).await;
    let mut d = env.spawn();
    d.wait_ready().await;

    let cases = poison_cases();
    let good = leads("around", 0..cases.len() + 1);
    let published = ids(&good);
    // good, poison, good, poison, …, good
    env.publish_raw(good[0].as_bytes()).await;
    for ((body, _), lead) in cases.iter().zip(&good[1..]) {
        env.publish_raw(body).await;
        env.publish_raw(lead.as_bytes()).await;
    }
    wait_leads(&env, good.len() as i64, 60, &[&d]).await;
    assert_nothing_lost(&env, &events_q, &published).await;

    let dlq = env.amqp.names.dead_letter.clone();
    let mut dead: Vec<(Vec<u8>, String)> = Vec::new();
    // Until every case is there (or 30 s pass): the assertions below say what is missing.
    let every_case = async || {
        while dead.len() < cases.len()
            && let Some(m) = env.amqp.get(&dlq).await
        {
            let reason = header(&m);
            dead.push((m.delivery.data, reason));
        }
        dead.len()
    };
    let _ = poll_until(Duration::from_secs(30), every_case, |n| *n >= cases.len()).await;
    assert_eq!(
        dead.len(),
        cases.len(),
        "every poison message is dead-lettered"
    );
    for ((body, want), (dead_body, reason)) in cases.iter().zip(&dead) {
        let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        assert!(
            dead_body == body,
            "dead-lettered unchanged, in order: {shown}"
        );
        let label = reason.split(':').next().unwrap_or_default();
        if want.is_empty() {
            assert!(
                !label.is_empty() && reason.len() > label.len() + 2,
                "a reason for {shown}: {reason:?}"
            );
        } else {
            assert_eq!(label, *want, "{shown}: {reason}");
        }
    }
    assert!(
        env.amqp.get(&dlq).await.is_none(),
        "each dead-lettered once"
    );
    assert_eq!(
        metric(&d, "leadrouter_leads_rejected_total") as usize,
        cases.len(),
        "counted"
    );
    assert_recovered(&mut d).await;
    eprintln!(
        "{} poison messages; {:?} in all",
        cases.len(),
        started.elapsed()
    );
    d.kill();
    env.cleanup().await;
}

/// Rules that each try to take the daemon down; the catch-all pool rule must decide
/// every lead anyway.
const HOSTILE_RULES: &str = r#"pools:
  p: {strategy: round_robin, members: [a, b, c]}
rules:
  - {name: spin, script: scripts/spin.rhai}
  - {name: hog, script: scripts/hog.rhai}
  - {name: grow, script: scripts/grow.rhai}
  - {name: deep, script: scripts/deep.rhai}
  - {name: nested, script: scripts/nested.rhai}
  - name: backtrack
    when: {contact.name: {regex: "(a+)+$"}}
    assign: {queue: all-as}
  - {name: all, assign: {pool: p}}
"#;

const HOSTILE_SCRIPTS: [(&str, &str); 5] = [
    ("spin", "loop { }"),
    ("hog", "let s = \"x\"; loop { s += s; }"),
    ("grow", "let a = [lead]; loop { a = [a, a]; }"),
    ("deep", "fn f(n) { f(n + 1) } f(0)"),
    // Closures run by `map` once escaped the operations and wall-time bounds.
    (
        "nested",
        "let a = []; a.pad(5000, 0); a.map(|x| { let b = []; b.pad(5000, 0); b.map(|y| y + x) }); ()",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_rules_are_bounded_counted_and_the_next_rule_decides_every_lead() {
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let mut env = Env::new(Some(HOSTILE_RULES)).await;
    let scripts = env.rules.parent().unwrap().join("scripts");
    for (name, body) in HOSTILE_SCRIPTS {
        std::fs::write(scripts.join(format!("{name}.rhai")), body).unwrap();
    }
    let events_q = durable_events_queue(&mut env).await;
    let mut d = env.spawn();
    d.wait_ready().await;

    // Most leads go to the pool; every fifth has a name the regex matches. The
    // others carry the classic catastrophic-backtracking input for `(a+)+$`: a long
    // run of `a` that does not match at the end.
    let n = 40;
    let bodies: Vec<String> = (0..n)
        .map(|i| {
            let name = if i % 5 == 0 {
                "a".repeat(30_000)
            } else {
                format!("{}!", "a".repeat(30_000))
            };
            format!(r#"{{"id":"hostile-{i}","contact":{{"name":"{name}"}}}}"#)
        })
        .collect();
    let published = ids(&bodies);
    env.publish(&bodies).await;
    wait_leads(&env, n as i64, 120, &[&d]).await;
    assert_each_decided_once(&env, &published).await;
    assert_every_event_relayed(&env, &events_q, &published, 60).await;
    let by_rule: Vec<(String, i64)> =
        sqlx::query_as("SELECT rule, count(*) FROM leads GROUP BY rule ORDER BY rule")
            .fetch_all(&mut env.conn().await)
            .await
            .unwrap();
    assert_eq!(
        by_rule,
        vec![
            ("all".to_owned(), n as i64 * 4 / 5),
            ("backtrack".to_owned(), n as i64 / 5)
        ]
    );
    assert_rotation_fair(&env, "p", &MEMBERS).await;

    // Each script failed for every lead, with the bound it hit in the trace.
    let traces: Vec<serde_json::Value> = sqlx::query_scalar("SELECT trace FROM routing_decisions")
        .fetch_all(&mut env.conn().await)
        .await
        .unwrap();
    for trace in &traces {
        for (i, (name, _)) in HOSTILE_SCRIPTS.iter().enumerate() {
            let step = &trace["rules"][i];
            assert_eq!(step["rule"], *name);
            assert_eq!(step["outcome"], "error", "{step}");
            assert!(
                step["reason"].as_str().unwrap().contains("bound hit"),
                "{name}: {step}"
            );
        }
    }
    let metrics = d.get("/metrics").unwrap().1;
    for (name, _) in HOSTILE_SCRIPTS {
        let line = format!("leadrouter_rule_errors_total{{rule=\"{name}\"}} {n}");
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
    assert!(!metrics.contains("leadrouter_rule_errors_total{rule=\"backtrack\""));
    assert!(!metrics.contains("leadrouter_rule_errors_total{rule=\"all\""));
    assert_recovered(&mut d).await;
    eprintln!("{n} hostile leads; {:?} in all", started.elapsed());
    d.kill();
    env.cleanup().await;
}
