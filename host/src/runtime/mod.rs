//! The plugin runtime: loads signed plugin packages into wasmtime and runs
//! their nodes, each call in a fresh, bounded, metered sandbox.
//!
//! - **Loading** verifies the package against a trust store, compiles the
//!   component (or loads native code from the [artifact cache](RuntimeConfig::cache_dir)),
//!   links it against the host imports once (`InstancePre`), and checks that its
//!   `describe()` agrees with its manifest.
//! - **Invoking** instantiates afresh from the pooling allocator, sets a fuel
//!   budget (the fuel used is reported: that is the meter), an epoch deadline for
//!   wall time and a memory cap, and turns every way a call can end into an
//!   [`InvokeReport`]: an outcome, or a [`NodeFailure`] that says what happened.
//! - **Host imports** ([`host_api`]) check the plugin's [`Policy`] on every call.
//!
//! The runtime knows nothing of workflows: the engine hands it one invocation at a time.

mod bindings;
mod cache;
pub mod capabilities;
mod host_api;
mod http;
pub mod kv;

pub use bindings::{Contract, SUPPORTED_CONTRACTS};
pub use capabilities::{Grants, Policy};
pub use http::{HostLookup, HttpLimits, Resolver};
pub use kv::{KvStore, MemoryKv};

use bindings::wirework::plugin::types as wit;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, Trap};
use wirework_registry::{Limits, Manifest, NodeKind, Package, PackageError, TrustStore};

/// How often the epoch advances; wall-time deadlines are this precise.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where precompiled components are kept; `None` compiles on every load.
    pub cache_dir: Option<PathBuf>,
    /// Instances that may exist at once (the pooling allocator's size).
    pub max_instances: u32,
    /// The largest memory any call may have, in MiB; manifests ask for less.
    pub max_memory_mib: u64,
    /// The most fuel any call may have, whatever its manifest or node asks.
    pub max_fuel: u64,
    /// The longest any call may run, in ms, whatever its manifest or node asks.
    pub max_wall_ms: u64,
    /// Bounds on outbound HTTP.
    pub http: HttpLimits,
    /// How plugins' HTTP calls look host names up (the system's resolver by default).
    pub resolver: Resolver,
    /// Fuel between yields to the async executor, so a busy plugin shares its thread.
    pub fuel_yield_interval: u64,
    /// The most bytes a plugin may hand the host in one call: a node's
    /// output, or the arguments of one host call (wasmtime's hostcall fuel).
    /// Past it the call fails with [`NodeFailure::CopyLimit`].
    pub max_copy_bytes: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            max_instances: 1000,
            max_memory_mib: 1024,
            max_fuel: wirework_registry::manifest::MAX_LIMITS.fuel,
            max_wall_ms: wirework_registry::manifest::MAX_LIMITS.wall_ms,
            http: HttpLimits::default(),
            resolver: Resolver::system(),
            fuel_yield_interval: 1_000_000,
            max_copy_bytes: 128 << 20,
        }
    }
}

/// The pooling allocator the runtime instantiates plugins from: sized by
/// `config`, and tuned for a fresh instance per call. Public so that benchmarks
/// can give a bare-wasmtime baseline the same allocator.
///
/// Where Linux has `PAGEMAP_SCAN` (6.7 and later), slots are reset with
/// `memset` of only the pages a call touched rather than with `madvise`, which
/// would unmap them and make the next instance fault them back in one by one.
/// Elsewhere, keeping memory resident would mean a `memset` of the whole
/// region per call, so slots are reset with `madvise` as wasmtime does by default.
pub fn pooling_allocator(config: &RuntimeConfig) -> wasmtime::PoolingAllocationConfig {
    let mut pool = wasmtime::PoolingAllocationConfig::default();
    let n = config.max_instances;
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(8))
        .total_memories(n.saturating_mul(2))
        .total_tables(n.saturating_mul(4))
        .total_stacks(n)
        .max_memory_size((config.max_memory_mib as usize) << 20);
    if wasmtime::PoolingAllocationConfig::is_pagemap_scan_available() {
        pool.pagemap_scan(wasmtime::Enabled::Yes)
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(KEEP_RESIDENT_BYTES);
    }
    pool
}

/// Check linear-memory bounds in code rather than with guard pages and
/// signals. A fresh instance per call is the host's pattern, and with guard
/// pages every call that grows its memory costs two `mprotect`s (grow, then
/// shrink on the slot's next use), each a TLB shootdown across all cores.
/// Measured on the 2-core development machine with both cores busy: about
/// 19,000 calls per second with guard pages, 33,000 without. Explicit checks
/// cost the guest's code a little instead and are as safe. Public so that
/// benchmarks can give bare wasmtime the same settings.
pub fn explicit_bounds_checks(config: &mut wasmtime::Config) {
    config.memory_guard_size(0).signals_based_traps(false);
}

/// Memory per slot reset in place rather than returned to the kernel.
const KEEP_RESIDENT_BYTES: usize = 2 << 20;

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The package failed verification (signature, digests, trust, manifest).
    #[error("package refused: {0}")]
    Package(#[from] PackageError),
    /// The bytes are not a WebAssembly component this engine can compile.
    #[error("not a valid component: {0}")]
    Compile(String),
    /// The component does not fit a `wirework:plugin` contract this host
    /// speaks, or not the one its manifest names.
    #[error("component does not fit the wirework:plugin contract: {0}")]
    Contract(String),
    /// The component's `describe()` disagrees with its manifest.
    #[error("component and manifest disagree: {}", .0.join("; "))]
    DescribeMismatch(Vec<String>),
    /// `describe()` itself failed.
    #[error("describe() failed: {0}")]
    Describe(NodeFailure),
    /// The grants are malformed.
    #[error("invalid grants: {0}")]
    Grants(String),
    /// Anything else (I/O on the cache, ...).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// How a call failed, as the engine and the execution log see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeFailure {
    /// The plugin returned its own error.
    #[error("{message}")]
    Plugin {
        /// The plugin's message.
        message: String,
        /// The plugin's code, if any.
        code: Option<String>,
        /// Whether the plugin says a retry may succeed.
        retryable: bool,
        /// The least time before a retry, when the outside system said
        /// (a 429's `Retry-After`); the engine waits at least this long.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    /// The call used its whole fuel budget.
    #[error("fuel exhausted: the call used its whole budget of {budget} fuel")]
    FuelExhausted {
        /// The budget.
        budget: u64,
    },
    /// The call ran past its wall-time deadline.
    #[error("timed out: the call ran past its {wall_ms} ms deadline")]
    Timeout {
        /// The deadline.
        wall_ms: u64,
    },
    /// The plugin tried to grow its memory past its cap.
    #[error("memory limit: the plugin tried to grow its memory past {limit_mib} MiB")]
    MemoryLimit {
        /// The cap.
        limit_mib: u64,
    },
    /// The plugin trapped (a panic, `unreachable`, an out-of-bounds access...).
    #[error("plugin trapped: {message}")]
    Trap {
        /// The trap, with the panic message when the plugin logged one.
        message: String,
    },
    /// The plugin handed the host more data in one call than the host copies
    /// (its output, or one host call's arguments). The same call fails the
    /// same way every time: not retryable.
    #[error(
        "copy limit: the plugin handed the host more than {limit_bytes} bytes in one call \
         (its output or a host call's arguments); emit fewer or smaller items, e.g. in batches"
    )]
    CopyLimit {
        /// The limit ([`RuntimeConfig::max_copy_bytes`]).
        limit_bytes: usize,
    },
    /// The call could not be prepared: an expression failed, a credential is
    /// missing, a pinned plugin version is gone. Set by the engine.
    #[error("{message}")]
    Setup {
        /// What is missing or wrong.
        message: String,
    },
    /// The host could not run the call (no free instance slot, a broken import...).
    #[error("host error: {message}")]
    Host {
        /// What went wrong.
        message: String,
    },
    /// The call returned something its grants do not allow (a trigger
    /// publishing an event the operator did not grant), so the host threw
    /// the whole result away.
    #[error("{message}")]
    Denied {
        /// What was refused, and how to grant it.
        message: String,
    },
}

impl NodeFailure {
    /// Whether the engine may retry the call.
    pub fn retryable(&self) -> bool {
        match self {
            NodeFailure::Plugin { retryable, .. } => *retryable,
            NodeFailure::Timeout { .. } | NodeFailure::Host { .. } => true,
            _ => false,
        }
    }
}

/// One node call, as the engine hands it to the runtime.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// The node's name inside the plugin.
    pub node: String,
    /// The node's configuration, JSON.
    pub config: String,
    /// Input items, each a JSON object.
    pub items: Vec<String>,
    /// The execution this call belongs to.
    pub execution_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Stable across retries of one step.
    pub idempotency_key: String,
    /// The state of the wait this call resumes, JSON.
    pub resume_state: Option<String>,
    /// Narrows the plugin's key-value scope (the engine passes the workflow id).
    pub kv_scope: String,
    /// Overrides the manifest's limits (an operator's choice).
    pub limits: Option<Limits>,
    /// Secrets and credentials bound to this call (the node's bindings).
    pub bound: Bound,
}

/// What a node's bindings hand one call: plain secrets by name (only names
/// the manifest requests are readable) and typed credentials by type (only
/// types it declares and the operator granted).
#[derive(Debug, Clone, Default)]
pub struct Bound {
    /// Secret values by name.
    pub secrets: Option<Arc<BTreeMap<String, String>>>,
    /// Credentials by credential type, each its fields by name.
    pub credentials: Option<Arc<BoundCredentials>>,
}

/// Bound credentials: by credential type, each its fields by name.
pub type BoundCredentials = BTreeMap<String, BTreeMap<String, String>>;

/// The values of `bound` that must never show: every secret, and every
/// credential field its type does not declare `secret = false` (a field of
/// an undeclared type counts as secret).
pub fn secret_values(types: &[wirework_registry::CredentialType], bound: &Bound) -> Vec<String> {
    let mut values: Vec<String> = bound.secrets.iter().flat_map(|s| s.values().cloned()).collect();
    for (kind, fields) in bound.credentials.iter().flat_map(|c| c.iter()) {
        let declared = types.iter().find(|t| &t.name == kind);
        for (name, value) in fields {
            if declared.and_then(|t| t.field(name)).is_none_or(|f| f.secret) {
                values.push(value.clone());
            }
        }
    }
    values
}

/// A JSON document produced by a plugin, validated by the host.
pub type Json = Box<RawValue>;

/// What a node asked for.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// Items on ports.
    Emit {
        /// One entry per port.
        ports: Vec<PortItems>,
    },
    /// A durable wait.
    Wait {
        /// Resume at this time at the latest.
        until_unix_ms: Option<u64>,
        /// Resume on this event.
        event: Option<String>,
        /// Handed back on resumption.
        state: Json,
    },
}

/// Items a node emitted on one port.
#[derive(Debug, Clone, Serialize)]
pub struct PortItems {
    /// The port.
    pub port: String,
    /// The items, each a JSON object.
    pub items: Vec<Json>,
}

/// An incoming HTTP request for a trigger node.
#[derive(Debug, Clone, Default)]
pub struct TriggerRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The full URL the caller used (scheme, host, path and query).
    pub url: String,
    /// The path below the trigger's mount point.
    pub path: String,
    /// The query string without `?`.
    pub query: String,
    /// Header pairs.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

/// A trigger's answer to a request.
#[derive(Debug, Clone, Serialize)]
pub struct TriggerOutput {
    /// Items to start an execution with.
    pub items: Vec<Json>,
    /// The HTTP response the trigger chose, if any.
    pub response: Option<TriggerResponse>,
    /// Events to publish, each granted to the plugin (checked here).
    pub events: Vec<TriggerEvent>,
}

/// An event a trigger publishes.
#[derive(Debug, Clone, Serialize)]
pub struct TriggerEvent {
    /// `name` or `name:key`.
    pub name: String,
    /// A JSON object.
    pub payload: Json,
}

/// An HTTP response chosen by a trigger.
#[derive(Debug, Clone, Serialize)]
pub struct TriggerResponse {
    /// Status code.
    pub status: u16,
    /// Header pairs.
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Vec<u8>,
}

/// A log line a plugin wrote during a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// `trace` ... `error`.
    pub level: String,
    /// The message (truncated to a bound).
    pub message: String,
}

/// Everything about one call: its result, its cost and what it logged.
#[derive(Debug, Clone)]
pub struct InvokeReport<T> {
    /// The outcome, or how it failed.
    pub result: Result<T, NodeFailure>,
    /// Fuel consumed, instantiation included: the meter.
    pub fuel: u64,
    /// Wall time, instantiation included.
    pub wall: Duration,
    /// What the plugin logged.
    pub logs: Vec<LogLine>,
    /// Capability refusals during the call (HTTP, secrets, kv).
    pub denials: Vec<String>,
}

/// A node type as a plugin describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeSummary {
    /// Name inside the plugin.
    pub name: String,
    /// Title for humans.
    pub title: String,
    /// Description for humans.
    pub description: String,
    /// Action or trigger.
    pub kind: NodeKind,
    /// JSON Schema of the configuration.
    pub config_schema: String,
    /// Output ports (empty: named by the configuration).
    pub ports: Vec<String>,
}

/// A verified, compiled, linked plugin version, ready to invoke.
pub struct LoadedPlugin {
    manifest: Manifest,
    digest: String,
    key_id: String,
    pre: Pre,
    shared: Arc<host_api::PluginShared>,
    nodes: Vec<NodeSummary>,
    from_cache: bool,
}

impl LoadedPlugin {
    /// The verified manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// SHA-256 of the component: the identity of the code.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Id of the key that signed the package.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The node types, from the component's own `describe()`.
    pub fn nodes(&self) -> &[NodeSummary] {
        &self.nodes
    }

    /// Whether native code came from the artifact cache rather than a compile.
    pub fn loaded_from_cache(&self) -> bool {
        self.from_cache
    }

    /// The contract the component is built against.
    pub fn contract(&self) -> Contract {
        match self.pre {
            Pre::V0_1(_) => Contract::V0_1,
            Pre::V0_2(_) => Contract::V0_2,
            Pre::Current(_) => Contract::V0_3,
        }
    }
}

/// A component linked against the host imports of its contract.
enum Pre {
    V0_1(bindings::v0_1::PluginPre<host_api::StoreState>),
    V0_2(bindings::v0_2::PluginPre<host_api::StoreState>),
    Current(bindings::PluginPre<host_api::StoreState>),
}

/// The contract `component` speaks, checked against the one its manifest
/// names: what an install checks before it writes anything.
pub fn check_contract(component: &[u8], manifest: &Manifest) -> Result<Contract, LoadError> {
    let contract = Contract::of_component(component).map_err(LoadError::Contract)?;
    let declared = manifest.plugin.wit.to_string();
    if declared != contract.version() {
        return Err(LoadError::Contract(format!(
            "the component is built against wirework:plugin@{}, but its manifest says `wit = \"{declared}\"`{}",
            contract.version(),
            if declared == wirework_registry::DEFAULT_WIT_VERSION {
                " (the default when plugin.toml names none)"
            } else {
                ""
            }
        )));
    }
    Ok(contract)
}

/// The wasmtime engine, its linker and the shared services of all plugins.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    engine: Engine,
    linker: Linker<host_api::StoreState>,
    cache: Option<cache::ArtifactCache>,
    kv: Arc<dyn KvStore>,
    config: RuntimeConfig,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for RuntimeInner {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl Runtime {
    /// A runtime with its own engine, pooling allocator and epoch ticker.
    pub fn new(config: RuntimeConfig, kv: Arc<dyn KvStore>) -> anyhow::Result<Runtime> {
        let mut wasm_config = wasmtime::Config::new();
        wasm_config
            .wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pooling_allocator(&config)));
        explicit_bounds_checks(&mut wasm_config);
        let engine = Engine::new(&wasm_config)?;
        let mut linker = Linker::new(&engine);
        host_api::add_to_linker(&mut linker)?;
        let cache = config.cache_dir.as_deref().map(|d| cache::ArtifactCache::new(d, &engine)).transpose()?;

        // Wall-time deadlines count epoch ticks; a thread advances them.
        let ticker_stop = Arc::new(AtomicBool::new(false));
        let (stop, ticking) = (ticker_stop.clone(), engine.weak());
        std::thread::Builder::new().name("wirework-epoch".into()).spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                match ticking.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })?;
        Ok(Runtime { inner: Arc::new(RuntimeInner { engine, linker, cache, kv, config, ticker_stop }) })
    }

    /// The wasmtime engine (for tools that compare against bare wasmtime).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Verify `package` against `trust`, compile or fetch it from the cache,
    /// link it, and check its `describe()` against its manifest.
    pub async fn load(&self, package: Package, trust: &TrustStore, grants: &Grants) -> Result<LoadedPlugin, LoadError> {
        let verified = package.verify(trust)?;
        let contract = check_contract(&verified.component, &verified.manifest)?;
        let policy = Policy::new(&verified.manifest.capabilities, grants).map_err(LoadError::Grants)?;
        let digest = verified.component_digest().to_string();
        let key_id = verified.statement.key_id.clone();
        let (component, from_cache) = match &self.inner.cache {
            Some(cache) => cache.load_or_compile(&self.inner.engine, &verified.component),
            None => Component::new(&self.inner.engine, &verified.component).map(|c| (c, false)).map_err(Into::into),
        }
        .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        let mut plugin = self.link(component, contract, verified.manifest, digest, policy).await?;
        plugin.from_cache = from_cache;
        plugin.key_id = key_id;
        let mismatches = check_describe(&plugin.manifest, &plugin.nodes);
        if !mismatches.is_empty() {
            return Err(LoadError::DescribeMismatch(mismatches));
        }
        Ok(plugin)
    }

    /// Run `describe()` on raw component bytes, with no grants: what
    /// `wirework plugin build` checks a manifest against before signing.
    pub async fn describe_component(
        &self,
        component: &[u8],
        manifest: &Manifest,
    ) -> Result<Vec<NodeSummary>, LoadError> {
        let contract = check_contract(component, manifest)?;
        let component = match &self.inner.cache {
            Some(cache) => cache.load_or_compile(&self.inner.engine, component).map(|(c, _)| c),
            None => Component::new(&self.inner.engine, component).map_err(Into::into),
        }
        .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        let policy = Policy::new(&Default::default(), &Grants::default()).map_err(LoadError::Grants)?;
        let plugin = self.link(component, contract, manifest.clone(), String::new(), policy).await?;
        Ok(plugin.nodes)
    }

    async fn link(
        &self,
        component: Component,
        contract: Contract,
        manifest: Manifest,
        digest: String,
        policy: Policy,
    ) -> Result<LoadedPlugin, LoadError> {
        let contract_error =
            |e: wasmtime::Error| LoadError::Contract(format!("as wirework:plugin@{}: {e:#}", contract.version()));
        let instance_pre = self.inner.linker.instantiate_pre(&component).map_err(contract_error)?;
        let pre = match contract {
            Contract::V0_1 => Pre::V0_1(bindings::v0_1::PluginPre::new(instance_pre).map_err(contract_error)?),
            Contract::V0_2 => Pre::V0_2(bindings::v0_2::PluginPre::new(instance_pre).map_err(contract_error)?),
            Contract::V0_3 => Pre::Current(bindings::PluginPre::new(instance_pre).map_err(contract_error)?),
        };
        let policy = Arc::new(policy);
        let http = http::PluginHttp::new(policy.clone(), self.inner.config.http, self.inner.config.resolver.clone())?;
        let shared = Arc::new(host_api::PluginShared {
            name: manifest.plugin.name.clone(),
            policy,
            http,
            credential_types: manifest.credentials.clone(),
        });
        let mut plugin =
            LoadedPlugin { manifest, digest, key_id: String::new(), pre, shared, nodes: Vec::new(), from_cache: false };
        let report = self.call(&plugin, None, "", Bound::default(), Call::Describe).await;
        match report.result {
            Ok(CallResult::Describe(info)) => {
                plugin.nodes = info.nodes.into_iter().map(node_summary).collect();
                Ok(plugin)
            }
            Ok(_) => unreachable!("describe returns describe"),
            Err(failure) => Err(LoadError::Describe(failure)),
        }
    }

    /// Run one node.
    pub async fn invoke(&self, plugin: &LoadedPlugin, invocation: Invocation) -> InvokeReport<Outcome> {
        let wit_invocation = wit::Invocation {
            node: invocation.node,
            config: invocation.config,
            items: invocation.items,
            execution_id: invocation.execution_id,
            attempt: invocation.attempt,
            idempotency_key: invocation.idempotency_key,
            resume_state: invocation.resume_state,
        };
        let call = Call::Invoke(wit_invocation);
        let report = self.call(plugin, invocation.limits, &invocation.kv_scope, invocation.bound, call).await;
        map_report(report, |result| match result {
            CallResult::Invoke(Ok(outcome)) => convert_outcome(outcome),
            CallResult::Invoke(Err(e)) => Err(plugin_failure(e)),
            _ => unreachable!("invoke returns invoke"),
        })
    }

    /// Let a trigger node turn an HTTP request into items, under the same
    /// bounds as [`invoke`](Self::invoke): `call` gives the node, its
    /// config, limits, key-value scope and bindings (its items, attempt and
    /// resume state are not used).
    pub async fn handle_request(
        &self,
        plugin: &LoadedPlugin,
        call: Invocation,
        request: TriggerRequest,
    ) -> InvokeReport<TriggerOutput> {
        let req = wit::HttpRequest {
            method: request.method,
            url: request.url,
            path: request.path,
            query: request.query,
            headers: request.headers,
            body: request.body,
        };
        let Invocation { node, config, limits, kv_scope, bound, .. } = call;
        let report = self.call(plugin, limits, &kv_scope, bound, Call::Request { node, config, req }).await;
        let policy = &plugin.shared.policy;
        map_report(report, |result| match result {
            CallResult::Request(Ok(out)) => Ok(TriggerOutput {
                items: out.items.into_iter().map(|i| json_object(i, "trigger item")).collect::<Result<_, _>>()?,
                response: out.response.map(|r| TriggerResponse { status: r.status, headers: r.headers, body: r.body }),
                events: out.events.into_iter().map(|e| trigger_event(e, policy)).collect::<Result<_, _>>()?,
            }),
            CallResult::Request(Err(e)) => Err(plugin_failure(e)),
            _ => unreachable!("handle-request returns handle-request"),
        })
    }

    /// Instantiate afresh and make one call, bounded by `limits`.
    async fn call(
        &self,
        plugin: &LoadedPlugin,
        limits: Option<Limits>,
        kv_scope: &str,
        bound: Bound,
        call: Call,
    ) -> InvokeReport<CallResult> {
        let mut limits = limits.unwrap_or(plugin.manifest.limits);
        // The operator's caps win over what a manifest or a node asks.
        limits.fuel = limits.fuel.min(self.inner.config.max_fuel);
        limits.wall_ms = limits.wall_ms.min(self.inner.config.max_wall_ms);
        let memory_mib = limits.memory_mib.min(self.inner.config.max_memory_mib);
        let wall = Duration::from_millis(limits.wall_ms);
        let start = Instant::now();
        let scope = if kv_scope.is_empty() {
            plugin.shared.name.clone()
        } else {
            format!("{}\u{0}{kv_scope}", plugin.shared.name)
        };
        let state = host_api::StoreState::new(
            plugin.shared.clone(),
            self.inner.kv.clone(),
            scope,
            bound,
            (memory_mib as usize) << 20,
            start + wall,
        );
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_hostcall_fuel(self.inner.config.max_copy_bytes);
        let setup = store
            .set_fuel(limits.fuel)
            .and_then(|()| store.fuel_async_yield_interval(Some(self.inner.config.fuel_yield_interval)));
        if let Err(e) = setup {
            return failed_report(NodeFailure::Host { message: format!("{e:#}") }, start);
        }
        store.set_epoch_deadline(wall.as_millis().div_ceil(EPOCH_TICK.as_millis()) as u64 + 1);
        store.epoch_deadline_trap();

        // Boxed once: the instantiate-and-call future is large, and moving it
        // into the timeout below would otherwise copy it.
        let run = Box::pin(async {
            let pre = match &plugin.pre {
                Pre::Current(pre) => pre,
                Pre::V0_1(pre) => return bindings::v0_1::call(pre, &mut store, call).await,
                Pre::V0_2(pre) => return bindings::v0_2::call(pre, &mut store, call).await,
            };
            let instance = pre.instantiate_async(&mut store).await?;
            Ok::<_, wasmtime::Error>(match call {
                Call::Describe => CallResult::Describe(instance.call_describe(&mut store).await?),
                Call::Invoke(inv) => CallResult::Invoke(instance.call_invoke(&mut store, &inv).await?),
                Call::Request { node, config, req } => {
                    CallResult::Request(instance.call_handle_request(&mut store, &node, &config, &req).await?)
                }
            })
        });
        // Epochs bound guest code; host calls bound themselves by the deadline.
        // This is the backstop should either fail to.
        let result = match tokio::time::timeout(wall + Duration::from_millis(500), run).await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(error)) => {
                let copy_limit = self.inner.config.max_copy_bytes;
                Err(classify(&error, store.data(), &limits, memory_mib, copy_limit))
            }
            Err(_) => Err(NodeFailure::Timeout { wall_ms: limits.wall_ms }),
        };
        let fuel = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        let (logs, denials) = store.into_data().into_records();
        InvokeReport { result, fuel, wall: start.elapsed(), logs, denials }
    }
}

/// One call into a component, in the current contract's types.
pub(crate) enum Call {
    Describe,
    Invoke(wit::Invocation),
    Request { node: String, config: String, req: wit::HttpRequest },
}

/// What a [`Call`] returned, in the current contract's types.
pub(crate) enum CallResult {
    Describe(wit::PluginInfo),
    Invoke(Result<wit::Outcome, wit::NodeError>),
    Request(Result<wit::TriggerResult, wit::NodeError>),
}

/// A published event, checked: a valid name the plugin was granted, and a
/// JSON object as payload.
fn trigger_event(event: wit::Event, policy: &Policy) -> Result<TriggerEvent, NodeFailure> {
    let name = event.name;
    let base = name.split_once(':').map_or(name.as_str(), |(base, _)| base);
    if name.len() > 1024
        || !wirework_registry::manifest::valid_event_pattern(base)
        || base.ends_with(".*")
        || wirework_registry::manifest::is_reserved_event(&name)
    {
        let shown: String = name.chars().take(80).collect();
        return Err(NodeFailure::Denied {
            message: format!("the trigger published an event named `{shown}`, which is not an event name"),
        });
    }
    if let Err(denied) = policy.check_event(&name) {
        return Err(NodeFailure::Denied {
            message: format!(
                "{denied} (grant the manifest's pattern for it: `--grant-event`, or `event=` in a registry install)"
            ),
        });
    }
    Ok(TriggerEvent { payload: json_object(event.payload, "event payload")?, name })
}

fn plugin_failure(e: wit::NodeError) -> NodeFailure {
    NodeFailure::Plugin { message: e.message, code: e.code, retryable: e.retryable, retry_after_ms: e.retry_after_ms }
}

fn failed_report<T>(failure: NodeFailure, start: Instant) -> InvokeReport<T> {
    InvokeReport { result: Err(failure), fuel: 0, wall: start.elapsed(), logs: Vec::new(), denials: Vec::new() }
}

fn map_report<T>(
    report: InvokeReport<CallResult>,
    f: impl FnOnce(CallResult) -> Result<T, NodeFailure>,
) -> InvokeReport<T> {
    InvokeReport {
        result: report.result.and_then(f),
        fuel: report.fuel,
        wall: report.wall,
        logs: report.logs,
        denials: report.denials,
    }
}

/// Say what ended a call: fuel, deadline, memory, the copy limit, a trap, or the host.
fn classify(
    error: &wasmtime::Error,
    state: &host_api::StoreState,
    limits: &Limits,
    memory_mib: u64,
    copy_limit: usize,
) -> NodeFailure {
    if state.limiter.hit_limit() {
        return NodeFailure::MemoryLimit { limit_mib: memory_mib };
    }
    if is_copy_limit(error) {
        return NodeFailure::CopyLimit { limit_bytes: copy_limit };
    }
    if let Some(trap) = error.downcast_ref::<Trap>() {
        return match trap {
            Trap::OutOfFuel => NodeFailure::FuelExhausted { budget: limits.fuel },
            Trap::Interrupt => NodeFailure::Timeout { wall_ms: limits.wall_ms },
            other => NodeFailure::Trap {
                message: match state.panic_message() {
                    Some(panic) => format!("{other}; the plugin reported {panic}"),
                    None => other.to_string(),
                },
            },
        };
    }
    if let Some(refusal) = error.downcast_ref::<host_api::HostTrap>() {
        return NodeFailure::Trap { message: refusal.0.clone() };
    }
    NodeFailure::Host { message: format!("{error:#}") }
}

/// Whether wasmtime refused to copy more out of the guest than the store's
/// hostcall fuel allows. Its error type is private, so it is told by its
/// message (checked by `sandbox.rs`'s copy-limit test against this wasmtime).
fn is_copy_limit(error: &wasmtime::Error) -> bool {
    error.chain().any(|e| e.to_string().contains("fuel allocated for hostcalls has been exhausted"))
}

fn json_object(text: String, what: &str) -> Result<Json, NodeFailure> {
    let bad = |why: String| NodeFailure::Trap { message: format!("plugin returned an invalid {what}: {why}") };
    let raw = RawValue::from_string(text).map_err(|e| bad(e.to_string()))?;
    if !raw.get().starts_with('{') {
        return Err(bad("not a JSON object".into()));
    }
    Ok(raw)
}

fn convert_outcome(outcome: wit::Outcome) -> Result<Outcome, NodeFailure> {
    Ok(match outcome {
        wit::Outcome::Emit(ports) => Outcome::Emit {
            ports: ports
                .into_iter()
                .map(|p| {
                    let items = p.items.into_iter().map(|i| json_object(i, "item")).collect::<Result<_, _>>()?;
                    Ok(PortItems { port: p.port, items })
                })
                .collect::<Result<_, NodeFailure>>()?,
        },
        wit::Outcome::Wait(w) => Outcome::Wait {
            until_unix_ms: w.until_unix_ms,
            event: w.event,
            state: RawValue::from_string(w.state)
                .map_err(|e| NodeFailure::Trap { message: format!("plugin returned an invalid wait state: {e}") })?,
        },
    })
}

fn node_summary(info: wit::NodeInfo) -> NodeSummary {
    NodeSummary {
        name: info.name,
        title: info.title,
        description: info.description,
        kind: match info.kind {
            wit::NodeKind::Action => NodeKind::Action,
            wit::NodeKind::Trigger => NodeKind::Trigger,
        },
        config_schema: info.config_schema,
        ports: info.ports,
    }
}

/// `text` with every value of `secrets` (at least 4 bytes long, as written
/// and as JSON-escaped) replaced by `***`: plugin logs, failure messages and
/// outputs pass through this before they are logged or recorded.
pub fn redact<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> String {
    let mut text = text.to_string();
    for value in secrets.into_iter().filter(|v| v.len() >= 4) {
        if text.contains(value) {
            text = text.replace(value, "***");
        }
        let quoted = serde_json::to_string(value).unwrap_or_default();
        // Exactly the surrounding quotes: the value may end in an escaped one.
        let escaped = &quoted[1..quoted.len() - 1];
        if escaped != value && text.contains(escaped) {
            text = text.replace(escaped, "***");
        }
    }
    text
}

/// Differences between a manifest's nodes and a component's `describe()`.
pub fn check_describe(manifest: &Manifest, nodes: &[NodeSummary]) -> Vec<String> {
    let mut problems = Vec::new();
    for declared in &manifest.nodes {
        match nodes.iter().find(|n| n.name == declared.name) {
            None => problems.push(format!("manifest declares node `{}`, the component does not", declared.name)),
            Some(n) if n.kind != declared.kind => problems.push(format!(
                "node `{}` is {:?} in the manifest but {:?} in the component",
                n.name, declared.kind, n.kind
            )),
            Some(n) if serde_json::from_str::<serde_json::Value>(&n.config_schema).is_err() => {
                problems.push(format!("node `{}` describes a config schema that is not JSON", n.name))
            }
            Some(_) => {}
        }
    }
    for n in nodes {
        if manifest.node(&n.name).is_none() {
            problems.push(format!("the component has node `{}`, the manifest does not declare it", n.name));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    #[test]
    fn secret_values_are_redacted_as_written_and_as_json() {
        let secrets = ["sk_live_\"quoted\"", "abc"];
        let text = r#"token sk_live_"quoted" in {"v": "sk_live_\"quoted\""}; abc stays"#;
        assert_eq!(super::redact(text, secrets), r#"token *** in {"v": "***"}; abc stays"#);
    }
}
