//! The strict parser behind [`super::parse_lead`].
//!
//! Order of checks: size (before looking at the bytes), UTF-8, a byte-level pre-scan
//! for depth (so hostile nesting never reaches a recursive parser) and number
//! exactness, then serde_json with a visitor that refuses duplicate keys and NULs,
//! then the known fields' types.
use chrono::{DateTime, Utc};
use serde::de::DeserializeSeed;
use serde_json::{Map, Value};

use super::{Lead, LeadId, RejectReason, Rejection};

mod number;
mod scan;
mod tree;

pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 * 1024;
pub const MAX_DEPTH: usize = 64;

/// Parses and validates one message body. Never panics, whatever the bytes.
pub fn parse_lead(body: &[u8], max_bytes: usize) -> Result<Lead, Rejection> {
    if body.len() > max_bytes {
        return Err(Rejection::new(
            RejectReason::TooLarge,
            format!(
                "message is {} bytes, at most {max_bytes} allowed",
                body.len()
            ),
        ));
    }
    let text = std::str::from_utf8(body).map_err(|e| {
        Rejection::new(
            RejectReason::InvalidUtf8,
            format!("message is not valid UTF-8: {e}"),
        )
    })?;
    let report = scan::scan(text, MAX_DEPTH)?;
    let value = parse_value(text, report.inexact)?;
    let Value::Object(payload) = value else {
        return Err(Rejection::new(
            RejectReason::NotAnObject,
            format!("message is a JSON {}, not an object", kind(&value)),
        ));
    };
    validate(payload)
}

/// serde_json with the strict visitor; maps its errors to the right reason.
fn parse_value(text: &str, inexact: Option<Rejection>) -> Result<Value, Rejection> {
    let failure = tree::Failure::default();
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = tree::StrictValue(&failure)
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    match (parsed, inexact) {
        // The text is JSON; only now is an inexact number the thing to report.
        (Ok(_), Some(r)) => Err(r),
        (Ok(v), None) => Ok(v),
        (Err(e), inexact) => {
            if let Some(reason) = failure.reason() {
                return Err(Rejection::new(reason, e.to_string()));
            }
            // serde_json refuses `1e400` itself; the pre-scan knows the exact token.
            match inexact {
                Some(r) if e.to_string().starts_with("number out of range") => Err(r),
                _ => Err(Rejection::new(
                    RejectReason::InvalidJson,
                    format!("message is not valid JSON: {e}"),
                )),
            }
        }
    }
}

fn validate(payload: Map<String, Value>) -> Result<Lead, Rejection> {
    let id = match payload.get("id") {
        None => return Err(Rejection::new(RejectReason::InvalidId, "`id` is missing")),
        Some(Value::String(s)) => {
            LeadId::parse(s).map_err(|e| Rejection::new(RejectReason::InvalidId, e))?
        }
        Some(other) => {
            return Err(Rejection::new(
                RejectReason::InvalidId,
                format!("`id` must be a string, got {}", kind(other)),
            ));
        }
    };
    let received_at = match optional(&payload, "received_at") {
        None => None,
        Some(Value::String(s)) => Some(
            DateTime::parse_from_rfc3339(s)
                .map_err(|e| {
                    Rejection::new(
                        RejectReason::WrongFieldType,
                        format!(
                            "`received_at` must be an RFC 3339 timestamp: {} ({e})",
                            tree::quoted(s)
                        ),
                    )
                })?
                .with_timezone(&Utc),
        ),
        Some(other) => {
            return Err(wrong_type(
                "received_at",
                "an RFC 3339 timestamp string",
                other,
            ));
        }
    };
    for field in ["source", "agent_id", "region"] {
        expect_string(&payload, field, field)?;
    }
    check_object(&payload, "contact", &["name", "email", "phone"])?;
    check_object(
        &payload,
        "address",
        &["street", "city", "state", "postal_code", "country"],
    )?;
    Ok(Lead {
        id,
        received_at,
        payload,
    })
}

/// The field's value, treating JSON `null` as absent (optional fields only).
fn optional<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

fn expect_string(map: &Map<String, Value>, key: &str, path: &str) -> Result<(), Rejection> {
    match optional(map, key) {
        None | Some(Value::String(_)) => Ok(()),
        Some(other) => Err(wrong_type(path, "a string", other)),
    }
}

fn check_object(map: &Map<String, Value>, key: &str, subfields: &[&str]) -> Result<(), Rejection> {
    match optional(map, key) {
        None => Ok(()),
        Some(Value::Object(inner)) => {
            for sub in subfields {
                expect_string(inner, sub, &format!("{key}.{sub}"))?;
            }
            Ok(())
        }
        Some(other) => Err(wrong_type(key, "an object", other)),
    }
}

fn wrong_type(path: &str, expected: &str, got: &Value) -> Rejection {
    Rejection::new(
        RejectReason::WrongFieldType,
        format!("`{path}` must be {expected}, got {}", kind(got)),
    )
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
