//! The `outbox` table: events written in the transaction of the change they announce.
//!
//! An event is inserted in the same transaction as the change it announces, handed to
//! the relay right after commit (the fast path), and deleted once the broker confirms
//! it. The outbox is the backstop for events whose fast-path publish failed or whose
//! instance died in between.
//!
//! ## Claiming: a lease column
//!
//! [`Store::fetch_pending`] *claims* rows by setting `claimed_until = now() + lease` in
//! one autocommitted statement that selects with `FOR UPDATE SKIP LOCKED`. Two relays
//! (in one or several instances) never get the same event while a lease runs: a row
//! locked by a concurrent claim is skipped, and one whose claim has committed no longer
//! matches `claimed_until <= now()` (PostgreSQL re-checks the condition on the newest
//! row version after waiting for it). No transaction or connection is held while
//! publishing, so a slow broker cannot pin the pool. If the relay dies before
//! [`Store::delete_events`], the lease expires and another instance republishes:
//! at least once, and consumers dedupe on `event_id`. A failed publish can hand its
//! claims back early with [`Store::release_events`].
//!
//! `older_than` keeps the backstop away from events the fast path is publishing now.
//!
//! A body read back is PostgreSQL's text of the `jsonb` value: the same JSON as
//! written, its keys possibly in another order.
use super::events::{EventKind, OutboxEvent};
use super::write::{Verb, Write};
use super::{Store, StoreError};
use serde_json::value::RawValue;
use sqlx::types::Json;
use std::time::Duration;
use uuid::Uuid;

/// How long a claim from [`Store::fetch_pending`] keeps other relays off an event.
pub const DEFAULT_CLAIM_LEASE: Duration = Duration::from_secs(30);

/// `LISTEN` channel notified when an admin command commits outbox events, so a relay
/// can publish them at once instead of on its backstop interval.
pub const OUTBOX_CHANNEL: &str = "leadrouter_outbox";

/// Adds the events to `w`, in order (`seq`, the relay order, follows it).
pub(super) fn insert<'a>(w: &mut Write, events: impl IntoIterator<Item = &'a OutboxEvent>) {
    let mut event_id = Vec::new();
    let mut routing_key = Vec::new();
    let mut body = Vec::new();
    for e in events {
        event_id.push(e.event_id);
        routing_key.push(e.routing_key());
        body.push(Json(e.body_json()));
    }
    w.part("outbox", Verb::Insert { tail: "" }, event_id.len(), |c| {
        c.rows("event_id", &event_id);
        c.rows("routing_key", &routing_key);
        c.rows("body", &body);
    });
}

/// Tells listening relays (after the caller's transaction commits) that events wait.
pub(super) async fn notify_relays(conn: &mut sqlx::PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(OUTBOX_CHANNEL)
        .execute(conn)
        .await?;
    Ok(())
}

/// A claimed row: the stored columns and what the body says the kind needs.
#[derive(sqlx::FromRow)]
struct Claimed {
    event_id: Uuid,
    routing_key: String,
    body: Json<Box<RawValue>>,
    lead_id: Option<String>,
    unassigned_since: Option<String>,
    seq: i64,
}

impl Store {
    /// Claims up to `limit` events created at least `older_than` ago and not claimed by
    /// another relay, oldest first, for [`DEFAULT_CLAIM_LEASE`]. See the module docs.
    pub async fn fetch_pending(
        &self,
        limit: usize,
        older_than: Duration,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        self.claim_pending(limit, older_than, DEFAULT_CLAIM_LEASE)
            .await
    }

    /// [`Store::fetch_pending`] with a chosen lease.
    pub async fn claim_pending(
        &self,
        limit: usize,
        older_than: Duration,
        lease: Duration,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        let mut rows: Vec<Claimed> = sqlx::query_as(
            "WITH picked AS (
                 SELECT event_id FROM outbox
                 WHERE created_at <= now() - make_interval(secs => $2)
                   AND (claimed_until IS NULL OR claimed_until <= now())
                 ORDER BY seq
                 LIMIT $1
                 FOR UPDATE SKIP LOCKED
             )
             UPDATE outbox o SET claimed_until = now() + make_interval(secs => $3)
             FROM picked WHERE o.event_id = picked.event_id
             RETURNING o.event_id, o.routing_key, o.body, o.body->>'lead_id' AS lead_id,
                       o.body->>'unassigned_since' AS unassigned_since, o.seq",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(older_than.as_secs_f64())
        .bind(lease.as_secs_f64())
        .fetch_all(&self.pool)
        .await?;
        // RETURNING does not keep the CTE's order.
        rows.sort_by_key(|r| r.seq);
        Ok(rows
            .into_iter()
            .map(|r| {
                let kind = EventKind::stored(r.routing_key, r.unassigned_since.as_deref());
                let lead_id = r.lead_id.unwrap_or_default();
                OutboxEvent::stored(r.event_id, lead_id, kind, r.body.0)
            })
            .collect())
    }

    /// Removes events the broker confirmed. Returns how many were still there.
    pub async fn delete_events(&self, ids: &[Uuid]) -> Result<u64, StoreError> {
        self.for_events("DELETE FROM outbox WHERE event_id = ANY($1)", ids)
            .await
    }

    /// Gives claims back after a failed publish, so the next fetch retries them
    /// without waiting for the lease to run out.
    pub async fn release_events(&self, ids: &[Uuid]) -> Result<u64, StoreError> {
        let sql = "UPDATE outbox SET claimed_until = NULL WHERE event_id = ANY($1)";
        self.for_events(sql, ids).await
    }

    /// Runs `sql` (taking the ids as `$1`) unless there are none; returns the rows it touched.
    async fn for_events(&self, sql: &'static str, ids: &[Uuid]) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let done = sqlx::query(sql).bind(ids).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    /// Events written but not yet relayed: the `leadrouter_outbox_pending` gauge.
    pub async fn pending_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
            .fetch_one(&self.pool)
            .await?;
        Ok(n.max(0) as u64)
    }
}
