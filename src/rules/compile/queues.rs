//! `queues:` name → {managers, members}: who may claim a queue's leads (SPEC 3.2).
use super::{Compiler, Parts, show};
use crate::rules::model::Queue;
use serde_yaml::Value as Yaml;

/// The keys a queue accepts.
const QUEUE_KEYS: &[&str] = &["managers", "members"];

pub(super) fn section(c: &mut Compiler<'_>, v: Option<&Yaml>, parts: &mut Parts) {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return;
    };
    let Some(m) = v.as_mapping() else {
        c.err(
            "queues",
            "`queues` must be a mapping of queue name to {managers, members}",
        );
        return;
    };
    for (k, body) in m {
        let Some(name) = c.key_str(k, "queues") else {
            continue;
        };
        if let Some(queue) = c.queue(&name, body) {
            parts.queues.insert(name, queue);
        }
    }
}

impl Compiler<'_> {
    fn queue(&mut self, name: &str, body: &Yaml) -> Option<Queue> {
        let at = format!("queues.{name}");
        let Some(body) = body.as_mapping() else {
            self.err(
                &at,
                format!(
                    "queue `{name}` must be a mapping with `managers` and/or `members`, not {}",
                    show(body)
                ),
            );
            return None;
        };
        let errors_before = self.errors.len();
        let mut queue = Queue {
            name: name.to_owned(),
            managers: Vec::new(),
            members: Vec::new(),
        };
        for (k, v) in body {
            let key = k.as_str().unwrap_or_default();
            let list = match key {
                "managers" => &mut queue.managers,
                "members" => &mut queue.members,
                _ => {
                    // The key's own line when it has one: the error points at the typo.
                    let at_key = format!("{at}.{key}");
                    self.err(
                        if key.is_empty() { &at } else { &at_key },
                        format!(
                            "queue `{name}`: unknown key {} (expected {})",
                            show(k),
                            QUEUE_KEYS.join(", ")
                        ),
                    );
                    continue;
                }
            };
            *list = self.agent_list(
                &format!("{at}.{key}"),
                &format!("queue `{name}`: `{key}`"),
                v,
            );
        }
        if queue.managers.is_empty()
            && queue.members.is_empty()
            && self.errors.len() == errors_before
        {
            self.err(
                &at,
                format!(
                    "queue `{name}` lists no managers and no members (a queue that no one claims from needs no entry here)"
                ),
            );
        }
        Some(queue)
    }

    /// A list of agent ids (non-empty strings, each once), as `managers`, `members` and
    /// `also_assign` take it. `what` names the list in errors.
    pub(super) fn agent_list(&mut self, at: &str, what: &str, v: &Yaml) -> Vec<String> {
        let Some(items) = v.as_sequence() else {
            self.err(
                at,
                format!("{what} must be a list of agent ids, not {}", show(v)),
            );
            return Vec::new();
        };
        let mut out: Vec<String> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at_i = format!("{at}.{i}");
            match item.as_str().map(str::trim) {
                Some(id) if !id.is_empty() => {
                    if out.iter().any(|o| o == id) {
                        self.err(&at_i, format!("{what}: agent `{id}` is listed twice"));
                    } else {
                        out.push(id.to_owned());
                    }
                }
                _ => self.err(
                    &at_i,
                    format!(
                        "{what}: an agent id is a non-empty string, not {}",
                        show(item)
                    ),
                ),
            }
        }
        out
    }
}
