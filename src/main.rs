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
    }
}
