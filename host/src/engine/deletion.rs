//! Deleting a workflow, and the keys of one execution (shared with
//! retention and the test runs' own clean-up).

use super::records::{keys, ExecutionRecord, Status, WorkflowVersion};
use super::test_runs::test_workflow_id;
use super::{decode, encode, Engine, EngineError, Inner};
use crate::store::{Batch, Store};
use serde::Serialize;

/// Deletes buffered before they are applied, so a workflow with a long
/// history is deleted in bounded batches.
const CHUNK: usize = 10_000;

/// What deleting a workflow removed.
#[derive(Debug, Clone, Serialize)]
pub struct Deletion {
    /// The workflow's id.
    pub id: String,
    /// Versions deleted (its test runs' drafts not counted).
    pub versions: usize,
    /// Finished executions deleted with it (its test runs' included).
    pub executions: usize,
}

/// Add to `batch` the deletion of finished execution `record` and what is
/// kept of it: its steps and its index keys (its `ex/` key included).
pub(crate) fn delete_execution(store: &Store, record: &ExecutionRecord, batch: &mut Batch) -> anyhow::Result<()> {
    for step in store.scan_prefix(&keys::steps(&record.id)) {
        batch.delete(step?.0);
    }
    batch.delete(keys::workflow_execution(&record.workflow_id, &record.id));
    if let Some(key) = keys::status_entry(record.status, &record.id) {
        batch.delete(key);
    }
    batch.delete(keys::execution(&record.id));
    Ok(())
}

/// An execution of `workflow` (or of its test runs) that has not finished,
/// if there is one: only the running and waiting indexes are read.
fn unfinished(store: &Store, workflow: &str) -> anyhow::Result<Option<(String, Status)>> {
    let test = test_workflow_id(workflow);
    for prefix in [keys::ACTIVE, keys::by_status(Status::Waiting).expect("waiting has an index")] {
        for entry in store.scan_prefix(prefix) {
            let (key, _) = entry?;
            let id = String::from_utf8_lossy(&key[prefix.len()..]).to_string();
            let Some(bytes) = store.get(&keys::execution(&id))? else { continue };
            let record: ExecutionRecord = decode(&bytes, "execution")?;
            if (record.workflow_id == workflow || record.workflow_id == test) && !record.status.is_finished() {
                return Ok(Some((id, record.status)));
            }
        }
    }
    Ok(None)
}

/// Delete every finished execution of `workflow` (through its `wx/` index).
fn delete_executions(store: &Store, workflow: &str) -> anyhow::Result<usize> {
    let mut batch = Batch::default();
    let mut deleted = 0;
    for entry in store.scan_prefix(&keys::workflow_executions(workflow)) {
        let (key, _) = entry?;
        let id = String::from_utf8_lossy(&key[keys::workflow_executions(workflow).len()..]).to_string();
        match store.get(&keys::execution(&id))? {
            Some(bytes) => {
                let record: ExecutionRecord = decode(&bytes, "execution")?;
                delete_execution(store, &record, &mut batch)?;
                deleted += 1;
            }
            // An index key left behind: drop it too.
            None => batch.delete(key),
        }
        if batch.ops.len() > CHUNK {
            store.apply(std::mem::take(&mut batch))?;
        }
    }
    store.apply(batch)?;
    Ok(deleted)
}

impl Engine {
    /// Delete a workflow: its versions, its schedules' slots, its finished
    /// executions and its test runs. Refused while an execution of it has not
    /// finished (cancel it first) or while another workflow names it as its
    /// `error_workflow` or calls it. Durable when this returns.
    pub async fn delete_workflow(&self, id: &str) -> Result<Deletion, EngineError> {
        let _guard = self.inner.deploy_lock.lock().await;
        let head = self.head(id)?.ok_or_else(|| EngineError::NotFound(format!("no workflow `{id}`")))?;
        let store = &self.inner.store;
        let (mut named_by, mut called_by) = (Vec::new(), Vec::new());
        for other in self.workflows()? {
            if other.id == id {
                continue;
            }
            let Some(bytes) = store.get(&keys::version(&other.id, other.current))? else { continue };
            let version: WorkflowVersion = decode(&bytes, "workflow version")?;
            if version.workflow.settings.error_workflow.as_deref() == Some(id) {
                named_by.push(format!("`{}`", other.id));
            }
            if version.workflow.nodes.iter().any(|n| n.call.as_ref().is_some_and(|c| c.workflow == id)) {
                called_by.push(format!("`{}`", other.id));
            }
        }
        if !named_by.is_empty() {
            return Err(EngineError::Conflict(format!(
                "workflow `{id}` is the error_workflow of {}: change their settings first",
                named_by.join(", ")
            )));
        }
        if !called_by.is_empty() {
            return Err(EngineError::Conflict(format!(
                "workflow `{id}` is called by {}: change them first",
                called_by.join(", ")
            )));
        }
        refuse_unfinished(store, id)?;
        // No new execution starts once its head is gone and the trigger
        // index is rebuilt; one started just before is looked for again.
        let mut batch = Batch::default();
        batch.delete(keys::head(id));
        store.commit(batch).await?;
        self.refresh_heads()?;
        if let Err(refusal) = refuse_unfinished(store, id) {
            let mut batch = Batch::default();
            batch.put(keys::head(id), encode(&head));
            store.commit(batch).await?;
            self.refresh_heads()?;
            return Err(refusal);
        }
        let test = test_workflow_id(id);
        let mut batch = Batch::default();
        let mut versions = 0;
        for workflow in [id, test.as_str()] {
            for entry in store.scan_prefix(&keys::versions(workflow)) {
                batch.delete(entry?.0);
                versions += usize::from(workflow == id);
            }
        }
        for entry in store.scan_prefix(&keys::schedules(id)) {
            batch.delete(entry?.0);
        }
        store.apply(batch)?;
        let executions = delete_executions(store, id)? + delete_executions(store, &test)?;
        store.durable().await?;
        self.inner.plans.lock().retain(|(workflow, _), _| workflow != id && *workflow != test);
        tracing::info!(workflow = %id, versions, executions, "deleted");
        Ok(Deletion { id: id.to_string(), versions, executions })
    }
}

fn refuse_unfinished(store: &Store, id: &str) -> Result<(), EngineError> {
    match unfinished(store, id)? {
        Some((execution, status)) => Err(EngineError::Conflict(format!(
            "execution {execution} of `{id}` is {}: cancel it, or let it finish, before deleting the workflow",
            status.as_str()
        ))),
        None => Ok(()),
    }
}

impl Inner {
    /// Forget the cached plans of `workflow`'s `version`.
    pub(crate) fn forget_plan(&self, workflow: &str, version: u32) {
        self.plans.lock().remove(&(workflow.to_string(), version));
    }
}
