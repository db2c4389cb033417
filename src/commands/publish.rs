//! `leadrouter publish [LEADS.jsonl]`: publish JSON lines to the inbound queue, as a
//! web form would (persistent, confirmed). The daemon validates them, not this.
use crate::broker::publish::publish_lines;
use crate::config::Config;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

pub async fn run(
    config: &Config,
    leads: Option<&Path>,
    err: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let settings = config.broker_settings();
    let summary = match leads {
        Some(p) if p.as_os_str() != "-" => {
            let file = match tokio::fs::File::open(p).await {
                Ok(f) => f,
                Err(e) => {
                    writeln!(err, "error: cannot read {}: {e}", p.display())?;
                    return Ok(super::invalid());
                }
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
    Ok(ExitCode::SUCCESS)
}
