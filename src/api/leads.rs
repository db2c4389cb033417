//! `/api/v1/leads`: a lead with its history, and the manual changes (the same
//! `Store::reassign` as `leads reassign|unassign`).
use super::ApiState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::input::{Body, Path};
use super::policy::{Access, Endpoint, agent_sees_lead};
use crate::routing::LeadStatus;
use crate::store::{
    AlertRecord, DecisionRecord, LeadHistory, LeadRecord, LeadState, ManualTarget, Reassigned,
};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Where a lead is now, as the `leads` row says.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeadView {
    pub lead_id: String,
    #[schema(value_type = String, example = "assigned")]
    /// `assigned`, `queued` or `unassigned`.
    pub status: LeadStatus,
    pub owner_id: Option<String>,
    pub queue: Option<String>,
    pub pool: Option<String>,
    pub rule: Option<String>,
    pub received_at: DateTime<Utc>,
    pub decided_at: DateTime<Utc>,
    /// When its ownerless spell started; null while it has an owner.
    pub unassigned_since: Option<DateTime<Utc>>,
    /// The message as received.
    #[schema(value_type = Object)]
    pub payload: Value,
}

impl From<LeadRecord> for LeadView {
    fn from(r: LeadRecord) -> Self {
        let p = r.state.placement;
        LeadView {
            lead_id: r.lead_id,
            status: p.status,
            owner_id: p.owner_id,
            queue: p.queue,
            pool: p.pool,
            rule: p.rule,
            received_at: r.received_at,
            decided_at: r.decided_at,
            unassigned_since: r.state.unassigned_since,
            payload: r.payload,
        }
    }
}

/// One decision (`routing_decisions` row): the router's, or a manual change.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionView {
    pub id: i64,
    #[schema(value_type = String)]
    pub status: LeadStatus,
    pub owner_id: Option<String>,
    pub queue: Option<String>,
    pub pool: Option<String>,
    pub rule: Option<String>,
    /// The router's explain trace (see `Trace`); for a manual change null, or what
    /// explains a pool deal by offboarding.
    #[schema(value_type = Option<Object>)]
    pub trace: Option<Value>,
    /// Hash of the rules in force; null for manual changes.
    pub ruleset: Option<String>,
    pub decided_at: DateTime<Utc>,
    /// `router`, or who made the change.
    pub actor: String,
    pub note: Option<String>,
}

impl From<DecisionRecord> for DecisionView {
    fn from(d: DecisionRecord) -> Self {
        let p = d.placement;
        DecisionView {
            id: d.id,
            status: p.status,
            owner_id: p.owner_id,
            queue: p.queue,
            pool: p.pool,
            rule: p.rule,
            trace: d.trace,
            ruleset: d.ruleset,
            decided_at: d.decided_at,
            actor: d.actor,
            note: d.note,
        }
    }
}

/// An alert raised for the lead (ownerless too long).
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertView {
    pub raised_at: DateTime<Utc>,
    /// The ownerless spell it was raised for.
    pub unassigned_since: DateTime<Utc>,
}

impl From<AlertRecord> for AlertView {
    fn from(a: AlertRecord) -> Self {
        AlertView {
            raised_at: a.raised_at,
            unassigned_since: a.unassigned_since,
        }
    }
}

/// A lead, its decisions oldest first (with their traces), and its alerts.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeadDetail {
    pub lead: LeadView,
    pub decisions: Vec<DecisionView>,
    pub alerts: Vec<AlertView>,
}

impl From<LeadHistory> for LeadDetail {
    fn from(h: LeadHistory) -> Self {
        LeadDetail {
            lead: h.lead.into(),
            decisions: h.decisions.into_iter().map(Into::into).collect(),
            alerts: h.alerts.into_iter().map(Into::into).collect(),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/leads/{id}", tag = "leads",
    params(("id" = String, Path, description = "The lead's id")),
    responses(
        (status = 200, description = "The lead", body = LeadDetail),
        (status = 401, description = "No, an unknown or a revoked token", body = ErrorBody),
        (status = 403, description = "The role may not read leads", body = ErrorBody),
        (status = 404, description = "No such lead (or not one the agent may see)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get_lead(
    caller: Caller,
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<LeadDetail>, ApiError> {
    let access = caller.may(Endpoint::GetLead)?;
    let unknown = || ApiError::not_found("unknown_lead", format!("no lead with id {id:?}"));
    let history = s.store.lead_history(&id).await?.ok_or_else(unknown)?;
    if access == Access::Own && !agent_sees_lead(&caller.name, &history) {
        return Err(unknown());
    }
    Ok(Json(history.into()))
}

/// `POST /leads/{id}/reassign`: exactly one of `to` and `queue`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignRequest {
    /// The new owner (halted is allowed, inactive is not).
    pub to: Option<String>,
    /// The queue where the lead waits without an owner.
    pub queue: Option<String>,
    /// Why; stored with the decision and sent in the event.
    pub note: Option<String>,
}

/// `POST /leads/{id}/unassign`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnassignRequest {
    pub note: Option<String>,
}

/// Where a lead is (the state a change reads and writes).
#[derive(Debug, Serialize, ToSchema)]
pub struct LeadStateView {
    #[schema(value_type = String)]
    pub status: LeadStatus,
    pub owner_id: Option<String>,
    pub queue: Option<String>,
    pub pool: Option<String>,
    pub rule: Option<String>,
    pub unassigned_since: Option<DateTime<Utc>>,
}

impl From<LeadState> for LeadStateView {
    fn from(s: LeadState) -> Self {
        let p = s.placement;
        LeadStateView {
            status: p.status,
            owner_id: p.owner_id,
            queue: p.queue,
            pool: p.pool,
            rule: p.rule,
            unassigned_since: s.unassigned_since,
        }
    }
}

/// What a manual change did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeView {
    pub lead_id: String,
    /// False when the lead already was there: nothing was written.
    pub changed: bool,
    pub at: DateTime<Utc>,
    pub before: LeadStateView,
    pub after: LeadStateView,
    /// The event written to the outbox (`lead.assigned`, ...); null when nothing changed.
    pub event: Option<String>,
    /// The new owner is halted (they get this lead, but no pool leads).
    pub owner_halted: bool,
}

impl From<Reassigned> for ChangeView {
    fn from(r: Reassigned) -> Self {
        ChangeView {
            changed: r.event.is_some(),
            event: r.event.as_ref().map(|e| e.routing_key().to_owned()),
            owner_halted: r.target == Some(crate::routing::Availability::Halted),
            lead_id: r.lead_id,
            at: r.at,
            before: r.before.into(),
            after: r.after.into(),
        }
    }
}

fn non_empty(field: &str, v: Option<String>) -> Result<Option<String>, ApiError> {
    match v {
        Some(s) if s.trim().is_empty() => Err(ApiError::bad_field(
            field,
            format!("{field}: must not be empty"),
        )),
        other => Ok(other),
    }
}

#[utoipa::path(post, path = "/api/v1/leads/{id}/reassign", tag = "leads",
    params(("id" = String, Path, description = "The lead's id")),
    request_body = ReassignRequest,
    responses(
        (status = 200, description = "Reassigned (or already there)", body = ChangeView),
        (status = 400, description = "Bad input: the field is named", body = ErrorBody),
        (status = 401, description = "No, an unknown or a revoked token", body = ErrorBody),
        (status = 403, description = "Only admins reassign", body = ErrorBody),
        (status = 404, description = "No such lead", body = ErrorBody),
        (status = 409, description = "The agent is inactive (offboarded)", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn reassign(
    caller: Caller,
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Body(req): Body<ReassignRequest>,
) -> Result<Json<ChangeView>, ApiError> {
    caller.may(Endpoint::ReassignLead)?;
    let target = match (non_empty("to", req.to)?, non_empty("queue", req.queue)?) {
        (Some(agent), None) => ManualTarget::Agent(agent),
        (None, Some(queue)) => ManualTarget::Queue(queue),
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_field(
                "queue",
                "give `to` or `queue`, not both",
            ));
        }
        (None, None) => return Err(ApiError::bad_field("to", "give `to` (an agent) or `queue`")),
    };
    let done = s
        .store
        .reassign(&id, &target, &caller.name, req.note.as_deref())
        .await?;
    Ok(Json(done.into()))
}

#[utoipa::path(post, path = "/api/v1/leads/{id}/unassign", tag = "leads",
    params(("id" = String, Path, description = "The lead's id")),
    request_body = UnassignRequest,
    responses(
        (status = 200, description = "Unassigned (or already)", body = ChangeView),
        (status = 400, description = "Bad input: the field is named", body = ErrorBody),
        (status = 401, description = "No, an unknown or a revoked token", body = ErrorBody),
        (status = 403, description = "Only admins unassign", body = ErrorBody),
        (status = 404, description = "No such lead", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn unassign(
    caller: Caller,
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Body(req): Body<UnassignRequest>,
) -> Result<Json<ChangeView>, ApiError> {
    caller.may(Endpoint::UnassignLead)?;
    let done = s
        .store
        .reassign(
            &id,
            &ManualTarget::Unassigned,
            &caller.name,
            req.note.as_deref(),
        )
        .await?;
    Ok(Json(done.into()))
}
