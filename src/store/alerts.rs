//! The `unassigned_alerts` table and the sweeper's write: one alert row and one
//! `lead.alert.unassigned` event per lead per ownerless spell, exactly once across
//! instances and restarts (the unique `(lead_id, unassigned_since)` decides who raises it).
use super::events::{OutboxEvent, UnassignedAlert};
use super::placement::Placement;
use super::read::ByKey;
use super::write::Write;
use super::{Store, StoreError, outbox};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::Duration;

/// One `unassigned_alerts` row (`leads show`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct AlertRecord {
    pub raised_at: DateTime<Utc>,
    /// The spell it was raised for.
    pub unassigned_since: DateTime<Utc>,
}

/// The alerts raised for the lead, oldest first.
pub(super) const RAISED_FOR: ByKey<AlertRecord> = ByKey::new(
    "SELECT raised_at, unassigned_since FROM unassigned_alerts WHERE lead_id = $1 ORDER BY id",
);

/// An alert just raised, with where its lead waits.
#[derive(sqlx::FromRow)]
struct Raised {
    lead_id: String,
    #[sqlx(flatten)]
    waiting: Placement,
    unassigned_since: DateTime<Utc>,
    raised_at: DateTime<Utc>,
    via: String,
    assignees: Vec<String>,
}

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
        let raised: Vec<Raised> = sqlx::query_as(
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
             SELECT r.lead_id, l.status, l.owner_id, l.queue, l.pool, l.rule, r.unassigned_since,
                    r.raised_at,
                    -- How it came to wait where it does (an assignees change left it there).
                    coalesce((SELECT d.via FROM routing_decisions d
                              WHERE d.lead_id = r.lead_id AND d.via <> 'assignees'
                              ORDER BY d.id DESC LIMIT 1), 'route') AS via,
                    ARRAY(SELECT a.agent_id FROM lead_assignees a
                          WHERE a.lead_id = r.lead_id ORDER BY a.seq) AS assignees
             FROM raised r JOIN leads l USING (lead_id)",
        )
        .bind(after.as_secs_f64())
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let events: Vec<OutboxEvent> = raised
            .iter()
            .map(|r| {
                OutboxEvent::unassigned_alert(&UnassignedAlert {
                    lead_id: &r.lead_id,
                    waiting: (&r.waiting).into(),
                    via: &r.via,
                    assignees: &r.assignees,
                    unassigned_since: r.unassigned_since,
                    at: r.raised_at,
                })
            })
            .collect();
        let mut write = Write::new();
        outbox::insert(&mut write, &events);
        write.execute(&mut tx).await?;
        tx.commit().await?;
        Ok(events)
    }
}
