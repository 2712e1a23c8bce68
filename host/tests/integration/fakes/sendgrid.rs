//! A loopback fake of SendGrid's v3 API (the parts `plugins/email` calls)
//! and of its signed Event Webhook.
//!
//! - `POST /v3/mail/send`: `Authorization: Bearer <API_KEY>` (else 401),
//!   `Content-Type: application/json` (else 415), the body checked as
//!   SendGrid checks it (personalizations with `to` addresses, `from.email`,
//!   `template_id` or `subject` and `content`, at most 10 categories, string
//!   custom args; every problem at once, 400 `{"errors": [{message, field,
//!   help}]}`); `202` with an empty body and `X-Message-Id` on success, the
//!   message kept ([`Fake::sent`]). `mail_settings.sandbox_mode.enable`
//!   answers 200 and keeps nothing, as SendGrid's sandbox does.
//! - `GET /v3/suppression/bounces?start_time&end_time&limit&offset`: the
//!   seeded bounces ([`Fake::seed_bounces`]), filtered and paged.
//! - Any other path: 404, a known path with another method: 405, both in
//!   SendGrid's `{"errors": [...]}` shape.
//!
//! Every request is recorded ([`Fake::requests`]), the refused ones too.
//! [`Fake::fail_next`] makes the next authenticated requests fail (a 429
//! with `Retry-After`, a 500); [`Fake::rate_limit_next`] answers 429 with
//! only `X-RateLimit-Reset`, as SendGrid does.
//!
//! The Event Webhook: [`Fake::webhook`] is the account's signing key
//! ([`WebhookKey`]); its public key is what the `sendgrid-webhook` credential
//! holds ([`Fake::webhook_credential`]). [`Sent::event`] builds the events
//! SendGrid would post for a sent message (its custom args at the top level,
//! `sg_message_id` = `<X-Message-Id>.filterdrecv-...`), and
//! [`WebhookKey::deliver`] signs a batch of them as SendGrid does.

#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::EncodePublicKey as _;
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The fake account's API key: the only one [`start`]ed fakes take.
pub const API_KEY: &str = "SG.fake-test-key.c2VuZGdyaWQtZmFrZS1hcGkta2V5LTAxMjM0NTY3ODk";
/// The Event Webhook's headers.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Email-Event-Webhook-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Twilio-Email-Event-Webhook-Timestamp";
/// SendGrid's answer to a missing or wrong API key.
pub const UNAUTHORIZED_MESSAGE: &str = "The provided authorization grant is invalid, expired, or revoked";
/// Where SendGrid's mail-send errors point (`help`), before `#message.<field>`.
const HELP: &str = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html";

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// The raw query string (empty when none).
    pub query: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When it arrived, for the spacing of retries.
    pub at: Instant,
    /// The same in Unix milliseconds.
    pub at_ms: u64,
}

impl Recorded {
    /// A header's value (the name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// One query parameter, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }

    /// The body as JSON (`Null` if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// A message SendGrid accepted.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The `X-Message-Id` it was answered with.
    pub message_id: String,
    /// The request body, as sent.
    pub body: Value,
    /// Every `to` address of every personalization, as sent.
    pub to: Vec<String>,
    /// The first personalization's `dynamic_template_data` (`Null` without).
    pub dynamic_template_data: Value,
    /// The custom args SendGrid puts on this message's events: the message's,
    /// then the first personalization's over them.
    pub custom_args: Map<String, Value>,
    /// `categories`, as sent.
    pub categories: Vec<String>,
}

impl Sent {
    /// An Event Webhook event of kind `kind` (`processed`, `delivered`,
    /// `open`, `click`, `bounce`, `dropped`, `deferred`, `spamreport`,
    /// `unsubscribe`, ...) for this message's first recipient, as SendGrid
    /// posts it: its custom args at the top level, `category` (a string for
    /// one, a list for several), a fresh `sg_event_id`, and `sg_message_id`
    /// the `X-Message-Id` followed by SendGrid's `.filterdrecv-...` suffix.
    /// Change fields on the result for other cases (`url`, `reason`, ...).
    pub fn event(&self, kind: &str) -> Value {
        let email = self.to.first().cloned().unwrap_or_default();
        let mut event = event(&email, kind, &self.message_id);
        let object = event.as_object_mut().unwrap();
        for (name, value) in &self.custom_args {
            object.insert(name.clone(), value.clone());
        }
        match self.categories.as_slice() {
            [] => {}
            [one] => {
                object.insert("category".into(), json!(one));
            }
            many => {
                object.insert("category".into(), json!(many));
            }
        }
        event
    }
}

/// An Event Webhook event of kind `kind` for `email` and the message
/// `message_id` (no custom args, no category; see [`Sent::event`]).
pub fn event(email: &str, kind: &str, message_id: &str) -> Value {
    let mut event = json!({
        "email": email,
        "timestamp": now_ms() / 1000,
        "smtp-id": format!("<{message_id}@geopod-ismtpd-3-0>"),
        "event": kind,
        "sg_event_id": random_id(),
        "sg_message_id": format!("{message_id}.filterdrecv-5645d9c87f-vfvcr-1-64B9B1A6-8A.0"),
    });
    let extra = match kind {
        "processed" => json!({"pool": {"name": "transactional", "id": 210}}),
        "delivered" => json!({"response": "250 2.0.0 OK  1767225504 ", "ip": "149.72.154.232", "tls": 1}),
        "deferred" => json!({"response": "421 4.7.0 Try again later", "attempt": "1"}),
        "open" => {
            json!({"useragent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "ip": "203.0.113.7", "sg_machine_open": false})
        }
        "click" => json!({
            "useragent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "ip": "203.0.113.7",
            "url": "https://shop.example/welcome", "url_offset": {"index": 0, "type": "html"}
        }),
        "bounce" => json!({
            "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
            "status": "5.1.1", "type": "bounce", "bounce_classification": "Invalid Address",
            "ip": "149.72.154.232", "tls": 1
        }),
        "dropped" => json!({"reason": "Bounced Address", "status": "5.0.0"}),
        "group_unsubscribe" | "group_resubscribe" => json!({"asm_group_id": 10}),
        _ => json!({}),
    };
    for (name, value) in extra.as_object().unwrap() {
        event[name] = value.clone();
    }
    event
}

/// A bounce record as `GET /v3/suppression/bounces` lists it.
pub fn bounce(email: &str, created: u64) -> Value {
    json!({
        "created": created,
        "email": email,
        "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
        "status": "5.1.1",
    })
}

/// An Event Webhook signing key: the account's private key, and its public
/// key as SendGrid shows it (base64 of the DER SubjectPublicKeyInfo).
#[derive(Clone)]
pub struct WebhookKey {
    key: p256::ecdsa::SigningKey,
}

impl Default for WebhookKey {
    fn default() -> Self {
        Self::new()
    }
}

impl WebhookKey {
    /// A fresh random key (another account's, for forged requests).
    pub fn new() -> WebhookKey {
        WebhookKey { key: p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng) }
    }

    /// The verification key SendGrid shows: base64 of the DER SubjectPublicKeyInfo.
    pub fn public_key(&self) -> String {
        let der = self.key.verifying_key().to_public_key_der().expect("a P-256 key encodes");
        base64::engine::general_purpose::STANDARD.encode(der.as_bytes())
    }

    /// The same in PEM armour, as some dashboards copy it.
    pub fn public_key_pem(&self) -> String {
        use p256::pkcs8::LineEnding;
        self.key.verifying_key().to_public_key_pem(LineEnding::LF).expect("a P-256 key encodes")
    }

    /// SendGrid's signature header: base64 of the DER ECDSA P-256 signature,
    /// over SHA-256, of `timestamp` followed by the raw body.
    pub fn sign(&self, timestamp: &str, body: &[u8]) -> String {
        let signature: p256::ecdsa::Signature = self.key.sign(&[timestamp.as_bytes(), body].concat());
        base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
    }

    /// A delivery of `events`, signed now.
    pub fn deliver(&self, events: &[Value]) -> Delivery {
        self.deliver_at(events, now_ms() / 1000)
    }

    /// A delivery of `events` signed with `timestamp` (Unix seconds): the
    /// body is the JSON array followed by `\r\n`, as SendGrid sends it.
    pub fn deliver_at(&self, events: &[Value], timestamp: u64) -> Delivery {
        let mut body = serde_json::to_vec(events).unwrap();
        body.extend_from_slice(b"\r\n");
        let timestamp = timestamp.to_string();
        Delivery { signature: self.sign(&timestamp, &body), timestamp, body }
    }
}

/// One Event Webhook POST, signed. Change a field after signing to forge it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub body: Vec<u8>,
    /// `X-Twilio-Email-Event-Webhook-Timestamp`.
    pub timestamp: String,
    /// `X-Twilio-Email-Event-Webhook-Signature`.
    pub signature: String,
}

impl Delivery {
    /// The POST SendGrid makes to `url`, headers and all.
    pub fn post(&self, client: &reqwest::Client, url: &str) -> reqwest::RequestBuilder {
        client
            .post(url)
            .header("content-type", "application/json")
            .header("user-agent", "SendGrid Event API")
            .header(SIGNATURE_HEADER, &self.signature)
            .header(TIMESTAMP_HEADER, &self.timestamp)
            .body(self.body.clone())
    }

    /// The same without one header (`SIGNATURE_HEADER` or `TIMESTAMP_HEADER`).
    pub fn post_without(&self, client: &reqwest::Client, url: &str, header: &str) -> reqwest::RequestBuilder {
        let mut request = client
            .post(url)
            .header("content-type", "application/json")
            .header("user-agent", "SendGrid Event API")
            .body(self.body.clone());
        if !header.eq_ignore_ascii_case(SIGNATURE_HEADER) {
            request = request.header(SIGNATURE_HEADER, &self.signature);
        }
        if !header.eq_ignore_ascii_case(TIMESTAMP_HEADER) {
            request = request.header(TIMESTAMP_HEADER, &self.timestamp);
        }
        request
    }
}

/// How the next authenticated requests fail.
struct Failure {
    status: u16,
    times: usize,
    retry_after: Option<u64>,
    /// Unix seconds for `X-RateLimit-Reset` (429).
    reset: Option<u64>,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    sent: Vec<Sent>,
    bounces: Vec<Value>,
    failure: Option<Failure>,
}

/// A running fake SendGrid (stops with the test's runtime).
#[derive(Clone)]
pub struct Fake {
    addr: std::net::SocketAddr,
    state: Arc<Mutex<Inner>>,
    webhook: WebhookKey,
}

/// Start a fake on a loopback port; it takes [`API_KEY`].
pub async fn start() -> Fake {
    let state = Arc::new(Mutex::new(Inner::default()));
    let router = axum::Router::new().fallback(handle).with_state(state.clone());
    let addr = crate::common::serve(router).await;
    Fake { addr, state, webhook: WebhookKey::new() }
}

impl Fake {
    /// `http://127.0.0.1:<port>`: the credential's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The body of `PUT /api/v1/credentials/{name}` for a `sendgrid`
    /// credential pointing at this fake.
    pub fn credential(&self) -> Value {
        self.credential_with_key(API_KEY)
    }

    /// The same with another API key (a wrong one, say).
    pub fn credential_with_key(&self, api_key: &str) -> Value {
        json!({"type": "wirework/email:sendgrid", "fields": {"api_key": api_key, "base_url": self.base_url()}})
    }

    /// The account's Event Webhook signing key.
    pub fn webhook(&self) -> &WebhookKey {
        &self.webhook
    }

    /// The body of `PUT /api/v1/credentials/{name}` for a `sendgrid-webhook`
    /// credential holding this account's verification key.
    pub fn webhook_credential(&self) -> Value {
        json!({"type": "wirework/email:sendgrid-webhook", "fields": {"public_key": self.webhook.public_key()}})
    }

    /// Every request received, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Every message accepted, oldest first.
    pub fn sent(&self) -> Vec<Sent> {
        self.state.lock().unwrap().sent.clone()
    }

    /// The accepted message with this `X-Message-Id`.
    pub fn sent_message(&self, message_id: &str) -> Option<Sent> {
        self.sent().into_iter().find(|s| s.message_id == message_id)
    }

    /// Add bounces (see [`bounce`]) to the account, listed in this order.
    pub fn seed_bounces(&self, bounces: impl IntoIterator<Item = Value>) {
        self.state.lock().unwrap().bounces.extend(bounces);
    }

    /// Fail the next `times` authenticated requests with `status` (429,
    /// 500, ...) and SendGrid's error body; `retry_after` (seconds) adds
    /// `Retry-After`. A 429 also carries SendGrid's `X-RateLimit-*`
    /// headers, the reset a second from now.
    pub fn fail_next(&self, status: u16, times: usize, retry_after: Option<u64>) {
        let reset = (status == 429).then(|| now_ms() / 1000 + 1);
        self.state.lock().unwrap().failure = Some(Failure { status, times, retry_after, reset });
    }

    /// Answer the next `times` authenticated requests 429 with no
    /// `Retry-After`, only `X-RateLimit-Reset: reset` (Unix seconds), as
    /// SendGrid's rate limiter does.
    pub fn rate_limit_next(&self, times: usize, reset: u64) {
        self.state.lock().unwrap().failure =
            Some(Failure { status: 429, times, retry_after: None, reset: Some(reset) });
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// 22 characters of URL-safe base64, like SendGrid's message and event ids.
fn random_id() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

/// SendGrid's error body.
fn errors(status: u16, errors: Vec<Value>) -> Response {
    let status = StatusCode::from_u16(status).unwrap();
    (status, [("content-type", "application/json")], json!({"errors": errors}).to_string()).into_response()
}

/// An error without a field (`"field": null, "help": null`).
fn plain_error(status: u16, message: &str) -> Response {
    errors(status, vec![json!({"field": null, "message": message, "help": null})])
}

async fn handle(
    State(state): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let recorded = Recorded {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or_default().to_string(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body: body.to_vec(),
        at: Instant::now(),
        at_ms: now_ms(),
    };
    let mut state = state.lock().unwrap();
    state.requests.push(recorded.clone());

    let route = match recorded.path.trim_end_matches('/') {
        "/v3/mail/send" => Method::POST,
        "/v3/suppression/bounces" => Method::GET,
        _ => return plain_error(404, "resource not found"),
    };
    let authorized = recorded.header("authorization").and_then(|a| a.strip_prefix("Bearer ")) == Some(API_KEY);
    if !authorized {
        return plain_error(401, UNAUTHORIZED_MESSAGE);
    }
    if method != route {
        return plain_error(405, "method not allowed");
    }
    if let Some(failure) = state.failure.as_mut().filter(|f| f.times > 0) {
        failure.times -= 1;
        let mut response = match failure.status {
            429 => plain_error(429, "too many requests"),
            status if status >= 500 => plain_error(status, "internal server error"),
            401 => plain_error(401, UNAUTHORIZED_MESSAGE),
            403 => plain_error(403, "access forbidden"),
            404 => plain_error(404, "resource not found"),
            status => plain_error(status, "Bad Request"),
        };
        let headers = response.headers_mut();
        if let Some(secs) = failure.retry_after {
            headers.insert("retry-after", secs.into());
        }
        if let Some(reset) = failure.reset {
            headers.insert("x-ratelimit-limit", 600u32.into());
            headers.insert("x-ratelimit-remaining", 0u32.into());
            headers.insert("x-ratelimit-reset", reset.into());
        }
        return response;
    }
    match recorded.path.trim_end_matches('/') {
        "/v3/mail/send" => mail_send(&mut state, &recorded),
        _ => list_bounces(&state, &recorded),
    }
}

fn mail_send(state: &mut Inner, request: &Recorded) -> Response {
    let content_type = request.header("content-type").unwrap_or("");
    if content_type.split(';').next().map(str::trim) != Some("application/json") {
        return plain_error(415, "Content-Type should be application/json.");
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&request.body) else {
        return errors(400, vec![json!({"field": null, "message": "Bad Request", "help": null})]);
    };
    let problems = check_mail(&body);
    if !problems.is_empty() {
        return errors(400, problems);
    }
    if body.get("mail_settings").and_then(|m| m["sandbox_mode"]["enable"].as_bool()) == Some(true) {
        // The sandbox validates and sends nothing: 200, no message id.
        return StatusCode::OK.into_response();
    }
    let personalizations = body["personalizations"].as_array().unwrap();
    let to = personalizations
        .iter()
        .flat_map(|p| p["to"].as_array().unwrap().iter())
        .map(|t| t["email"].as_str().unwrap().to_string())
        .collect();
    let mut custom_args = body.get("custom_args").and_then(Value::as_object).cloned().unwrap_or_default();
    if let Some(own) = personalizations[0].get("custom_args").and_then(Value::as_object) {
        custom_args.extend(own.clone());
    }
    let message_id = random_id();
    state.sent.push(Sent {
        message_id: message_id.clone(),
        body: Value::Object(body.clone()),
        to,
        dynamic_template_data: personalizations[0].get("dynamic_template_data").cloned().unwrap_or(Value::Null),
        custom_args,
        categories: body
            .get("categories")
            .and_then(Value::as_array)
            .map(|c| c.iter().filter_map(Value::as_str).map(String::from).collect())
            .unwrap_or_default(),
    });
    (StatusCode::ACCEPTED, [("x-message-id", message_id)]).into_response()
}

/// What SendGrid's mail send refuses, every problem at once.
fn check_mail(body: &Map<String, Value>) -> Vec<Value> {
    let mut problems = Vec::new();
    let mut problem = |field: &str, message: &str| {
        // `help` names the field without its indices.
        let anchor: Vec<&str> = field.split('.').filter(|part| part.parse::<usize>().is_err()).collect();
        problems.push(json!({
            "message": message,
            "field": field,
            "help": format!("{HELP}#message.{}", anchor.join(".")),
        }));
    };
    let is_email = |value: &Value| value.as_str().is_some_and(valid_email);
    let string_args = |args: &Value, at: &str, problem: &mut dyn FnMut(&str, &str)| {
        if let Some(args) = args.as_object() {
            for (name, value) in args {
                if !value.is_string() {
                    let given = match value {
                        Value::Number(_) => "number",
                        Value::Bool(_) => "boolean",
                        Value::Null => "null",
                        Value::Array(_) => "array",
                        _ => "object",
                    };
                    problem(&format!("{at}.{name}"), &format!("Invalid type. Expected: string, given: {given}."));
                }
            }
        } else if !args.is_null() {
            problem(at, "Invalid type. Expected: object.");
        }
    };

    match body.get("personalizations").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => {
            if list.len() > 1000 {
                problem("personalizations", "The personalizations field may not hold more than 1000 personalizations.");
            }
            for (i, p) in list.iter().enumerate() {
                match p.get("to").and_then(Value::as_array) {
                    Some(to) if !to.is_empty() => {
                        for (j, recipient) in to.iter().enumerate() {
                            if !is_email(&recipient["email"]) {
                                problem(
                                    &format!("personalizations.{i}.to.{j}.email"),
                                    "Does not contain a valid address.",
                                );
                            }
                        }
                    }
                    _ => problem(
                        &format!("personalizations.{i}.to"),
                        "The to array is required for all personalization objects, and must have at least one \
                         email object with a valid email address.",
                    ),
                }
                string_args(
                    p.get("custom_args").unwrap_or(&Value::Null),
                    &format!("personalizations.{i}.custom_args"),
                    &mut problem,
                );
                if p.get("dynamic_template_data").is_some_and(|d| !d.is_object()) {
                    problem(
                        &format!("personalizations.{i}.dynamic_template_data"),
                        "The dynamic_template_data must be an object.",
                    );
                }
            }
        }
        _ => problem(
            "personalizations",
            "The personalizations field is required and must have at least one personalization.",
        ),
    }

    match body.get("from") {
        Some(from) if from.get("email").is_some() => {
            if !is_email(&from["email"]) {
                problem("from.email", "The from email does not contain a valid address.");
            }
        }
        _ => problem(
            "from.email",
            "The from object must be provided for every email send. It is an object that requires the email \
             parameter, but may also contain a name parameter.  e.g. {\"email\" : \"example@example.com\"}  or \
             {\"email\" : \"example@example.com\", \"name\" : \"Example Recipient\"}.",
        ),
    }
    if let Some(reply_to) = body.get("reply_to") {
        if !is_email(&reply_to["email"]) {
            problem("reply_to.email", "The reply_to email does not contain a valid address.");
        }
    }

    let template = body.get("template_id").and_then(Value::as_str).is_some_and(|t| !t.is_empty());
    if !template {
        let every_personalization_has_one = body
            .get("personalizations")
            .and_then(Value::as_array)
            .is_some_and(|l| !l.is_empty() && l.iter().all(|p| p["subject"].as_str().is_some_and(|s| !s.is_empty())));
        let subject = body.get("subject").and_then(Value::as_str).is_some_and(|s| !s.is_empty());
        if !subject && !every_personalization_has_one {
            problem(
                "subject",
                "The subject is required. You can get around this requirement if you use a template with a \
                 subject defined or if every personalization has a subject defined.",
            );
        }
        match body.get("content").and_then(Value::as_array) {
            Some(content) if !content.is_empty() => {
                for (i, block) in content.iter().enumerate() {
                    if block["type"].as_str().is_none_or(str::is_empty) {
                        problem(&format!("content.{i}.type"), "The content type is required.");
                    }
                    if block["value"].as_str().is_none_or(str::is_empty) {
                        problem(
                            &format!("content.{i}.value"),
                            "The content value must be a string at least one character in length.",
                        );
                    }
                }
                let types: Vec<&str> = content.iter().filter_map(|b| b["type"].as_str()).collect();
                let plain = types.iter().position(|t| *t == "text/plain");
                let html = types.iter().position(|t| *t == "text/html");
                if plain.is_some_and(|p| p != 0) || matches!((plain, html), (Some(p), Some(h)) if h != p + 1) {
                    problem(
                        "content",
                        "If present, text/plain and text/html may only be provided in this order: text/plain, \
                         text/html.",
                    );
                }
            }
            _ => problem(
                "content",
                "Unless a valid template_id is provided, the content parameter is required. There must be at \
                 least one defined content block. We typically suggest both text/plain and text/html blocks are \
                 included, but only one block is required.",
            ),
        }
    }

    if let Some(categories) = body.get("categories") {
        match categories.as_array() {
            Some(list) => {
                if list.len() > 10 {
                    problem("categories", "Too many categories. An email may have at most 10 categories.");
                }
                for (i, category) in list.iter().enumerate() {
                    match category.as_str() {
                        Some(c) if !c.is_empty() && c.chars().count() <= 255 => {}
                        _ => problem(&format!("categories.{i}"), "A category must be a string of 1 to 255 characters."),
                    }
                }
            }
            None => problem("categories", "Invalid type. Expected: array."),
        }
    }
    string_args(body.get("custom_args").unwrap_or(&Value::Null), "custom_args", &mut problem);
    problems
}

/// SendGrid's address check, stricter than `local@domain`: the domain has a dot.
fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else { return false };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn list_bounces(state: &Inner, request: &Recorded) -> Response {
    // A parameter that is not an integer: SendGrid's 400, naming it.
    let number = |name: &'static str| match request.query_param(name) {
        None => Ok(None),
        Some(v) => v.parse::<u64>().map(Some).map_err(|_| name),
    };
    let parsed = (|| -> Result<_, &'static str> {
        Ok((number("start_time")?, number("end_time")?, number("limit")?, number("offset")?))
    })();
    let (start, end, limit, offset) = match parsed {
        Ok((start, end, limit, offset)) => (start, end, limit, offset.unwrap_or(0)),
        Err(name) => {
            let message = format!("{name} must be an integer");
            return errors(400, vec![json!({"field": name, "message": message, "help": null})]);
        }
    };
    let page: Vec<Value> = state
        .bounces
        .iter()
        .filter(|b| {
            let created = b["created"].as_u64().unwrap_or(0);
            start.is_none_or(|s| created >= s) && end.is_none_or(|e| created <= e)
        })
        .skip(offset as usize)
        .take(limit.map_or(usize::MAX, |l| l as usize))
        .cloned()
        .collect();
    (StatusCode::OK, [("content-type", "application/json")], Value::Array(page).to_string()).into_response()
}
