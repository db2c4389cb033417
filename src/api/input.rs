//! Reading requests: JSON bodies and query strings into typed values, every failure a
//! JSON error naming the field (never axum's plain-text rejections), and bodies over
//! [`MAX_BODY_BYTES`] refused with 413.
use super::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// The largest request body (SPEC 9: 1 MiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON body of type `T`.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("the request body is over {MAX_BODY_BYTES} bytes"),
                )
            } else {
                ApiError::bad_request(format!("cannot read the request body: {e}"))
            }
        })?;
        if bytes.is_empty() {
            return Err(ApiError::bad_request(
                "expected a JSON object as the request body",
            ));
        }
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(de).map_err(|e| field_error(&e))?;
        Ok(Body(value))
    }
}

/// The query string as `T`.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        let value = serde_path_to_error::deserialize(de).map_err(|e| field_error(&e))?;
        Ok(Query(value))
    }
}

/// A path parameter (`{id}`) as `T`.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(e) => Err(ApiError::bad_field("id", format!("id: {}", e.body_text()))),
        }
    }
}

fn field_error<E: std::fmt::Display>(e: &serde_path_to_error::Error<E>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.inner().to_string();
    // "missing field `to`" and "unknown field `x`" name the field inside the message.
    let field = if path == "." {
        backticked(&inner).unwrap_or_default()
    } else {
        path
    };
    if field.is_empty() {
        ApiError::bad_request(format!("invalid request: {inner}"))
    } else {
        ApiError::bad_field(field.clone(), format!("{field}: {inner}"))
    }
}

/// The first `` `name` `` in a serde message.
fn backticked(s: &str) -> Option<String> {
    let start = s.find('`')? + 1;
    let len = s[start..].find('`')?;
    Some(s[start..start + len].to_owned())
}

/// Paging of lists: `limit` (1..=1000, default 100) and `after` (the last key of the
/// previous page).
#[derive(Debug, Clone, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// At most this many items (1 to 1000; default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The last key of the previous page: the items after it.
    pub after: Option<String>,
}

impl Paging {
    pub const MAX: u32 = 1000;

    /// The limit, checked.
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.limit {
            None => Ok(100),
            Some(n) if (1..=Self::MAX).contains(&n) => Ok(n as usize),
            Some(n) => Err(ApiError::bad_field(
                "limit",
                format!("limit: must be from 1 to {}, got {n}", Self::MAX),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_come_from_serde_messages() {
        assert_eq!(backticked("missing field `to`").as_deref(), Some("to"));
        assert_eq!(backticked("no field"), None);
    }
}
