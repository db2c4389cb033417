//! The routing state a batch decides with: loaded from PostgreSQL into a
//! [`MemoryState`], stepped in memory by `decide`, rotations written back in the same
//! transaction.
use super::{ROUTING_LOCK_KEY, Store, StoreError};
use crate::routing::{MemoryState, PoolRotation};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use sqlx::types::Json;
use std::collections::HashSet;

/// Takes the routing advisory lock for the rest of the caller's transaction (waiting
/// for other instances' batches) and returns the database clock once it is held: the
/// time of the decisions made under it. The clock is read after the wait so that
/// `decided_at` follows the order in which batches really ran.
pub async fn lock_routing(conn: &mut PgConnection) -> Result<DateTime<Utc>, StoreError> {
    // MATERIALIZED: the lock is taken before the outer SELECT reads the clock.
    let now: DateTime<Utc> = sqlx::query_scalar(
        "WITH l AS MATERIALIZED (SELECT pg_advisory_xact_lock($1)) SELECT clock_timestamp() FROM l",
    )
    .bind(ROUTING_LOCK_KEY)
    .fetch_one(conn)
    .await?;
    Ok(now)
}

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

/// [`load_state`], plus the clock and which of `lead_ids` are already stored: everything
/// a batch needs before deciding, in one statement. Run it after taking the routing lock
/// in an earlier statement: a statement sees what was committed before it started.
pub async fn read_state(
    conn: &mut PgConnection,
    lead_ids: &[&str],
    least_loaded_agents: &[String],
    pools: &[String],
) -> Result<BatchState, StoreError> {
    type Row = (
        DateTime<Utc>,
        Vec<String>,
        Vec<String>,
        Vec<String>,
        Vec<String>,
        Vec<i64>,
        Vec<String>,
        Vec<Json<serde_json::Value>>,
    );
    let (now, stored, halted, inactive, counted, counts, rotated, rotations): Row =
        sqlx::query_as(
            "SELECT clock_timestamp(),
                ARRAY(SELECT lead_id FROM leads WHERE lead_id = ANY($1)),
                ARRAY(SELECT agent_id FROM agents WHERE halted),
                ARRAY(SELECT agent_id FROM agents WHERE NOT active),
                ARRAY(SELECT agent_id FROM agent_open_leads WHERE agent_id = ANY($2) ORDER BY agent_id),
                ARRAY(SELECT open_leads FROM agent_open_leads WHERE agent_id = ANY($2) ORDER BY agent_id),
                ARRAY(SELECT pool FROM pool_rotations WHERE pool = ANY($3) ORDER BY pool),
                ARRAY(SELECT state FROM pool_rotations WHERE pool = ANY($3) ORDER BY pool)",
        )
        .bind(lead_ids)
        .bind(least_loaded_agents)
        .bind(pools)
        .fetch_one(&mut *conn)
        .await?;

    let mut state = MemoryState::new();
    state.halted.extend(halted);
    state.inactive.extend(inactive);
    for (agent, n) in counted.into_iter().zip(counts) {
        state.open_leads.insert(agent, n.max(0) as u64);
    }
    for (pool, Json(value)) in rotated.into_iter().zip(rotations) {
        // A row this version cannot read (hand-edited, or written by a future
        // version) restarts that pool's rotation instead of stopping all routing.
        match serde_json::from_value::<PoolRotation>(value) {
            Ok(rotation) => {
                state.rotations.insert(pool, rotation);
            }
            Err(e) => {
                tracing::warn!(pool, error = %e, "unreadable pool rotation state; restarting the rotation")
            }
        }
    }
    Ok(BatchState {
        now,
        stored: stored.into_iter().collect(),
        state,
    })
}

/// Upserts rotations (from [`MemoryState::take_dirty`]) with one statement.
pub async fn save_rotations(
    conn: &mut PgConnection,
    rotations: &[(String, PoolRotation)],
) -> Result<(), StoreError> {
    if rotations.is_empty() {
        return Ok(());
    }
    let pools: Vec<&str> = rotations.iter().map(|(p, _)| p.as_str()).collect();
    let states: Vec<Json<&PoolRotation>> = rotations.iter().map(|(_, r)| Json(r)).collect();
    sqlx::query(
        "INSERT INTO pool_rotations (pool, state)
         SELECT * FROM UNNEST($1::text[], $2::jsonb[])
         ON CONFLICT (pool) DO UPDATE SET state = EXCLUDED.state, updated_at = now()",
    )
    .bind(pools)
    .bind(states)
    .execute(conn)
    .await?;
    Ok(())
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
