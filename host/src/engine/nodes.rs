//! What the engine needs from the outside to run nodes: installed plugins
//! ([`NodeHost`]) and credential values ([`Credentials`]). The host wires the
//! plugin runtime in (see `crate::plugins`); the engine never sees wasmtime.

use crate::runtime::{Invocation, InvokeReport, NodeSummary, Outcome, TriggerOutput, TriggerRequest};
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
    /// The credential types its manifest declares.
    pub credential_types: Vec<wirework_registry::CredentialType>,
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

    /// Let a trigger node of an exact installed version turn an HTTP
    /// request into items, bounded as [`invoke`](Self::invoke) is.
    fn handle_request(
        &self,
        name: &str,
        version: &Version,
        call: Invocation,
        request: TriggerRequest,
    ) -> BoxFuture<'static, InvokeReport<TriggerOutput>>;
}

/// A stored credential's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialValue {
    /// One value, bound to a secret name a plugin requests.
    Plain(String),
    /// Fields of a credential type a plugin declares.
    Typed {
        /// `publisher/plugin:type`, e.g. `wirework/http:bearer` ([`credential_type_id`]).
        kind: String,
        /// Its fields by name.
        fields: BTreeMap<String, String>,
    },
}

impl CredentialValue {
    /// The type, `None` for a plain value.
    pub fn kind(&self) -> Option<&str> {
        match self {
            CredentialValue::Plain(_) => None,
            CredentialValue::Typed { kind, .. } => Some(kind),
        }
    }
}

/// The id of credential type `kind` that plugin `plugin` declares:
/// `publisher/plugin:kind`. A credential of it binds to that plugin's nodes
/// (of any version) only.
pub fn credential_type_id(plugin: &str, kind: &str) -> String {
    format!("{plugin}:{kind}")
}

/// Credential values by name, bound to nodes by their `credentials` map.
pub trait Credentials: Send + Sync + 'static {
    /// The value of credential `name`.
    fn get(&self, name: &str) -> Option<CredentialValue>;

    /// Whether credential `name` exists, and its type (`Some(None)`: a
    /// plain value), without opening it: what a deploy checks bindings with.
    fn kind(&self, name: &str) -> Option<Option<String>>;
}

/// Credentials held in memory (tests, the CLI's `--credential`).
#[derive(Default)]
pub struct MemoryCredentials {
    values: Mutex<BTreeMap<String, CredentialValue>>,
}

impl MemoryCredentials {
    /// Set credential `name` to a plain value.
    pub fn set(&self, name: &str, value: &str) {
        self.values.lock().insert(name.into(), CredentialValue::Plain(value.into()));
    }

    /// Forget credential `name`.
    pub fn remove(&self, name: &str) {
        self.values.lock().remove(name);
    }

    /// Set credential `name` to a typed value.
    pub fn set_typed(&self, name: &str, kind: &str, fields: BTreeMap<String, String>) {
        self.values.lock().insert(name.into(), CredentialValue::Typed { kind: kind.into(), fields });
    }
}

impl Credentials for MemoryCredentials {
    fn get(&self, name: &str) -> Option<CredentialValue> {
        self.values.lock().get(name).cloned()
    }

    fn kind(&self, name: &str) -> Option<Option<String>> {
        self.values.lock().get(name).map(|v| v.kind().map(str::to_string))
    }
}
