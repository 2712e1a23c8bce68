//! The durable workflow engine.
//!
//! - [`model`]: workflows as authors write them (YAML or JSON).
//! - [`validate`]: deploy-time checks; every problem at once, nothing stored.
//! - [`expr`]: `{{ $json.email }}` expressions in node configuration.
//! - [`records`]: what is kept in the store, and under which keys.
//! - `executor`: runs one execution, committing each step before the next starts.
//! - `scheduler`: timers (waits, retry backoff) and retention.
//!
//! **Durability.** An execution is in the store before [`Engine::start`]
//! returns its id. Each finished step is committed together with the
//! execution's new state in one atomic batch, and the steps it enables start
//! only once that batch is durable (group commit: one flush serves every
//! execution that committed meanwhile). After a crash, [`Engine::open`]
//! continues every execution that was running from its last committed step; a
//! step that was running at the crash runs again with the same idempotency
//! key (`{execution}:{step}`).
//!
//! The engine knows nothing of wasmtime: nodes run through [`NodeHost`].

mod bindings;
pub mod decide;
mod deletion;
mod executor;
pub mod expr;
mod kept_events;
pub mod model;
pub mod nodes;
mod outbox;
pub mod records;
pub mod schedule;
mod scheduler;
mod test_runs;
pub mod triggers;
pub mod validate;

pub use deletion::Deletion;
pub use model::Workflow;
pub use nodes::{credential_type_id, CredentialValue, Credentials, MemoryCredentials, NodeHost, PluginVersion};
pub use records::{ExecutionRecord, Status, StepRecord, WorkflowHead, WorkflowVersion};
pub use test_runs::{TestRun, TestRunStarted, KEPT as TEST_RUNS_KEPT};
pub use triggers::Webhook;
pub use validate::{Invalid, Problem};

use crate::metrics::Metrics;
use crate::runtime::{Invocation, InvokeReport, NodeFailure, TriggerOutput, TriggerRequest};
use crate::store::{Batch, Store};
use anyhow::Context;
use executor::{Router, Wake};
use parking_lot::{Mutex, RwLock};
use records::{keys, StepOutcome};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Notify};
use validate::{Plan, Source};

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Finished executions older than this are pruned.
    pub retention: Duration,
    /// How often retention runs.
    pub prune_interval: Duration,
    /// The operator's cap on a call's wall time, in ms: a node's
    /// `timeout_ms` above it is refused at deploy (the runtime caps every
    /// call at it too).
    pub max_call_wall_ms: u64,
    /// Fuel an execution may use in all its calls; once spent, it fails.
    /// `None`: no budget.
    pub execution_fuel_budget: Option<u64>,
    /// How long an event that nothing waits on is kept for a wait that
    /// begins later (zero: not kept). See `kept_events`.
    pub event_window: Duration,
    /// The operator's variables, `$vars` in expressions (a JSON object of texts).
    pub vars: serde_json::Value,
}

/// The prefix of the events only the engine emits (a called workflow's
/// result, `wirework.call:<execution>`); neither the API nor a plugin nor a
/// node's `emit_event` may.
pub use wirework_registry::manifest::{is_reserved_event, RESERVED_EVENT_PREFIX as RESERVED_EVENTS};

/// Whether `record` waits, and only for the results of workflows it called.
fn waits_only_on_calls(record: &ExecutionRecord) -> bool {
    let call = executor::call_event("");
    record.status == Status::Waiting
        && !record.state.parked.is_empty()
        && record
            .state
            .parked
            .iter()
            .all(|p| p.until_ms.is_none() && p.event.as_ref().is_some_and(|e| e.starts_with(&call)))
}

/// How deep workflows may call workflows: an execution started by a node
/// `MAX_CALL_DEPTH` calls down may not call another.
pub const MAX_CALL_DEPTH: u32 = 8;

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            retention: Duration::from_secs(30 * 24 * 3600),
            prune_interval: Duration::from_secs(3600),
            max_call_wall_ms: wirework_registry::manifest::MAX_LIMITS.wall_ms,
            execution_fuel_budget: None,
            event_window: Duration::from_secs(600),
            vars: serde_json::Value::Object(serde_json::Map::new()),
        }
    }
}

/// What went wrong with an engine call.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The workflow is invalid; nothing was stored.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// No such workflow, version, trigger or execution.
    #[error("{0}")]
    NotFound(String),
    /// The request does not fit the current state (retrying a running execution, ...).
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// A deployed version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deployed {
    /// The workflow's id.
    pub id: String,
    /// The new version.
    pub version: u32,
    /// The exact plugin versions it runs.
    pub pins: std::collections::BTreeMap<String, semver::Version>,
}

/// How to retry a failed execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryMode {
    /// Run the failed step again (a new attempt, same idempotency key) and continue.
    FromFailed,
    /// Start a new execution with the same trigger items on the same version.
    FromStart,
}

/// Which executions to list.
#[derive(Debug, Clone, Default)]
pub struct ExecutionFilter {
    /// Only this workflow.
    pub workflow: Option<String>,
    /// Only this status.
    pub status: Option<Status>,
    /// Created at or after (ms since the epoch).
    pub since_ms: Option<u64>,
    /// Created before.
    pub until_ms: Option<u64>,
    /// At most this many, newest first (default 100).
    pub limit: Option<usize>,
    /// Only executions created before this one (an execution id): the last
    /// id of one page gives the next page.
    pub before: Option<String>,
}

/// An execution without its state, for lists. (Read straight from an
/// execution record: serde skips the fields it does not name.)
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecutionSummary {
    /// Its id.
    pub id: String,
    /// The workflow.
    pub workflow_id: String,
    /// The version it runs.
    pub workflow_version: u32,
    /// Where it stands.
    pub status: Status,
    /// Created.
    pub created_ms: u64,
    /// Finished.
    pub finished_ms: Option<u64>,
    /// Why it failed.
    pub error: Option<records::ExecutionError>,
}

/// The start of every UUIDv7 (as text) made before `ms`: its first 48 bits
/// are the milliseconds since the Unix epoch, as hex digits `xxxxxxxx-xxxx`.
fn uuid_time_prefix(ms: u64) -> String {
    let ms = ms.min((1 << 48) - 1);
    format!("{:08x}-{:04x}", ms >> 16, ms & 0xffff)
}

/// What an emitted event did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EventOutcome {
    /// Executions it started (event triggers).
    pub started: Vec<String>,
    /// Waits it ended.
    pub resumed: usize,
    /// Event-triggered workflows that could not start, with why.
    pub failed: Vec<String>,
}

/// The engine. Cheap to clone; background tasks stop when the last clone drops.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    store: Store,
    nodes: Arc<dyn NodeHost>,
    credentials: Arc<dyn Credentials>,
    config: EngineConfig,
    plans: Mutex<HashMap<(String, u32), Arc<Plan>>>,
    /// One driver task per execution in memory; wakes go through its channel.
    drivers: Mutex<HashMap<String, mpsc::UnboundedSender<Wake>>>,
    /// Timer keys handed to a driver and not yet deleted by it.
    fired: Mutex<HashSet<Vec<u8>>>,
    timers_changed: Arc<Notify>,
    /// What starts executions: current versions, event triggers, webhooks.
    /// Replaced whole when the workflow heads change.
    triggers: RwLock<Arc<triggers::TriggerIndex>>,
    /// Callers of [`Engine::wait_settled`], by execution.
    watchers: Mutex<HashMap<String, Vec<oneshot::Sender<Status>>>>,
    /// Every durable status change, for whoever listens ([`Engine::changes`]).
    changes: tokio::sync::broadcast::Sender<ExecutionChange>,
    /// Serialises deploys, rollbacks and activation changes.
    deploy_lock: tokio::sync::Mutex<()>,
    /// Active schedule triggers.
    schedules: Mutex<Vec<schedule::Scheduled>>,
    /// Wakes the schedule loop when workflows change.
    schedules_changed: Arc<Notify>,
    /// Set by [`Engine::shutdown`]: drivers start no new steps.
    stopping: AtomicBool,
    /// Serialises delivering or keeping an event with a new wait taking a
    /// kept one (see `kept_events`).
    event_gate: Mutex<()>,
    metrics: Arc<Metrics>,
}

/// How many status changes a slow listener of [`Engine::changes`] may fall
/// behind by before it is told it lagged.
const CHANGE_BACKLOG: usize = 4096;

/// An execution's status changed, durably: it started, waits, or finished.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExecutionChange {
    /// The execution.
    pub id: String,
    /// Its workflow.
    pub workflow_id: String,
    /// The version it runs.
    pub workflow_version: u32,
    /// Its status now.
    pub status: Status,
    /// When it was created (ms since the epoch).
    pub created_ms: u64,
    /// When it finished, if it has.
    pub finished_ms: Option<u64>,
}

/// Extra writes committed in the same atomic batch as a new execution, given
/// its id (an idempotency record, a schedule's last slot, ...).
pub type StartWrites = Box<dyn FnOnce(&str, &mut Batch) + Send>;

/// A webhook trigger's call ([`Engine::call_trigger`]): recorded as the
/// first step of the execution it starts, so its fuel, time and logs show
/// beside the nodes'.
#[derive(Debug, Clone)]
pub struct TriggerCall {
    /// `publisher/name@version` of the trigger's plugin.
    pub plugin: String,
    /// Fuel it used.
    pub fuel: u64,
    /// When it started.
    pub started_ms: u64,
    /// How long it took, in microseconds.
    pub duration_us: u64,
    /// What the plugin logged.
    pub logs: Vec<crate::runtime::LogLine>,
    /// Capability refusals.
    pub denials: Vec<String>,
}

/// How an execution is started, beyond its trigger and items.
#[derive(Default)]
pub(crate) struct Start {
    /// Writes committed with the new execution.
    pub writes: Option<StartWrites>,
    /// The trigger call that made its items, recorded as its first step.
    pub trigger_call: Option<TriggerCall>,
    /// The execution it re-runs.
    pub rerun_of: Option<String>,
    /// Its id, when chosen before (a sub-workflow's, written in its parent's
    /// step): a second start with it finds the first and does nothing.
    pub id: Option<String>,
    /// The step that started it, when a node did.
    pub parent: Option<records::ParentLink>,
    /// How many calls deep it runs.
    pub depth: u32,
}

/// Encode trigger items, which must be JSON objects.
fn raw_items(items: Vec<Value>) -> Result<Vec<crate::runtime::Json>, EngineError> {
    items
        .into_iter()
        .map(|item| match item {
            Value::Object(_) => serde_json::value::to_raw_value(&item).map_err(|e| EngineError::Store(e.into())),
            other => Err(EngineError::Conflict(format!("trigger items must be JSON objects, not {other}"))),
        })
        .collect()
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> anyhow::Result<T> {
    serde_json::from_slice(bytes).map_err(|e| anyhow::anyhow!("corrupt {what} record: {e}"))
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialise")
}

impl Engine {
    /// Open the engine on `store`: continue what was running, arm the timers,
    /// start the scheduler and retention. Call inside a tokio runtime.
    pub async fn open(
        store: Store,
        nodes: Arc<dyn NodeHost>,
        credentials: Arc<dyn Credentials>,
        config: EngineConfig,
    ) -> anyhow::Result<Engine> {
        let format = records::check_format(&store)?;
        let metrics = Arc::new(Metrics::new());
        let flushes = metrics.store_flush_duration.clone();
        store.on_flush(move |took| flushes.observe(took.as_secs_f64()));
        let inner = Arc::new(Inner {
            store,
            nodes,
            credentials,
            config,
            plans: Mutex::default(),
            drivers: Mutex::default(),
            fired: Mutex::default(),
            timers_changed: Arc::new(Notify::new()),
            triggers: RwLock::default(),
            watchers: Mutex::default(),
            changes: tokio::sync::broadcast::channel(CHANGE_BACKLOG).0,
            deploy_lock: tokio::sync::Mutex::new(()),
            schedules: Mutex::default(),
            schedules_changed: Arc::new(Notify::new()),
            stopping: AtomicBool::new(false),
            event_gate: Mutex::default(),
            metrics,
        });
        let engine = Engine { inner };
        // A store from before the format marker may have been written last
        // by a wirework that kept neither index: it gets both again.
        index_executions(&engine.inner.store, format == 0).await?;
        if format < records::STORE_FORMAT {
            // Only once the store is in this format (its indexes built above).
            let mut batch = Batch::default();
            batch.put(keys::FORMAT, records::STORE_FORMAT.to_string());
            engine.inner.store.commit(batch).await.context("marking the store's format")?;
        }
        engine.refresh_heads_at(true)?;
        // Continue what was running at the last stop, then deliver events that
        // were accepted but not yet taken up.
        let running: Vec<String> = engine
            .inner
            .store
            .scan_prefix(keys::ACTIVE)
            .map(|e| e.map(|(k, _)| String::from_utf8_lossy(&k[keys::ACTIVE.len()..]).into_owned()))
            .collect::<anyhow::Result<_>>()?;
        for id in running {
            tracing::debug!(execution = %id, "continuing after restart");
            executor::ensure_driver(&engine.inner, &id, None);
        }
        let wakes: Vec<(Vec<u8>, Vec<u8>)> = engine.inner.store.scan_prefix(b"wk/").collect::<anyhow::Result<_>>()?;
        for (key, value) in wakes {
            if let Some((id, step)) = keys::parse_tail(&key) {
                let records::Delivery { event, payload } = decode(&value, "event delivery")?;
                executor::ensure_driver(&engine.inner, &id, Some(Wake::Event { step, event, payload }));
            }
        }
        engine.inner.match_kept_events()?;
        outbox::replay(&engine.inner)?;
        scheduler::spawn(&engine.inner);
        schedule::spawn(&engine.inner);
        Ok(engine)
    }

    /// Parse and deploy a definition (YAML or JSON).
    pub async fn deploy_text(&self, text: &str) -> Result<Deployed, EngineError> {
        let workflow = Workflow::parse(text)
            .map_err(|message| Invalid { problems: vec![Problem { location: "definition".into(), message }] })?;
        self.deploy(workflow).await
    }

    /// Every check a deploy makes (plugins resolved by range, credentials
    /// bound, the error workflow deployed); the plan, or every problem.
    fn check(&self, workflow: Workflow) -> Result<Plan, EngineError> {
        let nodes = self.inner.nodes.clone();
        let resolve = |name: &str, range: &semver::VersionReq| nodes.resolve(name, range);
        let error_trigger = |id: &str| {
            let version = self.workflow(id, None).ok()?;
            Some(version.workflow.triggers.iter().any(|t| t.kind == model::TriggerType::Error))
        };
        let deploy = validate::DeployChecks {
            credentials: &*self.inner.credentials,
            max_wall_ms: self.inner.config.max_call_wall_ms,
        };
        let caller = workflow.id.clone();
        let resolve_call = |_: &str, call: &model::CallSpec| self.resolve_call(&caller, call);
        Ok(validate::plan(workflow, &resolve, &resolve_call, &error_trigger, Some(deploy))?)
    }

    /// The exact version a node of workflow `caller` calls: the one it
    /// names, else the current one. A workflow calling itself, or one that
    /// leads back to it through the versions they call, is refused.
    fn resolve_call(&self, caller: &str, call: &model::CallSpec) -> Result<u32, String> {
        if call.workflow == caller {
            return Err(format!("workflow `{caller}` cannot call itself"));
        }
        let version = self.workflow(&call.workflow, call.version).map_err(|e| match e {
            EngineError::NotFound(_) => match call.version {
                Some(v) => format!("workflow `{}` has no version {v}", call.workflow),
                None => format!("no workflow `{}` is deployed", call.workflow),
            },
            other => other.to_string(),
        })?;
        // Follow the calls of the versions that would run: none may lead back.
        let mut path = vec![call.workflow.clone()];
        let mut todo = vec![(version.clone(), 1usize)];
        while let Some((next, depth)) = todo.pop() {
            path.truncate(depth);
            path.push(next.workflow.id.clone());
            for (workflow, v) in next.calls.iter().filter_map(|(node, v)| {
                next.workflow
                    .nodes
                    .iter()
                    .find(|n| n.id == *node)
                    .and_then(|n| n.call.as_ref())
                    .map(|c| (&c.workflow, *v))
            }) {
                if workflow == caller {
                    let mut cycle = vec![caller.to_string()];
                    cycle.extend(path.iter().skip(1).cloned());
                    cycle.push(caller.to_string());
                    return Err(format!("calls form a cycle: {}", cycle.join(" → ")));
                }
                if depth < MAX_CALL_DEPTH as usize {
                    if let Ok(child) = self.workflow(workflow, Some(v)) {
                        todo.push((child, depth + 1));
                    }
                }
            }
        }
        Ok(version.version)
    }

    /// Validate `workflow` and store it as the workflow's next version, which
    /// new executions start on. Running executions keep their version.
    pub async fn deploy(&self, workflow: Workflow) -> Result<Deployed, EngineError> {
        let _guard = self.inner.deploy_lock.lock().await;
        let plan = self.check(workflow)?;
        let store = &self.inner.store;
        let id = plan.workflow.id.clone();
        let head: Option<WorkflowHead> = self.head(&id)?;
        let version = head.as_ref().map_or(1, |h| h.latest + 1);
        let record = WorkflowVersion {
            version,
            deployed_ms: now_ms(),
            workflow: plan.workflow.clone(),
            pins: plan.pins.clone(),
            pinned: Default::default(),
            calls: plan.calls.clone(),
        };
        let head =
            WorkflowHead { id: id.clone(), current: version, latest: version, active: head.is_none_or(|h| h.active) };
        let mut batch = Batch::default();
        batch.put(keys::version(&id, version), encode(&record));
        batch.put(keys::head(&id), encode(&head));
        store.commit(batch).await?;
        let pins = plan.pins.clone();
        self.inner.plans.lock().insert((id.clone(), version), Arc::new(plan));
        self.refresh_heads()?;
        tracing::info!(workflow = %id, version, "deployed");
        Ok(Deployed { id, version, pins })
    }

    /// Workflows whose current version pins `plugin` at `version` (what
    /// removing that version would break).
    pub fn workflows_using(&self, plugin: &str, version: &semver::Version) -> anyhow::Result<Vec<String>> {
        workflows_using(&self.inner.store, plugin, version)
    }

    /// All workflows' heads.
    pub fn workflows(&self) -> anyhow::Result<Vec<WorkflowHead>> {
        self.inner.store.scan_prefix(keys::HEADS).map(|e| decode(&e?.1, "workflow head")).collect()
    }

    /// One workflow's head.
    pub fn head(&self, id: &str) -> anyhow::Result<Option<WorkflowHead>> {
        self.inner.store.get(&keys::head(id))?.map(|b| decode(&b, "workflow head")).transpose()
    }

    /// One version of a workflow (`None`: its current version).
    pub fn workflow(&self, id: &str, version: Option<u32>) -> Result<WorkflowVersion, EngineError> {
        let version = match version {
            Some(v) => v,
            None => self.head(id)?.ok_or_else(|| EngineError::NotFound(format!("no workflow `{id}`")))?.current,
        };
        let bytes = self
            .inner
            .store
            .get(&keys::version(id, version))?
            .ok_or_else(|| EngineError::NotFound(format!("workflow `{id}` has no version {version}")))?;
        Ok(decode(&bytes, "workflow version")?)
    }

    /// Every deployed version of a workflow, oldest first.
    pub fn versions(&self, id: &str) -> anyhow::Result<Vec<WorkflowVersion>> {
        self.inner.store.scan_prefix(&keys::versions(id)).map(|e| decode(&e?.1, "workflow version")).collect()
    }

    /// Make an earlier version current again.
    pub async fn rollback(&self, id: &str, version: u32) -> Result<WorkflowHead, EngineError> {
        self.workflow(id, Some(version))?;
        self.update_head(id, |head| head.current = version).await
    }

    /// Turn a workflow's triggers on or off (manual starts always work).
    pub async fn set_active(&self, id: &str, active: bool) -> Result<WorkflowHead, EngineError> {
        self.update_head(id, |head| head.active = active).await
    }

    /// Change a workflow's head durably and refresh what memory keeps of it.
    async fn update_head(&self, id: &str, change: impl FnOnce(&mut WorkflowHead)) -> Result<WorkflowHead, EngineError> {
        let _guard = self.inner.deploy_lock.lock().await;
        let mut head = self.head(id)?.ok_or_else(|| EngineError::NotFound(format!("no workflow `{id}`")))?;
        change(&mut head);
        let mut batch = Batch::default();
        batch.put(keys::head(id), encode(&head));
        self.inner.store.commit(batch).await?;
        self.refresh_heads()?;
        Ok(head)
    }

    /// Rebuild the trigger index from the workflow heads (see [`triggers`]).
    fn refresh_heads(&self) -> anyhow::Result<()> {
        self.refresh_heads_at(false)
    }

    fn refresh_heads_at(&self, at_open: bool) -> anyhow::Result<()> {
        let mut workflows = Vec::new();
        for head in self.workflows()? {
            let version = match head.active.then(|| self.workflow(&head.id, Some(head.current))) {
                Some(Ok(version)) => Some(version),
                Some(Err(e)) => {
                    tracing::warn!(workflow = %head.id, "skipping its triggers: {e}");
                    None
                }
                None => None,
            };
            workflows.push((head, version));
        }
        let (index, schedules) = triggers::TriggerIndex::build(workflows);
        *self.inner.triggers.write() = Arc::new(index);
        schedule::set_active(&self.inner, schedules, at_open);
        Ok(())
    }

    /// The active webhook of `workflow` at `path` (surrounding slashes ignored).
    pub fn webhook(&self, workflow: &str, path: &str) -> Option<Arc<Webhook>> {
        self.inner.triggers().webhook(workflow, path)
    }

    /// Let the trigger node of `route` turn an HTTP request into items:
    /// bound to the trigger's credentials, the workflow's key-value state,
    /// and its plugin's limits, as a node's call is.
    pub async fn call_trigger(
        &self,
        route: &Webhook,
        request: TriggerRequest,
    ) -> (Result<TriggerOutput, NodeFailure>, TriggerCall) {
        let started_ms = now_ms();
        let InvokeReport { result, fuel, wall, logs, denials } = self.run_trigger(route, request).await;
        let plugin = format!("{}@{}", route.plugin, route.plugin_version);
        let duration_us = wall.as_micros() as u64;
        self.inner.metrics.record_step(&route.workflow, &plugin, &route.node, duration_us, fuel);
        (result, TriggerCall { plugin, fuel, started_ms, duration_us, logs, denials })
    }

    async fn run_trigger(&self, route: &Webhook, request: TriggerRequest) -> InvokeReport<TriggerOutput> {
        let setup_failed = |message: String| InvokeReport {
            result: Err(NodeFailure::Setup { message }),
            fuel: 0,
            wall: Default::default(),
            logs: Vec::new(),
            denials: Vec::new(),
        };
        let Some(plugin) = self.inner.nodes.get(&route.plugin, &route.plugin_version) else {
            let message =
                format!("{} {}, pinned by this workflow version, is not installed", route.plugin, route.plugin_version);
            return setup_failed(message);
        };
        let bound = match bindings::bind(
            &*self.inner.credentials,
            &plugin.name,
            &plugin.credential_types,
            &plugin.secrets,
            &route.credentials,
        ) {
            Ok(bound) => bound,
            Err(message) => return setup_failed(message),
        };
        let call = Invocation {
            node: route.node.clone(),
            config: route.config.clone(),
            attempt: 1,
            kv_scope: route.workflow.clone(),
            limits: Some(plugin.limits),
            bound,
            ..Default::default()
        };
        self.inner.nodes.handle_request(&route.plugin, &route.plugin_version, call, request).await
    }

    /// Start an execution of the workflow's current version. `trigger` names
    /// the trigger (default: the first `manual` trigger, else the first).
    /// Returns once the execution is durable.
    pub async fn start(&self, workflow: &str, trigger: Option<&str>, items: Vec<Value>) -> Result<String, EngineError> {
        let version = self
            .inner
            .triggers()
            .current(workflow)
            .ok_or_else(|| EngineError::NotFound(format!("no workflow `{workflow}`")))?;
        self.refuse_when_stopping()?;
        self.inner.start(workflow, version, trigger, raw_items(items)?, Start::default()).await
    }

    /// Starts from outside end with shutdown; the engine's own (follow-up
    /// actions, schedules already due) are stored and continue at next open.
    fn refuse_when_stopping(&self) -> Result<(), EngineError> {
        if self.inner.stopping.load(Ordering::SeqCst) {
            return Err(EngineError::Conflict("the engine is shutting down".into()));
        }
        Ok(())
    }

    /// [`start`](Self::start) on a given version with items already encoded
    /// (each a JSON object), committing `writes` in the same atomic batch as
    /// the new execution (nothing of either is stored unless both are).
    pub async fn start_with(
        &self,
        workflow: &str,
        version: u32,
        trigger: Option<&str>,
        items: Vec<crate::runtime::Json>,
        writes: StartWrites,
        trigger_call: Option<TriggerCall>,
    ) -> Result<String, EngineError> {
        self.refuse_when_stopping()?;
        if let Some(bad) = items.iter().find(|i| !i.get().trim_start().starts_with('{')) {
            return Err(EngineError::Conflict(format!("trigger items must be JSON objects, not {}", bad.get())));
        }
        let start = Start { writes: Some(writes), trigger_call, ..Default::default() };
        self.inner.start(workflow, version, trigger, items, start).await
    }

    /// What the engine counts (shared with the server for `/metrics`).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// Executions with a driver in memory: running now, or about to.
    pub fn executions_in_memory(&self) -> usize {
        self.inner.drivers.lock().len()
    }

    /// Stop gracefully: no new step starts; steps already running finish and
    /// are committed, for at most `grace`. Executions continue from their
    /// last committed step at the next [`open`](Self::open) (a step still
    /// running when `grace` ends runs again then, with the same idempotency
    /// key). Returns whether every driver stopped within `grace`.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.inner.stopping.store(true, Ordering::SeqCst);
        // Drivers check the flag before each launch; idle ones are not in memory.
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            if self.executions_in_memory() == 0 {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.inner.store.durable().await.is_ok()
    }

    /// Emit an event: end the waits on it, and start the active workflows
    /// whose event trigger listens for it. Durable when this returns.
    pub async fn emit_event(&self, name: &str, payload: Value) -> Result<EventOutcome, EngineError> {
        self.refuse_when_stopping()?;
        if is_reserved_event(name) {
            let problem = Problem {
                location: "name".into(),
                message: format!("event names starting `{RESERVED_EVENTS}` are the engine's own"),
            };
            return Err(Invalid { problems: vec![problem] }.into());
        }
        self.inner.emit_event(name, payload).await
    }

    /// One execution with its state (its steps: [`Engine::steps`]).
    pub fn execution(&self, id: &str) -> anyhow::Result<Option<ExecutionRecord>> {
        Ok(self.stored_execution(id)?.map(|record| ExecutionRecord { first_steps: Vec::new(), ..record }))
    }

    /// An execution's steps, in the order they were recorded.
    pub fn steps(&self, id: &str) -> anyhow::Result<Vec<StepRecord>> {
        let first = self.stored_execution(id)?.map(|record| record.first_steps).unwrap_or_default();
        read_steps(&self.inner.store, id, first)
    }

    /// Execution `id`'s record as stored.
    fn stored_execution(&self, id: &str) -> anyhow::Result<Option<ExecutionRecord>> {
        self.inner.store.get(&keys::execution(id))?.map(|b| decode(&b, "execution")).transpose()
    }

    /// Executions matching `filter`, newest first. Reads back from the newest
    /// (or from `before`/`until_ms`) only until `limit` match or `since_ms`
    /// is passed, so the newest page costs the same whatever the history;
    /// by status or workflow, only the executions in that index are read.
    pub fn list_executions(&self, filter: &ExecutionFilter) -> anyhow::Result<Vec<ExecutionSummary>> {
        /// Ids are UUIDv7, so `ex/` keys are in creation order, and
        /// `created_ms` is the id's time. (Records written before it was read
        /// separately, a moment apart: this much slack covers them.)
        const SLACK_MS: u64 = 1_000;
        let limit = filter.limit.unwrap_or(100);
        let mut before = filter.before.clone().filter(|b| !b.is_empty());
        if let Some(until) = filter.until_ms {
            // Skip to the ids made before `until` (and a little after).
            let bound = uuid_time_prefix(until.saturating_add(SLACK_MS));
            before = Some(before.map_or(bound.clone(), |b| b.min(bound)));
        }
        let store = &self.inner.store;
        // An index narrows the records read: the status's (every status but
        // `succeeded`, the common one, has one), else the workflow's. Its keys
        // end in the ids, so they are in creation order too.
        let index = match (filter.status.and_then(keys::by_status), filter.workflow.as_deref()) {
            (Some(prefix), _) => Some(prefix.to_vec()),
            (None, Some(workflow)) => Some(keys::workflow_executions(workflow)),
            (None, None) => None,
        };
        let indexed = index.is_some();
        let (prefix, before) = match index {
            Some(prefix) => {
                let before = before.map(|b| [prefix.as_slice(), b.as_bytes()].concat());
                (prefix, before)
            }
            None => (b"ex/".to_vec(), before.map(|b| keys::execution(&b))),
        };
        let records = store.scan_prefix_back(&prefix, before.as_deref()).map(|entry| {
            let (key, value) = entry?;
            if !indexed {
                return Ok(Some(value));
            }
            let id = std::str::from_utf8(&key[prefix.len()..]).context("an execution index key")?;
            store.get(&keys::execution(id))
        });
        let mut found = Vec::new();
        for record in records {
            if found.len() >= limit {
                break;
            }
            // None: pruned since its index key was read.
            let Some(record) = record? else { continue };
            let summary: ExecutionSummary = decode(&record, "execution")?;
            if let Some(since) = filter.since_ms {
                if summary.created_ms.saturating_add(SLACK_MS) < since {
                    break;
                }
                if summary.created_ms < since {
                    continue;
                }
            }
            if filter.until_ms.is_some_and(|u| summary.created_ms >= u)
                || filter.workflow.as_deref().is_some_and(|w| w != summary.workflow_id)
                || filter.status.is_some_and(|s| s != summary.status)
            {
                continue;
            }
            found.push(summary);
        }
        Ok(found)
    }

    /// Retry a failed execution. Returns the id that continues: the same one
    /// from the failed step, a new one from the start.
    pub async fn retry(&self, id: &str, mode: RetryMode) -> Result<String, EngineError> {
        let record = self.execution(id)?.ok_or_else(|| EngineError::NotFound(format!("no execution `{id}`")))?;
        match mode {
            RetryMode::FromStart if !record.status.is_finished() => {
                Err(EngineError::Conflict(format!("execution `{id}` is still {:?}", record.status).to_lowercase()))
            }
            RetryMode::FromStart => {
                let items = record.trigger.items.clone();
                let (workflow, version) = (&record.workflow_id, record.workflow_version);
                let start = Start { rerun_of: Some(id.to_string()), ..Default::default() };
                self.inner.start(workflow, version, Some(&record.trigger.id), items, start).await
            }
            RetryMode::FromFailed => {
                let (reply, answer) = oneshot::channel();
                executor::ensure_driver(&self.inner, id, Some(Wake::Retry { reply }));
                answer.await.map_err(|_| anyhow::anyhow!("the execution's driver stopped"))??;
                Ok(id.to_string())
            }
        }
    }

    /// Cancel an execution that has not finished.
    pub async fn cancel(&self, id: &str) -> Result<(), EngineError> {
        self.execution(id)?.ok_or_else(|| EngineError::NotFound(format!("no execution `{id}`")))?;
        let (reply, answer) = oneshot::channel();
        executor::ensure_driver(&self.inner, id, Some(Wake::Cancel { reply }));
        answer.await.map_err(|_| anyhow::anyhow!("the execution's driver stopped"))?
    }

    /// Delete finished executions created before `cutoff_ms`, with their steps.
    pub fn prune(&self, cutoff_ms: u64) -> anyhow::Result<usize> {
        scheduler::prune(&self.inner, cutoff_ms)
    }

    /// Every durable status change of every execution from now on, in
    /// commit order per execution. A listener that falls more than
    /// `CHANGE_BACKLOG` changes behind gets `RecvError::Lagged` and should
    /// read the list again.
    pub fn changes(&self) -> tokio::sync::broadcast::Receiver<ExecutionChange> {
        self.inner.changes.subscribe()
    }

    /// Wait until execution `id` stops running: it finished, or it waits for
    /// a timer or an event. Returns its status then. Waiting only on the
    /// workflows it called counts as running: their results come on their own.
    pub async fn wait_settled(&self, id: &str) -> Result<Status, EngineError> {
        loop {
            let (tx, rx) = oneshot::channel();
            // Register before looking, so a change in between is not missed.
            self.inner.watchers.lock().entry(id.to_string()).or_default().push(tx);
            let forget = |rx: oneshot::Receiver<Status>| {
                drop(rx);
                let mut watchers = self.inner.watchers.lock();
                if let Some(list) = watchers.get_mut(id) {
                    list.retain(|tx| !tx.is_closed());
                    if list.is_empty() {
                        watchers.remove(id);
                    }
                }
            };
            let record = match self.execution(id) {
                Ok(Some(record)) => record,
                Ok(None) => {
                    forget(rx);
                    return Err(EngineError::NotFound(format!("no execution `{id}`")));
                }
                Err(e) => {
                    forget(rx);
                    return Err(e.into());
                }
            };
            if record.status != Status::Running && !waits_only_on_calls(&record) {
                forget(rx);
                // What was read may be applied but not yet flushed.
                self.inner.store.durable().await?;
                return Ok(record.status);
            }
            rx.await.map_err(|_| EngineError::Store(anyhow::anyhow!("the execution's driver stopped")))?;
        }
    }

    /// Wait until nothing can run now: no execution is running and no timer
    /// is due (executions waiting for later or for an event may remain).
    pub async fn idle(&self) {
        loop {
            let drivers = self.inner.drivers.lock().len();
            let running = self.inner.store.scan_prefix(keys::ACTIVE).next().is_some();
            let due = match self.inner.store.scan_prefix(b"tm/").next() {
                Some(Ok((key, _))) => keys::parse_timer(&key).is_some_and(|(due, _, _)| due <= now_ms()),
                _ => false,
            };
            if drivers == 0 && !running && !due {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The store, for other services of the host (plugin kv, the server).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }
}

impl Inner {
    /// The trigger index as it stands.
    fn triggers(&self) -> Arc<triggers::TriggerIndex> {
        self.triggers.read().clone()
    }

    /// Emit an event: start the active workflows whose event trigger listens
    /// for it, and end the waits on it. Durable when this returns.
    pub(crate) async fn emit_event(self: &Arc<Self>, name: &str, payload: Value) -> Result<EventOutcome, EngineError> {
        if !payload.is_object() {
            return Err(EngineError::Conflict("an event's payload must be a JSON object".into()));
        }
        let raw = serde_json::value::to_raw_value(&payload).map_err(anyhow::Error::from)?;
        // Record each delivery (or the event, kept for a later wait) durably
        // first, so a crash cannot lose it.
        let delivery = encode(&records::Delivery { event: name.to_string(), payload: raw.clone() });
        let wakes = self.deliver_or_keep(name, &delivery)?;
        self.store.durable().await?;
        let mut outcome = EventOutcome { resumed: wakes.len(), ..Default::default() };
        for (id, step) in wakes {
            let wake = Wake::Event { step, event: name.to_string(), payload: raw.clone() };
            executor::ensure_driver(self, &id, Some(wake));
        }
        // Then start the workflows listening for it; one that cannot start
        // does not keep the event from the others.
        let index = self.triggers();
        for (workflow, trigger) in index.event_starts(name) {
            let (workflow, trigger) = (workflow.as_str(), trigger.as_str());
            let version = index.current(workflow);
            let started = match version {
                Some(version) => {
                    self.start(workflow, version, Some(trigger), vec![raw.clone()], Start::default()).await
                }
                None => Err(EngineError::NotFound(format!("no workflow `{workflow}`"))),
            };
            match started {
                Ok(id) => outcome.started.push(id),
                Err(e) => {
                    tracing::error!(workflow = %workflow, event = %name, "event trigger could not start: {e}");
                    outcome.failed.push(format!("{workflow}: {e}"));
                }
            }
        }
        Ok(outcome)
    }

    /// The plan of a stored version, from the cache or rebuilt from its pins.
    pub(crate) fn plan(&self, workflow: &str, version: u32) -> Result<Arc<Plan>, String> {
        if let Some(plan) = self.plans.lock().get(&(workflow.to_string(), version)) {
            return Ok(plan.clone());
        }
        let record: WorkflowVersion = match self.store.get(&keys::version(workflow, version)) {
            Ok(Some(bytes)) => decode(&bytes, "workflow version").map_err(|e| e.to_string())?,
            Ok(None) => return Err(format!("workflow `{workflow}` has no version {version}")),
            Err(e) => return Err(format!("{e:#}")),
        };
        let pins = record.pins.clone();
        let resolve = |name: &str, _: &semver::VersionReq| match pins.get(name) {
            Some(version) => self
                .nodes
                .get(name, version)
                .ok_or_else(|| format!("{name} {version}, pinned by this workflow version, is no longer installed")),
            None => Err(format!("{name} is not pinned by this workflow version")),
        };
        let calls = record.calls.clone();
        let resolve_call = |node: &str, call: &model::CallSpec| {
            calls
                .get(node)
                .copied()
                .ok_or_else(|| format!("the call of `{}` was not resolved at deploy", call.workflow))
        };
        let mut plan = validate::plan(record.workflow, &resolve, &resolve_call, &|_| Some(true), None)
            .map_err(|e| e.to_string())?;
        test_runs::apply_pins(&mut plan, record.pinned);
        let plan = Arc::new(plan);
        self.plans.lock().insert((workflow.to_string(), version), plan.clone());
        Ok(plan)
    }

    /// Create an execution of `workflow@version`, durable before this returns.
    pub(crate) async fn start(
        self: &Arc<Self>,
        workflow: &str,
        version: u32,
        trigger: Option<&str>,
        items: Vec<crate::runtime::Json>,
        start: Start,
    ) -> Result<String, EngineError> {
        let Start { writes, trigger_call, rerun_of, id: chosen_id, parent, depth } = start;
        let plan = self.plan(workflow, version).map_err(EngineError::NotFound)?;
        let triggers = &plan.workflow.triggers;
        let index = match trigger {
            Some(t) => *plan
                .trigger_index
                .get(t)
                .ok_or_else(|| EngineError::NotFound(format!("workflow `{workflow}` has no trigger `{t}`")))?,
            None => triggers.iter().position(|t| t.kind == model::TriggerType::Manual).unwrap_or(0),
        };
        // The id's own time is the creation time, so that the order of `ex/`
        // keys and of `created_ms` agree (see `list_executions`), even when
        // the clock steps back and the id generator holds its time.
        let uuid = match &chosen_id {
            Some(id) => uuid::Uuid::parse_str(id).map_err(|e| anyhow::anyhow!("execution id `{id}`: {e}"))?,
            None => uuid::Uuid::now_v7(),
        };
        let now = uuid.get_timestamp().map_or_else(now_ms, |t| {
            let (secs, nanos) = t.to_unix();
            secs * 1000 + u64::from(nanos) / 1_000_000
        });
        let id = uuid.to_string();
        // A chosen id is a start that may be asked for twice (a follow-up
        // action replayed after a crash): the second finds the first.
        if chosen_id.is_some() && self.store.get(&keys::execution(&id))?.is_some() {
            return Ok(id);
        }
        let mut record = ExecutionRecord {
            id: id.clone(),
            workflow_id: workflow.to_string(),
            workflow_version: version,
            pins: plan.pins.clone(),
            status: Status::Running,
            trigger: records::TriggerInfo { id: triggers[index].id.clone(), items: items.clone() },
            created_ms: now,
            updated_ms: now,
            finished_ms: None,
            error: None,
            rerun_of,
            state: Default::default(),
            first_steps: Vec::new(),
            parent,
            depth,
            compensation: None,
        };
        // The trigger's call is step 0; the nodes' steps come after it.
        let trigger_steps: Vec<StepRecord> = trigger_call
            .map(|call| {
                record.state.next_step = 1;
                record.state.next_record = 1;
                // Its fuel counts against the execution's budget too.
                record.state.fuel_used = call.fuel;
                StepRecord {
                    step: 0,
                    node: record.trigger.id.clone(),
                    plugin: call.plugin,
                    attempt: 1,
                    idempotency_key: format!("{id}:0"),
                    resumed: false,
                    input: Vec::new(),
                    outcome: StepOutcome::Emitted { ports: vec![("main".to_string(), items.clone())] },
                    fuel: call.fuel,
                    started_ms: call.started_ms,
                    duration_us: call.duration_us,
                    logs: call.logs,
                    denials: call.denials,
                    child_execution: None,
                }
            })
            .into_iter()
            .collect();
        let mut router = Router { plan: &plan, state: &mut record.state };
        for t in 0..triggers.len() {
            let ports = if t == index { vec![("main".to_string(), items.clone())] } else { Vec::new() };
            router.route(Source::Trigger(t), &ports).map_err(EngineError::Conflict)?;
        }
        if record.state.ready.is_empty() {
            record.status = Status::Succeeded;
            record.finished_ms = Some(now);
        }
        let mut batch = Batch::default();
        if let Some(writes) = writes {
            writes(&id, &mut batch);
        }
        batch.put(keys::workflow_execution(workflow, &id), Vec::new());
        // Pure first steps run before the execution is first stored; their
        // driver's first commit stores it (see executor::PendingStart).
        let pure_start = record.status == Status::Running
            && record.state.ready.iter().all(|a| !plan.nodes[plan.node_index[&a.node]].side_effects);
        if pure_start {
            let (durable, stored) = oneshot::channel();
            let pending = executor::PendingStart { writes: batch, durable, steps: trigger_steps };
            executor::start_driver(self, record, Some(pending));
            stored.await.map_err(|_| anyhow::anyhow!("the new execution could not be stored (see the log)"))?;
            self.metrics.executions_started.inc();
            return Ok(id);
        }
        if !trigger_steps.is_empty() {
            if record.status.is_finished() {
                record.first_steps = trigger_steps;
            } else {
                batch.put(keys::step_chunk(&id, 0), encode(&trigger_steps));
            }
        }
        batch.put(keys::execution(&id), encode(&record));
        keys::restatus(&mut batch, &id, None, record.status);
        // Commit and start the driver in a task of their own: a caller that
        // gives up (a client hanging up) cannot leave a stored execution
        // without its driver.
        let (done, stored) = oneshot::channel();
        let inner = self.clone();
        tokio::spawn(async move {
            let committed = inner.store.commit(batch).await;
            if committed.is_ok() {
                inner.metrics.executions_started.inc();
                if record.status.is_finished() {
                    inner.metrics.record_finished(record.status.as_str());
                }
                executor::announce(&inner, &record);
                if record.status == Status::Running {
                    executor::start_driver(&inner, record, None);
                }
            }
            let _ = done.send(committed);
        });
        stored.await.map_err(|_| anyhow::anyhow!("the new execution's commit task stopped"))??;
        Ok(id)
    }
}

/// Execution `id`'s steps in order: `first` (those its record keeps), then
/// the chunks under `st/`.
fn read_steps(store: &Store, id: &str, first: Vec<StepRecord>) -> anyhow::Result<Vec<StepRecord>> {
    let mut steps = first;
    for chunk in store.scan_prefix(&keys::steps(id)) {
        steps.extend(decode::<Vec<StepRecord>>(&chunk?.1, "steps")?);
    }
    Ok(steps)
}

/// Give every execution its `wx/` key and its key by status: stores written
/// before an index existed get its keys at their first open (see `records`),
/// and so does every store with `rebuild` (one from before the format
/// marker, which any older wirework may have written last). A store whose
/// newest execution lacks its `wx/` key (written since by a wirework from
/// before that index) gets both again too.
async fn index_executions(store: &Store, rebuild: bool) -> anyhow::Result<()> {
    let newest_indexed = || -> anyhow::Result<bool> {
        let Some(entry) = store.scan_prefix_back(b"ex/", None).next() else { return Ok(true) };
        let summary: ExecutionSummary = decode(&entry?.1, "execution")?;
        Ok(store.get(&keys::workflow_execution(&summary.workflow_id, &summary.id))?.is_some())
    };
    // A newest record that cannot be read says nothing: listing reports it.
    let by_workflow = rebuild || store.get(keys::WORKFLOW_INDEX_BUILT)?.is_none() || !newest_indexed().unwrap_or(true);
    let by_status = by_workflow || store.get(keys::STATUS_INDEX_BUILT)?.is_none();
    if !by_status {
        return Ok(());
    }
    let mut batch = Batch::default();
    // Unset first: an open that stops half-way builds it all again.
    batch.delete(keys::STATUS_INDEX_BUILT);
    let flush = |batch: &mut Batch, force: bool| -> anyhow::Result<()> {
        if (force && !batch.ops.is_empty()) || batch.ops.len() >= 10_000 {
            store.apply(std::mem::take(batch))?;
        }
        Ok(())
    };
    // Keys an older wirework left behind when it changed a status.
    for entry in store.scan_prefix(keys::STATUSES_INDEXED) {
        batch.delete(entry?.0);
        flush(&mut batch, false)?;
    }
    flush(&mut batch, true)?;
    let mut indexed = 0usize;
    for entry in store.scan_prefix(b"ex/") {
        let (key, value) = entry?;
        let summary: ExecutionSummary = match decode(&value, "execution") {
            Ok(summary) => summary,
            Err(e) => {
                // Listing and pruning report it; opening goes on.
                tracing::error!(key = %String::from_utf8_lossy(&key), "not indexed: {e:#}");
                continue;
            }
        };
        if by_workflow {
            batch.put(keys::workflow_execution(&summary.workflow_id, &summary.id), Vec::new());
        }
        // `running` is listed by its `ac/` keys, which every wirework kept.
        if summary.status != Status::Running {
            if let Some(key) = keys::status_entry(summary.status, &summary.id) {
                batch.put(key, Vec::new());
            }
        }
        indexed += 1;
        flush(&mut batch, false)?;
    }
    // Last, with the rest: an open that stops half-way starts over.
    batch.put(keys::WORKFLOW_INDEX_BUILT, b"1".to_vec());
    batch.put(keys::STATUS_INDEX_BUILT, b"1".to_vec());
    store.commit(batch).await.context("indexing executions")?;
    if indexed > 0 {
        let what = if by_workflow { "by workflow and status" } else { "by status" };
        tracing::info!("indexed {indexed} executions {what}");
    }
    Ok(())
}

/// [`Engine::workflows_using`] on a store no engine has open (the CLI's
/// `plugin remove` on a data directory that is not served).
pub fn workflows_using(store: &Store, plugin: &str, version: &semver::Version) -> anyhow::Result<Vec<String>> {
    records::check_format(store)?;
    let mut users = Vec::new();
    for entry in store.scan_prefix(keys::HEADS) {
        let head: WorkflowHead = decode(&entry?.1, "workflow head")?;
        let Some(bytes) = store.get(&keys::version(&head.id, head.current))? else { continue };
        let current: WorkflowVersion = decode(&bytes, "workflow version")?;
        if current.pins.get(plugin) == Some(version) {
            users.push(head.id);
        }
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::uuid_time_prefix;
    use uuid::{NoContext, Timestamp, Uuid};

    #[test]
    fn the_time_prefix_bounds_the_ids_of_its_millisecond() {
        for ms in [0u64, 1, 65_535, 65_536, 1_795_764_071_363, (1 << 48) - 2] {
            let id = |ms: u64| {
                Uuid::new_v7(Timestamp::from_unix(NoContext, ms / 1000, (ms % 1000) as u32 * 1_000_000)).to_string()
            };
            let (at, next) = (id(ms), id(ms + 1));
            assert!(uuid_time_prefix(ms) <= at, "{ms}: {} > {at}", uuid_time_prefix(ms));
            assert!(at < uuid_time_prefix(ms + 1), "{ms}: {at} >= {}", uuid_time_prefix(ms + 1));
            assert!(uuid_time_prefix(ms + 1) <= next);
            assert!(at.starts_with(&uuid_time_prefix(ms)), "{at}");
        }
    }
}
