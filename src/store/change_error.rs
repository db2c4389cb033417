//! Why a change of a lead was refused, or lost a race: one error type for every change
//! (reassign, unassign, assignees, claim, offboard), which the CLI maps to exit codes
//! and the API to HTTP statuses.
use super::StoreError;
use super::decisions::LatestChange;
use crate::routing::{LeadStatus, SkippedAgent};
use chrono::{DateTime, Utc};

/// Why a change was refused. Nothing was written in any case. [`ChangeError::Conflict`]
/// is a lost race (exit 3, HTTP 409), [`ChangeError::Store`] a runtime failure (exit 1),
/// every other variant the caller's input (exit 2).
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
    /// The agent may not do this (claim from a queue they are not a member or
    /// manager of).
    #[error("{agent:?} may not claim lead {lead_id:?}: {why}")]
    NotAllowed {
        lead_id: String,
        agent: String,
        why: String,
    },
    /// An assignees change that cannot be made as asked.
    #[error("{0}")]
    InvalidAssignees(String),
    /// The lead is not (or no longer) in the state the change needs.
    #[error("{0}")]
    Conflict(Box<Conflict>),
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
    /// True when the request itself was wrong (exit 2), false for a conflict or a
    /// runtime failure.
    pub fn is_invalid_input(&self) -> bool {
        !matches!(self, Self::Store(_) | Self::Conflict(_))
    }

    /// True when the lead changed under the request (exit 3).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict(_))
    }
}

/// A lead that is not where a change needs it, and what its latest change was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub lead_id: String,
    /// What the change needed: "queued".
    pub expected: String,
    pub status: LeadStatus,
    pub owner_id: Option<String>,
    pub queue: Option<String>,
    /// The latest decision: who made it, how, when (`None` if it has none).
    pub actor: Option<String>,
    pub via: Option<String>,
    pub at: Option<DateTime<Utc>>,
}

impl Conflict {
    pub(super) fn new(lead_id: &str, expected: &str, latest: LatestChange) -> Conflict {
        let p = latest.placement;
        Conflict {
            lead_id: lead_id.to_owned(),
            expected: expected.to_owned(),
            status: p.status,
            owner_id: p.owner_id,
            queue: p.queue,
            actor: Some(latest.actor),
            via: Some(latest.via),
            at: Some(latest.decided_at),
        }
    }
}

impl std::fmt::Display for Conflict {
    /// `lead "L1" is no longer queued: assigned to bob by claim at 2026-11-23 05:28:36 UTC`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let now = match self.status {
            LeadStatus::Assigned => {
                format!("assigned to {}", self.owner_id.as_deref().unwrap_or("?"))
            }
            LeadStatus::Queued => format!("queued in {}", self.queue.as_deref().unwrap_or("?")),
            LeadStatus::Unassigned => "unassigned".to_owned(),
        };
        write!(
            f,
            "lead {:?} is no longer {}: {now}",
            self.lead_id, self.expected
        )?;
        if let Some(via) = &self.via {
            write!(f, " by {via}")?;
            if let Some(actor) = self
                .actor
                .as_deref()
                .filter(|a| Some(*a) != self.owner_id.as_deref())
            {
                write!(f, " ({actor})")?;
            }
        }
        if let Some(at) = self.at {
            write!(f, " at {}", at.format("%Y-%m-%d %H:%M:%S UTC"))?;
        }
        Ok(())
    }
}
