//! Deciding: `decide(ruleset, lead, state) -> RoutingDecision` (with its trace).
//! Pure: no I/O, no tokio; shared by `run`, `simulate`, `replay` and the benches.
mod assignees;
pub mod availability;
pub mod contact;
pub mod decision;
mod pool;
pub mod state;

pub use decision::{
    AssigneeSkip, Availability, LeadStatus, Pick, RoutingDecision, RuleOutcome, RuleTrace,
    SkippedAgent, SkippedAssignee, Trace,
};
pub use pool::PoolOutcome;
pub use state::{MemoryState, PoolRotation, RoutingState};

use crate::lead::Lead;
use crate::rules::condition::{Facts, FieldPath};
use crate::rules::script::lead_scope;
use crate::rules::{Action, IfHalted, Pool, Rule, Ruleset};
use rhai::{Dynamic, Scope};
use serde_json::Value;
use std::sync::Arc;

/// Routes one lead: rules top to bottom, the first that decides wins.
pub fn decide(rs: &Ruleset, lead: &Lead, state: &mut impl RoutingState) -> RoutingDecision {
    let region = resolve_region(rs, lead);
    let facts = LeadFacts { lead, region };
    let mut ctx = Ctx {
        rs,
        lead,
        region,
        scope: None,
    };
    let mut trace = Trace {
        region: region.map(str::to_owned),
        rules: Vec::with_capacity(rs.rules().len().min(16)),
    };
    for rule in rs.rules() {
        let step = evaluate(rule, &facts, &mut ctx, state);
        let (outcome, reason, target, pick) = match step {
            Step::Decided {
                target,
                reason,
                pick,
            } => (RuleOutcome::Decided, reason, Some(target), pick),
            Step::NoMatch(reason) => (RuleOutcome::NoMatch, reason, None, PoolStep::default()),
            Step::Passed(reason, pick) => (RuleOutcome::Passed, reason, None, pick),
            Step::Error(reason) => (RuleOutcome::Error, reason, None, PoolStep::default()),
        };
        // Assignees only when the rule decides (and never a rotation step).
        let extra = match &target {
            Some(t) => assignees::assignees(&rule.also_assign, lead, t.owner(), state),
            None => assignees::Assignees::default(),
        };
        trace.rules.push(RuleTrace {
            rule: rule.name.clone(),
            outcome,
            reason,
            skipped: pick.skipped,
            picked: pick.picked,
            assignees: extra.added.clone(),
            assignees_skipped: extra.skipped,
        });
        if let Some(target) = target {
            let rule = Some(rule.name.to_string());
            return target.into_decision(rule, trace, extra.added, state);
        }
    }
    Target::Unassigned.into_decision(None, trace, Vec::new(), state)
}

/// Deals one lead from `pool` outside any rule (`agents offboard --pool`): the same
/// strategies, skips and rotation step as a rule's `assign: {pool: ..}`, and the pick
/// counted as an open lead of the agent (so `least_loaded` spreads a bulk deal).
/// `picked` is `None` when no member is available; nothing is stepped then.
pub fn deal_from_pool(pool: &Pool, state: &mut impl RoutingState) -> PoolOutcome {
    let out = pool::pick(pool, state);
    if let Some(p) = &out.pick {
        state.record_assignment(&p.agent);
    }
    out
}

/// The lead's region: its own `region` field, else the first region (file order) whose
/// states contain `address.state` or whose postal prefixes start `address.postal_code`.
pub fn resolve_region<'a>(rs: &'a Ruleset, lead: &'a Lead) -> Option<&'a str> {
    if let Some(r) = lead.str_field("region").filter(|r| !r.is_empty()) {
        return Some(r);
    }
    let address = lead.payload.get("address").and_then(Value::as_object)?;
    let state = address.get("state").and_then(Value::as_str);
    let postal = address.get("postal_code").and_then(Value::as_str);
    rs.regions()
        .iter()
        .find(|r| r.contains(state, postal))
        .map(|r| r.name.as_str())
}

struct LeadFacts<'a> {
    lead: &'a Lead,
    region: Option<&'a str>,
}

impl Facts for LeadFacts<'_> {
    fn field(&self, path: &FieldPath) -> Option<&Value> {
        self.lead.get_path(&path.segments)
    }
    fn region(&self) -> Option<&str> {
        self.region
    }
}

struct Ctx<'a> {
    rs: &'a Ruleset,
    lead: &'a Lead,
    region: Option<&'a str>,
    /// Built on the first script that runs for this lead, then reused.
    scope: Option<Scope<'static>>,
}

impl Ctx<'_> {
    fn run_script(&mut self, script: &crate::rules::script::Script) -> Result<Dynamic, String> {
        let (lead, region) = (self.lead, self.region);
        let scope = self
            .scope
            .get_or_insert_with(|| lead_scope(&lead.payload, region));
        self.rs.sandbox.run(script, scope)
    }
}

#[derive(Default)]
struct PoolStep {
    skipped: Vec<SkippedAgent>,
    picked: Option<Pick>,
}

enum Target {
    Agent(String),
    Pool { pool: String, agent: String },
    Queue(String),
    Unassigned,
}

impl Target {
    /// The owner this target gives the lead, if any.
    fn owner(&self) -> Option<&str> {
        match self {
            Target::Agent(a) | Target::Pool { agent: a, .. } => Some(a),
            Target::Queue(_) | Target::Unassigned => None,
        }
    }

    fn into_decision(
        self,
        rule: Option<String>,
        trace: Trace,
        assignees: Vec<String>,
        state: &mut impl RoutingState,
    ) -> RoutingDecision {
        let (status, owner_id, queue, pool) = match self {
            Target::Agent(a) => (LeadStatus::Assigned, Some(a), None, None),
            Target::Pool { pool, agent } => (LeadStatus::Assigned, Some(agent), None, Some(pool)),
            Target::Queue(q) => (LeadStatus::Queued, None, Some(q), None),
            Target::Unassigned => (LeadStatus::Unassigned, None, None, None),
        };
        if let Some(owner) = &owner_id {
            state.record_assignment(owner);
        }
        RoutingDecision {
            status,
            owner_id,
            queue,
            pool,
            rule,
            trace,
            assignees,
        }
    }
}

enum Step {
    Decided {
        target: Target,
        reason: Arc<str>,
        pick: PoolStep,
    },
    NoMatch(Arc<str>),
    Passed(Arc<str>, PoolStep),
    Error(Arc<str>),
}

fn evaluate(
    rule: &Rule,
    facts: &LeadFacts<'_>,
    ctx: &mut Ctx<'_>,
    state: &mut impl RoutingState,
) -> Step {
    if let Some(cond) = &rule.when
        && let Err(why) = cond.eval(facts)
    {
        return Step::NoMatch(why.clone());
    }
    if let Some(script) = &rule.when_script {
        match ctx.run_script(script) {
            Ok(v) => match v.as_bool() {
                Ok(true) => {}
                Ok(false) => return Step::NoMatch(Arc::from("no match: when_script is false")),
                Err(t) => {
                    return Step::Error(format!("when_script returned {t}, not true/false").into());
                }
            },
            Err(e) => return Step::Error(format!("when_script: {e}").into()),
        }
    }
    match &rule.action {
        Action::AgentFrom(path) => {
            match facts.lead.get_path(&path.segments).and_then(Value::as_str) {
                Some(agent) if !agent.is_empty() => direct(agent, rule.if_halted, state),
                _ => Step::Passed(
                    format!("agent_from: `{}` is missing or not a string", path.text).into(),
                    PoolStep::default(),
                ),
            }
        }
        Action::Agent(agent) => direct(agent, rule.if_halted, state),
        Action::Pool(name) => pool_step(ctx.rs, name, state),
        Action::Queue(q) => Step::Decided {
            target: Target::Queue(q.clone()),
            reason: Arc::from("matched: queued"),
            pick: PoolStep::default(),
        },
        Action::Unassigned => Step::Decided {
            target: Target::Unassigned,
            reason: Arc::from("matched: unassigned"),
            pick: PoolStep::default(),
        },
        Action::Script(script) => match ctx.run_script(script) {
            Ok(v) => script_result(ctx.rs, v, rule.if_halted, state),
            Err(e) => Step::Error(e.into()),
        },
        // The lookup of earlier owners by contact key is not wired into the router yet.
        Action::OwnerOfContact(_) => Step::Passed(
            Arc::from(
                "owner_of_contact: known-contact routing is not in this build yet; the rule does not decide",
            ),
            PoolStep::default(),
        ),
    }
}

/// An agent named directly (agent_from, agent, a script's `#{agent: ..}`).
fn direct(agent: &str, if_halted: IfHalted, state: &mut impl RoutingState) -> Step {
    let decided = |reason: &str| Step::Decided {
        target: Target::Agent(agent.to_owned()),
        reason: Arc::from(reason),
        pick: PoolStep::default(),
    };
    match state.availability(agent) {
        // Schedules and caps never block a lead addressed to one agent (SPEC 3.4).
        Availability::Available
        | Availability::OffHours
        | Availability::DailyCap
        | Availability::OpenCap => decided("matched: assigned to the named agent"),
        Availability::Halted => match if_halted {
            IfHalted::Assign => {
                decided("matched: agent is halted, assigned anyway (if_halted: assign)")
            }
            IfHalted::Continue => Step::Passed(
                format!("agent {agent} is halted (if_halted: continue)").into(),
                PoolStep::default(),
            ),
        },
        Availability::Inactive => Step::Passed(
            format!("agent {agent} is inactive (offboarded)").into(),
            PoolStep::default(),
        ),
    }
}

fn pool_step(rs: &Ruleset, name: &str, state: &mut impl RoutingState) -> Step {
    let Some(pool) = rs.pool(name) else {
        return Step::Error(format!("unknown pool {name}").into());
    };
    let out = pool::pick(pool, state);
    match out.pick {
        Some(p) => Step::Decided {
            target: Target::Pool {
                pool: name.to_owned(),
                agent: p.agent.clone(),
            },
            reason: Arc::from("matched: dealt by pool"),
            pick: PoolStep {
                skipped: out.skipped,
                picked: Some(p),
            },
        },
        None => Step::Passed(
            format!("pool {name}: no available member").into(),
            PoolStep {
                skipped: out.skipped,
                picked: None,
            },
        ),
    }
}

/// A `script` action's result: `#{agent|pool|queue: NAME}`, `"unassigned"`, or `()`.
fn script_result(
    rs: &Ruleset,
    v: Dynamic,
    if_halted: IfHalted,
    state: &mut impl RoutingState,
) -> Step {
    if v.is_unit() {
        return Step::Passed(
            Arc::from("script returned () (continue)"),
            PoolStep::default(),
        );
    }
    if let Some(s) = v.clone().try_cast::<rhai::ImmutableString>() {
        if s == "unassigned" {
            return Step::Decided {
                target: Target::Unassigned,
                reason: Arc::from("script: unassigned"),
                pick: PoolStep::default(),
            };
        }
        return Step::Error(
            format!(
                "script returned {s:?}; expected #{{agent|pool|queue: ..}}, \"unassigned\" or ()"
            )
            .into(),
        );
    }
    let bad = || {
        Step::Error(
            format!("script returned {v}; expected #{{agent: ..}}, #{{pool: ..}}, #{{queue: ..}}, \"unassigned\" or ()")
                .into(),
        )
    };
    let Some(map) = v.clone().try_cast::<rhai::Map>() else {
        return bad();
    };
    if map.len() != 1 {
        return bad();
    }
    let Some((key, val)) = map.iter().next() else {
        return bad();
    };
    let Some(name) = val
        .clone()
        .try_cast::<rhai::ImmutableString>()
        .filter(|s| !s.is_empty())
    else {
        return bad();
    };
    match key.as_str() {
        "agent" => direct(&name, if_halted, state),
        "pool" if rs.pool(&name).is_some() => pool_step(rs, &name, state),
        "pool" => Step::Error(format!("script returned unknown pool {name:?}").into()),
        "queue" => Step::Decided {
            target: Target::Queue(name.to_string()),
            reason: Arc::from("script: queued"),
            pick: PoolStep::default(),
        },
        _ => bad(),
    }
}
