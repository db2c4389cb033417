//! Manual changes of a lead's owner state (`leads reassign`, `leads unassign`, and the
//! bulk moves of `agents offboard`): SPEC section 4, "Manual changes".
//!
//! Every change writes, in one transaction, the new state on `leads` (with `rule` and
//! `pool` null: no rule decided it), an append-only `routing_decisions` row carrying
//! the actor and note (`ruleset` null), and its outbox event with `previous_owner_id`
//! and `note`. No rotation moves.
use super::agents::availability;
use super::outbox::{self, LeadChange, OutboxEvent};
use super::snapshot::lock_routing;
use super::{Store, StoreError};
use crate::routing::{Availability, LeadStatus, SkippedAgent};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use sqlx::types::Json;

/// `LISTEN` channel notified when an admin command commits outbox events, so a relay
/// can publish them at once instead of on its backstop interval.
pub const OUTBOX_CHANNEL: &str = "leadrouter_outbox";

/// Why a manual change was refused. All but [`ChangeError::Store`] are the caller's
/// input (exit 2); nothing was written in any case.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("no lead with id {0:?}")]
    UnknownLead(String),
    #[error("agent {0:?} is inactive (offboarded) and cannot receive leads")]
    InactiveAgent(String),
    #[error("cannot move {0:?}'s leads to {0:?} itself")]
    SameAgent(String),
    #[error(
        "pool {pool:?} has no available member to take {agent:?}'s leads{}",
        skipped_list(skipped)
    )]
    NoAvailableMember {
        pool: String,
        agent: String,
        skipped: Vec<SkippedAgent>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn skipped_list(skipped: &[SkippedAgent]) -> String {
    if skipped.is_empty() {
        return String::new();
    }
    let names: Vec<String> = skipped
        .iter()
        .map(|s| format!("{} ({})", s.agent, s.why.as_str()))
        .collect();
    format!(" (skipped: {})", names.join(", "))
}

impl From<sqlx::Error> for ChangeError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

impl ChangeError {
    /// True when the request itself was wrong (exit 2), false for a runtime failure.
    pub fn is_invalid_input(&self) -> bool {
        !matches!(self, Self::Store(_))
    }
}

/// Where a manual change puts a lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManualTarget {
    Agent(String),
    Queue(String),
    Unassigned,
}

impl ManualTarget {
    pub fn status(&self) -> LeadStatus {
        match self {
            Self::Agent(_) => LeadStatus::Assigned,
            Self::Queue(_) => LeadStatus::Queued,
            Self::Unassigned => LeadStatus::Unassigned,
        }
    }

    pub fn owner_id(&self) -> Option<&str> {
        match self {
            Self::Agent(a) => Some(a),
            _ => None,
        }
    }

    pub fn queue(&self) -> Option<&str> {
        match self {
            Self::Queue(q) => Some(q),
            _ => None,
        }
    }
}

/// A lead's owner state as on its `leads` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeadState {
    pub status: LeadStatus,
    pub owner_id: Option<String>,
    pub queue: Option<String>,
    pub pool: Option<String>,
    pub rule: Option<String>,
    pub unassigned_since: Option<DateTime<Utc>>,
}

impl LeadState {
    /// Whether the lead already is where `target` would put it (rule and pool aside).
    pub fn matches(&self, target: &ManualTarget) -> bool {
        self.status == target.status()
            && self.owner_id.as_deref() == target.owner_id()
            && self.queue.as_deref() == target.queue()
    }
}

/// What `reassign`/`unassign` did.
#[derive(Debug, Clone)]
pub struct Reassigned {
    pub lead_id: String,
    pub before: LeadState,
    pub after: LeadState,
    /// The change's time (`decided_at`, the event's `at`).
    pub at: DateTime<Utc>,
    /// The event written; `None` when the lead already was there and nothing was written.
    pub event: Option<OutboxEvent>,
    /// The target agent's availability (available or halted), for `--to AGENT`.
    pub target: Option<Availability>,
}

/// Locks a lead's row for the rest of the transaction and returns its state.
pub(super) async fn lock_lead(
    conn: &mut PgConnection,
    lead_id: &str,
) -> Result<Option<LeadState>, StoreError> {
    type Row = (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<DateTime<Utc>>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT status, owner_id, queue, pool, rule, unassigned_since FROM leads
         WHERE lead_id = $1 FOR UPDATE",
    )
    .bind(lead_id)
    .fetch_optional(conn)
    .await?;
    // The CHECK constraint keeps `status` to the three values.
    row.map(|(status, owner_id, queue, pool, rule, unassigned_since)| {
        let status = LeadStatus::parse(&status).ok_or_else(|| {
            StoreError::Unexpected(format!("lead {lead_id:?} has unknown status {status:?}"))
        })?;
        Ok(LeadState {
            status,
            owner_id,
            queue,
            pool,
            rule,
            unassigned_since,
        })
    })
    .transpose()
}

/// Refuses an inactive agent as a target. A halted one is fine (and returned as such):
/// halting stops automatic routing only.
pub(super) async fn check_target(
    conn: &mut PgConnection,
    agent: &str,
) -> Result<Availability, ChangeError> {
    match availability(conn, agent).await? {
        Availability::Inactive => Err(ChangeError::InactiveAgent(agent.to_owned())),
        other => Ok(other),
    }
}

/// One lead to move, for [`write_manual`].
pub(super) struct ManualWrite<'a> {
    pub lead_id: &'a str,
    pub target: &'a ManualTarget,
    pub previous_owner: Option<&'a str>,
    /// `routing_decisions.pool`: the pool whose rotation dealt the lead (offboard
    /// `--pool`). The `leads` row keeps `pool` null, as after any manual change.
    pub dealt_by: Option<&'a str>,
    /// `routing_decisions.trace`: null, or what explains a pool deal.
    pub trace: Option<Value>,
}

/// Writes the changes (leads, decisions, outbox) inside the caller's transaction, with
/// one statement per table, and returns the events in input order.
pub(super) async fn write_manual(
    conn: &mut PgConnection,
    writes: &[ManualWrite<'_>],
    now: DateTime<Utc>,
    actor: &str,
    note: Option<&str>,
) -> Result<Vec<OutboxEvent>, StoreError> {
    if writes.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = writes.iter().map(|w| w.lead_id).collect();
    let statuses: Vec<&str> = writes.iter().map(|w| w.target.status().as_str()).collect();
    let owners: Vec<Option<&str>> = writes.iter().map(|w| w.target.owner_id()).collect();
    let queues: Vec<Option<&str>> = writes.iter().map(|w| w.target.queue()).collect();
    let dealt_by: Vec<Option<&str>> = writes.iter().map(|w| w.dealt_by).collect();
    let traces: Vec<Option<Json<&Value>>> =
        writes.iter().map(|w| w.trace.as_ref().map(Json)).collect();

    // An ownerless spell starts when a lead is made ownerless and ends when it gets an
    // owner; moving between a queue and unassigned keeps it (SPEC 4), so the sweeper's
    // once-per-spell alert is not raised again for the same wait.
    sqlx::query(
        "UPDATE leads l SET status = u.status, owner_id = u.owner_id, queue = u.queue,
                pool = NULL, rule = NULL, decided_at = $5,
                unassigned_since = CASE WHEN u.owner_id IS NULL
                                        THEN COALESCE(l.unassigned_since, $5) END
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[])
              AS u(lead_id, status, owner_id, queue)
         WHERE l.lead_id = u.lead_id",
    )
    .bind(&ids)
    .bind(&statuses)
    .bind(&owners)
    .bind(&queues)
    .bind(now)
    .execute(&mut *conn)
    .await?;

    sqlx::query(
        "INSERT INTO routing_decisions (lead_id, status, owner_id, queue, pool, rule, trace, ruleset, decided_at, actor, note)
         SELECT lead_id, status, owner_id, queue, pool, NULL, trace, NULL, $7, $8, $9
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[])
              WITH ORDINALITY AS u(lead_id, status, owner_id, queue, pool, trace, n)
         ORDER BY n",
    )
    .bind(&ids)
    .bind(&statuses)
    .bind(&owners)
    .bind(&queues)
    .bind(&dealt_by)
    .bind(&traces)
    .bind(now)
    .bind(actor)
    .bind(note)
    .execute(&mut *conn)
    .await?;

    let events: Vec<OutboxEvent> = writes
        .iter()
        .map(|w| {
            OutboxEvent::lead_change(&LeadChange {
                lead_id: w.lead_id,
                status: w.target.status(),
                owner_id: w.target.owner_id(),
                queue: w.target.queue(),
                // The event mirrors the `leads` row: a manual change has no rule or pool.
                pool: None,
                rule: None,
                at: now,
                actor,
                previous_owner_id: w.previous_owner,
                note,
            })
        })
        .collect();
    outbox::insert_events(conn, &events).await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(OUTBOX_CHANNEL)
        .execute(&mut *conn)
        .await?;
    Ok(events)
}

impl Store {
    /// Moves one lead to `target` (an agent, a queue, or unassigned), recorded as
    /// `actor`'s decision with `note`. Refuses an unknown lead and an inactive agent.
    /// A lead already there is left alone (nothing written, `event` is `None`).
    pub async fn reassign(
        &self,
        lead_id: &str,
        target: &ManualTarget,
        actor: &str,
        note: Option<&str>,
    ) -> Result<Reassigned, ChangeError> {
        let mut tx = self.pool.begin().await?;
        // The routing lock first, in the order batches and offboarding take their locks
        // (so no deadlock): an offboarding then cannot commit between our check that
        // the agent is active and our commit, which would strand the lead with an
        // inactive owner. Batches are short; the wait is too.
        let now = lock_routing(&mut tx).await?;
        let before = lock_lead(&mut tx, lead_id)
            .await?
            .ok_or_else(|| ChangeError::UnknownLead(lead_id.to_owned()))?;
        let availability = match target {
            ManualTarget::Agent(agent) => Some(check_target(&mut tx, agent).await?),
            _ => None,
        };
        if before.matches(target) {
            tx.commit().await?;
            return Ok(Reassigned {
                lead_id: lead_id.to_owned(),
                after: before.clone(),
                before,
                at: now,
                event: None,
                target: availability,
            });
        }
        let write = ManualWrite {
            lead_id,
            target,
            previous_owner: before.owner_id.as_deref(),
            dealt_by: None,
            trace: None,
        };
        let mut events = write_manual(&mut tx, &[write], now, actor, note).await?;
        tx.commit().await?;
        let after = LeadState {
            status: target.status(),
            owner_id: target.owner_id().map(str::to_owned),
            queue: target.queue().map(str::to_owned),
            pool: None,
            rule: None,
            unassigned_since: match target.owner_id() {
                Some(_) => None,
                None => Some(before.unassigned_since.unwrap_or(now)),
            },
        };
        Ok(Reassigned {
            lead_id: lead_id.to_owned(),
            before,
            after,
            at: now,
            event: events.pop(),
            target: availability,
        })
    }
}
