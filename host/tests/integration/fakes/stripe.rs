//! A loopback fake of Stripe's API (the endpoints `wirework/stripe` calls),
//! plus Stripe's webhook signing and realistic event bodies.
//!
//! What it checks, as Stripe does: `Authorization: Bearer` with exactly
//! [`SECRET_KEY`] (else Stripe's `401`), a well-formed `Stripe-Version` when
//! one is sent (recorded: assert the caller pins one), POST bodies in
//! `application/x-www-form-urlencoded` with nested keys
//! (`line_items[0][price]=...`, decoded into JSON for assertions), unknown
//! and missing parameters (`parameter_unknown`, `parameter_missing`), the
//! objects a request refers to (`resource_missing`), and `Idempotency-Key`:
//! the same key with the same parameters replays the first answer (with
//! `Idempotent-Replayed: true`), with other parameters or on another endpoint
//! it is a `400 idempotency_error`. Answers and errors have Stripe's shapes
//! (`{"error": {"type", "code", "message", "param", "doc_url"}}`).
//!
//! State is kept in memory: customers (listed newest first, with `email`,
//! `created`, `limit`, `starting_after` and `has_more`), prices,
//! Checkout Sessions, Payment Links, PaymentIntents with their charges, and
//! refunds. Every request is recorded ([`Fake::requests`]), and
//! [`Fake::fail_next`] / [`Fake::inject`] make the next requests fail (a 429
//! with `Retry-After`, a 500, or an answer lost after the work was done).
//!
//! ```ignore
//! let stripe = fakes::stripe::start().await;
//! stripe.seed_price("price_pro", 2500, "eur", None);
//! // credential: {"secret_key": stripe::SECRET_KEY, "base_url": stripe.base_url()}
//! let body = stripe::event("checkout.session.completed", stripe::completed_checkout_session("ann@example.com"));
//! stripe::deliver(&client, &hook_url, &body, stripe::WEBHOOK_SECRET).await;
//! ```

#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use rand::Rng;
use serde_json::{json, Map, Value};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The only API key the fake accepts (`Authorization: Bearer <this>`).
pub const SECRET_KEY: &str = "sk_test_51WwFakeKeyQ8vTz3nLp0aX7mR2kJ9cYdE4bHs6uWgN1fV5oIq";
/// A webhook endpoint's signing secret, for [`sign`] and [`deliver`].
pub const WEBHOOK_SECRET: &str = "whsec_wwFake7Hk2Lq9Xz4Mv8Pn3Rt6Yb1Cd5Gf0";
/// The API version the plugin pins (`Stripe-Version`), and that events carry.
pub const API_VERSION: &str = "2024-06-20";
/// Stripe's tolerance for a webhook's `t=`, in seconds.
pub const TOLERANCE_SECS: i64 = 300;

/// A running fake; it stops with the test's runtime.
#[derive(Clone)]
pub struct Fake {
    addr: SocketAddr,
    state: Arc<Mutex<Stripe>>,
}

/// One request the fake received, and how it answered.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// `/v1/customers`
    pub path: String,
    /// The raw query string (`""` when none).
    pub query: String,
    /// Header names lower-case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: String,
    /// The form pairs: the query's for GET, the body's for POST, decoded and in order.
    pub pairs: Vec<(String, String)>,
    /// The same pairs as nested JSON (`line_items[0][price]` -> `{"line_items": [{"price": ...}]}`), values as text.
    pub params: Value,
    /// The status answered.
    pub status: u16,
    /// The answer's body.
    pub answer: Value,
    /// Whether the answer was an idempotent replay.
    pub replayed: bool,
    /// When it arrived.
    pub at: Instant,
}

impl Recorded {
    /// A header's value (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    pub fn idempotency_key(&self) -> Option<&str> {
        self.header("idempotency-key")
    }

    /// A form pair's value by its exact (nested) name, e.g. `line_items[0][price]`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// A failure the fake answers instead of its own answer.
#[derive(Debug, Clone)]
pub struct Fault {
    /// The status answered: 429 (Stripe's `rate_limit` body), 500/502/503 (`api_error`), any other.
    pub status: u16,
    /// `Retry-After` seconds sent with it.
    pub retry_after: Option<u64>,
    /// Only requests to this path (`/v1/checkout/sessions`); `None`: any.
    pub path: Option<String>,
    /// Matching requests let through before the first failure.
    pub skip: usize,
    /// Matching requests that fail.
    pub times: usize,
    /// Carry the request out first (the object is created, its idempotent
    /// answer stored) and then answer the failure: an answer lost on the way back.
    pub after_processing: bool,
}

impl Fault {
    /// The next `times` requests (to any path) fail with `status`, before the fake does anything.
    pub fn new(status: u16, times: usize) -> Fault {
        Fault { status, retry_after: None, path: None, skip: 0, times, after_processing: false }
    }
}

/// Start a fake on a loopback port the OS picks.
pub async fn start() -> Fake {
    let state = Arc::new(Mutex::new(Stripe::default()));
    let router = axum::Router::new().fallback(handle).with_state(state.clone());
    let addr = crate::common::serve(router).await;
    Fake { addr, state }
}

impl Fake {
    /// `http://127.0.0.1:<port>`: a `stripe` credential's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The requests with this method and path.
    pub fn requests_to(&self, method: &str, path: &str) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.method == method && r.path == path).collect()
    }

    /// The next `times` requests fail with `status` (and `Retry-After:
    /// <secs>` when given) before the fake looks at them: nothing is created
    /// and no idempotent answer is stored.
    pub fn fail_next(&self, status: u16, times: usize, retry_after: Option<u64>) {
        self.inject(Fault { retry_after, ..Fault::new(status, times) });
    }

    /// Queue a [`Fault`]; faults apply in the order queued.
    pub fn inject(&self, fault: Fault) {
        assert!(fault.times > 0, "a fault that never fails: {fault:?}");
        self.state.lock().unwrap().faults.push(fault);
    }

    /// A customer as Stripe stores it: `fields` over the defaults (an id
    /// `cus_...` and `created` of now unless given). Lists show the newest
    /// first (by `created`, then by seeding order).
    pub fn seed_customer(&self, fields: Value) -> Value {
        let mut stripe = self.state.lock().unwrap();
        let mut customer = new_customer(&Map::new());
        merge(&mut customer, fields);
        stripe.customers.push(customer.clone());
        customer
    }

    /// A Price `id` of `unit_amount` (cents) in `currency`; `recurring`:
    /// `Some("month")` for a subscription price.
    pub fn seed_price(&self, id: &str, unit_amount: i64, currency: &str, recurring: Option<&str>) -> Value {
        let price = json!({
            "id": id, "object": "price", "active": true, "currency": currency, "unit_amount": unit_amount,
            "product": format!("prod_{}", random(14)), "livemode": false, "created": now(),
            "type": if recurring.is_some() { "recurring" } else { "one_time" },
            "recurring": recurring.map(|interval| json!({"interval": interval, "interval_count": 1, "usage_type": "licensed"})),
            "metadata": {},
        });
        self.state.lock().unwrap().prices.insert(id.to_string(), price.clone());
        price
    }

    /// A PaymentIntent: `fields` over a succeeded one of 2000 EUR cents; a
    /// succeeded one gets a charge (`latest_charge`) that refunds draw on.
    pub fn seed_payment_intent(&self, fields: Value) -> Value {
        let mut stripe = self.state.lock().unwrap();
        let mut intent = json!({
            "id": format!("pi_{}", random(24)), "object": "payment_intent", "amount": 2000, "amount_received": 2000,
            "currency": "eur", "status": "succeeded", "created": now(), "livemode": false, "customer": null,
            "description": null, "metadata": {}, "latest_charge": null,
            "payment_method": format!("pm_{}", random(24)), "last_payment_error": null,
            "payment_method_types": ["card"], "receipt_email": null, "capture_method": "automatic",
        });
        merge(&mut intent, fields);
        if intent["status"] == "succeeded" && intent["latest_charge"].is_null() {
            let charge_id = format!("ch_{}", random(24));
            let charge = json!({
                "id": charge_id, "object": "charge", "amount": intent["amount"], "amount_captured": intent["amount"],
                "amount_refunded": 0, "currency": intent["currency"], "paid": true, "refunded": false,
                "status": "succeeded", "payment_intent": intent["id"], "customer": intent["customer"],
                "created": intent["created"], "livemode": false,
            });
            stripe.charges.insert(charge_id.clone(), charge);
            intent["latest_charge"] = Value::String(charge_id);
        }
        stripe.intents.insert(intent["id"].as_str().unwrap().to_string(), intent.clone());
        intent
    }

    /// Pay an open Checkout Session created through the fake, as the buyer
    /// does on Stripe's page: it becomes `complete`/`paid` with
    /// `customer_details` (and, in payment mode, a succeeded PaymentIntent).
    /// Returns the session, the `data.object` of a `checkout.session.completed` event.
    pub fn complete_checkout_session(&self, id: &str, email: &str, name: &str) -> Value {
        let (mode, amount, currency, customer) = {
            let stripe = self.state.lock().unwrap();
            let session = stripe.sessions.iter().find(|s| s["id"] == id).unwrap_or_else(|| panic!("no session {id}"));
            (
                session["mode"].clone(),
                session["amount_total"].clone(),
                session["currency"].clone(),
                session["customer"].clone(),
            )
        };
        let intent = (mode == "payment").then(|| {
            self.seed_payment_intent(json!({"amount": amount, "amount_received": amount, "currency": currency,
                "customer": customer, "receipt_email": email}))
        });
        let mut stripe = self.state.lock().unwrap();
        let session = stripe.sessions.iter_mut().find(|s| s["id"] == id).unwrap();
        session["status"] = json!("complete");
        session["payment_status"] = json!(if mode == "setup" { "no_payment_required" } else { "paid" });
        session["customer_details"] = json!({"email": email, "name": name, "phone": null, "address": null,
            "tax_exempt": "none", "tax_ids": []});
        if let Some(intent) = intent {
            session["payment_intent"] = intent["id"].clone();
        }
        if mode == "subscription" {
            session["subscription"] = json!(format!("sub_{}", random(24)));
        }
        session.clone()
    }

    /// Customers, oldest first.
    pub fn customers(&self) -> Vec<Value> {
        self.state.lock().unwrap().customers.clone()
    }

    /// Checkout Sessions, oldest first.
    pub fn checkout_sessions(&self) -> Vec<Value> {
        self.state.lock().unwrap().sessions.clone()
    }

    /// Payment Links, oldest first.
    pub fn payment_links(&self) -> Vec<Value> {
        self.state.lock().unwrap().links.clone()
    }

    /// Refunds, oldest first.
    pub fn refunds(&self) -> Vec<Value> {
        self.state.lock().unwrap().refunds.clone()
    }

    pub fn payment_intent(&self, id: &str) -> Option<Value> {
        self.state.lock().unwrap().intents.get(id).cloned()
    }

    pub fn charge(&self, id: &str) -> Option<Value> {
        self.state.lock().unwrap().charges.get(id).cloned()
    }
}

// ---------------------------------------------------------------------------
// Webhooks: Stripe's signature and event bodies.

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The hex HMAC-SHA256 of `{timestamp}.{payload}` under `secret` (used whole, `whsec_` included).
pub fn signature(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    hex::encode(mac.finalize().into_bytes())
}

/// A `Stripe-Signature` header: `t=<timestamp>,v1=<sig>` with one `v1` per
/// secret (Stripe signs with every active secret while one is rolled).
pub fn signature_header(payload: &[u8], timestamp: i64, secrets: &[&str]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        header.push_str(&format!(",v1={}", signature(payload, secret, timestamp)));
    }
    header
}

/// `Stripe-Signature` for `payload` signed now with `secret`.
pub fn sign(payload: &[u8], secret: &str) -> String {
    signature_header(payload, now(), &[secret])
}

/// The body Stripe delivers for `event`: pretty-printed JSON, as Stripe sends it.
pub fn body(event: &Value) -> String {
    serde_json::to_string_pretty(event).unwrap()
}

/// A POST to `url` with Stripe's delivery headers, `body` as given, and
/// `Stripe-Signature: signature` when given.
pub fn webhook_request(
    client: &reqwest::Client,
    url: &str,
    body: &str,
    signature: Option<&str>,
) -> reqwest::RequestBuilder {
    let request = client
        .post(url)
        .header("content-type", "application/json; charset=utf-8")
        .header("user-agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
        .header("accept", "*/*; q=0.5, application/xml")
        .header("cache-control", "no-cache")
        .body(body.to_string());
    match signature {
        Some(signature) => request.header("stripe-signature", signature),
        None => request,
    }
}

/// Deliver `event` to `url` as Stripe does: its pretty-printed body, signed now with `secret`.
pub async fn deliver(client: &reqwest::Client, url: &str, event: &Value, secret: &str) -> reqwest::Response {
    let body = body(event);
    webhook_request(client, url, &body, Some(&sign(body.as_bytes(), secret))).send().await.unwrap()
}

/// An event envelope of `kind` around `object` (its `data.object`).
pub fn event(kind: &str, object: Value) -> Value {
    json!({
        "id": format!("evt_{}", random(24)),
        "object": "event",
        "api_version": API_VERSION,
        "created": now(),
        "data": {"object": object},
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": kind,
    })
}

/// A paid Checkout Session (payment mode, 2500 EUR cents) by a guest whose email is `email`.
pub fn completed_checkout_session(email: &str) -> Value {
    let id = format!("cs_test_{}", random(58));
    let created = now() - 60;
    let mut session = json!({
        "id": id, "object": "checkout.session", "after_expiration": null, "allow_promotion_codes": null,
        "amount_subtotal": 2500, "amount_total": 2500,
        "automatic_tax": {"enabled": false, "liability": null, "status": null},
        "billing_address_collection": null, "cancel_url": "https://example.com/cancel",
        "client_reference_id": "order-1042", "client_secret": null, "consent": null, "consent_collection": null,
        "created": created, "currency": "eur", "custom_fields": [], "custom_text": {},
    });
    // In two parts: one `json!` this size passes the macro's recursion limit.
    merge(
        &mut session,
        json!({
            "customer": format!("cus_{}", random(14)), "customer_creation": "if_required",
            "customer_details": {"address": {"city": null, "country": "NL", "line1": null, "line2": null,
                "postal_code": null, "state": null}, "email": email, "name": "Ann Example", "phone": null,
                "tax_exempt": "none", "tax_ids": []},
            "customer_email": null, "expires_at": created + 86400, "invoice": null, "invoice_creation": null,
            "livemode": false, "locale": null, "metadata": {"order": "1042"}, "mode": "payment",
            "payment_intent": format!("pi_{}", random(24)), "payment_link": null,
            "payment_method_collection": "if_required", "payment_method_types": ["card"],
            "payment_status": "paid", "phone_number_collection": {"enabled": false}, "recovered_from": null,
            "setup_intent": null, "shipping_address_collection": null, "shipping_cost": null, "shipping_details": null,
            "status": "complete", "submit_type": null, "subscription": null,
            "success_url": "https://example.com/thanks?session={CHECKOUT_SESSION_ID}",
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": "hosted", "url": null,
        }),
    );
    session
}

/// A `checkout.session.completed` event for [`completed_checkout_session`].
pub fn checkout_session_completed(email: &str) -> Value {
    event("checkout.session.completed", completed_checkout_session(email))
}

/// An open Invoice whose `attempt_count`-th payment attempt failed.
pub fn failed_invoice(customer_email: &str, attempt_count: u32) -> Value {
    let created = now() - 3600;
    json!({
        "id": format!("in_{}", random(24)), "object": "invoice", "account_country": "NL",
        "amount_due": 4900, "amount_paid": 0, "amount_remaining": 4900, "attempt_count": attempt_count,
        "attempted": true, "auto_advance": true, "billing_reason": "subscription_cycle",
        "charge": format!("ch_{}", random(24)), "collection_method": "charge_automatically",
        "created": created, "currency": "eur", "customer": format!("cus_{}", random(14)),
        "customer_email": customer_email, "customer_name": "Bob Example", "hosted_invoice_url":
        format!("https://invoice.stripe.com/i/acct_1Fake/test_{}", random(40)), "livemode": false,
        "metadata": {}, "next_payment_attempt": created + 3 * 86400, "number": "A1B2C3D4-0007",
        "paid": false, "payment_intent": format!("pi_{}", random(24)), "status": "open",
        "subscription": format!("sub_{}", random(24)), "total": 4900,
        "last_finalization_error": null,
    })
}

/// An `invoice.payment_failed` event for [`failed_invoice`].
pub fn invoice_payment_failed(customer_email: &str, attempt_count: u32) -> Value {
    event("invoice.payment_failed", failed_invoice(customer_email, attempt_count))
}

// ---------------------------------------------------------------------------
// Form bodies with Stripe's nested keys.

/// Nest form pairs as Stripe reads them: `a[b][0][c]=v` -> `{"a": {"b": [{"c": "v"}]}}`,
/// `a[]=x` appends; values stay text.
pub fn nest(pairs: &[(String, String)]) -> Value {
    let mut root = Value::Object(Map::new());
    for (name, value) in pairs {
        let (head, rest) = name.split_once('[').map(|(h, r)| (h, format!("[{r}"))).unwrap_or((name, String::new()));
        let mut path = vec![head.to_string()];
        let mut rest = rest.as_str();
        while let Some(inner) = rest.strip_prefix('[') {
            let Some((segment, after)) = inner.split_once(']') else { break };
            path.push(segment.to_string());
            rest = after;
        }
        insert(&mut root, &path, value);
    }
    arrays(root)
}

fn insert(node: &mut Value, path: &[String], value: &str) {
    let object = match node {
        Value::Object(object) => object,
        _ => {
            *node = Value::Object(Map::new());
            node.as_object_mut().unwrap()
        }
    };
    let key = if path[0].is_empty() { object.len().to_string() } else { path[0].clone() };
    if path.len() == 1 {
        object.insert(key, Value::String(value.to_string()));
    } else {
        insert(object.entry(key).or_insert(Value::Null), &path[1..], value);
    }
}

/// Objects whose keys are exactly 0..n become arrays.
fn arrays(value: Value) -> Value {
    match value {
        Value::Object(object) => {
            let indexed = !object.is_empty() && (0..object.len()).all(|i| object.contains_key(&i.to_string()));
            let mut object: Map<String, Value> = object.into_iter().map(|(k, v)| (k, arrays(v))).collect();
            if indexed {
                Value::Array((0..object.len()).map(|i| object.remove(&i.to_string()).unwrap()).collect())
            } else {
                Value::Object(object)
            }
        }
        other => other,
    }
}

// ---------------------------------------------------------------------------
// The server.

#[derive(Default)]
struct Stripe {
    requests: Vec<Recorded>,
    faults: Vec<Fault>,
    customers: Vec<Value>,
    prices: HashMap<String, Value>,
    sessions: Vec<Value>,
    links: Vec<Value>,
    intents: HashMap<String, Value>,
    charges: HashMap<String, Value>,
    refunds: Vec<Value>,
    /// Idempotency key -> the first request's endpoint, sorted params, and answer.
    idempotent: HashMap<String, Saved>,
}

struct Saved {
    endpoint: String,
    params: Vec<(String, String)>,
    status: u16,
    body: Value,
}

/// An endpoint's answer; `save`: whether it is kept for its idempotency key
/// (Stripe keeps the answers of requests that began executing, not of those
/// refused by validation).
struct Answer {
    status: u16,
    body: Value,
    save: bool,
}

fn ok(body: Value) -> Answer {
    Answer { status: 200, body, save: true }
}

/// Stripe's error body.
fn error_body(kind: &str, code: Option<&str>, message: &str, param: Option<&str>) -> Value {
    let mut error = json!({"type": kind, "message": message});
    if let Some(code) = code {
        error["code"] = json!(code);
        error["doc_url"] = json!(format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-")));
    }
    if let Some(param) = param {
        error["param"] = json!(param);
    }
    json!({ "error": error })
}

/// A validation error (not saved for the idempotency key).
fn invalid(code: Option<&str>, message: &str, param: Option<&str>) -> Answer {
    Answer { status: 400, body: error_body("invalid_request_error", code, message, param), save: false }
}

fn missing(param: &str) -> Answer {
    invalid(Some("parameter_missing"), &format!("Missing required param: {param}."), Some(param))
}

fn no_such(kind: &str, id: &str, param: &str) -> Answer {
    invalid(Some("resource_missing"), &format!("No such {kind}: '{id}'"), Some(param))
}

type Result<T> = std::result::Result<T, Answer>;

async fn handle(
    State(state): State<Arc<Mutex<Stripe>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let body = String::from_utf8_lossy(&body).into_owned();
    let query = uri.query().unwrap_or("").to_string();
    let path = uri.path().to_string();
    let form_source = if method == Method::GET { query.as_str() } else { body.as_str() };
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(form_source.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let mut recorded = Recorded {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body: body.clone(),
        params: nest(&pairs),
        pairs,
        status: 0,
        answer: Value::Null,
        replayed: false,
        at,
    };
    let mut stripe = state.lock().unwrap();
    let mut extra_headers: Vec<(&str, String)> = Vec::new();
    let (before, after) = stripe.take_fault(&path);
    let answer = if let Some(fault) = before {
        fault_answer(&fault, &mut extra_headers)
    } else {
        let answer = stripe.answer(&method, &path, &headers, &body, &recorded, &mut extra_headers);
        match after {
            Some(fault) => {
                extra_headers.retain(|(n, _)| *n != "idempotent-replayed");
                fault_answer(&fault, &mut extra_headers)
            }
            None => answer,
        }
    };
    recorded.status = answer.status;
    recorded.answer = answer.body.clone();
    recorded.replayed = extra_headers.iter().any(|(n, _)| *n == "idempotent-replayed");
    stripe.requests.push(recorded);
    drop(stripe);

    let mut response = (StatusCode::from_u16(answer.status).unwrap(), axum::Json(answer.body)).into_response();
    let out = response.headers_mut();
    out.insert("request-id", HeaderValue::from_str(&format!("req_{}", random(14))).unwrap());
    out.insert("stripe-version", HeaderValue::from_str(headers_version(&headers).unwrap_or(API_VERSION)).unwrap());
    if let Some(key) = headers.get("idempotency-key").filter(|_| method == Method::POST) {
        out.insert("idempotency-key", key.clone());
    }
    for (name, value) in extra_headers {
        out.insert(name, HeaderValue::from_str(&value).unwrap());
    }
    response
}

fn headers_version(headers: &HeaderMap) -> Option<&str> {
    headers.get("stripe-version").and_then(|v| v.to_str().ok())
}

fn fault_answer(fault: &Fault, headers: &mut Vec<(&str, String)>) -> Answer {
    if let Some(secs) = fault.retry_after {
        headers.push(("retry-after", secs.to_string()));
    }
    let body = match fault.status {
        429 => error_body(
            "invalid_request_error",
            Some("rate_limit"),
            "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
            None,
        ),
        500..=599 => error_body("api_error", None, "An unknown error occurred", None),
        status => error_body("api_error", None, &format!("A fault injected into the fake: HTTP {status}"), None),
    };
    Answer { status: fault.status, body, save: false }
}

impl Stripe {
    /// The fault that answers a request to `path`, before or after the work.
    fn take_fault(&mut self, path: &str) -> (Option<Fault>, Option<Fault>) {
        let Some(index) = self.faults.iter().position(|f| f.path.as_deref().is_none_or(|p| p == path)) else {
            return (None, None);
        };
        let fault = &mut self.faults[index];
        if fault.skip > 0 {
            fault.skip -= 1;
            return (None, None);
        }
        fault.times -= 1;
        let taken = fault.clone();
        if fault.times == 0 {
            self.faults.remove(index);
        }
        if taken.after_processing {
            (None, Some(taken))
        } else {
            (Some(taken), None)
        }
    }

    fn answer(
        &mut self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: &str,
        recorded: &Recorded,
        out: &mut Vec<(&'static str, String)>,
    ) -> Answer {
        // Authentication first, as Stripe does.
        let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        match bearer.map(str::trim) {
            None | Some("") => {
                out.push(("www-authenticate", "Basic realm=\"Stripe\"".into()));
                return Answer {
                    status: 401,
                    body: error_body(
                        "invalid_request_error",
                        None,
                        "You did not provide an API key. You need to provide your API key in the Authorization header, \
                         using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See \
                         https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
                        None,
                    ),
                    save: false,
                };
            }
            Some(key) if key != SECRET_KEY => {
                out.push(("www-authenticate", "Basic realm=\"Stripe\"".into()));
                return Answer {
                    status: 401,
                    body: error_body(
                        "invalid_request_error",
                        None,
                        &format!("Invalid API Key provided: {}", mask(key)),
                        None,
                    ),
                    save: false,
                };
            }
            Some(_) => {}
        }
        if let Some(version) = headers_version(headers) {
            let valid = version.len() >= 10
                && version.as_bytes()[..10].iter().enumerate().all(|(i, b)| match i {
                    4 | 7 => *b == b'-',
                    _ => b.is_ascii_digit(),
                })
                && (version.len() == 10 || version.as_bytes()[10] == b'.');
            if !valid {
                return invalid(None, &format!("Invalid Stripe API version: {version}"), None);
            }
        }
        if *method == Method::POST && !body.is_empty() {
            let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
            if !content_type.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
                return invalid(
                    None,
                    "Invalid request (check that your POST content type is application/x-www-form-urlencoded). \
                     If you have any questions, we can help at https://support.stripe.com/.",
                    None,
                );
            }
        }
        if *method == Method::GET && !body.is_empty() {
            return invalid(None, "A GET request carries its parameters in the query string, not a body.", None);
        }
        let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).filter(|_| *method == Method::POST);
        let endpoint = format!("{method} {path}");
        let mut sorted = recorded.pairs.clone();
        sorted.sort();
        if let Some(key) = key {
            if key.len() > 255 {
                return invalid(None, "Idempotency keys must be at most 255 characters long.", None);
            }
            if let Some(saved) = self.idempotent.get(key) {
                if saved.endpoint != endpoint {
                    let message = format!(
                        "Keys for idempotent requests can only be used for the same endpoint they were first used \
                         for ('{}' vs '{endpoint}'). Try using a key other than '{key}' if you meant to execute a \
                         different request.",
                        saved.endpoint
                    );
                    return Answer {
                        status: 400,
                        body: error_body("idempotency_error", None, &message, None),
                        save: false,
                    };
                }
                if saved.params != sorted {
                    let message = format!(
                        "Keys for idempotent requests can only be used with the same parameters they were first used \
                         with. Try using a key other than '{key}' if you meant to execute a different request."
                    );
                    return Answer {
                        status: 400,
                        body: error_body("idempotency_error", None, &message, None),
                        save: false,
                    };
                }
                out.push(("idempotent-replayed", "true".into()));
                return Answer { status: saved.status, body: saved.body.clone(), save: false };
            }
        }
        let params = recorded.params.as_object().cloned().unwrap_or_default();
        let result = match (method.as_str(), path) {
            ("GET", "/v1/customers") => self.list_customers(&params),
            ("POST", "/v1/customers") => self.create_customer(&params),
            ("POST", "/v1/checkout/sessions") => self.create_session(&params),
            ("POST", "/v1/payment_links") => self.create_link(&params),
            ("POST", "/v1/refunds") => self.create_refund(&params),
            ("GET", p) if p.starts_with("/v1/customers/") => {
                let id = &p["/v1/customers/".len()..];
                match self.customers.iter().find(|c| c["id"] == id) {
                    Some(c) => Ok(ok(c.clone())),
                    None => Err(Answer { status: 404, ..no_such("customer", id, "id") }),
                }
            }
            ("GET", p) if p.starts_with("/v1/payment_intents/") => {
                let id = &p["/v1/payment_intents/".len()..];
                match self.intents.get(id) {
                    Some(intent) => Ok(ok(intent.clone())),
                    None => Err(Answer { status: 404, ..no_such("payment_intent", id, "intent") }),
                }
            }
            _ => Err(Answer {
                status: 404,
                body: error_body(
                    "invalid_request_error",
                    None,
                    &format!(
                        "Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can \
                         help at https://support.stripe.com/."
                    ),
                    None,
                ),
                save: false,
            }),
        };
        let answer = result.unwrap_or_else(|error| error);
        if let (Some(key), true) = (key, answer.save) {
            let saved = Saved { endpoint, params: sorted, status: answer.status, body: answer.body.clone() };
            self.idempotent.insert(key.to_string(), saved);
        }
        answer
    }

    fn list_customers(&self, params: &Map<String, Value>) -> Result<Answer> {
        known(params, &["created", "email", "ending_before", "expand", "limit", "starting_after", "test_clock"])?;
        let limit = match params.get("limit") {
            Some(v) => integer(v, "limit")?,
            None => 10,
        };
        if !(1..=100).contains(&limit) {
            return Err(invalid(None, "This value must be between 1 and 100.", Some("limit")));
        }
        let email = params.get("email").and_then(Value::as_str);
        let mut ranges = Vec::new();
        match params.get("created") {
            None => {}
            Some(Value::Object(range)) => {
                for (op, value) in range {
                    if !["gt", "gte", "lt", "lte"].contains(&op.as_str()) {
                        return Err(invalid(
                            Some("parameter_unknown"),
                            &format!("Received unknown parameter: created[{op}]"),
                            Some(&format!("created[{op}]")),
                        ));
                    }
                    ranges.push((op.clone(), integer(value, &format!("created[{op}]"))?));
                }
            }
            Some(value) => ranges.push(("eq".into(), integer(value, "created")?)),
        }
        let in_range = |created: i64| {
            ranges.iter().all(|(op, bound)| match op.as_str() {
                "gt" => created > *bound,
                "gte" => created >= *bound,
                "lt" => created < *bound,
                "lte" => created <= *bound,
                _ => created == *bound,
            })
        };
        // Newest first: by `created`, then the later created before the earlier.
        let mut ordered: Vec<&Value> = self.customers.iter().rev().collect();
        ordered.sort_by_key(|c| std::cmp::Reverse(c["created"].as_i64().unwrap_or(0)));
        let start = match params.get("starting_after").and_then(Value::as_str) {
            Some(after) => match ordered.iter().position(|c| c["id"] == after) {
                Some(i) => i + 1,
                None => return Err(no_such("customer", after, "starting_after")),
            },
            None => 0,
        };
        let matching: Vec<Value> = ordered[start..]
            .iter()
            .filter(|c| email.is_none_or(|e| c["email"] == e))
            .filter(|c| in_range(c["created"].as_i64().unwrap_or(0)))
            .map(|c| (*c).clone())
            .collect();
        let has_more = matching.len() > limit as usize;
        let data: Vec<Value> = matching.into_iter().take(limit as usize).collect();
        Ok(ok(json!({"object": "list", "data": data, "has_more": has_more, "url": "/v1/customers"})))
    }

    fn create_customer(&mut self, params: &Map<String, Value>) -> Result<Answer> {
        known(
            params,
            &[
                "address",
                "balance",
                "cash_balance",
                "coupon",
                "description",
                "email",
                "expand",
                "invoice_prefix",
                "invoice_settings",
                "metadata",
                "name",
                "next_invoice_sequence",
                "payment_method",
                "phone",
                "preferred_locales",
                "promotion_code",
                "shipping",
                "source",
                "tax",
                "tax_exempt",
                "tax_id_data",
                "test_clock",
            ],
        )?;
        if let Some(email) = params.get("email").and_then(Value::as_str) {
            if !email.contains('@') || email.len() > 512 {
                return Err(invalid(Some("email_invalid"), &format!("Invalid email address: {email}"), Some("email")));
            }
        }
        metadata(params)?;
        let customer = new_customer(params);
        self.customers.push(customer.clone());
        Ok(ok(customer))
    }

    fn create_session(&mut self, params: &Map<String, Value>) -> Result<Answer> {
        known(
            params,
            &[
                "after_expiration",
                "allow_promotion_codes",
                "automatic_tax",
                "billing_address_collection",
                "cancel_url",
                "client_reference_id",
                "consent_collection",
                "currency",
                "custom_fields",
                "custom_text",
                "customer",
                "customer_creation",
                "customer_email",
                "customer_update",
                "discounts",
                "expand",
                "expires_at",
                "invoice_creation",
                "line_items",
                "locale",
                "metadata",
                "mode",
                "payment_intent_data",
                "payment_method_collection",
                "payment_method_configuration",
                "payment_method_options",
                "payment_method_types",
                "phone_number_collection",
                "redirect_on_completion",
                "return_url",
                "saved_payment_method_options",
                "setup_intent_data",
                "shipping_address_collection",
                "shipping_options",
                "submit_type",
                "subscription_data",
                "success_url",
                "tax_id_collection",
                "ui_mode",
            ],
        )?;
        let text = |name: &str| params.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
        let mode = text("mode").ok_or_else(|| missing("mode"))?;
        if !["payment", "setup", "subscription"].contains(&mode) {
            return Err(invalid(
                None,
                &format!("Invalid mode: must be one of payment, setup, or subscription (got {mode})"),
                Some("mode"),
            ));
        }
        let ui_mode = text("ui_mode").unwrap_or("hosted");
        match ui_mode {
            "hosted" => {
                if text("success_url").is_none() {
                    return Err(missing("success_url"));
                }
                if text("return_url").is_some() {
                    return Err(invalid(
                        None,
                        "`return_url` cannot be used with `ui_mode: hosted`.",
                        Some("return_url"),
                    ));
                }
            }
            "embedded" | "custom" => {
                if text("success_url").is_some() || text("cancel_url").is_some() {
                    return Err(invalid(
                        None,
                        &format!("`success_url` and `cancel_url` cannot be used with `ui_mode: {ui_mode}`."),
                        Some("success_url"),
                    ));
                }
                if text("return_url").is_none() && text("redirect_on_completion") != Some("never") {
                    return Err(missing("return_url"));
                }
            }
            other => return Err(invalid(None, &format!("Invalid ui_mode: {other}"), Some("ui_mode"))),
        }
        if text("customer").is_some() && text("customer_email").is_some() {
            return Err(invalid(
                None,
                "You may only specify one of these parameters: customer, customer_email.",
                Some("customer_email"),
            ));
        }
        if let Some(customer) = text("customer") {
            if !self.customers.iter().any(|c| c["id"] == customer) {
                return Err(no_such("customer", customer, "customer"));
            }
        }
        metadata(params)?;
        let items = params.get("line_items");
        let (amount, currency, recurring) = match (mode, items) {
            ("setup", Some(_)) => {
                return Err(invalid(None, "You cannot pass `line_items` in `setup` mode.", Some("line_items")))
            }
            ("setup", None) => (None, text("currency").map(str::to_string), false),
            (_, None) => return Err(missing("line_items")),
            (_, Some(items)) => {
                let (amount, currency, recurring) = self.line_items(items, true)?;
                (Some(amount), Some(currency), recurring)
            }
        };
        if mode == "payment" && recurring {
            return Err(invalid(
                None,
                "You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or \
                 use only one-time prices.",
                Some("line_items"),
            ));
        }
        if mode == "subscription" && !recurring {
            return Err(invalid(
                None,
                "You must provide at least one recurring price in `subscription` mode when using prices.",
                Some("line_items"),
            ));
        }
        let id = format!("cs_test_{}", random(58));
        let created = now();
        let hosted = ui_mode == "hosted";
        let session = json!({
            "id": id, "object": "checkout.session", "after_expiration": null,
            "allow_promotion_codes": params.get("allow_promotion_codes").map(|v| v == "true"),
            "amount_subtotal": amount, "amount_total": amount,
            "automatic_tax": {"enabled": false, "liability": null, "status": null},
            "billing_address_collection": params.get("billing_address_collection"),
            "cancel_url": params.get("cancel_url"), "client_reference_id": params.get("client_reference_id"),
            "client_secret": if hosted { Value::Null } else { json!(format!("{id}_secret_{}", random(24))) },
            "created": created, "currency": currency, "customer": params.get("customer"),
            "customer_creation": if params.contains_key("customer") { Value::Null } else { json!("if_required") },
            "customer_details": null, "customer_email": params.get("customer_email"),
            "expires_at": params.get("expires_at").and_then(|v| v.as_str()?.parse::<i64>().ok()).unwrap_or(created + 86400),
            "invoice": null, "livemode": false, "locale": params.get("locale"),
            "metadata": params.get("metadata").cloned().unwrap_or(json!({})), "mode": mode,
            "payment_intent": null, "payment_link": null, "payment_method_types": ["card"],
            "payment_status": if mode == "setup" { "no_payment_required" } else { "unpaid" },
            "return_url": params.get("return_url"), "setup_intent": null, "status": "open",
            "subscription": null, "success_url": params.get("success_url"), "ui_mode": ui_mode,
            "url": if hosted { json!(format!("https://checkout.stripe.com/c/pay/{id}#fid{}", random(40))) } else { Value::Null },
        });
        self.sessions.push(session.clone());
        Ok(ok(session))
    }

    /// Check `line_items`: (total amount, currency, whether a price recurs).
    fn line_items(&self, items: &Value, allow_price_data: bool) -> Result<(i64, String, bool)> {
        let Value::Array(items) = items else {
            return Err(invalid(None, "Invalid array", Some("line_items")));
        };
        let (mut total, mut currency, mut recurring) = (0, None::<String>, false);
        for (i, item) in items.iter().enumerate() {
            let at = |name: &str| format!("line_items[{i}][{name}]");
            let field = |name: &str| item.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
            let quantity = match item.get("quantity") {
                Some(q) => integer(q, &at("quantity"))?,
                None => {
                    return Err(invalid(
                        Some("parameter_missing"),
                        &format!("Quantity is required. Add `quantity` to `line_items[{i}]`"),
                        Some(&at("quantity")),
                    ))
                }
            };
            if quantity < 1 {
                return Err(invalid(None, "This value must be greater than or equal to 1.", Some(&at("quantity"))));
            }
            let (unit, item_currency, recurs) = match (field("price"), item.get("price_data")) {
                (Some(price), None) => {
                    let price = self.prices.get(price).ok_or_else(|| no_such("price", price, &at("price")))?;
                    (
                        price["unit_amount"].as_i64().unwrap(),
                        price["currency"].as_str().unwrap().to_string(),
                        price["type"] == "recurring",
                    )
                }
                (None, Some(data)) if allow_price_data => {
                    let data_field = |name: &str| data.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
                    let currency =
                        data_field("currency").ok_or_else(|| missing(&format!("{}[currency]", at("price_data"))))?;
                    let unit = data
                        .get("unit_amount")
                        .ok_or_else(|| missing(&format!("{}[unit_amount]", at("price_data"))))?;
                    let unit = integer(unit, &format!("{}[unit_amount]", at("price_data")))?;
                    let named =
                        data.pointer("/product_data/name").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
                    if !named && data_field("product").is_none() {
                        return Err(missing(&format!("{}[product_data][name]", at("price_data"))));
                    }
                    (unit, currency.to_string(), data.get("recurring").is_some())
                }
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        None,
                        &format!(
                            "You may only specify one of these parameters: {}, {}.",
                            at("price"),
                            at("price_data")
                        ),
                        Some(&at("price")),
                    ))
                }
                _ => return Err(missing(&at("price"))),
            };
            match &currency {
                Some(c) if *c != item_currency => {
                    return Err(invalid(None, "All line items must use the same currency.", Some(&at("price"))))
                }
                _ => currency = Some(item_currency),
            }
            total += unit * quantity;
            recurring |= recurs;
        }
        match currency {
            Some(currency) => Ok((total, currency, recurring)),
            None => Err(missing("line_items")),
        }
    }

    fn create_link(&mut self, params: &Map<String, Value>) -> Result<Answer> {
        known(
            params,
            &[
                "after_completion",
                "allow_promotion_codes",
                "application_fee_amount",
                "application_fee_percent",
                "automatic_tax",
                "billing_address_collection",
                "consent_collection",
                "currency",
                "custom_fields",
                "custom_text",
                "customer_creation",
                "expand",
                "inactive_message",
                "invoice_creation",
                "line_items",
                "metadata",
                "on_behalf_of",
                "payment_intent_data",
                "payment_method_collection",
                "payment_method_types",
                "phone_number_collection",
                "restrictions",
                "shipping_address_collection",
                "shipping_options",
                "submit_type",
                "subscription_data",
                "tax_id_collection",
                "transfer_data",
            ],
        )?;
        let items = params.get("line_items").ok_or_else(|| missing("line_items"))?;
        let (_, currency, _) = self.line_items(items, false)?;
        metadata(params)?;
        let after_completion = match params.get("after_completion") {
            None => json!({"type": "hosted_confirmation", "hosted_confirmation": {"custom_message": null}}),
            Some(after) => match after.get("type").and_then(Value::as_str) {
                Some("redirect") => {
                    let url = after.pointer("/redirect/url").and_then(Value::as_str);
                    let url = url.ok_or_else(|| missing("after_completion[redirect][url]"))?;
                    json!({"type": "redirect", "redirect": {"url": url}})
                }
                Some("hosted_confirmation") => json!({"type": "hosted_confirmation", "hosted_confirmation":
                    {"custom_message": after.pointer("/hosted_confirmation/custom_message")}}),
                Some(other) => {
                    return Err(invalid(
                        None,
                        &format!(
                        "Invalid after_completion[type]: must be one of redirect or hosted_confirmation (got {other})"
                    ),
                        Some("after_completion[type]"),
                    ))
                }
                None => return Err(missing("after_completion[type]")),
            },
        };
        let id = format!("plink_{}", random(24));
        let link = json!({
            "id": id, "object": "payment_link", "active": true, "after_completion": after_completion,
            "allow_promotion_codes": params.get("allow_promotion_codes").is_some_and(|v| v == "true"),
            "billing_address_collection": "auto", "currency": currency, "livemode": false,
            "metadata": params.get("metadata").cloned().unwrap_or(json!({})),
            "url": format!("https://buy.stripe.com/test_{}", random(20)),
        });
        self.links.push(link.clone());
        Ok(ok(link))
    }

    fn create_refund(&mut self, params: &Map<String, Value>) -> Result<Answer> {
        known(
            params,
            &[
                "amount",
                "charge",
                "currency",
                "customer",
                "expand",
                "instructions_email",
                "metadata",
                "origin",
                "payment_intent",
                "reason",
                "refund_application_fee",
                "reverse_transfer",
            ],
        )?;
        let text = |name: &str| params.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
        metadata(params)?;
        if let Some(reason) = text("reason") {
            if !["duplicate", "fraudulent", "requested_by_customer"].contains(&reason) {
                return Err(invalid(
                    None,
                    &format!(
                        "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer (got {reason})"
                    ),
                    Some("reason"),
                ));
            }
        }
        let charge_id = match (text("payment_intent"), text("charge")) {
            (None, None) => {
                return Err(invalid(
                    Some("parameter_missing"),
                    "One of the following params should be provided for this request: payment_intent or charge.",
                    Some("payment_intent"),
                ))
            }
            (Some(_), Some(_)) => {
                return Err(invalid(
                    None,
                    "You may only specify one of these parameters: charge, payment_intent.",
                    Some("charge"),
                ))
            }
            (Some(pi), None) => {
                let intent = self.intents.get(pi).ok_or_else(|| no_such("payment_intent", pi, "payment_intent"))?;
                match intent["latest_charge"].as_str().filter(|_| intent["status"] == "succeeded") {
                    Some(charge) => charge.to_string(),
                    None => {
                        return Err(Answer {
                            status: 400,
                            body: error_body(
                                "invalid_request_error",
                                Some("charge_not_refundable"),
                                &format!("This PaymentIntent ({pi}) does not have a successful charge to refund."),
                                Some("payment_intent"),
                            ),
                            save: true,
                        })
                    }
                }
            }
            (None, Some(charge)) => {
                if !self.charges.contains_key(charge) {
                    return Err(no_such("charge", charge, "charge"));
                }
                charge.to_string()
            }
        };
        let charge = self.charges.get_mut(&charge_id).unwrap();
        let remaining = charge["amount"].as_i64().unwrap() - charge["amount_refunded"].as_i64().unwrap();
        if charge["refunded"] == true || remaining <= 0 {
            return Ok(Answer {
                status: 400,
                body: error_body(
                    "invalid_request_error",
                    Some("charge_already_refunded"),
                    &format!("Charge {charge_id} has already been refunded."),
                    None,
                ),
                save: true,
            });
        }
        let amount = match params.get("amount") {
            Some(a) => integer(a, "amount")?,
            None => remaining,
        };
        if amount < 1 {
            return Err(invalid(None, "This value must be greater than or equal to 1.", Some("amount")));
        }
        if amount > remaining {
            let message = format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})");
            return Ok(Answer {
                status: 400,
                body: error_body("invalid_request_error", Some("amount_too_large"), &message, Some("amount")),
                save: true,
            });
        }
        let refunded = charge["amount_refunded"].as_i64().unwrap() + amount;
        charge["amount_refunded"] = json!(refunded);
        charge["refunded"] = json!(refunded == charge["amount"].as_i64().unwrap());
        let refund = json!({
            "id": format!("re_{}", random(24)), "object": "refund", "amount": amount,
            "balance_transaction": format!("txn_{}", random(24)), "charge": charge_id, "created": now(),
            "currency": charge["currency"], "destination_details": {"card": {"type": "refund"}, "type": "card"},
            "metadata": params.get("metadata").cloned().unwrap_or(json!({})),
            "payment_intent": charge["payment_intent"], "reason": params.get("reason"),
            "receipt_number": null, "source_transfer_reversal": null, "status": "succeeded",
            "transfer_reversal": null,
        });
        self.refunds.push(refund.clone());
        Ok(ok(refund))
    }
}

/// A new customer object from create parameters.
fn new_customer(params: &Map<String, Value>) -> Value {
    json!({
        "id": format!("cus_{}", random(14)), "object": "customer", "address": null, "balance": 0,
        "created": now(), "currency": null, "default_source": null, "delinquent": false,
        "description": params.get("description"), "discount": null, "email": params.get("email"),
        "invoice_prefix": random(8).to_uppercase(),
        "invoice_settings": {"custom_fields": null, "default_payment_method": null, "footer": null, "rendering_options": null},
        "livemode": false, "metadata": params.get("metadata").cloned().unwrap_or(json!({})),
        "name": params.get("name"), "next_invoice_sequence": 1, "phone": params.get("phone"),
        "preferred_locales": [], "shipping": null, "tax_exempt": "none", "test_clock": null,
    })
}

/// Refuse parameters the endpoint does not take, as Stripe does.
fn known(params: &Map<String, Value>, allowed: &[&str]) -> Result<()> {
    match params.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => {
            Err(invalid(Some("parameter_unknown"), &format!("Received unknown parameter: {unknown}"), Some(unknown)))
        }
        None => Ok(()),
    }
}

/// `metadata` must be a hash of text values.
fn metadata(params: &Map<String, Value>) -> Result<()> {
    match params.get("metadata") {
        None | Some(Value::Object(_)) => Ok(()),
        Some(Value::String(s)) if s.is_empty() => Ok(()),
        Some(_) => Err(invalid(None, "Invalid hash", Some("metadata"))),
    }
}

fn integer(value: &Value, param: &str) -> Result<i64> {
    let text = value.as_str().unwrap_or_default();
    text.parse::<i64>().map_err(|_| invalid(None, &format!("Invalid integer: {text}"), Some(param)))
}

/// Stripe's masking of a key in its 401 message: `sk_test_` and the last four characters.
pub fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 12 {
        return "*".repeat(chars.len());
    }
    let prefix: String = chars[..8].iter().collect();
    let suffix: String = chars[chars.len() - 4..].iter().collect();
    format!("{prefix}{}{suffix}", "*".repeat(chars.len() - 12))
}

/// Put `fields` over `base`, key by key.
fn merge(base: &mut Value, fields: Value) {
    if let (Value::Object(base), Value::Object(fields)) = (base, fields) {
        base.extend(fields);
    }
}

fn random(len: usize) -> String {
    rand::thread_rng().sample_iter(&rand::distributions::Alphanumeric).take(len).map(char::from).collect()
}
