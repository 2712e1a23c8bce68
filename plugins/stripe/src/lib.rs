//! `wirework/stripe`: Stripe customers, Checkout Sessions, Payment Links,
//! PaymentIntents and refunds, and a trigger for Stripe's signed webhooks.
//!
//! | node               | kind    | Stripe call |
//! |--------------------|---------|-------------|
//! | `customer`         | action  | `GET /v1/customers?email=` then, when none matches, `POST /v1/customers` |
//! | `checkout-session` | action  | `POST /v1/checkout/sessions` |
//! | `payment-link`     | action  | `POST /v1/payment_links` |
//! | `payment-intent`   | action  | `GET /v1/payment_intents/{id}` |
//! | `refund`           | action  | `POST /v1/refunds` |
//! | `list-customers`   | action  | `GET /v1/customers`, following `starting_after` while `has_more` |
//! | `webhook`          | trigger | verifies `Stripe-Signature`, one item per event of the configured types |
//!
//! Every API request names the `stripe` credential type, so the host adds
//! `Authorization: Bearer <secret_key>`: the plugin never sees the key. It
//! reads only the credential's non-secret `base_url`. Every request pins the
//! API version ([`STRIPE_VERSION`]) so that the shapes read here do not change
//! with the account's default version; POST bodies are form-encoded with
//! Stripe's nested keys (`line_items[0][price]=...`, `metadata[k]=v`) and carry
//! an `Idempotency-Key` of `{input.idempotency_key}-{item index}`.
//!
//! Each action makes one Stripe call (the customer node: a search, then maybe
//! a create) per input item, one when there are no items, with its (already
//! evaluated) config, and emits one output item per input item: the
//! provider's useful fields in snake_case, without the input item's fields.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use wirework_sdk::{credentials, form, http, log, Input, Item, Node, NodeError, NodeInfo, Outcome, Response};

mod webhook;
pub use webhook::{Webhook, WebhookConfig};

#[cfg(test)]
mod tests;

/// The Stripe API version every request pins (`Stripe-Version`): the output
/// shapes documented in the README are this version's.
pub const STRIPE_VERSION: &str = "2024-06-20";
/// Stripe's API, when the credential names no `base_url`.
pub const DEFAULT_BASE_URL: &str = "https://api.stripe.com";
/// The credential type of API calls (a secret key, sent as a bearer token by the host).
pub const API_CREDENTIAL: &str = "stripe";
/// The credential type of the webhook trigger (an endpoint's `whsec_...` signing secret).
pub const WEBHOOK_CREDENTIAL: &str = "stripe-webhook";
/// Stripe's largest page.
const PAGE_SIZE: usize = 100;
/// `list-customers`: default and largest `limit`.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;
/// `customer`: pages of search results read at most before creating.
const MAX_SEARCH_PAGES: usize = 100;

// ---------------------------------------------------------------------------
// The API client and its errors.

/// Calls to Stripe's API at the bound credential's base URL.
struct Api {
    base: String,
}

impl Api {
    /// The base URL from the bound `stripe` credential (`base_url`, default
    /// [`DEFAULT_BASE_URL`], without a trailing `/`).
    fn new() -> Result<Api, NodeError> {
        let credential = credentials::get(API_CREDENTIAL)?;
        let base = credential.optional("base_url").map(str::trim).filter(|b| !b.is_empty()).unwrap_or(DEFAULT_BASE_URL);
        Ok(Api { base: base.trim_end_matches('/').to_string() })
    }

    /// `GET {base}{path}[?query]`; `query` is form-encoded from a JSON object.
    fn get(&self, path: &str, query: &Value, what: &str) -> Result<Value, NodeError> {
        let query =
            form::encode(query).map_err(|e| NodeError::fatal(format!("{what}: {e}")).with_code("bad_request"))?;
        let url =
            if query.is_empty() { format!("{}{path}", self.base) } else { format!("{}{path}?{query}", self.base) };
        let response = http::get(&url)
            .header("Stripe-Version", STRIPE_VERSION)
            .credential(API_CREDENTIAL)
            .send()
            .map_err(|e| context(what, e))?;
        parse(what, &response)
    }

    /// `POST {base}{path}` with `body` form-encoded and an idempotency key.
    fn post(&self, path: &str, body: &Value, idempotency_key: &str, what: &str) -> Result<Value, NodeError> {
        let response = http::post(&format!("{}{path}", self.base))
            .header("Stripe-Version", STRIPE_VERSION)
            .header("Idempotency-Key", idempotency_key)
            .form(body)?
            .credential(API_CREDENTIAL)
            .send()
            .map_err(|e| context(what, e))?;
        parse(what, &response)
    }
}

/// Prefix a transport error (timeout, refused host) with what was asked.
fn context(what: &str, mut error: NodeError) -> NodeError {
    error.message = format!("{what}: {}", error.message);
    error
}

/// A 2xx answer's JSON body, or the error it stands for.
fn parse(what: &str, response: &Response) -> Result<Value, NodeError> {
    if !(200..300).contains(&response.status) {
        return Err(api_error(what, response));
    }
    serde_json::from_slice(&response.body)
        .map_err(|e| NodeError::fatal(format!("{what}: Stripe's answer is not JSON: {e}")).with_code("bad_response"))
}

/// The error for a Stripe answer that is not a success, from Stripe's
/// documented body `{"error": {"type", "code", "message", "param", "decline_code"}}`:
/// the message says what was asked and Stripe's message (with the parameter
/// and, for card errors, the decline code); the code is Stripe's `code`, else
/// its `type`, else `http_<status>`. Retryable when Stripe says so with
/// `Stripe-Should-Retry: true` (fatal with `false`), else for 408, 425, 429 and
/// 5xx, with `Retry-After` (seconds) as `retry_after_ms`.
pub fn api_error(what: &str, response: &Response) -> NodeError {
    let status = response.status;
    let body: Option<Value> = serde_json::from_slice(&response.body).ok();
    let error = body.as_ref().and_then(|b| b.get("error")).filter(|e| e.is_object());
    let text = |key: &str| error.and_then(|e| e.get(key)).and_then(Value::as_str).filter(|s| !s.is_empty());
    let mut message = format!("{what}: Stripe answered HTTP {status}");
    match error {
        Some(_) => {
            message.push_str(": ");
            message.push_str(text("message").unwrap_or("(no message)"));
            if let Some(param) = text("param") {
                message.push_str(&format!(" (parameter `{param}`)"));
            }
            if let Some(decline) = text("decline_code") {
                message.push_str(&format!(" (decline code `{decline}`)"));
            }
        }
        None => {
            let raw = String::from_utf8_lossy(&response.body);
            let excerpt: String = raw.trim().chars().take(300).collect();
            if !excerpt.is_empty() {
                message.push_str(": ");
                message.push_str(&excerpt);
            }
        }
    }
    let code = text("code").or_else(|| text("type")).map(str::to_string).unwrap_or_else(|| format!("http_{status}"));
    let should_retry = response.header("stripe-should-retry").map(|v| v.trim().eq_ignore_ascii_case("true"));
    let retryable = should_retry.unwrap_or(matches!(status, 408 | 425 | 429 | 500..=599));
    let error = if retryable { NodeError::retryable(message) } else { NodeError::fatal(message) }.with_code(&code);
    match response.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(secs) if retryable => error.retry_after_ms(secs.saturating_mul(1000)),
        _ => error,
    }
}

// ---------------------------------------------------------------------------
// Helpers shared by the nodes.

/// Run `call` once per input item (once when there are none) with the item's
/// index, and emit what each returns.
fn per_item(input: &Input, mut call: impl FnMut(usize) -> Result<Item, NodeError>) -> Result<Outcome, NodeError> {
    let count = input.items.len().max(1);
    let mut out = Vec::with_capacity(count);
    for index in 0..count {
        out.push(call(index)?);
    }
    Ok(Outcome::emit(out))
}

/// The idempotency key of item `index`: stable across retries of the step.
fn item_key(input: &Input, index: usize) -> String {
    format!("{}-{index}", input.idempotency_key)
}

fn bad_config(message: impl Into<String>) -> NodeError {
    NodeError::fatal(message).with_code("bad_config")
}

/// A text setting, or `None` when absent or blank (an expression that came out empty).
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// A form body: `extra` first, then the named fields (which win), leaving out
/// absent ones.
fn body(extra: &Option<Map<String, Value>>, fields: Vec<(&str, Option<Value>)>) -> Value {
    let mut body = extra.clone().unwrap_or_default();
    for (name, value) in fields {
        if let Some(value) = value {
            body.insert(name.to_string(), value);
        }
    }
    Value::Object(body)
}

fn text_value(value: &Option<String>) -> Option<Value> {
    given(value).map(|v| Value::String(v.to_string()))
}

fn object_value(value: &Option<Map<String, Value>>) -> Option<Value> {
    value.as_ref().filter(|m| !m.is_empty()).map(|m| Value::Object(m.clone()))
}

/// A field of a Stripe object, `null` when absent.
fn field(object: &Value, key: &str) -> Value {
    object.get(key).cloned().unwrap_or(Value::Null)
}

/// An expandable field's id: the string itself, or the expanded object's `id`.
fn id_of(value: &Value) -> Value {
    match value {
        Value::String(_) => value.clone(),
        Value::Object(o) => o.get("id").cloned().unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// Check a Stripe object id that goes into a URL path.
fn path_id<'a>(name: &str, value: &'a str) -> Result<&'a str, NodeError> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(bad_config(format!("`{name}` must be a Stripe id such as `pi_3Mtw...`, got {value:?}")));
    }
    Ok(value)
}

/// Check line items: objects, each with `price` (or `price_data` when allowed).
fn check_line_items(items: &[Map<String, Value>], allow_price_data: bool) -> Result<(), NodeError> {
    for (i, item) in items.iter().enumerate() {
        let has = |key: &str| item.get(key).is_some_and(|v| !v.is_null() && v != "");
        if !(has("price") || (allow_price_data && has("price_data"))) {
            let needs = if allow_price_data { "`price` or `price_data`" } else { "`price`" };
            return Err(bad_config(format!("line_items[{i}] needs {needs}")));
        }
    }
    Ok(())
}

/// The metadata/extra schema: an object of scalars.
fn metadata_schema() -> Value {
    json!({
        "type": "object",
        "description": "Stripe metadata: up to 50 keys, string values (numbers and booleans are sent as text)",
        "additionalProperties": {"type": ["string", "number", "boolean"]}
    })
}

fn extra_schema() -> Value {
    json!({
        "type": "object",
        "description": "More Stripe parameters, sent as given with nested keys (`{\"allow_promotion_codes\": true}`); the node's own fields win"
    })
}

// ---------------------------------------------------------------------------
// customer

/// Configuration of `customer`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerConfig {
    /// The email to find the customer by (and to create it with).
    pub email: String,
    /// On create: the customer's full name.
    pub name: Option<String>,
    /// On create: phone number.
    pub phone: Option<String>,
    /// On create: description.
    pub description: Option<String>,
    /// On create: metadata.
    pub metadata: Option<Map<String, Value>>,
    /// On create: more parameters of `POST /v1/customers`.
    pub extra: Option<Map<String, Value>>,
}

/// Finds a customer by email, or creates one.
pub struct Customer;

impl Node for Customer {
    const NAME: &'static str = "customer";
    type Config = CustomerConfig;

    fn info() -> NodeInfo {
        NodeInfo::action("Stripe customer", "Finds the Stripe customer with an email, or creates one").schema(json!({
            "type": "object",
            "required": ["email"],
            "properties": {
                "email": {"type": "string", "description": "Email to look the customer up by (exact match), and to create it with"},
                "name": {"type": "string", "description": "Full name, when creating"},
                "phone": {"type": "string", "description": "Phone number, when creating"},
                "description": {"type": "string", "description": "Description, when creating"},
                "metadata": metadata_schema(),
                "extra": extra_schema()
            },
            "additionalProperties": false
        }))
    }

    fn run(config: CustomerConfig, input: Input) -> Result<Outcome, NodeError> {
        let email = config.email.trim();
        if email.is_empty() {
            return Err(bad_config("`email` is empty"));
        }
        let api = Api::new()?;
        per_item(&input, |index| {
            if let Some(found) = find_customer(&api, email)? {
                log::info(&format!("found Stripe customer {}", found["id"].as_str().unwrap_or("?")));
                let mut item = customer_item(&found);
                item.insert("created".into(), Value::Bool(false));
                return Ok(Value::Object(item));
            }
            let body = body(
                &config.extra,
                vec![
                    ("email", Some(Value::String(email.to_string()))),
                    ("name", text_value(&config.name)),
                    ("phone", text_value(&config.phone)),
                    ("description", text_value(&config.description)),
                    ("metadata", object_value(&config.metadata)),
                ],
            );
            let created = api.post("/v1/customers", &body, &item_key(&input, index), "creating the Stripe customer")?;
            log::info(&format!("created Stripe customer {}", created["id"].as_str().unwrap_or("?")));
            let mut item = customer_item(&created);
            item.insert("created".into(), Value::Bool(true));
            Ok(Value::Object(item))
        })
    }
}

/// The first customer with this email (compared without regard to case),
/// reading pages of `GET /v1/customers?email=` while Stripe has more.
fn find_customer(api: &Api, email: &str) -> Result<Option<Value>, NodeError> {
    let what = format!("looking up the Stripe customer {email}");
    let mut after: Option<String> = None;
    for _ in 0..MAX_SEARCH_PAGES {
        let query = json!({"email": email, "limit": PAGE_SIZE, "starting_after": after});
        let page = api.get("/v1/customers", &query, &what)?;
        let data = page.get("data").and_then(Value::as_array).cloned().unwrap_or_default();
        let matching = data.iter().find(|c| {
            c.get("email").and_then(Value::as_str).is_some_and(|e| e.trim().eq_ignore_ascii_case(email))
                && c.get("deleted") != Some(&Value::Bool(true))
        });
        if let Some(customer) = matching {
            return Ok(Some(customer.clone()));
        }
        let has_more = page.get("has_more").and_then(Value::as_bool).unwrap_or(false);
        let last = data.last().and_then(|c| c.get("id")).and_then(Value::as_str);
        match (has_more, last) {
            (true, Some(last)) => after = Some(last.to_string()),
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// A customer's output fields.
fn customer_item(customer: &Value) -> Map<String, Value> {
    let mut item = Map::new();
    for key in ["id", "email", "name", "phone", "description", "metadata"] {
        item.insert(key.into(), field(customer, key));
    }
    item.insert("created_at".into(), field(customer, "created"));
    item
}

// ---------------------------------------------------------------------------
// checkout-session

/// Checkout's modes.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One-time payment.
    Payment,
    /// Recurring prices: starts a subscription.
    Subscription,
    /// Saves a payment method for later.
    Setup,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Payment => "payment",
            Mode::Subscription => "subscription",
            Mode::Setup => "setup",
        }
    }
}

/// Configuration of `checkout-session`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutSessionConfig {
    /// `payment`, `subscription` or `setup`.
    pub mode: Mode,
    /// `[{price, quantity}]` or `[{price_data: {...}, quantity}]`.
    #[serde(default)]
    pub line_items: Vec<Map<String, Value>>,
    /// An existing customer's id (`cus_...`).
    pub customer: Option<String>,
    /// Prefills the email when there is no `customer`.
    pub customer_email: Option<String>,
    /// Where Stripe sends the buyer after paying.
    pub success_url: Option<String>,
    /// Where Stripe sends the buyer who goes back.
    pub cancel_url: Option<String>,
    /// Your reference (an order or cart id), echoed in the session and its webhooks.
    pub client_reference_id: Option<String>,
    /// Metadata.
    pub metadata: Option<Map<String, Value>>,
    /// More parameters of `POST /v1/checkout/sessions`.
    pub extra: Option<Map<String, Value>>,
}

/// Creates a Checkout Session (a hosted payment page).
pub struct CheckoutSession;

impl Node for CheckoutSession {
    const NAME: &'static str = "checkout-session";
    type Config = CheckoutSessionConfig;

    fn info() -> NodeInfo {
        NodeInfo::action("Stripe Checkout Session", "Creates a Checkout Session and outputs its payment page URL").schema(
            json!({
                "type": "object",
                "required": ["mode"],
                "properties": {
                    "mode": {"enum": ["payment", "subscription", "setup"], "description": "payment: one-time; subscription: recurring prices; setup: save a card"},
                    "line_items": line_items_schema(true),
                    "customer": {"type": "string", "description": "An existing customer id (cus_...); not with customer_email"},
                    "customer_email": {"type": "string", "description": "Prefills the email when there is no customer"},
                    "success_url": {"type": "string", "description": "Where the buyer lands after paying (required by Stripe for hosted pages); may hold {CHECKOUT_SESSION_ID}"},
                    "cancel_url": {"type": "string", "description": "Where the buyer lands on going back"},
                    "client_reference_id": {"type": "string", "description": "Your reference (order or cart id), echoed in checkout.session.* events"},
                    "metadata": metadata_schema(),
                    "extra": extra_schema()
                },
                "additionalProperties": false
            }),
        )
    }

    fn run(config: CheckoutSessionConfig, input: Input) -> Result<Outcome, NodeError> {
        if config.mode != Mode::Setup && config.line_items.is_empty() {
            return Err(bad_config(format!("mode `{}` needs `line_items`", config.mode.as_str())));
        }
        check_line_items(&config.line_items, true)?;
        if given(&config.customer).is_some() && given(&config.customer_email).is_some() {
            return Err(bad_config("give `customer` or `customer_email`, not both"));
        }
        let body = body(
            &config.extra,
            vec![
                ("mode", Some(Value::String(config.mode.as_str().into()))),
                ("line_items", Some(Value::Array(config.line_items.iter().cloned().map(Value::Object).collect()))),
                ("customer", text_value(&config.customer)),
                ("customer_email", text_value(&config.customer_email)),
                ("success_url", text_value(&config.success_url)),
                ("cancel_url", text_value(&config.cancel_url)),
                ("client_reference_id", text_value(&config.client_reference_id)),
                ("metadata", object_value(&config.metadata)),
            ],
        );
        let api = Api::new()?;
        per_item(&input, |index| {
            let session =
                api.post("/v1/checkout/sessions", &body, &item_key(&input, index), "creating the Checkout Session")?;
            log::info(&format!("created Checkout Session {}", session["id"].as_str().unwrap_or("?")));
            let mut item = Map::new();
            for key in [
                "id",
                "url",
                "status",
                "payment_status",
                "mode",
                "customer_email",
                "client_reference_id",
                "amount_total",
                "currency",
                "expires_at",
                "metadata",
            ] {
                item.insert(key.into(), field(&session, key));
            }
            for key in ["customer", "payment_intent", "subscription"] {
                item.insert(key.into(), id_of(&field(&session, key)));
            }
            Ok(Value::Object(item))
        })
    }
}

fn line_items_schema(price_data: bool) -> Value {
    let mut properties = json!({
        "price": {"type": "string", "description": "A Price id (price_...)"},
        "quantity": {"type": "integer", "minimum": 1}
    });
    if price_data {
        properties["price_data"] = json!({
            "type": "object",
            "description": "An inline price instead of `price`: {currency, unit_amount, product or product_data: {name}, recurring?}"
        });
    }
    json!({
        "type": "array",
        "description": "What is sold; each item is sent with Stripe's nested keys (line_items[0][price]=...)",
        "items": {"type": "object", "properties": properties}
    })
}

// ---------------------------------------------------------------------------
// payment-link

/// Configuration of `payment-link`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentLinkConfig {
    /// `[{price, quantity}]`.
    pub line_items: Vec<Map<String, Value>>,
    /// Metadata.
    pub metadata: Option<Map<String, Value>>,
    /// What happens after payment: `{"type": "redirect", "redirect": {"url": ...}}`
    /// or `{"type": "hosted_confirmation", ...}`.
    pub after_completion: Option<Value>,
    /// More parameters of `POST /v1/payment_links`.
    pub extra: Option<Map<String, Value>>,
}

/// Creates a Payment Link (a reusable payment page URL).
pub struct PaymentLink;

impl Node for PaymentLink {
    const NAME: &'static str = "payment-link";
    type Config = PaymentLinkConfig;

    fn info() -> NodeInfo {
        NodeInfo::action("Stripe Payment Link", "Creates a Payment Link and outputs its URL").schema(json!({
            "type": "object",
            "required": ["line_items"],
            "properties": {
                "line_items": line_items_schema(false),
                "metadata": metadata_schema(),
                "after_completion": {
                    "type": "object",
                    "description": "{\"type\": \"redirect\", \"redirect\": {\"url\": ...}} or {\"type\": \"hosted_confirmation\"}",
                    "properties": {"type": {"enum": ["redirect", "hosted_confirmation"]}},
                    "required": ["type"]
                },
                "extra": extra_schema()
            },
            "additionalProperties": false
        }))
    }

    fn run(config: PaymentLinkConfig, input: Input) -> Result<Outcome, NodeError> {
        if config.line_items.is_empty() {
            return Err(bad_config("`line_items` is empty"));
        }
        check_line_items(&config.line_items, false)?;
        if config.after_completion.as_ref().is_some_and(|a| !a.is_object() && !a.is_null()) {
            return Err(bad_config("`after_completion` must be an object"));
        }
        let body = body(
            &config.extra,
            vec![
                ("line_items", Some(Value::Array(config.line_items.iter().cloned().map(Value::Object).collect()))),
                ("metadata", object_value(&config.metadata)),
                ("after_completion", config.after_completion.clone().filter(|a| !a.is_null())),
            ],
        );
        let api = Api::new()?;
        per_item(&input, |index| {
            let link = api.post("/v1/payment_links", &body, &item_key(&input, index), "creating the Payment Link")?;
            log::info(&format!("created Payment Link {}", link["id"].as_str().unwrap_or("?")));
            Ok(json!({
                "id": field(&link, "id"),
                "url": field(&link, "url"),
                "active": field(&link, "active"),
                "metadata": field(&link, "metadata"),
            }))
        })
    }
}

// ---------------------------------------------------------------------------
// payment-intent

/// Configuration of `payment-intent`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentIntentConfig {
    /// The PaymentIntent's id (`pi_...`).
    pub id: String,
}

/// Retrieves a PaymentIntent: its status, amount and last payment error.
pub struct PaymentIntent;

impl Node for PaymentIntent {
    const NAME: &'static str = "payment-intent";
    type Config = PaymentIntentConfig;

    fn info() -> NodeInfo {
        NodeInfo::action("Stripe PaymentIntent", "Retrieves a PaymentIntent: status, amount, last payment error").schema(
            json!({
                "type": "object",
                "required": ["id"],
                "properties": {
                    "id": {"type": "string", "description": "The PaymentIntent id (pi_...), e.g. {{ $json.object.payment_intent }}"}
                },
                "additionalProperties": false
            }),
        )
    }

    fn run(config: PaymentIntentConfig, input: Input) -> Result<Outcome, NodeError> {
        let id = path_id("id", &config.id)?;
        let api = Api::new()?;
        let what = format!("retrieving the PaymentIntent {id}");
        per_item(&input, |_| {
            let intent = api.get(&format!("/v1/payment_intents/{id}"), &json!({}), &what)?;
            let error = intent.get("last_payment_error").filter(|e| e.is_object());
            let error_field = |key: &str| error.map(|e| field(e, key)).unwrap_or(Value::Null);
            let mut item = Map::new();
            for key in ["id", "status", "amount", "amount_received", "currency", "description", "metadata"] {
                item.insert(key.into(), field(&intent, key));
            }
            for key in ["customer", "latest_charge", "payment_method"] {
                item.insert(key.into(), id_of(&field(&intent, key)));
            }
            item.insert("last_payment_error".into(), error_field("message"));
            item.insert("last_payment_error_code".into(), error_field("code"));
            item.insert("decline_code".into(), error_field("decline_code"));
            Ok(Value::Object(item))
        })
    }
}

// ---------------------------------------------------------------------------
// refund

/// Stripe's refund reasons.
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum RefundReason {
    /// A duplicate charge.
    Duplicate,
    /// A fraudulent charge.
    Fraudulent,
    /// The customer asked.
    RequestedByCustomer,
}

impl RefundReason {
    fn as_str(self) -> &'static str {
        match self {
            RefundReason::Duplicate => "duplicate",
            RefundReason::Fraudulent => "fraudulent",
            RefundReason::RequestedByCustomer => "requested_by_customer",
        }
    }
}

/// Configuration of `refund`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundConfig {
    /// The PaymentIntent to refund (`pi_...`); or `charge`.
    pub payment_intent: Option<String>,
    /// The charge to refund (`ch_...`); or `payment_intent`.
    pub charge: Option<String>,
    /// In the currency's smallest unit (cents); default: all that is left.
    pub amount: Option<u64>,
    /// `duplicate`, `fraudulent` or `requested_by_customer`.
    pub reason: Option<RefundReason>,
    /// Metadata.
    pub metadata: Option<Map<String, Value>>,
    /// More parameters of `POST /v1/refunds`.
    pub extra: Option<Map<String, Value>>,
}

/// Refunds a payment, in full or in part.
pub struct Refund;

impl Node for Refund {
    const NAME: &'static str = "refund";
    type Config = RefundConfig;

    fn info() -> NodeInfo {
        NodeInfo::action("Stripe refund", "Refunds a PaymentIntent or charge, in full or in part").schema(json!({
            "type": "object",
            "properties": {
                "payment_intent": {"type": "string", "description": "The PaymentIntent to refund (pi_...); give it or charge"},
                "charge": {"type": "string", "description": "The charge to refund (ch_...); give it or payment_intent"},
                "amount": {"type": "integer", "minimum": 1, "description": "In the smallest currency unit (cents); default: the whole remaining amount"},
                "reason": {"enum": ["duplicate", "fraudulent", "requested_by_customer"]},
                "metadata": metadata_schema(),
                "extra": extra_schema()
            },
            "additionalProperties": false
        }))
    }

    fn run(config: RefundConfig, input: Input) -> Result<Outcome, NodeError> {
        let (payment_intent, charge) = (text_value(&config.payment_intent), text_value(&config.charge));
        if payment_intent.is_some() == charge.is_some() {
            return Err(bad_config("give exactly one of `payment_intent` and `charge`"));
        }
        if config.amount == Some(0) {
            return Err(bad_config("`amount` must be at least 1"));
        }
        let body = body(
            &config.extra,
            vec![
                ("payment_intent", payment_intent),
                ("charge", charge),
                ("amount", config.amount.map(Value::from)),
                ("reason", config.reason.map(|r| Value::String(r.as_str().into()))),
                ("metadata", object_value(&config.metadata)),
            ],
        );
        let api = Api::new()?;
        per_item(&input, |index| {
            let refund = api.post("/v1/refunds", &body, &item_key(&input, index), "creating the refund")?;
            log::info(&format!("created refund {}", refund["id"].as_str().unwrap_or("?")));
            let mut item = Map::new();
            for key in ["id", "status", "amount", "currency", "reason", "metadata"] {
                item.insert(key.into(), field(&refund, key));
            }
            for key in ["payment_intent", "charge"] {
                item.insert(key.into(), id_of(&field(&refund, key)));
            }
            Ok(Value::Object(item))
        })
    }
}

// ---------------------------------------------------------------------------
// list-customers

/// Stripe's range filter on `created` (Unix seconds).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CreatedFilter {
    /// After.
    pub gt: Option<i64>,
    /// At or after.
    pub gte: Option<i64>,
    /// Before.
    pub lt: Option<i64>,
    /// At or before.
    pub lte: Option<i64>,
}

/// Configuration of `list-customers`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListCustomersConfig {
    /// Only customers with this email (Stripe matches it exactly, case-sensitive).
    pub email: Option<String>,
    /// Only customers created in this range.
    pub created: Option<CreatedFilter>,
    /// At most this many customers (default 100, at most 10 000).
    pub limit: Option<usize>,
    /// Emit one item per customer instead of one item holding the list.
    #[serde(default)]
    pub split: bool,
}

/// Lists customers, newest first, following Stripe's pagination up to `limit`.
pub struct ListCustomers;

impl Node for ListCustomers {
    const NAME: &'static str = "list-customers";
    type Config = ListCustomersConfig;

    fn info() -> NodeInfo {
        let range = json!({"type": "integer", "description": "Unix seconds"});
        NodeInfo::action("List Stripe customers", "Lists customers (newest first), by email and creation time").schema(
            json!({
                "type": "object",
                "properties": {
                    "email": {"type": "string", "description": "Only customers with exactly this email (case-sensitive)"},
                    "created": {
                        "type": "object",
                        "description": "Only customers created in this range (Unix seconds)",
                        "properties": {"gt": range, "gte": range, "lt": range, "lte": range},
                        "additionalProperties": false
                    },
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT, "description": "At most this many customers"},
                    "split": {"type": "boolean", "default": false, "description": "One output item per customer instead of one item with `customers`"}
                },
                "additionalProperties": false
            }),
        )
    }

    fn run(config: ListCustomersConfig, input: Input) -> Result<Outcome, NodeError> {
        let limit = config.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(bad_config(format!("`limit` must be between 1 and {MAX_LIMIT}, got {limit}")));
        }
        let created = config.created.as_ref().map(|c| json!({"gt": c.gt, "gte": c.gte, "lt": c.lt, "lte": c.lte}));
        let email = text_value(&config.email);
        let api = Api::new()?;
        let mut out = Vec::new();
        for _ in 0..input.items.len().max(1) {
            let (customers, has_more) = list_customers(&api, &email, &created, limit)?;
            if config.split {
                out.extend(customers);
            } else {
                out.push(json!({"customers": customers, "count": customers.len(), "has_more": has_more}));
            }
        }
        Ok(Outcome::emit(out))
    }
}

/// Up to `limit` customers, and whether Stripe has more beyond them.
fn list_customers(
    api: &Api,
    email: &Option<Value>,
    created: &Option<Value>,
    limit: usize,
) -> Result<(Vec<Value>, bool), NodeError> {
    let mut customers = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page_size = (limit - customers.len()).min(PAGE_SIZE);
        let query = json!({"created": created, "email": email, "limit": page_size, "starting_after": after});
        let page = api.get("/v1/customers", &query, "listing Stripe customers")?;
        let data = page.get("data").and_then(Value::as_array).cloned().unwrap_or_default();
        let has_more = page.get("has_more").and_then(Value::as_bool).unwrap_or(false);
        let last = data.last().and_then(|c| c.get("id")).and_then(Value::as_str).map(str::to_string);
        let room = limit - customers.len();
        let more_here = data.len() > room;
        customers.extend(data.iter().take(room).map(|c| Value::Object(customer_item(c))));
        if customers.len() >= limit {
            return Ok((customers, more_here || has_more));
        }
        match (has_more, last) {
            (true, Some(last)) => after = Some(last),
            _ => return Ok((customers, false)),
        }
    }
}

wirework_sdk::plugin!(Customer, CheckoutSession, PaymentLink, PaymentIntent, Refund, ListCustomers, Webhook);
