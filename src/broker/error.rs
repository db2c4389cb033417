//! Errors of the broker layer. None of them carries the AMQP URL's password.
use crate::config::SecretUrl;

/// What went wrong talking to RabbitMQ.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// No live connection right now; the supervisor is reconnecting.
    #[error("not connected to the broker")]
    Unavailable,
    /// A broker operation failed (connection lost, channel closed by the broker…).
    #[error("AMQP {op} failed: {source}")]
    Amqp {
        op: &'static str,
        #[source]
        source: lapin::Error,
    },
    /// The broker refused to take responsibility for a published message.
    #[error("broker nacked the message published to {target}")]
    Nacked { target: String },
    /// A mandatory publish could not be routed (the queue does not exist).
    #[error("message published to {target} was unroutable (does the queue exist?)")]
    Unroutable { target: String },
    /// The broker did not answer in time.
    #[error("timed out after {seconds}s waiting for {what}")]
    Timeout { what: &'static str, seconds: u64 },
    /// A name or routing key AMQP cannot carry (short strings are at most 255 bytes).
    #[error("{what} is {len} bytes long, AMQP allows at most 255")]
    NameTooLong { what: &'static str, len: usize },
    /// The AMQP URL does not parse (shown with its password redacted).
    #[error("invalid AMQP URL {url}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// Reading the input of [`publish_lines`](super::publish::publish_lines).
    #[error("reading input: {0}")]
    Input(#[source] std::io::Error),
}

impl BrokerError {
    pub(crate) fn amqp(op: &'static str) -> impl FnOnce(lapin::Error) -> Self {
        move |source| Self::Amqp { op, source }
    }
}

/// A `ShortString` without lapin's panic on over-long input.
pub(crate) fn short(s: &str, what: &'static str) -> Result<lapin::types::ShortString, BrokerError> {
    lapin::types::ShortString::try_new(s)
        .map_err(|_| BrokerError::NameTooLong { what, len: s.len() })
}

/// Parses an AMQP URL; the error never contains the password.
pub(crate) fn parse_url(url: &SecretUrl) -> Result<lapin::uri::AMQPUri, BrokerError> {
    url.expose()
        .parse()
        .map_err(|reason: String| BrokerError::InvalidUrl {
            url: url.redacted(),
            // amq-protocol quotes the whole URL in some messages.
            reason: url.scrub(&reason),
        })
}

/// Whether the broker could connect with this URL as far as its syntax goes: the
/// `amqp.url` check of the configuration, with the parser used to connect.
pub fn check_url(url: &SecretUrl) -> Result<(), BrokerError> {
    parse_url(url).map(drop)
}
