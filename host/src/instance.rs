//! One Wirework instance on a data directory: the store, the plugin runtime,
//! the installed plugins and the engine, wired together. The directory's
//! layout is [`crate::data_dir`]'s.

use crate::data_dir::DataDir;
use crate::engine::{Credentials, Engine, EngineConfig};
use crate::home::Home;
use crate::plugins::InstalledPlugins;
use crate::runtime::{Runtime, RuntimeConfig};
use crate::store::{Store, StoreKv};
use anyhow::Context;
use std::path::Path;
use std::sync::Arc;
use wirework_registry::TrustStore;

/// How to open an instance.
#[derive(Debug, Clone, Default)]
pub struct InstanceOptions {
    /// The engine's settings.
    pub engine: EngineConfig,
    /// Where precompiled components are kept (`None`: the data directory's `cache/`).
    pub component_cache: Option<std::path::PathBuf>,
    /// The operator's caps on every plugin call.
    pub call_caps: CallCaps,
}

/// The operator's caps on every plugin call, over what manifests and nodes ask.
#[derive(Debug, Clone, Copy)]
pub struct CallCaps {
    /// Fuel per call.
    pub fuel: u64,
    /// Wall time per call, in ms.
    pub wall_ms: u64,
    /// Linear memory per call, in MiB.
    pub memory_mib: u64,
}

impl Default for CallCaps {
    fn default() -> Self {
        let runtime = RuntimeConfig::default();
        CallCaps { fuel: runtime.max_fuel, wall_ms: runtime.max_wall_ms, memory_mib: runtime.max_memory_mib }
    }
}

/// A running instance.
pub struct Instance {
    /// The engine.
    pub engine: Engine,
    /// The plugins it runs.
    pub plugins: Arc<InstalledPlugins>,
    /// The data directory.
    pub data_dir: DataDir,
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
        let options = InstanceOptions { engine: engine_config, ..Default::default() };
        Self::open_with(data_dir, home, options, |_| Ok(credentials)).await
    }

    /// [`open`](Self::open), with credentials made from the store (the
    /// server keeps them there, encrypted).
    pub async fn open_with(
        data_dir: &Path,
        home: &Home,
        options: InstanceOptions,
        credentials: impl FnOnce(&Store) -> anyhow::Result<Arc<dyn Credentials>>,
    ) -> anyhow::Result<Instance> {
        let dir = DataDir::at(data_dir);
        let store = Store::open_sled(&dir.store())?;
        // Before anything reads or writes the records in it.
        crate::engine::records::check_format(&store).with_context(|| format!("opening {}", dir.store().display()))?;
        let credentials = credentials(&store)?;
        let cache_dir = options.component_cache.unwrap_or_else(|| dir.cache());
        let caps = options.call_caps;
        let runtime_config = RuntimeConfig {
            cache_dir: Some(cache_dir),
            max_fuel: caps.fuel,
            max_wall_ms: caps.wall_ms,
            max_memory_mib: caps.memory_mib,
            ..Default::default()
        };
        let max_calls = runtime_config.max_instances as usize;
        let runtime = Runtime::new(runtime_config, Arc::new(StoreKv::new(store.clone())))?;
        let plugins = Arc::new(InstalledPlugins::new(runtime, max_calls));
        let trust = TrustStore::load(&home.trust_store_path())?;
        for plugin in plugins.load_dir(&dir.plugins(), &trust).await? {
            tracing::info!(plugin = %plugin.name, version = %plugin.version, "loaded");
        }
        let engine = Engine::open(store, plugins.clone(), credentials, options.engine).await?;
        Ok(Instance { engine, plugins, data_dir: dir })
    }
}
