//! `leadrouter leads claim ID --as AGENT [--note T]`: take a queued lead (SPEC 3.2).
use super::admin::{DbArgs, connect, load_config, not_reserved, when};
use super::assignees::names;
use super::leads::describe;
use super::{CliError, Outcome};
use crate::in_force::rules_in_force;
use crate::routing::Availability;
use crate::store::Claimed;
use clap::builder::NonEmptyStringValueParser;
use std::io::Write;

#[derive(Debug, clap::Args)]
pub struct ClaimArgs {
    /// The lead's id.
    #[arg(value_name = "ID")]
    pub id: String,
    /// The agent claiming it: a manager or member of the lead's queue in the rules in
    /// force (the config's `rules.path`); recorded as the decision's actor.
    #[arg(long = "as", value_name = "AGENT", required = true, value_parser = NonEmptyStringValueParser::new())]
    pub agent: String,
    /// Why; stored with the decision and sent in the event.
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    #[command(flatten)]
    pub db: DbArgs,
}

pub async fn run(
    args: ClaimArgs,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Outcome, CliError> {
    let agent = not_reserved(args.agent.trim().to_owned())?;
    let config = load_config(&args.db)?;
    let store = connect(&config).await?;
    let rules = rules_in_force(&config.rules, &store).await?.loaded.ruleset;
    // A long-running caller (the API) counts `ClaimResult::of` this result in
    // `leadrouter_claims_total`; a one-shot command has no metrics to export.
    let done = store
        .claim(&args.id, &agent, &rules, args.note.as_deref())
        .await?;
    report(&done, &agent, args.note.as_deref(), out, err)?;
    Ok(Outcome::Success)
}

fn report(
    done: &Claimed,
    agent: &str,
    note: Option<&str>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{}: {} → {} (claimed as {} of {})",
        done.lead_id,
        describe(&done.before),
        describe(&done.after),
        done.role.as_str(),
        done.queue
    )?;
    let note = note.map(|n| format!("; note: {n:?}")).unwrap_or_default();
    writeln!(out, "  by {agent} at {}{note}", when(done.at))?;
    if !done.assignees.is_empty() {
        writeln!(out, "  assignees stay: {}", names(&done.assignees))?;
    }
    writeln!(
        out,
        "  event {} {} written to the outbox",
        done.event.routing_key(),
        done.event.event_id
    )?;
    if done.claimer == Availability::Halted {
        writeln!(
            err,
            "note: {agent} is halted: they own this lead now, but get no pool leads until `agents resume {agent}`."
        )?;
    }
    Ok(())
}
