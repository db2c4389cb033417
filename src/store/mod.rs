//! PostgreSQL: the decisions the CRM reads (SPEC section 6), pool rotations, and the
//! event outbox.
//!
//! Only runtime-checked queries (`sqlx::query`, never `query!`): building must not need
//! a live database. Every write for a lead happens in one transaction with its outbox
//! event, so a crash leaves either both or neither.
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

// One module per table: its columns, and the only statements that write them.
mod agents;
mod alerts;
mod decisions;
mod leads;
mod outbox;
mod rotations;
// The columns `leads` and `routing_decisions` share; the `status` columns' type;
// writing several tables' rows in one statement; reading the rows of one key.
mod placement;
mod read;
mod status;
mod write;

// What the daemon and the commands do, through the table modules.
mod batch;
mod events;
mod history;
mod manual;
mod migrate;
mod offboard;
mod replay;
mod snapshot;

pub use batch::{BatchOutcome, LeadOutcome};
pub use events::{EventKind, OutboxEvent, ROUTING_KEY_ALERT_UNASSIGNED, rfc3339, routing_key_for};
pub use migrate::{MIGRATOR, ensure_database};
pub use outbox::{DEFAULT_CLAIM_LEASE, OUTBOX_CHANNEL};
pub use snapshot::{load_state, lock_routing};

// Admin commands (SPEC section 4).
pub use agents::{AGENTS_CHANNEL, AgentChange, AgentRow};
pub use alerts::AlertRecord;
pub use decisions::DecisionRecord;
pub use history::LeadHistory;
pub use leads::{LeadRecord, LeadState};
pub use manual::{ChangeError, ManualTarget, Reassigned};
pub use offboard::{MovedLead, OffboardTo, Offboarded};
pub use placement::Placement;
pub use replay::{CurrentState, RecordedDecision, ReplayLead, ReplayWindow};

/// Key of the transaction-level advisory lock that serializes routing writes across
/// every instance: batches (and any admin command that steps a rotation) take it, so
/// rotations advance as one fair sequence and the duplicate check cannot race.
/// The value is "leadrout" in ASCII, to make it recognisable in `pg_locks`.
pub const ROUTING_LOCK_KEY: i64 = 0x6c65_6164_726f_7574;

/// Connections per instance. A batch holds one for its transaction; the relay,
/// sweeper, gauges and admin paths need a few more.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 8;

/// How long to wait for a pooled connection before reporting the database as down.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Actor of decisions made by the rules (`routing_decisions.actor`, events' `actor`).
pub const ROUTER_ACTOR: &str = "router";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL could not be parsed. The URL itself is not repeated: it may hold a password.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// Connecting (or creating the database) failed; `target` is `host:port/database`.
    #[error("cannot connect to PostgreSQL at {target}: {source}")]
    Connect {
        target: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row the schema's constraints should have made impossible (a hand edit, or a
    /// newer schema): reported, never guessed at.
    #[error("unexpected data in the database: {0}")]
    Unexpected(String),
}

/// A handle on the database: a small connection pool. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    /// Connects, creating the database if it does not exist, and applies migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Self::connect_with(url, DEFAULT_MAX_CONNECTIONS).await
    }

    /// [`Store::connect`] with a chosen pool size.
    pub async fn connect_with(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        // sqlx's parse error does not echo the URL, so it is safe to show.
        let options =
            PgConnectOptions::from_str(url).map_err(|e| StoreError::InvalidUrl(e.to_string()))?;
        let database = options.get_database().unwrap_or(options.get_username());
        // Where, for errors and logs; never the password.
        let target = format!("{}:{}/{}", options.get_host(), options.get_port(), database);
        let connect_error = |e: StoreError| match e {
            StoreError::Db(source) => StoreError::Connect {
                target: target.clone(),
                source,
            },
            other => other,
        };
        ensure_database(&options).await.map_err(connect_error)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(|e| connect_error(e.into()))?;
        tracing::info!(%target, "connected to PostgreSQL");
        migrate::run(&pool).await?;
        Ok(Store { pool })
    }

    /// Wraps an existing pool as is: no database creation, no migrations.
    pub fn from_pool(pool: PgPool) -> Store {
        Store { pool }
    }

    /// The pool, for admin commands and queries not wrapped here.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies pending migrations (already done by [`Store::connect`]).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrate::run(&self.pool).await
    }

    /// A round trip, for readiness and the `leadrouter_database_up` gauge.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection (waits for those in use to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
