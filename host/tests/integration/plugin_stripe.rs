//! `wirework/stripe` end to end in the real host: the package built by the
//! project's build command, installed with an operator's grants, its
//! credentials stored through the API (`base_url` pointing at the loopback
//! fake of Stripe, `fakes::stripe`), workflows deployed through the API, and
//! Stripe's webhooks posted to `/hooks/...` signed as Stripe signs them.
//! Each test checks what Stripe received and what the execution record says.

use crate::common::engine::install_package;
use crate::common::server::{json, serve, TestServer};
use crate::common::*;
use crate::fakes::stripe::{self, Fake, Fault, Recorded};
use hmac::Mac;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use wirework::plugins::GrantEntry;

/// A key the fake refuses (a rolled key, say): it must stay out of records too.
const WRONG_KEY: &str = "sk_test_51WwOldRolledKeyZ9yX8wV7uT6sR5qP4oN3mL2kJ1iH0gF";

struct Env {
    stripe: Fake,
    server: TestServer,
    _dir: tempfile::TempDir,
}

/// The fake, and a server with core and stripe installed as an operator
/// would (Stripe's host, the fake's loopback address, both credential
/// types), the credentials `stripe-test` and `stripe-hook` stored.
async fn env() -> Env {
    let stripe = stripe::start().await;
    let dir = tempfile::tempdir().unwrap();
    install_package(dir.path(), &fixtures().core, GrantEntry::default());
    let grant = GrantEntry {
        http: vec!["api.stripe.com".into()],
        http_internal: vec!["127.0.0.1".into()],
        credentials: vec!["stripe".into(), "stripe-webhook".into()],
        ..Default::default()
    };
    install_package(dir.path(), &fixtures().integration("stripe"), grant);
    let server = serve(dir.path(), |_| {}).await;
    let api_key = json!({"type": "wirework/stripe:stripe",
        "fields": {"secret_key": stripe::SECRET_KEY, "base_url": format!("{}/", stripe.base_url())}});
    put_credential(&server, "stripe-test", &api_key).await;
    let hook = json!({"type": "wirework/stripe:stripe-webhook", "fields": {"secret": stripe::WEBHOOK_SECRET}});
    put_credential(&server, "stripe-hook", &hook).await;
    Env { stripe, server, _dir: dir }
}

async fn put_credential(server: &TestServer, name: &str, body: &Value) {
    let response = server.api_json(Method::PUT, &format!("/credentials/{name}"), body).send().await.unwrap();
    let (status, answer) = json(response).await;
    assert_eq!(status, 204, "{answer}");
    assert_clean(&answer.to_string());
}

/// Start `workflow` by hand with `items` and wait for it to finish.
async fn run(server: &TestServer, workflow: &str, items: Value) -> Value {
    let path = format!("/workflows/{workflow}/executions");
    let (status, started) =
        json(server.api_json(Method::POST, &path, &json!({"items": items})).send().await.unwrap()).await;
    assert_eq!(status, 202, "{started}");
    let execution = server.wait_for(started["execution_id"].as_str().unwrap(), &["succeeded", "failed"]).await;
    assert_clean(&execution.to_string());
    execution
}

async fn executions(server: &TestServer, workflow: &str) -> Vec<Value> {
    let (_, listed) =
        json(server.api(Method::GET, &format!("/executions?workflow={workflow}")).send().await.unwrap()).await;
    listed.as_array().cloned().unwrap_or_else(|| panic!("{listed}"))
}

/// Neither credential's value (nor the refused key) in `text`.
fn assert_clean(text: &str) {
    for secret in [stripe::SECRET_KEY, stripe::WEBHOOK_SECRET, WRONG_KEY] {
        assert!(!text.contains(secret), "a credential value in {text}");
    }
}

/// The steps of `node`, every attempt, in order.
fn steps<'a>(execution: &'a Value, node: &str) -> Vec<&'a Value> {
    execution["steps"].as_array().unwrap().iter().filter(|s| s["node"] == node).collect()
}

/// The items the last attempt of `node` emitted on its first port.
fn output(execution: &Value, node: &str) -> Vec<Value> {
    let steps = steps(execution, node);
    let last = steps.last().unwrap_or_else(|| panic!("{node} did not run: {execution:#}"));
    last["outcome"]["emitted"]["ports"][0][1].as_array().unwrap_or_else(|| panic!("{last:#}")).clone()
}

/// What every API request of the plugin carries.
fn assert_stripe_request(request: &Recorded) {
    assert_eq!(request.header("authorization"), Some(format!("Bearer {}", stripe::SECRET_KEY).as_str()));
    assert_eq!(request.header("stripe-version"), Some(stripe::API_VERSION), "the version is pinned: {request:?}");
    if request.method == "POST" {
        assert_eq!(request.header("content-type"), Some("application/x-www-form-urlencoded"), "{request:?}");
        assert!(request.idempotency_key().is_some_and(|k| !k.is_empty()), "every POST has a key: {request:?}");
    } else {
        assert_eq!(request.idempotency_key(), None, "{request:?}");
        assert!(request.body.is_empty(), "{request:?}");
    }
}

fn pairs(request: &Recorded) -> Vec<(&str, &str)> {
    request.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[test]
fn the_fakes_webhook_signature_and_form_decoding_are_stripes() {
    // HMAC-SHA256 over "{t}.{payload}", lower-case hex, the whole `whsec_...` as the key; one v1 per secret.
    let header = stripe::signature_header(b"{\"id\": 1}", 1_700_000_000, &["whsec_old", "whsec_new"]);
    let parts: Vec<&str> = header.split(',').collect();
    assert_eq!(parts.len(), 3, "{header}");
    assert_eq!(parts[0], "t=1700000000");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"whsec_new").unwrap();
    mac.update(b"1700000000.{\"id\": 1}");
    assert_eq!(parts[2], format!("v1={}", hex::encode(mac.finalize().into_bytes())));
    assert_ne!(parts[1], parts[2]);

    let form: Vec<(String, String)> = url::form_urlencoded::parse(
        b"mode=payment&line_items[0][price]=price_1&line_items[0][quantity]=2&line_items[1][price_data][product_data][name]=T+shirt&metadata[order]=42&expand[]=customer",
    )
    .into_owned()
    .collect();
    assert_eq!(
        stripe::nest(&form),
        json!({"mode": "payment", "line_items": [{"price": "price_1", "quantity": "2"},
            {"price_data": {"product_data": {"name": "T shirt"}}}], "metadata": {"order": "42"}, "expand": ["customer"]})
    );
    assert_eq!(stripe::mask("sk_test_abcdefghijkl1234"), "sk_test_************1234");
}

/// The fake refuses what Stripe refuses, with Stripe's bodies: the plugin's
/// tests below mean something only if it does.
#[tokio::test]
async fn the_fake_answers_as_stripe_does() {
    let fake = stripe::start().await;
    fake.seed_price("price_pro", 2500, "eur", None);
    let client = wirework_registry::client::http_client_builder().build().unwrap();
    let url = |path: &str| format!("{}{path}", fake.base_url());
    let session =
        "mode=payment&success_url=https%3A%2F%2Fexample.com&line_items[0][price]=price_pro&line_items[0][quantity]=2";
    let post = |path: &str, body: &str, key: Option<&str>| {
        let request = client
            .post(url(path))
            .bearer_auth(stripe::SECRET_KEY)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("stripe-version", stripe::API_VERSION)
            .body(body.to_string());
        match key {
            Some(key) => request.header("idempotency-key", key),
            None => request,
        }
    };
    let error = |body: &Value| body["error"].clone();

    // Authentication: none, or another key.
    let (status, body) = json(client.get(url("/v1/customers")).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert_eq!(error(&body)["type"], "invalid_request_error");
    assert!(error(&body)["message"].as_str().unwrap().starts_with("You did not provide an API key."), "{body}");
    let (status, body) = json(client.get(url("/v1/customers")).bearer_auth(WRONG_KEY).send().await.unwrap()).await;
    assert_eq!(status, 401);
    let message = error(&body)["message"].as_str().unwrap().to_string();
    assert!(message.starts_with("Invalid API Key provided: sk_test_****") && message.ends_with("0gF"), "{message}");
    assert!(!message.contains(WRONG_KEY));

    // Content type, required and unknown parameters, referenced objects.
    let json_body = client.post(url("/v1/customers")).bearer_auth(stripe::SECRET_KEY).json(&json!({"email": "a@b.c"}));
    let (status, body) = json(json_body.send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(error(&body)["message"].as_str().unwrap().contains("application/x-www-form-urlencoded"), "{body}");
    for (body, code, param) in [
        ("success_url=https%3A%2F%2Fexample.com", "parameter_missing", "mode"),
        ("mode=payment&line_items[0][price]=price_pro&line_items[0][quantity]=1", "parameter_missing", "success_url"),
        ("mode=payment&success_url=x", "parameter_missing", "line_items"),
        ("mode=payment&success_url=x&line_items[0][price]=price_pro", "parameter_missing", "line_items[0][quantity]"),
        (
            "mode=payment&success_url=x&line_items[0][price]=price_nope&line_items[0][quantity]=1",
            "resource_missing",
            "line_items[0][price]",
        ),
        ("mode=payment&success_url=x&colour=red", "parameter_unknown", "colour"),
    ] {
        let (status, answer) = json(post("/v1/checkout/sessions", body, None).send().await.unwrap()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(
            (error(&answer)["code"].as_str(), error(&answer)["param"].as_str()),
            (Some(code), Some(param)),
            "{answer}"
        );
    }
    let embedded = "mode=payment&ui_mode=embedded&return_url=https%3A%2F%2Fexample.com&line_items[0][price]=price_pro&line_items[0][quantity]=1";
    let (status, answer) = json(post("/v1/checkout/sessions", embedded, None).send().await.unwrap()).await;
    assert_eq!(
        (status, answer["url"].clone()),
        (200, Value::Null),
        "embedded: no success_url, no hosted url: {answer}"
    );

    // Idempotency: the same key and parameters replay the first answer; other parameters are refused.
    let first = post("/v1/checkout/sessions", session, Some("order-1")).send().await.unwrap();
    assert!(first.headers().get("idempotent-replayed").is_none());
    let (status, created) = json(first).await;
    assert_eq!(status, 200, "{created}");
    assert!(created["id"].as_str().unwrap().starts_with("cs_test_"), "{created}");
    assert_eq!((created["status"].as_str(), created["amount_total"].as_i64()), (Some("open"), Some(5000)));
    assert!(created["url"].as_str().unwrap().starts_with("https://checkout.stripe.com/c/pay/cs_test_"));
    let again = post("/v1/checkout/sessions", session, Some("order-1")).send().await.unwrap();
    assert_eq!(again.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    assert_eq!(json(again).await, (200, created.clone()));
    let other = format!("{session}&client_reference_id=2");
    let (status, body) = json(post("/v1/checkout/sessions", &other, Some("order-1")).send().await.unwrap()).await;
    assert_eq!((status, error(&body)["type"].as_str()), (400, Some("idempotency_error")), "{body}");
    let (status, body) = json(post("/v1/payment_links", "x=1", Some("order-1")).send().await.unwrap()).await;
    assert_eq!((status, error(&body)["type"].as_str()), (400, Some("idempotency_error")), "{body}");
    assert_eq!(fake.checkout_sessions().len(), 2, "the embedded one and order-1, once");

    // Reads: a missing object is a 404 `resource_missing`.
    let missing = client.get(url("/v1/payment_intents/pi_nope")).bearer_auth(stripe::SECRET_KEY).send().await.unwrap();
    let (status, body) = json(missing).await;
    assert_eq!(status, 404);
    assert_eq!(error(&body)["code"], "resource_missing");
    assert_eq!(error(&body)["message"], "No such payment_intent: 'pi_nope'");

    // Faults: a 429 with Retry-After, then the request goes through.
    fake.fail_next(429, 1, Some(7));
    let limited = client.get(url("/v1/customers")).bearer_auth(stripe::SECRET_KEY).send().await.unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "7");
    assert_eq!(json(limited).await.1["error"]["code"], "rate_limit");
    let listed = client.get(url("/v1/customers?limit=3")).bearer_auth(stripe::SECRET_KEY).send().await.unwrap();
    assert_eq!(
        json(listed).await,
        (200, json!({"object": "list", "data": [], "has_more": false, "url": "/v1/customers"}))
    );
    let recorded = fake.requests();
    assert_eq!(recorded.last().unwrap().params, json!({"limit": "3"}));
    assert_eq!(recorded.iter().filter(|r| r.replayed).count(), 1);
}

#[tokio::test]
async fn the_customer_node_finds_the_customer_or_creates_it_once() {
    let Env { stripe, server, _dir } = env().await;
    // Stripe allows several customers with one email: the newest is listed first, and wins.
    let older =
        stripe.seed_customer(json!({"email": "bob@example.com", "name": "Bob (old)", "created": 1_600_000_000}));
    let newer = stripe.seed_customer(json!({"email": "bob@example.com", "name": "Bob", "created": 1_700_000_000}));
    // Stripe's email filter is exact: another case is another customer.
    stripe.seed_customer(json!({"email": "Ann@Example.com", "name": "Ann (typed in caps)"}));
    server
        .deploy(
            r#"
id: customers
triggers: [{id: go, type: manual}]
nodes:
  - id: find
    uses: wirework/stripe@^0.1
    node: customer
    config:
      email: "{{ $json.email }}"
      name: "{{ $json.name }}"
      metadata: {source: landing-page, score: 7}
    credentials: {stripe: stripe-test}
    retry: {max_attempts: 3, initial_delay_ms: 50}
connections: [{from: go, to: find}]
"#,
        )
        .await;

    let execution = run(&server, "customers", json!([{"email": "bob@example.com", "name": "Robert"}])).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    let found = &output(&execution, "find")[0];
    assert_eq!(found["id"], newer["id"], "{found}");
    assert_ne!(found["id"], older["id"]);
    assert_eq!(
        (found["created"].as_bool(), found["name"].as_str()),
        (Some(false), Some("Bob")),
        "not updated: {found}"
    );
    assert_eq!(found["created_at"], 1_700_000_000);
    let requests = stripe.requests();
    assert_eq!(requests.len(), 1, "found on the first page: nothing created, no further page");
    assert_eq!((requests[0].method.as_str(), requests[0].path.as_str()), ("GET", "/v1/customers"));
    assert_eq!(requests[0].params, json!({"email": "bob@example.com", "limit": "100"}));
    assert_stripe_request(&requests[0]);

    // A new email: searched, then created with the node's fields.
    let execution = run(&server, "customers", json!([{"email": "ann@example.com", "name": "Ann Lee"}])).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    let created = output(&execution, "find")[0].clone();
    assert_eq!(created["created"], true, "{created}");
    assert!(created["id"].as_str().unwrap().starts_with("cus_"));
    assert_eq!(created["metadata"], json!({"source": "landing-page", "score": "7"}));
    let posts = stripe.requests_to("POST", "/v1/customers");
    assert_eq!(posts.len(), 1);
    assert_stripe_request(&posts[0]);
    assert_eq!(
        posts[0].params,
        json!({"email": "ann@example.com", "name": "Ann Lee", "metadata": {"source": "landing-page", "score": "7"}})
    );
    let step = &steps(&execution, "find")[0];
    assert_eq!(posts[0].idempotency_key(), Some(format!("{}-0", step["idempotency_key"].as_str().unwrap()).as_str()));

    // A second run finds the first one's customer.
    let execution = run(&server, "customers", json!([{"email": "ann@example.com", "name": "Ann Lee"}])).await;
    let again = &output(&execution, "find")[0];
    assert_eq!((again["id"].clone(), again["created"].clone()), (created["id"].clone(), json!(false)), "{again}");
    assert_eq!(stripe.requests_to("POST", "/v1/customers").len(), 1);

    // A create whose answer is lost (Stripe made the customer, the host saw a
    // 500): the retry finds that customer instead of making a second one.
    stripe.inject(Fault { path: Some("/v1/customers".into()), skip: 1, after_processing: true, ..Fault::new(500, 1) });
    let execution = run(&server, "customers", json!([{"email": "cy@example.com", "name": "Cy"}])).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    let attempts = steps(&execution, "find");
    assert_eq!(attempts.len(), 2, "{execution:#}");
    assert_eq!(attempts[0]["outcome"]["failed"]["then"], "retry");
    assert_eq!(attempts[0]["outcome"]["failed"]["failure"]["code"], "api_error");
    let cy: Vec<Value> = stripe.customers().into_iter().filter(|c| c["email"] == "cy@example.com").collect();
    assert_eq!(cy.len(), 1, "{cy:?}");
    let out = &output(&execution, "find")[0];
    assert_eq!((out["id"].clone(), out["created"].clone()), (cy[0]["id"].clone(), json!(false)));
    let calls: Vec<(String, u16)> =
        stripe.requests()[4..].iter().map(|r| (format!("{} {}", r.method, r.path), r.status)).collect();
    let expected = [("GET /v1/customers", 200), ("POST /v1/customers", 500), ("GET /v1/customers", 200)];
    assert_eq!(calls, expected.map(|(c, s)| (c.to_string(), s)));

    // The case variant seeded above was not found: Stripe's filter is exact.
    let execution = run(&server, "customers", json!([{"email": "ann@example.com"}])).await;
    assert_eq!(output(&execution, "find")[0]["id"], created["id"]);
    server.stop().await;
}

#[tokio::test]
async fn list_customers_follows_pages_up_to_its_limit() {
    let Env { stripe, server, _dir } = env().await;
    let base = 1_700_000_000;
    let mut seeded = Vec::new();
    for i in 0..250 {
        let email = if i % 25 == 0 { "vip@example.com".to_string() } else { format!("c{i}@example.com") };
        seeded.push(stripe.seed_customer(json!({"email": email, "created": base + i})));
    }
    server
        .deploy(
            r#"
id: listing
triggers: [{id: go, type: manual}]
nodes:
  - id: all
    uses: wirework/stripe@^0.1
    node: list-customers
    config: {limit: 230}
    credentials: {stripe: stripe-test}
  - id: vips
    uses: wirework/stripe@^0.1
    node: list-customers
    config: {email: vip@example.com, created: {gte: 1700000010}, split: true}
    credentials: {stripe: stripe-test}
connections: [{from: go, to: all}, {from: all, to: vips}]
"#,
        )
        .await;
    let execution = run(&server, "listing", json!([])).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");

    let all = &output(&execution, "all")[0];
    assert_eq!((all["count"].as_u64(), all["has_more"].as_bool()), (Some(230), Some(true)), "20 more beyond the limit");
    let ids: Vec<&Value> = all["customers"].as_array().unwrap().iter().map(|c| &c["id"]).collect();
    let newest_first: Vec<&Value> = seeded.iter().rev().take(230).map(|c| &c["id"]).collect();
    assert_eq!(ids, newest_first);
    let pages = stripe.requests_to("GET", "/v1/customers");
    let page_params: Vec<&Value> = pages.iter().map(|r| &r.params).collect();
    assert_eq!(
        page_params[..3],
        [
            &json!({"limit": "100"}),
            &json!({"limit": "100", "starting_after": seeded[150]["id"]}),
            &json!({"limit": "30", "starting_after": seeded[50]["id"]}),
        ]
    );
    pages.iter().for_each(assert_stripe_request);

    // Filtered by email and creation time, one item per customer, newest first.
    let vips = output(&execution, "vips");
    let expected: Vec<&Value> = seeded
        .iter()
        .rev()
        .filter(|c| c["email"] == "vip@example.com" && c["created"].as_i64() >= Some(base + 10))
        .map(|c| &c["id"])
        .collect();
    assert_eq!(vips.iter().map(|c| &c["id"]).collect::<Vec<_>>(), expected);
    assert_eq!(vips.len(), 9);
    assert_eq!(pages[3].params, json!({"email": "vip@example.com", "created": {"gte": "1700000010"}, "limit": "100"}));
    assert_eq!(pages.len(), 4);
    server.stop().await;
}

const CHECKOUT: &str = r#"
id: checkout
triggers: [{id: go, type: manual}]
nodes:
  - id: session
    uses: wirework/stripe@^0.1
    node: checkout-session
    config:
      mode: payment
      line_items: [{price: price_pro, quantity: 2}]
      customer_email: "{{ $json.email }}"
      client_reference_id: "{{ $json.order }}"
      success_url: "https://example.com/thanks?session={CHECKOUT_SESSION_ID}"
      cancel_url: https://example.com/cart
      metadata: {order: "{{ $json.order }}"}
      extra: {allow_promotion_codes: true, mode: setup}
    credentials: {stripe: stripe-test}
    retry: {max_attempts: 3, initial_delay_ms: 50}
connections: [{from: go, to: session}]
"#;

#[tokio::test]
async fn checkout_sessions_carry_a_key_per_item_that_a_retry_reuses() {
    let Env { stripe, server, _dir } = env().await;
    stripe.seed_price("price_pro", 2500, "eur", None);
    server.deploy(CHECKOUT).await;
    let items = json!([{"email": "ann@example.com", "order": "A-1"}, {"email": "bob@example.com", "order": "B-2"}]);

    // Ann's session is created; Bob's request fails with a 500 before Stripe
    // does anything. The step is retried whole: Ann's request, with its key,
    // is answered from Stripe's idempotency store, and Bob's session created.
    stripe.inject(Fault { path: Some("/v1/checkout/sessions".into()), skip: 1, ..Fault::new(500, 1) });
    let execution = run(&server, "checkout", items.clone()).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    let sessions = stripe.checkout_sessions();
    assert_eq!(sessions.len(), 2, "one session per item, none twice: {sessions:#?}");
    let requests = stripe.requests_to("POST", "/v1/checkout/sessions");
    let seen: Vec<(u16, bool)> = requests.iter().map(|r| (r.status, r.replayed)).collect();
    assert_eq!(seen, [(200, false), (500, false), (200, true), (200, false)]);
    let keys: Vec<&str> = requests.iter().map(|r| r.idempotency_key().unwrap()).collect();
    assert_ne!(keys[0], keys[1], "a key per item");
    assert_eq!((keys[2], keys[3]), (keys[0], keys[1]), "the retry sends the same keys");
    let id = execution["id"].as_str().unwrap();
    assert!(keys.iter().all(|k| k.starts_with(id)), "{keys:?}");
    assert_eq!(pairs(&requests[2]), pairs(&requests[0]), "the same parameters with the same key");
    requests.iter().for_each(assert_stripe_request);

    // Stripe's nested form keys, the node's own settings winning over `extra`.
    let ann = &requests[0];
    for (name, value) in [
        ("mode", "payment"),
        ("line_items[0][price]", "price_pro"),
        ("line_items[0][quantity]", "2"),
        ("customer_email", "ann@example.com"),
        ("client_reference_id", "A-1"),
        ("success_url", "https://example.com/thanks?session={CHECKOUT_SESSION_ID}"),
        ("cancel_url", "https://example.com/cart"),
        ("metadata[order]", "A-1"),
        ("allow_promotion_codes", "true"),
    ] {
        assert_eq!(ann.param(name), Some(value), "{name} in {:?}", ann.pairs);
    }
    assert_eq!(ann.pairs.iter().filter(|(k, _)| k == "mode").count(), 1);

    // The step's output: Stripe's session per item, in item order.
    let attempts = steps(&execution, "session");
    assert_eq!(attempts.len(), 2);
    let failure = &attempts[0]["outcome"]["failed"];
    assert_eq!((failure["then"].as_str(), failure["failure"]["retryable"].as_bool()), (Some("retry"), Some(true)));
    assert!(failure["failure"]["message"]
        .as_str()
        .unwrap()
        .contains("Stripe answered HTTP 500: An unknown error occurred"));
    let out = output(&execution, "session");
    assert_eq!(out.len(), 2);
    for (item, (session, (email, order))) in
        out.iter().zip(sessions.iter().zip([("ann@example.com", "A-1"), ("bob@example.com", "B-2")]))
    {
        assert_eq!(item["id"], session["id"]);
        assert!(item["id"].as_str().unwrap().starts_with("cs_test_"));
        assert_eq!(item["url"], session["url"]);
        assert!(item["url"].as_str().unwrap().starts_with("https://checkout.stripe.com/"));
        assert_eq!((item["status"].as_str(), item["payment_status"].as_str()), (Some("open"), Some("unpaid")));
        assert_eq!((item["amount_total"].as_i64(), item["currency"].as_str()), (Some(5000), Some("eur")));
        assert_eq!((item["customer_email"].as_str(), item["client_reference_id"].as_str()), (Some(email), Some(order)));
        assert_eq!(item["metadata"], json!({"order": order}));
        assert_eq!((item["mode"].as_str(), item["customer"].clone()), (Some("payment"), Value::Null));
    }

    // An answer lost on the way back (Stripe created the session, the host
    // saw a 500): the retry's same key gets the session Stripe made.
    stripe.inject(Fault { path: Some("/v1/checkout/sessions".into()), after_processing: true, ..Fault::new(500, 1) });
    let execution = run(&server, "checkout", json!([{"email": "cy@example.com", "order": "C-3"}])).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    let sessions = stripe.checkout_sessions();
    assert_eq!(sessions.len(), 3, "created once");
    let requests = stripe.requests_to("POST", "/v1/checkout/sessions");
    let last: Vec<(u16, bool)> = requests[4..].iter().map(|r| (r.status, r.replayed)).collect();
    assert_eq!(last, [(500, false), (200, true)]);
    assert_eq!(requests[4].idempotency_key(), requests[5].idempotency_key());
    assert_eq!(output(&execution, "session")[0]["id"], sessions[2]["id"]);
    server.stop().await;
}

#[tokio::test]
async fn payment_links_and_payment_intents_against_stripe() {
    let Env { stripe, server, _dir } = env().await;
    stripe.seed_price("price_tee", 1500, "usd", None);
    let declined = stripe.seed_payment_intent(json!({
        "status": "requires_payment_method", "amount": 4200, "amount_received": 0, "currency": "usd",
        "customer": "cus_Declined0001", "description": "Order 77", "metadata": {"order": "77"},
        "last_payment_error": {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.", "payment_method": {"id": "pm_1Declined", "object": "payment_method"}},
    }));
    server
        .deploy(
            r#"
id: links
triggers: [{id: go, type: manual}]
nodes:
  - id: link
    uses: wirework/stripe@^0.1
    node: payment-link
    config:
      line_items: [{price: price_tee, quantity: 3}]
      metadata: {campaign: spring, wave: 2}
      after_completion: {type: redirect, redirect: {url: "https://example.com/thanks"}}
    credentials: {stripe: stripe-test}
  - id: intent
    uses: wirework/stripe@^0.1
    node: payment-intent
    config: {id: "{{ $trigger.pi }}"}
    credentials: {stripe: stripe-test}
    retry: {max_attempts: 4, initial_delay_ms: 50}
connections: [{from: go, to: link}, {from: link, to: intent}]
"#,
        )
        .await;
    let execution = run(&server, "links", json!([{"pi": declined["id"]}])).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");

    let link = &output(&execution, "link")[0];
    let created = &stripe.payment_links()[0];
    assert_eq!(link["id"], created["id"]);
    assert!(link["id"].as_str().unwrap().starts_with("plink_"));
    assert!(link["url"].as_str().unwrap().starts_with("https://buy.stripe.com/"));
    assert_eq!(
        (link["active"].as_bool(), link["metadata"].clone()),
        (Some(true), json!({"campaign": "spring", "wave": "2"}))
    );
    let post = &stripe.requests_to("POST", "/v1/payment_links")[0];
    assert_stripe_request(post);
    assert_eq!(
        post.params,
        json!({"line_items": [{"price": "price_tee", "quantity": "3"}], "metadata": {"campaign": "spring", "wave": "2"},
            "after_completion": {"type": "redirect", "redirect": {"url": "https://example.com/thanks"}}})
    );

    let intent = &output(&execution, "intent")[0];
    assert_eq!(
        *intent,
        json!({
            "id": declined["id"], "status": "requires_payment_method", "amount": 4200, "amount_received": 0,
            "currency": "usd", "description": "Order 77", "metadata": {"order": "77"}, "customer": "cus_Declined0001",
            "latest_charge": null, "payment_method": declined["payment_method"],
            "last_payment_error": "Your card has insufficient funds.", "last_payment_error_code": "card_declined",
            "decline_code": "insufficient_funds",
        })
    );
    let get = &stripe.requests_to("GET", &format!("/v1/payment_intents/{}", declined["id"].as_str().unwrap()))[0];
    assert_stripe_request(get);
    assert_eq!(get.query, "");

    // An id Stripe does not know: a 404 ends the step at once (no retry) with Stripe's code and message.
    let before = stripe.requests().len();
    let execution = run(&server, "links", json!([{"pi": "pi_3NoSuchIntent00"}])).await;
    assert_eq!(execution["status"], "failed", "{execution:#}");
    let error = &execution["error"];
    assert_eq!(error["node"], "intent", "{error}");
    assert_eq!(error["failure"]["code"], "resource_missing", "{error}");
    assert_eq!(error["failure"]["retryable"], false);
    let message = error["failure"]["message"].as_str().unwrap();
    assert_eq!(
        message,
        "retrieving the PaymentIntent pi_3NoSuchIntent00: Stripe answered HTTP 404: \
         No such payment_intent: 'pi_3NoSuchIntent00' (parameter `intent`)"
    );
    assert!(error["message"].as_str().unwrap().contains(message), "{error}");
    assert_eq!(steps(&execution, "intent").len(), 1, "not retried");
    let gets = stripe.requests()[before..].iter().filter(|r| r.path.starts_with("/v1/payment_intents/")).count();
    assert_eq!(gets, 1);
    server.stop().await;
}

#[tokio::test]
async fn refunds_and_stripes_refusal_of_a_refunded_charge() {
    let Env { stripe, server, _dir } = env().await;
    let paid = stripe.seed_payment_intent(json!({"amount": 2000, "currency": "eur", "customer": "cus_Paid0001"}));
    let charge = paid["latest_charge"].as_str().unwrap().to_string();
    server
        .deploy(
            r#"
id: refunds
triggers: [{id: go, type: manual}]
nodes:
  - id: refund
    uses: wirework/stripe@^0.1
    node: refund
    config:
      payment_intent: "{{ $trigger.pi }}"
      amount: "{{ $trigger.amount }}"
      reason: requested_by_customer
      metadata: {ticket: "{{ $trigger.ticket }}"}
    credentials: {stripe: stripe-test}
    retry: {max_attempts: 3, initial_delay_ms: 50}
connections: [{from: go, to: refund}]
"#,
        )
        .await;

    // Part, then the rest (no amount: all that is left).
    let execution = run(&server, "refunds", json!([{"pi": paid["id"], "amount": 500, "ticket": "T-1"}])).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    let refund = &output(&execution, "refund")[0];
    assert_eq!(refund["id"], stripe.refunds()[0]["id"]);
    assert_eq!(
        (refund["status"].as_str(), refund["amount"].as_i64(), refund["currency"].as_str()),
        (Some("succeeded"), Some(500), Some("eur"))
    );
    assert_eq!(
        (refund["payment_intent"].clone(), refund["charge"].as_str()),
        (paid["id"].clone(), Some(charge.as_str()))
    );
    assert_eq!(
        (refund["reason"].as_str(), refund["metadata"].clone()),
        (Some("requested_by_customer"), json!({"ticket": "T-1"}))
    );
    let post = &stripe.requests_to("POST", "/v1/refunds")[0];
    assert_stripe_request(post);
    assert_eq!(
        post.params,
        json!({"payment_intent": paid["id"], "amount": "500", "reason": "requested_by_customer", "metadata": {"ticket": "T-1"}})
    );
    let execution = run(&server, "refunds", json!([{"pi": paid["id"], "ticket": "T-2"}])).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    assert_eq!(output(&execution, "refund")[0]["amount"], 1500);
    assert_eq!(stripe.charge(&charge).unwrap()["refunded"], true);
    assert_eq!(stripe.requests_to("POST", "/v1/refunds")[1].param("amount"), None);

    // Refunded already: Stripe's 400 ends the execution, not retried, with its code and message.
    let execution = run(&server, "refunds", json!([{"pi": paid["id"], "ticket": "T-3"}])).await;
    assert_eq!(execution["status"], "failed", "{execution:#}");
    let error = &execution["error"];
    assert_eq!(error["node"], "refund");
    assert_eq!(
        (error["failure"]["code"].as_str(), error["failure"]["retryable"].as_bool()),
        (Some("charge_already_refunded"), Some(false))
    );
    assert_eq!(
        error["failure"]["message"],
        format!("creating the refund: Stripe answered HTTP 400: Charge {charge} has already been refunded.")
    );
    assert_eq!(steps(&execution, "refund").len(), 1, "a 4xx is not retried");
    assert_eq!(stripe.requests_to("POST", "/v1/refunds").len(), 3);
    assert_eq!(stripe.refunds().len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn a_429_is_retried_no_sooner_than_its_retry_after() {
    let Env { stripe, server, _dir } = env().await;
    stripe.seed_price("price_tee", 1500, "usd", None);
    server
        .deploy(
            r#"
id: limited
triggers: [{id: go, type: manual}]
nodes:
  - id: link
    uses: wirework/stripe@^0.1
    node: payment-link
    config: {line_items: [{price: price_tee, quantity: 1}]}
    credentials: {stripe: stripe-test}
    retry: {max_attempts: 3, initial_delay_ms: 50}
connections: [{from: go, to: link}]
"#,
        )
        .await;
    stripe.fail_next(429, 1, Some(1));
    let execution = run(&server, "limited", json!([])).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    let requests = stripe.requests_to("POST", "/v1/payment_links");
    assert_eq!(requests.iter().map(|r| r.status).collect::<Vec<_>>(), [429, 200]);
    let waited = requests[1].at.duration_since(requests[0].at);
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}, Stripe said 1 s");
    assert_eq!(requests[0].idempotency_key(), requests[1].idempotency_key());
    let attempts = steps(&execution, "link");
    let failure = &attempts[0]["outcome"]["failed"]["failure"];
    assert_eq!(
        (failure["code"].as_str(), failure["retry_after_ms"].as_u64()),
        (Some("rate_limit"), Some(1000)),
        "{failure}"
    );
    assert_eq!(output(&execution, "link")[0]["id"], stripe.payment_links()[0]["id"]);
    assert_eq!(stripe.payment_links().len(), 1);
    server.stop().await;
}

/// Post a signed event to a workflow's hook.
async fn deliver(server: &TestServer, workflow: &str, event: &Value) -> (u16, Value) {
    let url = format!("{}/hooks/{workflow}/stripe", server.url);
    let (status, body) = json(stripe::deliver(&server.client, &url, event, stripe::WEBHOOK_SECRET).await).await;
    assert_clean(&body.to_string());
    (status, body)
}

#[tokio::test]
async fn the_webhook_starts_executions_for_the_chosen_event_types_only() {
    let Env { stripe, server, _dir } = env().await;
    // A session made through Stripe's API (as the checkout-session node does), then paid by the buyer.
    stripe.seed_price("price_pro", 2500, "eur", None);
    let ann = stripe.seed_customer(json!({"email": "ann@example.com", "name": "Ann Lee"}));
    let create = format!(
        "mode=payment&customer={}&success_url=https%3A%2F%2Fexample.com%2Fthanks&line_items[0][price]=price_pro&line_items[0][quantity]=1",
        ann["id"].as_str().unwrap()
    );
    let created = server
        .client
        .post(format!("{}/v1/checkout/sessions", stripe.base_url()))
        .bearer_auth(stripe::SECRET_KEY)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(create);
    let (status, created) = json(created.send().await.unwrap()).await;
    assert_eq!(status, 200, "{created}");
    let session = stripe.complete_checkout_session(created["id"].as_str().unwrap(), "ann@example.com", "Ann Lee");
    assert_eq!((session["status"].as_str(), session["payment_status"].as_str()), (Some("complete"), Some("paid")));
    let paid = stripe.payment_intent(session["payment_intent"].as_str().unwrap()).expect("paying made a PaymentIntent");
    server
        .deploy(
            r#"
id: paid
triggers:
  - id: hook
    type: webhook
    path: stripe
    uses: wirework/stripe@^0.1
    node: webhook
    mode: async
    config: {events: [checkout.session.completed]}
    credentials: {stripe-webhook: stripe-hook}
nodes:
  - id: payment
    uses: wirework/stripe@^0.1
    node: payment-intent
    config: {id: "{{ $json.object.payment_intent }}"}
    credentials: {stripe: stripe-test}
    retry: {max_attempts: 3, initial_delay_ms: 50}
connections: [{from: hook, to: payment}]
"#,
        )
        .await;
    server
        .deploy(
            r#"
id: dunning
triggers:
  - {id: hook, type: webhook, path: stripe, uses: wirework/stripe@^0.1, node: webhook, config: {events: ["invoice.*"]}, credentials: {stripe-webhook: stripe-hook}}
nodes:
  - {id: seen, uses: wirework/core@^0.1, node: noop}
connections: [{from: hook, to: seen}]
"#,
        )
        .await;

    // A paid checkout: an execution whose trigger item carries the session.
    let event = stripe::event("checkout.session.completed", session.clone());
    let (status, body) = deliver(&server, "paid", &event).await;
    assert_eq!(status, 202, "{body}");
    let execution = server.wait_for(body["execution_id"].as_str().unwrap(), &["succeeded", "failed"]).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    assert_clean(&execution.to_string());
    let trigger = &execution["steps"][0];
    assert_eq!((trigger["step"].as_u64(), trigger["node"].as_str()), (Some(0), Some("hook")));
    let item = &output(&execution, "hook")[0];
    assert_eq!(item["id"], event["id"]);
    assert_eq!(
        (item["type"].as_str(), item["api_version"].as_str()),
        (Some("checkout.session.completed"), Some("2024-06-20"))
    );
    assert_eq!(
        (item["object_id"].clone(), item["object_type"].as_str()),
        (session["id"].clone(), Some("checkout.session"))
    );
    assert_eq!(
        (item["customer"].clone(), item["customer_email"].as_str()),
        (ann["id"].clone(), Some("ann@example.com"))
    );
    assert_eq!(item["object"], session, "data.object as Stripe sent it");
    assert_eq!((item["created"].clone(), item["livemode"].clone()), (event["created"].clone(), json!(false)));
    let payment = &output(&execution, "payment")[0];
    assert_eq!(
        (payment["id"].clone(), payment["amount"].as_i64(), payment["status"].as_str()),
        (paid["id"].clone(), Some(2500), Some("succeeded"))
    );

    // Another type: acknowledged (Stripe would retry anything else for days), nothing started.
    let (status, body) = deliver(&server, "paid", &stripe::invoice_payment_failed("bob@example.com", 2)).await;
    assert_eq!((status, body), (200, json!({"received": true, "ignored": "invoice.payment_failed"})));
    assert_eq!(executions(&server, "paid").await.len(), 1);

    // A prefix: every invoice.* event, the Invoice's email and attempt count on the item.
    let failed = stripe::invoice_payment_failed("bob@example.com", 2);
    let (status, body) = deliver(&server, "dunning", &failed).await;
    assert_eq!(status, 202, "{body}");
    let execution = server.wait_for(body["execution_id"].as_str().unwrap(), &["succeeded", "failed"]).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    let item = &output(&execution, "seen")[0];
    assert_eq!(
        (item["type"].as_str(), item["object_type"].as_str()),
        (Some("invoice.payment_failed"), Some("invoice"))
    );
    assert_eq!(
        (item["customer_email"].as_str(), item["object"]["attempt_count"].as_u64()),
        (Some("bob@example.com"), Some(2))
    );
    assert_eq!(item["customer"], failed["data"]["object"]["customer"]);
    let (status, body) = deliver(&server, "dunning", &stripe::checkout_session_completed("ann@example.com")).await;
    assert_eq!((status, body["ignored"].as_str()), (200, Some("checkout.session.completed")));

    // Signed, but not an event: refused, nothing started.
    let (status, body) = deliver(&server, "dunning", &json!({"hello": "world"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(executions(&server, "dunning").await.len(), 1);
    assert_eq!(
        stripe.requests().len(),
        2,
        "the session made above and the payment-intent node: the trigger calls nobody"
    );
    server.stop().await;
}

#[tokio::test]
async fn webhook_signatures_are_checked_as_stripe_signs_them() {
    let Env { stripe: _stripe, server, _dir } = env().await;
    server
        .deploy(
            r#"
id: hooked
triggers:
  - {id: hook, type: webhook, path: stripe, uses: wirework/stripe@^0.1, node: webhook, credentials: {stripe-webhook: stripe-hook}}
nodes:
  - {id: seen, uses: wirework/core@^0.1, node: noop}
connections: [{from: hook, to: seen}]
"#,
        )
        .await;
    let url = format!("{}/hooks/hooked/stripe", server.url);
    let send = |body: String, signature: Option<String>| {
        let request = stripe::webhook_request(&server.client, &url, &body, signature.as_deref());
        async move { json(request.send().await.unwrap()).await }
    };
    let event = stripe::checkout_session_completed("ann@example.com");
    let body = stripe::body(&event);
    let now = stripe::now();
    let old_secret = "whsec_previousSecretBeingRolled0123456789";

    // While a secret is rolled Stripe signs with both: either v1 may be the one that matches.
    let (status, started) =
        send(body.clone(), Some(stripe::signature_header(body.as_bytes(), now, &[old_secret, stripe::WEBHOOK_SECRET])))
            .await;
    assert_eq!(status, 202, "{started}");
    let execution = server.wait_for(started["execution_id"].as_str().unwrap(), &["succeeded", "failed"]).await;
    assert_eq!(output(&execution, "seen")[0]["id"], event["id"]);
    assert_clean(&execution.to_string());

    let tampered = body.replace("\"amount_total\": 2500", "\"amount_total\": 1");
    assert_ne!(tampered, body);
    let signed = |body: &str, t: i64, secrets: &[&str]| Some(stripe::signature_header(body.as_bytes(), t, secrets));
    let v1 = stripe::signature(body.as_bytes(), stripe::WEBHOOK_SECRET, now);
    let stale = now - stripe::TOLERANCE_SECS - 1;
    let ahead = now + stripe::TOLERANCE_SECS + 1;
    let refused = [
        (
            "the old secret only",
            body.clone(),
            signed(&body, now, &[old_secret]),
            "signature does not match".to_string(),
        ),
        (
            "another secret",
            body.clone(),
            Some(stripe::sign(body.as_bytes(), "whsec_notThisEndpoints")),
            "signature does not match".into(),
        ),
        ("a tampered body", tampered, signed(&body, now, &[stripe::WEBHOOK_SECRET]), "signature does not match".into()),
        (
            "stale by 301 s",
            body.clone(),
            signed(&body, stale, &[stripe::WEBHOOK_SECRET]),
            "s old (tolerance 300 s)".into(),
        ),
        (
            "301 s ahead",
            body.clone(),
            signed(&body, ahead, &[stripe::WEBHOOK_SECRET]),
            "s in the future (tolerance 300 s)".into(),
        ),
        ("no header", body.clone(), None, "signature: `Stripe-Signature` is missing".into()),
        ("no v1", body.clone(), Some(format!("t={now}")), "signature: `v1` is missing".into()),
        ("v0 only", body.clone(), Some(format!("t={now},v0={v1}")), "signature: `v1` is missing".into()),
        ("not a timestamp", body.clone(), Some(format!("t=soon,v1={v1}")), "signature: `t` is malformed".into()),
    ];
    for (what, body, signature, says) in refused {
        let (status, answer) = send(body, signature).await;
        assert_eq!(status, 401, "{what}: {answer}");
        assert!(answer["error"].as_str().is_some_and(|e| e.contains(&says)), "{what}: {answer} should say {says}");
        assert_clean(&answer.to_string());
    }
    let (status, _) = json(server.client.get(&url).send().await.unwrap()).await;
    assert_eq!(status, 405, "Stripe sends POST");
    let listed = executions(&server, "hooked").await;
    assert_eq!(listed.len(), 1, "only the signed delivery started anything: {listed:?}");
    server.stop().await;
}

#[tokio::test]
async fn no_credential_value_reaches_a_record_or_an_answer() {
    let Env { stripe, server, _dir } = env().await;
    let wrong =
        json!({"type": "wirework/stripe:stripe", "fields": {"secret_key": WRONG_KEY, "base_url": stripe.base_url()}});
    put_credential(&server, "stripe-rolled", &wrong).await;
    server
        .deploy(
            r#"
id: lookup
triggers: [{id: go, type: manual}]
nodes:
  - id: find
    uses: wirework/stripe@^0.1
    node: customer
    config: {email: "{{ $json.email }}"}
    credentials: {stripe: stripe-rolled}
    retry: {max_attempts: 3, initial_delay_ms: 50}
connections: [{from: go, to: find}]
"#,
        )
        .await;
    // A refused key: Stripe's 401 ends the step at once, naming the key only masked.
    let execution = run(&server, "lookup", json!([{"email": "ann@example.com"}])).await;
    assert_eq!(execution["status"], "failed", "{execution:#}");
    let failure = &execution["error"]["failure"];
    assert_eq!(
        (failure["code"].as_str(), failure["retryable"].as_bool()),
        (Some("invalid_request_error"), Some(false))
    );
    let message = failure["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "looking up the Stripe customer ann@example.com: Stripe answered HTTP 401: Invalid API Key provided: sk_test_****"
        ),
        "{message}"
    );
    let requests = stripe.requests();
    assert_eq!(requests.len(), 1, "not retried");
    assert_eq!(
        requests[0].header("authorization"),
        Some(format!("Bearer {WRONG_KEY}").as_str()),
        "the host sent the bound key"
    );

    // Nothing the API answers holds a value: credentials, workflows, executions, plugins.
    let id = execution["id"].as_str().unwrap();
    for path in ["/credentials", "/workflows/lookup", &format!("/executions/{id}"), "/executions", "/plugins"] {
        let text = server.api(Method::GET, path).send().await.unwrap().text().await.unwrap();
        assert_clean(&text);
    }
    server.stop().await;
}
