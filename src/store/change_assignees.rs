//! Changing a lead's assignees by hand (`leads assignees`, and the API's): one
//! decision row (`via: assignees`, the lead's placement as it stays) and one
//! `lead.assignees_changed` event with `added`, `removed` and the list after.
use super::Store;
use super::agents::availability;
use super::assignees;
use super::change_error::ChangeError;
use super::changes::{AssigneesWrite, ChangedBy, write_changes};
use super::events::OutboxEvent;
use super::leads::{self, LeadState};
use super::locks::{self, Touches};
use crate::routing::Availability;
use chrono::{DateTime, Utc};

/// What a `leads assignees` change did.
#[derive(Debug, Clone)]
pub struct AssigneesChanged {
    pub lead_id: String,
    pub at: DateTime<Utc>,
    /// The lead's state (unchanged).
    pub state: LeadState,
    pub before: Vec<String>,
    pub after: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Asked to add, but already assignees: nothing to do for them.
    pub already: Vec<String>,
    /// Asked to remove, but not assignees.
    pub not_assignees: Vec<String>,
    /// Of `added`, the halted ones (allowed by hand; the router adds none).
    pub halted: Vec<String>,
    /// The event; `None` when nothing changed and nothing was written.
    pub event: Option<OutboxEvent>,
}

impl Store {
    /// Adds `add` to and removes `remove` from lead `lead_id`'s assignees, recorded as
    /// `actor`'s with `note`. Refused (nothing written): an unknown lead, an inactive
    /// agent to add, the lead's owner to add (an owner is not also an assignee), an
    /// agent both added and removed, nothing asked. Adding an assignee again or
    /// removing someone who is not one is no change; when nothing changes nothing is
    /// written (`event` is `None`).
    pub async fn change_assignees(
        &self,
        lead_id: &str,
        add: &[String],
        remove: &[String],
        actor: &str,
        note: Option<&str>,
    ) -> Result<AssigneesChanged, ChangeError> {
        let (add, remove) = (unique(add), unique(remove));
        if add.is_empty() && remove.is_empty() {
            return Err(ChangeError::InvalidAssignees(
                "nothing to change: name agents to add or to remove".into(),
            ));
        }
        if let Some(both) = add.iter().find(|a| remove.contains(a)) {
            return Err(ChangeError::InvalidAssignees(format!(
                "{both:?} is both to add and to remove"
            )));
        }
        let mut tx = self.pool.begin().await?;
        let ids = [lead_id];
        let touches = Touches {
            leads: &ids,
            ..Touches::default()
        };
        // The routing lock, as for reassignments: no offboarding can commit between our
        // check that an agent is active and our commit.
        let now = locks::lock(&mut tx, &touches).await?;
        let state = leads::LOCK_STATE
            .one(&mut tx, lead_id)
            .await?
            .ok_or_else(|| ChangeError::UnknownLead(lead_id.to_owned()))?;
        if let Some(owner) = state.placement.owner_id.as_deref()
            && add.iter().any(|a| a == owner)
        {
            return Err(ChangeError::InvalidAssignees(format!(
                "{owner:?} owns lead {lead_id:?}: an owner is not also an assignee (nothing changed)"
            )));
        }
        let mut halted = Vec::new();
        for agent in &add {
            match availability(&mut tx, agent).await? {
                Availability::Inactive => return Err(ChangeError::InactiveAgent(agent.clone())),
                Availability::Halted => halted.push(agent.clone()),
                // Working hours and caps hold back pool deals only, never assignees.
                Availability::Available
                | Availability::OffHours
                | Availability::DailyCap
                | Availability::OpenCap => {}
            }
        }
        let before = assignees::of_leads(&mut tx, &ids)
            .await?
            .remove(lead_id)
            .unwrap_or_default();
        let (already, added): (Vec<String>, Vec<String>) =
            add.into_iter().partition(|a| before.contains(a));
        let (removed, not_assignees): (Vec<String>, Vec<String>) =
            remove.into_iter().partition(|a| before.contains(a));
        halted.retain(|h| added.contains(h));
        let mut done = AssigneesChanged {
            lead_id: lead_id.to_owned(),
            at: now,
            state: state.clone(),
            after: before.clone(),
            before: before.clone(),
            added: Vec::new(),
            removed: Vec::new(),
            already,
            not_assignees,
            halted,
            event: None,
        };
        if added.is_empty() && removed.is_empty() {
            tx.commit().await?;
            return Ok(done);
        }
        let write = AssigneesWrite {
            lead_id,
            state,
            before,
            added,
            removed,
        };
        let by = ChangedBy {
            now,
            actor,
            note,
            bulk_id: None,
        };
        let mut events = write_changes(&mut tx, &[], std::slice::from_ref(&write), by, &[]).await?;
        tx.commit().await?;
        done.after = write.after();
        done.added = write.added;
        done.removed = write.removed;
        done.event = events.pop();
        Ok(done)
    }
}

/// The names, trimmed, each once, in order; empty ones dropped.
fn unique(names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        if !out.iter().any(|o| o == n) {
            out.push(n.to_owned());
        }
    }
    out
}
