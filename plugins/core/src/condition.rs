//! Conditions on an item's fields, shared by `if`, `switch` and `filter`.
//!
//! ```json
//! "{{ $json.score >= 50 }}"
//! {"field": "score", "op": "gte", "value": 50}
//! {"all": [{"field": "country", "op": "eq", "value": "NL"},
//!          {"not": {"field": "tags", "op": "contains", "value": "customer"}}]}
//! ```

use serde::Deserialize;
use serde_json::Value;
use std::cmp::Ordering;

/// A test of one item.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum Condition {
    /// What an expression gave, evaluated by the host per item:
    /// `"{{ $json.score >= 50 && $json.country == 'NL' }}"`.
    Is(bool),
    /// Every condition holds.
    All { all: Vec<Condition> },
    /// At least one condition holds.
    Any { any: Vec<Condition> },
    /// The condition does not hold.
    Not { not: Box<Condition> },
    /// Compare a field (a dot path such as `contact.email` or `lines.0.sku`).
    Compare {
        field: String,
        op: Op,
        #[serde(default)]
        value: Value,
    },
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    /// A string contains a substring, or an array contains an element.
    Contains,
    NotContains,
    StartsWith,
    EndsWith,
    /// The field's value is one of `value` (an array).
    In,
    Exists,
    NotExists,
    /// `null`, `""`, `[]`, `{}` or missing.
    Empty,
    NotEmpty,
}

/// The value at a dot path, if there is one.
pub fn lookup<'a>(item: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(item);
    }
    path.split('.').try_fold(item, |v, key| match v {
        Value::Object(map) => map.get(key),
        Value::Array(list) => key.parse::<usize>().ok().and_then(|i| list.get(i)),
        _ => None,
    })
}

impl Condition {
    /// Whether `item` satisfies the condition.
    pub fn holds(&self, item: &Value) -> bool {
        match self {
            Condition::Is(value) => *value,
            Condition::All { all } => all.iter().all(|c| c.holds(item)),
            Condition::Any { any } => any.iter().any(|c| c.holds(item)),
            Condition::Not { not } => !not.holds(item),
            Condition::Compare { field, op, value } => compare(lookup(item, field), *op, value),
        }
    }
}

fn compare(actual: Option<&Value>, op: Op, expected: &Value) -> bool {
    match op {
        Op::Exists => actual.is_some(),
        Op::NotExists => actual.is_none(),
        Op::Empty => actual.is_none_or(is_empty),
        Op::NotEmpty => !actual.is_none_or(is_empty),
        Op::Eq => actual.is_some_and(|a| loosely_equal(a, expected)),
        Op::Ne => !actual.is_some_and(|a| loosely_equal(a, expected)),
        Op::Gt => order(actual, expected) == Some(Ordering::Greater),
        Op::Gte => matches!(order(actual, expected), Some(Ordering::Greater | Ordering::Equal)),
        Op::Lt => order(actual, expected) == Some(Ordering::Less),
        Op::Lte => matches!(order(actual, expected), Some(Ordering::Less | Ordering::Equal)),
        Op::Contains => actual.is_some_and(|a| contains(a, expected)),
        Op::NotContains => !actual.is_some_and(|a| contains(a, expected)),
        Op::StartsWith => both_str(actual, expected).is_some_and(|(a, e)| a.starts_with(e)),
        Op::EndsWith => both_str(actual, expected).is_some_and(|(a, e)| a.ends_with(e)),
        Op::In => match (actual, expected) {
            (Some(a), Value::Array(options)) => options.iter().any(|o| loosely_equal(a, o)),
            _ => false,
        },
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Numbers compare as numbers even when one side is a numeric string
/// (form posts carry only strings); everything else compares exactly.
fn loosely_equal(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    match (a, b) {
        (Value::Number(_), Value::String(_)) | (Value::String(_), Value::Number(_)) => {
            matches!((as_number(a), as_number(b)), (Some(x), Some(y)) if x == y)
        }
        _ => false,
    }
}

fn order(actual: Option<&Value>, expected: &Value) -> Option<Ordering> {
    let actual = actual?;
    if let (Some(a), Some(e)) = (as_number(actual), as_number(expected)) {
        return a.partial_cmp(&e);
    }
    match (actual, expected) {
        (Value::String(a), Value::String(e)) => Some(a.cmp(e)),
        _ => None,
    }
}

fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::String(a), Value::String(e)) => a.contains(e.as_str()),
        (Value::Array(list), e) => list.iter().any(|x| loosely_equal(x, e)),
        (Value::Object(map), Value::String(key)) => map.contains_key(key),
        _ => false,
    }
}

fn both_str<'a>(actual: Option<&'a Value>, expected: &'a Value) -> Option<(&'a str, &'a str)> {
    Some((actual?.as_str()?, expected.as_str()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cond(v: Value) -> Condition {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn compares_numbers_strings_and_nested_fields() {
        let item = json!({"score": "42", "contact": {"email": "ann@example.com", "tags": ["vip"]}});
        assert!(cond(json!({"field": "score", "op": "gt", "value": 40})).holds(&item));
        assert!(!cond(json!({"field": "score", "op": "lt", "value": 40})).holds(&item));
        assert!(cond(json!({"field": "score", "op": "eq", "value": 42})).holds(&item));
        assert!(cond(json!({"field": "contact.email", "op": "ends_with", "value": "@example.com"})).holds(&item));
        assert!(cond(json!({"field": "contact.tags", "op": "contains", "value": "vip"})).holds(&item));
        assert!(cond(json!({"field": "contact.tags.0", "op": "in", "value": ["vip", "lead"]})).holds(&item));
        assert!(cond(json!({"field": "missing", "op": "not_exists"})).holds(&item));
        assert!(cond(json!({"field": "missing", "op": "empty"})).holds(&item));
        assert!(!cond(json!({"field": "missing", "op": "gt", "value": 1})).holds(&item));
    }

    #[test]
    fn combines_with_all_any_not() {
        let item = json!({"a": 1, "b": 2});
        let c = cond(json!({"all": [
            {"field": "a", "op": "eq", "value": 1},
            {"any": [{"field": "b", "op": "eq", "value": 3}, {"not": {"field": "b", "op": "eq", "value": 3}}]}
        ]}));
        assert!(c.holds(&item));
        assert!(!cond(json!({"not": {"field": "a", "op": "exists"}})).holds(&item));
    }

    #[test]
    fn an_expression_s_result_is_a_condition() {
        let item = json!({"a": 1});
        assert!(cond(json!(true)).holds(&item));
        assert!(!cond(json!(false)).holds(&item));
        assert!(cond(json!({"all": [true, {"field": "a", "op": "eq", "value": 1}]})).holds(&item));
        assert!(serde_json::from_value::<Condition>(json!("true")).is_err(), "text is not a result");
    }

    #[test]
    fn rejects_unknown_operators() {
        assert!(serde_json::from_value::<Condition>(json!({"field": "a", "op": "near"})).is_err());
    }
}
