//! `leadrouter check [RULES]`: validate a rules file and its scripts, no server needed.
use super::{CliError, Outcome};
use crate::rules::Ruleset;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The rules file.
    #[arg(default_value = "rules/routing.yaml")]
    pub rules: PathBuf,
}

/// Prints each error (and warning) of the file, then a summary line; an invalid file
/// is [`Outcome::InvalidInput`]: its errors are the report, not a failure of `check`.
pub fn run(
    args: CheckArgs,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Outcome, CliError> {
    let path = &args.rules;
    match Ruleset::load(path) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                writeln!(err, "warning: {w}")?;
            }
            let rs = &loaded.ruleset;
            writeln!(
                out,
                "{}: OK: {}, {}, {}, {}, ruleset {}{}",
                path.display(),
                count(rs.rules().len(), "rule"),
                count(rs.pools().count(), "pool"),
                count(rs.regions().len(), "region"),
                count(rs.queues().count(), "queue"),
                rs.hash(),
                match loaded.warnings.len() {
                    0 => String::new(),
                    n => format!(" ({n} warning{})", if n == 1 { "" } else { "s" }),
                }
            )?;
            Ok(Outcome::Success)
        }
        Err(e) => {
            for d in &e.errors {
                writeln!(err, "error: {d}")?;
            }
            writeln!(
                err,
                "{}: invalid ({} error{})",
                path.display(),
                e.errors.len(),
                if e.errors.len() == 1 { "" } else { "s" }
            )?;
            Ok(Outcome::InvalidInput)
        }
    }
}

/// `1 rule`, `0 rules`, `3 rules`.
fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}
