//! One operator of an operator map and its argument (`gte: 1000000`), compiled as the
//! operator's [`Argument`] says.
use super::{Compiler, show};
use crate::rules::condition::Op;
use crate::rules::operator::{Argument, Operator};
use regex::{Regex, RegexBuilder};
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

impl Compiler<'_> {
    /// One operator and its argument, compiled.
    pub(super) fn operator(&mut self, at: &str, label: &str, op: Operator, v: &Yaml) -> Option<Op> {
        Some(match op {
            Operator::Eq => Op::Eq(self.scalar(at, label, v)?),
            Operator::Ne => Op::Ne(self.scalar(at, label, v)?),
            Operator::Contains => Op::Contains(self.scalar(at, label, v)?),
            Operator::In => Op::In(self.scalar_list(at, label, op, v)?),
            Operator::NotIn => Op::NotIn(self.scalar_list(at, label, op, v)?),
            Operator::Exists => Op::Exists(self.argument(at, label, op, v, Yaml::as_bool)?),
            Operator::Gt => Op::Gt(self.number(at, label, op, v)?),
            Operator::Gte => Op::Gte(self.number(at, label, op, v)?),
            Operator::Lt => Op::Lt(self.number(at, label, op, v)?),
            Operator::Lte => Op::Lte(self.number(at, label, op, v)?),
            Operator::Prefix => {
                Op::Prefix(self.argument(at, label, op, v, |v| v.as_str().map(str::to_owned))?)
            }
            Operator::Regex => Op::Regex(self.regex(at, label, op, v)?),
        })
    }

    /// `op`'s argument as `read` takes it, or an error saying what `op` takes.
    fn argument<'v, T>(
        &mut self,
        at: &str,
        label: &str,
        op: Operator,
        v: &'v Yaml,
        read: impl FnOnce(&'v Yaml) -> Option<T>,
    ) -> Option<T> {
        let got = read(v);
        if got.is_none() {
            self.err(
                at,
                format!(
                    "`{label}`: `{}` takes {}, got {}",
                    op.name(),
                    op.argument().expected(),
                    show(v)
                ),
            );
        }
        got
    }

    fn number(&mut self, at: &str, label: &str, op: Operator, v: &Yaml) -> Option<f64> {
        self.argument(at, label, op, v, |v| v.as_f64().filter(|n| n.is_finite()))
    }

    fn scalar_list(&mut self, at: &str, label: &str, op: Operator, v: &Yaml) -> Option<Vec<Json>> {
        let items = self.argument(at, label, op, v, |v| {
            v.as_sequence().filter(|s| !s.is_empty())
        })?;
        items.iter().map(|it| self.scalar(at, label, it)).collect()
    }

    fn regex(&mut self, at: &str, label: &str, op: Operator, v: &Yaml) -> Option<Regex> {
        let s = self.argument(at, label, op, v, Yaml::as_str)?;
        match RegexBuilder::new(s).size_limit(1 << 20).build() {
            Ok(re) => Some(re),
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
        }
    }

    /// A YAML scalar as the JSON value leads are compared with.
    pub(super) fn scalar(&mut self, at: &str, label: &str, v: &Yaml) -> Option<Json> {
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
                        "`{label}`: expected {}, got {}",
                        Argument::Scalar.expected(),
                        show(v)
                    ),
                );
                return None;
            }
        };
        Some(j)
    }
}

#[cfg(test)]
mod tests {
    use super::show;
    use crate::rules::Ruleset;
    use crate::rules::condition::Condition;
    use crate::rules::operator::{Argument, Operator};
    use std::path::Path;

    /// A valid argument of each kind, as YAML.
    fn example(a: Argument) -> &'static str {
        match a {
            Argument::Scalar => "\"x\"",
            Argument::ScalarList => "[1, b]",
            Argument::Bool => "false",
            Argument::Number => "2.5",
            Argument::Prefix => "\"07\"",
            Argument::Pattern => "\"^a\"",
        }
    }

    fn compile(op: Operator, arg: &str) -> Result<Ruleset, String> {
        let yaml = format!(
            "rules:\n  - name: r\n    when: {{f: {{{}: {arg}}}}}\n    assign: unassigned\n",
            op.name()
        );
        Ruleset::from_source(&yaml, Path::new("t.yaml"))
            .map(|l| l.ruleset)
            .map_err(|e| e.errors[0].message.clone())
    }

    #[test]
    fn every_operator_compiles_to_itself_and_describes_itself() {
        for op in Operator::ALL {
            let arg = example(op.argument());
            let rs = compile(op, arg).unwrap_or_else(|e| panic!("{op:?}: {e}"));
            let Some(Condition::Leaf {
                op: compiled,
                describe,
                ..
            }) = &rs.rules()[0].when
            else {
                panic!("{op:?}: one leaf");
            };
            assert_eq!(compiled.operator(), op);
            let shown = show(&serde_yaml::from_str(arg).unwrap());
            assert_eq!(
                &**describe,
                format!("no match: {}", op.describe("f", &shown))
            );
        }
    }

    #[test]
    fn a_wrong_argument_says_what_the_operator_takes() {
        for op in Operator::ALL {
            let want = match op.argument() {
                Argument::Scalar => "`f`: expected a string, number or boolean, got {}".to_owned(),
                kind => format!("`f`: `{}` takes {}, got {{}}", op.name(), kind.expected()),
            };
            assert_eq!(compile(op, "{}").err(), Some(want), "{op:?}");
        }
    }
}
