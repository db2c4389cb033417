//! `amqp.*`: the broker, its queues and exchange, and how much is in flight.
use super::error::Invalid;
use super::secret::SecretUrl;
use crate::broker::{BrokerNames, BrokerSettings};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmqpConfig {
    /// `amqp://` or `amqps://`; the vhost is the path (`%2f` is `/`).
    pub url: SecretUrl,
    /// Inbound lead queue, declared durable.
    pub queue: String,
    /// Where rejected bodies go, unchanged, with the `x-leadrouter-error` header.
    pub dead_letter_queue: String,
    /// Topic exchange for outbound events.
    pub events_exchange: String,
    /// `basic.qos` prefetch count (AMQP limits it to 16 bits).
    pub prefetch: u16,
    /// Most leads decided and committed in one transaction. Default: half the prefetch
    /// window, so the broker keeps delivering the next batch while one commits.
    pub batch_size: Option<u16>,
    /// Larger bodies are dead-lettered.
    pub max_message_bytes: usize,
}

impl Default for AmqpConfig {
    fn default() -> Self {
        Self {
            url: SecretUrl::new("amqp://guest:guest@127.0.0.1:5672/%2f"),
            queue: "leads.inbound".into(),
            dead_letter_queue: "leads.dead".into(),
            events_exchange: "leads.events".into(),
            prefetch: 512,
            batch_size: None,
            max_message_bytes: crate::lead::DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

impl AmqpConfig {
    /// The batch size in force: `batch_size`, or half the prefetch window.
    pub fn effective_batch_size(&self) -> usize {
        let size = self.batch_size.unwrap_or(self.prefetch / 2);
        usize::from(size.max(1))
    }

    /// What the broker layer is handed: built from these (checked) values only.
    pub fn broker_settings(&self) -> BrokerSettings {
        BrokerSettings {
            url: self.url.clone(),
            names: BrokerNames {
                inbound: self.queue.clone(),
                dead_letter: self.dead_letter_queue.clone(),
                events_exchange: self.events_exchange.clone(),
            },
            prefetch: self.prefetch,
        }
    }

    pub(super) fn check(&self) -> Result<(), Invalid> {
        super::check_scheme(&self.url, &["amqp", "amqps"])
            .map_err(|m| Invalid::new("amqp.url", m))?;
        // The parser the broker connects with, so a URL it cannot use stops the daemon
        // at start instead of being retried forever.
        crate::broker::check_url(&self.url).map_err(|e| Invalid::new("amqp.url", e.to_string()))?;
        for (key, name) in [
            ("amqp.queue", &self.queue),
            ("amqp.dead_letter_queue", &self.dead_letter_queue),
            ("amqp.events_exchange", &self.events_exchange),
        ] {
            if name.trim().is_empty() {
                return Err(Invalid::new(key, "must not be empty"));
            }
            // AMQP short strings are at most 255 bytes.
            if name.len() > 255 {
                return Err(Invalid::new(
                    key,
                    format!("is {} bytes, at most 255 allowed", name.len()),
                ));
            }
        }
        if self.queue == self.dead_letter_queue {
            return Err(Invalid::new(
                "amqp.dead_letter_queue",
                "must differ from amqp.queue",
            ));
        }
        if self.prefetch == 0 {
            return Err(Invalid::new("amqp.prefetch", "must be at least 1"));
        }
        if let Some(size) = self.batch_size
            && (size == 0 || size > self.prefetch)
        {
            return Err(Invalid::new(
                "amqp.batch_size",
                format!(
                    "must be from 1 to amqp.prefetch ({}), got {size}",
                    self.prefetch
                ),
            ));
        }
        if self.max_message_bytes == 0 {
            return Err(Invalid::new("amqp.max_message_bytes", "must be at least 1"));
        }
        Ok(())
    }
}
