//! A rule's `assign:` — `unassigned` or a one-key mapping naming who gets the lead.
use super::{Compiler, list_or_none, show};
use crate::config::parse_duration;
use crate::rules::condition::FieldPath;
use crate::rules::model::{Action, ContactField, ContactMatch, Pool};
use serde_yaml::Value as Yaml;
use std::collections::BTreeMap;
use std::time::Duration;

/// The keys of an `assign: {KEY: ..}` mapping, each with what it takes (for help texts).
#[derive(Debug, Clone, Copy)]
enum Assignment {
    AgentFrom,
    Agent,
    Pool,
    Queue,
    OwnerOfContact,
}

impl Assignment {
    const ALL: [Assignment; 5] = [
        Self::AgentFrom,
        Self::Agent,
        Self::Pool,
        Self::Queue,
        Self::OwnerOfContact,
    ];

    fn key(self) -> &'static str {
        match self {
            Self::AgentFrom => "agent_from",
            Self::Agent => "agent",
            Self::Pool => "pool",
            Self::Queue => "queue",
            Self::OwnerOfContact => "owner_of_contact",
        }
    }

    /// What the value is, in the help text: `{agent_from: FIELD}`.
    fn takes(self) -> &'static str {
        match self {
            Self::AgentFrom => "FIELD",
            Self::Agent => "ID",
            Self::Pool | Self::Queue => "NAME",
            Self::OwnerOfContact => "{match: [email, phone], within: DURATION}",
        }
    }

    fn parse(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.key() == key)
    }
}

/// `assign` written without a mapping.
const UNASSIGNED: &str = "unassigned";

/// How far back `owner_of_contact` looks when `within` is left out (SPEC 3.5).
const DEFAULT_WITHIN: Duration = Duration::from_secs(365 * 24 * 3600);

impl Compiler<'_> {
    /// `agent_from, agent, pool, queue, owner_of_contact, unassigned`: every form `assign` takes.
    pub(super) fn assign_kinds() -> String {
        let mut kinds: Vec<&str> = Assignment::ALL.map(Assignment::key).to_vec();
        kinds.push(UNASSIGNED);
        kinds.join(", ")
    }

    pub(super) fn assign(
        &mut self,
        at: &str,
        v: &Yaml,
        pools: &BTreeMap<String, Pool>,
    ) -> Option<Action> {
        if v.as_str() == Some(UNASSIGNED) {
            return Some(Action::Unassigned);
        }
        let Some(m) = v.as_mapping().filter(|m| m.len() == 1) else {
            self.err(at, format!("invalid {}; expected {}", show(v), help()));
            return None;
        };
        let (k, val) = m.iter().next()?;
        let kind = k.as_str().and_then(Assignment::parse);
        if let Some(Assignment::OwnerOfContact) = kind {
            return self.contact_match(at, val).map(Action::OwnerOfContact);
        }
        let Some(kind) = kind else {
            // A bad value is reported first, as for a known key.
            if self.assigned_name(at, k, val).is_some() {
                self.err(
                    at,
                    format!("unknown assignment {}; expected {}", show(k), help()),
                );
            }
            return None;
        };
        // Each kind reads its own value (all but owner_of_contact, above, a name).
        match kind {
            Assignment::AgentFrom => {
                let s = self.assigned_name(at, k, val)?;
                match FieldPath::parse(s) {
                    Some(p) => Some(Action::AgentFrom(p)),
                    None => {
                        self.err(at, format!("agent_from: invalid field path `{s}`"));
                        None
                    }
                }
            }
            Assignment::Agent => Some(Action::Agent(self.assigned_name(at, k, val)?.to_owned())),
            Assignment::Pool => {
                let s = self.assigned_name(at, k, val)?;
                if pools.contains_key(s) {
                    return Some(Action::Pool(s.to_owned()));
                }
                let known: Vec<&str> = pools.keys().map(String::as_str).collect();
                self.err(
                    at,
                    format!("unknown pool `{s}` (pools: {})", list_or_none(&known)),
                );
                None
            }
            Assignment::Queue => Some(Action::Queue(self.assigned_name(at, k, val)?.to_owned())),
            Assignment::OwnerOfContact => None, // read above
        }
    }

    /// `{match: [email, phone], within: 365d}`: `match` required (the keys compared, at
    /// least one, each once), `within` a duration, 365 days when left out.
    fn contact_match(&mut self, at: &str, v: &Yaml) -> Option<ContactMatch> {
        let at = format!("{at}.owner_of_contact");
        let keys_known = || ContactField::ALL.map(ContactField::as_str).join(", ");
        let Some(m) = v.as_mapping() else {
            self.err(
                &at,
                format!(
                    "owner_of_contact takes {{match: [{}], within: DURATION}}, got {}",
                    keys_known(),
                    show(v)
                ),
            );
            return None;
        };
        let errors_before = self.errors.len();
        for k in m.keys() {
            if !matches!(k.as_str(), Some("match" | "within")) {
                self.err(
                    &at,
                    format!(
                        "owner_of_contact: unknown key {} (expected match, within)",
                        show(k)
                    ),
                );
            }
        }
        let mut keys = Vec::new();
        match m.get("match") {
            Some(Yaml::Sequence(items)) if !items.is_empty() => {
                for item in items {
                    match item.as_str().and_then(ContactField::parse) {
                        Some(f) if keys.contains(&f) => self.err(
                            &format!("{at}.match"),
                            format!(
                                "owner_of_contact: `{}` is listed twice in match",
                                f.as_str()
                            ),
                        ),
                        Some(f) => keys.push(f),
                        None => self.err(
                            &format!("{at}.match"),
                            format!(
                                "owner_of_contact: cannot match by {} (match by {})",
                                show(item),
                                keys_known()
                            ),
                        ),
                    }
                }
            }
            other => self.err(
                &format!("{at}.match"),
                format!(
                    "owner_of_contact needs `match`: a non-empty list of {}, got {}",
                    keys_known(),
                    other.map_or_else(|| "nothing".to_owned(), show)
                ),
            ),
        }
        let within = match m.get("within") {
            None => DEFAULT_WITHIN,
            Some(w) => {
                let parsed = match w.as_str() {
                    Some(text) => parse_duration(text),
                    None if w.is_number() => parse_duration(&show(w)),
                    None => Err(format!("expected a duration like 365d, got {}", show(w))),
                };
                match parsed {
                    Ok(d) if !d.is_zero() => d,
                    Ok(_) => {
                        self.err(
                            &format!("{at}.within"),
                            "owner_of_contact: `within` must be longer than 0",
                        );
                        DEFAULT_WITHIN
                    }
                    Err(e) => {
                        self.err(
                            &format!("{at}.within"),
                            format!("owner_of_contact: `within`: {e}"),
                        );
                        DEFAULT_WITHIN
                    }
                }
            }
        };
        (self.errors.len() == errors_before).then_some(ContactMatch { keys, within })
    }

    /// The name an assignment gives (trimmed), or an error.
    fn assigned_name<'v>(&mut self, at: &str, k: &Yaml, val: &'v Yaml) -> Option<&'v str> {
        let name = val.as_str().map(str::trim).filter(|s| !s.is_empty());
        if name.is_none() {
            self.err(
                at,
                format!("`{}` needs a non-empty name, got {}", show(k), show(val)),
            );
        }
        name
    }
}

/// `assign: {agent_from: FIELD} | {agent: ID} | ... | unassigned`
fn help() -> String {
    let forms: Vec<String> = Assignment::ALL
        .iter()
        .map(|a| format!("{{{}: {}}}", a.key(), a.takes()))
        .collect();
    format!("assign: {} | {UNASSIGNED}", forms.join(" | "))
}
