//! `leadrouter run`: load the configuration and the rules, then run the daemon until
//! SIGTERM or SIGINT. Bad configuration or rules stop it with exit 2 before it starts;
//! a permanent database error (see `StoreError::is_transient`) with exit 1.
use super::{CliError, Outcome};
use crate::config::{Config, LogFormat};
use crate::daemon;
use crate::rules::Ruleset;
use crate::telemetry;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Configuration file (YAML); every key can be overridden by environment variables.
    #[arg(long, env = "LEADROUTER_CONFIG")]
    pub config: Option<PathBuf>,
}

pub fn run(args: RunArgs) -> Result<Outcome, CliError> {
    let config = Config::load(args.config.as_deref())?;
    telemetry::init_logging(
        config.logging.format == LogFormat::Json,
        &config.logging.level,
    );
    let loaded = Ruleset::load(&config.rules.path).map_err(|source| {
        tracing::error!("rules invalid; not starting");
        CliError::Rules {
            path: config.rules.path.clone(),
            source,
        }
    })?;
    for w in &loaded.warnings {
        tracing::warn!(warning = %w, "rules warning");
    }
    tracing::info!(rules = %config.rules.path.display(), hash = loaded.ruleset.hash(), "rules loaded");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(daemon::run(config, loaded.ruleset))?;
    Ok(Outcome::Success)
}
