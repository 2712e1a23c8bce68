//! Background work: firing due timers (waits and retry backoff) and pruning
//! old executions. Timers live in the store (`tm/` keys, ordered by due time),
//! so nothing waits in memory and a restart re-arms them by reading the store.

use super::executor::{ensure_driver, Wake};
use super::records::{keys, ExecutionRecord};
use super::{decode, now_ms, Inner};
use crate::store::Batch;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Longest sleep between scans: a timer added by another process would be
/// late by at most this much (within one process, new timers wake the loop).
const MAX_SLEEP: Duration = Duration::from_secs(1);

pub(crate) fn spawn(inner: &Arc<Inner>) {
    let weak = Arc::downgrade(inner);
    tokio::spawn(fire_timers(weak.clone()));
    tokio::spawn(retention(weak));
}

async fn fire_timers(weak: Weak<Inner>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let sleep = match fire_due(&inner) {
            Ok(Some(next_due)) => Duration::from_millis(next_due.saturating_sub(now_ms())).min(MAX_SLEEP),
            Ok(None) => MAX_SLEEP,
            Err(e) => {
                tracing::error!("scanning timers: {e:#}");
                MAX_SLEEP
            }
        };
        let notify = inner.timers_changed.clone();
        drop(inner);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = notify.notified() => {}
        }
    }
}

/// Hand every due timer to its execution; the time of the next one.
fn fire_due(inner: &Arc<Inner>) -> anyhow::Result<Option<u64>> {
    let now = now_ms();
    for entry in inner.store.scan_prefix(b"tm/") {
        let (key, _) = entry?;
        let Some((due, id, step)) = keys::parse_timer(&key) else { continue };
        if due > now {
            return Ok(Some(due));
        }
        // Fired once; the driver deletes the key, then forgets it here.
        if inner.fired.lock().insert(key.clone()) {
            // The scan is no snapshot: the key may have been deleted (and
            // forgotten) since it was read.
            if inner.store.get(&key)?.is_none() {
                inner.fired.lock().remove(&key);
                continue;
            }
            ensure_driver(inner, &id, Some(Wake::Timer { step, key }));
        }
    }
    Ok(None)
}

async fn retention(weak: Weak<Inner>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let cutoff = now_ms().saturating_sub(inner.config.retention.as_millis() as u64);
        match prune(&inner, cutoff) {
            Ok(0) => {}
            Ok(n) => tracing::info!("pruned {n} finished executions"),
            Err(e) => tracing::error!("pruning executions: {e:#}"),
        }
        if let Err(e) = inner.prune_kept_events() {
            tracing::error!("pruning kept events: {e:#}");
        }
        let interval = inner.config.prune_interval;
        drop(inner);
        tokio::time::sleep(interval).await;
    }
}

/// Delete finished executions created before `cutoff_ms`, with their steps.
pub(crate) fn prune(inner: &Inner, cutoff_ms: u64) -> anyhow::Result<usize> {
    let mut pruned = 0;
    let mut batch = Batch::default();
    // Execution ids are UUIDv7: `ex/` keys are in creation order.
    for entry in inner.store.scan_prefix(b"ex/") {
        let (_, bytes) = entry?;
        let record: ExecutionRecord = decode(&bytes, "execution")?;
        if record.created_ms >= cutoff_ms {
            break;
        }
        // A finished execution may still have a driver (a retry just began).
        if !record.status.is_finished() || inner.drivers.lock().contains_key(&record.id) {
            continue;
        }
        super::deletion::delete_execution(&inner.store, &record, &mut batch)?;
        pruned += 1;
        if batch.ops.len() > 10_000 {
            inner.store.apply(std::mem::take(&mut batch))?;
        }
    }
    inner.store.apply(batch)?;
    Ok(pruned)
}
