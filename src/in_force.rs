//! The rules in force (SPEC 10): the file `rules.path`, or with `rules.source: database`
//! the active row of `rulesets`. The one place that decides which: the daemon at start,
//! `serve`, and every command that needs the rules in force (`replay` without
//! `--rules`, `agents offboard --pool`, `agents list`) go through here.
use crate::config::{RulesConfig, RulesSource};
use crate::rules::{Loaded, RulesError, Ruleset};
use crate::store::{Store, StoreError, StoredRuleset};
use std::path::PathBuf;

/// The rules in force, compiled, and where they came from.
#[derive(Debug)]
pub struct InForce {
    pub loaded: Loaded,
    pub origin: Origin,
}

#[derive(Debug, Clone)]
pub enum Origin {
    File(PathBuf),
    /// The active version (with its text, as published).
    Database(Box<StoredRuleset>),
}

#[derive(Debug, thiserror::Error)]
pub enum InForceError {
    /// The rules do not load: every error, each with its file and line.
    #[error("cannot use rules {}:\n{source}", name.display())]
    Invalid {
        name: PathBuf,
        #[source]
        source: RulesError,
    },
    #[error(
        "rules.source is database but no rules have been published: publish some with `leadrouter rules publish FILE`"
    )]
    NonePublished,
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl InForceError {
    /// True when the rules (or their absence) are the problem, not the database.
    pub fn is_invalid_input(&self) -> bool {
        !matches!(self, Self::Store(_))
    }
}

/// The rules in force by `config`: read from the file, or from the database.
pub async fn rules_in_force(config: &RulesConfig, store: &Store) -> Result<InForce, InForceError> {
    match config.source {
        RulesSource::File => rules_from_file(config),
        RulesSource::Database => rules_from_database(store).await,
    }
}

/// `rules.path`, loaded and validated.
pub fn rules_from_file(config: &RulesConfig) -> Result<InForce, InForceError> {
    let path = &config.path;
    let loaded = Ruleset::load(path).map_err(|source| InForceError::Invalid {
        name: path.clone(),
        source,
    })?;
    Ok(InForce {
        loaded,
        origin: Origin::File(path.clone()),
    })
}

/// The active version of `rulesets`, compiled.
pub async fn rules_from_database(store: &Store) -> Result<InForce, InForceError> {
    let version = store
        .active_ruleset()
        .await?
        .ok_or(InForceError::NonePublished)?;
    compile_stored(version)
}

/// Compiles a stored version (what a daemon does when another becomes active).
pub fn compile_stored(version: StoredRuleset) -> Result<InForce, InForceError> {
    let loaded = version.compile().map_err(|source| InForceError::Invalid {
        name: version.name(),
        source,
    })?;
    Ok(InForce {
        loaded,
        origin: Origin::Database(Box::new(version)),
    })
}
