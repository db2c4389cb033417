//! `leadrouter replay --since DURATION [--rules RULES] [--json]`: re-decide the leads
//! received in a window with the given rules and today's agents, in memory, and
//! report what would change. Writes nothing.
mod report;
mod text;

pub use report::{
    EXAMPLES, Findings, ManualCorrections, Moves, Route, RuleCount, RuleErrors, StatusCount,
    Transition,
};

use super::admin::{CmdError, DbArgs, connect, finish, load_config, load_rules};
use crate::config::{format_duration, parse_duration};
use crate::routing::decide;
use crate::rules::Ruleset;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use report::Tally;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The window, by when leads were received: 30m, 24h, 7d, 1h30m.
    #[arg(long, value_name = "DURATION", value_parser = Since::parse)]
    pub since: Since,
    /// The rules to try (default: the config's `rules.path`, i.e. those in force).
    #[arg(long, value_name = "RULES")]
    pub rules: Option<PathBuf>,
    /// Print one JSON object (`replayed`, `changed`, `transitions`, breakdowns).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

/// A `--since` value: the text as given (for the report) and its duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Since {
    pub text: String,
    pub duration: Duration,
}

impl Since {
    pub fn parse(s: &str) -> Result<Since, String> {
        Ok(Since {
            text: s.trim().to_owned(),
            duration: parse_duration(s)?,
        })
    }
}

impl From<Duration> for Since {
    fn from(duration: Duration) -> Self {
        Since {
            text: format_duration(duration),
            duration,
        }
    }
}

/// Everything `replay` reports; `--json` prints it as is.
#[derive(Debug, Clone, Serialize)]
pub struct Replay {
    /// The window as given (`7d`).
    pub since: String,
    /// Leads received at or after this time were replayed.
    pub window_start: DateTime<Utc>,
    /// The rules file replayed with, and its hash (as in `routing_decisions.ruleset`).
    pub rules: String,
    pub ruleset: String,
    /// Today's agents the replay decided with.
    pub halted: Vec<String>,
    pub inactive: Vec<String>,
    /// Leads in the window that could not be replayed (see `store::ReplayWindow`).
    pub skipped: Skipped,
    #[serde(flatten)]
    pub findings: Findings,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Skipped {
    /// Rows a hand edit left unreadable (payload not an object, bad id).
    pub unreadable: u64,
    /// Leads without any router decision.
    pub undecided: u64,
}

/// Replays the window with `rs`: the library entry point (no output).
pub async fn replay(store: &Store, rs: &Ruleset, since: &Since) -> Result<Replay, StoreError> {
    let pools: Vec<String> = rs.pools().map(|p| p.name.clone()).collect();
    let mut tally = Tally::default();
    let window = store
        .replay_window(
            since.duration,
            &rs.least_loaded_agents(),
            &pools,
            |r, state| {
                let decision = decide(rs, &r.lead, state);
                let by_hand = r.changed_by_hand.then_some(&r.current);
                tally.add(rs, r.lead.id.as_str(), &r.recorded, &decision, by_hand);
            },
        )
        .await?;
    Ok(Replay {
        since: since.text.clone(),
        window_start: window.start,
        rules: rs.path().display().to_string(),
        ruleset: rs.hash().to_owned(),
        halted: window.halted,
        inactive: window.inactive,
        skipped: Skipped {
            unreadable: window.unreadable,
            undecided: window.undecided,
        },
        findings: tally.finish(rs),
    })
}

pub async fn run(
    args: ReplayArgs,
    out: &mut impl Write,
    err: &mut impl Write,
) -> std::io::Result<ExitCode> {
    finish(run_inner(args, out).await, err)
}

async fn run_inner(args: ReplayArgs, out: &mut impl Write) -> Result<ExitCode, CmdError> {
    let config = load_config(&args.db)?;
    let rs = load_rules(args.rules.as_deref(), &config)?;
    let store = connect(&config).await?;
    let result = replay(&store, &rs, &args.since).await?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &result).map_err(std::io::Error::from)?;
        writeln!(out)?;
    } else {
        text::print(&result, out)?;
    }
    Ok(ExitCode::SUCCESS)
}
