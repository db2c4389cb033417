//! Warnings `check` shows: rules that can never decide, pools and schedules never used,
//! agents with settings that nothing routes to.
use super::model::Action;
use super::positions::Positions;
use super::{Diagnostic, Ruleset};
use std::collections::HashSet;

pub(super) fn lint(rs: &Ruleset, pos: &Positions) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let warn = |line: usize, rule: Option<&str>, msg: String| {
        Diagnostic::new(&rs.path, Some(line), rule, msg)
    };

    for (i, rule) in rs.rules.iter().enumerate() {
        let earlier = &rs.rules[..i];
        if let Some(blocker) = earlier
            .iter()
            .find(|e| e.is_unconditional() && e.action.always_decides())
        {
            out.push(warn(
                rule.line,
                Some(&rule.name),
                format!(
                    "can never decide: unreachable after rule {:?} (line {}), which has no conditions and always decides",
                    &*blocker.name, blocker.line
                ),
            ));
            continue;
        }
        if rule.is_unconditional() {
            continue;
        }
        let twin = earlier.iter().find(|e| {
            e.action.always_decides()
                && e.when_source == rule.when_source
                && e.when_script_source == rule.when_script_source
        });
        if let Some(twin) = twin {
            out.push(warn(
                rule.line,
                Some(&rule.name),
                format!(
                    "can never decide: shadowed by rule {:?} (line {}), which has the same conditions and always decides",
                    &*twin.name, twin.line
                ),
            ));
        }
    }

    let used_pools: HashSet<&str> = rs
        .rules
        .iter()
        .filter_map(|r| match &r.action {
            Action::Pool(p) => Some(p.as_str()),
            _ => None,
        })
        .collect();
    let scripted = rs
        .rules
        .iter()
        .any(|r| matches!(r.action, Action::Script(_)));
    for pool in rs.pools.keys() {
        // A script may return any pool by name, so with scripts present we cannot tell.
        if !scripted && !used_pools.contains(pool.as_str()) {
            let line = pos.line(&format!("pools.{pool}")).unwrap_or(0);
            out.push(warn(
                line,
                None,
                format!("pool `{pool}` is not used by any rule"),
            ));
        }
    }
    out.extend(unused_availability(rs, pos, scripted));
    out
}

/// Schedules no agent or pool uses, and `agents:` entries for an agent in no pool whom
/// no rule names: probably a misspelt id, and settings that hold nothing back either
/// way (schedules and caps apply to pool deals; direct assignments are never blocked).
fn unused_availability(rs: &Ruleset, pos: &Positions, scripted: bool) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let warn = |at: String, msg: String| {
        Diagnostic::new(&rs.path, Some(pos.line(&at).unwrap_or(0)), None, msg)
    };
    let in_pool = |a: &str| {
        rs.pools
            .values()
            .any(|p| p.members.iter().any(|m| m.agent == a))
    };
    let named = |a: &str| {
        rs.rules
            .iter()
            .any(|r| matches!(&r.action, Action::Agent(x) if x == a))
    };
    // A script may name any agent, so with scripts present we cannot tell.
    for agent in rs.agents.keys() {
        if !scripted && !in_pool(agent) && !named(agent) {
            out.push(warn(
                format!("agents.{agent}"),
                format!(
                    "agent `{agent}` is in no pool and no rule names it: its settings hold back no lead (schedules and caps apply to pool deals)"
                ),
            ));
        }
    }
    let used: HashSet<&str> = rs
        .agents
        .values()
        .chain(rs.pools.values().map(|p| &p.defaults))
        .filter_map(|s| s.schedule.as_deref())
        .collect();
    for name in rs.schedules.keys() {
        if !used.contains(name.as_str()) {
            out.push(warn(
                format!("schedules.{name}"),
                format!("schedule `{name}` is not used by any agent or pool"),
            ));
        }
    }
    out
}
