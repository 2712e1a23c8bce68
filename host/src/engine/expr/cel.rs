//! Expressions in the Common Expression Language (CEL), evaluated by the
//! `cel` crate: `{{ $json.score >= 50 ? "hot" : "warm" }}`.
//!
//! The crate parses, expands macros (`map`, `filter`, `all`, `exists`, `has`)
//! and evaluates. Before an expression is kept, its syntax tree is checked
//! (known variables and functions only) and rewritten so that it behaves as
//! people who write JSON expect and stays bounded:
//!
//! - a field or index that is not there is `null` (`__get`, `__index`), so
//!   `default(json.nickname, json.first_name)` works;
//! - arithmetic mixes integers and decimals (`__add`, ... in
//!   [`super::library`]): JSON has one number type, CEL has three;
//! - every turn of a comprehension and every concatenation is charged to a
//!   budget ([`Budget`]), so no expression runs away in time or size.
//!
//! Nothing an expression can call reaches the host: no I/O, no clock but the
//! step's `now`, no state between evaluations.

use super::library;
use super::Root;
use cel::common::ast::{operators, CallExpr, Expr, IdedExpr, LiteralValue, SelectExpr};
use cel::{Context, Env, Value};
use serde_json::Value as Json;
use std::cell::Cell;
use std::collections::BTreeSet;
use std::sync::{Arc, LazyLock};

/// Units of work one evaluation may use: a comprehension's turn costs one
/// plus the size of what it made; a concatenation the size of its result.
pub const EVALUATION_BUDGET: i64 = 1_000_000;

/// The variables an expression may read, with and without their `$`.
const VARIABLES: [(&str, Root); 7] = [
    ("json", Root::Json),
    ("items", Root::Items),
    ("node", Root::Node),
    ("trigger", Root::Trigger),
    ("execution", Root::Execution),
    ("now", Root::Now),
    ("vars", Root::Vars),
];

/// Functions and operators written in an expression that the rewrite turns
/// into the library's own: they are allowed as written.
const REWRITTEN: [&str; 7] = [
    operators::INDEX,
    operators::ADD,
    operators::SUBSTRACT,
    operators::MULTIPLY,
    operators::DIVIDE,
    operators::MODULO,
    operators::NEGATE,
];

/// The parser's environment: the standard library, the string extension and
/// the optional syntax (`json.?nickname.orValue("")`).
static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    env.add_extension(cel::extensions::strings).expect("the string extension registers once");
    Arc::new(env)
});

thread_local! {
    /// The context every evaluation on this thread starts from: the
    /// environment and the library's functions, built once per thread.
    static ROOT: Context<'static, 'static> = library::root_context(ENV.clone());
}

/// One compiled CEL expression.
#[derive(Debug, Clone)]
pub struct CelExpr {
    expr: IdedExpr,
    /// The variables it reads.
    reads: Vec<Read>,
}

/// A variable an expression reads.
#[derive(Debug, Clone)]
struct Read {
    name: &'static str,
    root: Root,
    /// The top-level fields it reads, when it is only read as
    /// `variable.field` (`None`: the whole value). Only those are converted.
    fields: Option<Vec<String>>,
}

/// The values an expression's variables have.
pub struct Variables<'a> {
    /// `$json`.
    pub json: &'a Json,
    /// `$items`.
    pub items: &'a Json,
    /// `$node` (`null` when no expression reads it).
    pub node: &'a Json,
    /// `$trigger`.
    pub trigger: &'a Json,
    /// `$execution`.
    pub execution: &'a Json,
    /// `$vars`.
    pub vars: &'a Json,
    /// `$now`, in milliseconds since 1970.
    pub now_ms: u64,
}

impl Variables<'_> {
    fn get(&self, root: Root) -> &Json {
        match root {
            Root::Json => self.json,
            Root::Items => self.items,
            Root::Node => self.node,
            Root::Trigger => self.trigger,
            Root::Execution => self.execution,
            Root::Vars => self.vars,
            Root::Now => &Json::Null,
        }
    }
}

impl CelExpr {
    /// Parse, check and rewrite `source` (with `$` before variable names or without).
    pub fn compile(source: &str) -> Result<CelExpr, String> {
        // As for evaluation: a panic in the young parser is this expression's error.
        std::panic::catch_unwind(|| CelExpr::compile_unguarded(source))
            .unwrap_or_else(|_| Err("the expression could not be parsed (an internal error of the parser)".into()))
    }

    fn compile_unguarded(source: &str) -> Result<CelExpr, String> {
        let text = strip_dollars(source)?;
        let program = ENV.compile(&text).map_err(|e| parse_message(&e.to_string()))?;
        let mut expr = program.expression().clone();
        let mut check = Check::default();
        check.walk(&expr, &mut Vec::new());
        if let Some(problem) = check.problems.into_iter().next() {
            return Err(problem);
        }
        rewrite(&mut expr, None);
        let reads = VARIABLES
            .iter()
            .filter(|(name, _)| check.variables.contains(*name))
            .map(|&(name, root)| Read {
                name,
                root,
                fields: (!check.whole.contains(name))
                    .then(|| check.fields.iter().filter(|(v, _)| v == name).map(|(_, f)| f.clone()).collect()),
            })
            .collect();
        Ok(CelExpr { expr, reads })
    }

    /// The variables it reads.
    pub fn roots(&self) -> impl Iterator<Item = Root> + '_ {
        self.reads.iter().map(|read| read.root)
    }

    /// Evaluate with `variables` (only those it reads are converted).
    pub fn eval(&self, variables: &Variables<'_>) -> Result<Json, String> {
        let run = || {
            ROOT.with(|root| {
                let mut ctx = root.new_inner_scope();
                for read in &self.reads {
                    let value = match (read.root, &read.fields, variables.get(read.root)) {
                        (Root::Now, _, _) => library::now_value(variables.now_ms),
                        (_, Some(fields), Json::Object(map)) => library::to_cel_fields(map, fields),
                        (_, _, value) => library::to_cel(value),
                    };
                    ctx.add_variable_from_value(read.name, value);
                }
                Budget::start(EVALUATION_BUDGET);
                let value = ctx.resolve(&self.expr).map_err(|e| library::error_message(&e));
                Budget::stop();
                value.and_then(|v| library::to_json(&v))
            })
        };
        // The crate is young: a panic in it is this evaluation's error, not the host's.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|_| {
            Err("the expression could not be evaluated (an internal error of the evaluator)".into())
        })
    }
}

/// What is left of the current evaluation's budget (per thread: an
/// evaluation runs on one thread from start to end).
pub struct Budget;

thread_local! {
    static LEFT: Cell<i64> = const { Cell::new(i64::MAX) };
}

impl Budget {
    fn start(units: i64) {
        LEFT.with(|l| l.set(units));
    }

    fn stop() {
        LEFT.with(|l| l.set(i64::MAX));
    }

    /// Use `units`; `Err` once the budget is spent.
    pub fn charge(units: usize) -> Result<(), String> {
        LEFT.with(|left| {
            let rest = left.get().saturating_sub(units.min(i64::MAX as usize) as i64);
            left.set(rest);
            if rest < 0 {
                Err(format!(
                    "the expression did more work than the {EVALUATION_BUDGET} units an evaluation may \
                     (loops over large lists, or values built ever larger)"
                ))
            } else {
                Ok(())
            }
        })
    }
}

/// `$json.x` → `json.x`, leaving text in quotes alone. A `$` before
/// anything but a known variable is an error.
fn strip_dollars(source: &str) -> Result<String, String> {
    let mut out = String::with_capacity(source.len());
    let mut quote: Option<char> = None;
    let mut chars = source.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == '\\' {
                    if let Some((_, next)) = chars.next() {
                        out.push(next);
                    }
                } else if c == q {
                    quote = None;
                }
            }
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                out.push(c);
            }
            None if c == '$' => {
                let rest = &source[i + 1..];
                let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
                let name = &rest[..len];
                if !VARIABLES.iter().any(|(n, _)| *n == name) {
                    return Err(format!("unknown variable `${name}` ({})", known_variables()));
                }
            }
            None => out.push(c),
        }
    }
    Ok(out)
}

fn known_variables() -> String {
    let names: Vec<String> = VARIABLES.iter().map(|(n, _)| format!("${n}")).collect();
    format!("use {}", names.join(", "))
}

/// The parser's message without its internal detail.
fn parse_message(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message);
    let first = first.strip_prefix("ERROR: <input>:").unwrap_or(first);
    match first.find("msg: \"") {
        Some(start) => {
            let msg = &first[start + 6..];
            let place = first.split(": ").next().unwrap_or("");
            format!("syntax error at {place}: {}", msg.split('"').next().unwrap_or(msg))
        }
        None => format!("syntax error at {first}"),
    }
}

/// What a compiled tree reads and calls, and what is wrong with it.
#[derive(Default)]
struct Check {
    variables: BTreeSet<String>,
    /// Variables read other than as `variable.field`.
    whole: BTreeSet<String>,
    /// `(variable, field)` for each `variable.field` read.
    fields: BTreeSet<(String, String)>,
    problems: Vec<String>,
}

impl Check {
    fn walk(&mut self, e: &IdedExpr, bound: &mut Vec<String>) {
        match &e.expr {
            Expr::Ident(name) => {
                if bound.contains(name) {
                } else if VARIABLES.iter().any(|(n, _)| n == name) {
                    self.variables.insert(name.clone());
                    self.whole.insert(name.clone());
                } else {
                    self.problems.push(format!("unknown name `{name}` ({})", known_variables()));
                }
            }
            Expr::Call(call) => {
                let known = library::is_known(&call.func_name)
                    || REWRITTEN.contains(&call.func_name.as_str())
                    || is_builtin_operator(&call.func_name);
                if !known {
                    self.problems.push(format!(
                        "unknown function `{}` (docs/expressions.md lists the functions)",
                        call.func_name
                    ));
                }
                if let Some(target) = &call.target {
                    self.walk(target, bound);
                }
                for arg in &call.args {
                    self.walk(arg, bound);
                }
            }
            Expr::Comprehension(c) => {
                self.walk(&c.iter_range, bound);
                self.walk(&c.accu_init, bound);
                let depth = bound.len();
                bound.push(c.accu_var.clone());
                bound.push(c.iter_var.clone());
                bound.extend(c.iter_var2.clone());
                self.walk(&c.loop_cond, bound);
                self.walk(&c.loop_step, bound);
                self.walk(&c.result, bound);
                bound.truncate(depth);
            }
            Expr::List(list) => list.elements.iter().for_each(|x| self.walk(x, bound)),
            Expr::Map(map) => {
                for entry in &map.entries {
                    if let cel::common::ast::EntryExpr::MapEntry(m) = &entry.expr {
                        self.walk(&m.key, bound);
                        self.walk(&m.value, bound);
                    }
                }
            }
            Expr::Select(s) => match &s.operand.expr {
                Expr::Ident(name) if !bound.contains(name) && VARIABLES.iter().any(|(n, _)| n == name) => {
                    self.variables.insert(name.clone());
                    self.fields.insert((name.clone(), s.field.clone()));
                }
                _ => self.walk(&s.operand, bound),
            },
            Expr::Struct(_) => self.problems.push("message literals (`Type{...}`) are not supported".into()),
            Expr::Literal(_) | Expr::Unspecified => {}
        }
    }
}

/// The operators CEL evaluates itself (comparisons, logic, membership,
/// the optional syntax, and the names its macros expand into).
fn is_builtin_operator(name: &str) -> bool {
    [
        operators::CONDITIONAL,
        operators::LOGICAL_AND,
        operators::LOGICAL_OR,
        operators::LOGICAL_NOT,
        operators::EQUALS,
        operators::NOT_EQUALS,
        operators::GREATER,
        operators::GREATER_EQUALS,
        operators::LESS,
        operators::LESS_EQUALS,
        operators::NOT_STRICTLY_FALSE,
        operators::IN,
        operators::OPT_INDEX,
        operators::OPT_SELECT,
    ]
    .contains(&name)
}

/// Rewrite the tree in place (see the module's doc). `accu` is the
/// accumulator of the comprehension whose step this is, if any.
fn rewrite(e: &mut IdedExpr, accu: Option<&str>) {
    let id = e.id;
    match &mut e.expr {
        Expr::Select(SelectExpr { test: false, .. }) => {
            // `a.b.c` → `a.?b.?c.orValue(null)`: CEL's optional chain, which
            // reads fields in place (a function would copy `a` to see it).
            let mut fields = Vec::new();
            let mut operand = std::mem::take(e);
            while let Expr::Select(SelectExpr { operand: inner, field, test: false }) = operand.expr {
                fields.push((operand.id, field));
                operand = *inner;
            }
            rewrite(&mut operand, accu);
            let chain = fields.into_iter().rev().fold(operand, |chain, (id, field)| IdedExpr {
                id,
                expr: call(operators::OPT_SELECT, vec![chain, string_literal(id, field)]),
            });
            let null = IdedExpr { id, expr: Expr::Literal(LiteralValue::Null) };
            e.id = id;
            e.expr =
                Expr::Call(CallExpr { func_name: "orValue".into(), target: Some(Box::new(chain)), args: vec![null] });
        }
        Expr::Select(SelectExpr { operand, field, test: true }) => {
            rewrite(operand, accu);
            let field = std::mem::take(field);
            let operand = std::mem::take(&mut **operand);
            e.expr = call("__has", vec![operand, string_literal(id, field)]);
        }
        Expr::Call(c) => {
            // The accumulator's own `accu + [x]` stays CEL's: it is appended to in place.
            let accumulates = c.func_name == operators::ADD
                && matches!(c.args.first().map(|a| &a.expr), Some(Expr::Ident(name)) if Some(name.as_str()) == accu);
            if let Some(target) = &mut c.target {
                rewrite(target, accu);
            }
            for arg in &mut c.args {
                rewrite(arg, accu);
            }
            let renamed = match c.func_name.as_str() {
                _ if accumulates => None,
                operators::INDEX => Some("__index"),
                operators::ADD => Some("__add"),
                operators::SUBSTRACT => Some("__sub"),
                operators::MULTIPLY => Some("__mul"),
                operators::DIVIDE => Some("__div"),
                operators::MODULO => Some("__mod"),
                operators::NEGATE => Some("__neg"),
                _ => None,
            };
            if let Some(name) = renamed {
                c.func_name = name.to_string();
            }
        }
        Expr::Comprehension(c) => {
            rewrite(&mut c.iter_range, accu);
            rewrite(&mut c.accu_init, accu);
            let inner = c.accu_var.clone();
            rewrite(&mut c.loop_cond, Some(&inner));
            rewrite(&mut c.loop_step, Some(&inner));
            rewrite(&mut c.result, Some(&inner));
            meter_step(&mut c.loop_step, &inner);
        }
        Expr::List(list) => list.elements.iter_mut().for_each(|x| rewrite(x, accu)),
        Expr::Map(map) => {
            for entry in &mut map.entries {
                if let cel::common::ast::EntryExpr::MapEntry(m) = &mut entry.expr {
                    rewrite(&mut m.key, accu);
                    rewrite(&mut m.value, accu);
                }
            }
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Struct(_) | Expr::Unspecified => {}
    }
}

/// Wrap what a comprehension's step computes per turn in `__tick`, which
/// charges the budget; the step's own shape (`accu + [x]`, `accu && x`,
/// `c ? accu + [x] : accu`) is kept so the crate still appends in place.
fn meter_step(step: &mut IdedExpr, accu: &str) {
    let structural = match &step.expr {
        Expr::Ident(name) => name == accu,
        Expr::Literal(_) => true,
        Expr::List(_) => true,
        Expr::Call(c) => {
            c.target.is_none()
                && [operators::ADD, operators::CONDITIONAL, operators::LOGICAL_AND, operators::LOGICAL_OR]
                    .contains(&c.func_name.as_str())
        }
        _ => false,
    };
    if !structural {
        let inner = std::mem::take(step);
        *step = IdedExpr { id: inner.id, expr: call("__tick", vec![inner]) };
        return;
    }
    match &mut step.expr {
        Expr::List(list) => list.elements.iter_mut().for_each(|x| meter_step(x, accu)),
        Expr::Call(c) => c.args.iter_mut().for_each(|x| meter_step(x, accu)),
        _ => {}
    }
}

fn call(name: &str, args: Vec<IdedExpr>) -> Expr {
    Expr::Call(CallExpr { func_name: name.to_string(), target: None, args })
}

fn string_literal(id: u64, text: String) -> IdedExpr {
    IdedExpr { id, expr: Expr::Literal(LiteralValue::String(text.into())) }
}

/// What a value costs the budget: one unit, and one per element or 16 bytes.
pub(super) fn weight(value: &Value) -> usize {
    match value {
        Value::String(s) => 1 + s.len() / 16,
        Value::List(l) => 1 + l.len(),
        Value::Map(m) => 1 + m.map.len(),
        Value::Bytes(b) => 1 + b.len() / 16,
        _ => 1,
    }
}
