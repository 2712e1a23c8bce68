//! The `webhook` trigger: HubSpot app webhook deliveries.
//!
//! HubSpot POSTs a JSON array of up to 100 events to the app's target URL,
//! signed with `X-HubSpot-Signature-v3` (base64 HMAC-SHA256 under the app's
//! client secret of method + URL + body + `X-HubSpot-Request-Timestamp`).
//! Each event: `{"eventId", "subscriptionId", "portalId", "appId",
//! "occurredAt" (ms), "subscriptionType" ("contact.creation", ...),
//! "attemptNumber", "objectId", "propertyName"?, "propertyValue"?,
//! "changeSource", ...}`.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use wirework_sdk::{clock, credentials, log, signature, Event, Item, Node, NodeError, NodeInfo, Outcome, Request};
use wirework_sdk::{Input, Response, TriggerResult};

/// The credential type holding the app's client secret.
pub const APP_CREDENTIAL: &str = "hubspot-app";

/// Configuration of `webhook`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The subscription types that start an execution (default: all).
    pub subscriptions: Option<Vec<String>>,
    /// Publish `contact.*:<id>` / `deal.*:<id>` events (default true).
    #[serde(default = "yes")]
    pub publish_events: bool,
}

fn yes() -> bool {
    true
}

/// Take HubSpot's signed webhook deliveries.
pub struct Webhook;

impl Node for Webhook {
    const NAME: &'static str = "webhook";
    type Config = WebhookConfig;

    fn info() -> NodeInfo {
        NodeInfo::trigger(
            "HubSpot: webhook",
            "Takes a HubSpot app's signed webhook deliveries: one item per event; publishes contact.* and deal.* events",
        )
        .schema(json!({
            "type": "object",
            "properties": {
                "subscriptions": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1},
                    "description": "Subscription types that start an execution, e.g. contact.creation, contact.propertyChange, contact.deletion, deal.creation, deal.propertyChange (default: all)"
                },
                "publish_events": {
                    "type": "boolean",
                    "default": true,
                    "description": "Publish contact.created:<id>, contact.updated:<id>, deal.updated:<id>, ... for every contact and deal event, subscribed or not"
                }
            },
            "additionalProperties": false
        }))
    }

    fn run(_config: WebhookConfig, input: Input) -> Result<Outcome, NodeError> {
        // Started executions carry the trigger's items; pass them on.
        Ok(Outcome::emit(input.items))
    }

    fn handle_request(config: WebhookConfig, request: Request) -> Result<TriggerResult, NodeError> {
        let secret = credentials::get(APP_CREDENTIAL)?;
        let secret = secret.field("client_secret")?;
        if let Err(e) = signature::verify_hubspot_v3(
            &request.method,
            &request.url,
            &request.body,
            request.header("x-hubspot-request-timestamp"),
            request.header("x-hubspot-signature-v3"),
            secret,
            clock::now_unix_ms(),
        ) {
            log::warn(&format!("webhook: refused a delivery: {e}"));
            return Ok(TriggerResult::respond(Response::json(401, &json!({"error": e.to_string()}))));
        }
        let events = match serde_json::from_slice::<Value>(&request.body) {
            Ok(Value::Array(events)) => events,
            Ok(_) => return Ok(bad_request("the body is not a JSON array of events")),
            Err(e) => return Ok(bad_request(&format!("the body is not JSON: {e}"))),
        };
        let mut result = TriggerResult::default();
        for (i, event) in events.iter().enumerate() {
            let Some(item) = event_item(event) else {
                return Ok(bad_request(&format!("event {i} is not an object with a `subscriptionType`")));
            };
            let subscription = item["subscription_type"].as_str().unwrap_or_default();
            if config.publish_events {
                if let Some(published) = published_event(&item) {
                    result.events.push(published);
                }
            }
            let wanted = match &config.subscriptions {
                None => true,
                Some(list) => list.iter().any(|s| s.trim().eq_ignore_ascii_case(subscription)),
            };
            if wanted {
                result.items.push(item);
            }
        }
        log::debug(&format!(
            "webhook: {} event(s), {} item(s), {} published",
            events.len(),
            result.items.len(),
            result.events.len()
        ));
        result.response = Some(Response::json(200, &json!({"received": events.len()})));
        Ok(result)
    }
}

fn bad_request(message: &str) -> TriggerResult {
    TriggerResult::respond(Response::json(400, &json!({"error": message})))
}

/// The fields this module names itself; others are copied in snake_case.
const KNOWN: &[&str] = &[
    "eventId",
    "subscriptionId",
    "portalId",
    "appId",
    "occurredAt",
    "subscriptionType",
    "attemptNumber",
    "objectId",
    "propertyName",
    "propertyValue",
    "changeSource",
];

/// The item of one HubSpot event: `{"event": "contact.updated",
/// "subscription_type", "object_type", "object_id", "<object_type>_id",
/// "portal_id", "app_id", "event_id", "subscription_id", "occurred_at",
/// "attempt_number", "source", "property"?, "value"?, ...}`, ids of CRM
/// objects as strings; other fields of the event in snake_case.
pub fn event_item(event: &Value) -> Option<Item> {
    let event = event.as_object()?;
    let subscription = event.get("subscriptionType")?.as_str()?.trim();
    let (object_type, action) = subscription.split_once('.').unwrap_or((subscription, ""));
    let object_type = snake_case(object_type);
    let mut item = Map::new();
    item.insert("event".into(), json!(format!("{object_type}.{}", past_tense(action))));
    item.insert("subscription_type".into(), json!(subscription));
    item.insert("object_type".into(), json!(object_type));
    if let Some(id) = event.get("objectId").and_then(id_text) {
        item.insert("object_id".into(), json!(id));
        item.insert(format!("{object_type}_id"), json!(id));
    }
    for (from, to) in [
        ("portalId", "portal_id"),
        ("appId", "app_id"),
        ("eventId", "event_id"),
        ("subscriptionId", "subscription_id"),
        ("occurredAt", "occurred_at"),
        ("attemptNumber", "attempt_number"),
        ("changeSource", "source"),
        ("propertyName", "property"),
        ("propertyValue", "value"),
    ] {
        if let Some(value) = event.get(from) {
            item.insert(to.into(), value.clone());
        }
    }
    for (key, value) in event {
        let name = snake_case(key);
        if !KNOWN.contains(&key.as_str()) && !item.contains_key(&name) {
            item.insert(name, value.clone());
        }
    }
    Some(Value::Object(item))
}

/// The event published for an item of a contact or deal: its `event` name
/// keyed by the object's id (`contact.updated:123`); none for other objects.
fn published_event(item: &Item) -> Option<Event> {
    let object_type = item["object_type"].as_str()?;
    if object_type != "contact" && object_type != "deal" {
        return None;
    }
    let name = item["event"].as_str()?;
    let id = item["object_id"].as_str()?;
    if !valid_event_name(name) {
        return None;
    }
    Some(Event::keyed(name, id, item.clone()))
}

/// Dot-separated words of lower-case letters, digits, `-` and `_`.
fn valid_event_name(name: &str) -> bool {
    name.split('.').all(|w| {
        !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    })
}

fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

/// HubSpot's action (`creation`, `propertyChange`, ...) as an event's verb.
fn past_tense(action: &str) -> String {
    match action {
        "creation" => "created".into(),
        "propertyChange" => "updated".into(),
        "deletion" => "deleted".into(),
        "privacyDeletion" => "privacy_deleted".into(),
        "restore" => "restored".into(),
        "merge" => "merged".into(),
        "associationChange" => "association_changed".into(),
        "" => "event".into(),
        other => snake_case(other),
    }
}

/// `propertyChange` -> `property_change`, `line_item` stays.
fn snake_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for (i, c) in text.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
