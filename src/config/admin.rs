//! `admin.*`: the admin API and console (`leadrouter serve`, SPEC section 9).
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Where `serve` listens: the API under `/api/v1`, the console at `/`, and its own
    /// `/metrics` and `/healthz`. Loopback by default: put a TLS-terminating proxy in
    /// front to reach it from elsewhere.
    pub listen: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9465)),
        }
    }
}
