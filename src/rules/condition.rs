//! `when` conditions: compiled once, evaluated per lead.
//!
//! Each leaf carries a precomputed description so a failed match explains itself in
//! the trace without formatting strings on the hot path.
use super::operator::Operator;
use regex::Regex;
use serde_json::Value;
use std::sync::Arc;

/// A dotted path into the lead, split once at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    pub text: String,
    pub segments: Vec<String>,
}

impl FieldPath {
    pub fn parse(text: &str) -> Option<Self> {
        let segments: Vec<String> = text.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return None;
        }
        Some(Self {
            text: text.to_owned(),
            segments,
        })
    }
}

/// What a condition reads from: a path into the lead, or the resolved region.
#[derive(Debug, Clone)]
pub enum Subject {
    Field(FieldPath),
    Region,
}

/// A compiled operator with its argument (see [`Operator`] for the names).
#[derive(Debug, Clone)]
pub enum Op {
    Eq(Value),
    Ne(Value),
    In(Vec<Value>),
    NotIn(Vec<Value>),
    Exists(bool),
    Gt(f64),
    Gte(f64),
    Lt(f64),
    Lte(f64),
    Prefix(String),
    Regex(Regex),
    Contains(Value),
}

impl Op {
    /// Which operator this is (its name and description live there).
    pub fn operator(&self) -> Operator {
        match self {
            Op::Eq(_) => Operator::Eq,
            Op::Ne(_) => Operator::Ne,
            Op::In(_) => Operator::In,
            Op::NotIn(_) => Operator::NotIn,
            Op::Exists(_) => Operator::Exists,
            Op::Gt(_) => Operator::Gt,
            Op::Gte(_) => Operator::Gte,
            Op::Lt(_) => Operator::Lt,
            Op::Lte(_) => Operator::Lte,
            Op::Prefix(_) => Operator::Prefix,
            Op::Regex(_) => Operator::Regex,
            Op::Contains(_) => Operator::Contains,
        }
    }

    /// Whether the operator holds for `v` (`None` = missing field).
    /// A missing or null value fails every operator except `exists: false`, `ne`, `not_in`.
    pub fn holds(&self, v: Option<&Value>) -> bool {
        let v = match v {
            None | Some(Value::Null) => {
                return matches!(self, Op::Exists(false) | Op::Ne(_) | Op::NotIn(_));
            }
            Some(v) => v,
        };
        match self {
            Op::Eq(x) => json_eq(v, x),
            Op::Ne(x) => !json_eq(v, x),
            Op::In(xs) => xs.iter().any(|x| json_eq(v, x)),
            Op::NotIn(xs) => !xs.iter().any(|x| json_eq(v, x)),
            Op::Exists(want) => *want,
            Op::Gt(n) => v.as_f64().is_some_and(|f| v.is_number() && f > *n),
            Op::Gte(n) => v.as_f64().is_some_and(|f| v.is_number() && f >= *n),
            Op::Lt(n) => v.as_f64().is_some_and(|f| v.is_number() && f < *n),
            Op::Lte(n) => v.as_f64().is_some_and(|f| v.is_number() && f <= *n),
            Op::Prefix(p) => v.as_str().is_some_and(|s| s.starts_with(p.as_str())),
            Op::Regex(re) => v.as_str().is_some_and(|s| re.is_match(s)),
            Op::Contains(x) => match (v, x) {
                (Value::String(s), Value::String(needle)) => s.contains(needle.as_str()),
                (Value::Array(items), x) => items.iter().any(|i| json_eq(i, x)),
                _ => false,
            },
        }
    }
}

/// JSON equality where numbers compare by value (`100` equals `100.0`).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(i), Some(j)) => i == j,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        _ => a == b,
    }
}

#[derive(Debug, Clone)]
pub enum Condition {
    /// Every child holds (a `when` map, or `all:`).
    All(Vec<Condition>),
    /// At least one child holds.
    Any {
        children: Vec<Condition>,
        describe: Arc<str>,
    },
    Not {
        child: Box<Condition>,
        describe: Arc<str>,
    },
    Leaf {
        subject: Subject,
        op: Op,
        describe: Arc<str>,
    },
}

/// What a condition is evaluated against.
pub trait Facts {
    fn field(&self, path: &FieldPath) -> Option<&Value>;
    fn region(&self) -> Option<&str>;
}

impl Condition {
    /// `Ok` when it holds; otherwise the description of the part that failed.
    pub fn eval(&self, facts: &impl Facts) -> Result<(), &Arc<str>> {
        match self {
            Condition::All(children) => children.iter().try_for_each(|c| c.eval(facts)),
            Condition::Any { children, describe } => {
                if children.iter().any(|c| c.eval(facts).is_ok()) {
                    Ok(())
                } else {
                    Err(describe)
                }
            }
            Condition::Not { child, describe } => match child.eval(facts) {
                Ok(()) => Err(describe),
                Err(_) => Ok(()),
            },
            Condition::Leaf {
                subject,
                op,
                describe,
            } => {
                let holds = match subject {
                    Subject::Field(path) => op.holds(facts.field(path)),
                    Subject::Region => {
                        let region = facts.region().map(|r| Value::String(r.to_owned()));
                        op.holds(region.as_ref())
                    }
                };
                if holds { Ok(()) } else { Err(describe) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_and_null_fail_all_but_three() {
        let ops = [
            Op::Eq(json!("a")),
            Op::In(vec![json!("a")]),
            Op::Exists(true),
            Op::Gt(1.0),
            Op::Gte(1.0),
            Op::Lt(1.0),
            Op::Lte(1.0),
            Op::Prefix("a".into()),
            Op::Regex(Regex::new("").unwrap()),
            Op::Contains(json!("a")),
        ];
        for op in &ops {
            assert!(!op.holds(None), "{op:?} on missing");
            assert!(!op.holds(Some(&Value::Null)), "{op:?} on null");
        }
        for op in [
            Op::Exists(false),
            Op::Ne(json!("a")),
            Op::NotIn(vec![json!("a")]),
        ] {
            assert!(op.holds(None), "{op:?} on missing");
            assert!(op.holds(Some(&Value::Null)), "{op:?} on null");
        }
    }

    #[test]
    fn numbers_compare_by_value_and_only_numbers_order() {
        assert!(Op::Eq(json!(100)).holds(Some(&json!(100.0))));
        assert!(!Op::Eq(json!(100)).holds(Some(&json!("100"))));
        assert!(Op::Gte(1_000_000.0).holds(Some(&json!(1_000_000))));
        assert!(!Op::Gt(1_000_000.0).holds(Some(&json!(1_000_000))));
        assert!(
            !Op::Gt(1.0).holds(Some(&json!("5"))),
            "strings never compare as numbers"
        );
        assert!(Op::Lt(0.5).holds(Some(&json!(-3))));
        assert!(Op::Lte(2.5).holds(Some(&json!(2.5))));
        assert!(!Op::Lt(0.0).holds(Some(&json!(true))));
        assert!(Op::Eq(json!(u64::MAX)).holds(Some(&json!(u64::MAX))));
        assert!(!Op::Eq(json!(u64::MAX)).holds(Some(&json!(u64::MAX - 1))));
    }

    #[test]
    fn strings_are_exact_regex_searches_contains_two_ways() {
        assert!(!Op::Eq(json!("CA")).holds(Some(&json!("ca"))));
        assert!(Op::Prefix("07".into()).holds(Some(&json!("07030"))));
        assert!(!Op::Prefix("07".into()).holds(Some(&json!(7030))));
        let re = Regex::new("ana").unwrap();
        assert!(
            Op::Regex(re).holds(Some(&json!("Montana"))),
            "regex searches, unanchored"
        );
        let anchored = Regex::new("^ana$").unwrap();
        assert!(!Op::Regex(anchored).holds(Some(&json!("Montana"))));
        let ci = Regex::new("(?i)^test").unwrap();
        assert!(Op::Regex(ci).holds(Some(&json!("TeSt lead"))));
        assert!(Op::Contains(json!("@example")).holds(Some(&json!("a@example.com"))));
        assert!(Op::Contains(json!("vip")).holds(Some(&json!(["new", "vip"]))));
        assert!(
            !Op::Contains(json!("vi")).holds(Some(&json!(["new", "vip"]))),
            "arrays: membership, not substring"
        );
        assert!(Op::Contains(json!(3)).holds(Some(&json!([1, 2, 3.0]))));
        assert!(!Op::Contains(json!("a")).holds(Some(&json!({"a": 1}))));
    }

    #[test]
    fn ne_and_not_in_hold_for_other_values() {
        assert!(Op::Ne(json!("a")).holds(Some(&json!("b"))));
        assert!(!Op::Ne(json!("a")).holds(Some(&json!("a"))));
        assert!(Op::NotIn(vec![json!("a"), json!("b")]).holds(Some(&json!("c"))));
        assert!(!Op::NotIn(vec![json!("a"), json!("b")]).holds(Some(&json!("b"))));
        assert!(
            Op::Exists(true).holds(Some(&json!(false))),
            "false is a value, not missing"
        );
        assert!(!Op::Exists(false).holds(Some(&json!(0))));
    }
}
