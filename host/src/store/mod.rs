//! Persistence: an ordered key-value [`Backend`] (sled first) with atomic
//! batches, and on top of it [`Store`], which adds group commit.
//!
//! The trait is deliberately narrow (get, ordered prefix scans both ways,
//! atomic batch, flush) so that a second backend needs only those operations; the
//! engine encodes its own records and keys (see `engine::records`).
//!
//! **Group commit.** [`Store::commit`] hands its batch to one commit thread,
//! which applies every batch that queued up meanwhile, flushes once, and then
//! answers them all: a thousand steps finishing together cost one `fsync`, not
//! a thousand, and the async workers never block on the disk. [`Store::apply`]
//! writes at once without waiting (durable at the next flush, or within
//! [`BACKSTOP_FLUSH`] when nothing else commits: plugin key-value state goes
//! this way). Every flush happens on the commit thread, so no two compete.

mod sled_backend;

pub use sled_backend::SledBackend;

use anyhow::Context;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use tokio::sync::oneshot;

/// The shortest time between two flushes. Each flush costs the kernel about
/// a millisecond of CPU on a virtual disk, so under load it pays to let a
/// few milliseconds of commits gather; when idle the first commit after a
/// quiet spell flushes at once.
const GROUP_COMMIT_WINDOW: std::time::Duration = std::time::Duration::from_millis(2);

/// Writes made with [`Store::apply`] are flushed at most this long after
/// they were made, when no commit has flushed them first.
pub const BACKSTOP_FLUSH: std::time::Duration = std::time::Duration::from_millis(500);

/// One key-value pair read from a backend.
pub type Entry = (Vec<u8>, Vec<u8>);

/// An ordered key-value store with atomic batches: all the engine needs.
pub trait Backend: Send + Sync + 'static {
    /// The value under `key`.
    fn get(&self, key: &[u8]) -> anyhow::Result<Option<Vec<u8>>>;
    /// Entries whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, prefix: &[u8]) -> Box<dyn Iterator<Item = anyhow::Result<Entry>> + Send + '_>;
    /// Entries whose key starts with `prefix` and sorts before `before` (all
    /// of them when `None`), in descending key order: for time-ordered keys,
    /// newest first, without reading the older ones first.
    fn scan_prefix_back(
        &self,
        prefix: &[u8],
        before: Option<&[u8]>,
    ) -> Box<dyn Iterator<Item = anyhow::Result<Entry>> + Send + '_>;
    /// Apply every write of `batch` or none.
    fn apply(&self, batch: Batch) -> anyhow::Result<()>;
    /// Make every applied batch durable (blocking).
    fn flush(&self) -> anyhow::Result<()>;
}

/// Writes applied together.
#[derive(Debug, Default)]
pub struct Batch {
    pub(crate) ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Batch {
    /// Store `value` under `key`.
    pub fn put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push((key.into(), Some(value.into())));
    }

    /// Remove `key`.
    pub fn delete(&mut self, key: impl Into<Vec<u8>>) {
        self.ops.push((key.into(), None));
    }

    /// Whether the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// A backend plus group commit. Cheap to clone; when the last clone is
/// dropped the commit thread ends and the backend is closed (sled releases
/// its directory), so the store can be opened again at once.
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    backend: Arc<dyn Backend>,
    flusher: Option<mpsc::Sender<CommitRequest>>,
    thread: Option<std::thread::JoinHandle<()>>,
    stats: Arc<Stats>,
    /// Set by [`Store::apply`]; cleared by the commit thread as it flushes.
    unflushed: Arc<AtomicBool>,
    /// Told how long each flush took (see [`Store::on_flush`]).
    observer: Arc<FlushObserver>,
}

/// Whom the commit thread tells how long each flush took.
type FlushObserver = parking_lot::Mutex<Option<Arc<dyn Fn(std::time::Duration) + Send + Sync>>>;

/// Flush `backend`, and tell `observer` how long it took.
fn timed_flush(backend: &dyn Backend, observer: &FlushObserver) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    let result = backend.flush();
    let observe = observer.lock().clone();
    if let Some(observe) = observe {
        observe(start.elapsed());
    }
    result
}

impl Drop for StoreInner {
    fn drop(&mut self) {
        self.flusher.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A batch to apply (if any) and whom to tell once it is durable.
type CommitRequest = (Option<Batch>, oneshot::Sender<Result<(), String>>);

#[derive(Default)]
struct Stats {
    flushes: AtomicU64,
    waiters: AtomicU64,
    flush_micros: AtomicU64,
    /// Why the last commit round (or backstop flush) failed; cleared by the
    /// next one that succeeds.
    failure: parking_lot::Mutex<Option<String>>,
}

impl Stats {
    /// Remember how the latest write to the backend ended.
    fn record(&self, result: &Result<(), String>) {
        *self.failure.lock() = result.as_ref().err().cloned();
    }
}

/// Group-commit figures since the store was opened (for benchmarks and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitStats {
    /// Flushes made (each after applying the batches queued for it).
    pub flushes: u64,
    /// Callers of [`Store::durable`] they answered.
    pub waiters: u64,
    /// Time spent applying and flushing, in microseconds.
    pub flush_micros: u64,
}

impl Store {
    /// The sled store in `dir` (created if missing).
    pub fn open_sled(dir: &std::path::Path) -> anyhow::Result<Store> {
        Ok(Store::new(Arc::new(SledBackend::open(dir)?)))
    }

    /// A store over any backend; starts the group-commit thread.
    pub fn new(backend: Arc<dyn Backend>) -> Store {
        let (flusher, requests) = mpsc::channel::<CommitRequest>();
        let flushing = backend.clone();
        let stats = Arc::new(Stats::default());
        let counting = stats.clone();
        let unflushed = Arc::new(AtomicBool::new(false));
        let pending = unflushed.clone();
        let observer = Arc::new(FlushObserver::default());
        let observing = observer.clone();
        let thread = std::thread::Builder::new()
            .name("wirework-commit".into())
            .spawn(move || {
                // Take one request, then everyone who queued up meanwhile; apply
                // their batches, flush once, answer them all. Ends when every
                // `Store` is dropped.
                let mut last_flush = std::time::Instant::now();
                loop {
                    let first = match requests.recv_timeout(BACKSTOP_FLUSH) {
                        Ok(first) => first,
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            backstop_flush(&*flushing, &pending, &observing, &counting);
                            continue;
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => {
                            backstop_flush(&*flushing, &pending, &observing, &counting);
                            break;
                        }
                    };
                    // Flush at most once per window: on a busy store, more
                    // commits share each flush; on a quiet one, no wait at all.
                    let since = last_flush.elapsed();
                    if since < GROUP_COMMIT_WINDOW {
                        std::thread::sleep(GROUP_COMMIT_WINDOW - since);
                    }
                    let start = std::time::Instant::now();
                    // All batches of a round go to the backend as one atomic
                    // batch: each stays all-or-nothing, and the backend pays
                    // its per-batch cost once per round.
                    let mut round = Batch::default();
                    let mut waiters = Vec::new();
                    for (batch, waiter) in std::iter::once(first).chain(requests.try_iter()) {
                        round.ops.extend(batch.map(|b| b.ops).unwrap_or_default());
                        waiters.push(waiter);
                    }
                    let wrote = !round.is_empty();
                    let applied = if wrote { flushing.apply(round) } else { Ok(()) };
                    if let Err(e) = applied {
                        let e = format!("{e:#}");
                        counting.record(&Err(e.clone()));
                        for waiter in waiters.drain(..) {
                            let _ = waiter.send(Err(e.clone()));
                        }
                        continue;
                    }
                    last_flush = std::time::Instant::now();
                    // This flush covers every write applied before it starts.
                    pending.store(false, Ordering::SeqCst);
                    let result = timed_flush(&*flushing, &observing).map_err(|e| format!("{e:#}"));
                    // A flush with nothing new to write proves nothing.
                    if wrote || result.is_err() {
                        counting.record(&result);
                    }
                    counting.flushes.fetch_add(1, Ordering::Relaxed);
                    counting.waiters.fetch_add(waiters.len() as u64, Ordering::Relaxed);
                    counting.flush_micros.fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
                    for waiter in waiters {
                        let _ = waiter.send(result.clone());
                    }
                }
            })
            .expect("spawning the commit thread");
        let inner = StoreInner { backend, flusher: Some(flusher), thread: Some(thread), stats, unflushed, observer };
        Store { inner: Arc::new(inner) }
    }

    /// From now on, tell `observe` how long each flush takes (the time the
    /// backend needs to make writes durable: mostly the disk's `fsync`).
    /// Replaces the observer set before, if any. For metrics.
    pub fn on_flush(&self, observe: impl Fn(std::time::Duration) + Send + Sync + 'static) {
        *self.inner.observer.lock() = Some(Arc::new(observe));
    }

    /// Group-commit figures so far.
    pub fn commit_stats(&self) -> CommitStats {
        CommitStats {
            flushes: self.inner.stats.flushes.load(Ordering::Relaxed),
            waiters: self.inner.stats.waiters.load(Ordering::Relaxed),
            flush_micros: self.inner.stats.flush_micros.load(Ordering::Relaxed),
        }
    }

    /// Why the latest write to the backend failed, if it did: `None` once a
    /// later write succeeds (see [`Store::probe`]). sled keeps failing after
    /// an I/O error until it is opened again, i.e. until a restart.
    pub fn failure(&self) -> Option<String> {
        self.inner.stats.failure.lock().clone()
    }

    /// Commit a small write (`key`, the time) to find out whether the store
    /// can write again; its result also replaces [`Store::failure`].
    pub async fn probe(&self, key: &[u8]) -> anyhow::Result<()> {
        let mut batch = Batch::default();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        batch.put(key, now.as_millis().to_string());
        self.commit(batch).await
    }

    /// The value under `key`.
    pub fn get(&self, key: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
        self.inner.backend.get(key)
    }

    /// Entries under `prefix`, in key order.
    pub fn scan_prefix(&self, prefix: &[u8]) -> impl Iterator<Item = anyhow::Result<Entry>> + '_ {
        self.inner.backend.scan_prefix(prefix)
    }

    /// Entries under `prefix` that sort before `before` (all when `None`),
    /// in descending key order.
    pub fn scan_prefix_back(
        &self,
        prefix: &[u8],
        before: Option<&[u8]>,
    ) -> impl Iterator<Item = anyhow::Result<Entry>> + '_ {
        self.inner.backend.scan_prefix_back(prefix, before)
    }

    /// Apply `batch` atomically; durable after the next [`Store::durable`].
    pub fn apply(&self, batch: Batch) -> anyhow::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.inner.backend.apply(batch)?;
        self.inner.unflushed.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Wait until everything applied before this call is on disk.
    pub async fn durable(&self) -> anyhow::Result<()> {
        self.send(None).await
    }

    /// Apply `batch` atomically and wait until it is durable.
    pub async fn commit(&self, batch: Batch) -> anyhow::Result<()> {
        self.send(Some(batch)).await
    }

    async fn send(&self, batch: Option<Batch>) -> anyhow::Result<()> {
        let (tx, rx) = oneshot::channel();
        let flusher = self.inner.flusher.as_ref().expect("set until the store is dropped");
        flusher.send((batch, tx)).map_err(|_| anyhow::anyhow!("the commit thread has stopped"))?;
        rx.await.context("the commit thread has stopped")?.map_err(|e| anyhow::anyhow!("committing to the store: {e}"))
    }
}

/// Flush writes made with [`Store::apply`] that no commit has flushed yet.
fn backstop_flush(backend: &dyn Backend, unflushed: &AtomicBool, observer: &FlushObserver, stats: &Stats) {
    if unflushed.swap(false, Ordering::SeqCst) {
        let result = timed_flush(backend, observer).map_err(|e| format!("{e:#}"));
        stats.record(&result);
        if let Err(e) = result {
            unflushed.store(true, Ordering::SeqCst);
            tracing::error!("flushing the store: {e}");
        }
    }
}

/// Plugin key-value state kept in the store, under `kv/`.
pub struct StoreKv {
    store: Store,
}

impl StoreKv {
    /// Plugin state in `store`.
    pub fn new(store: Store) -> StoreKv {
        StoreKv { store }
    }

    fn key(scope: &str, key: &str) -> Vec<u8> {
        format!("kv/{scope}\u{0}{key}").into_bytes()
    }
}

impl crate::runtime::KvStore for StoreKv {
    fn get(&self, scope: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        self.store.get(&Self::key(scope, key))
    }

    fn set(&self, scope: &str, key: &str, value: Vec<u8>) -> anyhow::Result<()> {
        let mut batch = Batch::default();
        batch.put(Self::key(scope, key), value);
        self.store.apply(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::KvStore;

    #[tokio::test]
    async fn batches_scans_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open_sled(dir.path()).unwrap();
            let mut batch = Batch::default();
            batch.put(b"a/2".to_vec(), b"two".to_vec());
            batch.put(b"a/1".to_vec(), b"one".to_vec());
            batch.put(b"b/1".to_vec(), b"other".to_vec());
            store.commit(batch).await.unwrap();
            let mut batch = Batch::default();
            batch.delete(b"b/1".to_vec());
            store.commit(batch).await.unwrap();
            let kv = StoreKv::new(store.clone());
            kv.set("plugin", "k", b"v".to_vec()).unwrap();
            store.durable().await.unwrap();
        }
        let store = Store::open_sled(dir.path()).unwrap();
        let keys: Vec<Vec<u8>> = store.scan_prefix(b"a/").map(|e| e.unwrap().0).collect();
        assert_eq!(keys, vec![b"a/1".to_vec(), b"a/2".to_vec()], "scans are ordered and scoped");
        assert_eq!(store.get(b"b/1").unwrap(), None, "the delete survived");
        assert_eq!(StoreKv::new(store.clone()).get("plugin", "k").unwrap(), Some(b"v".to_vec()));
        assert_eq!(StoreKv::new(store).get("other", "k").unwrap(), None, "scopes are apart");
    }

    #[tokio::test]
    async fn many_waiters_share_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sled(dir.path()).unwrap();
        let waits = (0..200u32).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut batch = Batch::default();
                batch.put(format!("k/{i:04}").into_bytes(), b"x".to_vec());
                store.commit(batch).await
            })
        });
        for wait in waits.collect::<Vec<_>>() {
            wait.await.unwrap().unwrap();
        }
        assert_eq!(store.scan_prefix(b"k/").count(), 200);
    }

    /// Sled with a count of its flushes, whose flushes fail while `fail` is set.
    struct CountingFlushes {
        sled: SledBackend,
        flushes: AtomicU64,
        fail: AtomicBool,
    }

    impl CountingFlushes {
        /// Sled in `dir`, no flushes yet, not failing.
        fn open(dir: &std::path::Path) -> Arc<CountingFlushes> {
            let sled = SledBackend::open(dir).unwrap();
            Arc::new(CountingFlushes { sled, flushes: AtomicU64::new(0), fail: AtomicBool::new(false) })
        }
    }

    impl Backend for CountingFlushes {
        fn get(&self, key: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
            self.sled.get(key)
        }
        fn scan_prefix(&self, prefix: &[u8]) -> Box<dyn Iterator<Item = anyhow::Result<Entry>> + Send + '_> {
            self.sled.scan_prefix(prefix)
        }
        fn scan_prefix_back(
            &self,
            prefix: &[u8],
            before: Option<&[u8]>,
        ) -> Box<dyn Iterator<Item = anyhow::Result<Entry>> + Send + '_> {
            self.sled.scan_prefix_back(prefix, before)
        }
        fn apply(&self, batch: Batch) -> anyhow::Result<()> {
            self.sled.apply(batch)
        }
        fn flush(&self) -> anyhow::Result<()> {
            self.flushes.fetch_add(1, Ordering::SeqCst);
            if self.fail.load(Ordering::SeqCst) {
                anyhow::bail!("No space left on device");
            }
            self.sled.flush()
        }
    }

    #[tokio::test]
    async fn applied_writes_are_flushed_without_a_commit() {
        let dir = tempfile::tempdir().unwrap();
        let backend = CountingFlushes::open(dir.path());
        let store = Store::new(backend.clone());
        let observed = Arc::new(AtomicU64::new(0));
        let counting = observed.clone();
        store.on_flush(move |_| {
            counting.fetch_add(1, Ordering::SeqCst);
        });
        std::thread::sleep(BACKSTOP_FLUSH * 2);
        assert_eq!(backend.flushes.load(Ordering::SeqCst), 0, "an idle store does not flush");

        StoreKv::new(store.clone()).set("plugin", "k", b"v".to_vec()).unwrap();
        let deadline = std::time::Instant::now() + BACKSTOP_FLUSH * 20;
        while backend.flushes.load(Ordering::SeqCst) == 0 {
            assert!(std::time::Instant::now() < deadline, "the backstop never flushed the write");
            std::thread::sleep(BACKSTOP_FLUSH / 10);
        }
        std::thread::sleep(BACKSTOP_FLUSH * 2);
        assert_eq!(backend.flushes.load(Ordering::SeqCst), 1, "one write, one backstop flush");
        assert_eq!(observed.load(Ordering::SeqCst), 1, "the flush was observed");
    }

    #[tokio::test]
    async fn a_failed_write_is_reported_until_a_probe_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let backend = CountingFlushes::open(dir.path());
        let store = Store::new(backend.clone());
        store.probe(b"health/probe").await.unwrap();
        assert_eq!(store.failure(), None);

        backend.fail.store(true, Ordering::SeqCst);
        let mut batch = Batch::default();
        batch.put(b"a/1".to_vec(), b"one".to_vec());
        let error = store.commit(batch).await.unwrap_err();
        assert!(format!("{error:#}").contains("No space left"), "{error:#}");
        assert!(store.failure().is_some_and(|f| f.contains("No space left")), "{:?}", store.failure());
        assert!(store.probe(b"health/probe").await.is_err(), "still failing");
        assert!(store.failure().is_some());

        backend.fail.store(false, Ordering::SeqCst);
        store.probe(b"health/probe").await.unwrap();
        assert_eq!(store.failure(), None, "a write that succeeds clears it");
        assert!(store.get(b"health/probe").unwrap().is_some());
    }
}
