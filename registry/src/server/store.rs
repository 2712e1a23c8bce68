//! The registry's storage: the log and the package blobs in sled, and the
//! state the log describes in memory.
//!
//! Tree `log`: key = index as u64 big-endian, value = [`Record`] JSON.
//! Tree `blobs`: key = package SHA-256 (hex), value = the `.wwpkg` bytes.
//! A publish writes its blob and its record in one sled transaction, so the
//! database never holds a log entry without its blob.

use crate::keys::{PublicKey, SecretKey};
use crate::log::{verify_chain, Entry, LogError, Operation, Record, RegistryState, SignedRequest, EMPTY_HEAD};
use anyhow::{bail, Context};
use parking_lot::RwLock;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use std::path::Path;
use std::sync::Arc;

/// What the log says at one moment: what readers see.
pub(crate) struct Snapshot {
    /// The log, replayed.
    pub state: RegistryState,
    /// Entries in the log.
    pub length: u64,
    /// Hash of the last entry ([`EMPTY_HEAD`] when empty).
    pub head: String,
}

/// Why an append failed.
pub(crate) enum AppendError {
    /// The registry's rules refuse the request; nothing was written.
    Refused(LogError),
    /// The database failed.
    Storage(String),
}

pub(crate) struct Store {
    key: SecretKey,
    key_id: String,
    db: sled::Db,
    log: sled::Tree,
    blobs: sled::Tree,
    /// Serialises appends; held across the write and the flush.
    append: tokio::sync::Mutex<()>,
    /// The committed (flushed) state; swapped after each append, so readers
    /// never wait for a flush and never see an entry that is not on disk.
    current: RwLock<Arc<Snapshot>>,
}

impl Store {
    /// Open (or create) the database at `path` and replay its log.
    pub fn open(path: &Path, key: SecretKey) -> anyhow::Result<Store> {
        let db = sled::open(path).with_context(|| format!("opening the registry database {}", path.display()))?;
        let log = db.open_tree("log")?;
        let blobs = db.open_tree("blobs")?;
        let public = key.public();
        let key_id = public.id();
        let snapshot = replay(&log, &blobs, &public)
            .with_context(|| format!("the registry database {} is inconsistent", path.display()))?;
        Ok(Store {
            key,
            key_id,
            db,
            log,
            blobs,
            append: tokio::sync::Mutex::new(()),
            current: RwLock::new(Arc::new(snapshot)),
        })
    }

    pub fn key(&self) -> &SecretKey {
        &self.key
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The committed state.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.read().clone()
    }

    /// Apply `request` at `now_ms` and append it (with `blob`, for a publish),
    /// flushed to disk before it becomes visible. The entry's index.
    pub async fn append(&self, request: SignedRequest, blob: Option<&[u8]>, now_ms: u64) -> Result<u64, AppendError> {
        let _writer = self.append.lock().await;
        let current = self.snapshot();
        let mut state = current.state.clone();
        state.apply(&request, &self.key_id, now_ms).map_err(AppendError::Refused)?;
        let index = current.length;
        let entry = Entry { index, prev: current.head.clone(), time_ms: now_ms, request };
        let record = Record::seal(&entry, &self.key);
        let record_json = serde_json::to_vec(&record).expect("a record serialises");
        // `apply` parsed it already.
        let operation = entry.request.parse().map_err(AppendError::Refused)?.operation;
        let blob = match (&operation, blob) {
            (Operation::Publish { package_sha256, .. }, Some(bytes)) => Some((package_sha256.as_str(), bytes)),
            (Operation::Publish { .. }, None) => {
                return Err(AppendError::Storage("a publish needs its package bytes".into()))
            }
            _ => None,
        };
        let result: Result<(), TransactionError<()>> = (&self.log, &self.blobs).transaction(|(log, blobs)| {
            if let Some((sha, bytes)) = &blob {
                blobs.insert(sha.as_bytes(), *bytes)?;
            }
            log.insert(&index.to_be_bytes(), record_json.as_slice())?;
            Ok::<_, ConflictableTransactionError<()>>(())
        });
        result.map_err(|e| AppendError::Storage(format!("writing entry {index}: {e:?}")))?;
        self.db.flush_async().await.map_err(|e| AppendError::Storage(format!("flushing entry {index}: {e}")))?;
        let next = Snapshot { state, length: index + 1, head: record.hash };
        *self.current.write() = Arc::new(next);
        tracing::info!(index, "registry accepted: {}", super::describe(&operation));
        Ok(index)
    }

    /// Up to `limit` committed records from index `from`.
    pub fn records(&self, from: u64, limit: u64) -> anyhow::Result<Vec<Record>> {
        let end = self.snapshot().length.min(from.saturating_add(limit));
        if from >= end {
            return Ok(Vec::new());
        }
        self.log
            .range(from.to_be_bytes()..end.to_be_bytes())
            .map(|item| {
                let (_, value) = item?;
                Ok(serde_json::from_slice(&value)?)
            })
            .collect()
    }

    /// The package whose SHA-256 is `sha256`.
    pub fn blob(&self, sha256: &str) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.blobs.get(sha256.as_bytes())?.map(|v| v.to_vec()))
    }

    #[cfg(test)]
    pub fn blob_count(&self) -> usize {
        self.blobs.len()
    }
}

/// Check every record and replay it, as a client would.
fn replay(log: &sled::Tree, blobs: &sled::Tree, registry: &PublicKey) -> anyhow::Result<Snapshot> {
    let key_id = registry.id();
    let mut snapshot = Snapshot { state: RegistryState::default(), length: 0, head: EMPTY_HEAD.to_string() };
    for item in log.iter() {
        let (key, value) = item?;
        let index = snapshot.length;
        if key.as_ref() != index.to_be_bytes() {
            bail!("the log has a gap or a stray key before entry {index}");
        }
        let record: Record =
            serde_json::from_slice(&value).with_context(|| format!("entry {index} is not a record"))?;
        let (entries, head) = verify_chain(std::slice::from_ref(&record), registry, index, &snapshot.head)
            .with_context(|| format!("entry {index} (is this the registry's own key?)"))?;
        let entry: Entry = entries.into_iter().next().expect("one record, one entry");
        snapshot
            .state
            .apply(&entry.request, &key_id, entry.time_ms)
            .with_context(|| format!("entry {index} does not replay"))?;
        if let Ok(Operation::Publish { package, version, package_sha256, .. }) =
            entry.request.parse().map(|b| b.operation)
        {
            if !blobs.contains_key(package_sha256.as_bytes())? {
                bail!("entry {index} publishes {package} {version}, whose package bytes are missing");
            }
        }
        snapshot.length += 1;
        snapshot.head = head;
    }
    Ok(snapshot)
}
