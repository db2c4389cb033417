//! Picking a member of a pool: round_robin, weighted (smooth), least_loaded.
//! Halted and inactive members are skipped and named in the trace.
use super::decision::{Availability, Pick, SkippedAgent};
use super::state::RoutingState;
use crate::rules::{Member, Pool, Strategy};

/// The pick, and the members passed over on the way to it.
pub struct PoolOutcome {
    pub pick: Option<Pick>,
    pub skipped: Vec<SkippedAgent>,
}

pub fn pick(pool: &Pool, state: &mut impl RoutingState) -> PoolOutcome {
    match pool.strategy {
        Strategy::RoundRobin => round_robin(pool, state),
        Strategy::Weighted => weighted(pool, state),
        Strategy::LeastLoaded => least_loaded(pool, state),
    }
}

fn skip(skipped: &mut Vec<SkippedAgent>, m: &Member, why: Availability) {
    skipped.push(SkippedAgent {
        agent: m.agent.clone(),
        why,
    });
}

/// Strict rotation: the next available member after the one picked last. Any two members
/// available throughout stay within one lead of each other, since between two picks of
/// one the pointer passes every other member once.
fn round_robin(pool: &Pool, state: &mut impl RoutingState) -> PoolOutcome {
    let n = pool.members.len();
    let last = state.rotation(&pool.name).and_then(|r| r.last.as_deref());
    let start = last
        .and_then(|l| pool.members.iter().position(|m| m.agent == l))
        .map_or(0, |i| i + 1);
    let why = match last {
        Some(l) => format!("round_robin: next after {l}"),
        None => "round_robin: first in rotation".to_owned(),
    };
    let mut skipped = Vec::new();
    for k in 0..n {
        let m = &pool.members[(start + k) % n];
        match state.availability(&m.agent) {
            Availability::Available => {
                state.rotation_mut(&pool.name).last = Some(m.agent.clone());
                return PoolOutcome {
                    pick: Some(Pick {
                        agent: m.agent.clone(),
                        why,
                    }),
                    skipped,
                };
            }
            other => skip(&mut skipped, m, other),
        }
    }
    PoolOutcome {
        pick: None,
        skipped,
    }
}

/// Smooth weighted round robin (as in nginx): every available member's current weight
/// grows by its weight, the highest is picked and pays back the total. Picks interleave
/// (3:1 deals a a b a, not a a a b) and each member stays within one lead of its share.
fn weighted(pool: &Pool, state: &mut impl RoutingState) -> PoolOutcome {
    let mut skipped = Vec::new();
    let available: Vec<&Member> = pool
        .members
        .iter()
        .filter(|m| match state.availability(&m.agent) {
            Availability::Available => true,
            other => {
                skip(&mut skipped, m, other);
                false
            }
        })
        .collect();
    if available.is_empty() {
        return PoolOutcome {
            pick: None,
            skipped,
        };
    }
    let total: i64 = available.iter().map(|m| i64::from(m.weight)).sum();
    let rot = state.rotation_mut(&pool.name);
    rot.current
        .retain(|agent, _| pool.members.iter().any(|m| &m.agent == agent));
    let mut best: Option<(&Member, i64)> = None;
    for m in &available {
        let cur = rot.current.entry(m.agent.clone()).or_insert(0);
        *cur += i64::from(m.weight);
        if best.is_none_or(|(_, b)| *cur > b) {
            best = Some((m, *cur));
        }
    }
    let (m, cur) = best.expect("available is not empty");
    rot.current.insert(m.agent.clone(), cur - total);
    let why = format!(
        "weighted: highest current weight ({cur}) of {total}, weight {}",
        m.weight
    );
    PoolOutcome {
        pick: Some(Pick {
            agent: m.agent.clone(),
            why,
        }),
        skipped,
    }
}

/// The available member with the fewest open leads; ties go to the first listed.
fn least_loaded(pool: &Pool, state: &mut impl RoutingState) -> PoolOutcome {
    let mut skipped = Vec::new();
    let mut best: Option<(&Member, u64)> = None;
    for m in &pool.members {
        match state.availability(&m.agent) {
            Availability::Available => {
                let load = state.open_leads(&m.agent);
                if best.is_none_or(|(_, b)| load < b) {
                    best = Some((m, load));
                }
            }
            other => skip(&mut skipped, m, other),
        }
    }
    let pick = best.map(|(m, load)| Pick {
        agent: m.agent.clone(),
        why: format!("least_loaded: fewest open leads ({load})"),
    });
    PoolOutcome { pick, skipped }
}
