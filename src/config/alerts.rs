//! `alerts.*`: when an ownerless lead raises an alert, and how often that is looked for.
use super::duration;
use super::error::Invalid;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    #[serde(with = "duration::serde_form")]
    pub unassigned_after: Duration,
    #[serde(with = "duration::serde_form")]
    pub sweep_every: Duration,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            unassigned_after: Duration::from_secs(24 * 3600),
            sweep_every: Duration::from_secs(60),
        }
    }
}

impl AlertsConfig {
    pub(super) fn check(&self) -> Result<(), Invalid> {
        // A zero period would make the sweeper's interval timer panic.
        if self.sweep_every.is_zero() {
            return Err(Invalid::new("alerts.sweep_every", "must be greater than 0"));
        }
        Ok(())
    }
}
