//! The bare pipeline, in process: the least any consumer of this queue has to do to
//! store leads safely, on the same machine and servers as the daemon. Consume with
//! `basic.qos` prefetch P, gather what is buffered (up to P, waiting at most 2 ms after
//! the first, like the daemon), parse each body just enough to read `id`, one
//! transaction with one `INSERT ... SELECT FROM UNNEST(...)`, commit, then one
//! `basic.ack multiple` for the batch. No rules, no decisions table, no outbox.
//!
//! With [`Announce::Events`] it also does the least SPEC section 7 asks of anything
//! that stores leads: after each commit, one persistent event per lead (a JSON body of
//! the contract's fields) to a durable topic exchange with a durable queue bound to
//! it, publisher confirms, all of a batch's publishes in flight at once, confirms
//! awaited at the end (as few waits as possible). No outbox, so it is an upper bound
//! for any pipeline that stores a lead and announces it.
//!
//! Its PostgreSQL socket has TCP_NODELAY set, as libpq and most drivers do (sqlx sets
//! it itself since 0.9.1), so no batch waits for a delayed ACK.
use crate::stack::{Names, Stack, connect_db};
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties, PublisherConfirm};
use sqlx::Connection as _;
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
    /// Publishing events, and awaiting their confirms at the end ([`Announce::Events`]).
    pub publish: Duration,
}

const LINGER: Duration = Duration::from_millis(2);

/// What the bare pipeline does besides storing each lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announce {
    Nothing,
    /// One persistent, confirmed event per lead (see the module docs).
    Events,
}

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
    announce: Announce,
) -> Result<BareResult> {
    let tag = crate::stack::unique();
    let queue = format!("bench.bare.{tag}.inbound");
    let db_url = stack
        .create_database(&format!("leadrouter_bench_bare_{tag}"))
        .await?;
    let mut db = connect_db(&db_url).await?;
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
    let events = match announce {
        Announce::Nothing => None,
        Announce::Events => {
            let names = Names::fresh("bare");
            stack.bind_events(&names).await?;
            let events = conn.create_channel().await.context("open a channel")?;
            events
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .context("confirm.select")?;
            Some((events, names))
        }
    };
    let mut confirms: Vec<PublisherConfirm> = Vec::new();

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
        if let Some((events, names)) = &events {
            let t = Instant::now();
            confirms.extend(publish_events(events, &names.events_exchange, &ids, now).await?);
            split.publish += t.elapsed();
        }
        let t = Instant::now();
        let last = batch.last().map(|d| d.delivery_tag).unwrap_or_default();
        ch.basic_ack(last, BasicAckOptions { multiple: true })
            .await
            .context("basic.ack multiple")?;
        split.ack += t.elapsed();
        done += batch.len();
        batches += 1;
    }
    let t = Instant::now();
    for confirm in confirms {
        match confirm.await.context("publisher confirm")? {
            Confirmation::Ack(_) => {}
            other => bail!("bare pipeline: an event was not confirmed: {other:?}"),
        }
    }
    split.publish += t.elapsed();
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
    if let Some((_, names)) = &events {
        let (seen, _) = stack.queue_state(&names.events_seen).await?;
        if seen as usize != want {
            bail!("bare pipeline announced {seen} events, not {want}");
        }
    }
    Ok(BareResult {
        elapsed,
        batches,
        split,
        cpu,
    })
}

/// Starts one persistent event per lead, all at once; returns their pending confirms.
async fn publish_events(
    ch: &lapin::Channel,
    exchange: &str,
    ids: &[&str],
    at: DateTime<Utc>,
) -> Result<Vec<PublisherConfirm>> {
    let at = at.to_rfc3339();
    let sends = ids.iter().map(|id| {
        let event_id = uuid::Uuid::new_v4();
        // The fields SPEC section 7 requires, with values of a typical assignment.
        let body = serde_json::json!({
            "event_id": event_id, "lead_id": id, "status": "assigned",
            "owner_id": "agent-0042", "queue": null, "pool": "west-agents",
            "rule": "west-buyers", "at": at, "actor": "router",
        })
        .to_string();
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_message_id(event_id.to_string().into());
        async move {
            ch.basic_publish(
                exchange.into(),
                "lead.assigned".into(),
                BasicPublishOptions::default(),
                body.as_bytes(),
                properties,
            )
            .await
        }
    });
    futures_util::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| r.context("basic.publish"))
        .collect()
}
