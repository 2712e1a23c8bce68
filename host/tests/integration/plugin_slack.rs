//! `wirework/slack` end to end: the plugin's package installed in a real
//! server with the grants an operator gives it, its credentials stored
//! through the API (the bot token's `base_url` pointing at the loopback fake
//! of Slack's Web API, `fakes::slack`), workflows deployed through the API,
//! and Slack's interactivity requests posted to the `interactions` trigger's
//! hook signed as Slack signs them. Covers each node against the fake, Slack's
//! errors and rate limits, the whole approval (buttons posted, the execution
//! parked, a signed click resuming it on `approved` / `rejected`, the timer
//! on `timeout`, forged clicks refused), and that neither the bot token nor
//! the signing secret shows in an execution record or an answer.

use crate::common::engine::install_package;
use crate::common::server::{json, serve, TestServer};
use crate::common::*;
use crate::fakes::slack::{self, Fake, Message, SIGNING_SECRET, TOKEN};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use wirework::plugins::GrantEntry;

/// A token Slack no longer takes (`invalid_auth`): a secret all the same.
const REVOKED: &str = "xoxb-0000-0000-revokedT0k3n";

/// A server with core and slack installed and granted, both credentials
/// stored, and a fake Slack.
struct Slack {
    fake: Fake,
    server: TestServer,
    _dir: tempfile::TempDir,
}

async fn setup() -> Slack {
    let fake = slack::start().await;
    let dir = tempfile::tempdir().unwrap();
    install_package(dir.path(), &fixtures().core, GrantEntry::default());
    // As an operator grants it: Slack's host, the fake's loopback address
    // (an internal one: named exactly), both credential types, its events.
    let grant = GrantEntry {
        http: vec!["slack.com".into()],
        http_internal: vec!["127.0.0.1".into()],
        credentials: vec!["slack-bot".into(), "slack-signing".into()],
        events: vec!["slack.*".into()],
        ..Default::default()
    };
    install_package(dir.path(), &fixtures().integration("slack"), grant);
    let server = serve(dir.path(), |_| {}).await;
    let s = Slack { fake, server, _dir: dir };
    s.put_credential("slack-bot", s.fake.bot_credential()).await;
    s.put_credential("slack-signing", slack::signing_credential()).await;
    s
}

impl Slack {
    async fn put_credential(&self, name: &str, body: Value) {
        let response = self.server.api_json(Method::PUT, &format!("/credentials/{name}"), &body).send().await.unwrap();
        let (status, answer) = json(response).await;
        assert_eq!(status, 204, "storing {name}: {answer}");
    }

    /// Start `workflow` by hand with `items`; its execution id.
    async fn start(&self, workflow: &str, items: Value) -> String {
        let path = format!("/workflows/{workflow}/executions");
        let response = self.server.api_json(Method::POST, &path, &json!({"items": items})).send().await.unwrap();
        let (status, started) = json(response).await;
        assert_eq!(status, 202, "{started}");
        started["execution_id"].as_str().unwrap().to_string()
    }

    /// Start and wait until the execution settles (or waits).
    async fn run(&self, workflow: &str, items: Value) -> Value {
        let id = self.start(workflow, items).await;
        self.server.wait_for(&id, &["succeeded", "failed"]).await
    }

    /// The execution's record as the API answers it, checked for secrets.
    async fn record(&self, id: &str) -> Value {
        let response = self.server.api(Method::GET, &format!("/executions/{id}")).send().await.unwrap();
        let text = response.text().await.unwrap();
        assert_no_secrets(&text);
        serde_json::from_str(&text).unwrap()
    }

    /// The executions of `workflow`, newest first.
    async fn executions(&self, workflow: &str) -> Vec<Value> {
        let response = self.server.api(Method::GET, &format!("/executions?workflow={workflow}")).send().await.unwrap();
        json(response).await.1.as_array().cloned().unwrap_or_default()
    }

    fn hook(&self) -> String {
        format!("{}/hooks/slack/interactions", self.server.url)
    }

    /// Post `body` to the interactions hook signed now with the right secret: status and body.
    async fn interact(&self, body: &str) -> (u16, String) {
        let response = slack::signed_post(&self.server.client, &self.hook(), body, SIGNING_SECRET).send().await;
        answer(response.unwrap()).await
    }

    /// Every record of every execution of these workflows and the answers of
    /// the API that show credentials and definitions: no secret in any.
    async fn assert_no_secret_anywhere(&self, workflows: &[&str]) {
        for workflow in workflows {
            for execution in self.executions(workflow).await {
                self.record(execution["id"].as_str().unwrap()).await;
            }
            let response = self.server.api(Method::GET, &format!("/workflows/{workflow}")).send().await.unwrap();
            assert_no_secrets(&response.text().await.unwrap());
        }
        for path in ["/credentials", "/plugins"] {
            assert_no_secrets(&self.server.api(Method::GET, path).send().await.unwrap().text().await.unwrap());
        }
    }
}

async fn answer(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_no_secrets(&text);
    (status, text)
}

fn assert_no_secrets(text: &str) {
    assert!(!text.contains(TOKEN), "the bot token shows: {text}");
    assert!(!text.contains(SIGNING_SECRET), "the signing secret shows: {text}");
    assert!(!text.contains(REVOKED), "the revoked bot token shows: {text}");
}

/// The steps of node `node`, in order.
fn steps<'a>(execution: &'a Value, node: &str) -> Vec<&'a Value> {
    execution["steps"].as_array().unwrap().iter().filter(|s| s["node"] == node).collect()
}

/// What the last step of `node` emitted, port by port.
fn emitted(execution: &Value, node: &str) -> Vec<(String, Vec<Value>)> {
    let step = steps(execution, node).into_iter().rfind(|s| s["outcome"].get("emitted").is_some());
    let step = step.unwrap_or_else(|| panic!("{node} emitted nothing: {execution:#}"));
    let ports = step["outcome"]["emitted"]["ports"].as_array().unwrap();
    ports.iter().map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_array().unwrap().clone())).collect()
}

/// The failures of `node`'s steps, in order.
fn failures(execution: &Value, node: &str) -> Vec<Value> {
    steps(execution, node).iter().filter_map(|s| s["outcome"]["failed"].get("failure").cloned()).collect()
}

fn ran(execution: &Value, node: &str) -> bool {
    steps(execution, node).iter().any(|s| s["outcome"].get("emitted").is_some())
}

// --- post-message ----------------------------------------------------------

const NOTIFY: &str = r##"
id: notify
triggers: [{id: go, type: manual}]
nodes:
  - id: post
    uses: "wirework/slack@^0.1"
    node: post-message
    credentials: {slack-bot: slack-bot}
    config:
      channel: "#sales"
      text: "New lead: {{ $json.name }}"
      blocks: [{type: section, text: {type: mrkdwn, text: "*{{ $json.name }}* signed up"}}]
    retry: {max_attempts: 3, initial_delay_ms: 50}
  - id: reply
    uses: "wirework/slack@^0.1"
    node: post-message
    credentials: {slack-bot: slack-bot}
    config: {channel: "{{ $json.channel }}", text: "Assigned to ann", thread_ts: "{{ $json.ts }}"}
connections: [{from: go, to: post}, {from: post, to: reply}]
"##;

#[tokio::test]
async fn post_message_posts_to_slack_and_outputs_the_ts() {
    let s = setup().await;
    s.server.deploy(NOTIFY).await;
    let execution = s.run("notify", json!([{"name": "Ann"}, {"name": "Bob"}])).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");

    // One chat.postMessage per item, then a threaded reply to each.
    let posts = s.fake.calls("chat.postMessage");
    assert_eq!(posts.len(), 4, "{posts:#?}");
    for post in &posts {
        assert_eq!(post.method, "POST");
        assert_eq!(post.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
        assert_eq!(post.header("content-type"), Some("application/json; charset=utf-8"));
    }
    let mut bodies: Vec<Value> = posts[..2].iter().map(|p| p.json()).collect();
    bodies.sort_by_key(|b| b["text"].to_string());
    assert_eq!(
        bodies,
        [
            json!({"channel": "#sales", "text": "New lead: Ann",
                   "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Ann* signed up"}}]}),
            json!({"channel": "#sales", "text": "New lead: Bob",
                   "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Bob* signed up"}}]}),
        ]
    );
    let messages = s.fake.messages();
    let (leads, replies) = messages.split_at(2);
    assert!(leads.iter().all(|m| m.channel == "C0SALES" && m.blocks.as_array().unwrap().len() == 1));

    // The output: Slack's channel id and the message's ts, per item.
    let record = s.record(execution["id"].as_str().unwrap()).await;
    let out = emitted(&record, "post");
    assert_eq!(out.len(), 1, "{out:?}");
    let mut items = out[0].1.clone();
    items.sort_by_key(|i| i["ts"].to_string());
    let expected: Vec<Value> = leads.iter().map(|m| json!({"ok": true, "channel": "C0SALES", "ts": m.ts})).collect();
    assert_eq!(items, expected);
    assert_eq!(leads[0].ts, slack::FIRST_TS);
    // ... which a later node uses as a thread_ts.
    for reply in replies {
        assert_eq!(reply.text.as_deref(), Some("Assigned to ann"));
        let parent = reply.thread_ts.as_deref().expect("a reply in a thread");
        assert!(leads.iter().any(|m| m.ts == parent), "{reply:?}");
    }
    s.assert_no_secret_anywhere(&["notify"]).await;
    s.server.stop().await;
}

/// One post to `channel` with the credential `credential`, retried up to three times.
fn post_workflow(id: &str, channel: &str, credential: &str) -> String {
    format!(
        r#"
id: {id}
triggers: [{{id: go, type: manual}}]
nodes:
  - id: post
    uses: "wirework/slack@^0.1"
    node: post-message
    credentials: {{slack-bot: {credential}}}
    config: {{channel: "{channel}", text: "New lead"}}
    retry: {{max_attempts: 3, initial_delay_ms: 50}}
connections: [{{from: go, to: post}}]
"#
    )
}

#[tokio::test]
async fn slacks_errors_fail_the_step_with_slacks_code_and_no_retry() {
    let s = setup().await;
    s.put_credential("slack-wrong", s.fake.bot_credential_with(REVOKED)).await;
    s.server.deploy(&post_workflow("nowhere", "#nowhere", "slack-bot")).await;
    s.server.deploy(&post_workflow("outsider", "#random", "slack-bot")).await;
    s.server.deploy(&post_workflow("revoked", "#sales", "slack-wrong")).await;

    for (workflow, channel, code) in [
        ("nowhere", "#nowhere", "channel_not_found"),
        ("outsider", "#random", "not_in_channel"),
        ("revoked", "#sales", "invalid_auth"),
    ] {
        let before = s.fake.calls("chat.postMessage").len();
        let execution = s.run(workflow, json!([{"name": "Ann"}])).await;
        assert_eq!(execution["status"], "failed", "{execution:#}");
        let record = s.record(execution["id"].as_str().unwrap()).await;
        // Fatal: one attempt although `retry` allows three.
        assert_eq!(s.fake.calls("chat.postMessage").len(), before + 1, "{workflow}: retried");
        let failed = failures(&record, "post");
        assert_eq!(failed.len(), 1, "{record:#}");
        assert_eq!(failed[0]["code"], code, "{record:#}");
        assert_eq!(failed[0]["retryable"], false);
        let says = format!("posting a message to {channel} (chat.postMessage): Slack answered `{code}`");
        assert!(failed[0]["message"].as_str().unwrap().contains(&says), "{record:#}");
        assert!(record["error"]["message"].as_str().unwrap().contains(&says), "{record:#}");
    }
    // The wrong token reached Slack (and was refused); it shows nowhere either.
    let revoked = s.fake.calls("chat.postMessage").pop().unwrap();
    assert_eq!(revoked.header("authorization"), Some(format!("Bearer {REVOKED}").as_str()));
    assert!(s.fake.messages().is_empty());
    s.assert_no_secret_anywhere(&["nowhere", "outsider", "revoked"]).await;
    s.server.stop().await;
}

#[tokio::test]
async fn a_rate_limit_is_retried_no_sooner_than_retry_after() {
    let s = setup().await;
    s.server.deploy(NOTIFY).await;
    s.fake.fail_next(429, 1, Some(1));
    let execution = s.run("notify", json!([{"name": "Ann"}])).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    let posts = s.fake.calls("chat.postMessage");
    assert_eq!(posts.len(), 3, "refused, retried, then the reply: {posts:#?}");
    assert_eq!(posts[0].json(), posts[1].json(), "the same message again");
    let waited = posts[1].at.duration_since(posts[0].at);
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}, before Retry-After: 1");
    let record = s.record(execution["id"].as_str().unwrap()).await;
    let failed = failures(&record, "post");
    assert_eq!(failed.len(), 1, "{record:#}");
    assert_eq!(failed[0]["code"], "ratelimited");
    assert_eq!(failed[0]["retryable"], true);
    assert_eq!(failed[0]["retry_after_ms"], 1000);
    assert_eq!(s.fake.messages().len(), 2, "one lead, one reply: the refused post left nothing");
    s.server.stop().await;
}

#[tokio::test]
async fn server_errors_are_retried_until_they_pass_or_run_out() {
    let s = setup().await;
    s.server.deploy(NOTIFY).await;
    s.fake.fail_next(503, 2, None);
    let execution = s.run("notify", json!([{"name": "Ann"}])).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    assert_eq!(s.fake.calls("chat.postMessage").len(), 4, "two 503s, the post, the reply");
    let record = s.record(execution["id"].as_str().unwrap()).await;
    let codes: Vec<Value> = failures(&record, "post").iter().map(|f| f["code"].clone()).collect();
    assert_eq!(codes, [json!("http_503"), json!("http_503")]);

    // Three attempts allowed, three 500s: failed, retryable to the end.
    s.fake.fail_next(500, 3, None);
    let execution = s.run("notify", json!([{"name": "Bob"}])).await;
    assert_eq!(execution["status"], "failed", "{execution:#}");
    assert_eq!(s.fake.calls("chat.postMessage").len(), 7);
    let record = s.record(execution["id"].as_str().unwrap()).await;
    assert_eq!(failures(&record, "post").len(), 3, "{record:#}");
    assert!(record["error"]["message"].as_str().unwrap().contains("HTTP 500"), "{record:#}");
    s.server.stop().await;
}

// --- approval --------------------------------------------------------------

/// The `interactions` trigger, as the README deploys it: the Slack app's
/// Interactivity Request URL is `/hooks/slack/interactions`.
const INTERACTIONS: &str = r#"
id: slack
triggers:
  - {id: slack, type: webhook, path: interactions, uses: "wirework/slack@^0.1", node: interactions,
     mode: async, credentials: {slack-signing: slack-signing}}
nodes:
  - {id: other, uses: "wirework/core@^0.1", node: noop}
connections: [{from: slack, to: other}]
"#;

/// A refund waits for a click; EXTRA is more of the approval's config.
const REFUND: &str = r##"
id: refund
triggers: [{id: go, type: manual}]
nodes:
  - id: ask
    uses: "wirework/slack@^0.1"
    node: approval
    credentials: {slack-bot: slack-bot}
    config: {channel: "#approvals", text: "Refund of {{ $json.amount }} for {{ $json.email }}?", EXTRA}
    retry: {max_attempts: 3, initial_delay_ms: 50}
  - {id: approved, uses: "wirework/core@^0.1", node: noop}
  - {id: rejected, uses: "wirework/core@^0.1", node: noop}
  - {id: timed-out, uses: "wirework/core@^0.1", node: noop}
connections:
  - {from: go, to: ask}
  - {from: "ask:approved", to: approved}
  - {from: "ask:rejected", to: rejected}
  - {from: "ask:timeout", to: timed-out}
"##;

/// Deploy both workflows, start a refund and wait until it is parked on the
/// approval: its id and the message with the buttons.
async fn ask_for_refund(s: &Slack, extra: &str) -> (String, Message) {
    s.server.deploy(INTERACTIONS).await;
    s.server.deploy(&REFUND.replace("EXTRA", extra)).await;
    let id = s.start("refund", json!([{"amount": 120, "email": "ann@example.com"}])).await;
    let waiting = s.server.wait_for(&id, &["waiting", "succeeded", "failed"]).await;
    assert_eq!(waiting["status"], "waiting", "{waiting:#}");
    let messages = s.fake.messages();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    (id, messages[0].clone())
}

/// The item that left the approval on `port`, from the node it reached.
fn decided(record: &Value, port: &str) -> Value {
    let out = emitted(record, "ask");
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].0, port, "{record:#}");
    assert_eq!(out[0].1.len(), 1);
    let node = if port == "timeout" { "timed-out" } else { port };
    assert!(ran(record, node), "{node} did not run: {record:#}");
    for other in ["approved", "rejected", "timed-out"].into_iter().filter(|n| *n != node) {
        assert!(!ran(record, other), "{other} ran too: {record:#}");
    }
    out[0].1[0].clone()
}

#[tokio::test]
async fn an_approve_click_resumes_the_waiting_execution_on_approved() {
    let s = setup().await;
    let (id, message) = ask_for_refund(&s, "timeout_seconds: 3600").await;

    // The question, then the buttons, both carrying the approval's key.
    let post = &s.fake.calls("chat.postMessage")[0];
    assert_eq!(post.json()["channel"], "#approvals");
    assert_eq!(post.json()["text"], "Refund of 120 for ann@example.com?");
    assert_eq!(message.channel, "C0APPROVALS");
    assert_eq!(
        message.blocks[0],
        json!({"type": "section", "text": {"type": "mrkdwn", "text": "Refund of 120 for ann@example.com?"}})
    );
    let buttons = message.buttons();
    assert_eq!(buttons.len(), 2, "{buttons:?}");
    let (approve, reject) = (&buttons[0], &buttons[1]);
    assert_eq!((approve.action_id.as_str(), approve.text.as_str()), ("wirework_approve", "Approve"));
    assert_eq!((reject.action_id.as_str(), reject.text.as_str()), ("wirework_reject", "Reject"));
    assert_eq!((approve.style.as_deref(), reject.style.as_deref()), (Some("primary"), Some("danger")));
    let key = approve.value.clone().expect("the approval key");
    assert_eq!(reject.value.as_deref(), Some(key.as_str()));
    assert!(key.starts_with(&id), "the key is the step's idempotency key: {key}");
    // Parked, with the wait recorded; nothing else has run.
    let record = s.record(&id).await;
    assert!(steps(&record, "ask").iter().any(|s| s["outcome"].get("waiting").is_some()), "{record:#}");
    assert!(s.fake.calls("chat.update").is_empty());

    // Ann clicks Approve: Slack gets its 200 with nothing in it.
    let click = message.click("wirework_approve", "U0ANN", "ann").unwrap();
    let (status, body) = s.interact(&click.body()).await;
    assert_eq!((status, body.as_str()), (200, ""), "Slack wants an empty 200");
    let done = s.server.wait_for(&id, &["succeeded", "failed"]).await;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    let record = s.record(&id).await;
    let item = decided(&record, "approved");
    assert_eq!(item["amount"], 120, "the input item goes on: {item}");
    assert_eq!(item["email"], "ann@example.com");
    assert_eq!(
        item["approval"],
        json!({"decision": "approved", "by": "U0ANN", "by_name": "ann", "at": click.action_ms()})
    );
    let reached = &steps(&record, "approved")[0]["input"][0];
    assert_eq!(reached["approval"]["by"], "U0ANN", "{record:#}");

    // The buttons gave way to who decided.
    let updates = s.fake.calls("chat.update");
    assert_eq!(updates.len(), 1, "{updates:#?}");
    let update = updates[0].json();
    assert_eq!((update["channel"].as_str(), update["ts"].as_str()), (Some("C0APPROVALS"), Some(message.ts.as_str())));
    let now = s.fake.message(&message.ts).unwrap();
    assert!(now.buttons().is_empty(), "{now:?}");
    let blocks = now.blocks.as_array().unwrap();
    assert_eq!(blocks.last().unwrap()["elements"][0]["text"], "Approved by <@U0ANN>", "{blocks:?}");
    assert_eq!(now.text.as_deref(), Some("Refund of 120 for ann@example.com?"));

    // The click started no execution of the interactions workflow; a second
    // click (Slack retries, a double click) changes nothing.
    assert!(s.executions("slack").await.is_empty());
    let late = message.click("wirework_reject", "U0BOB", "bob").unwrap();
    let (status, body) = s.interact(&late.body()).await;
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(s.server.wait_for(&id, &["succeeded"]).await["status"], "succeeded");
    assert_eq!(s.fake.calls("chat.update").len(), 1);
    assert!(s.executions("slack").await.is_empty());
    s.assert_no_secret_anywhere(&["refund", "slack"]).await;
    s.server.stop().await;
}

#[tokio::test]
async fn forged_clicks_are_refused_and_a_reject_click_by_an_approver_decides() {
    let s = setup().await;
    let (id, message) = ask_for_refund(&s, "approvers: [U0BOSS], approve_label: Refund, reject_label: Keep").await;
    assert_eq!(message.button("wirework_approve").unwrap().text, "Refund");
    let click = message.click("wirework_approve", "U0BOSS", "boss").unwrap();
    let body = click.body();
    let client = &s.server.client;
    let now = slack::unix_now();

    // Wrong secret, stale timestamp, a body changed after signing, no
    // signature, no timestamp: 401, and the execution keeps waiting.
    let tampered = body.replace("wirework_approve", "wirework_reject");
    assert_ne!(tampered, body);
    let stale = now - 6 * 60;
    let form = |request: reqwest::RequestBuilder| request.header("content-type", "application/x-www-form-urlencoded");
    let forged = [
        (
            "wrong secret",
            "signature does not match",
            slack::signed_post(client, &s.hook(), &body, "0000f7423b10e8888abcd99yyyzzz85a"),
        ),
        ("stale", "s old", slack::signed_post_at(client, &s.hook(), &body, SIGNING_SECRET, stale)),
        (
            "tampered",
            "signature does not match",
            slack::signed_post_at(client, &s.hook(), &body, SIGNING_SECRET, now).body(tampered.clone()),
        ),
        (
            "unsigned",
            "`X-Slack-Signature` is missing",
            form(client.post(s.hook())).header("x-slack-request-timestamp", now.to_string()).body(body.clone()),
        ),
        (
            "no timestamp",
            "`X-Slack-Request-Timestamp` is missing",
            form(client.post(s.hook()))
                .header("x-slack-signature", slack::signature(SIGNING_SECRET, &now.to_string(), &body))
                .body(body.clone()),
        ),
    ];
    for (what, says, request) in forged {
        let (status, text) = answer(request.send().await.unwrap()).await;
        assert_eq!(status, 401, "{what}: {text}");
        let error: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: {text}"));
        assert!(error["error"].as_str().unwrap().contains(says), "{what}: {error}");
    }
    assert_eq!(s.record(&id).await["status"], "waiting");
    assert!(s.fake.calls("chat.update").is_empty());
    assert!(s.executions("slack").await.is_empty(), "a forged request started something");

    // Someone who is not an approver: told so, privately; still waiting.
    let intern = message.click("wirework_approve", "U0ANN", "ann").unwrap();
    let (status, _) = s.interact(&intern.body()).await;
    assert_eq!(status, 200);
    until("the note to the non-approver", || !s.fake.ephemerals().is_empty()).await;
    let note = &s.fake.ephemerals()[0];
    assert_eq!((note.channel.as_str(), note.user.as_str()), ("C0APPROVALS", "U0ANN"));
    let waiting = s.server.wait_for(&id, &["waiting", "succeeded", "failed"]).await;
    assert_eq!(waiting["status"], "waiting", "{waiting:#}");
    assert!(s.fake.calls("chat.update").is_empty());

    // The approver rejects.
    let reject = message.click("wirework_reject", "U0BOSS", "boss").unwrap();
    let (status, body) = s.interact(&reject.body()).await;
    assert_eq!((status, body.as_str()), (200, ""));
    let done = s.server.wait_for(&id, &["succeeded", "failed"]).await;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    let item = decided(&s.record(&id).await, "rejected");
    assert_eq!(
        item["approval"],
        json!({"decision": "rejected", "by": "U0BOSS", "by_name": "boss", "at": reject.action_ms()})
    );
    let now = s.fake.message(&message.ts).unwrap();
    assert_eq!(now.blocks.as_array().unwrap().last().unwrap()["elements"][0]["text"], "Rejected by <@U0BOSS>");
    assert!(now.buttons().is_empty());
    assert_eq!(s.fake.ephemerals().len(), 1);
    s.assert_no_secret_anywhere(&["refund", "slack"]).await;
    s.server.stop().await;
}

#[tokio::test]
async fn without_a_click_the_approval_times_out() {
    let s = setup().await;
    let (id, message) = ask_for_refund(&s, "timeout_seconds: 1").await;
    let done = s.server.wait_for(&id, &["succeeded", "failed"]).await;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    let item = decided(&s.record(&id).await, "timeout");
    assert_eq!((&item["approval"]["decision"], &item["approval"]["by"]), (&json!("timeout"), &Value::Null));
    assert_eq!(item["email"], "ann@example.com");
    let updates = s.fake.calls("chat.update");
    assert_eq!(updates.len(), 1);
    let waited = updates[0].at.duration_since(s.fake.calls("chat.postMessage")[0].at);
    assert!(waited >= Duration::from_secs(1), "timed out after {waited:?}");
    let now = s.fake.message(&message.ts).unwrap();
    assert_eq!(now.blocks.as_array().unwrap().last().unwrap()["elements"][0]["text"], "Expired without a decision");
    assert!(now.buttons().is_empty());

    // A click that comes too late decides nothing.
    let late = message.click("wirework_approve", "U0ANN", "ann").unwrap();
    assert_eq!(s.interact(&late.body()).await.0, 200);
    assert_eq!(s.record(&id).await["status"], "succeeded");
    assert_eq!(s.fake.calls("chat.update").len(), 1);
    s.server.stop().await;
}

#[tokio::test]
async fn other_interactions_start_the_interactions_workflow() {
    let s = setup().await;
    s.server.deploy(INTERACTIONS).await;
    // A button of some other app message.
    let message = Message {
        channel: "C0SALES".into(),
        ts: "1700000000.000900".into(),
        text: Some("Ticket".into()),
        blocks: json!([{"type": "actions", "block_id": "t", "elements": [
            {"type": "button", "action_id": "open_ticket", "value": "T-1", "text": {"type": "plain_text", "text": "Open"}}
        ]}]),
        thread_ts: None,
        updates: vec![],
    };
    let click = message.click("open_ticket", "U0BOB", "bob").unwrap();
    let (status, body) = s.interact(&click.body()).await;
    assert_eq!((status, body.as_str()), (200, ""));
    // A slash command.
    let command = "command=%2Frefund&text=order+6735&user_id=U0ANN&user_name=ann&channel_id=C0SALES\
                   &channel_name=sales&team_id=T0WIREWORK&trigger_id=1.2.3&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1";
    assert_eq!(s.interact(command).await, (200, String::new()));
    // Slack's certificate check: answered, starts nothing.
    let (status, body) = answer(s.server.client.post(s.hook()).body("ssl_check=1&token=x").send().await.unwrap()).await;
    assert_eq!((status, body.as_str()), (200, ""));
    // Signed, but not an interaction.
    assert_eq!(s.interact("hello=world").await.0, 400);

    let deadline = Instant::now() + Duration::from_secs(30);
    let executions = loop {
        let executions = s.executions("slack").await;
        if executions.len() >= 2 || Instant::now() > deadline {
            break executions;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(executions.len(), 2, "{executions:#?}");
    let mut items = Vec::new();
    for execution in &executions {
        let id = execution["id"].as_str().unwrap();
        assert_eq!(s.server.wait_for(id, &["succeeded", "failed"]).await["status"], "succeeded");
        items.push(steps(&s.record(id).await, "other")[0]["input"][0].clone());
    }
    items.sort_by_key(|i| i["type"].to_string());
    assert_eq!(
        (&items[0]["type"], &items[0]["action_id"], &items[0]["value"], &items[0]["user_id"], &items[0]["message_ts"]),
        (&json!("block_actions"), &json!("open_ticket"), &json!("T-1"), &json!("U0BOB"), &json!("1700000000.000900")),
        "{items:#?}"
    );
    assert_eq!(
        (&items[1]["type"], &items[1]["command"], &items[1]["text"]),
        (&json!("slash_command"), &json!("/refund"), &json!("order 6735"))
    );
    assert!(s.fake.requests().is_empty(), "the trigger calls no Slack API");
    s.assert_no_secret_anywhere(&["slack"]).await;
    s.server.stop().await;
}

// --- lookup-user, list-channels ----------------------------------------------

#[tokio::test]
async fn lookup_user_finds_a_user_by_email_or_routes_users_not_found() {
    let s = setup().await;
    s.server
        .deploy(
            r#"
id: who
triggers: [{id: go, type: manual}]
nodes:
  - id: find
    uses: "wirework/slack@^0.1"
    node: lookup-user
    credentials: {slack-bot: slack-bot}
    config: {email: "{{ $json.email }}"}
    on_error: error_port
  - {id: found, uses: "wirework/core@^0.1", node: noop}
  - {id: unknown, uses: "wirework/core@^0.1", node: noop}
connections: [{from: go, to: find}, {from: find, to: found}, {from: "find:error", to: unknown}]
"#,
        )
        .await;
    let execution = s.run("who", json!([{"email": "ann+sales@example.com"}])).await;
    assert_eq!(execution["status"], "succeeded");
    s.fake.add_user(slack::User::new("U0ANNS", "ann.sales", "Ann Lee", "ann+sales@example.com"));
    let execution = s.run("who", json!([{"email": "ann+sales@example.com"}])).await;
    let record = s.record(execution["id"].as_str().unwrap()).await;
    assert_eq!(
        emitted(&record, "find")[0].1,
        [json!({"id": "U0ANNS", "name": "ann.sales", "real_name": "Ann Lee", "display_name": "ann.sales",
                "email": "ann+sales@example.com", "tz": "Europe/Amsterdam", "is_bot": false, "deleted": false})]
    );
    let lookups = s.fake.calls("users.lookupByEmail");
    assert_eq!(lookups.len(), 2);
    assert_eq!(lookups[1].method, "GET");
    assert_eq!(lookups[1].query_param("email").as_deref(), Some("ann+sales@example.com"));
    assert!(lookups[1].query.contains("ann%2Bsales%40example.com"), "{}", lookups[1].query);
    assert!(lookups[1].body.is_empty());

    // Before the user existed: users_not_found, fatal, on the error port.
    let first = s.executions("who").await.pop().unwrap();
    let record = s.record(first["id"].as_str().unwrap()).await;
    assert!(ran(&record, "unknown") && !ran(&record, "found"), "{record:#}");
    let error = &steps(&record, "unknown")[0]["input"][0]["error"];
    assert_eq!(error["failure"]["code"], "users_not_found", "{error}");
    assert_eq!(error["failure"]["retryable"], false);
    s.server.stop().await;
}

#[tokio::test]
async fn list_channels_follows_slacks_cursor() {
    let s = setup().await;
    for n in 1..=3 {
        s.fake.add_channel(slack::Channel::public(&format!("C0EXTRA{n}"), &format!("extra-{n}")));
    }
    s.fake.set_page_size(2);
    let workflow = |id: &str, config: &str| {
        format!(
            r#"
id: {id}
triggers: [{{id: go, type: manual}}]
nodes:
  - {{id: list, uses: "wirework/slack@^0.1", node: list-channels, credentials: {{slack-bot: slack-bot}}, config: {config}}}
connections: [{{from: go, to: list}}]
"#
        )
    };
    s.server.deploy(&workflow("all", "{}")).await;
    s.server
        .deploy(&workflow("some", "{limit: 4, types: \"public_channel,private_channel\", exclude_archived: true}"))
        .await;

    // Every public channel, two a page: four pages, each asking from where the last ended.
    let execution = s.run("all", json!([{}])).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    let record = s.record(execution["id"].as_str().unwrap()).await;
    let channels = &emitted(&record, "list")[0].1;
    let ids: Vec<&str> = channels.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["C0SALES", "C0APPROVALS", "C0GENERAL", "C0RANDOM", "C0OLDNEWS", "C0EXTRA1", "C0EXTRA2", "C0EXTRA3"]
    );
    assert_eq!(
        channels[0],
        json!({"id": "C0SALES", "name": "sales", "is_private": false, "is_archived": false, "is_member": true,
               "num_members": 3, "topic": "All about sales", "purpose": "For sales", "created": 1_600_000_000})
    );
    assert_eq!(channels[4]["is_archived"], true);
    let calls = s.fake.calls("conversations.list");
    assert_eq!(calls.len(), 4, "{calls:#?}");
    let cursors: Vec<Option<String>> = calls.iter().map(|c| c.query_param("cursor")).collect();
    let expected = [None, Some("C0GENERAL"), Some("C0OLDNEWS"), Some("C0EXTRA2")].map(|c| c.map(slack::cursor_for));
    assert_eq!(cursors, expected);
    for call in &calls {
        assert_eq!(call.method, "GET");
        assert_eq!(call.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
        assert_eq!(call.query_param("limit").as_deref(), Some("200"));
        assert_eq!(call.query_param("types").as_deref(), Some("public_channel"));
        assert_eq!(call.query_param("exclude_archived"), None);
    }

    // Private ones too, archived ones left out, at most four: the listing stops there.
    let execution = s.run("some", json!([{}])).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    let record = s.record(execution["id"].as_str().unwrap()).await;
    let ids: Vec<Value> = emitted(&record, "list")[0].1.iter().map(|c| c["id"].clone()).collect();
    assert_eq!(ids, ["C0SALES", "C0APPROVALS", "C0GENERAL", "C0RANDOM"]);
    let calls = &s.fake.calls("conversations.list")[4..];
    assert_eq!(calls.len(), 2, "no page past the limit: {calls:#?}");
    assert_eq!(calls[0].query_param("types").as_deref(), Some("public_channel,private_channel"));
    assert_eq!(calls[0].query_param("exclude_archived").as_deref(), Some("true"));
    s.server.stop().await;
}

// --- the fake itself ----------------------------------------------------------

/// The fake answers as Slack does, so that what the tests above let through
/// would get through Slack: its own checks, against Slack's documented
/// answers, and the signing helper against Slack's published example.
#[tokio::test]
async fn the_fake_checks_what_slack_checks() {
    let fake = slack::start().await;
    let client = wirework_registry::client::http_client_builder().build().unwrap();
    let url = |method: &str| format!("{}/api/{method}", fake.base_url());
    let call = |method: &str, token: Option<&str>, content_type: &str, body: String| {
        let mut request = client.post(url(method)).header("content-type", content_type).body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    const JSON: &str = "application/json; charset=utf-8";
    let post = |body: Value| call("chat.postMessage", Some(TOKEN), JSON, body.to_string());
    let hi = json!({"channel": "C0SALES", "text": "hi"});

    // Authentication: HTTP 200 and Slack's error, before anything else.
    assert_eq!(
        call("chat.postMessage", None, JSON, hi.to_string()).await,
        (200, json!({"ok": false, "error": "not_authed"}))
    );
    let wrong = call("chat.postMessage", Some("xoxb-wrong"), JSON, hi.to_string()).await;
    assert_eq!(wrong, (200, json!({"ok": false, "error": "invalid_auth"})));
    // Content types: JSON (a warning without the charset), a form, nothing else.
    let (_, answer) = call("chat.postMessage", Some(TOKEN), "application/json", hi.to_string()).await;
    assert_eq!((&answer["ok"], &answer["warning"]), (&json!(true), &json!("missing_charset")));
    let (_, answer) =
        call("chat.postMessage", Some(TOKEN), "application/x-www-form-urlencoded", "channel=%23sales&text=hi".into())
            .await;
    assert_eq!((&answer["ok"], &answer["channel"]), (&json!(true), &json!("C0SALES")));
    assert_eq!(
        call("chat.postMessage", Some(TOKEN), "text/plain", hi.to_string()).await.1["error"],
        "invalid_post_type"
    );
    assert_eq!(call("chat.postMessage", Some(TOKEN), JSON, "{nope".into()).await.1["error"], "invalid_json");
    let get = client.get(url("chat.postMessage")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(get.json::<Value>().await.unwrap()["error"], "invalid_request_method");
    // Required fields and Slack's errors.
    assert_eq!(post(json!({"channel": "C0SALES"})).await.1, json!({"ok": false, "error": "no_text"}));
    assert_eq!(post(json!({"text": "hi"})).await.1["error"], "channel_not_found");
    assert_eq!(post(json!({"channel": "#nowhere", "text": "hi"})).await.1["error"], "channel_not_found");
    assert_eq!(post(json!({"channel": "#old-news", "text": "hi"})).await.1["error"], "is_archived");
    let empty = json!({"channel": "C0SALES", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": ""}}]});
    let (_, answer) = post(empty).await;
    assert_eq!(answer["error"], "invalid_blocks");
    assert!(
        answer["response_metadata"]["messages"][0].as_str().unwrap().ends_with("[json-pointer:/blocks/0/text/text]"),
        "{answer}"
    );
    // A DM by user id; ts grows.
    let (_, dm) = post(json!({"channel": "U0ANN", "text": "psst"})).await;
    assert_eq!(dm["channel"], "D0ANN");
    let sent: Vec<String> = fake.messages().iter().map(|m| m.ts.clone()).collect();
    assert_eq!(sent, ["1700000000.000100", "1700000000.000200", "1700000000.000300"]);

    // chat.update finds the message by channel and ts.
    let update = |body: Value| call("chat.update", Some(TOKEN), JSON, body.to_string());
    let (_, answer) = update(json!({"channel": "C0SALES", "ts": "1699999999.000100", "text": "x"})).await;
    assert_eq!(answer["error"], "message_not_found");
    let (_, answer) = update(json!({"channel": "C0SALES", "ts": "1700000000.000100", "text": "edited"})).await;
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(fake.message("1700000000.000100").unwrap().text.as_deref(), Some("edited"));
    // Reads, unknown methods.
    let read = |path: String| {
        let request = client.get(format!("{}/api/{path}", fake.base_url())).bearer_auth(TOKEN);
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(read("users.lookupByEmail?email=nobody%40example.com".into()).await.1["error"], "users_not_found");
    assert_eq!(read("users.lookupByEmail?email=ann%40example.com".into()).await.1["user"]["id"], "U0ANN");
    assert_eq!(read("conversations.list?cursor=bm9wZQ%3D%3D".into()).await.1["error"], "invalid_cursor");
    assert_eq!(read("conversations.list?limit=0".into()).await.1["error"], "invalid_limit");
    let (status, answer) = read("chat.delete".into()).await;
    assert_eq!((status, &answer["error"]), (404, &json!("unknown_method")));

    // The rate limit: 429, Retry-After and Slack's body; then through again.
    fake.fail_next(429, 1, Some(3));
    let response = client
        .post(url("chat.postMessage"))
        .bearer_auth(TOKEN)
        .header("content-type", JSON)
        .body(hi.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "3");
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"ok": false, "error": "ratelimited"}));
    assert_eq!(post(hi.clone()).await.1["ok"], true);
    assert_eq!(fake.calls("chat.postMessage").len(), 15, "every request is recorded");

    // Slack's published example of a signed request ("Verifying requests from Slack").
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V\
                &channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=\
                &response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN\
                &trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    assert_eq!(
        slack::signature("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", body),
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    );
    // A click's body is `payload=` and its JSON, form-encoded.
    let click = fake.messages()[0].clone();
    let message = Message {
        blocks: json!([{"type": "actions", "block_id": "b", "elements": [
        {"type": "button", "action_id": "go", "value": "k 1&2", "text": {"type": "plain_text", "text": "Go"}}]}]),
        ..click
    };
    let click = message.click("go", "U0ANN", "ann").unwrap();
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(click.body().as_bytes()).into_owned().collect();
    assert_eq!(fields.len(), 1);
    assert_eq!(fields[0].0, "payload");
    let payload: Value = serde_json::from_str(&fields[0].1).unwrap();
    assert_eq!(payload, click.payload());
    assert_eq!(payload["actions"][0]["value"], "k 1&2");
    assert_eq!(
        payload["container"],
        json!({"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0SALES", "is_ephemeral": false})
    );
}

/// Poll until `f` holds (30 s at most).
async fn until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
