//! The `routing_decisions` table (SPEC 6): append-only, one row per decision, the
//! router's and every manual change. Its columns and statements live here only.
use super::placement::{Placement, PlacementColumns, PlacementRef, placement_columns};
use super::read::ByKey;
use super::write::{Columns, Verb, Write};
use crate::routing::Trace;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;

/// One `routing_decisions` row as stored (`leads show`).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct DecisionRecord {
    pub id: i64,
    /// Where the decision put the lead.
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub placement: Placement,
    /// The router's explain trace; null for manual changes, except pool deals by
    /// `agents offboard --pool`, which record the pick (see `store::offboard`).
    #[sqlx(json(nullable))]
    pub trace: Option<Value>,
    /// Hash of the rules in force; null for manual changes.
    pub ruleset: Option<String>,
    pub decided_at: DateTime<Utc>,
    /// `router`, or who made the change.
    pub actor: String,
    pub note: Option<String>,
}

/// What explains a decision, as stored in `trace`.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(untagged)]
pub(super) enum Explained<'a> {
    /// The rules' trace (the router).
    Rules(&'a Trace),
    /// Anything else that explains a manual change (a pool deal by offboarding).
    Other(&'a Value),
}

/// What every row of one statement shares: one decision time, one actor.
#[derive(Debug, Clone, Copy)]
pub(super) struct Decided<'a> {
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    /// The ruleset hash (the router); `None` for manual changes.
    pub ruleset: Option<&'a str>,
    /// A manual change's note.
    pub note: Option<&'a str>,
    // Next: `via` (`route`, `reassign`, `offboard`, …) and a bulk pass's `bulk_id`.
}

impl Decided<'_> {
    fn name(&self, c: &mut Columns<'_>) {
        c.shared("ruleset", self.ruleset);
        c.shared("decided_at", self.at);
        c.shared("actor", self.actor);
        c.shared("note", self.note);
    }
}

/// New `routing_decisions` rows, pushed in order (their ids follow it).
pub(super) struct NewDecisions<'a> {
    lead_id: Vec<&'a str>,
    placement: PlacementColumns<'a>,
    trace: Vec<Option<Json<Explained<'a>>>>,
    decided: Decided<'a>,
}

impl<'a> NewDecisions<'a> {
    pub fn new(decided: Decided<'a>) -> Self {
        NewDecisions {
            lead_id: Vec::new(),
            placement: PlacementColumns::default(),
            trace: Vec::new(),
            decided,
        }
    }

    pub fn push(&mut self, lead_id: &'a str, to: PlacementRef<'a>, trace: Option<Explained<'a>>) {
        self.lead_id.push(lead_id);
        self.placement.push(to);
        self.trace.push(trace.map(Json));
    }

    pub fn write(&self, w: &mut Write) {
        let rows = self.lead_id.len();
        w.part("routing_decisions", Verb::Insert { tail: "" }, rows, |c| {
            self.decided.name(c);
            c.rows("lead_id", &self.lead_id);
            self.placement.name(c);
            c.rows("trace", &self.trace);
        });
    }
}

/// The lead's decisions, oldest first.
pub(super) const HISTORY: ByKey<DecisionRecord> = ByKey::new(concat!(
    "SELECT id, ",
    placement_columns!(),
    ", trace, ruleset, decided_at, actor, note
     FROM routing_decisions WHERE lead_id = $1 ORDER BY id"
));
