//! `leadrouter leads show|reassign|unassign|assignees|claim`.
use super::admin::{ActorArgs, DbArgs, connect, load_config, warn_if_unknown, when};
use super::{CliError, Outcome, assignees, block_on, claim, show};
use crate::routing::{Availability, LeadStatus};
use crate::store::{LeadState, ManualTarget, Reassigned};
use clap::builder::NonEmptyStringValueParser;
use std::io::Write;

#[derive(Debug, clap::Subcommand)]
pub enum LeadsCommand {
    /// Show a lead as stored, its decision history (oldest first, with each decision's
    /// actor, note, ruleset and explain trace) and the alerts raised for it.
    Show(ShowArgs),
    /// Give a lead to an agent (halted is allowed, inactive is not) or put it in a
    /// queue. Recorded as your decision, announced by its event (with the note).
    Reassign(ReassignArgs),
    /// Take a lead's owner or queue away: it waits unassigned. Recorded and announced
    /// like a reassignment.
    Unassign(UnassignArgs),
    /// Add or remove a lead's assignees (agents who work it without owning it). The
    /// owner stays; recorded as your decision, announced by `lead.assignees_changed`.
    Assignees(assignees::AssigneesArgs),
    /// Take a queued lead as its owner: for managers and members of the lead's queue
    /// (the `queues` section of the rules in force). Exit 3 when it is no longer
    /// queued (another claim won), 2 when AGENT may not claim from that queue.
    Claim(claim::ClaimArgs),
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The lead's id.
    #[arg(value_name = "ID")]
    pub id: String,
    /// Print one JSON object (`lead`, `decisions`, `alerts`) instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, clap::Args)]
pub struct ReassignArgs {
    /// The lead's id.
    #[arg(value_name = "ID")]
    pub id: String,
    #[command(flatten)]
    pub to: ReassignTo,
    /// Why; stored with the decision and sent in the event (the new owner sees it).
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    #[command(flatten)]
    pub actor: ActorArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct ReassignTo {
    /// The new owner.
    #[arg(long, value_name = "AGENT", value_parser = NonEmptyStringValueParser::new())]
    pub to: Option<String>,
    /// The queue (an office or a pass group) where the lead waits without an owner.
    #[arg(long, value_name = "Q", value_parser = NonEmptyStringValueParser::new())]
    pub queue: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct UnassignArgs {
    /// The lead's id.
    #[arg(value_name = "ID")]
    pub id: String,
    /// Why; stored with the decision and sent in the event.
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    #[command(flatten)]
    pub actor: ActorArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

pub fn run(
    cmd: LeadsCommand,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Outcome, CliError> {
    let target = |to: ReassignTo| match (to.to, to.queue) {
        (Some(agent), _) => Ok(ManualTarget::Agent(agent)),
        (None, Some(queue)) => Ok(ManualTarget::Queue(queue)),
        // clap's group requires exactly one of them.
        (None, None) => Err(CliError::Invalid("give --to AGENT or --queue Q".into())),
    };
    block_on(async {
        match cmd {
            LeadsCommand::Show(a) => show_lead(a, out).await,
            LeadsCommand::Reassign(a) => {
                let to = target(a.to)?;
                change(&a.id, to, a.note, &a.actor, &a.db, out, err).await
            }
            LeadsCommand::Unassign(a) => {
                let to = ManualTarget::Unassigned;
                change(&a.id, to, a.note, &a.actor, &a.db, out, err).await
            }
            LeadsCommand::Assignees(a) => assignees::run(a, out, err).await,
            LeadsCommand::Claim(a) => claim::run(a, out, err).await,
        }
    })
}

async fn show_lead(args: ShowArgs, out: &mut impl Write) -> Result<Outcome, CliError> {
    let config = load_config(&args.db)?;
    let store = connect(&config).await?;
    let Some(history) = store.lead_history(&args.id).await? else {
        return Err(CliError::Invalid(format!("no lead with id {:?}", args.id)));
    };
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &history).map_err(std::io::Error::from)?;
        writeln!(out)?;
    } else {
        show::print(&history, out)?;
    }
    Ok(Outcome::Success)
}

async fn change(
    id: &str,
    target: ManualTarget,
    note: Option<String>,
    actor: &ActorArgs,
    db: &DbArgs,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Outcome, CliError> {
    let actor = actor.resolve()?;
    let config = load_config(db)?;
    let store = connect(&config).await?;
    // Checked before the change, so an agent's first lead does not make them known.
    if let ManualTarget::Agent(agent) = &target {
        warn_if_unknown(&store, agent, &mut *err).await?;
    }
    let done = store.reassign(id, &target, &actor, note.as_deref()).await?;
    report(&done, &actor, note.as_deref(), out, err)?;
    Ok(Outcome::Success)
}

fn report(
    done: &Reassigned,
    actor: &str,
    note: Option<&str>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> std::io::Result<()> {
    let id = &done.lead_id;
    let Some(event) = &done.event else {
        writeln!(
            out,
            "{id} already is {}; nothing changed.",
            describe(&done.before)
        )?;
        return Ok(());
    };
    writeln!(
        out,
        "{id}: {} → {}",
        describe(&done.before),
        describe(&done.after)
    )?;
    let note = note.map(|n| format!("; note: {n:?}")).unwrap_or_default();
    writeln!(out, "  by {actor} at {}{note}", when(done.at))?;
    match (done.before.unassigned_since, done.after.unassigned_since) {
        (_, None) => {}
        (Some(since), Some(_)) => writeln!(
            out,
            "  ownerless since {} (the same ownerless spell goes on)",
            when(since)
        )?,
        (None, Some(since)) => writeln!(
            out,
            "  ownerless from {} (a new ownerless spell starts)",
            when(since)
        )?,
    }
    if done.owner_was_assignee
        && let Some(owner) = done.after.placement.owner_id.as_deref()
    {
        writeln!(
            out,
            "  {owner} was an assignee: as the owner now, they leave the assignees (now: {})",
            assignees::names(&done.assignees)
        )?;
    } else if !done.assignees.is_empty() {
        writeln!(
            out,
            "  assignees stay: {}",
            assignees::names(&done.assignees)
        )?;
    }
    let previous = done
        .before
        .placement
        .owner_id
        .as_deref()
        .map(|p| format!(" (previous_owner_id: {p})"))
        .unwrap_or_default();
    writeln!(
        out,
        "  event {} {} written to the outbox{previous}",
        event.routing_key(),
        event.event_id
    )?;
    if done.target == Some(Availability::Halted)
        && let Some(agent) = done.after.placement.owner_id.as_deref()
    {
        writeln!(
            err,
            "note: {agent} is halted: they get this lead, but no pool leads until `agents resume {agent}`."
        )?;
    }
    Ok(())
}

/// `assigned to alice (pool west-agents, rule west-buyers)`, `queued in office-sf`, `unassigned`.
pub fn describe(s: &LeadState) -> String {
    let s = &s.placement;
    let base = match s.status {
        LeadStatus::Assigned => format!("assigned to {}", s.owner_id.as_deref().unwrap_or("?")),
        LeadStatus::Queued => format!("queued in {}", s.queue.as_deref().unwrap_or("?")),
        LeadStatus::Unassigned => "unassigned".to_owned(),
    };
    let mut by = Vec::new();
    if let Some(p) = &s.pool {
        by.push(format!("pool {p}"));
    }
    if let Some(r) = &s.rule {
        by.push(format!("rule {r}"));
    }
    if by.is_empty() {
        base
    } else {
        format!("{base} ({})", by.join(", "))
    }
}
