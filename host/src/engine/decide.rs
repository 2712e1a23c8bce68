//! Decision tables: a node that holds business rules as a table, evaluated
//! by the engine per item (no plugin call: it is pure and costs microseconds).
//!
//! ```yaml
//! decide:
//!   hit: first                  # first (default), unique or collect
//!   inputs: [tier, total]       # dot paths into the item: the columns
//!   rules:
//!     - {when: [gold, ">= 100"], then: {discount: 15}}
//!     - {when: [gold, "-"],      then: {discount: 10}}
//!     - {when: ["-", "[0..100)"], then: {discount: 0}}
//! ```
//!
//! A cell is `"-"` (or `null`: any value), a number or `true`/`false` (that
//! value), a comparison (`">= 100"`, `"< 0.5"`, `"!= 3"`), a range
//! (`"[10..20)"`: brackets include, parentheses exclude), a text (that
//! text), or a list of any of these (one of them). A column holds numbers or
//! texts, not both. At deploy each rule is a box in the space of its
//! columns, and the table is checked exactly: under `unique` no two rules
//! may overlap; under `first` no rule may be covered by the rules above it
//! (it could never match).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// How many rules a table may hold.
pub const MAX_RULES: usize = 500;

/// A decision table, as written in a node's `decide`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionTable {
    /// Which rules' outputs an item gets.
    #[serde(default)]
    pub hit: HitPolicy,
    /// The columns: dot paths into the item (`customer.tier`, `lines.0.qty`).
    pub inputs: Vec<String>,
    /// The rules, in order.
    pub rules: Vec<Rule>,
}

/// Which rules' outputs an item gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HitPolicy {
    /// The first rule that matches; a rule the ones above it cover is refused.
    #[default]
    First,
    /// The one rule that matches; rules that overlap are refused.
    Unique,
    /// Every rule that matches, in order, as a list under `decisions`.
    Collect,
}

/// One row: a cell per input, and the fields it sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// A cell per input (see the module's doc).
    pub when: Vec<Value>,
    /// The fields set on a matching item.
    pub then: Map<String, Value>,
}

/// A table checked at deploy, ready to evaluate.
#[derive(Debug, Clone)]
pub(crate) struct CompiledTable {
    hit: HitPolicy,
    inputs: Vec<String>,
    rules: Vec<(Vec<Cell>, Map<String, Value>)>,
}

/// One parsed cell: the set of values it matches.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Any,
    Numbers(Vec<Interval>),
    Texts(Vec<String>),
}

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Numbers,
    Texts,
}

impl DecisionTable {
    /// Check the table; the compiled table, or every problem as (place, message).
    pub(crate) fn compile(&self) -> Result<CompiledTable, Vec<(String, String)>> {
        let mut problems = Vec::new();
        if self.inputs.is_empty() {
            problems.push(("inputs".into(), "a table needs at least one input column".into()));
        }
        if self.rules.is_empty() {
            problems.push(("rules".into(), "a table needs at least one rule".into()));
        }
        if self.rules.len() > MAX_RULES {
            problems.push((
                "rules".into(),
                format!("{} rules, more than the {MAX_RULES} a table may hold", self.rules.len()),
            ));
        }
        for (i, input) in self.inputs.iter().enumerate() {
            if input.is_empty() || input.split('.').any(str::is_empty) {
                problems.push((format!("inputs[{i}]"), format!("`{input}` is not a dot path such as `customer.tier`")));
            }
        }
        let mut rules = Vec::new();
        for (r, rule) in self.rules.iter().enumerate() {
            if rule.when.len() != self.inputs.len() {
                let message = format!("{} cells for {} inputs", rule.when.len(), self.inputs.len());
                problems.push((format!("rules[{r}].when"), message));
                continue;
            }
            let mut cells = Vec::new();
            for (c, cell) in rule.when.iter().enumerate() {
                match Cell::parse(cell) {
                    Ok(cell) => cells.push(cell),
                    Err(message) => problems.push((format!("rules[{r}].when[{c}]"), message)),
                }
            }
            rules.push(cells);
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        // A column holds numbers or texts; a cell of the other kind is a mistake.
        let mut kinds = Vec::new();
        for c in 0..self.inputs.len() {
            let mut kind = None;
            for (r, cells) in rules.iter().enumerate() {
                let this = match &cells[c] {
                    Cell::Any => continue,
                    Cell::Numbers(_) => Kind::Numbers,
                    Cell::Texts(_) => Kind::Texts,
                };
                match kind {
                    None => kind = Some((this, r)),
                    Some((k, first)) if k != this => problems.push((
                        format!("rules[{r}].when[{c}]"),
                        format!(
                            "column `{}` holds {} from rule {} on, and this cell is {}",
                            self.inputs[c],
                            kind_name(k),
                            first + 1,
                            kind_name(this)
                        ),
                    )),
                    Some(_) => {}
                }
            }
            kinds.push(kind.map_or(Kind::Texts, |(k, _)| k));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let boxes: Vec<Vec<Set>> = rules
            .iter()
            .map(|cells| cells.iter().zip(&kinds).map(|(cell, kind)| Set::of(cell, *kind)).collect())
            .collect();
        match self.hit {
            HitPolicy::Unique => {
                for (j, b) in boxes.iter().enumerate() {
                    for (i, a) in boxes[..j].iter().enumerate() {
                        if intersects(a, b) {
                            let message =
                                format!("rules {} and {} overlap: an item can match both (hit: unique)", i + 1, j + 1);
                            problems.push((format!("rules[{j}]"), message));
                        }
                    }
                }
            }
            HitPolicy::First => {
                for (j, b) in boxes.iter().enumerate() {
                    let mut left = vec![b.clone()];
                    let mut covering = Vec::new();
                    for (i, a) in boxes[..j].iter().enumerate() {
                        if left.iter().any(|l| intersects(l, a)) {
                            covering.push((i + 1).to_string());
                        }
                        left = left.iter().flat_map(|l| subtract(l, a)).collect();
                        if left.is_empty() {
                            break;
                        }
                    }
                    if left.is_empty() {
                        let message = format!(
                            "rule {} can never match: rule{} {} above it cover{} every item it matches (hit: first)",
                            j + 1,
                            if covering.len() > 1 { "s" } else { "" },
                            covering.join(", "),
                            if covering.len() > 1 { "" } else { "s" },
                        );
                        problems.push((format!("rules[{j}]"), message));
                    }
                }
            }
            HitPolicy::Collect => {}
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let rules = rules.into_iter().zip(&self.rules).map(|(cells, rule)| (cells, rule.then.clone())).collect();
        Ok(CompiledTable { hit: self.hit, inputs: self.inputs.clone(), rules })
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Numbers => "numbers",
        Kind::Texts => "texts",
    }
}

impl CompiledTable {
    /// Decide for one item: `Some(item with the rule's fields)` on a match
    /// (with `decisions` listing every match under `collect`), else `None`.
    pub(crate) fn decide(&self, item: &Value) -> Option<Value> {
        let values: Vec<Option<&Value>> = self.inputs.iter().map(|path| lookup(item, path)).collect();
        let mut matches = self.rules.iter().filter(|(cells, _)| cells.iter().zip(&values).all(|(c, v)| c.matches(*v)));
        let mut out = item.as_object().cloned().unwrap_or_default();
        match self.hit {
            HitPolicy::First | HitPolicy::Unique => {
                let (_, then) = matches.next()?;
                out.extend(then.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            HitPolicy::Collect => {
                let all: Vec<Value> = matches.map(|(_, then)| Value::Object(then.clone())).collect();
                if all.is_empty() {
                    return None;
                }
                out.insert("decisions".into(), Value::Array(all));
            }
        }
        Some(Value::Object(out))
    }
}

/// The value at a dot path (`lines.0.sku`), if there is one.
fn lookup<'a>(item: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(item, |v, key| match v {
        Value::Object(map) => map.get(key),
        Value::Array(list) => key.parse::<usize>().ok().and_then(|i| list.get(i)),
        _ => None,
    })
}

impl Cell {
    fn parse(cell: &Value) -> Result<Cell, String> {
        match cell {
            Value::Null => Ok(Cell::Any),
            Value::String(s) if s.trim() == "-" || s.trim().is_empty() => Ok(Cell::Any),
            Value::Array(list) if !list.is_empty() => {
                let parts = list.iter().map(Cell::parse).collect::<Result<Vec<_>, _>>()?;
                let mut numbers = Vec::new();
                let mut texts = Vec::new();
                for part in parts {
                    match part {
                        Cell::Any => return Ok(Cell::Any),
                        Cell::Numbers(n) => numbers.extend(n),
                        Cell::Texts(t) => texts.extend(t),
                    }
                }
                match (numbers.is_empty(), texts.is_empty()) {
                    (false, true) => Ok(Cell::Numbers(numbers)),
                    (true, false) => Ok(Cell::Texts(texts)),
                    _ => Err("a list of numbers and texts at once".into()),
                }
            }
            Value::Array(_) => Err("an empty list matches nothing".into()),
            Value::Number(n) => {
                let x = n.as_f64().ok_or("not a number")?;
                Ok(Cell::Numbers(vec![Interval::point(x)]))
            }
            Value::Bool(b) => Ok(Cell::Texts(vec![b.to_string()])),
            Value::String(s) => Ok(parse_text_cell(s.trim())),
            Value::Object(_) => Err("a cell is a value, a comparison, a range or a list, not an object".into()),
        }
    }

    fn matches(&self, value: Option<&Value>) -> bool {
        match self {
            Cell::Any => true,
            Cell::Numbers(intervals) => {
                let x = match value {
                    Some(Value::Number(n)) => n.as_f64(),
                    Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
                    _ => None,
                };
                x.is_some_and(|x| intervals.iter().any(|i| i.contains(x)))
            }
            Cell::Texts(texts) => {
                let text = match value {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Bool(b)) => b.to_string(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => return false,
                };
                texts.contains(&text)
            }
        }
    }
}

/// A text cell: a comparison or a range when it reads as one, else the text itself.
fn parse_text_cell(s: &str) -> Cell {
    for (op, make) in [
        (">=", Interval::at_least as fn(f64) -> Vec<Interval>),
        ("<=", Interval::at_most),
        ("!=", Interval::except),
        (">", Interval::above),
        ("<", Interval::below),
        ("=", |x| vec![Interval::point(x)]),
    ] {
        if let Some(rest) = s.strip_prefix(op) {
            if let Ok(x) = rest.trim().parse::<f64>() {
                if x.is_finite() {
                    return Cell::Numbers(make(x));
                }
            }
        }
    }
    if let Some(range) = parse_range(s) {
        return Cell::Numbers(vec![range]);
    }
    Cell::Texts(vec![s.to_string()])
}

/// `[a..b]`, `(a..b)`, `[a..b)`, `(a..b]`.
fn parse_range(s: &str) -> Option<Interval> {
    let lo_closed = match s.chars().next()? {
        '[' => true,
        '(' => false,
        _ => return None,
    };
    let hi_closed = match s.chars().last()? {
        ']' => true,
        ')' => false,
        _ => return None,
    };
    let (a, b) = s[1..s.len() - 1].split_once("..")?;
    let (lo, hi) = (a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?);
    (lo.is_finite() && hi.is_finite() && lo <= hi)
        .then_some(Interval { lo: Bound { at: lo, closed: lo_closed }, hi: Bound { at: hi, closed: hi_closed } })
}

/// An end of an interval (`at` may be infinite, then never closed).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bound {
    at: f64,
    closed: bool,
}

/// A set of numbers between two ends.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Interval {
    lo: Bound,
    hi: Bound,
}

impl Interval {
    const ALL: Interval =
        Interval { lo: Bound { at: f64::NEG_INFINITY, closed: false }, hi: Bound { at: f64::INFINITY, closed: false } };

    fn point(x: f64) -> Interval {
        Interval { lo: Bound { at: x, closed: true }, hi: Bound { at: x, closed: true } }
    }
    fn at_least(x: f64) -> Vec<Interval> {
        vec![Interval { lo: Bound { at: x, closed: true }, ..Interval::ALL }]
    }
    fn above(x: f64) -> Vec<Interval> {
        vec![Interval { lo: Bound { at: x, closed: false }, ..Interval::ALL }]
    }
    fn at_most(x: f64) -> Vec<Interval> {
        vec![Interval { hi: Bound { at: x, closed: true }, ..Interval::ALL }]
    }
    fn below(x: f64) -> Vec<Interval> {
        vec![Interval { hi: Bound { at: x, closed: false }, ..Interval::ALL }]
    }
    fn except(x: f64) -> Vec<Interval> {
        let mut below = Interval::below(x);
        below.extend(Interval::above(x));
        below
    }

    fn contains(&self, x: f64) -> bool {
        let above_lo = x > self.lo.at || (self.lo.closed && x == self.lo.at);
        let below_hi = x < self.hi.at || (self.hi.closed && x == self.hi.at);
        above_lo && below_hi
    }

    fn is_empty(&self) -> bool {
        self.lo.at > self.hi.at || (self.lo.at == self.hi.at && !(self.lo.closed && self.hi.closed))
    }

    fn intersect(&self, other: &Interval) -> Interval {
        let lo =
            if self.lo.at > other.lo.at || (self.lo.at == other.lo.at && !self.lo.closed) { self.lo } else { other.lo };
        let hi =
            if self.hi.at < other.hi.at || (self.hi.at == other.hi.at && !self.hi.closed) { self.hi } else { other.hi };
        Interval { lo, hi }
    }

    /// `self` without `other`: up to two pieces.
    fn subtract(&self, other: &Interval) -> Vec<Interval> {
        if self.intersect(other).is_empty() {
            return vec![*self];
        }
        let left = Interval { lo: self.lo, hi: Bound { at: other.lo.at, closed: !other.lo.closed } };
        let right = Interval { lo: Bound { at: other.hi.at, closed: !other.hi.closed }, hi: self.hi };
        [left.intersect(self), right.intersect(self)].into_iter().filter(|i| !i.is_empty()).collect()
    }
}

/// A cell as a set in its column's space: numbers as a union of intervals;
/// texts as a finite set, or everything but a finite set.
#[derive(Debug, Clone, PartialEq)]
enum Set {
    Numbers(Vec<Interval>),
    Texts { except: bool, values: Vec<String> },
}

impl Set {
    fn of(cell: &Cell, kind: Kind) -> Set {
        match (cell, kind) {
            (Cell::Any, Kind::Numbers) => Set::Numbers(vec![Interval::ALL]),
            (Cell::Any, Kind::Texts) => Set::Texts { except: true, values: Vec::new() },
            (Cell::Numbers(n), _) => Set::Numbers(n.clone()),
            (Cell::Texts(t), _) => Set::Texts { except: false, values: t.clone() },
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Set::Numbers(n) => n.iter().all(Interval::is_empty),
            Set::Texts { except, values } => !except && values.is_empty(),
        }
    }

    fn intersect(&self, other: &Set) -> Set {
        match (self, other) {
            (Set::Numbers(a), Set::Numbers(b)) => Set::Numbers(
                a.iter().flat_map(|x| b.iter().map(|y| x.intersect(y))).filter(|i| !i.is_empty()).collect(),
            ),
            (Set::Texts { except: ea, values: a }, Set::Texts { except: eb, values: b }) => match (ea, eb) {
                (false, false) => {
                    Set::Texts { except: false, values: a.iter().filter(|v| b.contains(v)).cloned().collect() }
                }
                (false, true) => {
                    Set::Texts { except: false, values: a.iter().filter(|v| !b.contains(v)).cloned().collect() }
                }
                (true, false) => {
                    Set::Texts { except: false, values: b.iter().filter(|v| !a.contains(v)).cloned().collect() }
                }
                (true, true) => Set::Texts { except: true, values: a.iter().chain(b).cloned().collect() },
            },
            _ => Set::Numbers(Vec::new()),
        }
    }

    fn subtract(&self, other: &Set) -> Set {
        match (self, other) {
            (Set::Numbers(a), Set::Numbers(b)) => {
                Set::Numbers(b.iter().fold(a.clone(), |left, y| left.iter().flat_map(|x| x.subtract(y)).collect()))
            }
            (Set::Texts { .. }, Set::Texts { except, values }) => {
                self.intersect(&Set::Texts { except: !except, values: values.clone() })
            }
            _ => self.clone(),
        }
    }
}

/// Whether two rules' boxes share a point.
fn intersects(a: &[Set], b: &[Set]) -> bool {
    a.iter().zip(b).all(|(x, y)| !x.intersect(y).is_empty())
}

/// Box `a` without box `b`, as disjoint boxes.
fn subtract(a: &[Set], b: &[Set]) -> Vec<Vec<Set>> {
    if !intersects(a, b) {
        return vec![a.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..a.len() {
        let rest = a[i].subtract(&b[i]);
        if rest.is_empty() {
            continue;
        }
        let mut piece: Vec<Set> = Vec::with_capacity(a.len());
        piece.extend(a[..i].iter().zip(&b[..i]).map(|(x, y)| x.intersect(y)));
        piece.push(rest);
        piece.extend(a[i + 1..].iter().cloned());
        out.push(piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table(value: Value) -> DecisionTable {
        serde_json::from_value(value).unwrap()
    }

    fn problems(value: Value) -> Vec<String> {
        table(value).compile().err().unwrap_or_default().into_iter().map(|(at, m)| format!("{at}: {m}")).collect()
    }

    #[test]
    fn first_hit_gives_the_first_matching_rule_s_fields() {
        let t = table(json!({
            "inputs": ["tier", "total"],
            "rules": [
                {"when": ["gold", ">= 100"], "then": {"discount": 15}},
                {"when": ["gold", "-"], "then": {"discount": 10}},
                {"when": [["silver", "bronze"], "[50..100)"], "then": {"discount": 5}},
                {"when": ["-", "-"], "then": {"discount": 0}},
            ]
        }))
        .compile()
        .unwrap();
        let decide = |item: Value| t.decide(&item).map(|v| v["discount"].clone());
        assert_eq!(decide(json!({"tier": "gold", "total": 150})), Some(json!(15)));
        assert_eq!(
            decide(json!({"tier": "gold", "total": "99.5"})),
            Some(json!(10)),
            "numeric text compares as a number"
        );
        assert_eq!(decide(json!({"tier": "silver", "total": 50})), Some(json!(5)));
        assert_eq!(decide(json!({"tier": "silver", "total": 100})), Some(json!(0)), "100 is outside [50..100)");
        assert_eq!(decide(json!({})), Some(json!(0)));
        let out = t.decide(&json!({"tier": "gold", "total": 150, "id": 7})).unwrap();
        assert_eq!(out, json!({"tier": "gold", "total": 150, "id": 7, "discount": 15}), "the item keeps its fields");
    }

    #[test]
    fn no_match_is_none_and_collect_lists_every_match() {
        let t = table(json!({
            "hit": "collect",
            "inputs": ["country", "score"],
            "rules": [
                {"when": ["NL", "-"], "then": {"team": "benelux"}},
                {"when": ["-", "> 80"], "then": {"team": "priority"}},
            ]
        }))
        .compile()
        .unwrap();
        assert_eq!(
            t.decide(&json!({"country": "NL", "score": 90})).unwrap()["decisions"],
            json!([{"team": "benelux"}, {"team": "priority"}])
        );
        assert_eq!(t.decide(&json!({"country": "DE", "score": 10})), None);
    }

    #[test]
    fn unique_tables_refuse_overlapping_rules() {
        let p = problems(json!({
            "hit": "unique",
            "inputs": ["tier", "total"],
            "rules": [
                {"when": ["gold", "< 100"], "then": {}},
                {"when": ["gold", ">= 100"], "then": {}},
                {"when": [["gold", "silver"], "[90..95]"], "then": {}},
                {"when": ["bronze", "!= 3"], "then": {}},
                {"when": ["bronze", 3], "then": {}},
            ]
        }));
        assert_eq!(p, ["rules[2]: rules 1 and 3 overlap: an item can match both (hit: unique)"]);
    }

    #[test]
    fn first_tables_refuse_rules_the_ones_above_cover() {
        // Rule 3 is covered by 1 and 2 together, neither alone.
        let p = problems(json!({
            "inputs": ["tier", "total"],
            "rules": [
                {"when": ["-", "< 100"], "then": {}},
                {"when": ["gold", ">= 100"], "then": {}},
                {"when": ["gold", "[50..500]"], "then": {}},
                {"when": ["silver", "(100..200)"], "then": {}},
                {"when": ["silver", "[100..200]"], "then": {}},
            ]
        }));
        assert_eq!(
            p,
            ["rules[2]: rule 3 can never match: rules 1, 2 above it cover every item it matches (hit: first)"]
        );
        // Rule 5 is not covered: 100 and 200 themselves are left to it.
    }

    #[test]
    fn malformed_tables_name_their_place() {
        let p = problems(json!({
            "inputs": ["tier", ""],
            "rules": [
                {"when": ["gold"], "then": {}},
                {"when": [{"x": 1}, []], "then": {}},
            ]
        }));
        assert_eq!(
            p,
            [
                "inputs[1]: `` is not a dot path such as `customer.tier`",
                "rules[0].when: 1 cells for 2 inputs",
                "rules[1].when[0]: a cell is a value, a comparison, a range or a list, not an object",
                "rules[1].when[1]: an empty list matches nothing",
            ]
        );
        let p = problems(
            json!({"inputs": ["a"], "rules": [{"when": [">= 3"], "then": {}}, {"when": ["three"], "then": {}}]}),
        );
        assert_eq!(p, ["rules[1].when[0]: column `a` holds numbers from rule 1 on, and this cell is texts"]);
        assert!(problems(json!({"inputs": ["a"], "rules": []}))[0].contains("at least one rule"));
    }
}
