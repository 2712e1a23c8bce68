//! `wirework/core`: the nodes every workflow needs.
//!
//! | node      | what it does |
//! |-----------|--------------|
//! | `webhook` | trigger: turns a JSON or form body into an item |
//! | `set`     | sets, renames and removes fields |
//! | `if`      | routes each item to `true` or `false` by a condition |
//! | `switch`  | routes each item to the port of the first rule it matches |
//! | `filter`  | keeps the items that match (`main`), the rest go to `discarded` |
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
            return Ok(reject(405, &format!("method {} not allowed", req.method)));
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
        Ok(TriggerResult { items: vec![item], response: None })
    }
}

fn reject(status: u16, message: &str) -> TriggerResult {
    TriggerResult { items: vec![], response: Some(Response::json(status, &json!({"error": message}))) }
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
    json!({"type": "object", "required": ["condition"], "properties": {"condition": {"type": "object"}}})
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

wirework_sdk::plugin!(Webhook, Set, If, Switch, Filter, Wait, Respond, Noop);
