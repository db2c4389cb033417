//! Who is calling: the bearer token of every API request (SPEC 9), looked up by its
//! hash. No, an unknown or a revoked token is 401. The token is never logged.
use super::ApiState;
use super::error::ApiError;
use super::policy::{Access, Endpoint, access};
use crate::store::Role;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

/// The caller of a request: the token's name (the actor of its changes) and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

impl Caller {
    /// What the caller may do at `endpoint`: 403 when nothing.
    pub fn may(&self, endpoint: Endpoint) -> Result<Access, ApiError> {
        match access(endpoint, self.role) {
            Access::Denied => Err(ApiError::forbidden(format!(
                "a token with role {} may not {}",
                self.role.as_str(),
                endpoint.describe()
            ))),
            other => Ok(other),
        }
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized("no token: send `Authorization: Bearer TOKEN`")
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                let (scheme, rest) = h.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be `Bearer TOKEN`")
            })?;
        match state.store.token_owner(token).await? {
            Some(owner) => Ok(Caller {
                name: owner.name,
                role: owner.role,
            }),
            None => Err(ApiError::unauthorized("unknown or revoked token")),
        }
    }
}
