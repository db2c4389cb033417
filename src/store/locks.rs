//! The locks a change takes, in one place. Today one global advisory lock
//! ([`ROUTING_LOCK_KEY`]) serialises every batch and every change of a lead across all
//! instances; callers say what their transaction touches so that finer locks (per
//! lead, per group of pools sharing members) can replace it here without touching them.
use super::{ROUTING_LOCK_KEY, StoreError};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// What a transaction touches: the leads it changes and the pools whose rotations it
/// steps. (The batch takes the same lock in its `BEGIN`, to save a round trip.)
#[derive(Debug, Clone, Copy, Default)]
pub struct Touches<'a> {
    pub leads: &'a [&'a str],
    pub pools: &'a [&'a str],
}

/// Takes the locks for what the transaction `touches` (held to its end) and returns
/// the database clock once they are held: the time of the changes made under them.
pub async fn lock(
    conn: &mut PgConnection,
    touches: &Touches<'_>,
) -> Result<DateTime<Utc>, StoreError> {
    // One lock for everything, for now: whatever is touched.
    let _ = touches;
    lock_routing(conn).await
}

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
