//! Building rulesets and leads in tests without any server.
use leadrouter::lead::{Lead, LeadId};
use leadrouter::routing::{MemoryState, RoutingDecision, decide};
use leadrouter::rules::{Loaded, RulesError, Ruleset};
use serde_json::Value;
use std::path::Path;

pub fn rules(yaml: &str) -> Ruleset {
    match Ruleset::from_source(yaml, Path::new("test.yaml")) {
        Ok(l) => l.ruleset,
        Err(e) => panic!("rules should load:\n{e}"),
    }
}

pub fn try_rules(yaml: &str) -> Result<Loaded, RulesError> {
    Ruleset::from_source(yaml, Path::new("test.yaml"))
}

/// A lead from a JSON object; `id` defaults to "t".
pub fn lead(v: Value) -> Lead {
    let Value::Object(payload) = v else {
        panic!("a lead is an object")
    };
    let id = payload
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("t")
        .to_owned();
    Lead {
        id: LeadId::parse(&id).expect("valid id"),
        received_at: None,
        payload,
    }
}

pub fn route(rs: &Ruleset, v: Value) -> RoutingDecision {
    decide(rs, &lead(v), &mut MemoryState::new())
}

/// Deals `n` identical leads and returns the owners in order.
pub fn deal(rs: &Ruleset, state: &mut MemoryState, v: &Value, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            decide(rs, &lead(v.clone()), state)
                .owner_id
                .unwrap_or_default()
        })
        .collect()
}
