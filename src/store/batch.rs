//! Routing a batch of leads in one transaction: the daemon's hot path.
use super::assignees::NewAssignees;
use super::decisions::{Decided, Explained, NewDecisions, Via};
use super::events::OutboxEvent;
use super::leads::NewLeads;
use super::snapshot::{BatchState, read_state};
use super::write::Write;
use super::{ROUTER_ACTOR, Store, StoreError, outbox, rotations};
use crate::lead::Lead;
use crate::routing::{MemoryState, RoutingDecision};
use chrono::{DateTime, Utc};
use std::collections::HashSet;

/// Opens a batch's transaction and takes the routing advisory lock in the same round
/// trip (see [`ROUTING_LOCK_KEY`](super::ROUTING_LOCK_KEY): one batch at a time across all instances, so
/// rotations advance as one sequence and two instances cannot both find a redelivered
/// lead new). The lock is its own statement: the next one then sees every batch
/// committed before the lock was granted.
const BEGIN_LOCKED: &str = "BEGIN; SELECT pg_advisory_xact_lock(7810756212788524404)";

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
        // 1. Transaction + routing lock: one round trip.
        let mut tx = self.pool.begin_with(BEGIN_LOCKED).await?;

        // 2. Everything the decisions read, as of now (under the lock), in one round
        //    trip: the clock, which leads are already stored, agents, counts, rotations.
        let ids: Vec<&str> = leads.iter().map(|l| l.id.as_str()).collect();
        let BatchState {
            now,
            stored,
            mut state,
        } = read_state(&mut tx, &ids, least_loaded_agents, pools).await?;

        // 3. Duplicates: already stored, or repeated within this batch.
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

        // 5. Rotations the decisions stepped.
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

        // 6. Leads, decisions, the deciding rules' assignees, events and rotations: one
        //    statement, one round trip.
        let mut new_leads = NewLeads::new(now);
        let mut decisions = NewDecisions::new(Decided {
            at: now,
            actor: ROUTER_ACTOR,
            ruleset: Some(ruleset_hash),
            note: None,
            bulk_id: None,
        });
        let mut assignees = NewAssignees::new(now, ROUTER_ACTOR);
        for r in &rows {
            let id = r.lead.id.as_str();
            new_leads.push(r.lead, r.received_at, &r.decision);
            let trace = Explained::Rules(&r.decision.trace);
            decisions.push(id, (&r.decision).into(), Some(trace), Via::Route);
            for agent in &r.decision.assignees {
                assignees.push(id, agent, None);
            }
        }
        let mut write = Write::new();
        new_leads.write(&mut write);
        decisions.write(&mut write);
        assignees.write(&mut write);
        outbox::insert(&mut write, rows.iter().map(|r| &r.event));
        rotations::upsert(&mut write, &dirty);
        write.execute(&mut tx).await?;

        // 7.
        tx.commit().await?;
        let events: Vec<OutboxEvent> = rows.iter().map(|r| r.event.clone()).collect();
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_locked_begin_takes_the_routing_lock() {
        let key = crate::store::ROUTING_LOCK_KEY.to_string();
        assert!(super::BEGIN_LOCKED.ends_with(&format!("pg_advisory_xact_lock({key})")));
    }
}
