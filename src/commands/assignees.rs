//! `leadrouter leads assignees ID [--add A,B] [--remove C] [--note T]`.
use super::admin::{ActorArgs, DbArgs, connect, load_config, warn_if_unknown, when};
use super::leads::describe;
use super::{CliError, Outcome};
use crate::store::AssigneesChanged;
use std::io::Write;

#[derive(Debug, clap::Args)]
pub struct AssigneesArgs {
    /// The lead's id.
    #[arg(value_name = "ID")]
    pub id: String,
    /// Agents to add, comma-separated (not inactive ones, not the owner; halted ones
    /// are allowed).
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub add: Vec<String>,
    /// Agents to remove, comma-separated.
    #[arg(long, value_name = "C", value_delimiter = ',')]
    pub remove: Vec<String>,
    /// Why; stored with the decision and the new assignee rows, and sent in the event.
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    #[command(flatten)]
    pub actor: ActorArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

pub async fn run(
    args: AssigneesArgs,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Outcome, CliError> {
    if args
        .add
        .iter()
        .chain(&args.remove)
        .all(|a| a.trim().is_empty())
    {
        return Err(CliError::Invalid(
            "give --add A,B and/or --remove C: the agents to add to or remove from the lead's assignees".into(),
        ));
    }
    let actor = args.actor.resolve()?;
    let config = load_config(&args.db)?;
    let store = connect(&config).await?;
    for agent in args.add.iter().filter(|a| !a.trim().is_empty()) {
        warn_if_unknown(&store, agent.trim(), &mut *err).await?;
    }
    let done = store
        .change_assignees(
            &args.id,
            &args.add,
            &args.remove,
            &actor,
            args.note.as_deref(),
        )
        .await?;
    report(&done, &actor, args.note.as_deref(), out, err)?;
    Ok(Outcome::Success)
}

fn report(
    done: &AssigneesChanged,
    actor: &str,
    note: Option<&str>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> std::io::Result<()> {
    let id = &done.lead_id;
    let mut unchanged = Vec::new();
    if !done.already.is_empty() {
        unchanged.push(format!("already assignees: {}", done.already.join(", ")));
    }
    if !done.not_assignees.is_empty() {
        unchanged.push(format!("not assignees: {}", done.not_assignees.join(", ")));
    }
    let Some(event) = &done.event else {
        writeln!(
            out,
            "{id}: nothing changed ({}); assignees: {}.",
            unchanged.join("; "),
            names(&done.after)
        )?;
        return Ok(());
    };
    let mut delta: Vec<String> = done.added.iter().map(|a| format!("+{a}")).collect();
    delta.extend(done.removed.iter().map(|r| format!("-{r}")));
    writeln!(
        out,
        "{id}: assignees {} → {} ({})",
        names(&done.before),
        names(&done.after),
        delta.join(" ")
    )?;
    writeln!(out, "  the lead stays {}", describe(&done.state))?;
    let note = note.map(|n| format!("; note: {n:?}")).unwrap_or_default();
    writeln!(out, "  by {actor} at {}{note}", when(done.at))?;
    if !unchanged.is_empty() {
        writeln!(out, "  left as they were: {}", unchanged.join("; "))?;
    }
    writeln!(
        out,
        "  event {} {} written to the outbox",
        event.routing_key(),
        event.event_id
    )?;
    for agent in &done.halted {
        writeln!(
            err,
            "note: {agent} is halted: they work this lead as an assignee (the router adds no halted agent)."
        )?;
    }
    Ok(())
}

/// `alice, bob`, or `none`.
pub fn names(v: &[String]) -> String {
    if v.is_empty() {
        "none".to_owned()
    } else {
        v.join(", ")
    }
}
