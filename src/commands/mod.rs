//! The admin commands, as library functions: `main.rs` only parses arguments.
//! Each returns the process exit code: 0 success, 1 runtime failure, 2 invalid input.
pub mod admin;
pub mod agents;
pub mod check;
pub mod leads;
mod offboard;
pub mod publish;
pub mod replay;
mod show;
pub mod simulate;

use std::process::ExitCode;

pub const EXIT_INVALID: u8 = 2;

pub fn invalid() -> ExitCode {
    ExitCode::from(EXIT_INVALID)
}
