//! Expressions in node configuration: `{{ $json.email }}`,
//! `"Hi {{ $json.first_name }}!"`, `{{ $json.score >= 50 ? "hot" : "warm" }}`.
//!
//! An expression is either a look-up (a root variable followed by a
//! JSONPath, RFC 9535, evaluated by `serde_json_path`: `$json.lines[*].sku`)
//! or, when it is more than a look-up, a CEL expression ([`cel`]): arithmetic,
//! comparisons, text, dates and list functions. Look-ups are tried first, so
//! every workflow written before CEL keeps its meaning and its speed.
//! Neither kind calls into the host: an expression reads data and nothing
//! else, within a budget of work ([`cel::EVALUATION_BUDGET`]) and of size
//! ([`MAX_RENDERED_BYTES`]). docs/expressions.md is the reference.
//!
//! | root | value |
//! |------|-------|
//! | `$json` | the current input item |
//! | `$items` | all input items of the step |
//! | `$node` | `{ <id>: {"json": first item, "items": [...]} }` for every node run so far |
//! | `$trigger` | the first item the execution started with |
//! | `$execution` | `{"id", "workflow_id", "workflow_version"}` |
//! | `$now` | the step's start: milliseconds since 1970 in a look-up, a timestamp in CEL |
//! | `$vars` | the operator's variables (`wirework serve --var name=value`) |
//!
//! A string that is exactly one expression takes the expression's JSON type
//! (a number stays a number); an expression inside text is spliced in as text.
//! A look-up that selects nothing gives `null` (or empty text); one that
//! selects several values gives an array.

mod cel;
mod library;

pub use self::cel::EVALUATION_BUDGET;

use serde_json::{Map, Value};
use serde_json_path::JsonPath;

/// Longest expression source, in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 1024;
/// Largest configuration an evaluation may produce, in bytes of JSON.
pub const MAX_RENDERED_BYTES: usize = 1 << 20;

/// The variable an expression starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// `$json`
    Json,
    /// `$items`
    Items,
    /// `$node`
    Node,
    /// `$trigger`
    Trigger,
    /// `$execution`
    Execution,
    /// `$now`
    Now,
    /// `$vars`
    Vars,
}

impl Root {
    fn parse(name: &str) -> Option<Root> {
        Some(match name {
            "json" => Root::Json,
            "items" => Root::Items,
            "node" => Root::Node,
            "trigger" => Root::Trigger,
            "execution" => Root::Execution,
            "now" => Root::Now,
            "vars" => Root::Vars,
            _ => return None,
        })
    }
}

/// One compiled `{{ ... }}`.
#[derive(Debug, Clone)]
enum Expr {
    /// A root variable and a JSONPath query on it.
    Path { root: Root, query: JsonPath },
    /// Anything more.
    Cel(Box<cel::CelExpr>),
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Expr(Expr),
}

/// A string with expressions in it.
#[derive(Debug, Clone)]
struct Template {
    parts: Vec<Part>,
}

/// What expressions can see during one step.
pub struct Scope<'a> {
    /// The current item (`$json`), when the config is evaluated per item.
    pub json: Option<&'a Value>,
    /// All input items (`$items`).
    pub items: &'a Value,
    /// Outputs of nodes run so far (`$node`), built only when used.
    pub node: &'a dyn Fn() -> Value,
    /// `$trigger`.
    pub trigger: &'a Value,
    /// `$execution`.
    pub execution: &'a Value,
    /// `$now`, in milliseconds since 1970.
    pub now_ms: u64,
    /// `$vars`.
    pub vars: &'a Value,
}

/// A node's configuration with its expressions compiled.
#[derive(Debug, Clone)]
pub struct ConfigTemplate {
    value: Value,
    holes: Vec<(Vec<PathStep>, Template)>,
    roots: Vec<Root>,
}

#[derive(Debug, Clone)]
enum PathStep {
    Key(String),
    Index(usize),
}

impl ConfigTemplate {
    /// Compile every string of `config`; errors come as (JSON pointer, message).
    pub fn compile(config: &Value) -> Result<ConfigTemplate, Vec<(String, String)>> {
        let mut holes = Vec::new();
        let mut errors = Vec::new();
        collect(config, &mut Vec::new(), &mut holes, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut roots: Vec<Root> = holes
            .iter()
            .flat_map(|(_, t): &(Vec<PathStep>, Template)| t.parts.iter())
            .flat_map(|p| match p {
                Part::Expr(Expr::Path { root, .. }) => vec![*root],
                Part::Expr(Expr::Cel(e)) => e.roots().collect(),
                Part::Text(_) => Vec::new(),
            })
            .collect();
        roots.sort_by_key(|r| *r as u8);
        roots.dedup();
        Ok(ConfigTemplate { value: config.clone(), holes, roots })
    }

    /// Whether the configuration has no expressions at all.
    pub fn is_static(&self) -> bool {
        self.holes.is_empty()
    }

    /// Whether an expression reads `root`.
    pub fn uses(&self, root: Root) -> bool {
        self.roots.contains(&root)
    }

    /// JSON pointers of the strings holding expressions (schema checks skip them).
    pub fn expression_pointers(&self) -> Vec<String> {
        self.holes.iter().map(|(path, _)| pointer(path)).collect()
    }

    /// The configuration with every expression evaluated in `scope`.
    pub fn render(&self, scope: &Scope<'_>) -> Result<Value, String> {
        let mut out = self.value.clone();
        let mut node_value = None;
        for (path, template) in &self.holes {
            let value = template.render(scope, &mut node_value).map_err(|e| format!("{}: {e}", pointer(path)))?;
            *locate(&mut out, path) = value;
        }
        let size = serde_json::to_vec(&out).map(|v| v.len()).unwrap_or(usize::MAX);
        if size > MAX_RENDERED_BYTES {
            return Err(format!(
                "the evaluated configuration is {size} bytes, more than the {MAX_RENDERED_BYTES} allowed"
            ));
        }
        Ok(out)
    }
}

fn pointer(path: &[PathStep]) -> String {
    path.iter()
        .map(|s| match s {
            PathStep::Key(k) => format!("/{}", k.replace('~', "~0").replace('/', "~1")),
            PathStep::Index(i) => format!("/{i}"),
        })
        .collect()
}

fn locate<'a>(value: &'a mut Value, path: &[PathStep]) -> &'a mut Value {
    path.iter().fold(value, |v, step| match step {
        PathStep::Key(k) => &mut v[k.as_str()],
        PathStep::Index(i) => &mut v[*i],
    })
}

fn collect(
    value: &Value,
    path: &mut Vec<PathStep>,
    holes: &mut Vec<(Vec<PathStep>, Template)>,
    errors: &mut Vec<(String, String)>,
) {
    match value {
        Value::String(text) if text.contains("{{") => match Template::compile(text) {
            Ok(template) => holes.push((path.clone(), template)),
            Err(message) => errors.push((pointer(path), message)),
        },
        Value::Array(list) => {
            for (i, v) in list.iter().enumerate() {
                path.push(PathStep::Index(i));
                collect(v, path, holes, errors);
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                path.push(PathStep::Key(k.clone()));
                collect(v, path, holes, errors);
                path.pop();
            }
        }
        _ => {}
    }
}

impl Template {
    fn compile(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| format!("`{{{{` without a closing `}}}}` in {text:?}"))?;
            parts.push(Part::Expr(Expr::compile(after[..close].trim())?));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    fn render(&self, scope: &Scope<'_>, node_value: &mut Option<Value>) -> Result<Value, String> {
        if let [Part::Expr(expr)] = self.parts.as_slice() {
            return expr.eval(scope, node_value);
        }
        let mut text = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => text.push_str(t),
                Part::Expr(expr) => match expr.eval(scope, node_value)? {
                    Value::Null => {}
                    Value::String(s) => text.push_str(&s),
                    other => text.push_str(&other.to_string()),
                },
            }
            if text.len() > MAX_RENDERED_BYTES {
                return Err("the evaluated text is too large".into());
            }
        }
        Ok(Value::String(text))
    }
}

impl Expr {
    fn compile(source: &str) -> Result<Expr, String> {
        if source.len() > MAX_EXPRESSION_BYTES {
            return Err(format!("expression longer than {MAX_EXPRESSION_BYTES} bytes"));
        }
        if let Some(path) = Expr::path(source) {
            return path;
        }
        cel::CelExpr::compile(source).map(|e| Expr::Cel(Box::new(e))).map_err(|e| format!("`{source}`: {e}"))
    }

    /// The look-up `source` spells, if it is one (`None`: try CEL).
    fn path(source: &str) -> Option<Result<Expr, String>> {
        let body = source.strip_prefix('$')?;
        let name_len = body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(body.len());
        let (name, path) = body.split_at(name_len);
        let root = Root::parse(name)?;
        if !(path.is_empty() || path.starts_with('.') || path.starts_with('[')) {
            return None;
        }
        let query = JsonPath::parse(&format!("${path}")).ok()?;
        if path.matches("..").count() > 1 {
            return Some(Err(format!("`{source}`: at most one descendant (`..`) segment per expression")));
        }
        Some(Ok(Expr::Path { root, query }))
    }

    fn eval(&self, scope: &Scope<'_>, node_value: &mut Option<Value>) -> Result<Value, String> {
        match self {
            Expr::Path { root, query } => Ok(Expr::look_up(*root, query, scope, node_value)),
            Expr::Cel(expr) => {
                let node: &Value = match expr.roots().any(|r| r == Root::Node) {
                    true => node_value.get_or_insert_with(scope.node),
                    false => &Value::Null,
                };
                let empty = Value::Object(Map::new());
                expr.eval(&cel::Variables {
                    json: scope.json.unwrap_or(&empty),
                    items: scope.items,
                    node,
                    trigger: scope.trigger,
                    execution: scope.execution,
                    vars: scope.vars,
                    now_ms: scope.now_ms,
                })
            }
        }
    }

    fn look_up(root: Root, query: &JsonPath, scope: &Scope<'_>, node_value: &mut Option<Value>) -> Value {
        let empty = Value::Object(Map::new());
        let now;
        let root: &Value = match root {
            Root::Json => scope.json.unwrap_or(&empty),
            Root::Items => scope.items,
            Root::Node => node_value.get_or_insert_with(scope.node),
            Root::Trigger => scope.trigger,
            Root::Execution => scope.execution,
            Root::Vars => scope.vars,
            Root::Now => {
                now = Value::from(scope.now_ms);
                &now
            }
        };
        let found = query.query(root).all();
        match found.as_slice() {
            [] => Value::Null,
            [one] => (*one).clone(),
            many => Value::Array(many.iter().map(|v| (*v).clone()).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(config: Value, item: Value) -> Result<Value, String> {
        let template = ConfigTemplate::compile(&config).map_err(|e| format!("{e:?}"))?;
        let items = json!([item.clone()]);
        let node = || json!({"lookup": {"json": {"id": 42}, "items": [{"id": 42}]}});
        let scope = Scope {
            json: Some(&item),
            items: &items,
            node: &node,
            trigger: &json!({"email": "t@example.com"}),
            execution: &json!({"id": "e1", "workflow_id": "wf", "workflow_version": 3}),
            now_ms: 1000,
            vars: &json!({"region": "eu"}),
        };
        template.render(&scope)
    }

    #[test]
    fn whole_expressions_keep_their_type_and_text_splices() {
        let out = render(
            json!({
                "to": "{{ $json.email }}",
                "id": "{{ $node.lookup.json.id }}",
                "subject": "Hi {{ $json.name }}, order {{$node.lookup.json.id}}",
                "first_tag": "{{ $json.tags[0] }}",
                "missing": "{{ $json.nope }}",
                "run": "{{ $execution.id }}@{{ $execution.workflow_version }}",
                "at": "{{ $now }}",
                "from_trigger": "{{ $trigger.email }}",
                "plain": "no expressions",
                "list": ["{{ $json.name }}", 1],
            }),
            json!({"email": "a@example.com", "name": "Ada", "tags": ["vip", "new"]}),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({
                "to": "a@example.com", "id": 42, "subject": "Hi Ada, order 42", "first_tag": "vip",
                "missing": null, "run": "e1@3", "at": 1000, "from_trigger": "t@example.com",
                "plain": "no expressions", "list": ["Ada", 1],
            })
        );
    }

    #[test]
    fn filters_and_several_matches() {
        let out = render(
            json!({"skus": "{{ $json.lines[*].sku }}", "big": "{{ $json.lines[?@.qty > 1].sku }}"}),
            json!({"lines": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 3}]}),
        )
        .unwrap();
        assert_eq!(out, json!({"skus": ["a", "b"], "big": "b"}));
    }

    #[test]
    fn syntax_errors_name_their_place() {
        let errors = ConfigTemplate::compile(&json!({
            "a": "{{ $json.email",
            "b": {"c": ["ok", "{{ $json.email + }}"]},
            "d": "{{ $secrets.key }}",
            "e": "{{ $json[?@.x ==] }}",
            "f": "{{ $json..a..b }}",
        }))
        .unwrap_err();
        let places: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(places, ["/a", "/b/c/1", "/d", "/e", "/f"], "{errors:?}");
        assert!(errors[2].1.contains("unknown variable `$secrets`"), "{errors:?}");
    }

    fn render_with(config: Value, item: &Value, items: &Value) -> Result<Value, String> {
        let template = ConfigTemplate::compile(&config).map_err(|e| format!("{e:?}"))?;
        let node = || json!({});
        let scope = Scope {
            json: Some(item),
            items,
            node: &node,
            trigger: &json!({}),
            execution: &json!({}),
            now_ms: 0,
            vars: &json!({}),
        };
        template.render(&scope)
    }

    #[test]
    fn an_expression_that_explodes_in_work_or_size_fails_with_a_clear_error() {
        let items = Value::Array((0..300).map(|i| json!({"i": i})).collect());
        let item = json!({"text": "x".repeat(100_000)});
        // Each turn makes a list as long as the input: 300 × 300 × 300 elements.
        let cube = render_with(json!({"v": "{{ $items.map(a, $items.map(b, $items)) }}"}), &item, &items);
        assert!(cube.as_ref().is_err_and(|e| e.contains("more work than")), "{cube:?}");
        // Each turn makes 200 KB of text.
        let text = render_with(json!({"v": "{{ $items.map(a, $json.text + $json.text).size() }}"}), &item, &items);
        assert!(text.as_ref().is_err_and(|e| e.contains("more work than")), "{text:?}");
        // A result past the size limit, made without a loop.
        let sum = "$json.text + ".repeat(12);
        let big = render_with(json!({"v": format!("{{{{ {sum}'' }}}}")}), &item, &items);
        assert!(big.as_ref().is_err_and(|e| e.contains("larger than")), "{big:?}");
        // Bounded work within the budget still runs.
        let fine = render_with(json!({"v": "{{ $items.map(a, a.i * 2).sum() }}"}), &item, &items).unwrap();
        assert_eq!(fine, json!({"v": 89700}));
    }

    #[test]
    fn deep_nesting_is_refused_at_compile_time_not_a_crash() {
        let deep = format!("{{{{ {}1{} }}}}", "(".repeat(400), ")".repeat(400));
        let errors = ConfigTemplate::compile(&json!({ "v": deep })).unwrap_err();
        assert!(errors[0].1.contains("syntax error"), "{errors:?}");
        let deep_list = format!("{{{{ {}1{} }}}}", "[".repeat(300), "]".repeat(300));
        assert!(ConfigTemplate::compile(&json!({ "v": deep_list })).is_err());
        let long = format!("{{{{ {} }}}}", "1 + ".repeat(300) + "1");
        let errors = ConfigTemplate::compile(&json!({ "v": long })).unwrap_err();
        assert!(errors[0].1.contains("longer than"), "{errors:?}");
    }

    #[test]
    fn malformed_expressions_are_errors_not_crashes() {
        for text in [
            "{{ }}",
            "{{ ) }}",
            "{{ 'unterminated }}",
            "{{ a.b( }}",
            "{{ Msg{a: 1} }}",
            "{{ 1 ? 2 : }}",
            "{{ $json.x.map(1, 2) }}",
            "{{ [1,2].map(x) }}",
            "{{ $ }}",
            "{{ $json.a.?b.[c] }}",
        ] {
            assert!(ConfigTemplate::compile(&json!({ "v": text })).is_err(), "{text} compiled");
        }
        let item = json!({"s": "abc", "n": null});
        for text in [
            "{{ {1: 2, 1: 3} }}",
            "{{ $json.s.map(c, c) }}",
            "{{ $json.s.matches('(') }}",
            "{{ $json.n.x.y + 1 }}",
            "{{ b'x' }}",
            "{{ formatDate($json.s, '%Q') }}",
            "{{ parseDate('2026-01-01').formatDate('%Y', 'Mars/Olympus') }}",
        ] {
            let out = render_with(json!({ "v": text }), &item, &json!([]));
            assert!(out.is_err(), "{text} gave {out:?}");
        }
    }

    #[test]
    fn cel_expressions_know_which_variables_they_read() {
        let t = ConfigTemplate::compile(&json!({"a": "{{ $json.score > 1 && trigger.x == vars.y }}"})).unwrap();
        assert!(t.uses(Root::Json) && t.uses(Root::Trigger) && t.uses(Root::Vars) && !t.uses(Root::Node));
        let t = ConfigTemplate::compile(&json!({"a": "{{ $items.map(i, i.x) }}"})).unwrap();
        assert!(!t.uses(Root::Json) && t.uses(Root::Items));
    }

    #[test]
    fn item_dependence_is_known() {
        let t = ConfigTemplate::compile(&json!({"a": "{{ $json.x }}"})).unwrap();
        assert!(t.uses(Root::Json) && !t.uses(Root::Node) && !t.is_static());
        assert!(ConfigTemplate::compile(&json!({"a": "x"})).unwrap().is_static());
    }
}

#[cfg(test)]
mod doc_examples;
