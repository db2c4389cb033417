//! The `leadrouter` command line: parse the arguments, run the command, exit with its
//! code (`commands::Exit`).
use clap::{Parser, Subcommand};
use leadrouter::commands;
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
    /// Creates the database if missing and applies pending migrations first.
    Run(commands::run::RunArgs),
    /// Create the database if missing, apply pending migrations, and exit.
    Migrate(commands::migrate::MigrateArgs),
    /// Publish leads (one JSON object per line) to the inbound queue, as a web form would.
    Publish(commands::publish::PublishArgs),
    /// Validate a rules file and its scripts (no server needed); exit 0 only if valid.
    Check(commands::check::CheckArgs),
    /// Route leads (one JSON object per line) with in-memory state; print one JSON line per lead.
    Simulate(commands::simulate::SimulateArgs),
    /// Halt, resume, list and offboard agents.
    #[command(subcommand)]
    Agents(commands::agents::AgentsCommand),
    /// Inspect one lead, reassign, unassign or claim it, change its assignees.
    #[command(subcommand)]
    Leads(commands::leads::LeadsCommand),
    /// Re-decide recent leads with other rules, in memory, and report what would change.
    Replay(commands::replay::ReplayArgs),
    /// Publish, list, roll back and show the rules kept in PostgreSQL.
    #[command(subcommand)]
    Rules(commands::rules::RulesCommand),
    /// Serve the admin API (/api/v1) and the web console (/) on admin.listen.
    Serve(commands::serve::ServeArgs),
    /// Add, list and revoke the admin API's tokens.
    #[command(subcommand)]
    Tokens(commands::tokens::TokensCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Locks are taken per command: the daemon's log threads write to stderr too.
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let result = match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Migrate(args) => commands::migrate::run(args, &mut out),
        Command::Publish(args) => commands::publish::run(args, &mut err),
        Command::Check(args) => commands::check::run(args, &mut out.lock(), &mut err.lock()),
        Command::Simulate(args) => commands::simulate::run(args, &mut out.lock(), &mut err.lock()),
        Command::Agents(cmd) => commands::agents::run(cmd, &mut out, &mut err),
        Command::Leads(cmd) => commands::leads::run(cmd, &mut out, &mut err),
        Command::Replay(args) => commands::replay::run(args, &mut out, &mut err),
        Command::Rules(cmd) => commands::rules::run(cmd, &mut out, &mut err),
        Command::Serve(args) => commands::serve::run(args),
        Command::Tokens(cmd) => commands::tokens::run(cmd, &mut out, &mut err),
    };
    commands::exit_code(result, &mut err)
}
