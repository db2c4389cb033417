//! What the broker layer is handed from the configuration (SPEC section 5, `amqp.*`).
//! Built only by [`AmqpConfig::broker_settings`](crate::config::AmqpConfig::broker_settings):
//! the defaults and checks of these values live with their keys in `config`.
use crate::config::SecretUrl;

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

/// Connection settings. `Debug` shows the URL redacted ([`SecretUrl`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerSettings {
    /// AMQP URL, possibly with credentials (`amqp.url` / `AMQP_URL`).
    pub url: SecretUrl,
    pub names: BrokerNames,
    /// Unacked deliveries the broker may push to us (`amqp.prefetch`); also the
    /// largest batch the consumer can form.
    pub prefetch: u16,
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, SecretUrl};

    #[test]
    fn built_from_the_config_and_debug_does_not_show_the_password() {
        let mut config = Config::default();
        config.amqp.url = SecretUrl::new("amqp://u:hunter2@h/");
        config.amqp.queue = "q.in".into();
        let s = config.broker_settings();
        assert_eq!(s.url.expose(), "amqp://u:hunter2@h/");
        assert_eq!(s.names.inbound, "q.in");
        assert_eq!(s.names.dead_letter, "leads.dead");
        assert_eq!(s.prefetch, 512);
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("u:***@h"), "{shown}");
    }
}
