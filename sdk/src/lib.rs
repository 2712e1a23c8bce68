//! Write Wirework node types in Rust.
//!
//! A plugin is a WebAssembly component holding one or more node types. With
//! this crate an author implements [`Node`] for each type, with a typed serde
//! configuration and JSON items, and lists them in [`plugin!`]. Host services
//! come as plain modules: [`log`], [`secrets`], [`kv`], [`clock`] and [`http`];
//! there are no raw bindings to touch.
//!
//! A complete node, from `examples/greet-plugin` (its `plugin.toml` asks for `kv`):
//!
//! ```no_run
#![doc = include_str!("../../examples/greet-plugin/src/lib.rs")]
//! ```
//!
//! Build it with `wirework plugin build`, which compiles the crate for wasm32,
//! turns it into a component, checks it against `plugin.toml` and signs it.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

#[doc(hidden)]
pub mod __private;

#[doc(hidden)]
pub mod bindings {
    #![allow(missing_docs, clippy::too_many_arguments)] // generated code
    wit_bindgen::generate!({
        path: "../wit",
        world: "plugin",
        pub_export_macro: true,
        default_bindings_module: "wirework_sdk::__private::bindings",
    });
}

pub use serde_json;

/// An item flowing between nodes: a JSON object.
pub type Item = Value;

/// Describes a node type to the host (`describe()`); the host checks it
/// against the plugin's manifest.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub(crate) title: String,
    pub(crate) description: String,
    pub(crate) trigger: bool,
    pub(crate) schema: Value,
    pub(crate) ports: Vec<String>,
}

impl NodeInfo {
    /// An action node with a single output port, `main`.
    pub fn action(title: &str, description: &str) -> Self {
        NodeInfo {
            title: title.into(),
            description: description.into(),
            trigger: false,
            schema: serde_json::json!({"type": "object"}),
            ports: vec!["main".into()],
        }
    }

    /// A trigger node (it starts executions) with a single output port, `main`.
    pub fn trigger(title: &str, description: &str) -> Self {
        NodeInfo { trigger: true, ..Self::action(title, description) }
    }

    /// The JSON Schema of the node's configuration.
    pub fn schema(mut self, schema: Value) -> Self {
        self.schema = schema;
        self
    }

    /// The node's output ports; an empty list means the configuration names them.
    pub fn ports(mut self, ports: &[&str]) -> Self {
        self.ports = ports.iter().map(|p| p.to_string()).collect();
        self
    }
}

/// What a node receives on each call.
#[derive(Debug, Clone)]
pub struct Input {
    /// The input items (JSON objects). When resuming a wait ended by an event,
    /// the event's payload is the one item; when a timer ended it, none.
    pub items: Vec<Item>,
    /// The `state` of the wait this call resumes, if any.
    pub resume_state: Option<Value>,
    /// The execution this call belongs to.
    pub execution_id: String,
    /// 1 for the first attempt, 2 for the first retry, ...
    pub attempt: u32,
    /// Stable across retries of this step: pass it on to outside systems.
    pub idempotency_key: String,
}

/// What a node asks for next: items on ports, or a durable wait.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Items per output port.
    Emit(Vec<(String, Vec<Item>)>),
    /// Suspend and call the node again at a time or on an event.
    Wait {
        /// Resume at this time (ms since the Unix epoch) at the latest.
        until_unix_ms: Option<u64>,
        /// Resume when this event arrives.
        event: Option<String>,
        /// Handed back as [`Input::resume_state`].
        state: Value,
    },
}

impl Outcome {
    /// Emit `items` on the `main` port.
    pub fn emit(items: Vec<Item>) -> Self {
        Self::emit_to("main", items)
    }

    /// Emit `items` on `port`.
    pub fn emit_to(port: &str, items: Vec<Item>) -> Self {
        Outcome::Emit(vec![(port.to_string(), items)])
    }

    /// Wait until `unix_ms`, then be called again with `state`.
    pub fn wait_until(unix_ms: u64, state: Value) -> Self {
        Outcome::Wait { until_unix_ms: Some(unix_ms), event: None, state }
    }

    /// Wait for `event`, at most until `timeout_unix_ms` if given.
    pub fn wait_for_event(event: &str, timeout_unix_ms: Option<u64>, state: Value) -> Self {
        Outcome::Wait { until_unix_ms: timeout_unix_ms, event: Some(event.into()), state }
    }
}

/// A failure the node reports; the engine retries it only when `retryable`.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeError {
    /// What went wrong, for the execution log.
    pub message: String,
    /// A short machine-readable code, e.g. `bad_config`.
    pub code: Option<String>,
    /// Whether the same call may succeed later.
    pub retryable: bool,
}

impl NodeError {
    /// An error that retrying will not fix.
    pub fn fatal(message: impl Into<String>) -> Self {
        NodeError { message: message.into(), code: None, retryable: false }
    }

    /// An error that retrying may fix (a timeout, a 503, ...).
    pub fn retryable(message: impl Into<String>) -> Self {
        NodeError { message: message.into(), code: None, retryable: true }
    }

    /// Attach a machine-readable code.
    pub fn with_code(mut self, code: &str) -> Self {
        self.code = Some(code.into());
        self
    }
}

/// An incoming HTTP request, for trigger nodes.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path below the trigger's mount point.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Header names are lower case.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.headers, name)
    }
}

/// An HTTP response: a trigger's answer, or what [`http::send`] got back.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header pairs.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, body: &Value) -> Self {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.headers, name)
    }

    /// The body parsed as JSON.
    pub fn body_json<T: DeserializeOwned>(&self) -> Result<T, NodeError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| NodeError::fatal(format!("response body is not the expected JSON: {e}")))
    }
}

fn header_value<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// What a trigger makes of a request.
#[derive(Debug, Clone, Default)]
pub struct TriggerResult {
    /// Items that start an execution; none starts nothing.
    pub items: Vec<Item>,
    /// The answer to send, if the trigger answers itself.
    pub response: Option<Response>,
}

/// A node type. Implement it for a unit struct and list the struct in [`plugin!`].
pub trait Node {
    /// The node's name inside the plugin, e.g. `set`. Must match `plugin.toml`.
    const NAME: &'static str;

    /// The configuration, parsed from the node's JSON config.
    type Config: DeserializeOwned;

    /// Title, description, kind, schema and ports.
    fn info() -> NodeInfo;

    /// Run the node on its input.
    fn run(config: Self::Config, input: Input) -> Result<Outcome, NodeError>;

    /// For trigger nodes: turn an incoming HTTP request into items.
    fn handle_request(config: Self::Config, request: Request) -> Result<TriggerResult, NodeError> {
        let _ = (config, request);
        Err(NodeError::fatal(format!("node `{}` is not an HTTP trigger", Self::NAME)))
    }
}

/// Lists the plugin's node types and exports them to the host.
///
/// ```ignore
/// wirework_sdk::plugin!(Set, If, Switch);
/// ```
#[macro_export]
macro_rules! plugin {
    ($($node:ty),+ $(,)?) => {
        struct __WireworkPlugin;

        impl $crate::__private::Guest for __WireworkPlugin {
            fn describe() -> $crate::__private::PluginInfo {
                $crate::__private::PluginInfo {
                    nodes: ::std::vec![$($crate::__private::describe::<$node>()),+],
                }
            }

            fn invoke(
                inv: $crate::__private::Invocation,
            ) -> ::std::result::Result<$crate::__private::WitOutcome, $crate::__private::WitNodeError> {
                $crate::__private::install_panic_hook();
                $(
                    if inv.node == <$node as $crate::Node>::NAME {
                        return $crate::__private::invoke::<$node>(inv);
                    }
                )+
                ::std::result::Result::Err($crate::__private::unknown_node(&inv.node))
            }

            fn handle_request(
                node: ::std::string::String,
                config: ::std::string::String,
                req: $crate::__private::HttpRequest,
            ) -> ::std::result::Result<$crate::__private::TriggerResult, $crate::__private::WitNodeError> {
                $crate::__private::install_panic_hook();
                $(
                    if node == <$node as $crate::Node>::NAME {
                        return $crate::__private::handle_request::<$node>(&config, req);
                    }
                )+
                ::std::result::Result::Err($crate::__private::unknown_node(&node))
            }
        }

        $crate::__private::bindings::export!(__WireworkPlugin with_types_in $crate::__private::bindings);
    };
}

/// Writing to the execution's log.
pub mod log {
    use crate::bindings::wirework::plugin::host::{self, Level};

    /// Log at debug level.
    pub fn debug(message: &str) {
        host::log(Level::Debug, message)
    }
    /// Log at info level.
    pub fn info(message: &str) {
        host::log(Level::Info, message)
    }
    /// Log at warn level.
    pub fn warn(message: &str) {
        host::log(Level::Warn, message)
    }
    /// Log at error level.
    pub fn error(message: &str) {
        host::log(Level::Error, message)
    }
}

/// Secrets bound to this node by the operator.
pub mod secrets {
    use crate::NodeError;

    /// The secret's value, or an error if it is not granted to this node.
    pub fn get(name: &str) -> Result<String, NodeError> {
        crate::bindings::wirework::plugin::host::secret(name)
            .map_err(|e| NodeError::fatal(e).with_code("secret_denied"))
    }
}

/// Key-value state scoped to this plugin.
pub mod kv {
    use super::*;
    use crate::bindings::wirework::plugin::host;

    /// Raw bytes under `key`.
    pub fn get(key: &str) -> Option<Vec<u8>> {
        host::kv_get(key)
    }

    /// Store raw bytes under `key`.
    pub fn set(key: &str, value: &[u8]) {
        host::kv_set(key, value)
    }

    /// The JSON value under `key`, if there is one that parses as `T`.
    pub fn get_json<T: DeserializeOwned>(key: &str) -> Option<T> {
        get(key).and_then(|bytes| serde_json::from_slice(&bytes).ok())
    }

    /// Store `value` as JSON under `key`.
    pub fn set_json<T: Serialize>(key: &str, value: &T) {
        let bytes = serde_json::to_vec(value).expect("a serialisable value");
        set(key, &bytes)
    }
}

/// The host's clock.
pub mod clock {
    /// Milliseconds since the Unix epoch.
    pub fn now_unix_ms() -> u64 {
        crate::bindings::wirework::plugin::host::now_unix_ms()
    }
}

/// Outgoing HTTP through the host, allowed only to granted hosts.
pub mod http {
    use super::*;
    use crate::bindings::wirework::plugin::host;
    use crate::bindings::wirework::plugin::types::OutgoingRequest;

    /// A request being built; finish it with [`RequestBuilder::send`].
    #[derive(Debug, Clone)]
    pub struct RequestBuilder {
        method: String,
        url: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        timeout_ms: Option<u32>,
    }

    /// Start a request with any method.
    pub fn request(method: &str, url: &str) -> RequestBuilder {
        RequestBuilder {
            method: method.to_ascii_uppercase(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout_ms: None,
        }
    }

    /// Start a GET request.
    pub fn get(url: &str) -> RequestBuilder {
        request("GET", url)
    }

    /// Start a POST request.
    pub fn post(url: &str) -> RequestBuilder {
        request("POST", url)
    }

    impl RequestBuilder {
        /// Add a header.
        pub fn header(mut self, name: &str, value: &str) -> Self {
            self.headers.push((name.into(), value.into()));
            self
        }

        /// Set a raw body.
        pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
            self.body = body.into();
            self
        }

        /// Set a JSON body and its content type.
        pub fn json<T: Serialize>(self, value: &T) -> Self {
            let body = serde_json::to_vec(value).expect("a serialisable value");
            self.header("content-type", "application/json").body(body)
        }

        /// Give up after this many milliseconds (the host's own limit still applies).
        pub fn timeout_ms(mut self, ms: u32) -> Self {
            self.timeout_ms = Some(ms);
            self
        }

        /// Send it. A refused host, a timeout or a network failure is an error
        /// (retryable except for refusals); any HTTP status is a response.
        pub fn send(self) -> Result<Response, NodeError> {
            let request = OutgoingRequest {
                method: self.method,
                url: self.url,
                headers: self.headers,
                body: self.body,
                timeout_ms: self.timeout_ms,
            };
            match host::http_fetch(&request) {
                Ok(r) => Ok(Response { status: r.status, headers: r.headers, body: r.body }),
                Err(e) if e.starts_with("denied") => Err(NodeError::fatal(e).with_code("http_denied")),
                Err(e) => Err(NodeError::retryable(e).with_code("http_failed")),
            }
        }
    }
}
