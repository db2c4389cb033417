//! The `rulesets` and `ruleset_activations` tables: rules kept in PostgreSQL (SPEC 10).
//!
//! A version is the rules YAML and the scripts it names, keyed by the ruleset hash (the
//! one `routing_decisions.ruleset` records). Exactly one row is active: activating one
//! clears the flag of the other in the same transaction (a partial unique index keeps
//! it at most one), records who did it, and sends `NOTIFY` on [`RULESETS_CHANNEL`],
//! delivered on commit, so every daemon with `rules.source: database` reloads at once.
//! Validating the text is the caller's: this module stores what it is given.
use super::{Store, StoreError};
use crate::rules::{Loaded, RulesError, Ruleset};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use sqlx::types::Json;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `LISTEN` channel notified (payload: the hash) when another version becomes active.
pub const RULESETS_CHANNEL: &str = "leadrouter_rulesets";

/// One version as stored, with its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct StoredRuleset {
    pub hash: String,
    pub yaml: String,
    /// Script path, as the rules name it → its source.
    #[sqlx(json)]
    pub scripts: BTreeMap<String, String>,
    pub published_at: DateTime<Utc>,
    pub published_by: String,
    pub note: Option<String>,
    pub active: bool,
}

impl StoredRuleset {
    /// The name messages give this version: `ruleset HASH` (its scripts are named as
    /// the rules name them).
    pub fn name(&self) -> PathBuf {
        PathBuf::from(format!("ruleset {}", self.hash))
    }

    /// Compiles the version as `check` would, with no file access.
    pub fn compile(&self) -> Result<Loaded, RulesError> {
        Ruleset::from_sources(&self.yaml, &self.scripts, &self.name())
    }
}

/// One line of `rules history`: a version without its text, and its last activation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct RulesetVersion {
    pub hash: String,
    pub published_at: DateTime<Utc>,
    pub published_by: String,
    pub note: Option<String>,
    pub active: bool,
    /// When it last became active (publish or rollback), and by whom.
    pub activated_at: Option<DateTime<Utc>>,
    pub activated_by: Option<String>,
}

/// How a version became active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Publish,
    Rollback,
}

impl Activation {
    fn as_str(self) -> &'static str {
        match self {
            Self::Publish => "publish",
            Self::Rollback => "rollback",
        }
    }
}

/// What a publish or rollback did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Activated {
    pub hash: String,
    /// The version active before (none for the first publish).
    pub previous: Option<String>,
    /// False when the version was already active: nothing was written.
    pub changed: bool,
    /// For a publish: false when this text had been published before (the existing
    /// version was activated again).
    pub new_version: bool,
    pub at: DateTime<Utc>,
}

/// The text of a version to publish.
pub struct NewRuleset<'a> {
    /// The hash the rules compile to (`Ruleset::hash`).
    pub hash: &'a str,
    pub yaml: &'a str,
    pub scripts: &'a BTreeMap<String, String>,
}

const VERSION_COLUMNS: &str = "r.hash, r.published_at, r.published_by, r.note, r.active,
     a.activated_at, a.activated_by";

/// The latest activation of each version, joined to it.
const LAST_ACTIVATION: &str = "LEFT JOIN LATERAL (
         SELECT activated_at, activated_by FROM ruleset_activations x
         WHERE x.hash = r.hash ORDER BY id DESC LIMIT 1) a ON true";

impl Store {
    /// Stores `new` (unless a version with its hash exists) and makes it the active
    /// one, recorded as `actor`'s publish with `note`.
    pub async fn publish_ruleset(
        &self,
        new: &NewRuleset<'_>,
        actor: &str,
        note: Option<&str>,
    ) -> Result<Activated, StoreError> {
        let mut tx = self.pool.begin().await?;
        let now = lock_rulesets(&mut tx).await?;
        let inserted = sqlx::query(
            "INSERT INTO rulesets (hash, yaml, scripts, published_at, published_by, note)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (hash) DO NOTHING",
        )
        .bind(new.hash)
        .bind(new.yaml)
        .bind(Json(new.scripts))
        .bind(now)
        .bind(actor)
        .bind(note)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let mut done = activate(&mut tx, new.hash, now, actor, note, Activation::Publish).await?;
        tx.commit().await?;
        done.new_version = inserted;
        Ok(done)
    }

    /// Makes the stored version `hash` active again, recorded as `actor`'s rollback
    /// with `note`; `None` when no version has that hash.
    pub async fn rollback_ruleset(
        &self,
        hash: &str,
        actor: &str,
        note: Option<&str>,
    ) -> Result<Option<Activated>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let now = lock_rulesets(&mut tx).await?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM rulesets WHERE hash = $1)")
                .bind(hash)
                .fetch_one(&mut *tx)
                .await?;
        if !exists {
            return Ok(None);
        }
        let done = activate(&mut tx, hash, now, actor, note, Activation::Rollback).await?;
        tx.commit().await?;
        Ok(Some(done))
    }

    /// The active version, with its text.
    pub async fn active_ruleset(&self) -> Result<Option<StoredRuleset>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT hash, yaml, scripts, published_at, published_by, note, active
             FROM rulesets WHERE active",
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The hash of the active version: the cheap check a daemon runs every second.
    pub async fn active_ruleset_hash(&self) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT hash FROM rulesets WHERE active")
            .fetch_optional(&self.pool)
            .await?)
    }

    /// One version by hash, with its text.
    pub async fn ruleset(&self, hash: &str) -> Result<Option<StoredRuleset>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT hash, yaml, scripts, published_at, published_by, note, active
             FROM rulesets WHERE hash = $1",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Versions newest first (by first publish), at most `limit`, those after the
    /// version `after` (the last hash of the previous page) when given.
    pub async fn ruleset_history(
        &self,
        limit: i64,
        after: Option<&str>,
    ) -> Result<Vec<RulesetVersion>, StoreError> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM rulesets r {LAST_ACTIVATION}
             WHERE $2::text IS NULL
                OR (r.published_at, r.hash) < (SELECT published_at, hash FROM rulesets WHERE hash = $2)
             ORDER BY r.published_at DESC, r.hash DESC LIMIT $1"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(limit)
            .bind(after)
            .fetch_all(&self.pool)
            .await?)
    }
}

/// Serialises publishes and rollbacks (a transaction-level advisory lock), so two of
/// them cannot both clear the old flag and trip over the unique index; returns the
/// database clock.
async fn lock_rulesets(conn: &mut PgConnection) -> Result<DateTime<Utc>, StoreError> {
    Ok(sqlx::query_scalar(
        "WITH l AS MATERIALIZED (SELECT pg_advisory_xact_lock($1)) SELECT clock_timestamp() FROM l",
    )
    .bind(RULESETS_LOCK_KEY)
    .fetch_one(conn)
    .await?)
}

/// "rulesets" in ASCII, recognisable in `pg_locks`.
const RULESETS_LOCK_KEY: i64 = 0x7275_6c65_7365_7473;

/// Makes `hash` the active version (in the caller's transaction, under the lock).
async fn activate(
    conn: &mut PgConnection,
    hash: &str,
    now: DateTime<Utc>,
    actor: &str,
    note: Option<&str>,
    via: Activation,
) -> Result<Activated, StoreError> {
    let previous: Option<String> = sqlx::query_scalar("SELECT hash FROM rulesets WHERE active")
        .fetch_optional(&mut *conn)
        .await?;
    let mut done = Activated {
        hash: hash.to_owned(),
        changed: previous.as_deref() != Some(hash),
        previous,
        new_version: false,
        at: now,
    };
    if !done.changed {
        return Ok(done);
    }
    sqlx::query("UPDATE rulesets SET active = false WHERE active")
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE rulesets SET active = true WHERE hash = $1")
        .bind(hash)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO ruleset_activations (hash, activated_at, activated_by, note, via)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(hash)
    .bind(now)
    .bind(actor)
    .bind(note)
    .bind(via.as_str())
    .execute(&mut *conn)
    .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(RULESETS_CHANNEL)
        .bind(hash)
        .execute(&mut *conn)
        .await?;
    done.changed = true;
    Ok(done)
}
