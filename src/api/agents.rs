//! `/api/v1/agents`: the agents with their open leads, halting, resuming and
//! offboarding (the same library functions as `leadrouter agents`).
use super::ApiState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::input::{Body, Paging, Path, Query};
use super::policy::{Access, Endpoint};
use crate::commands::agents::{Listed, overview};
use crate::commands::offboard::find_pool;
use crate::in_force::rules_in_force;
use crate::store::{AgentChange, OffboardTo, Offboarded};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An agent: its flags and open leads, and the pools of the rules in force it is in.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentView {
    pub agent_id: String,
    /// Halted: no pool leads (direct ones as each rule's `if_halted` says).
    pub halted: bool,
    /// False once offboarded: no leads at all.
    pub active: bool,
    /// Assigned leads it owns now.
    pub open_leads: u64,
    pub pools: Vec<String>,
    /// The last change of its row (null for a pool member never changed).
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<String>,
}

impl From<Listed> for AgentView {
    fn from(l: Listed) -> Self {
        AgentView {
            agent_id: l.agent_id,
            halted: l.halted,
            active: l.active,
            open_leads: l.open_leads,
            pools: l.pools,
            updated_at: l.updated_at,
            updated_by: l.updated_by,
        }
    }
}

/// A page of agents, by id.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentPage {
    pub items: Vec<AgentView>,
    /// Pass as `after` for the next page; null on the last.
    pub next: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/agents", tag = "agents", params(Paging),
    responses(
        (status = 200, description = "Agents (an agent token: itself only)", body = AgentPage),
        (status = 400, description = "Bad paging: the field is named", body = ErrorBody),
        (status = 401, description = "No, an unknown or a revoked token", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list_agents(
    caller: Caller,
    State(s): State<ApiState>,
    Query(paging): Query<Paging>,
) -> Result<Json<AgentPage>, ApiError> {
    let access = caller.may(Endpoint::ListAgents)?;
    let limit = paging.limit()?;
    let rules = rules_in_force(&s.config.rules, &s.store).await?;
    let mut all = overview(&s.store, Some(&rules.loaded.ruleset)).await?;
    if access == Access::Own {
        all.retain(|a| a.agent_id == caller.name);
    }
    let after = paging.after.as_deref();
    let mut items: Vec<AgentView> = all
        .into_iter()
        .filter(|a| after.is_none_or(|k| a.agent_id.as_str() > k))
        .take(limit + 1)
        .map(Into::into)
        .collect();
    let next = (items.len() > limit).then(|| {
        items.truncate(limit);
        items.last().map(|a| a.agent_id.clone())
    });
    Ok(Json(AgentPage {
        items,
        next: next.flatten(),
    }))
}

/// What a halt or resume did.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentChangeView {
    pub agent_id: String,
    pub halted: bool,
    pub active: bool,
    /// False when the agent already was in that state: nothing was written.
    pub changed: bool,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<String>,
}

fn change_view(agent: &str, c: AgentChange) -> AgentChangeView {
    match c.row {
        Some(r) => AgentChangeView {
            agent_id: r.agent_id,
            halted: r.halted,
            active: r.active,
            changed: c.changed,
            updated_at: Some(r.updated_at),
            updated_by: r.updated_by,
        },
        // No row: an agent never changed, available.
        None => AgentChangeView {
            agent_id: agent.to_owned(),
            halted: false,
            active: true,
            changed: c.changed,
            updated_at: None,
            updated_by: None,
        },
    }
}

/// Halting and resuming: admins anyone, agents themselves.
async fn set_halted(
    caller: &Caller,
    s: &ApiState,
    agent: &str,
    halted: bool,
) -> Result<Json<AgentChangeView>, ApiError> {
    let endpoint = if halted {
        Endpoint::HaltAgent
    } else {
        Endpoint::ResumeAgent
    };
    if caller.may(endpoint)? == Access::Own && agent != caller.name {
        return Err(ApiError::forbidden(format!(
            "an agent token may {} itself only ({})",
            if halted { "halt" } else { "resume" },
            caller.name
        )));
    }
    let done = s.store.set_halted(agent, halted, &caller.name).await?;
    Ok(Json(change_view(agent, done)))
}

#[utoipa::path(post, path = "/api/v1/agents/{id}/halt", tag = "agents",
    params(("id" = String, Path, description = "The agent's id")),
    responses(
        (status = 200, description = "Halted (or already)", body = AgentChangeView),
        (status = 401, description = "No, an unknown or a revoked token", body = ErrorBody),
        (status = 403, description = "Viewers, and agents for another agent", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn halt(
    caller: Caller,
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<AgentChangeView>, ApiError> {
    set_halted(&caller, &s, &id, true).await
}

#[utoipa::path(post, path = "/api/v1/agents/{id}/resume", tag = "agents",
    params(("id" = String, Path, description = "The agent's id")),
    responses(
        (status = 200, description = "Resumed (or was not halted)", body = AgentChangeView),
        (status = 401, description = "No, an unknown or a revoked token", body = ErrorBody),
        (status = 403, description = "Viewers, and agents for another agent", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn resume(
    caller: Caller,
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<AgentChangeView>, ApiError> {
    set_halted(&caller, &s, &id, false).await
}

/// `POST /agents/{id}/offboard`: exactly one of `to` and `pool`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OffboardRequest {
    /// Give every open lead to this agent.
    pub to: Option<String>,
    /// Deal the open leads through this pool (of the rules in force).
    pub pool: Option<String>,
    pub note: Option<String>,
}

/// One lead an offboarding moved.
#[derive(Debug, Serialize, ToSchema)]
pub struct MovedView {
    pub lead_id: String,
    pub to: String,
}

/// What an offboarding did.
#[derive(Debug, Serialize, ToSchema)]
pub struct OffboardView {
    pub agent_id: String,
    /// False when the agent already was offboarded.
    pub was_active: bool,
    pub at: DateTime<Utc>,
    /// The leads moved, in the order dealt.
    pub moved: Vec<MovedView>,
    /// Pool members passed over (`halted`, `inactive`).
    pub skipped: Vec<super::rules::SkippedView>,
}

impl From<Offboarded> for OffboardView {
    fn from(o: Offboarded) -> Self {
        OffboardView {
            agent_id: o.agent.agent_id,
            was_active: o.was_active,
            at: o.at,
            moved: o
                .moved
                .into_iter()
                .map(|m| MovedView {
                    lead_id: m.lead_id,
                    to: m.to,
                })
                .collect(),
            skipped: o.skipped.into_iter().map(Into::into).collect(),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/agents/{id}/offboard", tag = "agents",
    params(("id" = String, Path, description = "The agent leaving")),
    request_body = OffboardRequest,
    responses(
        (status = 200, description = "Offboarded; open leads moved", body = OffboardView),
        (status = 400, description = "Bad input: the field is named", body = ErrorBody),
        (status = 401, description = "No, an unknown or a revoked token", body = ErrorBody),
        (status = 403, description = "Only admins offboard", body = ErrorBody),
        (status = 409, description = "The target is inactive, or the pool has no available member", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn offboard(
    caller: Caller,
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Body(req): Body<OffboardRequest>,
) -> Result<Json<OffboardView>, ApiError> {
    caller.may(Endpoint::OffboardAgent)?;
    let rules;
    let to = match (req.to.as_deref(), req.pool.as_deref()) {
        (Some(""), _) => return Err(ApiError::bad_field("to", "to: must not be empty")),
        (Some(agent), None) => OffboardTo::Agent(agent),
        (None, Some(name)) => {
            rules = rules_in_force(&s.config.rules, &s.store).await?;
            let pool = find_pool(&rules.loaded.ruleset, name)
                .map_err(|e| ApiError::bad_field("pool", e))?;
            OffboardTo::Pool(pool)
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_field("pool", "give `to` or `pool`, not both"));
        }
        (None, None) => return Err(ApiError::bad_field("to", "give `to` (an agent) or `pool`")),
    };
    let done = s
        .store
        .offboard(&id, to, &caller.name, req.note.as_deref())
        .await?;
    Ok(Json(done.into()))
}
