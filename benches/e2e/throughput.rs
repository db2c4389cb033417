//! The daemon draining a pre-published backlog: K instances of the real binary on a
//! fresh database and fresh queues, timed from the moment the first of them is
//! registered as a consumer at the broker until every lead is committed and every
//! event relayed (all N events in a queue bound to the events exchange, and the
//! outbox empty: each event confirmed by the broker and deleted).
use crate::cpu;
use crate::daemon::{self, Daemon, Setup};
use crate::stack::{Names, Stack, connect_db};
use anyhow::{Context, Result, bail};
use sqlx::{Connection as _, PgConnection};
use std::time::{Duration, Instant};

pub struct DaemonResult {
    /// From spawning the process(es) to the first consumer on the inbound queue
    /// (migrations, connections, topology, rules): excluded from the rate.
    pub startup: Duration,
    /// From the first consumer to done.
    pub elapsed: Duration,
    /// Who used the CPUs during `elapsed`.
    pub cpu: cpu::Usage,
    /// `max(decided_at) - min(decided_at)`: first to last batch start, by the database.
    pub db_span: Duration,
    /// Per instance: (VmHWM, highest sampled VmRSS), KiB.
    pub rss: Vec<(Option<u64>, u64)>,
    /// Messages that reached the events queue.
    pub events: u32,
    /// Batches committed (distinct `decided_at`).
    pub batches: i64,
    /// Leads per deciding rule (`(none)` when no rule decided), most first.
    pub rules: Vec<(String, i64)>,
    /// Lines the daemons logged at `warn` or above.
    pub log_lines: usize,
}

/// Stall limit: no new event for this long fails the run.
const STALL: Duration = Duration::from_secs(60);

pub async fn run(
    stack: &mut Stack,
    bodies: &[String],
    prefetch: u16,
    instances: usize,
) -> Result<DaemonResult> {
    let setup = Setup::prepare(stack, "e2e", prefetch).await?;
    let (names, db_url) = (&setup.names, &setup.db_url);
    stack.publish_backlog(&names.inbound, bodies).await?;
    let want = bodies.len();
    let spawned = Instant::now();
    let mut daemons = daemon::spawn_all(&setup, instances)?;

    // Start of timing: the first consumer registered at the broker (polled every 5 ms).
    loop {
        for d in &mut daemons {
            d.check_alive()?;
        }
        let (_, consumers) = stack.queue_state(&names.inbound).await?;
        if consumers > 0 {
            break;
        }
        if spawned.elapsed() > Duration::from_secs(60) {
            bail!(
                "no daemon consuming within 60 s; log:\n{}",
                daemons[0].log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let start = Instant::now();
    let startup = start - spawned;
    let pids: Vec<u32> = daemons.iter().map(|d| d.pid).collect();
    let cpu_before = cpu::Snapshot::take(&pids);

    // Done: every event in the events queue, then the outbox empty (polled every 10 ms).
    // The schema exists by now: the daemon migrates before it consumes.
    let mut db = connect_db(db_url).await?;
    let (mut seen, mut last_progress) = (0u32, Instant::now());
    loop {
        let (events, _) = stack.queue_state(&names.events_seen).await?;
        if events as usize >= want {
            let empty: bool = sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM outbox)")
                .fetch_one(&mut db)
                .await
                .context("poll the outbox")?;
            if empty {
                break;
            }
        }
        if events != seen {
            (seen, last_progress) = (events, Instant::now());
        } else if last_progress.elapsed() > STALL {
            bail!(
                "stalled: {events} of {want} events after {:.1} s; log:\n{}",
                start.elapsed().as_secs_f64(),
                daemons[0].log_tail()
            );
        }
        for d in &mut daemons {
            d.check_alive()?;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = start.elapsed();
    let cpu = cpu::Snapshot::take(&pids).since(&cpu_before);

    let rss = daemons.iter().map(Daemon::peak_rss_kib).collect();
    for d in &mut daemons {
        let status = d.stop()?;
        if !status.success() {
            bail!("daemon {} exited with {status} after SIGTERM", d.pid);
        }
    }
    let log_lines = daemons.iter().map(Daemon::log_lines).sum();

    verify(stack, &mut db, names, want).await?;
    let (events, _) = stack.queue_state(&names.events_seen).await?;
    if (events as usize) < want {
        bail!("only {events} events relayed for {want} leads");
    }
    let (span, batches): (f64, i64) = sqlx::query_as(
        "SELECT extract(epoch FROM max(decided_at) - min(decided_at))::float8, count(DISTINCT decided_at) FROM leads",
    )
    .fetch_one(&mut db)
    .await
    .context("decision span")?;
    let rules: Vec<(String, i64)> = sqlx::query_as(
        "SELECT coalesce(rule, '(none)'), count(*) FROM leads GROUP BY 1 ORDER BY 2 DESC, 1",
    )
    .fetch_all(&mut db)
    .await
    .context("decisions per rule")?;
    let _ = db.close().await;
    Ok(DaemonResult {
        startup,
        elapsed,
        cpu,
        db_span: Duration::from_secs_f64(span.max(0.0)),
        rss,
        events,
        batches,
        rules,
        log_lines,
    })
}

/// Every lead decided exactly once, nothing dead-lettered, nothing left in the outbox.
pub async fn verify(
    stack: &Stack,
    db: &mut PgConnection,
    names: &Names,
    want: usize,
) -> Result<()> {
    let (leads, decisions, outbox): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM leads), (SELECT count(*) FROM routing_decisions), (SELECT count(*) FROM outbox)",
    )
    .fetch_one(&mut *db)
    .await
    .context("count leads, decisions, outbox")?;
    let (dead, _) = stack.queue_state(&names.dead_letter).await?;
    let (inbound, _) = stack.queue_state(&names.inbound).await?;
    let want = want as i64;
    if leads != want || decisions != want || outbox != 0 || dead != 0 || inbound != 0 {
        bail!(
            "wrong end state: {leads} leads and {decisions} decisions (want {want}), \
             {outbox} outbox rows, {dead} dead-lettered, {inbound} left in the inbound queue"
        );
    }
    Ok(())
}
