//! `leadrouter run`: wiring the pipeline, the outbox relay, gauges, rules reload, HTTP
//! and shutdown.
//!
//! Shutdown (SIGTERM/SIGINT): stop consuming, let the pipeline commit and ack what it
//! holds, let the relay publish what it was handed, then close. A watchdog makes sure
//! the process is gone within 10 seconds; whatever was not acked by then is redelivered
//! and recognised as a duplicate if it had been committed.
mod gauges;
mod intake;
mod pipeline;
mod relay;
mod reload;
mod reload_db;
mod sweeper;

use crate::broker;
use crate::config::{Config, RulesSource};
use crate::http::{self, Readiness};
use crate::in_force::{InForceError, rules_from_database};
use crate::rules::Ruleset;
use crate::store::{Store, StoreError};
use crate::telemetry;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub type RulesRx = watch::Receiver<Arc<Ruleset>>;
pub type RulesTx = watch::Sender<Arc<Ruleset>>;

/// How long shutdown may take before the process exits regardless (SPEC: 10 s).
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(9);
/// After this, a pipeline waiting for the database gives up its batch (unacked).
const SHUTDOWN_DB_PATIENCE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A configuration built by hand that [`Config::load`] would have refused.
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("metrics: {0}")]
    Metrics(String),
    /// `rules.source: database` and the active version is missing or does not load.
    #[error("{0}")]
    Rules(#[from] InForceError),
}

/// The rules the daemon starts with: loaded from the file by the caller (so a bad file
/// stops it before it waits for any server), or the active version in the database,
/// read once connected.
pub enum StartRules {
    Loaded(Box<Ruleset>),
    FromDatabase,
}

/// Runs the daemon until SIGTERM or SIGINT. File rules were loaded (and reported) by
/// the caller.
pub async fn run(config: Config, rules: StartRules) -> Result<(), StartError> {
    config.validate()?;
    let metrics = telemetry::install_metrics().map_err(|e| StartError::Metrics(e.to_string()))?;
    let readiness = Readiness::new();

    let shutdown = CancellationToken::new(); // a signal arrived
    let stop_background = CancellationToken::new(); // gauges, reload, HTTP
    let give_up = CancellationToken::new(); // the pipeline stops waiting for the database
    let tracker = TaskTracker::new();

    let listener = http::bind(config.http.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.http.listen,
            source,
        })?;
    tracing::info!(addr = %config.http.listen, "serving /metrics /healthz /readyz");
    tracker.spawn(http::serve(
        listener,
        http::router(metrics.clone(), readiness.clone()),
        stop_background.clone(),
    ));
    tracker.spawn(upkeep(metrics, stop_background.clone()));
    tracker.spawn(watch_signals(shutdown.clone()));

    let store = tokio::select! {
        s = connect_store(&config, &readiness) => s?,
        _ = shutdown.cancelled() => return Ok(()),
    };
    let rules = match rules {
        StartRules::Loaded(rules) => *rules,
        StartRules::FromDatabase => {
            let in_force = rules_from_database(&store).await.inspect_err(|e| {
                tracing::error!(error = %e, "rules in the database unusable; not starting");
            })?;
            for w in &in_force.loaded.warnings {
                tracing::warn!(warning = %w, "rules warning");
            }
            let rs = in_force.loaded.ruleset;
            tracing::info!(hash = rs.hash(), "rules loaded from the database");
            rs
        }
    };
    telemetry::ruleset_in_force(&rules, None);
    readiness.set_rules(true);
    let (rules_tx, rules_rx) = watch::channel(Arc::new(rules));

    let broker_cancel = CancellationToken::new();
    let (broker, consumer) = broker::start(config.broker_settings(), broker_cancel.clone());
    tracker.spawn(track_broker_health(
        broker.health(),
        readiness.clone(),
        stop_background.clone(),
    ));
    tracker.spawn(gauges::run(
        store.clone(),
        readiness.clone(),
        stop_background.clone(),
    ));
    match config.rules.source {
        RulesSource::File => tracker.spawn(reload::run(
            config.rules.path.clone(),
            config.rules.watch,
            rules_tx,
            stop_background.clone(),
        )),
        RulesSource::Database => tracker.spawn(reload_db::run(
            store.clone(),
            rules_tx,
            stop_background.clone(),
        )),
    };

    let (relay_tx, relay_rx) = mpsc::channel(256);
    let relay = relay::Relay {
        store: store.clone(),
        publisher: broker.event_publisher(),
        events: relay_rx,
    };
    let relay_task = tracker.spawn(relay.run());
    // Stops at the shutdown signal, so its sender is gone when the relay drains.
    tracker.spawn(sweeper::run(
        store.clone(),
        config.alerts.unassigned_after,
        config.alerts.sweep_every,
        relay_tx.clone(),
        shutdown.clone(),
    ));
    let pipeline = pipeline::Pipeline {
        consumer,
        acker: broker.acker(),
        store: store.clone(),
        rules: rules_rx,
        relay: relay_tx,
        readiness: readiness.clone(),
        max_batch: config.amqp.effective_batch_size(),
        max_message_bytes: config.amqp.max_message_bytes,
        give_up: give_up.clone(),
    };
    let pipeline_task = tracker.spawn(pipeline.run());
    tracing::info!("leadrouter running");

    shutdown.cancelled().await;
    tracing::info!("shutting down: no new leads; finishing what is held");
    let watchdog = tokio::spawn(async {
        tokio::time::sleep(SHUTDOWN_LIMIT).await;
        tracing::warn!("shutdown took too long; exiting (unacked messages will be redelivered)");
        std::process::exit(0);
    });
    readiness.set_consuming(false);
    {
        let give_up = give_up.clone();
        tokio::spawn(async move {
            tokio::time::sleep(SHUTDOWN_DB_PATIENCE).await;
            give_up.cancel();
        });
    }
    broker.stop_consuming().await;
    let _ = pipeline_task.await; // drains the buffer; drops the relay's sender
    let _ = relay_task.await; // publishes what it was handed
    stop_background.cancel();
    broker_cancel.cancel();
    broker.closed().await;
    tracker.close();
    tracker.wait().await;
    store.close().await;
    watchdog.abort();
    tracing::info!("stopped");
    Ok(())
}

/// Connects (creating the database and applying migrations), retrying while the
/// database is unreachable or not ready: the daemon waits for it rather than exiting.
/// A permanent error (bad credentials, a missing privilege, a schema this binary cannot
/// work with) stops the start with its message: no retry would fix it.
async fn connect_store(config: &Config, readiness: &Readiness) -> Result<Store, StoreError> {
    let mut wait = Duration::from_millis(200);
    loop {
        match Store::connect(config.database.url.expose()).await {
            Ok(s) => {
                readiness.set_database(true);
                tracing::info!(database = %config.database.url.redacted(), "database ready (migrations applied)");
                return Ok(s);
            }
            Err(e) if e.is_transient() => {
                readiness.set_database(false);
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "database not ready");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                tracing::error!(error = %e, "database error that waiting cannot fix; not starting");
                return Err(e);
            }
        }
    }
}

async fn track_broker_health(
    mut health: watch::Receiver<bool>,
    readiness: Arc<Readiness>,
    stop: CancellationToken,
) {
    loop {
        let up = *health.borrow_and_update();
        readiness.set_broker(up);
        tokio::select! {
            changed = health.changed() => if changed.is_err() { readiness.set_broker(false); return },
            _ = stop.cancelled() => return,
        }
    }
}

async fn watch_signals(shutdown: CancellationToken) {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot listen for SIGTERM/SIGINT");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = int.recv() => tracing::info!("SIGINT"),
        _ = shutdown.cancelled() => return,
    }
    shutdown.cancel();
}

/// The Prometheus exporter's histograms need periodic upkeep when not using its own server.
async fn upkeep(handle: metrics_exporter_prometheus::PrometheusHandle, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tick.tick() => handle.run_upkeep(),
            _ = stop.cancelled() => return,
        }
    }
}
