//! The routing state a batch decides with: loaded from PostgreSQL into a
//! [`MemoryState`], stepped in memory by `decide`, rotations written back in the same
//! transaction (`rotations::upsert`).
use super::{Store, StoreError, rotations};
use crate::routing::MemoryState;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use sqlx::types::Json;
use std::collections::HashSet;

/// Loads halted and inactive agents, open-lead counts for `least_loaded_agents`, and the
/// rotations of `pools`, in one round trip. Agents without a row in `agents` are
/// available (SPEC 6).
pub async fn load_state(
    conn: &mut PgConnection,
    least_loaded_agents: &[String],
    pools: &[String],
) -> Result<MemoryState, StoreError> {
    Ok(read_state(conn, &[], least_loaded_agents, pools)
        .await?
        .state)
}

/// What a batch reads under the routing lock.
pub struct BatchState {
    /// The database clock after the lock was taken: the batch's decision time.
    pub now: DateTime<Utc>,
    /// Those of the asked lead ids already stored.
    pub stored: HashSet<String>,
    pub state: MemoryState,
}

/// The one row [`read_state`] selects: parallel arrays, one sub-select each.
#[derive(sqlx::FromRow)]
struct StateRow {
    now: DateTime<Utc>,
    stored: Vec<String>,
    halted: Vec<String>,
    inactive: Vec<String>,
    counted_agents: Vec<String>,
    open_leads: Vec<i64>,
    rotated_pools: Vec<String>,
    rotations: Vec<Json<serde_json::Value>>,
}

/// [`load_state`], plus the clock and which of `lead_ids` are already stored: everything
/// a batch needs before deciding, in one statement. Run it after taking the routing lock
/// in an earlier statement: a statement sees what was committed before it started.
pub async fn read_state(
    conn: &mut PgConnection,
    lead_ids: &[&str],
    least_loaded_agents: &[String],
    pools: &[String],
) -> Result<BatchState, StoreError> {
    let row: StateRow = sqlx::query_as(
        "SELECT clock_timestamp() AS now,
            ARRAY(SELECT lead_id FROM leads WHERE lead_id = ANY($1)) AS stored,
            ARRAY(SELECT agent_id FROM agents WHERE halted) AS halted,
            ARRAY(SELECT agent_id FROM agents WHERE NOT active) AS inactive,
            ARRAY(SELECT agent_id FROM agent_open_leads WHERE agent_id = ANY($2) ORDER BY agent_id) AS counted_agents,
            ARRAY(SELECT open_leads FROM agent_open_leads WHERE agent_id = ANY($2) ORDER BY agent_id) AS open_leads,
            ARRAY(SELECT pool FROM pool_rotations WHERE pool = ANY($3) ORDER BY pool) AS rotated_pools,
            ARRAY(SELECT state FROM pool_rotations WHERE pool = ANY($3) ORDER BY pool) AS rotations",
    )
    .bind(lead_ids)
    .bind(least_loaded_agents)
    .bind(pools)
    .fetch_one(&mut *conn)
    .await?;

    let mut state = MemoryState::new();
    state.halted.extend(row.halted);
    state.inactive.extend(row.inactive);
    for (agent, n) in row.counted_agents.into_iter().zip(row.open_leads) {
        state.open_leads.insert(agent, n.max(0) as u64);
    }
    for (pool, Json(value)) in row.rotated_pools.into_iter().zip(row.rotations) {
        if let Some(rotation) = rotations::restore(&pool, value) {
            state.rotations.insert(pool, rotation);
        }
    }
    Ok(BatchState {
        now: row.now,
        stored: row.stored.into_iter().collect(),
        state,
    })
}

impl Store {
    /// The routing state as of now, outside any batch (for `replay`, which decides
    /// with today's halted and inactive agents but writes nothing).
    pub async fn snapshot(
        &self,
        least_loaded_agents: &[String],
        pools: &[String],
    ) -> Result<MemoryState, StoreError> {
        let mut conn = self.pool.acquire().await?;
        load_state(&mut conn, least_loaded_agents, pools).await
    }
}
