//! The one write path of every change made to existing leads (reassign, unassign,
//! claim, assignees, offboard, and what later issues add): in the caller's transaction,
//! with one statement, the `leads` rows, one `routing_decisions` row per change (with
//! its `via`), the `lead_assignees` rows added and removed, the outbox events, and the
//! rotations a pool deal stepped.
use super::assignees::{NewAssignees, RemovedAssignees};
use super::decisions::{Decided, Explained, NewDecisions, Via};
use super::events::{AssigneesDelta, LeadEvent, OutboxEvent};
use super::leads::{LeadChanges, LeadState};
use super::placement::PlacementRef;
use super::write::Write;
use super::{StoreError, outbox, rotations};
use crate::routing::PoolRotation;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

/// A change of one lead's owner state.
pub(super) struct ManualWrite<'a> {
    pub lead_id: &'a str,
    /// Its `leads` row after the change ([`ManualTarget::state_after`](super::ManualTarget)).
    pub after: LeadState,
    pub previous_owner: Option<&'a str>,
    /// `routing_decisions.pool`: the pool whose rotation dealt the lead (offboard
    /// `--pool`). The `leads` row keeps `pool` null, as after any manual change.
    pub dealt_by: Option<&'a str>,
    /// `routing_decisions.trace`: null, or what explains a pool deal.
    pub trace: Option<Value>,
    pub via: Via,
    /// The lead's assignees before the change: they stay, except the new owner, who
    /// leaves the list (an owner is not also an assignee).
    pub assignees: Vec<String>,
}

impl ManualWrite<'_> {
    /// The assignees after the change.
    pub fn assignees_after(&self) -> Vec<String> {
        let owner = self.after.placement.owner_id.as_deref();
        self.assignees
            .iter()
            .filter(|a| Some(a.as_str()) != owner)
            .cloned()
            .collect()
    }

    /// The new owner, if they were an assignee (their row goes).
    fn owner_leaving_assignees(&self) -> Option<&str> {
        let owner = self.after.placement.owner_id.as_deref()?;
        self.assignees.iter().any(|a| a == owner).then_some(owner)
    }
}

/// A change of one lead's assignees only: its owner state stays.
pub(super) struct AssigneesWrite<'a> {
    pub lead_id: &'a str,
    /// The lead's state, as it stays.
    pub state: LeadState,
    /// Its assignees before, in order.
    pub before: Vec<String>,
    /// Agents added (not among `before`, not the owner) and removed (among `before`).
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl AssigneesWrite<'_> {
    /// The assignees after the change: those before that stay, in order, then those
    /// added, in order.
    pub fn after(&self) -> Vec<String> {
        self.before
            .iter()
            .filter(|a| !self.removed.contains(a))
            .chain(&self.added)
            .cloned()
            .collect()
    }
}

/// Who makes a change, when, and why.
#[derive(Debug, Clone, Copy)]
pub(super) struct ChangedBy<'a> {
    pub now: DateTime<Utc>,
    pub actor: &'a str,
    pub note: Option<&'a str>,
    /// The bulk pass the changes belong to.
    pub bulk_id: Option<Uuid>,
}

/// Writes the changes inside the caller's transaction, with one statement, notifies
/// the relays, and returns the events: the owner changes' in input order, then the
/// assignee changes'.
pub(super) async fn write_changes(
    conn: &mut PgConnection,
    moves: &[ManualWrite<'_>],
    assignee_changes: &[AssigneesWrite<'_>],
    by: ChangedBy<'_>,
    rotations: &[(String, PoolRotation)],
) -> Result<Vec<OutboxEvent>, StoreError> {
    if moves.is_empty() && assignee_changes.is_empty() {
        return Ok(Vec::new());
    }
    let mut leads = LeadChanges::new(by.now);
    let mut decisions = NewDecisions::new(Decided {
        at: by.now,
        actor: by.actor,
        ruleset: None,
        note: by.note,
        bulk_id: by.bulk_id,
    });
    let mut added = NewAssignees::new(by.now, by.actor);
    let mut removed = RemovedAssignees::default();
    let mut events = Vec::with_capacity(moves.len() + assignee_changes.len());
    for m in moves {
        leads.push(m.lead_id, &m.after);
        let row = PlacementRef::from(&m.after.placement);
        let decided = PlacementRef {
            pool: m.dealt_by,
            ..row
        };
        decisions.push(
            m.lead_id,
            decided,
            m.trace.as_ref().map(Explained::Other),
            m.via,
        );
        if let Some(owner) = m.owner_leaving_assignees() {
            removed.push(m.lead_id, owner);
        }
        // The event mirrors the `leads` row: a manual change has no rule or pool.
        events.push(OutboxEvent::lead_change(&LeadEvent {
            lead_id: m.lead_id,
            to: row,
            at: by.now,
            actor: by.actor,
            via: m.via,
            assignees: &m.assignees_after(),
            assignees_changed: None,
            previous_owner_id: m.previous_owner,
            note: by.note,
            bulk_id: by.bulk_id,
        }));
    }
    // What explains an assignees decision row: who came and went, and the list after.
    let traces: Vec<Value> = assignee_changes
        .iter()
        .map(|c| json!({"added": c.added, "removed": c.removed, "assignees": c.after()}))
        .collect();
    for (c, trace) in assignee_changes.iter().zip(&traces) {
        let at = PlacementRef::from(&c.state.placement);
        decisions.push(c.lead_id, at, Some(Explained::Other(trace)), Via::Assignees);
        for a in &c.added {
            added.push(c.lead_id, a, by.note);
        }
        for a in &c.removed {
            removed.push(c.lead_id, a);
        }
        events.push(OutboxEvent::lead_change(&LeadEvent {
            lead_id: c.lead_id,
            to: at,
            at: by.now,
            actor: by.actor,
            via: Via::Assignees,
            assignees: &c.after(),
            assignees_changed: Some(AssigneesDelta {
                added: &c.added,
                removed: &c.removed,
            }),
            previous_owner_id: None,
            note: by.note,
            bulk_id: by.bulk_id,
        }));
    }
    let mut write = Write::new();
    leads.write(&mut write);
    decisions.write(&mut write);
    removed.write(&mut write);
    added.write(&mut write);
    outbox::insert(&mut write, &events);
    rotations::upsert(&mut write, rotations);
    write.execute(&mut *conn).await?;
    outbox::notify_relays(conn).await?;
    Ok(events)
}
