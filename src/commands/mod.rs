//! The commands, as library functions: `main.rs` only parses arguments. Each returns
//! `Result<Outcome, CliError>`, which `main` turns into the exit code: 0 success,
//! 1 runtime failure, 2 usage or invalid input, 3 conflict.
pub mod admin;
pub mod agents;
mod assignees;
pub mod check;
mod claim;
mod error;
pub mod leads;
pub mod migrate;
pub mod offboard;
pub mod publish;
pub mod replay;
pub mod rules;
pub mod run;
pub mod serve;
mod show;
pub mod simulate;
pub mod tokens;

pub use crate::in_force::rules_in_force;
pub use error::{CliError, Exit, Outcome, exit_code};

/// Runs a database command's future on a small runtime of its own, with warnings (an
/// unreadable rotation, say) logged to stderr.
fn block_on(
    f: impl std::future::Future<Output = Result<Outcome, CliError>>,
) -> Result<Outcome, CliError> {
    crate::telemetry::init_logging(false, "warn");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    rt.block_on(f)
}
