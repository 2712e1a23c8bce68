//! `interactions`: the trigger behind a Slack app's Interactivity Request URL
//! (and, optionally, its slash commands' Request URL).
//!
//! Slack POSTs `application/x-www-form-urlencoded`: interactivity as one field
//! `payload` holding JSON, a slash command as plain fields (`command`, `text`,
//! ...). Every request is signed: `X-Slack-Signature: v0=<hex HMAC-SHA256 of
//! "v0:{X-Slack-Request-Timestamp}:{raw body}">` under the app's signing
//! secret, checked with a 5-minute tolerance. Slack wants a 200 within 3 s.

use crate::approval::{APPROVE_ACTION, EVENT, REJECT_ACTION};
use crate::SIGNING_CREDENTIAL;
use serde::Deserialize;
use serde_json::{json, Value};
use wirework_sdk::{clock, credentials, form, log, signature, Event, Input, Item, Node, NodeError, NodeInfo};
use wirework_sdk::{Outcome, Request, Response, TriggerResult};

/// Configuration of `interactions`: none.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InteractionsConfig {}

/// Trigger: Slack's interactivity requests (button clicks, modals, shortcuts) and slash commands.
pub struct Interactions;

impl Node for Interactions {
    const NAME: &'static str = "interactions";
    type Config = InteractionsConfig;

    fn info() -> NodeInfo {
        NodeInfo::trigger(
            "Slack interactions",
            "Takes a Slack app's signed interactivity requests: a click on an `approval` node's button \
             publishes `slack.approval:<key>` and starts nothing; any other interaction (buttons, \
             menus, modal submissions, shortcuts) or slash command starts an execution with one item",
        )
        .schema(json!({"type": "object", "properties": {}, "additionalProperties": false}))
    }

    fn run(_: InteractionsConfig, input: Input) -> Result<Outcome, NodeError> {
        Ok(Outcome::emit(input.items))
    }

    fn handle_request(_: InteractionsConfig, request: Request) -> Result<TriggerResult, NodeError> {
        let fields = form::decode(&request.body);
        let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        // Slack's certificate check carries nothing to act on: answered as
        // Slack's own Bolt frameworks do, before (without) verification.
        if field("ssl_check") == Some("1") {
            return Ok(TriggerResult::respond(ok_empty()));
        }
        let credential = credentials::get(SIGNING_CREDENTIAL)?;
        let secret = credential.field("signing_secret")?;
        if let Err(e) = signature::verify_slack(
            &request.body,
            request.header("x-slack-request-timestamp"),
            request.header("x-slack-signature"),
            secret,
            clock::now_unix_ms(),
        ) {
            log::warn(&format!("refused a request that is not Slack's: {e}"));
            return Ok(reject(401, &e.to_string()));
        }
        let Some(payload) = field("payload") else {
            if let Some(command) = field("command") {
                return Ok(TriggerResult {
                    items: vec![slash_command(command, &field)],
                    response: Some(ok_empty()),
                    events: vec![],
                });
            }
            return Ok(reject(400, "no `payload` field: not a Slack interactivity request"));
        };
        let payload: Value = match serde_json::from_str(payload) {
            Ok(payload @ Value::Object(_)) => payload,
            _ => return Ok(reject(400, "the `payload` field is not a JSON object")),
        };
        if let Some((key, event)) = approval_click(&payload) {
            log::info(&format!("{} by {} for approval {key}", event["decision"], event["user_id"]));
            return Ok(TriggerResult::respond(ok_empty()).with_event(Event::keyed(EVENT, &key, event)));
        }
        Ok(TriggerResult { items: vec![interaction(&payload)], response: Some(ok_empty()), events: vec![] })
    }
}

fn ok_empty() -> Response {
    Response { status: 200, headers: vec![], body: vec![] }
}

fn reject(status: u16, message: &str) -> TriggerResult {
    TriggerResult::respond(Response::json(status, &json!({"error": message})))
}

/// A click on an `approval` node's button: its key and the event's payload.
fn approval_click(payload: &Value) -> Option<(String, Value)> {
    if payload["type"] != "block_actions" {
        return None;
    }
    let action = &payload["actions"][0];
    let decision = match action["action_id"].as_str()? {
        APPROVE_ACTION => "approved",
        REJECT_ACTION => "rejected",
        _ => return None,
    };
    let key = action["value"].as_str().filter(|k| !k.is_empty())?;
    let at = action["action_ts"].as_str().and_then(slack_ts_ms).unwrap_or_else(clock::now_unix_ms);
    let event = json!({
        "decision": decision,
        "user_id": payload["user"]["id"],
        "user_name": user_name(payload),
        "at": at,
        "channel": channel(payload),
        "message_ts": message_ts(payload),
    });
    Some((key.to_string(), event))
}

/// Any other interaction, as one item.
fn interaction(payload: &Value) -> Item {
    let action = &payload["actions"][0];
    let response_url = match payload["response_url"].as_str() {
        Some(url) => json!(url),
        None => payload["response_urls"][0]["response_url"].clone(),
    };
    let callback_id = match payload["callback_id"].as_str() {
        Some(id) => json!(id),
        None => payload["view"]["callback_id"].clone(),
    };
    let state = match payload["view"]["state"]["values"].is_object() {
        true => payload["view"]["state"]["values"].clone(),
        false => payload["state"]["values"].clone(),
    };
    json!({
        "type": payload["type"],
        "action_id": action["action_id"],
        "value": action_value(action),
        "user_id": payload["user"]["id"],
        "user_name": user_name(payload),
        "channel": channel(payload),
        "message_ts": message_ts(payload),
        "team_id": payload["team"]["id"],
        "trigger_id": payload["trigger_id"],
        "response_url": response_url,
        "callback_id": callback_id,
        "state": state,
    })
}

/// A slash command's fields, as one item (`type: "slash_command"`).
fn slash_command<'a>(command: &str, field: &dyn Fn(&str) -> Option<&'a str>) -> Item {
    json!({
        "type": "slash_command",
        "command": command,
        "text": field("text").unwrap_or(""),
        "user_id": field("user_id"),
        "user_name": field("user_name"),
        "channel": field("channel_id"),
        "channel_name": field("channel_name"),
        "team_id": field("team_id"),
        "trigger_id": field("trigger_id"),
        "response_url": field("response_url"),
    })
}

/// What the user picked: a button's value, a menu's option, a date, a user, a channel.
fn action_value(action: &Value) -> Value {
    if let Some(value) = action["value"].as_str() {
        return json!(value);
    }
    for field in ["selected_date", "selected_time", "selected_user", "selected_channel", "selected_conversation"] {
        if let Some(value) = action[field].as_str() {
            return json!(value);
        }
    }
    match action["selected_option"]["value"].as_str() {
        Some(value) => json!(value),
        None => {
            let many: Vec<&Value> =
                action["selected_options"].as_array().into_iter().flatten().map(|o| &o["value"]).collect();
            if many.is_empty() {
                Value::Null
            } else {
                json!(many)
            }
        }
    }
}

fn user_name(payload: &Value) -> Value {
    let user = &payload["user"];
    match user["username"].as_str().filter(|n| !n.is_empty()) {
        Some(name) => json!(name),
        None => user["name"].clone(),
    }
}

fn channel(payload: &Value) -> Value {
    match payload["container"]["channel_id"].as_str() {
        Some(id) => json!(id),
        None => payload["channel"]["id"].clone(),
    }
}

fn message_ts(payload: &Value) -> Value {
    match payload["container"]["message_ts"].as_str() {
        Some(ts) => json!(ts),
        None => payload["message"]["ts"].clone(),
    }
}

/// A Slack timestamp (`"1548426417.840180"`: seconds and microseconds) in milliseconds.
fn slack_ts_ms(ts: &str) -> Option<u64> {
    let (secs, fraction) = ts.split_once('.').unwrap_or((ts, ""));
    let secs: u64 = secs.parse().ok()?;
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let millis: u64 = format!("{:0<3}", &fraction[..fraction.len().min(3)]).parse().ok()?;
    secs.checked_mul(1000)?.checked_add(millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::SIGNING_SECRET;
    use wirework_sdk::testing::FakeHost;

    /// Slack's own example ("Verifying requests from Slack"): a slash command.
    const EXAMPLE_BODY: &str =
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V\
        &channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=\
        &response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN\
        &trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const EXAMPLE_TS: &str = "1531420618";
    const EXAMPLE_SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const NOW: u64 = 1_531_420_618_000;

    fn signing(secret: &str) -> FakeHost {
        FakeHost::new().credential(SIGNING_CREDENTIAL, &[("signing_secret", secret)]).now_ms(NOW)
    }

    fn request(body: &str, ts: Option<&str>, signature: Option<&str>) -> Request {
        let mut headers = vec![("content-type".to_string(), "application/x-www-form-urlencoded".to_string())];
        if let Some(ts) = ts {
            headers.push(("x-slack-request-timestamp".into(), ts.into()));
        }
        if let Some(signature) = signature {
            headers.push(("x-slack-signature".into(), signature.into()));
        }
        Request {
            method: "POST".into(),
            url: "https://wirework.example.com/hooks/slack/interactions".into(),
            path: String::new(),
            query: String::new(),
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    /// A request signed now with the example's secret.
    fn signed(body: &str) -> Request {
        let ts = (NOW / 1000).to_string();
        let mac = signature::hmac_sha256_hex(SIGNING_SECRET.as_bytes(), format!("v0:{ts}:{body}").as_bytes());
        request(body, Some(&ts), Some(&format!("v0={mac}")))
    }

    fn payload_body(payload: Value) -> String {
        form::encode_pairs(&[("payload", payload.to_string())])
    }

    fn assert_refused(result: &TriggerResult, status: u16, says: &str) {
        let response = result.response.as_ref().expect("an answer");
        assert_eq!(response.status, status);
        let body: Value = serde_json::from_slice(&response.body).unwrap();
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(says), "{says:?} missing from {error:?}");
        assert!(!error.contains(SIGNING_SECRET));
        assert!(result.items.is_empty() && result.events.is_empty());
    }

    #[test]
    fn slacks_published_example_verifies() {
        let host = signing(SIGNING_SECRET);
        let result =
            host.handle::<Interactions>(json!({}), request(EXAMPLE_BODY, Some(EXAMPLE_TS), Some(EXAMPLE_SIGNATURE)));
        let result = result.unwrap();
        assert_eq!(result.response, Some(ok_empty()));
        assert!(result.events.is_empty());
        assert_eq!(
            result.items,
            vec![json!({
                "type": "slash_command",
                "command": "/webhook-collect",
                "text": "",
                "user_id": "U2CERLKJA",
                "user_name": "roadrunner",
                "channel": "G8PSS9T3V",
                "channel_name": "foobar",
                "team_id": "T1DC2JH3J",
                "trigger_id": "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
                "response_url": "https://hooks.slack.com/commands/T1DC2JH3J/397700885554/96rGlfmibIGlgcZRskXaIFfN",
            })]
        );
        assert!(host.logs().is_empty(), "{:?}", host.logs());
    }

    #[test]
    fn a_wrong_secret_is_refused() {
        let host = signing("8f742231b10e8888abcd99yyyzzz85a6");
        let result =
            host.handle::<Interactions>(json!({}), request(EXAMPLE_BODY, Some(EXAMPLE_TS), Some(EXAMPLE_SIGNATURE)));
        assert_refused(&result.unwrap(), 401, "signature does not match");
        for (_, line) in host.logs() {
            assert!(!line.contains("8f742231b10e8888abcd99yyyzzz85a6"), "{line}");
        }
    }

    #[test]
    fn a_tampered_body_is_refused() {
        let host = signing(SIGNING_SECRET);
        let tampered = EXAMPLE_BODY.replace("user_name=roadrunner", "user_name=coyote");
        let result =
            host.handle::<Interactions>(json!({}), request(&tampered, Some(EXAMPLE_TS), Some(EXAMPLE_SIGNATURE)));
        assert_refused(&result.unwrap(), 401, "signature does not match");
        // The same signature with another timestamp: refused too.
        let result =
            host.handle::<Interactions>(json!({}), request(EXAMPLE_BODY, Some("1531420619"), Some(EXAMPLE_SIGNATURE)));
        assert_refused(&result.unwrap(), 401, "signature does not match");
    }

    #[test]
    fn a_stale_request_is_refused() {
        let host = signing(SIGNING_SECRET).now_ms(NOW + 301_000);
        let result =
            host.handle::<Interactions>(json!({}), request(EXAMPLE_BODY, Some(EXAMPLE_TS), Some(EXAMPLE_SIGNATURE)));
        assert_refused(&result.unwrap(), 401, "timestamp is 301 s old");
        // Within the five minutes: fine.
        let host = host.now_ms(NOW + 300_000);
        let result =
            host.handle::<Interactions>(json!({}), request(EXAMPLE_BODY, Some(EXAMPLE_TS), Some(EXAMPLE_SIGNATURE)));
        assert_eq!(result.unwrap().items.len(), 1);
    }

    #[test]
    fn missing_or_malformed_headers_are_refused() {
        let host = signing(SIGNING_SECRET);
        let result = host.handle::<Interactions>(json!({}), request(EXAMPLE_BODY, Some(EXAMPLE_TS), None));
        assert_refused(&result.unwrap(), 401, "`X-Slack-Signature` is missing");
        let result = host.handle::<Interactions>(json!({}), request(EXAMPLE_BODY, None, Some(EXAMPLE_SIGNATURE)));
        assert_refused(&result.unwrap(), 401, "`X-Slack-Request-Timestamp` is missing");
        let result = host.handle::<Interactions>(json!({}), request(EXAMPLE_BODY, None, None));
        assert_refused(&result.unwrap(), 401, "is missing");
        let result = host.handle::<Interactions>(json!({}), request(EXAMPLE_BODY, Some(EXAMPLE_TS), Some("v1=abc")));
        assert_refused(&result.unwrap(), 401, "malformed");
        let warned = host.logs().into_iter().filter(|(level, _)| level == "warn").count();
        assert_eq!(warned, 4);
    }

    #[test]
    fn an_approval_click_publishes_the_keyed_event() {
        let host = signing(SIGNING_SECRET);
        let body = payload_body(json!({
            "type": "block_actions",
            "user": {"id": "U0ANN", "username": "ann.lee", "name": "ann", "team_id": "T1"},
            "container": {"type": "message", "message_ts": "1531420000.000200", "channel_id": "C0APPROVE"},
            "channel": {"id": "C0APPROVE", "name": "approvals"},
            "trigger_id": "1.2.3",
            "actions": [{"action_id": "wirework_reject", "block_id": "wirework_approval", "value": "ex-9:3.1",
                         "type": "button", "action_ts": "1531420600.5"}]
        }));
        let result = host.handle::<Interactions>(json!({}), signed(&body)).unwrap();
        assert_eq!(result.response, Some(ok_empty()));
        assert!(result.items.is_empty());
        assert_eq!(
            result.events,
            vec![Event {
                name: "slack.approval:ex-9:3.1".into(),
                payload: json!({
                    "decision": "rejected", "user_id": "U0ANN", "user_name": "ann.lee", "at": 1_531_420_600_500u64,
                    "channel": "C0APPROVE", "message_ts": "1531420000.000200",
                }),
            }]
        );
    }

    #[test]
    fn other_block_actions_start_an_execution() {
        let host = signing(SIGNING_SECRET);
        let body = payload_body(json!({
            "type": "block_actions",
            "token": "verification-token",
            "user": {"id": "U0ANN", "name": "ann"},
            "team": {"id": "T1"},
            "channel": {"id": "C9"},
            "message": {"ts": "1.2"},
            "trigger_id": "t-1",
            "response_url": "https://hooks.slack.com/actions/T1/2/abc",
            "state": {"values": {"b1": {"a1": {"type": "static_select", "selected_option": {"value": "gold"}}}}},
            "actions": [{"action_id": "pick_plan", "type": "static_select", "selected_option": {"value": "gold"}}]
        }));
        let result = host.handle::<Interactions>(json!({}), signed(&body)).unwrap();
        assert!(result.events.is_empty());
        assert_eq!(result.response, Some(ok_empty()));
        assert_eq!(
            result.items,
            vec![json!({
                "type": "block_actions", "action_id": "pick_plan", "value": "gold", "user_id": "U0ANN",
                "user_name": "ann", "channel": "C9", "message_ts": "1.2", "team_id": "T1", "trigger_id": "t-1",
                "response_url": "https://hooks.slack.com/actions/T1/2/abc", "callback_id": null,
                "state": {"b1": {"a1": {"type": "static_select", "selected_option": {"value": "gold"}}}},
            })]
        );
        assert!(!result.items[0].to_string().contains("verification-token"));
    }

    #[test]
    fn an_approval_button_without_a_key_is_an_ordinary_interaction() {
        let host = signing(SIGNING_SECRET);
        let body = payload_body(json!({
            "type": "block_actions", "user": {"id": "U1"},
            "actions": [{"action_id": "wirework_approve", "value": ""}]
        }));
        let result = host.handle::<Interactions>(json!({}), signed(&body)).unwrap();
        assert!(result.events.is_empty());
        assert_eq!(result.items[0]["action_id"], "wirework_approve");
    }

    #[test]
    fn a_view_submission_starts_an_execution() {
        let host = signing(SIGNING_SECRET);
        let body = payload_body(json!({
            "type": "view_submission",
            "user": {"id": "U1", "username": "bob"},
            "team": {"id": "T1"},
            "trigger_id": "t-2",
            "view": {"id": "V1", "callback_id": "refund_form",
                     "state": {"values": {"amount": {"input": {"type": "plain_text_input", "value": "120"}}}}},
            "response_urls": [{"block_id": "b", "action_id": "a", "channel_id": "C1", "response_url": "https://hooks.slack.com/app/x"}]
        }));
        let result = host.handle::<Interactions>(json!({}), signed(&body)).unwrap();
        assert_eq!(result.response, Some(ok_empty()), "an empty 200 closes the modal");
        let item = &result.items[0];
        assert_eq!(item["type"], "view_submission");
        assert_eq!(item["callback_id"], "refund_form");
        assert_eq!(item["state"]["amount"]["input"]["value"], "120");
        assert_eq!(item["response_url"], "https://hooks.slack.com/app/x");
        assert_eq!((item["user_name"].as_str(), item["action_id"].is_null()), (Some("bob"), true));
    }

    #[test]
    fn a_shortcut_starts_an_execution() {
        let host = signing(SIGNING_SECRET);
        let body = payload_body(json!({
            "type": "shortcut", "callback_id": "new_request", "trigger_id": "t-3",
            "user": {"id": "U1", "username": "ann"}, "team": {"id": "T1"}
        }));
        let result = host.handle::<Interactions>(json!({}), signed(&body)).unwrap();
        let item = &result.items[0];
        assert_eq!((item["type"].as_str(), item["callback_id"].as_str()), (Some("shortcut"), Some("new_request")));
        assert_eq!(item["trigger_id"], "t-3");
    }

    #[test]
    fn an_ssl_check_is_answered_and_starts_nothing() {
        let host = signing(SIGNING_SECRET);
        let result = host.handle::<Interactions>(json!({}), request("ssl_check=1&token=abc", None, None)).unwrap();
        assert_eq!(result, TriggerResult::respond(ok_empty()));
    }

    #[test]
    fn bodies_that_are_not_interactions_are_refused() {
        let host = signing(SIGNING_SECRET);
        let result = host.handle::<Interactions>(json!({}), signed("hello=world")).unwrap();
        assert_refused(&result, 400, "no `payload` field");
        let result = host.handle::<Interactions>(json!({}), signed("payload=%7Bnope")).unwrap();
        assert_refused(&result, 400, "not a JSON object");
        let result = host.handle::<Interactions>(json!({}), signed("payload=%5B1%5D")).unwrap();
        assert_refused(&result, 400, "not a JSON object");
    }

    #[test]
    fn without_the_signing_credential_the_request_fails() {
        let host = FakeHost::new().now_ms(NOW);
        let e = host.handle::<Interactions>(json!({}), signed("payload=%7B%7D")).unwrap_err();
        assert_eq!(e.code.as_deref(), Some("credential_missing"));
        let host = FakeHost::new().credential(SIGNING_CREDENTIAL, &[("other", "x")]).now_ms(NOW);
        let e = host.handle::<Interactions>(json!({}), signed("payload=%7B%7D")).unwrap_err();
        assert_eq!(e.code.as_deref(), Some("credential_incomplete"));
    }

    #[test]
    fn the_config_takes_nothing() {
        let host = signing(SIGNING_SECRET);
        let e = host.handle::<Interactions>(json!({"x": 1}), signed("payload=%7B%7D")).unwrap_err();
        assert_eq!(e.code.as_deref(), Some("bad_config"));
    }

    #[test]
    fn slack_timestamps_become_milliseconds() {
        assert_eq!(slack_ts_ms("1548426417.840180"), Some(1_548_426_417_840));
        assert_eq!(slack_ts_ms("1548426417.8"), Some(1_548_426_417_800));
        assert_eq!(slack_ts_ms("1548426417"), Some(1_548_426_417_000));
        assert_eq!(slack_ts_ms("x.1"), None);
        assert_eq!(slack_ts_ms("1.-5"), None);
    }
}
