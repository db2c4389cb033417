//! The private servers of `common::servers` (what the fault suite stops, kills and
//! restarts): each starts on its own port and directory, does what its stop, kill and
//! start say, keeps its data across them, and leaves nothing behind — and the machine's
//! servers, which the other tests use meanwhile, are not touched.
use common::servers::{PrivatePostgres, PrivateRabbit, PrivateRabbitCluster};
use common::wait::wait_until;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};
use sqlx::{Connection as _, PgConnection};
use std::time::Duration;

async fn pg(url: &str) -> PgConnection {
    PgConnection::connect(&format!("{url}/postgres"))
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

async fn rows(url: &str) -> Vec<i32> {
    sqlx::query_scalar("SELECT n FROM kept ORDER BY n")
        .fetch_all(&mut pg(url).await)
        .await
        .expect("select")
}

/// When the machine's PostgreSQL started: unchanged means nobody restarted it.
async fn machine_pg_started() -> String {
    let url = common::db::server_url();
    sqlx::query_scalar("SELECT pg_postmaster_start_time()::text")
        .fetch_one(&mut pg(&url).await)
        .await
        .expect("the machine's PostgreSQL answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_postgres_stops_restarts_and_recovers_from_a_kill_keeping_committed_rows() {
    let machine_started = machine_pg_started().await;
    let mut server = PrivatePostgres::start().await;
    let url = server.url();
    assert_ne!(server.port(), 5432);
    let mut c = pg(&url).await;
    let listen: String = sqlx::query_scalar("SHOW listen_addresses")
        .fetch_one(&mut c)
        .await
        .unwrap();
    let sockets: String = sqlx::query_scalar("SHOW unix_socket_directories")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!((listen.as_str(), sockets.as_str()), ("127.0.0.1", ""));
    sqlx::raw_sql("CREATE TABLE kept (n int); INSERT INTO kept VALUES (1)")
        .execute(&mut c)
        .await
        .unwrap();
    drop(c);

    server.stop().await;
    assert!(!server.is_running() && !server.accepting().await, "stopped");
    server.start_again().await;
    assert_eq!(rows(&url).await, [1]);

    // Committed just before a SIGKILL of every server process: recovered from the WAL.
    sqlx::query("INSERT INTO kept VALUES (2)")
        .execute(&mut pg(&url).await)
        .await
        .unwrap();
    server.kill();
    assert!(!server.accepting().await, "killed");
    server.start_again().await;
    assert_eq!(rows(&url).await, [1, 2]);

    server.restart().await;
    assert_eq!(rows(&url).await, [1, 2]);

    let dir = server.dir().to_owned();
    drop(server);
    assert!(!dir.exists(), "{} removed", dir.display());
    let refused = PgConnection::connect(&format!("{url}/postgres")).await;
    assert!(refused.is_err(), "nothing listens on {url} any more");
    assert_eq!(
        machine_pg_started().await,
        machine_started,
        "machine's untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_postgres_dropped_mid_test_leaves_no_process_behind() {
    let server = PrivatePostgres::start().await;
    let (url, dir) = (server.url(), server.dir().to_owned());
    let postmaster = server.pid().expect("running");
    // A session open while the helper is dropped, as a failing test would leave one.
    let session = pg(&url).await;
    let mut processes = pids(|_, ppid, _| ppid == postmaster);
    assert!(processes.len() > 1, "a backend and the auxiliary processes");
    processes.push(postmaster);
    drop(server);
    assert!(!dir.exists());
    let left = live(|pid, _, _| processes.contains(&pid));
    assert!(
        left.is_empty(),
        "processes of {} still run: {left:?}",
        dir.display()
    );
    drop(session);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_private_postgres_has_no_backend_left_and_starts_again_at_once() {
    let mut server = PrivatePostgres::start().await;
    let postmaster = server.pid().expect("running");
    let _session = pg(&server.url()).await;
    let mut processes = pids(|_, ppid, _| ppid == postmaster);
    processes.push(postmaster);
    server.kill();
    let left = live(|pid, _, _| processes.contains(&pid));
    assert!(left.is_empty(), "killed with the postmaster: {left:?}");
    server.start_again().await;
    assert!(server.accepting().await);
}

/// The live processes (zombies count as gone) for which `wanted(pid, ppid, pgrp)` holds,
/// as their `/proc/PID/stat` lines.
fn live(wanted: impl Fn(u32, u32, u32) -> bool) -> Vec<String> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|p| {
            let pid: u32 = p.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(p.path().join("stat")).ok()?;
            // After the command's closing parenthesis: state, ppid, pgrp.
            let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
            let state = fields.next()?;
            let ppid: u32 = fields.next()?.parse().ok()?;
            let pgrp: u32 = fields.next()?.parse().ok()?;
            (state != "Z" && wanted(pid, ppid, pgrp)).then_some(stat)
        })
        .collect()
}

/// [`live`]'s pids.
fn pids(wanted: impl Fn(u32, u32, u32) -> bool) -> Vec<u32> {
    live(wanted)
        .iter()
        .filter_map(|stat| stat.split_whitespace().next()?.parse().ok())
        .collect()
}

async fn amqp(url: &str) -> Result<Connection, lapin::Error> {
    Connection::connect(url, ConnectionProperties::default()).await
}

/// Publishes one persistent message to `queue` and waits for its confirm.
async fn publish_one(conn: &Connection, queue: &str) {
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let confirm = ch
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            b"kept",
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(confirm, Confirmation::Ack(None));
}

/// Declares `queue` durable (of `kind`, classic or quorum) and returns its ready messages.
async fn declare(conn: &Connection, queue: &str, kind: &str) -> u32 {
    let ch = conn.create_channel().await.unwrap();
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), AMQPValue::LongString(kind.into()));
    let options = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let q = ch
        .queue_declare(queue.into(), options, args)
        .await
        .unwrap_or_else(|e| panic!("declare {queue}: {e}"));
    let _ = ch.close(200, "ok".into()).await;
    q.message_count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_rabbitmq_node_stop_app_start_app_kill_and_stop_keep_persistent_messages() {
    let mut node = PrivateRabbit::start().await;
    let url = node.url();
    assert_ne!(node.port(), 5672);
    assert!(node.node_name().starts_with("lrtest-"));
    // Its own node answers its own rabbitmqctl; no plugin is enabled.
    let me = node.ctl(&["eval", "node()."]).await;
    assert_eq!(me.trim().trim_matches('\''), node.node_name());
    let plugins = node.ctl(&["eval", "rabbit_plugins:active()."]).await;
    assert_eq!(plugins.trim(), "[]");

    let conn = amqp(&url).await.expect("connect");
    assert_eq!(declare(&conn, "kept", "classic").await, 0);
    publish_one(&conn, "kept").await;

    node.stop_app().await;
    assert!(
        amqp(&url).await.is_err(),
        "refused while the app is stopped"
    );
    assert!(node.is_running(), "the node itself stays up");
    node.start_app().await;
    assert_eq!(
        declare(&amqp(&url).await.unwrap(), "kept", "classic").await,
        1
    );

    node.kill();
    assert!(amqp(&url).await.is_err(), "refused once killed");
    node.start_again().await;
    assert_eq!(
        declare(&amqp(&url).await.unwrap(), "kept", "classic").await,
        1
    );

    node.stop().await;
    assert!(!node.is_running(), "stop ends the node's process");
    node.start_again().await;
    assert_eq!(
        declare(&amqp(&url).await.unwrap(), "kept", "classic").await,
        1
    );

    let dir = node.dir().to_owned();
    let group = node.pid().expect("running");
    let in_group = || live(|_, _, pgrp| pgrp == group);
    assert!(in_group().len() > 1, "the script and the Erlang VM");
    drop(node);
    assert!(!dir.exists(), "{} removed", dir.display());
    let left = in_group();
    assert!(left.is_empty(), "processes of the node still run: {left:?}");
    assert!(
        amqp(&url).await.is_err(),
        "nothing listens on {url} any more"
    );
    assert!(
        amqp(&common::amqp::url()).await.is_ok(),
        "the machine's RabbitMQ still serves"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_rabbitmq_cluster_of_three_keeps_a_quorum_queue_through_a_node_stop() {
    let mut cluster = PrivateRabbitCluster::start(3).await;
    assert_eq!(cluster.running_nodes().await.len(), 3);
    let urls = cluster.urls();
    assert_eq!(urls.len(), 3);

    // Declared and published on the first node, seen from the second.
    let queue = "smoke.quorum";
    let first = amqp(&urls[0]).await.expect("connect to node 1");
    assert_eq!(declare(&first, queue, "quorum").await, 0);
    publish_one(&first, queue).await;
    let second = amqp(&urls[1]).await.expect("connect to node 2");
    assert_eq!(declare(&second, queue, "quorum").await, 1);
    drop((first, second));

    let leader = cluster.leader_of(queue).await;
    let stopped = cluster
        .index_of(&leader)
        .unwrap_or_else(|| panic!("the leader {leader} is a node of the cluster"));
    cluster.stop_node(stopped).await;
    assert!(!cluster.is_running(stopped));
    // The other two elect a new leader and keep the message; they take new ones.
    let other = (stopped + 1) % 3;
    let new_leader = wait_until(
        "a new leader",
        Duration::from_secs(60),
        async || cluster.leader_of(queue).await,
        |l| *l != leader && !l.is_empty(),
    )
    .await;
    assert!(cluster.index_of(&new_leader).is_some());
    let conn = amqp(&urls[other])
        .await
        .expect("connect to a surviving node");
    publish_one(&conn, queue).await;
    assert_eq!(declare(&conn, queue, "quorum").await, 2);
    drop(conn);

    // Restarted, the node rejoins by itself and sees the queue.
    cluster.start_node(stopped).await;
    let running = wait_until(
        "three nodes running again",
        Duration::from_secs(60),
        async || cluster.running_nodes().await,
        |r| r.len() == 3,
    )
    .await;
    assert!(running.iter().any(|n| n == cluster.node_name(stopped)));
    let back = amqp(&urls[stopped])
        .await
        .expect("connect to the restarted node");
    assert_eq!(declare(&back, queue, "quorum").await, 2);
    drop(back);

    let dir = cluster.dir().to_owned();
    drop(cluster);
    assert!(!dir.exists());
    for url in &urls {
        assert!(
            amqp(url).await.is_err(),
            "nothing listens on {url} any more"
        );
    }
}
