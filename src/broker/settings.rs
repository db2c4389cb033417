//! What the broker layer needs from the configuration (SPEC section 5, `amqp.*`).
use std::fmt;

use super::error::{parse_url, short};
use super::{BrokerError, redact_url};

/// Names of the queues and exchange the daemon declares and uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerNames {
    /// Inbound lead queue (`amqp.queue`).
    pub inbound: String,
    /// Where rejected bodies go (`amqp.dead_letter_queue`).
    pub dead_letter: String,
    /// Topic exchange for outbound events (`amqp.events_exchange`).
    pub events_exchange: String,
}

impl Default for BrokerNames {
    fn default() -> Self {
        Self {
            inbound: "leads.inbound".into(),
            dead_letter: "leads.dead".into(),
            events_exchange: "leads.events".into(),
        }
    }
}

/// Connection settings. `Debug` redacts the URL's password.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerSettings {
    /// AMQP URL, possibly with credentials (`amqp.url` / `AMQP_URL`).
    pub url: String,
    pub names: BrokerNames,
    /// Unacked deliveries the broker may push to us (`amqp.prefetch`); also the
    /// largest batch the consumer can form. 0 means unlimited in AMQP: avoid it.
    pub prefetch: u16,
}

impl BrokerSettings {
    pub const DEFAULT_URL: &'static str = "amqp://guest:guest@127.0.0.1:5672/%2f";
    pub const DEFAULT_PREFETCH: u16 = 512;

    /// Checks what would otherwise only fail (and be retried forever) at connect
    /// time: the URL parses and the names fit AMQP's 255-byte limit. For the
    /// config loader, so a bad config stops the daemon at start.
    pub fn validate(&self) -> Result<(), BrokerError> {
        parse_url(&self.url)?;
        short(&self.names.inbound, "queue name")?;
        short(&self.names.dead_letter, "queue name")?;
        short(&self.names.events_exchange, "exchange name")?;
        Ok(())
    }
}

impl Default for BrokerSettings {
    fn default() -> Self {
        Self {
            url: Self::DEFAULT_URL.into(),
            names: BrokerNames::default(),
            prefetch: Self::DEFAULT_PREFETCH,
        }
    }
}

impl fmt::Debug for BrokerSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerSettings")
            .field("url", &redact_url(&self.url))
            .field("names", &self.names)
            .field("prefetch", &self.prefetch)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_catches_bad_urls_without_leaking_the_password() {
        assert!(BrokerSettings::default().validate().is_ok());
        let bad = BrokerSettings {
            url: "guest:hunter2@host".into(),
            ..Default::default()
        };
        let err = bad.validate().expect_err("not an AMQP URL").to_string();
        assert!(!err.contains("hunter2"), "{err}");
        let long = BrokerSettings {
            names: BrokerNames {
                inbound: "q".repeat(256),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(long.validate().is_err());
    }

    #[test]
    fn debug_does_not_show_password() {
        let s = BrokerSettings {
            url: "amqp://u:hunter2@h/".into(),
            ..Default::default()
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("u:***@h"), "{shown}");
    }
}
