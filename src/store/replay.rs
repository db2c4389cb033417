//! Reading what `leadrouter replay` re-decides: the leads received in a window, each
//! with its latest *router* decision, and today's routing state. Read-only.
use super::placement::Placement;
use super::snapshot::load_state;
use super::{ROUTER_ACTOR, Store, StoreError};
use crate::lead::{Lead, LeadId};
use crate::routing::{LeadStatus, MemoryState};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde_json::Value;
use sqlx::types::Json;
use std::time::Duration;

/// A window longer than this is clamped to it: "everything" for any real deployment,
/// and well inside PostgreSQL's timestamp range (an absurd `--since 999999999d` must
/// not become an "out of range" error).
const MAX_WINDOW: Duration = Duration::from_secs(1000 * 365 * 86_400);

/// The router's decision as recorded in `routing_decisions`: where it put the lead.
pub type RecordedDecision = Placement;

/// One lead to re-decide.
#[derive(Debug, Clone)]
pub struct ReplayLead {
    /// As received (`received_at` set from the stored column).
    pub lead: Lead,
    /// Its latest decision by the router.
    pub recorded: RecordedDecision,
    /// The assignees that decision added (its deciding rule's, from the trace).
    pub recorded_assignees: Vec<String>,
    /// Someone changed it by hand after that decision (its current owner is theirs,
    /// whatever the rules say).
    pub changed_by_hand: bool,
    /// Its state now (the `leads` row): after a manual change, where the admin put it.
    pub current: CurrentState,
}

/// A lead's owner state on its `leads` row now.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CurrentState {
    #[sqlx(rename = "current_status")]
    pub status: LeadStatus,
    #[sqlx(rename = "current_owner_id")]
    pub owner_id: Option<String>,
    #[sqlx(rename = "current_queue")]
    pub queue: Option<String>,
}

/// What [`Store::replay_window`] read besides the leads.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    /// Leads received at or after this time were read.
    pub start: DateTime<Utc>,
    /// Today's halted agents, sorted.
    pub halted: Vec<String>,
    /// Today's inactive (offboarded) agents, sorted.
    pub inactive: Vec<String>,
    /// Rows that cannot be replayed (a payload that is not an object, an invalid id:
    /// hand-edited rows), skipped and counted.
    pub unreadable: u64,
    /// Leads in the window without any router decision (inserted by hand), skipped.
    pub undecided: u64,
}

/// One row of the window: the lead, its latest router decision, its state now.
#[derive(sqlx::FromRow)]
struct WindowRow {
    lead_id: String,
    received_at: DateTime<Utc>,
    #[sqlx(json)]
    payload: Value,
    #[sqlx(flatten)]
    recorded: RecordedDecision,
    recorded_assignees: Json<Vec<String>>,
    changed_by_hand: bool,
    #[sqlx(flatten)]
    current: CurrentState,
}

impl Store {
    /// Streams the leads received in the last `since` (oldest first, ties by id) to
    /// `visit`, with a state that starts as today's snapshot (halted and inactive
    /// agents, open-lead counts of `least_loaded_agents`, rotations of `pools`) for
    /// `visit` to step in memory. One REPEATABLE READ, READ ONLY transaction: nothing
    /// is written, and the snapshot and the leads are one consistent view.
    pub async fn replay_window(
        &self,
        since: Duration,
        least_loaded_agents: &[String],
        pools: &[String],
        mut visit: impl FnMut(ReplayLead, &mut MemoryState),
    ) -> Result<ReplayWindow, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let start: DateTime<Utc> = sqlx::query_scalar("SELECT now() - make_interval(secs => $1)")
            .bind(since.min(MAX_WINDOW).as_secs_f64())
            .fetch_one(&mut *tx)
            .await?;
        let mut state = load_state(&mut tx, least_loaded_agents, pools).await?;
        let mut halted: Vec<String> = state.halted.iter().cloned().collect();
        let mut inactive: Vec<String> = state.inactive.iter().cloned().collect();
        halted.sort();
        inactive.sort();

        let undecided: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM leads l WHERE l.received_at >= $1
               AND NOT EXISTS (SELECT 1 FROM routing_decisions d
                               WHERE d.lead_id = l.lead_id AND d.actor = $2)",
        )
        .bind(start)
        .bind(ROUTER_ACTOR)
        .fetch_one(&mut *tx)
        .await?;

        let mut unreadable = 0u64;
        {
            // Streamed: a long window must not hold every payload in memory at once.
            let mut rows = sqlx::query_as::<_, WindowRow>(
                "SELECT l.lead_id, l.received_at, l.payload,
                        d.status, d.owner_id, d.queue, d.pool, d.rule,
                        coalesce(jsonb_path_query_array(
                            d.trace, '$.rules[*] ? (@.outcome == \"decided\").assignees[*]'
                        ), '[]') AS recorded_assignees,
                        -- Moved by hand: an assignees change leaves the owner state.
                        EXISTS (SELECT 1 FROM routing_decisions m
                                WHERE m.lead_id = l.lead_id AND m.id > d.id AND m.actor <> $2
                                  AND m.via <> 'assignees')
                            AS changed_by_hand,
                        l.status AS current_status, l.owner_id AS current_owner_id,
                        l.queue AS current_queue
                 FROM leads l
                 CROSS JOIN LATERAL (
                     SELECT id, status, owner_id, queue, pool, rule, trace FROM routing_decisions r
                     WHERE r.lead_id = l.lead_id AND r.actor = $2
                     ORDER BY r.id DESC LIMIT 1
                 ) d
                 WHERE l.received_at >= $1
                 ORDER BY l.received_at, l.lead_id",
            )
            .bind(start)
            .bind(ROUTER_ACTOR)
            .fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                match replay_lead(row) {
                    Some(lead) => visit(lead, &mut state),
                    None => unreadable += 1,
                }
            }
        }
        tx.commit().await?;
        Ok(ReplayWindow {
            start,
            halted,
            inactive,
            unreadable,
            undecided: undecided.max(0) as u64,
        })
    }
}

fn replay_lead(row: WindowRow) -> Option<ReplayLead> {
    let Value::Object(payload) = row.payload else {
        return None;
    };
    Some(ReplayLead {
        lead: Lead {
            id: LeadId::parse(&row.lead_id).ok()?,
            received_at: Some(row.received_at),
            payload,
        },
        recorded: row.recorded,
        recorded_assignees: row.recorded_assignees.0,
        changed_by_hand: row.changed_by_hand,
        current: row.current,
    })
}
