//! RabbitMQ: topology, a self-healing connection, batched consumption, acks that
//! survive reconnects, dead letters and confirmed event publishing (SPEC 1, 2, 7).
//!
//! Shape of the API: [`start`] spawns the connection supervisor and returns a
//! cloneable [`Broker`] handle plus the single [`Consumer`]. Everything that talks to
//! the broker goes through the supervisor's current [`session`](self) — one
//! connection with its channels, numbered by a *generation* that changes on every
//! reconnect. A delivery remembers its generation; settling it (ack, dead letter)
//! after a reconnect is skipped and reported as [`Settled::Stale`], because RabbitMQ
//! requeues everything that was unacked on the dead connection and delivery tags
//! restart on the new channel.
//!
//! Lapin's own auto-recovery is deliberately not enabled: it replays the consumer on
//! the same `Channel` with delivery tags reset, so a late ack for an old tag would
//! hit (or close) the recovered channel, and it would race with our rebuild. Our
//! supervisor rebuilds connection, channels, topology and consumer together instead;
//! lapin's heartbeats and connection events tell it when to.
mod ack;
mod backoff;
mod consumer;
mod dead_letter;
mod error;
mod events;
pub mod publish;
mod session;
mod settings;
mod supervisor;
mod topology;

pub use ack::{AckReport, Acker, Settled};
pub use consumer::{Consumer, InboundDelivery};
pub use dead_letter::ERROR_HEADER;
pub use error::{BrokerError, check_url};
pub use events::{EventPublisher, OutboundEvent};
pub use settings::{BrokerNames, BrokerSettings};
pub use supervisor::{Broker, start};
pub use topology::declare_topology;
