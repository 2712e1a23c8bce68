//! Schedule triggers: cron expressions evaluated in an IANA time zone.
//!
//! Expressions have five fields (minute precision) or six (a leading seconds
//! field), plus `L`, `#`, `W` and aliases such as `@hourly` (parsed by
//! `croner`); zones come from `chrono-tz` (default `UTC`), so daylight-saving
//! changes follow the zone's rules.
//!
//! **Each slot fires once.** The last slot fired is kept in the store under
//! `sc/{workflow}\0{trigger}` and written in the same atomic batch as the
//! execution it starts: a crash can neither lose nor repeat a slot.
//!
//! **Missed slots** (the host was down, or the store failed) are caught up
//! with one execution, for the most recent missed slot, as soon as the host
//! runs again; its item's `missed` says how many earlier slots it stands for
//! too (0 when on time). Slots from before a schedule was deployed or
//! activated never fire: activation moves the stored last slot to its time.

use super::records::keys;
use super::{decode, encode, now_ms, Inner};
use chrono::{TimeZone, Utc};
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// A parsed cron expression in its time zone.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: Cron,
    zone: chrono_tz::Tz,
}

impl CronSchedule {
    /// Parse `expression` for `zone` (an IANA name such as `Europe/Amsterdam`;
    /// `None`: UTC). The error says what is wrong.
    pub fn parse(expression: &str, zone: Option<&str>) -> Result<CronSchedule, String> {
        let parser = CronParser::builder().seconds(Seconds::Optional).year(Year::Disallowed).build();
        let cron = parser.parse(expression.trim()).map_err(|e| format!("`{expression}`: {e}"))?;
        let zone = match zone.map(str::trim) {
            None | Some("") => chrono_tz::UTC,
            Some(name) => name.parse::<chrono_tz::Tz>().map_err(|_| format!("`{name}` is not an IANA time zone"))?,
        };
        Ok(CronSchedule { cron, zone })
    }

    /// The first slot strictly after `after_ms` (ms since the epoch), if any.
    pub fn next_after(&self, after_ms: u64) -> Option<u64> {
        let after = self.zone.timestamp_millis_opt(after_ms as i64).single()?;
        let next = self.cron.find_next_occurrence(&after, false).ok()?;
        u64::try_from(next.timestamp_millis()).ok()
    }

    /// The last slot at or before `ms`, if any.
    pub fn latest_at_or_before(&self, ms: u64) -> Option<u64> {
        let at = self.zone.timestamp_millis_opt(ms as i64).single()?;
        let latest = self.cron.find_previous_occurrence(&at, true).ok()?;
        u64::try_from(latest.timestamp_millis()).ok()
    }

    /// `ms` as RFC 3339 in the schedule's zone.
    pub fn format(&self, ms: u64) -> String {
        match self.zone.timestamp_millis_opt(ms as i64).single() {
            Some(t) => t.to_rfc3339(),
            None => Utc.timestamp_millis_opt(ms as i64).single().map(|t| t.to_rfc3339()).unwrap_or_default(),
        }
    }
}

/// One active schedule trigger, as kept in memory.
#[derive(Debug, Clone)]
pub(crate) struct Scheduled {
    pub workflow: String,
    pub version: u32,
    pub trigger: String,
    pub schedule: CronSchedule,
    /// Set when the trigger became active while the host was running: slots
    /// before it never fire.
    pub since_ms: Option<u64>,
}

impl Scheduled {
    fn same_trigger(&self, other: &Scheduled) -> bool {
        self.workflow == other.workflow && self.version == other.version && self.trigger == other.trigger
    }
}

/// What the store keeps per schedule trigger.
#[derive(Debug, Serialize, Deserialize)]
struct LastSlot {
    slot_ms: u64,
}

/// Replace the active schedules; triggers new since the last call (other
/// than at open) count from now.
pub(crate) fn set_active(inner: &Inner, mut found: Vec<Scheduled>, at_open: bool) {
    let mut active = inner.schedules.lock();
    let now = now_ms();
    for entry in &mut found {
        entry.since_ms = match active.iter().find(|old| old.same_trigger(entry)) {
            Some(old) => old.since_ms,
            None if at_open => None,
            None => Some(now),
        };
    }
    *active = found;
    inner.schedules_changed.notify_one();
}

pub(crate) fn spawn(inner: &Arc<Inner>) {
    tokio::spawn(run(Arc::downgrade(inner)));
}

/// Missed slots counted one by one at most; more are reported as this many.
const MAX_COUNTED_MISSES: u64 = 10_000;

/// Longest sleep: a clock jump is noticed within this.
const MAX_SLEEP: Duration = Duration::from_secs(30);

async fn run(weak: Weak<Inner>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let next = match fire_due(&inner).await {
            Ok(next) => next,
            Err(e) => {
                tracing::error!("schedules: {e:#}");
                Some(now_ms() + 1000)
            }
        };
        let sleep = next.map_or(MAX_SLEEP, |due| Duration::from_millis(due.saturating_sub(now_ms())).min(MAX_SLEEP));
        let notify = inner.schedules_changed.clone();
        drop(inner);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = notify.notified() => {}
        }
    }
}

/// Start an execution for every schedule whose slot has come; the time of the
/// next slot.
async fn fire_due(inner: &Arc<Inner>) -> anyhow::Result<Option<u64>> {
    let active = inner.schedules.lock().clone();
    let mut next_due: Option<u64> = None;
    for entry in active {
        if inner.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(None);
        }
        let key = keys::schedule(&entry.workflow, &entry.trigger);
        let now = now_ms();
        let stored = inner.store.get(&key)?.map(|b| decode::<LastSlot>(&b, "schedule")).transpose()?;
        let base = match (stored.map(|last| last.slot_ms), entry.since_ms) {
            // Activated (or redeployed) since: slots before count for nothing,
            // after a restart too.
            (Some(last), Some(since)) if last < since => store_slot(inner, &key, since).await?,
            (Some(last), _) => last,
            // First sight: count from now (or activation), never backwards.
            (None, since) => store_slot(inner, &key, since.unwrap_or(now)).await?,
        };
        let Some(mut slot) = entry.schedule.next_after(base) else { continue };
        if slot <= now {
            // The latest slot that has come, and how many earlier ones it
            // stands for (counted up to a bound; a long outage says at least that).
            let latest = entry.schedule.latest_at_or_before(now).filter(|&l| l >= slot).unwrap_or(slot);
            let mut missed = 0u64;
            let mut counting = slot;
            while counting < latest && missed < MAX_COUNTED_MISSES {
                missed += 1;
                match entry.schedule.next_after(counting) {
                    Some(next) => counting = next,
                    None => break,
                }
            }
            slot = latest;
            let item = serde_json::value::to_raw_value(&json!({
                "scheduled_ms": slot,
                "scheduled_at": entry.schedule.format(slot),
                "fired_ms": now,
                "missed": missed,
            }))?;
            let write_key = key.clone();
            let writes: super::StartWrites =
                Box::new(move |_, batch| batch.put(write_key, encode(&LastSlot { slot_ms: slot })));
            match inner
                .start(
                    &entry.workflow,
                    entry.version,
                    Some(&entry.trigger),
                    vec![item],
                    super::Start { writes: Some(writes), ..Default::default() },
                )
                .await
            {
                Ok(id) => {
                    tracing::info!(workflow = %entry.workflow, trigger = %entry.trigger, execution = %id, missed, "schedule fired")
                }
                Err(super::EngineError::Store(e)) => {
                    // Not stored: the slot stays due and is tried again.
                    return Err(e.context(format!("starting schedule {} of {}", entry.trigger, entry.workflow)));
                }
                Err(e) => {
                    // The workflow cannot start this way (a plugin it pins is
                    // gone, ...): mark the slot done so it does not spin; the
                    // error is in the log.
                    tracing::error!(workflow = %entry.workflow, trigger = %entry.trigger, "schedule could not start: {e}");
                    store_slot(inner, &key, slot).await?;
                }
            }
            match entry.schedule.next_after(slot) {
                Some(next) => slot = next,
                None => continue,
            }
        }
        next_due = Some(next_due.map_or(slot, |n: u64| n.min(slot)));
    }
    Ok(next_due)
}

/// Record `slot` as the trigger's last slot, durably; returns it.
async fn store_slot(inner: &Inner, key: &[u8], slot: u64) -> anyhow::Result<u64> {
    let mut batch = crate::store::Batch::default();
    batch.put(key.to_vec(), encode(&LastSlot { slot_ms: slot }));
    inner.store.commit(batch).await?;
    Ok(slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_and_six_fields_in_a_zone() {
        // 2026-03-29 00:30 UTC: Amsterdam moves from +1 to +2 at 01:00 UTC.
        let base = 1_774_744_200_000;
        let daily = CronSchedule::parse("0 9 * * *", Some("Europe/Amsterdam")).unwrap();
        let next = daily.next_after(base).unwrap();
        assert_eq!(daily.format(next), "2026-03-29T09:00:00+02:00");
        let every_two_seconds = CronSchedule::parse("*/2 * * * * *", None).unwrap();
        assert_eq!(every_two_seconds.next_after(1_000), Some(2_000));
        assert_eq!(every_two_seconds.next_after(2_000), Some(4_000));
    }

    #[test]
    fn bad_expressions_and_zones_are_named() {
        let err = CronSchedule::parse("61 * * * *", None).unwrap_err();
        assert!(err.contains("61 * * * *"), "{err}");
        let err = CronSchedule::parse("0 9 * * *", Some("Mars/Olympus")).unwrap_err();
        assert!(err.contains("Mars/Olympus"), "{err}");
    }
}
