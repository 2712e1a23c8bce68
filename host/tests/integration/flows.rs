//! The integration examples of `examples/workflows/`, end to end, as an
//! operator runs them: the five first-party integrations installed with
//! the grants an operator gives, their credentials stored through the API
//! (each `base_url` pointing at a loopback fake of the provider), the
//! examples deployed as written (their days-long waits cut to seconds), and
//! the providers' signed webhooks posted to the server's hooks.
//!
//! - checkout-onboarding: Stripe checkout completed -> CRM upsert -> welcome
//!   email -> wait for `email.opened` (published by sendgrid-events) -> SMS
//!   when not opened -> Slack to #sales;
//! - payment-failed-dunning: invoice.payment_failed -> notice -> (unpaid) a
//!   text and a second notice -> (still unpaid) a CRM note and #billing;
//! - sms-opt-out + sms-suppression: an inbound STOP -> `contact.unsubscribed`
//!   -> a note on the CRM contacts with that phone, and #marketing.

use crate::common;
use crate::common::engine::install_package;
use crate::common::server::{json, serve, TestServer};
use crate::fakes::{hubspot, sendgrid, slack, stripe, twilio};
use reqwest::Method;
use serde_json::{json, Value};
use wirework::plugins::GrantEntry;

/// The server, the five fakes, and the data directory.
struct Env {
    server: TestServer,
    stripe: stripe::Fake,
    hubspot: hubspot::Fake,
    sendgrid: sendgrid::Fake,
    twilio: twilio::Fake,
    slack: slack::Fake,
    _dir: tempfile::TempDir,
}

/// The grants scripts/demo gives each plugin, with the fakes' loopback
/// address in place of the providers' hosts.
fn grant(credentials: &[&str], events: &[&str]) -> GrantEntry {
    GrantEntry {
        http_internal: vec!["127.0.0.1".into()],
        credentials: credentials.iter().map(|c| c.to_string()).collect(),
        events: events.iter().map(|e| e.to_string()).collect(),
        ..Default::default()
    }
}

async fn env() -> Env {
    let (stripe, hubspot, sendgrid, twilio, slack) = (
        stripe::start().await,
        hubspot::Fake::start().await,
        sendgrid::start().await,
        twilio::start().await,
        slack::start().await,
    );
    slack.add_channel(slack::Channel::public("C0BILLING", "billing"));
    slack.add_channel(slack::Channel::public("C0MARKETING", "marketing"));
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::fixtures();
    install_package(dir.path(), &fixtures.core, GrantEntry::default());
    let grants = [
        ("stripe", grant(&["stripe", "stripe-webhook"], &[])),
        ("crm", grant(&["hubspot", "hubspot-app"], &["contact.*", "deal.*"])),
        ("email", grant(&["sendgrid", "sendgrid-webhook"], &["email.*"])),
        ("sms", grant(&["twilio"], &["contact.unsubscribed", "contact.resubscribed", "sms.*"])),
        ("slack", grant(&["slack-bot", "slack-signing"], &["slack.*"])),
    ];
    for (plugin, grant) in grants {
        install_package(dir.path(), &fixtures.integration(plugin), grant);
    }
    let server = serve(dir.path(), |_| {}).await;
    let credentials = [
        (
            "stripe-webhook",
            json!({"type": "wirework/stripe:stripe-webhook", "fields": {"secret": stripe::WEBHOOK_SECRET}}),
        ),
        (
            "stripe",
            json!({"type": "wirework/stripe:stripe", "fields": {"secret_key": stripe::SECRET_KEY, "base_url": stripe.base_url()}}),
        ),
        (
            "hubspot",
            json!({"type": "wirework/crm:hubspot", "fields": {"token": hubspot::TOKEN, "base_url": hubspot.base_url()}}),
        ),
        ("sendgrid", sendgrid.credential()),
        ("sendgrid-webhook", sendgrid.webhook_credential()),
        ("twilio", twilio.credential()),
        ("slack", slack.bot_credential()),
    ];
    for (name, body) in credentials {
        let response = server.api_json(Method::PUT, &format!("/credentials/{name}"), &body).send().await.unwrap();
        assert_eq!(response.status(), 204, "{name}: {}", response.text().await.unwrap());
    }
    Env { server, stripe, hubspot, sendgrid, twilio, slack, _dir: dir }
}

impl Env {
    /// Deploy the example `name`, each of `edits` (`from`, `to`) applied once.
    async fn deploy(&self, name: &str, edits: &[(&str, &str)]) {
        let path = common::repo().join("examples/workflows").join(format!("{name}.yaml"));
        let mut text = std::fs::read_to_string(&path).unwrap();
        for (from, to) in edits {
            assert!(text.contains(from), "{name} has no `{from}`");
            text = text.replacen(from, to, 1);
        }
        self.server.deploy(&text).await;
    }

    fn hook(&self, workflow: &str, path: &str) -> String {
        format!("{}/hooks/{workflow}/{path}", self.server.url)
    }

    /// Post a Stripe event to `workflow`'s Stripe hook, signed; the execution it started.
    async fn stripe_event(&self, workflow: &str, event: &Value) -> String {
        let response =
            stripe::deliver(&self.server.client, &self.hook(workflow, "stripe"), event, stripe::WEBHOOK_SECRET).await;
        let (status, body) = json(response).await;
        assert_eq!(status, 202, "{body}");
        body["execution_id"].as_str().unwrap().to_string()
    }

    async fn record(&self, id: &str) -> Value {
        json(self.server.api(Method::GET, &format!("/executions/{id}")).send().await.unwrap()).await.1
    }

    async fn succeeded(&self, id: &str) -> Value {
        let done = self.server.wait_for(id, &["succeeded", "failed"]).await;
        assert_eq!(done["status"], "succeeded", "{done:#}");
        done
    }

    async fn executions(&self, workflow: &str) -> Vec<Value> {
        let path = format!("/executions?workflow={workflow}");
        json(self.server.api(Method::GET, &path).send().await.unwrap()).await.1.as_array().cloned().unwrap_or_default()
    }

    /// Nothing any provider was given appears in `text`.
    fn assert_no_secret(&self, text: &str) {
        for secret in [
            stripe::SECRET_KEY,
            stripe::WEBHOOK_SECRET,
            hubspot::TOKEN,
            sendgrid::API_KEY,
            twilio::AUTH_TOKEN,
            slack::TOKEN,
        ] {
            assert!(!text.contains(secret), "a credential leaked into {text}");
        }
    }
}

/// The nodes that ran in an execution record, in order.
fn ran(record: &Value) -> Vec<String> {
    record["steps"].as_array().unwrap().iter().map(|s| s["node"].as_str().unwrap().to_string()).collect()
}

/// The first item `node` emitted.
fn output(record: &Value, node: &str) -> Value {
    let step = record["steps"].as_array().unwrap().iter().rev().find(|s| s["node"] == node);
    let step = step.unwrap_or_else(|| panic!("{node} did not run: {record:#}"));
    step["outcome"]["emitted"]["ports"][0][1][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_onboards_the_customer_and_the_open_decides_the_text() {
    let env = env().await;
    env.deploy("sendgrid-events", &[]).await;
    env.deploy("checkout-onboarding", &[("timeout_seconds: 172800", "timeout_seconds: 120")]).await;

    // Ann checks out and opens the welcome email: no text, a note to #sales.
    let mut checkout = stripe::checkout_session_completed("Ann@Example.com");
    checkout["data"]["object"]["customer_details"]["phone"] = json!("+31612345678");
    let id = env.stripe_event("checkout-onboarding", &checkout).await;
    let waiting = env.server.wait_for(&id, &["waiting", "failed"]).await;
    assert_eq!(waiting["status"], "waiting", "{waiting:#}");
    let record = env.record(&id).await;
    let contact = output(&record, "crm");
    assert_eq!(contact["created"], true, "{contact}");
    let stored = env.hubspot.contact_by_email("ann@example.com").expect("the CRM has Ann");
    assert_eq!(stored["properties"]["lifecyclestage"], "customer", "{stored}");
    assert_eq!(stored["properties"]["phone"], "+31612345678", "{stored}");
    let sent = env.sendgrid.sent();
    assert_eq!(sent.len(), 1);
    let welcome = &sent[0];
    assert_eq!(welcome.to, ["Ann@Example.com"]);
    assert_eq!(welcome.body["template_id"], "d-welcome-0001");
    assert_eq!(welcome.dynamic_template_data["amount"], 2500, "a whole-value expression keeps its type");
    assert_eq!(welcome.categories, ["onboarding", "welcome"]);

    // Another contact's open resumes nothing; Ann's does.
    let other = sendgrid::event("bob@example.com", "open", &welcome.message_id);
    let delivery = env.sendgrid.webhook().deliver(&[welcome.event("delivered"), other]);
    let response = delivery.post(&env.server.client, &env.hook("sendgrid-events", "sendgrid")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(env.server.wait_for(&id, &["waiting"]).await["status"], "waiting");
    let opened = env.sendgrid.webhook().deliver(&[welcome.event("open")]);
    let response = opened.post(&env.server.client, &env.hook("sendgrid-events", "sendgrid")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let done = env.succeeded(&id).await;
    let nodes = ran(&done);
    assert!(nodes.contains(&"tell-sales".to_string()) && !nodes.contains(&"text-nudge".to_string()), "{nodes:?}");
    assert!(env.twilio.sends().is_empty(), "an opened email sends no text");
    let posted = env.slack.messages();
    assert_eq!(posted.len(), 1, "{posted:?}");
    let text = posted[0].text.clone().unwrap_or_default();
    assert!(text.starts_with("New customer Ann@Example.com: 2500 eur, CRM contact "), "{text}");
    assert!(text.ends_with(contact["id"].as_str().unwrap()), "{text}");

    // Bea checks out and never opens it: the wait times out, she gets a
    // text, and sales hear of her too.
    env.deploy("checkout-onboarding", &[("timeout_seconds: 172800", "timeout_seconds: 1")]).await;
    let mut checkout = stripe::checkout_session_completed("bea@example.com");
    checkout["data"]["object"]["customer_details"]["name"] = json!("Bea");
    checkout["data"]["object"]["customer_details"]["phone"] = json!("+31687654321");
    let id = env.stripe_event("checkout-onboarding", &checkout).await;
    let done = env.succeeded(&id).await;
    assert!(ran(&done).contains(&"text-nudge".to_string()), "{:?}", ran(&done));
    let sends = env.twilio.sends();
    assert_eq!(sends.len(), 1);
    let form = sends[0].form();
    assert_eq!(twilio::param(&form, "To"), Some("+31687654321"));
    assert_eq!(twilio::param(&form, "From"), Some("+15005550006"));
    assert!(twilio::param(&form, "Body").unwrap().starts_with("Welcome aboard, Bea!"), "{form:?}");
    let posted = env.slack.messages();
    assert_eq!(posted.len(), 2);
    assert!(posted[1].text.as_deref().unwrap_or_default().starts_with("New customer bea@example.com"), "{posted:?}");

    // A checkout without a phone: the text fails (bad number) and is passed
    // over; sales still hear.
    let id = env.stripe_event("checkout-onboarding", &stripe::checkout_session_completed("cy@example.com")).await;
    let done = env.succeeded(&id).await;
    assert_eq!(env.twilio.sends().len(), 1, "no text without a number");
    assert_eq!(env.slack.messages().len(), 3, "{done:#}");
    for id in env.executions("checkout-onboarding").await.iter().map(|e| e["id"].as_str().unwrap().to_string()) {
        env.assert_no_secret(&env.record(&id).await.to_string());
    }
    env.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_payment_is_dunned_until_it_is_paid() {
    let env = env().await;
    env.deploy("payment-failed-dunning", &[("seconds: 259200", "seconds: 1"), ("seconds: 345600", "seconds: 1")]).await;

    // Never paid: two notices, a text, a CRM note and #billing.
    let mut unpaid = stripe::invoice_payment_failed("dan@example.com", 1);
    let invoice = unpaid["data"]["object"].clone();
    unpaid["data"]["object"]["customer_phone"] = json!("+31611112222");
    env.stripe.seed_payment_intent(json!({"id": invoice["payment_intent"], "status": "requires_payment_method",
        "amount": 4900, "amount_received": 0}));
    let id = env.stripe_event("payment-failed-dunning", &unpaid).await;
    let done = env.succeeded(&id).await;
    let nodes = ran(&done);
    for node in
        ["first-notice", "check-1", "second-text", "second-notice", "check-2", "at-risk", "note", "tell-billing"]
    {
        assert!(nodes.contains(&node.to_string()), "{node} did not run: {nodes:?}");
    }
    let templates: Vec<Value> = env.sendgrid.sent().iter().map(|m| m.body["template_id"].clone()).collect();
    assert_eq!(templates, [json!("d-dunning-1"), json!("d-dunning-2")]);
    assert_eq!(env.sendgrid.sent()[0].dynamic_template_data["pay_url"], invoice["hosted_invoice_url"]);
    let texts = env.twilio.sends();
    assert_eq!(texts.len(), 1);
    assert_eq!(twilio::param(&texts[0].form(), "To"), Some("+31611112222"));
    let checks =
        env.stripe.requests_to("GET", &format!("/v1/payment_intents/{}", invoice["payment_intent"].as_str().unwrap()));
    assert_eq!(checks.len(), 2, "the intent is checked after each wait");
    let dan = env.hubspot.contact_by_email("dan@example.com").expect("the customer is in the CRM");
    let notes = env.hubspot.notes();
    assert_eq!(notes.len(), 1, "{notes:?}");
    let body = notes[0]["properties"]["hs_note_body"].as_str().unwrap();
    assert!(body.contains(invoice["id"].as_str().unwrap()) && body.contains("4900 eur"), "{body}");
    assert!(notes[0].to_string().contains(dan["id"].as_str().unwrap()), "the note is on Dan: {notes:?}");
    let billing = env.slack.messages();
    assert_eq!(billing.len(), 1);
    assert!(billing[0].text.as_deref().unwrap().starts_with("dan@example.com has not paid invoice"), "{billing:?}");

    // Paid after the first notice (Stripe's own retry went through): the
    // sequence ends at the first check.
    let paid = stripe::invoice_payment_failed("eve@example.com", 1);
    let intent = paid["data"]["object"]["payment_intent"].clone();
    env.stripe.seed_payment_intent(json!({"id": intent, "status": "succeeded"}));
    let id = env.stripe_event("payment-failed-dunning", &paid).await;
    let done = env.succeeded(&id).await;
    let nodes = ran(&done);
    assert!(nodes.contains(&"check-1".to_string()) && !nodes.contains(&"second-notice".to_string()), "{nodes:?}");
    assert_eq!(env.sendgrid.sent().len(), 3, "one notice for Eve");
    assert_eq!(env.twilio.sends().len(), 1, "no text for Eve");
    env.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_stop_suppresses_the_number() {
    let env = env().await;
    env.deploy("sms-opt-out", &[]).await;
    env.deploy("sms-suppression", &[]).await;
    let fay = env.hubspot.seed_contact(json!({"email": "fay@example.com", "phone": "+14155550100"}));
    env.hubspot.seed_contact(json!({"email": "gus@example.com", "phone": "+14155550199"}));

    let url = env.hook("sms-opt-out", "twilio");
    let stop = twilio::inbound_message("+14155550100", twilio::FROM, "Stop");
    let response =
        twilio::signed_webhook(&env.server.client, &url, &url, &stop, twilio::AUTH_TOKEN).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/xml");
    assert!(env.executions("sms-opt-out").await.is_empty(), "kinds: [] starts nothing itself");

    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let started = loop {
        let started = env.executions("sms-suppression").await;
        if !started.is_empty() {
            break started;
        }
        assert!(tokio::time::Instant::now() < deadline, "the STOP started no suppression");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let id = started[0]["id"].as_str().unwrap().to_string();
    let done = env.succeeded(&id).await;
    assert_eq!(done["steps"][0]["input"][0]["phone"], "+14155550100", "the event is the trigger item: {done:#}");
    let notes = env.hubspot.notes();
    assert_eq!(notes.len(), 1, "only Fay has that number: {notes:?}");
    assert!(notes[0].to_string().contains(&fay), "{notes:?}");
    assert!(notes[0]["properties"]["hs_note_body"].as_str().unwrap().contains("Replied STOP"), "{notes:?}");
    let told = env.slack.messages();
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].text.as_deref(), Some("+14155550100 replied STOP: no more texts to that number"));

    // A forged STOP (wrong token) is refused and suppresses nothing.
    let forged = twilio::inbound_message("+14155550199", twilio::FROM, "STOP");
    let response = twilio::signed_webhook(&env.server.client, &url, &url, &forged, "wrong-token").send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(env.executions("sms-suppression").await.len(), 1);
    env.server.stop().await;
}
