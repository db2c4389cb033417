//! `leadrouter replay --since DURATION [--rules RULES] [--json]`: re-decide the leads
//! received in a window with the given rules and today's agents, in memory, and
//! report what would change. Writes nothing.
mod report;
mod text;

pub use report::{
    EXAMPLES, Findings, ManualCorrections, Moves, Route, RuleCount, RuleErrors, StatusCount,
    Transition,
};

use super::admin::{DbArgs, connect, load_config, load_rules};
use super::{CliError, Outcome, block_on};
use crate::config::{format_duration, parse_duration};
use crate::in_force::rules_in_force;
use crate::routing::{MemoryState, decide};
use crate::rules::Ruleset;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use report::Tally;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The window, by when leads were received: 30m, 24h, 7d, 1h30m.
    #[arg(long, value_name = "DURATION", value_parser = Since::parse)]
    pub since: Since,
    /// The rules to try (default: those in force, from `rules.path` or the database as
    /// `rules.source` says).
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
    /// The rules in force (the config's `rules.path`) every lead was also decided
    /// with, to tell this file's changes from the others; `null` when replaying the
    /// rules in force themselves, or when they could not be loaded.
    pub rules_in_force: Option<RulesInForce>,
    /// Today's agents the replay decided with.
    pub halted: Vec<String>,
    pub inactive: Vec<String>,
    /// Leads in the window that could not be replayed (see `store::ReplayWindow`).
    pub skipped: Skipped,
    #[serde(flatten)]
    pub findings: Findings,
}

#[derive(Debug, Clone, Serialize)]
pub struct RulesInForce {
    pub rules: String,
    pub ruleset: String,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Skipped {
    /// Rows a hand edit left unreadable (payload not an object, bad id).
    pub unreadable: u64,
    /// Leads without any router decision.
    pub undecided: u64,
}

/// Replays the window with `rs`: the library entry point (no output). With
/// `in_force` (the rules in force, when `rs` is another file), every lead is also
/// decided with those, from the same snapshot, to attribute each change.
pub async fn replay(
    store: &Store,
    rs: &Ruleset,
    in_force: Option<&Ruleset>,
    since: &Since,
) -> Result<Replay, StoreError> {
    let in_force = in_force.filter(|f| f.hash() != rs.hash());
    let mut pools: Vec<String> = rs.pools().map(|p| p.name.clone()).collect();
    let mut least_loaded = rs.least_loaded_agents().to_vec();
    if let Some(f) = in_force {
        pools.extend(f.pools().map(|p| p.name.clone()));
        least_loaded.extend_from_slice(f.least_loaded_agents());
    }
    pools.sort();
    pools.dedup();
    least_loaded.sort();
    least_loaded.dedup();

    let mut tally = Tally::default();
    // The rules in force step their own copy of the snapshot: each set of rules sees
    // rotations and loads as its own decisions left them.
    let mut in_force_state: Option<MemoryState> = None;
    let window = store
        .replay_window(since.duration, &least_loaded, &pools, |r, state| {
            let other = in_force.map(|f| {
                let s = in_force_state.get_or_insert_with(|| state.clone());
                decide(f, &r.lead, s)
            });
            let decision = decide(rs, &r.lead, state);
            let by_hand = r.changed_by_hand.then_some(&r.current);
            let id = r.lead.id.as_str();
            let assignees = &r.recorded_assignees;
            tally.add(
                rs,
                id,
                &r.recorded,
                assignees,
                &decision,
                other.as_ref(),
                by_hand,
            );
        })
        .await?;
    Ok(Replay {
        since: since.text.clone(),
        window_start: window.start,
        rules: rs.path().display().to_string(),
        ruleset: rs.hash().to_owned(),
        rules_in_force: in_force.map(|f| RulesInForce {
            rules: f.path().display().to_string(),
            ruleset: f.hash().to_owned(),
        }),
        halted: window.halted,
        inactive: window.inactive,
        skipped: Skipped {
            unreadable: window.unreadable,
            undecided: window.undecided,
        },
        findings: tally.finish(rs),
    })
}

pub fn run(
    args: ReplayArgs,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Outcome, CliError> {
    block_on(replay_command(args, out, err))
}

async fn replay_command(
    args: ReplayArgs,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Outcome, CliError> {
    let config = load_config(&args.db)?;
    // An explicit file first: a typo in --rules should not cost a database round trip.
    let file_rules = match &args.rules {
        Some(path) => Some(load_rules(path)?),
        None => None,
    };
    let store = connect(&config).await?;
    let (rs, in_force) = match file_rules {
        None => (
            rules_in_force(&config.rules, &store).await?.loaded.ruleset,
            None,
        ),
        // Only to attribute changes: replaying works without them (a laptop holding
        // just the new file), so a failure is a note, not an error.
        Some(rs) => match rules_in_force(&config.rules, &store).await {
            Ok(f) => (rs, Some(f.loaded.ruleset)),
            Err(e) => {
                writeln!(err, "note: {e}")?;
                writeln!(
                    err,
                    "note: changes are not compared with the rules in force (--config names them)"
                )?;
                (rs, None)
            }
        },
    };
    let result = replay(&store, &rs, in_force.as_ref(), &args.since).await?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &result).map_err(std::io::Error::from)?;
        writeln!(out)?;
    } else {
        text::print(&result, out)?;
    }
    Ok(Outcome::Success)
}
