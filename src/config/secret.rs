//! [`SecretUrl`]: a connection URL that may hold a password.
use crate::redact::redact_url;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A URL that may hold a password. `Debug`, `Display` and `Serialize` show it
/// redacted; [`SecretUrl::expose`] is the one way to the real text, meant for handing
/// to a client library when connecting.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with its password, for connecting. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with its password replaced by `***`, for logs and errors.
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }

    /// `text` (a client library's message about this URL) with the password hidden.
    pub fn scrub(&self, text: &str) -> String {
        crate::redact::scrub(text, &self.0)
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({:?})", self.redacted())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SecretUrl)
    }
}

#[cfg(test)]
mod tests {
    use super::SecretUrl;

    #[test]
    fn every_way_of_showing_it_hides_the_password() {
        let url = SecretUrl::new("amqp://svc:s3cret@mq:5672/%2f");
        for shown in [
            format!("{url:?}"),
            url.to_string(),
            serde_json::to_string(&url).unwrap(),
            serde_yaml::to_string(&url).unwrap(),
            url.redacted(),
            url.scrub("connecting to amqp://svc:s3cret@mq:5672/%2f failed: s3cret"),
        ] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("svc:***@mq"), "{shown}");
        }
        assert_eq!(url.expose(), "amqp://svc:s3cret@mq:5672/%2f");
    }
}
