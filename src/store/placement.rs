//! Where a decision puts a lead: the status, owner, queue, pool and rule that `leads`
//! (where the lead is now) and `routing_decisions` (where each decision put it) both
//! record (SPEC 6). Both tables' writers push them through [`PlacementColumns`], so a
//! column the two gain together is added here once.
use super::write::Columns;
use crate::routing::{LeadStatus, RoutingDecision};
use serde::Serialize;

/// Where a decision put a lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Placement {
    pub status: LeadStatus,
    /// Set only when assigned.
    pub owner_id: Option<String>,
    /// Set only when queued.
    pub queue: Option<String>,
    /// The pool that dealt it.
    pub pool: Option<String>,
    /// The rule that decided it; none when no rule did, and after a manual change.
    pub rule: Option<String>,
    // Next: `offered_to` (in both tables, set only while offered), here and in
    // `PlacementRef`, `PlacementColumns` and `placement_columns!`.
}

/// [`Placement`]'s columns, for selects (a macro: `concat!` takes only literals).
macro_rules! placement_columns {
    () => {
        "status, owner_id, queue, pool, rule"
    };
}
pub(super) use placement_columns;

/// A [`Placement`] borrowed for writing (a batch writes its decisions without copying them).
#[derive(Debug, Clone, Copy)]
pub(super) struct PlacementRef<'a> {
    pub status: LeadStatus,
    pub owner_id: Option<&'a str>,
    pub queue: Option<&'a str>,
    pub pool: Option<&'a str>,
    pub rule: Option<&'a str>,
}

impl<'a> From<&'a RoutingDecision> for PlacementRef<'a> {
    fn from(d: &'a RoutingDecision) -> Self {
        PlacementRef {
            status: d.status,
            owner_id: d.owner_id.as_deref(),
            queue: d.queue.as_deref(),
            pool: d.pool.as_deref(),
            rule: d.rule.as_deref(),
        }
    }
}

impl<'a> From<&'a Placement> for PlacementRef<'a> {
    fn from(p: &'a Placement) -> Self {
        PlacementRef {
            status: p.status,
            owner_id: p.owner_id.as_deref(),
            queue: p.queue.as_deref(),
            pool: p.pool.as_deref(),
            rule: p.rule.as_deref(),
        }
    }
}

impl PlacementRef<'_> {
    pub fn to_owned(self) -> Placement {
        Placement {
            status: self.status,
            owner_id: self.owner_id.map(str::to_owned),
            queue: self.queue.map(str::to_owned),
            pool: self.pool.map(str::to_owned),
            rule: self.rule.map(str::to_owned),
        }
    }
}

/// The placement columns of the rows a statement writes, one entry per row.
#[derive(Default)]
pub(super) struct PlacementColumns<'a> {
    status: Vec<LeadStatus>,
    owner_id: Vec<Option<&'a str>>,
    queue: Vec<Option<&'a str>>,
    pool: Vec<Option<&'a str>>,
    rule: Vec<Option<&'a str>>,
}

impl<'a> PlacementColumns<'a> {
    pub fn push(&mut self, to: PlacementRef<'a>) {
        self.status.push(to.status);
        self.owner_id.push(to.owner_id);
        self.queue.push(to.queue);
        self.pool.push(to.pool);
        self.rule.push(to.rule);
    }

    pub fn name(&self, c: &mut Columns<'_>) {
        c.rows("status", &self.status);
        c.rows("owner_id", &self.owner_id);
        c.rows("queue", &self.queue);
        c.rows("pool", &self.pool);
        c.rows("rule", &self.rule);
    }
}
