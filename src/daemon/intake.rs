//! The intake stage: consume → parse, one batch ahead of the commit stage.
//!
//! While the commit stage writes one batch, this stage receives and parses the next
//! leads, so broker delivery and parsing overlap with the database round trips. That
//! only helps if the broker can deliver while a batch is unacked: hence a batch size of
//! at most half the prefetch window by default (`amqp.batch_size`).
use crate::broker::{Acker, Consumer, InboundDelivery};
use crate::lead::{Lead, parse_lead};
use crate::telemetry;
use std::time::Duration;
use tokio::sync::mpsc;

/// One parsed lead and the delivery that carried it (its body dropped: only the tag is
/// needed to ack, so a lead in flight is held once).
pub struct Parsed {
    pub lead: Lead,
    pub delivery: InboundDelivery,
}

pub struct Intake {
    pub consumer: Consumer,
    pub acker: Acker,
    pub max_message_bytes: usize,
}

/// Leads are parsed as they arrive; the commit stage takes whatever has been parsed
/// when it is ready for the next batch ([`next_batch`]), so batches grow with the
/// load instead of being cut before the database is free.
impl Intake {
    /// Runs until consumption ends (or the commit stage is gone); dropping `out` tells
    /// the commit stage that nothing more is coming.
    pub async fn run(mut self, out: mpsc::Sender<Parsed>) {
        loop {
            // Whatever is buffered now; nothing to wait for, the commit stage lingers.
            let batch = self.consumer.next_batch(256, Duration::ZERO).await;
            if batch.is_empty() {
                break;
            }
            telemetry::leads_consumed(batch.len());
            for delivery in batch {
                if let Some(parsed) = self.parse(delivery).await
                    && out.send(parsed).await.is_err()
                {
                    return;
                }
            }
        }
    }

    async fn parse(&self, mut delivery: InboundDelivery) -> Option<Parsed> {
        match parse_lead(&delivery.body, self.max_message_bytes) {
            Ok(lead) => {
                delivery.body = Vec::new();
                Some(Parsed { lead, delivery })
            }
            Err(rejection) => {
                telemetry::lead_rejected(rejection.reason.label(), &rejection.detail);
                if let Err(e) = self
                    .acker
                    .dead_letter(&delivery, &rejection.to_string())
                    .await
                {
                    // Not acked: it comes back after the reconnect and is rejected again.
                    tracing::warn!(error = %e, "dead-lettering failed; the message will be redelivered");
                }
                None
            }
        }
    }
}

/// How long a batch waits for more leads after the first: short enough not to be felt
/// at low rates, long enough to fill batches under load.
const LINGER: Duration = Duration::from_millis(2);

/// Waits for one parsed lead, then takes what else is parsed, up to `max`, waiting at
/// most [`LINGER`] after the first. Empty only when the intake has ended and nothing
/// is left.
pub async fn next_batch(rx: &mut mpsc::Receiver<Parsed>, max: usize) -> Vec<Parsed> {
    let mut batch = Vec::new();
    let Some(first) = rx.recv().await else {
        return batch;
    };
    batch.push(first);
    let deadline = tokio::time::Instant::now() + LINGER;
    while batch.len() < max.max(1) {
        let next = match rx.try_recv() {
            Ok(p) => Some(p),
            Err(_) => tokio::time::timeout_at(deadline, rx.recv())
                .await
                .ok()
                .flatten(),
        };
        match next {
            Some(p) => batch.push(p),
            None => break,
        }
    }
    batch
}
