//! "A number that cannot be kept exactly as sent" (SPEC section 2), decided on the
//! token's text.
//!
//! Integers must fit i64/u64 (what serde_json stores exactly). Anything else becomes
//! an f64, so its shortest representation must denote the same decimal value as the
//! text: `1.10`, `1e2` and `0.1` survive, `3.141592653589793238` and `1e400` do not.

/// `Ok(())` if `token` is kept exactly, or when it is not a JSON number at all
/// (serde_json reports the syntax error); otherwise a short explanation.
pub(super) fn check_exact(token: &str) -> Result<(), String> {
    let Some(parts) = split(token) else {
        return Ok(());
    };
    if parts.frac.is_none() && parts.exp.is_none() {
        let fits = if parts.negative {
            token.parse::<i64>().is_ok()
        } else {
            token.parse::<u64>().is_ok()
        };
        return if fits {
            Ok(())
        } else {
            Err(format!(
                "integer {} does not fit in 64 bits",
                shorten(token)
            ))
        };
    }
    let value: f64 = token
        .parse()
        .map_err(|_| format!("number {} cannot be read", shorten(token)))?;
    if !value.is_finite() {
        return Err(format!("number {} is out of range", shorten(token)));
    }
    // What serde_json will write when the payload is stored (ryu's shortest digits).
    // Compare with that, not with Rust's `{:e}`: when two shortest forms tie, the two
    // formatters may pick different last digits, and only serde_json's is stored.
    let shortest =
        serde_json::Number::from_f64(value).map_or_else(|| format!("{value:e}"), |n| n.to_string());
    match (decimal(token), decimal(&shortest)) {
        (Some(a), Some(b)) if a == b => Ok(()),
        _ => Err(format!(
            "number {} cannot be stored exactly (it would become {shortest})",
            shorten(token)
        )),
    }
}

struct Parts<'a> {
    negative: bool,
    int: &'a str,
    frac: Option<&'a str>,
    exp: Option<&'a str>,
}

/// Splits a token by the JSON number grammar; `None` if it does not match.
fn split(token: &str) -> Option<Parts<'_>> {
    let (negative, rest) = match token.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, token),
    };
    let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    let int = &rest[..int_len];
    if int.is_empty() || (int.len() > 1 && int.starts_with('0')) {
        return None;
    }
    let mut rest = &rest[int_len..];
    let mut frac = None;
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        frac = Some(&r[..n]);
        rest = &r[n..];
    }
    let mut exp = None;
    if let Some(r) = rest.strip_prefix(['e', 'E']) {
        let unsigned = r.strip_prefix(['+', '-']).unwrap_or(r);
        let n = unsigned.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n != unsigned.len() {
            return None;
        }
        exp = Some(r);
        rest = "";
    }
    rest.is_empty().then_some(Parts {
        negative,
        int,
        frac,
        exp,
    })
}

/// A decimal value normalised to (negative, significant digits, exponent) so that
/// equal values compare equal: `1.10` and `1.1e0` and `11e-1` all become
/// (false, "11", -1). Zero is (false, "", 0) whatever its sign or exponent.
#[derive(Debug, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    digits: String,
    exp: i64,
}

fn decimal(text: &str) -> Option<Decimal> {
    let p = split(text)?;
    let frac = p.frac.unwrap_or("");
    let exp_text = p.exp.unwrap_or("0");
    let (exp_negative, exp_digits) = match exp_text.as_bytes().first() {
        Some(b'-') => (true, &exp_text[1..]),
        Some(b'+') => (false, &exp_text[1..]),
        _ => (false, exp_text),
    };
    // Saturate: an exponent this large makes the f64 0 or infinite anyway, and the
    // comparison still sees a difference.
    let mut exp: i64 = 0;
    for d in exp_digits.bytes() {
        exp = exp.saturating_mul(10).saturating_add(i64::from(d - b'0'));
    }
    if exp_negative {
        exp = -exp;
    }
    let all: String = p.int.chars().chain(frac.chars()).collect();
    let frac_len = i64::try_from(frac.len()).unwrap_or(i64::MAX);
    let mut exp = exp.saturating_sub(frac_len);
    let trimmed = all.trim_start_matches('0');
    if trimmed.is_empty() {
        return Some(Decimal {
            negative: false,
            digits: String::new(),
            exp: 0,
        });
    }
    let digits = trimmed.trim_end_matches('0');
    let trailing = i64::try_from(trimmed.len() - digits.len()).unwrap_or(i64::MAX);
    exp = exp.saturating_add(trailing);
    Some(Decimal {
        negative: p.negative,
        digits: digits.to_owned(),
        exp,
    })
}

/// Keeps details (and the dead-letter header) short for huge tokens.
fn shorten(token: &str) -> String {
    const MAX: usize = 40;
    if token.len() <= MAX {
        token.to_owned()
    } else {
        // Number tokens are ASCII, so any byte index is a char boundary.
        format!("{}… ({} characters)", &token[..MAX], token.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_numbers_pass() {
        for t in [
            "0",
            "-0",
            "1",
            "-1",
            "1.10",
            "1e2",
            "1E+2",
            "0.1",
            "-0.0",
            "0e999999999999999999999",
            "18446744073709551615",
            "-9223372036854775808",
            "1.5e-7",
            "2.5",
            "100.000",
            "1.7976931348623157e308",
            "5e-324",
            "123456789.125",
        ] {
            assert_eq!(check_exact(t), Ok(()), "{t}");
        }
    }

    #[test]
    fn inexact_numbers_fail() {
        for t in [
            "3.141592653589793238",
            "1e400",
            "-1e400",
            "123456789012345678901234",
            "18446744073709551616",
            "-9223372036854775809",
            "0.1000000000000000000001",
            "1e-400",
            "9007199254740993.0",
            "1e99999999999999999999999",
        ] {
            assert!(check_exact(t).is_err(), "{t}");
        }
    }

    #[test]
    fn non_numbers_are_left_to_serde() {
        for t in ["-", "01", "1.", ".5", "1e", "1e+", "1-2", "--1", "1.2.3"] {
            assert_eq!(check_exact(t), Ok(()), "{t}");
        }
    }

    #[test]
    fn normalisation() {
        assert_eq!(decimal("1.10"), decimal("11e-1"));
        assert_eq!(decimal("100"), decimal("1e2"));
        assert_eq!(decimal("-0.0"), decimal("0"));
        assert_ne!(decimal("-1"), decimal("1"));
    }
}
