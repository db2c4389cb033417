//! `leadrouter check [RULES]`: validate a rules file and its scripts, no server needed.
use crate::rules::Ruleset;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

pub fn run(path: &Path, out: &mut impl Write, err: &mut impl Write) -> std::io::Result<ExitCode> {
    match Ruleset::load(path) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                writeln!(err, "warning: {w}")?;
            }
            let rs = &loaded.ruleset;
            writeln!(
                out,
                "{}: OK: {} rules, {} pools, {} regions, ruleset {}{}",
                path.display(),
                rs.rules().len(),
                rs.pools().count(),
                rs.regions().len(),
                rs.hash(),
                match loaded.warnings.len() {
                    0 => String::new(),
                    n => format!(" ({n} warning{})", if n == 1 { "" } else { "s" }),
                }
            )?;
            Ok(ExitCode::SUCCESS)
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
            Ok(super::invalid())
        }
    }
}
