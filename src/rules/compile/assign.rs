//! A rule's `assign:` — `unassigned` or a one-key mapping naming who gets the lead.
use super::{Compiler, list_or_none, show};
use crate::rules::condition::FieldPath;
use crate::rules::model::{Action, Pool};
use serde_yaml::Value as Yaml;
use std::collections::BTreeMap;

/// The keys of an `assign: {KEY: ..}` mapping, each with what it takes (for help texts).
#[derive(Debug, Clone, Copy)]
enum Assignment {
    AgentFrom,
    Agent,
    Pool,
    Queue,
}

impl Assignment {
    const ALL: [Assignment; 4] = [Self::AgentFrom, Self::Agent, Self::Pool, Self::Queue];

    fn key(self) -> &'static str {
        match self {
            Self::AgentFrom => "agent_from",
            Self::Agent => "agent",
            Self::Pool => "pool",
            Self::Queue => "queue",
        }
    }

    /// What the value is, in the help text: `{agent_from: FIELD}`.
    fn takes(self) -> &'static str {
        match self {
            Self::AgentFrom => "FIELD",
            Self::Agent => "ID",
            Self::Pool | Self::Queue => "NAME",
        }
    }

    fn parse(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.key() == key)
    }
}

/// `assign` written without a mapping.
const UNASSIGNED: &str = "unassigned";

impl Compiler<'_> {
    /// `agent_from, agent, pool, queue, unassigned`: every form `assign` takes.
    pub(super) fn assign_kinds() -> String {
        let mut kinds: Vec<&str> = Assignment::ALL.map(Assignment::key).to_vec();
        kinds.push(UNASSIGNED);
        kinds.join(", ")
    }

    pub(super) fn assign(
        &mut self,
        at: &str,
        v: &Yaml,
        pools: &BTreeMap<String, Pool>,
    ) -> Option<Action> {
        if v.as_str() == Some(UNASSIGNED) {
            return Some(Action::Unassigned);
        }
        let Some(m) = v.as_mapping().filter(|m| m.len() == 1) else {
            self.err(at, format!("invalid {}; expected {}", show(v), help()));
            return None;
        };
        let (k, val) = m.iter().next()?;
        let Some(kind) = k.as_str().and_then(Assignment::parse) else {
            // A bad value is reported first, as for a known key.
            if self.assigned_name(at, k, val).is_some() {
                self.err(
                    at,
                    format!("unknown assignment {}; expected {}", show(k), help()),
                );
            }
            return None;
        };
        // Each kind reads its own value (all of them, so far, a name).
        match kind {
            Assignment::AgentFrom => {
                let s = self.assigned_name(at, k, val)?;
                match FieldPath::parse(s) {
                    Some(p) => Some(Action::AgentFrom(p)),
                    None => {
                        self.err(at, format!("agent_from: invalid field path `{s}`"));
                        None
                    }
                }
            }
            Assignment::Agent => Some(Action::Agent(self.assigned_name(at, k, val)?.to_owned())),
            Assignment::Pool => {
                let s = self.assigned_name(at, k, val)?;
                if pools.contains_key(s) {
                    return Some(Action::Pool(s.to_owned()));
                }
                let known: Vec<&str> = pools.keys().map(String::as_str).collect();
                self.err(
                    at,
                    format!("unknown pool `{s}` (pools: {})", list_or_none(&known)),
                );
                None
            }
            Assignment::Queue => Some(Action::Queue(self.assigned_name(at, k, val)?.to_owned())),
        }
    }

    /// The name an assignment gives (trimmed), or an error.
    fn assigned_name<'v>(&mut self, at: &str, k: &Yaml, val: &'v Yaml) -> Option<&'v str> {
        let name = val.as_str().map(str::trim).filter(|s| !s.is_empty());
        if name.is_none() {
            self.err(
                at,
                format!("`{}` needs a non-empty name, got {}", show(k), show(val)),
            );
        }
        name
    }
}

/// `assign: {agent_from: FIELD} | {agent: ID} | ... | unassigned`
fn help() -> String {
    let forms: Vec<String> = Assignment::ALL
        .iter()
        .map(|a| format!("{{{}: {}}}", a.key(), a.takes()))
        .collect();
    format!("assign: {} | {UNASSIGNED}", forms.join(" | "))
}
