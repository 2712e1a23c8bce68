//! `wirework/crm`: HubSpot's CRM through its v3 API.
//!
//! Actions (credential type `hubspot`, a private app's access token the host
//! sends as a bearer token; `base_url` optional, default
//! `https://api.hubapi.com`):
//!
//! - `upsert-contact`: find a contact by email (search), update it, or create it;
//!   a create that loses a race (409 "Existing ID: N") updates contact N.
//! - `update-contact`: PATCH a contact by id, or by email (`?idProperty=email`).
//! - `add-note`: a note associated to a contact.
//! - `create-deal`: a deal in a pipeline and stage, associated to a contact.
//! - `move-deal`: set a deal's stage (and pipeline).
//! - `search-contacts`: filters, properties and sorts; follows `paging.next.after`
//!   up to `limit` contacts, one output item per contact.
//!
//! Every action makes its call(s) once per input item (once when there are no
//! items) and emits one output item per input item, without the input's
//! fields; `search-contacts` runs its search once per call and emits one item
//! per contact. HubSpot's CRM API takes no idempotency keys: `upsert-contact`,
//! `update-contact` and `move-deal` are safe to retry, `add-note` and
//! `create-deal` may create a duplicate when retried after a lost answer.
//!
//! Errors: HubSpot's `{"status":"error","message","correlationId","category"}`
//! becomes a node error with code = `category` (else `errorType`, else
//! `http_<status>`) and HubSpot's message and correlation id; 408, 429 and
//! 5xx are retryable (`Retry-After` in seconds, or 10 s for a 429 without one:
//! HubSpot's rate-limit window), other statuses fatal.
//!
//! Trigger `webhook` (credential type `hubspot-app`, the app's client secret):
//! verifies `X-HubSpot-Signature-v3`, emits one item per delivered event whose
//! subscription type the config takes, publishes `contact.*:<id>` and
//! `deal.*:<id>` events, answers 200 `{"received": N}`.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use wirework_sdk::{clock, credentials, http, log, Input, Item, Node, NodeError, NodeInfo, Outcome, Response};

mod webhook;
pub use webhook::Webhook;

#[cfg(test)]
mod tests;

/// The credential type of the API token.
pub const CREDENTIAL: &str = "hubspot";
/// HubSpot's API, when the credential names no `base_url`.
pub const DEFAULT_BASE_URL: &str = "https://api.hubapi.com";
/// Page size of `search-contacts` (HubSpot's documented maximum for search pages).
pub const PAGE_SIZE: usize = 100;
/// Default `limit` of `search-contacts`.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest `limit` (HubSpot's search stops at 10,000 results anyway).
pub const MAX_LIMIT: usize = 10_000;
/// The wait before retrying a 429 that carries no `Retry-After`: HubSpot's
/// rate limits count over 10-second windows.
pub const DEFAULT_RATE_LIMIT_RETRY_MS: u64 = 10_000;
/// HubSpot-defined association type: note to contact.
pub const NOTE_TO_CONTACT: u32 = 202;
/// HubSpot-defined association type: deal to contact.
pub const DEAL_TO_CONTACT: u32 = 3;

const CONTACTS: &str = "/crm/v3/objects/contacts";
const CONTACTS_SEARCH: &str = "/crm/v3/objects/contacts/search";
const NOTES: &str = "/crm/v3/objects/notes";
const DEALS: &str = "/crm/v3/objects/deals";

// ---------------------------------------------------------------------------
// The API client and its errors
// ---------------------------------------------------------------------------

/// HubSpot's API at the credential's base URL; requests name the `hubspot`
/// credential so the host adds the token.
struct Api {
    base: String,
}

impl Api {
    fn new() -> Result<Api, NodeError> {
        let credential = credentials::get(CREDENTIAL)?;
        let base = credential.optional("base_url").unwrap_or(DEFAULT_BASE_URL).trim().trim_end_matches('/');
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(NodeError::fatal(format!(
                "the `{CREDENTIAL}` credential's base_url `{base}` is not an http(s) URL"
            ))
            .with_code("bad_credential"));
        }
        Ok(Api { base: base.to_string() })
    }

    /// Send a request with a JSON body (or none), whatever the status.
    fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Response, NodeError> {
        let mut request = http::request(method, &format!("{}{path}", self.base))
            .header("accept", "application/json")
            .credential(CREDENTIAL);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send()
    }

    /// Send a request and parse a 2xx answer's JSON; any other status is [`api_error`].
    fn call(&self, method: &str, path: &str, body: Option<&Value>, what: &str) -> Result<Value, NodeError> {
        let response = self.send(method, path, body)?;
        parse_success(what, &response)
    }
}

fn parse_success(what: &str, response: &Response) -> Result<Value, NodeError> {
    if !(200..300).contains(&response.status) {
        return Err(api_error(what, response));
    }
    serde_json::from_slice(&response.body).map_err(|e| {
        NodeError::fatal(format!("{what}: HubSpot answered {} with a body that is not JSON: {e}", response.status))
            .with_code("bad_response")
    })
}

/// The node error for a HubSpot answer that is not a success. HubSpot's
/// error body: `{"status":"error","message","correlationId","category",
/// "subCategory"?, "errors"?: [{"message", ...}]}` (a rate limit: `errorType`
/// `RATE_LIMIT` and `policyName` instead of `category`). The code is the
/// category (or the errorType), else `http_<status>`; the message says what
/// was asked, HubSpot's message, the details and the correlation id. 408, 425,
/// 429 and 5xx are retryable, with `Retry-After` (seconds), or 10 s for a
/// 429 without one.
pub fn api_error(what: &str, response: &Response) -> NodeError {
    let status = response.status;
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    let main = match text("message") {
        Some(message) => message.to_string(),
        None => {
            let raw = String::from_utf8_lossy(&response.body);
            let excerpt: String = raw.trim().chars().take(300).collect();
            if excerpt.is_empty() {
                "no error body".to_string()
            } else {
                excerpt
            }
        }
    };
    let mut message = format!("{what}: HubSpot answered {status}: {main}");
    let details: Vec<&str> = body
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("message").and_then(Value::as_str))
        .filter(|m| !m.is_empty() && !main.contains(m))
        .take(5)
        .collect();
    if !details.is_empty() {
        message.push_str(&format!(" ({})", details.join("; ")));
    }
    let lower = main.to_ascii_lowercase();
    if lower.contains("lifecycle") && lower.contains("backward") {
        message.push_str(
            " [HubSpot does not move a lifecycle stage backwards: set lifecycle_stage to \"\" first, then to the earlier stage]",
        );
    }
    if let Some(id) = text("correlationId") {
        message.push_str(&format!(" [correlationId {id}]"));
    }
    let code = text("category").or_else(|| text("errorType")).map(str::to_string).unwrap_or(format!("http_{status}"));
    let error = match status {
        408 | 425 | 429 | 500..=599 => NodeError::retryable(message),
        _ => NodeError::fatal(message),
    };
    let error = error.with_code(&code);
    if !error.retryable {
        return error;
    }
    match retry_after_ms(response) {
        Some(ms) => error.retry_after_ms(ms),
        None if status == 429 => error.retry_after_ms(DEFAULT_RATE_LIMIT_RETRY_MS),
        None => error,
    }
}

/// `Retry-After` in (possibly fractional) seconds, as milliseconds.
fn retry_after_ms(response: &Response) -> Option<u64> {
    let value = response.header("retry-after")?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs.saturating_mul(1000));
    }
    let secs = value.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0)?;
    Some((secs * 1000.0).ceil() as u64)
}

// ---------------------------------------------------------------------------
// Config helpers
// ---------------------------------------------------------------------------

fn bad_config(message: impl Into<String>) -> NodeError {
    NodeError::fatal(message).with_code("bad_config")
}

/// An id given as a string or a number (expressions keep JSON types).
fn id_text(field: &str, value: &Value) -> Result<String, NodeError> {
    let id = match value {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) if n.is_u64() => n.to_string(),
        other => return Err(bad_config(format!("`{field}` must be a string or a whole number, not {other}"))),
    };
    if id.is_empty() {
        return Err(bad_config(format!("`{field}` is empty")));
    }
    Ok(id)
}

/// HubSpot property values are strings: strings pass, numbers and booleans
/// are written out, `null` (an expression that matched nothing) leaves the
/// property out; arrays and objects are refused.
fn property_values(field: &str, properties: &BTreeMap<String, Value>) -> Result<Map<String, Value>, NodeError> {
    let mut out = Map::new();
    for (name, value) in properties {
        let text = match value {
            Value::Null => continue,
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Err(bad_config(format!("`{field}.{name}` must be a string, number or boolean"))),
        };
        out.insert(name.clone(), Value::String(text));
    }
    Ok(out)
}

/// A scalar config value as a HubSpot property value.
fn scalar_text(field: &str, value: &Value) -> Result<Option<String>, NodeError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        _ => Err(bad_config(format!("`{field}` must be a string, number or boolean"))),
    }
}

/// A date-time config value: a string is sent as written (ISO 8601, or
/// Unix milliseconds as text); a number is Unix milliseconds, sent as ISO 8601.
fn datetime_text(field: &str, value: &Value) -> Result<Option<String>, NodeError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.trim().to_string())),
        Value::Number(n) => match n.as_u64() {
            Some(ms) => Ok(Some(iso8601(ms))),
            None => Err(bad_config(format!("`{field}` must be Unix milliseconds or an ISO 8601 date-time"))),
        },
        _ => Err(bad_config(format!("`{field}` must be Unix milliseconds or an ISO 8601 date-time"))),
    }
}

/// Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn iso8601(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        unix_ms % 1000
    )
}

/// Percent-encode a path segment (an id, or an email with `idProperty=email`).
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn normalize_email(email: &str) -> Result<String, NodeError> {
    let email = email.trim().to_lowercase();
    if email.is_empty() {
        return Err(bad_config("`email` is empty"));
    }
    Ok(email)
}

/// The calls an action makes: once per input item, or once with none.
fn per_item(input: &Input, mut f: impl FnMut(usize) -> Result<Item, NodeError>) -> Result<Outcome, NodeError> {
    let count = input.items.len().max(1);
    let mut out = Vec::with_capacity(count);
    for index in 0..count {
        out.push(f(index)?);
    }
    Ok(Outcome::emit(out))
}

fn object_id(what: &str, object: &Value) -> Result<String, NodeError> {
    match object.get("id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
        Some(Value::Number(id)) => Ok(id.to_string()),
        _ => Err(NodeError::fatal(format!("{what}: HubSpot's answer has no `id`")).with_code("bad_response")),
    }
}

fn properties_of(object: &Value) -> Value {
    match object.get("properties") {
        Some(Value::Object(map)) => Value::Object(map.clone()),
        _ => json!({}),
    }
}

const PROPERTIES_SCHEMA: &str = "HubSpot property values by internal name (firstname, lastname, phone, company, ...): strings, numbers or booleans; null leaves a property out, \"\" clears it";

fn properties_schema() -> Value {
    json!({
        "type": "object",
        "description": PROPERTIES_SCHEMA,
        "additionalProperties": {"type": ["string", "number", "boolean", "null"]}
    })
}

fn lifecycle_schema() -> Value {
    json!({
        "type": "string",
        "description": "Sets `lifecyclestage`: subscriber, lead, marketingqualifiedlead, salesqualifiedlead, opportunity, customer, evangelist, other, or a custom stage's id. HubSpot refuses moving it backwards (set \"\" first)."
    })
}

fn id_schema(description: &str) -> Value {
    json!({"type": ["string", "integer"], "minLength": 1, "minimum": 0, "description": description})
}

// ---------------------------------------------------------------------------
// upsert-contact
// ---------------------------------------------------------------------------

/// Configuration of `upsert-contact`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpsertContactConfig {
    /// The contact's email: the key (lower-cased).
    pub email: String,
    /// Property values to set.
    #[serde(default)]
    pub properties: BTreeMap<String, Value>,
    /// Sets `lifecyclestage`.
    pub lifecycle_stage: Option<String>,
}

/// Find a contact by email and update it, or create it.
pub struct UpsertContact;

impl Node for UpsertContact {
    const NAME: &'static str = "upsert-contact";
    type Config = UpsertContactConfig;

    fn info() -> NodeInfo {
        NodeInfo::action(
            "HubSpot: upsert contact",
            "Finds the contact with this email and updates its properties, or creates it",
        )
        .schema(json!({
            "type": "object",
            "required": ["email"],
            "properties": {
                "email": {"type": "string", "minLength": 1, "description": "The contact's email (lower-cased): the key it is found by"},
                "properties": properties_schema(),
                "lifecycle_stage": lifecycle_schema()
            },
            "additionalProperties": false
        }))
    }

    fn run(config: UpsertContactConfig, input: Input) -> Result<Outcome, NodeError> {
        let api = Api::new()?;
        let email = normalize_email(&config.email)?;
        let mut properties = property_values("properties", &config.properties)?;
        if properties.contains_key("email") {
            return Err(bad_config("`properties.email`: the email is the top-level `email`"));
        }
        if let Some(stage) = &config.lifecycle_stage {
            properties.insert("lifecyclestage".into(), Value::String(stage.clone()));
        }
        per_item(&input, |_| upsert(&api, &email, &properties))
    }
}

fn upsert(api: &Api, email: &str, properties: &Map<String, Value>) -> Result<Item, NodeError> {
    let mut wanted: Vec<String> = properties.keys().cloned().collect();
    wanted.sort();
    wanted.insert(0, "email".to_string());
    let search = json!({
        "filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}],
        "properties": wanted,
        "limit": 1
    });
    let found = api.call("POST", CONTACTS_SEARCH, Some(&search), &format!("searching the contact {email}"))?;
    if let Some(contact) = found.get("results").and_then(Value::as_array).and_then(|r| r.first()) {
        let id = object_id("searching the contact", contact)?;
        log::debug(&format!("upsert-contact: found contact {id}"));
        let mut merged = properties_of(contact);
        if !properties.is_empty() {
            let updated = patch_contact(api, &id, properties)?;
            if let (Value::Object(merged), Value::Object(new)) = (&mut merged, properties_of(&updated)) {
                merged.extend(new);
            }
        }
        return Ok(json!({"id": id, "email": email, "created": false, "properties": merged}));
    }

    let mut create = properties.clone();
    create.insert("email".into(), Value::String(email.to_string()));
    let what = format!("creating the contact {email}");
    let response = api.send("POST", CONTACTS, Some(&json!({"properties": create})))?;
    if response.status == 409 {
        // The search index lags behind: the contact was created meanwhile.
        let existing = serde_json::from_slice::<Value>(&response.body)
            .ok()
            .and_then(|b| b.get("message").and_then(Value::as_str).and_then(existing_id));
        let Some(id) = existing else { return Err(api_error(&what, &response)) };
        log::info(&format!("upsert-contact: contact {id} already exists (409), updating it"));
        let contact = if properties.is_empty() {
            let path = format!("{CONTACTS}/{}?properties=email", segment(&id));
            api.call("GET", &path, None, &format!("reading the contact {id}"))?
        } else {
            patch_contact(api, &id, properties)?
        };
        return Ok(json!({"id": id, "email": email, "created": false, "properties": properties_of(&contact)}));
    }
    let created = parse_success(&what, &response)?;
    let id = object_id(&what, &created)?;
    log::debug(&format!("upsert-contact: created contact {id}"));
    Ok(json!({"id": id, "email": email, "created": true, "properties": properties_of(&created)}))
}

/// The id in HubSpot's 409 message, `Contact already exists. Existing ID: 12345`.
pub fn existing_id(message: &str) -> Option<String> {
    let at = message.find("Existing ID:")? + "Existing ID:".len();
    let id: String = message[at..].trim_start().chars().take_while(char::is_ascii_digit).collect();
    (!id.is_empty()).then_some(id)
}

fn patch_contact(api: &Api, id: &str, properties: &Map<String, Value>) -> Result<Value, NodeError> {
    let path = format!("{CONTACTS}/{}", segment(id));
    api.call("PATCH", &path, Some(&json!({"properties": properties})), &format!("updating the contact {id}"))
}

// ---------------------------------------------------------------------------
// update-contact
// ---------------------------------------------------------------------------

/// Configuration of `update-contact`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateContactConfig {
    /// The contact's id; or
    pub contact_id: Option<Value>,
    /// its email.
    pub email: Option<String>,
    /// Property values to set.
    #[serde(default)]
    pub properties: BTreeMap<String, Value>,
    /// Sets `lifecyclestage`.
    pub lifecycle_stage: Option<String>,
}

/// Update a contact's properties, by id or by email.
pub struct UpdateContact;

impl Node for UpdateContact {
    const NAME: &'static str = "update-contact";
    type Config = UpdateContactConfig;

    fn info() -> NodeInfo {
        NodeInfo::action("HubSpot: update contact", "Sets a contact's properties, found by id or by email").schema(
            json!({
                "type": "object",
                "properties": {
                    "contact_id": id_schema("The contact's id (give this or `email`)"),
                    "email": {"type": "string", "minLength": 1, "description": "The contact's email (give this or `contact_id`)"},
                    "properties": properties_schema(),
                    "lifecycle_stage": lifecycle_schema()
                },
                "oneOf": [{"required": ["contact_id"]}, {"required": ["email"]}],
                "additionalProperties": false
            }),
        )
    }

    fn run(config: UpdateContactConfig, input: Input) -> Result<Outcome, NodeError> {
        let api = Api::new()?;
        let (path, who) = match (&config.contact_id, &config.email) {
            (Some(id), None) => {
                let id = id_text("contact_id", id)?;
                (format!("{CONTACTS}/{}", segment(&id)), id)
            }
            (None, Some(email)) => {
                let email = normalize_email(email)?;
                (format!("{CONTACTS}/{}?idProperty=email", segment(&email)), email)
            }
            _ => return Err(bad_config("give exactly one of `contact_id` and `email`")),
        };
        let mut properties = property_values("properties", &config.properties)?;
        if let Some(stage) = &config.lifecycle_stage {
            properties.insert("lifecyclestage".into(), Value::String(stage.clone()));
        }
        if properties.is_empty() {
            return Err(bad_config("nothing to update: set `properties` or `lifecycle_stage`"));
        }
        let body = json!({"properties": properties});
        per_item(&input, |_| {
            let what = format!("updating the contact {who}");
            let contact = api.call("PATCH", &path, Some(&body), &what)?;
            Ok(json!({"id": object_id(&what, &contact)?, "properties": properties_of(&contact)}))
        })
    }
}

// ---------------------------------------------------------------------------
// add-note
// ---------------------------------------------------------------------------

/// Configuration of `add-note`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddNoteConfig {
    /// The contact the note is on.
    pub contact_id: Value,
    /// The note's text (HubSpot takes HTML).
    pub body: String,
    /// When: ISO 8601 or Unix ms (default now).
    #[serde(default)]
    pub timestamp: Value,
}

/// Add a note to a contact's timeline.
pub struct AddNote;

impl Node for AddNote {
    const NAME: &'static str = "add-note";
    type Config = AddNoteConfig;

    fn info() -> NodeInfo {
        NodeInfo::action("HubSpot: add note", "Adds a note to a contact's timeline").schema(json!({
            "type": "object",
            "required": ["contact_id", "body"],
            "properties": {
                "contact_id": id_schema("The contact's id"),
                "body": {"type": "string", "minLength": 1, "description": "The note's text (`hs_note_body`; HTML allowed)"},
                "timestamp": {
                    "type": ["string", "integer", "null"],
                    "description": "When it happened (`hs_timestamp`): an ISO 8601 date-time, or Unix milliseconds; default now"
                }
            },
            "additionalProperties": false
        }))
    }

    fn run(config: AddNoteConfig, input: Input) -> Result<Outcome, NodeError> {
        let api = Api::new()?;
        let contact_id = id_text("contact_id", &config.contact_id)?;
        if config.body.trim().is_empty() {
            return Err(bad_config("`body` is empty"));
        }
        let timestamp = match datetime_text("timestamp", &config.timestamp)? {
            Some(t) => t,
            None => iso8601(clock::now_unix_ms()),
        };
        let body = json!({
            "properties": {"hs_timestamp": timestamp, "hs_note_body": config.body},
            "associations": [{
                "to": {"id": contact_id},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": NOTE_TO_CONTACT}]
            }]
        });
        per_item(&input, |_| {
            let what = format!("adding a note to the contact {contact_id}");
            let note = api.call("POST", NOTES, Some(&body), &what)?;
            Ok(json!({"id": object_id(&what, &note)?, "contact_id": contact_id}))
        })
    }
}

// ---------------------------------------------------------------------------
// create-deal
// ---------------------------------------------------------------------------

/// Configuration of `create-deal`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDealConfig {
    /// The deal's name.
    pub dealname: String,
    /// The pipeline's id (default `default`).
    #[serde(default = "default_pipeline")]
    pub pipeline: String,
    /// The stage's id.
    pub dealstage: String,
    /// The amount.
    #[serde(default)]
    pub amount: Value,
    /// The close date: ISO 8601 or Unix ms.
    #[serde(default)]
    pub closedate: Value,
    /// The contact it is associated to.
    #[serde(default)]
    pub contact_id: Value,
    /// Other deal properties.
    #[serde(default)]
    pub properties: BTreeMap<String, Value>,
}

fn default_pipeline() -> String {
    "default".into()
}

/// Create a deal, associated to a contact.
pub struct CreateDeal;

impl Node for CreateDeal {
    const NAME: &'static str = "create-deal";
    type Config = CreateDealConfig;

    fn info() -> NodeInfo {
        NodeInfo::action("HubSpot: create deal", "Creates a deal in a pipeline stage, associated to a contact").schema(
            json!({
                "type": "object",
                "required": ["dealname", "dealstage"],
                "properties": {
                    "dealname": {"type": "string", "minLength": 1, "description": "The deal's name"},
                    "pipeline": {"type": "string", "minLength": 1, "default": "default", "description": "The pipeline's id"},
                    "dealstage": {"type": "string", "minLength": 1, "description": "The stage's id, e.g. appointmentscheduled, qualifiedtobuy, closedwon"},
                    "amount": {"type": ["number", "string", "null"], "description": "The deal's amount"},
                    "closedate": {"type": ["string", "integer", "null"], "description": "The close date: ISO 8601, or Unix milliseconds"},
                    "contact_id": {"type": ["string", "integer", "null"], "description": "Associate the deal to this contact"},
                    "properties": {
                        "type": "object",
                        "description": "Other deal properties by internal name (hubspot_owner_id, dealtype, ...)",
                        "additionalProperties": {"type": ["string", "number", "boolean", "null"]}
                    }
                },
                "additionalProperties": false
            }),
        )
    }

    fn run(config: CreateDealConfig, input: Input) -> Result<Outcome, NodeError> {
        let api = Api::new()?;
        let mut properties = property_values("properties", &config.properties)?;
        for (name, value) in
            [("dealname", &config.dealname), ("pipeline", &config.pipeline), ("dealstage", &config.dealstage)]
        {
            if value.trim().is_empty() {
                return Err(bad_config(format!("`{name}` is empty")));
            }
            properties.insert(name.into(), Value::String(value.trim().to_string()));
        }
        if let Some(amount) = scalar_text("amount", &config.amount)? {
            properties.insert("amount".into(), Value::String(amount));
        }
        if let Some(date) = datetime_text("closedate", &config.closedate)? {
            properties.insert("closedate".into(), Value::String(date));
        }
        let mut body = json!({"properties": properties});
        let contact_id = match &config.contact_id {
            Value::Null => None,
            id => Some(id_text("contact_id", id)?),
        };
        if let Some(contact_id) = &contact_id {
            body["associations"] = json!([{
                "to": {"id": contact_id},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": DEAL_TO_CONTACT}]
            }]);
        }
        per_item(&input, |_| {
            let what = format!("creating the deal {}", config.dealname.trim());
            let deal = api.call("POST", DEALS, Some(&body), &what)?;
            let props = properties_of(&deal);
            let stage = props.get("dealstage").cloned().unwrap_or(json!(config.dealstage.trim()));
            let pipeline = props.get("pipeline").cloned().unwrap_or(json!(config.pipeline.trim()));
            let mut out = json!({"id": object_id(&what, &deal)?, "stage": stage, "pipeline": pipeline});
            if let Some(contact_id) = &contact_id {
                out["contact_id"] = json!(contact_id);
            }
            Ok(out)
        })
    }
}

// ---------------------------------------------------------------------------
// move-deal
// ---------------------------------------------------------------------------

/// Configuration of `move-deal`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveDealConfig {
    /// The deal.
    pub deal_id: Value,
    /// The new stage's id.
    pub dealstage: String,
    /// The pipeline, when the stage is in another one.
    pub pipeline: Option<String>,
}

/// Move a deal to another stage.
pub struct MoveDeal;

impl Node for MoveDeal {
    const NAME: &'static str = "move-deal";
    type Config = MoveDealConfig;

    fn info() -> NodeInfo {
        NodeInfo::action("HubSpot: move deal", "Sets a deal's stage (and pipeline)").schema(json!({
            "type": "object",
            "required": ["deal_id", "dealstage"],
            "properties": {
                "deal_id": id_schema("The deal's id"),
                "dealstage": {"type": "string", "minLength": 1, "description": "The new stage's id, e.g. closedwon"},
                "pipeline": {"type": "string", "minLength": 1, "description": "The pipeline's id, when the stage is in another pipeline"}
            },
            "additionalProperties": false
        }))
    }

    fn run(config: MoveDealConfig, input: Input) -> Result<Outcome, NodeError> {
        let api = Api::new()?;
        let deal_id = id_text("deal_id", &config.deal_id)?;
        let stage = config.dealstage.trim();
        if stage.is_empty() {
            return Err(bad_config("`dealstage` is empty"));
        }
        let mut properties = json!({"dealstage": stage});
        if let Some(pipeline) = config.pipeline.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            properties["pipeline"] = json!(pipeline);
        }
        let body = json!({"properties": properties});
        let path = format!("{DEALS}/{}", segment(&deal_id));
        per_item(&input, |_| {
            let what = format!("moving the deal {deal_id} to the stage {stage}");
            let deal = api.call("PATCH", &path, Some(&body), &what)?;
            let props = properties_of(&deal);
            let stage = props.get("dealstage").cloned().unwrap_or(json!(stage));
            let mut out = json!({"id": object_id(&what, &deal)?, "stage": stage});
            if let Some(pipeline) = properties.get("pipeline") {
                out["pipeline"] = props.get("pipeline").cloned().unwrap_or(pipeline.clone());
            }
            Ok(out)
        })
    }
}

// ---------------------------------------------------------------------------
// search-contacts
// ---------------------------------------------------------------------------

/// Configuration of `search-contacts`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchContactsConfig {
    /// All must match.
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// HubSpot's free-text search over default searchable properties.
    pub query: Option<String>,
    /// Properties to return (default: HubSpot's defaults).
    #[serde(default)]
    pub properties: Vec<String>,
    /// Order.
    #[serde(default)]
    pub sorts: Vec<Sort>,
    /// At most this many contacts (default 100, at most 10,000).
    pub limit: Option<usize>,
}

/// A search filter.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// The property's internal name.
    pub property: String,
    /// The comparison (default EQ).
    #[serde(default = "default_operator")]
    pub operator: String,
    /// The value, for all operators but IN, NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY.
    #[serde(default)]
    pub value: Value,
    /// For BETWEEN: the upper bound.
    #[serde(default)]
    pub high_value: Value,
    /// For IN and NOT_IN.
    pub values: Option<Vec<Value>>,
}

fn default_operator() -> String {
    "EQ".into()
}

/// A sort.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sort {
    /// The property's internal name.
    pub property: String,
    /// `ASCENDING` (default) or `DESCENDING`.
    #[serde(default = "default_direction")]
    pub direction: String,
}

fn default_direction() -> String {
    "ASCENDING".into()
}

/// HubSpot's search operators.
pub const OPERATORS: &[&str] = &[
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
];

/// Search contacts, one item per contact.
pub struct SearchContacts;

impl Node for SearchContacts {
    const NAME: &'static str = "search-contacts";
    type Config = SearchContactsConfig;

    fn info() -> NodeInfo {
        NodeInfo::action("HubSpot: search contacts", "Finds contacts by their properties: one item per contact").schema(
            json!({
                "type": "object",
                "properties": {
                    "filters": {
                        "type": "array",
                        "description": "Conditions that must all match",
                        "items": {
                            "type": "object",
                            "required": ["property"],
                            "properties": {
                                "property": {"type": "string", "minLength": 1, "description": "Internal property name, e.g. lifecyclestage"},
                                "operator": {"enum": OPERATORS, "default": "EQ"},
                                "value": {"type": ["string", "number", "boolean", "null"], "description": "For all operators but IN, NOT_IN, HAS_PROPERTY and NOT_HAS_PROPERTY"},
                                "high_value": {"type": ["string", "number", "null"], "description": "BETWEEN's upper bound"},
                                "values": {"type": "array", "items": {"type": ["string", "number", "boolean"]}, "description": "For IN and NOT_IN"}
                            },
                            "additionalProperties": false
                        }
                    },
                    "query": {"type": "string", "description": "Free-text search (name, email, phone, company)"},
                    "properties": {"type": "array", "items": {"type": "string"}, "description": "Properties to return (default: HubSpot's default set)"},
                    "sorts": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["property"],
                            "properties": {
                                "property": {"type": "string", "minLength": 1},
                                "direction": {"enum": ["ASCENDING", "DESCENDING"], "default": "ASCENDING"}
                            },
                            "additionalProperties": false
                        }
                    },
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT, "description": "At most this many contacts"}
                },
                "additionalProperties": false
            }),
        )
    }

    fn run(config: SearchContactsConfig, _input: Input) -> Result<Outcome, NodeError> {
        let api = Api::new()?;
        let limit = config.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(bad_config(format!("`limit` must be between 1 and {MAX_LIMIT}")));
        }
        let mut body = search_body(&config)?;
        let mut contacts = Vec::new();
        let mut page = 0;
        loop {
            page += 1;
            body["limit"] = json!(PAGE_SIZE.min(limit - contacts.len()));
            let what = format!("searching contacts (page {page})");
            let answer = api.call("POST", CONTACTS_SEARCH, Some(&body), &what)?;
            let results = answer.get("results").and_then(Value::as_array).cloned().unwrap_or_default();
            let got = results.len();
            for contact in results.into_iter().take(limit - contacts.len()) {
                contacts.push(json!({"id": object_id(&what, &contact)?, "properties": properties_of(&contact)}));
            }
            let after = answer.pointer("/paging/next/after").and_then(|a| match a {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
            match after {
                Some(after) if got > 0 && contacts.len() < limit => body["after"] = json!(after),
                _ => break,
            }
        }
        log::debug(&format!("search-contacts: {} contact(s) in {page} page(s)", contacts.len()));
        Ok(Outcome::emit(contacts))
    }
}

fn search_body(config: &SearchContactsConfig) -> Result<Value, NodeError> {
    let mut filters = Vec::with_capacity(config.filters.len());
    for (i, filter) in config.filters.iter().enumerate() {
        let at = format!("filters[{i}]");
        let operator = filter.operator.trim().to_ascii_uppercase();
        if !OPERATORS.contains(&operator.as_str()) {
            return Err(bad_config(format!(
                "`{at}.operator` `{}` is not one of {}",
                filter.operator,
                OPERATORS.join(", ")
            )));
        }
        if filter.property.trim().is_empty() {
            return Err(bad_config(format!("`{at}.property` is empty")));
        }
        let mut out = json!({"propertyName": filter.property.trim(), "operator": operator});
        let value = scalar_text(&format!("{at}.value"), &filter.value)?;
        match operator.as_str() {
            "HAS_PROPERTY" | "NOT_HAS_PROPERTY" => {}
            "IN" | "NOT_IN" => {
                let values = filter
                    .values
                    .as_ref()
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| bad_config(format!("`{at}`: {operator} takes `values`, a list")))?;
                let mut texts = Vec::with_capacity(values.len());
                for (j, v) in values.iter().enumerate() {
                    match scalar_text(&format!("{at}.values[{j}]"), v)? {
                        Some(t) => texts.push(t),
                        None => return Err(bad_config(format!("`{at}.values[{j}]` is null"))),
                    }
                }
                out["values"] = json!(texts);
            }
            _ => {
                let value = value.ok_or_else(|| bad_config(format!("`{at}`: {operator} takes a `value`")))?;
                out["value"] = json!(value);
                if operator == "BETWEEN" {
                    let high = scalar_text(&format!("{at}.high_value"), &filter.high_value)?
                        .ok_or_else(|| bad_config(format!("`{at}`: BETWEEN takes a `high_value`")))?;
                    out["highValue"] = json!(high);
                }
            }
        }
        filters.push(out);
    }
    let mut body = Map::new();
    if !filters.is_empty() {
        body.insert("filterGroups".into(), json!([{"filters": filters}]));
    }
    if let Some(query) = config.query.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        body.insert("query".into(), json!(query));
    }
    if !config.properties.is_empty() {
        body.insert("properties".into(), json!(config.properties));
    }
    if !config.sorts.is_empty() {
        let mut sorts = Vec::with_capacity(config.sorts.len());
        for (i, sort) in config.sorts.iter().enumerate() {
            let direction = sort.direction.trim().to_ascii_uppercase();
            if direction != "ASCENDING" && direction != "DESCENDING" {
                return Err(bad_config(format!("`sorts[{i}].direction` must be ASCENDING or DESCENDING")));
            }
            sorts.push(json!({"propertyName": sort.property.trim(), "direction": direction}));
        }
        body.insert("sorts".into(), json!(sorts));
    }
    Ok(Value::Object(body))
}

wirework_sdk::plugin!(UpsertContact, UpdateContact, AddNote, CreateDeal, MoveDeal, SearchContacts, Webhook);
