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
            inner.emit_event(event, serde_json::from_str(payload.get())?).await?;
        }
    }
    Ok(())
}
