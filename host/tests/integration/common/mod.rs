//! Shared by the integration tests: the first-party plugins and the hostile
//! fixture, built from source once by the project's own build command,
//! signed with a fresh key, and loaded into a real runtime.

#![allow(dead_code)]

pub mod engine;
pub mod server;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use wirework::build::{build_plugin, BuildOptions};
use wirework::home::Home;
use wirework::runtime::{Grants, Invocation, InvokeReport, LoadedPlugin, MemoryKv, Outcome, Runtime, RuntimeConfig};
use wirework_registry::{Package, TrustStore};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Where every test builds wasm: one target dir, so std for wasm32 is built once.
pub fn wasm_target_dir() -> PathBuf {
    repo().join("target").join("wasm-plugins")
}

/// Built packages and the home whose key signed them.
pub struct Fixtures {
    /// A home that trusts the fixtures' key, shared by every test of the
    /// process: read it, never change it (see [`Fixtures::fresh_home`]).
    pub home: Home,
    pub core: PathBuf,
    pub http: PathBuf,
    pub hostile: PathBuf,
    /// Built against the frozen `wirework:plugin@0.1.0`.
    pub legacy: PathBuf,
    /// The JavaScript example, `examples/github-plugin` (componentize-js).
    pub github: PathBuf,
    /// The home the build signed with, in `target/test-fixtures`: copied,
    /// never used or changed by a test.
    pristine: Home,
    /// Where this run's packages are built (`target/test-fixtures/<digest>`).
    dir: PathBuf,
}

impl Fixtures {
    /// The package of a first-party plugin beyond core and http,
    /// `plugins/<name>` (`crm`, `stripe`, `sms`, `email`, `slack`, `code`), built on first use by the
    /// project's own build command and signed with the fixtures' key.
    pub fn integration(&self, name: &str) -> PathBuf {
        let package = self.dir.join("packages").join(format!("{name}.wwpkg"));
        let _one_builder = wirework_registry::lock_for_update(&self.dir.join(format!("build-{name}"))).unwrap();
        if !package.exists() {
            let dir = self.dir.clone();
            let name = name.to_string();
            let to = package.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Runtime::new().unwrap();
                build_into(&rt, &Home::at(dir.join("home")), &dir, &format!("plugins/{name}"), &to);
            })
            .join()
            .expect("building an integration plugin");
        }
        package
    }

    pub fn trust(&self) -> TrustStore {
        TrustStore::load(&self.home.trust_store_path()).unwrap()
    }

    /// A home of the caller's own, as the fixtures' home was before any test
    /// ran: the same signing key, trusted for the same publishers, and
    /// nothing else. A test that trusts a key, pins a registry or otherwise
    /// changes a home uses one of these (every [`server::serve`] server
    /// has one), so no test sees another's changes whatever the order.
    pub fn fresh_home(&self) -> OwnHome {
        let dir = tempfile::Builder::new().prefix("wirework-test-home").tempdir().unwrap();
        let home = Home::at(dir.path());
        copy_home(&self.pristine, &home);
        OwnHome { home, _dir: dir }
    }
}

/// A home in a temporary directory, removed when this is dropped.
pub struct OwnHome {
    home: Home,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for OwnHome {
    type Target = Home;

    fn deref(&self) -> &Home {
        &self.home
    }
}

/// Copy the signing key and trust store of `from` into `to`.
fn copy_home(from: &Home, to: &Home) {
    std::fs::create_dir_all(to.root().join("keys")).unwrap();
    for name in ["keys/default.key", "keys/default.key.pub", "trust.toml"] {
        std::fs::copy(from.root().join(name), to.root().join(name))
            .unwrap_or_else(|e| panic!("copying the fixtures' {name}: {e}"));
    }
}

/// Build the fixtures on first use (on a thread of its own: tests run inside tokio).
///
/// Every test binary of a run (today: one, `tests/integration`) shares one
/// build: the packages, and the key that signed them, live in
/// `target/test-fixtures/<digest>`, where the digest covers every source
/// that goes into them (plugins, SDK, WIT, the build command and the package
/// format). The first binary builds them under a file lock; the others find
/// them ready. The process gets a home of its own that trusts that key;
/// all its tests share it, so they only read it, and a test that changes a
/// home takes a [`Fixtures::fresh_home`] instead.
pub fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        std::thread::spawn(|| {
            let shared = shared_fixtures();
            let dir = tempfile::Builder::new().prefix("wirework-test-home").tempdir().unwrap().keep();
            let home = Home::at(dir);
            copy_home(&shared.pristine, &home);
            Fixtures { home, ..shared }
        })
        .join()
        .expect("building the plugin fixtures")
    })
}

/// The packages of this run, built once for all test binaries (see [`fixtures`]).
fn shared_fixtures() -> Fixtures {
    let dir = repo().join("target").join("test-fixtures").join(sources_digest());
    let home = Home::at(dir.join("home"));
    let packages = dir.join("packages");
    let package = |name: &str| packages.join(name);
    let fixtures = Fixtures {
        core: package("core.wwpkg"),
        http: package("http.wwpkg"),
        hostile: package("hostile.wwpkg"),
        legacy: package("legacy.wwpkg"),
        github: package("github.wwpkg"),
        home: home.clone(),
        pristine: home.clone(),
        dir: dir.clone(),
    };
    let _one_builder = wirework_registry::lock_for_update(&dir.join("build")).unwrap();
    if dir.join("ready").exists() {
        return fixtures;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let build = |path: &str, to: &Path| build_into(&rt, &home, &dir, path, to);
    build("plugins/core", &fixtures.core);
    build("plugins/http", &fixtures.http);
    build("plugins/fixtures/hostile", &fixtures.hostile);
    build("plugins/fixtures/legacy-v01", &fixtures.legacy);
    build("examples/github-plugin", &fixtures.github);
    std::fs::write(dir.join("ready"), b"").unwrap();
    fixtures
}

/// Build the plugin at `path` (from the repository root) with `home`'s key
/// and copy its package to `to`.
fn build_into(rt: &tokio::runtime::Runtime, home: &Home, dir: &Path, path: &str, to: &Path) {
    let options = BuildOptions {
        crate_dir: repo().join(path),
        key: None,
        out_dir: Some(dir.join("built")),
        target_dir: Some(wasm_target_dir()),
        cache_dir: Some(component_cache()),
    };
    let built = rt.block_on(build_plugin(home, &options)).unwrap_or_else(|e| panic!("building {path}: {e:#}"));
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(&built.package, to).unwrap();
}

/// A digest of every source the fixtures are built from (and of the
/// lockfile that fixes the build tools' versions).
fn sources_digest() -> String {
    use sha2::{Digest, Sha256};
    let mut files = Vec::new();
    let mut dirs: Vec<PathBuf> =
        ["plugins", "sdk", "wit", "host/src/build", "registry/src", "examples/github-plugin/src"]
            .map(|d| repo().join(d))
            .into();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()) {
            let name = entry.file_name().unwrap().to_string_lossy();
            if entry.is_dir() && name != "target" && name != "node_modules" && !name.starts_with('.') {
                dirs.push(entry);
            } else if entry.is_file() {
                files.push(entry);
            }
        }
    }
    // The host's lockfile too: it fixes the component encoder's version; and
    // the JavaScript example's manifest and npm lockfile (its build tools).
    files.push(repo().join("Cargo.lock"));
    files.push(repo().join("examples/github-plugin/plugin.toml"));
    files.push(repo().join("examples/github-plugin/package-lock.json"));
    files.sort();
    let mut hash = Sha256::new();
    for file in files {
        hash.update(file.strip_prefix(repo()).unwrap().to_string_lossy().as_bytes());
        hash.update(std::fs::read(&file).unwrap());
    }
    hex::encode(&hash.finalize()[..8])
}

/// Where every test of a run keeps precompiled components: each fixture is
/// compiled once, not once per runtime, server or engine a test opens.
pub fn component_cache() -> PathBuf {
    repo().join("target").join("test-fixtures").join("component-cache")
}

/// A runtime with the shared component cache and in-memory kv.
pub fn runtime() -> Runtime {
    let config = RuntimeConfig { max_instances: 64, cache_dir: Some(component_cache()), ..Default::default() };
    Runtime::new(config, Arc::new(MemoryKv::default())).unwrap()
}

/// Load a package with the given grants, trusting the fixtures' key.
pub async fn load(runtime: &Runtime, package: &Path, grants: &Grants) -> LoadedPlugin {
    let package = Package::read(package).unwrap();
    runtime.load(package, &fixtures().trust(), grants).await.unwrap()
}

/// An invocation of `node` with a JSON config and items.
pub fn invocation(node: &str, config: serde_json::Value, items: Vec<serde_json::Value>) -> Invocation {
    Invocation {
        node: node.into(),
        config: config.to_string(),
        items: items.iter().map(|i| i.to_string()).collect(),
        execution_id: "exec-1".into(),
        attempt: 1,
        idempotency_key: "exec-1:step-1".into(),
        ..Default::default()
    }
}

/// The items emitted on each port, parsed, in port order.
pub fn emitted(report: &InvokeReport<Outcome>) -> Vec<(String, Vec<serde_json::Value>)> {
    match report.result.as_ref().unwrap_or_else(|e| panic!("node failed: {e}; logs {:?}", report.logs)) {
        Outcome::Emit { ports } => ports
            .iter()
            .map(|p| (p.port.clone(), p.items.iter().map(|i| serde_json::from_str(i.get()).unwrap()).collect()))
            .collect(),
        other => panic!("expected emit, got {other:?}"),
    }
}

/// The items on one port (empty if the port is absent).
pub fn port(report: &InvokeReport<Outcome>, name: &str) -> Vec<serde_json::Value> {
    emitted(report).into_iter().find(|(p, _)| p == name).map(|(_, items)| items).unwrap_or_default()
}

/// Serve `router` on a loopback port the OS picks; the server stops with the
/// test's runtime.
pub async fn serve(router: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}
