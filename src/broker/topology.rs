//! Declaring the daemon's queues and exchange (idempotent; run on every connect).
use lapin::options::{ExchangeDeclareOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, ExchangeKind};

use super::error::short;
use super::{BrokerError, BrokerNames};

/// Declares the inbound and dead-letter queues and the events topic exchange, all
/// durable. Fails if one exists with other arguments (RabbitMQ answers 406 and
/// closes the channel), which the supervisor logs and retries.
pub async fn declare_topology(channel: &Channel, names: &BrokerNames) -> Result<(), BrokerError> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    for queue in [&names.inbound, &names.dead_letter] {
        channel
            .queue_declare(short(queue, "queue name")?, durable, FieldTable::default())
            .await
            .map_err(BrokerError::amqp("queue.declare"))?;
    }
    channel
        .exchange_declare(
            short(&names.events_exchange, "exchange name")?,
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(BrokerError::amqp("exchange.declare"))?;
    Ok(())
}
