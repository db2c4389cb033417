//! `POST /api/v1/simulate` and `POST /api/v1/replay`: trying rules (a draft, or those in
//! force) on leads, in memory, writing nothing; the same library functions as the
//! `simulate` and `replay` commands.
use super::ApiState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::input::Body;
use super::policy::Endpoint;
use super::rules::compile_draft;
use crate::commands::replay::{Since, replay};
use crate::commands::rules::Draft;
use crate::commands::simulate::{Agents, Simulation};
use crate::in_force::rules_in_force;
use crate::lead::{DEFAULT_MAX_MESSAGE_BYTES, parse_lead};
use crate::routing::{LeadStatus, RoutingDecision};
use crate::rules::Ruleset;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// `POST /simulate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateRequest {
    /// A draft to try; without it, the rules in force.
    pub yaml: Option<String>,
    /// The draft's scripts (path as named → source).
    pub scripts: Option<BTreeMap<String, String>>,
    /// Lead messages (as published to the inbound queue), routed in order.
    #[schema(value_type = Vec<Object>)]
    pub leads: Vec<Value>,
    /// Agents to treat as halted.
    #[serde(default)]
    pub halted: Vec<String>,
    /// Agents to treat as inactive (offboarded).
    #[serde(default)]
    pub inactive: Vec<String>,
    /// The decision time for every lead (today's rules do not depend on it; schedules
    /// will).
    pub at: Option<DateTime<Utc>>,
}

/// One lead's decision, as `simulate` prints it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SimulatedDecision {
    pub lead_id: String,
    #[schema(value_type = String)]
    pub status: LeadStatus,
    pub owner_id: Option<String>,
    pub queue: Option<String>,
    pub pool: Option<String>,
    pub rule: Option<String>,
    #[schema(value_type = super::rules::Trace)]
    pub trace: crate::routing::Trace,
}

impl SimulatedDecision {
    fn new(lead_id: &str, d: RoutingDecision) -> Self {
        SimulatedDecision {
            lead_id: lead_id.to_owned(),
            status: d.status,
            owner_id: d.owner_id,
            queue: d.queue,
            pool: d.pool,
            rule: d.rule,
            trace: d.trace,
        }
    }
}

/// One input lead: its decision, or why it was not routed.
#[derive(Debug, Serialize, ToSchema)]
pub struct SimulatedLead {
    /// Its position in `leads` (from 0).
    pub index: usize,
    pub decision: Option<SimulatedDecision>,
    /// Why it was not routed: rejected as the daemon would, or a repeated id.
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SimulateView {
    /// The ruleset routed with.
    pub ruleset: String,
    pub results: Vec<SimulatedLead>,
}

/// The draft in the request, or the rules in force.
async fn rules_for(
    s: &ApiState,
    yaml: Option<String>,
    scripts: Option<BTreeMap<String, String>>,
) -> Result<Ruleset, ApiError> {
    match (yaml, scripts) {
        (Some(yaml), scripts) => {
            let draft = Draft {
                yaml,
                scripts: scripts.unwrap_or_default(),
            };
            Ok(tokio::task::spawn_blocking(move || compile_draft(&draft))
                .await
                .map_err(|e| ApiError::internal(&e))??
                .ruleset)
        }
        (None, Some(_)) => Err(ApiError::bad_field(
            "scripts",
            "scripts: given without yaml",
        )),
        (None, None) => Ok(rules_in_force(&s.config.rules, &s.store)
            .await?
            .loaded
            .ruleset),
    }
}

#[utoipa::path(post, path = "/api/v1/simulate", tag = "try", request_body = SimulateRequest,
    responses(
        (status = 200, description = "One result per lead, in order", body = SimulateView),
        (status = 400, description = "Bad input: the field is named", body = ErrorBody),
        (status = 401, description = "No, an unknown or a revoked token", body = ErrorBody),
        (status = 403, description = "Agents do not simulate", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 422, description = "The draft does not load: every error, located", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn simulate(
    caller: Caller,
    State(s): State<ApiState>,
    Body(req): Body<SimulateRequest>,
) -> Result<Json<SimulateView>, ApiError> {
    caller.may(Endpoint::Simulate)?;
    let rules = rules_for(&s, req.yaml, req.scripts).await?;
    let agents = Agents {
        halted: req.halted,
        inactive: req.inactive,
    };
    let leads = req.leads;
    let view = tokio::task::spawn_blocking(move || {
        let mut sim = Simulation::new(&rules, agents);
        let results = leads
            .iter()
            .enumerate()
            .map(|(index, value)| {
                let bytes = serde_json::to_vec(value).unwrap_or_default();
                let (decision, error) = match parse_lead(&bytes, DEFAULT_MAX_MESSAGE_BYTES) {
                    Err(rejection) => (None, Some(format!("rejected: {rejection}"))),
                    Ok(lead) => match sim.route(&lead, index) {
                        Ok(d) => (Some(SimulatedDecision::new(lead.id.as_str(), d)), None),
                        Err(first) => (
                            None,
                            Some(format!(
                                "lead {:?} already routed at index {first}; not routed again",
                                lead.id.as_str()
                            )),
                        ),
                    },
                };
                SimulatedLead {
                    index,
                    decision,
                    error,
                }
            })
            .collect();
        SimulateView {
            ruleset: rules.hash().to_owned(),
            results,
        }
    })
    .await
    .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(view))
}

/// `POST /replay`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// The window, by when leads were received: `30m`, `24h`, `7d`.
    pub since: String,
    /// A draft to replay; without it, the rules in force.
    pub yaml: Option<String>,
    pub scripts: Option<BTreeMap<String, String>>,
}

#[utoipa::path(post, path = "/api/v1/replay", tag = "try", request_body = ReplayRequest,
    responses(
        (status = 200, description = "As `leadrouter replay --json`: `replayed`, `changed`, `transitions` and the breakdowns", body = Object),
        (status = 400, description = "Bad input: the field is named", body = ErrorBody),
        (status = 401, description = "No, an unknown or a revoked token", body = ErrorBody),
        (status = 403, description = "Agents do not replay", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 422, description = "The draft does not load: every error, located", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn replay_rules(
    caller: Caller,
    State(s): State<ApiState>,
    Body(req): Body<ReplayRequest>,
) -> Result<Json<Value>, ApiError> {
    caller.may(Endpoint::Replay)?;
    let since = Since::parse(&req.since)
        .map_err(|e| ApiError::bad_field("since", format!("since: {e}")))?;
    let draft = req.yaml.is_some();
    let rules = rules_for(&s, req.yaml, req.scripts).await?;
    // A draft is compared with the rules in force, as `replay --rules` does.
    let in_force = if draft {
        rules_in_force(&s.config.rules, &s.store)
            .await
            .ok()
            .map(|f| f.loaded.ruleset)
    } else {
        None
    };
    let result = replay(&s.store, &rules, in_force.as_ref(), &since).await?;
    let value = serde_json::to_value(&result).map_err(|e| ApiError::internal(&e))?;
    Ok(Json(value))
}
