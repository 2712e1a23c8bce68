//! A loopback fake of Twilio's Programmable Messaging API (the part
//! `plugins/sms` calls), and Twilio's side of its webhooks.
//!
//! The API, as Twilio answers it:
//!
//! - every path is under `/2010-04-01/Accounts/{AccountSid}/`; HTTP Basic
//!   with [`ACCOUNT_SID`] and [`AUTH_TOKEN`] (else `401` code 20003, with
//!   `WWW-Authenticate`), and the path's SID must be the user's (else `404`
//!   code 20404); other paths `404` 20404, other methods `405` 20004;
//! - `POST .../Messages.json`, form-encoded (another content type is read as
//!   no parameters, as Twilio reads it): `To` (21604 missing, 21211 not
//!   E.164), `From` or `MessagingServiceSid` (21603 missing, 21212 / 21701
//!   malformed), `Body` or `MediaUrl` (21602 missing, 21617 over 1,600
//!   characters); Twilio's test numbers are refused as with test credentials
//!   ([`INVALID_TO`] 21211, [`UNREACHABLE_TO`] 21612, [`OPTED_OUT_TO`] 21610,
//!   [`NOT_MOBILE_TO`] 21614). Answers `201` with the Message resource
//!   (`sid` `SM` + 32 hex, `status` `queued`, or `accepted` when only a
//!   Messaging Service was given and `from` is still `null`), kept in memory;
//! - `GET .../Messages.json`: newest first (`date_created`), filters `To`, `From`,
//!   `DateSent`, `DateSent>`, `DateSent<`, pages by `PageSize` (default 50,
//!   1-1000) and `Page`, in Twilio's list shape with `next_page_uri`;
//! - `GET .../Messages/{Sid}.json`: one message.
//!
//! Errors are Twilio's body, `{"code", "message", "more_info", "status"}`.
//! Every request is recorded ([`Fake::requests`]), and
//! [`Fake::fail_next`] answers the next requests with a 429 (code 20429,
//! `Retry-After`) or a 5xx (code 20500) before anything else is checked.
//!
//! Webhooks: [`sign_webhook`] signs as Twilio does (`X-Twilio-Signature`),
//! [`inbound_message`] and [`status_callback`] build the forms Twilio posts,
//! and [`signed_webhook`] sends one.

#![allow(dead_code)]

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The test account's SID: the Basic user and part of every path.
pub const ACCOUNT_SID: &str = "ACa1b2c3d4e5f60718293a4b5c6d7e8f90";
/// The test account's Auth Token: the Basic password and the webhooks' signing key.
pub const AUTH_TOKEN: &str = "9c1e5d7a3b2f4e6081d2c3b4a5f6tw1l";
/// A Messaging Service of the account.
pub const MESSAGING_SERVICE_SID: &str = "MG9752274e9e519418a7406176694466fa";
/// Twilio's test sender that always works.
pub const FROM: &str = "+15005550006";
/// Test recipients Twilio refuses (with test credentials; here always).
pub const INVALID_TO: &str = "+15005550001";
pub const UNREACHABLE_TO: &str = "+15005550002";
pub const OPTED_OUT_TO: &str = "+15005550004";
pub const NOT_MOBILE_TO: &str = "+15005550009";
/// Twilio's API version, the first segment of every path.
pub const API_VERSION: &str = "2010-04-01";

/// One request the fake received, whatever it answered.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string (`""` when none).
    pub query: String,
    /// Header names lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
    /// The status the fake answered.
    pub status: u16,
}

impl Recorded {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as form pairs, in order, repeats kept.
    pub fn form(&self) -> Vec<(String, String)> {
        decode(&self.body)
    }

    /// The query as pairs, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        decode(self.query.as_bytes())
    }
}

/// The fake's state: what was created, what was received, what to fail.
#[derive(Default)]
struct State {
    /// Messages, oldest first (created by POST or seeded).
    messages: Mutex<Vec<Value>>,
    requests: Mutex<Vec<Recorded>>,
    /// (status, times left, Retry-After seconds).
    failures: Mutex<Option<(u16, usize, Option<u64>)>>,
}

/// A running fake Twilio on 127.0.0.1; it stops with the test's runtime.
pub struct Fake {
    pub addr: std::net::SocketAddr,
    state: Arc<State>,
}

/// Start a fake on a port the OS picks.
pub async fn start() -> Fake {
    Fake::start().await
}

impl Fake {
    pub async fn start() -> Fake {
        let state = Arc::new(State::default());
        let shared = state.clone();
        let router = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let state = shared.clone();
            async move { handle(&state, method, uri, headers, body) }
        });
        Fake { addr: crate::common::serve(router).await, state }
    }

    /// `http://127.0.0.1:PORT`: a credential's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What an operator grants the sms plugin to reach this fake: the IP literal with its port.
    pub fn http_grant(&self) -> String {
        format!("127.0.0.1:{}", self.addr.port())
    }

    /// The body of `PUT /api/v1/credentials/{name}` for the test account, pointed at this fake.
    pub fn credential(&self) -> Value {
        self.credential_with_token(AUTH_TOKEN)
    }

    /// The same with another Auth Token (a wrong one: Twilio answers 401).
    pub fn credential_with_token(&self, auth_token: &str) -> Value {
        json!({
            "type": "wirework/sms:twilio",
            "fields": {"account_sid": ACCOUNT_SID, "auth_token": auth_token, "base_url": self.base_url()}
        })
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// The `POST .../Messages.json` requests received so far.
    pub fn sends(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.method == "POST" && r.path.ends_with("/Messages.json")).collect()
    }

    /// Answer the next `times` requests with `status` and Twilio's error body
    /// (429: code 20429 and, when given, `Retry-After: <seconds>`; 5xx: code
    /// 20500), before auth or anything else is checked; nothing is created.
    pub fn fail_next(&self, status: u16, times: usize, retry_after: Option<u64>) {
        *self.state.failures.lock().unwrap() = Some((status, times, retry_after));
    }

    /// Every message, oldest first (created through the API or seeded).
    pub fn messages(&self) -> Vec<Value> {
        self.state.messages.lock().unwrap().clone()
    }

    /// One message by its sid.
    pub fn message(&self, sid: &str) -> Option<Value> {
        self.messages().into_iter().find(|m| m["sid"] == sid)
    }

    /// Add a message as if it had been received (`direction: inbound`,
    /// `status: received`, sent now) with `fields` set over it (any of the
    /// resource's fields: `from`, `to`, `body`, `date_sent` in RFC 2822,
    /// ...; `date_created` too, else it is the newest in lists). Returns the
    /// whole resource.
    pub fn seed_message(&self, fields: Value) -> Value {
        let sid = new_sid("SM");
        let now = chrono::Utc::now().to_rfc2822();
        let mut message = json!({
            "account_sid": ACCOUNT_SID, "api_version": API_VERSION, "body": "",
            "date_created": now, "date_sent": now, "date_updated": now,
            "direction": "inbound", "error_code": null, "error_message": null,
            "from": "+14155552671", "messaging_service_sid": null, "num_media": "0", "num_segments": "1",
            "price": "-0.00790", "price_unit": "USD", "sid": sid, "status": "received",
            "subresource_uris": {"media": format!("{}/Media.json", message_path(&sid).trim_end_matches(".json"))},
            "to": FROM, "uri": message_path(&sid),
        });
        if let Value::Object(fields) = fields {
            for (k, v) in fields {
                message[k] = v;
            }
        }
        self.state.messages.lock().unwrap().push(message.clone());
        message
    }

    /// The form of Twilio's status callback for message `sid` (as sent or
    /// seeded here), now `status`; `error_code` for a failure (30003...).
    pub fn status_callback(&self, sid: &str, status: &str, error_code: Option<u32>) -> Vec<(String, String)> {
        let message = self.message(sid).unwrap_or_else(|| panic!("the fake has no message {sid}"));
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        status_callback(sid, status, &text(&message["to"]), &text(&message["from"]), error_code)
    }

    /// [`sign_webhook`] with the test account's Auth Token.
    pub fn sign_webhook<K: AsRef<str>, V: AsRef<str>>(&self, url: &str, params: &[(K, V)]) -> String {
        sign_webhook(url, params, AUTH_TOKEN)
    }
}

/// `/2010-04-01/Accounts/{AC}/Messages/{SM}.json`.
fn message_path(sid: &str) -> String {
    format!("/{API_VERSION}/Accounts/{ACCOUNT_SID}/Messages/{sid}.json")
}

/// `prefix` and 32 lower-case hex digits, as Twilio's SIDs are.
pub fn new_sid(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

fn decode(bytes: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// Encode pairs as a form body (`application/x-www-form-urlencoded`).
pub fn form_body<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        form.append_pair(k.as_ref(), v.as_ref());
    }
    form.finish()
}

/// Twilio's error answer.
fn error(status: u16, code: u32, message: &str) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    });
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

fn not_found(path: &str) -> Response {
    error(404, 20404, &format!("The requested resource {path} was not found"))
}

fn handle(state: &State, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let at = Instant::now();
    let response = answer(state, &method, &uri, &headers, &body);
    state.requests.lock().unwrap().push(Recorded {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or_default().to_string(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body: body.to_vec(),
        at,
        status: response.status().as_u16(),
    });
    response
}

fn answer(state: &State, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Response {
    {
        let mut failures = state.failures.lock().unwrap();
        if let Some((status, left, retry_after)) = failures.as_mut() {
            if *left > 0 {
                *left -= 1;
                let mut response = match *status {
                    429 => error(429, 20429, "Too Many Requests"),
                    s if s >= 500 => error(s, 20500, "Internal Server Error"),
                    s => error(s, 20001, "Failing as told"),
                };
                if let Some(secs) = retry_after {
                    response.headers_mut().insert("retry-after", HeaderValue::from(*secs));
                }
                return response;
            }
        }
    }
    let path = uri.path();
    let Some(rest) = path.strip_prefix(&format!("/{API_VERSION}/Accounts/")) else {
        return not_found(path);
    };
    if !authorized(headers) {
        let mut response = error(401, 20003, "Authenticate");
        response.headers_mut().insert("www-authenticate", HeaderValue::from_static("Basic realm=\"Twilio API\""));
        return response;
    }
    let Some((account, resource)) = rest.split_once('/') else { return not_found(path) };
    if account != ACCOUNT_SID {
        return not_found(path);
    }
    let not_allowed = || error(405, 20004, "Method not allowed");
    if resource == "Messages.json" {
        return match *method {
            Method::POST => create(state, headers, body),
            Method::GET => list(state, uri.query().unwrap_or_default()),
            _ => not_allowed(),
        };
    }
    if let Some(sid) = resource.strip_prefix("Messages/").and_then(|r| r.strip_suffix(".json")) {
        if *method != Method::GET {
            return not_allowed();
        }
        let found = state.messages.lock().unwrap().iter().find(|m| m["sid"] == sid).cloned();
        return match found {
            Some(message) => (StatusCode::OK, axum::Json(message)).into_response(),
            None => not_found(path),
        };
    }
    not_found(path)
}

/// `Authorization: Basic base64(ACCOUNT_SID:AUTH_TOKEN)`.
fn authorized(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else { return false };
    let Some((scheme, encoded)) = value.split_once(' ') else { return false };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else { return false };
    decoded == format!("{ACCOUNT_SID}:{AUTH_TOKEN}").as_bytes()
}

/// `+` and 8 to 15 digits, the first not 0, optionally after `whatsapp:`.
fn e164(number: &str) -> bool {
    let number = number.strip_prefix("whatsapp:").unwrap_or(number);
    let Some(digits) = number.strip_prefix('+') else { return false };
    (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

/// A sender: a number, a short code (5-6 digits) or an alphanumeric id (1-11, a letter among them).
fn valid_sender(from: &str) -> bool {
    let short_code = (5..=6).contains(&from.len()) && from.bytes().all(|b| b.is_ascii_digit());
    let alphanumeric = (1..=11).contains(&from.len())
        && from.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ')
        && from.bytes().any(|b| b.is_ascii_alphabetic());
    e164(from) || short_code || alphanumeric
}

fn create(state: &State, headers: &HeaderMap, body: &[u8]) -> Response {
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let form = if content_type.split(';').next().unwrap_or_default().trim() == "application/x-www-form-urlencoded" {
        decode(body)
    } else {
        Vec::new()
    };
    let first = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
    let Some(to) = first("To") else { return error(400, 21604, "A 'To' phone number is required.") };
    if !e164(to) {
        return error(400, 21211, &format!("The 'To' number {to} is not a valid phone number."));
    }
    let (from, service) = (first("From"), first("MessagingServiceSid"));
    if from.is_none() && service.is_none() {
        return error(400, 21603, "A 'From' phone number is required.");
    }
    if let Some(from) = from.filter(|f| !valid_sender(f.strip_prefix("whatsapp:").unwrap_or(f))) {
        return error(
            400,
            21212,
            &format!("The 'From' number {from} is not a valid phone number, shortcode, or alphanumeric sender ID."),
        );
    }
    if let Some(service) = service {
        let valid =
            service.len() == 34 && service.starts_with("MG") && service[2..].bytes().all(|b| b.is_ascii_hexdigit());
        if !valid {
            return error(400, 21701, &format!("The Messaging Service Sid {service} is invalid."));
        }
    }
    let text = first("Body");
    let media: Vec<&str> =
        form.iter().filter(|(k, v)| k == "MediaUrl" && !v.is_empty()).map(|(_, v)| v.as_str()).collect();
    if text.is_none() && media.is_empty() {
        return error(400, 21602, "Message body is required.");
    }
    let chars = text.map_or(0, |t| t.chars().count());
    if chars > 1600 {
        return error(400, 21617, "The concatenated message body exceeds the 1600 character limit.");
    }
    if media.len() > 10 {
        return error(400, 21623, "Number of media files exceeds allowed limit.");
    }
    let number = to.strip_prefix("whatsapp:").unwrap_or(to);
    match number {
        INVALID_TO => return error(400, 21211, &format!("The 'To' number {to} is not a valid phone number.")),
        UNREACHABLE_TO => {
            let message = format!(
                "The 'To' phone number: {to}, is not currently reachable using the 'From' phone number: {} via SMS.",
                from.unwrap_or_default()
            );
            return error(400, 21612, &message);
        }
        OPTED_OUT_TO => return error(400, 21610, "Attempt to send to unsubscribed recipient"),
        NOT_MOBILE_TO => return error(400, 21614, &format!("'To' number {to} is not a valid mobile number")),
        _ => {}
    }
    let sid = new_sid("SM");
    let now = chrono::Utc::now().to_rfc2822();
    let segments = if chars <= 160 { 1 } else { chars.div_ceil(153) };
    let message = json!({
        "account_sid": ACCOUNT_SID,
        "api_version": API_VERSION,
        "body": text.unwrap_or_default(),
        "date_created": now,
        "date_sent": null,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": from,
        "messaging_service_sid": service,
        "num_media": media.len().to_string(),
        "num_segments": segments.to_string(),
        "price": null,
        "price_unit": "USD",
        "sid": sid,
        // A Messaging Service picks the sender after the answer.
        "status": if from.is_some() { "queued" } else { "accepted" },
        "subresource_uris": {"media": format!("{}/Media.json", message_path(&sid).trim_end_matches(".json"))},
        "to": to,
        "uri": message_path(&sid),
    });
    state.messages.lock().unwrap().push(message.clone());
    (StatusCode::CREATED, axum::Json(message)).into_response()
}

/// A `DateSent` filter's value: a day (`YYYY-MM-DD`) or an instant (ISO 8601).
enum When {
    Day(chrono::NaiveDate),
    Instant(chrono::DateTime<chrono::Utc>),
}

fn when(value: &str) -> Option<When> {
    if let Ok(day) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Some(When::Day(day));
    }
    chrono::DateTime::parse_from_rfc3339(value).ok().map(|t| When::Instant(t.with_timezone(&chrono::Utc)))
}

fn list(state: &State, query: &str) -> Response {
    let pairs = decode(query.as_bytes());
    let first = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let page_size = match first("PageSize").map(str::parse::<usize>) {
        None => 50,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => return error(400, 20001, "Invalid PageSize: it must be 1 to 1000"),
    };
    let page = match first("Page").map(str::parse::<usize>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(_) => return error(400, 20001, "Invalid Page"),
    };
    let mut dates = Vec::new();
    for name in ["DateSent", "DateSent>", "DateSent<"] {
        if let Some(value) = first(name) {
            match when(value) {
                Some(w) => dates.push((name, w)),
                None => return error(400, 20001, &format!("Invalid value for {name}: {value}")),
            }
        }
    }
    let filters: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| ["To", "From", "DateSent", "DateSent>", "DateSent<"].contains(&k.as_str()))
        .cloned()
        .collect();
    let mut matched: Vec<Value> = {
        let messages = state.messages.lock().unwrap();
        messages.iter().rev().filter(|m| matches(m, first("To"), first("From"), &dates)).cloned().collect()
    };
    // Newest first: by `date_created` (whole seconds), then the later created or seeded.
    matched.sort_by_key(|m| std::cmp::Reverse(rfc2822(&m["date_created"])));
    let start = page.saturating_mul(page_size);
    let on_page: Vec<Value> = matched.iter().skip(start).take(page_size).cloned().collect();
    let base = format!("/{API_VERSION}/Accounts/{ACCOUNT_SID}/Messages.json");
    let uri_of = |page: usize, token: Option<String>| {
        let mut query = filters.clone();
        query.push(("PageSize".into(), page_size.to_string()));
        query.push(("Page".into(), page.to_string()));
        query.extend(token.map(|t| ("PageToken".to_string(), t)));
        format!("{base}?{}", form_body(&query))
    };
    let next = (start + page_size < matched.len())
        .then(|| uri_of(page + 1, on_page.last().map(|m| format!("PA{}", m["sid"].as_str().unwrap_or_default()))));
    let previous = (page > 0).then(|| uri_of(page - 1, None));
    let body = json!({
        "end": (start + on_page.len()).saturating_sub(1),
        "first_page_uri": uri_of(0, None),
        "messages": on_page,
        "next_page_uri": next,
        "page": page,
        "page_size": page_size,
        "previous_page_uri": previous,
        "start": start,
        "uri": uri_of(page, first("PageToken").map(String::from)),
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn rfc2822(value: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    value.as_str().and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok()).map(|d| d.with_timezone(&chrono::Utc))
}

fn matches(message: &Value, to: Option<&str>, from: Option<&str>, dates: &[(&str, When)]) -> bool {
    if to.is_some_and(|to| message["to"] != to) || from.is_some_and(|from| message["from"] != from) {
        return false;
    }
    if dates.is_empty() {
        return true;
    }
    let Some(sent) = rfc2822(&message["date_sent"]) else { return false };
    dates.iter().all(|(name, w)| match (*name, w) {
        ("DateSent", When::Day(day)) => sent.date_naive() == *day,
        ("DateSent", When::Instant(t)) => sent == *t,
        ("DateSent>", When::Day(day)) => sent.date_naive() >= *day,
        ("DateSent>", When::Instant(t)) => sent >= *t,
        ("DateSent<", When::Day(day)) => sent.date_naive() <= *day,
        (_, When::Instant(t)) => sent <= *t,
        (_, When::Day(day)) => sent.date_naive() <= *day,
    })
}

// ---------------------------------------------------------------- webhooks

/// Twilio's `X-Twilio-Signature` for a POST of `params` to `url`: base64
/// HMAC-SHA1, under the Auth Token, of the full URL followed by every
/// parameter's name and value, sorted by name (then value). For a GET, sign
/// the URL with its query and no params.
pub fn sign_webhook<K: AsRef<str>, V: AsRef<str>>(url: &str, params: &[(K, V)], auth_token: &str) -> String {
    let mut sorted: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
    sorted.sort_unstable();
    let mut data = url.to_string();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    base64::engine::general_purpose::STANDARD.encode(hmac_sha1(auth_token.as_bytes(), data.as_bytes()))
}

/// A signed webhook request as Twilio sends it: a form POST of `params` to
/// `post_to`, signed for `signed_url` (the URL configured in Twilio, which
/// the host must see: `post_to` itself, or the server's `public_url` and
/// the hook's path).
pub fn signed_webhook(
    client: &reqwest::Client,
    post_to: &str,
    signed_url: &str,
    params: &[(String, String)],
    auth_token: &str,
) -> reqwest::RequestBuilder {
    client
        .post(post_to)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", sign_webhook(signed_url, params, auth_token))
        .header("user-agent", "TwilioProxy/1.1")
        .body(form_body(params))
}

/// The form Twilio posts for an incoming SMS from `from` to the account's
/// number `to` (a fresh `MessageSid`: read it with [`param`]).
pub fn inbound_message(from: &str, to: &str, body: &str) -> Vec<(String, String)> {
    let sid = new_sid("SM");
    [
        ("ToCountry", "US"),
        ("ToState", "CA"),
        ("SmsMessageSid", sid.as_str()),
        ("NumMedia", "0"),
        ("ToCity", "SAN FRANCISCO"),
        ("FromZip", "94105"),
        ("SmsSid", sid.as_str()),
        ("FromState", "CA"),
        ("SmsStatus", "received"),
        ("FromCity", "SAN FRANCISCO"),
        ("Body", body),
        ("FromCountry", "US"),
        ("To", to),
        ("ToZip", "94105"),
        ("NumSegments", "1"),
        ("MessageSid", sid.as_str()),
        ("AccountSid", ACCOUNT_SID),
        ("From", from),
        ("ApiVersion", API_VERSION),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The form of Twilio's status callback for message `sid`, now `status`
/// (`sent`, `delivered`, `undelivered`, `failed`...), with `ErrorCode` when given.
pub fn status_callback(
    sid: &str,
    status: &str,
    to: &str,
    from: &str,
    error_code: Option<u32>,
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        ("SmsSid", sid),
        ("SmsStatus", status),
        ("MessageStatus", status),
        ("To", to),
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", from),
        ("ApiVersion", API_VERSION),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    params.extend(error_code.map(|c| ("ErrorCode".to_string(), c.to_string())));
    params
}

/// The first value of `name` in a form.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// HMAC-SHA1 (RFC 2104): the host has no SHA-1 crate, and Twilio signs with it.
pub fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..20].copy_from_slice(&sha1(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let mut inner = pad(0x36);
    inner.extend_from_slice(data);
    let mut outer = pad(0x5c);
    outer.extend_from_slice(&sha1(&inner));
    sha1(&outer)
}

/// SHA-1 (FIPS 180-4).
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_be_bytes());
    for chunk in message.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (word, bytes) in w.iter_mut().zip(chunk.chunks_exact(4)) {
            *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, word) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*word);
            (e, d, c, b, a) = (d, c, b.rotate_left(30), a, t);
        }
        for (state, add) in h.iter_mut().zip([a, b, c, d, e]) {
            *state = state.wrapping_add(add);
        }
    }
    let mut out = [0u8; 20];
    for (bytes, word) in out.chunks_exact_mut(4).zip(h) {
        bytes.copy_from_slice(&word.to_be_bytes());
    }
    out
}
