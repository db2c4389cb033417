//! The `pool_rotations` table: each pool's rotation position (the serde JSON of
//! [`PoolRotation`]), read and written under the routing lock so every instance deals
//! from one sequence.
use super::write::{Verb, Write};
use crate::routing::PoolRotation;
use serde_json::Value;
use sqlx::types::Json;

/// Adds the upsert of `rotations` (from `MemoryState::take_dirty`) to `w`.
pub(super) fn upsert(w: &mut Write, rotations: &[(String, PoolRotation)]) {
    let pool: Vec<&str> = rotations.iter().map(|(p, _)| p.as_str()).collect();
    let state: Vec<Json<&PoolRotation>> = rotations.iter().map(|(_, r)| Json(r)).collect();
    let tail = " ON CONFLICT (pool) DO UPDATE SET state = EXCLUDED.state, updated_at = now()";
    w.part("pool_rotations", Verb::Insert { tail }, pool.len(), |c| {
        c.rows("pool", &pool);
        c.rows("state", &state);
    });
}

/// A stored rotation, or `None` for a row this version cannot read (hand-edited, or
/// written by a future version): that pool's rotation restarts instead of all routing
/// stopping.
pub(super) fn restore(pool: &str, state: Value) -> Option<PoolRotation> {
    match serde_json::from_value(state) {
        Ok(rotation) => Some(rotation),
        Err(e) => {
            tracing::warn!(pool, error = %e, "unreadable pool rotation state; restarting the rotation");
            None
        }
    }
}
