//! Precompiled components on disk, keyed by a SHA-256 over the component's
//! bytes and the engine's compilation settings, so a restart loads native
//! code instead of compiling again.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Names this key's layout: changing what goes into a key changes it, so old
/// artifacts are never read under a new meaning.
const KEY_DOMAIN: &[u8] = b"wirework-artifact-cache/v1\0";

/// A directory of `.cwasm` artifacts.
pub(crate) struct ArtifactCache {
    dir: PathBuf,
    /// The hash state after the engine's part of the key, shared by every
    /// component this cache keys.
    engine_key: Sha256,
}

/// Feeds what a [`Hash`] implementation writes into SHA-256, so a `Hash`
/// value becomes a digest that is the same in every build and process of
/// the same target, unlike `DefaultHasher`'s (whose algorithm std does not
/// fix, and whose 64 bits are a thin key for a cache that trusts its hits).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        unreachable!("only the SHA-256 state is read")
    }
}

/// The hash state covering the key's layout and `engine`'s compilation
/// settings: wasmtime's [`Engine::precompile_compatibility_hash`] covers the
/// wasmtime version, the target and every setting that changes generated
/// code (the same input wasmtime's own cache keys on).
fn engine_key(engine: &Engine) -> Sha256 {
    let mut hasher = Sha256Hasher(Sha256::new());
    hasher.0.update(KEY_DOMAIN);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.0
}

/// The artifact's name for `component`, given the engine's part of the key:
/// 64 hex digits.
fn artifact_key(engine_key: &Sha256, component: &[u8]) -> String {
    let mut hasher = engine_key.clone();
    hasher.update((component.len() as u64).to_le_bytes());
    hasher.update(component);
    hex::encode(hasher.finalize())
}

impl ArtifactCache {
    pub(crate) fn new(dir: &Path, engine: &Engine) -> anyhow::Result<ArtifactCache> {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create artifact cache {}: {e}", dir.display()))?;
        Ok(ArtifactCache { dir: dir.to_path_buf(), engine_key: engine_key(engine) })
    }

    fn path(&self, component: &[u8]) -> PathBuf {
        self.dir.join(format!("{}.cwasm", artifact_key(&self.engine_key, component)))
    }

    /// The compiled component, and whether it came from the cache.
    pub(crate) fn load_or_compile(&self, engine: &Engine, bytes: &[u8]) -> anyhow::Result<(Component, bool)> {
        let path = self.path(bytes);
        // Read into memory rather than `deserialize_file`: a mapped file that is
        // truncated behind our back (an operator clearing the cache, a damaged
        // disk) would otherwise fault the whole host with SIGBUS.
        if let Ok(native) = std::fs::read(&path) {
            // SAFETY: the cache directory is written only by this host (below),
            // under a name binding the component's bytes and the engine
            // settings; wasmtime still checks the header and engine compatibility.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(fuel: bool) -> Engine {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true).consume_fuel(fuel);
        Engine::new(&config).unwrap()
    }

    fn key(engine: &Engine, component: &[u8]) -> String {
        artifact_key(&super::engine_key(engine), component)
    }

    #[test]
    fn the_key_is_stable_for_the_same_inputs() {
        let component = b"\0asm component bytes";
        // Two engines built alike, as in two runs of the host.
        let (first, second) = (engine(true), engine(true));
        assert_eq!(key(&first, component), key(&second, component));
        assert_eq!(key(&first, component), key(&first, component));
        let k = key(&first, component);
        assert_eq!(k.len(), 64);
        assert!(k.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{k}");
    }

    #[test]
    fn the_key_changes_with_the_component() {
        let engine = engine(true);
        let a = key(&engine, b"component a");
        assert_ne!(a, key(&engine, b"component b"));
        assert_ne!(a, key(&engine, b"component a "));
        assert_ne!(a, key(&engine, b""));
    }

    #[test]
    fn the_key_changes_with_the_engine_config() {
        // Fuel metering changes the generated code; an artifact compiled
        // without it must not be loaded by an engine that meters.
        let component = b"\0asm component bytes";
        assert_ne!(key(&engine(true), component), key(&engine(false), component));
    }

    #[test]
    fn the_hasher_feeds_sha256_exactly_what_it_is_given() {
        // No per-process keys or seeds: the digest of a `Hash` value is a
        // plain SHA-256 of the bytes its `Hash` writes.
        let mut hasher = Sha256Hasher(Sha256::new());
        "wasmtime".hash(&mut hasher);
        7u32.hash(&mut hasher);
        let mut expected = Sha256::new();
        expected.update(b"wasmtime\xff");
        expected.update(7u32.to_ne_bytes());
        assert_eq!(hasher.0.finalize(), expected.finalize());
    }
}
