//! The compiled ruleset: what the engine evaluates.
use super::condition::{Condition, FieldPath};
use super::script::Script;
use std::sync::Arc;

#[derive(Debug)]
pub struct Rule {
    pub name: Arc<str>,
    pub line: usize,
    pub when: Option<Condition>,
    pub when_script: Option<Script>,
    pub action: Action,
    pub if_halted: IfHalted,
    /// The `when` as written, to spot identical conditions when linting.
    pub(crate) when_source: Option<serde_yaml::Value>,
    pub(crate) when_script_source: Option<String>,
}

impl Rule {
    pub fn is_unconditional(&self) -> bool {
        self.when.is_none() && self.when_script.is_none()
    }
}

#[derive(Debug)]
pub enum Action {
    /// The agent named by a field of the lead (e.g. `agent_id`).
    AgentFrom(FieldPath),
    /// A fixed agent.
    Agent(String),
    Pool(String),
    Queue(String),
    Unassigned,
    /// A Rhai script returning `#{agent|pool|queue: ..}`, `"unassigned"` or `()`.
    Script(Script),
}

impl Action {
    /// True when the action decides whenever it is reached (nothing can make it pass).
    pub fn always_decides(&self) -> bool {
        matches!(self, Action::Queue(_) | Action::Unassigned)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IfHalted {
    /// Try the next rule (default).
    #[default]
    Continue,
    /// Give the lead to the halted agent anyway.
    Assign,
}

#[derive(Debug, Clone)]
pub struct Region {
    pub name: String,
    /// Upper-cased; matched case-insensitively against `address.state`.
    pub states: Vec<String>,
    pub postal_prefixes: Vec<String>,
}

impl Region {
    pub fn contains(&self, state: Option<&str>, postal_code: Option<&str>) -> bool {
        let by_state = state.is_some_and(|s| {
            let s = s.trim();
            self.states.iter().any(|x| x.eq_ignore_ascii_case(s))
        });
        by_state
            || postal_code.is_some_and(|p| {
                let p = p.trim();
                self.postal_prefixes
                    .iter()
                    .any(|x| p.starts_with(x.as_str()))
            })
    }
}

/// How a pool deals its leads among its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    RoundRobin,
    Weighted,
    LeastLoaded,
}

impl Strategy {
    /// Every strategy, in the order error messages list them.
    pub const ALL: [Strategy; 3] = [Self::RoundRobin, Self::Weighted, Self::LeastLoaded];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RoundRobin => "round_robin",
            Self::Weighted => "weighted",
            Self::LeastLoaded => "least_loaded",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

#[derive(Debug, Clone)]
pub struct Pool {
    pub name: String,
    pub strategy: Strategy,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub agent: String,
    /// 1 unless the pool is `weighted`.
    pub weight: u32,
}
