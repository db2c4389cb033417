//! Loading, validating and linting a ruleset (SPEC section 3).
mod compile;
pub mod condition;
mod diagnostic;
mod lint;
pub mod model;
pub mod operator;
mod positions;
pub mod script;
mod sources;

pub use diagnostic::{Diagnostic, RulesError};
pub use model::{
    Action, AssigneeSource, IfHalted, Member, Pool, Queue, QueueRole, Region, Rule, Strategy,
};

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
