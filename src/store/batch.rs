//! Routing a batch of leads in one transaction: the daemon's hot path.
use super::outbox::{self, OutboxEvent};
use super::snapshot::{load_state, lock_routing, save_rotations};
use super::{ROUTER_ACTOR, Store, StoreError};
use crate::lead::Lead;
use crate::routing::{LeadStatus, MemoryState, RoutingDecision};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use sqlx::types::Json;
use std::collections::HashSet;

/// What happened to each lead of a batch, in input order, and the events committed.
#[derive(Debug, Clone, Default)]
pub struct BatchOutcome {
    pub leads: Vec<LeadOutcome>,
    /// Every event written by the batch, in lead order: hand them to the relay.
    pub events: Vec<OutboxEvent>,
}

impl BatchOutcome {
    pub fn duplicates(&self) -> usize {
        self.leads
            .iter()
            .filter(|o| matches!(o, LeadOutcome::Duplicate))
            .count()
    }
}

// Most outcomes are `Decided`, and a batch's outcomes live only until it is acked:
// boxing the decision would cost an allocation per lead to save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum LeadOutcome {
    /// Decided and committed with its event.
    Decided {
        decision: RoutingDecision,
        event: OutboxEvent,
    },
    /// Already stored (or earlier in the same batch): nothing was written for it.
    Duplicate,
}

/// A decided lead waiting to be written.
struct Row<'a> {
    lead: &'a Lead,
    received_at: DateTime<Utc>,
    decision: RoutingDecision,
    event: OutboxEvent,
}

impl Store {
    /// Decides and records `leads` in one transaction; see the steps below. `decide`
    /// is called once per new lead, in order, with the batch's state snapshot; pass
    /// `|lead, state| routing::decide(&ruleset, lead, state)`.
    ///
    /// `least_loaded_agents` are the agents whose open-lead counts the rules may need
    /// (members of `least_loaded` pools); `pools` are the pools whose rotations to load.
    /// A lead's missing `received_at` becomes the decision time.
    ///
    /// On any error nothing is written (the transaction rolls back) and the caller
    /// should not ack: the messages come back and are decided again.
    pub async fn route_batch(
        &self,
        leads: &[Lead],
        ruleset_hash: &str,
        least_loaded_agents: &[String],
        pools: &[String],
        mut decide: impl FnMut(&Lead, &mut MemoryState) -> RoutingDecision,
    ) -> Result<BatchOutcome, StoreError> {
        if leads.is_empty() {
            return Ok(BatchOutcome::default());
        }
        let mut tx = self.pool.begin().await?;

        // 1. One batch at a time across all instances, so rotations advance as one
        //    sequence and two instances cannot both find a redelivered lead new.
        let now = lock_routing(&mut tx).await?;

        // 2. Duplicates: already stored, or repeated within this batch.
        let ids: Vec<&str> = leads.iter().map(|l| l.id.as_str()).collect();
        let stored: Vec<String> =
            sqlx::query_scalar("SELECT lead_id FROM leads WHERE lead_id = ANY($1)")
                .bind(&ids)
                .fetch_all(&mut *tx)
                .await?;
        let stored: HashSet<String> = stored.into_iter().collect();
        let mut seen = HashSet::with_capacity(leads.len());
        let is_new: Vec<bool> = leads
            .iter()
            .map(|l| !stored.contains(l.id.as_str()) && seen.insert(l.id.as_str()))
            .collect();

        if !is_new.iter().any(|&n| n) {
            tx.commit().await?;
            return Ok(BatchOutcome {
                leads: vec![LeadOutcome::Duplicate; leads.len()],
                events: Vec::new(),
            });
        }

        // 3. The state the rules read, as of now (under the lock).
        let mut state = load_state(&mut tx, least_loaded_agents, pools).await?;

        // 4. Decide in input order: rotation steps follow the order leads arrived.
        let mut rows = Vec::with_capacity(leads.len());
        for (lead, _) in leads.iter().zip(&is_new).filter(|(_, n)| **n) {
            let decision = decide(lead, &mut state);
            let event = OutboxEvent::for_decision(lead.id.as_str(), &decision, now, ROUTER_ACTOR);
            rows.push(Row {
                lead,
                received_at: lead.received_at.unwrap_or(now),
                decision,
                event,
            });
        }

        // 5. One statement per table.
        insert_leads(&mut tx, &rows, now).await?;
        insert_decisions(&mut tx, &rows, ruleset_hash, now).await?;
        let events: Vec<OutboxEvent> = rows.iter().map(|r| r.event.clone()).collect();
        outbox::insert_events(&mut tx, &events).await?;

        // 6. Rotations the decisions stepped.
        let dirty = state.take_dirty();
        let unloaded: Vec<&str> = dirty
            .iter()
            .map(|(p, _)| p.as_str())
            .filter(|p| !pools.iter().any(|q| q == p))
            .collect();
        if !unloaded.is_empty() {
            // The stored rotation of such a pool was not loaded, so this write restarts
            // it: the caller's pool list is incomplete.
            tracing::warn!(pools = ?unloaded, "rotation stepped for pools not in the batch's pool list");
        }
        save_rotations(&mut tx, &dirty).await?;

        // 7.
        tx.commit().await?;
        tracing::debug!(
            decided = rows.len(),
            duplicates = leads.len() - rows.len(),
            "batch committed"
        );

        let mut decided = rows.into_iter();
        let outcomes = is_new
            .iter()
            .map(|&new| match new.then(|| decided.next()).flatten() {
                Some(r) => LeadOutcome::Decided {
                    decision: r.decision,
                    event: r.event,
                },
                None => LeadOutcome::Duplicate,
            })
            .collect();
        Ok(BatchOutcome {
            leads: outcomes,
            events,
        })
    }
}

async fn insert_leads(
    conn: &mut PgConnection,
    rows: &[Row<'_>],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let ids: Vec<&str> = rows.iter().map(|r| r.lead.id.as_str()).collect();
    let statuses: Vec<&str> = rows.iter().map(|r| r.decision.status.as_str()).collect();
    let owners: Vec<Option<&str>> = rows
        .iter()
        .map(|r| r.decision.owner_id.as_deref())
        .collect();
    let queues: Vec<Option<&str>> = rows.iter().map(|r| r.decision.queue.as_deref()).collect();
    let pools: Vec<Option<&str>> = rows.iter().map(|r| r.decision.pool.as_deref()).collect();
    let rules: Vec<Option<&str>> = rows.iter().map(|r| r.decision.rule.as_deref()).collect();
    let received: Vec<DateTime<Utc>> = rows.iter().map(|r| r.received_at).collect();
    // An ownerless spell starts when the lead is received (SPEC 7: `unassigned_since`
    // = `received_at` for a lead never assigned).
    let since: Vec<Option<DateTime<Utc>>> = rows
        .iter()
        .map(|r| (r.decision.status != LeadStatus::Assigned).then_some(r.received_at))
        .collect();
    let payloads: Vec<Json<&serde_json::Map<String, serde_json::Value>>> =
        rows.iter().map(|r| Json(&r.lead.payload)).collect();
    sqlx::query(
        "INSERT INTO leads (lead_id, status, owner_id, queue, pool, rule, received_at, decided_at, unassigned_since, payload)
         SELECT lead_id, status, owner_id, queue, pool, rule, received_at, $8, unassigned_since, payload
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::timestamptz[], $9::timestamptz[], $10::jsonb[])
              AS u(lead_id, status, owner_id, queue, pool, rule, received_at, unassigned_since, payload)",
    )
    .bind(ids)
    .bind(statuses)
    .bind(owners)
    .bind(queues)
    .bind(pools)
    .bind(rules)
    .bind(received)
    .bind(now)
    .bind(since)
    .bind(payloads)
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_decisions(
    conn: &mut PgConnection,
    rows: &[Row<'_>],
    ruleset_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let ids: Vec<&str> = rows.iter().map(|r| r.lead.id.as_str()).collect();
    let statuses: Vec<&str> = rows.iter().map(|r| r.decision.status.as_str()).collect();
    let owners: Vec<Option<&str>> = rows
        .iter()
        .map(|r| r.decision.owner_id.as_deref())
        .collect();
    let queues: Vec<Option<&str>> = rows.iter().map(|r| r.decision.queue.as_deref()).collect();
    let pools: Vec<Option<&str>> = rows.iter().map(|r| r.decision.pool.as_deref()).collect();
    let rules: Vec<Option<&str>> = rows.iter().map(|r| r.decision.rule.as_deref()).collect();
    let traces: Vec<Json<&crate::routing::Trace>> =
        rows.iter().map(|r| Json(&r.decision.trace)).collect();
    // WITH ORDINALITY + ORDER BY: ids (the append order) follow the batch order.
    sqlx::query(
        "INSERT INTO routing_decisions (lead_id, status, owner_id, queue, pool, rule, trace, ruleset, decided_at, actor)
         SELECT lead_id, status, owner_id, queue, pool, rule, trace, $8, $9, $10
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[])
              WITH ORDINALITY AS u(lead_id, status, owner_id, queue, pool, rule, trace, n)
         ORDER BY n",
    )
    .bind(ids)
    .bind(statuses)
    .bind(owners)
    .bind(queues)
    .bind(pools)
    .bind(rules)
    .bind(traces)
    .bind(ruleset_hash)
    .bind(now)
    .bind(ROUTER_ACTOR)
    .execute(conn)
    .await?;
    Ok(())
}
