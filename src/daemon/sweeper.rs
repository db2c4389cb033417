//! Every `alerts.sweep_every`: alert on leads without an owner for longer than
//! `alerts.unassigned_after` (once per lead per ownerless spell, across instances).
use crate::store::{EventKind, OutboxEvent, Store, rfc3339};
use crate::telemetry;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const PER_ROUND: i64 = 1000;

pub async fn run(
    store: Store,
    after: Duration,
    every: Duration,
    relay: mpsc::Sender<Vec<OutboxEvent>>,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = cancel.cancelled() => return,
        }
        // A backlog (e.g. after an outage) is worked off in rounds, not one huge transaction.
        loop {
            match store.sweep_unassigned(after, PER_ROUND).await {
                Ok(events) => {
                    let n = events.len();
                    for e in &events {
                        if let EventKind::UnassignedAlert { unassigned_since } = e.kind {
                            telemetry::unassigned_alert(&e.lead_id, &rfc3339(unassigned_since));
                        }
                    }
                    if n > 0 && relay.try_send(events).is_err() {
                        tracing::debug!("relay busy; alert events left to the outbox backstop");
                    }
                    if (n as i64) < PER_ROUND {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "unassigned sweep failed; will retry");
                    break;
                }
            }
        }
    }
}
