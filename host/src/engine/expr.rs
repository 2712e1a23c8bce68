//! Expressions in node configuration: `{{ $json.email }}`,
//! `{{ $node.lookup.json.id }}`, `"Hi {{ $json.first_name }}!"`.
//!
//! An expression is a root variable followed by a JSONPath (RFC 9535) query,
//! evaluated by `serde_json_path`: `$json.email` is the query `$.email` on the
//! current item. There are no function calls into the host, no loops and no
//! assignment: an expression reads data and nothing else. Its cost is bounded
//! by its length and at most one descendant (`..`) segment; its result by
//! [`MAX_RENDERED_BYTES`].
//!
//! | root | value |
//! |------|-------|
//! | `$json` | the current input item |
//! | `$items` | all input items of the step |
//! | `$node` | `{ <id>: {"json": first item, "items": [...]} }` for every node run so far |
//! | `$trigger` | the first item the execution started with |
//! | `$execution` | `{"id", "workflow_id", "workflow_version"}` |
//! | `$now` | milliseconds since the Unix epoch |
//!
//! A string that is exactly one expression takes the expression's JSON type
//! (a number stays a number); an expression inside text is spliced in as text.
//! A query that selects nothing gives `null` (or empty text); one that selects
//! several values gives an array.

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
            _ => return None,
        })
    }
}

/// One compiled `{{ ... }}`.
#[derive(Debug, Clone)]
struct Expr {
    root: Root,
    query: JsonPath,
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
    /// `$now`.
    pub now_ms: u64,
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
            .filter_map(|p| match p {
                Part::Expr(e) => Some(e.root),
                Part::Text(_) => None,
            })
            .collect();
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
        let body = source.strip_prefix('$').ok_or_else(|| {
            format!("`{source}`: an expression starts with $json, $items, $node, $trigger, $execution or $now")
        })?;
        let name_len = body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(body.len());
        let (name, path) = body.split_at(name_len);
        let root = Root::parse(name).ok_or_else(|| {
            format!("`{source}`: unknown variable `${name}` (use $json, $items, $node, $trigger, $execution or $now)")
        })?;
        if path.matches("..").count() > 1 {
            return Err(format!("`{source}`: at most one descendant (`..`) segment per expression"));
        }
        if !(path.is_empty() || path.starts_with('.') || path.starts_with('[')) {
            return Err(format!("`{source}`: expected `.field` or `[...]` after `${name}`"));
        }
        let query = JsonPath::parse(&format!("${path}")).map_err(|e| format!("`{source}`: {e}"))?;
        Ok(Expr { root, query })
    }

    fn eval(&self, scope: &Scope<'_>, node_value: &mut Option<Value>) -> Result<Value, String> {
        let empty = Value::Object(Map::new());
        let now;
        let root: &Value = match self.root {
            Root::Json => scope.json.unwrap_or(&empty),
            Root::Items => scope.items,
            Root::Node => node_value.get_or_insert_with(scope.node),
            Root::Trigger => scope.trigger,
            Root::Execution => scope.execution,
            Root::Now => {
                now = Value::from(scope.now_ms);
                &now
            }
        };
        let found = self.query.query(root).all();
        Ok(match found.as_slice() {
            [] => Value::Null,
            [one] => (*one).clone(),
            many => Value::Array(many.iter().map(|v| (*v).clone()).collect()),
        })
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
            "b": {"c": ["ok", "{{ json.email }}"]},
            "d": "{{ $secrets.key }}",
            "e": "{{ $json[?@.x ==] }}",
            "f": "{{ $json..a..b }}",
        }))
        .unwrap_err();
        let places: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(places, ["/a", "/b/c/1", "/d", "/e", "/f"], "{errors:?}");
        assert!(errors[2].1.contains("unknown variable `$secrets`"), "{errors:?}");
    }

    #[test]
    fn item_dependence_is_known() {
        let t = ConfigTemplate::compile(&json!({"a": "{{ $json.x }}"})).unwrap();
        assert!(t.uses(Root::Json) && !t.uses(Root::Node) && !t.is_static());
        assert!(ConfigTemplate::compile(&json!({"a": "x"})).unwrap().is_static());
    }
}
