//! How booleans and named choices are read. The file and the environment both go
//! through these, so `JSON`, `Json` and `json` (or `yes`, `on`, `1`) mean the same
//! wherever they are written.
use serde::{Deserializer, Serializer, de};
use std::fmt;

/// `#[serde(with = "value::flag")]`: `true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`,
/// in any case. Anything else (`2`, `maybe`) is refused.
pub(crate) mod flag {
    use super::*;

    pub fn serialize<S: Serializer>(v: &bool, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(*v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        // `deserialize_any`: the `config` crate would otherwise take any non-zero
        // number from the file as true, while the environment's "2" is refused.
        d.deserialize_any(FlagVisitor)
    }

    struct FlagVisitor;

    const EXPECTED: &str = "true or false (also yes/no, on/off, 1/0)";

    impl de::Visitor<'_> for FlagVisitor {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(EXPECTED)
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
            match v.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => Ok(true),
                "false" | "no" | "off" | "0" => Ok(false),
                _ => Err(E::custom(format!("expected {EXPECTED}, got {v:?}"))),
            }
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
            self.visit_str(&v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
            self.visit_str(&v.to_string())
        }
    }
}

/// A setting that takes one of a few names (`logging.format: text | json`). The
/// names are matched in any case; they are written back in lower case.
pub trait Choice: Sized + Copy + PartialEq + 'static {
    /// Every value with its name, in the order the docs list them.
    const CHOICES: &'static [(&'static str, Self)];

    fn name(self) -> &'static str {
        Self::CHOICES
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("?", |(n, _)| n)
    }
}

/// `Deserialize` for a [`Choice`].
pub(crate) fn deserialize_choice<'de, D: Deserializer<'de>, T: Choice>(
    d: D,
) -> Result<T, D::Error> {
    struct ChoiceVisitor<T>(std::marker::PhantomData<T>);

    impl<T: Choice> de::Visitor<'_> for ChoiceVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "one of {}", names::<T>())
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            T::CHOICES
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(v.trim()))
                .map(|(_, value)| *value)
                .ok_or_else(|| E::custom(format!("expected {}, got {v:?}", names::<T>())))
        }
    }
    d.deserialize_str(ChoiceVisitor(std::marker::PhantomData))
}

/// `Serialize` for a [`Choice`].
pub(crate) fn serialize_choice<S: Serializer, T: Choice>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.name())
}

/// `` `text` or `json` ``
fn names<T: Choice>() -> String {
    let names: Vec<String> = T::CHOICES.iter().map(|(n, _)| format!("`{n}`")).collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// `Serialize` and `Deserialize` for a [`Choice`] enum: `choice_serde!(LogFormat);`.
macro_rules! choice_serde {
    ($t:ty) => {
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::config::value::deserialize_choice(d)
            }
        }
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                $crate::config::value::serialize_choice(self, s)
            }
        }
    };
}
pub(crate) use choice_serde;
