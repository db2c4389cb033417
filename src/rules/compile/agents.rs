//! `agents:` id → {schedule, daily_cap, open_cap}, and the same three keys on a pool
//! (defaults for its members), SPEC 3.4. Also which schedule's midnight ends each
//! agent's day for the daily cap.
use super::{Compiler, Parts, list_or_none, show};
use crate::rules::model::{Pool, Settings};
use crate::rules::schedule::Schedule;
use serde_yaml::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet};

/// The settings an agent (or, as defaults, a pool) may have.
pub(super) const SETTING_KEYS: &[&str] = &["schedule", "daily_cap", "open_cap"];

pub(super) fn section(c: &mut Compiler<'_>, v: Option<&Yaml>, parts: &mut Parts) {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return;
    };
    let Some(m) = v.as_mapping() else {
        c.err(
            "agents",
            "`agents` must be a mapping of agent id to {schedule, daily_cap, open_cap}",
        );
        return;
    };
    for (k, body) in m {
        let Some(id) = c.key_str(k, "agents") else {
            continue;
        };
        let at = format!("agents.{id}");
        let owner = format!("agent `{id}`");
        let mut settings = Settings::default();
        match body {
            // `alice:` or `alice: {}`: listed, with nothing of its own.
            Yaml::Null => {}
            Yaml::Mapping(body) => {
                for (bk, bv) in body {
                    let known = bk.as_str().is_some_and(|key| {
                        c.setting(&owner, &at, key, bv, &mut settings, &parts.schedule_names)
                    });
                    if !known {
                        c.err(
                            &at,
                            format!(
                                "{owner}: unknown key {} (expected {})",
                                show(bk),
                                SETTING_KEYS.join(", ")
                            ),
                        );
                    }
                }
            }
            other => c.err(
                &at,
                format!(
                    "{owner} must be a mapping with {}, got {}",
                    SETTING_KEYS.join(", "),
                    show(other)
                ),
            ),
        }
        parts.agents.insert(id, settings);
    }
}

impl Compiler<'_> {
    /// Reads `key: v` into `settings` if `key` is one of [`SETTING_KEYS`]; false if not.
    /// `owner` names the agent or pool in messages, `at` is its YAML path.
    pub(super) fn setting(
        &mut self,
        owner: &str,
        at: &str,
        key: &str,
        v: &Yaml,
        settings: &mut Settings,
        schedules: &BTreeSet<String>,
    ) -> bool {
        let at_k = format!("{at}.{key}");
        match key {
            "schedule" => match v.as_str().map(str::trim).filter(|s| !s.is_empty()) {
                Some(s) if schedules.contains(s) => settings.schedule = Some(s.to_owned()),
                Some(s) => {
                    let known: Vec<&str> = schedules.iter().map(String::as_str).collect();
                    self.err(
                        &at_k,
                        format!(
                            "{owner}: unknown schedule `{s}` (schedules: {})",
                            list_or_none(&known)
                        ),
                    );
                }
                None => self.err(
                    &at_k,
                    format!("{owner}: `schedule` needs a schedule name, got {}", show(v)),
                ),
            },
            "daily_cap" => settings.daily_cap = self.cap(owner, &at_k, key, v),
            "open_cap" => settings.open_cap = self.cap(owner, &at_k, key, v),
            _ => return false,
        }
        true
    }

    /// A cap: a whole number from 1 (a YAML number; `"10"` in quotes is refused, as a
    /// cap of 0 would be: an agent who may take nothing is halted, not capped).
    fn cap(&mut self, owner: &str, at: &str, key: &str, v: &Yaml) -> Option<u32> {
        let got = match v.as_i64() {
            Some(n) if n > 0 && n <= i64::from(u32::MAX) => return Some(n as u32),
            Some(n) => n.to_string(),
            None => show(v),
        };
        self.err(
            at,
            format!("{owner}: `{key}` must be a whole number > 0, got {got}"),
        );
        None
    }

    /// Whose midnight ends each agent's day for its daily cap: its own schedule's, else
    /// that of the schedules its pools give their members, which must then agree on one
    /// time zone when the agent has a daily cap (one count per local day, one midnight).
    /// Agents left out count days in UTC.
    pub(super) fn day_schedules(&mut self, parts: &Parts) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (agent, s) in &parts.agents {
            if let Some(name) = &s.schedule {
                out.insert(agent.clone(), name.clone());
            }
        }
        // Each member without a schedule of its own: the pools (name order) that give it one.
        let mut by_agent: BTreeMap<&str, Vec<&Pool>> = BTreeMap::new();
        for pool in parts.pools.values() {
            for m in &pool.members {
                let own = parts.agents.get(&m.agent);
                if own.is_none_or(|s| s.schedule.is_none()) && pool.defaults.schedule.is_some() {
                    by_agent.entry(&m.agent).or_default().push(pool);
                }
            }
        }
        for (agent, pools) in by_agent {
            let zone_of = |p: &Pool| {
                let name = p.defaults.schedule.as_deref().unwrap_or_default();
                parts.schedules.get(name).map(Schedule::timezone)
            };
            let first = pools[0];
            let capped = parts
                .agents
                .get(agent)
                .is_some_and(|s| s.daily_cap.is_some())
                || parts.pools.values().any(|p| {
                    p.defaults.daily_cap.is_some() && p.members.iter().any(|m| m.agent == agent)
                });
            let other = pools.iter().find(|p| zone_of(p) != zone_of(first));
            if let (Some(other), true) = (other, capped) {
                let describe = |p: &Pool| {
                    let s = p.defaults.schedule.as_deref().unwrap_or_default();
                    let z = zone_of(p).map_or("?", |z| z.name());
                    format!("`{}` (schedule `{s}`, {z})", p.name)
                };
                self.err(
                    &format!("pools.{}.schedule", other.name),
                    format!(
                        "agent `{agent}` has a daily cap and is a member of pools {} and {}, whose schedules are in different time zones: give it a schedule of its own under `agents:`, so its day ends at one midnight",
                        describe(first),
                        describe(other)
                    ),
                );
            }
            if let Some(s) = &first.defaults.schedule {
                out.insert(agent.to_owned(), s.clone());
            }
        }
        out
    }
}
