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
use uuid::Uuid;

/// How a decision came about (`routing_decisions.via`, and every event's `via`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// The router's decision.
    Route,
    /// `leads reassign` (to an agent or a queue).
    Reassign,
    /// `leads unassign`.
    Unassign,
    /// The lead's assignees changed by hand, or an assignee was offboarded; the
    /// owner state stays.
    Assignees,
    /// A member or manager of the lead's queue took it (`leads claim`).
    Claim,
    /// The offered agent accepted.
    Accept,
    /// What follows an ended offer.
    OfferEnded,
    /// A bulk pass (`leads pass`).
    Pass,
    /// An offboarded agent's lead moved.
    Offboard,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Route => "route",
            Self::Reassign => "reassign",
            Self::Unassign => "unassign",
            Self::Assignees => "assignees",
            Self::Claim => "claim",
            Self::Accept => "accept",
            Self::OfferEnded => "offer_ended",
            Self::Pass => "pass",
            Self::Offboard => "offboard",
        }
    }
}

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
    /// How it came about: `route`, `reassign`, `claim`, … (see [`Via`]; read as text,
    /// so a newer version's values show as they are).
    pub via: String,
    /// The bulk pass it belongs to, if any.
    pub bulk_id: Option<Uuid>,
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
    /// The bulk pass the rows belong to.
    pub bulk_id: Option<Uuid>,
}

impl Decided<'_> {
    fn name(&self, c: &mut Columns<'_>) {
        c.shared("ruleset", self.ruleset);
        c.shared("decided_at", self.at);
        c.shared("actor", self.actor);
        c.shared("note", self.note);
        c.shared("bulk_id", self.bulk_id);
    }
}

/// New `routing_decisions` rows, pushed in order (their ids follow it).
pub(super) struct NewDecisions<'a> {
    lead_id: Vec<&'a str>,
    placement: PlacementColumns<'a>,
    trace: Vec<Option<Json<Explained<'a>>>>,
    via: Vec<&'static str>,
    decided: Decided<'a>,
}

impl<'a> NewDecisions<'a> {
    pub fn new(decided: Decided<'a>) -> Self {
        NewDecisions {
            lead_id: Vec::new(),
            placement: PlacementColumns::default(),
            trace: Vec::new(),
            via: Vec::new(),
            decided,
        }
    }

    pub fn push(
        &mut self,
        lead_id: &'a str,
        to: PlacementRef<'a>,
        trace: Option<Explained<'a>>,
        via: Via,
    ) {
        self.lead_id.push(lead_id);
        self.placement.push(to);
        self.trace.push(trace.map(Json));
        self.via.push(via.as_str());
    }

    pub fn write(&self, w: &mut Write) {
        let rows = self.lead_id.len();
        w.part("routing_decisions", Verb::Insert { tail: "" }, rows, |c| {
            self.decided.name(c);
            c.rows("lead_id", &self.lead_id);
            self.placement.name(c);
            c.rows("trace", &self.trace);
            c.rows("via", &self.via);
        });
    }
}

/// The lead's decisions, oldest first.
pub(super) const HISTORY: ByKey<DecisionRecord> = ByKey::new(concat!(
    "SELECT id, ",
    placement_columns!(),
    ", trace, ruleset, decided_at, actor, note, via, bulk_id
     FROM routing_decisions WHERE lead_id = $1 ORDER BY id"
));

/// What the lead's latest change was, for a conflict's message ("assigned to bob by
/// claim at ..."): its placement, who, how and when.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LatestChange {
    #[sqlx(flatten)]
    pub placement: Placement,
    pub actor: String,
    pub via: String,
    pub decided_at: DateTime<Utc>,
}

/// The lead's latest decision that put it where it is (an assignees change leaves
/// it where it was).
pub(super) const LATEST: ByKey<LatestChange> = ByKey::new(concat!(
    "SELECT ",
    placement_columns!(),
    ", actor, via, decided_at FROM routing_decisions WHERE lead_id = $1 AND via <> 'assignees'
     ORDER BY id DESC LIMIT 1"
));
