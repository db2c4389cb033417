//! The text form of `leadrouter leads show`.
use super::admin::when;
use crate::routing::{Pick, RuleOutcome, SkippedAgent, Trace};
use crate::store::{DecisionRecord, LeadHistory, ROUTER_ACTOR};
use serde::Deserialize;
use serde_json::Value;
use std::io::Write;

pub fn print(h: &LeadHistory, out: &mut impl Write) -> std::io::Result<()> {
    let l = &h.lead;
    let (s, p) = (&l.state, &l.state.placement);
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    writeln!(out, "lead {}", l.lead_id)?;
    let fields = [
        ("status", p.status.as_str().to_owned()),
        ("owner", dash(&p.owner_id)),
        ("queue", dash(&p.queue)),
        ("pool", dash(&p.pool)),
        ("rule", dash(&p.rule)),
        ("received at", when(l.received_at)),
        ("decided at", when(l.decided_at)),
        (
            "ownerless since",
            s.unassigned_since.map_or_else(|| "-".to_owned(), when),
        ),
        ("assignees", assignee_names(h)),
    ];
    for (k, v) in fields {
        writeln!(out, "  {k:<16} {v}")?;
    }
    writeln!(out, "payload:")?;
    write_indented(out, &pretty(&l.payload), 2)?;

    writeln!(out)?;
    writeln!(out, "history (oldest first):")?;
    for (i, d) in h.decisions.iter().enumerate() {
        print_decision(i + 1, d, out)?;
    }
    if !h.alerts.is_empty() {
        writeln!(out)?;
        writeln!(out, "alerts (ownerless too long):")?;
        for a in &h.alerts {
            writeln!(
                out,
                "  raised {} (ownerless since {})",
                when(a.raised_at),
                when(a.unassigned_since)
            )?;
        }
    }
    Ok(())
}

fn print_decision(n: usize, d: &DecisionRecord, out: &mut impl Write) -> std::io::Result<()> {
    let who = if d.actor == ROUTER_ACTOR {
        format!(
            "router, ruleset {}",
            d.ruleset.as_deref().unwrap_or("(unknown)")
        )
    } else {
        format!("{} by {} (manual change)", d.via, d.actor)
    };
    writeln!(out, "#{n}  {}  {who}", when(d.decided_at))?;
    writeln!(out, "    {}", describe(d))?;
    if let Some(note) = &d.note {
        writeln!(out, "    note: {note:?}")?;
    }
    match &d.trace {
        None => {}
        Some(v) if d.via == "assignees" => {
            match serde_json::from_value::<AssigneesDelta>(v.clone()) {
                Ok(delta) => {
                    let mut parts: Vec<String> =
                        delta.added.iter().map(|a| format!("+{a}")).collect();
                    parts.extend(delta.removed.iter().map(|r| format!("-{r}")));
                    writeln!(
                        out,
                        "    assignees {} → {}",
                        parts.join(" "),
                        if delta.assignees.is_empty() {
                            "none".to_owned()
                        } else {
                            delta.assignees.join(", ")
                        }
                    )?;
                }
                Err(_) => {
                    writeln!(out, "    trace:")?;
                    write_indented(out, &pretty(v), 6)?;
                }
            }
        }
        Some(v) => match serde_json::from_value::<Trace>(v.clone()) {
            Ok(trace) if d.actor == ROUTER_ACTOR => {
                writeln!(out, "    trace:")?;
                print_trace(&trace, out)?;
            }
            _ => match serde_json::from_value::<PoolDeal>(v.clone()) {
                Ok(deal) => {
                    writeln!(
                        out,
                        "    dealt by pool {} ({}) when {} was offboarded",
                        deal.pool, deal.strategy, deal.offboarded
                    )?;
                    print_skipped(&deal.skipped, "    ", out)?;
                    writeln!(
                        out,
                        "    picked: {} ({})",
                        deal.picked.agent, deal.picked.why
                    )?;
                }
                // A trace this version cannot read: shown as stored.
                Err(_) => {
                    writeln!(out, "    trace:")?;
                    write_indented(out, &pretty(v), 6)?;
                }
            },
        },
    }
    Ok(())
}

/// What an assignees change stores as its trace (`store::changes`).
#[derive(Deserialize)]
struct AssigneesDelta {
    #[serde(default)]
    added: Vec<String>,
    #[serde(default)]
    removed: Vec<String>,
    #[serde(default)]
    assignees: Vec<String>,
}

/// `alice (router), bob (jdoe: "showing Saturday")`, or `-`.
fn assignee_names(h: &LeadHistory) -> String {
    if h.assignees.is_empty() {
        return "-".to_owned();
    }
    let names: Vec<String> = h
        .assignees
        .iter()
        .map(|a| match &a.note {
            Some(n) => format!("{} (by {}: {n:?})", a.agent_id, a.added_by),
            None => format!("{} (by {})", a.agent_id, a.added_by),
        })
        .collect();
    names.join(", ")
}

/// The explanation `agents offboard --pool` stores for each deal (`store::offboard`).
#[derive(Deserialize)]
struct PoolDeal {
    pool: String,
    strategy: String,
    offboarded: String,
    picked: Pick,
    #[serde(default)]
    skipped: Vec<SkippedAgent>,
}

fn print_skipped(skipped: &[SkippedAgent], pad: &str, out: &mut impl Write) -> std::io::Result<()> {
    if skipped.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = skipped
        .iter()
        .map(|s| format!("{} ({})", s.agent, s.why.as_str()))
        .collect();
    writeln!(out, "{pad}skipped: {}", names.join(", "))
}

fn describe(d: &DecisionRecord) -> String {
    let to = &d.placement;
    let base = match to.status.as_str() {
        "assigned" => format!("assigned to {}", to.owner_id.as_deref().unwrap_or("?")),
        "queued" => format!("queued in {}", to.queue.as_deref().unwrap_or("?")),
        other => other.to_owned(),
    };
    let mut by = Vec::new();
    if let Some(p) = &to.pool {
        by.push(format!("pool {p}"));
    }
    match &to.rule {
        Some(r) => by.push(format!("rule {r}")),
        None if d.actor == ROUTER_ACTOR => by.push("no rule decided".to_owned()),
        None => {}
    }
    if by.is_empty() {
        base
    } else {
        format!("{base} ({})", by.join(", "))
    }
}

fn print_trace(t: &Trace, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "      region: {}",
        t.region.as_deref().unwrap_or("(none)")
    )?;
    let width = t
        .rules
        .iter()
        .map(|r| r.rule.chars().count())
        .max()
        .unwrap_or(0);
    let pad = " ".repeat(6 + width + 2 + 9 + 2);
    for r in &t.rules {
        let outcome = match r.outcome {
            RuleOutcome::NoMatch => "no match",
            RuleOutcome::Decided => "DECIDED",
            RuleOutcome::Passed => "passed",
            RuleOutcome::Error => "ERROR",
        };
        writeln!(out, "      {:<width$}  {outcome:<9}  {}", r.rule, r.reason)?;
        print_skipped(&r.skipped, &pad, out)?;
        if let Some(p) = &r.picked {
            writeln!(out, "{pad}picked: {} ({})", p.agent, p.why)?;
        }
        if !r.assignees.is_empty() {
            writeln!(out, "{pad}assignees: {}", r.assignees.join(", "))?;
        }
        if !r.assignees_skipped.is_empty() {
            let names: Vec<String> = r
                .assignees_skipped
                .iter()
                .map(|s| format!("{} ({})", s.agent, s.why.as_str()))
                .collect();
            writeln!(out, "{pad}not assignees: {}", names.join(", "))?;
        }
    }
    Ok(())
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

fn write_indented(out: &mut impl Write, text: &str, indent: usize) -> std::io::Result<()> {
    for line in text.lines() {
        writeln!(out, "{:indent$}{line}", "")?;
    }
    Ok(())
}
