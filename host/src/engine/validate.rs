//! Validation at deploy: a [`Workflow`] becomes a [`Plan`] (the resolved,
//! runnable form, with exact plugin versions), or every problem is reported
//! at once with its location and nothing is stored.

use super::expr::ConfigTemplate;
use super::model::{CallSpec, NodeSpec, OnError, Trigger, TriggerType, Workflow};
use super::nodes::PluginVersion;
use crate::runtime::NodeSummary;
use semver::{Version, VersionReq};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use wirework_registry::NodeKind;

/// One thing wrong with a workflow, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Problem {
    /// Where: `nodes[2](send).config/url`, `connections[0]`, `triggers[1](form)`, ...
    #[serde(default)]
    pub location: String,
    /// What.
    pub message: String,
}

/// A workflow that cannot be deployed, with all its problems.
#[derive(Debug, Clone, thiserror::Error, Serialize)]
#[error("invalid workflow: {}", .problems.iter().map(|p| format!("{}: {}", p.location, p.message)).collect::<Vec<_>>().join("; "))]
pub struct Invalid {
    /// Every problem found.
    pub problems: Vec<Problem>,
}

/// A node ready to run: its plugin version pinned, its config compiled.
#[derive(Debug, Clone)]
pub(crate) struct PlanNode {
    pub spec: NodeSpec,
    pub plugin: String,
    pub version: Version,
    pub config: ConfigTemplate,
    /// The config as JSON text when it has no expressions.
    pub static_config: Option<String>,
    /// Where `on_error: continue` sends items.
    pub first_port: String,
    /// The plugin's limits, with the node's `timeout_ms` applied.
    pub limits: wirework_registry::Limits,
    /// Whether its calls can have effects outside (see [`PluginVersion::side_effects`]).
    pub side_effects: bool,
    /// The event to emit per output item, compiled.
    pub emit_event: Option<ConfigTemplate>,
    /// The credential types its plugin declares.
    pub credential_types: std::sync::Arc<Vec<wirework_registry::CredentialType>>,
    /// The secret names its plugin requests.
    pub secrets: std::sync::Arc<Vec<String>>,
    /// Outputs pinned by a test run: the node is not called, its step emits these.
    pub pinned: Option<Vec<crate::runtime::PortItems>>,
    /// The workflow this node runs instead of a plugin's node.
    pub call: Option<PlanCall>,
    /// The decision table this node evaluates instead of calling a plugin.
    pub decide: Option<std::sync::Arc<super::decide::CompiledTable>>,
    /// The batch size of a node that hands its items on in batches.
    pub batches: Option<usize>,
}

impl PlanNode {
    /// What ran its steps: `publisher/name@version`, `workflow:<id>@<version>.0.0`
    /// for a call, `decide` for a table.
    pub fn label(&self) -> String {
        match self.call {
            None if self.decide.is_some() || self.batches.is_some() => self.plugin.clone(),
            _ => format!("{}@{}", self.plugin, self.version),
        }
    }
}

/// A node's call of a workflow, resolved to its exact version.
#[derive(Debug, Clone)]
pub(crate) struct PlanCall {
    pub workflow: String,
    pub version: u32,
    pub wait: bool,
}

/// Where an edge starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Trigger(usize),
    Node(usize),
}

/// A connection, resolved to indices.
#[derive(Debug, Clone)]
pub(crate) struct Edge {
    pub from: Source,
    pub port: String,
    pub to: usize,
    /// Set on loop-closing edges: how often items may travel them.
    pub bound: Option<u32>,
}

/// The runnable form of one workflow version.
#[derive(Debug)]
pub(crate) struct Plan {
    pub workflow: Workflow,
    /// Exact plugin versions, by plugin name.
    pub pins: BTreeMap<String, Version>,
    /// The exact version of the workflow each calling node runs, by node id.
    pub calls: BTreeMap<String, u32>,
    pub nodes: Vec<PlanNode>,
    pub node_index: HashMap<String, usize>,
    pub trigger_index: HashMap<String, usize>,
    pub edges: Vec<Edge>,
    /// Forward (not loop-closing) edges into each node: a join waits for all of them.
    pub incoming: Vec<Vec<usize>>,
    /// Edges out of each node.
    pub outgoing: Vec<Vec<usize>>,
    /// Edges out of each trigger.
    pub trigger_edges: Vec<Vec<usize>>,
}

/// How a plugin reference resolves: by range at deploy, by exact pin when a
/// stored version is loaded again.
pub(crate) type Resolver<'a> = dyn Fn(&str, &VersionReq) -> Result<PluginVersion, String> + 'a;

/// How a node's call of a workflow resolves (node id, the call): at deploy,
/// to the version current then (or the one named), with self-calls and
/// cycles refused; when a stored version is loaded again, to what its deploy
/// resolved.
pub(crate) type CallResolver<'a> = dyn Fn(&str, &CallSpec) -> Result<u32, String> + 'a;

const ID_MAX: usize = 64;

/// Whether `id` is a valid workflow, node or trigger id.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= ID_MAX
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Parse `publisher/name@range` (a bare name means any version).
pub fn parse_uses(uses: &str) -> Result<(String, VersionReq), String> {
    let (name, range) = uses.split_once('@').unwrap_or((uses, "*"));
    wirework_registry::manifest::validate_package_name(name)
        .map_err(|e| format!("`{uses}`: {e} (expected publisher/name@<semver range>)"))?;
    let range = VersionReq::parse(range).map_err(|e| format!("`{uses}`: `{range}` is not a semver range: {e}"))?;
    Ok((name.to_string(), range))
}

struct Checker<'a> {
    problems: Vec<Problem>,
    resolve: &'a Resolver<'a>,
    resolve_call: &'a CallResolver<'a>,
    calls: BTreeMap<String, u32>,
    pins: BTreeMap<String, Version>,
    resolved: HashMap<String, Result<PluginVersion, String>>,
    /// What only a deploy checks (a stored version is planned again without them).
    deploy: Option<DeployChecks<'a>>,
}

/// What a deploy checks beyond the workflow itself: what the operator set
/// and what is stored now.
#[derive(Clone, Copy)]
pub(crate) struct DeployChecks<'a> {
    /// The credentials bindings must fit.
    pub credentials: &'a dyn super::Credentials,
    /// The operator's cap on a call's wall time: `timeout_ms` at most this.
    pub max_wall_ms: u64,
}

impl Checker<'_> {
    fn problem(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem { location: location.into(), message: message.into() });
    }

    /// Resolve `uses` to a plugin version and find `node` in it.
    fn node_type(&mut self, at: &str, uses: &str, node: &str, kind: NodeKind) -> Option<(PluginVersion, NodeSummary)> {
        let (name, range) = match parse_uses(uses) {
            Ok(parsed) => parsed,
            Err(message) => {
                self.problem(format!("{at}.uses"), message);
                return None;
            }
        };
        let resolved = self.resolved.entry(uses.to_string()).or_insert_with(|| (self.resolve)(&name, &range)).clone();
        let plugin = match resolved {
            Ok(plugin) => plugin,
            Err(message) => {
                self.problem(format!("{at}.uses"), message);
                return None;
            }
        };
        if let Some(pinned) = self.pins.get(&name) {
            if *pinned != plugin.version {
                self.problem(
                    format!("{at}.uses"),
                    format!(
                        "`{uses}` resolves to {}, but another reference pins {name} {pinned}; use one range per plugin",
                        plugin.version
                    ),
                );
                return None;
            }
        }
        self.pins.insert(name.clone(), plugin.version.clone());
        let Some(summary) = plugin.node(node).cloned() else {
            let known: Vec<&str> = plugin.nodes.iter().map(|n| n.name.as_str()).collect();
            self.problem(
                format!("{at}.node"),
                format!("{name} {} has no node `{node}` (it has: {})", plugin.version, known.join(", ")),
            );
            return None;
        };
        if summary.kind != kind {
            self.problem(format!("{at}.node"), format!("`{node}` is a {:?} node, not a {kind:?} node", summary.kind));
            return None;
        }
        Some((plugin, summary))
    }

    /// Compile `config`'s expressions and check it against the node's schema.
    fn config(&mut self, at: &str, config: &serde_json::Value, node: &NodeSummary) -> Option<ConfigTemplate> {
        let template = match ConfigTemplate::compile(config) {
            Ok(template) => template,
            Err(errors) => {
                for (pointer, message) in errors {
                    self.problem(format!("{at}.config{pointer}"), format!("expression error: {message}"));
                }
                return None;
            }
        };
        let schema: serde_json::Value = match serde_json::from_str(&node.config_schema) {
            Ok(schema) => schema,
            Err(_) => return Some(template),
        };
        let validator = match jsonschema::validator_for(&schema) {
            Ok(validator) => validator,
            Err(e) => {
                self.problem(format!("{at}.node"), format!("the node's own config schema is invalid: {e}"));
                return None;
            }
        };
        // A string holding an expression is checked when it runs, not here.
        let expressions = template.expression_pointers();
        let mut ok = true;
        for error in validator.iter_errors(config) {
            let path = error.instance_path().as_str().to_string();
            if expressions.iter().any(|e| path == *e || path.starts_with(&format!("{e}/"))) {
                continue;
            }
            ok = false;
            self.problem(format!("{at}.config{path}"), format!("does not match the node's schema: {error}"));
        }
        ok.then_some(template)
    }
}

/// Check `workflow`; resolve plugin references with `resolve`. `error_trigger`
/// answers for the workflow this one names as its error workflow: `None` if it
/// is not deployed, else whether its current version has an `error` trigger.
/// Every problem is reported, not only the first.
pub(crate) fn plan(
    workflow: Workflow,
    resolve: &Resolver<'_>,
    resolve_call: &CallResolver<'_>,
    error_trigger: &dyn Fn(&str) -> Option<bool>,
    deploy: Option<DeployChecks<'_>>,
) -> Result<Plan, Invalid> {
    let mut c = Checker {
        problems: Vec::new(),
        resolve,
        resolve_call,
        calls: BTreeMap::new(),
        pins: BTreeMap::new(),
        resolved: HashMap::new(),
        deploy,
    };
    let wf = &workflow;
    check_settings(&mut c, wf, error_trigger);
    // Ids are unique across triggers and nodes.
    let mut ids: HashMap<&str, String> = HashMap::new();
    let trigger_index = check_triggers(&mut c, wf, &mut ids);
    let checked = check_nodes(&mut c, wf, &mut ids);
    let edges = check_connections(&mut c, wf, &trigger_index, &checked);
    let graph = Graph::new(&edges, wf.nodes.len(), wf.triggers.len());
    check_no_unbounded_cycle(&mut c, wf, &edges, &graph);
    check_bounds_close_loops(&mut c, wf, &edges, &graph);
    check_compensations(&mut c, wf, &edges);
    check_batches_loop_back(&mut c, wf, &edges);
    check_reachable(&mut c, wf, &edges, &graph);
    if !c.problems.is_empty() {
        return Err(Invalid { problems: c.problems });
    }
    let Graph { incoming, outgoing, trigger_edges } = graph;
    let (pins, calls, nodes, node_index) = (c.pins, c.calls, checked.nodes, checked.node_index);
    Ok(Plan { workflow, pins, calls, nodes, node_index, trigger_index, edges, incoming, outgoing, trigger_edges })
}

/// The workflow's id, its triggers' existence and its settings.
fn check_settings(c: &mut Checker<'_>, wf: &Workflow, error_trigger: &dyn Fn(&str) -> Option<bool>) {
    if !valid_id(&wf.id) {
        c.problem("id", format!("`{}` is not a valid id: 1-{ID_MAX} of a-z, 0-9, `-`, `_`", wf.id));
    }
    if wf.triggers.is_empty() {
        c.problem("triggers", "a workflow needs at least one trigger");
    }
    if wf.settings.max_steps == 0 {
        c.problem("settings.max_steps", "must be at least 1");
    }
    let ids: std::collections::HashSet<&str> =
        wf.triggers.iter().map(|t| t.id.as_str()).chain(wf.nodes.iter().map(|n| n.id.as_str())).collect();
    for placed in wf.layout.positions.keys().filter(|id| !ids.contains(id.as_str())) {
        c.problem(format!("layout.positions.{placed}"), format!("no trigger or node `{placed}` to place"));
    }
    match &wf.settings.error_workflow {
        Some(id) if *id == wf.id => c.problem("settings.error_workflow", "a workflow cannot be its own error workflow"),
        Some(id) => match error_trigger(id) {
            None => c.problem("settings.error_workflow", format!("no workflow `{id}` is deployed")),
            Some(false) => c.problem("settings.error_workflow", format!("workflow `{id}` has no `error` trigger")),
            Some(true) => {}
        },
        _ => {}
    }
}

/// Record `id` (at `at`) as used, reporting an invalid or repeated one.
fn claim_id<'w>(c: &mut Checker<'_>, ids: &mut HashMap<&'w str, String>, at: &str, id: &'w str) {
    if !valid_id(id) {
        c.problem(at, format!("`{id}` is not a valid id"));
    } else if let Some(first) = ids.insert(id, at.to_string()) {
        c.problem(at, format!("id `{id}` is already used by {first}"));
    }
}

/// Each trigger; the index of each trigger by id.
fn check_triggers<'w>(
    c: &mut Checker<'_>,
    wf: &'w Workflow,
    ids: &mut HashMap<&'w str, String>,
) -> HashMap<String, usize> {
    let mut trigger_index = HashMap::new();
    let mut webhook_paths = HashSet::new();
    for (i, trigger) in wf.triggers.iter().enumerate() {
        let at = format!("triggers[{i}]({})", trigger.id);
        claim_id(c, ids, &at, &trigger.id);
        trigger_index.insert(trigger.id.clone(), i);
        check_trigger(c, &at, trigger, &mut webhook_paths);
    }
    trigger_index
}

/// What checking the nodes found: the planned nodes, each node's index by
/// id, and each node's declared ports (`None` when its type did not resolve).
struct CheckedNodes {
    nodes: Vec<PlanNode>,
    node_index: HashMap<String, usize>,
    ports: Vec<Option<Vec<String>>>,
}

/// Each node: id, retry and timeout settings, its node type, credentials,
/// event and configuration.
fn check_nodes<'w>(c: &mut Checker<'_>, wf: &'w Workflow, ids: &mut HashMap<&'w str, String>) -> CheckedNodes {
    let mut checked = CheckedNodes { nodes: Vec::new(), node_index: HashMap::new(), ports: Vec::new() };
    for (i, spec) in wf.nodes.iter().enumerate() {
        let at = format!("nodes[{i}]({})", spec.id);
        claim_id(c, ids, &at, &spec.id);
        checked.node_index.insert(spec.id.clone(), i);
        check_node_settings(c, &at, spec);
        if let Some(call) = &spec.call {
            let node = check_call(c, &at, spec, call);
            checked.ports.push(node.as_ref().map(|_| vec!["main".to_string()]));
            checked.nodes.extend(node);
            continue;
        }
        if let Some(spec_batches) = &spec.batches {
            let node = check_batches(c, &at, spec, spec_batches);
            checked.ports.push(node.as_ref().map(|_| vec!["batch".to_string(), "done".to_string()]));
            checked.nodes.extend(node);
            continue;
        }
        if let Some(table) = &spec.decide {
            let node = check_decide(c, &at, spec, table);
            checked.ports.push(node.as_ref().map(|_| vec!["main".to_string(), "no_match".to_string()]));
            checked.nodes.extend(node);
            continue;
        }
        let Some((plugin, summary)) = c.node_type(&at, &spec.uses, &spec.node, NodeKind::Action) else {
            checked.ports.push(None);
            continue;
        };
        check_credentials(c, &at, &spec.credentials, &plugin);
        checked.ports.push(Some(summary.ports.clone()));
        let emit_event = check_emit_event(c, &at, spec);
        if let Some(config) = c.config(&at, &spec.config, &summary) {
            checked.nodes.push(plan_node(spec, &plugin, &summary, config, emit_event));
        }
    }
    checked
}

/// A node that calls a workflow: nothing of a plugin's node beside it, and
/// the workflow resolved to its exact version.
fn check_call(c: &mut Checker<'_>, at: &str, spec: &NodeSpec, call: &CallSpec) -> Option<PlanNode> {
    let fine = check_engine_node(c, at, spec, "calls a workflow");
    let version = match (c.resolve_call)(&spec.id, call) {
        Ok(version) => version,
        Err(message) => {
            c.problem(format!("{at}.call"), message);
            return None;
        }
    };
    let emit_event = check_emit_event(c, at, spec);
    if !fine {
        return None;
    }
    c.calls.insert(spec.id.clone(), version);
    Some(PlanNode {
        plugin: format!("workflow:{}", call.workflow),
        version: Version::new(u64::from(version), 0, 0),
        // Starting a child is an effect: it is durable before anything after it runs.
        side_effects: true,
        call: Some(PlanCall { workflow: call.workflow.clone(), version, wait: call.wait }),
        ..engine_node(spec, emit_event)
    })
}

/// A node with a decision table: the table checked (rules that overlap or
/// can never match are refused, see [`super::decide`]).
fn check_decide(
    c: &mut Checker<'_>,
    at: &str,
    spec: &NodeSpec,
    table: &super::decide::DecisionTable,
) -> Option<PlanNode> {
    let fine = check_engine_node(c, at, spec, "holds a decision table");
    let compiled = match table.compile() {
        Ok(compiled) => Some(compiled),
        Err(problems) => {
            for (place, message) in problems {
                c.problem(format!("{at}.decide.{place}"), message);
            }
            None
        }
    };
    let emit_event = check_emit_event(c, at, spec);
    Some(PlanNode {
        plugin: "decide".into(),
        // Pure: the table reads the item and nothing else.
        side_effects: false,
        decide: Some(std::sync::Arc::new(compiled.filter(|_| fine)?)),
        ..engine_node(spec, emit_event)
    })
}

/// The largest batch a batches node may hand on.
const MAX_BATCH: u32 = 10_000;

/// A node that hands its items on in batches (that a loop comes back to it
/// is checked with the connections).
fn check_batches(
    c: &mut Checker<'_>,
    at: &str,
    spec: &NodeSpec,
    batches: &super::model::BatchesSpec,
) -> Option<PlanNode> {
    let mut fine = check_engine_node(c, at, spec, "hands items on in batches");
    if batches.size == 0 || batches.size > MAX_BATCH {
        c.problem(format!("{at}.batches.size"), format!("from 1 to {MAX_BATCH}, not {}", batches.size));
        fine = false;
    }
    let emit_event = check_emit_event(c, at, spec);
    fine.then(|| PlanNode {
        plugin: "batches".into(),
        first_port: "batch".into(),
        batches: Some(batches.size as usize),
        ..engine_node(spec, emit_event)
    })
}

/// What a node the engine runs itself (a call, a table) may not have: a
/// plugin's node, config, credentials or a timeout; and more than one kind.
fn check_engine_node(c: &mut Checker<'_>, at: &str, spec: &NodeSpec, what: &str) -> bool {
    let mut fine = true;
    if !spec.uses.is_empty() || !spec.node.is_empty() || (spec.call.is_some() && spec.decide.is_some()) {
        c.problem(
            at,
            "a node either `uses` a plugin's node, `call`s a workflow or holds a `decide` table: one of them",
        );
        fine = false;
    }
    if spec.config.as_object().is_none_or(|config| !config.is_empty()) || !spec.credentials.is_empty() {
        c.problem(at, format!("a node that {what} takes no `config` or `credentials`"));
        fine = false;
    }
    if spec.timeout_ms.is_some() {
        c.problem(format!("{at}.timeout_ms"), format!("a node that {what} has no plugin call to time out"));
        fine = false;
    }
    fine
}

/// The plan of a node the engine runs itself, before what is its own.
fn engine_node(spec: &NodeSpec, emit_event: Option<ConfigTemplate>) -> PlanNode {
    PlanNode {
        spec: spec.clone(),
        plugin: String::new(),
        version: Version::new(0, 0, 0),
        config: ConfigTemplate::compile(&serde_json::json!({})).expect("an empty config compiles"),
        static_config: Some("{}".into()),
        first_port: "main".into(),
        limits: wirework_registry::manifest::Limits::default(),
        side_effects: false,
        emit_event,
        credential_types: Default::default(),
        secrets: Default::default(),
        pinned: None,
        call: None,
        decide: None,
        batches: None,
    }
}

/// A node's retry policy and timeout.
fn check_node_settings(c: &mut Checker<'_>, at: &str, spec: &NodeSpec) {
    if let Some(retry) = &spec.retry {
        if !(1..=100).contains(&retry.max_attempts) {
            c.problem(format!("{at}.retry.max_attempts"), "must be between 1 and 100");
        }
        if !(retry.multiplier.is_finite() && retry.multiplier >= 1.0) {
            c.problem(format!("{at}.retry.multiplier"), "must be a number of at least 1");
        }
        const MAX_DELAY_MS: u64 = 30 * 24 * 3600 * 1000;
        if retry.initial_delay_ms > MAX_DELAY_MS || retry.max_delay_ms > MAX_DELAY_MS {
            c.problem(format!("{at}.retry"), "delays are at most 30 days (2592000000 ms)");
        }
    }
    match (spec.timeout_ms, c.deploy.map(|d| d.max_wall_ms)) {
        (Some(0), _) => c.problem(format!("{at}.timeout_ms"), "must be at least 1"),
        (Some(ms), Some(cap)) if ms > cap => c.problem(
            format!("{at}.timeout_ms"),
            format!("{ms} ms is over the operator's cap of {cap} ms per call (--max-call-wall-ms)"),
        ),
        _ => {}
    }
}

/// Each binding names a credential type the plugin declares or a secret it
/// requests, and (at a deploy) a stored credential that fits it.
fn check_credentials(c: &mut Checker<'_>, at: &str, bindings: &BTreeMap<String, String>, plugin: &PluginVersion) {
    for (key, name) in bindings {
        let problem = match c.deploy.map(|d| d.credentials) {
            Some(stored) => {
                super::bindings::check(stored, &plugin.name, &plugin.credential_types, &plugin.secrets, key, name)
            }
            None => Ok(()),
        };
        if let Err(message) = problem {
            c.problem(format!("{at}.credentials.{key}"), message);
        }
    }
}

/// The node's `emit_event`, compiled.
fn check_emit_event(c: &mut Checker<'_>, at: &str, spec: &NodeSpec) -> Option<ConfigTemplate> {
    if spec.emit_event.as_deref().is_some_and(|e| e.trim().is_empty()) {
        c.problem(format!("{at}.emit_event"), "an event needs a name");
    }
    match spec.emit_event.as_deref().map(|e| ConfigTemplate::compile(&e.into())) {
        None => None,
        Some(Ok(template)) => Some(template),
        Some(Err(errors)) => {
            for (_, message) in errors {
                c.problem(format!("{at}.emit_event"), format!("expression error: {message}"));
            }
            None
        }
    }
}

/// A checked node as the executor runs it.
fn plan_node(
    spec: &NodeSpec,
    plugin: &PluginVersion,
    summary: &NodeSummary,
    config: ConfigTemplate,
    emit_event: Option<ConfigTemplate>,
) -> PlanNode {
    let first_port = summary.ports.first().cloned().unwrap_or_else(|| "main".into());
    let static_config = config.is_static().then(|| spec.config.to_string());
    let mut limits = plugin.limits;
    if let Some(ms) = spec.timeout_ms {
        limits.wall_ms = ms;
    }
    PlanNode {
        emit_event,
        credential_types: std::sync::Arc::new(plugin.credential_types.clone()),
        secrets: std::sync::Arc::new(plugin.secrets.clone()),
        limits,
        side_effects: plugin.side_effects,
        spec: spec.clone(),
        plugin: plugin.name.clone(),
        version: plugin.version.clone(),
        config,
        static_config,
        first_port,
        pinned: None,
        call: None,
        decide: None,
        batches: None,
    }
}

/// Each connection: its source and port exist, its target is a node, no
/// duplicates. The edges of the ones that pass.
fn check_connections(
    c: &mut Checker<'_>,
    wf: &Workflow,
    trigger_index: &HashMap<String, usize>,
    checked: &CheckedNodes,
) -> Vec<Edge> {
    let mut edges = Vec::new();
    let mut pairs = HashSet::new();
    for (i, conn) in wf.connections.iter().enumerate() {
        let at = format!("connections[{i}]({} -> {})", conn.from, conn.to);
        let (from, port) = conn.source();
        if !pairs.insert((from.to_string(), port.to_string(), conn.to.trim().to_string())) {
            c.problem(&at, "duplicate connection");
            continue;
        }
        let Some(source) = connection_source(c, wf, &at, (from, port), trigger_index, checked) else { continue };
        let Some(&to) = checked.node_index.get(conn.to.trim()) else {
            let what = if trigger_index.contains_key(conn.to.trim()) { "a trigger, which" } else { "unknown, it" };
            c.problem(&at, format!("target `{}` is {what} cannot receive items", conn.to));
            continue;
        };
        if conn.max_iterations == Some(0) {
            c.problem(format!("{at}.max_iterations"), "must be at least 1");
        }
        edges.push(Edge { from: source, port: port.to_string(), to, bound: conn.max_iterations });
    }
    edges
}

/// Where a connection starts: a trigger (port `main` only) or a node with
/// that port; `None` (reported) otherwise.
fn connection_source(
    c: &mut Checker<'_>,
    wf: &Workflow,
    at: &str,
    (from, port): (&str, &str),
    trigger_index: &HashMap<String, usize>,
    checked: &CheckedNodes,
) -> Option<Source> {
    match (trigger_index.get(from), checked.node_index.get(from)) {
        (Some(&t), _) => {
            if port != "main" {
                c.problem(at, format!("trigger `{from}` has only the port `main`"));
                return None;
            }
            Some(Source::Trigger(t))
        }
        (None, Some(&n)) => {
            let spec = &wf.nodes[n];
            let ports = &checked.ports[n];
            let declared = ports.as_ref().is_some_and(|ports| ports.iter().any(|p| p == port));
            let ok = match ports {
                _ if port == "error" && !declared => spec.on_error == OnError::ErrorPort,
                Some(ports) if !ports.is_empty() => declared,
                _ => true, // ports named by the node's configuration
            };
            if !ok {
                let ports = ports.clone().unwrap_or_default().join(", ");
                let hint = if port == "error" { " (set `on_error: error_port` to use `error`)" } else { "" };
                c.problem(at, format!("node `{from}` has no port `{port}` (its ports: {ports}){hint}"));
                return None;
            }
            Some(Source::Node(n))
        }
        (None, None) => {
            c.problem(at, format!("`{from}` is not a trigger or node of this workflow"));
            None
        }
    }
}

/// The edges by node and trigger.
struct Graph {
    /// Per node, the unbounded edges into it (what a join waits for).
    incoming: Vec<Vec<usize>>,
    /// Per node, the edges out of it.
    outgoing: Vec<Vec<usize>>,
    /// Per trigger, the edges out of it.
    trigger_edges: Vec<Vec<usize>>,
}

impl Graph {
    fn new(edges: &[Edge], nodes: usize, triggers: usize) -> Graph {
        let mut graph = Graph {
            incoming: vec![Vec::new(); nodes],
            outgoing: vec![Vec::new(); nodes],
            trigger_edges: vec![Vec::new(); triggers],
        };
        for (e, edge) in edges.iter().enumerate() {
            match edge.from {
                Source::Trigger(t) => graph.trigger_edges[t].push(e),
                Source::Node(from) => graph.outgoing[from].push(e),
            }
            if edge.bound.is_none() {
                graph.incoming[edge.to].push(e);
            }
        }
        graph
    }
}

/// Unbounded edges form a DAG (Kahn's algorithm): a loop needs a bound.
fn check_no_unbounded_cycle(c: &mut Checker<'_>, wf: &Workflow, edges: &[Edge], graph: &Graph) {
    let n = wf.nodes.len();
    let from_node = |e: &usize| matches!(edges[*e].from, Source::Node(_));
    let mut indegree: Vec<usize> = (0..n).map(|i| graph.incoming[i].iter().filter(|e| from_node(e)).count()).collect();
    let mut queue: VecDeque<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut sorted = 0;
    while let Some(i) = queue.pop_front() {
        sorted += 1;
        for &e in &graph.outgoing[i] {
            if edges[e].bound.is_none() {
                indegree[edges[e].to] -= 1;
                if indegree[edges[e].to] == 0 {
                    queue.push_back(edges[e].to);
                }
            }
        }
    }
    if sorted < n {
        let cyclic: Vec<&str> = (0..n).filter(|&i| indegree[i] > 0).map(|i| wf.nodes[i].id.as_str()).collect();
        c.problem(
            "connections",
            format!(
                "cycle through {} without an explicit bound: set `max_iterations` on the connection that closes the loop",
                cyclic.join(", ")
            ),
        );
    }
}

/// A bound marks the connection that closes a loop: its target must lead
/// back to its source, else the bound hides a plain edge from joins.
fn check_bounds_close_loops(c: &mut Checker<'_>, wf: &Workflow, edges: &[Edge], graph: &Graph) {
    for (e, edge) in edges.iter().enumerate() {
        let (Some(_), Source::Node(from)) = (edge.bound, edge.from) else { continue };
        let mut seen = vec![false; wf.nodes.len()];
        let mut queue = VecDeque::from([edge.to]);
        let mut closes = false;
        while let Some(i) = queue.pop_front() {
            if i == from {
                closes = true;
                break;
            }
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            queue.extend(graph.outgoing[i].iter().filter(|&&o| o != e).map(|&o| edges[o].to));
        }
        if !closes {
            let (source, target) = (&wf.nodes[from].id, &wf.nodes[edge.to].id);
            c.problem(
                "connections",
                format!("`max_iterations` on {source} -> {target} marks a loop, but {target} does not lead back to {source}"),
            );
        }
    }
}

/// Every node is reachable from a trigger, over all edges.
/// Each `compensate` names another node of the workflow, one that stands
/// apart: no connection in or out (it runs only as a compensation), no
/// compensation of its own, failures that stop.
fn check_compensations(c: &mut Checker<'_>, wf: &Workflow, edges: &[Edge]) {
    for (i, spec) in wf.nodes.iter().enumerate() {
        let Some(by) = &spec.compensate else { continue };
        let at = format!("nodes[{i}]({}).compensate", spec.id);
        let Some(j) = wf.nodes.iter().position(|n| n.id == *by) else {
            c.problem(at, format!("no node `{by}` in this workflow"));
            continue;
        };
        if j == i {
            c.problem(at, "a node cannot compensate itself");
            continue;
        }
        let connected = edges.iter().any(|e| e.to == j || e.from == Source::Node(j))
            || wf.connections.iter().any(|conn| conn.to == *by || conn.from.split(':').next() == Some(by.as_str()));
        if connected {
            c.problem(at.clone(), format!("`{by}` has connections: a compensating node runs only as a compensation"));
        }
        let other = &wf.nodes[j];
        if other.compensate.is_some() {
            c.problem(at.clone(), format!("`{by}` names a compensation of its own"));
        }
        if other.on_error != OnError::Stop {
            c.problem(
                at,
                format!("`{by}` must let its failures stop (`on_error: stop`): it reports them as the compensation's"),
            );
        }
    }
}

/// A batches node hands on its next batch when items come back to it along
/// a loop (a connection with `max_iterations`): without one it would stop
/// after the first.
fn check_batches_loop_back(c: &mut Checker<'_>, wf: &Workflow, edges: &[Edge]) {
    for (i, spec) in wf.nodes.iter().enumerate() {
        if spec.batches.is_some() && !edges.iter().any(|e| e.to == i && e.bound.is_some()) {
            c.problem(
                format!("nodes[{i}]({})", spec.id),
                "a batches node needs a connection back to it with `max_iterations` (the loop that processes each batch)",
            );
        }
    }
}

/// The nodes that run only as compensations (reachable by none but that).
fn compensating_nodes(wf: &Workflow) -> HashSet<&str> {
    wf.nodes.iter().filter_map(|n| n.compensate.as_deref()).collect()
}

fn check_reachable(c: &mut Checker<'_>, wf: &Workflow, edges: &[Edge], graph: &Graph) {
    let mut reached = vec![false; wf.nodes.len()];
    let mut queue: VecDeque<usize> = graph.trigger_edges.iter().flatten().map(|&e| edges[e].to).collect();
    while let Some(i) = queue.pop_front() {
        if std::mem::replace(&mut reached[i], true) {
            continue;
        }
        queue.extend(graph.outgoing[i].iter().map(|&e| edges[e].to));
    }
    let compensating = compensating_nodes(wf);
    for (i, spec) in wf.nodes.iter().enumerate() {
        if !reached[i] && !compensating.contains(spec.id.as_str()) {
            c.problem(format!("nodes[{i}]({})", spec.id), "unreachable: no path leads here from a trigger");
        }
    }
}

fn check_trigger(c: &mut Checker<'_>, at: &str, t: &Trigger, webhook_paths: &mut HashSet<String>) {
    let fields = [
        ("path", t.path.is_some()),
        ("uses", t.uses.is_some()),
        ("node", t.node.is_some()),
        ("config", !t.config.is_null()),
        ("mode", t.mode.is_some()),
        ("credentials", !t.credentials.is_empty()),
        ("cron", t.cron.is_some()),
        ("timezone", t.timezone.is_some()),
        ("event", t.event.is_some()),
    ];
    let applies: &[&str] = match t.kind {
        TriggerType::Webhook => &["path", "uses", "node", "config", "mode", "credentials"],
        TriggerType::Schedule => &["cron", "timezone"],
        TriggerType::Event => &["event"],
        TriggerType::Manual | TriggerType::Error => &[],
    };
    for (field, set) in fields {
        if set && !applies.contains(&field) {
            c.problem(format!("{at}.{field}"), format!("does not apply to a {:?} trigger", t.kind));
        }
    }
    match t.kind {
        TriggerType::Webhook => {
            match t.path.as_deref() {
                None | Some("") => c.problem(format!("{at}.path"), "a webhook trigger needs a path"),
                Some(path)
                    if !path.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_./".contains(ch))
                        || path.contains("..") =>
                {
                    c.problem(format!("{at}.path"), format!("`{path}`: use letters, digits, `-`, `_`, `.` and `/`"))
                }
                Some(path) => {
                    if !webhook_paths.insert(path.trim_matches('/').to_string()) {
                        c.problem(format!("{at}.path"), format!("another webhook trigger already uses `{path}`"));
                    }
                }
            }
            if let Some(mode) = t.mode.as_deref().filter(|m| !["async", "sync"].contains(m)) {
                c.problem(format!("{at}.mode"), format!("`{mode}`: use `async` or `sync`"));
            }
            match t.uses.as_deref() {
                None => c.problem(format!("{at}.uses"), "a webhook trigger needs `uses`, e.g. wirework/core@^0.1"),
                Some(uses) => {
                    let node = t.node.as_deref().unwrap_or("webhook");
                    if let Some((plugin, summary)) = c.node_type(at, uses, node, NodeKind::Trigger) {
                        check_credentials(c, at, &t.credentials, &plugin);
                        let config = if t.config.is_null() { serde_json::json!({}) } else { t.config.clone() };
                        if let Ok(template) = ConfigTemplate::compile(&config) {
                            if !template.is_static() {
                                c.problem(format!("{at}.config"), "a trigger's config cannot hold expressions");
                            }
                        }
                        c.config(at, &config, &summary);
                    }
                }
            }
        }
        TriggerType::Schedule => match t.cron.as_deref() {
            None => c.problem(format!("{at}.cron"), "a schedule trigger needs a cron expression"),
            Some(cron) => {
                if let Err(message) = super::schedule::CronSchedule::parse(cron, t.timezone.as_deref()) {
                    let field = if message.contains("time zone") { "timezone" } else { "cron" };
                    c.problem(format!("{at}.{field}"), message);
                }
            }
        },
        TriggerType::Event => {
            if t.event.as_deref().is_none_or(|s| s.trim().is_empty()) {
                c.problem(format!("{at}.event"), "an event trigger needs the event's name");
            } else if t.event.as_deref().is_some_and(super::is_reserved_event) {
                c.problem(
                    format!("{at}.event"),
                    format!("events starting `{}` are the engine's own", super::RESERVED_EVENTS),
                );
            }
        }
        TriggerType::Manual | TriggerType::Error => {}
    }
}
