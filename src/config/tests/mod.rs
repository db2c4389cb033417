//! Loading: file, environment, precedence, errors and their origins; and the documents
//! that describe the configuration, checked against the code.
mod env;
mod file;
mod reference;
mod values;

use super::*;
use std::io::Write;
pub(super) use std::net::SocketAddr;
pub(super) use std::path::PathBuf;
pub(super) use std::time::Duration;

pub(super) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(super) fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

pub(super) fn write_config(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leadrouter.yaml");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    (dir, path)
}

/// Loads `text` as a config file, without the environment.
pub(super) fn load_file(text: &str) -> Result<Config, ConfigError> {
    let (_dir, path) = write_config(text);
    Config::load_with_env(Some(&path), no_env())
}

pub(super) fn env_error(pairs: &[(&str, &str)]) -> String {
    match Config::load_with_env(None, env(pairs)) {
        Ok(c) => panic!("{pairs:?} loaded: {c:?}"),
        Err(e) => e.to_string(),
    }
}

pub(super) fn file_error(text: &str) -> String {
    match load_file(text) {
        Ok(c) => panic!("{text:?} loaded: {c:?}"),
        Err(e) => e.to_string(),
    }
}
