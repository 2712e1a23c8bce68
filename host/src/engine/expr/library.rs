//! The functions CEL expressions call beyond CEL's own (docs/expressions.md
//! has an example of each), the operators the rewrite routes here
//! (`__get`, `__add`, ...), and conversion between JSON and CEL values.

use super::cel::{weight, Budget};
use cel::extractors::{Arguments, This};
use cel::objects::{Key, Map};
use cel::{Context, Env, ExecutionError, Value};
use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::Arc;

type Result<T> = std::result::Result<T, ExecutionError>;

/// The functions of CEL's standard library and string extension an
/// expression may name.
const STANDARD: &[&str] = &[
    // CEL's standard library.
    "size",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "string",
    "int",
    "uint",
    "double",
    "bool",
    "bytes",
    "type",
    "dyn",
    "duration",
    "timestamp",
    "getFullYear",
    "getMonth",
    "getDayOfYear",
    "getDayOfMonth",
    "getDate",
    "getDayOfWeek",
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
    "has",
    "map",
    "filter",
    "all",
    "exists",
    "exists_one",
    "existsOne",
    "orValue",
    "hasValue",
    "value",
    "or",
    // The string extension.
    "charAt",
    "indexOf",
    "lastIndexOf",
    "lowerAscii",
    "upperAscii",
    "replace",
    "split",
    "substring",
    "trim",
    "join",
    "reverse",
];

/// This library's own functions (each has an example on docs/expressions.md).
pub const OWN: &[&str] = &[
    "default",
    "lower",
    "upper",
    "first",
    "last",
    "sum",
    "round",
    "floor",
    "ceil",
    "abs",
    "number",
    "addDays",
    "addHours",
    "addMinutes",
    "formatDate",
    "parseDate",
    "dayOfWeek",
    "toMillis",
    "fromMillis",
];

/// Whether an expression may call `name`: CEL's standard library, its
/// string extension, and this library. Anything else is refused at deploy.
pub fn is_known(name: &str) -> bool {
    STANDARD.contains(&name) || OWN.contains(&name)
}

/// A context holding the environment and this library's functions.
pub fn root_context(env: Arc<Env>) -> Context<'static, 'static> {
    let mut ctx = Context::with_env(env);
    let add = |name: &str, result: std::result::Result<(), cel::DeclarationError>| {
        if let Err(e) = result {
            panic!("expression function `{name}` clashes with the environment's: {e}");
        }
    };
    // The operators the rewrite routes here.
    add("__get", ctx.add_function("__get", get));
    add("__has", ctx.add_function("__has", |target: Value, field: Arc<String>| {
        matches!(&target, Value::Map(map) if map.map.contains_key(&Key::String(field)))
    }));
    add("__index", ctx.add_function("__index", index));
    add("__add", ctx.add_function("__add", |a: Value, b: Value| arithmetic(Op::Add, a, b)));
    add("__sub", ctx.add_function("__sub", |a: Value, b: Value| arithmetic(Op::Sub, a, b)));
    add("__mul", ctx.add_function("__mul", |a: Value, b: Value| arithmetic(Op::Mul, a, b)));
    add("__div", ctx.add_function("__div", |a: Value, b: Value| arithmetic(Op::Div, a, b)));
    add("__mod", ctx.add_function("__mod", |a: Value, b: Value| arithmetic(Op::Mod, a, b)));
    add("__neg", ctx.add_function("__neg", negate));
    add("__tick", ctx.add_function("__tick", tick));
    // The library.
    add("default", ctx.add_function("default", default));
    add("lower", ctx.add_function("lower", |This(s): This<Arc<String>>| s.to_lowercase()));
    add("upper", ctx.add_function("upper", |This(s): This<Arc<String>>| s.to_uppercase()));
    add("first", ctx.add_function("first", |This(l): This<Arc<Vec<Value>>>| l.first().cloned().unwrap_or(Value::Null)));
    add("last", ctx.add_function("last", |This(l): This<Arc<Vec<Value>>>| l.last().cloned().unwrap_or(Value::Null)));
    add("sum", ctx.add_function("sum", sum));
    add("round", ctx.add_function("round", round));
    add("floor", ctx.add_function("floor", |This(x): This<Value>| rounded(x, f64::floor)));
    add("ceil", ctx.add_function("ceil", |This(x): This<Value>| rounded(x, f64::ceil)));
    add("abs", ctx.add_function("abs", abs));
    add("number", ctx.add_function("number", number));
    add("addDays", ctx.add_function("addDays", |This(t): This<Value>, n: Value| add_time(t, n, 86_400_000.0)));
    add("addHours", ctx.add_function("addHours", |This(t): This<Value>, n: Value| add_time(t, n, 3_600_000.0)));
    add("addMinutes", ctx.add_function("addMinutes", |This(t): This<Value>, n: Value| add_time(t, n, 60_000.0)));
    add("formatDate", ctx.add_function("formatDate", format_date));
    add("parseDate", ctx.add_function("parseDate", parse_date));
    add("dayOfWeek", ctx.add_function("dayOfWeek", day_of_week));
    add(
        "toMillis",
        ctx.add_function("toMillis", |This(t): This<Value>| timestamp_of(&t).map(|t| Value::Int(t.timestamp_millis()))),
    );
    add("fromMillis", ctx.add_function("fromMillis", |This(n): This<Value>| from_millis(&n)));
    ctx
}

fn error(function: &str, message: impl ToString) -> ExecutionError {
    ExecutionError::function_error(function, message)
}

/// A readable message for an evaluation error.
pub fn error_message(e: &ExecutionError) -> String {
    match e {
        ExecutionError::FunctionError { function, message } => match function.strip_prefix("__") {
            Some(_) => message.clone(),
            None => format!("{function}: {message}"),
        },
        ExecutionError::UnexpectedType { got, want } => format!("expected a {want}, got a {got}"),
        ExecutionError::DivisionByZero(_) => "division by zero".into(),
        ExecutionError::RemainderByZero(_) => "remainder by zero".into(),
        other => other.to_string(),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::List(_) => "list",
        Value::Map(_) => "object",
        Value::Int(_) | Value::UInt(_) | Value::Float(_) => "number",
        Value::String(_) => "string",
        Value::Bytes(_) => "bytes",
        Value::Bool(_) => "boolean",
        Value::Duration(_) => "duration",
        Value::Timestamp(_) => "timestamp",
        Value::Null => "null",
        _ => "value",
    }
}

/// `a.field`: `null` when `a` has no such field or is `null`.
fn get(target: Value, field: Arc<String>) -> Result<Value> {
    match target {
        Value::Map(map) => Ok(map.map.get(&Key::String(field)).cloned().unwrap_or(Value::Null)),
        Value::Null => Ok(Value::Null),
        other => Err(error("__get", format!("cannot read field `{field}` of a {}", type_name(&other)))),
    }
}

/// `a[i]`: `null` past the end of a list or for a missing key.
fn index(target: Value, at: Value) -> Result<Value> {
    match (&target, &at) {
        (Value::List(list), _) => {
            let i = whole(&at).ok_or_else(|| error("__index", "a list's index is a whole number"))?;
            Ok(usize::try_from(i).ok().and_then(|i| list.get(i)).cloned().unwrap_or(Value::Null))
        }
        (Value::Map(map), Value::String(key)) => {
            Ok(map.map.get(&Key::String(key.clone())).cloned().unwrap_or(Value::Null))
        }
        (Value::Map(map), _) => {
            let key = Key::String(Arc::new(plain_text(&at)));
            Ok(map.map.get(&key).cloned().unwrap_or(Value::Null))
        }
        (Value::Null, _) => Ok(Value::Null),
        _ => Err(error("__index", format!("cannot index a {}", type_name(&target)))),
    }
}

fn whole(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::UInt(u) => i64::try_from(*u).ok(),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
        _ => None,
    }
}

fn float(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::UInt(u) => Some(*u as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

#[derive(Clone, Copy)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

/// Arithmetic as JSON numbers expect it: integers stay integers while the
/// result is whole and fits, anything else is a decimal (`7 / 2` is `3.5`).
/// `+` also joins texts and lists; dates and durations are CEL's.
fn arithmetic(op: Op, a: Value, b: Value) -> Result<Value> {
    let (name, symbol) = match op {
        Op::Add => ("__add", "+"),
        Op::Sub => ("__sub", "-"),
        Op::Mul => ("__mul", "*"),
        Op::Div => ("__div", "/"),
        Op::Mod => ("__mod", "%"),
    };
    if let (Some(x), Some(y)) = (whole_int(&a), whole_int(&b)) {
        let exact = match op {
            Op::Add => x.checked_add(y),
            Op::Sub => x.checked_sub(y),
            Op::Mul => x.checked_mul(y),
            Op::Div if y == 0 => return Err(error(name, "division by zero")),
            Op::Div => (x % y == 0).then(|| x / y),
            Op::Mod if y == 0 => return Err(error(name, "remainder by zero")),
            Op::Mod => x.checked_rem(y),
        };
        if let Some(v) = exact {
            return Ok(Value::Int(v));
        }
    }
    if let (Some(x), Some(y)) = (float(&a), float(&b)) {
        let v = match op {
            Op::Add => x + y,
            Op::Sub => x - y,
            Op::Mul => x * y,
            Op::Div if y == 0.0 => return Err(error(name, "division by zero")),
            Op::Div => x / y,
            Op::Mod if y == 0.0 => return Err(error(name, "remainder by zero")),
            Op::Mod => x % y,
        };
        return if v.is_finite() {
            Ok(Value::Float(v))
        } else {
            Err(error(name, format!("the result of {symbol} is not a finite number")))
        };
    }
    match (op, &a, &b) {
        (Op::Add, Value::String(x), Value::String(y)) => {
            Budget::charge((x.len() + y.len()) / 16).map_err(|m| error(name, m))?;
            Ok(Value::String(Arc::new(format!("{x}{y}"))))
        }
        (Op::Add, Value::List(x), Value::List(y)) => {
            Budget::charge(x.len() + y.len()).map_err(|m| error(name, m))?;
            Ok(Value::List(Arc::new(x.iter().chain(y.iter()).cloned().collect())))
        }
        (_, Value::Timestamp(_) | Value::Duration(_), _) | (_, _, Value::Timestamp(_) | Value::Duration(_)) => {
            let result = match op {
                Op::Add => a + b,
                Op::Sub => a - b,
                _ => return Err(error(name, format!("cannot apply {symbol} to dates"))),
            };
            result.map_err(|e| error(name, error_message(&e)))
        }
        _ => Err(error(name, format!("cannot apply {symbol} to a {} and a {}", type_name(&a), type_name(&b)))),
    }
}

fn whole_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::UInt(u) => i64::try_from(*u).ok(),
        _ => None,
    }
}

fn negate(a: Value) -> Result<Value> {
    match a {
        Value::Int(i) => i.checked_neg().map(Value::Int).ok_or_else(|| error("__neg", "overflow")),
        Value::UInt(u) => i64::try_from(u).map(|i| Value::Int(-i)).map_err(|_| error("__neg", "overflow")),
        Value::Float(f) => Ok(Value::Float(-f)),
        Value::Duration(d) => Ok(Value::Duration(-d)),
        other => Err(error("__neg", format!("cannot negate a {}", type_name(&other)))),
    }
}

/// One turn of a comprehension: charged one unit plus the size of what it made.
fn tick(v: Value) -> Result<Value> {
    Budget::charge(weight(&v)).map_err(|m| error("__tick", m))?;
    Ok(v)
}

/// `default(value, fallback)`: the fallback when the value is `null` or `""`.
fn default(value: Value, fallback: Value) -> Value {
    match &value {
        Value::Null => fallback,
        Value::String(s) if s.is_empty() => fallback,
        _ => value,
    }
}

fn sum(This(list): This<Arc<Vec<Value>>>) -> Result<Value> {
    list.iter()
        .try_fold(Value::Int(0), |total, v| arithmetic(Op::Add, total, v.clone()))
        .map_err(|_| error("sum", "a list of numbers"))
}

/// `round(x)` to a whole number, `round(x, digits)` to decimal places.
fn round(Arguments(args): Arguments) -> Result<Value> {
    let x = args.first().and_then(float).ok_or_else(|| error("round", "expected a number"))?;
    match args.get(1) {
        None => Ok(integral(x.round())),
        Some(d) => {
            let digits =
                whole(d).filter(|d| (0..=12).contains(d)).ok_or_else(|| error("round", "digits from 0 to 12"))?;
            let scale = 10f64.powi(digits as i32);
            Ok(Value::Float((x * scale).round() / scale))
        }
    }
}

fn integral(x: f64) -> Value {
    if x.abs() < 9.0e15 {
        Value::Int(x as i64)
    } else {
        Value::Float(x)
    }
}

fn rounded(x: Value, f: fn(f64) -> f64) -> Result<Value> {
    float(&x).map(|x| integral(f(x))).ok_or_else(|| error("round", "expected a number"))
}

fn abs(This(x): This<Value>) -> Result<Value> {
    match x {
        Value::Int(i) => i.checked_abs().map(Value::Int).ok_or_else(|| error("abs", "overflow")),
        Value::Float(f) => Ok(Value::Float(f.abs())),
        Value::UInt(u) => Ok(Value::UInt(u)),
        other => Err(error("abs", format!("expected a number, got a {}", type_name(&other)))),
    }
}

/// `number("12.5")`: a text as a number (`null` when it is none).
fn number(This(x): This<Value>) -> Value {
    match &x {
        Value::Int(_) | Value::UInt(_) | Value::Float(_) => x,
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>()
                .map(Value::Int)
                .or_else(|_| s.parse::<f64>().ok().filter(|f| f.is_finite()).map(Value::Float).ok_or(()))
                .unwrap_or(Value::Null)
        }
        _ => Value::Null,
    }
}

fn timestamp_of(v: &Value) -> Result<DateTime<FixedOffset>> {
    match v {
        Value::Timestamp(t) => Ok(*t),
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .map_err(|e| error("timestamp", format!("`{s}` is not an RFC 3339 date and time: {e}"))),
        Value::Int(_) | Value::UInt(_) => from_millis(v).and_then(|t| timestamp_of(&t)),
        other => Err(error("timestamp", format!("expected a timestamp, got a {}", type_name(other)))),
    }
}

fn from_millis(v: &Value) -> Result<Value> {
    let ms = whole(v).ok_or_else(|| error("fromMillis", "expected milliseconds since 1970"))?;
    DateTime::from_timestamp_millis(ms)
        .map(|t| Value::Timestamp(t.fixed_offset()))
        .ok_or_else(|| error("fromMillis", "out of range"))
}

fn add_time(t: Value, n: Value, unit_ms: f64) -> Result<Value> {
    let t = timestamp_of(&t)?;
    let n = float(&n).ok_or_else(|| error("addDays", "expected a number"))?;
    let ms = n * unit_ms;
    if !ms.is_finite() || ms.abs() > 1.0e15 {
        return Err(error("addDays", "out of range"));
    }
    t.checked_add_signed(Duration::milliseconds(ms as i64))
        .map(Value::Timestamp)
        .ok_or_else(|| error("addDays", "out of range"))
}

fn zone(name: &str) -> Result<chrono_tz::Tz> {
    name.parse::<chrono_tz::Tz>()
        .map_err(|_| error("formatDate", format!("`{name}` is not an IANA time zone (such as Europe/Amsterdam)")))
}

/// `formatDate(t, "%Y-%m-%d %H:%M", "Europe/Amsterdam")`: strftime in a zone (UTC without one).
fn format_date(This(t): This<Value>, Arguments(args): Arguments) -> Result<Value> {
    let t = timestamp_of(&t)?;
    let text = |i: usize| match args.get(i) {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        None => Ok(None),
        Some(_) => Err(error("formatDate", "the format and the time zone are texts")),
    };
    // Called as a method the format is the first argument, else the second.
    let skip = usize::from(matches!(args.first(), Some(Value::Timestamp(_))) || args.len() == 3);
    let format = text(skip)?.ok_or_else(|| error("formatDate", "a format, such as \"%Y-%m-%d\""))?;
    let items: Vec<_> = chrono::format::StrftimeItems::new(&format).collect();
    if items.iter().any(|i| matches!(i, chrono::format::Item::Error)) {
        return Err(error("formatDate", format!("`{format}` is not a valid format")));
    }
    let out = match text(skip + 1)? {
        Some(tz) => t.with_timezone(&zone(&tz)?).format_with_items(items.into_iter()).to_string(),
        None => t.with_timezone(&Utc).format_with_items(items.into_iter()).to_string(),
    };
    Ok(Value::String(Arc::new(out)))
}

/// `parseDate("07/12/2026 09:30", "%d/%m/%Y %H:%M", "Europe/Amsterdam")`,
/// or `parseDate("2026-12-07")` (a date alone is its midnight).
fn parse_date(This(s): This<Arc<String>>, Arguments(args): Arguments) -> Result<Value> {
    let texts: Vec<&str> =
        args.iter().filter_map(|a| if let Value::String(s) = a { Some(s.as_str()) } else { None }).collect();
    // Called as a method the text is not among the arguments; as a function it is the first.
    let rest: &[&str] = if texts.first() == Some(&s.as_str()) { &texts[1..] } else { &texts[..] };
    let tz = rest.get(1).map(|z| zone(z)).transpose()?;
    let in_zone = |naive: NaiveDateTime| -> Result<Value> {
        let local = match tz {
            Some(tz) => tz.from_local_datetime(&naive).earliest().map(|t| t.fixed_offset()),
            None => Some(Utc.from_utc_datetime(&naive).fixed_offset()),
        };
        local.map(Value::Timestamp).ok_or_else(|| error("parseDate", "that local time does not exist in the zone"))
    };
    match rest.first() {
        None => {
            if let Ok(t) = DateTime::parse_from_rfc3339(&s) {
                return Ok(Value::Timestamp(t));
            }
            let date = NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .map_err(|_| error("parseDate", format!("`{s}` is neither RFC 3339 nor YYYY-MM-DD; give a format")))?;
            in_zone(date.and_hms_opt(0, 0, 0).expect("midnight exists"))
        }
        Some(format) => {
            if let Ok(t) = DateTime::parse_from_str(&s, format) {
                return Ok(Value::Timestamp(t));
            }
            match NaiveDateTime::parse_from_str(&s, format) {
                Ok(naive) => in_zone(naive),
                Err(_) => match NaiveDate::parse_from_str(&s, format) {
                    Ok(date) => in_zone(date.and_hms_opt(0, 0, 0).expect("midnight exists")),
                    Err(e) => Err(error("parseDate", format!("`{s}` does not match `{format}`: {e}"))),
                },
            }
        }
    }
}

/// `dayOfWeek(t, "Europe/Amsterdam")`: `"Monday"` ... `"Sunday"` in that zone (UTC without one).
fn day_of_week(This(t): This<Value>, Arguments(args): Arguments) -> Result<Value> {
    let t = timestamp_of(&t)?;
    let tz = args.iter().rev().find_map(|a| if let Value::String(s) = a { Some(s.clone()) } else { None });
    let day = match tz {
        Some(tz) => t.with_timezone(&zone(&tz)?).weekday(),
        None => t.with_timezone(&Utc).weekday(),
    };
    let name = match day {
        chrono::Weekday::Mon => "Monday",
        chrono::Weekday::Tue => "Tuesday",
        chrono::Weekday::Wed => "Wednesday",
        chrono::Weekday::Thu => "Thursday",
        chrono::Weekday::Fri => "Friday",
        chrono::Weekday::Sat => "Saturday",
        chrono::Weekday::Sun => "Sunday",
    };
    Ok(Value::String(Arc::new(name.into())))
}

/// `now`: the step's start as a timestamp.
pub fn now_value(ms: u64) -> Value {
    DateTime::from_timestamp_millis(ms as i64).map(|t| Value::Timestamp(t.fixed_offset())).unwrap_or(Value::Null)
}

/// A JSON value as CEL's: whole numbers as integers, others as decimals.
pub fn to_cel(json: &Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::String(Arc::new(s.clone())),
        Json::Array(list) => Value::List(Arc::new(list.iter().map(to_cel).collect())),
        Json::Object(map) => {
            let map: HashMap<Key, Value> =
                map.iter().map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v))).collect();
            Value::Map(Map { map: Arc::new(map) })
        }
    }
}

/// An object as CEL's, with only `fields` (those an expression reads).
pub fn to_cel_fields(map: &serde_json::Map<String, Json>, fields: &[String]) -> Value {
    let map: HashMap<Key, Value> =
        fields.iter().filter_map(|f| map.get(f).map(|v| (Key::String(Arc::new(f.clone())), to_cel(v)))).collect();
    Value::Map(Map { map: Arc::new(map) })
}

/// Largest result an expression may give, in bytes of JSON.
const MAX_RESULT_BYTES: usize = super::MAX_RENDERED_BYTES;

/// A CEL value as JSON: dates as RFC 3339 text, durations as seconds.
pub fn to_json(value: &Value) -> std::result::Result<Json, String> {
    let mut left = MAX_RESULT_BYTES;
    json_of(value, &mut left)
}

fn json_of(value: &Value, left: &mut usize) -> std::result::Result<Json, String> {
    let spend = |left: &mut usize, n: usize| {
        *left = left
            .checked_sub(n)
            .ok_or_else(|| format!("the expression's result is larger than the {MAX_RESULT_BYTES} bytes allowed"))?;
        Ok::<(), String>(())
    };
    spend(left, 4)?;
    Ok(match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::UInt(u) => Json::from(*u),
        // A whole decimal is written as JSON writes whole numbers: `25`, not `25.0`.
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Json::from(*f as i64),
        Value::Float(f) => {
            serde_json::Number::from_f64(*f).map(Json::Number).ok_or("the result is not a finite number")?
        }
        Value::String(s) => {
            spend(left, s.len())?;
            Json::String(s.to_string())
        }
        Value::Timestamp(t) => Json::String(t.with_timezone(&Utc).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        Value::Duration(d) => {
            let ms = d.num_milliseconds();
            Json::from(if ms % 1000 == 0 {
                serde_json::Number::from(ms / 1000)
            } else {
                serde_json::Number::from_f64(ms as f64 / 1000.0).unwrap_or(0.into())
            })
        }
        Value::List(list) => Json::Array(list.iter().map(|v| json_of(v, left)).collect::<std::result::Result<_, _>>()?),
        Value::Map(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map.map.iter() {
                let key = match k {
                    Key::String(s) => s.to_string(),
                    Key::Int(i) => i.to_string(),
                    Key::Uint(u) => u.to_string(),
                    Key::Bool(b) => b.to_string(),
                };
                spend(left, key.len())?;
                out.insert(key, json_of(v, left)?);
            }
            Json::Object(out)
        }
        Value::Bytes(_) => return Err("the result is bytes, which JSON cannot hold (use string())".into()),
        other => return Err(format!("the result is a {}, which JSON cannot hold", type_name(other))),
    })
}

/// A value as text, the way `{{ }}` splices it into a string.
fn plain_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        other => to_json(other).map(|j| j.to_string()).unwrap_or_default(),
    }
}
