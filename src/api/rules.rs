//! `/api/v1/rules`: the rules in force, their history, publishing and rolling back
//! (the same `commands::rules::{publish, rollback}` as the CLI), and checking a draft.
use super::ApiState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody, RulesDiagnostic};
use super::input::{Body, Paging, Query};
use super::policy::Endpoint;
use crate::commands::rules::{Draft, publish, rollback};
use crate::config::RulesSource;
use crate::in_force::{Origin, rules_in_force};
use crate::routing::SkippedAgent;
use crate::rules::{Loaded, RulesError};
use crate::store::{Activated, RulesetVersion};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use utoipa::ToSchema;

/// What drafts are called in messages (their scripts: by the path the rules give).
pub const DRAFT_NAME: &str = "draft.yaml";

/// Rules text: the YAML and the scripts it names (path as named → source).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftRequest {
    pub yaml: String,
    #[serde(default)]
    pub scripts: BTreeMap<String, String>,
}

impl DraftRequest {
    pub fn draft(self) -> Draft {
        Draft {
            yaml: self.yaml,
            scripts: self.scripts,
        }
    }
}

/// Compiles a draft; 422 with every error when it does not load.
pub fn compile_draft(draft: &Draft) -> Result<Loaded, ApiError> {
    draft
        .compile(Path::new(DRAFT_NAME))
        .map_err(|e| ApiError::invalid_rules(DRAFT_NAME, &e))
}

/// A member a pool passed over, and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SkippedView {
    pub agent: String,
    /// `halted` or `inactive`.
    pub why: String,
}

impl From<SkippedAgent> for SkippedView {
    fn from(s: SkippedAgent) -> Self {
        SkippedView {
            agent: s.agent,
            why: s.why.as_str().to_owned(),
        }
    }
}

/// The explain trace of a decision (documentation of the JSON the engine writes).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Trace {
    /// The lead's region as resolved; absent when none.
    region: Option<String>,
    /// Each rule tried, in order, up to the one that decided.
    rules: Vec<RuleTrace>,
}

/// One rule tried.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RuleTrace {
    rule: String,
    /// `no_match`, `decided`, `passed` or `error`.
    outcome: String,
    /// Why, in words: the failed condition, the halted agent, the script error.
    reason: String,
    /// Pool members passed over (absent when none).
    skipped: Option<Vec<SkippedView>>,
    /// The pool's pick (absent when none).
    picked: Option<Pick>,
}

/// A pool's pick and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct Pick {
    pub agent: String,
    /// `round_robin: next after bob`, `least_loaded: fewest open leads (2)`.
    pub why: String,
}

/// The rules in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct RulesView {
    /// `file` or `database` (`rules.source`).
    pub source: String,
    /// The file, or `ruleset HASH`.
    pub name: String,
    pub hash: String,
    pub yaml: String,
    pub scripts: BTreeMap<String, String>,
    /// For `database`: who published the version in force, when, and why.
    pub published_at: Option<DateTime<Utc>>,
    pub published_by: Option<String>,
    pub note: Option<String>,
    pub warnings: Vec<RulesDiagnostic>,
}

#[utoipa::path(get, path = "/api/v1/rules", tag = "rules",
    responses(
        (status = 200, description = "The rules in force", body = RulesView),
        (status = 401, description = "No, an unknown or a revoked token", body = ErrorBody),
        (status = 403, description = "Agents do not read the rules", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get_rules(
    caller: Caller,
    State(s): State<ApiState>,
) -> Result<Json<RulesView>, ApiError> {
    caller.may(Endpoint::GetRules)?;
    let in_force = rules_in_force(&s.config.rules, &s.store).await?;
    let rs = &in_force.loaded.ruleset;
    let warnings = in_force.loaded.warnings.iter().map(Into::into).collect();
    let view = match in_force.origin {
        Origin::File(path) => RulesView {
            source: "file".into(),
            name: path.display().to_string(),
            hash: rs.hash().to_owned(),
            yaml: std::fs::read_to_string(&path).map_err(|e| ApiError::internal(&e))?,
            scripts: rs.scripts().clone(),
            published_at: None,
            published_by: None,
            note: None,
            warnings,
        },
        Origin::Database(v) => RulesView {
            source: "database".into(),
            name: v.name().display().to_string(),
            hash: v.hash,
            yaml: v.yaml,
            scripts: v.scripts,
            published_at: Some(v.published_at),
            published_by: Some(v.published_by),
            note: v.note,
            warnings,
        },
    };
    Ok(Json(view))
}

/// A published version (without its text).
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    pub hash: String,
    pub published_at: DateTime<Utc>,
    pub published_by: String,
    pub note: Option<String>,
    pub active: bool,
    /// When it last became active (publish or rollback), and by whom.
    pub activated_at: Option<DateTime<Utc>>,
    pub activated_by: Option<String>,
}

impl From<RulesetVersion> for VersionView {
    fn from(v: RulesetVersion) -> Self {
        VersionView {
            hash: v.hash,
            published_at: v.published_at,
            published_by: v.published_by,
            note: v.note,
            active: v.active,
            activated_at: v.activated_at,
            activated_by: v.activated_by,
        }
    }
}

/// A page of versions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionPage {
    pub items: Vec<VersionView>,
    /// Pass as `after` for the next page; null on the last.
    pub next: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/rules/history", tag = "rules", params(Paging),
    responses(
        (status = 200, description = "Published versions, newest first", body = VersionPage),
        (status = 400, description = "Bad paging: the field is named", body = ErrorBody),
        (status = 401, description = "No, an unknown or a revoked token", body = ErrorBody),
        (status = 403, description = "Agents do not read the rules", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn history(
    caller: Caller,
    State(s): State<ApiState>,
    Query(paging): Query<Paging>,
) -> Result<Json<VersionPage>, ApiError> {
    caller.may(Endpoint::RulesHistory)?;
    let limit = paging.limit()?;
    let mut items: Vec<VersionView> = s
        .store
        .ruleset_history(limit as i64 + 1, paging.after.as_deref())
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    let next = (items.len() > limit).then(|| {
        items.truncate(limit);
        items.last().map(|v| v.hash.clone())
    });
    Ok(Json(VersionPage {
        items,
        next: next.flatten(),
    }))
}

/// `POST /rules`: a version to publish.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    pub yaml: String,
    #[serde(default)]
    pub scripts: BTreeMap<String, String>,
    /// Why; kept with the version.
    pub note: Option<String>,
}

/// What a publish or a rollback did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivatedView {
    /// The version active now.
    pub hash: String,
    /// The version active before (null for the first publish).
    pub previous: Option<String>,
    /// False when it already was the active version: nothing was written.
    pub changed: bool,
    /// For a publish: false when this text had been published before.
    pub new_version: bool,
    pub at: DateTime<Utc>,
    pub warnings: Vec<RulesDiagnostic>,
}

fn activated(a: Activated, warnings: Vec<RulesDiagnostic>) -> ActivatedView {
    ActivatedView {
        hash: a.hash,
        previous: a.previous,
        changed: a.changed,
        new_version: a.new_version,
        at: a.at,
        warnings,
    }
}

/// Publishing and rolling back need `rules.source: database`: otherwise no daemon
/// routes by what they store.
fn require_database(s: &ApiState) -> Result<(), ApiError> {
    if s.config.rules.source == RulesSource::Database {
        return Ok(());
    }
    Err(ApiError::conflict(
        "rules_source_file",
        format!(
            "rules.source is file ({}): the rules in force are that file; set rules.source: database to publish through the API",
            s.config.rules.path.display()
        ),
    ))
}

#[utoipa::path(post, path = "/api/v1/rules", tag = "rules", request_body = PublishRequest,
    responses(
        (status = 200, description = "Published and active", body = ActivatedView),
        (status = 400, description = "Bad input: the field is named", body = ErrorBody),
        (status = 401, description = "No, an unknown or a revoked token", body = ErrorBody),
        (status = 403, description = "Only admins publish", body = ErrorBody),
        (status = 409, description = "rules.source is not database", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 422, description = "The rules do not load: every error, located", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn publish_rules(
    caller: Caller,
    State(s): State<ApiState>,
    Body(req): Body<PublishRequest>,
) -> Result<Json<ActivatedView>, ApiError> {
    caller.may(Endpoint::PublishRules)?;
    require_database(&s)?;
    let draft = Draft {
        yaml: req.yaml,
        scripts: req.scripts,
    };
    let (done, loaded) = publish(
        &s.store,
        &draft,
        Path::new(DRAFT_NAME),
        &caller.name,
        req.note.as_deref(),
    )
    .await?;
    let warnings = loaded.warnings.iter().map(Into::into).collect();
    Ok(Json(activated(done, warnings)))
}

/// `POST /rules/rollback`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The version to make active again.
    pub hash: String,
    pub note: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/rules/rollback", tag = "rules", request_body = RollbackRequest,
    responses(
        (status = 200, description = "The version is active", body = ActivatedView),
        (status = 400, description = "Bad input: the field is named", body = ErrorBody),
        (status = 401, description = "No, an unknown or a revoked token", body = ErrorBody),
        (status = 403, description = "Only admins roll back", body = ErrorBody),
        (status = 404, description = "No version has that hash", body = ErrorBody),
        (status = 409, description = "rules.source is not database", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 422, description = "That version does not load with this leadrouter", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn rollback_rules(
    caller: Caller,
    State(s): State<ApiState>,
    Body(req): Body<RollbackRequest>,
) -> Result<Json<ActivatedView>, ApiError> {
    caller.may(Endpoint::RollbackRules)?;
    require_database(&s)?;
    let done = rollback(&s.store, &req.hash, &caller.name, req.note.as_deref()).await?;
    Ok(Json(activated(done, Vec::new())))
}

/// What `check` says about a draft.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckView {
    pub valid: bool,
    /// The ruleset hash (valid rules only).
    pub hash: Option<String>,
    pub errors: Vec<RulesDiagnostic>,
    /// Rules that can never decide, pools no rule uses.
    pub warnings: Vec<RulesDiagnostic>,
    /// `draft.yaml: OK: 7 rules, 3 pools, 2 regions` or `draft.yaml: invalid (2 errors)`.
    pub summary: String,
}

fn check_view(result: Result<Loaded, RulesError>) -> CheckView {
    match result {
        Ok(l) => {
            let rs = &l.ruleset;
            CheckView {
                valid: true,
                hash: Some(rs.hash().to_owned()),
                errors: Vec::new(),
                summary: format!(
                    "{DRAFT_NAME}: OK: {} rules, {} pools, {} regions, ruleset {}",
                    rs.rules().len(),
                    rs.pools().count(),
                    rs.regions().len(),
                    rs.hash()
                ),
                warnings: l.warnings.iter().map(Into::into).collect(),
            }
        }
        Err(e) => CheckView {
            valid: false,
            hash: None,
            summary: format!("{DRAFT_NAME}: invalid ({} errors)", e.errors.len()),
            errors: e.errors.iter().map(Into::into).collect(),
            warnings: Vec::new(),
        },
    }
}

#[utoipa::path(post, path = "/api/v1/rules/check", tag = "rules", request_body = DraftRequest,
    responses(
        (status = 200, description = "The check's findings (invalid rules too: `valid` says)", body = CheckView),
        (status = 400, description = "Bad input: the field is named", body = ErrorBody),
        (status = 401, description = "No, an unknown or a revoked token", body = ErrorBody),
        (status = 403, description = "Agents do not check rules", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn check_rules(
    caller: Caller,
    Body(req): Body<DraftRequest>,
) -> Result<Json<CheckView>, ApiError> {
    caller.may(Endpoint::CheckRules)?;
    let draft = req.draft();
    let result = tokio::task::spawn_blocking(move || draft.compile(Path::new(DRAFT_NAME)))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(check_view(result)))
}
