//! The compiled ruleset: what the engine evaluates.
use super::condition::{Condition, FieldPath};
use super::schedule::Schedule;
use super::script::Script;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug)]
pub struct Rule {
    pub name: Arc<str>,
    pub line: usize,
    pub when: Option<Condition>,
    pub when_script: Option<Script>,
    pub action: Action,
    pub if_halted: IfHalted,
    /// Who else works the lead when this rule decides (`also_assign_from`,
    /// `also_assign`), in the order the rule lists them.
    pub also_assign: Vec<AssigneeSource>,
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
    /// The current owner of the latest earlier lead from the same contact (SPEC 3.5).
    OwnerOfContact(ContactMatch),
}

/// `assign: {owner_of_contact: {match: [..], within: ..}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactMatch {
    /// The keys compared, as listed (no duplicates, at least one).
    pub keys: Vec<ContactField>,
    /// How far back earlier leads count (by `received_at`); default 365 days.
    pub within: Duration,
}

/// A contact field a known contact is matched by; the `by` of the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContactField {
    Email,
    Phone,
}

impl ContactField {
    pub const ALL: [ContactField; 2] = [Self::Email, Self::Phone];

    /// As written in `match:` and shown in the trace.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

impl Action {
    /// True when the action decides whenever it is reached (nothing can make it pass).
    pub fn always_decides(&self) -> bool {
        matches!(self, Action::Queue(_) | Action::Unassigned)
    }
}

/// Where a rule's extra assignees (SPEC 3.1) come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssigneeSource {
    /// `also_assign_from: FIELD`: a lead field holding an agent id or a list of ids.
    Field(FieldPath),
    /// `also_assign: [ID, ..]`: fixed agent ids.
    Agents(Vec<String>),
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
    /// For members without settings of their own (`agents:`).
    pub defaults: Settings,
}

/// Working hours and caps: an `agents:` entry, or a pool's defaults for its members.
/// Each field left out falls back to the pool's, then to none (always open, no cap).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// A `schedules:` name (checked to exist).
    pub schedule: Option<String>,
    /// Leads the router may give the agent per local day (offers open now included).
    pub daily_cap: Option<u32>,
    /// Assigned leads the agent may own at once.
    pub open_cap: Option<u32>,
}

impl Settings {
    pub fn is_empty(&self) -> bool {
        *self == Settings::default()
    }
}

/// A pool member's settings in force: its own, else the pool's ([`crate::rules::Ruleset::member_settings`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct MemberSettings<'r> {
    /// `None`: always open.
    pub schedule: Option<&'r Schedule>,
    pub daily_cap: Option<u32>,
    pub open_cap: Option<u32>,
    /// The schedule whose local midnight starts the agent's day (`None`: UTC).
    pub day: Option<&'r Schedule>,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub agent: String,
    /// 1 unless the pool is `weighted`.
    pub weight: u32,
}

/// A queue with people who may take its leads themselves (SPEC 3.2): an office's
/// managers, a pass group's members. A queue the rules name without listing it here
/// has no one: only admins hand its leads out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    pub name: String,
    pub managers: Vec<String>,
    pub members: Vec<String>,
}

/// Why an agent may claim from a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueRole {
    Manager,
    Member,
}

impl QueueRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manager => "manager",
            Self::Member => "member",
        }
    }
}

impl Queue {
    /// The agent's role in the queue, if any (a manager first: managers outrank members).
    pub fn role_of(&self, agent: &str) -> Option<QueueRole> {
        if self.managers.iter().any(|m| m == agent) {
            Some(QueueRole::Manager)
        } else if self.members.iter().any(|m| m == agent) {
            Some(QueueRole::Member)
        } else {
            None
        }
    }
}
