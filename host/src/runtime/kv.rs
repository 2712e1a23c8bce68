//! Key-value state for plugins, behind a trait so the engine's store can back it.

use parking_lot::Mutex;
use std::collections::HashMap;

/// Largest key a plugin may use, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value a plugin may store, in bytes.
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// Where plugin state lives. `scope` isolates plugins (and, in the engine,
/// workflows) from each other; the runtime builds it, plugins never choose it.
pub trait KvStore: Send + Sync {
    /// The value under `key` in `scope`.
    fn get(&self, scope: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// Store `value` under `key` in `scope`.
    fn set(&self, scope: &str, key: &str, value: Vec<u8>) -> anyhow::Result<()>;
}

/// State held in memory, for the CLI's single runs and for tests of the runtime.
#[derive(Default)]
pub struct MemoryKv {
    map: Mutex<HashMap<(String, String), Vec<u8>>>,
}

impl KvStore for MemoryKv {
    fn get(&self, scope: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let map = self.map.lock();
        Ok(map.get(&(scope.to_string(), key.to_string())).cloned())
    }

    fn set(&self, scope: &str, key: &str, value: Vec<u8>) -> anyhow::Result<()> {
        let mut map = self.map.lock();
        map.insert((scope.to_string(), key.to_string()), value);
        Ok(())
    }
}
