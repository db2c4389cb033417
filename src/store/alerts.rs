//! The unassigned sweeper's write: one `unassigned_alerts` row and one
//! `lead.alert.unassigned` event per lead per ownerless spell, exactly once across
//! instances and restarts (the unique `(lead_id, unassigned_since)` decides who raises it).
use super::outbox::{OutboxEvent, UnassignedAlert, insert_events};
use super::{Store, StoreError};
use crate::routing::LeadStatus;
use chrono::{DateTime, Utc};
use std::time::Duration;

type DueRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    DateTime<Utc>,
    DateTime<Utc>,
);

impl Store {
    /// Raises alerts for leads ownerless for longer than `after` (at most `limit` per
    /// call) and returns their events, committed with the alert rows.
    pub async fn sweep_unassigned(
        &self,
        after: Duration,
        limit: i64,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Concurrent sweepers: the unique constraint makes the second insert a no-op
        // (it waits for the first to commit), so RETURNING holds only our own alerts.
        let rows: Vec<DueRow> = sqlx::query_as(
            "WITH due AS (
                 SELECT l.lead_id, l.unassigned_since FROM leads l
                 WHERE l.owner_id IS NULL
                   AND l.unassigned_since <= now() - make_interval(secs => $1)
                   AND NOT EXISTS (SELECT 1 FROM unassigned_alerts a
                                   WHERE a.lead_id = l.lead_id AND a.unassigned_since = l.unassigned_since)
                 ORDER BY l.unassigned_since
                 LIMIT $2
             ), raised AS (
                 INSERT INTO unassigned_alerts (lead_id, raised_at, unassigned_since)
                 SELECT lead_id, now(), unassigned_since FROM due
                 ON CONFLICT ON CONSTRAINT unassigned_alerts_once_per_spell DO NOTHING
                 RETURNING lead_id, raised_at, unassigned_since
             )
             SELECT r.lead_id, l.status, l.queue, l.pool, l.rule, r.unassigned_since, r.raised_at
             FROM raised r JOIN leads l USING (lead_id)",
        )
        .bind(after.as_secs_f64())
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let events: Vec<OutboxEvent> = rows
            .iter()
            .map(|(lead_id, status, queue, pool, rule, since, at)| {
                OutboxEvent::unassigned_alert(&UnassignedAlert {
                    lead_id,
                    status: LeadStatus::parse(status).unwrap_or(LeadStatus::Unassigned),
                    queue: queue.as_deref(),
                    pool: pool.as_deref(),
                    rule: rule.as_deref(),
                    unassigned_since: *since,
                    at: *at,
                })
            })
            .collect();
        insert_events(&mut tx, &events).await?;
        tx.commit().await?;
        Ok(events)
    }
}
