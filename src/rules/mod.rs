//! Loading, validating and linting a ruleset (SPEC section 3).
mod compile;
pub mod condition;
mod diagnostic;
mod lint;
pub mod model;
pub mod operator;
mod positions;
pub mod schedule;
pub mod script;
mod sources;

pub use diagnostic::{Diagnostic, RulesError};
pub use model::{
    Action, AssigneeSource, ContactField, ContactMatch, IfHalted, Member, MemberSettings, Pool,
    Queue, QueueRole, Region, Rule, Settings, Strategy,
};
pub use schedule::Schedule;

use script::Sandbox;
use sha2::{Digest, Sha256};
use sources::{RuleSources, Scripts};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A loaded, validated, compiled ruleset. Share it as `Arc<Ruleset>` across threads.
#[derive(Debug)]
pub struct Ruleset {
    hash: String,
    path: PathBuf,
    pub(crate) regions: Vec<Region>,
    pub(crate) schedules: BTreeMap<String, Schedule>,
    /// `agents:` entries, by id.
    pub(crate) agents: BTreeMap<String, Settings>,
    /// Agent → the schedule whose midnight ends its day (none: UTC).
    day_schedules: BTreeMap<String, String>,
    pub(crate) pools: BTreeMap<String, Pool>,
    pub(crate) queues: BTreeMap<String, Queue>,
    pub(crate) rules: Vec<Rule>,
    pub(crate) sandbox: Sandbox,
    least_loaded_agents: Vec<String>,
    pool_names: Vec<String>,
    source_files: Vec<PathBuf>,
    scripts: BTreeMap<String, String>,
}

impl Ruleset {
    /// Loads and validates a rules file and the scripts it names (relative to it).
    pub fn load(path: &Path) -> Result<Loaded, RulesError> {
        let source = sources::read_rules_file(path)?;
        Self::from_source(&source, path)
    }

    /// Loads from text; `path` names the file in messages and anchors relative script
    /// paths, which are read from disk.
    pub fn from_source(source: &str, path: &Path) -> Result<Loaded, RulesError> {
        compile::compile(&RuleSources {
            name: path,
            yaml: source,
            scripts: Scripts::Files,
        })
    }

    /// Loads from text with no file access: `scripts` maps each script path, as the rules
    /// name it, to its source (rules kept in PostgreSQL). `name` names the rules in
    /// messages. The same text gives the same ruleset, and hash, as from files.
    pub fn from_sources(
        yaml: &str,
        scripts: &BTreeMap<String, String>,
        name: &Path,
    ) -> Result<Loaded, RulesError> {
        compile::compile(&RuleSources {
            name,
            yaml,
            scripts: Scripts::Memory(scripts),
        })
    }

    /// Short hex SHA-256 of the rules file and every script it names (the `ruleset` column).
    pub fn hash(&self) -> &str {
        &self.hash
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every pool, in name order.
    pub fn pools(&self) -> impl Iterator<Item = &Pool> {
        self.pools.values()
    }

    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pools.get(name)
    }

    /// Every queue the `queues` section lists, in name order.
    pub fn queues(&self) -> impl Iterator<Item = &Queue> {
        self.queues.values()
    }

    /// The queue's managers and members; `None` for a queue the section does not list
    /// (no one may claim from it).
    pub fn queue(&self, name: &str) -> Option<&Queue> {
        self.queues.get(name)
    }

    /// The agent's role in queue `name`, if they may claim its leads.
    pub fn claim_role(&self, queue: &str, agent: &str) -> Option<QueueRole> {
        self.queue(queue).and_then(|q| q.role_of(agent))
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// Every schedule, in name order.
    pub fn schedules(&self) -> impl Iterator<Item = &Schedule> {
        self.schedules.values()
    }

    pub fn schedule(&self, name: &str) -> Option<&Schedule> {
        self.schedules.get(name)
    }

    /// The agents with settings of their own (`agents:`), by id.
    pub fn agents(&self) -> &BTreeMap<String, Settings> {
        &self.agents
    }

    /// Whether any schedule or cap applies to anyone: when not, availability is only
    /// halted/inactive and no count needs loading.
    pub fn has_availability_settings(&self) -> bool {
        self.agents.values().any(|s| !s.is_empty())
            || self.pools.values().any(|p| !p.defaults.is_empty())
    }

    /// What holds `agent` back as a member of `pool`: each of its own settings, else the
    /// pool's, else none; and the schedule that ends its day ([`Ruleset::day_schedule`]).
    pub fn member_settings(&self, pool: &Pool, agent: &str) -> MemberSettings<'_> {
        let own = self.agents.get(agent);
        let pick = |f: fn(&Settings) -> Option<u32>| own.and_then(f).or(f(&pool.defaults));
        let schedule = own
            .and_then(|s| s.schedule.as_deref())
            .or(pool.defaults.schedule.as_deref())
            .and_then(|n| self.schedules.get(n));
        MemberSettings {
            schedule,
            daily_cap: pick(|s| s.daily_cap),
            open_cap: pick(|s| s.open_cap),
            day: self.day_schedule(agent),
        }
    }

    /// The schedule whose local midnight starts `agent`'s day for its daily cap: its own,
    /// else the one its pools give it (`check` makes sure a capped agent has one time zone
    /// at most); `None`: the day is the UTC date.
    pub fn day_schedule(&self, agent: &str) -> Option<&Schedule> {
        self.day_schedules
            .get(agent)
            .and_then(|n| self.schedules.get(n))
    }

    /// `agent`'s day at `at`, as its daily count is kept (see [`Ruleset::day_schedule`]).
    pub fn local_day(&self, agent: &str, at: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
        schedule::local_day(self.day_schedule(agent), at)
    }

    /// Agents whose open-lead counts a decision may read (members of `least_loaded` pools).
    pub fn least_loaded_agents(&self) -> &[String] {
        &self.least_loaded_agents
    }

    /// Names of every pool, sorted (the rotations a batch loads).
    pub fn pool_names(&self) -> &[String] {
        &self.pool_names
    }

    /// Script and rules files the ruleset was read from, to watch for changes (none
    /// when it was compiled from memory).
    pub fn source_files(&self) -> &[PathBuf] {
        &self.source_files
    }

    /// The scripts the rules name, by path as named, with the source compiled: with the
    /// YAML, all a ruleset is made of ([`Ruleset::from_sources`] takes them back).
    pub fn scripts(&self) -> &BTreeMap<String, String> {
        &self.scripts
    }
}

fn least_loaded(pools: &BTreeMap<String, Pool>) -> Vec<String> {
    let mut v: Vec<String> = pools
        .values()
        .filter(|p| p.strategy == Strategy::LeastLoaded)
        .flat_map(|p| p.members.iter().map(|m| m.agent.clone()))
        .collect();
    v.sort();
    v.dedup();
    v
}

pub(crate) fn hash_sources<'a>(parts: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut h = Sha256::new();
    for (name, bytes) in parts {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    hex::encode(&h.finalize()[..8])
}

/// A ruleset and the warnings `check` shows (rules that can never decide, unused pools).
#[derive(Debug)]
pub struct Loaded {
    pub ruleset: Ruleset,
    pub warnings: Vec<Diagnostic>,
}
