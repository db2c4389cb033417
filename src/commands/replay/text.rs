//! The human summary of `replay`: what an admin reads before deploying a rules change.
use super::report::{Moves, Route};
use super::{Replay, Skipped};
use crate::commands::admin::{plural, thousands, when};
use crate::routing::LeadStatus;
use std::collections::BTreeMap;
use std::io::Write;

/// Transitions listed; the rest are counted (`--json` has them all).
const TRANSITIONS_SHOWN: usize = 15;

pub fn print(r: &Replay, out: &mut impl Write) -> std::io::Result<()> {
    let f = &r.findings;
    writeln!(
        out,
        "Replayed {} received since {} (the last {})",
        plural(f.replayed, "lead"),
        when(r.window_start),
        r.since
    )?;
    writeln!(out, "  with rules {} (ruleset {})", r.rules, r.ruleset)?;
    if let Some(f) = &r.rules_in_force {
        writeln!(
            out,
            "  compared with the rules in force {} (ruleset {})",
            f.rules, f.ruleset
        )?;
    }
    writeln!(
        out,
        "  and today's agents: halted: {}; offboarded: {}.",
        names(&r.halted),
        names(&r.inactive)
    )?;
    writeln!(out)?;

    if f.replayed == 0 {
        writeln!(out, "No leads to replay in that window.")?;
    } else if f.changed == 0 {
        writeln!(
            out,
            "No change: these rules route all {} as before.",
            plural(f.replayed, "lead")
        )?;
    } else {
        writeln!(
            out,
            "{} of {} would be routed differently ({:.1}%); {} as before.",
            thousands(f.changed),
            plural(f.replayed, "lead"),
            100.0 * f.changed as f64 / f.replayed as f64,
            thousands(f.unchanged)
        )?;
        if r.rules_in_force.is_some() {
            attribution(r, out)?;
        }
        writeln!(out)?;
        transitions(r, out)?;
        breakdowns(r, out)?;
    }
    notes(r, out)
}

/// How many changes are this rules file's doing, and how many would happen anyway.
fn attribution(r: &Replay, out: &mut impl Write) -> std::io::Result<()> {
    let f = &r.findings;
    let anyway = f.also_with_rules_in_force;
    if anyway == 0 {
        return writeln!(out, "All of them come from these rules.");
    }
    let ours = f.changed - anyway;
    writeln!(
        out,
        "{} of them would change with the rules in force too (today's halted or offboarded \
         agents, or rules changed since those leads came in): {} from these rules.",
        thousands(anyway),
        match ours {
            0 => "none comes".to_owned(),
            1 => "1 comes".to_owned(),
            n => format!("{} come", thousands(n)),
        }
    )
}

fn transitions(r: &Replay, out: &mut impl Write) -> std::io::Result<()> {
    let t = &r.findings.transitions;
    writeln!(out, "What would change, most common first:")?;
    let width = t.first().map_or(1, |x| thousands(x.count).chars().count());
    for x in t.iter().take(TRANSITIONS_SHOWN) {
        writeln!(
            out,
            "  {:>width$}  {}  →  {}",
            thousands(x.count),
            label(&x.from),
            label(&x.to)
        )?;
        let anyway = match x.also_with_rules_in_force {
            0 => String::new(),
            n if n == x.count => "  (all also with the rules in force)".to_owned(),
            n => format!("  ({} also with the rules in force)", thousands(n)),
        };
        writeln!(
            out,
            "  {:>width$}  e.g. {}{anyway}",
            "",
            x.examples.join(", ")
        )?;
    }
    if t.len() > TRANSITIONS_SHOWN {
        let rest: u64 = t[TRANSITIONS_SHOWN..].iter().map(|x| x.count).sum();
        writeln!(
            out,
            "  … and {} more kinds of change ({}); --json lists them all.",
            t.len() - TRANSITIONS_SHOWN,
            plural(rest, "lead")
        )?;
    }
    Ok(())
}

fn breakdowns(r: &Replay, out: &mut impl Write) -> std::io::Result<()> {
    let f = &r.findings;
    let rules: Vec<_> = f
        .by_rule
        .iter()
        .filter(|c| c.left > 0 || c.entered > 0)
        .collect();
    if !rules.is_empty() {
        writeln!(out)?;
        writeln!(out, "Rules that would decide other leads:")?;
        let name = |r: &Option<String>| r.clone().unwrap_or_else(|| "(no rule)".to_owned());
        let w = rules
            .iter()
            .map(|c| name(&c.rule).chars().count())
            .max()
            .unwrap_or(0)
            .max(4);
        writeln!(
            out,
            "  {:<w$}  {:>7}  {:>7}  {:>7}  {:>7}",
            "rule", "before", "after", "left", "entered"
        )?;
        for c in rules {
            writeln!(
                out,
                "  {:<w$}  {:>7}  {:>7}  {:>7}  {:>7}",
                name(&c.rule),
                thousands(c.before),
                thousands(c.after),
                thousands(c.left),
                thousands(c.entered)
            )?;
        }
    }
    writeln!(out)?;
    let statuses: Vec<String> = f
        .by_status
        .iter()
        .filter(|s| s.before != s.after)
        .map(|s| {
            format!(
                "{} {} → {} ({:+})",
                s.status.as_str(),
                thousands(s.before),
                thousands(s.after),
                s.after as i64 - s.before as i64
            )
        })
        .collect();
    if !statuses.is_empty() {
        writeln!(out, "Status:  {}", statuses.join(", "))?;
    }
    moves_line(out, "Pools:  ", &f.by_pool)?;
    moves_line(out, "Queues: ", &f.by_queue)?;
    moves_line(
        out,
        "Agents named directly (pool picks are not compared):",
        &f.by_agent,
    )?;
    Ok(())
}

fn moves_line(
    out: &mut impl Write,
    title: &str,
    moves: &BTreeMap<String, Moves>,
) -> std::io::Result<()> {
    if moves.is_empty() {
        return Ok(());
    }
    let parts: Vec<String> = moves
        .iter()
        .map(|(name, m)| {
            let mut s = name.clone();
            if m.gained > 0 {
                s.push_str(&format!(" +{}", thousands(m.gained)));
            }
            if m.lost > 0 {
                s.push_str(&format!(" -{}", thousands(m.lost)));
            }
            s
        })
        .collect();
    writeln!(out, "{title} {}", parts.join(", "))
}

fn notes(r: &Replay, out: &mut impl Write) -> std::io::Result<()> {
    let f = &r.findings;
    if !f.rule_errors.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "Script errors with these rules (each time the next rule was tried):"
        )?;
        for e in &f.rule_errors {
            writeln!(
                out,
                "  {}: {}, e.g. {}",
                e.rule,
                plural(e.leads, "lead"),
                e.examples.join(", ")
            )?;
        }
    }
    let m = &f.manual_corrections;
    if m.changed_by_hand > 0 {
        writeln!(out)?;
        let one = m.changed_by_hand == 1;
        let (was, them) = if one { ("was", "it") } else { ("were", "them") };
        let agreeing = match m.agreeing {
            0 => format!("these rules would not send {them} where the admin put {them}"),
            _ if one => format!(
                "these rules would send it where the admin put it ({})",
                m.examples.join(", ")
            ),
            k => format!(
                "these rules would send {} of them where the admin put them (e.g. {})",
                thousands(k),
                m.examples.join(", ")
            ),
        };
        writeln!(
            out,
            "Manual corrections: {} {was} moved by hand after the router decided {them}; {agreeing}.",
            plural(m.changed_by_hand, "changed lead"),
        )?;
    }
    let Skipped {
        unreadable,
        undecided,
    } = r.skipped;
    if unreadable + undecided > 0 {
        writeln!(out)?;
        writeln!(
            out,
            "Not replayed: {} without a router decision, {} with an unreadable row.",
            plural(undecided, "lead"),
            thousands(unreadable)
        )?;
    }
    writeln!(out)?;
    if f.changed > 0 {
        writeln!(
            out,
            "Nothing was written. Rules decide new leads only: deploying these would not move the leads above."
        )
    } else {
        writeln!(out, "Nothing was written.")
    }
}

/// `west-buyers: pool west-agents`, `office-sf: queue office-sf`, `(no rule): unassigned`,
/// `listing: agent bob + assignees isa-maria`.
fn label(r: &Route) -> String {
    let target = match (r.status, &r.pool) {
        (LeadStatus::Assigned, Some(p)) => format!("pool {p}"),
        (LeadStatus::Assigned, None) => {
            format!("agent {}", r.owner_id.as_deref().unwrap_or("?"))
        }
        (LeadStatus::Queued, _) => format!("queue {}", r.queue.as_deref().unwrap_or("?")),
        (LeadStatus::Unassigned, _) => "unassigned".to_owned(),
    };
    let also = match r.assignees.as_slice() {
        [] => String::new(),
        names => format!(" + assignees {}", names.join(", ")),
    };
    format!(
        "{}: {target}{also}",
        r.rule.as_deref().unwrap_or("(no rule)")
    )
}

fn names(v: &[String]) -> String {
    if v.is_empty() {
        "none".to_owned()
    } else {
        v.join(", ")
    }
}
