use super::*;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use p256::ecdsa::SigningKey;
use wirework_sdk::testing::{FakeHost, Reply};

const API_KEY: &str = "SG.test-key.do-not-leak-this";
const SEND_URL: &str = "https://api.sendgrid.com/v3/mail/send";
/// FakeHost's clock: 2026-01-01T00:00:00Z.
const NOW_MS: u64 = 1_767_225_600_000;

fn api_host() -> FakeHost {
    FakeHost::new().credential("sendgrid", &[("api_key", API_KEY)])
}

fn accepted(message_id: &str) -> Reply {
    Reply::with(202, &[("X-Message-Id", message_id), ("content-length", "0")], "")
}

fn emitted(outcome: Outcome) -> Vec<Item> {
    match outcome {
        Outcome::Emit(mut ports) => {
            assert_eq!(ports.len(), 1);
            let (port, items) = ports.remove(0);
            assert_eq!(port, "main");
            items
        }
        other => panic!("expected items, got {other:?}"),
    }
}

fn template_config() -> Value {
    json!({
        "to": "Ann@Example.com",
        "to_name": "Ann",
        "from": "hello@shop.example",
        "from_name": "The Shop",
        "template_id": "d-0123456789abcdef",
        "data": {"first_name": "Ann", "items": [{"sku": "A1"}]},
        "categories": ["welcome", "onboarding"]
    })
}

/// Asserts the error leaks nothing of the API key, nor do the logs.
fn assert_no_secret(host: &FakeHost, error: &NodeError) {
    let shown = format!("{error:?} {}", error.message);
    assert!(!shown.contains(API_KEY) && !shown.contains("do-not-leak"), "{shown}");
    for (_, line) in host.logs() {
        assert!(!line.contains(API_KEY), "{line}");
    }
}

// ---------------------------------------------------------------- send

#[test]
fn send_posts_a_dynamic_template_with_the_contact_custom_arg() {
    let host = api_host().expect("POST", SEND_URL, accepted("W5rpxPZcRcq6zCDnBWt2Ag"));
    let items = emitted(host.run::<Send>(template_config(), vec![]).unwrap());
    host.assert_done();

    let sent = &host.requests()[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.header("authorization"), Some(format!("Bearer {API_KEY}").as_str()));
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(sent.header("idempotency-key"), None, "SendGrid has no idempotency header");
    assert_eq!(
        sent.json(),
        json!({
            "personalizations": [{
                "to": [{"email": "Ann@Example.com", "name": "Ann"}],
                "custom_args": {"contact": "ann@example.com"},
                "dynamic_template_data": {"first_name": "Ann", "items": [{"sku": "A1"}]}
            }],
            "from": {"email": "hello@shop.example", "name": "The Shop"},
            "template_id": "d-0123456789abcdef",
            "categories": ["welcome", "onboarding"]
        })
    );
    assert_eq!(
        items,
        vec![json!({
            "message_id": "W5rpxPZcRcq6zCDnBWt2Ag",
            "to": "Ann@Example.com",
            "contact": "ann@example.com",
            "status": "accepted"
        })]
    );
}

#[test]
fn send_posts_subject_and_content_to_the_base_url_of_the_credential() {
    let host = FakeHost::new()
        .credential("sendgrid", &[("api_key", API_KEY), ("base_url", "https://api.eu.sendgrid.com/")])
        .expect("POST", "https://api.eu.sendgrid.com/v3/mail/send", accepted("msg-eu-1"));
    let config = json!({
        "to": {"email": " bob@example.com ", "name": "Robert"},
        "to_name": "",
        "from": {"email": "news@shop.example", "name": "Shop News"},
        "reply_to": "support@shop.example",
        "subject": "Your cart",
        "text": "You left something behind.",
        "html": "<p>You left something behind.</p>",
        "categories": ["cart", "cart", "reminder-1"],
        "custom_args": {"contact": "crm-42", "campaign": "cart", "step": 1, "vip": true, "unused": null}
    });
    let items = emitted(host.run::<Send>(config, vec![]).unwrap());
    host.assert_done();
    let sent = &host.requests()[0];
    assert_eq!(sent.header("authorization"), Some(format!("Bearer {API_KEY}").as_str()));
    assert_eq!(
        sent.json(),
        json!({
            "personalizations": [{
                "to": [{"email": "bob@example.com", "name": "Robert"}],
                "custom_args": {"contact": "crm-42"}
            }],
            "from": {"email": "news@shop.example", "name": "Shop News"},
            "reply_to": {"email": "support@shop.example"},
            "subject": "Your cart",
            "content": [
                {"type": "text/plain", "value": "You left something behind."},
                {"type": "text/html", "value": "<p>You left something behind.</p>"}
            ],
            "categories": ["cart", "reminder-1"],
            "custom_args": {"contact": "crm-42", "campaign": "cart", "step": "1", "vip": "true"}
        })
    );
    assert_eq!(
        items,
        vec![json!({"message_id": "msg-eu-1", "to": "bob@example.com", "contact": "crm-42", "status": "accepted"})]
    );
}

#[test]
fn send_makes_one_call_and_one_item_per_input_item() {
    let host = api_host()
        .expect("POST", SEND_URL, accepted("m1"))
        .expect("POST", SEND_URL, Reply::with(200, &[], ""))
        .expect("POST", SEND_URL, accepted("m3"));
    let inputs = vec![json!({"a": 1}), json!({"a": 2}), json!({"a": 3})];
    let items = emitted(host.run::<Send>(template_config(), inputs).unwrap());
    host.assert_done();
    assert_eq!(host.requests().len(), 3);
    let ids: Vec<&Value> = items.iter().map(|i| &i["message_id"]).collect();
    // A 200 without X-Message-Id (sandbox mode) is still accepted; its id is null.
    assert_eq!(ids, [&json!("m1"), &Value::Null, &json!("m3")]);
    // The input items are not merged in.
    assert!(items.iter().all(|i| i.get("a").is_none()));
}

#[test]
fn send_only_html_or_only_text_is_enough() {
    let host = api_host().expect("POST", SEND_URL, accepted("m"));
    let config = json!({"to": "a@b.co", "from": "c@d.co", "subject": "Hi", "html": "<b>Hi</b>"});
    host.run::<Send>(config, vec![]).unwrap();
    let body = host.requests()[0].json();
    assert_eq!(body["content"], json!([{"type": "text/html", "value": "<b>Hi</b>"}]));
    assert!(body.get("template_id").is_none() && body.get("categories").is_none() && body.get("custom_args").is_none());
}

#[test]
fn send_refuses_a_config_it_cannot_send_before_calling_sendgrid() {
    let base = || json!({"to": "ann@example.com", "from": "shop@example.com"});
    let with = |extra: Value| {
        let mut config = base();
        config.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        config
    };
    let too_many: Vec<String> = (0..11).map(|i| format!("c{i}")).collect();
    let cases = [
        (with(json!({})), "either `template_id`"),
        (with(json!({"subject": "Hi"})), "either `template_id`"),
        (with(json!({"text": "body only"})), "either `template_id`"),
        (with(json!({"template_id": " ", "subject": "Hi"})), "either `template_id`"),
        (with(json!({"template_id": "d-1", "text": "x"})), "without `template_id`"),
        (with(json!({"subject": "Hi", "text": "x", "data": {"a": 1}})), "needs `template_id`"),
        (with(json!({"template_id": "d-1", "categories": too_many})), "at most 10 categories"),
        (with(json!({"template_id": "d-1", "categories": ["x".repeat(256)]})), "at most 255 characters"),
        (with(json!({"template_id": "d-1", "categories": [""]})), "empty category"),
        (with(json!({"template_id": "d-1", "custom_args": {"a": {"b": 1}}})), "custom_args.a"),
        (json!({"to": "not-an-address", "from": "a@b.co", "template_id": "d-1"}), "`to` is not an email"),
        (json!({"to": "a@b.co", "from": "a b@c.co", "template_id": "d-1"}), "`from` is not an email"),
        (json!({"to": {"name": "Ann"}, "from": "a@b.co", "template_id": "d-1"}), "`to` is not an email"),
        (json!({"to": {"email": "a@b.co", "nick": "x"}, "from": "a@b.co", "template_id": "d-1"}), "not `nick`"),
        (json!({"to": 42, "from": "a@b.co", "template_id": "d-1"}), "`to` must be"),
        (json!({"to": "a@b.co", "from": "c@d.co", "reply_to": "nope", "template_id": "d-1"}), "`reply_to`"),
    ];
    for (config, expected) in cases {
        let host = api_host();
        let error = host.run::<Send>(config.clone(), vec![]).unwrap_err();
        assert_eq!(error.code.as_deref(), Some("bad_config"), "{config}");
        assert!(!error.retryable);
        assert!(error.message.contains(expected), "{config}: {}", error.message);
        assert!(host.requests().is_empty());
    }
    // Unknown fields are refused by the config type.
    let error = api_host().run::<Send>(with(json!({"template_id": "d-1", "cc": "x@y.z"})), vec![]).unwrap_err();
    assert_eq!(error.code.as_deref(), Some("bad_config"));
    assert!(error.message.contains("cc"), "{}", error.message);
}

#[test]
fn send_joins_sendgrid_error_messages_with_their_fields() {
    let body = json!({"errors": [
        {"message": "The from address does not match a verified Sender Identity.", "field": "from", "help": null},
        {"message": "Invalid template id", "field": "template_id", "help": "http://sendgrid.com/docs"},
        {"message": "Bad request", "field": null}
    ]});
    let host = api_host().expect("POST", SEND_URL, Reply::json(400, body));
    let error = host.run::<Send>(template_config(), vec![]).unwrap_err();
    assert!(!error.retryable);
    assert_eq!(error.code.as_deref(), Some("sendgrid_400"));
    assert_eq!(
        error.message,
        "sending the email to Ann@Example.com: SendGrid answered 400: from: The from address does not match a \
         verified Sender Identity.; template_id: Invalid template id; Bad request"
    );
    assert_no_secret(&host, &error);
}

#[test]
fn send_fails_fatally_on_401_403_and_404_without_leaking_the_key() {
    for (status, message) in [
        (401, "The provided authorization grant is invalid, expired, or revoked"),
        (403, "access forbidden"),
        (404, "not found"),
    ] {
        let reply = Reply::json(status, json!({"errors": [{"message": message, "field": null, "help": null}]}));
        let host = api_host().expect("POST", SEND_URL, reply);
        let error = host.run::<Send>(template_config(), vec![]).unwrap_err();
        assert!(!error.retryable, "{status}");
        assert_eq!(error.code, Some(format!("sendgrid_{status}")));
        assert!(error.message.contains(message), "{}", error.message);
        assert_no_secret(&host, &error);
    }
}

#[test]
fn send_retries_429_after_retry_after_or_the_rate_limit_reset() {
    let reply = Reply::with(
        429,
        &[("Retry-After", "7"), ("X-RateLimit-Reset", "1767225660")],
        r#"{"errors":[{"field":null,"message":"too many requests"}]}"#,
    );
    let host = api_host().expect("POST", SEND_URL, reply);
    let error = host.run::<Send>(template_config(), vec![]).unwrap_err();
    assert!(error.retryable);
    assert_eq!(error.retry_after_ms, Some(7_000));
    assert_eq!(error.code.as_deref(), Some("sendgrid_429"));
    assert!(error.message.contains("too many requests"), "{}", error.message);
    assert_no_secret(&host, &error);

    // No Retry-After: X-RateLimit-Reset (Unix seconds) against the host clock.
    let reply = Reply::with(429, &[("X-RateLimit-Reset", "1767225645")], "");
    let host = api_host().expect("POST", SEND_URL, reply);
    let error = host.run::<Send>(template_config(), vec![]).unwrap_err();
    assert!(error.retryable);
    assert_eq!(error.retry_after_ms, Some(45_000));
    assert!(error.message.ends_with("SendGrid answered 429: no details"), "{}", error.message);

    // A reset already past says nothing.
    let reply = Reply::with(429, &[("X-RateLimit-Reset", "1767225000")], "");
    let host = api_host().expect("POST", SEND_URL, reply);
    let error = host.run::<Send>(template_config(), vec![]).unwrap_err();
    assert!(error.retryable);
    assert_eq!(error.retry_after_ms, None);
}

#[test]
fn send_retries_5xx_408_and_network_failures() {
    for (status, body) in [(500, "<html>Internal Server Error</html>"), (503, ""), (408, "")] {
        let host = api_host().expect("POST", SEND_URL, Reply::with(status, &[("Retry-After", "3")], body));
        let error = host.run::<Send>(template_config(), vec![]).unwrap_err();
        assert!(error.retryable, "{status}");
        assert_eq!(error.code, Some(format!("sendgrid_{status}")));
        assert_eq!(error.retry_after_ms, Some(3_000));
        assert_no_secret(&host, &error);
    }
    let host = api_host().expect("POST", SEND_URL, Reply::with(500, &[], "<html>Internal Server Error</html>"));
    let error = host.run::<Send>(template_config(), vec![]).unwrap_err();
    assert!(error.message.contains("<html>Internal Server Error</html>"), "{}", error.message);
    assert_eq!(error.retry_after_ms, None);

    let host = api_host().expect("POST", SEND_URL, Reply::Fail("connection reset".into()));
    let error = host.run::<Send>(template_config(), vec![]).unwrap_err();
    assert!(error.retryable);
    assert_eq!(error.code.as_deref(), Some("http_failed"));
}

#[test]
fn send_needs_a_bound_credential() {
    let error = FakeHost::new().run::<Send>(template_config(), vec![]).unwrap_err();
    assert_eq!(error.code.as_deref(), Some("credential_missing"));
}

// ---------------------------------------------------------------- list-bounces

fn bounces(from: usize, count: usize) -> Value {
    let records: Vec<Value> = (from..from + count)
        .map(|i| {
            json!({
                "created": 1_767_000_000 + i as u64,
                "email": format!("User{i}@Example.com"),
                "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
                "status": "5.1.1"
            })
        })
        .collect();
    Value::Array(records)
}

const BOUNCES: &str = "https://api.sendgrid.com/v3/suppression/bounces";

#[test]
fn list_bounces_pages_by_offset_until_a_short_page() {
    let host = api_host()
        .expect(
            "GET",
            &format!("{BOUNCES}?start_time=1767000000&end_time=1767225600&limit=500&offset=0"),
            Reply::json(200, bounces(0, 500)),
        )
        .expect(
            "GET",
            &format!("{BOUNCES}?start_time=1767000000&end_time=1767225600&limit=200&offset=500"),
            Reply::json(200, bounces(500, 150)),
        );
    let config = json!({"start_time": 1_767_000_000u64, "end_time": 1_767_225_600u64, "limit": 700});
    let items = emitted(host.run::<ListBounces>(config, vec![]).unwrap());
    host.assert_done();
    assert_eq!(items.len(), 650);
    for sent in host.requests() {
        assert_eq!(sent.header("authorization"), Some(format!("Bearer {API_KEY}").as_str()));
        assert_eq!(sent.header("accept"), Some("application/json"));
        assert!(sent.body.is_empty());
    }
    assert_eq!(
        items[0],
        json!({
            "email": "User0@Example.com",
            "contact": "user0@example.com",
            "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
            "status": "5.1.1",
            "created": 1_767_000_000u64,
            "at": 1_767_000_000_000u64
        })
    );
    assert_eq!(items[649]["email"], "User649@Example.com");
}

#[test]
fn list_bounces_stops_at_the_limit() {
    // Default limit 100: one page of 100, even though it is full.
    let host = api_host().expect("GET", &format!("{BOUNCES}?limit=100&offset=0"), Reply::json(200, bounces(0, 100)));
    let items = emitted(host.run::<ListBounces>(json!({}), vec![]).unwrap());
    host.assert_done();
    assert_eq!(items.len(), 100);

    // 1000: two full pages, no third call.
    let host = api_host()
        .expect("GET", &format!("{BOUNCES}?limit=500&offset=0"), Reply::json(200, bounces(0, 500)))
        .expect("GET", &format!("{BOUNCES}?limit=500&offset=500"), Reply::json(200, bounces(500, 500)));
    let items = emitted(host.run::<ListBounces>(json!({"limit": 1000}), vec![]).unwrap());
    host.assert_done();
    assert_eq!(items.len(), 1000);
    assert_eq!(items[999]["email"], "User999@Example.com");

    // An empty first page: no items.
    let host = api_host().expect("GET", &format!("{BOUNCES}?limit=3&offset=0"), Reply::json(200, json!([])));
    assert_eq!(emitted(host.run::<ListBounces>(json!({"limit": 3}), vec![]).unwrap()), Vec::<Item>::new());
}

#[test]
fn list_bounces_uses_the_base_url_and_checks_the_limit() {
    let host =
        FakeHost::new().credential("sendgrid", &[("api_key", API_KEY), ("base_url", "http://127.0.0.1:9099")]).expect(
            "GET",
            "http://127.0.0.1:9099/v3/suppression/bounces?limit=10&offset=0",
            Reply::json(200, bounces(0, 2)),
        );
    assert_eq!(emitted(host.run::<ListBounces>(json!({"limit": 10}), vec![]).unwrap()).len(), 2);
    host.assert_done();

    for limit in [0, 10_001] {
        let host = api_host();
        let error = host.run::<ListBounces>(json!({"limit": limit}), vec![]).unwrap_err();
        assert_eq!(error.code.as_deref(), Some("bad_config"));
        assert!(host.requests().is_empty());
    }
    let error = api_host().run::<ListBounces>(json!({"email": "x"}), vec![]).unwrap_err();
    assert_eq!(error.code.as_deref(), Some("bad_config"));
}

#[test]
fn list_bounces_errors() {
    let first = format!("{BOUNCES}?limit=100&offset=0");
    let reply = Reply::with(429, &[("Retry-After", "2")], r#"{"errors":[{"message":"too many requests"}]}"#);
    let host = api_host().expect("GET", &first, reply);
    let error = host.run::<ListBounces>(json!({}), vec![]).unwrap_err();
    assert!(error.retryable);
    assert_eq!(error.retry_after_ms, Some(2_000));
    assert_eq!(error.message, "listing the bounces: SendGrid answered 429: too many requests");
    assert_no_secret(&host, &error);

    let host = api_host().expect("GET", &first, Reply::json(500, json!({"errors": [{"message": "internal"}]})));
    let error = host.run::<ListBounces>(json!({}), vec![]).unwrap_err();
    assert!(error.retryable);
    assert_eq!(error.code.as_deref(), Some("sendgrid_500"));

    let reply = Reply::json(403, json!({"errors": [{"field": null, "message": "access forbidden"}]}));
    let host = api_host().expect("GET", &first, reply);
    let error = host.run::<ListBounces>(json!({}), vec![]).unwrap_err();
    assert!(!error.retryable);
    assert_eq!(error.code.as_deref(), Some("sendgrid_403"));
    assert!(error.message.ends_with("access forbidden"));
    assert_no_secret(&host, &error);

    let reply = Reply::json(400, json!({"errors": [{"field": "start_time", "message": "must be an integer"}]}));
    let host = api_host().expect("GET", &first, reply);
    let error = host.run::<ListBounces>(json!({}), vec![]).unwrap_err();
    assert!(!error.retryable);
    assert!(error.message.ends_with("start_time: must be an integer"), "{}", error.message);

    // A failure on the second page fails the node (no partial list).
    let host = api_host()
        .expect("GET", &format!("{BOUNCES}?limit=500&offset=0"), Reply::json(200, bounces(0, 500)))
        .expect("GET", &format!("{BOUNCES}?limit=500&offset=500"), Reply::with(502, &[], "bad gateway"));
    let error = host.run::<ListBounces>(json!({"limit": 1000}), vec![]).unwrap_err();
    assert!(error.retryable);
    assert_eq!(error.code.as_deref(), Some("sendgrid_502"));

    // A body that is not a list.
    let host = api_host().expect("GET", &first, Reply::json(200, json!({"result": []})));
    assert!(!host.run::<ListBounces>(json!({}), vec![]).unwrap_err().retryable);
}

// ---------------------------------------------------------------- events

/// A key from a fixed scalar, and its public key as SendGrid shows it
/// (base64 of the DER SubjectPublicKeyInfo).
fn webhook_key(scalar: u8) -> (SigningKey, String) {
    use p256::pkcs8::EncodePublicKey;
    let signing = SigningKey::from_bytes(&[scalar; 32].into()).expect("a valid scalar");
    let der = signing.verifying_key().to_public_key_der().expect("encodes");
    (signing, BASE64.encode(der.as_bytes()))
}

/// SendGrid's signature: base64 DER ECDSA P-256/SHA-256 over timestamp + body.
fn sign(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
    use p256::ecdsa::signature::Signer;
    let signature: p256::ecdsa::Signature = key.sign(&[timestamp.as_bytes(), body].concat());
    BASE64.encode(signature.to_der().as_bytes())
}

fn webhook_request(signature: Option<&str>, timestamp: Option<&str>, body: &[u8]) -> Request {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    if let Some(signature) = signature {
        headers.push(("x-twilio-email-event-webhook-signature".into(), signature.into()));
    }
    if let Some(timestamp) = timestamp {
        headers.push(("x-twilio-email-event-webhook-timestamp".into(), timestamp.into()));
    }
    Request {
        method: "POST".into(),
        url: "https://wirework.example.com/hooks/email-events/sendgrid".into(),
        path: String::new(),
        query: String::new(),
        headers,
        body: body.to_vec(),
    }
}

fn webhook_host(public_key: &str) -> FakeHost {
    FakeHost::new().credential("sendgrid-webhook", &[("public_key", public_key)])
}

/// 10 s before the fake clock.
const TS: &str = "1767225590";

fn body_json(response: &Response) -> Value {
    serde_json::from_slice(&response.body).unwrap()
}

// Published: the vector of sendgrid-python's test/unit/test_eventwebhook.py, a
// real `dropped` event signed by SendGrid (the body ends with "\r\n").
const PUBLISHED_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";
const PUBLISHED_SIG: &str =
    "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=";
const PUBLISHED_TS: &str = "1600112502";
const PUBLISHED_BODY: &[u8] = b"[{\"email\":\"hello@world.com\",\"event\":\"dropped\",\"reason\":\"Bounced Address\",\"sg_event_id\":\"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA\",\"sg_message_id\":\"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0\",\"smtp-id\":\"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>\",\"timestamp\":1600112492}]\r\n";

#[test]
fn events_accepts_sendgrids_published_example() {
    let host = webhook_host(PUBLISHED_KEY).now_ms(1_600_112_502_000 + 5_000);
    let request = webhook_request(Some(PUBLISHED_SIG), Some(PUBLISHED_TS), PUBLISHED_BODY);
    let result = host.handle::<Events>(json!({"events": ["dropped"]}), request).unwrap();
    let response = result.response.as_ref().unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(body_json(response), json!({"received": 1}));
    let payload = json!({
        "email": "hello@world.com",
        "contact": "hello@world.com",
        "event": "dropped",
        "at": 1_600_112_492_000u64,
        "message_id": "LRzXl_NHStOGhQ4kofSm_A",
        "reason": "Bounced Address"
    });
    assert_eq!(result.events, vec![Event::keyed("email.bounced", "hello@world.com", payload.clone())]);
    let mut item = payload;
    item["event_id"] = json!("ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA");
    item["sg_message_id"] = json!("LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0");
    assert_eq!(result.items, vec![item]);

    // The same with the key in PEM armour.
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----\n",
        &PUBLISHED_KEY[..64],
        &PUBLISHED_KEY[64..]
    );
    let host = webhook_host(&pem).now_ms(1_600_112_502_000);
    let request = webhook_request(Some(PUBLISHED_SIG), Some(PUBLISHED_TS), PUBLISHED_BODY);
    let result = host.handle::<Events>(json!({}), request).unwrap();
    assert_eq!(result.response.unwrap().status, 200);
    assert_eq!(result.events.len(), 1);
    assert!(result.items.is_empty(), "no kinds listed: nothing starts");
}

fn sample_events() -> Value {
    json!([
        {"email": "ann@example.com", "timestamp": 1767225500, "event": "processed", "sg_event_id": "e0", "sg_message_id": "m1.f0", "contact": "ann@example.com"},
        {"email": "ann@example.com", "timestamp": 1767225501, "event": "deferred", "sg_event_id": "e1", "sg_message_id": "m1.f0", "response": "400 try again later", "attempt": "1", "contact": "ann@example.com"},
        {"email": "ann@example.com", "timestamp": 1767225502, "event": "delivered", "sg_event_id": "e2", "sg_message_id": "m1.f0", "response": "250 OK", "contact": "ann@example.com", "category": ["welcome", "onboarding"]},
        {"email": "ann@example.com", "timestamp": 1767225503, "event": "open", "sg_event_id": "e3", "sg_message_id": "m1.f0", "useragent": "Mozilla/5.0", "ip": "192.0.2.1", "contact": "ann@example.com", "category": "welcome"},
        {"email": "ann@example.com", "timestamp": 1767225504, "event": "click", "sg_event_id": "e4", "sg_message_id": "m1.f0", "url": "https://shop.example/pricing", "url_offset": {"index": 0, "type": "html"}, "contact": "ann@example.com"},
        {"email": "Bob@Example.com", "timestamp": 1767225505, "event": "bounce", "sg_event_id": "e5", "sg_message_id": "m2.f0", "reason": "550 5.1.1 unknown user", "status": "5.1.1", "type": "bounce", "bounce_classification": "Invalid Address"},
        {"email": "carl@example.com", "timestamp": 1767225506, "event": "bounce", "sg_event_id": "e6", "sg_message_id": "m3.f0", "reason": "421 blocked", "type": "blocked", "contact": "crm-7"},
        {"email": "dee@example.com", "timestamp": 1767225507, "event": "dropped", "sg_event_id": "e7", "sg_message_id": "m4.f0", "reason": "Unsubscribed Address"},
        {"email": "eve@example.com", "timestamp": 1767225508, "event": "spamreport", "sg_event_id": "e8", "sg_message_id": "m5.f0"},
        {"email": "fay@example.com", "timestamp": 1767225509, "event": "unsubscribe", "sg_event_id": "e9", "sg_message_id": "m6.f0"},
        {"email": "gus@example.com", "timestamp": 1767225510, "event": "group_unsubscribe", "sg_event_id": "e10", "sg_message_id": "m7.f0", "asm_group_id": 42},
        {"email": "gus@example.com", "timestamp": 1767225511, "event": "group_resubscribe", "sg_event_id": "e11", "sg_message_id": "m7.f0", "asm_group_id": 42}
    ])
}

#[test]
fn events_publishes_each_kind_keyed_by_contact() {
    let (key, public) = webhook_key(3);
    let body = format!("{}\r\n", sample_events());
    let signature = sign(&key, TS, body.as_bytes());
    let host = webhook_host(&public);
    let result =
        host.handle::<Events>(json!({}), webhook_request(Some(&signature), Some(TS), body.as_bytes())).unwrap();

    let response = result.response.as_ref().unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(body_json(response), json!({"received": 12}));
    assert!(result.items.is_empty(), "the default `events: []` starts nothing");

    let names: Vec<&str> = result.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "email.delivered:ann@example.com",
            "email.opened:ann@example.com",
            "email.clicked:ann@example.com",
            "email.bounced:bob@example.com",
            "email.bounced:crm-7",
            "email.bounced:dee@example.com",
            "email.spam_reported:eve@example.com",
            "email.unsubscribed:fay@example.com",
            "email.unsubscribed:gus@example.com",
        ]
    );
    let payloads: Vec<&Value> = result.events.iter().map(|e| &e.payload).collect();
    assert_eq!(
        payloads[0],
        &json!({"email": "ann@example.com", "contact": "ann@example.com", "event": "delivered", "at": 1_767_225_502_000u64, "message_id": "m1", "category": ["welcome", "onboarding"]})
    );
    assert_eq!(
        payloads[1],
        &json!({"email": "ann@example.com", "contact": "ann@example.com", "event": "open", "at": 1_767_225_503_000u64, "message_id": "m1", "category": "welcome"})
    );
    assert_eq!(
        payloads[2],
        &json!({"email": "ann@example.com", "contact": "ann@example.com", "event": "click", "at": 1_767_225_504_000u64, "message_id": "m1", "url": "https://shop.example/pricing"})
    );
    assert_eq!(
        payloads[3],
        &json!({"email": "Bob@Example.com", "contact": "bob@example.com", "event": "bounce", "at": 1_767_225_505_000u64, "message_id": "m2", "reason": "550 5.1.1 unknown user", "type": "bounce"})
    );
    assert_eq!(
        payloads[4],
        &json!({"email": "carl@example.com", "contact": "crm-7", "event": "bounce", "at": 1_767_225_506_000u64, "message_id": "m3", "reason": "421 blocked", "type": "blocked"})
    );
    // Every published name's base is covered by the manifest's `email.*`.
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/plugin.toml")).unwrap();
    assert!(manifest.contains(r#"events = ["email.*"]"#));
    assert!(names.iter().all(|n| n.starts_with("email.") && n.split(':').next().unwrap().len() > "email.".len()));
}

#[test]
fn events_starts_an_execution_with_the_configured_kinds_only() {
    let (key, public) = webhook_key(3);
    let body = sample_events().to_string();
    let signature = sign(&key, TS, body.as_bytes());
    let host = webhook_host(&public);
    let config = json!({"events": ["bounce", "spamreport"]});
    let result = host.handle::<Events>(config, webhook_request(Some(&signature), Some(TS), body.as_bytes())).unwrap();
    assert_eq!(result.events.len(), 9, "publishing does not depend on the filter");
    let kinds: Vec<(&str, &str)> =
        result.items.iter().map(|i| (i["event"].as_str().unwrap(), i["contact"].as_str().unwrap())).collect();
    assert_eq!(kinds, [("bounce", "bob@example.com"), ("bounce", "crm-7"), ("spamreport", "eve@example.com")]);
    assert_eq!(result.items[0]["event_id"], "e5");
    assert_eq!(result.items[0]["sg_message_id"], "m2.f0");
    assert_eq!(result.items[0]["message_id"], "m2");
    assert_eq!(body_json(result.response.as_ref().unwrap()), json!({"received": 12}));

    // Kinds that publish nothing can still start executions.
    let config = json!({"events": ["processed", "deferred", "group_resubscribe"]});
    let request = webhook_request(Some(&signature), Some(TS), body.as_bytes());
    let result = host.handle::<Events>(config, request).unwrap();
    let kinds: Vec<&str> = result.items.iter().map(|i| i["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["processed", "deferred", "group_resubscribe"]);

    // The trigger's own step passes the items on.
    let items = emitted(host.run::<Events>(json!({}), vec![json!({"event": "bounce"})]).unwrap());
    assert_eq!(items, vec![json!({"event": "bounce"})]);
}

#[test]
fn events_refuses_an_unknown_kind_in_the_config() {
    let (_, public) = webhook_key(3);
    let error = webhook_host(&public)
        .handle::<Events>(json!({"events": ["opened"]}), webhook_request(None, None, b"[]"))
        .unwrap_err();
    assert_eq!(error.code.as_deref(), Some("bad_config"));
    assert!(error.message.contains("`opened`"), "{}", error.message);
    let error = webhook_host(&public)
        .handle::<Events>(json!({"kinds": ["open"]}), webhook_request(None, None, b"[]"))
        .unwrap_err();
    assert_eq!(error.code.as_deref(), Some("bad_config"));
}

/// Asserts a 401 `{"error": ...}` answer that starts and publishes nothing.
fn assert_refused(result: TriggerResult, expected: &str) {
    let response = result.response.expect("an answer");
    assert_eq!(response.status, 401);
    let error = body_json(&response)["error"].as_str().unwrap().to_string();
    assert!(error.contains(expected), "{error}");
    assert!(result.items.is_empty() && result.events.is_empty());
}

#[test]
fn events_refuses_wrong_key_tampered_body_and_bad_signatures() {
    let (key, public) = webhook_key(3);
    let (_, other_public) = webhook_key(4);
    let body = sample_events().to_string();
    let signature = sign(&key, TS, body.as_bytes());
    let config = json!({"events": ["bounce"]});

    let request = webhook_request(Some(&signature), Some(TS), body.as_bytes());
    let host = webhook_host(&other_public);
    assert_refused(host.handle::<Events>(config.clone(), request).unwrap(), "does not match");
    assert!(host.logs().iter().any(|(level, line)| level == "warn" && line.contains("does not match")));

    let tampered = body.replace("crm-7", "crm-8");
    let request = webhook_request(Some(&signature), Some(TS), tampered.as_bytes());
    assert_refused(webhook_host(&public).handle::<Events>(config.clone(), request).unwrap(), "does not match");

    // The timestamp is signed: another one breaks the signature.
    let request = webhook_request(Some(&signature), Some("1767225591"), body.as_bytes());
    assert_refused(webhook_host(&public).handle::<Events>(config.clone(), request).unwrap(), "does not match");

    // Malformed: not base64, or not DER.
    let request = webhook_request(Some("%%%"), Some(TS), body.as_bytes());
    assert_refused(webhook_host(&public).handle::<Events>(config.clone(), request).unwrap(), "malformed");
    let raw = BASE64.encode([7u8; 64]);
    let request = webhook_request(Some(&raw), Some(TS), body.as_bytes());
    assert_refused(webhook_host(&public).handle::<Events>(config.clone(), request).unwrap(), "malformed");
    let request = webhook_request(Some(&signature), Some("yesterday"), body.as_bytes());
    assert_refused(webhook_host(&public).handle::<Events>(config, request).unwrap(), "malformed");
}

#[test]
fn events_refuses_missing_headers() {
    let (key, public) = webhook_key(3);
    let body = sample_events().to_string();
    let signature = sign(&key, TS, body.as_bytes());
    let host = webhook_host(&public);
    let result = host.handle::<Events>(json!({}), webhook_request(None, Some(TS), body.as_bytes())).unwrap();
    assert_refused(result, "X-Twilio-Email-Event-Webhook-Signature` is missing");
    let result = host.handle::<Events>(json!({}), webhook_request(Some(&signature), None, body.as_bytes())).unwrap();
    assert_refused(result, "X-Twilio-Email-Event-Webhook-Timestamp` is missing");
    let result = host.handle::<Events>(json!({}), webhook_request(None, None, body.as_bytes())).unwrap();
    assert_refused(result, "is missing");
}

#[test]
fn events_refuses_a_stale_or_future_timestamp() {
    let (key, public) = webhook_key(3);
    let body = sample_events().to_string();
    // 601 s before the clock: just outside the 600 s tolerance.
    let old = (NOW_MS / 1000 - 601).to_string();
    let signature = sign(&key, &old, body.as_bytes());
    let result = webhook_host(&public)
        .handle::<Events>(json!({}), webhook_request(Some(&signature), Some(&old), body.as_bytes()));
    assert_refused(result.unwrap(), "601 s old");
    // 600 s: still inside.
    let edge = (NOW_MS / 1000 - 600).to_string();
    let signature = sign(&key, &edge, body.as_bytes());
    let result = webhook_host(&public)
        .handle::<Events>(json!({}), webhook_request(Some(&signature), Some(&edge), body.as_bytes()));
    assert_eq!(result.unwrap().response.unwrap().status, 200);
    let future = (NOW_MS / 1000 + 3600).to_string();
    let signature = sign(&key, &future, body.as_bytes());
    let result = webhook_host(&public)
        .handle::<Events>(json!({}), webhook_request(Some(&signature), Some(&future), body.as_bytes()));
    assert_refused(result.unwrap(), "in the future");
    // The published example, replayed at the fake clock's time (2026).
    let request = webhook_request(Some(PUBLISHED_SIG), Some(PUBLISHED_TS), PUBLISHED_BODY);
    assert_refused(webhook_host(PUBLISHED_KEY).handle::<Events>(json!({}), request).unwrap(), "s old");
}

#[test]
fn events_fails_on_a_malformed_key_or_no_credential() {
    let body = b"[]";
    for key in ["not a key", "aGVsbG8=", ""] {
        let error = webhook_host(key)
            .handle::<Events>(json!({}), webhook_request(Some("MEUCIQ=="), Some(TS), body))
            .unwrap_err();
        assert_eq!(error.code.as_deref(), Some("credential_invalid"), "{key:?}");
        assert!(!error.retryable);
    }
    let error = FakeHost::new().handle::<Events>(json!({}), webhook_request(None, None, body)).unwrap_err();
    assert_eq!(error.code.as_deref(), Some("credential_missing"));
}

#[test]
fn events_answers_400_to_a_signed_body_that_is_not_events() {
    let (key, public) = webhook_key(3);
    for body in [&b"not json"[..], b"\"a string\"", b"42"] {
        let signature = sign(&key, TS, body);
        let result =
            webhook_host(&public).handle::<Events>(json!({}), webhook_request(Some(&signature), Some(TS), body));
        let result = result.unwrap();
        let response = result.response.unwrap();
        assert_eq!(response.status, 400);
        assert!(result.events.is_empty() && result.items.is_empty());
    }
    // A single event object, and an array with junk in it, are taken.
    let body = br#"[{"email": "x@y.z", "event": "open", "timestamp": 1767225500}, 42, "junk", {"event": "open"}]"#;
    let signature = sign(&key, TS, body);
    let result = webhook_host(&public)
        .handle::<Events>(json!({"events": ["open"]}), webhook_request(Some(&signature), Some(TS), body))
        .unwrap();
    assert_eq!(body_json(result.response.as_ref().unwrap()), json!({"received": 4}));
    let names: Vec<&str> = result.events.iter().map(|e| e.name.as_str()).collect();
    // An event without an address publishes its name unkeyed.
    assert_eq!(names, ["email.opened:x@y.z", "email.opened"]);
    assert_eq!(result.items.len(), 2);
    assert_eq!(result.items[1]["message_id"], Value::Null);
    assert_eq!(result.items[1]["at"], Value::Null);

    let body = br#"{"email": "x@y.z", "event": "click", "url": "https://a.example", "timestamp": 1767225500}"#;
    let signature = sign(&key, TS, body);
    let result =
        webhook_host(&public).handle::<Events>(json!({}), webhook_request(Some(&signature), Some(TS), body)).unwrap();
    assert_eq!(result.events.len(), 1);
    assert_eq!(result.events[0].name, "email.clicked:x@y.z");
    assert_eq!(result.events[0].payload["url"], "https://a.example");
}

#[test]
fn the_manifest_declares_what_the_nodes_use() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/plugin.toml")).unwrap();
    for name in [Send::NAME, ListBounces::NAME, Events::NAME] {
        assert!(manifest.contains(&format!("name = \"{name}\"")), "{name}");
    }
    assert!(manifest.contains("name = \"sendgrid\"") && manifest.contains("name = \"sendgrid-webhook\""));
    assert!(manifest.contains(r#"http = ["api.sendgrid.com", "api.eu.sendgrid.com", "*"]"#));
}
