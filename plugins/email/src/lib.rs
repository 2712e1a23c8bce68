//! `wirework/email`: email through SendGrid's v3 API.
//!
//! - `send` (action): one `POST /v3/mail/send` per input item, a dynamic
//!   template with its data or a subject with text/HTML content. Every email
//!   carries the custom arg `contact` (the recipient's address in lower case
//!   unless `custom_args.contact` says otherwise), which SendGrid hands back
//!   on each of its events, so the `events` trigger publishes them keyed by it.
//! - `list-bounces` (action): `GET /v3/suppression/bounces`, paginated by
//!   offset up to `limit`; one output item per bounce.
//! - `events` (trigger): SendGrid's signed Event Webhook, verified with
//!   [`signature::verify_sendgrid`]; publishes `email.delivered`,
//!   `email.opened`, `email.clicked`, `email.bounced`, `email.spam_reported`
//!   and `email.unsubscribed`, keyed by contact, and starts an execution with
//!   the events whose kind the config lists.
//!
//! Requests name the `sendgrid` credential type: the host adds the API key
//! (`Authorization: Bearer ...`); the plugin reads only its `base_url`.
//! SendGrid has no idempotency key: a `send` retried after a 5xx or a network
//! failure may send the email twice (see the README).

use serde::Deserialize;
use serde_json::{json, Map, Value};
use wirework_sdk::signature::{self, SignatureError};
use wirework_sdk::{
    clock, credentials, http, log, Event, Input, Item, Node, NodeError, NodeInfo, Outcome, Request, Response,
    TriggerResult,
};

/// The API credential type (bearer `api_key`, optional `base_url`).
const API_CREDENTIAL: &str = "sendgrid";
/// The Event Webhook credential type (`public_key`).
const WEBHOOK_CREDENTIAL: &str = "sendgrid-webhook";
/// SendGrid's API; EU-pinned accounts use `https://api.eu.sendgrid.com`.
const DEFAULT_BASE_URL: &str = "https://api.sendgrid.com";
/// `categories`: SendGrid's limits.
const MAX_CATEGORIES: usize = 10;
const MAX_CATEGORY_CHARS: usize = 255;
/// `list-bounces`: default and largest `limit`, and SendGrid's largest page.
const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 10_000;
const PAGE_SIZE: u64 = 500;
/// The Event Webhook's headers.
const SIGNATURE_HEADER: &str = "X-Twilio-Email-Event-Webhook-Signature";
const TIMESTAMP_HEADER: &str = "X-Twilio-Email-Event-Webhook-Timestamp";
/// The Event Webhook's event kinds (`event`), in SendGrid's spelling.
const EVENT_KINDS: &[&str] = &[
    "processed",
    "delivered",
    "open",
    "click",
    "bounce",
    "dropped",
    "deferred",
    "spamreport",
    "unsubscribe",
    "group_unsubscribe",
    "group_resubscribe",
];

fn bad_config(message: impl Into<String>) -> NodeError {
    NodeError::fatal(message).with_code("bad_config")
}

/// The API base from the bound `sendgrid` credential, without a trailing `/`.
fn base_url() -> Result<String, NodeError> {
    let credential = credentials::get(API_CREDENTIAL)?;
    let base = credential.optional("base_url").map(str::trim).filter(|b| !b.is_empty()).unwrap_or(DEFAULT_BASE_URL);
    Ok(base.trim_end_matches('/').to_string())
}

/// The error for a SendGrid answer that is not a success. SendGrid's error
/// body is `{"errors": [{"message", "field", "help"}]}`: every message is
/// kept, each after its field when it names one. 408, 429 and 5xx are
/// retryable, after `Retry-After` (seconds) or, for a 429 without it,
/// `X-RateLimit-Reset` (Unix seconds); the code is `sendgrid_<status>`.
fn api_error(what: &str, response: &Response) -> NodeError {
    let status = response.status;
    let detail = error_detail(&response.body);
    let message = format!("{what}: SendGrid answered {status}: {detail}");
    let code = format!("sendgrid_{status}");
    let error = match status {
        408 | 429 | 500..=599 => NodeError::retryable(message),
        _ => NodeError::fatal(message),
    }
    .with_code(&code);
    if !error.retryable {
        return error;
    }
    let retry_after = response.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok());
    let wait_ms = match retry_after {
        Some(secs) => Some(secs.saturating_mul(1000)),
        None if status == 429 => response
            .header("x-ratelimit-reset")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|reset| reset.saturating_mul(1000).saturating_sub(clock::now_unix_ms()))
            .filter(|ms| *ms > 0),
        None => None,
    };
    match wait_ms {
        Some(ms) => error.retry_after_ms(ms),
        None => error,
    }
}

fn error_detail(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Body {
        errors: Vec<ErrorEntry>,
    }
    #[derive(Deserialize)]
    struct ErrorEntry {
        message: Option<String>,
        field: Option<String>,
    }
    if let Ok(parsed) = serde_json::from_slice::<Body>(body) {
        let messages: Vec<String> = parsed
            .errors
            .into_iter()
            .filter_map(|e| {
                let message = e.message.filter(|m| !m.is_empty())?;
                Some(match e.field.filter(|f| !f.is_empty()) {
                    Some(field) => format!("{field}: {message}"),
                    None => message,
                })
            })
            .collect();
        if !messages.is_empty() {
            return messages.join("; ");
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "no details".into()
    } else {
        text.chars().take(300).collect()
    }
}

/// A non-empty, trimmed string option.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// An address config value (`"ann@example.com"` or `{"email", "name"}`),
/// with `name_override` (`to_name`, ...) over its own name, as SendGrid's
/// `{"email", "name"?}`. Returns it and the trimmed email.
fn address(field: &str, value: &Value, name_override: Option<&str>) -> Result<(Value, String), NodeError> {
    let (email, name) = match value {
        Value::String(email) => (email.as_str(), None),
        Value::Object(object) => {
            if let Some(unknown) = object.keys().find(|k| *k != "email" && *k != "name") {
                return Err(bad_config(format!("`{field}` takes `email` and `name`, not `{unknown}`")));
            }
            let email = object.get("email").and_then(Value::as_str).unwrap_or("");
            let name = match object.get("name") {
                None | Some(Value::Null) => None,
                Some(Value::String(name)) => Some(name.as_str()),
                Some(_) => return Err(bad_config(format!("`{field}.name` must be a string"))),
            };
            (email, name)
        }
        _ => return Err(bad_config(format!("`{field}` must be an email address or {{email, name}}"))),
    };
    let email = email.trim();
    if !valid_email(email) {
        return Err(bad_config(format!("`{field}` is not an email address: {email:?}")));
    }
    let mut out = json!({"email": email});
    if let Some(name) = name_override.or(name).map(str::trim).filter(|n| !n.is_empty()) {
        out["name"] = json!(name);
    }
    Ok((out, email.to_string()))
}

/// A plausibility check, not RFC 5322: `local@domain`, no spaces, one `@`.
fn valid_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

// ---------------------------------------------------------------- send

/// Configuration of `send`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendConfig {
    /// The recipient: an address or `{email, name}`.
    pub to: Value,
    /// The recipient's name (over `to.name`).
    pub to_name: Option<String>,
    /// The sender (a verified sender or domain in SendGrid): an address or `{email, name}`.
    pub from: Value,
    /// The sender's name (over `from.name`).
    pub from_name: Option<String>,
    /// Where replies go: an address or `{email, name}`.
    pub reply_to: Option<Value>,
    /// A dynamic template (`d-...`).
    pub template_id: Option<String>,
    /// The dynamic template's data (`dynamic_template_data`).
    pub data: Option<Map<String, Value>>,
    /// The subject (required without a template).
    pub subject: Option<String>,
    /// Plain-text content (without a template).
    pub text: Option<String>,
    /// HTML content (without a template).
    pub html: Option<String>,
    /// Up to 10 categories of at most 255 characters, for SendGrid's stats and the events.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Custom args (strings; numbers and booleans are written as strings),
    /// echoed on every event. `contact` here replaces the default contact key.
    #[serde(default)]
    pub custom_args: Map<String, Value>,
}

/// Sends an email per input item.
pub struct Send;

impl Node for Send {
    const NAME: &'static str = "send";
    type Config = SendConfig;

    fn info() -> NodeInfo {
        let address = |what: &str| {
            json!({
                "description": what,
                "oneOf": [
                    {"type": "string", "format": "email"},
                    {
                        "type": "object",
                        "required": ["email"],
                        "properties": {"email": {"type": "string", "format": "email"}, "name": {"type": "string"}},
                        "additionalProperties": false
                    }
                ]
            })
        };
        NodeInfo::action(
            "Send email (SendGrid)",
            "Sends an email through SendGrid per input item: a dynamic template with data, or a subject with text/HTML",
        )
        .schema(json!({
            "type": "object",
            "required": ["to", "from"],
            "properties": {
                "to": address("Recipient: an address, or {email, name}"),
                "to_name": {"type": "string", "description": "Recipient's name (over to.name)"},
                "from": address("Sender, a verified sender or domain in SendGrid: an address, or {email, name}"),
                "from_name": {"type": "string", "description": "Sender's name (over from.name)"},
                "reply_to": address("Reply-to: an address, or {email, name}"),
                "template_id": {"type": "string", "description": "Dynamic template id (d-...); else subject and text or html are required"},
                "data": {"type": "object", "description": "The dynamic template's data (dynamic_template_data); needs template_id"},
                "subject": {"type": "string", "description": "Subject; required without template_id"},
                "text": {"type": "string", "description": "Plain-text body (without template_id)"},
                "html": {"type": "string", "description": "HTML body (without template_id)"},
                "categories": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1, "maxLength": MAX_CATEGORY_CHARS},
                    "maxItems": MAX_CATEGORIES,
                    "description": "Up to 10 categories (SendGrid stats; echoed on events)"
                },
                "custom_args": {
                    "type": "object",
                    "additionalProperties": {"type": ["string", "number", "boolean"]},
                    "description": "Echoed on every event; `contact` sets the key events are published under (default: the recipient's address in lower case)"
                }
            },
            "additionalProperties": false
        }))
    }

    fn run(config: SendConfig, input: Input) -> Result<Outcome, NodeError> {
        let (body, to, contact) = mail_body(&config)?;
        let url = format!("{}/v3/mail/send", base_url()?);
        let mut out = Vec::with_capacity(input.items.len().max(1));
        for _ in 0..input.items.len().max(1) {
            let response = http::post(&url).credential(API_CREDENTIAL).json(&body).send()?;
            if !(200..300).contains(&response.status) {
                return Err(api_error(&format!("sending the email to {to}"), &response));
            }
            let message_id = response.header("x-message-id").map(str::trim).filter(|id| !id.is_empty());
            out.push(json!({"message_id": message_id, "to": to, "contact": contact, "status": "accepted"}));
        }
        Ok(Outcome::emit(out))
    }
}

/// The `/v3/mail/send` body, the recipient's address and the contact key.
fn mail_body(config: &SendConfig) -> Result<(Value, String, String), NodeError> {
    let (to, to_email) = address("to", &config.to, given(&config.to_name))?;
    let (from, _) = address("from", &config.from, given(&config.from_name))?;
    let reply_to = match &config.reply_to {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(value) => Some(address("reply_to", value, None)?.0),
    };
    let template_id = given(&config.template_id);
    let subject = given(&config.subject);
    let (text, html) =
        (config.text.as_deref().filter(|t| !t.is_empty()), config.html.as_deref().filter(|h| !h.is_empty()));
    match template_id {
        Some(_) if text.is_some() || html.is_some() => {
            return Err(bad_config(
                "`text` and `html` are for emails without `template_id` (the template has the content)",
            ))
        }
        None if subject.is_none() || (text.is_none() && html.is_none()) => {
            return Err(bad_config("give either `template_id`, or `subject` and `text` or `html`"))
        }
        None if config.data.is_some() => {
            return Err(bad_config("`data` fills a dynamic template: it needs `template_id`"))
        }
        _ => {}
    }

    let mut custom_args = Map::new();
    for (key, value) in &config.custom_args {
        let value = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => continue,
            _ => return Err(bad_config(format!("`custom_args.{key}` must be a string, number or boolean"))),
        };
        custom_args.insert(key.clone(), Value::String(value));
    }
    let contact = match custom_args.get("contact").and_then(Value::as_str).map(str::trim) {
        Some(contact) if !contact.is_empty() => contact.to_string(),
        _ => to_email.to_lowercase(),
    };

    let mut categories: Vec<&str> = Vec::new();
    for category in &config.categories {
        let category = category.trim();
        if category.is_empty() {
            return Err(bad_config("`categories` may not hold an empty category"));
        }
        if category.chars().count() > MAX_CATEGORY_CHARS {
            return Err(bad_config(format!(
                "a category is at most {MAX_CATEGORY_CHARS} characters: {category:.40}..."
            )));
        }
        if !categories.contains(&category) {
            categories.push(category);
        }
    }
    if categories.len() > MAX_CATEGORIES {
        return Err(bad_config(format!("at most {MAX_CATEGORIES} categories, not {}", categories.len())));
    }

    let mut personalization = json!({"to": [to], "custom_args": {"contact": contact}});
    if let (Some(_), Some(data)) = (template_id, &config.data) {
        personalization["dynamic_template_data"] = Value::Object(data.clone());
    }
    let mut body = json!({"personalizations": [personalization], "from": from});
    if let Some(reply_to) = reply_to {
        body["reply_to"] = reply_to;
    }
    if let Some(template_id) = template_id {
        body["template_id"] = json!(template_id);
    }
    if let Some(subject) = subject {
        body["subject"] = json!(subject);
    }
    if template_id.is_none() {
        // SendGrid wants text/plain first, then text/html.
        let mut content = Vec::new();
        if let Some(text) = text {
            content.push(json!({"type": "text/plain", "value": text}));
        }
        if let Some(html) = html {
            content.push(json!({"type": "text/html", "value": html}));
        }
        body["content"] = Value::Array(content);
    }
    if !categories.is_empty() {
        body["categories"] = json!(categories);
    }
    if !custom_args.is_empty() {
        body["custom_args"] = Value::Object(custom_args);
    }
    Ok((body, to_email, contact))
}

// ---------------------------------------------------------------- list-bounces

/// Configuration of `list-bounces`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListBouncesConfig {
    /// Bounces at or after this time (Unix seconds).
    pub start_time: Option<u64>,
    /// Bounces at or before this time (Unix seconds).
    pub end_time: Option<u64>,
    /// At most this many bounces (default 100, at most 10,000).
    #[serde(default = "default_limit")]
    pub limit: u64,
}

fn default_limit() -> u64 {
    DEFAULT_LIMIT
}

/// Lists the bounce suppressions, one item per bounce.
pub struct ListBounces;

impl Node for ListBounces {
    const NAME: &'static str = "list-bounces";
    type Config = ListBouncesConfig;

    fn info() -> NodeInfo {
        NodeInfo::action("List bounces (SendGrid)", "Lists SendGrid's bounce suppressions, one item per bounce").schema(
            json!({
                "type": "object",
                "properties": {
                    "start_time": {"type": "integer", "minimum": 0, "description": "Bounces at or after this time (Unix seconds)"},
                    "end_time": {"type": "integer", "minimum": 0, "description": "Bounces at or before this time (Unix seconds)"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT, "description": "At most this many bounces"}
                },
                "additionalProperties": false
            }),
        )
    }

    fn run(config: ListBouncesConfig, _input: Input) -> Result<Outcome, NodeError> {
        if !(1..=MAX_LIMIT).contains(&config.limit) {
            return Err(bad_config(format!("`limit` is between 1 and {MAX_LIMIT}, not {}", config.limit)));
        }
        let base = base_url()?;
        let mut window = String::new();
        if let Some(start) = config.start_time {
            window.push_str(&format!("start_time={start}&"));
        }
        if let Some(end) = config.end_time {
            window.push_str(&format!("end_time={end}&"));
        }
        let mut out: Vec<Item> = Vec::new();
        let mut offset = 0u64;
        loop {
            let page = PAGE_SIZE.min(config.limit - out.len() as u64);
            let url = format!("{base}/v3/suppression/bounces?{window}limit={page}&offset={offset}");
            let response = http::get(&url).header("accept", "application/json").credential(API_CREDENTIAL).send()?;
            if !(200..300).contains(&response.status) {
                return Err(api_error("listing the bounces", &response));
            }
            let records: Vec<Value> = response.body_json()?;
            let got = records.len() as u64;
            out.extend(records.into_iter().take(page as usize).map(|record| bounce_item(&record)));
            offset += got;
            if got < page || out.len() as u64 >= config.limit {
                break;
            }
        }
        Ok(Outcome::emit(out))
    }
}

/// `{created, email, reason, status}` as an item.
fn bounce_item(record: &Value) -> Item {
    let email = record.get("email").and_then(Value::as_str).unwrap_or("");
    let created = record.get("created").and_then(Value::as_u64);
    json!({
        "email": email,
        "contact": email.trim().to_lowercase(),
        "reason": record.get("reason").cloned().unwrap_or(Value::Null),
        "status": record.get("status").cloned().unwrap_or(Value::Null),
        "created": created,
        "at": created.map(|secs| secs.saturating_mul(1000)),
    })
}

// ---------------------------------------------------------------- events

/// Configuration of `events`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// The event kinds (SendGrid's names) that start an execution, one item
    /// each; none (the default) starts nothing: the events are published anyway.
    #[serde(default)]
    pub events: Vec<String>,
}

/// Takes SendGrid's signed Event Webhook.
pub struct Events;

impl Node for Events {
    const NAME: &'static str = "events";
    type Config = EventsConfig;

    fn info() -> NodeInfo {
        NodeInfo::trigger(
            "SendGrid events",
            "Takes SendGrid's signed Event Webhook: publishes email.* events keyed by contact, starts an execution with the kinds listed",
        )
        .schema(json!({
            "type": "object",
            "properties": {
                "events": {
                    "type": "array",
                    "items": {"enum": EVENT_KINDS},
                    "uniqueItems": true,
                    "default": [],
                    "description": "SendGrid event kinds that start an execution, one item per event (none: only publish email.* events)"
                }
            },
            "additionalProperties": false
        }))
    }

    fn run(_config: EventsConfig, input: Input) -> Result<Outcome, NodeError> {
        // The items the request made: passed on as they are.
        Ok(Outcome::emit(input.items))
    }

    fn handle_request(config: EventsConfig, request: Request) -> Result<TriggerResult, NodeError> {
        if let Some(unknown) = config.events.iter().find(|e| !EVENT_KINDS.contains(&e.as_str())) {
            return Err(bad_config(format!(
                "`events`: `{unknown}` is not a SendGrid event ({})",
                EVENT_KINDS.join(", ")
            )));
        }
        let credential = credentials::get(WEBHOOK_CREDENTIAL)?;
        let public_key = credential.field("public_key")?;
        let verified = signature::verify_sendgrid(
            &request.body,
            request.header(SIGNATURE_HEADER),
            request.header(TIMESTAMP_HEADER),
            public_key,
            clock::now_unix_ms(),
            signature::SENDGRID_TOLERANCE_SECS,
        );
        match verified {
            Ok(()) => {}
            Err(SignatureError::Malformed("public key")) => {
                return Err(NodeError::fatal(format!(
                    "the bound `{WEBHOOK_CREDENTIAL}` credential's public_key is not a P-256 public key \
                     (the verification key SendGrid shows: base64, or PEM)"
                ))
                .with_code("credential_invalid"))
            }
            Err(e) => {
                log::warn(&format!("refused a SendGrid Event Webhook request: {e}"));
                return Ok(TriggerResult::respond(Response::json(401, &json!({"error": e.to_string()}))));
            }
        }
        let events = match serde_json::from_slice::<Value>(&request.body) {
            Ok(Value::Array(events)) => events,
            Ok(event @ Value::Object(_)) => vec![event],
            _ => {
                let error = json!({"error": "the body is not a JSON array of SendGrid events"});
                return Ok(TriggerResult::respond(Response::json(400, &error)));
            }
        };
        let mut result = TriggerResult::respond(Response::json(200, &json!({"received": events.len()})));
        for event in &events {
            let Some(object) = event.as_object() else { continue };
            let (kind, contact, payload) = event_payload(object);
            if let Some(name) = event_name(&kind) {
                result.events.push(match contact.is_empty() {
                    true => Event::new(name, payload.clone()),
                    false => Event::keyed(name, &contact, payload.clone()),
                });
            }
            if config.events.contains(&kind) {
                let mut item = payload;
                item["event_id"] = object.get("sg_event_id").cloned().unwrap_or(Value::Null);
                item["sg_message_id"] = object.get("sg_message_id").cloned().unwrap_or(Value::Null);
                result.items.push(item);
            }
        }
        Ok(result)
    }
}

/// The event published for a SendGrid event kind; `None` for those that
/// publish nothing (`processed`, `deferred`, `group_resubscribe`, unknown ones).
fn event_name(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "delivered" => "email.delivered",
        "open" => "email.opened",
        "click" => "email.clicked",
        "bounce" | "dropped" => "email.bounced",
        "spamreport" => "email.spam_reported",
        "unsubscribe" | "group_unsubscribe" => "email.unsubscribed",
        _ => return None,
    })
}

/// A SendGrid event's kind, contact key and published payload:
/// `{email, contact, event, at, message_id, url?, reason?, type?, category?}`.
fn event_payload(event: &Map<String, Value>) -> (String, String, Item) {
    let text = |name: &str| event.get(name).and_then(Value::as_str).map(str::trim).unwrap_or("");
    let kind = text("event").to_string();
    let email = text("email");
    let contact = match text("contact") {
        "" => email.to_lowercase(),
        contact => contact.to_string(),
    };
    let at = match event.get("timestamp") {
        Some(Value::Number(n)) => n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        _ => None,
    }
    .map(|secs| secs.saturating_mul(1000));
    // SendGrid's `sg_message_id` is the `X-Message-Id` that `send` output,
    // then `.` and SendGrid's internal suffix.
    let message_id = match text("sg_message_id") {
        "" => None,
        id => id.split('.').next(),
    };
    let mut payload = json!({
        "email": email,
        "contact": contact,
        "event": kind,
        "at": at,
        "message_id": message_id,
    });
    for field in ["url", "reason", "type", "category"] {
        if let Some(value) = event.get(field).filter(|v| !v.is_null()) {
            payload[field] = value.clone();
        }
    }
    (kind, contact, payload)
}

wirework_sdk::plugin!(Send, ListBounces, Events);

#[cfg(test)]
mod tests;
