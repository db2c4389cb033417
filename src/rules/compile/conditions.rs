//! A rule's `when`: condition maps, `any`/`all`/`not`, and operator maps on one key.
//!
//! Each leaf gets its trace description here, once, from [`Operator::describe`].
use super::{Compiler, list_or_none, show};
use crate::rules::condition::{Condition, FieldPath, Op, Subject};
use crate::rules::operator::Operator;
use serde_json::Value as Json;
use serde_yaml::{Mapping, Value as Yaml};
use std::collections::HashSet;
use std::sync::Arc;

impl Compiler<'_> {
    /// `when:` — `None` for an empty map (no condition) or after an error.
    pub(super) fn when(
        &mut self,
        at: &str,
        v: &Yaml,
        regions: &HashSet<&str>,
    ) -> Option<Condition> {
        match v.as_mapping() {
            Some(wm) if wm.is_empty() => None,
            Some(wm) => self.condition_map(at, wm, regions),
            None => {
                self.err(at, "`when` must be a mapping of conditions");
                None
            }
        }
    }

    /// A `when` map (or an element of `any`/`all`, or the body of `not`): every key holds.
    fn condition_map(
        &mut self,
        at: &str,
        m: &Mapping,
        regions: &HashSet<&str>,
    ) -> Option<Condition> {
        let mut parts = Vec::new();
        let mut ok = true;
        for (k, v) in m {
            let Some(key) = self.key_str(k, at) else {
                ok = false;
                continue;
            };
            let at_k = format!("{at}.{key}");
            let part = match key.as_str() {
                "any" | "all" => self.combinator(&at_k, &key, v, regions),
                "not" => self.not(&at_k, v, regions),
                "region" => self.leaf(&at_k, Subject::Region, "region", v, Some(regions)),
                path => match FieldPath::parse(path) {
                    Some(p) => self.leaf(&at_k, Subject::Field(p), path, v, None),
                    None => {
                        self.err(&at_k, format!("invalid field path `{path}`"));
                        None
                    }
                },
            };
            match part {
                Some(c) => parts.push(c),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        Some(if parts.len() == 1 {
            parts.pop()?
        } else {
            Condition::All(parts)
        })
    }

    fn not(&mut self, at: &str, v: &Yaml, regions: &HashSet<&str>) -> Option<Condition> {
        match v.as_mapping() {
            Some(inner) if !inner.is_empty() => self.condition_map(at, inner, regions).map(|c| {
                let describe = format!("no match: not ({})", describe_plain(&c));
                Condition::Not {
                    child: Box::new(c),
                    describe: Arc::from(describe),
                }
            }),
            _ => {
                self.err(
                    at,
                    "`not` takes one condition map, e.g. not: {contact.name: {prefix: TEST}}",
                );
                None
            }
        }
    }

    fn combinator(
        &mut self,
        at: &str,
        which: &str,
        v: &Yaml,
        regions: &HashSet<&str>,
    ) -> Option<Condition> {
        let Some(items) = v.as_sequence().filter(|s| !s.is_empty()) else {
            self.err(
                at,
                format!("`{which}` takes a non-empty list of condition maps"),
            );
            return None;
        };
        let mut children = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at_i = format!("{at}.{i}");
            match item.as_mapping() {
                Some(m) if !m.is_empty() => children.push(self.condition_map(&at_i, m, regions)?),
                _ => {
                    self.err(
                        &at_i,
                        format!(
                            "each item of `{which}` is a condition map, got {}",
                            show(item)
                        ),
                    );
                    return None;
                }
            }
        }
        if which == "all" {
            return Some(Condition::All(children));
        }
        let inner: Vec<String> = children.iter().map(describe_plain).collect();
        let describe = Arc::from(format!("no match: any of [{}]", inner.join(", ")));
        Some(Condition::Any { children, describe })
    }

    /// `key: scalar` (equality) or `key: {op: value, ...}` (every operator holds).
    fn leaf(
        &mut self,
        at: &str,
        subject: Subject,
        label: &str,
        v: &Yaml,
        regions: Option<&HashSet<&str>>,
    ) -> Option<Condition> {
        let ops: Vec<(String, Op)> = match v {
            Yaml::Mapping(m) => {
                if m.is_empty() {
                    self.err(at, format!("`{label}`: empty operator map"));
                    return None;
                }
                let mut ops = Vec::new();
                for (ok, ov) in m {
                    let name = ok.as_str().unwrap_or("");
                    let Some(operator) = Operator::parse(name) else {
                        let hint = if name.is_empty() {
                            String::new()
                        } else {
                            format!("; to test a nested field write `{label}.{name}:`")
                        };
                        self.err(
                            at,
                            format!(
                                "`{label}`: unknown operator {} (operators: {}){hint}",
                                show(ok),
                                Operator::names()
                            ),
                        );
                        return None;
                    };
                    let op = self.operator(at, label, operator, ov)?;
                    ops.push((operator.describe(label, &show(ov)), op));
                }
                ops
            }
            Yaml::Sequence(_) => {
                self.err(
                    at,
                    format!("`{label}`: a list is ambiguous here; write `{label}: {{in: [...]}}`"),
                );
                return None;
            }
            Yaml::Null => {
                self.err(
                    at,
                    format!(
                        "`{label}`: no value; to test that it is missing write `{label}: {{exists: false}}`"
                    ),
                );
                return None;
            }
            scalar => {
                let j = self.scalar(at, label, scalar)?;
                vec![(Operator::Eq.describe(label, &show(scalar)), Op::Eq(j))]
            }
        };
        if let Some(regions) = regions
            && !self.regions_known(at, &ops, regions)
        {
            return None;
        }
        let mut leaves: Vec<Condition> = ops
            .into_iter()
            .map(|(d, op)| Condition::Leaf {
                subject: subject.clone(),
                op,
                describe: Arc::from(format!("no match: {d}")),
            })
            .collect();
        Some(if leaves.len() == 1 {
            leaves.pop()?
        } else {
            Condition::All(leaves)
        })
    }

    /// Every region a `region:` condition names is defined (`eq ne in not_in`).
    fn regions_known(&mut self, at: &str, ops: &[(String, Op)], regions: &HashSet<&str>) -> bool {
        for (_, op) in ops {
            let named: Vec<&Json> = match op {
                Op::Eq(x) | Op::Ne(x) => vec![x],
                Op::In(xs) | Op::NotIn(xs) => xs.iter().collect(),
                _ => vec![],
            };
            for n in named {
                if !n.as_str().is_some_and(|s| regions.contains(s)) {
                    let mut known: Vec<&str> = regions.iter().copied().collect();
                    known.sort();
                    self.err(
                        at,
                        format!("unknown region {n} (regions: {})", list_or_none(&known)),
                    );
                    return false;
                }
            }
        }
        true
    }
}

/// A condition's description without the "no match: " prefix (for nesting).
fn describe_plain(c: &Condition) -> String {
    let strip = |d: &Arc<str>| d.strip_prefix("no match: ").unwrap_or(d).to_owned();
    match c {
        Condition::All(children) => children
            .iter()
            .map(describe_plain)
            .collect::<Vec<_>>()
            .join(" and "),
        Condition::Any { describe, .. }
        | Condition::Not { describe, .. }
        | Condition::Leaf { describe, .. } => strip(describe),
    }
}
