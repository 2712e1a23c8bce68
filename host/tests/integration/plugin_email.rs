//! `plugins/email` (SendGrid) end to end in the real host: the package built
//! by the project's build command, installed with an operator's grants,
//! credentials stored through the API, workflows deployed through the API,
//! against the loopback fake SendGrid (`fakes/sendgrid.rs`): what SendGrid
//! received, what the execution records say, how its errors and rate limits
//! end or retry a step, and its signed Event Webhook publishing `email.*`
//! events that resume waiting executions, refused whole when forged.

use crate::common::engine::install_package;
use crate::common::server::{json, serve, TestServer};
use crate::common::*;
use crate::fakes::sendgrid::{self, Fake, WebhookKey, API_KEY, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wirework::plugins::GrantEntry;

/// The stored credentials the workflows bind.
const API_CREDENTIAL: &str = "sendgrid-test";
const WEBHOOK_CREDENTIAL: &str = "sendgrid-events";

/// What an operator grants the plugin here: the fake on loopback (an
/// internal address, so an internal grant), both credential types, and its
/// `email.*` events.
pub fn grant() -> GrantEntry {
    GrantEntry {
        http_internal: vec!["127.0.0.1".into()],
        credentials: vec!["sendgrid".into(), "sendgrid-webhook".into()],
        events: vec!["email.*".into()],
        ..Default::default()
    }
}

/// A server with core and email installed, the fake's credentials stored.
struct Env {
    fake: Fake,
    server: TestServer,
    _dir: tempfile::TempDir,
}

async fn env() -> Env {
    let fake = sendgrid::start().await;
    let dir = tempfile::tempdir().unwrap();
    install_package(dir.path(), &fixtures().core, GrantEntry::default());
    install_package(dir.path(), &fixtures().integration("email"), grant());
    let server = serve(dir.path(), |_| {}).await;
    put_credential(&server, API_CREDENTIAL, &fake.credential()).await;
    put_credential(&server, WEBHOOK_CREDENTIAL, &fake.webhook_credential()).await;
    Env { fake, server, _dir: dir }
}

async fn put_credential(server: &TestServer, name: &str, body: &Value) {
    let response = server.api_json(Method::PUT, &format!("/credentials/{name}"), body).send().await.unwrap();
    assert_eq!(response.status(), 204, "{}", response.text().await.unwrap());
}

/// Start `workflow` by hand with `items`; its execution id.
async fn start(server: &TestServer, workflow: &str, items: Value) -> String {
    let path = format!("/workflows/{workflow}/executions");
    let (status, body) =
        json(server.api_json(Method::POST, &path, &json!({"items": items})).send().await.unwrap()).await;
    assert_eq!(status, 202, "{body}");
    body["execution_id"].as_str().unwrap().to_string()
}

/// Start `workflow` and wait until it has finished.
async fn run(server: &TestServer, workflow: &str, items: Value) -> Value {
    let id = start(server, workflow, items).await;
    server.wait_for(&id, &["succeeded", "failed"]).await
}

async fn executions(server: &TestServer, workflow: &str) -> Vec<Value> {
    let path = format!("/executions?workflow={workflow}");
    let (status, listed) = json(server.api(Method::GET, &path).send().await.unwrap()).await;
    assert_eq!(status, 200, "{listed}");
    listed.as_array().unwrap().clone()
}

/// One execution with its steps.
async fn execution(server: &TestServer, id: &str) -> Value {
    json(server.api(Method::GET, &format!("/executions/{id}")).send().await.unwrap()).await.1
}

/// The steps (every attempt) of `node`, in order.
fn steps<'a>(execution: &'a Value, node: &str) -> Vec<&'a Value> {
    execution["steps"].as_array().unwrap().iter().filter(|s| s["node"] == node).collect()
}

/// The items the last step of `node` emitted on its first port.
fn output(execution: &Value, node: &str) -> Vec<Value> {
    let step = *steps(execution, node).last().unwrap_or_else(|| panic!("no step {node}: {execution:#}"));
    step["outcome"]["emitted"]["ports"][0][1].as_array().unwrap_or_else(|| panic!("{step:#}")).clone()
}

/// The failure a failed execution ended with.
fn failure_of(execution: &Value) -> &Value {
    assert_eq!(execution["status"], "failed", "{execution:#}");
    &execution["error"]["failure"]
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn assert_no_api_key(what: &str, text: &str) {
    assert!(!text.contains(API_KEY), "the API key in {what}: {text}");
    // Nor any recognisable part of it.
    assert!(!text.contains(&API_KEY[10..40]), "part of the API key in {what}: {text}");
}

/// A workflow started by hand that sends one email with `config` (YAML flow
/// mapping) and `retry` (YAML, or empty).
fn send_workflow(id: &str, config: &str, retry: &str) -> String {
    format!(
        r#"
id: {id}
triggers: [{{id: go, type: manual}}]
nodes:
  - id: send
    uses: "wirework/email@^0.1"
    node: send
    credentials: {{sendgrid: {API_CREDENTIAL}}}
    config: {config}
    {retry}
connections: [{{from: go, to: send}}]
"#
    )
}

const RETRY: &str = "retry: {max_attempts: 4, initial_delay_ms: 50, multiplier: 1, jitter: false}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_posts_what_sendgrid_takes_and_outputs_its_message_id() {
    let Env { fake, server, _dir } = env().await;
    // A dynamic template per item: its data, sender and reply-to, categories
    // (a duplicate dropped), custom args written as strings.
    let template = r#"
      to: "{{ $json.email }}"
      to_name: "{{ $json.first_name }}"
      from: {email: hello@shop.example, name: Shop Inc}
      from_name: The Shop
      reply_to: support@shop.example
      template_id: d-0123456789abcdef
      data: {first_name: "{{ $json.first_name }}", plan: "{{ $json.plan }}"}
      categories: [welcome, onboarding, welcome]
      custom_args: {campaign: spring, wave: 3, vip: true}"#;
    server.deploy(&send_workflow("welcome", template, "")).await;
    let items = json!([
        {"email": "Ann@Example.com", "first_name": "Ann", "plan": {"name": "pro", "seats": 3}},
        {"email": "bob@example.com", "first_name": "Bob", "plan": "free"},
    ]);
    let done = run(&server, "welcome", items).await;
    assert_eq!(done["status"], "succeeded", "{done:#}");

    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "one request per item: {requests:?}");
    for request in &requests {
        assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/v3/mail/send"));
        assert_eq!(request.header("authorization"), Some(format!("Bearer {API_KEY}").as_str()));
        assert!(request.header("content-type").unwrap().starts_with("application/json"), "{request:?}");
    }
    let sent = fake.sent();
    let ann = sent.iter().find(|s| s.to == ["Ann@Example.com"]).expect("Ann's email sent");
    assert_eq!(
        ann.body,
        json!({
            "personalizations": [{
                "to": [{"email": "Ann@Example.com", "name": "Ann"}],
                "custom_args": {"contact": "ann@example.com"},
                "dynamic_template_data": {"first_name": "Ann", "plan": {"name": "pro", "seats": 3}},
            }],
            "from": {"email": "hello@shop.example", "name": "The Shop"},
            "reply_to": {"email": "support@shop.example"},
            "template_id": "d-0123456789abcdef",
            "categories": ["welcome", "onboarding"],
            "custom_args": {"campaign": "spring", "wave": "3", "vip": "true"},
        })
    );
    let bob = sent.iter().find(|s| s.to == ["bob@example.com"]).expect("Bob's email sent");
    assert_eq!(bob.dynamic_template_data, json!({"first_name": "Bob", "plan": "free"}));
    assert_eq!(bob.custom_args["contact"], "bob@example.com");
    assert_eq!(bob.custom_args["campaign"], "spring");

    // One output item per input item, in their order, with SendGrid's X-Message-Id.
    assert_eq!(
        output(&done, "send"),
        vec![
            json!({"message_id": ann.message_id, "to": "Ann@Example.com", "contact": "ann@example.com", "status": "accepted"}),
            json!({"message_id": bob.message_id, "to": "bob@example.com", "contact": "bob@example.com", "status": "accepted"}),
        ]
    );

    // Without a template: subject, text then HTML; `custom_args.contact` is the contact.
    let plain = r#"{to: carol@example.com, from: hello@shop.example, subject: Your order, text: Plain words,
      html: "<p>Rich words</p>", custom_args: {contact: crm-42}}"#;
    server.deploy(&send_workflow("notice", plain, "")).await;
    let done = run(&server, "notice", json!([{}])).await;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    let carol = fake.sent().into_iter().find(|s| s.to == ["carol@example.com"]).expect("Carol's email sent");
    assert_eq!(
        carol.body,
        json!({
            "personalizations": [{"to": [{"email": "carol@example.com"}], "custom_args": {"contact": "crm-42"}}],
            "from": {"email": "hello@shop.example"},
            "subject": "Your order",
            "content": [{"type": "text/plain", "value": "Plain words"}, {"type": "text/html", "value": "<p>Rich words</p>"}],
            "custom_args": {"contact": "crm-42"},
        })
    );
    assert_eq!(output(&done, "send")[0]["contact"], "crm-42");
    assert_eq!(output(&done, "send")[0]["message_id"], carol.message_id.as_str());

    // The API key is in no record and no answer.
    for workflow in ["welcome", "notice"] {
        for listed in executions(&server, workflow).await {
            let id = listed["id"].as_str().unwrap();
            assert_no_api_key("an execution", &execution(&server, id).await.to_string());
        }
    }
    let (_, credentials) = json(server.api(Method::GET, "/credentials").send().await.unwrap()).await;
    assert_no_api_key("the credential list", &credentials.to_string());
    assert!(credentials.to_string().contains("wirework/email:sendgrid"), "{credentials}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_that_cannot_be_sent_fails_fatally_before_any_request() {
    let Env { fake, server, _dir } = env().await;
    let cases = [
        ("no-content", "{to: ann@example.com, from: hello@shop.example}", "give either `template_id`"),
        ("no-body", "{to: ann@example.com, from: hello@shop.example, subject: Hi}", "give either `template_id`"),
        (
            "both",
            "{to: ann@example.com, from: hello@shop.example, template_id: d-1, text: Hi}",
            "`text` and `html` are for emails without `template_id`",
        ),
        (
            "data-alone",
            "{to: ann@example.com, from: hello@shop.example, subject: Hi, text: Hi, data: {a: 1}}",
            "needs `template_id`",
        ),
        (
            "bad-address",
            "{to: \"{{ $json.to }}\", from: hello@shop.example, subject: Hi, text: Hi}",
            "`to` is not an email address",
        ),
    ];
    let mut ids = Vec::new();
    for (id, config, _) in &cases {
        server.deploy(&send_workflow(id, config, RETRY)).await;
        ids.push(start(&server, id, json!([{"to": "not-an-address"}])).await);
    }
    for ((workflow, _, says), id) in cases.iter().zip(&ids) {
        let done = server.wait_for(id, &["succeeded", "failed"]).await;
        let failure = failure_of(&done);
        assert_eq!(
            (failure["code"].as_str(), failure["retryable"].as_bool()),
            (Some("bad_config"), Some(false)),
            "{workflow}: {done:#}"
        );
        assert!(failure["message"].as_str().unwrap().contains(says), "{workflow}: {failure}");
        assert_eq!(steps(&done, "send").len(), 1, "{workflow}: a fatal failure is not retried: {done:#}");
    }
    assert!(fake.requests().is_empty(), "nothing reached SendGrid: {:?}", fake.requests());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sendgrid_refusals_end_the_step_with_its_own_words() {
    let Env { fake, server, _dir } = env().await;
    // An address the plugin lets through and SendGrid refuses: 400, fatal,
    // SendGrid's field and message in the error, not retried.
    let config = "{to: ann@localhost, from: hello@shop.example, subject: Hi, text: Hello}";
    server.deploy(&send_workflow("refused", config, RETRY)).await;
    let done = run(&server, "refused", json!([{}])).await;
    let failure = failure_of(&done);
    assert_eq!(failure["code"], "sendgrid_400", "{done:#}");
    assert_eq!(failure["retryable"], false, "{done:#}");
    assert_eq!(
        failure["message"],
        "sending the email to ann@localhost: SendGrid answered 400: personalizations.0.to.0.email: Does not contain a valid address."
    );
    assert_eq!(done["error"]["node"], "send");
    assert_eq!(fake.requests().len(), 1, "a 400 is not retried");
    assert!(fake.sent().is_empty());

    // A revoked key: 401 with SendGrid's message, fatal; the key in no record.
    const WRONG: &str = "SG.revoked-key.abcdefghijklmnopqrstuvwxyz0123456789";
    put_credential(&server, "sendgrid-revoked", &fake.credential_with_key(WRONG)).await;
    let config = "{to: ann@example.com, from: hello@shop.example, subject: Hi, text: Hello}";
    let workflow = send_workflow("revoked", config, RETRY).replace(API_CREDENTIAL, "sendgrid-revoked");
    server.deploy(&workflow).await;
    let done = run(&server, "revoked", json!([{}])).await;
    let failure = failure_of(&done);
    assert_eq!((failure["code"].as_str(), failure["retryable"].as_bool()), (Some("sendgrid_401"), Some(false)));
    assert!(failure["message"].as_str().unwrap().ends_with(sendgrid::UNAUTHORIZED_MESSAGE), "{failure}");
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[1].header("authorization"), Some(format!("Bearer {WRONG}").as_str()));
    let record = done.to_string();
    assert!(!record.contains(WRONG) && !record.contains(API_KEY), "a key in the record: {record}");
    server.stop().await;
}

/// Send once under `retry`, after the fake was told how to fail; the
/// finished execution.
async fn send_retried(env: &Env, workflow: &str) -> Value {
    let config = "{to: ann@example.com, from: hello@shop.example, template_id: d-1, data: {n: 1}}";
    env.server.deploy(&send_workflow(workflow, config, RETRY)).await;
    let done = run(&env.server, workflow, json!([{}])).await;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_retried_no_sooner_than_retry_after() {
    let env = env().await;
    env.fake.fail_next(429, 1, Some(1));
    let done = send_retried(&env, "limited").await;
    let requests = env.fake.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    let waited = requests[1].at.duration_since(requests[0].at);
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}, before Retry-After: 1");
    let attempts = steps(&done, "send");
    assert_eq!(attempts.len(), 2, "{done:#}");
    let first = &attempts[0]["outcome"]["failed"];
    assert_eq!(first["then"], "retry", "{first}");
    assert_eq!(first["failure"]["code"], "sendgrid_429");
    assert_eq!(first["failure"]["retryable"], true);
    assert_eq!(first["failure"]["retry_after_ms"], 1000);
    assert!(first["failure"]["message"].as_str().unwrap().contains("too many requests"), "{first}");
    assert_eq!(attempts[1]["attempt"], 2);
    assert_eq!(output(&done, "send")[0]["message_id"], env.fake.sent()[0].message_id.as_str());
    assert_eq!(env.fake.sent().len(), 1, "sent once");
    env.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_without_retry_after_waits_for_the_rate_limit_reset() {
    let env = env().await;
    let reset = now_secs() + 3;
    env.fake.rate_limit_next(1, reset);
    let done = send_retried(&env, "reset").await;
    let requests = env.fake.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests[0].header("x-ratelimit-reset").is_none(), "a request header, not an answer");
    assert!(
        requests[1].at_ms >= reset * 1000,
        "retried at {} ms, before X-RateLimit-Reset {reset} s",
        requests[1].at_ms
    );
    let first = &steps(&done, "send")[0]["outcome"]["failed"]["failure"];
    assert_eq!((first["code"].as_str(), first["retryable"].as_bool()), (Some("sendgrid_429"), Some(true)));
    assert!(first["retry_after_ms"].as_u64().unwrap() > 0, "{first}");
    env.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_is_retried_until_sendgrid_takes_it() {
    let env = env().await;
    env.fake.fail_next(500, 2, None);
    let done = send_retried(&env, "flaky").await;
    assert_eq!(env.fake.requests().len(), 3);
    let attempts = steps(&done, "send");
    assert_eq!(attempts.len(), 3, "{done:#}");
    for attempt in &attempts[..2] {
        let failure = &attempt["outcome"]["failed"]["failure"];
        assert_eq!((failure["code"].as_str(), failure["retryable"].as_bool()), (Some("sendgrid_500"), Some(true)));
    }
    assert_eq!(attempts[2]["attempt"], 3);
    assert_eq!(env.fake.sent().len(), 1);
    env.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_bounces_pages_by_offset_up_to_the_limit() {
    let Env { fake, server, _dir } = env().await;
    const T0: u64 = 1_767_000_000;
    fake.seed_bounces((0..1203).map(|i| sendgrid::bounce(&format!("User{i}@Example.com"), T0 + i)));
    let workflow = |id: &str, config: &str| {
        format!(
            r#"
id: {id}
triggers: [{{id: go, type: manual}}]
nodes:
  - {{id: list, uses: "wirework/email@^0.1", node: list-bounces, credentials: {{sendgrid: {API_CREDENTIAL}}}, config: {config}}}
connections: [{{from: go, to: list}}]
"#
        )
    };

    // 1,100 of 1,203: pages of 500, 500 and the 100 left.
    server.deploy(&workflow("many", "{limit: 1100}")).await;
    let done = run(&server, "many", json!([{}])).await;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    let requests = fake.requests();
    let pages: Vec<(String, String)> = requests
        .iter()
        .map(|r| (r.query_param("limit").unwrap_or_default(), r.query_param("offset").unwrap_or_default()))
        .collect();
    let expected = [("500", "0"), ("500", "500"), ("100", "1000")].map(|(l, o)| (l.to_string(), o.to_string()));
    assert_eq!(pages, expected);
    for request in &requests {
        assert_eq!((request.method.as_str(), request.path.as_str()), ("GET", "/v3/suppression/bounces"));
        assert_eq!(request.header("authorization"), Some(format!("Bearer {API_KEY}").as_str()));
        assert_eq!(request.header("accept"), Some("application/json"));
        assert_eq!(request.query_param("start_time"), None);
    }
    let items = output(&done, "list");
    assert_eq!(items.len(), 1100);
    assert_eq!(
        items[0],
        json!({
            "email": "User0@Example.com", "contact": "user0@example.com",
            "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
            "status": "5.1.1", "created": T0, "at": T0 * 1000,
        })
    );
    assert_eq!(items[1099]["email"], "User1099@Example.com", "in SendGrid's order, none skipped");
    assert_eq!(items[500]["email"], "User500@Example.com");

    // A window: passed on; a short page ends the listing.
    let before = fake.requests().len();
    server.deploy(&workflow("window", &format!("{{start_time: {}, end_time: {}}}", T0 + 10, T0 + 19))).await;
    let done = run(&server, "window", json!([{}])).await;
    let requests = &fake.requests()[before..];
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].query_param("start_time"), Some((T0 + 10).to_string()));
    assert_eq!(requests[0].query_param("end_time"), Some((T0 + 19).to_string()));
    assert_eq!(requests[0].query_param("limit").as_deref(), Some("100"), "the default limit");
    let emails: Vec<String> = output(&done, "list").iter().map(|i| i["email"].as_str().unwrap().to_string()).collect();
    assert_eq!(emails, (10..20).map(|i| format!("User{i}@Example.com")).collect::<Vec<_>>());

    // A failing page fails the node with SendGrid's status.
    fake.fail_next(403, 1, None);
    server.deploy(&workflow("denied", "{limit: 10}")).await;
    let done = run(&server, "denied", json!([{}])).await;
    let failure = failure_of(&done);
    assert_eq!((failure["code"].as_str(), failure["retryable"].as_bool()), (Some("sendgrid_403"), Some(false)));
    assert!(
        failure["message"].as_str().unwrap().starts_with("listing the bounces: SendGrid answered 403"),
        "{failure}"
    );
    server.stop().await;
}

/// A workflow taking the Event Webhook at `/hooks/{id}/sendgrid` with
/// `config` (YAML), bound to `credential`.
fn events_workflow(id: &str, config: &str, credential: &str) -> String {
    format!(
        r#"
id: {id}
triggers:
  - id: sendgrid
    type: webhook
    path: sendgrid
    uses: "wirework/email@^0.1"
    node: events
    mode: async
    credentials: {{sendgrid-webhook: {credential}}}
    config: {config}
nodes:
  - {{id: take, uses: "wirework/core@^0.1", node: noop}}
connections: [{{from: sendgrid, to: take}}]
"#
    )
}

/// A workflow started by the event `name` (any key).
fn listener(id: &str, name: &str) -> String {
    format!(
        r#"
id: {id}
triggers: [{{id: on, type: event, event: {name}}}]
nodes:
  - {{id: seen, uses: "wirework/core@^0.1", node: noop}}
connections: [{{from: on, to: seen}}]
"#
    )
}

/// The welcome email, then a wait for its open.
const WELCOME: &str = r#"
id: welcome
triggers: [{id: signup, type: manual}]
nodes:
  - id: send-welcome
    uses: "wirework/email@^0.1"
    node: send
    credentials: {sendgrid: sendgrid-test}
    config:
      to: "{{ $json.email }}"
      from: hello@shop.example
      template_id: d-0123456789abcdef
      data: {first_name: "{{ $json.first_name }}"}
      categories: [welcome]
    retry: {max_attempts: 2, initial_delay_ms: 50}
  - id: opened
    uses: "wirework/core@^0.1"
    node: wait
    config: {event: "email.opened:{{ $json.contact }}", timeout_seconds: 3600}
  - {id: after, uses: "wirework/core@^0.1", node: noop}
connections:
  - {from: signup, to: send-welcome}
  - {from: send-welcome, to: opened}
  - {from: opened, to: after}
"#;

/// Send a webhook request; the answer's status and JSON.
async fn post(request: reqwest::RequestBuilder) -> (u16, Value) {
    json(request.send().await.unwrap()).await
}

fn hook(env: &Env, workflow: &str) -> String {
    format!("{}/hooks/{workflow}/sendgrid", env.server.url)
}

/// Start the welcome flow for `email`; the execution (waiting) and the message SendGrid took.
async fn welcome(env: &Env, email: &str, first_name: &str) -> (String, sendgrid::Sent) {
    let id = start(&env.server, "welcome", json!([{"email": email, "first_name": first_name}])).await;
    let waiting = env.server.wait_for(&id, &["waiting", "failed", "succeeded"]).await;
    assert_eq!(waiting["status"], "waiting", "{waiting:#}");
    let message_id =
        output(&execution(&env.server, &id).await, "send-welcome")[0]["message_id"].as_str().unwrap().to_string();
    let sent = env.fake.sent_message(&message_id).expect("the fake took the message the output names");
    (id, sent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_events_resume_the_wait_for_the_welcome_emails_open() {
    let env = env().await;
    env.server.deploy(WELCOME).await;
    env.server.deploy(&events_workflow("sendgrid-events", "{}", WEBHOOK_CREDENTIAL)).await;
    env.server.deploy(&listener("on-bounce", "email.bounced")).await;
    let (ann, ann_sent) = welcome(&env, "Ann@Example.com", "Ann").await;
    let (bob, bob_sent) = welcome(&env, "bob@example.com", "Bob").await;
    assert_eq!(ann_sent.dynamic_template_data, json!({"first_name": "Ann"}));
    assert_eq!(ann_sent.custom_args["contact"], "ann@example.com");

    // Ann's delivery, open and click, in one signed batch: the open resumes her wait only.
    let mut click = ann_sent.event("click");
    click["url"] = json!("https://shop.example/pricing");
    let batch = [ann_sent.event("processed"), ann_sent.event("delivered"), ann_sent.event("open"), click];
    let open_at = batch[2]["timestamp"].as_u64().unwrap();
    let delivery = env.fake.webhook().deliver(&batch);
    let (status, body) = post(delivery.post(&env.server.client, &hook(&env, "sendgrid-events"))).await;
    assert_eq!((status, &body), (200, &json!({"received": 4})));
    let done = env.server.wait_for(&ann, &["succeeded", "failed"]).await;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    let after = steps(&done, "after")[0];
    let resumed = &after["input"][0];
    assert_eq!(resumed["message_id"], ann_sent.message_id.as_str(), "the send's output goes on: {after:#}");
    assert_eq!(
        resumed["event"],
        json!({
            "email": "Ann@Example.com", "contact": "ann@example.com", "event": "open", "at": open_at * 1000,
            "message_id": ann_sent.message_id, "category": "welcome",
        }),
        "the open's payload resumes the wait"
    );
    assert_eq!(env.server.wait_for(&bob, &["waiting"]).await["status"], "waiting", "another contact stays waiting");
    assert!(executions(&env.server, "sendgrid-events").await.is_empty(), "`events: []` starts nothing");
    assert!(executions(&env.server, "on-bounce").await.is_empty());

    // Bob's bounce: published as email.bounced:<bob>, which starts the listener, not his open's wait.
    let delivery = env.fake.webhook().deliver(&[bob_sent.event("bounce")]);
    let (status, body) = post(delivery.post(&env.server.client, &hook(&env, "sendgrid-events"))).await;
    assert_eq!((status, &body), (200, &json!({"received": 1})));
    let listened = executions(&env.server, "on-bounce").await;
    assert_eq!(listened.len(), 1, "{listened:?}");
    let heard = env.server.wait_for(listened[0]["id"].as_str().unwrap(), &["succeeded", "failed"]).await;
    let payload = &steps(&heard, "seen")[0]["input"][0];
    assert_eq!(payload["contact"], "bob@example.com", "{heard:#}");
    assert_eq!(payload["event"], "bounce");
    assert_eq!(payload["type"], "bounce");
    assert_eq!(payload["message_id"], bob_sent.message_id.as_str());
    assert!(payload["reason"].as_str().unwrap().starts_with("550 5.1.1"), "{payload}");
    assert_eq!(env.server.wait_for(&bob, &["waiting"]).await["status"], "waiting");

    // Bob's open, at last (a PEM key in the credential verifies the same).
    let pem = json!({"type": "wirework/email:sendgrid-webhook", "fields": {"public_key": env.fake.webhook().public_key_pem()}});
    put_credential(&env.server, WEBHOOK_CREDENTIAL, &pem).await;
    let delivery = env.fake.webhook().deliver(&[bob_sent.event("open")]);
    let (status, _) = post(delivery.post(&env.server.client, &hook(&env, "sendgrid-events"))).await;
    assert_eq!(status, 200);
    let done = env.server.wait_for(&bob, &["succeeded", "failed"]).await;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    assert_eq!(steps(&done, "after")[0]["input"][0]["event"]["contact"], "bob@example.com");

    for id in [&ann, &bob] {
        assert_no_api_key("an execution", &execution(&env.server, id).await.to_string());
    }
    env.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_event_kinds_start_an_execution_with_one_item_each() {
    let env = env().await;
    env.server.deploy(&events_workflow("suppress", "{events: [bounce, dropped]}", WEBHOOK_CREDENTIAL)).await;
    env.server
        .deploy(&send_workflow(
            "notice",
            "{to: dana@example.com, from: hello@shop.example, subject: Hi, text: Hello}",
            "",
        ))
        .await;
    assert_eq!(run(&env.server, "notice", json!([{}])).await["status"], "succeeded");
    let sent = env.fake.sent().pop().unwrap();
    let bounce = sent.event("bounce");
    // A drop of another message whose send set `custom_args.contact`.
    let mut dropped = sendgrid::event("Eve@Example.com", "dropped", "Xq3rT0ddjP2x5zZ1a9BcdE");
    dropped["contact"] = json!("crm-9");
    let batch = [sent.event("processed"), sent.event("delivered"), bounce.clone(), dropped.clone()];
    let delivery = env.fake.webhook().deliver(&batch);
    let (status, body) = post(delivery.post(&env.server.client, &hook(&env, "suppress"))).await;
    assert_eq!((status, &body), (200, &json!({"received": 4})), "the trigger's own answer");

    let started = executions(&env.server, "suppress").await;
    assert_eq!(started.len(), 1, "one execution per request: {started:?}");
    let done = env.server.wait_for(started[0]["id"].as_str().unwrap(), &["succeeded", "failed"]).await;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    let items = &steps(&done, "take")[0]["input"];
    assert_eq!(
        items,
        &json!([
            {
                "email": "dana@example.com", "contact": "dana@example.com", "event": "bounce",
                "at": bounce["timestamp"].as_u64().unwrap() * 1000, "message_id": sent.message_id,
                "reason": bounce["reason"], "type": "bounce",
                "event_id": bounce["sg_event_id"], "sg_message_id": bounce["sg_message_id"],
            },
            {
                "email": "Eve@Example.com", "contact": "crm-9", "event": "dropped",
                "at": dropped["timestamp"].as_u64().unwrap() * 1000, "message_id": "Xq3rT0ddjP2x5zZ1a9BcdE",
                "reason": "Bounced Address",
                "event_id": dropped["sg_event_id"], "sg_message_id": dropped["sg_message_id"],
            },
        ]),
        "{done:#}"
    );
    env.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_stale_or_unsigned_deliveries_are_refused_and_start_nothing() {
    let env = env().await;
    env.server.deploy(&events_workflow("suppress", "{events: [open, bounce]}", WEBHOOK_CREDENTIAL)).await;
    env.server.deploy(&listener("on-open", "email.opened")).await;
    env.server.deploy(&listener("on-bounce", "email.bounced")).await;
    let url = hook(&env, "suppress");
    let message = "W5rpxPZcRcq6zCDnBWt2Ag";
    let batch =
        [sendgrid::event("ann@example.com", "open", message), sendgrid::event("ann@example.com", "bounce", message)];
    let genuine = env.fake.webhook().deliver(&batch);
    let client = &env.server.client;

    let mut tampered = genuine.clone();
    tampered.body =
        String::from_utf8(tampered.body).unwrap().replace("ann@example.com", "eve@example.com").into_bytes();
    let mut retimed = genuine.clone();
    retimed.timestamp = (genuine.timestamp.parse::<u64>().unwrap() + 1).to_string();
    let mut garbled = genuine.clone();
    garbled.signature = "not base64!".into();
    let cases = [
        ("another account's key", WebhookKey::new().deliver(&batch).post(client, &url), "does not match"),
        ("a tampered body", tampered.post(client, &url), "does not match"),
        ("a timestamp other than the signed one", retimed.post(client, &url), "does not match"),
        ("a stale timestamp", env.fake.webhook().deliver_at(&batch, now_secs() - 3600).post(client, &url), "s old"),
        ("a future timestamp", env.fake.webhook().deliver_at(&batch, now_secs() + 3600).post(client, &url), "future"),
        ("no signature", genuine.post_without(client, &url, SIGNATURE_HEADER), "Signature` is missing"),
        ("no timestamp", genuine.post_without(client, &url, TIMESTAMP_HEADER), "Timestamp` is missing"),
        ("a garbled signature", garbled.post(client, &url), "Signature` is malformed"),
    ];
    for (what, request, says) in cases {
        let (status, body) = post(request).await;
        assert_eq!(status, 401, "{what}: {body}");
        let error = body["error"].as_str().unwrap_or_else(|| panic!("{what}: {body}"));
        assert!(error.contains(says), "{what}: {error} should say {says}");
    }
    for workflow in ["suppress", "on-open", "on-bounce"] {
        assert!(executions(&env.server, workflow).await.is_empty(), "{workflow} started by a refused request");
    }

    // Signed, but not events: 400.
    let timestamp = now_secs().to_string();
    let signature = env.fake.webhook().sign(&timestamp, b"hello");
    let not_json = sendgrid::Delivery { body: b"hello".to_vec(), timestamp, signature };
    let (status, body) = post(not_json.post(client, &url)).await;
    assert_eq!(status, 400, "{body}");

    // A verification key that is not one: the trigger fails, refusing the
    // request (`docs/server.md`: a trigger's error is answered 400), and
    // nothing starts.
    let broken = json!({"type": "wirework/email:sendgrid-webhook", "fields": {"public_key": "bm90IGEga2V5"}});
    put_credential(&env.server, "not-a-key", &broken).await;
    env.server.deploy(&events_workflow("misconfigured", "{events: [open]}", "not-a-key")).await;
    let (status, body) = post(genuine.post(client, &hook(&env, "misconfigured"))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("not a P-256 public key"), "{body}");
    assert!(executions(&env.server, "misconfigured").await.is_empty());
    assert!(executions(&env.server, "on-open").await.is_empty());

    // The genuine delivery, for contrast: both kinds start the execution and publish.
    let (status, body) = post(genuine.post(client, &url)).await;
    assert_eq!((status, &body), (200, &json!({"received": 2})));
    assert_eq!(executions(&env.server, "suppress").await.len(), 1);
    assert_eq!(executions(&env.server, "on-open").await.len(), 1);
    assert_eq!(executions(&env.server, "on-bounce").await.len(), 1);
    env.server.stop().await;
}

/// The fake itself, spoken to directly: SendGrid's answers, for the flow
/// tests that rely on it too.
#[tokio::test]
async fn the_fake_answers_as_sendgrid_does() {
    let fake = sendgrid::start().await;
    let client = wirework_registry::client::http_client_builder().build().unwrap();
    let send = |key: Option<&str>, content_type: &str, body: Value| {
        let mut request = client.post(format!("{}/v3/mail/send", fake.base_url())).header("content-type", content_type);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.body(body.to_string()).send()
    };
    let minimal = json!({
        "personalizations": [{"to": [{"email": "ann@example.com"}]}],
        "from": {"email": "hello@shop.example"},
        "subject": "Hi",
        "content": [{"type": "text/plain", "value": "Hello"}],
    });

    for key in [None, Some("SG.wrong")] {
        let (status, body) = json(send(key, "application/json", minimal.clone()).await.unwrap()).await;
        assert_eq!(status, 401);
        assert_eq!(body, json!({"errors": [{"field": null, "message": sendgrid::UNAUTHORIZED_MESSAGE, "help": null}]}));
    }
    let (status, _) = json(send(Some(API_KEY), "text/plain", minimal.clone()).await.unwrap()).await;
    assert_eq!(status, 415);

    // Every problem at once, each with its field and help.
    let (status, body) = json(
        send(Some(API_KEY), "application/json", json!({"personalizations": [{"to": []}], "categories": vec!["c"; 11]}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["personalizations.0.to", "from.email", "subject", "content", "categories"]);
    assert_eq!(
        body["errors"][0]["help"],
        "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message.personalizations.to"
    );
    let mut html_first = minimal.clone();
    html_first["content"] = json!([{"type": "text/html", "value": "<p>x</p>"}, {"type": "text/plain", "value": "x"}]);
    html_first["custom_args"] = json!({"n": 1});
    let (status, body) = json(send(Some(API_KEY), "application/json", html_first).await.unwrap()).await;
    assert_eq!(status, 400);
    let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["content", "custom_args.n"], "{body}");
    assert!(fake.sent().is_empty());

    // Accepted: 202, no body, X-Message-Id; kept.
    let response = send(Some(API_KEY), "application/json", minimal.clone()).await.unwrap();
    assert_eq!(response.status(), 202);
    let id = response.headers()["x-message-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 22);
    assert!(response.text().await.unwrap().is_empty());
    assert_eq!(fake.sent_message(&id).unwrap().body, minimal);
    // The sandbox: 200, nothing kept.
    let mut sandboxed = minimal.clone();
    sandboxed["mail_settings"] = json!({"sandbox_mode": {"enable": true}});
    let response = send(Some(API_KEY), "application/json", sandboxed).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("x-message-id").is_none());
    assert_eq!(fake.sent().len(), 1);

    // Rate limited: 429 with Retry-After and X-RateLimit-*, then through.
    fake.fail_next(429, 1, Some(3));
    let response = send(Some(API_KEY), "application/json", minimal.clone()).await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "3");
    assert_eq!(response.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(send(Some(API_KEY), "application/json", minimal.clone()).await.unwrap().status(), 202);

    // Bounces: filtered by time, paged by limit and offset.
    fake.seed_bounces((0..5).map(|i| sendgrid::bounce(&format!("u{i}@example.com"), 100 + i)));
    let list = |query: &str| {
        client.get(format!("{}/v3/suppression/bounces?{query}", fake.base_url())).bearer_auth(API_KEY).send()
    };
    let (status, page) = json(list("limit=2&offset=1").await.unwrap()).await;
    assert_eq!(status, 200);
    let emails: Vec<&str> = page.as_array().unwrap().iter().map(|b| b["email"].as_str().unwrap()).collect();
    assert_eq!(emails, ["u1@example.com", "u2@example.com"]);
    let (_, page) = json(list("start_time=103").await.unwrap()).await;
    assert_eq!(page.as_array().unwrap().len(), 2);
    assert_eq!(json(list("limit=x").await.unwrap()).await.0, 400);
    assert_eq!(fake.requests().last().unwrap().query, "limit=x");

    // The events of a sent message carry its custom args and id, signed as SendGrid signs.
    let mut tagged = minimal.clone();
    tagged["personalizations"][0]["custom_args"] = json!({"contact": "crm-1"});
    tagged["categories"] = json!(["a", "b"]);
    let response = send(Some(API_KEY), "application/json", tagged).await.unwrap();
    let id = response.headers()["x-message-id"].to_str().unwrap().to_string();
    let open = fake.sent_message(&id).unwrap().event("open");
    assert_eq!((open["contact"].as_str(), open["category"].clone()), (Some("crm-1"), json!(["a", "b"])));
    assert!(open["sg_message_id"].as_str().unwrap().starts_with(&format!("{id}.filterdrecv-")));
    let delivery = fake.webhook().deliver(&[open]);
    assert!(delivery.body.ends_with(b"]\r\n"));
    use p256::ecdsa::signature::Verifier;
    use p256::pkcs8::DecodePublicKey;
    let b64 = |s: &str| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    };
    let key = p256::ecdsa::VerifyingKey::from_public_key_der(&b64(&fake.webhook().public_key())).unwrap();
    let signature = p256::ecdsa::Signature::from_der(&b64(&delivery.signature)).unwrap();
    let signed = [delivery.timestamp.as_bytes(), &delivery.body].concat();
    assert!(key.verify(&signed, &signature).is_ok());
    assert!(key.verify(&delivery.body, &signature).is_err(), "the timestamp is signed too");
}
