//! The servers the bench runs against: fresh databases and queue names per run,
//! publishing a backlog, inspecting queues, and removing everything at the end.
//!
//! RabbitMQ: `AMQP_URL` (default guest@127.0.0.1:5672); PostgreSQL server:
//! `TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432`, no database
//! name), like the integration tests. An unreachable server fails the run.
use anyhow::{Context, Result, bail};
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, ExchangeDeleteOptions,
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{
    BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind, PublisherConfirm,
};
use leadrouter::redact::redact_url;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection};
use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

pub fn db_server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

/// `<pid>_<nanos>`: unique on this machine, and says which process left it behind.
pub fn unique() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}_{nanos}", std::process::id())
}

/// The names one daemon run (or the bare pipeline) uses.
#[derive(Debug, Clone)]
pub struct Names {
    pub inbound: String,
    pub dead_letter: String,
    pub events_exchange: String,
    /// Bound to the events exchange with `#`: every event relayed lands here.
    pub events_seen: String,
}

impl Names {
    pub fn fresh(tag: &str) -> Names {
        let u = format!("{tag}.{}", unique());
        Names {
            inbound: format!("bench.{u}.inbound"),
            dead_letter: format!("bench.{u}.dead"),
            events_exchange: format!("bench.{u}.events"),
            events_seen: format!("bench.{u}.events-seen"),
        }
    }
}

pub struct Stack {
    pub amqp_url: String,
    pub conn: Connection,
    /// Confirm-mode channel for publishing.
    publish: Channel,
    /// For passive declares (polling queue depths and consumers).
    inspect: Channel,
    databases: Vec<String>,
    queues: Vec<String>,
    exchanges: Vec<String>,
}

impl Stack {
    /// Connects to both servers (failing with what to do if one is down).
    pub async fn connect() -> Result<Stack> {
        let admin = admin_connection().await?;
        let _ = admin.close().await;
        let amqp_url = amqp_url();
        let conn = match tokio::time::timeout(
            Duration::from_secs(10),
            Connection::connect(&amqp_url, ConnectionProperties::default()),
        )
        .await
        {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => bail!(
                "RabbitMQ is not reachable at {} ({e}); start it with scripts/ensure-services.sh \
                 or set AMQP_URL",
                redact_url(&amqp_url)
            ),
            Err(_) => bail!(
                "RabbitMQ at {} did not answer within 10 s",
                redact_url(&amqp_url)
            ),
        };
        let publish = conn.create_channel().await.context("open a channel")?;
        publish
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .context("confirm.select")?;
        let inspect = conn.create_channel().await.context("open a channel")?;
        Ok(Stack {
            amqp_url,
            conn,
            publish,
            inspect,
            databases: Vec::new(),
            queues: Vec::new(),
            exchanges: Vec::new(),
        })
    }

    /// Creates a fresh, empty database and returns its URL.
    pub async fn create_database(&mut self, name: &str) -> Result<String> {
        let mut admin = admin_connection().await?;
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .with_context(|| format!("CREATE DATABASE {name}"))?;
        let _ = admin.close().await;
        self.databases.push(name.to_owned());
        Ok(format!("{}/{name}", db_server_url()))
    }

    /// Declares a queue as the daemon does (SPEC 2, `broker::topology`): durable, no
    /// arguments. Publishers do not normally declare it; the bench must, to queue a
    /// backlog before the daemon starts.
    pub async fn declare_queue(&mut self, name: &str) -> Result<()> {
        self.queues.push(name.to_owned());
        self.inspect
            .queue_declare(
                name.into(),
                QueueDeclareOptions::durable(),
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("declare queue {name}"))?;
        Ok(())
    }

    /// Declares the events exchange as the daemon does (durable topic) and a queue
    /// bound to it with `#`.
    pub async fn bind_events(&mut self, names: &Names) -> Result<()> {
        self.exchanges.push(names.events_exchange.clone());
        self.queues.push(names.dead_letter.clone());
        self.inspect
            .exchange_declare(
                names.events_exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .context("declare the events exchange")?;
        self.declare_queue(&names.events_seen).await?;
        self.inspect
            .queue_bind(
                names.events_seen.as_str().into(),
                names.events_exchange.as_str().into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .context("bind the events queue")?;
        Ok(())
    }

    /// Publishes `bodies` to `queue` (default exchange, persistent) with publisher
    /// confirms, keeping up to 1,024 confirms in flight; fails on a nack.
    pub async fn publish_backlog(&self, queue: &str, bodies: &[String]) -> Result<Duration> {
        const WINDOW: usize = 1024;
        let start = Instant::now();
        let mut pending = VecDeque::with_capacity(WINDOW);
        for body in bodies {
            if pending.len() == WINDOW {
                confirmed(pending.pop_front()).await?;
            }
            pending.push_back(self.publish_one(queue, body.as_bytes()).await?);
        }
        while let Some(c) = pending.pop_front() {
            confirmed(Some(c)).await?;
        }
        Ok(start.elapsed())
    }

    /// Publishes one persistent message without waiting for its confirm.
    pub async fn publish_one(&self, queue: &str, body: &[u8]) -> Result<PublisherConfirm> {
        self.publish
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .context("basic.publish")
    }

    /// (ready messages, consumers) of a queue.
    pub async fn queue_state(&self, queue: &str) -> Result<(u32, u32)> {
        let q = self
            .inspect
            .queue_declare(
                queue.into(),
                QueueDeclareOptions::default().passive(),
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("passive declare of {queue}"))?;
        Ok((q.message_count(), q.consumer_count()))
    }

    /// Drops the databases and deletes the queues and exchanges this run created.
    /// Best effort: problems are printed, not returned.
    pub async fn cleanup(self) {
        for db in &self.databases {
            drop_database(db).await;
        }
        if let Ok(ch) = self.conn.create_channel().await {
            for q in &self.queues {
                if let Err(e) = ch
                    .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                    .await
                {
                    eprintln!("cleanup: deleting queue {q}: {e}");
                }
            }
            for x in &self.exchanges {
                if let Err(e) = ch
                    .exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default())
                    .await
                {
                    eprintln!("cleanup: deleting exchange {x}: {e}");
                }
            }
        } else {
            eprintln!("cleanup: no channel to delete queues {:?}", self.queues);
        }
        let _ = self.conn.close(200, "bench done".into()).await;
    }
}

async fn confirmed(c: Option<PublisherConfirm>) -> Result<()> {
    if let Some(c) = c {
        let confirmation = c.await.context("publisher confirm")?;
        if !confirmation.is_ack() {
            bail!("the broker nacked a published lead: {confirmation:?}");
        }
    }
    Ok(())
}

pub async fn connect_db(url: &str) -> Result<PgConnection> {
    PgConnection::connect(url)
        .await
        .with_context(|| format!("connect to {url}"))
}

async fn admin_connection() -> Result<PgConnection> {
    let url = format!("{}/postgres", db_server_url());
    PgConnection::connect(&url).await.with_context(|| {
        format!(
            "PostgreSQL is not reachable at {url}; start it with scripts/ensure-services.sh \
             or set TEST_DATABASE_URL"
        )
    })
}

async fn drop_database(name: &str) {
    let Ok(mut admin) = admin_connection().await else {
        eprintln!("cleanup: cannot connect to drop database {name}");
        return;
    };
    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
    if let Err(e) = sqlx::query(AssertSqlSafe(sql)).execute(&mut admin).await {
        eprintln!("cleanup: dropping database {name}: {e}");
    }
    let _ = admin.close().await;
}
