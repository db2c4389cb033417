//! What the engine returns: the decision and the trace that explains it.
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeadStatus {
    Assigned,
    Queued,
    Unassigned,
}

impl LeadStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Assigned => "assigned",
            Self::Queued => "queued",
            Self::Unassigned => "unassigned",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "assigned" => Some(Self::Assigned),
            "queued" => Some(Self::Queued),
            "unassigned" => Some(Self::Unassigned),
            _ => None,
        }
    }
}

/// The owner decision for one lead. `rule` is `None` when no rule decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingDecision {
    pub status: LeadStatus,
    pub owner_id: Option<String>,
    pub queue: Option<String>,
    pub pool: Option<String>,
    pub rule: Option<String>,
    pub trace: Trace,
    /// Who works the lead besides its owner (SPEC 3.1): the deciding rule's
    /// `also_assign_from` and `also_assign`, available agents only, the owner left
    /// out, each once, in the order the rule lists them.
    #[serde(default)]
    pub assignees: Vec<String>,
}

impl RoutingDecision {
    /// True when no rule decided (counted apart from an explicit `unassigned`).
    pub fn is_unmatched(&self) -> bool {
        self.rule.is_none()
    }

    /// Rules whose script failed or hit a sandbox bound while deciding this lead.
    pub fn rule_errors(&self) -> impl Iterator<Item = &RuleTrace> {
        self.trace
            .rules
            .iter()
            .filter(|r| r.outcome == RuleOutcome::Error)
    }
}

/// The explain trace: why each rule did or did not decide.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// The lead's region, as resolved (publisher's `region` field or lookup).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub rules: Vec<RuleTrace>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleTrace {
    pub rule: Arc<str>,
    pub outcome: RuleOutcome,
    /// Why, in words an admin reads: the failed condition, the halted agent, the script error.
    pub reason: Arc<str>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedAgent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picked: Option<Pick>,
    /// The deciding rule's assignees, as added (see [`RoutingDecision::assignees`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignees: Vec<String>,
    /// Agents the deciding rule names as assignees but left out, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignees_skipped: Vec<SkippedAssignee>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleOutcome {
    /// The rule's conditions did not hold.
    NoMatch,
    /// Conditions held and the rule decided: this is the winning rule.
    Decided,
    /// Conditions held but the rule could not decide (halted agent, empty pool, script returned ()).
    Passed,
    /// A script failed or hit a sandbox bound; the next rule was tried.
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedAgent {
    pub agent: String,
    pub why: Availability,
}

/// An agent a rule names as an assignee but did not add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedAssignee {
    pub agent: String,
    pub why: AssigneeSkip,
}

/// Why a named assignee was left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssigneeSkip {
    /// Halted: the router adds no halted agent (an admin may, by hand).
    Halted,
    /// Inactive (offboarded): never an assignee.
    Inactive,
    /// The lead's owner: an owner is not also an assignee.
    Owner,
}

impl AssigneeSkip {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Halted => "halted",
            Self::Inactive => "inactive",
            Self::Owner => "owner",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pick {
    pub agent: String,
    /// e.g. "round_robin: next after bob", "weighted: highest current weight", "least_loaded: 2 open leads".
    pub why: String,
}

/// Whether an agent can receive leads right now, or the first reason it cannot, in
/// the order checked (`routing::availability`): halted or inactive (the `agents`
/// table), then off hours, then the daily cap, then the open cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    Available,
    Halted,
    Inactive,
    /// Outside its schedule's hours (SPEC 3.4).
    OffHours,
    /// Given `daily_cap` leads by the router today (its local day), open offers included.
    DailyCap,
    /// Owns `open_cap` assigned leads.
    OpenCap,
}

impl Availability {
    /// As serialized: `available`, `halted`, `inactive`, `off_hours`, `daily_cap`, `open_cap`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::Halted => "halted",
            Self::Inactive => "inactive",
            Self::OffHours => "off_hours",
            Self::DailyCap => "daily_cap",
            Self::OpenCap => "open_cap",
        }
    }
}
