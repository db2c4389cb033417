//! Showing an AMQP URL without its password.

/// The URL with the password (if any) replaced by `***`, for logs and errors.
/// `amqp://guest:secret@host:5672/%2f` → `amqp://guest:***@host:5672/%2f`.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    // The authority ends at the first '/', '?' or '#'; userinfo is before its last '@'
    // (a raw '@' in a password is invalid but seen in the wild: hide all of it).
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let (userinfo, host) = authority.split_at(at);
    let user = match userinfo.find(':') {
        Some(colon) => &userinfo[..colon],
        // No password in the URL: nothing secret to hide.
        None => return url.to_owned(),
    };
    format!("{scheme}{user}:***{host}{tail}")
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn hides_password() {
        assert_eq!(
            redact_url("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(
            redact_url("amqps://u:p%40ss@h/v?heartbeat=5"),
            "amqps://u:***@h/v?heartbeat=5"
        );
        assert_eq!(redact_url("amqp://u:p@ss@h/v"), "amqp://u:***@h/v");
        assert_eq!(redact_url("u:pw@h"), "u:***@h");
    }

    #[test]
    fn leaves_urls_without_password() {
        for url in [
            "amqp://127.0.0.1",
            "amqp://user@host/vh",
            "amqp://h/v?x=a:b@c",
            "",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }
}
