//! The workflow definition as authors write it, in YAML or JSON (one serde
//! model). Validation ([`super::validate`]) turns it into a runnable plan.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A workflow: triggers start it, nodes do the work, connections carry items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    /// Stable identifier: lower-case letters, digits, `-` and `_`.
    pub id: String,
    /// For humans.
    #[serde(default)]
    pub name: String,
    /// For humans.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// What starts an execution.
    #[serde(default)]
    pub triggers: Vec<Trigger>,
    /// The steps.
    #[serde(default)]
    pub nodes: Vec<NodeSpec>,
    /// `from` a trigger or a node's port `to` a node.
    #[serde(default)]
    pub connections: Vec<Connection>,
    /// Limits and error handling for the whole workflow.
    #[serde(default)]
    pub settings: Settings,
    /// Where the studio draws each trigger and node; the engine ignores it.
    #[serde(default, skip_serializing_if = "Layout::is_empty")]
    pub layout: Layout,
}

/// Positions on the studio's canvas, by trigger or node id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// The top-left corner of each box, in canvas units.
    #[serde(default)]
    pub positions: BTreeMap<String, Position>,
}

impl Layout {
    /// Whether it places nothing.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }
}

/// A point on the canvas.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Position {
    /// Rightwards.
    pub x: f64,
    /// Downwards.
    pub y: f64,
}

/// What kind of trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerType {
    /// An HTTP request at `/hooks/{workflow}/{path}`, turned into items by a trigger node.
    Webhook,
    /// A cron schedule.
    Schedule,
    /// A named event, emitted through the API or by another workflow.
    Event,
    /// Started by hand (API, CLI, tests).
    Manual,
    /// Started by the engine when a workflow naming this one as its
    /// `error_workflow` fails; the item describes the failure.
    Error,
}

/// One trigger. Which fields apply depends on `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// Unique among the workflow's triggers and nodes; connections start from it.
    pub id: String,
    /// The kind of trigger.
    #[serde(rename = "type")]
    pub kind: TriggerType,
    /// webhook: the path below `/hooks/{workflow}/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// webhook: the plugin providing the trigger node, `publisher/name@range`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses: Option<String>,
    /// webhook: the trigger node's name inside the plugin (default `webhook`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// webhook: the trigger node's configuration.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub config: Value,
    /// webhook: the trigger node's credential bindings, as a node's
    /// (`{signing: stripe-webhook}`): what it verifies requests with.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub credentials: BTreeMap<String, String>,
    /// webhook: answer at once (`async`, 202) or with the execution's result (`sync`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// schedule: a cron expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// schedule: an IANA time zone (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// event: the event's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
}

/// One step: a node type of a plugin, with its configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Unique within the workflow; `$node.<id>` in expressions.
    pub id: String,
    /// The plugin: `publisher/name@<semver range>`, e.g. `wirework/core@^0.1`
    /// (empty for a node that [`call`](Self::call)s a workflow).
    #[serde(default)]
    pub uses: String,
    /// The node type's name inside the plugin, e.g. `set` (empty for a calling node).
    #[serde(default)]
    pub node: String,
    /// Instead of a plugin's node: run another workflow with the step's items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<CallSpec>,
    /// Instead of a plugin's node: a decision table the engine evaluates per item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decide: Option<super::decide::DecisionTable>,
    /// Instead of a plugin's node: hand the items on in batches, one per
    /// trip around a loop back to this node (split in batches, for each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batches: Option<BatchesSpec>,
    /// The node's configuration; strings may hold `{{ expressions }}`.
    #[serde(default = "empty_object")]
    pub config: Value,
    /// Stored credentials bound by name to the credential types the plugin
    /// declares (`{bearer: github-token}`) or to the secrets it requests
    /// (`{API_KEY: sendgrid-prod}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub credentials: BTreeMap<String, String>,
    /// Retries of retryable failures; none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// Wall-time limit per call in ms, instead of the plugin's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// What a failure that is not (or no longer) retried does.
    #[serde(default)]
    pub on_error: OnError,
    /// After the node succeeds, emit this event once per item it sent on its
    /// first port, with the item as payload. Expressions allowed (`$json` is
    /// the item): `"order.paid:{{ $json.customer_id }}"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emit_event: Option<String>,
    /// The node that undoes this one (a saga's compensation): when the
    /// execution fails after this node succeeded, that node runs with the
    /// items this one emitted, newest first among the compensations due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensate: Option<String>,
}

/// A node that runs another workflow (a sub-workflow) with its input items
/// as the child's trigger items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallSpec {
    /// The workflow to run.
    pub workflow: String,
    /// Its version; by default the one current when the caller is deployed,
    /// which every execution of the caller's version then runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// Wait for the child and emit its output (default), or start it and
    /// pass the input items on at once (fire and forget).
    #[serde(default = "yes")]
    pub wait: bool,
}

/// A node that hands its items on in batches: `batch` gets the first
/// `size`, and each time items come back along a loop to this node, the
/// next `size`; once none are left, `done` gets every item that came back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchesSpec {
    /// Items per batch (1: for each item), 1 to 10,000.
    pub size: u32,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// What a failed node does to its execution.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// The execution fails (and may start the error workflow).
    #[default]
    Stop,
    /// The input items continue on the node's first port, as if it had passed them through.
    Continue,
    /// The input items, each with an `error` field, leave on the port `error`.
    ErrorPort,
}

/// Exponential backoff with jitter, for retryable failures only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 to 100).
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Delay before the second attempt, in ms.
    #[serde(default = "default_initial_delay")]
    pub initial_delay_ms: u64,
    /// Growth of the delay per attempt.
    #[serde(default = "default_multiplier")]
    pub multiplier: f64,
    /// Longest delay, in ms.
    #[serde(default = "default_max_delay")]
    pub max_delay_ms: u64,
    /// Randomise each delay between half and all of it, so retries of many
    /// executions do not arrive together.
    #[serde(default = "yes")]
    pub jitter: bool,
}

fn default_attempts() -> u32 {
    3
}
fn default_initial_delay() -> u64 {
    1000
}
fn default_multiplier() -> f64 {
    2.0
}
fn default_max_delay() -> u64 {
    300_000
}
fn yes() -> bool {
    true
}

impl RetryPolicy {
    /// The delay before attempt `next` (2, 3, ...), before jitter.
    pub fn delay_ms(&self, next: u32) -> u64 {
        let exponent = next.saturating_sub(2).min(60) as i32;
        let delay = self.initial_delay_ms as f64 * self.multiplier.powi(exponent);
        (delay.min(self.max_delay_ms as f64)).max(0.0) as u64
    }
}

/// An edge: items a source emits on a port go to a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    /// A trigger id, or `node` (its port `main`), or `node:port`.
    pub from: String,
    /// A node id.
    pub to: String,
    /// Marks an edge that closes a loop, and bounds how often items may travel
    /// it in one execution. Cycles are refused without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_iterations: Option<u32>,
}

impl Connection {
    /// The source and its port (`main` when none is named).
    pub fn source(&self) -> (&str, &str) {
        match self.from.split_once(':') {
            Some((node, port)) => (node.trim(), port.trim()),
            None => (self.from.trim(), "main"),
        }
    }
}

/// Workflow-wide settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Node runs per execution before it is stopped as a runaway.
    #[serde(default = "default_max_steps")]
    pub max_steps: u32,
    /// A workflow started (through its `error` trigger) when an execution of this one fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_workflow: Option<String>,
}

fn default_max_steps() -> u32 {
    1000
}

impl Default for Settings {
    fn default() -> Self {
        Settings { max_steps: default_max_steps(), error_workflow: None }
    }
}

impl Workflow {
    /// Parse a definition: JSON when it starts with `{`, YAML otherwise.
    /// The error names the line and column.
    pub fn parse(text: &str) -> Result<Workflow, String> {
        if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| format!("invalid workflow JSON: {e}"))
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| format!("invalid workflow YAML: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_are_one_model() {
        let yaml = r#"
id: greet
triggers: [{id: start, type: manual}]
nodes:
  - id: hello
    uses: wirework/core@^0.1
    node: set
    config: {fields: {greeting: "hi {{ $json.name }}"}}
    retry: {max_attempts: 4}
connections: [{from: start, to: hello}]
"#;
        let from_yaml = Workflow::parse(yaml).unwrap();
        let from_json = Workflow::parse(&serde_json::to_string(&from_yaml).unwrap()).unwrap();
        assert_eq!(from_yaml, from_json);
        assert_eq!(from_yaml.nodes[0].retry.as_ref().unwrap().initial_delay_ms, 1000);
        assert_eq!(from_yaml.settings.max_steps, 1000);
    }

    #[test]
    fn parse_errors_name_the_place() {
        let err = Workflow::parse("id: x\nnodes:\n  - id: a\n    usez: b\n").unwrap_err();
        assert!(err.contains("line 4"), "{err}");
        assert!(err.contains("usez"), "{err}");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p =
            RetryPolicy { max_attempts: 5, initial_delay_ms: 100, multiplier: 2.0, max_delay_ms: 300, jitter: false };
        assert_eq!([p.delay_ms(2), p.delay_ms(3), p.delay_ms(4)], [100, 200, 300]);
    }
}
