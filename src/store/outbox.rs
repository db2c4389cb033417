//! Outbound events (SPEC section 7) and the transactional outbox they go through.
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
use super::{Store, StoreError};
use crate::routing::{LeadStatus, RoutingDecision};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use sqlx::types::Json;
use std::time::Duration;
use uuid::Uuid;

/// How long a claim from [`Store::fetch_pending`] keeps other relays off an event.
pub const DEFAULT_CLAIM_LEASE: Duration = Duration::from_secs(30);

pub const ROUTING_KEY_ALERT_UNASSIGNED: &str = "lead.alert.unassigned";

/// One event as stored in, and relayed from, the outbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxEvent {
    pub event_id: Uuid,
    pub routing_key: String,
    pub body: Value,
}

impl OutboxEvent {
    /// The routing key for a lead reaching `status`: `lead.assigned` / `lead.queued` / `lead.unassigned`.
    pub fn routing_key_for(status: LeadStatus) -> &'static str {
        match status {
            LeadStatus::Assigned => "lead.assigned",
            LeadStatus::Queued => "lead.queued",
            LeadStatus::Unassigned => "lead.unassigned",
        }
    }

    /// The event for any change of a lead's owner state (router, reassign, offboard).
    pub fn lead_change(change: &LeadChange<'_>) -> OutboxEvent {
        let event_id = Uuid::new_v4();
        let routing_key = Self::routing_key_for(change.status);
        let body = LeadEventBody {
            event: routing_key,
            event_id,
            lead_id: change.lead_id,
            status: change.status,
            owner_id: change.owner_id,
            queue: change.queue,
            pool: change.pool,
            rule: change.rule,
            at: rfc3339(change.at),
            actor: change.actor,
            previous_owner_id: change.previous_owner_id,
            note: change.note,
            unassigned_since: None,
        };
        OutboxEvent {
            event_id,
            routing_key: routing_key.to_owned(),
            body: to_value(&body),
        }
    }

    /// The event for a router decision.
    pub fn for_decision(
        lead_id: &str,
        decision: &RoutingDecision,
        at: DateTime<Utc>,
        actor: &str,
    ) -> OutboxEvent {
        Self::lead_change(&LeadChange {
            lead_id,
            status: decision.status,
            owner_id: decision.owner_id.as_deref(),
            queue: decision.queue.as_deref(),
            pool: decision.pool.as_deref(),
            rule: decision.rule.as_deref(),
            at,
            actor,
            previous_owner_id: None,
            note: None,
        })
    }

    /// `lead.alert.unassigned`: raised by the sweeper (actor `sweeper`).
    pub fn unassigned_alert(alert: &UnassignedAlert<'_>) -> OutboxEvent {
        let event_id = Uuid::new_v4();
        let body = LeadEventBody {
            event: ROUTING_KEY_ALERT_UNASSIGNED,
            event_id,
            lead_id: alert.lead_id,
            status: alert.status,
            owner_id: None,
            queue: alert.queue,
            pool: alert.pool,
            rule: alert.rule,
            at: rfc3339(alert.at),
            actor: "sweeper",
            previous_owner_id: None,
            note: None,
            unassigned_since: Some(rfc3339(alert.unassigned_since)),
        };
        OutboxEvent {
            event_id,
            routing_key: ROUTING_KEY_ALERT_UNASSIGNED.to_owned(),
            body: to_value(&body),
        }
    }

    /// The message body to publish.
    pub fn body_bytes(&self) -> Vec<u8> {
        // Serializing a `Value` cannot fail (its keys are strings).
        serde_json::to_vec(&self.body).unwrap_or_default()
    }
}

/// A change of a lead's owner state, as announced by its event.
#[derive(Debug, Clone)]
pub struct LeadChange<'a> {
    pub lead_id: &'a str,
    pub status: LeadStatus,
    pub owner_id: Option<&'a str>,
    pub queue: Option<&'a str>,
    pub pool: Option<&'a str>,
    pub rule: Option<&'a str>,
    pub at: DateTime<Utc>,
    /// `router`, or who made the change.
    pub actor: &'a str,
    /// Set on manual changes of an owned lead; omitted from the body when `None`.
    pub previous_owner_id: Option<&'a str>,
    /// A reassignment's note; omitted from the body when `None`.
    pub note: Option<&'a str>,
}

/// A lead that has been ownerless too long.
#[derive(Debug, Clone)]
pub struct UnassignedAlert<'a> {
    pub lead_id: &'a str,
    pub status: LeadStatus,
    pub queue: Option<&'a str>,
    pub pool: Option<&'a str>,
    pub rule: Option<&'a str>,
    pub unassigned_since: DateTime<Utc>,
    /// When the alert was raised.
    pub at: DateTime<Utc>,
}

/// The body's shape. `owner_id`, `queue`, `pool` and `rule` are always present (null
/// when unset) so consumers need no "missing vs null" logic; the optional extras are
/// omitted where they do not apply.
#[derive(Serialize)]
struct LeadEventBody<'a> {
    /// The routing key again, for consumers that store bodies without it.
    event: &'a str,
    event_id: Uuid,
    lead_id: &'a str,
    status: LeadStatus,
    owner_id: Option<&'a str>,
    queue: Option<&'a str>,
    pool: Option<&'a str>,
    rule: Option<&'a str>,
    at: String,
    actor: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_owner_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unassigned_since: Option<String>,
}

fn to_value(body: &LeadEventBody<'_>) -> Value {
    // Only strings, a uuid and an enum: serialization cannot fail.
    serde_json::to_value(body).unwrap_or(Value::Null)
}

/// RFC 3339 in UTC with microseconds: PostgreSQL's precision, so `at` equals the
/// stored `decided_at` exactly.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Inserts events with one statement, inside the caller's transaction.
pub async fn insert_events(
    conn: &mut PgConnection,
    events: &[OutboxEvent],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    let keys: Vec<&str> = events.iter().map(|e| e.routing_key.as_str()).collect();
    let bodies: Vec<Json<&Value>> = events.iter().map(|e| Json(&e.body)).collect();
    // WITH ORDINALITY + ORDER BY: `seq` follows the order given.
    sqlx::query(
        "INSERT INTO outbox (event_id, routing_key, body)
         SELECT event_id, routing_key, body
         FROM UNNEST($1::uuid[], $2::text[], $3::jsonb[]) WITH ORDINALITY AS e(event_id, routing_key, body, n)
         ORDER BY n",
    )
    .bind(ids)
    .bind(keys)
    .bind(bodies)
    .execute(conn)
    .await?;
    Ok(())
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
        let rows: Vec<(Uuid, String, Json<Value>, i64)> = sqlx::query_as(
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
             RETURNING o.event_id, o.routing_key, o.body, o.seq",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(older_than.as_secs_f64())
        .bind(lease.as_secs_f64())
        .fetch_all(&self.pool)
        .await?;
        let mut rows = rows;
        // RETURNING does not keep the CTE's order.
        rows.sort_by_key(|r| r.3);
        Ok(rows
            .into_iter()
            .map(|(event_id, routing_key, Json(body), _)| OutboxEvent {
                event_id,
                routing_key,
                body,
            })
            .collect())
    }

    /// Removes events the broker confirmed. Returns how many were still there.
    pub async fn delete_events(&self, ids: &[Uuid]) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let done = sqlx::query("DELETE FROM outbox WHERE event_id = ANY($1)")
            .bind(ids)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Gives claims back after a failed publish, so the next fetch retries them
    /// without waiting for the lease to run out.
    pub async fn release_events(&self, ids: &[Uuid]) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let done = sqlx::query("UPDATE outbox SET claimed_until = NULL WHERE event_id = ANY($1)")
            .bind(ids)
            .execute(&self.pool)
            .await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::Trace;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-01T12:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn decision_event_body() {
        let d = RoutingDecision {
            status: LeadStatus::Assigned,
            owner_id: Some("alice".into()),
            queue: None,
            pool: Some("west".into()),
            rule: Some("west-buyers".into()),
            trace: Trace::default(),
        };
        let e = OutboxEvent::for_decision("L1", &d, at(), "router");
        assert_eq!(e.routing_key, "lead.assigned");
        assert_eq!(e.body["event_id"], e.event_id.to_string());
        assert_eq!(e.body["lead_id"], "L1");
        assert_eq!(e.body["status"], "assigned");
        assert_eq!(e.body["owner_id"], "alice");
        assert_eq!(e.body["queue"], Value::Null);
        assert_eq!(e.body["pool"], "west");
        assert_eq!(e.body["rule"], "west-buyers");
        assert_eq!(e.body["at"], "2024-05-01T12:00:00.123456Z");
        assert_eq!(e.body["actor"], "router");
        let obj = e.body.as_object().unwrap();
        assert!(obj.contains_key("queue"), "null fields are present");
        assert!(!obj.contains_key("previous_owner_id") && !obj.contains_key("note"));
        assert_eq!(e.event_id.get_version_num(), 4);
    }

    #[test]
    fn routing_keys_follow_status() {
        for (s, k) in [
            (LeadStatus::Assigned, "lead.assigned"),
            (LeadStatus::Queued, "lead.queued"),
            (LeadStatus::Unassigned, "lead.unassigned"),
        ] {
            assert_eq!(OutboxEvent::routing_key_for(s), k);
        }
    }

    #[test]
    fn manual_change_carries_previous_owner_and_note() {
        let e = OutboxEvent::lead_change(&LeadChange {
            lead_id: "L2",
            status: LeadStatus::Queued,
            owner_id: None,
            queue: Some("office-sf"),
            pool: None,
            rule: None,
            at: at(),
            actor: "jdoe",
            previous_owner_id: Some("bob"),
            note: Some("customer asked for SF office"),
        });
        assert_eq!(e.routing_key, "lead.queued");
        assert_eq!(e.body["previous_owner_id"], "bob");
        assert_eq!(e.body["note"], "customer asked for SF office");
        assert_eq!(e.body["actor"], "jdoe");
    }

    #[test]
    fn alert_event() {
        let e = OutboxEvent::unassigned_alert(&UnassignedAlert {
            lead_id: "L3",
            status: LeadStatus::Unassigned,
            queue: None,
            pool: None,
            rule: None,
            unassigned_since: at(),
            at: at() + chrono::Duration::hours(25),
        });
        assert_eq!(e.routing_key, "lead.alert.unassigned");
        assert_eq!(e.body["actor"], "sweeper");
        assert_eq!(e.body["unassigned_since"], "2024-05-01T12:00:00.123456Z");
        assert_eq!(e.body["owner_id"], Value::Null);
        assert_eq!(
            serde_json::from_slice::<Value>(&e.body_bytes()).unwrap(),
            e.body
        );
    }
}
