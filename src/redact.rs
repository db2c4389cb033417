//! Hiding the secrets in connection URLs before they reach a log line or an error
//! message. The crate's one redactor: the configuration, the broker and the store all
//! show URLs through it.
//!
//! Written by hand rather than with a URL parser, so that a malformed URL (the kind
//! most likely to end up in an error message) never shows its password either. When
//! the text is ambiguous it hides more, not less.
//!
//! What counts as a secret:
//! - the password of `scheme://user:password@host/...` and of `user:password@host`
//!   without a scheme; a raw `@` or `/` inside the password is hidden with it (the
//!   userinfo ends at the last `@` before the query);
//! - the value of a `password=` parameter (any case), libpq style;
//! - each of these in every element of a comma-separated list of URLs
//!   (`amqp://a:x@h1,amqp://b:y@h2`). A comma starts a new element only when a
//!   `scheme://` follows it, so a comma inside a password does not split it.
//!
//! A raw `?` or `#` inside a password ends the authority for every URL parser, this
//! one too: such passwords must be percent-encoded (`%3F`, `%23`).
use std::ops::Range;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// `url` (or a comma-separated list of URLs) with every secret replaced by `***`:
/// `amqp://guest:secret@host:5672/%2f` → `amqp://guest:***@host:5672/%2f`.
pub fn redact_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let mut shown = 0;
    for span in secret_spans(url) {
        out.push_str(&url[shown..span.start]);
        out.push_str(MASK);
        shown = span.end;
    }
    out.push_str(&url[shown..]);
    out
}

/// `text` (a client library's message about `url`) with `url`'s secrets hidden
/// wherever they appear in it, whole URL or password alone.
pub fn scrub(text: &str, url: &str) -> String {
    let mut out = if url.is_empty() {
        text.to_owned()
    } else {
        text.replace(url, &redact_url(url))
    };
    for span in secret_spans(url) {
        let secret = &url[span];
        if secret != MASK {
            out = out.replace(secret, MASK);
        }
    }
    out
}

/// Byte ranges of the secrets in `s`, sorted and not overlapping.
fn secret_spans(s: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    for element in list_elements(s) {
        if let Some(password) = userinfo_password(s, element.clone()) {
            spans.push(password);
        }
        spans.extend(password_parameters(s, element));
    }
    spans.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start <= last.end => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    merged
}

/// The elements of a comma-separated list of URLs: a comma splits only where a
/// `scheme://` follows it.
fn list_elements(s: &str) -> Vec<Range<usize>> {
    let mut elements = Vec::new();
    let mut start = 0;
    for (i, _) in s.match_indices(',') {
        if scheme_len(&s[i + 1..]).is_some() {
            elements.push(start..i);
            start = i + 1;
        }
    }
    elements.push(start..s.len());
    elements
}

/// The length of `scheme://` if `s` starts with one (RFC 3986: a letter, then
/// letters, digits, `+`, `-` or `.`).
fn scheme_len(s: &str) -> Option<usize> {
    let name = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .unwrap_or(s.len());
    let starts_with_letter = s.as_bytes().first().is_some_and(u8::is_ascii_alphabetic);
    (starts_with_letter && s[name..].starts_with("://")).then_some(name + 3)
}

/// The password of the element's userinfo (`user:password@`), if it has a non-empty one.
fn userinfo_password(s: &str, element: Range<usize>) -> Option<Range<usize>> {
    let text = &s[element.clone()];
    let start = scheme_len(text).unwrap_or(0);
    // The authority ends at the query or fragment; a raw '/' or '@' before them is
    // taken as part of the userinfo when an '@' follows it.
    let end = text[start..]
        .find(['?', '#'])
        .map_or(text.len(), |i| start + i);
    let at = start + text[start..end].rfind('@')?;
    let colon = start + text[start..at].find(':')?;
    (colon + 1 < at).then(|| element.start + colon + 1..element.start + at)
}

/// The values of `password=` parameters (any case) in the element: in a query string
/// (`?password=x&...`) or a libpq keyword list (`host=db password=x`).
fn password_parameters(s: &str, element: Range<usize>) -> Vec<Range<usize>> {
    const KEY: &[u8] = b"password=";
    let bytes = &s.as_bytes()[element.clone()];
    let mut spans = Vec::new();
    let mut i = 0;
    while i + KEY.len() <= bytes.len() {
        let starts_parameter = i == 0 || matches!(bytes[i - 1], b'?' | b'&' | b';' | b' ' | b'\t');
        if starts_parameter && bytes[i..i + KEY.len()].eq_ignore_ascii_case(KEY) {
            let value = i + KEY.len();
            let value_end = bytes[value..]
                .iter()
                .position(|b| matches!(b, b'&' | b'#' | b' ' | b'\t' | b'\n' | b'\r'))
                .map_or(bytes.len(), |n| value + n);
            if value_end > value {
                spans.push(element.start + value..element.start + value_end);
            }
            i = value_end;
        } else {
            i += 1;
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hides_userinfo_passwords() {
        for (url, shown) in [
            (
                "amqp://guest:guest@127.0.0.1:5672/%2f",
                "amqp://guest:***@127.0.0.1:5672/%2f",
            ),
            ("postgres://u:p@h:5432/db", "postgres://u:***@h:5432/db"),
            (
                "amqps://u:p%40ss@h/v?heartbeat=5",
                "amqps://u:***@h/v?heartbeat=5",
            ),
            // A raw '@' or '/' in the password (invalid, but seen in the wild).
            ("amqp://u:p@ss@h/%2f", "amqp://u:***@h/%2f"),
            ("amqp://u:ab/cd+ef@h/v", "amqp://u:***@h/v"),
            // No scheme.
            ("u:pw@h", "u:***@h"),
            ("guest:hunter2@host:5672", "guest:***@host:5672"),
            // No user.
            ("amqp://:pw@h", "amqp://:***@h"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn hides_password_parameters_in_any_case() {
        assert_eq!(
            redact_url("postgres://h/db?user=u&password=p&x=1"),
            "postgres://h/db?user=u&password=***&x=1"
        );
        assert_eq!(
            redact_url("postgres://h/db?PassWord=p%26q"),
            "postgres://h/db?PassWord=***"
        );
        assert_eq!(
            redact_url("host=db user=app password=s3cret dbname=x"),
            "host=db user=app password=*** dbname=x"
        );
        // Not a parameter of its own: left alone.
        assert_eq!(
            redact_url("postgres://h/db?oldpassword=x"),
            "postgres://h/db?oldpassword=x"
        );
    }

    #[test]
    fn hides_every_element_of_a_list() {
        assert_eq!(
            redact_url("amqp://a:x@h1:5672/%2f,amqps://b:y@h2/%2f"),
            "amqp://a:***@h1:5672/%2f,amqps://b:***@h2/%2f"
        );
        // A comma inside a password does not split the list.
        assert_eq!(redact_url("amqp://a:x,y@h1"), "amqp://a:***@h1");
        // Without schemes the elements cannot be told apart: all of it is hidden.
        assert_eq!(redact_url("a:x@h1,b:y@h2"), "a:***@h2");
    }

    #[test]
    fn leaves_urls_without_secrets() {
        for url in [
            "amqp://127.0.0.1",
            "amqp://user@host/vh",
            "amqp://h/v?x=a:b@c",
            "postgres://postgres@127.0.0.1:5432/leadrouter",
            "postgres://h/db",
            "amqp://u:@h",
            "not a url",
            "",
            "amqp://h1,amqp://h2",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }

    #[test]
    fn scrub_hides_the_password_inside_a_message() {
        let url = "amqp://u:hunter2@h:x/%2f";
        let message = format!("invalid port in {url}: 'hunter2@h:x' is not a number");
        let shown = scrub(&message, url);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("amqp://u:***@h:x/%2f"), "{shown}");
        assert_eq!(scrub("no url here", ""), "no url here");
    }

    const SCHEMES: &[&str] = &["amqp://", "amqps://", "postgres://", "postgresql://"];

    /// `(url, what the redactor must show, the password)` for a URL with a password,
    /// with one of `schemes` (`""` for none).
    fn url_with_password(
        schemes: &'static [&'static str],
    ) -> impl Strategy<Value = (String, String, String)> {
        (
            prop::sample::select(schemes),
            "[a-z0-9._-]{0,8}",
            // Anything a careless operator might paste, '@', ':' and '/' included;
            // '?' and '#' must be percent-encoded (see the module doc).
            "[A-Za-z0-9@:/%+=!$&'()*;,~._-]{1,16}"
                .prop_filter("a `,scheme://` would start a new URL", |p| {
                    !p.contains("://")
                }),
            "[a-z0-9-]{1,10}(\\.[a-z]{2,3})?(:[0-9]{1,5})?",
            "(/[a-zA-Z0-9%._-]{0,10})?(\\?[a-z_]{1,8}=[a-z0-9]{0,6})?",
        )
            .prop_map(|(scheme, user, password, host, rest)| {
                (
                    format!("{scheme}{user}:{password}@{host}{rest}"),
                    format!("{scheme}{user}:***@{host}{rest}"),
                    password,
                )
            })
    }

    fn any_url_with_password() -> impl Strategy<Value = (String, String, String)> {
        prop_oneof![url_with_password(SCHEMES), url_with_password(&[""])]
    }

    proptest! {
        #[test]
        fn the_password_never_shows((url, shown, password) in any_url_with_password()) {
            let redacted = redact_url(&url);
            prop_assert_eq!(&redacted, &shown);
            if !shown.contains(&password) {
                prop_assert!(!redacted.contains(&password));
            }
        }

        #[test]
        fn no_password_of_a_list_shows(urls in prop::collection::vec(url_with_password(SCHEMES), 1..4)) {
            let list: Vec<&str> = urls.iter().map(|(u, _, _)| u.as_str()).collect();
            let expected: Vec<&str> = urls.iter().map(|(_, s, _)| s.as_str()).collect();
            prop_assert_eq!(redact_url(&list.join(",")), expected.join(","));
        }

        #[test]
        fn urls_without_secrets_are_unchanged(
            url in "(amqps?|postgres(ql)?)://([a-z0-9._-]{1,8}@)?[a-z0-9.-]{1,12}(:[0-9]{1,5})?(/[a-zA-Z0-9%._-]{0,10})?(\\?[a-z_]{1,8}=[a-z0-9:@]{0,6}(&[a-z_]{1,8}=[a-z0-9]{0,6})?)?"
        ) {
            prop_assume!(!url.to_ascii_lowercase().contains("password="));
            prop_assert_eq!(redact_url(&url), url);
        }

        #[test]
        fn never_panics_and_is_stable(s in any::<String>()) {
            let once = redact_url(&s);
            prop_assert_eq!(redact_url(&once), once.clone());
            let _ = scrub(&s, &s);
        }

        #[test]
        fn never_panics_on_url_like_text(s in "[a-zA-Z:/@?#&=%,. é]{0,40}") {
            let once = redact_url(&s);
            prop_assert_eq!(redact_url(&once), once.clone());
            let _ = scrub(&once, &s);
        }
    }
}
