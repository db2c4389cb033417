//! The routing state a batch decides with: loaded from PostgreSQL into a
//! [`MemoryState`], stepped in memory by `decide`, rotations written back in the same
//! transaction.
use super::{ROUTING_LOCK_KEY, Store, StoreError};
use crate::routing::{MemoryState, PoolRotation};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use sqlx::types::Json;

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
/// rotations of `pools`. Agents without a row in `agents` are available (SPEC 6).
pub async fn load_state(
    conn: &mut PgConnection,
    least_loaded_agents: &[String],
    pools: &[String],
) -> Result<MemoryState, StoreError> {
    let mut state = MemoryState::new();

    let unavailable: Vec<(String, bool, bool)> =
        sqlx::query_as("SELECT agent_id, halted, active FROM agents WHERE halted OR NOT active")
            .fetch_all(&mut *conn)
            .await?;
    for (agent, halted, active) in unavailable {
        if !active {
            state.inactive.insert(agent.clone());
        }
        if halted {
            state.halted.insert(agent);
        }
    }

    if !least_loaded_agents.is_empty() {
        let counts: Vec<(String, i64)> = sqlx::query_as(
            "SELECT owner_id, count(*) FROM leads
             WHERE status = 'assigned' AND owner_id = ANY($1)
             GROUP BY owner_id",
        )
        .bind(least_loaded_agents)
        .fetch_all(&mut *conn)
        .await?;
        for (agent, n) in counts {
            state.open_leads.insert(agent, n.max(0) as u64);
        }
    }

    if !pools.is_empty() {
        let rows: Vec<(String, Json<serde_json::Value>)> =
            sqlx::query_as("SELECT pool, state FROM pool_rotations WHERE pool = ANY($1)")
                .bind(pools)
                .fetch_all(&mut *conn)
                .await?;
        for (pool, Json(value)) in rows {
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
    }
    Ok(state)
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
