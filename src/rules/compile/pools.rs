//! `pools:` name → {strategy, members}, and the schedule and caps for members without
//! their own (`agents.rs` reads those three keys).
use super::agents::SETTING_KEYS;
use super::{Compiler, Parts, show};
use crate::rules::model::{Member, Pool, Settings, Strategy};
use serde_yaml::{Mapping, Value as Yaml};
use std::collections::BTreeSet;

/// The keys a pool accepts besides [`SETTING_KEYS`].
const POOL_KEYS: &[&str] = &["strategy", "members"];
/// The keys of a `{agent: ID, weight: N}` member.
const MEMBER_KEYS: &[&str] = &["agent", "weight"];

pub(super) fn section(c: &mut Compiler<'_>, v: Option<&Yaml>, parts: &mut Parts) {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return;
    };
    let Some(m) = v.as_mapping() else {
        c.err(
            "pools",
            "`pools` must be a mapping of pool name to {strategy, members}",
        );
        return;
    };
    for (k, body) in m {
        let Some(name) = c.key_str(k, "pools") else {
            continue;
        };
        if let Some(pool) = c.pool(&name, body, &parts.schedule_names) {
            parts.pools.insert(name, pool);
        }
    }
    parts.day_schedules = c.day_schedules(parts);
}

impl Compiler<'_> {
    fn pool(&mut self, name: &str, body: &Yaml, schedules: &BTreeSet<String>) -> Option<Pool> {
        let at = format!("pools.{name}");
        let Some(body) = body.as_mapping() else {
            self.err(
                &at,
                format!("pool `{name}` must be a mapping with `strategy` and `members`"),
            );
            return None;
        };
        let mut strategy = Strategy::RoundRobin;
        let mut defaults = Settings::default();
        let owner = format!("pool `{name}`");
        for (bk, bv) in body {
            match bk.as_str() {
                Some("strategy") => match bv.as_str().and_then(Strategy::parse) {
                    Some(s) => strategy = s,
                    None => self.err(
                        &format!("{at}.strategy"),
                        format!(
                            "pool `{name}`: unknown strategy {} (expected {})",
                            show(bv),
                            Strategy::ALL.map(Strategy::as_str).join(", ")
                        ),
                    ),
                },
                Some(k) if POOL_KEYS.contains(&k) => {}
                Some(k) if self.setting(&owner, &at, k, bv, &mut defaults, schedules) => {}
                _ => self.err(
                    &at,
                    format!(
                        "pool `{name}`: unknown key {} (expected {}, {})",
                        show(bk),
                        POOL_KEYS.join(", "),
                        SETTING_KEYS.join(", ")
                    ),
                ),
            }
        }
        let members = self.members(name, &at, strategy, body.get("members"));
        Some(Pool {
            name: name.to_owned(),
            strategy,
            members,
            defaults,
        })
    }

    fn members(
        &mut self,
        pool: &str,
        at: &str,
        strategy: Strategy,
        v: Option<&Yaml>,
    ) -> Vec<Member> {
        let at_m = format!("{at}.members");
        let items = match v {
            Some(Yaml::Sequence(s)) if !s.is_empty() => s,
            None | Some(Yaml::Null) | Some(Yaml::Sequence(_)) => {
                self.err(&at_m, format!("pool `{pool}` has no members"));
                return vec![];
            }
            Some(_) => {
                self.err(&at_m, format!("pool `{pool}`: `members` must be a list"));
                return vec![];
            }
        };
        let mut out: Vec<Member> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at_i = format!("{at_m}.{i}");
            let member = match item {
                Yaml::String(s) if !s.trim().is_empty() => Some(Member {
                    agent: s.clone(),
                    weight: 1,
                }),
                Yaml::Mapping(m) => self.weighted_member(pool, &at_i, strategy, m),
                _ => {
                    self.err(
                        &at_i,
                        format!(
                            "pool `{pool}`: a member is an agent id or {{agent: ID, weight: N}}, not {}",
                            show(item)
                        ),
                    );
                    None
                }
            };
            if let Some(m) = member {
                if out.iter().any(|o| o.agent == m.agent) {
                    self.err(
                        &at_i,
                        format!("pool `{pool}`: agent `{}` is listed twice", m.agent),
                    );
                } else {
                    out.push(m);
                }
            }
        }
        out
    }

    fn weighted_member(
        &mut self,
        pool: &str,
        at: &str,
        strategy: Strategy,
        m: &Mapping,
    ) -> Option<Member> {
        let mut agent = None;
        let mut weight = 1u32;
        for (k, v) in m {
            match k.as_str() {
                Some("agent") => match v.as_str().filter(|s| !s.trim().is_empty()) {
                    Some(s) => agent = Some(s.to_owned()),
                    None => self.err(
                        at,
                        format!("pool `{pool}`: `agent` must be a non-empty string"),
                    ),
                },
                Some("weight") => {
                    if strategy != Strategy::Weighted {
                        self.err(
                            at,
                            format!(
                                "pool `{pool}`: `weight` applies only to weighted pools (this one is {})",
                                strategy.as_str()
                            ),
                        );
                    }
                    if let Some(w) = self.weight(pool, at, v) {
                        weight = w;
                    }
                }
                _ => self.err(
                    at,
                    format!(
                        "pool `{pool}`: unknown member key {} (expected {})",
                        show(k),
                        MEMBER_KEYS.join(", ")
                    ),
                ),
            }
        }
        if agent.is_none() {
            self.err(at, format!("pool `{pool}`: member has no `agent`"));
        }
        agent.map(|agent| Member { agent, weight })
    }

    fn weight(&mut self, pool: &str, at: &str, v: &Yaml) -> Option<u32> {
        let got = match v.as_i64() {
            Some(w) if w > 0 && w <= i64::from(u32::MAX) => return Some(w as u32),
            Some(w) => w.to_string(),
            None => show(v),
        };
        self.err(
            at,
            format!("pool `{pool}`: weight must be a whole number > 0, got {got}"),
        );
        None
    }
}
