//! Byte-level pre-scan of the JSON text, run before serde_json sees it.
//!
//! It does two things serde_json cannot do for us: refuse deep nesting without
//! recursing (hostile `[[[[…` must never reach a recursive parser), and look at each
//! number token's exact text, which serde_json (without `arbitrary_precision`) throws
//! away. It never decides that the text is invalid JSON: anything it does not
//! understand is left for serde_json to report.
use super::number;
use crate::lead::{RejectReason, Rejection};

/// What the scan found that is not fatal by itself (serde_json still has to agree
/// the text is JSON before we blame a number).
#[derive(Debug, Default)]
pub(super) struct ScanReport {
    /// The first number token that cannot be kept exactly, as a rejection.
    pub inexact: Option<Rejection>,
}

/// Scans `text`; fails fast with `TooDeep` once nesting exceeds `max_depth`
/// (the top-level container is depth 1).
pub(super) fn scan(text: &str, max_depth: usize) -> Result<ScanReport, Rejection> {
    let bytes = text.as_bytes();
    let mut report = ScanReport::default();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut i = 0usize;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                // Skip the escaped byte so `\"` does not end the string. The input is
                // valid UTF-8, so the escaped byte is never part of a multibyte char
                // in valid JSON, and in invalid JSON serde_json will complain anyway.
                b'\\' => i += 2,
                b'"' => {
                    in_string = false;
                    i += 1;
                }
                _ => i += 1,
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                i += 1;
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > max_depth {
                    let (line, column) = line_column(bytes, i);
                    return Err(Rejection::new(
                        RejectReason::TooDeep,
                        format!(
                            "nesting deeper than {max_depth} levels at line {line} column {column}"
                        ),
                    ));
                }
                i += 1;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len()
                    && matches!(bytes[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                if report.inexact.is_none() {
                    // All bytes in the token are ASCII, so these are char boundaries.
                    if let Some(token) = text.get(start..i)
                        && let Err(why) = number::check_exact(token)
                    {
                        let (line, column) = line_column(bytes, start);
                        report.inexact = Some(Rejection::new(
                            RejectReason::InexactNumber,
                            format!("{why} at line {line} column {column}"),
                        ));
                    }
                }
            }
            _ => i += 1,
        }
    }
    Ok(report)
}

/// 1-based line and column (in bytes, like serde_json) of byte offset `at`.
fn line_column(bytes: &[u8], at: usize) -> (usize, usize) {
    let before = &bytes[..at.min(bytes.len())];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    (line, at - line_start + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let text = format!("{{\"a\":\"{}\\\"{}\"}}", "[".repeat(100), "{".repeat(100));
        assert!(scan(&text, 2).is_ok());
    }

    #[test]
    fn depth_is_counted_from_one() {
        assert!(scan("[[]]", 2).is_ok());
        assert_eq!(scan("[[[]]]", 2).unwrap_err().reason, RejectReason::TooDeep);
    }

    #[test]
    fn numbers_in_strings_are_ignored() {
        let r = scan(r#"{"a":"1e400","b\"1e400":1}"#, 64).unwrap();
        assert!(r.inexact.is_none());
    }

    #[test]
    fn line_column_is_one_based() {
        assert_eq!(line_column(b"ab\ncd", 0), (1, 1));
        assert_eq!(line_column(b"ab\ncd", 4), (2, 2));
    }
}
