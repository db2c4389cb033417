//! Latency at a steady offered rate: the daemon(s) ready and idle, then R leads/s for
//! S seconds (published on a 1 ms tick, confirms awaited off the publishing path), each
//! lead's publish wall time recorded. Two measures per lead:
//!
//! - publish → `leads.decided_at`: the database clock (same host) when the lead's batch
//!   transaction took the routing lock, after consume and before the inserts and the
//!   commit: a lower bound of publish → commit.
//! - publish → its event received from a queue bound to the events exchange: commit,
//!   the relay's publish and the broker's delivery included, an upper bound.
use crate::daemon::{self, Daemon, Setup};
use crate::leads;
use crate::stack::{Stack, connect_db, unique};
use crate::throughput::verify;
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use lapin::options::BasicConsumeOptions;
use lapin::types::FieldTable;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, oneshot};

pub struct LatencyResult {
    pub leads: usize,
    pub avg_bytes: f64,
    /// Until the first daemon's `/readyz` answered 200.
    pub startup: Duration,
    /// First to last publish.
    pub publish_span: Duration,
    /// publish → decided_at, ms, sorted.
    pub to_decided: Vec<f64>,
    /// publish → event received, ms, sorted.
    pub to_event: Vec<f64>,
    /// Who used the CPUs while publishing.
    pub cpu: crate::cpu::Usage,
    /// Batches committed (distinct `decided_at`).
    pub batches: usize,
    pub rss: Vec<(Option<u64>, u64)>,
    pub log_lines: usize,
}

pub async fn run(
    stack: &mut Stack,
    rate: u32,
    seconds: u32,
    prefetch: u16,
    instances: usize,
) -> Result<LatencyResult> {
    let total = rate as usize * seconds as usize;
    let run_id = unique();
    let bodies = leads::generate(&run_id, 0, total, Utc::now());
    let avg_bytes = leads::sizes(&bodies).avg;

    let setup = Setup::prepare(stack, "latency", prefetch).await?;
    let (names, db_url) = (&setup.names, &setup.db_url);
    let spawned = Instant::now();
    let mut daemons = daemon::spawn_all(&setup, instances)?;
    let mut startup = Duration::ZERO;
    for d in &mut daemons {
        startup = d.wait_ready(spawned, Duration::from_secs(60)).await?;
    }

    // Events: record when each lead's event arrives.
    let received = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = oneshot::channel();
    let events = tokio::spawn(receive_events(
        stack
            .conn
            .create_channel()
            .await
            .context("open a channel")?,
        names.events_seen.clone(),
        received.clone(),
        stop_rx,
    ));

    // Confirms are awaited by another task, so publishing never waits for the broker.
    let (confirm_tx, mut confirm_rx) = mpsc::unbounded_channel::<lapin::PublisherConfirm>();
    let confirms = tokio::spawn(async move {
        let mut failed = 0usize;
        while let Some(c) = confirm_rx.recv().await {
            if !matches!(c.await, Ok(conf) if conf.is_ack()) {
                failed += 1;
            }
        }
        failed
    });
    let mut sent_at: Vec<SystemTime> = Vec::with_capacity(total);
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let pids: Vec<u32> = daemons.iter().map(|d| d.pid).collect();
    let cpu_before = crate::cpu::Snapshot::take(&pids);
    let start = Instant::now();
    while sent_at.len() < total {
        tick.tick().await;
        let due = ((start.elapsed().as_secs_f64() * f64::from(rate)) as usize + 1).min(total);
        while sent_at.len() < due {
            let body = &bodies[sent_at.len()];
            sent_at.push(SystemTime::now());
            let confirm = stack.publish_one(&names.inbound, body.as_bytes()).await?;
            let _ = confirm_tx.send(confirm);
        }
    }
    let publish_span = start.elapsed();
    let cpu = crate::cpu::Snapshot::take(&pids).since(&cpu_before);
    drop(confirm_tx);
    let nacked = confirms.await.context("confirm task")?;
    if nacked > 0 {
        bail!("{nacked} publishes were not confirmed by the broker");
    }

    // Wait for every event (at most 60 s after the last publish).
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.load(Ordering::Relaxed) < total {
        if Instant::now() > deadline {
            bail!(
                "only {} of {total} events within 60 s of the last publish; log:\n{}",
                received.load(Ordering::Relaxed),
                daemons[0].log_tail()
            );
        }
        for d in &mut daemons {
            d.check_alive()?;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = stop_tx.send(());
    let event_times = events.await.context("events task")??;

    let rss = daemons.iter().map(Daemon::peak_rss_kib).collect();
    for d in &mut daemons {
        let status = d.stop()?;
        if !status.success() {
            bail!("daemon {} exited with {status} after SIGTERM", d.pid);
        }
    }
    let log_lines = daemons.iter().map(Daemon::log_lines).sum();

    let mut db = connect_db(db_url).await?;
    verify(stack, &mut db, names, total).await?;
    let decided: Vec<(String, DateTime<Utc>)> =
        sqlx::query_as("SELECT lead_id, decided_at FROM leads")
            .fetch_all(&mut db)
            .await
            .context("read decided_at")?;

    let index = |lead_id: &str| -> Result<usize> {
        lead_id
            .rsplit('-')
            .next()
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n < total)
            .with_context(|| format!("unexpected lead id {lead_id}"))
    };
    let batches = decided
        .iter()
        .map(|(_, at)| *at)
        .collect::<std::collections::HashSet<_>>()
        .len();
    let mut to_decided = Vec::with_capacity(total);
    for (id, at) in &decided {
        let published = DateTime::<Utc>::from(sent_at[index(id)?]);
        to_decided.push((*at - published).as_seconds_f64() * 1e3);
    }
    let mut to_event = Vec::with_capacity(total);
    for (id, at) in &event_times {
        let i = index(id)?;
        let ms = at
            .duration_since(sent_at[i])
            .map(|d| d.as_secs_f64() * 1e3)
            .unwrap_or(0.0);
        to_event.push(ms);
    }
    if to_event.len() != total {
        bail!("{} distinct events for {total} leads", to_event.len());
    }
    to_decided.sort_by(f64::total_cmp);
    to_event.sort_by(f64::total_cmp);
    Ok(LatencyResult {
        leads: total,
        avg_bytes,
        startup,
        publish_span,
        to_decided,
        to_event,
        cpu,
        batches,
        rss,
        log_lines,
    })
}

#[derive(serde::Deserialize)]
struct Event {
    lead_id: String,
}

/// Consumes the events queue (auto-ack) and keeps the first arrival per lead.
async fn receive_events(
    channel: lapin::Channel,
    queue: String,
    received: Arc<AtomicUsize>,
    mut stop: oneshot::Receiver<()>,
) -> Result<HashMap<String, SystemTime>> {
    let mut consumer = channel
        .basic_consume(
            queue.as_str().into(),
            "bench-events".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .context("consume the events queue")?;
    let mut first = HashMap::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            d = consumer.next() => {
                let Some(d) = d else { bail!("events consumer ended") };
                let at = SystemTime::now();
                let d = d.context("event delivery")?;
                let event: Event = serde_json::from_slice(&d.data).context("event body")?;
                first.entry(event.lead_id).or_insert(at);
                received.store(first.len(), Ordering::Relaxed);
            }
        }
    }
    let _ = channel.close(200, "done".into()).await;
    Ok(first)
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
