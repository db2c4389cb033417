//! `leadrouter agents halt|resume|list|offboard|reactivate`.
use super::admin::{ActorArgs, DbArgs, connect, load_config, load_rules, when};
use super::{CliError, Outcome, block_on, offboard};
use crate::rules::Ruleset;
use crate::store::{AgentChange, AgentRow, Store, StoreError};
use chrono::{DateTime, Utc};
use clap::builder::NonEmptyStringValueParser;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum AgentsCommand {
    /// Stop an agent receiving pool leads (and direct ones, as each rule's `if_halted`
    /// says), from the next batch on, on every running instance. Their open leads stay.
    Halt(ChangeArgs),
    /// Let a halted agent receive leads again, from the next batch on.
    Resume(ChangeArgs),
    /// Agents with a row (halted, offboarded, or ever changed), their open leads, and with
    /// `--rules` every pool member.
    List(ListArgs),
    /// Mark an agent inactive (offboarded) and move all their open leads, in one
    /// transaction, to another agent (`--to`) or through a pool's rotation (`--pool`).
    Offboard(offboard::OffboardArgs),
    /// Make an offboarded agent active again. Leads moved away stay where they are.
    Reactivate(ChangeArgs),
}

#[derive(Debug, clap::Args)]
pub struct ChangeArgs {
    /// The agent's id (as in the rules and in `leads.owner_id`).
    #[arg(value_name = "ID", value_parser = NonEmptyStringValueParser::new())]
    pub id: String,
    #[command(flatten)]
    pub actor: ActorArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Also list the members of this rules file's pools (shown as available when they
    /// have no row), with the pools each agent belongs to.
    #[arg(long, value_name = "RULES")]
    pub rules: Option<PathBuf>,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

pub fn run(
    cmd: AgentsCommand,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Outcome, CliError> {
    block_on(async {
        match cmd {
            AgentsCommand::Halt(a) => change(a, Change::Halt, out, err).await,
            AgentsCommand::Resume(a) => change(a, Change::Resume, out, err).await,
            AgentsCommand::Reactivate(a) => change(a, Change::Reactivate, out, err).await,
            AgentsCommand::List(a) => list(a, out).await,
            AgentsCommand::Offboard(a) => offboard::run(a, out, err).await,
        }
    })
}

#[derive(Clone, Copy)]
enum Change {
    Halt,
    Resume,
    Reactivate,
}

async fn change(
    args: ChangeArgs,
    what: Change,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Outcome, CliError> {
    let actor = args.actor.resolve()?;
    let config = load_config(&args.db)?;
    let store = connect(&config).await?;
    let id = &args.id;
    let AgentChange { row, changed } = match what {
        Change::Halt => store.set_halted(id, true, &actor).await?,
        Change::Resume => store.set_halted(id, false, &actor).await?,
        Change::Reactivate => store.reactivate(id, &actor).await?,
    };
    let by = |r: &AgentRow| {
        format!(
            "by {} at {}",
            r.updated_by.as_deref().unwrap_or("(unknown)"),
            when(r.updated_at)
        )
    };
    let line = match (what, changed, row.as_ref()) {
        (Change::Halt, true, Some(r)) => format!(
            "halted {id} ({}): no pool leads for {id} from the next batch on, on every instance; \
             direct leads follow each rule's if_halted. Open leads stay with {id}.",
            by(r)
        ),
        (Change::Halt, false, Some(r)) => {
            format!("{id} is already halted ({}); nothing changed.", by(r))
        }
        (Change::Resume, true, Some(r)) => format!(
            "resumed {id} ({}): {id} receives leads again from the next batch on.",
            by(r)
        ),
        (Change::Resume, false, _) => format!("{id} is not halted; nothing changed."),
        (Change::Reactivate, true, Some(r)) => format!(
            "reactivated {id} ({}): rules and reassignments may give {id} leads again{}.",
            by(r),
            if r.halted {
                " (still halted: `agents resume` to receive pool leads)"
            } else {
                ""
            }
        ),
        (Change::Reactivate, false, _) => format!("{id} is not offboarded; nothing changed."),
        // The store returns a row for every change, and for a halt in any case.
        (_, true, None) | (Change::Halt, false, None) => {
            return Err(CliError::Failed(format!(
                "{id}: no agents row after the change"
            )));
        }
    };
    writeln!(out, "{line}")?;
    if let Some(r) = &row
        && !r.active
        && !matches!(what, Change::Reactivate)
    {
        writeln!(
            err,
            "note: {id} is offboarded (inactive): no rule or reassignment gives them leads, halted or not."
        )?;
    }
    Ok(Outcome::Success)
}

/// One line of `agents list` (and of the API's `GET /agents`).
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub agent_id: String,
    pub halted: bool,
    pub active: bool,
    pub open_leads: u64,
    /// Pools of the rules given that the agent is a member of.
    pub pools: Vec<String>,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<String>,
}

/// Agents with a row and, with `rules`, every pool member (available when it has no
/// row), by id, each with its open leads and pools.
pub async fn overview(store: &Store, rules: Option<&Ruleset>) -> Result<Vec<Listed>, StoreError> {
    let rows = store.list_agents().await?;
    let open = store.open_lead_counts().await?;

    let mut listed: BTreeMap<String, Listed> = BTreeMap::new();
    for r in rows {
        listed.insert(
            r.agent_id.clone(),
            Listed {
                open_leads: open.get(&r.agent_id).copied().unwrap_or(0),
                agent_id: r.agent_id,
                halted: r.halted,
                active: r.active,
                pools: Vec::new(),
                updated_at: Some(r.updated_at),
                updated_by: r.updated_by,
            },
        );
    }
    for pool in rules.iter().flat_map(|rs| rs.pools()) {
        for m in &pool.members {
            let entry = listed.entry(m.agent.clone()).or_insert_with(|| Listed {
                agent_id: m.agent.clone(),
                halted: false,
                active: true,
                open_leads: open.get(&m.agent).copied().unwrap_or(0),
                pools: Vec::new(),
                updated_at: None,
                updated_by: None,
            });
            entry.pools.push(pool.name.clone());
        }
    }
    Ok(listed.into_values().collect())
}

async fn list(args: ListArgs, out: &mut impl Write) -> Result<Outcome, CliError> {
    let config = load_config(&args.db)?;
    // Rules first: a typo in --rules should not cost a database round trip.
    let rules = match &args.rules {
        Some(path) => Some(load_rules(path)?),
        None => None,
    };
    let store = connect(&config).await?;
    let listed = overview(&store, rules.as_ref()).await?;

    if args.json {
        serde_json::to_writer_pretty(&mut *out, &listed).map_err(std::io::Error::from)?;
        writeln!(out)?;
        return Ok(Outcome::Success);
    }
    if listed.is_empty() {
        writeln!(
            out,
            "No agent has been halted, offboarded or changed: every agent is available.{}",
            if rules.is_none() {
                " (--rules FILE also lists pool members.)"
            } else {
                ""
            }
        )?;
        return Ok(Outcome::Success);
    }
    print_table(&listed, rules.is_some(), out)?;
    Ok(Outcome::Success)
}

fn print_table(listed: &[Listed], with_pools: bool, out: &mut impl Write) -> std::io::Result<()> {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let mut lines: Vec<Vec<String>> = vec![
        [
            "AGENT",
            "HALTED",
            "ACTIVE",
            "OPEN LEADS",
            "POOLS",
            "UPDATED AT",
            "UPDATED BY",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for l in listed {
        lines.push(vec![
            l.agent_id.clone(),
            yes_no(l.halted).to_owned(),
            yes_no(l.active).to_owned(),
            l.open_leads.to_string(),
            if l.pools.is_empty() {
                "-".to_owned()
            } else {
                l.pools.join(",")
            },
            l.updated_at.map_or_else(|| "-".to_owned(), when),
            l.updated_by.clone().unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    if !with_pools {
        for line in &mut lines {
            line.remove(4);
        }
    }
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for line in &lines {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}
