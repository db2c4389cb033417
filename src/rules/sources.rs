//! Where a ruleset's text comes from: the rules YAML, and the Rhai scripts it names by a
//! path relative to the rules file. Today that is the file system; rules kept in
//! PostgreSQL (SPEC section 10) hand over the YAML and a map path → source instead, and
//! compile with no file access. The compiler reads scripts only through here.
use super::{Diagnostic, RulesError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The rules YAML, the name messages give it, and where its scripts are read.
pub(crate) struct RuleSources<'a> {
    /// Names the rules in messages; scripts are named relative to its directory.
    pub name: &'a Path,
    pub yaml: &'a str,
    pub scripts: Scripts<'a>,
}

pub(crate) enum Scripts<'a> {
    /// Files, relative to the directory of the rules file (`name`).
    Files,
    /// Sources by the path the rules name them; nothing is read from disk.
    Memory(&'a BTreeMap<String, String>),
}

/// Reads a rules file (the YAML; its scripts are read as the compiler meets them).
pub(crate) fn read_rules_file(path: &Path) -> Result<String, RulesError> {
    std::fs::read_to_string(path).map_err(|e| {
        RulesError::single(Diagnostic::new(
            path,
            None,
            None,
            format!("cannot read rules file: {e}"),
        ))
    })
}

impl RuleSources<'_> {
    /// The path messages name for the script the rules call `rel`.
    pub fn script_path(&self, rel: &str) -> PathBuf {
        self.name.parent().unwrap_or(Path::new("")).join(rel)
    }

    /// The source of script `rel`, or why it cannot be had (after "cannot read script PATH: ").
    pub fn read_script(&self, rel: &str) -> Result<String, String> {
        match self.scripts {
            Scripts::Files => {
                std::fs::read_to_string(self.script_path(rel)).map_err(|e| e.to_string())
            }
            Scripts::Memory(map) => map
                .get(rel)
                .cloned()
                .ok_or_else(|| "not among the ruleset's scripts".to_owned()),
        }
    }

    /// The files a running daemon watches to reload: the rules file and the scripts
    /// read, on disk; none for rules held in memory.
    pub fn files_to_watch<'r>(&self, scripts: impl Iterator<Item = &'r str>) -> Vec<PathBuf> {
        match self.scripts {
            Scripts::Files => std::iter::once(self.name.to_owned())
                .chain(scripts.map(|rel| self.script_path(rel)))
                .collect(),
            Scripts::Memory(_) => Vec::new(),
        }
    }
}
