//! Gauges read from PostgreSQL (leads without an owner, events not yet relayed), and
//! the database half of readiness between batches.
use crate::http::Readiness;
use crate::store::Store;
use crate::telemetry;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const EVERY: Duration = Duration::from_secs(2);

pub async fn run(store: Store, readiness: Arc<Readiness>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = cancel.cancelled() => return,
        }
        match store.ping().await {
            Ok(()) => readiness.set_database(true),
            Err(e) => {
                tracing::warn!(error = %e, "database unreachable");
                readiness.set_database(false);
                continue;
            }
        }
        if let Ok(n) = store.unassigned_count().await {
            telemetry::unassigned_leads(n as i64);
        }
        if let Ok(n) = store.pending_count().await {
            telemetry::outbox_pending(n as i64);
        }
    }
}
