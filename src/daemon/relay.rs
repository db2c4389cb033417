//! The outbox relay: publishes events with publisher confirms and deletes them from the
//! outbox only once confirmed (at least once). Events arrive straight from the pipeline
//! after each commit; a backstop claims what is left in the outbox (events of a crashed
//! instance, or ones whose publish failed) with a lease, safe with several instances.
use crate::broker::{EventPublisher, OutboundEvent};
use crate::store::{OUTBOX_CHANNEL, OutboxEvent, Store};
use crate::telemetry;
use sqlx::postgres::PgListener;
use std::time::Duration;
use tokio::sync::mpsc;

/// How old an outbox row must be before the backstop takes it: the direct path
/// publishes well within this, so the two rarely publish the same event twice.
const BACKSTOP_AGE: Duration = Duration::from_secs(5);
const BACKSTOP_EVERY: Duration = Duration::from_secs(1);
const MAX_EVENTS: usize = 1024;

pub struct Relay {
    pub store: Store,
    pub publisher: EventPublisher,
    pub events: mpsc::Receiver<Vec<OutboxEvent>>,
}

impl Relay {
    /// Runs until the pipeline drops its sender, then publishes what it still holds.
    pub async fn run(mut self) {
        // Admin commands (reassign, offboard) commit events from another process and
        // NOTIFY; listening relays those within milliseconds too.
        let mut listener = self.listen().await;
        let mut tick = tokio::time::interval(BACKSTOP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                got = self.events.recv() => match got {
                    Some(mut events) => {
                        // Take whatever else is waiting: one confirm round for all of it.
                        while events.len() < MAX_EVENTS {
                            match self.events.try_recv() {
                                Ok(more) => events.extend(more),
                                Err(_) => break,
                            }
                        }
                        self.publish(events, false).await;
                    }
                    None => break,
                },
                _ = tick.tick() => self.backstop().await,
                n = async {
                    match listener.as_mut() {
                        Some(l) => l.recv().await,
                        None => std::future::pending().await,
                    }
                } => match n {
                    Ok(_) => self.claim_now().await,
                    Err(e) => {
                        // sqlx reconnects on the next recv; the backstop covers the gap.
                        tracing::debug!(error = %e, "outbox listener interrupted");
                        tokio::time::sleep(BACKSTOP_EVERY).await;
                    }
                },
            }
        }
        tracing::info!("relay drained");
    }

    async fn listen(&self) -> Option<PgListener> {
        let attempt = async {
            let mut l = PgListener::connect_with(self.store.pool()).await?;
            l.listen(OUTBOX_CHANNEL).await?;
            Ok::<_, sqlx::Error>(l)
        };
        match attempt.await {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "cannot LISTEN for outbox events; relying on the backstop");
                None
            }
        }
    }

    /// Events another process just committed (it sent NOTIFY): take them now.
    async fn claim_now(&mut self) {
        match self.store.fetch_pending(MAX_EVENTS, Duration::ZERO).await {
            Ok(events) if !events.is_empty() => self.publish(events, true).await,
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "outbox: database unavailable"),
        }
    }

    async fn backstop(&mut self) {
        match self.store.fetch_pending(MAX_EVENTS, BACKSTOP_AGE).await {
            Ok(events) if !events.is_empty() => {
                tracing::info!(count = events.len(), "relaying events left in the outbox");
                self.publish(events, true).await;
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "outbox backstop: database unavailable"),
        }
    }

    /// Publishes and deletes what the broker confirmed. What is not confirmed stays in
    /// the outbox (released, if claimed) for the backstop to retry.
    async fn publish(&mut self, events: Vec<OutboxEvent>, claimed: bool) {
        // The bodies were serialised when the events were made: published as they are.
        let outbound: Vec<OutboundEvent> = events
            .into_iter()
            .map(|e| OutboundEvent {
                event_id: e.event_id,
                routing_key: e.routing_key().to_owned(),
                body: e.into_body(),
            })
            .collect();
        let confirmed = match self.publisher.publish_batch(&outbound).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, count = outbound.len(), "publishing events failed; they stay in the outbox");
                Vec::new()
            }
        };
        telemetry::events_published(confirmed.len());
        if let Err(e) = self.store.delete_events(&confirmed).await {
            tracing::warn!(error = %e, "confirmed events not removed from the outbox; they will be published again");
        }
        if claimed && confirmed.len() < outbound.len() {
            let left: Vec<_> = outbound
                .iter()
                .map(|e| e.event_id)
                .filter(|id| !confirmed.contains(id))
                .collect();
            let _ = self.store.release_events(&left).await;
        }
    }
}
