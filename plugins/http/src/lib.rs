//! `wirework/http`: the `request` node, an HTTP call per input item.
//!
//! The output item is `{"status": 200, "headers": {...}, "body": ...}` where the
//! body is parsed JSON when the response says it is JSON, else text. The call
//! goes through the host, which lets it reach only the hosts the operator granted.
//!
//! Authentication comes from a stored credential the workflow binds to the
//! node, of one of the types the manifest declares (`bearer`, `basic`,
//! `header`, `query`), named by `auth`: the host adds it to the request, and
//! the node never sees the secret.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use wirework_sdk::{http, Input, Item, Node, NodeError, NodeInfo, Outcome};

/// Configuration of `request`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestConfig {
    /// Default GET.
    #[serde(default = "default_method")]
    pub method: String,
    /// Absolute http(s) URL.
    pub url: String,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Query parameters, appended to the URL.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// A JSON body.
    pub json: Option<Value>,
    /// A raw text body (ignored when `json` is set).
    pub body: Option<String>,
    /// Send each input item as the JSON body (when neither `json` nor `body` is set).
    #[serde(default)]
    pub send_item: bool,
    /// Give up after this long.
    pub timeout_ms: Option<u32>,
    /// Treat 4xx and 5xx answers as errors (5xx and 429 retryable). Default true.
    #[serde(default = "yes")]
    pub fail_on_status: bool,
    /// Authenticate with the credential bound to the node for this type:
    /// `bearer`, `basic`, `header` or `query`.
    pub auth: Option<Auth>,
}

/// The credential types the node sends (declared in plugin.toml).
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// `Authorization: Basic ...`.
    Basic,
    /// A header, named by the credential.
    Header,
    /// A query parameter, named by the credential.
    Query,
}

impl Auth {
    fn credential_type(self) -> &'static str {
        match self {
            Auth::Bearer => "bearer",
            Auth::Basic => "basic",
            Auth::Header => "header",
            Auth::Query => "query",
        }
    }
}

fn default_method() -> String {
    "GET".into()
}

fn yes() -> bool {
    true
}

/// One HTTP request per input item (one in all when there are no items).
pub struct Request;

impl Node for Request {
    const NAME: &'static str = "request";
    type Config = RequestConfig;

    fn info() -> NodeInfo {
        NodeInfo::action("HTTP request", "Calls a URL and returns the response as an item").schema(json!({
            "type": "object",
            "required": ["url"],
            "properties": {
                "method": {"type": "string"},
                "url": {"type": "string"},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                "query": {"type": "object", "additionalProperties": {"type": "string"}},
                "json": {},
                "body": {"type": "string"},
                "send_item": {"type": "boolean"},
                "timeout_ms": {"type": "integer", "minimum": 1},
                "fail_on_status": {"type": "boolean"},
                "auth": {
                    "enum": ["bearer", "basic", "header", "query"],
                    "description": "Authenticate with the credential of this type bound to the node"
                }
            },
            "additionalProperties": false
        }))
    }

    fn run(config: RequestConfig, input: Input) -> Result<Outcome, NodeError> {
        let items = if input.items.is_empty() { vec![json!({})] } else { input.items };
        let url = with_query(&config.url, &config.query);
        let mut out = Vec::with_capacity(items.len());
        let several = items.len() > 1;
        for (index, item) in items.iter().enumerate() {
            out.push(call(&config, &url, item, &item_key(&input.idempotency_key, index, several))?);
        }
        Ok(Outcome::emit(out))
    }
}

/// The idempotency key of item `index`'s request: the step's key when the
/// call has one item, else the step's key and `-{index}`, so that a provider
/// that deduplicates by key takes every item's request once (the same key
/// for all would have it drop all but the first), and a retry of the step
/// sends each item's request with the key it had.
fn item_key(step_key: &str, index: usize, several: bool) -> String {
    if several && !step_key.is_empty() {
        format!("{step_key}-{index}")
    } else {
        step_key.to_string()
    }
}

fn with_query(url: &str, query: &BTreeMap<String, String>) -> String {
    if query.is_empty() {
        return url.to_string();
    }
    let encoded = form_urlencoded::Serializer::new(String::new()).extend_pairs(query).finish();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{encoded}")
}

fn call(config: &RequestConfig, url: &str, item: &Item, idempotency_key: &str) -> Result<Item, NodeError> {
    let mut request = http::request(&config.method, url);
    let mut has_idempotency_header = false;
    for (name, value) in &config.headers {
        has_idempotency_header |= name.eq_ignore_ascii_case("idempotency-key");
        request = request.header(name, value);
    }
    if !has_idempotency_header && !idempotency_key.is_empty() && config.method != "GET" {
        request = request.header("idempotency-key", idempotency_key);
    }
    if let Some(json) = &config.json {
        request = request.json(json);
    } else if let Some(body) = &config.body {
        request = request.body(body.as_bytes());
    } else if config.send_item {
        request = request.json(item);
    }
    if let Some(ms) = config.timeout_ms {
        request = request.timeout_ms(ms);
    }
    if let Some(auth) = config.auth {
        request = request.credential(auth.credential_type());
    }
    let response = request.send()?;
    if config.fail_on_status && response.status >= 400 {
        let mut error = NodeError::from_response(&format!("{} {}", config.method, config.url), &response);
        if response.status < 500 && response.status != 429 {
            error.retryable = false;
        }
        return Err(error.with_code("http_status"));
    }
    let is_json = response.header("content-type").is_some_and(|t| t.contains("json"));
    let body = match is_json {
        true => serde_json::from_slice(&response.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&response.body).into_owned())),
        false => Value::String(String::from_utf8_lossy(&response.body).into_owned()),
    };
    let headers: Map<String, Value> =
        response.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v.clone()))).collect();
    Ok(json!({"status": response.status, "headers": headers, "body": body}))
}

wirework_sdk::plugin!(Request);
