//! Shared by the benchmarks: the first-party `core` plugin built from source
//! with the project's own build code and signed by a throwaway home.

use std::path::PathBuf;
use wirework::build::{build_plugin, BuildOptions};
use wirework::home::Home;

/// A built, signed `core` package, and the home whose trust store trusts it.
pub struct BuiltCore {
    /// Keeps the home directory alive.
    pub _dir: tempfile::TempDir,
    /// The home that signed it.
    pub home: Home,
    /// The `.wwpkg`.
    pub package: PathBuf,
}

/// Build `plugins/core` into a fresh home (wasm builds share `target/wasm-plugins`).
pub fn build_core(rt: &tokio::runtime::Runtime) -> anyhow::Result<BuiltCore> {
    let dir = tempfile::tempdir()?;
    let home = Home::at(dir.path().to_path_buf());
    let package = build_into(rt, &home, "plugins/core")?;
    Ok(BuiltCore { _dir: dir, home, package })
}

/// Build the plugin at `path` (from the repository's root), signed by
/// `home`'s key, into `home`; returns the package.
#[allow(dead_code)] // not every bench builds more than core
pub fn build_into(rt: &tokio::runtime::Runtime, home: &Home, path: &str) -> anyhow::Result<PathBuf> {
    eprintln!("building {path} from source ...");
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let options = BuildOptions {
        crate_dir: repo.join(path),
        key: None,
        out_dir: Some(home.root().join("packages")),
        target_dir: Some(repo.join("target/wasm-plugins")),
        cache_dir: Some(home.root().join("artifacts")),
    };
    Ok(rt.block_on(build_plugin(home, &options))?.package)
}
