//! `leadrouter publish LEADS.jsonl`: raw lines to the inbound queue, confirmed.
//!
//! One short-lived connection, no supervisor: a command should fail fast and say
//! why rather than retry forever.
use std::time::Duration;

use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties, PublisherConfirm};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tracing::info;

use super::error::{parse_url, short};
use super::{BrokerError, BrokerSettings, declare_topology};

/// Confirms awaited per window: enough to pipeline, bounded memory for huge files.
const WINDOW: usize = 1000;
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

/// What [`publish_lines`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PublishSummary {
    /// Lines published and confirmed by the broker.
    pub published: usize,
    /// Blank lines skipped.
    pub blank: usize,
}

/// Publishes each non-blank line of `input` (without its line ending, bytes
/// otherwise untouched: the daemon does the validating) to the inbound queue via
/// the default exchange, persistent, and waits for every publisher confirm.
/// Declares the topology first (the same idempotent declarations as the daemon), so
/// it works before the daemon ever ran. Fails on the first unconfirmed line; lines
/// before it are published.
pub async fn publish_lines<R: AsyncBufRead + Unpin>(
    settings: &BrokerSettings,
    mut input: R,
) -> Result<PublishSummary, BrokerError> {
    let queue = short(&settings.names.inbound, "queue name")?;
    let uri = parse_url(&settings.url)?;
    let connection = Connection::connect_uri(uri, ConnectionProperties::default())
        .await
        .map_err(BrokerError::amqp("connect"))?;
    let result = async {
        let channel = connection
            .create_channel()
            .await
            .map_err(BrokerError::amqp("channel.open"))?;
        declare_topology(&channel, &settings.names).await?;
        channel
            .confirm_select(lapin::options::ConfirmSelectOptions::default())
            .await
            .map_err(BrokerError::amqp("confirm.select"))?;
        let mut summary = PublishSummary::default();
        let mut pending: Vec<PublisherConfirm> = Vec::with_capacity(WINDOW);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = input
                .read_until(b'\n', &mut line)
                .await
                .map_err(BrokerError::Input)?;
            if n == 0 {
                break;
            }
            let body = trim_line_ending(&line);
            if body.iter().all(u8::is_ascii_whitespace) {
                summary.blank += 1;
                continue;
            }
            let properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into());
            // Mandatory: a missing queue is an error, not a silent drop.
            let options = BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            };
            let confirm = channel
                .basic_publish("".into(), queue.clone(), options, body, properties)
                .await
                .map_err(BrokerError::amqp("basic.publish"))?;
            pending.push(confirm);
            if pending.len() >= WINDOW {
                summary.published += await_confirms(&mut pending, queue.as_str()).await?;
            }
        }
        summary.published += await_confirms(&mut pending, queue.as_str()).await?;
        Ok(summary)
    }
    .await;
    let _ = connection.close(200, "done".into()).await;
    if let Ok(summary) = &result {
        info!(url = %settings.url, queue = %settings.names.inbound,
            published = summary.published, "published leads");
    }
    result
}

async fn await_confirms(
    pending: &mut Vec<PublisherConfirm>,
    queue: &str,
) -> Result<usize, BrokerError> {
    let count = pending.len();
    let deadline = tokio::time::Instant::now() + CONFIRM_TIMEOUT;
    for confirm in pending.drain(..) {
        let confirmation = tokio::time::timeout_at(deadline, confirm)
            .await
            .map_err(|_| BrokerError::Timeout {
                what: "publisher confirms",
                seconds: CONFIRM_TIMEOUT.as_secs(),
            })?
            .map_err(BrokerError::amqp("publisher confirm"))?;
        match confirmation {
            Confirmation::Ack(None) => {}
            Confirmation::Ack(Some(_)) => {
                return Err(BrokerError::Unroutable {
                    target: format!("queue {queue}"),
                });
            }
            Confirmation::Nack(_) | Confirmation::NotRequested => {
                return Err(BrokerError::Nacked {
                    target: format!("queue {queue}"),
                });
            }
        }
    }
    Ok(count)
}

fn trim_line_ending(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}
