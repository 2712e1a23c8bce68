//! The host side of the `host` interface: what a plugin can ask of the host,
//! each call checked against the plugin's [`Policy`](super::Policy) and bounded.
//!
//! Also WASI, for components made by other toolchains: linked with no
//! preopened directories, no environment, no arguments and no sockets, and
//! created only when a component first calls it.

use super::bindings::{self, wirework::plugin::host, wirework::plugin::types};
use super::http::PluginHttp;
use super::kv::{KvStore, MAX_KEY_BYTES, MAX_VALUE_BYTES};
use super::{Bound, LogLine};
use base64::Engine as _;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wirework_registry::{CredentialAuth, CredentialType};

/// Most log lines kept per call; later ones are counted, not kept.
const MAX_LOG_LINES: usize = 1000;
/// Longest log message kept, in bytes.
const MAX_LOG_BYTES: usize = 16 * 1024;

/// What all calls of one loaded plugin share.
pub(crate) struct PluginShared {
    pub(crate) name: String,
    pub(crate) policy: Arc<super::Policy>,
    pub(crate) http: PluginHttp,
    /// The credential types its manifest declares.
    pub(crate) credential_types: Vec<CredentialType>,
}

/// A refusal that ends the call: the plugin used something it has no right to
/// and the WIT function has no error to return.
#[derive(Debug)]
pub(crate) struct HostTrap(pub(crate) String);

impl std::fmt::Display for HostTrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HostTrap {}

/// Caps linear memory per call and remembers whether the cap was hit, so a
/// failed allocation is reported as a memory limit rather than a bare trap.
pub(crate) struct MemoryLimiter {
    cap_bytes: usize,
    hit: bool,
}

impl MemoryLimiter {
    pub(crate) fn hit_limit(&self) -> bool {
        self.hit
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.cap_bytes {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// The data of one call's store.
pub(crate) struct StoreState {
    pub(crate) limiter: MemoryLimiter,
    plugin: Arc<PluginShared>,
    kv: Arc<dyn KvStore>,
    kv_scope: String,
    bound: Bound,
    /// Values never to show: the bound secrets and secret credential fields.
    hidden: Vec<String>,
    deadline: Instant,
    logs: Vec<LogLine>,
    dropped_logs: usize,
    denials: Vec<String>,
    wasi: Option<WasiCtx>,
    table: ResourceTable,
}

impl StoreState {
    pub(crate) fn new(
        plugin: Arc<PluginShared>,
        kv: Arc<dyn KvStore>,
        kv_scope: String,
        bound: Bound,
        memory_cap_bytes: usize,
        deadline: Instant,
    ) -> StoreState {
        let hidden = super::secret_values(&plugin.credential_types, &bound);
        StoreState {
            limiter: MemoryLimiter { cap_bytes: memory_cap_bytes, hit: false },
            plugin,
            kv,
            kv_scope,
            bound,
            hidden,
            deadline,
            logs: Vec::new(),
            dropped_logs: 0,
            denials: Vec::new(),
            wasi: None,
            table: ResourceTable::new(),
        }
    }

    /// The message of the last panic the plugin logged (see the SDK's panic hook).
    pub(crate) fn panic_message(&self) -> Option<&str> {
        self.logs.iter().rev().find(|l| l.message.starts_with("panic: ")).map(|l| l.message.as_str())
    }

    /// Logs and capability refusals, for the report.
    pub(crate) fn into_records(mut self) -> (Vec<LogLine>, Vec<String>) {
        if self.dropped_logs > 0 {
            let message = format!("{} more log lines dropped", self.dropped_logs);
            self.logs.push(LogLine { level: "warn".into(), message });
        }
        (self.logs, self.denials)
    }

    fn deny(&mut self, message: String) -> String {
        tracing::info!(plugin = %self.plugin.name, "{message}");
        self.denials.push(message.clone());
        message
    }

    fn require_kv(&mut self) -> wasmtime::Result<()> {
        if self.plugin.policy.kv_allowed() {
            return Ok(());
        }
        let message = self.deny("denied: key-value state is not granted to this plugin".into());
        Err(wasmtime::Error::new(HostTrap(message)))
    }
}

impl StoreState {
    /// The fields of the credential of type `kind` bound to this call, if
    /// the manifest declares the type and the operator granted it. `Err`
    /// (recorded as a denial when it is one) says why not.
    fn bound_credential(&mut self, kind: &str) -> Result<BTreeMap<String, String>, String> {
        if !self.plugin.credential_types.iter().any(|t| t.name == kind) {
            return Err(self.deny(format!("denied: the plugin's manifest declares no credential type `{kind}`")));
        }
        if let Err(message) = self.plugin.policy.check_credential(kind) {
            return Err(self.deny(message));
        }
        match self.bound.credentials.as_ref().and_then(|c| c.get(kind)) {
            Some(fields) => Ok(fields.clone()),
            None => Err(format!("no credential of type `{kind}` is bound to this node")),
        }
    }

    /// Add the credential of type `kind` to `request` as its manifest's
    /// `auth` says. `Err` says why it cannot be.
    fn authenticate(&mut self, request: &mut types::OutgoingRequest, kind: &str) -> Result<(), String> {
        let fields = self.bound_credential(kind)?;
        let auth = self.plugin.credential_types.iter().find(|t| t.name == kind).and_then(|t| t.auth.clone());
        let Some(auth) = auth else {
            return Err(format!(
                "credential type `{kind}` declares no `auth`: the plugin reads its fields with `credential` instead"
            ));
        };
        let field = |name: &str| {
            fields.get(name).cloned().ok_or_else(|| format!("the bound `{kind}` credential has no field `{name}`"))
        };
        let header = |request: &mut types::OutgoingRequest, name: String, value: String| {
            request.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(&name));
            request.headers.push((name, value));
        };
        match auth {
            CredentialAuth::Bearer { token } => {
                header(request, "authorization".into(), format!("Bearer {}", field(&token)?))
            }
            CredentialAuth::Basic { username, password } => {
                let pair = format!("{}:{}", field(&username)?, field(&password)?);
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                header(request, "authorization".into(), format!("Basic {encoded}"))
            }
            CredentialAuth::Header { header: name, header_field, value } => {
                let name = match (name, header_field) {
                    (Some(name), _) => name,
                    (None, Some(from)) => field(&from)?,
                    (None, None) => return Err(format!("credential type `{kind}` names no header")),
                };
                header(request, name, field(&value)?)
            }
            CredentialAuth::Query { param, param_field, value } => {
                let name = match (param, param_field) {
                    (Some(name), _) => name,
                    (None, Some(from)) => field(&from)?,
                    (None, None) => return Err(format!("credential type `{kind}` names no query parameter")),
                };
                let mut url = url::Url::parse(&request.url).map_err(|e| format!("invalid URL: {e}"))?;
                url.query_pairs_mut().append_pair(&name, &field(&value)?);
                request.url = url.into();
            }
        }
        Ok(())
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        // Nothing is inherited or preopened: no files, env, args or sockets.
        let ctx = self.wasi.get_or_insert_with(|| {
            let mut builder = WasiCtx::builder();
            builder.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
            builder.build()
        });
        WasiCtxView { ctx, table: &mut self.table }
    }
}

impl types::Host for StoreState {}

impl host::Host for StoreState {
    async fn log(&mut self, level: host::Level, message: String) -> wasmtime::Result<()> {
        if self.logs.len() >= MAX_LOG_LINES {
            self.dropped_logs += 1;
            return Ok(());
        }
        let mut message = message;
        if message.len() > MAX_LOG_BYTES {
            let mut end = MAX_LOG_BYTES;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push_str(" [truncated]");
        }
        let level = match level {
            host::Level::Trace => "trace",
            host::Level::Debug => "debug",
            host::Level::Info => "info",
            host::Level::Warn => "warn",
            host::Level::Error => "error",
        };
        let message = super::redact(&message, self.hidden.iter().map(String::as_str));
        tracing::debug!(plugin = %self.plugin.name, level, "{message}");
        self.logs.push(LogLine { level: level.into(), message });
        Ok(())
    }

    async fn secret(&mut self, name: String) -> wasmtime::Result<Result<String, String>> {
        let plugin = self.plugin.clone();
        Ok(match plugin.policy.secret_for_call(&name, self.bound.secrets.as_deref()) {
            Ok(value) => Ok(value.to_string()),
            Err(message) => Err(self.deny(message)),
        })
    }

    async fn credential(&mut self, kind: String) -> wasmtime::Result<Result<Vec<(String, String)>, String>> {
        Ok(match self.bound_credential(&kind) {
            Ok(fields) => Ok(fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            Err(message) => Err(message),
        })
    }

    async fn kv_get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        self.require_kv()?;
        self.kv.get(&self.kv_scope, &key).map_err(|e| wasmtime::Error::new(HostTrap(format!("kv-get failed: {e:#}"))))
    }

    async fn kv_set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<()> {
        self.require_kv()?;
        if key.len() > MAX_KEY_BYTES || value.len() > MAX_VALUE_BYTES {
            return Err(wasmtime::Error::new(HostTrap(format!(
                "kv-set refused: keys are at most {MAX_KEY_BYTES} bytes and values at most {MAX_VALUE_BYTES}"
            ))));
        }
        self.kv
            .set(&self.kv_scope, &key, value)
            .map_err(|e| wasmtime::Error::new(HostTrap(format!("kv-set failed: {e:#}"))))
    }

    async fn now_unix_ms(&mut self) -> wasmtime::Result<u64> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Ok(now.as_millis() as u64)
    }

    async fn http_fetch(
        &mut self,
        mut request: types::OutgoingRequest,
    ) -> wasmtime::Result<Result<types::HttpResponse, String>> {
        if let Some(kind) = request.credential.take() {
            if let Err(message) = self.authenticate(&mut request, &kind) {
                return Ok(Err(message));
            }
        }
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Ok(Err("timed out: the call's deadline has passed".into()));
        }
        let plugin = self.plugin.clone();
        let url = request.url.clone();
        let result = plugin.http.fetch(request, remaining.max(Duration::from_millis(1))).await;
        Ok(match result {
            Err(message) if message.starts_with("denied") => Err(self.deny(message)),
            Err(message) => {
                let hidden = self.hidden.iter().map(String::as_str);
                let (url, text) = (super::redact(&url, hidden.clone()), super::redact(&message, hidden));
                tracing::debug!(plugin = %self.plugin.name, %url, "outbound HTTP failed: {text}");
                Err(message)
            }
            Ok(response) => Ok(response),
        })
    }
}

/// Link the `host` interface of every supported contract, and WASI, into `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<StoreState>) -> anyhow::Result<()> {
    bindings::Plugin::add_to_linker::<_, HasSelf<StoreState>>(linker, |state| state)?;
    bindings::v0_1::add_to_linker(linker)?;
    bindings::v0_2::add_to_linker(linker)?;
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    Ok(())
}
