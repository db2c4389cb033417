//! The `when` operators (SPEC section 3): each one's name in the rules file, what it
//! takes, and how a trace describes it. Matches here are exhaustive, so a new operator
//! does not compile until it has all three.

/// One operator of an operator map (`price: {gte: 1000000}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Eq,
    Ne,
    In,
    NotIn,
    Exists,
    Gt,
    Gte,
    Lt,
    Lte,
    Prefix,
    Regex,
    Contains,
}

/// What an operator takes as its argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Argument {
    /// A string, number or boolean.
    Scalar,
    /// A non-empty list of scalars.
    ScalarList,
    Bool,
    /// A finite number.
    Number,
    /// A string compared by its start.
    Prefix,
    /// A string compiled as a regular expression.
    Pattern,
}

impl Operator {
    /// Every operator, in the order error messages list them.
    pub const ALL: [Operator; 12] = [
        Self::Eq,
        Self::Ne,
        Self::In,
        Self::NotIn,
        Self::Exists,
        Self::Gt,
        Self::Gte,
        Self::Lt,
        Self::Lte,
        Self::Prefix,
        Self::Regex,
        Self::Contains,
    ];

    /// As written in the rules file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::In => "in",
            Self::NotIn => "not_in",
            Self::Exists => "exists",
            Self::Gt => "gt",
            Self::Gte => "gte",
            Self::Lt => "lt",
            Self::Lte => "lte",
            Self::Prefix => "prefix",
            Self::Regex => "regex",
            Self::Contains => "contains",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.name() == name)
    }

    pub fn argument(self) -> Argument {
        match self {
            Self::Eq | Self::Ne | Self::Contains => Argument::Scalar,
            Self::In | Self::NotIn => Argument::ScalarList,
            Self::Exists => Argument::Bool,
            Self::Gt | Self::Gte | Self::Lt | Self::Lte => Argument::Number,
            Self::Prefix => Argument::Prefix,
            Self::Regex => Argument::Pattern,
        }
    }

    /// How a trace names one test: `price >= 1000000`, `contact.phone exists`.
    /// `arg` is the argument as the admin wrote it, shown on one line.
    pub fn describe(self, label: &str, arg: &str) -> String {
        match self {
            Self::Eq => format!("{label} = {arg}"),
            Self::Ne => format!("{label} != {arg}"),
            Self::In => format!("{label} in {arg}"),
            Self::NotIn => format!("{label} not in {arg}"),
            Self::Exists if arg == "true" => format!("{label} exists"),
            Self::Exists => format!("{label} is missing"),
            Self::Gt => format!("{label} > {arg}"),
            Self::Gte => format!("{label} >= {arg}"),
            Self::Lt => format!("{label} < {arg}"),
            Self::Lte => format!("{label} <= {arg}"),
            Self::Prefix => format!("{label} starts with {arg}"),
            Self::Regex => format!("{label} matches regex {arg}"),
            Self::Contains => format!("{label} contains {arg}"),
        }
    }

    /// `eq ne in ...`, for the unknown-operator error.
    pub fn names() -> String {
        Self::ALL.map(Self::name).join(" ")
    }
}

impl Argument {
    /// What an error says the operator takes: "`gt` takes a number".
    pub fn expected(self) -> &'static str {
        match self {
            Self::Scalar => "a string, number or boolean",
            Self::ScalarList => "a non-empty list",
            Self::Bool => "true or false",
            Self::Number => "a number",
            Self::Prefix => "a string (quote numbers: \"07\")",
            Self::Pattern => "a string",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_listed_once() {
        for op in Operator::ALL {
            assert_eq!(Operator::parse(op.name()), Some(op));
        }
        assert_eq!(
            Operator::names(),
            "eq ne in not_in exists gt gte lt lte prefix regex contains"
        );
        assert_eq!(Operator::parse("greater"), None);
    }

    #[test]
    fn descriptions() {
        let d = |op: Operator, arg| op.describe("x", arg);
        assert_eq!(d(Operator::Eq, "1"), "x = 1");
        assert_eq!(d(Operator::NotIn, "[1]"), "x not in [1]");
        assert_eq!(d(Operator::Exists, "true"), "x exists");
        assert_eq!(d(Operator::Exists, "false"), "x is missing");
        assert_eq!(d(Operator::Gte, "5"), "x >= 5");
        assert_eq!(d(Operator::Prefix, "\"07\""), "x starts with \"07\"");
        assert_eq!(d(Operator::Contains, "\"a\""), "x contains \"a\"");
    }
}
