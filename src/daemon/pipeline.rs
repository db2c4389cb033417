//! consume → parse → decide → persist (+outbox) → ack, one batch at a time.
//!
//! A batch is whatever the prefetch window holds. Rejected messages are dead-lettered
//! (confirmed, then acked); the leads are decided and written in one transaction; only
//! after the commit are they acked and their events handed to the relay. On a database
//! error nothing is acked and the batch is retried with backoff.
use super::RulesRx;
use crate::broker::{Acker, Consumer, InboundDelivery};
use crate::http::Readiness;
use crate::lead::{Lead, parse_lead};
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

/// How long a batch waits for more deliveries after the first: short enough not to
/// be felt at low rates, long enough to fill batches under load.
const LINGER: Duration = Duration::from_millis(2);

impl Pipeline {
    /// Runs until consumption ends (shutdown stops the consumer and the buffer drains).
    pub async fn run(mut self) {
        self.readiness.set_consuming(true);
        loop {
            let batch = self.consumer.next_batch(self.max_batch, LINGER).await;
            if batch.is_empty() {
                break;
            }
            self.process(batch).await;
        }
        self.readiness.set_consuming(false);
        tracing::info!("consumer stopped; pipeline drained");
    }

    async fn process(&mut self, batch: Vec<InboundDelivery>) {
        telemetry::leads_consumed(batch.len());
        let mut leads: Vec<Lead> = Vec::with_capacity(batch.len());
        let mut delivered: Vec<InboundDelivery> = Vec::with_capacity(batch.len());
        for d in batch {
            match parse_lead(&d.body, self.max_message_bytes) {
                Ok(lead) => {
                    leads.push(lead);
                    delivered.push(d);
                }
                Err(rejection) => {
                    telemetry::lead_rejected(rejection.reason.label(), &rejection.detail);
                    if let Err(e) = self.acker.dead_letter(&d, &rejection.to_string()).await {
                        // Not acked: it comes back after the reconnect and is rejected again.
                        tracing::warn!(error = %e, "dead-lettering failed; the message will be redelivered");
                    }
                }
            }
        }
        if leads.is_empty() {
            return;
        }
        let Some(events) = self.commit(&leads).await else {
            return; // shutting down with the database unreachable: not acked, redelivered later
        };
        // The events are durable in the outbox; hand them over now so they go out in
        // milliseconds. A full channel only delays them to the relay's backstop.
        if !events.is_empty() && self.relay.try_send(events).is_err() {
            tracing::debug!("relay busy; events left to the outbox backstop");
        }
        match self.acker.ack(&delivered).await {
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
        for d in &delivered {
            telemetry::decision_latency(d.received_at.elapsed());
        }
    }

    /// Decides and writes the batch, retrying database errors with backoff until it
    /// commits, or until shutdown gives up. Returns the events written.
    async fn commit(&mut self, leads: &[Lead]) -> Option<Vec<OutboxEvent>> {
        let mut wait = Duration::from_millis(100);
        let mut attempt = 0u32;
        loop {
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
