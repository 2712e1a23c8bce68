//! Native tests against a fake host: the exact requests, the outputs, the
//! errors, and the webhook's signature checks.

use super::*;
use serde_json::json;
use wirework_sdk::signature::hmac_sha256_hex;
use wirework_sdk::testing::{FakeHost, Reply, SentRequest};
use wirework_sdk::{Request, TriggerResult};

const KEY: &str = "sk_test_51NzQmBExampleSecretKey0123456789";
const WHSEC: &str = "whsec_test_NewSigningSecret0123456789";
const OLD_WHSEC: &str = "whsec_test_OldSigningSecret9876543210";
const API: &str = "https://api.stripe.com";
/// FakeHost's clock, 2026-01-01T00:00:00Z, in seconds.
const NOW: i64 = 1_767_225_600;

fn api_host() -> FakeHost {
    FakeHost::new().credential("stripe", &[("secret_key", KEY)])
}

fn host_at(base_url: &str) -> FakeHost {
    FakeHost::new().credential("stripe", &[("secret_key", KEY), ("base_url", base_url)])
}

fn stripe_error(status: u16, headers: &[(&str, &str)], error: Value) -> Reply {
    let mut all = vec![("content-type", "application/json"), ("request-id", "req_123")];
    all.extend_from_slice(headers);
    Reply::with(status, &all, &json!({ "error": error }).to_string())
}

fn pairs(request: &SentRequest) -> Vec<(String, String)> {
    request.form()
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Every API request: the host's bearer credential and the pinned version.
fn assert_api_headers(request: &SentRequest) {
    assert_eq!(request.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(request.header("stripe-version"), Some(STRIPE_VERSION));
    assert_eq!(STRIPE_VERSION, "2024-06-20");
}

fn assert_post(request: &SentRequest, url: &str, idempotency_key: &str) {
    assert_eq!(request.method, "POST");
    assert_eq!(request.url, url);
    assert_api_headers(request);
    assert_eq!(request.header("content-type"), Some("application/x-www-form-urlencoded"));
    assert_eq!(request.header("idempotency-key"), Some(idempotency_key));
}

fn assert_get(request: &SentRequest, url: &str) {
    assert_eq!(request.method, "GET");
    assert_eq!(request.url, url);
    assert_api_headers(request);
    assert_eq!(request.header("idempotency-key"), None);
    assert!(request.body.is_empty());
}

/// Nothing of the credential in the error nor the logs.
fn assert_no_secret(host: &FakeHost, error: &NodeError) {
    assert!(!error.message.contains(KEY), "{}", error.message);
    assert!(!error.message.contains("NewSigningSecret"), "{}", error.message);
    for (_, line) in host.logs() {
        assert!(!line.contains(KEY) && !line.contains("SigningSecret"), "{line}");
    }
}

fn items(outcome: Outcome) -> Vec<Value> {
    match outcome {
        Outcome::Emit(ports) => {
            assert_eq!(ports.len(), 1);
            assert_eq!(ports[0].0, "main");
            ports.into_iter().next().unwrap().1
        }
        other => panic!("expected items, got {other:?}"),
    }
}

fn customer_json(id: &str, email: &str) -> Value {
    json!({
        "id": id, "object": "customer", "email": email, "name": "Ann Lee", "phone": null,
        "description": null, "metadata": {"source": "form"}, "created": 1_700_000_000, "livemode": false,
        "balance": 0, "invoice_settings": {"default_payment_method": null}
    })
}

fn list(data: Vec<Value>, has_more: bool) -> Reply {
    Reply::json(200, json!({"object": "list", "url": "/v1/customers", "has_more": has_more, "data": data}))
}

// ---------------------------------------------------------------------------
// customer

#[test]
fn customer_found_by_email_is_not_created() {
    let host = host_at("http://127.0.0.1:12111/").expect(
        "GET",
        "http://127.0.0.1:12111/v1/customers?email=ann%40example.com&limit=100",
        list(vec![customer_json("cus_1", "ann@example.com")], false),
    );
    let out = items(host.run::<Customer>(json!({"email": " ann@example.com ", "name": "Ann"}), vec![]).unwrap());
    assert_eq!(
        out,
        vec![json!({
            "id": "cus_1", "email": "ann@example.com", "name": "Ann Lee", "phone": null, "description": null,
            "metadata": {"source": "form"}, "created_at": 1_700_000_000, "created": false
        })]
    );
    assert_get(&host.requests()[0], "http://127.0.0.1:12111/v1/customers?email=ann%40example.com&limit=100");
    host.assert_done();
}

#[test]
fn customer_not_found_is_created_once_per_item_with_its_own_key() {
    let search = format!("{API}/v1/customers?email=ann%2Bvip%40example.com&limit=100");
    let created = |id: &str| Reply::json(200, customer_json(id, "ann+vip@example.com"));
    let host = api_host()
        .expect("GET", &search, list(vec![], false))
        .expect("POST", &format!("{API}/v1/customers"), created("cus_new0"))
        .expect("GET", &search, list(vec![], false))
        .expect("POST", &format!("{API}/v1/customers"), created("cus_new1"));
    let config = json!({
        "email": "ann+vip@example.com", "name": "Ann Lee", "phone": "+15555550100", "description": "",
        "metadata": {"source": "landing page", "score": 12}, "extra": {"preferred_locales": ["en", "nl"], "name": "overridden"}
    });
    let out = items(host.run::<Customer>(config, vec![json!({"a": 1}), json!({"a": 2})]).unwrap());
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["id"], "cus_new0");
    assert_eq!(out[0]["created"], true);
    assert_eq!(out[1]["id"], "cus_new1");
    assert!(out[0].get("a").is_none(), "input fields are not merged");
    let sent = host.requests();
    assert_get(&sent[0], &search);
    assert_post(&sent[1], &format!("{API}/v1/customers"), "test-execution:1-0");
    assert_post(&sent[3], &format!("{API}/v1/customers"), "test-execution:1-1");
    assert_eq!(
        pairs(&sent[1]),
        owned(&[
            ("email", "ann+vip@example.com"),
            ("metadata[score]", "12"),
            ("metadata[source]", "landing page"),
            ("name", "Ann Lee"),
            ("phone", "+15555550100"),
            ("preferred_locales[0]", "en"),
            ("preferred_locales[1]", "nl"),
        ])
    );
    // The wire form: literal brackets, `+` and `@` escaped.
    let body = String::from_utf8(sent[1].body.clone()).unwrap();
    assert!(body.starts_with("email=ann%2Bvip%40example.com&metadata[score]=12&"), "{body}");
    host.assert_done();
}

#[test]
fn customer_search_follows_starting_after_until_a_match() {
    let base = format!("{API}/v1/customers?email=ann%40example.com&limit=100");
    // A test server that ignores the filter: the node still checks the email.
    let host = api_host()
        .expect(
            "GET",
            &base,
            list(vec![customer_json("cus_a", "bob@example.com"), customer_json("cus_b", "eve@example.com")], true),
        )
        .expect(
            "GET",
            &format!("{base}&starting_after=cus_b"),
            list(vec![customer_json("cus_c", "cy@example.com")], true),
        )
        .expect(
            "GET",
            &format!("{base}&starting_after=cus_c"),
            list(vec![customer_json("cus_d", "ANN@example.com"), customer_json("cus_e", "ann@example.com")], true),
        );
    let out = items(host.run::<Customer>(json!({"email": "ann@example.com"}), vec![]).unwrap());
    assert_eq!(out[0]["id"], "cus_d", "the first match wins");
    assert_eq!(out[0]["created"], false);
    host.assert_done();
}

#[test]
fn customer_search_that_runs_out_of_pages_creates() {
    let base = format!("{API}/v1/customers?email=ann%40example.com&limit=100");
    let host = api_host()
        .expect("GET", &base, list(vec![customer_json("cus_a", "bob@example.com")], true))
        .expect("GET", &format!("{base}&starting_after=cus_a"), list(vec![], false))
        .expect("POST", &format!("{API}/v1/customers"), Reply::json(200, customer_json("cus_n", "ann@example.com")));
    let out = items(host.run::<Customer>(json!({"email": "ann@example.com"}), vec![]).unwrap());
    assert_eq!(out[0]["created"], true);
    assert_eq!(pairs(&host.requests()[2]), owned(&[("email", "ann@example.com")]));
    host.assert_done();
}

#[test]
fn customer_config_is_checked() {
    let host = api_host();
    let err = host.run::<Customer>(json!({"email": "  "}), vec![]).unwrap_err();
    assert_eq!(err.code.as_deref(), Some("bad_config"));
    let err = host.run::<Customer>(json!({"name": "x"}), vec![]).unwrap_err();
    assert_eq!(err.code.as_deref(), Some("bad_config"));
    let err = host.run::<Customer>(json!({"email": "a@b.c", "nmae": "x"}), vec![]).unwrap_err();
    assert!(err.message.contains("unknown field"), "{}", err.message);
    assert!(host.requests().is_empty());
}

#[test]
fn customer_rate_limited_is_retryable_after_retry_after() {
    let host = api_host().expect(
        "GET",
        &format!("{API}/v1/customers?email=ann%40example.com&limit=100"),
        stripe_error(
            429,
            &[("retry-after", "2")],
            json!({"type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests made to the API too quickly"}),
        ),
    );
    let err = host.run::<Customer>(json!({"email": "ann@example.com"}), vec![]).unwrap_err();
    assert!(err.retryable);
    assert_eq!(err.retry_after_ms, Some(2000));
    assert_eq!(err.code.as_deref(), Some("rate_limit"));
    assert_eq!(
        err.message,
        "looking up the Stripe customer ann@example.com: Stripe answered HTTP 429: Too many requests made to the API too quickly"
    );
    assert_no_secret(&host, &err);
}

#[test]
fn customer_create_server_error_is_retryable() {
    let host = api_host()
        .expect("GET", &format!("{API}/v1/customers?email=ann%40example.com&limit=100"), list(vec![], false))
        .expect(
            "POST",
            &format!("{API}/v1/customers"),
            stripe_error(500, &[], json!({"type": "api_error", "message": "Something went wrong on Stripe's end."})),
        );
    let err = host.run::<Customer>(json!({"email": "ann@example.com"}), vec![]).unwrap_err();
    assert!(err.retryable);
    assert_eq!(err.retry_after_ms, None);
    assert_eq!(err.code.as_deref(), Some("api_error"), "the type when there is no code");
    assert!(err.message.starts_with("creating the Stripe customer: Stripe answered HTTP 500: Something went wrong"));
}

#[test]
fn customer_bad_request_is_fatal_with_stripes_message_and_code() {
    let host = api_host()
        .expect("GET", &format!("{API}/v1/customers?email=ann%40example.com&limit=100"), list(vec![], false))
        .expect(
            "POST",
            &format!("{API}/v1/customers"),
            stripe_error(
                400,
                &[],
                json!({"type": "invalid_request_error", "code": "parameter_invalid_string", "param": "phone",
                       "message": "Invalid string: 123456...; must be at most 20 characters"}),
            ),
        );
    let err = host
        .run::<Customer>(json!({"email": "ann@example.com", "phone": "1234567890123456789012"}), vec![])
        .unwrap_err();
    assert!(!err.retryable);
    assert_eq!(err.code.as_deref(), Some("parameter_invalid_string"));
    assert_eq!(
        err.message,
        "creating the Stripe customer: Stripe answered HTTP 400: Invalid string: 123456...; must be at most 20 characters (parameter `phone`)"
    );
}

#[test]
fn an_invalid_key_is_fatal_and_the_key_shows_nowhere() {
    let host = api_host().expect(
        "GET",
        &format!("{API}/v1/customers?email=ann%40example.com&limit=100"),
        stripe_error(
            401,
            &[],
            json!({"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****6789"}),
        ),
    );
    let err = host.run::<Customer>(json!({"email": "ann@example.com"}), vec![]).unwrap_err();
    assert!(!err.retryable);
    assert_eq!(err.code.as_deref(), Some("invalid_request_error"));
    assert!(err.message.contains("HTTP 401: Invalid API Key provided"), "{}", err.message);
    assert_no_secret(&host, &err);
}

#[test]
fn a_network_failure_is_retryable_and_says_what_was_asked() {
    let host = api_host().expect(
        "GET",
        &format!("{API}/v1/customers?email=ann%40example.com&limit=100"),
        Reply::Fail("timed out".into()),
    );
    let err = host.run::<Customer>(json!({"email": "ann@example.com"}), vec![]).unwrap_err();
    assert!(err.retryable);
    assert_eq!(err.code.as_deref(), Some("http_failed"));
    assert_eq!(err.message, "looking up the Stripe customer ann@example.com: timed out");
}

#[test]
fn without_a_bound_credential_nothing_is_sent() {
    let host = FakeHost::new();
    let err = host.run::<Customer>(json!({"email": "ann@example.com"}), vec![]).unwrap_err();
    assert_eq!(err.code.as_deref(), Some("credential_missing"));
    assert!(host.requests().is_empty());
}

// ---------------------------------------------------------------------------
// checkout-session

fn session_json() -> Value {
    json!({
        "id": "cs_test_a1", "object": "checkout.session", "url": "https://checkout.stripe.com/c/pay/cs_test_a1",
        "status": "open", "payment_status": "unpaid", "mode": "payment", "customer": null,
        "customer_email": "ann@example.com", "client_reference_id": "cart_42", "amount_total": 4500,
        "currency": "usd", "expires_at": 1_767_312_000, "metadata": {"cart": "42"}, "payment_intent": null,
        "subscription": null, "line_items": null, "success_url": "https://shop.example/thanks"
    })
}

#[test]
fn checkout_session_request_and_output() {
    let host = host_at("https://stripe-proxy.example.com///").expect(
        "POST",
        "https://stripe-proxy.example.com/v1/checkout/sessions",
        Reply::json(200, session_json()),
    );
    let config = json!({
        "mode": "payment",
        "line_items": [
            {"price": "price_1PgafmB7WZ01zgkW", "quantity": 2},
            {"price_data": {"currency": "usd", "unit_amount": 500, "product_data": {"name": "Gift wrap"}}, "quantity": 1}
        ],
        "customer_email": "ann@example.com",
        "success_url": "https://shop.example/thanks?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://shop.example/cart",
        "client_reference_id": "cart_42",
        "customer": "",
        "metadata": {"cart": "42"},
        "extra": {"allow_promotion_codes": true, "mode": "subscription"}
    });
    let out = items(host.run::<CheckoutSession>(config, vec![json!({"cart": 42})]).unwrap());
    assert_eq!(
        out,
        vec![json!({
            "id": "cs_test_a1", "url": "https://checkout.stripe.com/c/pay/cs_test_a1", "status": "open",
            "payment_status": "unpaid", "mode": "payment", "customer": null, "customer_email": "ann@example.com",
            "client_reference_id": "cart_42", "amount_total": 4500, "currency": "usd", "expires_at": 1_767_312_000,
            "metadata": {"cart": "42"}, "payment_intent": null, "subscription": null
        })]
    );
    let sent = host.requests();
    assert_eq!(sent.len(), 1);
    assert_post(&sent[0], "https://stripe-proxy.example.com/v1/checkout/sessions", "test-execution:1-0");
    assert_eq!(
        pairs(&sent[0]),
        owned(&[
            ("allow_promotion_codes", "true"),
            ("cancel_url", "https://shop.example/cart"),
            ("client_reference_id", "cart_42"),
            ("customer_email", "ann@example.com"),
            ("line_items[0][price]", "price_1PgafmB7WZ01zgkW"),
            ("line_items[0][quantity]", "2"),
            ("line_items[1][price_data][currency]", "usd"),
            ("line_items[1][price_data][product_data][name]", "Gift wrap"),
            ("line_items[1][price_data][unit_amount]", "500"),
            ("line_items[1][quantity]", "1"),
            ("metadata[cart]", "42"),
            ("mode", "payment"),
            ("success_url", "https://shop.example/thanks?session={CHECKOUT_SESSION_ID}"),
        ])
    );
    let body = String::from_utf8(sent[0].body.clone()).unwrap();
    assert!(body.contains("&line_items[1][price_data][product_data][name]=Gift+wrap&"), "{body}");
    host.assert_done();
}

#[test]
fn checkout_session_with_customer_and_expanded_ids() {
    let mut session = session_json();
    session["customer"] = json!({"id": "cus_9", "object": "customer"});
    session["subscription"] = json!("sub_1");
    let host = api_host().expect("POST", &format!("{API}/v1/checkout/sessions"), Reply::json(200, session));
    let config = json!({"mode": "subscription", "line_items": [{"price": "price_m", "quantity": 1}], "customer": "cus_9",
                        "success_url": "https://x.example/ok"});
    let out = items(host.run::<CheckoutSession>(config, vec![]).unwrap());
    assert_eq!(out[0]["customer"], "cus_9");
    assert_eq!(out[0]["subscription"], "sub_1");
    let form = pairs(&host.requests()[0]);
    assert!(form.contains(&("customer".into(), "cus_9".into())));
    assert!(form.contains(&("mode".into(), "subscription".into())));
    assert!(!form.iter().any(|(k, _)| k == "customer_email"));
}

#[test]
fn checkout_session_config_is_checked() {
    let host = api_host();
    let cases = [
        (json!({"mode": "payment"}), "needs `line_items`"),
        (json!({"mode": "payment", "line_items": [{"quantity": 1}]}), "line_items[0] needs `price` or `price_data`"),
        (
            json!({"mode": "payment", "line_items": [{"price": "p"}], "customer": "cus_1", "customer_email": "a@b.c"}),
            "not both",
        ),
        (json!({"mode": "donation", "line_items": [{"price": "p"}]}), "unknown variant"),
    ];
    for (config, expected) in cases {
        let err = host.run::<CheckoutSession>(config, vec![]).unwrap_err();
        assert_eq!(err.code.as_deref(), Some("bad_config"));
        assert!(err.message.contains(expected), "{} / {expected}", err.message);
    }
    assert!(host.requests().is_empty());
    // Setup mode takes no line items.
    let host = api_host().expect("POST", &format!("{API}/v1/checkout/sessions"), Reply::json(200, session_json()));
    host.run::<CheckoutSession>(json!({"mode": "setup", "customer": "cus_1", "success_url": "https://x/ok"}), vec![])
        .unwrap();
    assert_eq!(
        pairs(&host.requests()[0]),
        owned(&[("customer", "cus_1"), ("mode", "setup"), ("success_url", "https://x/ok")])
    );
}

#[test]
fn checkout_session_unknown_price_is_fatal_with_param() {
    let host = api_host().expect(
        "POST",
        &format!("{API}/v1/checkout/sessions"),
        stripe_error(
            400,
            &[("stripe-should-retry", "false")],
            json!({"type": "invalid_request_error", "code": "resource_missing", "param": "line_items[0][price]",
                   "message": "No such price: 'price_nope'"}),
        ),
    );
    let err = host
        .run::<CheckoutSession>(
            json!({"mode": "payment", "line_items": [{"price": "price_nope", "quantity": 1}]}),
            vec![],
        )
        .unwrap_err();
    assert!(!err.retryable);
    assert_eq!(err.code.as_deref(), Some("resource_missing"));
    assert_eq!(
        err.message,
        "creating the Checkout Session: Stripe answered HTTP 400: No such price: 'price_nope' (parameter `line_items[0][price]`)"
    );
}

#[test]
fn stripe_should_retry_overrides_the_status() {
    // A 409 idempotency lock: Stripe says retry.
    let host = api_host().expect(
        "POST",
        &format!("{API}/v1/checkout/sessions"),
        stripe_error(
            409,
            &[("Stripe-Should-Retry", "true"), ("Retry-After", "1")],
            json!({"type": "invalid_request_error", "code": "lock_timeout", "message": "This object cannot be accessed right now"}),
        ),
    );
    let config = json!({"mode": "payment", "line_items": [{"price": "p", "quantity": 1}]});
    let err = host.run::<CheckoutSession>(config.clone(), vec![]).unwrap_err();
    assert!(err.retryable);
    assert_eq!(err.retry_after_ms, Some(1000));
    assert_eq!(err.code.as_deref(), Some("lock_timeout"));
    // A 500 Stripe says not to retry.
    let host = api_host().expect(
        "POST",
        &format!("{API}/v1/checkout/sessions"),
        stripe_error(
            500,
            &[("stripe-should-retry", "false"), ("retry-after", "5")],
            json!({"type": "api_error", "message": "An unknown error occurred"}),
        ),
    );
    let err = host.run::<CheckoutSession>(config, vec![]).unwrap_err();
    assert!(!err.retryable);
    assert_eq!(err.retry_after_ms, None);
}

// ---------------------------------------------------------------------------
// payment-link

#[test]
fn payment_link_request_and_output() {
    let link = json!({"id": "plink_1", "object": "payment_link", "url": "https://buy.stripe.com/test_abc",
                      "active": true, "metadata": {"campaign": "spring"}, "livemode": false});
    let host = api_host().expect("POST", &format!("{API}/v1/payment_links"), Reply::json(200, link.clone())).expect(
        "POST",
        &format!("{API}/v1/payment_links"),
        Reply::json(200, link),
    );
    let config = json!({
        "line_items": [{"price": "price_abc", "quantity": 3, "adjustable_quantity": {"enabled": true, "maximum": 10}}],
        "metadata": {"campaign": "spring"},
        "after_completion": {"type": "redirect", "redirect": {"url": "https://shop.example/done"}}
    });
    let out = items(host.run::<PaymentLink>(config, vec![json!({}), json!({})]).unwrap());
    assert_eq!(
        out,
        vec![
            json!({"id": "plink_1", "url": "https://buy.stripe.com/test_abc", "active": true, "metadata": {"campaign": "spring"}});
            2
        ]
    );
    let sent = host.requests();
    assert_post(&sent[0], &format!("{API}/v1/payment_links"), "test-execution:1-0");
    assert_post(&sent[1], &format!("{API}/v1/payment_links"), "test-execution:1-1");
    assert_eq!(
        pairs(&sent[0]),
        owned(&[
            ("after_completion[redirect][url]", "https://shop.example/done"),
            ("after_completion[type]", "redirect"),
            ("line_items[0][adjustable_quantity][enabled]", "true"),
            ("line_items[0][adjustable_quantity][maximum]", "10"),
            ("line_items[0][price]", "price_abc"),
            ("line_items[0][quantity]", "3"),
            ("metadata[campaign]", "spring"),
        ])
    );
    host.assert_done();
}

#[test]
fn payment_link_config_is_checked() {
    let host = api_host();
    for (config, expected) in [
        (json!({"line_items": []}), "`line_items` is empty"),
        (json!({"line_items": [{"price_data": {"currency": "usd"}}]}), "line_items[0] needs `price`"),
        (json!({"line_items": [{"price": "p"}], "after_completion": "redirect"}), "must be an object"),
        (json!({}), "missing field `line_items`"),
    ] {
        let err = host.run::<PaymentLink>(config, vec![]).unwrap_err();
        assert_eq!(err.code.as_deref(), Some("bad_config"));
        assert!(err.message.contains(expected), "{}", err.message);
    }
    assert!(host.requests().is_empty());
}

#[test]
fn payment_link_server_error_is_retryable() {
    let host =
        api_host().expect("POST", &format!("{API}/v1/payment_links"), Reply::with(503, &[], "upstream unavailable"));
    let err = host.run::<PaymentLink>(json!({"line_items": [{"price": "p", "quantity": 1}]}), vec![]).unwrap_err();
    assert!(err.retryable);
    assert_eq!(err.code.as_deref(), Some("http_503"));
    assert_eq!(err.message, "creating the Payment Link: Stripe answered HTTP 503: upstream unavailable");
}

// ---------------------------------------------------------------------------
// payment-intent

#[test]
fn payment_intent_is_retrieved_with_its_last_error() {
    let intent = json!({
        "id": "pi_3MtwBw", "object": "payment_intent", "status": "requires_payment_method", "amount": 2000,
        "amount_received": 0, "currency": "eur", "customer": {"id": "cus_7", "object": "customer"},
        "description": null, "metadata": {}, "latest_charge": "ch_1", "payment_method": null,
        "client_secret": "pi_3MtwBw_secret_abc",
        "last_payment_error": {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
                               "message": "Your card has insufficient funds."}
    });
    let host = host_at("http://localhost:12111").expect(
        "GET",
        "http://localhost:12111/v1/payment_intents/pi_3MtwBw",
        Reply::json(200, intent),
    );
    let out = items(host.run::<PaymentIntent>(json!({"id": " pi_3MtwBw "}), vec![]).unwrap());
    assert_eq!(
        out,
        vec![json!({
            "id": "pi_3MtwBw", "status": "requires_payment_method", "amount": 2000, "amount_received": 0,
            "currency": "eur", "description": null, "metadata": {}, "customer": "cus_7", "latest_charge": "ch_1",
            "payment_method": null, "last_payment_error": "Your card has insufficient funds.",
            "last_payment_error_code": "card_declined", "decline_code": "insufficient_funds"
        })]
    );
    assert_get(&host.requests()[0], "http://localhost:12111/v1/payment_intents/pi_3MtwBw");
    assert_eq!(host.requests()[0].header("content-type"), None);
}

#[test]
fn payment_intent_without_error_has_nulls() {
    let intent = json!({"id": "pi_ok", "status": "succeeded", "amount": 500, "currency": "usd", "customer": "cus_1",
                        "last_payment_error": null});
    let host = api_host().expect("GET", &format!("{API}/v1/payment_intents/pi_ok"), Reply::json(200, intent));
    let out = items(host.run::<PaymentIntent>(json!({"id": "pi_ok"}), vec![]).unwrap());
    assert_eq!(out[0]["status"], "succeeded");
    assert_eq!(out[0]["customer"], "cus_1");
    assert_eq!(out[0]["last_payment_error"], Value::Null);
    assert_eq!(out[0]["decline_code"], Value::Null);
}

#[test]
fn payment_intent_missing_is_fatal_resource_missing() {
    let host = api_host().expect(
        "GET",
        &format!("{API}/v1/payment_intents/pi_gone"),
        stripe_error(
            404,
            &[],
            json!({"type": "invalid_request_error", "code": "resource_missing", "param": "intent",
                   "message": "No such payment_intent: 'pi_gone'"}),
        ),
    );
    let err = host.run::<PaymentIntent>(json!({"id": "pi_gone"}), vec![]).unwrap_err();
    assert!(!err.retryable);
    assert_eq!(err.code.as_deref(), Some("resource_missing"));
    assert_eq!(
        err.message,
        "retrieving the PaymentIntent pi_gone: Stripe answered HTTP 404: No such payment_intent: 'pi_gone' (parameter `intent`)"
    );
    assert_no_secret(&host, &err);
}

#[test]
fn payment_intent_id_must_be_an_id() {
    let host = api_host();
    for id in ["", "pi_1/../../v1/customers", "pi 1", "pi_1?expand[]=x"] {
        let err = host.run::<PaymentIntent>(json!({ "id": id }), vec![]).unwrap_err();
        assert_eq!(err.code.as_deref(), Some("bad_config"), "{id}");
    }
    assert!(host.requests().is_empty());
}

// ---------------------------------------------------------------------------
// refund

#[test]
fn refund_request_and_output() {
    let refund = json!({"id": "re_1", "object": "refund", "status": "succeeded", "amount": 1000, "currency": "usd",
                        "payment_intent": "pi_1", "charge": "ch_1", "reason": "requested_by_customer",
                        "metadata": {"ticket": "T-9"}});
    let host = api_host().expect("POST", &format!("{API}/v1/refunds"), Reply::json(200, refund));
    let config = json!({"payment_intent": "pi_1", "amount": 1000, "reason": "requested_by_customer",
                        "metadata": {"ticket": "T-9"}, "charge": " "});
    let out = items(host.run::<Refund>(config, vec![]).unwrap());
    assert_eq!(
        out,
        vec![json!({"id": "re_1", "status": "succeeded", "amount": 1000, "currency": "usd",
                    "reason": "requested_by_customer", "metadata": {"ticket": "T-9"}, "payment_intent": "pi_1",
                    "charge": "ch_1"})]
    );
    let sent = host.requests();
    assert_post(&sent[0], &format!("{API}/v1/refunds"), "test-execution:1-0");
    assert_eq!(
        pairs(&sent[0]),
        owned(&[
            ("amount", "1000"),
            ("metadata[ticket]", "T-9"),
            ("payment_intent", "pi_1"),
            ("reason", "requested_by_customer"),
        ])
    );
}

#[test]
fn refund_of_a_charge_in_full() {
    let refund = json!({"id": "re_2", "status": "pending", "amount": 4500, "currency": "usd", "payment_intent": null,
                        "charge": "ch_9"});
    let host = api_host().expect("POST", &format!("{API}/v1/refunds"), Reply::json(200, refund));
    let out = items(host.run::<Refund>(json!({"charge": "ch_9"}), vec![]).unwrap());
    assert_eq!(out[0]["status"], "pending");
    assert_eq!(out[0]["payment_intent"], Value::Null);
    assert_eq!(pairs(&host.requests()[0]), owned(&[("charge", "ch_9")]));
}

#[test]
fn refund_config_is_checked() {
    let host = api_host();
    for (config, expected) in [
        (json!({}), "exactly one of"),
        (json!({"payment_intent": "pi_1", "charge": "ch_1"}), "exactly one of"),
        (json!({"payment_intent": "pi_1", "amount": 0}), "at least 1"),
        (json!({"payment_intent": "pi_1", "amount": -5}), "invalid value"),
        (json!({"payment_intent": "pi_1", "reason": "changed_mind"}), "unknown variant"),
    ] {
        let err = host.run::<Refund>(config, vec![]).unwrap_err();
        assert_eq!(err.code.as_deref(), Some("bad_config"));
        assert!(err.message.contains(expected), "{} / {expected}", err.message);
    }
    assert!(host.requests().is_empty());
}

#[test]
fn refund_already_refunded_is_fatal() {
    let host = api_host().expect(
        "POST",
        &format!("{API}/v1/refunds"),
        stripe_error(
            400,
            &[],
            json!({"type": "invalid_request_error", "code": "charge_already_refunded",
                   "message": "Charge ch_1 has already been refunded."}),
        ),
    );
    let err = host.run::<Refund>(json!({"payment_intent": "pi_1"}), vec![]).unwrap_err();
    assert!(!err.retryable);
    assert_eq!(err.code.as_deref(), Some("charge_already_refunded"));
    assert_eq!(err.message, "creating the refund: Stripe answered HTTP 400: Charge ch_1 has already been refunded.");
}

#[test]
fn card_errors_are_fatal_with_the_decline_code() {
    let host = api_host().expect(
        "POST",
        &format!("{API}/v1/refunds"),
        stripe_error(
            402,
            &[],
            json!({"type": "card_error", "code": "card_declined", "decline_code": "do_not_honor",
                   "message": "Your card was declined."}),
        ),
    );
    let err = host.run::<Refund>(json!({"charge": "ch_1"}), vec![]).unwrap_err();
    assert!(!err.retryable);
    assert_eq!(err.code.as_deref(), Some("card_declined"));
    assert_eq!(
        err.message,
        "creating the refund: Stripe answered HTTP 402: Your card was declined. (decline code `do_not_honor`)"
    );
}

#[test]
fn api_error_reads_stripes_body_and_headers() {
    let response = |status: u16, headers: &[(&str, &str)], body: &str| Response {
        status,
        headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        body: body.as_bytes().to_vec(),
    };
    let e = api_error("x", &response(408, &[], ""));
    assert!(e.retryable);
    assert_eq!((e.code.as_deref(), e.message.as_str()), (Some("http_408"), "x: Stripe answered HTTP 408"));
    let e = api_error(
        "x",
        &response(429, &[("Retry-After", " 30 ")], "{\"error\": {\"type\": \"invalid_request_error\"}}"),
    );
    assert_eq!((e.retryable, e.retry_after_ms), (true, Some(30_000)));
    assert_eq!(e.message, "x: Stripe answered HTTP 429: (no message)");
    let e = api_error("x", &response(400, &[("retry-after", "30")], "{\"error\": \"nope\"}"));
    assert_eq!((e.retryable, e.retry_after_ms), (false, None));
    assert_eq!(e.message, "x: Stripe answered HTTP 400: {\"error\": \"nope\"}");
    let e =
        api_error("x", &response(502, &[("retry-after", "Wed, 21 Oct 2026 07:28:00 GMT")], "<html>bad gateway</html>"));
    assert_eq!((e.retryable, e.retry_after_ms), (true, None));
    let long = "y".repeat(1000);
    assert!(api_error("x", &response(400, &[], &long)).message.len() < 400);
}

// ---------------------------------------------------------------------------
// list-customers

fn customers(from: usize, count: usize) -> Vec<Value> {
    (from..from + count).map(|i| customer_json(&format!("cus_{i}"), &format!("c{i}@example.com"))).collect()
}

#[test]
fn list_customers_paginates_up_to_the_limit() {
    let base = format!("{API}/v1/customers?created[gte]=1700000000&created[lt]=1767225600");
    let host = api_host()
        .expect("GET", &format!("{base}&limit=100"), list(customers(0, 100), true))
        .expect("GET", &format!("{base}&limit=100&starting_after=cus_99"), list(customers(100, 100), true))
        .expect("GET", &format!("{base}&limit=50&starting_after=cus_199"), list(customers(200, 50), true));
    let config = json!({"created": {"gte": 1_700_000_000, "lt": 1_767_225_600}, "limit": 250});
    let out = items(host.run::<ListCustomers>(config, vec![]).unwrap());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["count"], 250);
    assert_eq!(out[0]["has_more"], true);
    let list = out[0]["customers"].as_array().unwrap();
    assert_eq!(list.len(), 250);
    assert_eq!(list[0]["id"], "cus_0");
    assert_eq!(list[249]["id"], "cus_249");
    assert_eq!(
        list[0],
        json!({"id": "cus_0", "email": "c0@example.com", "name": "Ann Lee", "phone": null, "description": null,
               "metadata": {"source": "form"}, "created_at": 1_700_000_000})
    );
    for request in host.requests() {
        assert_eq!(request.method, "GET");
        assert_api_headers(&request);
    }
    host.assert_done();
}

#[test]
fn list_customers_stops_when_stripe_has_no_more() {
    let base = format!("{API}/v1/customers?email=ann%40example.com");
    let host = api_host().expect("GET", &format!("{base}&limit=100"), list(customers(0, 100), true)).expect(
        "GET",
        &format!("{base}&limit=100&starting_after=cus_99"),
        list(customers(100, 3), false),
    );
    let out = items(host.run::<ListCustomers>(json!({"email": "ann@example.com", "limit": 1000}), vec![]).unwrap());
    assert_eq!(out[0]["count"], 103);
    assert_eq!(out[0]["has_more"], false);
    host.assert_done();
}

#[test]
fn list_customers_split_and_a_server_that_ignores_limit() {
    let host = host_at("http://127.0.0.1:12111").expect(
        "GET",
        "http://127.0.0.1:12111/v1/customers?limit=2",
        list(customers(0, 5), false),
    );
    let out = items(host.run::<ListCustomers>(json!({"limit": 2, "split": true}), vec![]).unwrap());
    assert_eq!(out.len(), 2, "one item per customer, cut at the limit");
    assert_eq!(out[1]["id"], "cus_1");
    // Without split and with no settings: one item, default limit 100.
    let host = api_host().expect("GET", &format!("{API}/v1/customers?limit=100"), list(customers(0, 100), false));
    let out = items(host.run::<ListCustomers>(json!({}), vec![]).unwrap());
    assert_eq!((out[0]["count"].clone(), out[0]["has_more"].clone()), (json!(100), json!(false)));
}

#[test]
fn list_customers_errors() {
    let host = api_host();
    for config in [json!({"limit": 0}), json!({"limit": 10_001}), json!({"created": {"after": 1}})] {
        let err = host.run::<ListCustomers>(config, vec![]).unwrap_err();
        assert_eq!(err.code.as_deref(), Some("bad_config"));
    }
    let url = format!("{API}/v1/customers?limit=100");
    let host = api_host().expect("GET", &url, list(customers(0, 100), true)).expect(
        "GET",
        &format!("{url}&starting_after=cus_99"),
        stripe_error(
            429,
            &[("retry-after", "3")],
            json!({"type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests"}),
        ),
    );
    let err = host.run::<ListCustomers>(json!({"limit": 500}), vec![]).unwrap_err();
    assert_eq!((err.retryable, err.retry_after_ms), (true, Some(3000)));
    assert_eq!(err.message, "listing Stripe customers: Stripe answered HTTP 429: Too many requests");
    let host = api_host().expect(
        "GET",
        &format!("{API}/v1/customers?limit=100"),
        stripe_error(400, &[], json!({"type": "invalid_request_error", "code": "parameter_unknown", "param": "x", "message": "Received unknown parameter: x"})),
    );
    let err = host.run::<ListCustomers>(json!({}), vec![]).unwrap_err();
    assert!(!err.retryable);
    assert_eq!(err.code.as_deref(), Some("parameter_unknown"));
}

// ---------------------------------------------------------------------------
// webhook

fn event_body(kind: &str) -> String {
    json!({
        "id": "evt_1PgafmB7", "object": "event", "api_version": "2024-06-20", "created": NOW - 5,
        "livemode": false, "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null}, "type": kind,
        "data": {"object": {
            "id": "cs_test_a1", "object": "checkout.session", "customer": "cus_9", "customer_email": null,
            "customer_details": {"email": "ann@example.com", "name": "Ann Lee"}, "client_reference_id": "cart_42",
            "amount_total": 4500, "currency": "usd", "payment_status": "paid", "status": "complete"
        }}
    })
    .to_string()
}

fn signed(body: &str, header: String) -> Request {
    Request {
        method: "POST".into(),
        url: "https://hooks.example.com/hooks/orders/stripe".into(),
        path: "stripe".into(),
        query: String::new(),
        headers: vec![
            ("content-type".into(), "application/json; charset=utf-8".into()),
            ("stripe-signature".into(), header),
        ],
        body: body.as_bytes().to_vec(),
    }
}

/// Stripe's header for `body` at `t` with one v1 per secret (in order).
fn stripe_header(body: &str, t: i64, secrets: &[&str]) -> String {
    let mut header = format!("t={t}");
    for secret in secrets {
        header.push_str(&format!(",v1={}", hmac_sha256_hex(secret.as_bytes(), format!("{t}.{body}").as_bytes())));
    }
    header
}

fn hook_host() -> FakeHost {
    FakeHost::new().credential("stripe-webhook", &[("secret", WHSEC)])
}

fn answer(result: &TriggerResult) -> (u16, Value) {
    let response = result.response.as_ref().expect("an answer");
    (response.status, serde_json::from_slice(&response.body).unwrap())
}

fn assert_refused(result: TriggerResult, host: &FakeHost, contains: &str) {
    assert!(result.items.is_empty() && result.events.is_empty());
    let (status, body) = answer(&result);
    assert_eq!(status, 401);
    let message = body["error"].as_str().unwrap();
    assert!(message.contains(contains), "{message} / {contains}");
    assert_eq!(body.as_object().unwrap().len(), 1);
    let text = String::from_utf8(result.response.unwrap().body).unwrap();
    assert!(!text.contains(WHSEC) && !text.contains("SigningSecret"));
    for (_, line) in host.logs() {
        assert!(!line.contains("SigningSecret"), "{line}");
    }
}

#[test]
fn webhook_signed_event_starts_an_execution() {
    let body = event_body("checkout.session.completed");
    let host = hook_host();
    let config = json!({"events": ["checkout.session.completed", "invoice.payment_failed"]});
    let result = host.handle::<Webhook>(config, signed(&body, stripe_header(&body, NOW - 5, &[WHSEC]))).unwrap();
    assert_eq!(result.response, None, "the host answers 2xx itself");
    assert!(result.events.is_empty());
    let object: Value = serde_json::from_str::<Value>(&body).unwrap()["data"]["object"].clone();
    assert_eq!(
        result.items,
        vec![json!({
            "id": "evt_1PgafmB7", "type": "checkout.session.completed", "created": NOW - 5, "livemode": false,
            "api_version": "2024-06-20", "object_id": "cs_test_a1", "object_type": "checkout.session",
            "customer": "cus_9", "customer_email": "ann@example.com", "object": object
        })]
    );
    assert!(host.requests().is_empty());
}

#[test]
fn webhook_accepts_either_secret_while_rolling() {
    let body = event_body("invoice.paid");
    let header = stripe_header(&body, NOW, &[OLD_WHSEC, WHSEC]);
    assert_eq!(header.matches(",v1=").count(), 2);
    for secret in [WHSEC, OLD_WHSEC] {
        let host = FakeHost::new().credential("stripe-webhook", &[("secret", secret)]);
        let result = host.handle::<Webhook>(json!({}), signed(&body, header.clone())).unwrap();
        assert_eq!(result.items.len(), 1, "accepted with {secret}");
        assert_eq!(result.items[0]["type"], "invoice.paid");
    }
    // With a v0 (ignored) and spaces around the parts.
    let t = NOW;
    let v1 = hmac_sha256_hex(WHSEC.as_bytes(), format!("{t}.{body}").as_bytes());
    let header = format!("t={t}, v1={v1}, v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39");
    let result = hook_host().handle::<Webhook>(json!({}), signed(&body, header)).unwrap();
    assert_eq!(result.items.len(), 1);
}

#[test]
fn webhook_refuses_a_wrong_secret() {
    let body = event_body("invoice.paid");
    let host = hook_host();
    let result = host.handle::<Webhook>(json!({}), signed(&body, stripe_header(&body, NOW, &[OLD_WHSEC]))).unwrap();
    assert_refused(result, &host, "signature does not match");
    assert!(host.logs().iter().any(|(level, line)| level == "warn" && line.contains("refused a Stripe webhook")));
}

#[test]
fn webhook_refuses_a_tampered_body() {
    let body = event_body("invoice.paid");
    let header = stripe_header(&body, NOW, &[WHSEC]);
    let tampered = body.replace("4500", "1");
    assert_ne!(tampered, body);
    let host = hook_host();
    assert_refused(
        host.handle::<Webhook>(json!({}), signed(&tampered, header.clone())).unwrap(),
        &host,
        "does not match",
    );
    // Re-serialised JSON (same meaning, other bytes) is refused too: the raw body is signed.
    let reformatted = serde_json::to_string_pretty(&serde_json::from_str::<Value>(&body).unwrap()).unwrap();
    assert_refused(host.handle::<Webhook>(json!({}), signed(&reformatted, header)).unwrap(), &host, "does not match");
}

#[test]
fn webhook_refuses_a_stale_or_future_timestamp() {
    let body = event_body("invoice.paid");
    let host = hook_host();
    let stale = NOW - 301;
    let result = host.handle::<Webhook>(json!({}), signed(&body, stripe_header(&body, stale, &[WHSEC]))).unwrap();
    assert_refused(result, &host, "timestamp is 301 s old (tolerance 300 s)");
    let future = NOW + 400;
    let result = host.handle::<Webhook>(json!({}), signed(&body, stripe_header(&body, future, &[WHSEC]))).unwrap();
    assert_refused(result, &host, "in the future");
    // At the edge of the tolerance: accepted.
    let edge = NOW - 300;
    let result = host.handle::<Webhook>(json!({}), signed(&body, stripe_header(&body, edge, &[WHSEC]))).unwrap();
    assert_eq!(result.items.len(), 1);
}

#[test]
fn webhook_refuses_missing_or_malformed_headers() {
    let body = event_body("invoice.paid");
    let host = hook_host();
    let mut request = signed(&body, String::new());
    request.headers.retain(|(k, _)| k != "stripe-signature");
    assert_refused(host.handle::<Webhook>(json!({}), request).unwrap(), &host, "`Stripe-Signature` is missing");
    let v1 = hmac_sha256_hex(WHSEC.as_bytes(), format!("{NOW}.{body}").as_bytes());
    for (header, expected) in [
        (format!("t={NOW}"), "`v1` is missing"),
        (format!("t={NOW},v0={v1}"), "`v1` is missing"),
        (format!("v1={v1}"), "`t` is missing"),
        (format!("t=yesterday,v1={v1}"), "`t` is malformed"),
        (format!("t={NOW},v1=zz{}", &v1[2..]), "does not match"),
        ("  ".to_string(), "`Stripe-Signature` is missing"),
    ] {
        assert_refused(host.handle::<Webhook>(json!({}), signed(&body, header)).unwrap(), &host, expected);
    }
}

#[test]
fn webhook_ignores_unwanted_types_with_a_200() {
    let body = event_body("customer.created");
    let host = hook_host();
    let header = stripe_header(&body, NOW, &[WHSEC]);
    let config = json!({"events": ["checkout.session.completed", "invoice.*"]});
    let result = host.handle::<Webhook>(config, signed(&body, header)).unwrap();
    assert!(result.items.is_empty() && result.events.is_empty());
    assert_eq!(answer(&result), (200, json!({"received": true, "ignored": "customer.created"})));
}

#[test]
fn webhook_event_patterns() {
    let patterns = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(webhook::wanted(&[], "anything.at_all"));
    assert!(webhook::wanted(&patterns(&["*"]), "charge.refunded"));
    let invoices = patterns(&["invoice.*"]);
    assert!(webhook::wanted(&invoices, "invoice.payment_failed"));
    assert!(webhook::wanted(&invoices, "invoice.paid"));
    assert!(!webhook::wanted(&invoices, "invoiceitem.created"));
    assert!(!webhook::wanted(&invoices, "invoice"));
    let customers = patterns(&["customer.subscription.*", " checkout.session.completed "]);
    assert!(webhook::wanted(&customers, "customer.subscription.deleted"));
    assert!(!webhook::wanted(&customers, "customer.updated"));
    assert!(webhook::wanted(&customers, "checkout.session.completed"));
    assert!(!webhook::wanted(&customers, "checkout.session.expired"));
    // Through the trigger: a wildcard starts an execution.
    let body = event_body("invoice.payment_failed");
    let header = stripe_header(&body, NOW, &[WHSEC]);
    let result = hook_host().handle::<Webhook>(json!({"events": ["invoice.*"]}), signed(&body, header)).unwrap();
    assert_eq!(result.items.len(), 1);
}

#[test]
fn webhook_items_carry_previous_attributes_and_conveniences() {
    let body = json!({
        "id": "evt_2", "object": "event", "type": "customer.subscription.updated", "created": NOW, "livemode": true,
        "account": "acct_1Conn",
        "data": {
            "object": {"id": "sub_1", "object": "subscription", "customer": {"id": "cus_3", "email": "bo@example.com"},
                       "status": "past_due"},
            "previous_attributes": {"status": "active"}
        }
    })
    .to_string();
    let result = hook_host().handle::<Webhook>(json!({}), signed(&body, stripe_header(&body, NOW, &[WHSEC]))).unwrap();
    let item = &result.items[0];
    assert_eq!(item["previous_attributes"], json!({"status": "active"}));
    assert_eq!(item["customer"], "cus_3");
    assert_eq!(item["customer_email"], "bo@example.com");
    assert_eq!(item["account"], "acct_1Conn");
    assert_eq!(item["object"]["status"], "past_due");
    assert_eq!(item["livemode"], true);
    assert_eq!(item["api_version"], Value::Null);

    // A customer event: the customer itself; a PaymentIntent: its receipt email.
    for (object, customer, email) in [
        (
            json!({"id": "cus_5", "object": "customer", "email": "cy@example.com"}),
            json!("cus_5"),
            json!("cy@example.com"),
        ),
        (
            json!({"id": "pi_1", "object": "payment_intent", "customer": null, "receipt_email": "dee@example.com"}),
            Value::Null,
            json!("dee@example.com"),
        ),
        (
            json!({"id": "in_1", "object": "invoice", "customer": "cus_6", "customer_email": "ed@example.com"}),
            json!("cus_6"),
            json!("ed@example.com"),
        ),
        (json!({"id": "prod_1", "object": "product"}), Value::Null, Value::Null),
    ] {
        let body = json!({"id": "evt_3", "type": "x.y", "created": NOW, "livemode": false, "data": {"object": object}})
            .to_string();
        let result =
            hook_host().handle::<Webhook>(json!({}), signed(&body, stripe_header(&body, NOW, &[WHSEC]))).unwrap();
        let item = &result.items[0];
        assert_eq!((&item["customer"], &item["customer_email"]), (&customer, &email), "{object}");
        assert!(item.get("previous_attributes").is_none());
    }
}

#[test]
fn webhook_rejects_signed_bodies_that_are_not_events() {
    let host = hook_host();
    for (body, expected) in
        [("not json", "not JSON"), ("{\"hello\": 1}", "not a Stripe event"), ("[]", "not a Stripe event")]
    {
        let result = host.handle::<Webhook>(json!({}), signed(body, stripe_header(body, NOW, &[WHSEC]))).unwrap();
        assert!(result.items.is_empty());
        let (status, answer) = answer(&result);
        assert_eq!(status, 400);
        assert!(answer["error"].as_str().unwrap().contains(expected));
    }
}

#[test]
fn webhook_takes_only_post_and_needs_its_credential() {
    let body = event_body("invoice.paid");
    let mut request = signed(&body, stripe_header(&body, NOW, &[WHSEC]));
    request.method = "GET".into();
    let result = hook_host().handle::<Webhook>(json!({}), request).unwrap();
    let response = result.response.unwrap();
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("POST"));

    let request = signed(&body, stripe_header(&body, NOW, &[WHSEC]));
    let err = FakeHost::new().handle::<Webhook>(json!({}), request.clone()).unwrap_err();
    assert_eq!(err.code.as_deref(), Some("credential_missing"));
    let err = FakeHost::new()
        .credential("stripe-webhook", &[("signing", WHSEC)])
        .handle::<Webhook>(json!({}), request)
        .unwrap_err();
    assert_eq!(err.code.as_deref(), Some("credential_incomplete"));
    assert_no_secret(&FakeHost::new(), &err);

    let err = hook_host().handle::<Webhook>(json!({"event": ["x"]}), signed(&body, String::new())).unwrap_err();
    assert_eq!(err.code.as_deref(), Some("bad_config"));
}

#[test]
fn webhook_run_passes_items_on() {
    let item = json!({"id": "evt_1", "type": "invoice.paid"});
    let out = FakeHost::new().run::<Webhook>(json!({}), vec![item.clone()]).unwrap();
    assert_eq!(out, Outcome::emit(vec![item]));
}

// ---------------------------------------------------------------------------
// The manifest agrees with the nodes.

#[test]
fn every_node_is_declared_with_its_kind_and_schema() {
    let manifest = include_str!("../plugin.toml");
    let nodes: [(&str, NodeInfo); 7] = [
        (Customer::NAME, Customer::info()),
        (CheckoutSession::NAME, CheckoutSession::info()),
        (PaymentLink::NAME, PaymentLink::info()),
        (PaymentIntent::NAME, PaymentIntent::info()),
        (Refund::NAME, Refund::info()),
        (ListCustomers::NAME, ListCustomers::info()),
        (Webhook::NAME, Webhook::info()),
    ];
    assert_eq!(manifest.matches("[[node]]").count(), nodes.len());
    for (name, info) in nodes {
        let declared = format!("[[node]]\nname = \"{name}\"\n");
        assert!(manifest.contains(&declared), "{name} is not declared");
        let trigger = manifest.contains(&format!("{declared}kind = \"trigger\""));
        let debug = format!("{info:?}");
        assert_eq!(debug.contains("trigger: true"), trigger, "{name}");
        assert!(debug.contains("additionalProperties"), "{name}'s schema is closed");
    }
    assert!(manifest.contains("auth = { scheme = \"bearer\", token = \"secret_key\" }"));
    assert!(manifest.contains("http = [\"api.stripe.com\", \"*\"]"));
}
