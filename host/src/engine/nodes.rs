//! What the engine needs from the outside to run nodes: installed plugins
//! ([`NodeHost`]) and credential values ([`Credentials`]). The host wires the
//! plugin runtime in (see `crate::plugins`); the engine never sees wasmtime.

use crate::runtime::{Invocation, InvokeReport, NodeSummary, Outcome};
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use semver::{Version, VersionReq};
use std::collections::BTreeMap;

/// An installed plugin version, as validation and execution see it.
#[derive(Debug, Clone)]
pub struct PluginVersion {
    /// `publisher/name`.
    pub name: String,
    /// The exact version.
    pub version: Version,
    /// SHA-256 of the component.
    pub digest: String,
    /// Its node types, from the component's `describe()`.
    pub nodes: Vec<NodeSummary>,
    /// Secret names its manifest requests.
    pub secrets: Vec<String>,
    /// Its manifest's per-call limits (a node's `timeout_ms` overrides the wall time).
    pub limits: wirework_registry::Limits,
    /// Whether a call can change anything outside its own result: the plugin
    /// asks for outbound HTTP or key-value state. Without either, the sandbox
    /// guarantees a call is pure, and running it again is unobservable.
    pub side_effects: bool,
}

impl PluginVersion {
    /// The node type called `name`.
    pub fn node(&self, name: &str) -> Option<&NodeSummary> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

/// Installed plugins, by name and version.
pub trait NodeHost: Send + Sync + 'static {
    /// The highest installed version of `name` in `range`. `Err` says what is installed instead.
    fn resolve(&self, name: &str, range: &VersionReq) -> Result<PluginVersion, String>;

    /// An exact installed version (what an execution pinned).
    fn get(&self, name: &str, version: &Version) -> Option<PluginVersion>;

    /// Run one node of an installed version.
    fn invoke(
        &self,
        name: &str,
        version: &Version,
        invocation: Invocation,
    ) -> BoxFuture<'static, InvokeReport<Outcome>>;
}

/// Credential values by name, bound to nodes by their `credentials` map.
pub trait Credentials: Send + Sync + 'static {
    /// The value of credential `name`.
    fn get(&self, name: &str) -> Option<String>;
}

/// Credentials held in memory (tests, the CLI's `--credential`).
#[derive(Default)]
pub struct MemoryCredentials {
    values: Mutex<BTreeMap<String, String>>,
}

impl MemoryCredentials {
    /// Set credential `name`.
    pub fn set(&self, name: &str, value: &str) {
        self.values.lock().insert(name.into(), value.into());
    }
}

impl Credentials for MemoryCredentials {
    fn get(&self, name: &str) -> Option<String> {
        self.values.lock().get(name).cloned()
    }
}
