//! The `leadrouter` command line: parse arguments, call into the library.
use clap::{Parser, Subcommand};
use leadrouter::config::{Config, LogFormat};
use leadrouter::rules::Ruleset;
use leadrouter::{commands, daemon, telemetry};
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
    /// Run the daemon: consume leads, decide, write to PostgreSQL, relay events.
    Run {
        /// Configuration file (YAML); every key can be overridden by environment variables.
        #[arg(long, env = "LEADROUTER_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Publish leads (one JSON object per line) to the inbound queue, as a web form would.
    Publish {
        #[arg(long, env = "LEADROUTER_CONFIG")]
        config: Option<PathBuf>,
        /// The leads file (JSON Lines); standard input when absent or `-`.
        leads: Option<PathBuf>,
    },
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
    // Locks are taken per command: the daemon's log threads write to stderr too.
    let (out, err) = (std::io::stdout, std::io::stderr);
    match cli.command {
        Command::Run { config } => run_daemon(config.as_deref()),
        Command::Publish { config, leads } => {
            let Some(config) = load_config(config.as_deref()) else {
                return Ok(commands::invalid());
            };
            runtime()?.block_on(commands::publish::run(
                &config,
                leads.as_deref(),
                &mut err(),
            ))
        }
        Command::Check { rules } => Ok(commands::check::run(
            &rules,
            &mut out().lock(),
            &mut err().lock(),
        )?),
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
                &mut out().lock(),
                &mut err().lock(),
            )?)
        }
        Command::Agents(cmd) => Ok(block_on(commands::agents::run(
            cmd,
            &mut out(),
            &mut err(),
        ))??),
        Command::Leads(cmd) => Ok(block_on(commands::leads::run(
            cmd,
            &mut out(),
            &mut err(),
        ))??),
        Command::Replay(args) => Ok(block_on(commands::replay::run(
            args,
            &mut out(),
            &mut err(),
        ))??),
    }
}

fn load_config(path: Option<&std::path::Path>) -> Option<Config> {
    match Config::load(path) {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("error: {e}");
            None
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// `leadrouter run`: bad configuration or rules stop it with exit 2 before it starts.
fn run_daemon(config_path: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let Some(config) = load_config(config_path) else {
        return Ok(commands::invalid());
    };
    telemetry::init_logging(
        config.logging.format == LogFormat::Json,
        &config.logging.level,
    );
    let loaded = match Ruleset::load(&config.rules.path) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("rules invalid; not starting");
            eprintln!("{e}");
            return Ok(commands::invalid());
        }
    };
    for w in &loaded.warnings {
        tracing::warn!(warning = %w, "rules warning");
    }
    tracing::info!(rules = %config.rules.path.display(), hash = loaded.ruleset.hash(), "rules loaded");
    runtime()?.block_on(daemon::run(config, loaded.ruleset))?;
    Ok(ExitCode::SUCCESS)
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
