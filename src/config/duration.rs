//! Durations in the configuration and on the command line: `humantime`'s syntax
//! (`30s`, `1m`, `24h`, `500ms`, `1h 30m`, `2d`), never a bare number.
use serde::{Deserializer, Serializer, de};
use std::fmt;
use std::time::Duration;

const EXPECTED: &str = "a duration like 30s, 1m, 24h, 500ms or 1h 30m";

/// Parses a duration. A bare number is refused: `60` could mean seconds or minutes.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let text = s.trim();
    if text.bytes().any(|b| b.is_ascii_digit())
        && text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    {
        return Err(bare_number(text));
    }
    humantime::parse_duration(text).map_err(|e| format!("expected {EXPECTED}, got {s:?} ({e})"))
}

fn bare_number(n: impl fmt::Display) -> String {
    format!("a bare number ({n}) is ambiguous: give a unit, e.g. {n}s or {n}m")
}

/// Formats a duration readably, in a form [`parse_duration`] reads back: `24h`,
/// `1h30m`, `1m1s`, `500ms`, `0s`. Hours at most (`24h` rather than `1day`), as the
/// spec writes defaults.
pub fn format_duration(d: Duration) -> String {
    let mut out = String::new();
    let mut secs = d.as_secs();
    for (unit, size) in [("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    let ms = d.subsec_millis();
    if ms > 0 {
        out.push_str(&format!("{ms}ms"));
    }
    if out.is_empty() {
        // Zero, or a sub-millisecond duration: round the latter up so it stays non-zero.
        out.push_str(if d.is_zero() { "0s" } else { "1ms" });
    }
    out
}

/// `#[serde(with = "duration::serde_form")]`: a duration written as text.
pub(crate) mod serde_form {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        // `deserialize_any`, so that a YAML number reaches `visit_u64` and gets the
        // bare-number message rather than a generic type error.
        d.deserialize_any(DurationVisitor)
    }

    struct DurationVisitor;

    impl de::Visitor<'_> for DurationVisitor {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(EXPECTED)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            parse_duration(v).map_err(E::custom)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
            Err(E::custom(bare_number(v)))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            Err(E::custom(bare_number(v)))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
            Err(E::custom(bare_number(v)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humantime_syntax() {
        for (text, expected) in [
            ("24h", Duration::from_secs(86_400)),
            ("1m", Duration::from_secs(60)),
            ("30s", Duration::from_secs(30)),
            ("500ms", Duration::from_millis(500)),
            ("1h30m", Duration::from_secs(5400)),
            ("1h 30m", Duration::from_secs(5400)),
            (" 2d ", Duration::from_secs(172_800)),
            ("10 minutes", Duration::from_secs(600)),
            ("0s", Duration::ZERO),
        ] {
            assert_eq!(parse_duration(text), Ok(expected), "{text:?}");
        }
    }

    #[test]
    fn bad_durations_are_refused_clearly() {
        for bad in ["", "h", "1x", "-1s", "99999999999999999999s", "soon"] {
            let e = parse_duration(bad).expect_err(bad);
            assert!(e.contains("like 30s"), "{bad:?}: {e}");
        }
        for bare in ["5", "60", "1.5"] {
            let e = parse_duration(bare).expect_err(bare);
            assert!(e.contains("bare number") && e.contains("unit"), "{e}");
        }
    }

    #[test]
    fn formatted_durations_read_back() {
        assert_eq!(format_duration(Duration::from_secs(86_400)), "24h");
        assert_eq!(format_duration(Duration::from_micros(10)), "1ms");
        for d in ["1h30m", "500ms", "0s", "48h", "1m1s", "1s250ms"] {
            assert_eq!(format_duration(parse_duration(d).unwrap()), d);
        }
    }
}
