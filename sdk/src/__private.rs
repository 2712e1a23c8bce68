//! Glue used by the [`plugin!`](crate::plugin) macro; not a public API.

use crate::bindings::wirework::plugin::types as wit;
use crate::{Input, Node, NodeError, Outcome, Request};

pub use crate::bindings;
pub use crate::bindings::Guest;
pub use wit::{HttpRequest, Invocation, NodeError as WitNodeError, Outcome as WitOutcome, PluginInfo, TriggerResult};

/// The `node-info` of one node type.
pub fn describe<N: Node>() -> wit::NodeInfo {
    let info = N::info();
    wit::NodeInfo {
        name: N::NAME.into(),
        title: info.title,
        description: info.description,
        kind: if info.trigger { wit::NodeKind::Trigger } else { wit::NodeKind::Action },
        config_schema: info.schema.to_string(),
        ports: info.ports,
    }
}

fn parse_config<N: Node>(config: &str) -> Result<N::Config, WitNodeError> {
    let text = if config.trim().is_empty() { "{}" } else { config };
    serde_json::from_str(text).map_err(|e| {
        to_wit_error(NodeError::fatal(format!("invalid config for node `{}`: {e}", N::NAME)).with_code("bad_config"))
    })
}

/// Parse, run, and convert one invocation of node `N`.
pub fn invoke<N: Node>(inv: Invocation) -> Result<WitOutcome, WitNodeError> {
    let config = parse_config::<N>(&inv.config)?;
    let items = inv
        .items
        .iter()
        .map(|text| serde_json::from_str(text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| to_wit_error(NodeError::fatal(format!("input item is not JSON: {e}"))))?;
    let resume_state = match inv.resume_state {
        Some(text) => Some(
            serde_json::from_str(&text)
                .map_err(|e| to_wit_error(NodeError::fatal(format!("resume state is not JSON: {e}"))))?,
        ),
        None => None,
    };
    let input = Input {
        items,
        resume_state,
        execution_id: inv.execution_id,
        attempt: inv.attempt,
        idempotency_key: inv.idempotency_key,
    };
    match N::run(config, input) {
        Ok(Outcome::Emit(ports)) => Ok(WitOutcome::Emit(
            ports
                .into_iter()
                .map(|(port, items)| wit::PortItems { port, items: items.iter().map(|v| v.to_string()).collect() })
                .collect(),
        )),
        Ok(Outcome::Wait { until_unix_ms, event, state }) => {
            Ok(WitOutcome::Wait(wit::WaitRequest { until_unix_ms, event, state: state.to_string() }))
        }
        Err(e) => Err(to_wit_error(e)),
    }
}

/// Parse, run, and convert one HTTP request for trigger node `N`.
pub fn handle_request<N: Node>(config: &str, req: HttpRequest) -> Result<TriggerResult, WitNodeError> {
    let config = parse_config::<N>(config)?;
    let request = Request {
        method: req.method,
        url: req.url,
        path: req.path,
        query: req.query,
        headers: req.headers,
        body: req.body,
    };
    let result = N::handle_request(config, request).map_err(to_wit_error)?;
    Ok(TriggerResult {
        items: result.items.iter().map(|v| v.to_string()).collect(),
        response: result.response.map(|r| wit::HttpResponse { status: r.status, headers: r.headers, body: r.body }),
        events: result
            .events
            .into_iter()
            .map(|e| wit::Event { name: e.name, payload: e.payload.to_string() })
            .collect(),
    })
}

/// The error for a node name this plugin does not have.
pub fn unknown_node(name: &str) -> WitNodeError {
    to_wit_error(NodeError::fatal(format!("this plugin has no node `{name}`")).with_code("unknown_node"))
}

fn to_wit_error(e: NodeError) -> WitNodeError {
    WitNodeError { message: e.message, code: e.code, retryable: e.retryable, retry_after_ms: e.retry_after_ms }
}

/// Plugins are built with `panic = "abort"`: a panic traps. Log its message
/// first so the host can put it in the node error.
pub fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            crate::host::log(crate::host::Level::Error, &format!("panic: {info}"));
        }))
    });
}
