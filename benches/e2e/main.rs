//! End-to-end benchmark of the real `leadrouter run` binary against the local
//! RabbitMQ and PostgreSQL, on a fresh database and fresh queue names every run.
//!
//! ```console
//! $ cargo bench --bench e2e                        # throughput, 100,000 leads
//! $ cargo bench --bench e2e -- --leads 20000 --prefetch 128 --instances 2
//! $ cargo bench --bench e2e -- --latency           # 1,000 leads/s for 30 s
//! $ cargo bench --bench e2e -- --latency --rate 2000 --seconds 10
//! ```
//!
//! Options (after `--`; each also read from an environment variable):
//! `--leads N` (`E2E_LEADS`, default 100000), `--prefetch P` (`E2E_PREFETCH`, 512:
//! the daemon's `amqp.prefetch` and the bare pipeline's `basic.qos`), `--instances K`
//! (`E2E_INSTANCES`, 1: daemons on the same queue and database), `--batch-size B` (the
//! daemons' `amqp.batch_size`; default theirs, half the prefetch), `--skip-bare`
//! (`E2E_SKIP_BARE=1`), `--latency` (`E2E_LATENCY=1`), `--rate R` (`E2E_RATE`, 1000), `--seconds S`
//! (`E2E_SECONDS`, 30). Servers: `AMQP_URL` and `TEST_DATABASE_URL`
//! (as for the tests; defaults: the local servers of `scripts/ensure-services.sh`).
//! An unreachable server fails the run. Cargo passes `--bench`; without it (`cargo
//! test --benches`) the binary only says how to run it.
//!
//! **Throughput mode** (default). N realistic leads (about 600 bytes, a mix that
//! exercises every rule of `rules/routing.yaml`) are published as a backlog, with
//! publisher confirms, to a durable queue, then drained:
//!
//! 1. by the *bare pipeline*, in this process: consume with prefetch P, gather what is
//!    buffered, parse each body for its `id`, one `INSERT ... SELECT FROM UNNEST` per
//!    batch in one transaction, commit, `basic.ack` multiple, with TCP_NODELAY on its
//!    PostgreSQL socket (see bare.rs). The least any consumer must do to store leads
//!    safely; it measures this machine at this moment.
//! 2. by the daemon (K processes, the sample rules, `warn` logging);
//! 3. by the bare pipeline again: the ratio uses the mean of its two runs, which
//!    cancels a load that changes steadily during the run; when they differ by more
//!    than 20 % the report says the ratio is less reliable.
//! 4. by the bare pipeline with events: as 1., plus one persistent event per lead
//!    to a durable topic exchange with a durable queue bound to it, under publisher
//!    confirms (what SPEC section 7 asks of anything that stores leads; no rules, no
//!    outbox). Its rate is printed with a second ratio, `ratio events`: the share of
//!    the broker's event cost in the gap between the daemon and the bare pipeline.
//!
//! Each drain has its own fresh queue and database. All are timed from the start of
//! consumption to the last lead safely stored: the bare pipeline from its
//! `basic.consume` to its last ack; the daemon from the moment the broker first
//! reports a consumer on the queue (polled every 5 ms; the start-up before it,
//! migrations and connections, is reported apart) until every event has reached a
//! durable queue bound to the events exchange and the outbox is empty (polled every
//! 10 ms). The report gives the rates and `daemon / bare`: the ratio holds on a noisy
//! machine, where absolute rates do not. The run then checks that every lead has
//! exactly one row in `leads` and `routing_decisions`, nothing was dead-lettered and
//! at least N events were relayed; and reports the daemon's peak RSS (`VmHWM` read
//! just before SIGTERM, and the highest `VmRSS` sampled every 100 ms). For each timed
//! phase a `cpu` line says who used the CPUs (from /proc): the daemon, PostgreSQL,
//! RabbitMQ, the bench, and "other" (anything else running on the machine: the noise).
//!
//! **Latency mode** (`--latency`). The daemon starts and is ready (`/readyz` 200),
//! then R leads/s are offered for S seconds. Reported: p50/p99/max of publish →
//! `leads.decided_at` (the database's clock when the lead's batch took the routing
//! lock, before its inserts and commit: a lower bound of publish → commit) and of
//! publish → the lead's event received (commit and relay included: an upper bound),
//! the achieved rate, and the daemon's peak RSS.
//!
//! Everything created (databases, queues, exchanges) is removed at the end, also
//! after a failure or Ctrl-C.
mod bare;
mod cpu;
mod daemon;
mod latency;
mod leads;
mod stack;
mod throughput;

use anyhow::{Context, Result, anyhow, bail};
use daemon::mib;
use stack::Stack;
use std::process::ExitCode;

const USAGE: &str = "usage: cargo bench --bench e2e -- [--leads N] [--prefetch P] [--batch-size B] [--instances K] \
[--skip-bare] | [--latency [--rate R] [--seconds S] [--prefetch P] [--instances K]]";

#[derive(Debug, Clone)]
struct Opts {
    leads: usize,
    latency: bool,
    rate: u32,
    seconds: u32,
    prefetch: u16,
    instances: usize,
    skip_bare: bool,
    /// Positional arguments: `cargo bench FILTER` passes them to every bench.
    filters: Vec<String>,
}

/// The daemons' `amqp.batch_size` in force, for the report.
fn batch_size(prefetch: u16) -> u16 {
    daemon::BATCH_SIZE
        .get()
        .copied()
        .unwrap_or((prefetch / 2).max(1))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}\n(see the doc comment of benches/e2e/main.rs)");
        return ExitCode::SUCCESS;
    }
    if !args.iter().any(|a| a == "--bench") {
        println!(
            "e2e: not run outside `cargo bench` (it needs minutes and the servers): cargo bench --bench e2e"
        );
        return ExitCode::SUCCESS;
    }
    let opts = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("e2e: {e:#}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if !opts.filters.is_empty() && !opts.filters.iter().any(|f| "e2e".contains(f.as_str())) {
        println!("e2e: skipped (filtered out by {:?})", opts.filters);
        return ExitCode::SUCCESS;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match rt.block_on(run(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("e2e bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &[String]) -> Result<Opts> {
    fn env<T: std::str::FromStr>(key: &str, default: T) -> Result<T> {
        match std::env::var(key) {
            Ok(v) => v.parse().map_err(|_| anyhow!("bad {key}={v}")),
            Err(_) => Ok(default),
        }
    }
    let flag = |key: &str| std::env::var(key).is_ok_and(|v| v == "1" || v == "true");
    let mut o = Opts {
        leads: env("E2E_LEADS", 100_000)?,
        latency: flag("E2E_LATENCY"),
        rate: env("E2E_RATE", 1_000)?,
        seconds: env("E2E_SECONDS", 30)?,
        prefetch: env("E2E_PREFETCH", 512)?,
        instances: env("E2E_INSTANCES", 1)?,
        skip_bare: flag("E2E_SKIP_BARE"),
        filters: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Result<String> {
            it.next()
                .cloned()
                .with_context(|| format!("{name} needs a value"))
        };
        fn num<T: TryFrom<u64>>(v: String, name: &str) -> Result<T> {
            let n: u64 = v
                .parse()
                .map_err(|_| anyhow!("{name}: not a number: {v}"))?;
            T::try_from(n).map_err(|_| anyhow!("{name}: {v} is too large"))
        }
        match a.as_str() {
            "--bench" => {}
            "--latency" => o.latency = true,
            "--skip-bare" => o.skip_bare = true,
            "--leads" => o.leads = num(value(a)?, a)?,
            "--rate" => o.rate = num(value(a)?, a)?,
            "--seconds" => o.seconds = num(value(a)?, a)?,
            "--prefetch" => o.prefetch = num(value(a)?, a)?,
            "--instances" => o.instances = num(value(a)?, a)?,
            "--batch-size" => {
                let size: u16 = num(value(a)?, a)?;
                daemon::BATCH_SIZE
                    .set(size)
                    .map_err(|_| anyhow!("--batch-size given twice"))?;
            }
            filter if !filter.starts_with('-') => o.filters.push(filter.to_owned()),
            other => bail!("unknown argument {other}"),
        }
    }
    if o.leads == 0 || o.rate == 0 || o.seconds == 0 || o.prefetch == 0 || o.instances == 0 {
        bail!("--leads, --rate, --seconds, --prefetch and --instances must be positive");
    }
    Ok(o)
}

async fn run(opts: Opts) -> Result<()> {
    let mut stack = Stack::connect().await?;
    let result = tokio::select! {
        r = bench(&mut stack, &opts) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    stack.cleanup().await;
    result
}

async fn bench(stack: &mut Stack, o: &Opts) -> Result<()> {
    if o.latency {
        return latency_mode(stack, o).await;
    }
    let bodies = leads::generate(&stack::unique(), 0, o.leads, chrono::Utc::now());
    let sizes = leads::sizes(&bodies);
    println!(
        "leads         : {} x {:.0} B avg ({}..{} B), prefetch {}, batch size {}, instances {}",
        thousands(o.leads as f64),
        sizes.avg,
        sizes.min,
        sizes.max,
        o.prefetch,
        batch_size(o.prefetch),
        o.instances
    );
    println!(
        "timing        : start of consumption -> last lead committed (bare: acked; \
         leadrouter: every event relayed, outbox empty)"
    );
    // Bare pipeline before and after the daemon: their mean cancels a load that
    // changes steadily during the run, and their difference shows how noisy it was.
    let mut bare_rates = Vec::new();
    if !o.skip_bare {
        bare_rates.push(bare_run(stack, &bodies, o, "before", bare::Announce::Nothing).await?);
    }
    let d = throughput::run(stack, &bodies, o.prefetch, o.instances).await?;
    let secs = d.elapsed.as_secs_f64();
    let rate = o.leads as f64 / secs;
    println!(
        "leadrouter    : {} leads/s ({secs:.2} s; start-up {:.2} s excluded; {} batches of {:.0} avg)  \
         peak RSS {}",
        thousands(rate),
        d.startup.as_secs_f64(),
        d.batches,
        o.leads as f64 / d.batches.max(1) as f64,
        rss_text(&d.rss)
    );
    println!("  cpu         : {}", d.cpu);
    if !o.skip_bare {
        bare_rates.push(bare_run(stack, &bodies, o, "after", bare::Announce::Nothing).await?);
        let announcing = bare_run(stack, &bodies, o, "after", bare::Announce::Events).await?;
        let mean = bare_rates.iter().sum::<f64>() / bare_rates.len() as f64;
        println!(
            "ratio         : {:.1} %  of the bare mean {} leads/s (target >= 60 %)",
            rate / mean * 100.0,
            thousands(mean)
        );
        println!(
            "ratio events  : {:.1} %  of the bare pipeline that also publishes one confirmed \
             persistent event per lead ({} leads/s)",
            rate / announcing * 100.0,
            thousands(announcing)
        );
        let spread = (bare_rates[0] - bare_rates[1]).abs() / mean * 100.0;
        if spread > 20.0 {
            println!(
                "note          : the two bare runs differ by {spread:.0} %: the machine's load \
                 changed during the run, the ratio is less reliable"
            );
        }
    }
    let span = d.db_span.as_secs_f64();
    println!(
        "check         : {} leads and decisions, {} events, 0 dead-lettered, outbox empty; \
         first..last batch start {span:.2} s by decided_at; {} warn/error log lines",
        thousands(o.leads as f64),
        thousands(f64::from(d.events)),
        d.log_lines
    );
    let mix: Vec<String> = d
        .rules
        .iter()
        .map(|(rule, n)| format!("{rule} {:.0}%", *n as f64 * 100.0 / o.leads as f64))
        .collect();
    println!("rules         : {}", mix.join(", "));
    Ok(())
}

/// One bare-pipeline drain of `bodies`, printed; returns its rate.
async fn bare_run(
    stack: &mut Stack,
    bodies: &[String],
    o: &Opts,
    when: &str,
    announce: bare::Announce,
) -> Result<f64> {
    let b = bare::run(stack, bodies, o.prefetch, announce).await?;
    let secs = b.elapsed.as_secs_f64();
    let rate = bodies.len() as f64 / secs;
    let per = |d: std::time::Duration| d.as_secs_f64() * 1e3 / b.batches as f64;
    let (label, publish) = match announce {
        bare::Announce::Nothing => ("bare pipeline", String::new()),
        bare::Announce::Events => (
            "bare + events",
            format!(", publish {:.1} ms", per(b.split.publish)),
        ),
    };
    println!(
        "{label} : {} leads/s ({secs:.2} s, {when}; {} batches of {:.0} avg, per batch: \
         consume {:.1} ms, insert {:.1} ms, commit {:.1} ms, ack {:.1} ms{publish})",
        thousands(rate),
        b.batches,
        bodies.len() as f64 / b.batches as f64,
        per(b.split.consume),
        per(b.split.insert),
        per(b.split.commit),
        per(b.split.ack),
    );
    println!("  cpu         : {}", b.cpu);
    Ok(rate)
}

async fn latency_mode(stack: &mut Stack, o: &Opts) -> Result<()> {
    let r = latency::run(stack, o.rate, o.seconds, o.prefetch, o.instances).await?;
    let span = r.publish_span.as_secs_f64();
    println!(
        "latency       : {} leads/s offered for {} s ({} leads x {:.0} B avg), prefetch {}, instances {}",
        thousands(f64::from(o.rate)),
        o.seconds,
        thousands(r.leads as f64),
        r.avg_bytes,
        o.prefetch,
        o.instances
    );
    println!(
        "published     : {} leads/s achieved ({span:.2} s; start-up {:.2} s to /readyz before it); \
         {} batches of {:.1} avg",
        thousands(r.leads as f64 / span),
        r.startup.as_secs_f64(),
        r.batches,
        r.leads as f64 / r.batches.max(1) as f64
    );
    println!("  cpu         : {}", r.cpu);
    let line = |v: &[f64]| {
        format!(
            "p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            latency::percentile(v, 50.0),
            latency::percentile(v, 99.0),
            latency::percentile(v, 100.0)
        )
    };
    println!(
        "to decided_at : {}  (batch start, lower bound of commit)",
        line(&r.to_decided)
    );
    println!(
        "to event      : {}  (commit + relay, upper bound; target p99 <= 25 ms)",
        line(&r.to_event)
    );
    println!(
        "peak RSS      : {}  (target <= 100 MiB); {} warn/error log lines",
        rss_text(&r.rss),
        r.log_lines
    );
    Ok(())
}

/// "41.2 MiB (sampled 40.9)" per instance.
fn rss_text(rss: &[(Option<u64>, u64)]) -> String {
    rss.iter()
        .map(|(hwm, sampled)| match hwm {
            Some(h) => format!("{:.1} MiB (sampled max {:.1})", mib(*h), mib(*sampled)),
            None => format!("sampled max {:.1} MiB", mib(*sampled)),
        })
        .collect::<Vec<_>>()
        .join(" / ")
}

/// 24310.4 -> "24,310".
fn thousands(v: f64) -> String {
    let s = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
