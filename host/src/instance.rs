//! One Wirework instance on a data directory: the store, the plugin runtime,
//! the installed plugins and the engine, wired together.
//!
//! Data directory layout:
//!
//! | path | what |
//! |------|------|
//! | `store/` | the sled database (one process at a time) |
//! | `plugins/` | installed packages and `grants.toml` (see [`crate::plugins`]) |
//! | `cache/` | precompiled components |

use crate::engine::{Credentials, Engine, EngineConfig};
use crate::home::Home;
use crate::plugins::InstalledPlugins;
use crate::runtime::{Runtime, RuntimeConfig};
use crate::store::{Store, StoreKv};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wirework_registry::TrustStore;

/// The default data directory, relative to where the host runs.
pub const DEFAULT_DATA_DIR: &str = "wirework-data";

/// A running instance.
pub struct Instance {
    /// The engine.
    pub engine: Engine,
    /// The plugins it runs.
    pub plugins: Arc<InstalledPlugins>,
    /// The data directory.
    pub data_dir: PathBuf,
}

/// Where installed plugins live in a data directory.
pub fn plugins_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("plugins")
}

/// Where the store lives in a data directory (sled allows one process at a time).
pub fn store_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("store")
}

/// Whether a running process (a `wirework serve` or `engine run`) has
/// `data_dir`'s store open. Such a process loaded the installed plugins when it
/// started: package files written beside it are not loaded until it restarts.
pub fn is_served(data_dir: &Path) -> bool {
    crate::store::SledBackend::in_use(&store_dir(data_dir))
}

impl Instance {
    /// Open `data_dir`: load and verify the installed plugins against `home`'s
    /// trust store, open the store, and continue unfinished executions.
    pub async fn open(
        data_dir: &Path,
        home: &Home,
        credentials: Arc<dyn Credentials>,
        engine_config: EngineConfig,
    ) -> anyhow::Result<Instance> {
        Self::open_with(data_dir, home, engine_config, |_| Ok(credentials)).await
    }

    /// [`open`](Self::open), with credentials made from the store (the
    /// server keeps them there, encrypted).
    pub async fn open_with(
        data_dir: &Path,
        home: &Home,
        engine_config: EngineConfig,
        credentials: impl FnOnce(&Store) -> anyhow::Result<Arc<dyn Credentials>>,
    ) -> anyhow::Result<Instance> {
        let store = Store::open_sled(&store_dir(data_dir))?;
        // Before anything reads or writes the records in it.
        crate::engine::records::check_format(&store)
            .with_context(|| format!("opening {}", store_dir(data_dir).display()))?;
        let credentials = credentials(&store)?;
        let runtime_config = RuntimeConfig { cache_dir: Some(data_dir.join("cache")), ..Default::default() };
        let max_calls = runtime_config.max_instances as usize;
        let runtime = Runtime::new(runtime_config, Arc::new(StoreKv::new(store.clone())))?;
        let plugins = Arc::new(InstalledPlugins::new(runtime, max_calls));
        let trust = TrustStore::load(&home.trust_store_path())?;
        for plugin in plugins.load_dir(&plugins_dir(data_dir), &trust).await? {
            tracing::info!(plugin = %plugin.name, version = %plugin.version, "loaded");
        }
        let engine = Engine::open(store, plugins.clone(), credentials, engine_config).await?;
        Ok(Instance { engine, plugins, data_dir: data_dir.to_path_buf() })
    }
}
