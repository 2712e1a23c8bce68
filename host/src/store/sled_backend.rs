//! The embedded backend: one sled tree, so a batch is atomic across all records.

use super::{Backend, Batch, Entry};
use anyhow::Context;
use std::path::Path;

/// A sled database in a directory. sled allows one process per directory.
pub struct SledBackend {
    db: sled::Db,
}

impl SledBackend {
    /// Open (or create) the database in `dir`.
    pub fn open(dir: &Path) -> anyhow::Result<SledBackend> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        // Flushing is the store's business: group commit, plus a backstop
        // flush for writes nobody waits on (see `store::BACKSTOP_FLUSH`).
        // sled's own periodic flush stays off: running beside the commit
        // thread's, it made the commit flush that met it several times slower
        // twice a second, and that was most of the webhook latency tail.
        let db = sled::Config::new()
            .path(dir)
            .flush_every_ms(None)
            .mode(sled::Mode::HighThroughput)
            .open()
            .with_context(|| format!("opening the store in {} (is another wirework using it?)", dir.display()))?;
        Ok(SledBackend { db })
    }

    /// Whether another process has the database in `dir` open (sled holds an
    /// exclusive `flock` on its `db` file while open). Checked without opening
    /// the database, so it changes nothing; `false` when there is none.
    pub fn in_use(dir: &Path) -> bool {
        let Ok(file) = std::fs::File::open(dir.join("db")) else { return false };
        matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
    }
}

impl Backend for SledBackend {
    fn get(&self, key: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.db.get(key)?.map(|v| v.to_vec()))
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Box<dyn Iterator<Item = anyhow::Result<Entry>> + Send + '_> {
        Box::new(self.db.scan_prefix(prefix).map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(Into::into)))
    }

    fn scan_prefix_back(
        &self,
        prefix: &[u8],
        before: Option<&[u8]>,
    ) -> Box<dyn Iterator<Item = anyhow::Result<Entry>> + Send + '_> {
        let end = prefix_end(prefix);
        let upper = match (before, end) {
            (Some(before), Some(end)) => Some(before.min(&end[..]).to_vec()),
            (Some(before), None) => Some(before.to_vec()),
            (None, end) => end,
        };
        let range = match upper {
            Some(upper) if upper.as_slice() <= prefix => return Box::new(std::iter::empty()),
            Some(upper) => self.db.range(prefix.to_vec()..upper),
            None => self.db.range(prefix.to_vec()..),
        };
        Box::new(range.rev().map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(Into::into)))
    }

    fn apply(&self, batch: Batch) -> anyhow::Result<()> {
        let mut sled_batch = sled::Batch::default();
        for (key, value) in batch.ops {
            match value {
                Some(value) => sled_batch.insert(key, value),
                None => sled_batch.remove(key),
            }
        }
        self.db.apply_batch(sled_batch)?;
        Ok(())
    }

    fn flush(&self) -> anyhow::Result<()> {
        self.db.flush()?;
        Ok(())
    }
}

/// The first key after every key that starts with `prefix`; `None` when
/// there is none (the prefix is empty or all `0xff`).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(entries: Box<dyn Iterator<Item = anyhow::Result<Entry>> + Send + '_>) -> Vec<String> {
        entries.map(|e| String::from_utf8(e.unwrap().0).unwrap()).collect()
    }

    #[test]
    fn backward_scans_stay_in_their_prefix_and_below_their_bound() {
        let dir = tempfile::tempdir().unwrap();
        let backend = SledBackend::open(dir.path()).unwrap();
        let mut batch = Batch::default();
        for key in ["ew/9", "ex/1", "ex/2", "ex/3", "ex0", "ey/0", "st/1"] {
            batch.put(key, Vec::new());
        }
        backend.apply(batch).unwrap();
        assert_eq!(keys(backend.scan_prefix_back(b"ex/", None)), ["ex/3", "ex/2", "ex/1"]);
        assert_eq!(keys(backend.scan_prefix_back(b"ex/", Some(b"ex/3"))), ["ex/2", "ex/1"]);
        assert_eq!(keys(backend.scan_prefix_back(b"ex/", Some(b"ex/25"))), ["ex/2", "ex/1"]);
        assert_eq!(keys(backend.scan_prefix_back(b"ex/", Some(b"zz"))), ["ex/3", "ex/2", "ex/1"]);
        assert!(keys(backend.scan_prefix_back(b"ex/", Some(b"ex/"))).is_empty());
        assert!(keys(backend.scan_prefix_back(b"ex/", Some(b"a"))).is_empty());
        assert_eq!(keys(backend.scan_prefix_back(b"", None)).len(), 7);
        assert_eq!(prefix_end(b"a\xff\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff"), None);
    }
}
