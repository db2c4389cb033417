//! Inbound lead messages: bytes -> [`Lead`] or [`Rejection`] (SPEC section 2).
//!
//! Everything a publisher can get wrong is caught here, before any rule runs, so the
//! daemon can dead-letter the body unchanged with a reason and never panic on input.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::fmt;

mod parse;
pub use parse::{DEFAULT_MAX_MESSAGE_BYTES, MAX_DEPTH, parse_lead};

/// A lead id: 1–128 Unicode characters, chosen by the publisher; the idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct LeadId(String);

impl LeadId {
    pub const MAX_CHARS: usize = 128;

    pub fn parse(s: &str) -> Result<Self, String> {
        let n = s.chars().count();
        if n == 0 {
            return Err("`id` is empty".into());
        }
        if n > Self::MAX_CHARS {
            return Err(format!(
                "`id` has {n} characters, at most {} allowed",
                Self::MAX_CHARS
            ));
        }
        if s.contains('\0') {
            return Err("`id` contains a NUL character".into());
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LeadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated inbound lead. `payload` is the whole message object as received.
#[derive(Debug, Clone)]
pub struct Lead {
    pub id: LeadId,
    /// `received_at` from the message, if the publisher set it.
    pub received_at: Option<DateTime<Utc>>,
    pub payload: Map<String, Value>,
}

impl Lead {
    /// Looks up a dotted path (`contact.phone`, `attributes.budget`) in the payload.
    /// Array elements are addressed by index (`tags.0`).
    pub fn get_path<'a, S: AsRef<str>>(&'a self, segments: &[S]) -> Option<&'a Value> {
        let mut iter = segments.iter();
        let first = iter.next()?;
        let mut cur = self.payload.get(first.as_ref())?;
        for seg in iter {
            cur = match cur {
                Value::Object(m) => m.get(seg.as_ref())?,
                Value::Array(a) => a.get(seg.as_ref().parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// A string field at the top level, if present and a string.
    pub fn str_field(&self, key: &str) -> Option<&str> {
        self.payload.get(key).and_then(Value::as_str)
    }
}

/// Why a message was rejected; the label is bounded (used as a metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    TooLarge,
    InvalidUtf8,
    InvalidJson,
    NotAnObject,
    TooDeep,
    DuplicateKey,
    NulCharacter,
    InexactNumber,
    InvalidId,
    WrongFieldType,
}

impl RejectReason {
    /// Every reason, for the metrics exported at 0 from the start.
    pub const ALL: [RejectReason; 10] = [
        Self::TooLarge,
        Self::InvalidUtf8,
        Self::InvalidJson,
        Self::NotAnObject,
        Self::TooDeep,
        Self::DuplicateKey,
        Self::NulCharacter,
        Self::InexactNumber,
        Self::InvalidId,
        Self::WrongFieldType,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::InvalidJson => "invalid_json",
            Self::NotAnObject => "not_an_object",
            Self::TooDeep => "too_deep",
            Self::DuplicateKey => "duplicate_key",
            Self::NulCharacter => "nul_character",
            Self::InexactNumber => "inexact_number",
            Self::InvalidId => "invalid_id",
            Self::WrongFieldType => "wrong_field_type",
        }
    }
}

/// A rejected message: the reason label plus a human-readable detail
/// (goes into the `x-leadrouter-error` header as `label: detail`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", reason.label())]
pub struct Rejection {
    pub reason: RejectReason,
    pub detail: String,
}

impl Rejection {
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}
