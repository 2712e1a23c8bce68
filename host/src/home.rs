//! The user's Wirework home (`$WIREWORK_HOME`, default `~/.wirework`): keys,
//! the trust store, the artifact cache and the shared wasm target directory.

use anyhow::Context;
use std::path::{Path, PathBuf};
use wirework_registry::keys::public_key_path;
use wirework_registry::SecretKey;

/// Paths inside a Wirework home.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// A home at `root`.
    pub fn at(root: impl Into<PathBuf>) -> Home {
        Home { root: root.into() }
    }

    /// `$WIREWORK_HOME`, else `$HOME/.wirework`, else `./.wirework`.
    pub fn from_env() -> Home {
        if let Some(root) = std::env::var_os("WIREWORK_HOME") {
            return Home::at(root);
        }
        let base = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        Home::at(base.join(".wirework"))
    }

    /// The home directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a named signing key lives.
    pub fn key_path(&self, name: &str) -> PathBuf {
        self.root.join("keys").join(format!("{name}.key"))
    }

    /// The trust store: keys trusted to sign packages, by publisher.
    pub fn trust_store_path(&self) -> PathBuf {
        self.root.join("trust.toml")
    }

    /// Precompiled components.
    pub fn artifact_cache_dir(&self) -> PathBuf {
        self.root.join("cache").join("artifacts")
    }

    /// The cargo target dir shared by all wasm builds.
    pub fn wasm_target_dir(&self) -> PathBuf {
        self.root.join("wasm-target")
    }

    /// The default signing key, generated (and announced on stderr) if missing.
    pub fn default_key_or_create(&self) -> anyhow::Result<SecretKey> {
        let path = self.key_path("default");
        if path.exists() {
            return SecretKey::read(&path).with_context(|| format!("reading {}", path.display()));
        }
        let key = SecretKey::generate();
        key.write(&path)?;
        eprintln!(
            "created signing key {} at {} (public key in {})",
            key.public().id(),
            path.display(),
            public_key_path(&path).display()
        );
        Ok(key)
    }
}
