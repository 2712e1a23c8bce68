//! A loopback fake of HubSpot's CRM v3 object API, the part `plugins/crm`
//! calls, and the signing side of HubSpot's app webhooks.
//!
//! What it checks, as HubSpot does: `Authorization: Bearer <TOKEN>` (missing
//! or wrong: 401 `INVALID_AUTHENTICATION`), `Content-Type: application/json`
//! on POST and PATCH (else 415), the JSON body (else 400 `Invalid input
//! JSON ...`), that property names exist on the object type (custom ones are
//! added with [`Fake::define_property`]), email syntax, enumeration options
//! (`lifecyclestage`, a deal's `pipeline` and `dealstage`), that a contact's
//! lifecycle stage never moves backwards (HubSpot's rule: clear it with `""`
//! first), number and date properties, unique contact emails (409
//! `CONFLICT`, `Contact already exists. Existing ID: N`), required
//! properties (`dealname`, `dealstage`; a note's `hs_timestamp`),
//! associations (a note must be associated to an existing contact with type
//! 202; a deal may be, with type 3) and search requests (operators, limits
//! of 200 a page, 5 filter groups of 6 filters). Every error is HubSpot's
//! `{"status": "error", "message", "correlationId", "category"}`.
//!
//! Routes: `POST /crm/v3/objects/contacts/search` (and `deals/search`),
//! `POST /crm/v3/objects/{contacts,deals,notes}`, `GET` and `PATCH
//! /crm/v3/objects/{type}/{id}` (`?idProperty=email` for contacts,
//! `?properties=a,b`). State lives in memory: ids count from 501 (contacts),
//! 8001 (deals) and 3001 (notes). A contact seeded with
//! [`Fake::seed_contact_unsearchable`] exists (a create conflicts with it,
//! GET and PATCH find it) but search does not see it yet: HubSpot's search
//! index lags behind its writes.
//!
//! Every request is recorded ([`Fake::requests`]), refused ones included.
//! [`Fake::fail_next`] answers the next requests with a status instead (429:
//! HubSpot's rate-limit body, with `Retry-After` when given).
//!
//! Webhooks: [`signature_v3`] and [`Delivery`] sign a POST the way HubSpot
//! signs its v3 deliveries; [`contact_creation`], [`contact_property_change`],
//! [`deal_creation`] and [`deal_property_change`] build its events.

#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::Mac;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The private app token the fake accepts (`Authorization: Bearer TOKEN`).
pub const TOKEN: &str = "pat-na1-5ec2e7a1-0b7d-4c3e-9f5e-7e57f00d1e55";
/// A client secret to sign webhook deliveries with.
pub const CLIENT_SECRET: &str = "hubspot-app-client-secret-4f1c9b2e7d";
/// The portal (account) and app ids the event builders put in events.
pub const PORTAL_ID: u64 = 62515;
pub const APP_ID: u64 = 1160452;

/// HubSpot's lifecycle stages, in their forward order.
pub const LIFECYCLE_STAGES: &[&str] = &[
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
];

/// The stages of the `default` deal pipeline.
pub const DEFAULT_DEAL_STAGES: &[&str] = &[
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
];

const CONTACT_PROPERTIES: &[&str] = &[
    "email",
    "firstname",
    "lastname",
    "phone",
    "mobilephone",
    "company",
    "jobtitle",
    "website",
    "address",
    "city",
    "state",
    "zip",
    "country",
    "industry",
    "lifecyclestage",
    "hs_lead_status",
    "hubspot_owner_id",
    "message",
    "annualrevenue",
    "numemployees",
    "createdate",
    "lastmodifieddate",
    "hs_object_id",
];
const DEAL_PROPERTIES: &[&str] = &[
    "dealname",
    "dealstage",
    "pipeline",
    "amount",
    "closedate",
    "dealtype",
    "description",
    "hubspot_owner_id",
    "hs_priority",
    "createdate",
    "hs_lastmodifieddate",
    "hs_object_id",
];
const NOTE_PROPERTIES: &[&str] = &[
    "hs_timestamp",
    "hs_note_body",
    "hubspot_owner_id",
    "hs_attachment_ids",
    "hs_createdate",
    "hs_lastmodifieddate",
    "hs_object_id",
];

// ---------------------------------------------------------------------------
// Object types
// ---------------------------------------------------------------------------

/// A CRM object type the fake serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Contact,
    Deal,
    Note,
}

impl Kind {
    fn from_segment(segment: &str) -> Option<Kind> {
        match segment {
            "contacts" | "contact" | "0-1" => Some(Kind::Contact),
            "deals" | "deal" | "0-3" => Some(Kind::Deal),
            "notes" | "note" | "0-46" => Some(Kind::Note),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Contact => "contact",
            Kind::Deal => "deal",
            Kind::Note => "note",
        }
    }

    fn first_id(self) -> u64 {
        match self {
            Kind::Contact => 501,
            Kind::Deal => 8001,
            Kind::Note => 3001,
        }
    }

    fn created_property(self) -> &'static str {
        match self {
            Kind::Note => "hs_createdate",
            _ => "createdate",
        }
    }

    fn modified_property(self) -> &'static str {
        match self {
            Kind::Contact => "lastmodifieddate",
            _ => "hs_lastmodifieddate",
        }
    }

    /// What HubSpot answers when no `properties` are asked for.
    fn default_properties(self) -> &'static [&'static str] {
        match self {
            Kind::Contact => &["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"],
            Kind::Deal => &[
                "amount",
                "closedate",
                "createdate",
                "dealname",
                "dealstage",
                "hs_lastmodifieddate",
                "hs_object_id",
                "pipeline",
            ],
            Kind::Note => &["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
        }
    }

    fn known_properties(self) -> &'static [&'static str] {
        match self {
            Kind::Contact => CONTACT_PROPERTIES,
            Kind::Deal => DEAL_PROPERTIES,
            Kind::Note => NOTE_PROPERTIES,
        }
    }
}

/// A HubSpot-defined association type: from which object type to which.
fn association_target(from: Kind, type_id: u64) -> Option<Kind> {
    match (from, type_id) {
        (Kind::Note, 202) => Some(Kind::Contact),
        (Kind::Note, 214) => Some(Kind::Deal),
        (Kind::Deal, 3) => Some(Kind::Contact),
        (Kind::Contact, 4) => Some(Kind::Deal),
        _ => None,
    }
}

#[derive(Debug, Clone)]
struct Object {
    id: u64,
    properties: BTreeMap<String, String>,
    created: String,
    updated: String,
    searchable: bool,
    /// (to type, to id, association type id)
    associations: Vec<(Kind, u64, u64)>,
}

impl Object {
    /// As HubSpot answers it, with `wanted` properties (all it has when `None`).
    fn to_json(&self, kind: Kind, wanted: Option<&[String]>) -> Value {
        let mut properties = Map::new();
        match wanted {
            None => {
                for (k, v) in &self.properties {
                    properties.insert(k.clone(), json!(v));
                }
            }
            Some(wanted) => {
                let always = ["hs_object_id", kind.created_property(), kind.modified_property()];
                for name in wanted.iter().map(String::as_str).chain(always) {
                    properties.insert(name.to_string(), self.properties.get(name).map_or(Value::Null, |v| json!(v)));
                }
            }
        }
        json!({
            "id": self.id.to_string(),
            "properties": properties,
            "createdAt": self.created,
            "updatedAt": self.updated,
            "archived": false,
        })
    }

    /// For assertions: everything, associations included.
    fn snapshot(&self, kind: Kind) -> Value {
        let mut out = self.to_json(kind, None);
        out["associations"] = self
            .associations
            .iter()
            .map(|(to, id, type_id)| json!({"to_type": to.name(), "to": id.to_string(), "typeId": type_id}))
            .collect();
        out["searchable"] = json!(self.searchable);
        out
    }
}

/// Everything the fake holds.
struct Crm {
    objects: HashMap<Kind, BTreeMap<u64, Object>>,
    next_id: HashMap<Kind, u64>,
    custom_properties: HashMap<Kind, BTreeSet<String>>,
    pipelines: BTreeMap<String, Vec<String>>,
}

impl Crm {
    fn new() -> Crm {
        let mut pipelines = BTreeMap::new();
        pipelines.insert("default".to_string(), DEFAULT_DEAL_STAGES.iter().map(|s| s.to_string()).collect());
        Crm { objects: HashMap::new(), next_id: HashMap::new(), custom_properties: HashMap::new(), pipelines }
    }

    fn objects(&self, kind: Kind) -> impl Iterator<Item = &Object> {
        self.objects.get(&kind).into_iter().flat_map(|m| m.values())
    }

    fn get(&self, kind: Kind, id: u64) -> Option<&Object> {
        self.objects.get(&kind)?.get(&id)
    }

    fn get_mut(&mut self, kind: Kind, id: u64) -> Option<&mut Object> {
        self.objects.get_mut(&kind)?.get_mut(&id)
    }

    fn contact_by_email(&self, email: &str) -> Option<&Object> {
        let email = email.trim().to_lowercase();
        self.objects(Kind::Contact).find(|c| c.properties.get("email").is_some_and(|e| *e == email))
    }

    fn property_exists(&self, kind: Kind, name: &str) -> bool {
        kind.known_properties().contains(&name) || self.custom_properties.get(&kind).is_some_and(|s| s.contains(name))
    }

    /// Store a new object (its properties already checked).
    fn insert(
        &mut self,
        kind: Kind,
        mut properties: BTreeMap<String, String>,
        associations: Vec<(Kind, u64, u64)>,
        searchable: bool,
    ) -> &Object {
        let next = self.next_id.entry(kind).or_insert(kind.first_id());
        let id = *next;
        *next += 1;
        let now = now_iso();
        properties.insert("hs_object_id".into(), id.to_string());
        properties.entry(kind.created_property().into()).or_insert(now.clone());
        properties.insert(kind.modified_property().into(), now.clone());
        if let Some(email) = properties.get_mut("email") {
            *email = email.trim().to_lowercase();
        }
        let object = Object { id, properties, created: now.clone(), updated: now, searchable, associations };
        self.objects.entry(kind).or_default().insert(id, object);
        self.get(kind, id).unwrap()
    }
}

// ---------------------------------------------------------------------------
// Requests, failures, the fake itself
// ---------------------------------------------------------------------------

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path as sent (percent-encoding kept).
    pub path: String,
    /// The query string as sent, `""` when none.
    pub query: String,
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// The body parsed as JSON (`Null` when empty or not JSON).
    pub body: Value,
    pub raw_body: String,
    /// When it arrived.
    pub at: Instant,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    /// A query parameter, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        query_pairs(&self.query).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// `"POST /crm/v3/objects/contacts/search"`: handy in assertions.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

struct Failures {
    status: u16,
    remaining: usize,
    retry_after: Option<u64>,
}

struct Shared {
    requests: Mutex<Vec<Request>>,
    failures: Mutex<Option<Failures>>,
    crm: Mutex<Crm>,
    correlation: AtomicU64,
}

/// A running fake HubSpot; it stops with the test's runtime.
pub struct Fake {
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
}

impl Fake {
    /// Serve a fake on a loopback port the OS picks.
    pub async fn start() -> Fake {
        let shared = Arc::new(Shared {
            requests: Mutex::default(),
            failures: Mutex::default(),
            crm: Mutex::new(Crm::new()),
            correlation: AtomicU64::new(1),
        });
        let router = axum::Router::new().fallback(handle).with_state(shared.clone());
        Fake { addr: crate::common::serve(router).await, shared }
    }

    /// `http://127.0.0.1:<port>`: the credential's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The requests with this method and path (as sent, without the query).
    pub fn requests_to(&self, method: &str, path: &str) -> Vec<Request> {
        self.requests().into_iter().filter(|r| r.method == method && r.path == path).collect()
    }

    /// Forget the requests received so far (state stays).
    pub fn clear_requests(&self) {
        self.shared.requests.lock().unwrap().clear();
    }

    /// Answer the next `times` requests (whatever they are, before any check)
    /// with `status`: 429 with HubSpot's rate-limit body, others with
    /// HubSpot's error shape; `retry_after` seconds go in `Retry-After`.
    pub fn fail_next(&self, status: u16, times: usize, retry_after: Option<u64>) {
        *self.shared.failures.lock().unwrap() = Some(Failures { status, remaining: times, retry_after });
    }

    /// Add a contact (search finds it); `properties` is a JSON object of
    /// strings. Returns its id.
    pub fn seed_contact(&self, properties: Value) -> String {
        self.seed(Kind::Contact, properties, true)
    }

    /// Add a contact that search does not find yet (HubSpot's index lags
    /// behind creates): a create with its email conflicts, GET and PATCH
    /// find it. Returns its id.
    pub fn seed_contact_unsearchable(&self, properties: Value) -> String {
        self.seed(Kind::Contact, properties, false)
    }

    /// Add a deal (`dealname`, `dealstage`, `pipeline`, ...). Returns its id.
    pub fn seed_deal(&self, properties: Value) -> String {
        self.seed(Kind::Deal, properties, true)
    }

    fn seed(&self, kind: Kind, properties: Value, searchable: bool) -> String {
        let properties: BTreeMap<String, String> = properties
            .as_object()
            .expect("seed properties are a JSON object")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
            .collect();
        let mut crm = self.shared.crm.lock().unwrap();
        if let Some(email) = properties.get("email") {
            assert!(crm.contact_by_email(email).is_none(), "seeding a second contact with the email {email}");
        }
        crm.insert(kind, properties, Vec::new(), searchable).id.to_string()
    }

    /// Make search see every contact (the index caught up).
    pub fn index_all(&self) {
        let mut crm = self.shared.crm.lock().unwrap();
        for object in crm.objects.values_mut().flat_map(|m| m.values_mut()) {
            object.searchable = true;
        }
    }

    /// Let `name` be a property of `kind` (a custom property), e.g.
    /// `define_property(Kind::Contact, "stripe_customer_id")`.
    pub fn define_property(&self, kind: Kind, name: &str) {
        self.shared.crm.lock().unwrap().custom_properties.entry(kind).or_default().insert(name.to_string());
    }

    /// Add a deal pipeline with its stages.
    pub fn add_pipeline(&self, id: &str, stages: &[&str]) {
        let stages = stages.iter().map(|s| s.to_string()).collect();
        self.shared.crm.lock().unwrap().pipelines.insert(id.to_string(), stages);
    }

    /// Every contact, `{"id", "properties" (all), "createdAt", "updatedAt",
    /// "archived", "associations": [{"to_type", "to", "typeId"}], "searchable"}`.
    pub fn contacts(&self) -> Vec<Value> {
        self.all(Kind::Contact)
    }

    pub fn deals(&self) -> Vec<Value> {
        self.all(Kind::Deal)
    }

    pub fn notes(&self) -> Vec<Value> {
        self.all(Kind::Note)
    }

    pub fn contact(&self, id: &str) -> Option<Value> {
        self.one(Kind::Contact, id)
    }

    pub fn deal(&self, id: &str) -> Option<Value> {
        self.one(Kind::Deal, id)
    }

    pub fn contact_by_email(&self, email: &str) -> Option<Value> {
        self.shared.crm.lock().unwrap().contact_by_email(email).map(|c| c.snapshot(Kind::Contact))
    }

    fn all(&self, kind: Kind) -> Vec<Value> {
        self.shared.crm.lock().unwrap().objects(kind).map(|o| o.snapshot(kind)).collect()
    }

    fn one(&self, kind: Kind, id: &str) -> Option<Value> {
        let id = id.parse().ok()?;
        self.shared.crm.lock().unwrap().get(kind, id).map(|o| o.snapshot(kind))
    }
}

// ---------------------------------------------------------------------------
// Errors in HubSpot's shape
// ---------------------------------------------------------------------------

/// An error answer: its status and HubSpot's body without the correlation id.
struct HsError {
    status: StatusCode,
    body: Value,
}

impl HsError {
    fn new(status: StatusCode, category: &str, message: impl Into<String>) -> HsError {
        HsError { status, body: json!({"status": "error", "message": message.into(), "category": category}) }
    }

    fn validation(message: impl Into<String>) -> HsError {
        HsError::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }

    fn invalid_json(detail: impl std::fmt::Display) -> HsError {
        HsError::validation(format!("Invalid input JSON on line 1, column 1: {detail}"))
    }

    fn not_found() -> HsError {
        HsError::new(StatusCode::NOT_FOUND, "OBJECT_NOT_FOUND", "resource not found")
    }

    fn with_errors(mut self, errors: Value) -> HsError {
        self.body["errors"] = errors;
        self
    }

    fn with_context(mut self, context: Value) -> HsError {
        self.body["context"] = context;
        self
    }
}

/// One `Property values were not valid` entry.
fn invalid(name: &str, error: &str, message: impl Into<String>) -> Value {
    json!({"isValid": false, "message": message.into(), "error": error, "name": name})
}

fn property_errors(errors: Vec<Value>) -> HsError {
    HsError::validation(format!("Property values were not valid: {}", Value::Array(errors)))
}

// ---------------------------------------------------------------------------
// The handler
// ---------------------------------------------------------------------------

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = Request {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or_default().to_string(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_ascii_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        raw_body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    };
    shared.requests.lock().unwrap().push(request.clone());
    let correlation = {
        let n = shared.correlation.fetch_add(1, Ordering::Relaxed);
        format!("c0ffee{:02x}-5e11-4b0b-9a4e-{n:012x}", n % 256)
    };

    let injected = {
        let mut failures = shared.failures.lock().unwrap();
        match failures.as_mut() {
            Some(f) if f.remaining > 0 => {
                f.remaining -= 1;
                Some((f.status, f.retry_after))
            }
            _ => None,
        }
    };
    if let Some((status, retry_after)) = injected {
        return injected_failure(status, retry_after, &correlation);
    }

    let result = route(&shared, &request, &body);
    match result {
        Ok((status, body)) => json_response(status, &body),
        Err(mut error) => {
            error.body["correlationId"] = json!(correlation);
            json_response(error.status, &error.body)
        }
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert("content-type", HeaderValue::from_static("application/json;charset=utf-8"));
    response
}

fn injected_failure(status: u16, retry_after: Option<u64>, correlation: &str) -> Response {
    let status = StatusCode::from_u16(status).expect("a valid status");
    let body = if status == StatusCode::TOO_MANY_REQUESTS {
        json!({
            "status": "error",
            "message": "You have reached your secondly limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": correlation,
            "policyName": "SECONDLY",
            "groupName": "publicapi:private-app:secondly:62515",
        })
    } else if status.is_server_error() {
        json!({"status": "error", "message": "internal error", "correlationId": correlation})
    } else {
        json!({
            "status": "error",
            "message": status.canonical_reason().unwrap_or("error"),
            "correlationId": correlation,
            "category": "VALIDATION_ERROR",
        })
    };
    let mut response = json_response(status, &body);
    if let Some(secs) = retry_after {
        response.headers_mut().insert("retry-after", HeaderValue::from_str(&secs.to_string()).unwrap());
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        let headers = response.headers_mut();
        headers.insert("x-hubspot-ratelimit-secondly", HeaderValue::from_static("10"));
        headers.insert("x-hubspot-ratelimit-secondly-remaining", HeaderValue::from_static("0"));
    }
    response
}

type Answer = Result<(StatusCode, Value), HsError>;

fn route(shared: &Shared, request: &Request, raw: &[u8]) -> Answer {
    // Authentication first: HubSpot answers 401 to anything without a valid token.
    let token = request
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer ").or_else(|| a.strip_prefix("bearer ")))
        .map(str::trim);
    if token != Some(TOKEN) {
        return Err(HsError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        ));
    }
    let segments: Vec<&str> = request.path.trim_end_matches('/').split('/').collect();
    // ["", "crm", "v3", "objects", type, rest...]
    if segments.len() < 5 || segments[1..4] != ["crm", "v3", "objects"] {
        return Err(HsError::new(StatusCode::NOT_FOUND, "OBJECT_NOT_FOUND", "Unable to infer object type from path"));
    }
    let Some(kind) = Kind::from_segment(segments[4]) else {
        return Err(HsError::validation(format!("Unable to infer object type from: {}", segments[4])));
    };
    let rest = &segments[5..];
    let method = request.method.as_str();
    let body = || parse_body(request, raw);
    let mut crm = shared.crm.lock().unwrap();
    match (method, rest) {
        ("POST", ["search"]) => search(&crm, kind, &body()?),
        ("POST", []) => create(&mut crm, kind, &body()?),
        ("GET", [id]) => {
            let object = find(&crm, kind, id, request)?;
            let wanted = wanted_properties(request);
            Ok((StatusCode::OK, object.to_json(kind, Some(wanted.as_deref().unwrap_or(&defaults(kind))))))
        }
        ("PATCH", [id]) => {
            let body = body()?;
            let id = find(&crm, kind, id, request)?.id;
            update(&mut crm, kind, id, &body)
        }
        ("POST" | "GET" | "PATCH" | "DELETE" | "PUT", _) => {
            Err(HsError::new(StatusCode::NOT_FOUND, "OBJECT_NOT_FOUND", "resource not found"))
        }
        _ => Err(HsError::new(StatusCode::METHOD_NOT_ALLOWED, "VALIDATION_ERROR", "HTTP 405 Method Not Allowed")),
    }
}

fn defaults(kind: Kind) -> Vec<String> {
    kind.default_properties().iter().map(|s| s.to_string()).collect()
}

/// `?properties=a,b` (or repeated).
fn wanted_properties(request: &Request) -> Option<Vec<String>> {
    let wanted: Vec<String> = query_pairs(&request.query)
        .into_iter()
        .filter(|(k, _)| k == "properties")
        .flat_map(|(_, v)| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect::<Vec<_>>())
        .collect();
    (!wanted.is_empty()).then_some(wanted)
}

/// The JSON body of a POST or PATCH: content type, then syntax, then an object.
fn parse_body(request: &Request, raw: &[u8]) -> Result<Value, HsError> {
    let content_type = request.header("content-type").unwrap_or_default().to_ascii_lowercase();
    if !content_type.starts_with("application/json") {
        return Err(HsError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "VALIDATION_ERROR",
            format!(
                "Unsupported Media Type: Content type '{}' not supported; send application/json",
                if content_type.is_empty() { "none" } else { &content_type }
            ),
        ));
    }
    let body: Value = serde_json::from_slice(raw).map_err(HsError::invalid_json)?;
    if !body.is_object() {
        return Err(HsError::invalid_json("Cannot deserialize value: expected a JSON object"));
    }
    Ok(body)
}

/// The object a path names: an id, or for contacts an email with `?idProperty=email`.
fn find<'a>(crm: &'a Crm, kind: Kind, segment: &str, request: &Request) -> Result<&'a Object, HsError> {
    let key = percent_decode(segment).ok_or_else(HsError::not_found)?;
    let id_property = request.query_param("idProperty").unwrap_or_else(|| "hs_object_id".into());
    let object = match (kind, id_property.as_str()) {
        (_, "hs_object_id") => key.parse::<u64>().ok().and_then(|id| crm.get(kind, id)),
        (Kind::Contact, "email") => crm.contact_by_email(&key),
        (_, other) => {
            return Err(HsError::validation(format!("{other} is not a unique identifier property of {}", kind.name())))
        }
    };
    object.ok_or_else(|| HsError::not_found().with_context(json!({"id": [key]})))
}

/// Check and normalise the `properties` of a create or an update: every
/// property exists, values are scalars (written out as strings, as HubSpot
/// coerces them), and typed ones hold what their type takes.
fn check_properties(
    crm: &Crm,
    kind: Kind,
    properties: &Map<String, Value>,
    existing: Option<&Object>,
) -> Result<BTreeMap<String, String>, HsError> {
    let mut out = BTreeMap::new();
    let mut errors = Vec::new();
    for (name, value) in properties {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                return Err(HsError::invalid_json(format!(
                    "Cannot deserialize value of type `java.lang.String` from {} (property {name})",
                    if value.is_array() { "Array value" } else { "Object value" }
                )))
            }
        };
        if !crm.property_exists(kind, name) {
            errors.push(invalid(name, "PROPERTY_DOESNT_EXIST", format!("Property \"{name}\" does not exist")));
            continue;
        }
        if name == "hs_object_id" {
            errors.push(invalid(
                name,
                "READ_ONLY_VALUE",
                "hs_object_id is a read only property; its value cannot be set.",
            ));
            continue;
        }
        if !text.is_empty() {
            match (kind, name.as_str()) {
                (Kind::Contact, "email") => {
                    let valid = text.trim().split_once('@').is_some_and(|(user, domain)| {
                        !user.is_empty() && domain.contains('.') && !domain.starts_with('.') && !text.contains(' ')
                    });
                    if !valid {
                        errors.push(invalid(name, "INVALID_EMAIL", format!("Email address {text} is invalid")));
                    }
                }
                (Kind::Contact, "lifecyclestage") => match LIFECYCLE_STAGES.iter().position(|s| *s == text) {
                    None => errors.push(invalid(
                        name,
                        "INVALID_OPTION",
                        format!("{text} was not one of the allowed options: [{}]", LIFECYCLE_STAGES.join(", ")),
                    )),
                    Some(new) => {
                        let old = existing
                            .and_then(|o| o.properties.get("lifecyclestage"))
                            .and_then(|old| LIFECYCLE_STAGES.iter().position(|s| s == old).map(|i| (i, old)));
                        if let Some((old_index, old)) = old {
                            if new < old_index {
                                errors.push(invalid(
                                    name,
                                    "INVALID_LIFECYCLE_STAGE",
                                    format!(
                                        "The lifecycle stage can't be moved backwards from {old} to {text}. To set an earlier stage, first clear the lifecycle stage, then set the new value."
                                    ),
                                ));
                            }
                        }
                    }
                },
                (Kind::Deal, "amount") | (Kind::Contact, "annualrevenue" | "numemployees")
                    if text.trim().parse::<f64>().is_err() =>
                {
                    errors.push(invalid(name, "INVALID_DOUBLE", format!("{text} was not a valid number.")));
                }
                (_, "closedate" | "hs_timestamp" | "createdate") if date_ms(&text).is_none() => {
                    errors.push(invalid(
                        name,
                        "INVALID_DATE",
                        format!("{text} was not a valid long or ISO 8601 date-time."),
                    ));
                }
                _ => {}
            }
        }
        out.insert(name.clone(), text);
    }
    if !errors.is_empty() {
        return Err(property_errors(errors));
    }
    Ok(out)
}

/// A deal's pipeline and stage, after `changes` apply to `existing`.
fn check_deal_stage(
    crm: &Crm,
    changes: &mut BTreeMap<String, String>,
    existing: Option<&Object>,
) -> Result<(), HsError> {
    let current = |name: &str| existing.and_then(|o| o.properties.get(name)).cloned();
    let pipeline = changes.get("pipeline").cloned().or_else(|| current("pipeline")).unwrap_or_default();
    let pipeline = if pipeline.is_empty() { "default".to_string() } else { pipeline };
    let mut errors = Vec::new();
    if existing.is_none() {
        for required in ["dealname", "dealstage"] {
            if changes.get(required).is_none_or(|v| v.trim().is_empty()) {
                errors.push(invalid(required, "REQUIRED", format!("{required} is required")));
            }
        }
        changes.entry("pipeline".into()).or_insert(pipeline.clone());
    }
    match crm.pipelines.get(&pipeline) {
        None => errors.push(invalid(
            "pipeline",
            "INVALID_OPTION",
            format!(
                "{pipeline} was not one of the allowed options: [{}]",
                crm.pipelines.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        )),
        Some(stages) => {
            let stage = changes.get("dealstage").cloned().or_else(|| current("dealstage")).unwrap_or_default();
            if !stage.is_empty() && !stages.contains(&stage) {
                errors.push(invalid(
                    "dealstage",
                    "INVALID_OPTION",
                    format!("{stage} was not one of the allowed options: [{}]", stages.join(", ")),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(property_errors(errors))
    }
}

fn properties_of(body: &Value) -> Result<&Map<String, Value>, HsError> {
    match body.get("properties") {
        Some(Value::Object(map)) => Ok(map),
        None => Err(HsError::invalid_json(
            "Missing required creator property 'properties' (index 0) at [Source: REDACTED; line: 1, column: 2]",
        )),
        Some(_) => Err(HsError::invalid_json("Cannot deserialize `properties`: expected an object")),
    }
}

/// `associations` of a create: each `{"to": {"id"}, "types": [{"associationCategory", "associationTypeId"}]}`
/// naming an existing object of the type the association type points at.
fn check_associations(crm: &Crm, kind: Kind, body: &Value) -> Result<Vec<(Kind, u64, u64)>, HsError> {
    let Some(list) = body.get("associations") else { return Ok(Vec::new()) };
    let list = list.as_array().ok_or_else(|| HsError::invalid_json("`associations` must be an array"))?;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for association in list {
        let id_text = match association.pointer("/to/id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(HsError::invalid_json("an association needs `to.id`")),
        };
        let types = association.get("types").and_then(Value::as_array).filter(|t| !t.is_empty());
        let Some(types) = types else {
            return Err(HsError::invalid_json("an association needs `types`"));
        };
        for t in types {
            let category = t.get("associationCategory").and_then(Value::as_str).unwrap_or_default();
            let type_id = t.get("associationTypeId").and_then(Value::as_u64).unwrap_or_default();
            let target = match category {
                "HUBSPOT_DEFINED" => association_target(kind, type_id),
                "USER_DEFINED" | "INTEGRATOR_DEFINED" => None,
                _ => {
                    return Err(HsError::invalid_json(format!(
                        "`associationCategory` {category:?} is not one of HUBSPOT_DEFINED, USER_DEFINED, INTEGRATOR_DEFINED"
                    )))
                }
            };
            let Some(target) = target else {
                errors.push(json!({
                    "message": format!("{type_id} is not a valid association type from {} ({category})", kind.name()),
                    "code": "INVALID_ASSOCIATION_TYPE",
                }));
                continue;
            };
            match id_text.parse::<u64>().ok().filter(|id| crm.get(target, *id).is_some()) {
                Some(id) => out.push((target, id, type_id)),
                None => errors.push(json!({
                    "message": format!("No {} with ID {id_text} exists", target.name()),
                    "code": "OBJECT_NOT_FOUND",
                    "context": {"id": [id_text]},
                })),
            }
        }
    }
    if !errors.is_empty() {
        return Err(HsError::validation("One or more associations are invalid").with_errors(json!(errors)));
    }
    Ok(out)
}

fn create(crm: &mut Crm, kind: Kind, body: &Value) -> Answer {
    let mut properties = check_properties(crm, kind, properties_of(body)?, None)?;
    properties.retain(|_, v| !v.is_empty());
    match kind {
        Kind::Contact => {
            if let Some(existing) = properties.get("email").and_then(|e| crm.contact_by_email(e)) {
                return Err(HsError::new(
                    StatusCode::CONFLICT,
                    "CONFLICT",
                    format!("Contact already exists. Existing ID: {}", existing.id),
                ));
            }
        }
        Kind::Deal => check_deal_stage(crm, &mut properties, None)?,
        Kind::Note => {
            if !properties.contains_key("hs_timestamp") {
                return Err(property_errors(vec![invalid("hs_timestamp", "REQUIRED", "hs_timestamp is required")]));
            }
        }
    }
    let associations = check_associations(crm, kind, body)?;
    if kind == Kind::Note && !associations.iter().any(|(to, _, _)| *to == Kind::Contact) {
        return Err(HsError::validation("One or more associations are invalid").with_errors(json!([{
            "message": "a note must be associated to a contact (associationTypeId 202)",
            "code": "MISSING_ASSOCIATION",
        }])));
    }
    let object = crm.insert(kind, properties, associations, true);
    Ok((StatusCode::CREATED, object.to_json(kind, None)))
}

fn update(crm: &mut Crm, kind: Kind, id: u64, body: &Value) -> Answer {
    let existing = crm.get(kind, id).cloned().expect("found before");
    let mut changes = check_properties(crm, kind, properties_of(body)?, Some(&existing))?;
    if kind == Kind::Deal {
        check_deal_stage(crm, &mut changes, Some(&existing))?;
    }
    if let Some(email) = changes.get_mut("email") {
        *email = email.trim().to_lowercase();
        if let Some(other) = crm.contact_by_email(email).filter(|c| c.id != id) {
            return Err(HsError::new(
                StatusCode::CONFLICT,
                "CONFLICT",
                format!("Contact already exists. Existing ID: {}", other.id),
            ));
        }
    }
    let now = now_iso();
    let object = crm.get_mut(kind, id).unwrap();
    for (name, value) in &changes {
        if value.is_empty() {
            object.properties.remove(name);
        } else {
            object.properties.insert(name.clone(), value.clone());
        }
    }
    object.properties.insert(kind.modified_property().into(), now.clone());
    object.updated = now;
    // HubSpot answers with the properties set, and the always-present ones.
    let mut wanted: Vec<String> = changes.keys().cloned().collect();
    wanted.retain(|name| object.properties.contains_key(name));
    let mut answer = object.to_json(kind, Some(&wanted));
    for (name, value) in &changes {
        if value.is_empty() {
            answer["properties"][name] = json!("");
        }
    }
    Ok((StatusCode::OK, answer))
}

// ---------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------

const OPERATORS: &[&str] = &[
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

/// HubSpot's page ceiling for search.
pub const SEARCH_MAX_LIMIT: u64 = 200;

struct Filter {
    property: String,
    operator: String,
    value: Option<String>,
    high: Option<String>,
    values: Vec<String>,
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_filters(crm: &Crm, kind: Kind, body: &Value) -> Result<Vec<Vec<Filter>>, HsError> {
    let Some(groups) = body.get("filterGroups") else { return Ok(Vec::new()) };
    let groups = groups.as_array().ok_or_else(|| HsError::invalid_json("`filterGroups` must be an array"))?;
    if groups.len() > 5 {
        return Err(HsError::validation("Too many filter groups: at most 5 are allowed"));
    }
    let mut out = Vec::new();
    let mut total = 0;
    for group in groups {
        let filters = group.get("filters").and_then(Value::as_array).cloned().unwrap_or_default();
        if filters.len() > 6 {
            return Err(HsError::validation("Too many filters in a group: at most 6 are allowed"));
        }
        total += filters.len();
        let mut parsed = Vec::new();
        for filter in filters {
            let property = filter.get("propertyName").and_then(Value::as_str).unwrap_or_default().to_string();
            let operator = filter.get("operator").and_then(Value::as_str).unwrap_or_default().to_string();
            if property.is_empty() {
                return Err(HsError::invalid_json("a filter needs a `propertyName`"));
            }
            if !OPERATORS.contains(&operator.as_str()) {
                return Err(HsError::invalid_json(format!(
                    "Cannot deserialize value of type `FilterOperatorEnum` from String \"{operator}\": not one of the values accepted for Enum class: [{}]",
                    OPERATORS.join(", ")
                )));
            }
            if !crm.property_exists(kind, &property) {
                return Err(HsError::validation(format!(
                    "There was a problem with the request. Property '{property}' does not exist"
                )));
            }
            let value = filter.get("value").and_then(scalar);
            let high = filter.get("highValue").and_then(scalar);
            let values: Vec<String> = filter
                .get("values")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(scalar).collect())
                .unwrap_or_default();
            let missing = match operator.as_str() {
                "HAS_PROPERTY" | "NOT_HAS_PROPERTY" => None,
                "IN" | "NOT_IN" => values.is_empty().then_some("values"),
                "BETWEEN" => (value.is_none() || high.is_none()).then_some("value and highValue"),
                _ => value.is_none().then_some("value"),
            };
            if let Some(missing) = missing {
                return Err(HsError::validation(format!(
                    "There was a problem with the request. The {operator} filter on {property} needs {missing}"
                )));
            }
            parsed.push(Filter { property, operator, value, high, values });
        }
        out.push(parsed);
    }
    if total > 18 {
        return Err(HsError::validation("Too many filters: at most 18 are allowed in all"));
    }
    Ok(out)
}

/// A property value as a number: a number, or a date-time as Unix ms.
fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().or_else(|| date_ms(text).map(|ms| ms as f64))
}

fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.to_lowercase().cmp(&b.to_lowercase()),
    }
}

fn tokens(text: &str) -> Vec<String> {
    text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(String::from).collect()
}

fn contains_token(text: &str, token: &str) -> bool {
    let token = token.to_lowercase();
    match token.strip_suffix('*') {
        Some(prefix) => tokens(text).iter().any(|t| t.starts_with(prefix.trim_start_matches('*'))),
        None => tokens(text).contains(&token) || text.to_lowercase() == token,
    }
}

fn matches(object: &Object, filter: &Filter) -> bool {
    let actual = object.properties.get(&filter.property).filter(|v| !v.is_empty());
    let value = filter.value.as_deref().unwrap_or_default();
    match (filter.operator.as_str(), actual) {
        ("HAS_PROPERTY", a) => a.is_some(),
        ("NOT_HAS_PROPERTY", a) => a.is_none(),
        ("NEQ", None) | ("NOT_IN", None) | ("NOT_CONTAINS_TOKEN", None) => true,
        (_, None) => false,
        ("EQ", Some(a)) => compare(a, value).is_eq(),
        ("NEQ", Some(a)) => !compare(a, value).is_eq(),
        ("LT", Some(a)) => compare(a, value).is_lt(),
        ("LTE", Some(a)) => compare(a, value).is_le(),
        ("GT", Some(a)) => compare(a, value).is_gt(),
        ("GTE", Some(a)) => compare(a, value).is_ge(),
        ("BETWEEN", Some(a)) => {
            compare(a, value).is_ge() && compare(a, filter.high.as_deref().unwrap_or_default()).is_le()
        }
        ("IN", Some(a)) => filter.values.iter().any(|v| compare(a, v).is_eq()),
        ("NOT_IN", Some(a)) => !filter.values.iter().any(|v| compare(a, v).is_eq()),
        ("CONTAINS_TOKEN", Some(a)) => contains_token(a, value),
        ("NOT_CONTAINS_TOKEN", Some(a)) => !contains_token(a, value),
        _ => false,
    }
}

fn search(crm: &Crm, kind: Kind, body: &Value) -> Answer {
    let groups = parse_filters(crm, kind, body)?;
    let limit = match body.get("limit") {
        None => 10,
        Some(v) => v.as_u64().ok_or_else(|| HsError::invalid_json("`limit` must be an integer"))?,
    };
    if limit > SEARCH_MAX_LIMIT {
        return Err(HsError::validation(format!(
            "There was a problem with the request. limit must be less than or equal to {SEARCH_MAX_LIMIT}"
        )));
    }
    let after = match body.get("after") {
        None | Some(Value::Null) => 0,
        Some(v) => scalar(v).and_then(|s| s.parse::<u64>().ok()).ok_or_else(|| {
            HsError::validation(format!("There was a problem with the request. Invalid `after`: {v}"))
        })?,
    };
    let wanted: Option<Vec<String>> = match body.get("properties") {
        None => None,
        Some(Value::Array(list)) => Some(list.iter().filter_map(|v| v.as_str().map(String::from)).collect()),
        Some(_) => return Err(HsError::invalid_json("`properties` must be an array of strings")),
    };
    let query = body.get("query").and_then(Value::as_str).map(str::to_lowercase).filter(|q| !q.trim().is_empty());
    let mut found: Vec<&Object> = crm
        .objects(kind)
        .filter(|o| o.searchable)
        .filter(|o| groups.is_empty() || groups.iter().any(|g| g.iter().all(|f| matches(o, f))))
        .filter(|o| {
            let Some(query) = &query else { return true };
            ["firstname", "lastname", "email", "phone", "company", "dealname"]
                .iter()
                .filter_map(|p| o.properties.get(*p))
                .any(|v| v.to_lowercase().contains(query.trim()))
        })
        .collect();
    if let Some(sort) = body.get("sorts").and_then(Value::as_array).and_then(|s| s.first()) {
        let property = sort.get("propertyName").and_then(Value::as_str).unwrap_or("hs_object_id").to_string();
        let descending = sort.get("direction").and_then(Value::as_str) == Some("DESCENDING");
        found.sort_by(|a, b| {
            let order = compare(
                a.properties.get(&property).map_or("", String::as_str),
                b.properties.get(&property).map_or("", String::as_str),
            )
            .then(a.id.cmp(&b.id));
            if descending {
                order.reverse()
            } else {
                order
            }
        });
    }
    let total = found.len() as u64;
    let wanted = wanted.filter(|w| !w.is_empty()).unwrap_or_else(|| defaults(kind));
    let results: Vec<Value> =
        found.iter().skip(after as usize).take(limit as usize).map(|o| o.to_json(kind, Some(&wanted))).collect();
    let mut answer = json!({"total": total, "results": results});
    let next = after + limit;
    if limit > 0 && next < total {
        answer["paging"] = json!({"next": {"after": next.to_string()}});
    }
    Ok((StatusCode::OK, answer))
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Unix ms of a HubSpot date value: Unix ms, an ISO 8601 date-time or a date.
fn date_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k).unwrap_or_else(|| k.into()), percent_decode(v).unwrap_or_else(|| v.into()))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Webhooks: HubSpot's v3 signature and its events
// ---------------------------------------------------------------------------

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// The escapes HubSpot decodes in the URL before it signs it.
const DECODED_ESCAPES: &[(&str, &str)] = &[
    ("%3A", ":"),
    ("%2F", "/"),
    ("%3F", "?"),
    ("%40", "@"),
    ("%21", "!"),
    ("%24", "$"),
    ("%27", "'"),
    ("%28", "("),
    ("%29", ")"),
    ("%2A", "*"),
    ("%2C", ","),
    ("%3B", ";"),
];

/// `X-HubSpot-Signature-v3`: base64 HMAC-SHA256, under the app's client
/// secret, of `method + url + body + timestamp`, the URL with HubSpot's
/// listed escapes decoded and the timestamp the `X-HubSpot-Request-Timestamp`
/// header (Unix ms) as sent.
pub fn signature_v3(client_secret: &str, method: &str, url: &str, body: &[u8], timestamp_ms: u64) -> String {
    let mut decoded = url.to_string();
    for (escape, plain) in DECODED_ESCAPES {
        decoded = decoded.replace(escape, plain).replace(&escape.to_ascii_lowercase(), plain);
    }
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(client_secret.as_bytes()).expect("any key length");
    mac.update(method.as_bytes());
    mac.update(decoded.as_bytes());
    mac.update(body);
    mac.update(timestamp_ms.to_string().as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// One webhook delivery as HubSpot sends it: a JSON array of events, POSTed
/// with its signature headers. Change the fields to forge one.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub body: String,
    /// `X-HubSpot-Request-Timestamp` (`None`: header left out).
    pub timestamp: Option<String>,
    /// `X-HubSpot-Signature-v3` (`None`: header left out).
    pub signature: Option<String>,
}

impl Delivery {
    /// `events` signed now for a POST to `url` (the URL HubSpot is
    /// configured with, as the receiving host sees it).
    pub fn signed(client_secret: &str, url: &str, events: &Value) -> Delivery {
        Delivery::signed_at(client_secret, url, events, now_ms())
    }

    /// The same, signed with the timestamp `timestamp_ms`.
    pub fn signed_at(client_secret: &str, url: &str, events: &Value, timestamp_ms: u64) -> Delivery {
        let body = events.to_string();
        let signature = signature_v3(client_secret, "POST", url, body.as_bytes(), timestamp_ms);
        Delivery { body, timestamp: Some(timestamp_ms.to_string()), signature: Some(signature) }
    }

    /// The POST to `to` (where the request actually goes: the same URL as
    /// signed, unless a proxy stands between), with HubSpot's headers.
    pub fn post(&self, client: &reqwest::Client, to: &str) -> reqwest::RequestBuilder {
        let mut request = client
            .post(to)
            .header("content-type", "application/json")
            .header("user-agent", "HubSpot Connect 2.0 (http://dev.hubspot.com/) (namespace: webhooks-nio)")
            .body(self.body.clone());
        if let Some(timestamp) = &self.timestamp {
            request = request.header("x-hubspot-request-timestamp", timestamp);
        }
        if let Some(signature) = &self.signature {
            request = request.header("x-hubspot-signature-v3", signature);
        }
        request
    }
}

static EVENT_IDS: AtomicU64 = AtomicU64::new(100);

/// An event as HubSpot puts it in a delivery: `subscription_type` such as
/// `contact.creation`; `extra` fields are merged in (`propertyName`, ...).
pub fn event(subscription_type: &str, object_id: &str, extra: Value) -> Value {
    let object_id: Value = object_id.parse::<u64>().map_or_else(|_| json!(object_id), |n| json!(n));
    let mut event = json!({
        "eventId": EVENT_IDS.fetch_add(1, Ordering::Relaxed),
        "subscriptionId": 26,
        "portalId": PORTAL_ID,
        "appId": APP_ID,
        "occurredAt": now_ms(),
        "subscriptionType": subscription_type,
        "attemptNumber": 0,
        "objectId": object_id,
        "changeSource": "CRM_UI",
    });
    if let (Value::Object(event), Value::Object(extra)) = (&mut event, extra) {
        event.extend(extra);
    }
    event
}

/// `contact.creation` of contact `id`.
pub fn contact_creation(id: &str) -> Value {
    event("contact.creation", id, json!({"changeFlag": "NEW"}))
}

/// `contact.propertyChange` of contact `id`: `property` became `value`.
pub fn contact_property_change(id: &str, property: &str, value: &str) -> Value {
    event("contact.propertyChange", id, json!({"propertyName": property, "propertyValue": value}))
}

/// `deal.creation` of deal `id`.
pub fn deal_creation(id: &str) -> Value {
    event("deal.creation", id, json!({"changeFlag": "NEW"}))
}

/// `deal.propertyChange` of deal `id`.
pub fn deal_property_change(id: &str, property: &str, value: &str) -> Value {
    event("deal.propertyChange", id, json!({"propertyName": property, "propertyValue": value}))
}
