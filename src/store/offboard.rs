//! `agents offboard`: mark an agent inactive, move every open lead of theirs to another
//! agent or through a pool's rotation, and take them off every lead they were an
//! assignee of: in one transaction.
use super::Store;
use super::agents::{self, AgentRow, notify_agent, upsert_agent};
use super::assignees;
use super::change_error::ChangeError;
use super::changes::{AssigneesWrite, ChangedBy, ManualWrite, write_changes};
use super::decisions::Via;
use super::events::OutboxEvent;
use super::leads;
use super::locks::{self, Touches};
use super::manual::{ManualTarget, check_target};
use super::snapshot::load_state;
use crate::routing::{PoolRotation, SkippedAgent, deal_from_pool};
use crate::rules::{Pool, Strategy};
use chrono::{DateTime, Utc};
use serde_json::json;

/// Where an offboarded agent's open leads go.
#[derive(Debug, Clone, Copy)]
pub enum OffboardTo<'a> {
    /// All to this agent (not inactive; halted is allowed, as for any manual change).
    Agent(&'a str),
    /// Dealt one by one through the pool's strategy and stored rotation, skipping
    /// halted and inactive members (the offboarded agent among them).
    Pool(&'a Pool),
}

/// One lead moved by an offboarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedLead {
    pub lead_id: String,
    pub to: String,
}

/// What an offboarding did.
#[derive(Debug, Clone)]
pub struct Offboarded {
    /// The agent's row now (inactive).
    pub agent: AgentRow,
    /// False when the agent already was inactive (offboarding again moves any open
    /// leads left, e.g. by an earlier `--to` that was undone by hand).
    pub was_active: bool,
    /// The leads moved, in the order they were dealt (oldest received first).
    pub moved: Vec<MovedLead>,
    pub at: DateTime<Utc>,
    /// The leads they were an assignee of, and no longer are (oldest received first);
    /// one `lead.assignees_changed` event each.
    pub assignee_slots: Vec<String>,
    /// Every event written: the moves' `lead.assigned` (in `moved` order), then the
    /// assignee slots' `lead.assignees_changed`.
    pub events: Vec<OutboxEvent>,
    /// The pool's rotation after the deals (`--pool` with at least one lead).
    pub rotation: Option<(String, PoolRotation)>,
    /// Pool members passed over in the deals (halted, inactive), each named once.
    pub skipped: Vec<SkippedAgent>,
}

impl Store {
    /// Marks `agent` inactive and moves their open (assigned) leads `to`, each recorded
    /// as `actor`'s decision with `note` (`via: offboard`) and announced by a
    /// `lead.assigned` event with `previous_owner_id`; then removes them from the
    /// assignees of every lead they work (a decision row `via: assignees` and a
    /// `lead.assignees_changed` event per lead). Refuses (writing nothing) a target
    /// that is the agent itself or inactive, and a pool left with no available member.
    pub async fn offboard(
        &self,
        agent: &str,
        to: OffboardTo<'_>,
        actor: &str,
        note: Option<&str>,
    ) -> Result<Offboarded, ChangeError> {
        let mut tx = self.pool.begin().await?;
        // Same lock order as batches and reassignments: routing lock, then rows. Held
        // to the end, so no batch deals from the pool between our load and our save of
        // its rotation, and no reassignment to this agent slips in after we list the leads.
        let pools: Vec<&str> = match to {
            OffboardTo::Pool(pool) => vec![pool.name.as_str()],
            OffboardTo::Agent(_) => Vec::new(),
        };
        // The leads are found under the lock, so only the pool can be named up front.
        let touches = Touches {
            leads: &[],
            pools: &pools,
        };
        let now = locks::lock(&mut tx, &touches).await?;
        if let OffboardTo::Agent(target) = to {
            if target == agent {
                return Err(ChangeError::SameAgent(agent.to_owned()));
            }
            check_target(&mut tx, target).await?;
        }
        let was_active = agents::LOCK
            .one(&mut tx, agent)
            .await?
            .is_none_or(|row| row.active);
        let row = upsert_agent(&mut tx, agent, None, Some(false), actor).await?;
        let leads: Vec<String> = leads::LOCK_OPEN_LEADS_OF
            .all(&mut tx, agent)
            .await?
            .into_iter()
            .map(|(id,)| id)
            .collect();

        let mut targets = Vec::with_capacity(leads.len());
        let mut traces = Vec::with_capacity(leads.len());
        let mut dirty = Vec::new();
        let mut skipped: Vec<SkippedAgent> = Vec::new();
        match to {
            OffboardTo::Agent(target) => {
                targets.resize(leads.len(), ManualTarget::Agent(target.to_owned()));
                traces.resize(leads.len(), None);
            }
            OffboardTo::Pool(pool) if !leads.is_empty() => {
                let least_loaded: Vec<String> = match pool.strategy {
                    Strategy::LeastLoaded => pool.members.iter().map(|m| m.agent.clone()).collect(),
                    _ => Vec::new(),
                };
                // Loaded after the upsert above: the agent is inactive in this state,
                // so the pool skips them like any inactive member.
                let mut state =
                    load_state(&mut tx, &least_loaded, std::slice::from_ref(&pool.name)).await?;
                for _ in &leads {
                    let out = deal_from_pool(pool, &mut state);
                    let Some(pick) = out.pick else {
                        // Dropping `tx` rolls back: the agent stays as they were.
                        return Err(ChangeError::NoAvailableMember {
                            pool: pool.name.clone(),
                            agent: agent.to_owned(),
                            skipped: out.skipped,
                        });
                    };
                    // Not a rules trace (no rule decided): what explains this deal.
                    traces.push(Some(json!({
                        "manual": "offboard",
                        "offboarded": agent,
                        "pool": pool.name,
                        "strategy": pool.strategy.as_str(),
                        "picked": pick,
                        "skipped": out.skipped,
                    })));
                    for s in out.skipped {
                        if !skipped.iter().any(|k| k.agent == s.agent) {
                            skipped.push(s);
                        }
                    }
                    targets.push(ManualTarget::Agent(pick.agent));
                }
                dirty = state.take_dirty();
            }
            OffboardTo::Pool(_) => {}
        }

        let dealt_by = match to {
            OffboardTo::Pool(pool) => Some(pool.name.as_str()),
            OffboardTo::Agent(_) => None,
        };
        let moved_ids: Vec<&str> = leads.iter().map(String::as_str).collect();
        let mut kept = assignees::of_leads(&mut tx, &moved_ids).await?;
        let writes: Vec<ManualWrite<'_>> = leads
            .iter()
            .zip(&targets)
            .zip(traces)
            .map(|((lead_id, target), trace)| ManualWrite {
                lead_id,
                // An open lead has an owner: no ownerless spell runs.
                after: target.state_after(None, now),
                previous_owner: Some(agent),
                dealt_by,
                trace,
                via: Via::Offboard,
                assignees: kept.remove(lead_id.as_str()).unwrap_or_default(),
            })
            .collect();

        // The assignee slots: locked after the owned leads (a lead is never both).
        let slots: Vec<String> = assignees::LOCK_LEADS_WITH
            .all(&mut tx, agent)
            .await?
            .into_iter()
            .map(|(id,)| id)
            .collect();
        let slot_ids: Vec<&str> = slots.iter().map(String::as_str).collect();
        let mut slot_assignees = assignees::of_leads(&mut tx, &slot_ids).await?;
        let mut slot_states = leads::states_of(&mut tx, &slot_ids).await?;
        let mut slot_writes = Vec::with_capacity(slots.len());
        for id in &slots {
            let state = slot_states.remove(id.as_str()).ok_or_else(|| {
                super::StoreError::Unexpected(format!("lead {id:?} vanished under its lock"))
            })?;
            slot_writes.push(AssigneesWrite {
                lead_id: id,
                state,
                before: slot_assignees.remove(id.as_str()).unwrap_or_default(),
                added: Vec::new(),
                removed: vec![agent.to_owned()],
            });
        }
        let by = ChangedBy {
            now,
            actor,
            note,
            bulk_id: None,
        };
        let events = write_changes(&mut tx, &writes, &slot_writes, by, &dirty).await?;
        notify_agent(&mut tx, agent).await?;
        tx.commit().await?;
        let rotation = match to {
            OffboardTo::Pool(pool) => dirty.into_iter().find(|(p, _)| *p == pool.name),
            OffboardTo::Agent(_) => None,
        };

        let moved = leads
            .into_iter()
            .zip(targets)
            .map(|(lead_id, target)| MovedLead {
                lead_id,
                to: target.owner_id().unwrap_or_default().to_owned(),
            })
            .collect();
        Ok(Offboarded {
            agent: row,
            was_active,
            moved,
            at: now,
            assignee_slots: slots,
            events,
            rotation,
            skipped,
        })
    }
}
