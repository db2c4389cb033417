//! What `replay` found: routes compared lead by lead, summed into transitions and
//! breakdowns. Serialized as is for `--json`; `text.rs` renders it for people.
use crate::routing::{LeadStatus, RoutingDecision};
use crate::rules::Ruleset;
use crate::store::{CurrentState, RecordedDecision};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Lead ids kept per transition (and per other example list).
pub const EXAMPLES: usize = 5;

/// A lead's *route* (SPEC 4): what a rules change can change. The owner counts only
/// when no pool dealt the lead: a pool's pick depends on its rotation, which a replay
/// cannot reproduce, so comparing picks would report noise as changes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Route {
    pub status: LeadStatus,
    pub rule: Option<String>,
    pub pool: Option<String>,
    pub queue: Option<String>,
    pub owner_id: Option<String>,
    /// The assignees the deciding rule adds (SPEC 3.1); left out of the JSON when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignees: Vec<String>,
}

impl Route {
    fn new(
        status: LeadStatus,
        owner_id: &Option<String>,
        queue: &Option<String>,
        pool: &Option<String>,
        rule: &Option<String>,
        assignees: &[String],
    ) -> Self {
        Self {
            assignees: assignees.to_vec(),
            status,
            rule: rule.clone(),
            pool: pool.clone(),
            queue: queue.clone(),
            owner_id: if pool.is_some() {
                None
            } else {
                owner_id.clone()
            },
        }
    }

    /// A recorded router decision and the assignees it added.
    pub fn of_recorded(d: &RecordedDecision, assignees: &[String]) -> Self {
        Self::new(d.status, &d.owner_id, &d.queue, &d.pool, &d.rule, assignees)
    }

    pub fn of_decision(d: &RoutingDecision) -> Self {
        Self::new(
            d.status,
            &d.owner_id,
            &d.queue,
            &d.pool,
            &d.rule,
            &d.assignees,
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Transition {
    pub from: Route,
    pub to: Route,
    pub count: u64,
    /// The first leads (in received order) that made it, at most [`EXAMPLES`].
    pub examples: Vec<String>,
    /// Of `count`, the leads the rules in force would also route this way today: the
    /// change comes from today's agents (or rules changed since the lead was
    /// decided), not from the rules replayed. 0 when there is nothing to compare with.
    pub also_with_rules_in_force: u64,
}

/// Leads a rule decides before (as recorded) and after (replayed); `left` and
/// `entered` count the leads that change rule.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RuleCount {
    /// `null`: no rule decided (unassigned, counted apart from an explicit rule).
    pub rule: Option<String>,
    pub before: u64,
    pub after: u64,
    pub left: u64,
    pub entered: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusCount {
    pub status: LeadStatus,
    pub before: u64,
    pub after: u64,
}

/// Leads an agent, pool or queue would gain or lose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Moves {
    pub gained: u64,
    pub lost: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleErrors {
    pub rule: String,
    /// Leads for which the rule's script failed or hit a sandbox bound (the next rule
    /// was tried).
    pub leads: u64,
    pub examples: Vec<String>,
}

/// Changed leads that an admin had moved by hand after the router decided them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ManualCorrections {
    pub changed_by_hand: u64,
    /// Of those, the leads the new rules would send where the admin put them (the same
    /// agent or queue, or a pool the admin's choice is a member of).
    pub agreeing: u64,
    pub examples: Vec<String>,
}

/// The sums, as `--json` prints them (with the window and rules around them).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Findings {
    pub replayed: u64,
    pub changed: u64,
    pub unchanged: u64,
    /// Changed leads the rules in force would route the same way today (see
    /// [`Transition::also_with_rules_in_force`]).
    pub also_with_rules_in_force: u64,
    /// Most common first; ties in the order first met.
    pub transitions: Vec<Transition>,
    pub by_rule: Vec<RuleCount>,
    pub by_status: Vec<StatusCount>,
    /// By name: `{"luxury": {"gained": 60, "lost": 0}}`; only those that change.
    pub by_pool: BTreeMap<String, Moves>,
    pub by_queue: BTreeMap<String, Moves>,
    /// Owners named directly (not dealt by a pool): pool picks are not compared.
    pub by_agent: BTreeMap<String, Moves>,
    pub rule_errors: Vec<RuleErrors>,
    pub manual_corrections: ManualCorrections,
}

/// Accumulates leads as they are replayed.
#[derive(Debug, Default)]
pub struct Tally {
    replayed: u64,
    changed: u64,
    anyway: u64,
    transitions: Vec<Transition>,
    index: HashMap<(Route, Route), usize>,
    rules: HashMap<Option<String>, RuleCount>,
    statuses: HashMap<LeadStatus, (u64, u64)>,
    pools: BTreeMap<String, Moves>,
    queues: BTreeMap<String, Moves>,
    agents: BTreeMap<String, Moves>,
    errors: BTreeMap<String, (u64, Vec<String>)>,
    manual: ManualCorrections,
}

impl Tally {
    /// Adds one lead: its recorded router decision (and the assignees it added), the
    /// replayed one, what the rules in force decide today (when replaying other rules),
    /// and its state now if an admin changed it by hand.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        rs: &Ruleset,
        lead_id: &str,
        recorded: &RecordedDecision,
        recorded_assignees: &[String],
        replayed: &RoutingDecision,
        in_force: Option<&RoutingDecision>,
        by_hand: Option<&CurrentState>,
    ) {
        let from = Route::of_recorded(recorded, recorded_assignees);
        let to = Route::of_decision(replayed);
        self.replayed += 1;
        self.rules.entry(from.rule.clone()).or_default().before += 1;
        self.rules.entry(to.rule.clone()).or_default().after += 1;
        self.statuses.entry(from.status).or_default().0 += 1;
        self.statuses.entry(to.status).or_default().1 += 1;
        for e in replayed.rule_errors() {
            let (n, examples) = self.errors.entry(e.rule.to_string()).or_default();
            *n += 1;
            push_example(examples, lead_id);
        }
        if from == to {
            return;
        }
        self.changed += 1;
        let anyway = in_force.is_some_and(|d| Route::of_decision(d) == to);
        if anyway {
            self.anyway += 1;
        }
        if from.rule != to.rule {
            self.rules.entry(from.rule.clone()).or_default().left += 1;
            self.rules.entry(to.rule.clone()).or_default().entered += 1;
        }
        moved(&mut self.pools, &from.pool, &to.pool);
        moved(&mut self.queues, &from.queue, &to.queue);
        moved(&mut self.agents, &from.owner_id, &to.owner_id);
        if let Some(now) = by_hand {
            self.manual.changed_by_hand += 1;
            if agrees(rs, &to, now) {
                self.manual.agreeing += 1;
                push_example(&mut self.manual.examples, lead_id);
            }
        }
        let i = *self
            .index
            .entry((from.clone(), to.clone()))
            .or_insert_with(|| {
                self.transitions.push(Transition {
                    from,
                    to,
                    count: 0,
                    examples: Vec::new(),
                    also_with_rules_in_force: 0,
                });
                self.transitions.len() - 1
            });
        let t = &mut self.transitions[i];
        t.count += 1;
        t.also_with_rules_in_force += u64::from(anyway);
        push_example(&mut t.examples, lead_id);
    }

    /// The sums, sorted for reading. Rules come in `rs`'s file order, then rules only
    /// the recorded decisions name (since removed or renamed), then "no rule".
    pub fn finish(self, rs: &Ruleset) -> Findings {
        let mut transitions = self.transitions;
        // Stable: equal counts keep the order first met.
        transitions.sort_by_key(|t| std::cmp::Reverse(t.count));

        let mut rules: Vec<RuleCount> = self
            .rules
            .into_iter()
            .map(|(rule, mut c)| {
                c.rule = rule;
                c
            })
            .collect();
        let position = |r: &Option<String>| match r {
            Some(name) => rs
                .rules()
                .iter()
                .position(|x| &*x.name == name.as_str())
                .map_or((1, 0), |i| (0, i)),
            None => (2, 0),
        };
        rules.sort_by(|a, b| {
            position(&a.rule)
                .cmp(&position(&b.rule))
                .then_with(|| a.rule.cmp(&b.rule))
        });

        let by_status = [
            LeadStatus::Assigned,
            LeadStatus::Queued,
            LeadStatus::Unassigned,
        ]
        .into_iter()
        .map(|status| {
            let (before, after) = self.statuses.get(&status).copied().unwrap_or_default();
            StatusCount {
                status,
                before,
                after,
            }
        })
        .collect();

        Findings {
            replayed: self.replayed,
            changed: self.changed,
            unchanged: self.replayed - self.changed,
            also_with_rules_in_force: self.anyway,
            transitions,
            by_rule: rules,
            by_status,
            by_pool: self.pools,
            by_queue: self.queues,
            by_agent: self.agents,
            rule_errors: self
                .errors
                .into_iter()
                .map(|(rule, (leads, examples))| RuleErrors {
                    rule,
                    leads,
                    examples,
                })
                .collect(),
            manual_corrections: self.manual,
        }
    }
}

fn push_example(examples: &mut Vec<String>, lead_id: &str) {
    if examples.len() < EXAMPLES {
        examples.push(lead_id.to_owned());
    }
}

/// Counts a lead leaving `from` and reaching `to` (when they differ).
fn moved(map: &mut BTreeMap<String, Moves>, from: &Option<String>, to: &Option<String>) {
    if from == to {
        return;
    }
    if let Some(f) = from {
        map.entry(f.clone()).or_default().lost += 1;
    }
    if let Some(t) = to {
        map.entry(t.clone()).or_default().gained += 1;
    }
}

/// Whether the replayed route sends the lead where an admin has put it by hand.
fn agrees(rs: &Ruleset, to: &Route, now: &CurrentState) -> bool {
    if to.status != now.status {
        return false;
    }
    match to.status {
        LeadStatus::Assigned => match (&to.pool, &now.owner_id) {
            (Some(pool), Some(owner)) => rs
                .pool(pool)
                .is_some_and(|p| p.members.iter().any(|m| &m.agent == owner)),
            _ => to.owner_id == now.owner_id,
        },
        LeadStatus::Queued => to.queue == now.queue,
        LeadStatus::Unassigned => true,
    }
}
