//! One lead as stored, with its decision history (`leadrouter leads show`).
use super::alerts::{self, AlertRecord};
use super::assignees::{self, AssigneeRecord};
use super::decisions::{self, DecisionRecord};
use super::leads::{self, LeadRecord};
use super::{Store, StoreError};
use serde::Serialize;

/// A lead, its assignees, its decisions oldest first, and the alerts raised for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadHistory {
    pub lead: LeadRecord,
    /// Who works it besides its owner, in the order they were added.
    pub assignees: Vec<AssigneeRecord>,
    pub decisions: Vec<DecisionRecord>,
    pub alerts: Vec<AlertRecord>,
}

impl Store {
    /// The lead and its history, or `None` when no lead has that id. Read in one
    /// REPEATABLE READ transaction so the row and its history agree.
    pub async fn lead_history(&self, lead_id: &str) -> Result<Option<LeadHistory>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let Some(lead) = leads::RECORD.one(&mut tx, lead_id).await? else {
            return Ok(None);
        };
        let assignees = assignees::OF_LEAD.all(&mut tx, lead_id).await?;
        let decisions = decisions::HISTORY.all(&mut tx, lead_id).await?;
        let alerts = alerts::RAISED_FOR.all(&mut tx, lead_id).await?;
        tx.commit().await?;
        Ok(Some(LeadHistory {
            lead,
            assignees,
            decisions,
            alerts,
        }))
    }
}
