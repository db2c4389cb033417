//! The state a decision reads and steps: agent availability, open-lead counts, pool
//! rotations. Behind a trait so `simulate`/`replay` (in memory) and the daemon
//! (a snapshot loaded from PostgreSQL per batch, written back in the same transaction)
//! share one engine.
use super::decision::Availability;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Rotation position of one pool; serialized as JSON in PostgreSQL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolRotation {
    /// round_robin: the member picked last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
    /// weighted (smooth weighted round robin): each member's current weight.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub current: BTreeMap<String, i64>,
}

pub trait RoutingState {
    fn availability(&self, agent: &str) -> Availability;
    /// Open (assigned) leads an agent holds now.
    fn open_leads(&self, agent: &str) -> u64;
    /// The rotation of a pool, if it was ever stepped.
    fn rotation(&self, pool: &str) -> Option<&PoolRotation>;
    /// The rotation of a pool, for stepping.
    fn rotation_mut(&mut self, pool: &str) -> &mut PoolRotation;
    /// Called once per lead assigned to an agent by the router.
    fn record_assignment(&mut self, agent: &str);
}

/// The in-memory state: used as-is by `simulate` and `replay`, and as the per-batch
/// snapshot by the daemon.
#[derive(Debug, Clone, Default)]
pub struct MemoryState {
    pub halted: HashSet<String>,
    pub inactive: HashSet<String>,
    pub open_leads: HashMap<String, u64>,
    pub rotations: HashMap<String, PoolRotation>,
    /// Pools whose rotation was stepped since the last [`MemoryState::take_dirty`].
    dirty: HashSet<String>,
}

impl MemoryState {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_halted<I: IntoIterator<Item = String>>(mut self, ids: I) -> Self {
        self.halted.extend(ids);
        self
    }

    /// The pools stepped since the last call, with their rotation now (for writing back).
    pub fn take_dirty(&mut self) -> Vec<(String, PoolRotation)> {
        let mut out: Vec<_> = self
            .dirty
            .drain()
            .map(|p| {
                let r = self.rotations.get(&p).cloned().unwrap_or_default();
                (p, r)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

impl RoutingState for MemoryState {
    fn availability(&self, agent: &str) -> Availability {
        if self.inactive.contains(agent) {
            Availability::Inactive
        } else if self.halted.contains(agent) {
            Availability::Halted
        } else {
            Availability::Available
        }
    }

    fn open_leads(&self, agent: &str) -> u64 {
        self.open_leads.get(agent).copied().unwrap_or(0)
    }

    fn rotation(&self, pool: &str) -> Option<&PoolRotation> {
        self.rotations.get(pool)
    }

    fn rotation_mut(&mut self, pool: &str) -> &mut PoolRotation {
        if !self.dirty.contains(pool) {
            self.dirty.insert(pool.to_owned());
        }
        self.rotations.entry(pool.to_owned()).or_default()
    }

    fn record_assignment(&mut self, agent: &str) {
        *self.open_leads.entry(agent.to_owned()).or_insert(0) += 1;
    }
}
