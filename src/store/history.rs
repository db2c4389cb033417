//! One lead as stored, with its decision history (`leadrouter leads show`).
use super::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;

/// The `leads` row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadRecord {
    pub lead_id: String,
    pub status: String,
    pub owner_id: Option<String>,
    pub queue: Option<String>,
    pub pool: Option<String>,
    pub rule: Option<String>,
    pub received_at: DateTime<Utc>,
    pub decided_at: DateTime<Utc>,
    pub unassigned_since: Option<DateTime<Utc>>,
    pub payload: Value,
}

/// One `routing_decisions` row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionRecord {
    pub id: i64,
    pub status: String,
    pub owner_id: Option<String>,
    pub queue: Option<String>,
    pub pool: Option<String>,
    pub rule: Option<String>,
    /// The router's explain trace; null for manual changes, except pool deals by
    /// `agents offboard --pool`, which record the pick (see `store::offboard`).
    pub trace: Option<Value>,
    pub ruleset: Option<String>,
    pub decided_at: DateTime<Utc>,
    pub actor: String,
    pub note: Option<String>,
}

/// One `unassigned_alerts` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertRecord {
    pub raised_at: DateTime<Utc>,
    pub unassigned_since: DateTime<Utc>,
}

/// A lead, its decisions oldest first, and the alerts raised for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadHistory {
    pub lead: LeadRecord,
    pub decisions: Vec<DecisionRecord>,
    pub alerts: Vec<AlertRecord>,
}

type LeadTuple = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Json<Value>,
);

type DecisionTuple = (
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<Json<Value>>,
    Option<String>,
    DateTime<Utc>,
    String,
    Option<String>,
);

impl Store {
    /// The lead and its history, or `None` when no lead has that id. Read in one
    /// REPEATABLE READ transaction so the row and its history agree.
    pub async fn lead_history(&self, lead_id: &str) -> Result<Option<LeadHistory>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let lead: Option<LeadTuple> = sqlx::query_as(
            "SELECT lead_id, status, owner_id, queue, pool, rule, received_at, decided_at,
                    unassigned_since, payload
             FROM leads WHERE lead_id = $1",
        )
        .bind(lead_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(l) = lead else {
            return Ok(None);
        };
        let decisions: Vec<DecisionTuple> = sqlx::query_as(
            "SELECT id, status, owner_id, queue, pool, rule, trace, ruleset, decided_at, actor, note
             FROM routing_decisions WHERE lead_id = $1 ORDER BY id",
        )
        .bind(lead_id)
        .fetch_all(&mut *tx)
        .await?;
        let alerts: Vec<(DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
            "SELECT raised_at, unassigned_since FROM unassigned_alerts WHERE lead_id = $1 ORDER BY id",
        )
        .bind(lead_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(LeadHistory {
            lead: LeadRecord {
                lead_id: l.0,
                status: l.1,
                owner_id: l.2,
                queue: l.3,
                pool: l.4,
                rule: l.5,
                received_at: l.6,
                decided_at: l.7,
                unassigned_since: l.8,
                payload: l.9.0,
            },
            decisions: decisions
                .into_iter()
                .map(|d| DecisionRecord {
                    id: d.0,
                    status: d.1,
                    owner_id: d.2,
                    queue: d.3,
                    pool: d.4,
                    rule: d.5,
                    trace: d.6.map(|Json(v)| v),
                    ruleset: d.7,
                    decided_at: d.8,
                    actor: d.9,
                    note: d.10,
                })
                .collect(),
            alerts: alerts
                .into_iter()
                .map(|(raised_at, unassigned_since)| AlertRecord {
                    raised_at,
                    unassigned_since,
                })
                .collect(),
        }))
    }
}
