//! leadrouter: consume → parse → decide → persist (+outbox) → ack.
//!
//! `lead`, `rules` and `routing` are the pure core (no I/O, no tokio);
//! `store`, `broker` and `daemon` wire it to PostgreSQL and RabbitMQ.
pub mod api;
pub mod broker;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod http;
pub mod in_force;
pub mod lead;
pub mod redact;
pub mod routing;
pub mod rules;
pub mod store;
pub mod telemetry;
