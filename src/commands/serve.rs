//! `leadrouter serve`: the admin API and console (SPEC 9) on `admin.listen`, until
//! SIGTERM or SIGINT. Needs only PostgreSQL, with an up-to-date schema.
use super::admin::connect;
use super::{CliError, Outcome};
use crate::api::{self, ApiState};
use crate::config::{Config, LogFormat};
use crate::http;
use crate::telemetry;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Configuration file (YAML), as for `run`.
    #[arg(long, env = "LEADROUTER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Start even though no admin token exists (only on a loopback address): for a
    /// first look on a laptop. Every request still needs a token.
    #[arg(long)]
    pub allow_no_tokens: bool,
}

pub fn run(args: ServeArgs) -> Result<Outcome, CliError> {
    let config = Config::load(args.config.as_deref())?;
    telemetry::init_logging(
        config.logging.format == LogFormat::Json,
        &config.logging.level,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(serve(config, args.allow_no_tokens))
}

async fn serve(config: Config, allow_no_tokens: bool) -> Result<Outcome, CliError> {
    let addr = config.admin.listen;
    let store = connect(&config).await?;
    if !store.has_admin_token().await? {
        if !(allow_no_tokens && addr.ip().is_loopback()) {
            return Err(CliError::Invalid(format!(
                "no admin token: create one with `leadrouter tokens add NAME --role admin`{}",
                if addr.ip().is_loopback() {
                    " (or start with --allow-no-tokens)"
                } else {
                    "; --allow-no-tokens works only on a loopback admin.listen"
                }
            )));
        }
        tracing::warn!(
            "no admin token: every request gets 401 until one is added (`leadrouter tokens add NAME --role admin`)"
        );
    }
    let metrics = api::metrics::install(&api::openapi())
        .map_err(|e| CliError::Failed(format!("metrics: {e}")))?;
    let state = ApiState {
        store: store.clone(),
        config: Arc::new(config),
    };
    let listener = http::bind(addr)
        .await
        .map_err(|source| CliError::Failed(format!("cannot listen on {addr}: {source}")))?;
    tracing::info!(%addr, "serving the admin API (/api/v1), the console (/) and /metrics");
    let stop = CancellationToken::new();
    tokio::spawn(stop_on_signal(stop.clone()));
    http::serve(listener, api::router(state, metrics), stop)
        .await
        .map_err(|e| CliError::Failed(format!("serving on {addr}: {e}")))?;
    store.close().await;
    tracing::info!("stopped");
    Ok(Outcome::Success)
}

async fn stop_on_signal(stop: CancellationToken) {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot listen for SIGTERM/SIGINT");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = int.recv() => tracing::info!("SIGINT"),
    }
    stop.cancel();
}
