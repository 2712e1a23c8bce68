//! Write Wirework node types in Rust.
//!
//! A plugin is a WebAssembly component holding one or more node types. With
//! this crate an author implements [`Node`] for each type, with a typed serde
//! configuration and JSON items, and lists them in [`plugin!`]. Host services
//! come as plain modules: [`log`], [`secrets`], [`credentials`], [`kv`],
//! [`clock`] and [`http`]; there are no raw bindings to touch. Helpers for
//! what integrations meet: [`signature`] (webhook signature schemes) and
//! [`form`] (form bodies). [`testing`] runs a node natively against a fake
//! host, for `cargo test`.
//!
//! A complete node, from `examples/greet-plugin` (its `plugin.toml` asks for `kv`):
//!
//! ```no_run
#![doc = include_str!("../../examples/greet-plugin/src/lib.rs")]
//! ```
//!
//! Build it with `wirework plugin build`, which compiles the crate for wasm32,
//! turns it into a component, checks it against `plugin.toml` and signs it.

#![deny(missing_docs)]

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

#[doc(hidden)]
pub mod __private;
mod host;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

#[doc(hidden)]
pub mod bindings {
    #![allow(missing_docs, clippy::too_many_arguments)] // generated code
    wit_bindgen::generate!({
        path: "../wit/0.3.0",
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
    /// The least time before a retry, when the outside system said (a 429's `Retry-After`).
    pub retry_after_ms: Option<u64>,
}

impl NodeError {
    /// An error that retrying will not fix.
    pub fn fatal(message: impl Into<String>) -> Self {
        NodeError { message: message.into(), code: None, retryable: false, retry_after_ms: None }
    }

    /// An error that retrying may fix (a timeout, a 503, ...).
    pub fn retryable(message: impl Into<String>) -> Self {
        NodeError { message: message.into(), code: None, retryable: true, retry_after_ms: None }
    }

    /// Attach a machine-readable code.
    pub fn with_code(mut self, code: &str) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Retry no sooner than `ms` from now (what a 429's `Retry-After` asked).
    pub fn retry_after_ms(mut self, ms: u64) -> Self {
        self.retry_after_ms = Some(ms);
        self
    }

    /// The error for an HTTP response that is not a success: retryable for
    /// 408, 425, 429 and 5xx (with the response's `Retry-After` in seconds,
    /// or as an HTTP date, when it has one), fatal otherwise; the code is
    /// `http_<status>`. `what` says what was asked (`creating the customer`).
    pub fn from_response(what: &str, response: &Response) -> Self {
        let status = response.status;
        let body = String::from_utf8_lossy(&response.body);
        let excerpt: String = body.chars().take(300).collect();
        let message = format!("{what}: HTTP {status}: {excerpt}");
        let error = match status {
            408 | 425 | 429 | 500..=599 => NodeError::retryable(message),
            _ => NodeError::fatal(message),
        };
        let error = error.with_code(&format!("http_{status}"));
        match response.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()) {
            Some(secs) if error.retryable => error.retry_after_ms(secs.saturating_mul(1000)),
            _ => error,
        }
    }
}

/// An incoming HTTP request, for trigger nodes.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The full URL the caller used (scheme, host, path, query): what
    /// Twilio signs. Behind a proxy, the operator's public URL decides it.
    pub url: String,
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

/// An HTTP response: a trigger's answer, or what [`http::RequestBuilder::send`] got back.
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
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TriggerResult {
    /// Items that start an execution; none starts nothing.
    pub items: Vec<Item>,
    /// The answer to send, if the trigger answers itself.
    pub response: Option<Response>,
    /// Events to publish, durable before the answer is sent. Each name must
    /// be one the manifest requests (`capabilities.events`) and the operator
    /// granted, or the host refuses the whole request.
    pub events: Vec<Event>,
}

impl TriggerResult {
    /// Start an execution with `items`.
    pub fn start(items: Vec<Item>) -> Self {
        TriggerResult { items, ..Default::default() }
    }

    /// Start nothing; answer with `response`.
    pub fn respond(response: Response) -> Self {
        TriggerResult { response: Some(response), ..Default::default() }
    }

    /// Also publish `event`.
    pub fn with_event(mut self, event: Event) -> Self {
        self.events.push(event);
        self
    }
}

/// An event a trigger publishes: it ends the waits on exactly its name and
/// starts the workflows whose event trigger listens for the name's part
/// before the first `:` (so `email.opened:ann@example.com` starts those
/// listening for `email.opened`, and resumes a wait on
/// `email.opened:ann@example.com`).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `name` or `name:key`.
    pub name: String,
    /// A JSON object: the resumed step's item, or the started execution's.
    pub payload: Item,
}

impl Event {
    /// An event named `name`, e.g. `contact.created`.
    pub fn new(name: &str, payload: Item) -> Self {
        Event { name: name.into(), payload }
    }

    /// An event named `name:key`, e.g. `email.opened:ann@example.com`, so a
    /// workflow can wait for this one contact's.
    pub fn keyed(name: &str, key: &str, payload: Item) -> Self {
        Event { name: format!("{name}:{key}"), payload }
    }
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
    use crate::host::{self, Level};

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
        crate::host::secret(name).map_err(|e| NodeError::fatal(e).with_code("secret_denied"))
    }
}

/// Typed credentials: the one a workflow bound to this node for a
/// credential type the plugin's manifest declares (`[[credential]]`).
pub mod credentials {
    use crate::NodeError;
    use std::collections::BTreeMap;

    /// A bound credential's fields.
    #[derive(Clone, PartialEq, Eq)]
    pub struct Credential {
        kind: String,
        fields: BTreeMap<String, String>,
    }

    impl std::fmt::Debug for Credential {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            // Field names only: values are secrets.
            f.debug_struct("Credential").field("kind", &self.kind).field("fields", &self.fields.keys()).finish()
        }
    }

    impl Credential {
        /// A field's value, or an error naming the missing field.
        pub fn field(&self, name: &str) -> Result<&str, NodeError> {
            self.fields.get(name).map(String::as_str).ok_or_else(|| {
                NodeError::fatal(format!("the bound `{}` credential has no field `{name}`", self.kind))
                    .with_code("credential_incomplete")
            })
        }

        /// A field's value, if it was given (for optional fields).
        pub fn optional(&self, name: &str) -> Option<&str> {
            self.fields.get(name).map(String::as_str).filter(|v| !v.is_empty())
        }
    }

    /// The credential of type `kind` bound to this node, or an error when
    /// none is (or the type is not granted).
    pub fn get(kind: &str) -> Result<Credential, NodeError> {
        match crate::host::credential(kind) {
            Ok(fields) => Ok(Credential { kind: kind.to_string(), fields: fields.into_iter().collect() }),
            Err(e) if e.starts_with("denied") => Err(NodeError::fatal(e).with_code("credential_denied")),
            Err(e) => Err(NodeError::fatal(e).with_code("credential_missing")),
        }
    }
}

/// Key-value state scoped to this plugin (and the workflow).
pub mod kv {
    use super::*;

    /// Raw bytes under `key`.
    pub fn get(key: &str) -> Option<Vec<u8>> {
        crate::host::kv_get(key)
    }

    /// Store raw bytes under `key`.
    pub fn set(key: &str, value: &[u8]) {
        crate::host::kv_set(key, value)
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
        crate::host::now_unix_ms()
    }
}

/// Outgoing HTTP through the host, allowed only to granted hosts.
pub mod http {
    use super::*;

    /// A request being built; finish it with [`RequestBuilder::send`].
    #[derive(Debug, Clone)]
    pub struct RequestBuilder {
        method: String,
        url: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        timeout_ms: Option<u32>,
        credential: Option<String>,
    }

    /// Start a request with any method.
    pub fn request(method: &str, url: &str) -> RequestBuilder {
        RequestBuilder {
            method: method.to_ascii_uppercase(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout_ms: None,
            credential: None,
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

        /// Set an `application/x-www-form-urlencoded` body from a JSON
        /// object, nested keys the way Stripe reads them ([`crate::form::encode`]).
        pub fn form(self, value: &Value) -> Result<Self, NodeError> {
            let body = crate::form::encode(value)
                .map_err(|e| NodeError::fatal(format!("form body: {e}")).with_code("bad_request"))?;
            Ok(self.header("content-type", "application/x-www-form-urlencoded").body(body))
        }

        /// Give up after this many milliseconds (the host's own limit still applies).
        pub fn timeout_ms(mut self, ms: u32) -> Self {
            self.timeout_ms = Some(ms);
            self
        }

        /// Have the host authenticate the request with the credential bound
        /// to this node for credential type `kind`, as the manifest's
        /// `auth` for it says: the plugin never sees the secret.
        pub fn credential(mut self, kind: &str) -> Self {
            self.credential = Some(kind.into());
            self
        }

        /// Send it. A refused host, a timeout or a network failure is an error
        /// (retryable except for refusals); any HTTP status is a response.
        pub fn send(self) -> Result<Response, NodeError> {
            let request = crate::host::Outgoing {
                method: self.method,
                url: self.url,
                headers: self.headers,
                body: self.body,
                timeout_ms: self.timeout_ms,
                credential: self.credential,
            };
            match crate::host::http_fetch(request) {
                Ok(response) => Ok(response),
                Err(e) if e.starts_with("denied") => Err(NodeError::fatal(e).with_code("http_denied")),
                Err(e) => Err(NodeError::retryable(e).with_code("http_failed")),
            }
        }
    }
}

/// Verifying webhook signatures (Stripe, Twilio, HubSpot, Slack, GitHub) in constant time.
pub mod signature;

/// `application/x-www-form-urlencoded` bodies: Stripe-style nested encoding and ordered decoding.
pub mod form;
