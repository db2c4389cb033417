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
mod assignees;
mod decisions;
mod leads;
mod outbox;
mod rotations;
mod rulesets;
mod tokens;
// The columns `leads` and `routing_decisions` share; the `status` columns' type;
// writing several tables' rows in one statement; reading the rows of one key.
mod placement;
mod read;
mod status;
mod write;
// The locks a change takes, and the one write path of changes to existing leads.
mod changes;
pub mod locks;

// What the daemon and the commands do, through the table modules.
mod batch;
mod change_assignees;
mod change_error;
mod claim;
mod events;
mod history;
mod manual;
mod migrate;
mod offboard;
mod replay;
mod snapshot;
mod transient;

pub use batch::{BatchOutcome, LeadOutcome};
pub use events::{
    EventKind, OutboxEvent, ROUTING_KEY_ALERT_UNASSIGNED, ROUTING_KEY_ASSIGNEES_CHANGED, rfc3339,
    routing_key_for,
};
pub use locks::lock_routing;
pub use migrate::{MIGRATOR, MigrationName, SchemaError, ensure_database};
pub use outbox::{DEFAULT_CLAIM_LEASE, OUTBOX_CHANNEL};
pub use snapshot::load_state;

// Admin commands (SPEC section 4).
pub use agents::{AGENTS_CHANNEL, AgentChange, AgentRow};
pub use alerts::AlertRecord;
pub use assignees::AssigneeRecord;
pub use change_assignees::AssigneesChanged;
pub use change_error::{ChangeError, Conflict};
pub use claim::{ClaimResult, Claimed};
pub use decisions::{DecisionRecord, Via};
pub use history::LeadHistory;
pub use leads::{LeadRecord, LeadState};
pub use manual::{ManualTarget, Reassigned};
pub use offboard::{MovedLead, OffboardTo, Offboarded};
pub use placement::Placement;
pub use replay::{CurrentState, RecordedDecision, ReplayLead, ReplayWindow};

// Rules kept in PostgreSQL (SPEC 10) and the admin API's tokens (SPEC 9).
pub use rulesets::{Activated, NewRuleset, RULESETS_CHANNEL, RulesetVersion, StoredRuleset};
pub use tokens::{Role, TOKEN_PREFIX, TokenError, TokenInfo, TokenOwner};

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
    #[error(
        "cannot connect to PostgreSQL at {target}: {}",
        migrate::describe(source)
    )]
    Connect {
        target: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database or its schema is not the one this binary works with.
    #[error("{0}")]
    Schema(#[from] SchemaError),
    /// A row the schema's constraints should have made impossible (a hand edit, or a
    /// newer schema): reported, never guessed at.
    #[error("unexpected data in the database: {0}")]
    Unexpected(String),
}

impl StoreError {
    /// The input held text PostgreSQL cannot store (a `\u0000` character, or bytes
    /// invalid in the database's encoding): the caller's input, not a failure.
    pub fn is_unstorable_text(&self) -> bool {
        match self {
            // character_not_in_repertoire, untranslatable_character
            Self::Db(e) => migrate::has_sqlstate(e, &["22021", "22P05"]),
            _ => false,
        }
    }
}

/// A handle on the database: a small connection pool. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    /// Connects, creating the database if it does not exist, and applies pending
    /// migrations: what `run` does at start (and what tests want).
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Self::connect_with(url, DEFAULT_MAX_CONNECTIONS).await
    }

    /// [`Store::connect`] with a chosen pool size.
    pub async fn connect_with(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        Ok(Self::connect_and_migrate(url, max_connections).await?.0)
    }

    /// [`Store::connect_with`], also returning the migrations it applied (oldest first;
    /// empty when the schema was up to date): `leadrouter migrate` reports them.
    pub async fn connect_and_migrate(
        url: &str,
        max_connections: u32,
    ) -> Result<(Store, Vec<MigrationName>), StoreError> {
        let db = Database::parse(url)?;
        ensure_database(&db.options)
            .await
            .map_err(|e| db.connect_error(e))?;
        let store = Self::open(&db, max_connections).await?;
        let applied = migrate::run(&store.pool, &db.target).await?;
        let target = &db.target;
        for m in &applied {
            tracing::info!(%target, migration = %m, "applied migration");
        }
        Ok((store, applied))
    }

    /// Connects to an existing database whose schema is exactly the one this binary
    /// embeds, writing nothing: the admin commands. A missing database or schema, pending
    /// migrations, or a schema newer than this binary is a [`SchemaError`] saying what to
    /// run.
    pub async fn connect_existing(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        let db = Database::parse(url)?;
        let store = match Self::open(&db, max_connections).await {
            Err(StoreError::Connect { source, .. })
                if migrate::has_sqlstate(&source, &[migrate::INVALID_CATALOG_NAME]) =>
            {
                return Err(SchemaError::NoDatabase {
                    server: db.server(),
                    database: db.name().to_owned(),
                }
                .into());
            }
            other => other?,
        };
        migrate::check(&store.pool, &db.target).await?;
        Ok(store)
    }

    /// The pool, connected: no database creation, no migrations.
    async fn open(db: &Database, max_connections: u32) -> Result<Store, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(db.options.clone())
            .await
            .map_err(|e| db.connect_error(e.into()))?;
        let target = &db.target;
        tracing::info!(%target, "connected to PostgreSQL");
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

/// A database URL, parsed, and how to name it without its password.
struct Database {
    options: PgConnectOptions,
    /// `host:port/database`, for errors and logs.
    target: String,
}

impl Database {
    fn parse(url: &str) -> Result<Database, StoreError> {
        // sqlx's parse error does not echo the URL, so it is safe to show.
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::InvalidUrl(crate::redact::scrub(&e.to_string(), url)))?;
        let database = options.get_database().unwrap_or(options.get_username());
        let target = format!("{}:{}/{}", options.get_host(), options.get_port(), database);
        Ok(Database { options, target })
    }

    /// `host:port`.
    fn server(&self) -> String {
        format!("{}:{}", self.options.get_host(), self.options.get_port())
    }

    /// The database name (the user name when the URL names none, as PostgreSQL does).
    fn name(&self) -> &str {
        self.options
            .get_database()
            .unwrap_or(self.options.get_username())
    }

    /// A failed connection names where it went.
    fn connect_error(&self, e: StoreError) -> StoreError {
        match e {
            StoreError::Db(source) => StoreError::Connect {
                target: self.target.clone(),
                source,
            },
            other => other,
        }
    }
}
