//! `leadrouter publish [LEADS.jsonl]`: publish JSON lines to the inbound queue, as a
//! web form would (persistent, confirmed). The daemon validates them, not this.
use super::{CliError, Outcome};
use crate::broker::publish::publish_lines;
use crate::config::Config;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// Configuration file (YAML); every key can be overridden by environment variables.
    #[arg(long, env = "LEADROUTER_CONFIG")]
    pub config: Option<PathBuf>,
    /// The leads file (JSON Lines); standard input when absent or `-`.
    pub leads: Option<PathBuf>,
}

pub fn run(args: PublishArgs, err: &mut impl Write) -> Result<Outcome, CliError> {
    let config = Config::load(args.config.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(publish(&config, args.leads, err))
}

async fn publish(
    config: &Config,
    leads: Option<PathBuf>,
    err: &mut impl Write,
) -> Result<Outcome, CliError> {
    let settings = config.broker_settings();
    let summary = match leads {
        Some(path) if path.as_os_str() != "-" => {
            let file = match tokio::fs::File::open(&path).await {
                Ok(f) => f,
                Err(source) => return Err(CliError::Input { path, source }),
            };
            publish_lines(&settings, tokio::io::BufReader::new(file)).await?
        }
        _ => publish_lines(&settings, tokio::io::BufReader::new(tokio::io::stdin())).await?,
    };
    writeln!(
        err,
        "published {} lead(s) to queue {}",
        summary.published, config.amqp.queue
    )?;
    Ok(Outcome::Success)
}
