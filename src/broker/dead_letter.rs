//! Dead-lettering a rejected delivery: its body, unchanged, to the dead-letter queue,
//! confirmed by the broker before the original is acked (SPEC section 2).
use std::time::Duration;

use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, LongString};
use lapin::{BasicProperties, Confirmation};
use tracing::{info, warn};

use super::error::short;
use super::{Acker, BrokerError, InboundDelivery, Settled};

/// Header carrying why the message was rejected (`label: detail`).
pub const ERROR_HEADER: &str = "x-leadrouter-error";

/// A confirm normally takes milliseconds; past this the broker is in trouble and
/// the delivery is better left unacked (it will be redelivered and retried).
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

impl Acker {
    /// Publishes the delivery's body unchanged to the dead-letter queue (default
    /// exchange, persistent, the publisher's properties mostly kept, header
    /// [`ERROR_HEADER`] = `reason`), waits for the publisher confirm, then acks the
    /// original.
    ///
    /// A delivery from a dead connection is not published (`Settled::Stale`): it
    /// will be redelivered and rejected again, and publishing now would put it on
    /// the dead-letter queue twice. On error nothing was acked; the delivery may
    /// already be on the dead-letter queue if only the ack failed (at least once).
    pub async fn dead_letter(
        &self,
        delivery: &InboundDelivery,
        reason: &str,
    ) -> Result<Settled, BrokerError> {
        let Some(session) = self.broker.session_for(delivery) else {
            return Ok(Settled::Stale);
        };
        let queue = &self.broker.names().dead_letter;
        let properties = dead_letter_properties(&delivery.properties, reason);
        // Mandatory: if the queue vanished, the broker returns the message instead of
        // confirming a drop.
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let confirm = async {
            session
                .dead_letters
                .basic_publish(
                    "".into(),
                    short(queue, "queue name")?,
                    options,
                    &delivery.body,
                    properties,
                )
                .await
                .map_err(BrokerError::amqp("basic.publish"))?
                .await
                .map_err(BrokerError::amqp("publisher confirm"))
        };
        let confirmation = match tokio::time::timeout(CONFIRM_TIMEOUT, confirm).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                session.mark_dead("dead-letter publish failed");
                return Err(e);
            }
            Err(_) => {
                return Err(BrokerError::Timeout {
                    what: "the dead-letter publisher confirm",
                    seconds: CONFIRM_TIMEOUT.as_secs(),
                });
            }
        };
        match confirmation {
            Confirmation::Ack(None) => {}
            Confirmation::Ack(Some(_)) => {
                warn!(queue = %queue, "dead-letter queue missing; message returned");
                // Rebuilding the session redeclares the queue.
                session.mark_dead("dead-letter queue missing");
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
        info!(
            generation = delivery.generation,
            delivery_tag = delivery.delivery_tag,
            reason,
            "message dead-lettered"
        );
        let tag = delivery.delivery_tag;
        self.send_acks(&session, |outstanding| super::ack::plan(outstanding, [tag]))
            .await?;
        Ok(Settled::Done)
    }
}

/// The publisher's properties, persistent, plus the error header; minus
/// `expiration` (a per-message TTL would silently drop the dead letter) and
/// `user_id` (RabbitMQ refuses a publish whose user_id is not ours, and closes the
/// channel).
fn dead_letter_properties(original: &BasicProperties, reason: &str) -> BasicProperties {
    let mut headers = original.headers().clone().unwrap_or_default();
    headers.insert(
        ERROR_HEADER.into(),
        AMQPValue::LongString(LongString::from(reason)),
    );
    let mut p = BasicProperties::default()
        .with_delivery_mode(2)
        .with_headers(headers);
    if let Some(v) = original.content_type() {
        p = p.with_content_type(v.clone());
    }
    if let Some(v) = original.content_encoding() {
        p = p.with_content_encoding(v.clone());
    }
    if let Some(v) = original.message_id() {
        p = p.with_message_id(v.clone());
    }
    if let Some(v) = original.correlation_id() {
        p = p.with_correlation_id(v.clone());
    }
    if let Some(v) = original.timestamp() {
        p = p.with_timestamp(*v);
    }
    if let Some(v) = original.kind() {
        p = p.with_type(v.clone());
    }
    if let Some(v) = original.app_id() {
        p = p.with_app_id(v.clone());
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_identity_drops_ttl_and_user() {
        let original = BasicProperties::default()
            .with_message_id("m1".into())
            .with_expiration("1000".into())
            .with_user_id("someone".into())
            .with_delivery_mode(1);
        let p = dead_letter_properties(&original, "too_large: x");
        assert_eq!(p.message_id().as_ref().map(|s| s.as_str()), Some("m1"));
        assert_eq!(p.expiration(), &None);
        assert_eq!(p.user_id(), &None);
        assert_eq!(p.delivery_mode(), &Some(2));
        let headers = p.headers().clone().unwrap_or_default();
        assert_eq!(
            headers.inner().get(ERROR_HEADER),
            Some(&AMQPValue::LongString(LongString::from("too_large: x")))
        );
    }
}
