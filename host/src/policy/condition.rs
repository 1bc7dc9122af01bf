//! `where` conditions: typed comparisons on a call's arguments, addressed by a
//! JSON path (`to`, `req.method`, `items[0].name`). A condition whose path is
//! missing, or whose value has the wrong type for the comparison, is false, so
//! it can only narrow what a rule matches, never widen it.

use std::fmt;

use serde_json::Value as Json;

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// `a.b[0].c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    pub source: String,
    steps: Vec<Step>,
}

impl JsonPath {
    pub fn parse(source: &str) -> Result<Self, String> {
        let bad = || {
            format!("`{source}` is not a JSON path such as `to`, `req.method` or `items[0].name`")
        };
        if source.is_empty() {
            return Err(bad());
        }
        let mut steps = Vec::new();
        for part in source.split('.') {
            let (key, mut rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if key.is_empty() && steps.is_empty() {
                return Err(bad());
            }
            if !key.is_empty() {
                if !key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(bad());
                }
                steps.push(Step::Key(key.to_owned()));
            } else if rest.is_empty() {
                return Err(bad());
            }
            while let Some(inner) = rest.strip_prefix('[') {
                let end = inner.find(']').ok_or_else(bad)?;
                steps.push(Step::Index(inner[..end].parse().map_err(|_| bad())?));
                rest = &inner[end + 1..];
            }
            if !rest.is_empty() {
                return Err(bad());
            }
        }
        Ok(Self {
            source: source.to_owned(),
            steps,
        })
    }

    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    pub fn find<'a>(&self, mut value: &'a Json) -> Option<&'a Json> {
        for step in &self.steps {
            value = match step {
                Step::Key(k) => value.get(k)?,
                Step::Index(i) => value.get(i)?,
            };
        }
        Some(value)
    }
}

/// A typed comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Comparison {
    Eq(Json),
    In(Vec<Json>),
    Prefix(String),
    Lt(f64),
    Le(f64),
    Gt(f64),
    Ge(f64),
}

impl Comparison {
    pub fn holds(&self, value: &Json) -> bool {
        match self {
            Self::Eq(expected) => same(value, expected),
            Self::In(options) => options.iter().any(|o| same(value, o)),
            Self::Prefix(prefix) => value
                .as_str()
                .is_some_and(|s| s.starts_with(prefix.as_str())),
            Self::Lt(n) => value.as_f64().is_some_and(|v| v < *n),
            Self::Le(n) => value.as_f64().is_some_and(|v| v <= *n),
            Self::Gt(n) => value.as_f64().is_some_and(|v| v > *n),
            Self::Ge(n) => value.as_f64().is_some_and(|v| v >= *n),
        }
    }
}

/// Equality with numbers compared by value (`5` equals `5.0`; integers exactly,
/// even beyond 2^53 where `f64` would round), everything else strictly by type and
/// value.
fn same(a: &Json, b: &Json) -> bool {
    let integer = |n: &serde_json::Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => match (integer(x), integer(y)) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        _ => a == b,
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Eq(v) => write!(f, "is {v}"),
            Self::In(vs) => {
                let shown: Vec<String> = vs.iter().map(Json::to_string).collect();
                write!(f, "is one of {}", shown.join(", "))
            }
            Self::Prefix(p) => write!(f, "starts with {p:?}"),
            Self::Lt(n) => write!(f, "< {n}"),
            Self::Le(n) => write!(f, "≤ {n}"),
            Self::Gt(n) => write!(f, "> {n}"),
            Self::Ge(n) => write!(f, "≥ {n}"),
        }
    }
}

/// `path` must satisfy every comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub path: JsonPath,
    pub comparisons: Vec<Comparison>,
}

impl Condition {
    pub fn holds(&self, args: &Json) -> bool {
        self.path
            .find(args)
            .is_some_and(|value| self.comparisons.iter().all(|c| c.holds(value)))
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = self.comparisons.iter().map(ToString::to_string).collect();
        write!(f, "{} {}", self.path.source, shown.join(" and "))
    }
}
