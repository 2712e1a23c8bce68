//! Run a node as plain Rust, with a fake host: for `cargo test` in a plugin
//! crate, no component and no Wirework host needed.
//!
//! A [`FakeHost`] holds what the real host would give the node (secrets,
//! credentials, key-value state, a clock) and a scripted HTTP responder that
//! checks each request the node sends. [`FakeHost::run`] and
//! [`FakeHost::handle`] call a node's `run` or `handle_request` the way the
//! host does (the config as JSON, parsed by the node's `Config` type).
//!
//! ```
//! use wirework_sdk::testing::{FakeHost, Reply};
//! use wirework_sdk::{http, Input, Node, NodeError, NodeInfo, Outcome};
//!
//! struct Ping;
//! impl Node for Ping {
//!     const NAME: &'static str = "ping";
//!     type Config = serde_json::Value;
//!     fn info() -> NodeInfo {
//!         NodeInfo::action("Ping", "GETs a URL")
//!     }
//!     fn run(_: Self::Config, _: Input) -> Result<Outcome, NodeError> {
//!         let response = http::get("https://api.example.com/ping").credential("bearer").send()?;
//!         Ok(Outcome::emit(vec![serde_json::json!({"status": response.status})]))
//!     }
//! }
//!
//! let host = FakeHost::new()
//!     .credential("bearer", &[("token", "t0ken")])
//!     .expect("GET", "https://api.example.com/ping", Reply::json(200, serde_json::json!({})));
//! let outcome = host.run::<Ping>(serde_json::json!({}), vec![]).unwrap();
//! assert_eq!(outcome, Outcome::emit(vec![serde_json::json!({"status": 200})]));
//! let sent = host.requests();
//! assert_eq!(sent[0].header("authorization"), Some("Bearer t0ken"));
//! host.assert_done();
//! ```

use crate::host::{Level, Outgoing};
use crate::{Input, Item, Node, NodeError, Outcome, Request, Response, TriggerResult};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

/// A request the node sent, as the fake host received it (after the host
/// added a credential the request named).
#[derive(Debug, Clone, PartialEq)]
pub struct SentRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The URL, a query credential included.
    pub url: String,
    /// Header pairs, a header credential included.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The timeout the node asked for.
    pub timeout_ms: Option<u32>,
}

impl SentRequest {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("the request body is not JSON: {e}"))
    }

    /// The body as form pairs.
    pub fn form(&self) -> Vec<(String, String)> {
        crate::form::decode(&self.body)
    }
}

/// The fake host's answer to one expected request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A response.
    Response(Response),
    /// A failure of the call itself (a timeout, a refused connection).
    Fail(String),
}

impl Reply {
    /// A JSON response.
    pub fn json(status: u16, body: Value) -> Reply {
        Reply::Response(Response::json(status, &body))
    }

    /// A response with these headers and body.
    pub fn with(status: u16, headers: &[(&str, &str)], body: &str) -> Reply {
        let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Reply::Response(Response { status, headers, body: body.as_bytes().to_vec() })
    }
}

struct Expected {
    method: String,
    url: String,
    reply: Reply,
}

/// How a credential type is sent when a request names it
/// ([`http::RequestBuilder::credential`](crate::http::RequestBuilder::credential)):
/// a `[[credential]]`'s `auth` in `plugin.toml`, which [`FakeHost::new`]
/// reads, as the real host does.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(tag = "scheme", rename_all = "lowercase")]
pub enum Auth {
    /// `Authorization: Bearer <token field>`.
    Bearer {
        /// The field holding the token.
        token: String,
    },
    /// `Authorization: Basic base64(<username field>:<password field>)`.
    Basic {
        /// The field holding the user name.
        username: String,
        /// The field holding the password.
        password: String,
    },
    /// A header named by `header` or by the field `header_field`.
    Header {
        /// The header's name.
        header: Option<String>,
        /// The field holding the header's name.
        header_field: Option<String>,
        /// The field holding the value.
        value: String,
    },
    /// A query parameter named by `param` or by the field `param_field`.
    Query {
        /// The parameter's name.
        param: Option<String>,
        /// The field holding the parameter's name.
        param_field: Option<String>,
        /// The field holding the value.
        value: String,
    },
}

/// What the fake host takes from the crate's `plugin.toml`.
#[derive(Debug, Default, serde::Deserialize)]
struct Manifest {
    #[serde(default, rename = "credential")]
    credentials: Vec<CredentialType>,
    #[serde(default)]
    capabilities: Capabilities,
}

#[derive(Debug, Default, serde::Deserialize)]
struct Capabilities {
    #[serde(default)]
    events: Vec<String>,
}

#[derive(Debug, serde::Deserialize)]
struct CredentialType {
    name: String,
    auth: Option<Auth>,
}

/// The `plugin.toml` beside the crate under test (`cargo test` runs in the
/// crate's folder); `None` without one.
fn read_manifest() -> Option<Manifest> {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from).unwrap_or_default();
    let text = std::fs::read_to_string(dir.join("plugin.toml")).ok()?;
    Some(toml::from_str(&text).unwrap_or_else(|e| panic!("plugin.toml does not parse: {e}")))
}

/// Whether a `capabilities.events` entry (a name, or a prefix ending in
/// `.*`) covers event `name` (its `:key` ignored), as the host decides.
fn event_allowed(pattern: &str, name: &str) -> bool {
    let base = name.split_once(':').map_or(name, |(base, _)| base);
    match pattern.strip_suffix(".*") {
        Some(prefix) => base.strip_prefix(prefix).is_some_and(|rest| rest.len() > 1 && rest.starts_with('.')),
        None => base == pattern,
    }
}

#[derive(Default)]
struct State {
    secrets: BTreeMap<String, String>,
    credentials: BTreeMap<String, BTreeMap<String, String>>,
    /// The credential types `plugin.toml` declares, with their `auth`
    /// (`None`: no plugin.toml found; any type goes, sent as a bearer `token`).
    declared: Option<BTreeMap<String, Option<Auth>>>,
    /// `capabilities.events` of plugin.toml (`None`: no plugin.toml; any event goes).
    events: Option<Vec<String>>,
    kv: BTreeMap<String, Vec<u8>>,
    now_ms: u64,
    expected: VecDeque<Expected>,
    sent: Vec<SentRequest>,
    logs: Vec<(String, String)>,
}

/// A fake host for one test (see the module docs). Cheap to clone: clones
/// share their state.
#[derive(Clone)]
pub struct FakeHost {
    state: Rc<RefCell<State>>,
}

impl Default for FakeHost {
    fn default() -> Self {
        FakeHost::new()
    }
}

thread_local! {
    static CURRENT: RefCell<Option<FakeHost>> = const { RefCell::new(None) };
}

/// Call `f` on the fake host the running test installed.
pub(crate) fn with_host<T>(f: impl FnOnce(&FakeHost) -> T) -> T {
    let host = CURRENT.with(|c| c.borrow().clone());
    match host {
        Some(host) => f(&host),
        None => panic!(
            "wirework_sdk: host services exist inside the Wirework host, or in a test through \
             wirework_sdk::testing::FakeHost::run / handle"
        ),
    }
}

impl FakeHost {
    /// A host with nothing bound, an empty key-value store, the clock at
    /// 2026-01-01T00:00:00Z, and the credential types (and how each is sent)
    /// of the crate's `plugin.toml`, as the real host has them.
    pub fn new() -> FakeHost {
        let manifest = read_manifest();
        let events = manifest.as_ref().map(|m| m.capabilities.events.clone());
        let declared = manifest.map(|m| m.credentials.into_iter().map(|c| (c.name, c.auth)).collect());
        let state = State { now_ms: 1_767_225_600_000, declared, events, ..Default::default() };
        FakeHost { state: Rc::new(RefCell::new(state)) }
    }

    /// Bind secret `name`.
    pub fn secret(self, name: &str, value: &str) -> Self {
        self.state.borrow_mut().secrets.insert(name.into(), value.into());
        self
    }

    /// Bind a credential of type `kind` with these fields.
    pub fn credential(self, kind: &str, fields: &[(&str, &str)]) -> Self {
        let fields = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.state.borrow_mut().credentials.insert(kind.into(), fields);
        self
    }

    /// Declare credential type `kind` and how it is sent, over what
    /// `plugin.toml` says (for a test without one).
    pub fn auth(self, kind: &str, auth: Auth) -> Self {
        self.state.borrow_mut().declared.get_or_insert_with(BTreeMap::new).insert(kind.into(), Some(auth));
        self
    }

    /// Set the clock.
    pub fn now_ms(self, now_ms: u64) -> Self {
        self.state.borrow_mut().now_ms = now_ms;
        self
    }

    /// Put a value in the key-value store.
    pub fn kv(self, key: &str, value: &[u8]) -> Self {
        self.state.borrow_mut().kv.insert(key.into(), value.to_vec());
        self
    }

    /// Expect a request (next in order) with this method and URL, and answer it.
    pub fn expect(self, method: &str, url: &str, reply: Reply) -> Self {
        let expected = Expected { method: method.to_ascii_uppercase(), url: url.into(), reply };
        self.state.borrow_mut().expected.push_back(expected);
        self
    }

    /// Run node `N` on `items` with `config`, as the host would.
    pub fn run<N: Node>(&self, config: Value, items: Vec<Item>) -> Result<Outcome, NodeError> {
        self.run_input::<N>(config, Input { items, ..test_input() })
    }

    /// Run node `N` on a whole [`Input`] (resume state, attempt, ...).
    pub fn run_input<N: Node>(&self, config: Value, input: Input) -> Result<Outcome, NodeError> {
        let config = parse_config::<N>(config)?;
        self.installed(|| N::run(config, input))
    }

    /// Let trigger node `N` handle `request`. Panics, as the real host
    /// refuses the request, when the result publishes an event that the
    /// crate's `plugin.toml` does not request in `capabilities.events`.
    pub fn handle<N: Node>(&self, config: Value, request: Request) -> Result<TriggerResult, NodeError> {
        let config = parse_config::<N>(config)?;
        let result = self.installed(|| N::handle_request(config, request))?;
        if let Some(allowed) = &self.state.borrow().events {
            for event in &result.events {
                assert!(
                    allowed.iter().any(|pattern| event_allowed(pattern, &event.name)),
                    "the trigger published event `{}`, which plugin.toml's capabilities.events ({allowed:?}) does \
                     not request: the host would refuse the request",
                    event.name
                );
            }
        }
        Ok(result)
    }

    /// The requests the node sent, in order.
    pub fn requests(&self) -> Vec<SentRequest> {
        self.state.borrow().sent.clone()
    }

    /// The lines the node logged: (level, message).
    pub fn logs(&self) -> Vec<(String, String)> {
        self.state.borrow().logs.clone()
    }

    /// The key-value store's value under `key`.
    pub fn kv_value(&self, key: &str) -> Option<Vec<u8>> {
        self.state.borrow().kv.get(key).cloned()
    }

    /// Panic if an expected request was not sent.
    pub fn assert_done(&self) {
        let state = self.state.borrow();
        if let Some(next) = state.expected.front() {
            panic!(
                "the node did not send the expected {} {} (and {} more)",
                next.method,
                next.url,
                state.expected.len() - 1
            );
        }
    }

    fn installed<T>(&self, f: impl FnOnce() -> T) -> T {
        let previous = CURRENT.with(|c| c.borrow_mut().replace(self.clone()));
        // Put the previous host back even if `f` panics (a failed assertion).
        struct Restore(Option<FakeHost>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let previous = self.0.take();
                CURRENT.with(|c| *c.borrow_mut() = previous);
            }
        }
        let _restore = Restore(previous);
        f()
    }

    pub(crate) fn log(&self, level: Level, message: &str) {
        let level = format!("{level:?}").to_lowercase();
        self.state.borrow_mut().logs.push((level, message.to_string()));
    }

    pub(crate) fn read_secret(&self, name: &str) -> Result<String, String> {
        let state = self.state.borrow();
        state.secrets.get(name).cloned().ok_or_else(|| format!("denied: secret `{name}` is not bound to this node"))
    }

    pub(crate) fn read_credential(&self, kind: &str) -> Result<Vec<(String, String)>, String> {
        let state = self.state.borrow();
        if state.declared.as_ref().is_some_and(|d| !d.contains_key(kind)) {
            return Err(format!("denied: the plugin's manifest declares no credential type `{kind}`"));
        }
        let fields = state.credentials.get(kind);
        let fields = fields.ok_or_else(|| format!("no credential of type `{kind}` is bound to this node"))?;
        Ok(fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    pub(crate) fn kv_get(&self, key: &str) -> Option<Vec<u8>> {
        self.state.borrow().kv.get(key).cloned()
    }

    pub(crate) fn kv_set(&self, key: &str, value: &[u8]) {
        self.state.borrow_mut().kv.insert(key.into(), value.to_vec());
    }

    pub(crate) fn now_unix_ms(&self) -> u64 {
        self.state.borrow().now_ms
    }

    pub(crate) fn http_fetch(&self, request: Outgoing) -> Result<Response, String> {
        let mut sent = SentRequest {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: request.body,
            timeout_ms: request.timeout_ms,
        };
        if let Some(kind) = request.credential {
            self.authenticate(&mut sent, &kind)?;
        }
        let mut state = self.state.borrow_mut();
        state.sent.push(sent.clone());
        let Some(expected) = state.expected.pop_front() else {
            panic!("the node sent {} {}, which the test did not expect", sent.method, sent.url);
        };
        if expected.method != sent.method || expected.url != sent.url {
            panic!(
                "the node sent {} {}, the test expected {} {}",
                sent.method, sent.url, expected.method, expected.url
            );
        }
        match expected.reply {
            Reply::Response(response) => Ok(response),
            Reply::Fail(message) => Err(message),
        }
    }

    fn authenticate(&self, sent: &mut SentRequest, kind: &str) -> Result<(), String> {
        let fields: BTreeMap<String, String> = self.read_credential(kind)?.into_iter().collect();
        let field = |name: &str| {
            fields.get(name).cloned().ok_or_else(|| format!("the `{kind}` credential has no field `{name}`"))
        };
        let auth = match &self.state.borrow().declared {
            Some(declared) => declared.get(kind).cloned().flatten().ok_or_else(|| {
                format!("credential type `{kind}` declares no `auth`: the plugin reads its fields with `credential` instead")
            })?,
            None => Auth::Bearer { token: "token".into() },
        };
        let named = |name: Option<String>, from: Option<String>| match (name, from) {
            (Some(name), _) => Ok(name),
            (None, Some(from)) => field(&from),
            (None, None) => Err(format!("credential type `{kind}` names no header or parameter")),
        };
        match auth {
            Auth::Bearer { token } => sent.headers.push(("authorization".into(), format!("Bearer {}", field(&token)?))),
            Auth::Basic { username, password } => {
                use base64::Engine as _;
                let pair = format!("{}:{}", field(&username)?, field(&password)?);
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                sent.headers.push(("authorization".into(), format!("Basic {encoded}")));
            }
            Auth::Header { header, header_field, value } => {
                let name = named(header, header_field)?;
                sent.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(&name));
                sent.headers.push((name, field(&value)?));
            }
            Auth::Query { param, param_field, value } => {
                let name = named(param, param_field)?;
                let separator = if sent.url.contains('?') { '&' } else { '?' };
                let pair = crate::form::encode_pairs(&[(name.as_str(), field(&value)?.as_str())]);
                sent.url = format!("{}{separator}{pair}", sent.url);
            }
        }
        Ok(())
    }
}

fn parse_config<N: Node>(config: Value) -> Result<N::Config, NodeError> {
    serde_json::from_value(config)
        .map_err(|e| NodeError::fatal(format!("invalid config for node `{}`: {e}", N::NAME)).with_code("bad_config"))
}

fn test_input() -> Input {
    Input {
        items: Vec::new(),
        resume_state: None,
        execution_id: "test-execution".into(),
        attempt: 1,
        idempotency_key: "test-execution:1".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::event_allowed;

    #[test]
    fn event_patterns_match_as_the_host_does() {
        assert!(event_allowed("email.*", "email.opened:ann@example.com"));
        assert!(event_allowed("contact.unsubscribed", "contact.unsubscribed:+15550001111"));
        assert!(!event_allowed("email.*", "email"));
        assert!(!event_allowed("email.*", "emails.opened"));
        assert!(!event_allowed("contact.unsubscribed", "contact.unsubscribed2"));
    }
}
