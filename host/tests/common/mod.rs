//! Shared by the integration tests: the first-party plugins and the hostile
//! fixture, built from source once per test binary by the project's own build
//! command, signed with a fresh key, and loaded into a real runtime.

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
    pub home: Home,
    pub core: PathBuf,
    pub http: PathBuf,
    pub hostile: PathBuf,
}

impl Fixtures {
    pub fn trust(&self) -> TrustStore {
        TrustStore::load(&self.home.trust_store_path()).unwrap()
    }
}

/// Build the fixtures on first use (on a thread of its own: tests run inside tokio).
pub fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        std::thread::spawn(|| {
            let dir = tempfile::Builder::new().prefix("wirework-test-home").tempdir().unwrap().keep();
            let home = Home::at(dir);
            let rt = tokio::runtime::Runtime::new().unwrap();
            let build = |path: &str| {
                let options = BuildOptions {
                    crate_dir: repo().join(path),
                    key: None,
                    out_dir: Some(home.root().join("packages")),
                    target_dir: Some(wasm_target_dir()),
                };
                rt.block_on(build_plugin(&home, &options)).unwrap_or_else(|e| panic!("building {path}: {e:#}")).package
            };
            let core = build("plugins/core");
            let http = build("plugins/http");
            let hostile = build("plugins/fixtures/hostile");
            Fixtures { home, core, http, hostile }
        })
        .join()
        .expect("building the plugin fixtures")
    })
}

/// A runtime with no artifact cache and in-memory kv.
pub fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig { max_instances: 64, ..Default::default() }, Arc::new(MemoryKv::default())).unwrap()
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
