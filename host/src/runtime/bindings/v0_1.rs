//! `wirework:plugin@0.1.0`, frozen: the adapter that keeps its components
//! running. Its host imports forward to the current implementation, and a
//! call into one of its components converts the current types to 0.1.0's and
//! back. Nothing here decides anything; what 0.2.0 and 0.3.0 added is absent (a
//! 0.1.0 component sends no credential with a request, gives no retry-after
//! and publishes no events).

use super::wirework::plugin::{host as now_host, types as now};
use crate::runtime::host_api::StoreState;
use crate::runtime::{Call, CallResult};
use wasmtime::component::{HasSelf, Linker};
use wasmtime::Store;

mod frozen {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "plugin",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

use frozen::wirework::plugin::{host, types};
pub(crate) use frozen::PluginPre;

/// Link 0.1.0's host interface into `linker`, beside the current one.
pub(crate) fn add_to_linker(linker: &mut Linker<StoreState>) -> anyhow::Result<()> {
    frozen::Plugin::add_to_linker::<_, HasSelf<StoreState>>(linker, |state| state)?;
    Ok(())
}

/// Instantiate a 0.1.0 component and make one call, in the current types.
pub(crate) async fn call(
    pre: &PluginPre<StoreState>,
    store: &mut Store<StoreState>,
    call: Call,
) -> wasmtime::Result<CallResult> {
    let instance = pre.instantiate_async(&mut *store).await?;
    Ok(match call {
        Call::Describe => CallResult::Describe(plugin_info(instance.call_describe(&mut *store).await?)),
        Call::Invoke(inv) => {
            let inv = types::Invocation {
                node: inv.node,
                config: inv.config,
                items: inv.items,
                execution_id: inv.execution_id,
                attempt: inv.attempt,
                idempotency_key: inv.idempotency_key,
                resume_state: inv.resume_state,
            };
            let result = instance.call_invoke(&mut *store, &inv).await?;
            CallResult::Invoke(result.map(outcome).map_err(node_error))
        }
        Call::Request { node, config, req } => {
            // 0.1.0 has no `url`: the rest is the same request.
            let req = types::HttpRequest {
                method: req.method,
                path: req.path,
                query: req.query,
                headers: req.headers,
                body: req.body,
            };
            let result = instance.call_handle_request(&mut *store, &node, &config, &req).await?;
            CallResult::Request(result.map(trigger_result).map_err(node_error))
        }
    })
}

fn plugin_info(info: types::PluginInfo) -> now::PluginInfo {
    now::PluginInfo {
        nodes: info
            .nodes
            .into_iter()
            .map(|n| now::NodeInfo {
                name: n.name,
                title: n.title,
                description: n.description,
                kind: match n.kind {
                    types::NodeKind::Action => now::NodeKind::Action,
                    types::NodeKind::Trigger => now::NodeKind::Trigger,
                },
                config_schema: n.config_schema,
                ports: n.ports,
            })
            .collect(),
    }
}

fn outcome(outcome: types::Outcome) -> now::Outcome {
    match outcome {
        types::Outcome::Emit(ports) => {
            now::Outcome::Emit(ports.into_iter().map(|p| now::PortItems { port: p.port, items: p.items }).collect())
        }
        types::Outcome::Wait(w) => {
            now::Outcome::Wait(now::WaitRequest { until_unix_ms: w.until_unix_ms, event: w.event, state: w.state })
        }
    }
}

fn node_error(e: types::NodeError) -> now::NodeError {
    now::NodeError { message: e.message, code: e.code, retryable: e.retryable, retry_after_ms: None }
}

fn trigger_result(r: types::TriggerResult) -> now::TriggerResult {
    now::TriggerResult {
        items: r.items,
        response: r.response.map(|r| now::HttpResponse { status: r.status, headers: r.headers, body: r.body }),
        events: Vec::new(),
    }
}

impl types::Host for StoreState {}

impl host::Host for StoreState {
    async fn log(&mut self, level: host::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            host::Level::Trace => now_host::Level::Trace,
            host::Level::Debug => now_host::Level::Debug,
            host::Level::Info => now_host::Level::Info,
            host::Level::Warn => now_host::Level::Warn,
            host::Level::Error => now_host::Level::Error,
        };
        now_host::Host::log(self, level, message).await
    }

    async fn secret(&mut self, name: String) -> wasmtime::Result<Result<String, String>> {
        now_host::Host::secret(self, name).await
    }

    async fn kv_get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        now_host::Host::kv_get(self, key).await
    }

    async fn kv_set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<()> {
        now_host::Host::kv_set(self, key, value).await
    }

    async fn now_unix_ms(&mut self) -> wasmtime::Result<u64> {
        now_host::Host::now_unix_ms(self).await
    }

    async fn http_fetch(
        &mut self,
        request: types::OutgoingRequest,
    ) -> wasmtime::Result<Result<types::HttpResponse, String>> {
        let request = now::OutgoingRequest {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: request.body,
            timeout_ms: request.timeout_ms,
            credential: None,
        };
        let response = now_host::Host::http_fetch(self, request).await?;
        Ok(response.map(|r| types::HttpResponse { status: r.status, headers: r.headers, body: r.body }))
    }
}
