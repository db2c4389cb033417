//! Batched consumption: a batch is whatever the prefetch window already holds.
use std::time::{Duration, Instant};

use lapin::BasicProperties;
use tokio::sync::mpsc;
use tracing::debug;

use super::Broker;

/// One inbound message, as received.
#[derive(Debug, Clone)]
pub struct InboundDelivery {
    /// The body, exactly as published (dead-lettered unchanged on rejection).
    pub body: Vec<u8>,
    /// The channel's delivery tag; only meaningful together with `generation`.
    pub delivery_tag: u64,
    /// The broker delivered it before (to us or another instance).
    pub redelivered: bool,
    /// The connection generation it arrived on; settling it on a later generation
    /// is skipped (it is redelivered instead).
    pub generation: u64,
    /// When we received it (for the consume-to-ack histogram).
    pub received_at: Instant,
    /// Kept so a dead letter carries the publisher's properties along.
    pub(crate) properties: BasicProperties,
}

impl InboundDelivery {
    pub(crate) fn from_lapin(delivery: lapin::message::Delivery, generation: u64) -> Self {
        Self {
            body: delivery.data,
            delivery_tag: delivery.delivery_tag,
            redelivered: delivery.redelivered,
            generation,
            received_at: Instant::now(),
            properties: delivery.properties,
        }
    }

    /// The publisher's `message_id` property, if set (for logs).
    pub fn message_id(&self) -> Option<&str> {
        self.properties.message_id().as_ref().map(|s| s.as_str())
    }
}

/// The inbound queue's consumer; one per [`Broker`], owned by the daemon's loop.
pub struct Consumer {
    deliveries: mpsc::Receiver<InboundDelivery>,
    broker: Broker,
}

impl Consumer {
    pub(crate) fn new(deliveries: mpsc::Receiver<InboundDelivery>, broker: Broker) -> Self {
        Self { deliveries, broker }
    }

    /// Waits for at least one delivery, then takes what else is already there, up
    /// to `max` in all, waiting at most `linger` after the first for more to arrive
    /// (`Duration::ZERO`: take only what is already buffered). Across reconnects it
    /// waits as long as it takes.
    ///
    /// Deliveries from a connection that has since died are dropped here: the
    /// broker has requeued them and will deliver them again.
    ///
    /// Returns an empty batch only when consumption has ended
    /// ([`Broker::stop_consuming`] or shutdown) and nothing is left buffered.
    pub async fn next_batch(&mut self, max: usize, linger: Duration) -> Vec<InboundDelivery> {
        let max = max.max(1);
        let mut batch = Vec::new();
        // First delivery: wait for it (or for the end of consumption).
        while batch.is_empty() {
            let first = tokio::select! {
                biased;
                d = self.deliveries.recv() => d,
                () = self.broker.shared.consume_stopped.cancelled() => self.deliveries.try_recv().ok(),
            };
            let Some(first) = first else { return batch };
            self.push_if_current(&mut batch, first);
        }
        // Then whatever is already buffered, and, within `linger`, what arrives.
        let deadline = tokio::time::Instant::now() + linger;
        while batch.len() < max {
            let next = match self.deliveries.try_recv() {
                Ok(d) => Some(d),
                Err(_) if linger.is_zero() => None,
                Err(_) => tokio::time::timeout_at(deadline, self.deliveries.recv())
                    .await
                    .ok()
                    .flatten(),
            };
            let Some(next) = next else { break };
            self.push_if_current(&mut batch, next);
        }
        batch
    }

    fn push_if_current(&self, batch: &mut Vec<InboundDelivery>, delivery: InboundDelivery) {
        if self.broker.generation() == Some(delivery.generation) {
            batch.push(delivery);
        } else {
            debug!(
                generation = delivery.generation,
                delivery_tag = delivery.delivery_tag,
                "dropping a delivery from a dead connection; it will be redelivered"
            );
        }
    }
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("buffered", &self.deliveries.len())
            .finish()
    }
}
