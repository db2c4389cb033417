//! Known contacts (SPEC 3.5): the keys a lead's contact is matched by, normalised so the
//! same person typed differently matches. The rules are kept to ASCII on purpose, so the
//! SQL that backfills stored leads can apply exactly the same ones whatever the
//! database's collation: `btrim(email, E' \t\n\f\r')` and a lowercasing of A-Z only;
//! `regexp_replace(phone, '[^0-9]', '', 'g')`, then the leading 1 of 11 digits dropped.
use crate::lead::Lead;
use crate::rules::ContactField;
use serde_json::Value;

/// A phone with fewer digits than this never matches (an extension, a typo, `0`).
pub const MIN_PHONE_DIGITS: usize = 7;

/// One normalised key of a lead's contact: what two leads must share to be the same
/// contact.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContactKey {
    pub field: ContactField,
    /// Normalised: see [`normalize_email`], [`normalize_phone`].
    pub value: String,
}

impl ContactKey {
    /// The key of a raw `contact.email` or `contact.phone`; `None` when it cannot match.
    pub fn new(field: ContactField, raw: &str) -> Option<Self> {
        let value = match field {
            ContactField::Email => normalize_email(raw),
            ContactField::Phone => normalize_phone(raw),
        }?;
        Some(Self { field, value })
    }

    /// The lead's keys among `fields`, in that order (those it has and that can match).
    pub fn of_lead(lead: &Lead, fields: &[ContactField]) -> Vec<ContactKey> {
        let contact = lead.payload.get("contact").and_then(Value::as_object);
        fields
            .iter()
            .filter_map(|&f| {
                let raw = contact?.get(f.as_str())?.as_str()?;
                Self::new(f, raw)
            })
            .collect()
    }
}

/// Trimmed (ASCII white space) and lowercased (A-Z). `None` unless it has something
/// before and after an `@`: `n/a`, `-` or `none` typed into a form must not make
/// strangers one contact.
pub fn normalize_email(raw: &str) -> Option<String> {
    let e = raw
        .trim_matches(|c: char| c.is_ascii_whitespace())
        .to_ascii_lowercase();
    let (local, domain) = e.rsplit_once('@')?;
    (!local.is_empty() && !domain.is_empty()).then_some(e)
}

/// Digits only; the leading `1` of an 11-digit number dropped (`+1 (555) 123-4567` is
/// `5551234567`); `None` with fewer than [`MIN_PHONE_DIGITS`] digits.
pub fn normalize_phone(raw: &str) -> Option<String> {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    let digits = match digits.strip_prefix('1') {
        Some(rest) if digits.len() == 11 => rest.to_owned(),
        _ => digits,
    };
    (digits.len() >= MIN_PHONE_DIGITS).then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        let e = |s| normalize_email(s);
        assert_eq!(
            e("  Jane.Doe@Example.COM \t"),
            Some("jane.doe@example.com".into())
        );
        assert_eq!(e("jane@example.com"), e("JANE@EXAMPLE.COM"));
        for never in ["", "   ", "n/a", "none", "@example.com", "jane@", "@"] {
            assert_eq!(e(never), None, "{never:?}");
        }
        // Non-ASCII letters are left as typed (the SQL lowercases A-Z only, too).
        assert_eq!(e("ÄBC@x.de"), Some("Äbc@x.de".into()));
    }

    #[test]
    fn phones() {
        let p = |s| normalize_phone(s);
        let us = Some("5551234567".to_owned());
        for same in [
            "5551234567",
            "(555) 123-4567",
            "+1 555 123 4567",
            "1-555-123-4567",
            "555.123.4567",
            " +1 (555) 123-4567 ",
        ] {
            assert_eq!(p(same), us, "{same:?}");
        }
        // Only an 11-digit number loses its leading 1.
        assert_eq!(p("15551234"), Some("15551234".into()));
        assert_eq!(p("25551234567"), Some("25551234567".into()));
        assert_eq!(p("+44 20 7946 0958"), Some("442079460958".into()));
        assert_eq!(p("123-4567"), Some("1234567".into()), "7 digits match");
        for never in ["", "123456", "12-34-56", "ext. 12", "+1", "n/a", "1 12345"] {
            assert_eq!(p(never), None, "{never:?}");
        }
    }
}
