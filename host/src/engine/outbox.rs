//! Follow-up actions of a commit: starting an error workflow, emitting an
//! event. Each is written in the same atomic batch as the step that causes
//! it (`ob/{execution}/{seq}`), carried out once that batch is durable, and
//! deleted when done; [`replay`] carries out what a crash interrupted. So an
//! action is never lost; after a crash it may happen twice (at least once).

use super::records::keys;
use super::{decode, Inner};
use crate::runtime::Json;
use crate::store::Batch;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Something to do once a commit is durable.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Start `workflow` through its `error` trigger with `item`.
    StartErrorWorkflow {
        /// The error workflow.
        workflow: String,
        /// The failure's details.
        item: Json,
    },
    /// Emit `event` with `payload`.
    EmitEvent {
        /// The event's name.
        event: String,
        /// Its payload.
        payload: Json,
    },
    /// Start version `version` of `workflow` as execution `id` (chosen by
    /// the parent's step, so a replay starts it once) with `items`.
    StartCall {
        /// The called workflow.
        workflow: String,
        /// Its exact version.
        version: u32,
        /// The new execution's id.
        id: String,
        /// The trigger items: the calling step's input.
        items: Vec<Json>,
        /// The calling step.
        parent: super::records::ParentLink,
        /// The new execution's depth.
        depth: u32,
    },
    /// Hand finished execution `child`'s result to the step of `parent`
    /// that waits for it.
    ReturnCall {
        /// The waiting execution.
        parent: String,
        /// The finished one.
        child: String,
    },
}

/// Carry out `entries` (key, action) in order, each deleted once done.
pub(crate) fn spawn(inner: &Arc<Inner>, entries: Vec<(Vec<u8>, Action)>) {
    if entries.is_empty() {
        return;
    }
    let inner = inner.clone();
    tokio::spawn(async move {
        for (key, action) in entries {
            if let Err(e) = run(&inner, &action).await {
                tracing::error!(?action, "follow-up action failed: {e:#}");
            }
            let mut batch = Batch::default();
            batch.delete(key);
            if let Err(e) = inner.store.commit(batch).await {
                tracing::error!("deleting a done follow-up action: {e:#}");
            }
        }
    });
}

/// Carry out the actions a stop left behind.
pub(crate) fn replay(inner: &Arc<Inner>) -> anyhow::Result<()> {
    let entries = inner
        .store
        .scan_prefix(keys::OUTBOX)
        .map(|e| e.and_then(|(key, value)| Ok((key, decode::<Action>(&value, "follow-up action")?))))
        .collect::<anyhow::Result<Vec<_>>>()?;
    spawn(inner, entries);
    Ok(())
}

/// What a finished called execution hands back: `{execution_id, status,
/// items, error}`, its items those a synchronous webhook would answer with
/// ([`super::records::last_output`]).
fn call_result(inner: &Arc<Inner>, child: &str) -> anyhow::Result<serde_json::Value> {
    let record: super::records::ExecutionRecord = match inner.store.get(&keys::execution(child))? {
        Some(bytes) => decode(&bytes, "execution")?,
        None => anyhow::bail!("called execution {child} is not stored"),
    };
    let steps = super::read_steps(&inner.store, child, record.first_steps.clone())?;
    let items: Vec<serde_json::Value> =
        super::records::last_output(&steps).into_iter().filter_map(|i| serde_json::from_str(i.get()).ok()).collect();
    Ok(serde_json::json!({
        "execution_id": child,
        "status": record.status.as_str(),
        "items": items,
        "error": record.error.map(|e| e.message),
    }))
}

async fn run(inner: &Arc<Inner>, action: &Action) -> anyhow::Result<()> {
    match action {
        Action::StartErrorWorkflow { workflow, item } => {
            let version = inner
                .triggers()
                .current(workflow)
                .ok_or_else(|| anyhow::anyhow!("error workflow `{workflow}` is not deployed"))?;
            let plan = inner.plan(workflow, version).map_err(anyhow::Error::msg)?;
            let trigger = plan
                .workflow
                .triggers
                .iter()
                .find(|t| t.kind == super::model::TriggerType::Error)
                .map(|t| t.id.clone())
                .ok_or_else(|| anyhow::anyhow!("error workflow `{workflow}` has no `error` trigger"))?;
            inner.start(workflow, version, Some(&trigger), vec![item.clone()], Default::default()).await?;
        }
        Action::EmitEvent { event, payload } => {
            if super::is_reserved_event(event) {
                anyhow::bail!("`{event}`: event names starting `{}` are the engine's own", super::RESERVED_EVENTS);
            }
            inner.emit_event(event, serde_json::from_str(payload.get())?).await?;
        }
        Action::StartCall { workflow, version, id, items, parent, depth } => {
            let start = super::Start {
                id: Some(id.clone()),
                parent: Some(parent.clone()),
                depth: *depth,
                ..Default::default()
            };
            if let Err(e) = inner.start(workflow, *version, None, items.clone(), start).await {
                // The parent must not wait for a child that never started.
                let result = serde_json::json!({
                    "execution_id": id, "status": "not started", "error": format!("{e:#}"),
                });
                if parent.waits {
                    inner.emit_event(&super::executor::call_event(id), result).await?;
                }
                anyhow::bail!("starting `{workflow}` v{version} for execution {}: {e:#}", parent.execution_id);
            }
        }
        Action::ReturnCall { parent, child } => {
            let result = call_result(inner, child)?;
            let outcome = inner.emit_event(&super::executor::call_event(child), result).await?;
            tracing::debug!(%parent, %child, ?outcome, "returned a call's result");
        }
    }
    Ok(())
}
