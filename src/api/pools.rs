//! `GET /api/v1/pools`: each pool of the rules in force, its members' availability now,
//! and who the next lead would go to (the engine's own pick, on a copy of the state:
//! nothing is stepped).
use super::ApiState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::policy::Endpoint;
use super::rules::{Pick, SkippedView};
use crate::in_force::rules_in_force;
use crate::routing::{RoutingState, deal_from_pool};
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub agent: String,
    pub weight: u32,
    /// `available`, `halted` or `inactive`.
    pub availability: String,
    pub open_leads: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PoolView {
    pub name: String,
    /// `round_robin`, `weighted` or `least_loaded`.
    pub strategy: String,
    pub members: Vec<MemberView>,
    /// Who the next lead dealt by this pool goes to; null when no member is available.
    pub next: Option<Pick>,
    /// Members the next deal would pass over, and why.
    pub skipped: Vec<SkippedView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PoolList {
    /// The ruleset the pools are from.
    pub ruleset: String,
    pub items: Vec<PoolView>,
}

#[utoipa::path(get, path = "/api/v1/pools", tag = "agents",
    responses(
        (status = 200, description = "The pools of the rules in force", body = PoolList),
        (status = 401, description = "No, an unknown or a revoked token", body = ErrorBody),
        (status = 403, description = "Agents do not list pools", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list_pools(
    caller: Caller,
    State(s): State<ApiState>,
) -> Result<Json<PoolList>, ApiError> {
    caller.may(Endpoint::ListPools)?;
    let in_force = rules_in_force(&s.config.rules, &s.store).await?;
    let rs = &in_force.loaded.ruleset;
    let members: Vec<String> = rs
        .pools()
        .flat_map(|p| p.members.iter().map(|m| m.agent.clone()))
        .collect();
    let state = s.store.snapshot(&members, rs.pool_names()).await?;
    let items = rs
        .pools()
        .map(|pool| {
            let mut trial = state.clone();
            let out = deal_from_pool(pool, &mut trial);
            PoolView {
                name: pool.name.clone(),
                strategy: pool.strategy.as_str().to_owned(),
                members: pool
                    .members
                    .iter()
                    .map(|m| MemberView {
                        agent: m.agent.clone(),
                        weight: m.weight,
                        availability: state.availability(&m.agent).as_str().to_owned(),
                        open_leads: state.open_leads(&m.agent),
                    })
                    .collect(),
                next: out.pick.map(|p| Pick {
                    agent: p.agent,
                    why: p.why,
                }),
                skipped: out.skipped.into_iter().map(Into::into).collect(),
            }
        })
        .collect();
    Ok(Json(PoolList {
        ruleset: rs.hash().to_owned(),
        items,
    }))
}
