//! Test runs: a draft workflow run once, as a real execution, without
//! deploying it.
//!
//! The editor's draft is checked as a deploy checks it, then stored as a
//! version of a workflow of its own, `{id}~test` (`~` is not allowed in
//! workflow ids, so it is nobody's id), which has no head: its triggers never
//! fire, it is not listed among the workflows, and its executions are listed
//! and shown like any other (under that id). Its nodes really run, so an HTTP
//! node sends its request; an output *pinned* for the run stands for its
//! node, which is then not called. A failed test run does not start the
//! error workflow. Each workflow keeps its newest [`KEPT`] test runs.

use super::deletion::delete_execution;
use super::records::{keys, ExecutionRecord, WorkflowVersion};
use super::validate::{Invalid, Plan, Problem};
use super::{decode, encode, now_ms, raw_items, Engine, EngineError, Start};
use crate::runtime::{Json, PortItems};
use crate::store::Batch;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The suffix of the workflow id test runs are stored under.
pub const TEST_SUFFIX: &str = "~test";

/// Test runs kept per workflow; older ones are deleted with their drafts.
pub const KEPT: u32 = 20;

/// The id that workflow `id`'s test runs are stored under.
pub fn test_workflow_id(id: &str) -> String {
    format!("{id}{TEST_SUFFIX}")
}

/// A draft to run once.
#[derive(Debug, Clone)]
pub struct TestRun {
    /// The draft.
    pub workflow: super::Workflow,
    /// The trigger it starts from (default: as [`Engine::start`] chooses).
    pub trigger: Option<String>,
    /// The trigger's items, each a JSON object.
    pub items: Vec<Value>,
    /// Outputs that stand for their nodes: node id, then port, then items.
    pub pinned: BTreeMap<String, BTreeMap<String, Vec<Value>>>,
}

/// A test run, started.
#[derive(Debug, Clone, Serialize)]
pub struct TestRunStarted {
    /// The execution.
    pub execution: String,
    /// The workflow id its draft is stored under (`{id}~test`).
    pub workflow: String,
    /// The draft's version there.
    pub version: u32,
}

/// Give the plan's nodes their pinned outputs.
pub(crate) fn apply_pins(plan: &mut Plan, pinned: BTreeMap<String, BTreeMap<String, Vec<Json>>>) {
    for (node, ports) in pinned {
        if let Some(&index) = plan.node_index.get(&node) {
            let ports = ports.into_iter().map(|(port, items)| PortItems { port, items }).collect();
            plan.nodes[index].pinned = Some(ports);
        }
    }
}

/// Check the pins against the plan: each names a node, and holds objects.
fn check_pins(
    plan: &Plan,
    pinned: BTreeMap<String, BTreeMap<String, Vec<Value>>>,
) -> Result<BTreeMap<String, BTreeMap<String, Vec<Json>>>, Invalid> {
    let mut problems = Vec::new();
    let mut checked = BTreeMap::new();
    for (node, ports) in pinned {
        let location = format!("pinned.{node}");
        if !plan.node_index.contains_key(&node) {
            problems.push(Problem { location, message: format!("the draft has no node `{node}`") });
            continue;
        }
        let mut encoded = BTreeMap::new();
        for (port, items) in ports {
            if port.is_empty() {
                problems.push(Problem { location: location.clone(), message: "a port name is empty".into() });
                continue;
            }
            match items.into_iter().map(pinned_item).collect::<Result<Vec<_>, _>>() {
                Ok(items) => {
                    encoded.insert(port, items);
                }
                Err(message) => problems.push(Problem { location: format!("{location}.{port}"), message }),
            }
        }
        checked.insert(node, encoded);
    }
    if problems.is_empty() {
        Ok(checked)
    } else {
        Err(Invalid { problems })
    }
}

fn pinned_item(item: Value) -> Result<Json, String> {
    match item {
        Value::Object(_) => serde_json::value::to_raw_value(&item).map_err(|e| e.to_string()),
        other => Err(format!("items must be JSON objects, not {other}")),
    }
}

impl Engine {
    /// Run a draft once without deploying it (see the module docs): checked
    /// as a deploy is (every problem at once, nothing stored), then started.
    /// Returns once the execution is durable.
    pub async fn test_run(&self, run: TestRun) -> Result<TestRunStarted, EngineError> {
        self.refuse_when_stopping()?;
        let items = raw_items(run.items)?;
        let mut plan = self.check(run.workflow)?;
        let pinned = check_pins(&plan, run.pinned)?;
        if let Some(trigger) = &run.trigger {
            if !plan.trigger_index.contains_key(trigger) {
                let message = format!("the draft has no trigger `{trigger}`");
                return Err(Invalid { problems: vec![Problem { location: "trigger".into(), message }] }.into());
            }
        }
        // A test run is the author's, not an incident to report.
        plan.workflow.settings.error_workflow = None;
        let workflow = test_workflow_id(&plan.workflow.id);
        let version = {
            let _guard = self.inner.deploy_lock.lock().await;
            let store = &self.inner.store;
            let last = match store.scan_prefix(&keys::versions(&workflow)).last() {
                Some(entry) => decode::<WorkflowVersion>(&entry?.1, "workflow version")?.version,
                None => 0,
            };
            let version = last + 1;
            let record = WorkflowVersion {
                version,
                deployed_ms: now_ms(),
                workflow: plan.workflow.clone(),
                pins: plan.pins.clone(),
                calls: plan.calls.clone(),
                pinned: pinned.clone(),
            };
            let mut batch = Batch::default();
            batch.put(keys::version(&workflow, version), encode(&record));
            store.commit(batch).await?;
            apply_pins(&mut plan, pinned);
            self.inner.plans.lock().insert((workflow.clone(), version), Arc::new(plan));
            version
        };
        if version > KEPT {
            if let Err(e) = self.forget_test_runs(&workflow, version - KEPT) {
                tracing::warn!(%workflow, "old test runs not deleted: {e:#}");
            }
        }
        let start = Start::default();
        let execution = self.inner.start(&workflow, version, run.trigger.as_deref(), items, start).await?;
        Ok(TestRunStarted { execution, workflow, version })
    }

    /// Delete the test runs of `workflow` (a `~test` id) up to `version`,
    /// their drafts with them; a draft with an execution still going stays.
    fn forget_test_runs(&self, workflow: &str, version: u32) -> anyhow::Result<()> {
        let store = &self.inner.store;
        let mut batch = Batch::default();
        let mut going = std::collections::HashSet::new();
        let index = keys::workflow_executions(workflow);
        for entry in store.scan_prefix(&index) {
            let id = String::from_utf8_lossy(&entry?.0[index.len()..]).to_string();
            let Some(bytes) = store.get(&keys::execution(&id))? else { continue };
            let record: ExecutionRecord = decode(&bytes, "execution")?;
            if record.workflow_version > version {
                continue;
            }
            if record.status.is_finished() && !self.inner.drivers.lock().contains_key(&id) {
                delete_execution(store, &record, &mut batch)?;
            } else {
                going.insert(record.workflow_version);
            }
        }
        for entry in store.scan_prefix(&keys::versions(workflow)) {
            let (key, bytes) = entry?;
            let draft: WorkflowVersion = decode(&bytes, "workflow version")?;
            if draft.version > version {
                break;
            }
            if !going.contains(&draft.version) {
                batch.delete(key);
                self.inner.forget_plan(workflow, draft.version);
            }
        }
        store.apply(batch)
    }
}
