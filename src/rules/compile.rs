//! Rules YAML → [`Ruleset`], collecting every error with its file, line and rule.
use super::condition::{Condition, FieldPath, Op, Subject};
use super::model::{Action, IfHalted, Region, Rule};
use super::positions::Positions;
use super::script::{Limits, Sandbox, Script};
use super::{Diagnostic, Loaded, Member, Pool, RulesError, Ruleset, Strategy, hash_sources, lint};
use regex::RegexBuilder;
use serde_json::Value as Json;
use serde_yaml::{Mapping, Value as Yaml};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const OPERATORS: &[&str] = &[
    "eq", "ne", "in", "not_in", "exists", "gt", "gte", "lt", "lte", "prefix", "regex", "contains",
];

pub(super) fn compile(source: &str, path: &Path) -> Result<Loaded, RulesError> {
    let doc: Yaml = serde_yaml::from_str(source).map_err(|e| {
        let line = e.location().map(|l| l.line());
        RulesError {
            errors: vec![Diagnostic::new(
                path,
                line,
                None,
                format!("invalid YAML: {e}"),
            )],
        }
    })?;
    let mut c = Compiler {
        path,
        base: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        pos: Positions::index(source),
        errors: Vec::new(),
        rule: None,
        sandbox: Sandbox::new(Limits::default()),
        script_sources: Vec::new(),
    };
    let ruleset = c.document(&doc);
    if !c.errors.is_empty() {
        return Err(RulesError { errors: c.errors });
    }
    let (regions, pools, rules) = ruleset.expect("no errors means every part compiled");
    let mut parts: Vec<(&str, &[u8])> = vec![("rules", source.as_bytes())];
    let scripts = std::mem::take(&mut c.script_sources);
    parts.extend(scripts.iter().map(|(n, b)| (n.as_str(), b.as_slice())));
    let mut source_files = vec![path.to_owned()];
    source_files.extend(scripts.iter().map(|(rel, _)| c.base.join(rel)));
    let ruleset = Ruleset {
        hash: hash_sources(parts),
        path: path.to_owned(),
        least_loaded_agents: super::least_loaded(&pools),
        pool_names: pools.keys().cloned().collect(),
        source_files,
        regions,
        pools,
        rules,
        sandbox: c.sandbox,
    };
    let warnings = lint::lint(&ruleset, &c.pos);
    Ok(Loaded { ruleset, warnings })
}

type Parts = (Vec<Region>, BTreeMap<String, Pool>, Vec<Rule>);

struct Compiler<'a> {
    path: &'a Path,
    base: PathBuf,
    pos: Positions,
    errors: Vec<Diagnostic>,
    /// The rule being compiled, named in errors.
    rule: Option<String>,
    sandbox: Sandbox,
    /// Script files read, for the ruleset hash.
    script_sources: Vec<(String, Vec<u8>)>,
}

impl Compiler<'_> {
    fn err(&mut self, at: &str, msg: impl Into<String>) {
        let line = self.pos.line(at);
        let rule = self.rule.clone();
        self.errors
            .push(Diagnostic::new(self.path, line, rule.as_deref(), msg));
    }

    fn document(&mut self, doc: &Yaml) -> Option<Parts> {
        let Some(top) = doc.as_mapping() else {
            self.err(
                "",
                "the rules file must be a mapping with `regions`, `pools` and `rules`",
            );
            return None;
        };
        for k in top.keys() {
            match k.as_str() {
                Some("regions" | "pools" | "rules") => {}
                other => {
                    let name = other.map_or_else(|| format!("{k:?}"), str::to_owned);
                    self.err(
                        &name,
                        format!("unknown top-level key `{name}` (expected regions, pools, rules)"),
                    );
                }
            }
        }
        let regions = self.regions(top.get("regions"));
        let pools = self.pools(top.get("pools"));
        let rules = self.rules(top.get("rules"), &regions, &pools);
        Some((regions, pools, rules?))
    }

    fn regions(&mut self, v: Option<&Yaml>) -> Vec<Region> {
        let mut out = Vec::new();
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return out;
        };
        let Some(m) = v.as_mapping() else {
            self.err(
                "regions",
                "`regions` must be a mapping of region name to {states, postal_prefixes}",
            );
            return out;
        };
        for (k, body) in m {
            let Some(name) = self.key_str(k, "regions") else {
                continue;
            };
            let at = format!("regions.{name}");
            let Some(body) = body.as_mapping() else {
                self.err(
                    &at,
                    format!(
                        "region `{name}` must be a mapping with `states` and/or `postal_prefixes`"
                    ),
                );
                continue;
            };
            let mut region = Region {
                name: name.clone(),
                states: vec![],
                postal_prefixes: vec![],
            };
            for (bk, bv) in body {
                match bk.as_str() {
                    Some("states") => {
                        region.states = self.string_list(bv, &format!("{at}.states"), "states");
                        region
                            .states
                            .iter_mut()
                            .for_each(|s| *s = s.trim().to_ascii_uppercase());
                    }
                    Some("postal_prefixes") => {
                        region.postal_prefixes = self.string_list(
                            bv,
                            &format!("{at}.postal_prefixes"),
                            "postal_prefixes (quote them: \"07\")",
                        )
                    }
                    _ => self.err(
                        &at,
                        format!(
                            "region `{name}`: unknown key {bk:?} (expected states, postal_prefixes)"
                        ),
                    ),
                }
            }
            if region.states.is_empty() && region.postal_prefixes.is_empty() {
                self.err(
                    &at,
                    format!(
                        "region `{name}` has no states and no postal_prefixes: it can never match"
                    ),
                );
            }
            out.push(region);
        }
        out
    }

    fn pools(&mut self, v: Option<&Yaml>) -> BTreeMap<String, Pool> {
        let mut out = BTreeMap::new();
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return out;
        };
        let Some(m) = v.as_mapping() else {
            self.err(
                "pools",
                "`pools` must be a mapping of pool name to {strategy, members}",
            );
            return out;
        };
        for (k, body) in m {
            let Some(name) = self.key_str(k, "pools") else {
                continue;
            };
            let at = format!("pools.{name}");
            let Some(body) = body.as_mapping() else {
                self.err(
                    &at,
                    format!("pool `{name}` must be a mapping with `strategy` and `members`"),
                );
                continue;
            };
            let mut strategy = Strategy::RoundRobin;
            let mut members_v = None;
            for (bk, bv) in body {
                match bk.as_str() {
                    Some("strategy") => match bv.as_str() {
                        Some("round_robin") => strategy = Strategy::RoundRobin,
                        Some("weighted") => strategy = Strategy::Weighted,
                        Some("least_loaded") => strategy = Strategy::LeastLoaded,
                        _ => self.err(
                            &format!("{at}.strategy"),
                            format!("pool `{name}`: unknown strategy {} (expected round_robin, weighted, least_loaded)", show(bv)),
                        ),
                    },
                    Some("members") => members_v = Some(bv),
                    _ => self.err(&at, format!("pool `{name}`: unknown key {} (expected strategy, members)", show(bk))),
                }
            }
            let members = self.members(&name, &at, strategy, members_v);
            out.insert(
                name.clone(),
                Pool {
                    name,
                    strategy,
                    members,
                },
            );
        }
        out
    }

    fn members(
        &mut self,
        pool: &str,
        at: &str,
        strategy: Strategy,
        v: Option<&Yaml>,
    ) -> Vec<Member> {
        let at_m = format!("{at}.members");
        let items = match v {
            Some(Yaml::Sequence(s)) if !s.is_empty() => s,
            None | Some(Yaml::Null) | Some(Yaml::Sequence(_)) => {
                self.err(&at_m, format!("pool `{pool}` has no members"));
                return vec![];
            }
            Some(_) => {
                self.err(&at_m, format!("pool `{pool}`: `members` must be a list"));
                return vec![];
            }
        };
        let mut out: Vec<Member> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at_i = format!("{at_m}.{i}");
            let member = match item {
                Yaml::String(s) if !s.trim().is_empty() => Some(Member {
                    agent: s.clone(),
                    weight: 1,
                }),
                Yaml::Mapping(m) => self.weighted_member(pool, &at_i, strategy, m),
                _ => {
                    self.err(&at_i, format!("pool `{pool}`: a member is an agent id or {{agent: ID, weight: N}}, not {}", show(item)));
                    None
                }
            };
            if let Some(m) = member {
                if out.iter().any(|o| o.agent == m.agent) {
                    self.err(
                        &at_i,
                        format!("pool `{pool}`: agent `{}` is listed twice", m.agent),
                    );
                } else {
                    out.push(m);
                }
            }
        }
        out
    }

    fn weighted_member(
        &mut self,
        pool: &str,
        at: &str,
        strategy: Strategy,
        m: &Mapping,
    ) -> Option<Member> {
        let mut agent = None;
        let mut weight = 1u32;
        for (k, v) in m {
            match k.as_str() {
                Some("agent") => match v.as_str().filter(|s| !s.trim().is_empty()) {
                    Some(s) => agent = Some(s.to_owned()),
                    None => self.err(
                        at,
                        format!("pool `{pool}`: `agent` must be a non-empty string"),
                    ),
                },
                Some("weight") => {
                    if strategy != Strategy::Weighted {
                        self.err(at, format!("pool `{pool}`: `weight` applies only to weighted pools (this one is {})", strategy.as_str()));
                    }
                    match v.as_i64() {
                        Some(w) if w > 0 && w <= i64::from(u32::MAX) => weight = w as u32,
                        Some(w) => self.err(
                            at,
                            format!("pool `{pool}`: weight must be a whole number > 0, got {w}"),
                        ),
                        None => self.err(
                            at,
                            format!(
                                "pool `{pool}`: weight must be a whole number > 0, got {}",
                                show(v)
                            ),
                        ),
                    }
                }
                _ => self.err(
                    at,
                    format!(
                        "pool `{pool}`: unknown member key {} (expected agent, weight)",
                        show(k)
                    ),
                ),
            }
        }
        if agent.is_none() {
            self.err(at, format!("pool `{pool}`: member has no `agent`"));
        }
        agent.map(|agent| Member { agent, weight })
    }

    fn rules(
        &mut self,
        v: Option<&Yaml>,
        regions: &[Region],
        pools: &BTreeMap<String, Pool>,
    ) -> Option<Vec<Rule>> {
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
        let region_names: HashSet<&str> = regions.iter().map(|r| r.name.as_str()).collect();
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
            if let Some(rule) = self.rule_body(&at, &name, m, &region_names, pools) {
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
            if !matches!(
                k.as_str(),
                Some("name" | "when" | "when_script" | "assign" | "script" | "if_halted")
            ) {
                self.err(
                    at,
                    format!("unknown key {} (expected name, when, when_script, assign, script, if_halted)", show(k)),
                );
            }
        }
        let when_v = m.get("when").filter(|v| !v.is_null());
        let when = when_v.and_then(|v| {
            let at_w = format!("{at}.when");
            match v.as_mapping() {
                Some(wm) if wm.is_empty() => None,
                Some(wm) => self.condition_map(&at_w, wm, regions),
                None => {
                    self.err(&at_w, "`when` must be a mapping of conditions");
                    None
                }
            }
        });
        // A condition that failed to compile must have said why: were it dropped
        // silently, the rule would match every lead.
        let when_given = when_v.is_some_and(|v| v.as_mapping().is_some_and(|m| !m.is_empty()));
        if when_given
            && when.is_none()
            && !self.errors.iter().any(|e| e.rule.as_deref() == Some(name))
        {
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
        let if_halted = match m.get("if_halted").map(|v| v.as_str()) {
            None | Some(Some("continue")) => IfHalted::Continue,
            Some(Some("assign")) => IfHalted::Assign,
            Some(other) => {
                self.err(
                    &format!("{at}.if_halted"),
                    format!("if_halted must be `continue` or `assign`, got {other:?}"),
                );
                IfHalted::Continue
            }
        };
        let action = match (m.get("assign"), m.get("script")) {
            (Some(a), None) => self.assign(&format!("{at}.assign"), a, pools),
            (None, Some(s)) => self.script_file(&format!("{at}.script"), s),
            (Some(_), Some(_)) => {
                self.err(at, "a rule has either `assign` or `script`, not both");
                None
            }
            (None, None) => {
                self.err(at, "a rule needs `assign` (agent_from, agent, pool, queue, unassigned) or `script`");
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
                "`if_halted` applies to agent assignments (agent_from, agent, script); pools always skip halted agents",
            );
        }
        let action = action?;
        if self.errors.iter().any(|e| e.rule.as_deref() == Some(name)) {
            return None;
        }
        Some(Rule {
            name: Arc::from(name),
            line: self.pos.line(at).unwrap_or(0),
            when,
            when_script,
            action,
            if_halted,
            when_source: when_v.cloned(),
            when_script_source: when_script_src,
        })
    }

    fn assign(&mut self, at: &str, v: &Yaml, pools: &BTreeMap<String, Pool>) -> Option<Action> {
        const HELP: &str =
            "assign: {agent_from: FIELD} | {agent: ID} | {pool: NAME} | {queue: NAME} | unassigned";
        if v.as_str() == Some("unassigned") {
            return Some(Action::Unassigned);
        }
        let Some(m) = v.as_mapping().filter(|m| m.len() == 1) else {
            self.err(at, format!("invalid {}; expected {HELP}", show(v)));
            return None;
        };
        let (k, val) = m.iter().next()?;
        let Some(s) = val.as_str().map(str::trim).filter(|s| !s.is_empty()) else {
            self.err(
                at,
                format!("`{}` needs a non-empty name, got {}", show(k), show(val)),
            );
            return None;
        };
        match k.as_str() {
            Some("agent_from") => match FieldPath::parse(s) {
                Some(p) => Some(Action::AgentFrom(p)),
                None => {
                    self.err(at, format!("agent_from: invalid field path `{s}`"));
                    None
                }
            },
            Some("agent") => Some(Action::Agent(s.to_owned())),
            Some("pool") if pools.contains_key(s) => Some(Action::Pool(s.to_owned())),
            Some("pool") => {
                let known: Vec<&str> = pools.keys().map(String::as_str).collect();
                self.err(
                    at,
                    format!("unknown pool `{s}` (pools: {})", list_or_none(&known)),
                );
                None
            }
            Some("queue") => Some(Action::Queue(s.to_owned())),
            _ => {
                self.err(
                    at,
                    format!("unknown assignment {}; expected {HELP}", show(k)),
                );
                None
            }
        }
    }

    fn inline_script(&mut self, at: &str, src: &str) -> Option<Script> {
        let key_line = self.pos.line(at).unwrap_or(0);
        match self
            .sandbox
            .compile_expression(src, format!("{}:{key_line}", self.path.display()))
        {
            Ok(s) => Some(s),
            Err(e) => {
                // A block scalar starts on the line after its key.
                let block = usize::from(src.contains('\n'));
                // Rhai may place an error at the end of input, past the script's last line.
                let last = key_line + block + src.lines().count().max(1) - 1;
                let line = e
                    .line
                    .map_or(key_line, |l| (key_line + l - 1 + block).min(last));
                let rule = self.rule.clone();
                self.errors.push(Diagnostic::new(
                    self.path,
                    Some(line),
                    rule.as_deref(),
                    format!("when_script: Rhai syntax error: {}", e.message),
                ));
                None
            }
        }
    }

    fn script_file(&mut self, at: &str, v: &Yaml) -> Option<Action> {
        let Some(rel) = v.as_str().filter(|s| !s.trim().is_empty()) else {
            self.err(
                at,
                "`script` must be the path of a Rhai file, relative to the rules file",
            );
            return None;
        };
        let file = self.base.join(rel);
        let src = match std::fs::read_to_string(&file) {
            Ok(s) => s,
            Err(e) => {
                self.err(at, format!("cannot read script {}: {e}", file.display()));
                return None;
            }
        };
        self.script_sources
            .push((rel.to_owned(), src.clone().into_bytes()));
        match self
            .sandbox
            .compile_script(&src, file.display().to_string())
        {
            Ok(s) => Some(Action::Script(s)),
            Err(e) => {
                let rule = self.rule.clone();
                self.errors.push(Diagnostic::new(
                    &file,
                    e.line,
                    rule.as_deref(),
                    format!("Rhai syntax error: {}", e.message),
                ));
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
                "not" => match v.as_mapping() {
                    Some(inner) if !inner.is_empty() => {
                        self.condition_map(&at_k, inner, regions).map(|c| {
                            let describe = format!("no match: not ({})", describe_plain(&c));
                            Condition::Not {
                                child: Box::new(c),
                                describe: Arc::from(describe),
                            }
                        })
                    }
                    _ => {
                        self.err(&at_k, "`not` takes one condition map, e.g. not: {contact.name: {prefix: TEST}}");
                        None
                    }
                },
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
                    if !OPERATORS.contains(&name) {
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
                                OPERATORS.join(" ")
                            ),
                        );
                        return None;
                    }
                    let op = self.operator(at, label, name, ov)?;
                    ops.push((describe_op(label, name, ov), op));
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
                self.err(at, format!("`{label}`: no value; to test that it is missing write `{label}: {{exists: false}}`"));
                return None;
            }
            scalar => {
                let j = self.scalar(at, label, scalar)?;
                vec![(format!("{label} = {}", show(scalar)), Op::Eq(j))]
            }
        };
        if let Some(regions) = regions {
            for (_, op) in &ops {
                let named: Vec<&Json> = match op {
                    Op::Eq(x) | Op::Ne(x) => vec![x],
                    Op::In(xs) | Op::NotIn(xs) => xs.iter().collect(),
                    _ => vec![],
                };
                for n in named {
                    match n.as_str() {
                        Some(s) if regions.contains(s) => {}
                        _ => {
                            let mut known: Vec<&str> = regions.iter().copied().collect();
                            known.sort();
                            self.err(
                                at,
                                format!("unknown region {n} (regions: {})", list_or_none(&known)),
                            );
                            return None;
                        }
                    }
                }
            }
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

    fn operator(&mut self, at: &str, label: &str, name: &str, v: &Yaml) -> Option<Op> {
        let bad = |c: &mut Self, want: &str| {
            c.err(
                at,
                format!("`{label}`: `{name}` takes {want}, got {}", show(v)),
            );
            None
        };
        match name {
            "eq" | "ne" | "contains" => {
                let j = self.scalar(at, label, v)?;
                Some(match name {
                    "eq" => Op::Eq(j),
                    "ne" => Op::Ne(j),
                    _ => Op::Contains(j),
                })
            }
            "in" | "not_in" => {
                let Some(items) = v.as_sequence().filter(|s| !s.is_empty()) else {
                    return bad(self, "a non-empty list");
                };
                let mut vals = Vec::new();
                for it in items {
                    vals.push(self.scalar(at, label, it)?);
                }
                Some(if name == "in" {
                    Op::In(vals)
                } else {
                    Op::NotIn(vals)
                })
            }
            "exists" => match v.as_bool() {
                Some(b) => Some(Op::Exists(b)),
                None => bad(self, "true or false"),
            },
            "gt" | "gte" | "lt" | "lte" => match v.as_f64() {
                Some(n) if n.is_finite() => Some(match name {
                    "gt" => Op::Gt(n),
                    "gte" => Op::Gte(n),
                    "lt" => Op::Lt(n),
                    _ => Op::Lte(n),
                }),
                _ => bad(self, "a number"),
            },
            "prefix" => match v.as_str() {
                Some(s) => Some(Op::Prefix(s.to_owned())),
                None => bad(self, "a string (quote numbers: \"07\")"),
            },
            "regex" => match v.as_str() {
                Some(s) => match RegexBuilder::new(s).size_limit(1 << 20).build() {
                    Ok(re) => Some(Op::Regex(re)),
                    Err(e) => {
                        // The regex crate's message spans lines; its last line says what is wrong.
                        let msg = e.to_string();
                        let what = msg
                            .lines()
                            .last()
                            .unwrap_or("")
                            .trim_start_matches("error: ")
                            .to_owned();
                        self.err(at, format!("`{label}`: bad regex {s:?}: {what}"));
                        None
                    }
                },
                None => bad(self, "a string"),
            },
            _ => bad(self, "a known operator"),
        }
    }

    /// A YAML scalar as the JSON value leads are compared with.
    fn scalar(&mut self, at: &str, label: &str, v: &Yaml) -> Option<Json> {
        let j = match v {
            Yaml::String(s) => Json::String(s.clone()),
            Yaml::Bool(b) => Json::Bool(*b),
            Yaml::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Json::from(i)
                } else if let Some(u) = n.as_u64() {
                    Json::from(u)
                } else {
                    // `.inf` and `.nan` have no JSON counterpart: an error, not a
                    // condition that silently disappears (and its rule with it matching all).
                    match n.as_f64().and_then(serde_json::Number::from_f64) {
                        Some(x) => Json::Number(x),
                        None => {
                            self.err(at, format!("`{label}`: {} is not a finite number", show(v)));
                            return None;
                        }
                    }
                }
            }
            _ => {
                self.err(
                    at,
                    format!(
                        "`{label}`: expected a string, number or boolean, got {}",
                        show(v)
                    ),
                );
                return None;
            }
        };
        Some(j)
    }

    fn key_str(&mut self, k: &Yaml, at: &str) -> Option<String> {
        match k.as_str() {
            Some(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            _ => {
                self.err(
                    at,
                    format!("keys must be non-empty strings, got {}", show(k)),
                );
                None
            }
        }
    }

    fn string_list(&mut self, v: &Yaml, at: &str, what: &str) -> Vec<String> {
        let Some(items) = v.as_sequence() else {
            self.err(at, format!("`{what}` must be a list of strings"));
            return vec![];
        };
        let mut out = Vec::new();
        for it in items {
            match it.as_str() {
                Some(s) if !s.trim().is_empty() => out.push(s.trim().to_owned()),
                _ => self.err(at, format!("`{what}`: expected a string, got {}", show(it))),
            }
        }
        out
    }
}

/// A YAML value as an admin wrote it, compactly, on one line (JSON notation).
fn show(v: &Yaml) -> String {
    match v {
        Yaml::Null => "nothing".into(),
        // JSON would print `null` for these: keep YAML's spelling (`.inf`, `.nan`).
        Yaml::Number(n) if n.as_f64().is_some_and(|f| !f.is_finite()) => n.to_string(),
        other => serde_json::to_string(other).unwrap_or_else(|_| format!("{other:?}")),
    }
}

/// How a trace names one operator test: `price >= 1000000`, `contact.phone exists`.
fn describe_op(label: &str, op: &str, v: &Yaml) -> String {
    let v = show(v);
    match op {
        "eq" => format!("{label} = {v}"),
        "ne" => format!("{label} != {v}"),
        "in" => format!("{label} in {v}"),
        "not_in" => format!("{label} not in {v}"),
        "exists" if v == "true" => format!("{label} exists"),
        "exists" => format!("{label} is missing"),
        "gt" => format!("{label} > {v}"),
        "gte" => format!("{label} >= {v}"),
        "lt" => format!("{label} < {v}"),
        "lte" => format!("{label} <= {v}"),
        "prefix" => format!("{label} starts with {v}"),
        "regex" => format!("{label} matches regex {v}"),
        _ => format!("{label} contains {v}"),
    }
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "none defined".into()
    } else {
        names.join(", ")
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
