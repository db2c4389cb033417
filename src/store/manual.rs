//! Manual changes of a lead's owner state (`leads reassign`, `leads unassign`, and the
//! bulk moves of `agents offboard`): SPEC section 4, "Manual changes".
//!
//! Every change writes, in one transaction, the new state on `leads` (with `rule` and
//! `pool` null: no rule decided it), an append-only `routing_decisions` row carrying
//! the actor and note (`ruleset` null), and its outbox event with `previous_owner_id`
//! and `note`: through the same table writers as the router's batches. No rotation
//! moves, except an offboarding's deals through a pool.
use super::agents::availability;
use super::decisions::{Decided, Explained, NewDecisions};
use super::events::{LeadChange, OutboxEvent};
use super::leads::{self, LeadChanges, LeadState};
use super::placement::PlacementRef;
use super::snapshot::lock_routing;
use super::write::Write;
use super::{Store, StoreError, outbox, rotations};
use crate::routing::{Availability, LeadStatus, PoolRotation, SkippedAgent};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

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

    /// The placement a manual change makes: no rule and no pool decided it.
    fn placement(&self) -> PlacementRef<'_> {
        PlacementRef {
            status: self.status(),
            owner_id: self.owner_id(),
            queue: self.queue(),
            pool: None,
            rule: None,
        }
    }

    /// The lead's state after the change at `now`, its ownerless spell so far `running`.
    pub(super) fn state_after(
        &self,
        running: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> LeadState {
        LeadState::after_change(self.placement(), running, now)
    }
}

impl LeadState {
    /// Whether the lead already is where `target` would put it (rule and pool aside).
    pub fn matches(&self, target: &ManualTarget) -> bool {
        let p = &self.placement;
        p.status == target.status()
            && p.owner_id.as_deref() == target.owner_id()
            && p.queue.as_deref() == target.queue()
    }
}

/// What `reassign`/`unassign` did.
#[derive(Debug, Clone)]
pub struct Reassigned {
    pub lead_id: String,
    /// The change's time (`decided_at`, the event's `at`).
    pub at: DateTime<Utc>,
    pub before: LeadState,
    pub after: LeadState,
    /// The event written; `None` when the lead already was there and nothing was written.
    pub event: Option<OutboxEvent>,
    /// The target agent's availability (available or halted), for `--to AGENT`.
    pub target: Option<Availability>,
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
    /// Its `leads` row after the change ([`ManualTarget::state_after`]).
    pub after: LeadState,
    pub previous_owner: Option<&'a str>,
    /// `routing_decisions.pool`: the pool whose rotation dealt the lead (offboard
    /// `--pool`). The `leads` row keeps `pool` null, as after any manual change.
    pub dealt_by: Option<&'a str>,
    /// `routing_decisions.trace`: null, or what explains a pool deal.
    pub trace: Option<Value>,
}

/// Who makes a manual change, when, and why.
#[derive(Debug, Clone, Copy)]
pub(super) struct ChangedBy<'a> {
    pub now: DateTime<Utc>,
    pub actor: &'a str,
    pub note: Option<&'a str>,
}

/// Writes the changes (leads, decisions, outbox, and the `rotations` a pool deal
/// stepped) inside the caller's transaction, with one statement, notifies the relays,
/// and returns the events in input order.
pub(super) async fn write_manual(
    conn: &mut PgConnection,
    writes: &[ManualWrite<'_>],
    by: ChangedBy<'_>,
    rotations: &[(String, PoolRotation)],
) -> Result<Vec<OutboxEvent>, StoreError> {
    if writes.is_empty() {
        return Ok(Vec::new());
    }
    let mut leads = LeadChanges::new(by.now);
    let mut decisions = NewDecisions::new(Decided {
        at: by.now,
        actor: by.actor,
        ruleset: None,
        note: by.note,
    });
    let mut events = Vec::with_capacity(writes.len());
    for w in writes {
        leads.push(w.lead_id, &w.after);
        let row = PlacementRef::from(&w.after.placement);
        let decided = PlacementRef {
            pool: w.dealt_by,
            ..row
        };
        decisions.push(w.lead_id, decided, w.trace.as_ref().map(Explained::Other));
        // The event mirrors the `leads` row: a manual change has no rule or pool.
        events.push(OutboxEvent::lead_change(&LeadChange {
            lead_id: w.lead_id,
            to: row,
            at: by.now,
            actor: by.actor,
            previous_owner_id: w.previous_owner,
            note: by.note,
        }));
    }
    let mut write = Write::new();
    leads.write(&mut write);
    decisions.write(&mut write);
    outbox::insert(&mut write, &events);
    rotations::upsert(&mut write, rotations);
    write.execute(&mut *conn).await?;
    outbox::notify_relays(conn).await?;
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
        let before = leads::LOCK_STATE
            .one(&mut tx, lead_id)
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
                at: now,
                after: before.clone(),
                before,
                event: None,
                target: availability,
            });
        }
        let write = ManualWrite {
            lead_id,
            after: target.state_after(before.unassigned_since, now),
            previous_owner: before.placement.owner_id.as_deref(),
            dealt_by: None,
            trace: None,
        };
        let by = ChangedBy { now, actor, note };
        let mut events = write_manual(&mut tx, std::slice::from_ref(&write), by, &[]).await?;
        tx.commit().await?;
        Ok(Reassigned {
            lead_id: lead_id.to_owned(),
            at: now,
            after: write.after,
            before,
            event: events.pop(),
            target: availability,
        })
    }
}
