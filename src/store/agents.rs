//! The `agents` table: halting, resuming and listing agents (`leadrouter agents`).
//!
//! The daemon reads this table inside every batch transaction (`load_state`), so a
//! committed halt applies to the next batch on every instance. Each change also sends
//! `NOTIFY` on [`AGENTS_CHANNEL`] with the agent id, delivered on commit, for anything
//! that caches agent state and wants to react at once.
use super::read::ByKey;
use super::{Store, StoreError};
use crate::routing::Availability;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

/// `LISTEN` channel notified (payload: the agent id) when an agent's row changes.
pub const AGENTS_CHANNEL: &str = "leadrouter_agents";

/// One row of `agents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct AgentRow {
    pub agent_id: String,
    /// Halted: no automatic routing (manual changes still may give them leads).
    pub halted: bool,
    /// False once offboarded: no leads at all.
    pub active: bool,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<String>,
}

/// `AgentRow`'s columns, for selects and `RETURNING` (a macro: `concat!` takes only
/// literals).
macro_rules! agent_columns {
    () => {
        "agent_id, halted, active, updated_at, updated_by"
    };
}

/// The result of a halt, resume or reactivation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentChange {
    /// The row now; `None` for an agent without a row (available already) when the
    /// request was to make them available.
    pub row: Option<AgentRow>,
    /// False when the agent already was in the requested state: nothing was written,
    /// so `updated_at`/`updated_by` still say who put it there.
    pub changed: bool,
}

/// The flags that decide an agent's [`Availability`].
#[derive(sqlx::FromRow)]
struct Flags {
    halted: bool,
    active: bool,
}

/// The agent's row, locked until the end of the caller's transaction.
pub(super) const LOCK: ByKey<AgentRow> = ByKey::new(concat!(
    "SELECT ",
    agent_columns!(),
    " FROM agents WHERE agent_id = $1 FOR UPDATE"
));

/// The flags of an agent's row.
const FLAGS: ByKey<Flags> = ByKey::new("SELECT halted, active FROM agents WHERE agent_id = $1");

/// Whether `agent` may receive leads (no row: available, SPEC 6).
pub(super) async fn availability(
    conn: &mut PgConnection,
    agent: &str,
) -> Result<Availability, StoreError> {
    Ok(match FLAGS.one(conn, agent).await? {
        Some(Flags { active: false, .. }) => Availability::Inactive,
        Some(Flags { halted: true, .. }) => Availability::Halted,
        _ => Availability::Available,
    })
}

/// Sends the change notification (delivered when the caller's transaction commits).
pub(super) async fn notify_agent(conn: &mut PgConnection, agent: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(AGENTS_CHANNEL)
        .bind(agent)
        .execute(conn)
        .await?;
    Ok(())
}

/// Upserts the agent's flags; the ones passed as `None` keep their value (or the
/// column default for a new row).
pub(super) async fn upsert_agent(
    conn: &mut PgConnection,
    agent: &str,
    halted: Option<bool>,
    active: Option<bool>,
    actor: &str,
) -> Result<AgentRow, StoreError> {
    Ok(sqlx::query_as(concat!(
        "INSERT INTO agents (agent_id, halted, active, updated_at, updated_by)
         VALUES ($1, COALESCE($2, false), COALESCE($3, true), now(), $4)
         ON CONFLICT (agent_id) DO UPDATE SET
             halted = COALESCE($2, agents.halted),
             active = COALESCE($3, agents.active),
             updated_at = now(),
             updated_by = $4
         RETURNING ",
        agent_columns!()
    ))
    .bind(agent)
    .bind(halted)
    .bind(active)
    .bind(actor)
    .fetch_one(conn)
    .await?)
}

impl Store {
    /// Halts (`halted = true`) or resumes an agent, recording `actor`, and notifies
    /// [`AGENTS_CHANNEL`]. A no-op when the agent already is in that state.
    pub async fn set_halted(
        &self,
        agent: &str,
        halted: bool,
        actor: &str,
    ) -> Result<AgentChange, StoreError> {
        let mut tx = self.pool.begin().await?;
        let before = LOCK.one(&mut tx, agent).await?;
        let already = match &before {
            Some(row) => row.halted == halted,
            // No row: available, i.e. not halted.
            None => !halted,
        };
        if already {
            tx.commit().await?;
            return Ok(AgentChange {
                row: before,
                changed: false,
            });
        }
        let row = upsert_agent(&mut tx, agent, Some(halted), None, actor).await?;
        notify_agent(&mut tx, agent).await?;
        tx.commit().await?;
        Ok(AgentChange {
            row: Some(row),
            changed: true,
        })
    }

    /// Makes an offboarded agent active again (they can receive leads from rules and
    /// reassignments; their old leads stay where offboarding put them). A no-op for an
    /// active agent.
    pub async fn reactivate(&self, agent: &str, actor: &str) -> Result<AgentChange, StoreError> {
        let mut tx = self.pool.begin().await?;
        let before = LOCK.one(&mut tx, agent).await?;
        if before.as_ref().is_none_or(|row| row.active) {
            tx.commit().await?;
            return Ok(AgentChange {
                row: before,
                changed: false,
            });
        }
        let row = upsert_agent(&mut tx, agent, None, Some(true), actor).await?;
        notify_agent(&mut tx, agent).await?;
        tx.commit().await?;
        Ok(AgentChange {
            row: Some(row),
            changed: true,
        })
    }

    /// Whether `agent` has an `agents` row, open leads or leads they work as an
    /// assignee: a cheap check that a name typed by an admin is someone (an agent
    /// without a row is available, so a typo cannot be refused, only pointed out).
    pub async fn agent_known(&self, agent: &str) -> Result<bool, StoreError> {
        let known: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM agents WHERE agent_id = $1)
                 OR EXISTS (SELECT 1 FROM leads WHERE status = 'assigned' AND owner_id = $1)
                 OR EXISTS (SELECT 1 FROM lead_assignees WHERE agent_id = $1)",
        )
        .bind(agent)
        .fetch_one(&self.pool)
        .await?;
        Ok(known)
    }

    /// Every row of `agents`, by id.
    pub async fn list_agents(&self) -> Result<Vec<AgentRow>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            agent_columns!(),
            " FROM agents ORDER BY agent_id"
        ))
        .fetch_all(&self.pool)
        .await?)
    }
}
