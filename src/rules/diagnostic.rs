//! Errors and warnings about a ruleset, each located by file, line and rule.
use std::fmt;
use std::path::{Path, PathBuf};

/// One finding, located: file, line, and the rule it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub rule: Option<String>,
    pub message: String,
}

impl Diagnostic {
    pub fn new(
        file: &Path,
        line: Option<usize>,
        rule: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_owned(),
            line,
            rule: rule.map(str::to_owned),
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    /// `rules/routing.yaml:12: rule "luxury": unknown pool "luxry"`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if let Some(r) = &self.rule {
            write!(f, ": rule {r:?}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every error found in a ruleset (loading reports them all, not the first).
#[derive(Debug, thiserror::Error)]
pub struct RulesError {
    pub errors: Vec<Diagnostic>,
}

impl RulesError {
    pub(crate) fn single(d: Diagnostic) -> Self {
        Self { errors: vec![d] }
    }
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}
