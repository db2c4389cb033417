//! The one error convention of the commands: each returns `Result<Outcome, CliError>`;
//! `main` prints the error (one line, `error: ...`) and exits with its code.
use crate::broker::BrokerError;
use crate::config::ConfigError;
use crate::daemon::StartError;
use crate::in_force::InForceError;
use crate::rules::RulesError;
use crate::store::{ChangeError, StoreError};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// The process exit codes (SPEC section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    /// A runtime failure: the database, the broker, writing the output.
    Failure = 1,
    /// Usage or invalid input: arguments, configuration, rules, an unknown lead, a
    /// refused change. Nothing was written.
    Invalid = 2,
    /// A conflict: the lead changed under the command. Nothing was written.
    Conflict = 3,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// How a command that ran to its end finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Some of the input was invalid and was reported as the command went (`check`'s
    /// errors, `simulate`'s bad lines, after routing the rest): exit 2.
    InvalidInput,
}

impl Outcome {
    pub fn exit(self) -> Exit {
        match self {
            Self::Success => Exit::Success,
            Self::InvalidInput => Exit::Invalid,
        }
    }
}

/// Why a command stopped. Its `Display` is the whole message, causes included, so it
/// is printed once and never with its source chain; `source()` keeps the typed cause
/// for callers that want it.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Input the command itself refused (an unknown pool, a reserved actor).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// A rules file that does not load; the message lists every error in it.
    #[error("cannot use rules {}:\n{source}", path.display())]
    Rules {
        path: PathBuf,
        #[source]
        source: RulesError,
    },
    /// An input file that cannot be read (invalid input: the path is the user's).
    #[error("cannot read {}: {source}", path.display())]
    Input {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The rules in force (the file, or the active `rulesets` row) do not load.
    #[error("{0}")]
    InForce(#[from] InForceError),
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A change refused (exit 2), lost to a concurrent one (exit 3), or failed (exit 1).
    #[error("{0}")]
    Change(#[from] ChangeError),
    #[error("{0}")]
    Broker(#[from] BrokerError),
    #[error("{0}")]
    Start(#[from] StartError),
    /// The state the command found is not one it can explain (a bug or a hand edit).
    #[error("{0}")]
    Failed(String),
    /// The lead changed under the command; nothing was written (commands that find it
    /// out themselves; a store change's conflict is a [`CliError::Change`]).
    #[error("{0}")]
    Conflict(String),
    /// The command's async runtime could not be started.
    #[error("cannot start: {0}")]
    Runtime(#[source] std::io::Error),
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

impl CliError {
    pub fn exit(&self) -> Exit {
        match self {
            Self::Invalid(_) | Self::Config(_) | Self::Rules { .. } | Self::Input { .. } => {
                Exit::Invalid
            }
            Self::Change(e) if e.is_invalid_input() => Exit::Invalid,
            Self::Change(e) if e.is_conflict() => Exit::Conflict,
            Self::InForce(e) if e.is_invalid_input() => Exit::Invalid,
            Self::Start(StartError::Rules(e)) if e.is_invalid_input() => Exit::Invalid,
            Self::Conflict(_) => Exit::Conflict,
            Self::Store(_)
            | Self::InForce(_)
            | Self::Change(_)
            | Self::Broker(_)
            | Self::Start(_)
            | Self::Failed(_)
            | Self::Runtime(_)
            | Self::Output(_) => Exit::Failure,
        }
    }
}

/// A command's result as the process exit code, its error printed to `err`.
pub fn exit_code(result: Result<Outcome, CliError>, err: &mut impl Write) -> ExitCode {
    match result {
        Ok(outcome) => outcome.exit().into(),
        Err(e) => {
            // Nothing better to do if stderr itself is gone: the exit code still says it.
            let _ = writeln!(err, "error: {e}");
            e.exit().into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_error_has_its_exit_code() {
        assert_eq!(CliError::Invalid("x".into()).exit(), Exit::Invalid);
        assert_eq!(CliError::Conflict("x".into()).exit(), Exit::Conflict);
        assert_eq!(CliError::Failed("x".into()).exit(), Exit::Failure);
        let unknown = ChangeError::UnknownLead("L-1".into());
        assert_eq!(CliError::from(unknown).exit(), Exit::Invalid);
        let lost = ChangeError::Conflict(Box::new(crate::store::Conflict {
            lead_id: "L-1".into(),
            expected: "queued".into(),
            status: crate::routing::LeadStatus::Assigned,
            owner_id: Some("bob".into()),
            queue: None,
            actor: Some("bob".into()),
            via: Some("claim".into()),
            at: None,
        }));
        assert_eq!(
            lost.to_string(),
            "lead \"L-1\" is no longer queued: assigned to bob by claim"
        );
        assert_eq!(CliError::from(lost).exit(), Exit::Conflict);
        let down = StoreError::Db(sqlx::Error::PoolTimedOut);
        assert_eq!(
            CliError::from(ChangeError::Store(down)).exit(),
            Exit::Failure
        );
        assert_eq!(
            CliError::from(std::io::Error::other("closed")).exit(),
            Exit::Failure
        );
        assert_eq!(Outcome::InvalidInput.exit(), Exit::Invalid);
        assert_eq!(Exit::Conflict as u8, 3);
    }

    #[test]
    fn the_message_is_printed_once_with_its_cause() {
        let e = CliError::Input {
            path: "leads.jsonl".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        let mut err = Vec::new();
        let _ = exit_code(Err(e), &mut err);
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "error: cannot read leads.jsonl: entity not found\n"
        );
        let e = CliError::Input {
            path: "x".into(),
            source: std::io::Error::other("boom"),
        };
        assert!(std::error::Error::source(&e).is_some(), "the cause is kept");
    }
}
