//! The deciding rule's extra assignees (SPEC 3.1): `also_assign_from` and
//! `also_assign`, read when the rule decides. Assignees never step a rotation and
//! never count as the agent's leads.
use super::decision::{AssigneeSkip, Availability, SkippedAssignee};
use super::state::RoutingState;
use crate::lead::Lead;
use crate::rules::AssigneeSource;
use serde_json::Value;

/// The assignees added, and those named but left out.
#[derive(Debug, Default)]
pub(super) struct Assignees {
    pub added: Vec<String>,
    pub skipped: Vec<SkippedAssignee>,
}

/// The agents `sources` name for `lead`, in order, each once: available agents are
/// added; halted and inactive ones, and the `owner`, are left out and said why. A
/// field that is missing, or holds something other than an id or a list of ids, names
/// nobody (elements that are not non-empty strings are passed over).
pub(super) fn assignees(
    sources: &[AssigneeSource],
    lead: &Lead,
    owner: Option<&str>,
    state: &impl RoutingState,
) -> Assignees {
    let mut out = Assignees::default();
    if sources.is_empty() {
        return out;
    }
    for source in sources {
        match source {
            AssigneeSource::Agents(ids) => {
                for id in ids {
                    out.consider(id, owner, state);
                }
            }
            AssigneeSource::Field(path) => match lead.get_path(&path.segments) {
                Some(Value::String(id)) => out.consider(id, owner, state),
                Some(Value::Array(items)) => {
                    for id in items.iter().filter_map(Value::as_str) {
                        out.consider(id, owner, state);
                    }
                }
                _ => {}
            },
        }
    }
    out
}

impl Assignees {
    fn consider(&mut self, agent: &str, owner: Option<&str>, state: &impl RoutingState) {
        let seen =
            self.added.iter().any(|a| a == agent) || self.skipped.iter().any(|s| s.agent == agent);
        if agent.is_empty() || seen {
            return;
        }
        let why = if owner == Some(agent) {
            AssigneeSkip::Owner
        } else {
            match state.availability(agent) {
                // Working hours and caps hold back pool deals only, never assignees.
                Availability::Available
                | Availability::OffHours
                | Availability::DailyCap
                | Availability::OpenCap => {
                    self.added.push(agent.to_owned());
                    return;
                }
                Availability::Halted => AssigneeSkip::Halted,
                Availability::Inactive => AssigneeSkip::Inactive,
            }
        };
        self.skipped.push(SkippedAssignee {
            agent: agent.to_owned(),
            why,
        });
    }
}
