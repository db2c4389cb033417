//! The API's one error shape, `{"error": "...", "code": "..."}` (SPEC 9), with the field
//! named for bad input and the rules' errors for invalid rules; and how the library's
//! errors map to statuses.
use crate::commands::rules::PublishError;
use crate::in_force::InForceError;
use crate::rules::{Diagnostic, RulesError};
use crate::store::{ChangeError, StoreError};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Every error the API returns.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for people.
    pub error: String,
    /// What went wrong, for programs: `unauthorized`, `forbidden`, `bad_request`,
    /// `not_found`, `conflict`, `payload_too_large`, `invalid_rules`, `internal`, or a
    /// more precise one (`unknown_lead`, `inactive_agent`, ...).
    pub code: String,
    /// For bad input: the field at fault (`to`, `leads[2]`, `limit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For invalid rules: each error, located.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<RulesDiagnostic>>,
}

/// One error or warning about rules, as `check` prints it, located.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RulesDiagnostic {
    /// The file (or script) it is in.
    pub file: String,
    pub line: Option<usize>,
    pub rule: Option<String>,
    pub message: String,
    /// The whole line as `check` prints it.
    pub text: String,
}

impl From<&Diagnostic> for RulesDiagnostic {
    fn from(d: &Diagnostic) -> Self {
        RulesDiagnostic {
            file: d.file.display().to_string(),
            line: d.line,
            rule: d.rule.clone(),
            message: d.message.clone(),
            text: d.to_string(),
        }
    }
}

/// An error response: a status and its body.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, error: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                error: error.into(),
                code: code.to_owned(),
                field: None,
                errors: None,
            },
        }
    }

    /// 400, naming the field.
    pub fn bad_field(field: impl Into<String>, error: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, "bad_request", error);
        e.body.field = Some(field.into());
        e
    }

    pub fn bad_request(error: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", error)
    }

    pub fn unauthorized(error: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", error)
    }

    pub fn forbidden(error: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", error)
    }

    pub fn not_found(code: &str, error: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, error)
    }

    pub fn conflict(code: &str, error: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, error)
    }

    /// 422 with every error of the rules.
    pub fn invalid_rules(name: &str, e: &RulesError) -> Self {
        let mut err = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_rules",
            format!("{name}: invalid ({} errors)", e.errors.len()),
        );
        err.body.errors = Some(e.errors.iter().map(RulesDiagnostic::from).collect());
        err
    }

    /// 500: logged with its cause; the client learns only that it failed (the cause may
    /// name servers or hold data).
    pub fn internal(e: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %e, "API request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the request failed on the server; see its log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            e if e.is_unstorable_text() => Self::bad_request(
                "the request holds text PostgreSQL cannot store (a \\u0000 character)",
            ),
            // The database is away or overloaded: the client may retry.
            e if e.is_transient() => {
                tracing::warn!(error = %e, "API request: database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is unavailable; try again",
                )
            }
            e => Self::internal(&e),
        }
    }
}

impl From<ChangeError> for ApiError {
    fn from(e: ChangeError) -> Self {
        let text = e.to_string();
        match e {
            ChangeError::UnknownLead(_) => Self::not_found("unknown_lead", text),
            ChangeError::InactiveAgent(_) => Self::conflict("inactive_agent", text),
            ChangeError::SameAgent(_) => Self::bad_field("to", text),
            ChangeError::NoAvailableMember { .. } => Self::conflict("no_available_member", text),
            ChangeError::NotAllowed { .. } => Self::new(StatusCode::FORBIDDEN, "not_allowed", text),
            ChangeError::InvalidAssignees(_) => Self::bad_field("add", text),
            ChangeError::Conflict(_) => Self::conflict("conflict", text),
            ChangeError::Store(e) => e.into(),
        }
    }
}

impl From<InForceError> for ApiError {
    fn from(e: InForceError) -> Self {
        match e {
            InForceError::Store(e) => e.into(),
            // The server's own rules do not load: not the client's fault.
            other => Self::internal(&other),
        }
    }
}

impl From<PublishError> for ApiError {
    fn from(e: PublishError) -> Self {
        match e {
            PublishError::Invalid { name, source } => {
                Self::invalid_rules(&name.display().to_string(), &source)
            }
            PublishError::UnknownVersion(h) => Self::not_found(
                "unknown_ruleset",
                format!("no published version has hash {h:?}"),
            ),
            PublishError::Store(e) => e.into(),
        }
    }
}
