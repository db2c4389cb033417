//! Claiming a queued lead (`leads claim`, and the API's claim): a manager or member of
//! the lead's queue takes it as its owner (SPEC 3.2). Of several claims racing for one
//! lead exactly one wins: the lead's row is locked (`SELECT … FOR UPDATE`) and its
//! status read under the lock, so every other claim waits for the winner's commit and
//! then reads the lead as assigned. No rotation moves.
use super::agents::availability;
use super::assignees;
use super::change_error::{ChangeError, Conflict};
use super::changes::{ChangedBy, ManualWrite, write_changes};
use super::decisions::{self, Via};
use super::events::OutboxEvent;
use super::leads::{self, LeadState};
use super::locks::{self, Touches};
use super::manual::ManualTarget;
use super::{Store, StoreError};
use crate::routing::{Availability, LeadStatus};
use crate::rules::{QueueRole, Ruleset};
use chrono::{DateTime, Utc};

/// A claim that was made.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub lead_id: String,
    /// The queue it was claimed from.
    pub queue: String,
    /// Why the claimer could.
    pub role: QueueRole,
    pub at: DateTime<Utc>,
    pub before: LeadState,
    pub after: LeadState,
    pub event: OutboxEvent,
    /// The claimer's availability (a halted agent may claim).
    pub claimer: Availability,
    /// The lead's assignees now (the claimer left them, if they were one).
    pub assignees: Vec<String>,
}

/// A claim's result, as the `leadrouter_claims_total{result}` counter labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimResult {
    Won,
    /// The lead was not queued (any more): another claim or change got there first.
    Conflict,
    /// The claimer may not claim it (not a member or manager, inactive, unknown lead).
    Refused,
}

impl ClaimResult {
    /// The result of a [`Store::claim`] call; `None` for a runtime failure (counted
    /// nowhere: the claim was neither made nor refused).
    pub fn of(result: &Result<Claimed, ChangeError>) -> Option<ClaimResult> {
        match result {
            Ok(_) => Some(Self::Won),
            Err(ChangeError::Store(_)) => None,
            Err(e) if e.is_conflict() => Some(Self::Conflict),
            Err(_) => Some(Self::Refused),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Won => "won",
            Self::Conflict => "conflict",
            Self::Refused => "refused",
        }
    }
}

impl Store {
    /// `agent` claims queued lead `lead_id` as its owner, with `note`; `rules` (the
    /// rules in force) say who may claim from which queue. Refused (nothing written):
    /// an unknown lead, an agent who is neither a manager nor a member of the lead's
    /// queue, an inactive agent. A conflict (nothing written): the lead is not queued,
    /// e.g. another claim won; the error says how it is now. The decision row's
    /// `actor` is the agent and its `via` is `claim`; its event is `lead.assigned`.
    pub async fn claim(
        &self,
        lead_id: &str,
        agent: &str,
        rules: &Ruleset,
        note: Option<&str>,
    ) -> Result<Claimed, ChangeError> {
        let mut tx = self.pool.begin().await?;
        let ids = [lead_id];
        let touches = Touches {
            leads: &ids,
            ..Touches::default()
        };
        let now = locks::lock(&mut tx, &touches).await?;
        // The row lock decides the race: a concurrent claim waits here until the
        // winner commits, then reads the lead as assigned.
        let before = leads::LOCK_STATE
            .one(&mut tx, lead_id)
            .await?
            .ok_or_else(|| ChangeError::UnknownLead(lead_id.to_owned()))?;
        let queue = match (&before.placement.status, &before.placement.queue) {
            (LeadStatus::Queued, Some(q)) => q.clone(),
            _ => return Err(conflict(&mut tx, lead_id, &before).await?),
        };
        let Some(role) = rules.claim_role(&queue, agent) else {
            let why = match rules.queue(&queue) {
                Some(_) => format!(
                    "they are neither a manager nor a member of queue {queue:?} in the rules in force (ruleset {})",
                    rules.hash()
                ),
                None => format!(
                    "queue {queue:?} has no managers or members in the rules in force (ruleset {}): only admins hand its leads out (`leads reassign`)",
                    rules.hash()
                ),
            };
            return Err(ChangeError::NotAllowed {
                lead_id: lead_id.to_owned(),
                agent: agent.to_owned(),
                why,
            });
        };
        let claimer = match availability(&mut tx, agent).await? {
            Availability::Inactive => return Err(ChangeError::InactiveAgent(agent.to_owned())),
            other => other,
        };
        let current = assignees::of_leads(&mut tx, &ids)
            .await?
            .remove(lead_id)
            .unwrap_or_default();
        let write = ManualWrite {
            lead_id,
            after: ManualTarget::Agent(agent.to_owned()).state_after(before.unassigned_since, now),
            previous_owner: None,
            dealt_by: None,
            trace: None,
            via: Via::Claim,
            assignees: current,
        };
        let by = ChangedBy {
            now,
            actor: agent,
            note,
            bulk_id: None,
        };
        let mut events = write_changes(&mut tx, std::slice::from_ref(&write), &[], by, &[]).await?;
        tx.commit().await?;
        let event = events
            .pop()
            .ok_or_else(|| StoreError::Unexpected("a claim wrote no event".into()))?;
        Ok(Claimed {
            lead_id: lead_id.to_owned(),
            queue,
            role,
            at: now,
            assignees: write.assignees_after(),
            after: write.after,
            before,
            event,
            claimer,
        })
    }
}

/// The conflict for a lead found not queued, told by its latest decision.
async fn conflict(
    conn: &mut sqlx::PgConnection,
    lead_id: &str,
    now: &LeadState,
) -> Result<ChangeError, ChangeError> {
    let conflict = match decisions::LATEST.one(conn, lead_id).await? {
        Some(latest) => Conflict::new(lead_id, "queued", latest),
        // No decision row (a hand-inserted lead): what the row says.
        None => Conflict {
            lead_id: lead_id.to_owned(),
            expected: "queued".to_owned(),
            status: now.placement.status,
            owner_id: now.placement.owner_id.clone(),
            queue: now.placement.queue.clone(),
            actor: None,
            via: None,
            at: None,
        },
    };
    Ok(ChangeError::Conflict(Box::new(conflict)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_result_has_its_counter_label() {
        let refused: Result<Claimed, ChangeError> = Err(ChangeError::UnknownLead("L".into()));
        assert_eq!(ClaimResult::of(&refused), Some(ClaimResult::Refused));
        let lost = Err(ChangeError::Conflict(Box::new(Conflict {
            lead_id: "L".into(),
            expected: "queued".into(),
            status: LeadStatus::Assigned,
            owner_id: Some("bob".into()),
            queue: None,
            actor: None,
            via: None,
            at: None,
        })));
        assert_eq!(ClaimResult::of(&lost), Some(ClaimResult::Conflict));
        let down = Err(ChangeError::Store(StoreError::Db(
            sqlx::Error::PoolTimedOut,
        )));
        assert_eq!(ClaimResult::of(&down), None, "a failure is neither");
        let labels = [
            ClaimResult::Won,
            ClaimResult::Conflict,
            ClaimResult::Refused,
        ]
        .map(ClaimResult::as_str);
        assert_eq!(labels, ["won", "conflict", "refused"]);
    }
}
