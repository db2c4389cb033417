//! Deciding: `decide(ruleset, lead, state) -> RoutingDecision` (with its trace).
//! Pure: no I/O, no tokio; shared by `run`, `simulate`, `replay` and the benches.
pub mod decision;
pub mod state;

pub use decision::{Availability, LeadStatus, Pick, RoutingDecision, RuleOutcome, RuleTrace, SkippedAgent, Trace};
pub use state::{MemoryState, PoolRotation, RoutingState};

use crate::lead::Lead;
use crate::rules::Ruleset;

/// Routes one lead: rules top to bottom, the first that decides wins.
pub fn decide(_ruleset: &Ruleset, _lead: &Lead, _state: &mut impl RoutingState) -> RoutingDecision {
    todo!()
}
