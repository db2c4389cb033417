//! One live connection and its channels; replaced wholesale on every reconnect.
use std::collections::BTreeMap;
use std::time::Duration;

use lapin::options::{BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, Connection, ConnectionProperties};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::error::{parse_url, short};
use super::{BrokerError, BrokerSettings, declare_topology};

/// How long connecting (TCP + AMQP handshake + declarations) may take before we
/// give up and back off; lapin itself would wait on an unresponsive host.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Closing is best effort: a dead peer must not hold up reconnecting or shutdown.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) struct Session {
    /// Increases by one per successful connect; deliveries carry it.
    pub(crate) generation: u64,
    connection: Connection,
    /// Declarations, consumer and acks (acks must go to the delivering channel).
    pub(crate) consume: Channel,
    /// Confirm-mode channel for dead letters.
    pub(crate) dead_letters: Channel,
    /// Confirm-mode channel for events; separate so a 404 on a missing exchange
    /// (which closes the channel) cannot take dead-lettering down with it.
    pub(crate) events: Channel,
    pub(crate) consumer_tag: ShortString,
    /// Delivery tags handed out and not yet settled, `true` once the daemon is done
    /// with them. Behind an async mutex held across the ack frames, so frames go out
    /// in the order they were planned (a single ack sent after an ack-multiple that
    /// already covered its tag would be an "unknown delivery tag" channel error).
    pub(crate) acks: Mutex<BTreeMap<u64, bool>>,
    /// Tripped by anyone who sees the session fail; the supervisor then rebuilds.
    pub(crate) dead: CancellationToken,
    /// Set when the forwarder task has handed over its last delivery (or when no
    /// forwarder was started).
    pub(crate) forwarder_done: CancellationToken,
}

impl Session {
    /// Connects, opens the channels and declares the topology. Does not start
    /// consuming: see [`Session::consume`].
    pub(crate) async fn open(
        settings: &BrokerSettings,
        connection_name: &str,
        generation: u64,
    ) -> Result<Self, BrokerError> {
        match tokio::time::timeout(
            OPEN_TIMEOUT,
            Self::open_inner(settings, connection_name, generation),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(BrokerError::Timeout {
                what: "the broker connection",
                seconds: OPEN_TIMEOUT.as_secs(),
            }),
        }
    }

    async fn open_inner(
        settings: &BrokerSettings,
        connection_name: &str,
        generation: u64,
    ) -> Result<Self, BrokerError> {
        let props = ConnectionProperties::default().with_connection_name(connection_name.into());
        let uri = parse_url(&settings.url)?;
        let connection = Connection::connect_uri(uri, props)
            .await
            .map_err(BrokerError::amqp("connect"))?;
        // From here on, close the connection on any failure instead of leaking it.
        match Self::channels(connection, settings, connection_name, generation).await {
            Ok(session) => Ok(session),
            Err((connection, e)) => {
                close_quietly(&connection).await;
                Err(e)
            }
        }
    }

    async fn channels(
        connection: Connection,
        settings: &BrokerSettings,
        connection_name: &str,
        generation: u64,
    ) -> Result<Self, (Connection, BrokerError)> {
        async fn confirm_channel(connection: &Connection) -> Result<Channel, BrokerError> {
            let channel = connection
                .create_channel()
                .await
                .map_err(BrokerError::amqp("channel.open"))?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(BrokerError::amqp("confirm.select"))?;
            Ok(channel)
        }
        let opened = async {
            let consume = connection
                .create_channel()
                .await
                .map_err(BrokerError::amqp("channel.open"))?;
            declare_topology(&consume, &settings.names).await?;
            let dead_letters = confirm_channel(&connection).await?;
            let events = confirm_channel(&connection).await?;
            let consumer_tag = short(&format!("{connection_name}/g{generation}"), "consumer tag")?;
            Ok::<_, BrokerError>((consume, dead_letters, events, consumer_tag))
        }
        .await;
        match opened {
            Ok((consume, dead_letters, events, consumer_tag)) => Ok(Self {
                generation,
                connection,
                consume,
                dead_letters,
                events,
                consumer_tag,
                acks: Mutex::new(BTreeMap::new()),
                dead: CancellationToken::new(),
                forwarder_done: CancellationToken::new(),
            }),
            Err(e) => Err((connection, e)),
        }
    }

    /// Sets the prefetch window and subscribes to the inbound queue (manual acks).
    pub(crate) async fn consume(
        &self,
        settings: &BrokerSettings,
    ) -> Result<lapin::Consumer, BrokerError> {
        self.consume
            .basic_qos(settings.prefetch, BasicQosOptions::default())
            .await
            .map_err(BrokerError::amqp("basic.qos"))?;
        self.consume
            .basic_consume(
                short(&settings.names.inbound, "queue name")?,
                self.consumer_tag.clone(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(BrokerError::amqp("basic.consume"))
    }

    /// `None` while everything looks alive, else why not.
    pub(crate) fn health_problem(&self) -> Option<&'static str> {
        if !self.connection.status().connected() {
            Some("connection is not connected")
        } else if !self.consume.status().connected() {
            Some("consumer channel closed")
        } else if !self.dead_letters.status().connected() {
            Some("dead-letter channel closed")
        } else if !self.events.status().connected() {
            Some("events channel closed")
        } else {
            None
        }
    }

    pub(crate) fn events_listener(
        &self,
    ) -> impl futures_util::Stream<Item = lapin::Event> + Send + 'static {
        self.connection.events_listener()
    }

    /// Marks the session failed so the supervisor replaces it.
    pub(crate) fn mark_dead(&self, why: &str) {
        if !self.dead.is_cancelled() {
            debug!(
                generation = self.generation,
                why, "broker session marked dead"
            );
            self.dead.cancel();
        }
    }

    /// Graceful close, bounded in time; unacked deliveries go back to the queue.
    pub(crate) async fn close(&self) {
        self.dead.cancel();
        for channel in [&self.consume, &self.dead_letters, &self.events] {
            if channel.status().connected() {
                let _ =
                    tokio::time::timeout(CLOSE_TIMEOUT, channel.close(200, "closing".into())).await;
            }
        }
        close_quietly(&self.connection).await;
    }
}

async fn close_quietly(connection: &Connection) {
    if connection.status().connected() {
        match tokio::time::timeout(CLOSE_TIMEOUT, connection.close(200, "closing".into())).await {
            Ok(Err(e)) => debug!(error = %e, "closing broker connection"),
            Err(_) => debug!("closing broker connection timed out"),
            Ok(Ok(())) => {}
        }
    }
}
