//! Fresh RabbitMQ names per test, a side connection to inspect queues, cleanup.
//!
//! Tests need a real RabbitMQ (`AMQP_URL`, default guest@127.0.0.1:5672). If it is
//! not reachable they fail with a message saying so; they never skip.
use std::process::Command;
use std::time::Duration;

use lapin::message::BasicGetMessage;
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeleteOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use leadrouter::broker::{Broker, BrokerNames, BrokerSettings, Consumer};
use leadrouter::config::{Config, SecretUrl};
use leadrouter::redact::redact_url;
use tokio_util::sync::CancellationToken;

pub fn url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| Config::default().amqp.url.expose().to_owned())
}

/// Names no other test (or engineer) uses; delete them with [`Fixture::cleanup`].
pub fn fresh_names() -> BrokerNames {
    let id = uuid::Uuid::new_v4().simple().to_string();
    BrokerNames {
        inbound: format!("test.{id}.inbound"),
        dead_letter: format!("test.{id}.dead"),
        events_exchange: format!("test.{id}.events"),
    }
}

pub fn settings(names: &BrokerNames, prefetch: u16) -> BrokerSettings {
    BrokerSettings {
        url: SecretUrl::new(url()),
        names: names.clone(),
        prefetch,
    }
}

/// A direct connection for the test itself (publishing, inspecting, cleaning up).
pub async fn connect() -> Connection {
    connect_to(&url()).await
}

/// [`connect`] to the broker at `url` (a test's own, see [`crate::servers`]).
pub async fn connect_to(url: &str) -> Connection {
    match tokio::time::timeout(
        Duration::from_secs(10),
        Connection::connect(url, ConnectionProperties::default()),
    )
    .await
    {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => panic!(
            "RabbitMQ is not reachable at {} ({e}). These tests need a real broker: \
             start it with `rabbitmq-server -detached` or set AMQP_URL.",
            redact_url(url)
        ),
        Err(_) => panic!("RabbitMQ at {} did not answer within 10 s", redact_url(url)),
    }
}

pub struct Fixture {
    /// The broker it connects to (the machine's unless a test brought its own).
    pub url: String,
    pub names: BrokerNames,
    pub conn: Connection,
    /// Confirm-mode channel for the test's own publishes and gets.
    pub channel: Channel,
    /// Extra queues the test declared, deleted at cleanup.
    pub extra_queues: Vec<String>,
    cleaned: bool,
}

impl Fixture {
    pub async fn new() -> Self {
        Self::on(&url()).await
    }

    /// A fixture on the broker at `url`.
    pub async fn on(url: &str) -> Self {
        let conn = connect_to(url).await;
        let channel = conn.create_channel().await.expect("open test channel");
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("confirm.select");
        Self {
            url: url.to_owned(),
            names: fresh_names(),
            conn,
            channel,
            extra_queues: Vec::new(),
            cleaned: false,
        }
    }

    /// Starts a broker supervisor on this fixture's names and waits until it is up.
    pub async fn start(&self, prefetch: u16) -> (Broker, Consumer, CancellationToken) {
        let cancel = CancellationToken::new();
        let (broker, consumer) =
            leadrouter::broker::start(settings(&self.names, prefetch), cancel.clone());
        let up = tokio::time::timeout(Duration::from_secs(15), broker.wait_until_up()).await;
        assert!(
            matches!(up, Ok(true)),
            "broker did not come up within 15 s: {broker:?}"
        );
        (broker, consumer, cancel)
    }

    /// Publishes to a queue through the default exchange and waits for the confirm.
    pub async fn publish(&self, queue: &str, body: &[u8], properties: BasicProperties) {
        let confirm = self
            .channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                body,
                properties,
            )
            .await
            .expect("publish")
            .await
            .expect("publisher confirm");
        assert_eq!(
            confirm,
            Confirmation::Ack(None),
            "test publish to {queue} not confirmed"
        );
    }

    pub async fn publish_all(&self, queue: &str, bodies: &[String]) {
        for body in bodies {
            self.publish(
                queue,
                body.as_bytes(),
                BasicProperties::default().with_delivery_mode(2),
            )
            .await;
        }
    }

    /// One message from `queue`, acked; `None` if it is empty.
    pub async fn get(&self, queue: &str) -> Option<BasicGetMessage> {
        let options = BasicGetOptions { no_ack: true };
        self.channel
            .basic_get(queue.into(), options)
            .await
            .expect("basic.get")
    }

    /// Ready (not unacked) messages in `queue`.
    pub async fn ready(&self, queue: &str) -> u32 {
        // A fresh channel: a failed passive declare closes it.
        let channel = self.conn.create_channel().await.expect("open channel");
        let options = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let q = channel
            .queue_declare(queue.into(), options, FieldTable::default())
            .await
            .expect("queue exists");
        let _ = channel.close(200, "ok".into()).await;
        q.message_count()
    }

    /// Deletes every queue and exchange the test used, then closes the connection.
    /// (If a test panics before this, `Drop` does the deleting.)
    pub async fn cleanup(mut self) {
        self.cleaned = true;
        delete_entities(&self.conn, &self.names, &self.extra_queues).await;
        let _ = self.conn.close(200, "bye".into()).await;
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        // A failed test: clean up on a thread of our own, since we may be inside
        // (or outside) a runtime while unwinding.
        let (url, names) = (self.url.clone(), self.names.clone());
        let extra = self.extra_queues.clone();
        let cleaner = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(Ok(conn)) = tokio::time::timeout(
                    Duration::from_secs(5),
                    Connection::connect(&url, ConnectionProperties::default()),
                )
                .await
                {
                    delete_entities(&conn, &names, &extra).await;
                    let _ = conn.close(200, "bye".into()).await;
                }
            });
        });
        let _ = cleaner.join();
    }
}

async fn delete_entities(conn: &Connection, names: &BrokerNames, extra_queues: &[String]) {
    let Ok(channel) = conn.create_channel().await else {
        return;
    };
    let queues = [&names.inbound, &names.dead_letter]
        .into_iter()
        .chain(extra_queues.iter());
    for queue in queues {
        if let Err(e) = channel
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await
        {
            eprintln!("cleanup: deleting queue {queue}: {e}");
        }
    }
    if let Err(e) = channel
        .exchange_delete(
            names.events_exchange.as_str().into(),
            ExchangeDeleteOptions::default(),
        )
        .await
    {
        eprintln!("cleanup: deleting exchange {}: {e}", names.events_exchange);
    }
}

/// Stops a supervisor and waits until its connection is closed.
pub async fn stop(broker: &Broker, cancel: &CancellationToken) {
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(10), broker.closed())
        .await
        .expect("broker closes within 10 s");
}

/// Force-closes the broker-side connection(s) whose `connection_name` is `name`,
/// as an operator or a network fault would; other connections are left alone.
pub fn force_close_connection(name: &str) -> usize {
    let out = Command::new("rabbitmqctl")
        .args(["list_connections", "--silent", "pid", "client_properties"])
        .output()
        .expect("run rabbitmqctl list_connections");
    assert!(
        out.status.success(),
        "rabbitmqctl list_connections failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8_lossy(&out.stdout);
    let mut closed = 0;
    for line in listing.lines().filter(|l| l.contains(name)) {
        let Some(pid) = line.split('\t').next() else {
            continue;
        };
        let status = Command::new("rabbitmqctl")
            .args(["close_connection", pid, "test: forced close"])
            .status()
            .expect("run rabbitmqctl close_connection");
        assert!(
            status.success(),
            "rabbitmqctl close_connection {pid} failed"
        );
        closed += 1;
    }
    closed
}
