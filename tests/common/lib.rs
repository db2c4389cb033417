//! Helpers shared by the integration tests: fresh databases and queue names per test, the
//! real binary, and waiting for what it does. A dev-only crate (see its Cargo.toml); the
//! test targets use it as `common`.
//!
//! A helper belongs here when several test targets use it. One that a single target uses
//! lives in that target (the fault suite's in `tests/faults/harness.rs`), where the
//! compiler still reports it once it falls out of use; here, being `pub`, it never is,
//! so remove a helper with its last caller.
use std::path::PathBuf;

pub mod admin;
pub mod amqp;
pub mod daemon;
pub mod db;
pub mod engine;
pub mod serve;
pub mod servers;
pub mod wait;

/// The `leadrouter` binary under test.
///
/// Cargo builds it for every integration test and names it in `CARGO_BIN_EXE_leadrouter`
/// when it compiles the test (for `env!`, which this library never sees) and, in recent
/// releases (1.95 does), when it runs the test. Otherwise (an older cargo, a test binary
/// run by hand) it is beside the test binary's directory: `target/debug/leadrouter` for
/// `target/debug/deps/NAME-HASH`.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CARGO_BIN_EXE_leadrouter") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let beside = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("leadrouter"));
    match beside {
        Some(path) if path.is_file() => path,
        _ => panic!(
            "cannot find the leadrouter binary: run the tests with `cargo test`, or set \
             CARGO_BIN_EXE_leadrouter to its path"
        ),
    }
}

/// The repository's root directory (the sample rules live there).
pub fn repository() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}
