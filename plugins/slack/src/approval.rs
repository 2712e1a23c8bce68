//! `approval`: a message with Approve / Reject buttons, and a durable wait
//! for the click (or a timeout).
//!
//! 1. First call: `chat.postMessage` with a section holding `text`, the
//!    config's extra `blocks`, and an `actions` block with the two buttons
//!    (`action_id` [`APPROVE_ACTION`] / [`REJECT_ACTION`]), whose `value` is the
//!    approval key: the step's idempotency key, the same on every retry. Then
//!    the step waits for the event `slack.approval:<key>` until the timeout.
//! 2. The `interactions` trigger turns the signed click into that event,
//!    `{decision, user_id, user_name, at, channel, message_ts}`.
//! 3. Resumed with the event, the node updates the message (the buttons give
//!    way to "Approved by @ann"; best effort) and emits the held items on
//!    `approved` or `rejected`, each with an `approval` field. Resumed by the
//!    timer instead, it emits them on `timeout` (the message then says it expired).

use crate::{bad_config, opt_text, post};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use wirework_sdk::{clock, log, Input, Item, Node, NodeError, NodeInfo, Outcome};

/// The base name of the events the trigger publishes and the node waits on.
pub const EVENT: &str = "slack.approval";
/// The Approve button's `action_id`.
pub const APPROVE_ACTION: &str = "wirework_approve";
/// The Reject button's `action_id`.
pub const REJECT_ACTION: &str = "wirework_reject";
/// The `block_id` of the buttons' `actions` block.
const ACTIONS_BLOCK: &str = "wirework_approval";
/// Default wait: two days.
const DEFAULT_TIMEOUT_SECONDS: u64 = 2 * 86_400;
/// Slack's limit on a section's text.
const SECTION_TEXT_MAX: usize = 3000;

/// Configuration of `approval`.
///
/// Every field is optional to serde because the host evaluates the config
/// again when the wait resumes, with the event as `$json`: an expression
/// such as `{{ $json.summary }}` is `null` then. The first call checks that
/// `channel` and `text` are there; a resumed call uses what it stored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalConfig {
    /// Where to ask: a channel id, `#name`, or a user id (a DM from the bot). Required.
    #[serde(default, deserialize_with = "opt_text")]
    pub channel: Option<String>,
    /// What is asked (mrkdwn), shown above the buttons and in notifications. Required.
    #[serde(default, deserialize_with = "opt_text")]
    pub text: Option<String>,
    /// Extra Block Kit blocks, shown between the text and the buttons.
    pub blocks: Option<Value>,
    /// The Approve button's label (default `Approve`).
    pub approve_label: Option<String>,
    /// The Reject button's label (default `Reject`).
    pub reject_label: Option<String>,
    /// How long to wait for a decision (default 172800: two days).
    pub timeout_seconds: Option<u64>,
    /// Slack user ids allowed to decide; empty or absent: anyone who sees the message.
    pub approvers: Option<Vec<String>>,
}

/// What the wait keeps, handed back on resume.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct WaitState {
    /// The input items, emitted with the decision.
    items: Vec<Item>,
    /// The channel id Slack posted to (what `chat.update` needs).
    channel: String,
    /// The message's `ts`.
    ts: String,
    /// The approval key: the buttons' value and the event's key.
    key: String,
    /// The message's text (the notification fallback).
    text: String,
    /// The message's blocks without the buttons.
    blocks: Vec<Value>,
    /// When the wait ends without a decision (ms since the epoch).
    deadline_ms: u64,
    /// Who may decide (empty: anyone).
    #[serde(default)]
    approvers: Vec<String>,
}

/// Asks for an approval in Slack and waits for the decision.
pub struct Approval;

impl Node for Approval {
    const NAME: &'static str = "approval";
    type Config = ApprovalConfig;

    fn info() -> NodeInfo {
        NodeInfo::action(
            "Slack approval",
            "Posts a message with Approve and Reject buttons and waits for the click: the items leave on \
             `approved` or `rejected` with who decided, or on `timeout`. Needs the `interactions` trigger \
             deployed as the Slack app's interactivity URL.",
        )
        .schema(json!({
            "type": "object",
            "required": ["channel", "text"],
            "properties": {
                "channel": {"type": "string", "description": "Channel id (C0123...), #name, or a user id for a DM"},
                "text": {"type": "string", "description": "What is asked (mrkdwn), above the buttons"},
                "blocks": {
                    "type": "array", "items": {"type": "object"},
                    "description": "Extra Block Kit blocks between the text and the buttons"
                },
                "approve_label": {"type": "string", "default": "Approve", "maxLength": 75},
                "reject_label": {"type": "string", "default": "Reject", "maxLength": 75},
                "timeout_seconds": {
                    "type": "integer", "minimum": 1, "default": DEFAULT_TIMEOUT_SECONDS,
                    "description": "How long to wait for a decision; then the items leave on `timeout`"
                },
                "approvers": {
                    "type": "array", "items": {"type": "string"},
                    "description": "Slack user ids allowed to decide (default: anyone in the channel)"
                }
            },
            "additionalProperties": false
        }))
        .ports(&["approved", "rejected", "timeout"])
    }

    fn run(config: ApprovalConfig, input: Input) -> Result<Outcome, NodeError> {
        match input.resume_state {
            Some(state) => {
                let state: WaitState = serde_json::from_value(state).map_err(|e| {
                    NodeError::fatal(format!("the approval's wait state is not readable: {e}")).with_code("bad_state")
                })?;
                resume(state, input.items.into_iter().next())
            }
            None => ask(config, input),
        }
    }
}

/// Post the question with its buttons, and wait.
fn ask(config: ApprovalConfig, input: Input) -> Result<Outcome, NodeError> {
    let channel = config.channel.as_deref().map(str::trim).filter(|c| !c.is_empty());
    let channel = channel.ok_or_else(|| bad_config("`channel` is missing"))?;
    let text = config.text.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let text = text.ok_or_else(|| bad_config("`text` is missing"))?;
    let timeout_seconds = config.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    if timeout_seconds == 0 {
        return Err(bad_config("`timeout_seconds` must be at least 1"));
    }
    let key = input.idempotency_key.trim();
    if key.is_empty() {
        return Err(NodeError::fatal("the step has no idempotency key to tell its approval by").with_code("bad_input"));
    }
    let mut blocks = vec![section(text)];
    match config.blocks {
        None | Some(Value::Null) => {}
        Some(Value::Array(extra)) => blocks.extend(extra),
        Some(other) => return Err(bad_config(format!("`blocks` must be an array of blocks, not {other}"))),
    }
    let approve = label(config.approve_label.as_deref(), "Approve");
    let reject = label(config.reject_label.as_deref(), "Reject");
    let mut message_blocks = blocks.clone();
    message_blocks.push(json!({
        "type": "actions",
        "block_id": ACTIONS_BLOCK,
        "elements": [
            button(approve, APPROVE_ACTION, "primary", key),
            button(reject, REJECT_ACTION, "danger", key),
        ]
    }));
    let body = json!({"channel": channel, "text": text, "blocks": message_blocks});
    let answer = post("chat.postMessage", &format!("asking for an approval in {channel}"), &body)?;
    let ts = answer["ts"].as_str().filter(|ts| !ts.is_empty()).ok_or_else(|| {
        NodeError::fatal("asking for an approval (chat.postMessage): Slack's answer has no `ts`")
            .with_code("bad_response")
    })?;
    let posted_to = answer["channel"].as_str().filter(|c| !c.is_empty()).unwrap_or(channel);
    let deadline_ms = clock::now_unix_ms().saturating_add(timeout_seconds.saturating_mul(1000));
    // With no input items, one empty item carries the decision on.
    let items = if input.items.is_empty() { vec![json!({})] } else { input.items };
    let state = WaitState {
        items,
        channel: posted_to.to_string(),
        ts: ts.to_string(),
        key: key.to_string(),
        text: text.to_string(),
        blocks,
        deadline_ms,
        approvers: config.approvers.unwrap_or_default().into_iter().filter(|a| !a.trim().is_empty()).collect(),
    };
    log::info(&format!("asked for an approval in {posted_to} (message {ts}); waiting for {EVENT}:{key}"));
    Ok(wait(&state))
}

fn wait(state: &WaitState) -> Outcome {
    let state_json = serde_json::to_value(state).expect("the wait state serialises");
    Outcome::wait_for_event(&format!("{EVENT}:{}", state.key), Some(state.deadline_ms), state_json)
}

/// Resumed: by the decision's event, or (no event) by the timeout.
fn resume(state: WaitState, event: Option<Item>) -> Result<Outcome, NodeError> {
    let Some(event) = event else {
        update(&state, "Expired without a decision");
        let approval = json!({"decision": "timeout", "by": null, "by_name": null, "at": clock::now_unix_ms()});
        return Ok(Outcome::emit_to("timeout", with_approval(state.items, &approval)));
    };
    let decision = match event["decision"].as_str() {
        Some(decision @ ("approved" | "rejected")) => decision,
        _ => {
            log::warn(&format!(
                "an event for approval {} has no decision `approved` or `rejected`; still waiting",
                state.key
            ));
            return Ok(wait(&state));
        }
    };
    let user_id = event["user_id"].as_str().unwrap_or("");
    if !state.approvers.is_empty() && !state.approvers.iter().any(|a| a == user_id) {
        log::info(&format!("{user_id} is not an approver of {}; still waiting", state.key));
        if !user_id.is_empty() {
            let body = json!({
                "channel": state.channel,
                "user": user_id,
                "text": "Only the request's approvers can decide it; your click was not counted.",
            });
            if let Err(e) = post("chat.postEphemeral", "telling a non-approver", &body) {
                log::warn(&e.message);
            }
        }
        return Ok(wait(&state));
    }
    let user_name = event["user_name"].as_str().filter(|n| !n.is_empty());
    let who = match (user_id, user_name) {
        ("", Some(name)) => name.to_string(),
        ("", None) => "someone".to_string(),
        (id, _) => format!("<@{id}>"),
    };
    let note = match decision {
        "approved" => format!("Approved by {who}"),
        _ => format!("Rejected by {who}"),
    };
    update(&state, &note);
    let at = event["at"].as_u64().unwrap_or_else(clock::now_unix_ms);
    let by = if user_id.is_empty() { Value::Null } else { json!(user_id) };
    let approval = json!({"decision": decision, "by": by, "by_name": user_name, "at": at});
    Ok(Outcome::emit_to(decision, with_approval(state.items, &approval)))
}

/// Replace the buttons with a note (best effort: the decision stands if Slack refuses).
fn update(state: &WaitState, note: &str) {
    let mut blocks = state.blocks.clone();
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]}));
    let body = json!({"channel": state.channel, "ts": state.ts, "text": state.text, "blocks": blocks});
    if let Err(e) = post("chat.update", "updating the approval message", &body) {
        log::warn(&format!("{} (the approval goes on regardless)", e.message));
    }
}

fn with_approval(items: Vec<Item>, approval: &Value) -> Vec<Item> {
    items
        .into_iter()
        .map(|item| match item {
            Value::Object(mut fields) => {
                fields.insert("approval".into(), approval.clone());
                Value::Object(fields)
            }
            other => json!({"value": other, "approval": approval}),
        })
        .collect()
}

fn section(text: &str) -> Value {
    let text: String = if text.chars().count() > SECTION_TEXT_MAX {
        text.chars().take(SECTION_TEXT_MAX - 1).chain(['…']).collect()
    } else {
        text.to_string()
    };
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

fn label<'a>(given: Option<&'a str>, default: &'a str) -> &'a str {
    given.map(str::trim).filter(|l| !l.is_empty()).unwrap_or(default)
}

fn button(label: &str, action_id: &str, style: &str, key: &str) -> Value {
    json!({
        "type": "button",
        "text": {"type": "plain_text", "text": label, "emoji": true},
        "style": style,
        "action_id": action_id,
        "value": key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{assert_no_secret, bot, bot_at, SIGNING_SECRET, TOKEN};
    use crate::Interactions;
    use wirework_sdk::testing::{FakeHost, Reply};
    use wirework_sdk::{form, signature, Request};

    const POST_URL: &str = "https://slack.com/api/chat.postMessage";
    const UPDATE_URL: &str = "https://slack.com/api/chat.update";
    const KEY: &str = "exec-42:7";
    const NOW: u64 = 1_767_225_600_000;

    fn input(items: Vec<Item>, resume_state: Option<Value>) -> Input {
        Input { items, resume_state, execution_id: "exec-42".into(), attempt: 1, idempotency_key: KEY.into() }
    }

    fn config() -> Value {
        json!({
            "channel": "#approvals",
            "text": "Refund of $120 for *Ann*?",
            "blocks": [{"type": "context", "elements": [{"type": "mrkdwn", "text": "order 6735"}]}],
        })
    }

    fn posted() -> Reply {
        Reply::json(200, json!({"ok": true, "channel": "C0APPROVE", "ts": "1767225600.000100", "message": {}}))
    }

    fn updated() -> Reply {
        Reply::json(200, json!({"ok": true, "channel": "C0APPROVE", "ts": "1767225600.000100", "text": "x"}))
    }

    /// The first call: returns the wait's event and state.
    fn ask(host: &FakeHost, config: Value, items: Vec<Item>) -> (String, Option<u64>, Value) {
        match host.run_input::<Approval>(config, input(items, None)).unwrap() {
            Outcome::Wait { event: Some(event), until_unix_ms, state } => (event, until_unix_ms, state),
            other => panic!("expected a wait for an event, got {other:?}"),
        }
    }

    fn section_blocks() -> Value {
        json!([
            {"type": "section", "text": {"type": "mrkdwn", "text": "Refund of $120 for *Ann*?"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "order 6735"}]},
        ])
    }

    #[test]
    fn first_call_posts_the_buttons_and_waits_for_the_event() {
        let host = bot().expect("POST", POST_URL, posted());
        let (event, until, state) = ask(&host, config(), vec![json!({"order": 6735})]);
        assert_eq!(event, "slack.approval:exec-42:7");
        assert_eq!(until, Some(NOW + 2 * 86_400 * 1000));

        let sent = &host.requests()[0];
        assert_eq!(sent.header("content-type"), Some("application/json; charset=utf-8"));
        assert_eq!(sent.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
        let mut blocks = section_blocks().as_array().unwrap().clone();
        blocks.push(json!({
            "type": "actions",
            "block_id": "wirework_approval",
            "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "Approve", "emoji": true},
                 "style": "primary", "action_id": "wirework_approve", "value": KEY},
                {"type": "button", "text": {"type": "plain_text", "text": "Reject", "emoji": true},
                 "style": "danger", "action_id": "wirework_reject", "value": KEY},
            ]
        }));
        assert_eq!(
            sent.json(),
            json!({"channel": "#approvals", "text": "Refund of $120 for *Ann*?", "blocks": blocks})
        );

        assert_eq!(
            state,
            json!({
                "items": [{"order": 6735}],
                "channel": "C0APPROVE",
                "ts": "1767225600.000100",
                "key": KEY,
                "text": "Refund of $120 for *Ann*?",
                "blocks": section_blocks(),
                "deadline_ms": NOW + 172_800_000,
                "approvers": [],
            })
        );
        host.assert_done();
    }

    #[test]
    fn labels_timeout_and_base_url_come_from_config_and_credential() {
        let host = bot_at("http://127.0.0.1:9999").now_ms(1_000_000).expect(
            "POST",
            "http://127.0.0.1:9999/api/chat.postMessage",
            posted(),
        );
        let config = json!({
            "channel": "U0BOSS", "text": "Ship it?", "approve_label": "Ship", "reject_label": "Hold",
            "timeout_seconds": 3600,
        });
        let (_, until, state) = ask(&host, config, vec![]);
        assert_eq!(until, Some(1_000_000 + 3_600_000));
        assert_eq!(state["items"], json!([{}]), "no input items: one empty item carries the decision");
        let body = host.requests()[0].json();
        let buttons = &body["blocks"][1]["elements"];
        assert_eq!(
            (buttons[0]["text"]["text"].as_str(), buttons[1]["text"]["text"].as_str()),
            (Some("Ship"), Some("Hold"))
        );
        assert_eq!(body["blocks"].as_array().unwrap().len(), 2);
    }

    fn signed_click(action_id: &str, value: &str, user: &str) -> Request {
        let payload = json!({
            "type": "block_actions",
            "user": {"id": user, "username": "ann", "name": "ann", "team_id": "T1"},
            "api_app_id": "A1", "token": "verification-token",
            "container": {"type": "message", "message_ts": "1767225600.000100", "channel_id": "C0APPROVE", "is_ephemeral": false},
            "trigger_id": "123.456.abc",
            "team": {"id": "T1", "domain": "acme"},
            "channel": {"id": "C0APPROVE", "name": "approvals"},
            "response_url": "https://hooks.slack.com/actions/T1/1/xyz",
            "actions": [{
                "action_id": action_id, "block_id": "wirework_approval", "value": value, "style": "primary",
                "type": "button", "text": {"type": "plain_text", "text": "Approve"}, "action_ts": "1767225660.123456"
            }]
        });
        let body = form::encode_pairs(&[("payload", payload.to_string())]);
        let ts = (NOW / 1000 + 60).to_string();
        let signature = signature::hmac_sha256_hex(SIGNING_SECRET.as_bytes(), format!("v0:{ts}:{body}").as_bytes());
        Request {
            method: "POST".into(),
            url: "https://wirework.example.com/hooks/slack/interactions".into(),
            path: "".into(),
            query: "".into(),
            headers: vec![
                ("content-type".into(), "application/x-www-form-urlencoded".into()),
                ("x-slack-request-timestamp".into(), ts),
                ("x-slack-signature".into(), format!("v0={signature}")),
            ],
            body: body.into_bytes(),
        }
    }

    /// The trigger's event for a click, as the host would publish it.
    fn click(action_id: &str, value: &str, user: &str) -> (String, Value) {
        let trigger = FakeHost::new()
            .credential(crate::SIGNING_CREDENTIAL, &[("signing_secret", SIGNING_SECRET)])
            .now_ms(NOW + 61_000);
        let result = trigger.handle::<Interactions>(json!({}), signed_click(action_id, value, user)).unwrap();
        assert!(result.items.is_empty(), "a button click starts nothing");
        let response = result.response.unwrap();
        assert_eq!((response.status, response.body.len()), (200, 0));
        assert_eq!(result.events.len(), 1);
        let event = result.events.into_iter().next().unwrap();
        (event.name, event.payload)
    }

    #[test]
    fn the_whole_cycle_approved() {
        let host = bot().expect("POST", POST_URL, posted()).expect("POST", UPDATE_URL, updated());
        let (waits_on, _, state) = ask(&host, config(), vec![json!({"order": 6735}), json!({"order": 6736})]);

        let (name, payload) = click(APPROVE_ACTION, KEY, "U0ANN");
        assert_eq!(name, waits_on, "the click's event is the one the step waits on");
        assert_eq!(
            payload,
            json!({
                "decision": "approved", "user_id": "U0ANN", "user_name": "ann", "at": 1_767_225_660_123u64,
                "channel": "C0APPROVE", "message_ts": "1767225600.000100",
            })
        );

        // The host resumes the step with the event's payload as the one item,
        // and the config evaluated again (an expression may be null now).
        let resumed = json!({"channel": "#approvals", "text": null});
        let outcome = host.run_input::<Approval>(resumed, input(vec![payload], Some(state))).unwrap();
        let approval = json!({"decision": "approved", "by": "U0ANN", "by_name": "ann", "at": 1_767_225_660_123u64});
        assert_eq!(
            outcome,
            Outcome::emit_to(
                "approved",
                vec![json!({"order": 6735, "approval": approval}), json!({"order": 6736, "approval": approval})]
            )
        );
        let update = &host.requests()[1];
        assert_eq!(update.header("content-type"), Some("application/json; charset=utf-8"));
        assert_eq!(update.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
        let mut blocks = section_blocks().as_array().unwrap().clone();
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": "Approved by <@U0ANN>"}]}));
        assert_eq!(
            update.json(),
            json!({"channel": "C0APPROVE", "ts": "1767225600.000100", "text": "Refund of $120 for *Ann*?", "blocks": blocks})
        );
        host.assert_done();
    }

    #[test]
    fn the_whole_cycle_rejected() {
        let host = bot().expect("POST", POST_URL, posted()).expect("POST", UPDATE_URL, updated());
        let (waits_on, _, state) = ask(&host, config(), vec![json!({"order": 1})]);
        let (name, payload) = click(REJECT_ACTION, KEY, "U0BOB");
        assert_eq!(name, waits_on);
        assert_eq!(payload["decision"], "rejected");
        let outcome = host.run_input::<Approval>(config(), input(vec![payload], Some(state))).unwrap();
        let Outcome::Emit(ports) = outcome else { panic!("expected items") };
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].0, "rejected");
        assert_eq!(ports[0].1[0]["approval"]["decision"], "rejected");
        assert_eq!(ports[0].1[0]["approval"]["by"], "U0BOB");
        let note = &host.requests()[1].json()["blocks"][2]["elements"][0]["text"];
        assert_eq!(note, "Rejected by <@U0BOB>");
        host.assert_done();
    }

    #[test]
    fn the_timer_emits_on_timeout_and_marks_the_message_expired() {
        let host = bot().expect("POST", POST_URL, posted()).expect("POST", UPDATE_URL, updated());
        let (_, _, state) = ask(&host, config(), vec![json!({"order": 1})]);
        let host = host.now_ms(NOW + 172_800_000);
        let outcome = host.run_input::<Approval>(config(), input(vec![], Some(state))).unwrap();
        assert_eq!(
            outcome,
            Outcome::emit_to(
                "timeout",
                vec![
                    json!({"order": 1, "approval": {"decision": "timeout", "by": null, "by_name": null, "at": NOW + 172_800_000}})
                ]
            )
        );
        let update = host.requests()[1].json();
        assert_eq!(update["blocks"][2]["elements"][0]["text"], "Expired without a decision");
        assert_eq!(update["ts"], "1767225600.000100");
        host.assert_done();
    }

    #[test]
    fn a_failed_update_is_logged_not_fatal() {
        let host = bot().expect("POST", POST_URL, posted()).expect(
            "POST",
            UPDATE_URL,
            Reply::json(200, json!({"ok": false, "error": "message_not_found"})),
        );
        let (_, _, state) = ask(&host, config(), vec![json!({})]);
        let event = json!({"decision": "approved", "user_id": "U1", "user_name": "ann", "at": 5});
        let outcome = host.run_input::<Approval>(config(), input(vec![event], Some(state))).unwrap();
        let Outcome::Emit(ports) = outcome else { panic!("expected items") };
        assert_eq!(ports[0].0, "approved");
        let warned: Vec<String> = host.logs().into_iter().filter(|(l, _)| l == "warn").map(|(_, m)| m).collect();
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(warned[0].contains("message_not_found"), "{}", warned[0]);
        assert!(!warned[0].contains(TOKEN));

        let host = host.expect("POST", UPDATE_URL, Reply::Fail("timed out".into()));
        let state = serde_json::to_value(WaitState {
            items: vec![json!({})],
            channel: "C1".into(),
            ts: "1.1".into(),
            key: KEY.into(),
            text: "t".into(),
            blocks: vec![],
            deadline_ms: NOW,
            approvers: vec![],
        })
        .unwrap();
        let outcome = host.run_input::<Approval>(config(), input(vec![], Some(state))).unwrap();
        assert!(matches!(outcome, Outcome::Emit(ref p) if p[0].0 == "timeout"));
        host.assert_done();
    }

    #[test]
    fn only_approvers_decide_when_they_are_named() {
        let host = bot()
            .expect("POST", POST_URL, posted())
            .expect("POST", "https://slack.com/api/chat.postEphemeral", Reply::json(200, json!({"ok": true})))
            .expect("POST", UPDATE_URL, updated());
        let mut config = config();
        config["approvers"] = json!(["U0BOSS"]);
        let (event, until, state) = ask(&host, config.clone(), vec![json!({"order": 1})]);
        assert_eq!(state["approvers"], json!(["U0BOSS"]));

        let (_, payload) = click(APPROVE_ACTION, KEY, "U0INTERN");
        let outcome = host.run_input::<Approval>(config.clone(), input(vec![payload], Some(state.clone()))).unwrap();
        assert_eq!(
            outcome,
            Outcome::Wait { until_unix_ms: until, event: Some(event.clone()), state: state.clone() },
            "a click by someone else waits on, until the same deadline"
        );
        assert_eq!(
            host.requests()[1].json(),
            json!({
                "channel": "C0APPROVE", "user": "U0INTERN",
                "text": "Only the request's approvers can decide it; your click was not counted.",
            })
        );

        let (_, payload) = click(APPROVE_ACTION, KEY, "U0BOSS");
        let outcome = host.run_input::<Approval>(config, input(vec![payload], Some(state))).unwrap();
        assert!(matches!(outcome, Outcome::Emit(ref p) if p[0].0 == "approved"));
        host.assert_done();
    }

    #[test]
    fn an_event_without_a_decision_keeps_waiting() {
        let host = bot().expect("POST", POST_URL, posted());
        let (event, until, state) = ask(&host, config(), vec![json!({})]);
        let outcome =
            host.run_input::<Approval>(config(), input(vec![json!({"decision": "maybe"})], Some(state.clone())));
        assert_eq!(outcome.unwrap(), Outcome::Wait { until_unix_ms: until, event: Some(event), state });
        host.assert_done();
    }

    #[test]
    fn an_event_sent_by_hand_without_a_user_still_decides() {
        let host = bot().expect("POST", POST_URL, posted()).expect("POST", UPDATE_URL, updated());
        let (_, _, state) = ask(&host, config(), vec![json!({})]);
        let event = json!({"decision": "approved", "user_name": "ops"});
        let Outcome::Emit(ports) = host.run_input::<Approval>(config(), input(vec![event], Some(state))).unwrap()
        else {
            panic!("expected items")
        };
        assert_eq!(ports[0].1[0]["approval"], json!({"decision": "approved", "by": null, "by_name": "ops", "at": NOW}));
        assert_eq!(host.requests()[1].json()["blocks"][2]["elements"][0]["text"], "Approved by ops");
    }

    #[test]
    fn posting_errors_fail_the_first_call() {
        let host = bot().expect("POST", POST_URL, Reply::json(200, json!({"ok": false, "error": "not_in_channel"})));
        let e = host.run_input::<Approval>(config(), input(vec![], None)).unwrap_err();
        assert_eq!((e.retryable, e.code.as_deref()), (false, Some("not_in_channel")));
        assert_eq!(
            e.message,
            "asking for an approval in #approvals (chat.postMessage): Slack answered `not_in_channel`"
        );
        assert_no_secret(&host, &e);

        let host = bot().expect("POST", POST_URL, Reply::with(429, &[("Retry-After", "3")], ""));
        let e = host.run_input::<Approval>(config(), input(vec![], None)).unwrap_err();
        assert_eq!((e.retryable, e.retry_after_ms), (true, Some(3000)));

        let host = bot().expect("POST", POST_URL, Reply::with(503, &[], ""));
        let e = host.run_input::<Approval>(config(), input(vec![], None)).unwrap_err();
        assert!(e.retryable);
        assert_no_secret(&host, &e);
    }

    #[test]
    fn config_is_checked_on_the_first_call() {
        let host = bot();
        for (config, says) in [
            (json!({"text": "x"}), "`channel` is missing"),
            (json!({"channel": "C1", "text": " "}), "`text` is missing"),
            (json!({"channel": "C1", "text": "x", "timeout_seconds": 0}), "`timeout_seconds` must be at least 1"),
            (json!({"channel": "C1", "text": "x", "blocks": {"type": "divider"}}), "`blocks` must be an array"),
        ] {
            let e = host.run_input::<Approval>(config, input(vec![], None)).unwrap_err();
            assert_eq!(e.code.as_deref(), Some("bad_config"));
            assert!(e.message.starts_with(says), "{says:?} vs {}", e.message);
        }
        assert!(host.requests().is_empty());
        let e = host.run_input::<Approval>(config(), input(vec![], Some(json!({"nope": 1})))).unwrap_err();
        assert_eq!(e.code.as_deref(), Some("bad_state"));
    }

    #[test]
    fn long_text_is_cut_to_slacks_section_limit() {
        let host = bot().expect("POST", POST_URL, posted());
        let text = "é".repeat(5000);
        ask(&host, json!({"channel": "C1", "text": text}), vec![]);
        let body = host.requests()[0].json();
        let section = body["blocks"][0]["text"]["text"].as_str().unwrap();
        assert_eq!(section.chars().count(), 3000);
        assert!(section.ends_with('…'));
        assert_eq!(body["text"].as_str().unwrap().chars().count(), 5000, "the fallback text is whole");
    }
}
