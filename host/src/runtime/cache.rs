//! Precompiled components on disk, keyed by component digest and engine
//! settings, so a restart loads native code instead of compiling again.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::component::Component;
use wasmtime::Engine;

/// A directory of `.cwasm` artifacts.
pub(crate) struct ArtifactCache {
    dir: PathBuf,
    engine_key: String,
}

impl ArtifactCache {
    pub(crate) fn new(dir: &Path, engine: &Engine) -> anyhow::Result<ArtifactCache> {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create artifact cache {}: {e}", dir.display()))?;
        // The engine's compatibility hash covers the wasmtime version, target and
        // every setting that changes generated code.
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(ArtifactCache { dir: dir.to_path_buf(), engine_key: format!("{:016x}", hasher.finish()) })
    }

    fn path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// The compiled component, and whether it came from the cache.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        digest: &str,
        bytes: &[u8],
    ) -> anyhow::Result<(Component, bool)> {
        let path = self.path(digest);
        // Read into memory rather than `deserialize_file`: a mapped file that is
        // truncated behind our back (an operator clearing the cache, a damaged
        // disk) would otherwise fault the whole host with SIGBUS.
        if let Ok(native) = std::fs::read(&path) {
            // SAFETY: the cache directory is written only by this host (below),
            // under a name binding the verified digest and the engine settings;
            // wasmtime still checks the header and engine compatibility.
            match unsafe { Component::deserialize(engine, &native) } {
                Ok(component) => return Ok((component, true)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "discarding unusable cached artifact")
                }
            }
        }
        let native = engine.precompile_component(bytes)?;
        // Concurrent loads of the same component never see or write a
        // half-written artifact.
        wirework_registry::write_atomically(&path, &native)?;
        // SAFETY: `native` was produced by this engine just now.
        let component = unsafe { Component::deserialize(engine, &native)? };
        Ok((component, false))
    }
}
