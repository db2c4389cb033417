//! `rules:` the list tried top to bottom; one rule's keys.
use super::{Compiler, Parts, show};
use crate::rules::condition::FieldPath;
use crate::rules::model::{Action, AssigneeSource, IfHalted, Pool, Rule};
use serde_yaml::{Mapping, Value as Yaml};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// The keys a rule accepts.
const RULE_KEYS: &[&str] = &[
    "name",
    "when",
    "when_script",
    "assign",
    "script",
    "if_halted",
    "also_assign",
    "also_assign_from",
];

pub(super) fn section(c: &mut Compiler<'_>, v: Option<&Yaml>, parts: &mut Parts) {
    parts.rules = c.rules(v, parts);
}

impl Compiler<'_> {
    fn rules(&mut self, v: Option<&Yaml>, parts: &Parts) -> Option<Vec<Rule>> {
        let Some(items) = v.and_then(Yaml::as_sequence) else {
            self.err(
                "rules",
                "`rules` must be a list of rules (tried top to bottom)",
            );
            return None;
        };
        if items.is_empty() {
            self.err("rules", "`rules` is empty: at least one rule is needed");
        }
        let regions: HashSet<&str> = parts.regions.iter().map(|r| r.name.as_str()).collect();
        let mut names = HashSet::new();
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at = format!("rules.{i}");
            self.rule = None;
            let Some(m) = item.as_mapping() else {
                self.err(
                    &at,
                    format!(
                        "rule #{} must be a mapping with `name` and `assign` or `script`",
                        i + 1
                    ),
                );
                continue;
            };
            let name = match m.get("name").and_then(Yaml::as_str).map(str::trim) {
                Some(n) if !n.is_empty() => n.to_owned(),
                _ => {
                    self.err(&at, format!("rule #{} has no `name`", i + 1));
                    format!("#{}", i + 1)
                }
            };
            self.rule = Some(name.clone());
            if !names.insert(name.clone()) {
                self.err(
                    &format!("{at}.name"),
                    format!("duplicate rule name `{name}`"),
                );
            }
            if let Some(rule) = self.rule_body(&at, &name, m, &regions, &parts.pools) {
                out.push(rule);
            }
        }
        self.rule = None;
        Some(out)
    }

    fn rule_body(
        &mut self,
        at: &str,
        name: &str,
        m: &Mapping,
        regions: &HashSet<&str>,
        pools: &BTreeMap<String, Pool>,
    ) -> Option<Rule> {
        for k in m.keys() {
            if !k.as_str().is_some_and(|k| RULE_KEYS.contains(&k)) {
                self.err(
                    at,
                    format!(
                        "unknown key {} (expected {})",
                        show(k),
                        RULE_KEYS.join(", ")
                    ),
                );
            }
        }
        let when_v = m.get("when").filter(|v| !v.is_null());
        let when = when_v.and_then(|v| self.when(&format!("{at}.when"), v, regions));
        // A condition that failed to compile must have said why: were it dropped
        // silently, the rule would match every lead.
        let when_given = when_v.is_some_and(|v| v.as_mapping().is_some_and(|m| !m.is_empty()));
        if when_given && when.is_none() && !self.rule_has_errors(name) {
            self.err(&format!("{at}.when"), "invalid condition");
        }
        let when_script_src = m.get("when_script").and_then(|v| match v.as_str() {
            Some(s) => Some(s.to_owned()),
            None => {
                self.err(
                    &format!("{at}.when_script"),
                    "`when_script` must be a Rhai expression (a string)",
                );
                None
            }
        });
        let when_script = when_script_src
            .as_deref()
            .and_then(|src| self.inline_script(&format!("{at}.when_script"), src));
        let if_halted = self.if_halted(at, m.get("if_halted"));
        let action = match (m.get("assign"), m.get("script")) {
            (Some(a), None) => self.assign(&format!("{at}.assign"), a, pools),
            (None, Some(s)) => self.script_file(&format!("{at}.script"), s),
            (Some(_), Some(_)) => {
                self.err(at, "a rule has either `assign` or `script`, not both");
                None
            }
            (None, None) => {
                self.err(
                    at,
                    format!(
                        "a rule needs `assign` ({}) or `script`",
                        Self::assign_kinds()
                    ),
                );
                None
            }
        };
        if m.contains_key("if_halted")
            && matches!(
                action,
                Some(Action::Pool(_) | Action::Queue(_) | Action::Unassigned)
            )
        {
            self.err(
                &format!("{at}.if_halted"),
                "`if_halted` applies to agent assignments (agent_from, agent, owner_of_contact, script); pools always skip halted agents",
            );
        }
        let also_assign = self.also_assign(at, m);
        let action = action?;
        if self.rule_has_errors(name) {
            return None;
        }
        Some(Rule {
            name: Arc::from(name),
            line: self.pos.line(at).unwrap_or(0),
            when,
            when_script,
            action,
            if_halted,
            also_assign,
            when_source: when_v.cloned(),
            when_script_source: when_script_src,
        })
    }

    /// `also_assign_from: FIELD` and `also_assign: [ID, ..]`, in the order the rule
    /// writes them (the order assignees are added in). Any rule may have them: they
    /// apply whenever it decides, whatever it decides (an owner, a queue, unassigned).
    fn also_assign(&mut self, at: &str, m: &Mapping) -> Vec<AssigneeSource> {
        let mut out = Vec::new();
        for (k, v) in m {
            match k.as_str() {
                Some("also_assign") => {
                    let at = format!("{at}.also_assign");
                    if v.as_sequence().is_some_and(|s| s.is_empty()) {
                        self.err(
                            &at,
                            "`also_assign` is empty: list agent ids, or leave it out",
                        );
                        continue;
                    }
                    let ids = self.agent_list(&at, "`also_assign`", v);
                    if !ids.is_empty() {
                        out.push(AssigneeSource::Agents(ids));
                    }
                }
                Some("also_assign_from") => {
                    let at = format!("{at}.also_assign_from");
                    let text = v.as_str().map(str::trim).filter(|s| !s.is_empty());
                    match text.map(|t| (t, FieldPath::parse(t))) {
                        Some((_, Some(path))) => out.push(AssigneeSource::Field(path)),
                        Some((t, None)) => self.err(
                            &at,
                            format!("also_assign_from: invalid field path `{t}`"),
                        ),
                        None => self.err(
                            &at,
                            format!(
                                "`also_assign_from` names a lead field holding an agent id or a list of ids (e.g. `agent_id`), not {}",
                                show(v)
                            ),
                        ),
                    }
                }
                _ => {}
            }
        }
        out
    }

    fn if_halted(&mut self, at: &str, v: Option<&Yaml>) -> IfHalted {
        match v.map(|v| v.as_str()) {
            None | Some(Some("continue")) => IfHalted::Continue,
            Some(Some("assign")) => IfHalted::Assign,
            Some(other) => {
                self.err(
                    &format!("{at}.if_halted"),
                    format!("if_halted must be `continue` or `assign`, got {other:?}"),
                );
                IfHalted::Continue
            }
        }
    }
}
