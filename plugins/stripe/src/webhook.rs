//! The `webhook` trigger: Stripe's signed event deliveries.

use crate::WEBHOOK_CREDENTIAL;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use wirework_sdk::{
    clock, credentials, log, signature, Input, Node, NodeError, NodeInfo, Outcome, Request, Response, TriggerResult,
};

/// Configuration of `webhook`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The event types that start an execution: exact types
    /// (`checkout.session.completed`), prefixes ending in `*` (`invoice.*`), or
    /// `*`. Empty (the default): every type.
    #[serde(default)]
    pub events: Vec<String>,
}

/// Trigger: one item per verified Stripe event of a configured type.
pub struct Webhook;

impl Node for Webhook {
    const NAME: &'static str = "webhook";
    type Config = WebhookConfig;

    fn info() -> NodeInfo {
        NodeInfo::trigger(
            "Stripe webhook",
            "Starts an execution for each Stripe event of the chosen types, after checking its Stripe-Signature",
        )
        .schema(json!({
            "type": "object",
            "properties": {
                "events": {
                    "type": "array",
                    "description": "Event types to start executions for, e.g. checkout.session.completed, invoice.* or *; empty: all",
                    "items": {"type": "string", "minLength": 1}
                }
            },
            "additionalProperties": false
        }))
    }

    /// The items the trigger made, passed on.
    fn run(_: WebhookConfig, input: Input) -> Result<Outcome, NodeError> {
        Ok(Outcome::emit(input.items))
    }

    fn handle_request(config: WebhookConfig, request: Request) -> Result<TriggerResult, NodeError> {
        if !request.method.eq_ignore_ascii_case("POST") {
            let mut answer = reject(405, &format!("method {} not allowed: Stripe sends POST", request.method));
            if let Some(response) = answer.response.as_mut() {
                response.headers.push(("allow".into(), "POST".into()));
            }
            return Ok(answer);
        }
        let credential = credentials::get(WEBHOOK_CREDENTIAL)?;
        let secret = credential.field("secret")?;
        if let Err(e) = signature::verify_stripe(
            &request.body,
            request.header("stripe-signature"),
            secret,
            clock::now_unix_ms(),
            signature::STRIPE_TOLERANCE_SECS,
        ) {
            log::warn(&format!("refused a Stripe webhook: {e}"));
            return Ok(reject(401, &e.to_string()));
        }
        let event: Value = match serde_json::from_slice(&request.body) {
            Ok(event) => event,
            Err(e) => return Ok(reject(400, &format!("the body is not JSON: {e}"))),
        };
        let (Some(id), Some(kind)) =
            (event.get("id").and_then(Value::as_str), event.get("type").and_then(Value::as_str))
        else {
            return Ok(reject(400, "the body is not a Stripe event (no `id` or `type`)"));
        };
        if !wanted(&config.events, kind) {
            log::debug(&format!("ignored Stripe event {id} of type {kind}"));
            return Ok(TriggerResult::respond(Response::json(200, &json!({"received": true, "ignored": kind}))));
        }
        log::info(&format!("Stripe event {id} ({kind})"));
        Ok(TriggerResult::start(vec![event_item(&event)]))
    }
}

fn reject(status: u16, message: &str) -> TriggerResult {
    TriggerResult::respond(Response::json(status, &json!({"error": message})))
}

/// Whether event type `kind` is one of `patterns` (none: all).
pub(crate) fn wanted(patterns: &[String], kind: &str) -> bool {
    patterns.is_empty()
        || patterns.iter().map(|p| p.trim()).any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => kind.starts_with(prefix),
            None => pattern == kind,
        })
}

/// The item of an event: its envelope, `data.object` as `object`,
/// `data.previous_attributes` when Stripe sent it, and conveniences.
fn event_item(event: &Value) -> Value {
    let object = event.pointer("/data/object").cloned().unwrap_or(Value::Null);
    let mut item = Map::new();
    for key in ["id", "type", "created", "livemode", "api_version"] {
        item.insert(key.into(), event.get(key).cloned().unwrap_or(Value::Null));
    }
    item.insert("object_id".into(), object.get("id").cloned().unwrap_or(Value::Null));
    item.insert("object_type".into(), object.get("object").cloned().unwrap_or(Value::Null));
    item.insert("customer".into(), customer_id(&object));
    item.insert("customer_email".into(), customer_email(&object));
    if let Some(account) = event.get("account").filter(|a| a.is_string()) {
        item.insert("account".into(), account.clone());
    }
    if let Some(previous) = event.pointer("/data/previous_attributes").filter(|p| !p.is_null()) {
        item.insert("previous_attributes".into(), previous.clone());
    }
    item.insert("object".into(), object);
    Value::Object(item)
}

/// The customer's id: the object's `customer` (an id or an expanded
/// customer), or the object itself when it is a customer.
fn customer_id(object: &Value) -> Value {
    match object.get("customer") {
        Some(Value::String(id)) => Value::String(id.clone()),
        Some(Value::Object(customer)) => customer.get("id").cloned().unwrap_or(Value::Null),
        _ if object.get("object").and_then(Value::as_str) == Some("customer") => {
            object.get("id").cloned().unwrap_or(Value::Null)
        }
        _ => Value::Null,
    }
}

/// The buyer's email, from the first of `customer_details.email` (Checkout),
/// `customer_email` (Checkout, invoices), `receipt_email` (PaymentIntents,
/// charges), `billing_details.email` (charges), an expanded customer's
/// `email`, and a customer's own `email`.
fn customer_email(object: &Value) -> Value {
    let is_customer = object.get("object").and_then(Value::as_str) == Some("customer");
    let candidates = [
        object.pointer("/customer_details/email"),
        object.get("customer_email"),
        object.get("receipt_email"),
        object.pointer("/billing_details/email"),
        object.pointer("/customer/email"),
        if is_customer { object.get("email") } else { None },
    ];
    candidates.into_iter().flatten().find(|v| v.as_str().is_some_and(|s| !s.is_empty())).cloned().unwrap_or(Value::Null)
}
