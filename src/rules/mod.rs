//! Loading, validating and linting a ruleset (SPEC section 3).
use std::path::Path;

/// A loaded, validated, compiled ruleset. Cheap to share (`Arc<Ruleset>`) across threads.
#[derive(Debug)]
pub struct Ruleset {
    hash: String,
    pools: std::collections::BTreeMap<String, Pool>,
}

impl Ruleset {
    /// Loads and validates a rules file and its scripts.
    pub fn load(_path: &Path) -> Result<Loaded, RulesError> {
        todo!()
    }

    /// Hex SHA-256 of the rules file and every script it names (the `ruleset` column).
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Every pool, in name order.
    pub fn pools(&self) -> impl Iterator<Item = &Pool> {
        self.pools.values()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    RoundRobin,
    Weighted,
    LeastLoaded,
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

/// A ruleset and the warnings `check` shows (rules that can never decide).
#[derive(Debug)]
pub struct Loaded {
    pub ruleset: Ruleset,
    pub warnings: Vec<Diagnostic>,
}

/// One finding, located: file, line, and the rule it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: std::path::PathBuf,
    pub line: Option<usize>,
    pub rule: Option<String>,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{} error(s) in rules", errors.len())]
pub struct RulesError {
    pub errors: Vec<Diagnostic>,
}
