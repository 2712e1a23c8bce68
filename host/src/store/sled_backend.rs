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
}

impl Backend for SledBackend {
    fn get(&self, key: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.db.get(key)?.map(|v| v.to_vec()))
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Box<dyn Iterator<Item = anyhow::Result<Entry>> + Send + '_> {
        Box::new(self.db.scan_prefix(prefix).map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(Into::into)))
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
