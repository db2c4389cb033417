//! The connection supervisor: connects with backoff, rebuilds everything when the
//! connection or a channel dies, reports health, and never gives up until cancelled.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::{Mutex, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::backoff::Backoff;
use super::consumer::{Consumer, InboundDelivery};
use super::session::Session;
use super::{Acker, BrokerNames, BrokerSettings, EventPublisher};

const BACKOFF_INITIAL: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(5);
/// A session that lived this long counts as healthy: the next reconnect starts
/// fast again instead of continuing the previous backoff.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// How often the supervisor looks at connection and channel states, as a backstop
/// to lapin's error events and the consumer stream ending.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// `stop_consuming` waits this long for in-flight deliveries to be handed over.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// Handle on the broker connection. Cheap to clone; all clones share one supervisor.
#[derive(Clone)]
pub struct Broker {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) settings: BrokerSettings,
    connection_name: String,
    sessions: watch::Receiver<Option<Arc<Session>>>,
    health: watch::Receiver<bool>,
    /// False once `stop_consuming` was called: no new subscriptions.
    consuming: AtomicBool,
    /// Serialises "subscribe" against "stop consuming" so neither can slip between
    /// the other's check and action.
    consume_lock: Mutex<()>,
    /// Set when consuming has stopped for good (stop_consuming, or shutdown).
    pub(crate) consume_stopped: CancellationToken,
    cancel: CancellationToken,
    /// Set when the supervisor task has finished (connection closed).
    finished: CancellationToken,
}

/// Starts the supervisor task (needs a tokio runtime) and returns the handle and
/// the consumer. It connects in the background, forever, until `cancel` fires;
/// watch [`Broker::health`] for when it is up. Cancelling closes the connection:
/// call [`Broker::stop_consuming`] first and settle what you hold.
pub fn start(settings: BrokerSettings, cancel: CancellationToken) -> (Broker, Consumer) {
    let uniq = uuid::Uuid::new_v4().simple().to_string();
    let connection_name = format!("leadrouter pid {} {}", std::process::id(), &uniq[..12]);
    let (sessions_tx, sessions_rx) = watch::channel(None);
    let (health_tx, health_rx) = watch::channel(false);
    // Never more than the prefetch window is unacked, so this rarely fills; 0 means
    // unlimited prefetch in AMQP, where we still bound our own buffer.
    let capacity = match settings.prefetch {
        0 => 1024,
        n => usize::from(n),
    };
    let (deliveries_tx, deliveries_rx) = mpsc::channel(capacity);
    let shared = Arc::new(Shared {
        settings,
        connection_name,
        sessions: sessions_rx,
        health: health_rx,
        consuming: AtomicBool::new(true),
        consume_lock: Mutex::new(()),
        consume_stopped: CancellationToken::new(),
        cancel,
        finished: CancellationToken::new(),
    });
    let broker = Broker {
        shared: shared.clone(),
    };
    let consumer = Consumer::new(deliveries_rx, broker.clone());
    tokio::spawn(supervise(shared, sessions_tx, health_tx, deliveries_tx));
    (broker, consumer)
}

impl Broker {
    /// `true` while connected with channels, topology and consumer in place. The
    /// daemon drives `leadrouter_broker_up` and `/readyz` from it. Like
    /// `watch::Sender::subscribe`, the current value counts as seen: read it with
    /// `borrow()`, then await `changed()`.
    pub fn health(&self) -> watch::Receiver<bool> {
        let mut health = self.shared.health.clone();
        health.mark_unchanged();
        health
    }

    pub fn is_up(&self) -> bool {
        *self.shared.health.borrow()
    }

    /// Waits until the broker is up; returns `false` if the supervisor ended first.
    pub async fn wait_until_up(&self) -> bool {
        let mut health = self.health();
        tokio::select! {
            up = health.wait_for(|up| *up) => up.is_ok(),
            () = self.shared.finished.cancelled() => false,
        }
    }

    /// The current connection generation (increases on every reconnect), if up.
    pub fn generation(&self) -> Option<u64> {
        self.session().map(|s| s.generation)
    }

    /// The `connection_name` shown in the RabbitMQ management UI (unique per start).
    pub fn connection_name(&self) -> &str {
        &self.shared.connection_name
    }

    pub fn names(&self) -> &BrokerNames {
        &self.shared.settings.names
    }

    /// Settles deliveries: ack, requeue, dead-letter.
    pub fn acker(&self) -> Acker {
        Acker::new(self.clone())
    }

    /// Publishes outbound events for the outbox relay.
    pub fn event_publisher(&self) -> EventPublisher {
        EventPublisher::new(self.clone())
    }

    /// First step of a graceful shutdown: cancels the subscription (no new
    /// deliveries, on this or any later connection) but keeps the connection open so
    /// held deliveries can still be acked. Deliveries already received are still
    /// returned by [`Consumer::next_batch`], which returns an empty batch after them.
    pub async fn stop_consuming(&self) {
        let _guard = self.shared.consume_lock.lock().await;
        self.shared.consuming.store(false, Ordering::SeqCst);
        if let Some(session) = self.session() {
            let cancelled = session
                .consume
                .basic_cancel(
                    session.consumer_tag.clone(),
                    lapin::options::BasicCancelOptions::default(),
                )
                .await;
            if let Err(e) = cancelled {
                debug!(error = %e, "basic.cancel failed; the connection is going away anyway");
            }
            // The forwarder hands over what lapin already buffered, then ends.
            let _ = tokio::time::timeout(STOP_TIMEOUT, session.forwarder_done.cancelled()).await;
        }
        self.shared.consume_stopped.cancel();
        info!("stopped consuming");
    }

    /// Waits until the supervisor has closed the connection after cancellation.
    pub async fn closed(&self) {
        self.shared.finished.cancelled().await;
    }

    pub(crate) fn session(&self) -> Option<Arc<Session>> {
        self.shared.sessions.borrow().clone()
    }

    /// The current session if `delivery` came from it, else `None` (stale).
    pub(crate) fn session_for(&self, delivery: &InboundDelivery) -> Option<Arc<Session>> {
        self.session()
            .filter(|s| s.generation == delivery.generation)
    }
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("settings", &self.shared.settings)
            .field("connection_name", &self.shared.connection_name)
            .field("up", &self.is_up())
            .finish()
    }
}

async fn supervise(
    shared: Arc<Shared>,
    sessions: watch::Sender<Option<Arc<Session>>>,
    health: watch::Sender<bool>,
    deliveries: mpsc::Sender<InboundDelivery>,
) {
    let url = shared.settings.url.redacted();
    let mut backoff = Backoff::new(BACKOFF_INITIAL, BACKOFF_CAP);
    let mut generation = 0u64;
    let cancel = shared.cancel.clone();
    while !cancel.is_cancelled() {
        let opened = tokio::select! {
            () = cancel.cancelled() => break,
            opened = Session::open(&shared.settings, &shared.connection_name, generation + 1) => opened,
        };
        let session = match opened {
            Ok(session) => Arc::new(session),
            Err(e) => {
                let delay = backoff.next_delay();
                warn!(url = %url, error = %e, retry_in_ms = delay.as_millis() as u64, "cannot connect to the broker");
                sleep_or_cancel(delay, &cancel).await;
                continue;
            }
        };
        generation = session.generation;
        let up_since = Instant::now();
        // Publish before consuming: deliveries must find their session current.
        sessions.send_replace(Some(session.clone()));
        if let Err(e) = subscribe(&shared, &session, &deliveries).await {
            warn!(url = %url, error = %e, "cannot subscribe to the inbound queue");
            session.forwarder_done.cancel();
            session.mark_dead("subscribe failed");
        }
        if !session.dead.is_cancelled() {
            health.send_replace(true);
            info!(url = %url, generation, "broker connected");
        }
        let lost = watch_session(&session, &cancel).await;
        health.send_replace(false);
        sessions.send_replace(None);
        session.close().await;
        let Some(why) = lost else { break };
        if up_since.elapsed() >= STABLE_AFTER {
            backoff.reset();
        }
        let delay = backoff.next_delay();
        warn!(url = %url, generation, why = %why, retry_in_ms = delay.as_millis() as u64,
            "broker connection lost; unacked deliveries will be redelivered");
        sleep_or_cancel(delay, &cancel).await;
    }
    health.send_replace(false);
    sessions.send_replace(None);
    shared.consume_stopped.cancel();
    shared.finished.cancel();
    info!("broker supervisor stopped");
}

/// Starts the consumer and its forwarder, unless consuming was stopped.
async fn subscribe(
    shared: &Arc<Shared>,
    session: &Arc<Session>,
    deliveries: &mpsc::Sender<InboundDelivery>,
) -> Result<(), super::BrokerError> {
    let _guard = shared.consume_lock.lock().await;
    if !shared.consuming.load(Ordering::SeqCst) {
        session.forwarder_done.cancel();
        return Ok(());
    }
    let consumer = session.consume(&shared.settings).await?;
    tokio::spawn(forward(
        shared.clone(),
        session.clone(),
        consumer,
        deliveries.clone(),
    ));
    Ok(())
}

/// Moves deliveries from lapin's consumer to the daemon's [`Consumer`], recording
/// each tag as outstanding first so acks can be planned.
async fn forward(
    shared: Arc<Shared>,
    session: Arc<Session>,
    mut consumer: lapin::Consumer,
    deliveries: mpsc::Sender<InboundDelivery>,
) {
    loop {
        let item = tokio::select! {
            () = session.dead.cancelled() => break,
            item = consumer.next() => item,
        };
        match item {
            Some(Ok(delivery)) => {
                session
                    .acks
                    .lock()
                    .await
                    .insert(delivery.delivery_tag, false);
                let delivery = InboundDelivery::from_lapin(delivery, session.generation);
                tokio::select! {
                    () = session.dead.cancelled() => break,
                    sent = deliveries.send(delivery) => if sent.is_err() { break },
                }
            }
            Some(Err(e)) => {
                warn!(generation = session.generation, error = %e, "consumer failed");
                session.mark_dead("consumer failed");
                break;
            }
            None => {
                if shared.consuming.load(Ordering::SeqCst) {
                    // The broker cancelled us (queue deleted?): rebuild redeclares it.
                    warn!(
                        generation = session.generation,
                        "consumer cancelled by the broker"
                    );
                    session.mark_dead("consumer cancelled by the broker");
                }
                break;
            }
        }
    }
    session.forwarder_done.cancel();
}

/// Waits until the session fails (`Some(why)`) or the supervisor is cancelled (`None`).
async fn watch_session(session: &Session, cancel: &CancellationToken) -> Option<String> {
    let mut events = session.events_listener();
    let mut tick = tokio::time::interval(CHECK_EVERY);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return None,
            () = session.dead.cancelled() => return Some("a channel or the consumer failed".into()),
            event = events.next() => match event {
                Some(lapin::Event::Error(e)) => return Some(format!("connection error: {e}")),
                Some(lapin::Event::ConnectionBlocked(reason)) => {
                    error!(reason = %reason, "broker blocked publishing (resource alarm)");
                }
                Some(lapin::Event::ConnectionUnblocked) => info!("broker unblocked publishing"),
                Some(_) => {}
                None => return Some("connection event stream ended".into()),
            },
            _ = tick.tick() => {
                if let Some(problem) = session.health_problem() {
                    return Some(problem.into());
                }
            }
        }
    }
}

async fn sleep_or_cancel(delay: Duration, cancel: &CancellationToken) {
    tokio::select! {
        () = cancel.cancelled() => {}
        () = tokio::time::sleep(delay) => {}
    }
}
