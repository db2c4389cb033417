//! Manual changes of a lead's owner state (`leads reassign`, `leads unassign`; the
//! bulk moves of `agents offboard` and claims use the same pieces): SPEC section 4,
//! "Manual changes".
//!
//! Every change writes, in one transaction, the new state on `leads` (with `rule` and
//! `pool` null: no rule decided it), an append-only `routing_decisions` row carrying
//! the actor, note and `via` (`ruleset` null), and its outbox event with
//! `previous_owner_id`, `note` and the assignees after the change: through
//! [`write_changes`](super::changes::write_changes). The assignees stay, except a new
//! owner who was one. No rotation moves, except an offboarding's deals through a pool.
use super::Store;
use super::agents::availability;
use super::assignees;
use super::change_error::ChangeError;
use super::changes::{ChangedBy, ManualWrite, write_changes};
use super::decisions::Via;
use super::events::OutboxEvent;
use super::leads::{self, LeadState};
use super::locks::{self, Touches};
use super::placement::PlacementRef;
use crate::routing::{Availability, LeadStatus};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

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
    /// The lead's assignees after the change (the same as before, but for a new owner
    /// who was one).
    pub assignees: Vec<String>,
    /// The new owner was an assignee and left the list.
    pub owner_was_assignee: bool,
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

impl ManualTarget {
    /// How a change to this target came about, made by hand.
    fn via(&self) -> Via {
        match self {
            Self::Unassigned => Via::Unassign,
            Self::Agent(_) | Self::Queue(_) => Via::Reassign,
        }
    }
}

impl Store {
    /// Moves one lead to `target` (an agent, a queue, or unassigned), recorded as
    /// `actor`'s decision with `note`. Refuses an unknown lead and an inactive agent.
    /// A lead already there is left alone (nothing written, `event` is `None`). Its
    /// assignees stay; a new owner who was one leaves the list.
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
        let ids = [lead_id];
        let touches = Touches {
            leads: &ids,
            ..Touches::default()
        };
        let now = locks::lock(&mut tx, &touches).await?;
        let before = leads::LOCK_STATE
            .one(&mut tx, lead_id)
            .await?
            .ok_or_else(|| ChangeError::UnknownLead(lead_id.to_owned()))?;
        let availability = match target {
            ManualTarget::Agent(agent) => Some(check_target(&mut tx, agent).await?),
            _ => None,
        };
        let current = assignees::of_leads(&mut tx, &ids)
            .await?
            .remove(lead_id)
            .unwrap_or_default();
        if before.matches(target) {
            tx.commit().await?;
            return Ok(Reassigned {
                lead_id: lead_id.to_owned(),
                at: now,
                after: before.clone(),
                before,
                event: None,
                target: availability,
                assignees: current,
                owner_was_assignee: false,
            });
        }
        let write = ManualWrite {
            lead_id,
            after: target.state_after(before.unassigned_since, now),
            previous_owner: before.placement.owner_id.as_deref(),
            dealt_by: None,
            trace: None,
            via: target.via(),
            assignees: current,
        };
        let by = ChangedBy {
            now,
            actor,
            note,
            bulk_id: None,
        };
        let mut events = write_changes(&mut tx, std::slice::from_ref(&write), &[], by, &[]).await?;
        tx.commit().await?;
        let after_assignees = write.assignees_after();
        Ok(Reassigned {
            lead_id: lead_id.to_owned(),
            at: now,
            owner_was_assignee: after_assignees.len() < write.assignees.len(),
            assignees: after_assignees,
            after: write.after,
            before,
            event: events.pop(),
            target: availability,
        })
    }
}
