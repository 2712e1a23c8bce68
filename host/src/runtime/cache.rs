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
        if path.exists() {
            // SAFETY: the cache directory is written only by this host (below),
            // under a name binding the verified digest and the engine settings.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok((component, true)),
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "discarding unusable cached artifact"),
            }
        }
        let native = engine.precompile_component(bytes)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, &native)?;
        std::fs::rename(&tmp, &path)?;
        // SAFETY: `native` was produced by this engine just now.
        let component = unsafe { Component::deserialize(engine, &native)? };
        Ok((component, false))
    }
}
