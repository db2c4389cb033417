//! consume → parse (the intake stage, one batch ahead) → decide → persist (+outbox) → ack.
//!
//! Rejected messages are dead-lettered by the intake; the leads of a batch are decided
//! and written in one transaction; only after the commit are they acked and their events
//! handed to the relay. On a database error nothing is acked and the batch is retried
//! with backoff. Batches commit one at a time, in delivery order.
use super::RulesRx;
use super::intake::{self, Intake, Parsed};
use crate::broker::{Acker, Consumer};
use crate::http::Readiness;
use crate::lead::Lead;
use crate::routing::decide;
use crate::store::{LeadOutcome, OutboxEvent, Store};
use crate::telemetry;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub struct Pipeline {
    pub consumer: Consumer,
    pub acker: Acker,
    pub store: Store,
    pub rules: RulesRx,
    pub relay: mpsc::Sender<Vec<OutboxEvent>>,
    pub readiness: Arc<Readiness>,
    pub max_batch: usize,
    pub max_message_bytes: usize,
    /// Cancelled when shutdown can no longer wait for a database retry.
    pub give_up: CancellationToken,
}

/// The commit stage: what the intake hands over.
struct Committer {
    acker: Acker,
    store: Store,
    rules: RulesRx,
    relay: mpsc::Sender<Vec<OutboxEvent>>,
    readiness: Arc<Readiness>,
    give_up: CancellationToken,
}

impl Pipeline {
    /// Runs until consumption ends (shutdown stops the consumer and the buffer drains).
    pub async fn run(self) {
        let intake = Intake {
            consumer: self.consumer,
            acker: self.acker.clone(),
            max_message_bytes: self.max_message_bytes,
        };
        let mut committer = Committer {
            acker: self.acker,
            store: self.store,
            rules: self.rules,
            relay: self.relay,
            readiness: self.readiness,
            give_up: self.give_up,
        };
        // Bounded by the prefetch window anyway: the broker sends no more than that.
        let (tx, mut rx) = mpsc::channel::<Parsed>(self.max_batch.max(64) * 4);
        let intake = tokio::spawn(intake.run(tx));
        committer.readiness.set_consuming(true);
        loop {
            let batch = intake::next_batch(&mut rx, self.max_batch).await;
            if batch.is_empty() {
                break;
            }
            committer.process(batch).await;
        }
        let _ = intake.await;
        committer.readiness.set_consuming(false);
        tracing::info!("consumer stopped; pipeline drained");
    }
}

impl Committer {
    async fn process(&mut self, batch: Vec<Parsed>) {
        let (leads, deliveries): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|p| (p.lead, p.delivery)).unzip();
        let Some(events) = self.commit(&leads).await else {
            return; // shutting down with the database unreachable: not acked, redelivered later
        };
        // The events are durable in the outbox; hand them over now so they go out in
        // milliseconds. A full channel only delays them to the relay's backstop.
        if !events.is_empty() && self.relay.try_send(events).is_err() {
            tracing::debug!("relay busy; events left to the outbox backstop");
        }
        match self.acker.ack(&deliveries).await {
            Ok(report) if report.stale > 0 => {
                tracing::info!(
                    stale = report.stale,
                    "acks after a reconnect skipped; those messages are redelivered and recognised as duplicates"
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "ack failed; the messages will be redelivered and recognised as duplicates")
            }
        }
        for d in &deliveries {
            telemetry::decision_latency(d.received_at.elapsed());
        }
    }

    /// Decides and writes the batch, retrying database errors with backoff until it
    /// commits, or until shutdown gives up. Returns the events written.
    async fn commit(&mut self, leads: &[Lead]) -> Option<Vec<OutboxEvent>> {
        let mut wait = Duration::from_millis(100);
        let mut attempt = 0u32;
        loop {
            if self.give_up.is_cancelled() {
                return None; // a batch behind one that already gave up: do not wait again
            }
            let rules = self.rules.borrow().clone();
            let started = Instant::now();
            let result = self
                .store
                .route_batch(
                    leads,
                    rules.hash(),
                    rules.least_loaded_agents(),
                    rules.pool_names(),
                    |lead, state| decide(&rules, lead, state),
                )
                .await;
            match result {
                Ok(outcome) => {
                    self.readiness.set_commits(true);
                    let duplicates = outcome.duplicates();
                    for (lead, o) in leads.iter().zip(&outcome.leads) {
                        match o {
                            LeadOutcome::Decided { decision, .. } => {
                                telemetry::lead_decided(lead.id.as_str(), decision, rules.hash())
                            }
                            LeadOutcome::Duplicate => telemetry::lead_duplicate(lead.id.as_str()),
                        }
                    }
                    telemetry::batch_committed(
                        leads.len() - duplicates,
                        duplicates,
                        started.elapsed(),
                    );
                    return Some(outcome.events);
                }
                Err(e) => {
                    self.readiness.set_commits(false);
                    attempt += 1;
                    telemetry::batch_retry(&e, attempt, wait);
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = self.give_up.cancelled() => return None,
                    }
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}
