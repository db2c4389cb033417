//! `leadrouter agents offboard ID --to AGENT | --pool POOL`.
use super::admin::{
    ActorArgs, DbArgs, connect, load_config, load_rules, plural, warn_if_unknown, when,
};
use super::{CliError, Outcome};
use crate::in_force::rules_in_force;
use crate::rules::{Pool, Ruleset};
use crate::store::{OffboardTo, Offboarded};
use clap::builder::NonEmptyStringValueParser;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// Lead ids printed per new owner; the rest are counted.
const IDS_SHOWN: usize = 10;

#[derive(Debug, clap::Args)]
pub struct OffboardArgs {
    /// The agent leaving.
    #[arg(value_name = "ID", value_parser = NonEmptyStringValueParser::new())]
    pub id: String,
    #[command(flatten)]
    pub to: Destination,
    /// Recorded with every moved lead; reaches the new owners through the events.
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// The rules file defining `--pool` (default: the rules in force, from `rules.path`
    /// or the database as `rules.source` says).
    #[arg(long, value_name = "RULES")]
    pub rules: Option<PathBuf>,
    #[command(flatten)]
    pub actor: ActorArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct Destination {
    /// Give every open lead to this agent (not an inactive one; halted is allowed).
    #[arg(long, value_name = "AGENT", value_parser = NonEmptyStringValueParser::new())]
    pub to: Option<String>,
    /// Deal the open leads through this pool's strategy and rotation (as the router
    /// would), skipping halted and inactive members.
    #[arg(long, value_name = "POOL", value_parser = NonEmptyStringValueParser::new())]
    pub pool: Option<String>,
}

pub async fn run(
    args: OffboardArgs,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Outcome, CliError> {
    let actor = args.actor.resolve()?;
    let config = load_config(&args.db)?;
    // An explicit file first: a typo in --rules should not cost a database round trip.
    let file_rules = match (&args.to.pool, &args.rules) {
        (Some(_), Some(path)) => Some(load_rules(path)?),
        _ => None,
    };
    let store = connect(&config).await?;
    let rules = match (&args.to.pool, file_rules) {
        (Some(_), Some(rs)) => Some(rs),
        (Some(_), None) => Some(rules_in_force(&config.rules, &store).await?.loaded.ruleset),
        (None, _) => None,
    };
    let to = match (&args.to.to, &args.to.pool, &rules) {
        (Some(agent), _, _) => OffboardTo::Agent(agent),
        (None, Some(name), Some(rs)) => {
            OffboardTo::Pool(find_pool(rs, name).map_err(CliError::Invalid)?)
        }
        // clap's group requires exactly one of --to and --pool.
        _ => return Err(CliError::Invalid("give --to AGENT or --pool POOL".into())),
    };
    if let OffboardTo::Agent(agent) = to {
        warn_if_unknown(&store, agent, &mut *err).await?;
    }
    let done = store
        .offboard(&args.id, to, &actor, args.note.as_deref())
        .await?;
    report(&args.id, to, &done, out)?;
    Ok(Outcome::Success)
}

/// The pool `name` of `rs`, or a message naming the pools there are.
pub fn find_pool<'r>(rs: &'r Ruleset, name: &str) -> Result<&'r Pool, String> {
    rs.pool(name).ok_or_else(|| {
        let known: Vec<&str> = rs.pools().map(|p| p.name.as_str()).collect();
        format!(
            "no pool {name:?} in {} (pools: {})",
            rs.path().display(),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )
    })
}

fn report(
    id: &str,
    to: OffboardTo<'_>,
    done: &Offboarded,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let by = format!(
        "by {} at {}",
        done.agent.updated_by.as_deref().unwrap_or("(unknown)"),
        when(done.at)
    );
    if done.was_active {
        writeln!(
            out,
            "offboarded {id} ({by}): inactive from now on, no rule or reassignment gives them leads."
        )?;
    } else {
        writeln!(out, "{id} was already offboarded ({by}).")?;
    }
    if done.moved.is_empty() {
        writeln!(out, "{id} had no open leads: nothing to move.")?;
        assignee_slots(id, done, out)?;
        return Ok(());
    }
    let how = match to {
        OffboardTo::Agent(agent) => format!("to {agent}"),
        OffboardTo::Pool(pool) => {
            format!("through pool {} ({})", pool.name, pool.strategy.as_str())
        }
    };
    writeln!(
        out,
        "moved {} {how}:",
        plural(done.moved.len() as u64, "open lead")
    )?;
    let mut by_owner: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for m in &done.moved {
        by_owner.entry(&m.to).or_default().push(&m.lead_id);
    }
    let width = by_owner
        .keys()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(0);
    for (owner, ids) in &by_owner {
        let shown = ids[..ids.len().min(IDS_SHOWN)].join(", ");
        let more = match ids.len().saturating_sub(IDS_SHOWN) {
            0 => String::new(),
            n => format!(", … and {n} more"),
        };
        writeln!(out, "  {owner:<width$}  {:>4}  {shown}{more}", ids.len())?;
    }
    if !done.skipped.is_empty() {
        let names: Vec<String> = done
            .skipped
            .iter()
            .map(|s| format!("{} ({})", s.agent, s.why.as_str()))
            .collect();
        writeln!(out, "skipped in the pool: {}.", names.join(", "))?;
    }
    if let Some((pool, rotation)) = &done.rotation
        && let Some(last) = &rotation.last
    {
        writeln!(
            out,
            "the rotation of pool {pool} moved on: the next lead goes to the member after {last}."
        )?;
    }
    writeln!(
        out,
        "{} written to the outbox (previous_owner_id: {id}).",
        plural(done.moved.len() as u64, "lead.assigned event")
    )?;
    assignee_slots(id, done, out)
}

/// The leads the agent was an assignee of.
fn assignee_slots(id: &str, done: &Offboarded, out: &mut impl Write) -> std::io::Result<()> {
    let slots = &done.assignee_slots;
    if slots.is_empty() {
        return Ok(());
    }
    let shown = slots[..slots.len().min(IDS_SHOWN)].join(", ");
    let more = match slots.len().saturating_sub(IDS_SHOWN) {
        0 => String::new(),
        n => format!(", … and {n} more"),
    };
    writeln!(
        out,
        "removed {id} from the assignees of {}: {shown}{more}",
        plural(slots.len() as u64, "lead")
    )?;
    writeln!(
        out,
        "{} written to the outbox (removed: [{id}]).",
        plural(slots.len() as u64, "lead.assignees_changed event")
    )
}
