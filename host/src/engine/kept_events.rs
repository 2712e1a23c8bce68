//! Events that arrive before their wait.
//!
//! An event that nothing waits on when it arrives (no wait on its exact name,
//! `:key` included) is kept for [`EngineConfig::event_window`](super::EngineConfig)
//! (default 10 minutes; zero keeps none), at most [`MAX_KEPT`] per name (the
//! oldest go first). A wait that begins on that exact name within the window
//! takes the oldest one kept at once instead of waiting: a "wait for
//! email.opened:ann@example.com" that subscribes a moment after the open
//! arrived is not left waiting for it. Each kept event ends one wait.
//!
//! "Deliver or keep" (an event arriving) and "take one kept" (a wait just
//! subscribed, durably) are decided under one lock ([`Inner::event_gate`]),
//! each seeing the other's writes: an event is neither missed between the
//! two nor delivered twice.

use super::executor::{ensure_driver, Wake};
use super::records::{keys, Delivery};
use super::{decode, now_ms, Inner};
use crate::store::Batch;
use std::sync::Arc;

/// Events kept per exact name at most.
pub const MAX_KEPT: usize = 100;

impl Inner {
    /// The oldest moment a kept event may have arrived at and still be taken.
    fn kept_since(&self) -> u64 {
        now_ms().saturating_sub(self.config.event_window.as_millis() as u64)
    }

    /// For an arriving event: under the gate, hand it to the waits on its
    /// exact name (their subscriptions deleted, a `wk/` delivery written for
    /// each), or keep it when none waits. Applied (visible) when this
    /// returns, not yet durable. Returns the waits it went to.
    pub(crate) fn deliver_or_keep(&self, name: &str, delivery: &[u8]) -> anyhow::Result<Vec<(String, u64)>> {
        let _gate = self.event_gate.lock();
        let mut batch = Batch::default();
        let mut waits = Vec::new();
        for entry in self.store.scan_prefix(&keys::subscriptions(name)) {
            let (key, _) = entry?;
            if let Some((id, step)) = keys::parse_tail(&key) {
                batch.delete(key);
                batch.put(keys::wake(&id, step), delivery.to_vec());
                waits.push((id, step));
            }
        }
        if waits.is_empty() && !self.config.event_window.is_zero() {
            let now = now_ms();
            let since = self.kept_since();
            let kept: Vec<Vec<u8>> = self
                .store
                .scan_prefix(&keys::kept_events(name))
                .map(|e| e.map(|(k, _)| k))
                .collect::<Result<_, _>>()?;
            // Expired ones go, and the oldest beyond the bound.
            let live: Vec<&Vec<u8>> =
                kept.iter().filter(|k| keys::kept_event_arrived(k).is_some_and(|at| at >= since)).collect();
            let excess = (live.len() + 1).saturating_sub(MAX_KEPT);
            for key in kept.iter().filter(|k| !live.contains(k)).chain(live.iter().take(excess).copied()) {
                batch.delete(key.clone());
            }
            batch.put(keys::kept_event(name, now, rand::random()), delivery.to_vec());
        }
        self.store.apply(batch)?;
        Ok(waits)
    }

    /// For a wait of execution `id`'s step on `event`, once its subscription
    /// is durable: take the oldest event kept for that name within the
    /// window, if any, and hand it to the wait (as an arriving event would).
    pub(crate) fn take_kept(self: &Arc<Self>, event: &str, id: &str, step: u64) -> anyhow::Result<bool> {
        if self.config.event_window.is_zero() {
            return Ok(false);
        }
        let taken = {
            let _gate = self.event_gate.lock();
            let since = self.kept_since();
            let mut batch = Batch::default();
            let mut taken = None;
            for entry in self.store.scan_prefix(&keys::kept_events(event)) {
                let (key, bytes) = entry?;
                if keys::kept_event_arrived(&key).is_none_or(|at| at < since) {
                    batch.delete(key);
                    continue;
                }
                // Still subscribed: an event delivered meanwhile took the wait.
                if self.store.get(&keys::subscription(event, id, step))?.is_none() {
                    break;
                }
                let delivery: Delivery = decode(&bytes, "kept event")?;
                batch.delete(key);
                batch.delete(keys::subscription(event, id, step));
                batch.put(keys::wake(id, step), bytes.to_vec());
                taken = Some(delivery);
                break;
            }
            self.store.apply(batch)?;
            taken
        };
        match taken {
            Some(delivery) => {
                let wake = Wake::Event { step, event: event.to_string(), payload: delivery.payload };
                ensure_driver(self, id, Some(wake));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Kept events whose window has passed, deleted; how many.
    pub(crate) fn prune_kept_events(&self) -> anyhow::Result<usize> {
        let _gate = self.event_gate.lock();
        let since = self.kept_since();
        let mut batch = Batch::default();
        for entry in self.store.scan_prefix(keys::KEPT_EVENTS) {
            let (key, _) = entry?;
            if keys::kept_event_arrived(&key).is_none_or(|at| at < since) {
                batch.delete(key);
            }
        }
        let pruned = batch.ops.len();
        self.store.apply(batch)?;
        Ok(pruned)
    }

    /// At open: waits subscribed after an event was kept, both durable but
    /// not yet matched (a crash between the two), are matched now.
    pub(crate) fn match_kept_events(self: &Arc<Self>) -> anyhow::Result<usize> {
        let mut matched = 0;
        let mut names: Vec<String> = Vec::new();
        for entry in self.store.scan_prefix(keys::KEPT_EVENTS) {
            let (key, _) = entry?;
            let Some(end) = key.iter().rposition(|b| *b == 0) else { continue };
            let name = String::from_utf8_lossy(&key[keys::KEPT_EVENTS.len()..end]).into_owned();
            if names.last() != Some(&name) {
                names.push(name);
            }
        }
        for name in names {
            let waits: Vec<(String, u64)> = self
                .store
                .scan_prefix(&keys::subscriptions(&name))
                .filter_map(|e| e.ok().and_then(|(k, _)| keys::parse_tail(&k)))
                .collect();
            for (id, step) in waits {
                matched += usize::from(self.take_kept(&name, &id, step)?);
            }
        }
        Ok(matched)
    }
}
