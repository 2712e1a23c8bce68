//! `wirework/core`: the nodes every workflow needs.
//!
//! | node      | what it does |
//! |-----------|--------------|
//! | `webhook` | trigger: turns a JSON or form body into an item |
//! | `set`     | sets, renames and removes fields |
//! | `if`      | routes each item to `true` or `false` by a condition |
//! | `switch`  | routes each item to the port of the first rule it matches |
//! | `filter`  | keeps the items that match (`main`), the rest go to `discarded` |
//! | `merge`   | folds items (the branches of a join, say) into one, one per key, or a list |
//! | `wait`    | waits a duration, until a time, or for an event with a timeout |
//! | `respond` | describes the HTTP answer to a synchronous webhook |
//! | `noop`    | passes items through |
//!
//! Conditions are described in [`condition`].

pub mod condition;

use condition::Condition;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use wirework_sdk::{clock, Input, Item, Node, NodeError, NodeInfo, Outcome, Request, Response, TriggerResult};

/// Configuration of `webhook`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Accepted methods; others are answered 405. Default: POST only.
    #[serde(default = "default_methods")]
    pub methods: Vec<String>,
    /// Wrap the body with the request's method, path, query and headers:
    /// `{"body": .., "query": {..}, "headers": {..}, "method": .., "path": ..}`.
    #[serde(default)]
    pub include_request: bool,
}

fn default_methods() -> Vec<String> {
    vec!["POST".into()]
}

/// Trigger: one item per request, from a JSON or form-encoded body.
pub struct Webhook;

impl Node for Webhook {
    const NAME: &'static str = "webhook";
    type Config = WebhookConfig;

    fn info() -> NodeInfo {
        NodeInfo::trigger("Webhook", "Starts an execution from an HTTP request's JSON or form body").schema(json!({
            "type": "object",
            "properties": {
                "methods": {"type": "array", "items": {"type": "string"}},
                "include_request": {"type": "boolean"}
            },
            "additionalProperties": false
        }))
    }

    fn run(_: WebhookConfig, input: Input) -> Result<Outcome, NodeError> {
        Ok(Outcome::emit(input.items))
    }

    fn handle_request(config: WebhookConfig, req: Request) -> Result<TriggerResult, NodeError> {
        if !config.methods.iter().any(|m| m.eq_ignore_ascii_case(&req.method)) {
            // RFC 9110: a 405 says which methods the resource takes.
            let allowed: Vec<String> = config.methods.iter().map(|m| m.to_ascii_uppercase()).collect();
            let mut answer = reject(405, &format!("method {} not allowed: {}", req.method, allowed.join(", ")));
            if let Some(response) = answer.response.as_mut() {
                response.headers.push(("allow".into(), allowed.join(", ")));
            }
            return Ok(answer);
        }
        let body = match parse_body(&req) {
            Ok(body) => body,
            Err(message) => return Ok(reject(400, &message)),
        };
        let item = if config.include_request {
            let headers: Map<String, Value> =
                req.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v.clone()))).collect();
            json!({
                "body": body,
                "query": form_to_object(req.query.as_bytes()),
                "headers": headers,
                "method": req.method,
                "path": req.path,
            })
        } else if body.is_object() {
            body
        } else {
            json!({ "body": body })
        };
        Ok(TriggerResult::start(vec![item]))
    }
}

fn reject(status: u16, message: &str) -> TriggerResult {
    TriggerResult::respond(Response::json(status, &json!({"error": message})))
}

fn parse_body(req: &Request) -> Result<Value, String> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let content_type = req.header("content-type").unwrap_or("").to_ascii_lowercase();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        Ok(form_to_object(&req.body))
    } else if content_type.is_empty() || content_type.contains("json") {
        serde_json::from_slice(&req.body).map_err(|e| format!("body is not valid JSON: {e}"))
    } else {
        match std::str::from_utf8(&req.body) {
            Ok(text) => Ok(Value::String(text.to_string())),
            Err(_) => Err(format!("unsupported binary body of type {content_type}")),
        }
    }
}

/// Form fields as an object; a repeated field becomes an array.
fn form_to_object(bytes: &[u8]) -> Value {
    let mut out = Map::new();
    for (key, value) in form_urlencoded::parse(bytes) {
        let value = Value::String(value.into_owned());
        match out.get_mut(key.as_ref()) {
            Some(Value::Array(list)) => list.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
            None => {
                out.insert(key.into_owned(), value);
            }
        }
    }
    Value::Object(out)
}

/// Configuration of `set`. Applied in order: rename, set, remove.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetConfig {
    /// Fields to set, by dot path (`contact.status`); objects on the way are created.
    #[serde(default)]
    pub fields: BTreeMap<String, Value>,
    /// Fields to rename: old dot path to new dot path.
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
    /// Fields to remove, by dot path.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Output only the fields set here, dropping the rest of the item.
    #[serde(default)]
    pub keep_only_set: bool,
}

/// Sets, renames and removes fields on every item.
pub struct Set;

impl Node for Set {
    const NAME: &'static str = "set";
    type Config = SetConfig;

    fn info() -> NodeInfo {
        NodeInfo::action("Set fields", "Sets, renames and removes fields on every item").schema(json!({
            "type": "object",
            "properties": {
                "fields": {"type": "object"},
                "rename": {"type": "object", "additionalProperties": {"type": "string"}},
                "remove": {"type": "array", "items": {"type": "string"}},
                "keep_only_set": {"type": "boolean"}
            },
            "additionalProperties": false
        }))
    }

    fn run(config: SetConfig, input: Input) -> Result<Outcome, NodeError> {
        let items = input
            .items
            .into_iter()
            .map(|item| {
                let mut item = if config.keep_only_set { json!({}) } else { item };
                for (from, to) in &config.rename {
                    if let Some(value) = remove_path(&mut item, from) {
                        set_path(&mut item, to, value)?;
                    }
                }
                for (path, value) in &config.fields {
                    set_path(&mut item, path, value.clone())?;
                }
                for path in &config.remove {
                    remove_path(&mut item, path);
                }
                Ok(item)
            })
            .collect::<Result<Vec<_>, NodeError>>()?;
        Ok(Outcome::emit(items))
    }
}

fn set_path(item: &mut Value, path: &str, value: Value) -> Result<(), NodeError> {
    let mut target = item;
    let mut keys = path.split('.').peekable();
    while let Some(key) = keys.next() {
        if !target.is_object() {
            if !target.is_null() {
                return Err(NodeError::fatal(format!("cannot set `{path}`: `{key}` is inside a non-object"))
                    .with_code("bad_path"));
            }
            *target = json!({});
        }
        let map = target.as_object_mut().expect("made an object above");
        if keys.peek().is_none() {
            map.insert(key.to_string(), value);
            return Ok(());
        }
        target = map.entry(key.to_string()).or_insert(Value::Null);
    }
    Err(NodeError::fatal("empty field path").with_code("bad_path"))
}

fn remove_path(item: &mut Value, path: &str) -> Option<Value> {
    let (parent, last) = match path.rsplit_once('.') {
        Some((parent, last)) => (lookup_mut(item, parent)?, last),
        None => (item, path),
    };
    parent.as_object_mut()?.remove(last)
}

fn lookup_mut<'a>(item: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    path.split('.').try_fold(item, |v, key| v.as_object_mut()?.get_mut(key))
}

/// Configuration of `if` and `filter`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionConfig {
    /// The test each item is put to.
    pub condition: Condition,
}

/// Routes each item to `true` or `false`.
pub struct If;

impl Node for If {
    const NAME: &'static str = "if";
    type Config = ConditionConfig;

    fn info() -> NodeInfo {
        NodeInfo::action("If", "Routes each item to `true` or `false` by a condition")
            .schema(condition_schema())
            .ports(&["true", "false"])
    }

    fn run(config: ConditionConfig, input: Input) -> Result<Outcome, NodeError> {
        let (yes, no): (Vec<Item>, Vec<Item>) = input.items.into_iter().partition(|item| config.condition.holds(item));
        Ok(Outcome::Emit(vec![("true".into(), yes), ("false".into(), no)]))
    }
}

/// Keeps the items that match.
pub struct Filter;

impl Node for Filter {
    const NAME: &'static str = "filter";
    type Config = ConditionConfig;

    fn info() -> NodeInfo {
        NodeInfo::action("Filter", "Keeps the items that match; the rest go to `discarded`")
            .schema(condition_schema())
            .ports(&["main", "discarded"])
    }

    fn run(config: ConditionConfig, input: Input) -> Result<Outcome, NodeError> {
        let (kept, dropped): (Vec<Item>, Vec<Item>) =
            input.items.into_iter().partition(|item| config.condition.holds(item));
        Ok(Outcome::Emit(vec![("main".into(), kept), ("discarded".into(), dropped)]))
    }
}

fn condition_schema() -> Value {
    json!({"type": "object", "required": ["condition"], "properties": {"condition": {"type": ["object", "boolean"]}}})
}

/// Configuration of `switch`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchConfig {
    /// Tried in order; an item goes to the port of the first rule it matches.
    pub rules: Vec<SwitchRule>,
    /// The port for items no rule matches.
    #[serde(default = "default_fallback")]
    pub fallback: String,
}

/// One `switch` rule.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchRule {
    /// The output port.
    pub port: String,
    /// The test.
    pub when: Condition,
}

fn default_fallback() -> String {
    "default".into()
}

/// Routes each item to the port of the first matching rule.
pub struct Switch;

impl Node for Switch {
    const NAME: &'static str = "switch";
    type Config = SwitchConfig;

    fn info() -> NodeInfo {
        NodeInfo::action("Switch", "Routes each item to the port of the first rule it matches")
            .schema(json!({"type": "object", "required": ["rules"],
                "properties": {"rules": {"type": "array"}, "fallback": {"type": "string"}}}))
            .ports(&[])
    }

    fn run(config: SwitchConfig, input: Input) -> Result<Outcome, NodeError> {
        let mut ports: Vec<(String, Vec<Item>)> = config.rules.iter().map(|r| (r.port.clone(), Vec::new())).collect();
        if !ports.iter().any(|(p, _)| *p == config.fallback) {
            ports.push((config.fallback.clone(), Vec::new()));
        }
        for item in input.items {
            let port = config.rules.iter().find(|r| r.when.holds(&item)).map_or(&config.fallback, |r| &r.port);
            let slot = ports.iter_mut().find(|(p, _)| p == port).expect("every port has a slot");
            slot.1.push(item);
        }
        Ok(Outcome::Emit(ports))
    }
}

/// Configuration of `merge`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeConfig {
    /// How items are folded; default `combine`.
    #[serde(default)]
    pub mode: MergeMode,
    /// `by_field`: the dot path whose value groups items.
    pub field: Option<String>,
    /// `collect`: the field that holds the list; default `items`.
    pub into: Option<String>,
}

/// What `merge` makes of its items.
#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MergeMode {
    /// One item: every item's fields, merged in order (objects merged
    /// recursively; for any other value the later item wins).
    #[default]
    Combine,
    /// One item per distinct value of `field`, combined as above, in the
    /// order the values first appear; items without it go to `unmatched`.
    ByField,
    /// One item holding the list of all items under `into`.
    Collect,
    /// The first item only.
    First,
}

/// Folds items into one (or one per key). After a join, whose items are
/// every branch's concatenated in connection order, it makes one item of
/// the branches' results, so the nodes after it run once.
pub struct Merge;

impl Node for Merge {
    const NAME: &'static str = "merge";
    type Config = MergeConfig;

    fn info() -> NodeInfo {
        NodeInfo::action(
            "Merge",
            "Folds items into one: their fields combined, one item per value of a field, a list, or the first",
        )
        .schema(json!({
            "type": "object",
            "properties": {
                "mode": {"enum": ["combine", "by_field", "collect", "first"]},
                "field": {"type": "string", "minLength": 1},
                "into": {"type": "string", "minLength": 1}
            },
            "additionalProperties": false,
            "if": {"properties": {"mode": {"const": "by_field"}}, "required": ["mode"]},
            "then": {"required": ["field"]},
            "dependentSchemas": {
                "field": {"required": ["mode"], "properties": {"mode": {"const": "by_field"}}},
                "into": {"required": ["mode"], "properties": {"mode": {"const": "collect"}}}
            }
        }))
        .ports(&["main", "unmatched"])
    }

    fn run(config: MergeConfig, input: Input) -> Result<Outcome, NodeError> {
        let bad = |message: &str| Err(NodeError::fatal(message).with_code("bad_config"));
        if (config.mode == MergeMode::ByField) != config.field.is_some() {
            return bad("`field` is needed by mode by_field, and only there");
        }
        if config.mode != MergeMode::Collect && config.into.is_some() {
            return bad("`into` is only for mode collect");
        }
        let items = input.items;
        if items.is_empty() {
            return Ok(Outcome::emit(Vec::new()));
        }
        Ok(match config.mode {
            MergeMode::Combine => Outcome::emit(vec![combine(items)]),
            MergeMode::First => Outcome::emit(items.into_iter().take(1).collect()),
            MergeMode::Collect => {
                let mut item = json!({});
                set_path(&mut item, config.into.as_deref().unwrap_or("items"), Value::Array(items))?;
                Outcome::emit(vec![item])
            }
            MergeMode::ByField => {
                let field = config.field.as_deref().expect("checked above");
                let mut groups: Vec<(Value, Vec<Item>)> = Vec::new();
                let mut unmatched = Vec::new();
                for item in items {
                    match condition::lookup(&item, field).filter(|v| !v.is_null()).cloned() {
                        Some(key) => match groups.iter_mut().find(|(k, _)| *k == key) {
                            Some((_, group)) => group.push(item),
                            None => groups.push((key, vec![item])),
                        },
                        None => unmatched.push(item),
                    }
                }
                let merged = groups.into_iter().map(|(_, group)| combine(group)).collect();
                Outcome::Emit(vec![("main".into(), merged), ("unmatched".into(), unmatched)])
            }
        })
    }
}

/// `items` merged into one, in order.
fn combine(items: Vec<Item>) -> Item {
    items.into_iter().fold(json!({}), |mut merged, item| {
        merge_value(&mut merged, item);
        merged
    })
}

/// Merge `from` into `into`: objects key by key, recursively; anything else
/// replaces what was there.
fn merge_value(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                match into.get_mut(&key) {
                    Some(existing) if existing.is_object() && value.is_object() => merge_value(existing, value),
                    _ => {
                        into.insert(key, value);
                    }
                }
            }
        }
        (into, from) => *into = from,
    }
}

/// Configuration of `wait`: exactly one of `seconds`, `until_unix_ms` or `event`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitConfig {
    /// Wait this long.
    pub seconds: Option<u64>,
    /// Wait until this time.
    pub until_unix_ms: Option<u64>,
    /// Wait for this event...
    pub event: Option<String>,
    /// ...for at most this long; the items then leave on `timeout`.
    pub timeout_seconds: Option<u64>,
}

/// Waits a duration, until a time, or for an event.
pub struct Wait;

impl Node for Wait {
    const NAME: &'static str = "wait";
    type Config = WaitConfig;

    fn info() -> NodeInfo {
        NodeInfo::action(
            "Wait",
            "Waits a duration, until a time, or for an event; items continue on `main`, \
             or on `timeout` when an awaited event did not come",
        )
        .schema(json!({"type": "object", "properties": {
            "seconds": {"type": "integer", "minimum": 0},
            "until_unix_ms": {"type": "integer", "minimum": 0},
            "event": {"type": "string"},
            "timeout_seconds": {"type": "integer", "minimum": 0}
        }, "additionalProperties": false}))
        .ports(&["main", "timeout"])
    }

    fn run(config: WaitConfig, input: Input) -> Result<Outcome, NodeError> {
        if let Some(state) = input.resume_state {
            let held: Vec<Item> = serde_json::from_value(state["items"].clone())
                .map_err(|e| NodeError::fatal(format!("corrupt wait state: {e}")))?;
            let awaited_event = state["event"].as_bool().unwrap_or(false);
            return Ok(match input.items.into_iter().next() {
                Some(event) => Outcome::emit(
                    held.into_iter()
                        .map(|mut item| {
                            if let Value::Object(map) = &mut item {
                                map.insert("event".into(), event.clone());
                            }
                            item
                        })
                        .collect(),
                ),
                None if awaited_event => Outcome::emit_to("timeout", held),
                None => Outcome::emit(held),
            });
        }
        let now = clock::now_unix_ms();
        let state = |event: bool| json!({"items": input.items, "event": event});
        match (config.seconds, config.until_unix_ms, config.event) {
            (Some(seconds), None, None) => {
                Ok(Outcome::wait_until(now.saturating_add(seconds.saturating_mul(1000)), state(false)))
            }
            (None, Some(until), None) => Ok(Outcome::wait_until(until, state(false))),
            (None, None, Some(event)) => {
                let timeout = config.timeout_seconds.map(|s| now.saturating_add(s.saturating_mul(1000)));
                Ok(Outcome::wait_for_event(&event, timeout, state(true)))
            }
            _ => Err(NodeError::fatal("wait needs exactly one of `seconds`, `until_unix_ms` or `event`")
                .with_code("bad_config")),
        }
    }
}

/// Configuration of `respond`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RespondConfig {
    /// Status code; default 200.
    #[serde(default = "default_status")]
    pub status: u16,
    /// Extra headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body; default: the first input item.
    pub body: Option<Value>,
}

fn default_status() -> u16 {
    200
}

/// Describes the answer to a synchronous webhook: one item
/// `{"status", "headers", "body"}` on `response`; the input items continue on `main`.
pub struct Respond;

impl Node for Respond {
    const NAME: &'static str = "respond";
    type Config = RespondConfig;

    fn info() -> NodeInfo {
        NodeInfo::action("Respond", "Answers a synchronous webhook; items continue on `main`")
            .schema(json!({"type": "object", "properties": {
                "status": {"type": "integer", "minimum": 100, "maximum": 599},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                "body": {}
            }, "additionalProperties": false}))
            .ports(&["main", "response"])
    }

    fn run(config: RespondConfig, input: Input) -> Result<Outcome, NodeError> {
        if !(100..=599).contains(&config.status) {
            return Err(
                NodeError::fatal(format!("status {} is not an HTTP status", config.status)).with_code("bad_config")
            );
        }
        let body = config.body.or_else(|| input.items.first().cloned()).unwrap_or(Value::Null);
        let response = json!({"status": config.status, "headers": config.headers, "body": body});
        Ok(Outcome::Emit(vec![("main".into(), input.items), ("response".into(), vec![response])]))
    }
}

/// Passes items through unchanged.
pub struct Noop;

impl Node for Noop {
    const NAME: &'static str = "noop";
    type Config = Value;

    fn info() -> NodeInfo {
        NodeInfo::action("No operation", "Passes items through unchanged")
    }

    fn run(_: Value, input: Input) -> Result<Outcome, NodeError> {
        Ok(Outcome::emit(input.items))
    }
}

wirework_sdk::plugin!(Webhook, Set, If, Switch, Filter, Merge, Wait, Respond, Noop);
