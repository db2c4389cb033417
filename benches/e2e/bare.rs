//! The bare pipeline, in process: the least any consumer of this queue has to do to
//! store leads safely, on the same machine and servers as the daemon. Consume with
//! `basic.qos` prefetch P, gather what is buffered (up to P, waiting at most 2 ms after
//! the first, like the daemon), parse each body just enough to read `id`, one
//! transaction with one `INSERT ... SELECT FROM UNNEST(...)`, commit, then one
//! `basic.ack multiple` for the batch. No rules, no decisions table, no outbox.
//!
//! Its PostgreSQL socket has TCP_NODELAY set, as libpq and most drivers do. sqlx 0.9.0
//! leaves Nagle's algorithm on (sqlx issue #4335, fixed after 0.9.0): then about half
//! of the batch inserts here wait ~40 ms for a delayed ACK, which is no work of the
//! pipeline and would make this baseline measure a client library's defect instead
//! of the machine. `--bare-nagle` keeps sqlx's default, to see that cost.
use crate::stack::{Stack, connect_db};
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use sqlx::Connection as _;
use std::collections::HashSet;
use std::mem::ManuallyDrop;
use std::os::fd::{FromRawFd, RawFd};
use std::time::{Duration, Instant};

pub struct BareResult {
    /// From `basic.consume` to the ack of the last batch (its commit before it).
    pub elapsed: Duration,
    pub batches: usize,
    /// Time spent waiting for deliveries, inserting, committing and acking.
    pub split: Split,
    /// Who used the CPUs during `elapsed`.
    pub cpu: crate::cpu::Usage,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Split {
    pub consume: Duration,
    pub insert: Duration,
    pub commit: Duration,
    pub ack: Duration,
}

const LINGER: Duration = Duration::from_millis(2);

#[derive(serde::Deserialize)]
struct Id<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
}

/// Publishes `bodies` to a fresh queue, then drains it into a fresh database.
pub async fn run(
    stack: &mut Stack,
    bodies: &[String],
    prefetch: u16,
    nagle: bool,
) -> Result<BareResult> {
    let tag = crate::stack::unique();
    let queue = format!("bench.bare.{tag}.inbound");
    let db_url = stack
        .create_database(&format!("leadrouter_bench_bare_{tag}"))
        .await?;
    let sockets_before = socket_fds();
    let mut db = connect_db(&db_url).await?;
    if !nagle {
        let set = set_nodelay_on_new_sockets(&sockets_before);
        if set == 0 {
            eprintln!("warning: bare pipeline: found no TCP socket to set TCP_NODELAY on");
        }
    }
    sqlx::query(
        "CREATE TABLE bare_leads (lead_id text PRIMARY KEY, payload jsonb NOT NULL, received_at timestamptz NOT NULL)",
    )
    .execute(&mut db)
    .await
    .context("create bare_leads")?;
    stack.declare_queue(&queue).await?;
    stack.publish_backlog(&queue, bodies).await?;

    // Its own connection and channel, as the daemon has.
    let conn = Connection::connect(&stack.amqp_url, ConnectionProperties::default())
        .await
        .context("bare pipeline: connect to RabbitMQ")?;
    let ch = conn.create_channel().await.context("open a channel")?;
    ch.basic_qos(prefetch, BasicQosOptions::default())
        .await
        .context("basic.qos")?;

    let want = bodies.len();
    let mut done = 0usize;
    let mut batches = 0usize;
    let cpu_before = crate::cpu::Snapshot::take(&[]);
    let start = Instant::now();
    let mut consumer = ch
        .basic_consume(
            queue.as_str().into(),
            "bench-bare".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .context("basic.consume")?;
    let max = usize::from(prefetch.max(1));
    let mut split = Split::default();
    while done < want {
        let t = Instant::now();
        let Some(first) = consumer.next().await else {
            bail!("bare pipeline: consumer ended after {done} of {want}");
        };
        let mut batch = vec![first.context("delivery")?];
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < max {
            match tokio::time::timeout_at(deadline, consumer.next()).await {
                Ok(Some(d)) => batch.push(d.context("delivery")?),
                _ => break,
            }
        }
        let now: DateTime<Utc> = Utc::now();
        split.consume += t.elapsed();
        let t = Instant::now();
        let mut ids = Vec::with_capacity(batch.len());
        let mut payloads = Vec::with_capacity(batch.len());
        for d in &batch {
            let text = std::str::from_utf8(&d.data).context("a body is not UTF-8")?;
            let lead: Id<'_> = serde_json::from_str(text).context("a body without an id")?;
            ids.push(lead.id);
            payloads.push(text);
        }
        let ids: Vec<&str> = ids.iter().map(|c| c.as_ref()).collect();
        let received = vec![now; batch.len()];
        // Bodies go as text[] and are cast to jsonb by the server: the same parsing
        // work on the server as binding jsonb[] (sqlx would need serde_json's
        // `raw_value` feature to send the bodies as jsonb without re-serialising).
        let mut tx = db.begin().await.context("begin")?;
        sqlx::query(
            "INSERT INTO bare_leads (lead_id, payload, received_at)
             SELECT id, payload::jsonb, received_at
             FROM UNNEST($1::text[], $2::text[], $3::timestamptz[]) AS u(id, payload, received_at)",
        )
        .bind(&ids)
        .bind(&payloads)
        .bind(&received)
        .execute(&mut *tx)
        .await
        .context("bare insert")?;
        split.insert += t.elapsed();
        let t = Instant::now();
        tx.commit().await.context("commit")?;
        split.commit += t.elapsed();
        let t = Instant::now();
        let last = batch.last().map(|d| d.delivery_tag).unwrap_or_default();
        ch.basic_ack(last, BasicAckOptions { multiple: true })
            .await
            .context("basic.ack multiple")?;
        split.ack += t.elapsed();
        done += batch.len();
        batches += 1;
    }
    let elapsed = start.elapsed();
    let cpu = crate::cpu::Snapshot::take(&[]).since(&cpu_before);

    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM bare_leads")
        .fetch_one(&mut db)
        .await
        .context("count bare_leads")?;
    if stored != want as i64 {
        bail!("bare pipeline stored {stored} leads, not {want}");
    }
    let _ = conn.close(200, "bare done".into()).await;
    let _ = db.close().await;
    let (left, _) = stack.queue_state(&queue).await?;
    if left != 0 {
        bail!("bare pipeline left {left} messages in its queue");
    }
    Ok(BareResult {
        elapsed,
        batches,
        split,
        cpu,
    })
}

/// This process's open socket descriptors.
fn socket_fds() -> HashSet<RawFd> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return HashSet::new();
    };
    dir.flatten()
        .filter(|e| {
            std::fs::read_link(e.path())
                .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
        })
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// Sets TCP_NODELAY on the TCP sockets opened since `before` (the connection just
/// made; sqlx offers no option for it). Returns how many it set.
fn set_nodelay_on_new_sockets(before: &HashSet<RawFd>) -> usize {
    let mut set = 0;
    for fd in socket_fds().difference(before) {
        // SAFETY: `fd` is an open socket of this process; wrapping it in
        // ManuallyDrop never closes it, and setsockopt does not disturb its owner.
        let stream = ManuallyDrop::new(unsafe { std::net::TcpStream::from_raw_fd(*fd) });
        if stream.peer_addr().is_ok() && stream.set_nodelay(true).is_ok() {
            set += 1;
        }
    }
    set
}
