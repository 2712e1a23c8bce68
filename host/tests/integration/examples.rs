//! The example workflows of `examples/workflows/`, run as their users would:
//! deployed to a real server on a loopback port, fired through their webhooks
//! and events, with their days-long waits cut to seconds and their mail API
//! a loopback recorder.

use crate::common;
use crate::common::engine::Recorder;
use crate::common::server::{json, TestServer};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// An example's text, pointed at `recorder` and with each of `waits`
/// (`from`, `to`) replaced once, so the test can tell them apart.
fn example(name: &str, recorder: &Recorder, waits: &[(&str, &str)]) -> String {
    let path = common::repo().join("examples/workflows").join(name);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text = text.replace("http://127.0.0.1:8025", &format!("http://{}", recorder.addr));
    for (from, to) in waits {
        assert!(text.contains(from), "{name} has no `{from}`");
        text = text.replacen(from, to, 1);
    }
    text
}

/// A loopback recorder standing in for the examples' mail API, and a server
/// on a fresh data directory that grants HTTP to loopback.
async fn served() -> (Recorder, tempfile::TempDir, TestServer) {
    let recorder = Recorder::start().await;
    let data = common::server::data_dir("127.0.0.1");
    let server = common::server::serve(data.path(), |_| {}).await;
    (recorder, data, server)
}

/// The bodies `recorder` got at `path` with `field` equal to `value`, in order.
fn bodies(recorder: &Recorder, path: &str, field: &str, value: &str) -> Vec<Value> {
    recorder.received(path).into_iter().map(|r| r.body).filter(|b| b[field] == value).collect()
}

/// What the mail API was sent (`/send`) with `field` equal to `value`, in order.
fn mails(recorder: &Recorder, field: &str, value: &str) -> Vec<Value> {
    bodies(recorder, "send", field, value)
}

/// The notes sent to the notify API about `field` = `value`, in order.
fn notes(recorder: &Recorder, field: &str, value: &str) -> Vec<Value> {
    bodies(recorder, "notify", field, value)
}

/// Wait until `execution` ends, check that it succeeded, and return its record.
async fn succeeded(server: &TestServer, execution: &str) -> Value {
    let done = server.wait_for(execution, &["succeeded", "failed"]).await;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    done
}

/// The `template` of each mail.
fn templates(mails: &[Value]) -> Vec<String> {
    mails.iter().map(|b| b["template"].as_str().unwrap().to_string()).collect()
}

/// Post `body` to the webhook at `path`; the execution id of the 202.
async fn fire(server: &TestServer, path: &str, body: Value) -> String {
    let response = server
        .raw(Method::POST, &format!("/hooks/{path}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let (status, answer) = json(response).await;
    assert_eq!(status, 202, "{answer}");
    answer["execution_id"].as_str().unwrap().to_string()
}

/// Emit `name` with `payload` through the API; how many waits it ended.
async fn emit(server: &TestServer, name: &str, payload: Value) -> u64 {
    let body = json!({"name": name, "payload": payload});
    let (status, answer) = json(server.api_json(Method::POST, "/events", &body).send().await.unwrap()).await;
    assert_eq!(status, 200, "{answer}");
    answer["resumed"].as_u64().unwrap()
}

/// Wait until `execution` has parked at node `node` (a wait for an event)
/// `times` times in all.
async fn parked_at(server: &TestServer, execution: &str, node: &str, times: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, record) =
            json(server.api(Method::GET, &format!("/executions/{execution}")).send().await.unwrap()).await;
        let steps = record["steps"].as_array().cloned().unwrap_or_default();
        if steps.iter().filter(|s| s["node"] == node && s["outcome"].get("waiting").is_some()).count() >= times {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{execution} never waited at {node}: {record:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The nodes whose steps emitted items, in order.
/// The nodes that emitted items, in order (a webhook trigger's call, the
/// first step, left out).
fn ran(execution: &Value) -> Vec<String> {
    let steps = execution["steps"].as_array().unwrap();
    let trigger = &execution["trigger"]["id"];
    steps
        .iter()
        .filter(|s| s["outcome"].get("emitted").is_some() && s["node"] != *trigger)
        .map(|s| s["node"].as_str().unwrap().to_string())
        .collect()
}

/// Every example deploys as it is: none has rotted against the engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_deploys() {
    let data = common::server::data_dir("127.0.0.1");
    for plugin in ["crm", "stripe", "sms", "email", "slack"] {
        let package = common::fixtures().integration(plugin);
        common::engine::install_package(data.path(), &package, wirework::plugins::GrantEntry::default());
    }
    let server = common::server::serve(data.path(), |_| {}).await;
    // The credentials the integration examples bind, of their types.
    let credentials = [
        ("stripe-webhook", "wirework/stripe:stripe-webhook", json!({"secret": "whsec_example"})),
        ("stripe", "wirework/stripe:stripe", json!({"secret_key": "sk_test_example"})),
        ("hubspot", "wirework/crm:hubspot", json!({"token": "pat-example"})),
        ("sendgrid", "wirework/email:sendgrid", json!({"api_key": "SG.example"})),
        ("sendgrid-webhook", "wirework/email:sendgrid-webhook", json!({"public_key": "MFkw"})),
        ("twilio", "wirework/sms:twilio", json!({"account_sid": "AC0123", "auth_token": "example"})),
        ("slack", "wirework/slack:slack-bot", json!({"token": "xoxb-example"})),
    ];
    for (name, kind, fields) in credentials {
        let body = json!({"type": kind, "fields": fields});
        let response = server.api_json(Method::PUT, &format!("/credentials/{name}"), &body).send().await.unwrap();
        assert_eq!(response.status(), 204, "{name}: {}", response.text().await.unwrap());
    }
    let mut names: Vec<String> = std::fs::read_dir(common::repo().join("examples/workflows"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let text = |name: &str| std::fs::read_to_string(common::repo().join("examples/workflows").join(name)).unwrap();
    // Error workflows first: a workflow naming one needs it deployed.
    names.sort_by_key(|name| (!text(name).contains("type: error}"), name.clone()));
    assert!(names.len() >= 12, "{names:?}");
    for name in &names {
        let text = text(name);
        let deployed = server.deploy(&text).await;
        assert_eq!(deployed["id"], name.trim_end_matches(".yaml"), "{name}: the file is named after its workflow");
    }
    server.stop().await;
}

/// Abandoned cart: a cart never bought gets the three reminders and a note
/// to sales; a cart bought after the first reminder gets nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_cart_is_reminded_three_times_until_it_is_bought() {
    let (recorder, _data, server) = served().await;
    // 1 h, 23 h and 48 h become 1, 4 and 1 s: the second wait leaves the
    // test time to buy the second cart during it.
    let waits = [("timeout_seconds: 3600", "timeout_seconds: 1"), ("timeout_seconds: 82800", "timeout_seconds: 4")];
    let text =
        example("abandoned-cart.yaml", &recorder, &waits).replace("timeout_seconds: 172800", "timeout_seconds: 1");
    server.deploy(&text).await;

    let forgotten = fire(&server, "abandoned-cart/carts", json!({"cart_id": "c-1", "email": "ann@example.com"})).await;
    let bought = fire(&server, "abandoned-cart/carts", json!({"cart_id": "c-2", "email": "bob@example.com"})).await;
    // Someone else's purchase ends no wait of these carts.
    assert_eq!(emit(&server, "cart.purchased:c-9", json!({})).await, 0);
    parked_at(&server, &bought, "bought-within-24h", 1).await;
    assert_eq!(emit(&server, "cart.purchased:c-2", json!({"order": "o-2"})).await, 1);

    let done = succeeded(&server, &bought).await;
    assert_eq!(ran(&done), ["bought-within-1h", "gentle-reminder", "bought-within-24h"], "stopped once bought");
    let done = succeeded(&server, &forgotten).await;
    assert_eq!(
        ran(&done),
        [
            "bought-within-1h",
            "gentle-reminder",
            "bought-within-24h",
            "social-proof",
            "bought-within-72h",
            "final-reminder",
            "notify-sales"
        ]
    );

    let sent = |cart: &str| mails(&recorder, "cart", cart);
    assert_eq!(templates(&sent("c-1")), ["cart-reminder", "cart-social-proof", "cart-final"]);
    let final_offer = &sent("c-1")[2];
    assert_eq!(
        (final_offer["discount_percent"].clone(), final_offer["free_shipping"].clone()),
        (json!(15), json!(true))
    );
    assert_eq!(sent("c-1")[1]["discount_percent"], 10);
    assert!(sent("c-1").iter().all(|b| b["to"] == "ann@example.com"));
    assert_eq!(templates(&sent("c-2")), ["cart-reminder"], "the bought cart got only the first reminder");
    let notes = recorder.received("notify");
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].body["cart"], json!({"cart_id": "c-1", "email": "ann@example.com"}));
    server.stop().await;
}

/// Multi-stage approval: the manager decides every request and the director
/// the high-impact ones; a question goes to the requester and their answer
/// back to the same stage; a denial stops the request; a stage that never
/// decides is escalated each day, and on the third the execution fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_follow_the_rules_through_clarifications_denials_and_escalations() {
    let (recorder, _data, server) = served().await;
    let patient = example("approval.yaml", &recorder, &[])
        .replace("timeout_seconds: 86400", "timeout_seconds: 60")
        .replace("timeout_seconds: 604800", "timeout_seconds: 60");
    server.deploy(&patient).await;
    // A copy whose stages give up at once: escalations.
    let hurried = example("approval.yaml", &recorder, &[("id: approval\n", "id: approval-hurried\n")])
        .replace("timeout_seconds: 86400", "timeout_seconds: 1");
    server.deploy(&hurried).await;

    let request = |id: &str, amount: u64, impact: &str| json!({"request_id": id, "requester": format!("{id}@example.com"), "type": "purchase", "impact": impact, "amount": amount});
    let decide = |id: &str, stage: &str, decision: &str, by: &str, note: &str| {
        let server = &server;
        let (name, payload) =
            (format!("approval.decided:{id}:{stage}"), json!({"decision": decision, "by": by, "note": note}));
        async move { assert_eq!(emit(server, &name, payload).await, 1, "{name} ended one wait") }
    };
    let small = fire(&server, "approval/requests", request("r-1", 500, "low")).await;
    let questioned = fire(&server, "approval/requests", request("r-2", 20_000, "medium")).await;
    let denied = fire(&server, "approval/requests", request("r-3", 800, "high")).await;
    let forgotten = fire(&server, "approval-hurried/requests", request("r-4", 100, "low")).await;

    // r-1: the manager alone approves it.
    parked_at(&server, &small, "manager", 1).await;
    decide("r-1", "manager", "approved", "mia", "").await;
    let done = succeeded(&server, &small).await;
    assert_eq!(ran(&done), ["ask-manager", "manager", "manager-says", "high-impact", "tell-approved", "order"]);

    // r-2 (over 10,000): the manager asks a question first, gets the answer,
    // approves; then the director approves.
    parked_at(&server, &questioned, "manager", 1).await;
    decide("r-2", "manager", "clarify", "mia", "which vendor?").await;
    parked_at(&server, &questioned, "manager-answered", 1).await;
    assert_eq!(emit(&server, "approval.clarified:r-2", json!({"answer": "acme"})).await, 1);
    parked_at(&server, &questioned, "manager", 2).await;
    decide("r-2", "manager", "approved", "mia", "").await;
    parked_at(&server, &questioned, "director", 1).await;
    decide("r-2", "director", "approved", "dan", "").await;
    let done = succeeded(&server, &questioned).await;
    assert_eq!(ran(&done).iter().filter(|n| *n == "manager").count(), 2, "asked again after the answer");
    assert_eq!(ran(&done).last().map(String::as_str), Some("order"));

    // r-3 (high impact): the manager approves, the director denies.
    parked_at(&server, &denied, "manager", 1).await;
    decide("r-3", "manager", "approved", "mia", "").await;
    parked_at(&server, &denied, "director", 1).await;
    decide("r-3", "director", "denied", "dan", "over budget").await;
    let done = succeeded(&server, &denied).await;
    assert!(!ran(&done).contains(&"order".to_string()), "{:?}", ran(&done));

    // r-4: nobody decides; ops hear of it each day, and on the third it fails.
    let failed = server.wait_for(&forgotten, &["succeeded", "failed"]).await;
    assert_eq!(failed["status"], "failed", "{failed:#}");
    assert!(failed["error"]["message"].as_str().unwrap().contains("ask-manager"), "{failed:#}");

    let mails = |request: &str| mails(&recorder, "request", request);
    assert_eq!(templates(&mails("r-1")), ["approval-approved"]);
    assert_eq!(mails("r-1")[0]["by"], "mia");
    assert_eq!(templates(&mails("r-2")), ["approval-clarify", "approval-approved"]);
    assert_eq!(mails("r-2")[0]["question"], "which vendor?");
    assert_eq!((mails("r-2")[0]["stage"].clone(), mails("r-2")[1]["by"].clone()), (json!("manager"), json!("dan")));
    assert_eq!(mails("r-2")[0]["to"], "r-2@example.com");
    assert_eq!(templates(&mails("r-3")), ["approval-denied"]);
    let denial = &mails("r-3")[0];
    assert_eq!(
        (denial["stage"].clone(), denial["by"].clone(), denial["reason"].clone()),
        (json!("director"), json!("dan"), json!("over budget"))
    );
    assert!(mails("r-4").is_empty());
    let ordered: Vec<Value> =
        recorder.received("purchasing").into_iter().map(|r| r.body["request"]["request_id"].clone()).collect();
    assert_eq!(ordered.len(), 2, "{ordered:?}");
    assert!(ordered.contains(&json!("r-1")) && ordered.contains(&json!("r-2")), "{ordered:?}");
    let escalations: Vec<Value> = recorder
        .received("notify")
        .into_iter()
        .filter(|r| r.body["request"]["request_id"] == "r-4")
        .map(|r| r.body)
        .collect();
    assert_eq!(escalations.len(), 3, "{escalations:?}");
    assert_eq!(escalations[0]["text"], "request r-4 waits for the manager");
    server.stop().await;
}

/// High intent: a pricing-page click tags the contact; a hot lead who replies
/// goes to sales, one who does not gets the special offer; a cold one is only
/// tagged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_intent_leads_get_a_conversation_or_the_special_offer() {
    let (recorder, _data, server) = served().await;
    // The wait for a reply is 2 s already ("2 days in real life").
    let text = example("high-intent.yaml", &recorder, &[("timeout_seconds: 2", "timeout_seconds: 3")]);
    server.deploy(&text).await;
    let click = |email: &str, score: u64| {
        let server = &server;
        let payload = json!({"email": email, "score": score, "page": "/pricing"});
        async move {
            let body = json!({"name": "pricing.clicked", "payload": payload});
            let (status, answer) = json(server.api_json(Method::POST, "/events", &body).send().await.unwrap()).await;
            assert_eq!(status, 200, "{answer}");
            let started = answer["started"].as_array().unwrap();
            assert_eq!(started.len(), 1, "{answer}");
            started[0].as_str().unwrap().to_string()
        }
    };
    let replies = click("ann@example.com", 70).await;
    let silent = click("bob@example.com", 90).await;
    let cold = click("cy@example.com", 10).await;
    parked_at(&server, &replies, "await-reply", 1).await;
    assert_eq!(emit(&server, "reply:ann@example.com", json!({"text": "let's talk"})).await, 1);

    // The item the last node emitted.
    let last_item = |execution: &Value| -> Value {
        let step = execution["steps"].as_array().unwrap().iter().rfind(|s| s["outcome"].get("emitted").is_some());
        step.unwrap()["outcome"]["emitted"]["ports"][0][1][0].clone()
    };
    let done = server.wait_for(&replies, &["succeeded", "failed"]).await;
    assert_eq!(ran(&done), ["tag", "is-hot", "prioritise", "await-reply", "talking"]);
    let item = last_item(&done);
    assert_eq!((item["next"].clone(), item["priority"].clone()), (json!("sales-conversation"), json!("hot")));
    assert_eq!(item["event"], json!({"text": "let's talk"}), "the reply rides along");
    let done = server.wait_for(&silent, &["succeeded", "failed"]).await;
    assert_eq!(ran(&done), ["tag", "is-hot", "prioritise", "await-reply", "special-offer"]);
    let item = last_item(&done);
    assert_eq!((item["next"].clone(), item["discount_percent"].clone()), (json!("special-offer"), json!(10)));
    assert_eq!((item["tags"].clone(), item["source"].clone()), (json!(["high-intent"]), json!("/pricing")));
    let done = succeeded(&server, &cold).await;
    assert_eq!(ran(&done), ["tag", "is-hot"], "a cold lead is only tagged");
    server.stop().await;
}

/// Post-purchase: every order is thanked, gets tips a week later and a
/// review request a month later; a 5-star review brings a referral request, a
/// review of 2 stars a note to support, others and silence nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_is_followed_up_and_its_review_decides_what_comes_next() {
    let (recorder, _data, server) = served().await;
    // 7 and 30 days become 1 s each; 14 days for the review become 4 s, time
    // for the test to review three orders while the fourth times out.
    let waits = [
        ("seconds: 604800", "seconds: 1"),
        ("seconds: 2592000", "seconds: 1"),
        ("timeout_seconds: 1209600", "timeout_seconds: 4"),
    ];
    server.deploy(&example("post-purchase.yaml", &recorder, &waits)).await;

    let mut orders = Vec::new();
    for (order, email) in [("o-1", "ann@example.com"), ("o-2", "bob@example.com"), ("o-3", "cat@example.com")] {
        let execution =
            fire(&server, "post-purchase/orders", json!({"order_id": order, "email": email, "product": "kettle"}))
                .await;
        orders.push((order, execution));
    }
    let silent = fire(&server, "post-purchase/orders", json!({"order_id": "o-4", "email": "dan@example.com"})).await;
    for ((order, execution), (rating, comment)) in orders.iter().zip([(5, "lovely"), (2, "leaks"), (4, "fine")]) {
        parked_at(&server, execution, "reviewed", 1).await;
        let review = json!({"rating": rating, "comment": comment});
        assert_eq!(emit(&server, &format!("review.submitted:{order}"), review).await, 1, "{order}");
    }
    for execution in orders.iter().map(|(_, e)| e).chain([&silent]) {
        succeeded(&server, execution).await;
    }

    let sent = |email: &str| templates(&mails(&recorder, "to", email));
    let sequence = ["order-thanks", "product-tips", "review-request"];
    assert_eq!(sent("ann@example.com"), [&sequence[..], &["referral-request"]].concat(), "5 stars");
    for email in ["bob@example.com", "cat@example.com", "dan@example.com"] {
        assert_eq!(sent(email), sequence, "{email}");
    }
    assert_eq!(mails(&recorder, "to", "ann@example.com")[1]["product"], "kettle");
    let notes = recorder.received("notify");
    assert_eq!(notes.len(), 1, "only the unhappy review: {notes:?}");
    assert_eq!(notes[0].body["text"], "order o-2 of bob@example.com was rated 2 stars: leaks");
    server.stop().await;
}

/// Support ticket: every ticket is acknowledged; one answered in time and
/// resolved gets a survey and no escalation; one never answered is escalated
/// to the lead, then the head of support; one answered after the lead was
/// told but never resolved is reported stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_are_escalated_on_their_deadlines_and_tracked_to_resolution() {
    let (recorder, _data, server) = served().await;
    // The urgent deadline (1 h) becomes 5 s, time to answer in; the high and
    // normal ones 1 s, missed; the 4 hours after the lead is told and the
    // week to resolve become 4 s each.
    let waits = [
        ("respond_within_seconds: 3600", "respond_within_seconds: 5"),
        ("respond_within_seconds: 14400", "respond_within_seconds: 1"),
        ("respond_within_seconds: 86400", "respond_within_seconds: 1"),
        ("timeout_seconds: 14400", "timeout_seconds: 4"),
        ("timeout_seconds: 604800", "timeout_seconds: 4"),
    ];
    server.deploy(&example("support-ticket.yaml", &recorder, &waits)).await;
    let ticket = |id: &str, email: &str, priority: &str| json!({"ticket_id": id, "email": email, "subject": format!("help with {id}"), "priority": priority});
    let on_time = fire(&server, "support-ticket/tickets", ticket("t-1", "ann@example.com", "urgent")).await;
    // Any priority but urgent and high counts as normal.
    let ignored = fire(&server, "support-ticket/tickets", ticket("t-2", "bob@example.com", "low")).await;
    let late = fire(&server, "support-ticket/tickets", ticket("t-3", "cat@example.com", "high")).await;

    parked_at(&server, &on_time, "answered", 1).await;
    assert_eq!(emit(&server, "ticket.answered:t-1", json!({"by": "eve"})).await, 1);
    parked_at(&server, &on_time, "resolved", 1).await;
    assert_eq!(emit(&server, "ticket.resolved:t-1", json!({})).await, 1);
    parked_at(&server, &late, "answered-after-lead", 1).await;
    assert_eq!(emit(&server, "ticket.answered:t-3", json!({"by": "eve"})).await, 1);
    parked_at(&server, &ignored, "resolved", 1).await;
    assert_eq!(emit(&server, "ticket.resolved:t-2", json!({})).await, 1);
    for execution in [&on_time, &ignored, &late] {
        succeeded(&server, execution).await;
    }

    let sent = |ticket: &str| templates(&mails(&recorder, "ticket", ticket));
    assert_eq!(sent("t-1"), ["ticket-received", "ticket-survey"]);
    assert_eq!(sent("t-2"), ["ticket-received", "ticket-survey"]);
    assert_eq!(sent("t-3"), ["ticket-received"], "never resolved: no survey");
    let told = |ticket: &str| -> Vec<String> {
        notes(&recorder, "ticket", ticket).iter().map(|b| b["to"].as_str().unwrap().to_string()).collect()
    };
    assert!(told("t-1").is_empty(), "answered in time: {:?}", told("t-1"));
    assert_eq!(told("t-2"), ["support-lead", "head-of-support"]);
    assert_eq!(told("t-3"), ["support-lead", "support-lead"], "escalated, then stale");
    let stale = notes(&recorder, "ticket", "t-3");
    assert_eq!(stale[1]["text"], "ticket t-3 has been open for a week: help with t-3");
    server.stop().await;
}

/// Re-engagement: a contact who opens the first email, or the second, goes
/// back into lead nurturing (through the `contact.added` event it emits); one
/// who opens neither gets a task for sales instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inactive_contacts_are_won_back_into_the_nurture_or_handed_to_sales() {
    let (recorder, _data, server) = served().await;
    // Each week for an open becomes 3 s; lead nurturing's first day, 1 s.
    let waits = [("timeout_seconds: 604800", "timeout_seconds: 3"), ("timeout_seconds: 604800", "timeout_seconds: 3")];
    server.deploy(&example("re-engagement.yaml", &recorder, &waits)).await;
    server.deploy(&example("lead-nurturing.yaml", &recorder, &[("seconds: 86400", "seconds: 1")])).await;

    let contact = |email: &str, name: &str| json!({"email": email, "first_name": name});
    let first = fire(&server, "re-engagement/inactive", contact("ann@example.com", "Ann")).await;
    let second = fire(&server, "re-engagement/inactive", contact("bob@example.com", "Bob")).await;
    let neither = fire(&server, "re-engagement/inactive", contact("cat@example.com", "Cat")).await;
    parked_at(&server, &first, "opened-first", 1).await;
    assert_eq!(emit(&server, "email.opened:ann@example.com", json!({})).await, 1);
    parked_at(&server, &second, "opened-second", 1).await;
    assert_eq!(emit(&server, "email.opened:bob@example.com", json!({})).await, 1);
    for execution in [&first, &second, &neither] {
        succeeded(&server, execution).await;
    }

    let subjects = |email: &str| -> Vec<String> {
        mails(&recorder, "to", email)
            .iter()
            .filter(|b| b["template"] == "re-engage")
            .map(|b| b["subject"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(subjects("ann@example.com"), ["We miss you, Ann"]);
    assert_eq!(subjects("bob@example.com"), ["We miss you, Bob", "Bob, here is what you missed"]);
    assert_eq!(subjects("cat@example.com"), ["We miss you, Cat", "Cat, here is what you missed"]);
    let tasks = recorder.received("crm/tasks");
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0].body["contact"], "cat@example.com");

    // Back in the nurture: its welcome email, after its (shortened) day.
    let welcomed = |email: &str| mails(&recorder, "to", email).iter().any(|b| b["template"] == "welcome");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !(welcomed("ann@example.com") && welcomed("bob@example.com")) {
        assert!(tokio::time::Instant::now() < deadline, "no welcome: {:?}", recorder.received("send"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, nurtured) =
        json(server.api(Method::GET, "/executions?workflow=lead-nurturing").send().await.unwrap()).await;
    assert_eq!(nurtured.as_array().map(Vec::len), Some(2), "only Ann and Bob: {nurtured:#}");
    assert!(!welcomed("cat@example.com"));
    server.stop().await;
}

/// Welcome series: day 0 welcomes and tags every signup; day 2 tells those
/// who opened the welcome the company story and the others the value
/// proposition; day 5 sends success stories; day 8 invites to a demo those
/// the CRM rates medium or high, and sends the rest educational content.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_welcome_series_follows_each_signup_by_what_they_opened_and_their_engagement() {
    let (recorder, _data, server) = served().await;
    // 47 hours for the open become 5 s (time to sign all three up and open
    // the first), and the two days 7 s (the open's answer is in first, as in
    // the file); three days become 1 s each.
    let waits = [
        ("timeout_seconds: 169200", "timeout_seconds: 5"),
        ("seconds: 172800", "seconds: 7"),
        ("seconds: 259200", "seconds: 1"),
        ("seconds: 259200", "seconds: 1"),
    ];
    server.deploy(&example("welcome-series.yaml", &recorder, &waits)).await;
    for (email, engagement) in [("ann@example.com", "high"), ("bob@example.com", "low"), ("cat@example.com", "medium")]
    {
        recorder.answer(&format!("crm/contacts/{email}"), json!({"engagement": engagement}));
    }

    let mut signups = Vec::new();
    for (email, name) in [("ann@example.com", "Ann"), ("bob@example.com", "Bob"), ("cat@example.com", "Cat")] {
        signups.push(fire(&server, "welcome-series/signups", json!({"email": email, "first_name": name})).await);
    }
    parked_at(&server, &signups[0], "opened-welcome", 1).await;
    assert_eq!(emit(&server, "email.opened:ann@example.com", json!({"campaign": "welcome"})).await, 1);
    for execution in &signups {
        succeeded(&server, execution).await;
    }

    let sent = |email: &str| templates(&mails(&recorder, "to", email));
    let welcome = "welcome-series-welcome";
    assert_eq!(sent("ann@example.com"), [welcome, "company-story", "success-stories", "demo-invitation"]);
    assert_eq!(sent("bob@example.com"), [welcome, "value-proposition", "success-stories", "educational-content"]);
    assert_eq!(sent("cat@example.com"), [welcome, "value-proposition", "success-stories", "demo-invitation"]);
    assert_eq!(mails(&recorder, "to", "cat@example.com")[0]["subject"], "Welcome aboard, Cat");
    let mut tagged: Vec<Value> = recorder.received("crm/tags").into_iter().map(|r| r.body["contact"].clone()).collect();
    tagged.sort_by_key(|c| c.to_string());
    assert_eq!(tagged, [json!("ann@example.com"), json!("bob@example.com"), json!("cat@example.com")]);
    server.stop().await;
}

/// Data sync: both sources are pulled, normalised and merged by owner, and
/// the record pushed to both targets; a target's refusal is reported to ops;
/// a target down through its retries fails the execution, its error workflow
/// tells ops, and a retry once the target is back completes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_are_synced_by_owner_with_refusals_and_outages_reported() {
    let (recorder, _data, server) = served().await;
    let quick = ("{max_attempts: 6, initial_delay_ms: 5000}", "{max_attempts: 2, initial_delay_ms: 100}");
    server.deploy(&example("data-sync-failures.yaml", &recorder, &[])).await;
    server.deploy(&example("data-sync.yaml", &recorder, &[quick, quick])).await;
    for (email, name, support) in [
        ("ann@example.com", "Ann Lee", json!({"accepted": true})),
        ("bob@example.com", "Bob Ray", json!({"accepted": false, "reason": "no phone number"})),
        ("cat@example.com", "Cat Poe", json!({"accepted": true})),
    ] {
        let phone = format!("+31 20 555 {}", &email[..3]);
        recorder.answer(&format!("crm/contacts/{email}"), json!({"full_name": name, "phone_number": phone}));
        let billing = json!({"customer": {"name": "someone else"}, "subscription": {"plan": "pro"}});
        recorder.answer(&format!("billing/customers/{email}"), billing);
        recorder.answer(&format!("warehouse/contacts/{email}"), json!({"accepted": true}));
        recorder.answer(&format!("support/users/{email}"), support);
    }
    // The warehouse is down for Cat: 503 through both attempts.
    recorder.fail_next("warehouse/contacts/cat@example.com", 2);

    let ann = fire(&server, "data-sync/contacts", json!({"email": "ann@example.com"})).await;
    let bob = fire(&server, "data-sync/contacts", json!({"email": "bob@example.com"})).await;
    let cat = fire(&server, "data-sync/contacts", json!({"email": "cat@example.com"})).await;
    for execution in [&ann, &bob] {
        succeeded(&server, execution).await;
    }
    let record = json!({"email": "ann@example.com", "name": "Ann Lee", "phone": "+31 20 555 ann", "plan": "pro"});
    for target in ["warehouse/contacts/ann@example.com", "support/users/ann@example.com"] {
        let pushed = recorder.received(target);
        assert_eq!(pushed.len(), 1, "{target}");
        assert_eq!(pushed[0].body, record, "{target}: the CRM's name and phone, billing's plan");
    }
    assert!(notes(&recorder, "contact", "ann@example.com").is_empty());
    let refused = notes(&recorder, "contact", "bob@example.com");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["text"], "the support desk refused bob@example.com: no phone number");

    let failed = server.wait_for(&cat, &["succeeded", "failed"]).await;
    assert_eq!(failed["status"], "failed", "{failed:#}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while notes(&recorder, "execution", &cat).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no note from the error workflow: {:?}",
            recorder.received("notify")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let outage = &notes(&recorder, "execution", &cat)[0];
    let text = outage["text"].as_str().unwrap();
    assert!(text.starts_with(&format!("data sync {cat} failed at push-warehouse: ")), "{text}");

    // The warehouse is back: a retry pushes again and completes the sync.
    let retry = json!({"mode": "from_failed"});
    let path = format!("/executions/{cat}/retry");
    let (status, answer) = json(server.api_json(Method::POST, &path, &retry).send().await.unwrap()).await;
    assert_eq!(status, 200, "{answer}");
    succeeded(&server, &cat).await;
    let pushed = recorder.received("warehouse/contacts/cat@example.com");
    assert_eq!(pushed.len(), 3, "two failed attempts, then the retry");
    assert_eq!(pushed[2].body["name"], "Cat Poe");
    server.stop().await;
}

/// Contact form: the visitor is welcomed, the CRM gets the contact, sales a
/// note with its id, and the form's answer carries that id; when the CRM
/// fails, the form is answered that the execution waits (for its retry) and
/// the execution fails once the retries run out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_form_is_answered_with_its_crm_reference_or_its_failure() {
    let (recorder, _data, server) = served().await;
    let quick = ("{max_attempts: 3, initial_delay_ms: 500}", "{max_attempts: 3, initial_delay_ms: 400}");
    server.deploy(&example("contact-form.yaml", &recorder, &[quick, quick, quick])).await;
    recorder.answer("crm/contacts", json!({"id": "crm-17"}));
    let submit = |body: Value| {
        server
            .raw(Method::POST, "/hooks/contact-form/submissions")
            .header("content-type", "application/json")
            .body(body.to_string())
    };
    let form = json!({"email": "ann@example.com", "name": "Ann", "company": "Acme", "message": "a quote, please"});
    let (status, answer) = json(submit(form).send().await.unwrap()).await;
    assert_eq!((status, answer), (200, json!({"received": true, "reference": "crm-17"})));
    assert_eq!(templates(&mails(&recorder, "to", "ann@example.com")), ["contact-welcome"]);
    let entries = recorder.received("crm/contacts");
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0].body,
        json!({"email": "ann@example.com", "name": "Ann", "company": "Acme", "source": "contact-form"})
    );
    let notes = notes(&recorder, "crm_id", "crm-17");
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["text"], "Ann <ann@example.com> of Acme wrote: a quote, please");

    // The CRM down through all three attempts: the first retry's backoff
    // answers the form, and the execution fails on its own later.
    recorder.fail_next("crm/contacts", 3);
    let form = json!({"email": "bob@example.com", "name": "Bob", "company": "Initech", "message": "hello"});
    let (status, answer) = json(submit(form).send().await.unwrap()).await;
    assert_eq!((status, answer["status"].clone()), (202, json!("waiting")), "{answer}");
    let execution = answer["execution_id"].as_str().unwrap();
    let failed = server.wait_for(execution, &["succeeded", "failed"]).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(recorder.received("crm/contacts").len(), 4, "one entry, then three attempts");
    assert_eq!(recorder.received("notify").len(), 1, "no note to sales without a CRM entry");
    server.stop().await;
}

/// Consultation request: intake, booking, confirmation and a reminder at the
/// time the calendar set; a late intake after one reminder still books; no
/// intake, or no booking, ends with a note to sales.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consultations_go_from_intake_to_booking_to_a_reminder_or_to_sales() {
    let (recorder, _data, server) = served().await;
    // 3 days for the intake become 5 s (time to fire all four requests and
    // answer the first), the next 4 days 3 s, and the week to book 3 s.
    let waits = [
        ("timeout_seconds: 259200", "timeout_seconds: 5"),
        ("timeout_seconds: 345600", "timeout_seconds: 3"),
        ("timeout_seconds: 604800", "timeout_seconds: 3"),
    ];
    server.deploy(&example("consultation.yaml", &recorder, &waits)).await;
    let request = |id: &str, email: &str| json!({"request_id": id, "email": email, "name": id, "topic": "pricing"});
    let prompt = fire(&server, "consultation/requests", request("r-1", "ann@example.com")).await;
    let late = fire(&server, "consultation/requests", request("r-2", "bob@example.com")).await;
    let silent = fire(&server, "consultation/requests", request("r-3", "cat@example.com")).await;
    let unbooked = fire(&server, "consultation/requests", request("r-4", "dan@example.com")).await;

    let now_ms = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let booking = |consultant: &str, remind_at: u64| json!({"starts": "2026-12-01T10:00:00+01:00", "consultant": consultant, "remind_at_unix_ms": remind_at});
    parked_at(&server, &prompt, "intake-done", 1).await;
    assert_eq!(emit(&server, "intake.completed:r-1", json!({"budget": "10k"})).await, 1);
    parked_at(&server, &unbooked, "intake-done", 1).await;
    assert_eq!(emit(&server, "intake.completed:r-4", json!({})).await, 1);
    parked_at(&server, &prompt, "booked", 1).await;
    let remind_at = now_ms() + 1000;
    assert_eq!(emit(&server, "booking.confirmed:r-1", booking("Eve", remind_at)).await, 1);
    // The reminder waits for the time the calendar set.
    parked_at(&server, &prompt, "until-reminder", 1).await;
    let (_, record) = json(server.api(Method::GET, &format!("/executions/{prompt}")).send().await.unwrap()).await;
    let parked = record["steps"].as_array().unwrap().iter().find(|s| s["node"] == "until-reminder").unwrap();
    assert_eq!(parked["outcome"]["waiting"]["until_ms"], remind_at, "{parked:#}");
    parked_at(&server, &late, "intake-done-late", 1).await;
    assert_eq!(emit(&server, "intake.completed:r-2", json!({})).await, 1);
    parked_at(&server, &late, "booked", 1).await;
    assert_eq!(emit(&server, "booking.confirmed:r-2", booking("Fay", now_ms() + 1000)).await, 1);
    for execution in [&prompt, &late, &silent, &unbooked] {
        succeeded(&server, execution).await;
    }

    let sent = |request: &str| templates(&mails(&recorder, "request", request));
    let booked = ["consultation-booking", "consultation-confirmed", "consultation-reminder"];
    assert_eq!(sent("r-1"), [&["consultation-intake"][..], &booked].concat());
    assert_eq!(sent("r-2"), [&["consultation-intake", "consultation-intake-reminder"][..], &booked].concat());
    assert_eq!(sent("r-3"), ["consultation-intake", "consultation-intake-reminder"]);
    assert_eq!(sent("r-4"), ["consultation-intake", "consultation-booking"]);
    let confirmed = &mails(&recorder, "request", "r-2")[3];
    assert_eq!(
        (confirmed["consultant"].clone(), confirmed["starts"].clone()),
        (json!("Fay"), json!("2026-12-01T10:00:00+01:00"))
    );
    let told = |request: &str| notes(&recorder, "request", request);
    assert!(told("r-1").is_empty() && told("r-2").is_empty());
    assert_eq!(told("r-3")[0]["text"], "r-3 <cat@example.com> asked about pricing but never filled in the intake form");
    assert_eq!(told("r-4")[0]["text"], "r-4 <dan@example.com> sent the intake form but booked no call");
    server.stop().await;
}
