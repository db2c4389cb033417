//! `leadrouter run`: load the configuration and the rules, then run the daemon until
//! SIGTERM or SIGINT. Bad configuration or rules stop it with exit 2 before it starts
//! (with `rules.source: database`, once connected: no version published, or one that
//! does not load); a permanent database error (see `StoreError::is_transient`) with exit 1.
use super::{CliError, Outcome};
use crate::config::{Config, LogFormat, RulesSource};
use crate::daemon::{self, StartRules};
use crate::in_force::rules_from_file;
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
    let rules = match config.rules.source {
        RulesSource::File => {
            let loaded = rules_from_file(&config.rules)
                .inspect_err(|_| tracing::error!("rules invalid; not starting"))?
                .loaded;
            for w in &loaded.warnings {
                tracing::warn!(warning = %w, "rules warning");
            }
            tracing::info!(rules = %config.rules.path.display(), hash = loaded.ruleset.hash(), "rules loaded");
            StartRules::Loaded(Box::new(loaded.ruleset))
        }
        RulesSource::Database => StartRules::FromDatabase,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(daemon::run(config, rules))?;
    Ok(Outcome::Success)
}
