//! The intake stage: consume → parse, one batch ahead of the commit stage.
//!
//! While the commit stage writes batch N, this stage gathers and parses batch N+1, so
//! broker delivery and parsing overlap with the database round trips. That only helps
//! if the broker can deliver batch N+1 while batch N is unacked: hence a batch size of
//! at most half the prefetch window by default (`amqp.batch_size`).
use crate::broker::{Acker, Consumer, InboundDelivery};
use crate::lead::{Lead, parse_lead};
use crate::telemetry;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a batch waits for more deliveries after the first: short enough not to
/// be felt at low rates, long enough to fill batches under load.
const LINGER: Duration = Duration::from_millis(2);

/// Leads parsed from one batch of deliveries, in delivery order; rejected messages
/// have already been dead-lettered.
pub struct ParsedBatch {
    pub leads: Vec<Lead>,
    /// `deliveries[i]` carried `leads[i]`; bodies are dropped (only the tags are needed
    /// to ack), so a batch in flight holds each lead once.
    pub deliveries: Vec<InboundDelivery>,
}

pub struct Intake {
    pub consumer: Consumer,
    pub acker: Acker,
    pub max_batch: usize,
    pub max_message_bytes: usize,
}

impl Intake {
    /// Runs until consumption ends (or the commit stage is gone); dropping `out` tells
    /// the commit stage that nothing more is coming.
    pub async fn run(mut self, out: mpsc::Sender<ParsedBatch>) {
        loop {
            let batch = self.consumer.next_batch(self.max_batch, LINGER).await;
            if batch.is_empty() {
                break;
            }
            let parsed = self.parse(batch).await;
            if !parsed.leads.is_empty() && out.send(parsed).await.is_err() {
                break;
            }
        }
    }

    async fn parse(&self, batch: Vec<InboundDelivery>) -> ParsedBatch {
        telemetry::leads_consumed(batch.len());
        let mut leads = Vec::with_capacity(batch.len());
        let mut deliveries = Vec::with_capacity(batch.len());
        for mut d in batch {
            match parse_lead(&d.body, self.max_message_bytes) {
                Ok(lead) => {
                    leads.push(lead);
                    d.body = Vec::new();
                    deliveries.push(d);
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
        ParsedBatch { leads, deliveries }
    }
}
