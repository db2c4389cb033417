//! The `leadrouter` command line: parse arguments, call into the library.
use clap::{Parser, Subcommand};
use leadrouter::commands;
use leadrouter::rules::Ruleset;
use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "leadrouter",
    version,
    about = "Rules-driven lead routing: RabbitMQ in, owner decisions in PostgreSQL"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a rules file and its scripts (no server needed); exit 0 only if valid.
    Check {
        /// The rules file.
        #[arg(default_value = "rules/routing.yaml")]
        rules: PathBuf,
    },
    /// Route leads (one JSON object per line) with in-memory state; print one JSON line per lead.
    Simulate {
        /// The rules file.
        #[arg(long, default_value = "rules/routing.yaml")]
        rules: PathBuf,
        /// Agents to treat as halted, comma-separated.
        #[arg(long, value_delimiter = ',')]
        halted: Vec<String>,
        /// Agents to treat as inactive (offboarded), comma-separated.
        #[arg(long, value_delimiter = ',')]
        inactive: Vec<String>,
        /// The leads file (JSON Lines); standard input when absent or `-`.
        leads: Option<PathBuf>,
    },
    /// Halt, resume, list and offboard agents.
    #[command(subcommand)]
    Agents(commands::agents::AgentsCommand),
    /// Inspect one lead, reassign it, or unassign it.
    #[command(subcommand)]
    Leads(commands::leads::LeadsCommand),
    /// Re-decide recent leads with other rules, in memory, and report what would change.
    Replay(commands::replay::ReplayArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    match cli.command {
        Command::Check { rules } => Ok(commands::check::run(&rules, &mut out, &mut err)?),
        Command::Simulate {
            rules,
            halted,
            inactive,
            leads,
        } => {
            let loaded = match Ruleset::load(&rules) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(commands::invalid());
                }
            };
            let input: Box<dyn Read> = match leads.as_deref() {
                None => Box::new(std::io::stdin().lock()),
                Some(p) if p.as_os_str() == "-" => Box::new(std::io::stdin().lock()),
                Some(p) => match std::fs::File::open(p) {
                    Ok(f) => Box::new(f),
                    Err(e) => {
                        eprintln!("error: cannot read {}: {e}", p.display());
                        return Ok(commands::invalid());
                    }
                },
            };
            let opts = commands::simulate::Options { halted, inactive };
            Ok(commands::simulate::run(
                &loaded.ruleset,
                opts,
                BufReader::new(input),
                &mut out,
                &mut err,
            )?)
        }
        Command::Agents(cmd) => Ok(block_on(commands::agents::run(cmd, &mut out, &mut err))??),
        Command::Leads(cmd) => Ok(block_on(commands::leads::run(cmd, &mut out, &mut err))??),
        Command::Replay(args) => Ok(block_on(commands::replay::run(args, &mut out, &mut err))??),
    }
}

/// Runs an admin command's future on a small runtime of its own, with warnings (an
/// unreadable rotation, say) logged to stderr.
fn block_on<F: std::future::Future>(f: F) -> std::io::Result<F::Output> {
    leadrouter::telemetry::init_logging(false, "warn");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(f))
}
