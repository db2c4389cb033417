//! Builds a `serde_json::Value` like `serde_json::from_str` does, but refuses a key
//! repeated in one object (serde_json keeps the last silently) and any NUL character
//! (PostgreSQL jsonb cannot store it).
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::cell::Cell;
use std::fmt;

use crate::lead::RejectReason;

/// Which of our own checks failed, so the caller can tell it from a syntax error;
/// the message (with serde_json's line and column) goes into the detail.
#[derive(Default)]
pub(super) struct Failure(Cell<Option<RejectReason>>);

impl Failure {
    pub(super) fn reason(&self) -> Option<RejectReason> {
        self.0.get()
    }

    fn fail<E: de::Error>(&self, reason: RejectReason, msg: fmt::Arguments<'_>) -> E {
        self.0.set(Some(reason));
        E::custom(msg)
    }
}

/// Seed for one value; recursion depth is bounded by the pre-scan (64) and by
/// serde_json's own limit (128), so it cannot exhaust the stack.
#[derive(Clone, Copy)]
pub(super) struct StrictValue<'a>(pub(super) &'a Failure);

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // JSON text cannot produce NaN or infinity (serde_json errors on overflow),
        // but do not panic if it ever did.
        Number::from_f64(v).map(Value::Number).ok_or_else(|| {
            self.0.fail(
                RejectReason::InexactNumber,
                format_args!("number {v} is not finite"),
            )
        })
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        check_nul(self.0, v, "string")?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        check_nul(self.0, &v, "string")?;
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            check_nul(self.0, &key, "key")?;
            if map.contains_key(&key) {
                return Err(self.0.fail(
                    RejectReason::DuplicateKey,
                    format_args!("duplicate key {}", quoted(&key)),
                ));
            }
            let value = access.next_value_seed(self)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

fn check_nul<E: de::Error>(failure: &Failure, s: &str, what: &str) -> Result<(), E> {
    if s.contains('\0') {
        Err(failure.fail(
            RejectReason::NulCharacter,
            format_args!("{what} {} contains a NUL character (\\u0000)", quoted(s)),
        ))
    } else {
        Ok(())
    }
}

/// The text JSON-quoted and cut to a readable length, for detail messages.
pub(super) fn quoted(s: &str) -> String {
    const MAX_CHARS: usize = 40;
    let cut: String = s.chars().take(MAX_CHARS).collect();
    let mut out = Value::String(cut).to_string();
    if s.chars().nth(MAX_CHARS).is_some() {
        out.push('…');
    }
    out
}
