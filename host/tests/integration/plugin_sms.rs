//! `plugins/sms` (Twilio) end to end in the real host: the package installed
//! with an operator's grants, its credential stored through the API and
//! pointed at a fake Twilio (`fakes::twilio`), workflows deployed through the
//! API, and Twilio's webhooks posted to `/hooks/...` signed as Twilio signs
//! them. The Auth Token never shows in an execution record or an answer.

use crate::common::engine::install_package;
use crate::common::server::{json, serve, TestServer};
use crate::common::*;
use crate::fakes::twilio::{self, Fake, ACCOUNT_SID, AUTH_TOKEN, FROM};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use wirework::plugins::GrantEntry;

/// The events the manifest requests, as the README's install line grants them.
const ALL_EVENTS: &[&str] = &["contact.unsubscribed", "contact.resubscribed", "sms.*"];
const CREDENTIAL: &str = "twilio-test";
const ANN: &str = "+14155552671";
const BOB: &str = "+14155550000";
const PUBLIC_URL: &str = "https://hooks.example.com";

/// A server with core and sms installed (sms granted the fake, the `twilio`
/// credential type and `events`), the test account's credential stored.
struct Setup {
    server: TestServer,
    fake: Fake,
    _dir: tempfile::TempDir,
}

async fn setup(events: &[&str], public_url: Option<&str>) -> Setup {
    let fake = twilio::start().await;
    let dir = tempfile::tempdir().unwrap();
    install_package(dir.path(), &fixtures().core, GrantEntry::default());
    let grant = GrantEntry {
        http: vec![fake.http_grant()],
        credentials: vec!["twilio".into()],
        events: events.iter().map(|e| e.to_string()).collect(),
        ..Default::default()
    };
    install_package(dir.path(), &fixtures().integration("sms"), grant);
    let public_url = public_url.map(String::from);
    let server = serve(dir.path(), move |c| c.public_url = public_url.clone()).await;
    let (status, body) = json(
        server.api_json(Method::PUT, &format!("/credentials/{CREDENTIAL}"), &fake.credential()).send().await.unwrap(),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    Setup { server, fake, _dir: dir }
}

fn assert_no_token(what: &str, text: &str) {
    assert!(!text.contains(AUTH_TOKEN), "the Auth Token in {what}: {text}");
}

/// Start `workflow` by hand with `items`; its execution id.
async fn start(server: &TestServer, workflow: &str, items: Value) -> String {
    let path = format!("/workflows/{workflow}/executions");
    let response = server.api_json(Method::POST, &path, &json!({ "items": items })).send().await.unwrap();
    let (status, body) = json(response).await;
    assert_eq!(status, 202, "{body}");
    assert_no_token("a start's answer", &body.to_string());
    body["execution_id"].as_str().unwrap().to_string()
}

/// Wait until execution `id` is one of `statuses`; the record, checked for the token.
async fn settled(server: &TestServer, id: &str, statuses: &[&str]) -> Value {
    let execution = server.wait_for(id, statuses).await;
    assert_no_token("an execution record", &execution.to_string());
    execution
}

/// The executions of `workflow`, newest first, as listed.
async fn executions(server: &TestServer, workflow: &str) -> Vec<Value> {
    let (status, listed) =
        json(server.api(Method::GET, &format!("/executions?workflow={workflow}")).send().await.unwrap()).await;
    assert_eq!(status, 200, "{listed}");
    assert_no_token("the list of executions", &listed.to_string());
    listed.as_array().cloned().unwrap_or_default()
}

/// The steps of node `node` in an execution record.
fn steps<'a>(execution: &'a Value, node: &str) -> Vec<&'a Value> {
    execution["steps"].as_array().unwrap().iter().filter(|s| s["node"] == node).collect()
}

/// Every item a node emitted on its first port, across its steps.
fn emitted(execution: &Value, node: &str) -> Vec<Value> {
    steps(execution, node)
        .iter()
        .filter_map(|s| s["outcome"]["emitted"]["ports"][0][1].as_array())
        .flatten()
        .cloned()
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A workflow started by hand whose one node is `send` with `config` (YAML
/// flow mapping) and `extra` node settings (`retry: ...`).
fn send_workflow(id: &str, config: &str, extra: &str) -> String {
    format!(
        r#"
id: {id}
triggers: [{{id: go, type: manual}}]
nodes:
  - id: text
    uses: "wirework/sms@^0.1"
    node: send
    config: {config}
    credentials: {{twilio: {CREDENTIAL}}}
    {extra}
connections: [{{from: go, to: text}}]
"#
    )
}

// ------------------------------------------------------------------ send

#[tokio::test]
async fn send_posts_twilios_form_per_item_and_outputs_each_message() {
    let Setup { server, fake, _dir } = setup(ALL_EVENTS, None).await;
    let config = format!(
        r#"{{to: "{{{{ $json.phone }}}}", from: "{FROM}", body: "Hi {{{{ $json.name }}}}, 50% off & free + fast",
           status_callback: "{PUBLIC_URL}/hooks/sms-inbound/twilio"}}"#
    );
    server.deploy(&send_workflow("texts", &config, "")).await;
    let items = json!([{"phone": ANN, "name": "Ann"}, {"phone": " +447700900123 ", "name": "Bob"}]);
    let id = start(&server, "texts", items).await;
    let execution = settled(&server, &id, &["succeeded", "failed"]).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");

    // Twilio saw one form POST per item, each with that item's values, authenticated as the account.
    let sent = fake.sends();
    assert_eq!(sent.len(), 2, "{sent:?}");
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("{ACCOUNT_SID}:{AUTH_TOKEN}"))
    );
    let callback = format!("{PUBLIC_URL}/hooks/sms-inbound/twilio");
    for (request, (to, name)) in sent.iter().zip([(ANN, "Ann"), ("+447700900123", "Bob")]) {
        assert_eq!(request.path, format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"));
        assert_eq!(request.status, 201);
        assert_eq!(request.header("content-type"), Some("application/x-www-form-urlencoded"));
        assert_eq!(request.header("authorization"), Some(basic.as_str()));
        let body = format!("Hi {name}, 50% off & free + fast");
        assert_eq!(
            request.form(),
            pairs(&[("To", to), ("From", FROM), ("Body", &body), ("StatusCallback", &callback)]),
            "the To trimmed, nothing else rewritten"
        );
    }

    // The step's output: one item per message, as Twilio created it.
    let out = emitted(&execution, "text");
    let created = fake.messages();
    assert_eq!((out.len(), created.len()), (2, 2), "{execution:#}");
    for (item, message) in out.iter().zip(&created) {
        let sid = message["sid"].as_str().unwrap();
        assert!(sid.starts_with("SM") && sid.len() == 34, "{sid}");
        assert_eq!(
            *item,
            json!({"sid": sid, "status": "queued", "to": message["to"], "from": FROM, "num_segments": 1,
                   "date_created": message["date_created"]})
        );
    }
    assert_eq!(out[0]["to"], ANN);
    assert_eq!(out[1]["to"], "+447700900123");
    server.stop().await;
}

#[tokio::test]
async fn send_through_a_messaging_service_has_no_sender_yet() {
    let Setup { server, fake, _dir } = setup(ALL_EVENTS, None).await;
    let config = format!(
        r#"{{to: "{ANN}", messaging_service_sid: "{}", media_urls: ["https://example.com/a.png", "https://example.com/b.jpg"]}}"#,
        twilio::MESSAGING_SERVICE_SID
    );
    server.deploy(&send_workflow("mms", &config, "")).await;
    let execution = settled(&server, &start(&server, "mms", json!([])).await, &["succeeded", "failed"]).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    let sent = fake.sends();
    assert_eq!(sent.len(), 1, "no items: one call");
    assert_eq!(
        sent[0].form(),
        pairs(&[
            ("To", ANN),
            ("MessagingServiceSid", twilio::MESSAGING_SERVICE_SID),
            ("MediaUrl", "https://example.com/a.png"),
            ("MediaUrl", "https://example.com/b.jpg"),
        ])
    );
    let out = emitted(&execution, "text");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["status"], "accepted");
    assert_eq!(out[0]["from"], Value::Null, "the service has not picked the sender: {out:?}");
    assert_eq!(out[0]["sid"], fake.messages()[0]["sid"]);
    server.stop().await;
}

#[tokio::test]
async fn a_number_that_is_not_e164_fails_before_any_request() {
    let Setup { server, fake, _dir } = setup(ALL_EVENTS, None).await;
    let config = format!(r#"{{to: "{{{{ $json.phone }}}}", from: "{FROM}", body: "hi"}}"#);
    let retry = "retry: {max_attempts: 3, initial_delay_ms: 50}";
    server.deploy(&send_workflow("bad-number", &config, retry)).await;
    let id = start(&server, "bad-number", json!([{"phone": "(415) 555-2671"}])).await;
    let execution = settled(&server, &id, &["succeeded", "failed"]).await;
    assert_eq!(execution["status"], "failed", "{execution:#}");
    let failure = &execution["error"]["failure"];
    assert_eq!(failure["code"], "bad_number", "{execution:#}");
    assert_eq!(failure["retryable"], false);
    assert!(failure["message"].as_str().unwrap().contains("(415) 555-2671"), "{failure}");
    assert_eq!(steps(&execution, "text").len(), 1, "not retried: {execution:#}");
    assert!(fake.requests().is_empty(), "nothing reached Twilio: {:?}", fake.requests());
    server.stop().await;
}

#[tokio::test]
async fn a_twilio_4xx_ends_the_step_with_twilios_code_and_message() {
    let Setup { server, fake, _dir } = setup(ALL_EVENTS, None).await;
    let retry = "retry: {max_attempts: 3, initial_delay_ms: 50}";
    // A number of the right shape that Twilio says is not a phone number.
    let config = format!(r#"{{to: "{}", from: "{FROM}", body: "hi"}}"#, twilio::INVALID_TO);
    server.deploy(&send_workflow("refused", &config, retry)).await;
    let execution = settled(&server, &start(&server, "refused", json!([])).await, &["succeeded", "failed"]).await;
    assert_eq!(execution["status"], "failed", "{execution:#}");
    let failure = &execution["error"]["failure"];
    assert_eq!(failure["code"], "twilio_21211", "{execution:#}");
    assert_eq!(failure["retryable"], false);
    assert_eq!(
        failure["message"],
        "sending the message: Twilio error 21211 (HTTP 400): The 'To' number +15005550001 is not a valid phone \
         number. (https://www.twilio.com/docs/errors/21211)"
    );
    assert!(execution["error"]["message"].as_str().unwrap().contains("Twilio error 21211"), "{execution:#}");
    let text_steps = steps(&execution, "text");
    assert_eq!(text_steps.len(), 1, "a 4xx is not retried: {execution:#}");
    assert_eq!(text_steps[0]["outcome"]["failed"]["then"], "stop");
    let sent = fake.sends();
    assert_eq!((sent.len(), sent[0].status), (1, 400));
    assert!(fake.messages().is_empty());

    // A wrong Auth Token: Twilio's 401, said as Twilio says it, the token nowhere.
    let wrong = "wrong-token-0123456789abcdef";
    let response = server
        .api_json(Method::PUT, "/credentials/twilio-wrong", &fake.credential_with_token(wrong))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let config = format!(r#"{{to: "{ANN}", from: "{FROM}", body: "hi"}}"#);
    let workflow = send_workflow("unauthorised", &config, "").replace(CREDENTIAL, "twilio-wrong");
    server.deploy(&workflow).await;
    let execution = settled(&server, &start(&server, "unauthorised", json!([])).await, &["succeeded", "failed"]).await;
    assert_eq!(execution["status"], "failed", "{execution:#}");
    let failure = &execution["error"]["failure"];
    assert_eq!(failure["code"], "twilio_20003", "{execution:#}");
    assert!(failure["message"].as_str().unwrap().contains("Twilio error 20003 (HTTP 401): Authenticate"), "{failure}");
    assert!(!execution.to_string().contains(wrong), "the wrong token in the record: {execution:#}");
    let last = fake.requests().pop().unwrap();
    assert_eq!(last.status, 401);
    assert!(fake.messages().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_429_is_retried_no_sooner_than_retry_after_then_sends_once() {
    let Setup { server, fake, _dir } = setup(ALL_EVENTS, None).await;
    let config = format!(r#"{{to: "{ANN}", from: "{FROM}", body: "hi"}}"#);
    let retry = "retry: {max_attempts: 3, initial_delay_ms: 50, jitter: false}";
    server.deploy(&send_workflow("throttled", &config, retry)).await;
    fake.fail_next(429, 1, Some(1));
    let execution = settled(&server, &start(&server, "throttled", json!([])).await, &["succeeded", "failed"]).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    let sent = fake.sends();
    assert_eq!(sent.iter().map(|r| r.status).collect::<Vec<_>>(), [429, 201], "{sent:?}");
    let waited = sent[1].at.duration_since(sent[0].at);
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}, before Retry-After: 1");
    assert_eq!(sent[0].form(), sent[1].form(), "the same message again");
    let attempts = steps(&execution, "text");
    assert_eq!(attempts.len(), 2, "{execution:#}");
    let failure = &attempts[0]["outcome"]["failed"];
    assert_eq!(failure["then"], "retry");
    assert_eq!(failure["failure"]["code"], "twilio_20429");
    assert_eq!(failure["failure"]["retry_after_ms"], 1000);
    assert_eq!(attempts[1]["attempt"], 2);
    let out = emitted(&execution, "text");
    assert_eq!(out.len(), 1);
    assert_eq!(fake.messages().len(), 1, "one message created");
    assert_eq!(out[0]["sid"], fake.messages()[0]["sid"]);
    server.stop().await;
}

#[tokio::test]
async fn a_500_is_retried_and_exhausted_retries_fail_the_execution() {
    let Setup { server, fake, _dir } = setup(ALL_EVENTS, None).await;
    let config = format!(r#"{{to: "{ANN}", from: "{FROM}", body: "hi"}}"#);
    let retry = "retry: {max_attempts: 3, initial_delay_ms: 50}";
    server.deploy(&send_workflow("flaky", &config, retry)).await;
    fake.fail_next(500, 2, None);
    let execution = settled(&server, &start(&server, "flaky", json!([])).await, &["succeeded", "failed"]).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    assert_eq!(fake.sends().iter().map(|r| r.status).collect::<Vec<_>>(), [500, 500, 201]);
    let attempts = steps(&execution, "text");
    let thens: Vec<&Value> = attempts.iter().map(|s| &s["outcome"]["failed"]["then"]).collect();
    assert_eq!(thens, [&json!("retry"), &json!("retry"), &Value::Null], "{execution:#}");
    assert_eq!(attempts[0]["outcome"]["failed"]["failure"]["code"], "twilio_20500");
    assert_eq!(emitted(&execution, "text").len(), 1);

    // Still failing after the last attempt: the execution fails, retryable and all.
    fake.fail_next(503, 3, None);
    let execution = settled(&server, &start(&server, "flaky", json!([])).await, &["succeeded", "failed"]).await;
    assert_eq!(execution["status"], "failed", "{execution:#}");
    assert_eq!(steps(&execution, "text").len(), 3);
    let failure = &execution["error"]["failure"];
    assert_eq!((failure["code"].as_str(), failure["retryable"].as_bool()), (Some("twilio_20500"), Some(true)));
    assert_eq!(fake.messages().len(), 1, "the failed attempts created nothing");
    server.stop().await;
}

// ---------------------------------------------------------- list-messages

#[tokio::test]
async fn list_messages_follows_twilios_pages_up_to_the_limit() {
    let Setup { server, fake, _dir } = setup(ALL_EVENTS, None).await;
    let ours = FROM;
    // An old reply, seven today (the last the newest), and two to another number.
    let january = "Wed, 15 Jan 2020 10:00:00 +0000";
    let old = fake.seed_message(json!({"from": BOB, "to": ours, "body": "old", "date_created": january,
                                       "date_sent": january, "date_updated": january}));
    let mut replies = Vec::new();
    for n in 1..=7 {
        replies.push(fake.seed_message(json!({"from": ANN, "to": ours, "body": format!("reply {n}")})));
        if n % 3 == 0 {
            fake.seed_message(json!({"from": ANN, "to": "+15557122661", "body": "elsewhere"}));
        }
    }
    let newest_first: Vec<Value> = replies.iter().rev().chain([&old]).map(|m| m["sid"].clone()).collect();
    server
        .deploy(&format!(
            r#"
id: inbox
triggers: [{{id: go, type: manual}}]
nodes:
  - {{id: first-five, uses: "wirework/sms@^0.1", node: list-messages, config: {{to: "{ours}", page_size: 3, limit: 5}}, credentials: {{twilio: {CREDENTIAL}}}}}
  - {{id: all, uses: "wirework/sms@^0.1", node: list-messages, config: {{to: "{ours}", page_size: 3}}, credentials: {{twilio: {CREDENTIAL}}}}}
  - {{id: january, uses: "wirework/sms@^0.1", node: list-messages, config: {{to: "{ours}", date_sent_before: "2020-01-31"}}, credentials: {{twilio: {CREDENTIAL}}}}}
connections: [{{from: go, to: first-five}}, {{from: first-five, to: all}}, {{from: all, to: january}}]
"#
        ))
        .await;
    let execution = settled(&server, &start(&server, "inbox", json!([])).await, &["succeeded", "failed"]).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    let sids = |item: &Value| -> Vec<Value> {
        item["messages"].as_array().unwrap().iter().map(|m| m["sid"].clone()).collect()
    };

    // Limit 5 on pages of 3: two pages, cut short, more left.
    let five = emitted(&execution, "first-five");
    assert_eq!(five.len(), 1, "{execution:#}");
    assert_eq!((five[0]["count"].as_u64(), five[0]["has_more"].as_bool()), (Some(5), Some(true)));
    assert_eq!(sids(&five[0]), newest_first[..5]);
    let newest = &five[0]["messages"][0];
    let seeded = &replies[6];
    assert_eq!(
        *newest,
        json!({"sid": seeded["sid"], "status": "received", "direction": "inbound", "from": ANN, "to": ours,
               "body": "reply 7", "num_segments": 1, "num_media": 0, "date_created": seeded["date_created"],
               "date_sent": seeded["date_sent"], "date_updated": seeded["date_updated"], "error_code": null,
               "error_message": null, "price": "-0.00790", "price_unit": "USD", "messaging_service_sid": null})
    );
    // The default limit (100): every page, nothing more.
    let all = emitted(&execution, "all");
    assert_eq!((all[0]["count"].as_u64(), all[0]["has_more"].as_bool()), (Some(8), Some(false)));
    assert_eq!(sids(&all[0]), newest_first);
    // Sent on or before a day.
    let january = emitted(&execution, "january");
    assert_eq!((january[0]["count"].as_u64(), january[0]["has_more"].as_bool()), (Some(1), Some(false)));
    assert_eq!(sids(&january[0]), [old["sid"].clone()]);

    // What Twilio saw: the filter and page size, then its own next_page_uri.
    let requests = fake.requests();
    assert!(requests.iter().all(|r| r.method == "GET" && r.status == 200 && r.body.is_empty()), "{requests:?}");
    let pages: Vec<Vec<(String, String)>> = requests.iter().map(|r| r.query_pairs()).collect();
    let page = |n: &str| -> Vec<(String, String)> {
        let mut query = pairs(&[("To", ours), ("PageSize", "3")]);
        if n != "first" {
            query.push(("Page".into(), n.into()));
        }
        query
    };
    let without_token = |query: &Vec<(String, String)>| -> Vec<(String, String)> {
        query.iter().filter(|(k, _)| k != "PageToken").cloned().collect()
    };
    let seen: Vec<Vec<(String, String)>> = pages.iter().map(without_token).collect();
    let by_date = pairs(&[("To", ours), ("DateSent<", "2020-01-31"), ("PageSize", "100")]);
    assert_eq!(seen, [page("first"), page("1"), page("first"), page("1"), page("2"), by_date], "{requests:?}");
    assert!(requests[1].query.contains("PageToken=PA"), "Twilio's next_page_uri followed as given: {requests:?}");
    server.stop().await;
}

// ----------------------------------------------------------- the trigger

/// The hook of the inbound workflow, on the host as callers reach it.
const HOOK: &str = "/hooks/sms-inbound/twilio";

/// The workflow taking Twilio's webhooks (`config` for the trigger, e.g. `{kinds: [message]}`).
fn inbound_workflow(config: &str) -> String {
    format!(
        r#"
id: sms-inbound
triggers:
  - {{id: twilio, type: webhook, path: twilio, uses: "wirework/sms@^0.1", node: inbound, config: {config},
     credentials: {{twilio: {CREDENTIAL}}}}}
nodes:
  - {{id: log, uses: "wirework/core@^0.1", node: noop}}
connections: [{{from: twilio, to: log}}]
"#
    )
}

/// Waits for `event` (an expression on the item) and then runs `after`.
fn waiter_workflow(id: &str, event: &str) -> String {
    format!(
        r#"
id: {id}
triggers: [{{id: go, type: manual}}]
nodes:
  - {{id: wait, uses: "wirework/core@^0.1", node: wait, config: {{event: "{event}", timeout_seconds: 3600}}}}
  - {{id: after, uses: "wirework/core@^0.1", node: noop}}
connections: [{{from: go, to: wait}}, {{from: wait, to: after}}]
"#
    )
}

/// Started by any event named `event`.
fn listener_workflow(id: &str, event: &str) -> String {
    format!(
        r#"
id: {id}
triggers: [{{id: on-event, type: event, event: {event}}}]
nodes:
  - {{id: seen, uses: "wirework/core@^0.1", node: noop}}
connections: [{{from: on-event, to: seen}}]
"#
    )
}

/// Post `params` to the hook signed for `signed_url`; status, content type, body.
async fn post_hook(setup: &Setup, signed_url: &str, params: &[(String, String)]) -> (u16, String, String) {
    let post_to = format!("{}{HOOK}", setup.server.url);
    let response =
        twilio::signed_webhook(&setup.server.client, &post_to, signed_url, params, AUTH_TOKEN).send().await.unwrap();
    answer(response).await
}

async fn answer(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let body = response.text().await.unwrap();
    assert_no_token("a webhook's answer", &body);
    (status, content_type, body)
}

const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#;

fn assert_twiml(answer: &(u16, String, String)) {
    assert_eq!(answer.0, 200, "{answer:?}");
    assert_eq!(answer.1, "text/xml", "{answer:?}");
    assert_eq!(answer.2, EMPTY_TWIML);
}

/// The one execution of `workflow` there must be now, settled.
async fn only_execution(server: &TestServer, workflow: &str) -> Value {
    let listed = executions(server, workflow).await;
    assert_eq!(listed.len(), 1, "{workflow}: {listed:?}");
    settled(server, listed[0]["id"].as_str().unwrap(), &["succeeded", "failed"]).await
}

#[tokio::test]
async fn a_signed_inbound_message_starts_an_execution_behind_a_public_url() {
    let setup = setup(ALL_EVENTS, Some(PUBLIC_URL)).await;
    let server = &setup.server;
    server.deploy(&inbound_workflow("{}")).await;
    server.deploy(&listener_workflow("replies", "sms.received")).await;
    let public_hook = format!("{PUBLIC_URL}{HOOK}");
    let message = twilio::inbound_message(ANN, FROM, "Yes please, call me at 5pm!");

    // Signed for the URL the host listens on, not the one Twilio was given: refused.
    let (status, _, body) = post_hook(&setup, &format!("{}{HOOK}", server.url), &message).await;
    assert_eq!(status, 401, "{body}");
    assert!(executions(server, "sms-inbound").await.is_empty());

    // Signed for the public URL: answered with empty TwiML, the execution started with the item.
    assert_twiml(&post_hook(&setup, &public_hook, &message).await);
    let execution = only_execution(server, "sms-inbound").await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    let item = json!({
        "kind": "message", "from": ANN, "to": FROM, "body": "Yes please, call me at 5pm!",
        "message_sid": twilio::param(&message, "MessageSid").unwrap(), "account_sid": ACCOUNT_SID, "num_media": 0
    });
    assert_eq!(emitted(&execution, "twilio"), std::slice::from_ref(&item), "{execution:#}");
    assert_eq!(steps(&execution, "log")[0]["input"], json!([item.clone()]));
    // sms.received:<From> was published: its listener started with the item.
    let replies = only_execution(server, "replies").await;
    assert_eq!(steps(&replies, "seen")[0]["input"][0], item, "{replies:#}");
    setup.server.stop().await;
}

#[tokio::test]
async fn a_signed_inbound_message_verifies_on_the_host_header_url() {
    let setup = setup(ALL_EVENTS, None).await;
    let server = &setup.server;
    server.deploy(&inbound_workflow("{kinds: [message]}")).await;
    // Escapes and non-ASCII in the form: signed over the decoded values, as Twilio signs.
    let text = "Ça va? 1+1=2 & 100% 😀";
    let message = twilio::inbound_message(ANN, FROM, text);
    // Without a public URL the host sees http:// and the Host header: an https URL does not verify.
    let (status, _, body) = post_hook(&setup, &format!("{PUBLIC_URL}{HOOK}"), &message).await;
    assert_eq!(status, 401, "{body}");
    assert!(executions(server, "sms-inbound").await.is_empty());
    let local = format!("{}{HOOK}", server.url);
    assert!(local.starts_with("http://127.0.0.1:"), "{local}");
    assert_twiml(&post_hook(&setup, &local, &message).await);
    let execution = only_execution(server, "sms-inbound").await;
    assert_eq!(emitted(&execution, "twilio")[0]["body"], text, "{execution:#}");

    // A status callback is answered the same, but `kinds: [message]` starts nothing for it.
    let status = twilio::status_callback(&twilio::new_sid("SM"), "delivered", ANN, FROM, None);
    assert_twiml(&post_hook(&setup, &local, &status).await);
    assert_eq!(executions(server, "sms-inbound").await.len(), 1);
    setup.server.stop().await;
}

#[tokio::test]
async fn stop_and_start_publish_opt_out_events_that_resume_waits_and_start_listeners() {
    let setup = setup(ALL_EVENTS, Some(PUBLIC_URL)).await;
    let server = &setup.server;
    server.deploy(&inbound_workflow("{kinds: [message]}")).await;
    server.deploy(&waiter_workflow("opt-out-wait", "contact.unsubscribed:{{ $json.phone }}")).await;
    server.deploy(&listener_workflow("unsubscribed", "contact.unsubscribed")).await;
    server.deploy(&listener_workflow("resubscribed", "contact.resubscribed")).await;
    let ann = start(server, "opt-out-wait", json!([{"phone": ANN}])).await;
    let bob = start(server, "opt-out-wait", json!([{"phone": BOB}])).await;
    for id in [&ann, &bob] {
        settled(server, id, &["waiting"]).await;
    }
    let hook = format!("{PUBLIC_URL}{HOOK}");

    // Ann texts " stop ": Twilio's opt-out keyword, any case, trimmed.
    let stop = twilio::inbound_message(ANN, FROM, " stop ");
    let stop_sid = twilio::param(&stop, "MessageSid").unwrap().to_string();
    assert_twiml(&post_hook(&setup, &hook, &stop).await);
    let payload = json!({"phone": ANN, "channel": "sms", "keyword": "STOP", "message_sid": stop_sid});
    let resumed = settled(server, &ann, &["succeeded", "failed"]).await;
    assert_eq!(resumed["status"], "succeeded", "{resumed:#}");
    let after = steps(&resumed, "after");
    assert_eq!(after[0]["input"][0], json!({"phone": ANN, "event": payload}), "{resumed:#}");
    let unsubscribed = only_execution(server, "unsubscribed").await;
    assert_eq!(steps(&unsubscribed, "seen")[0]["input"][0], payload, "{unsubscribed:#}");
    assert!(executions(server, "resubscribed").await.is_empty());
    assert_eq!(settled(server, &bob, &["waiting"]).await["status"], "waiting", "another number resumes nobody else");
    let inbound = only_execution(server, "sms-inbound").await;
    assert_eq!(emitted(&inbound, "twilio")[0]["keyword"], "STOP", "{inbound:#}");

    // START: contact.resubscribed, for the other listener only.
    assert_twiml(&post_hook(&setup, &hook, &twilio::inbound_message(ANN, FROM, "START")).await);
    let resubscribed = only_execution(server, "resubscribed").await;
    let event = &steps(&resubscribed, "seen")[0]["input"][0];
    assert_eq!((event["phone"].as_str(), event["keyword"].as_str()), (Some(ANN), Some("START")), "{event}");
    assert_eq!(executions(server, "unsubscribed").await.len(), 1);

    // A message that merely contains the word opts nobody out.
    assert_twiml(&post_hook(&setup, &hook, &twilio::inbound_message(BOB, FROM, "please stop it")).await);
    assert_eq!(executions(server, "sms-inbound").await.len(), 3);
    assert_eq!(executions(server, "unsubscribed").await.len(), 1);
    assert_eq!(settled(server, &bob, &["waiting"]).await["status"], "waiting");
    setup.server.stop().await;
}

#[tokio::test]
async fn a_status_callback_resumes_the_execution_that_sent_the_message() {
    let setup = setup(ALL_EVENTS, Some(PUBLIC_URL)).await;
    let (server, fake) = (&setup.server, &setup.fake);
    server.deploy(&inbound_workflow("{}")).await;
    let hook = format!("{PUBLIC_URL}{HOOK}");
    server
        .deploy(&format!(
            r#"
id: text-and-track
triggers: [{{id: go, type: manual}}]
nodes:
  - id: text
    uses: "wirework/sms@^0.1"
    node: send
    config: {{to: "{{{{ $json.phone }}}}", from: "{FROM}", body: "Your order shipped", status_callback: "{hook}"}}
    credentials: {{twilio: {CREDENTIAL}}}
  - {{id: delivery, uses: "wirework/core@^0.1", node: wait, config: {{event: "sms.status:{{{{ $json.sid }}}}", timeout_seconds: 3600}}}}
  - {{id: done, uses: "wirework/core@^0.1", node: noop}}
connections: [{{from: go, to: text}}, {{from: text, to: delivery}}, {{from: delivery, to: done}}]
"#
        ))
        .await;
    let id = start(server, "text-and-track", json!([{"phone": ANN}])).await;
    settled(server, &id, &["waiting"]).await;
    let sid = fake.messages()[0]["sid"].as_str().unwrap().to_string();
    assert_eq!(twilio::param(&fake.sends()[0].form(), "StatusCallback"), Some(hook.as_str()));

    // Twilio calls the status callback it was given: the sending execution resumes.
    let callback = fake.status_callback(&sid, "undelivered", Some(30003));
    assert_twiml(&post_hook(&setup, &hook, &callback).await);
    let execution = settled(server, &id, &["succeeded", "failed"]).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    let status = json!({"kind": "status", "message_sid": sid, "status": "undelivered", "to": ANN, "from": FROM,
                        "error_code": 30003});
    assert_eq!(steps(&execution, "done")[0]["input"][0]["event"], status, "{execution:#}");
    // And, `kinds` defaulting to both, the callback started the inbound workflow too.
    let inbound = only_execution(server, "sms-inbound").await;
    assert_eq!(emitted(&inbound, "twilio"), [status]);
    setup.server.stop().await;
}

#[tokio::test]
async fn forged_webhooks_are_refused_and_start_and_publish_nothing() {
    let setup = setup(ALL_EVENTS, Some(PUBLIC_URL)).await;
    let server = &setup.server;
    server.deploy(&inbound_workflow("{}")).await;
    server.deploy(&waiter_workflow("opt-out-wait", "contact.unsubscribed:{{ $json.phone }}")).await;
    server.deploy(&listener_workflow("unsubscribed", "contact.unsubscribed")).await;
    server.deploy(&listener_workflow("received", "sms.received")).await;
    let waiting = start(server, "opt-out-wait", json!([{"phone": ANN}])).await;
    settled(server, &waiting, &["waiting"]).await;
    let hook = format!("{PUBLIC_URL}{HOOK}");
    let post_to = format!("{}{HOOK}", server.url);
    let stop = twilio::inbound_message(ANN, FROM, "STOP");
    let client = &server.client;

    let wrong_token = twilio::signed_webhook(client, &post_to, &hook, &stop, "not-the-auth-token");
    // Signed as "hello", sent as "STOP".
    let hello = stop.iter().map(|(k, v)| (k.clone(), if k == "Body" { "hello".into() } else { v.clone() }));
    let signature = twilio::sign_webhook(&hook, &hello.collect::<Vec<_>>(), AUTH_TOKEN);
    let tampered = client
        .post(&post_to)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", &signature)
        .body(twilio::form_body(&stop));
    let missing = client
        .post(&post_to)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(twilio::form_body(&stop));
    let other_hook = twilio::signed_webhook(client, &post_to, &format!("{hook}?x=1"), &stop, AUTH_TOKEN);
    let extra_param = {
        let mut more = stop.clone();
        more.push(("OptOutType".into(), "STOP".into()));
        client
            .post(&post_to)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", twilio::sign_webhook(&hook, &stop, AUTH_TOKEN))
            .body(twilio::form_body(&more))
    };
    for (what, request) in [
        ("wrong token", wrong_token),
        ("tampered parameter", tampered),
        ("missing header", missing),
        ("signed for another URL", other_hook),
        ("added parameter", extra_param),
    ] {
        let (status, content_type, body) = answer(request.send().await.unwrap()).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert!(content_type.starts_with("application/json"), "{what}: {content_type}");
        let error: Value = serde_json::from_str(&body).unwrap();
        assert!(error["error"].is_string(), "{what}: {body}");
    }
    // Other methods: 405, nothing started.
    let (status, _, _) = answer(client.put(&post_to).body("x").send().await.unwrap()).await;
    assert_eq!(status, 405);

    for workflow in ["sms-inbound", "unsubscribed", "received"] {
        assert!(executions(server, workflow).await.is_empty(), "{workflow} started");
    }
    assert_eq!(settled(server, &waiting, &["waiting"]).await["status"], "waiting", "nothing published");

    // The same STOP, signed right, goes through: the refusals were the signatures'.
    assert_twiml(&post_hook(&setup, &hook, &stop).await);
    assert_eq!(settled(server, &waiting, &["succeeded", "failed"]).await["status"], "succeeded");
    assert_eq!(executions(server, "unsubscribed").await.len(), 1);
    assert_eq!(executions(server, "sms-inbound").await.len(), 1);
    setup.server.stop().await;
}

#[tokio::test]
async fn without_the_events_grant_the_trigger_is_refused_and_publishes_nothing() {
    // Only sms.*: an ordinary message goes through, a STOP (contact.unsubscribed) does not.
    let setup = setup(&["sms.*"], Some(PUBLIC_URL)).await;
    let server = &setup.server;
    server.deploy(&inbound_workflow("{}")).await;
    server.deploy(&waiter_workflow("opt-out-wait", "contact.unsubscribed:{{ $json.phone }}")).await;
    server.deploy(&listener_workflow("unsubscribed", "contact.unsubscribed")).await;
    server.deploy(&listener_workflow("received", "sms.received")).await;
    let waiting = start(server, "opt-out-wait", json!([{"phone": ANN}])).await;
    settled(server, &waiting, &["waiting"]).await;
    let hook = format!("{PUBLIC_URL}{HOOK}");

    let (status, _, body) = post_hook(&setup, &hook, &twilio::inbound_message(ANN, FROM, "STOP")).await;
    assert_eq!(status, 500, "{body}");
    for workflow in ["sms-inbound", "unsubscribed", "received"] {
        assert!(executions(server, workflow).await.is_empty(), "{workflow} started");
    }
    assert_eq!(settled(server, &waiting, &["waiting"]).await["status"], "waiting");
    assert_twiml(&post_hook(&setup, &hook, &twilio::inbound_message(ANN, FROM, "hi")).await);
    assert_eq!(executions(server, "sms-inbound").await.len(), 1);
    assert_eq!(executions(server, "received").await.len(), 1);
    setup.server.stop().await;

    // No event granted at all: every valid request is refused.
    let setup = self::setup(&[], Some(PUBLIC_URL)).await;
    let server = &setup.server;
    server.deploy(&inbound_workflow("{}")).await;
    server.deploy(&listener_workflow("received", "sms.received")).await;
    let (status, _, body) = post_hook(&setup, &hook, &twilio::inbound_message(ANN, FROM, "hi")).await;
    assert_eq!(status, 500, "{body}");
    let status_callback = twilio::status_callback(&twilio::new_sid("SM"), "sent", ANN, FROM, None);
    let (status, _, _) = post_hook(&setup, &hook, &status_callback).await;
    assert_eq!(status, 500);
    assert!(executions(server, "sms-inbound").await.is_empty());
    assert!(executions(server, "received").await.is_empty());
    setup.server.stop().await;
}

#[test]
fn the_fakes_signer_matches_twilios_published_example() {
    // "Validating Signatures from Twilio": this token, URL and form give this signature.
    let params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ];
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    assert_eq!(twilio::sign_webhook(url, &params, "12345"), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    // twilio-python's: a repeated key's values sorted too.
    let repeated = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")];
    assert_eq!(twilio::sign_webhook(url, &repeated, "12345"), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    assert_eq!(hex::encode(twilio::sha1(b"abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
    assert_eq!(hex::encode(twilio::sha1(&[b'a'; 1000])), "291e9a6c66994949b57ba5e650361e98fc36b1ba");
}

#[tokio::test]
async fn the_fake_twilio_checks_and_answers_as_twilio_does() {
    let fake = twilio::start().await;
    let client = wirework_registry::client::http_client_builder().build().unwrap();
    let messages = format!("{}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json", fake.base_url());
    let post = |url: &str, user: &str, token: &str, form: &[(&str, &str)]| {
        client
            .post(url)
            .basic_auth(user, Some(token))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(twilio::form_body(form))
            .send()
    };
    let ok = [("To", ANN), ("From", FROM), ("Body", "hi")];
    let twilio_error = |status: u16, code: u32| (status, code);
    let read = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        (status, body)
    };

    // Auth: the wrong token, or none, is Twilio's 401 20003.
    let (status, body) = read(post(&messages, ACCOUNT_SID, "nope", &ok).await.unwrap()).await;
    assert_eq!(
        (status, body.clone()),
        (
            401,
            json!({"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003",
                   "status": 401})
        )
    );
    let (status, _) = read(client.post(&messages).body(twilio::form_body(&ok)).send().await.unwrap()).await;
    assert_eq!(status, 401);
    // Another account's path, with this account's credentials: 404 20404.
    let other = messages.replace(ACCOUNT_SID, "AC00000000000000000000000000000000");
    let (status, body) = read(post(&other, ACCOUNT_SID, AUTH_TOKEN, &ok).await.unwrap()).await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(20404)), "{body}");
    assert!(body["message"].as_str().unwrap().contains("was not found"), "{body}");

    // Required fields, each with Twilio's code.
    for (form, expected, message) in [
        (vec![("From", FROM), ("Body", "hi")], twilio_error(400, 21604), "A 'To' phone number is required."),
        (vec![("To", ANN), ("Body", "hi")], twilio_error(400, 21603), "A 'From' phone number is required."),
        (vec![("To", ANN), ("From", FROM)], twilio_error(400, 21602), "Message body is required."),
        (
            vec![("To", "4155552671"), ("From", FROM), ("Body", "hi")],
            twilio_error(400, 21211),
            "The 'To' number 4155552671 is not a valid phone number.",
        ),
        (
            vec![("To", twilio::OPTED_OUT_TO), ("From", FROM), ("Body", "hi")],
            twilio_error(400, 21610),
            "Attempt to send to unsubscribed recipient",
        ),
    ] {
        let (status, body) = read(post(&messages, ACCOUNT_SID, AUTH_TOKEN, &form).await.unwrap()).await;
        assert_eq!((status, body["code"].as_u64().unwrap() as u32), expected, "{form:?}: {body}");
        assert_eq!(body["message"], message);
        assert_eq!(body["status"], status);
    }
    // A JSON body is no form: Twilio reads no parameters.
    let json_body = client
        .post(&messages)
        .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN))
        .header("content-type", "application/json")
        .body(json!({"To": ANN, "From": FROM, "Body": "hi"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(read(json_body).await.1["code"], 21604);
    assert!(fake.messages().is_empty(), "nothing refused was created");

    // Created: 201 and the Message resource, kept and fetchable.
    let (status, created) = read(post(&messages, ACCOUNT_SID, AUTH_TOKEN, &ok).await.unwrap()).await;
    assert_eq!(status, 201, "{created}");
    let sid = created["sid"].as_str().unwrap();
    assert!(sid.len() == 34 && sid.starts_with("SM") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit()), "{sid}");
    assert_eq!(
        (&created["status"], &created["to"], &created["from"], &created["body"]),
        (&json!("queued"), &json!(ANN), &json!(FROM), &json!("hi"))
    );
    assert_eq!((&created["num_segments"], &created["account_sid"]), (&json!("1"), &json!(ACCOUNT_SID)));
    assert!(chrono::DateTime::parse_from_rfc2822(created["date_created"].as_str().unwrap()).is_ok(), "{created}");
    assert_eq!(created["uri"], format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json"));
    let fetched = client
        .get(format!("{}{}", fake.base_url(), created["uri"].as_str().unwrap()))
        .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(read(fetched).await.1, created);

    // Failing on demand, before anything else; then back to normal.
    fake.fail_next(429, 1, Some(3));
    let throttled = post(&messages, ACCOUNT_SID, AUTH_TOKEN, &ok).await.unwrap();
    assert_eq!(throttled.headers()["retry-after"], "3");
    assert_eq!(
        read(throttled).await,
        (
            429,
            json!({"code": 20429, "message": "Too Many Requests",
        "more_info": "https://www.twilio.com/docs/errors/20429", "status": 429})
        )
    );
    assert_eq!(post(&messages, ACCOUNT_SID, AUTH_TOKEN, &ok).await.unwrap().status(), 201);

    // Lists: newest first, Twilio's page shape, next_page_uri to follow.
    let list = |uri: String| client.get(uri).basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN)).send();
    let (status, page) = read(list(format!("{messages}?To=%2B14155552671&PageSize=1")).await.unwrap()).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!((page["page"].as_u64(), page["page_size"].as_u64()), (Some(0), Some(1)));
    let newest = fake.messages()[1]["sid"].clone();
    assert_eq!(page["messages"][0]["sid"], newest);
    let next = page["next_page_uri"].as_str().unwrap();
    let (_, second) = read(list(format!("{}{next}", fake.base_url())).await.unwrap()).await;
    assert_eq!((second["page"].as_u64(), second["messages"][0]["sid"].as_str()), (Some(1), Some(sid)));
    assert_eq!(second["next_page_uri"], Value::Null);
    assert_eq!(fake.requests().len(), 15);
    assert_eq!(fake.requests()[0].status, 401);
}
