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
    eprintln!("building plugins/core from source ...");
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let dir = tempfile::tempdir()?;
    let home = Home::at(dir.path().to_path_buf());
    let options = BuildOptions {
        crate_dir: repo.join("plugins/core"),
        key: None,
        out_dir: Some(dir.path().join("packages")),
        target_dir: Some(repo.join("target/wasm-plugins")),
        cache_dir: None,
    };
    let package = rt.block_on(build_plugin(&home, &options))?.package;
    Ok(BuiltCore { _dir: dir, home, package })
}
