//! `plugins/crm` (HubSpot) end to end in the real host: the package
//! installed with an operator's grants, credentials stored through the API,
//! workflows deployed through the API, every node calling the fake HubSpot
//! (`fakes::hubspot`), HubSpot's errors and rate limits, and the signed
//! webhook trigger starting executions and publishing the events that
//! start listeners and resume waits. No credential value may appear in an
//! execution record or an answer.

use crate::common::engine::install_package;
use crate::common::server::{json, serve, TestServer};
use crate::common::*;
use crate::fakes::hubspot::{self, Delivery, Fake, CLIENT_SECRET, TOKEN};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use wirework::plugins::GrantEntry;
use wirework::server::ServeConfig;

const WRONG_TOKEN: &str = "pat-na1-00000000-dead-beef-0000-000000000000";

/// A server with core and crm installed as an operator would (HubSpot's
/// host, the fake's loopback address as an internal host, both credential
/// types, both event families), the fake's credentials stored through the API.
struct Setup {
    fake: Fake,
    server: TestServer,
    _dir: tempfile::TempDir,
}

async fn setup(tweak: impl Fn(&mut ServeConfig)) -> Setup {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    install_package(dir.path(), &fixtures().core, GrantEntry::default());
    let grant = GrantEntry {
        http: vec!["api.hubapi.com".into()],
        http_internal: vec!["127.0.0.1".into()],
        credentials: vec!["hubspot".into(), "hubspot-app".into()],
        events: vec!["contact.*".into(), "deal.*".into()],
        ..Default::default()
    };
    install_package(dir.path(), &fixtures().integration("crm"), grant);
    let server = serve(dir.path(), tweak).await;
    let credentials = [
        (
            "hubspot-test",
            json!({"type": "wirework/crm:hubspot", "fields": {"token": TOKEN, "base_url": fake.base_url()}}),
        ),
        (
            "hubspot-wrong",
            json!({"type": "wirework/crm:hubspot", "fields": {"token": WRONG_TOKEN, "base_url": fake.base_url()}}),
        ),
        ("hubspot-app", json!({"type": "wirework/crm:hubspot-app", "fields": {"client_secret": CLIENT_SECRET}})),
    ];
    for (name, body) in credentials {
        let (status, answer) =
            json(server.api_json(Method::PUT, &format!("/credentials/{name}"), &body).send().await.unwrap()).await;
        assert_eq!(status, 204, "storing {name}: {answer}");
        assert_no_secret(&answer.to_string(), "the credential's answer");
    }
    Setup { fake, server, _dir: dir }
}

fn assert_no_secret(text: &str, whose: &str) {
    for secret in [TOKEN, WRONG_TOKEN, CLIENT_SECRET] {
        assert!(!text.contains(secret), "{whose} holds a credential value: {text}");
    }
}

/// Start `workflow` by hand with `items` and wait for it to end.
async fn run(server: &TestServer, workflow: &str, items: Value) -> Value {
    let path = format!("/workflows/{workflow}/executions");
    let (status, started) =
        json(server.api_json(Method::POST, &path, &json!({"items": items})).send().await.unwrap()).await;
    assert_eq!(status, 202, "{started}");
    let id = started["execution_id"].as_str().unwrap();
    let execution = server.wait_for(id, &["succeeded", "failed"]).await;
    let (_, record) = json(server.api(Method::GET, &format!("/executions/{id}")).send().await.unwrap()).await;
    assert_no_secret(&record.to_string(), "the execution record");
    execution
}

fn succeeded(execution: &Value) -> &Value {
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    execution
}

/// The steps of `node`, in order.
fn steps<'a>(execution: &'a Value, node: &str) -> Vec<&'a Value> {
    execution["steps"].as_array().unwrap().iter().filter(|s| s["node"] == node).collect()
}

/// What `node` emitted on `main` in its last step.
fn output(execution: &Value, node: &str) -> Vec<Value> {
    let steps = steps(execution, node);
    let last = steps.last().unwrap_or_else(|| panic!("{node} did not run: {execution:#}"));
    let ports = last["outcome"]["emitted"]["ports"].as_array().unwrap_or_else(|| panic!("{last:#}"));
    let main = ports.iter().find(|p| p[0] == "main").unwrap_or_else(|| panic!("no main port: {last:#}"));
    main[1].as_array().unwrap().clone()
}

/// Every request the fake saw carried the token and HubSpot's JSON headers.
fn assert_authenticated(fake: &Fake) {
    for request in fake.requests() {
        assert_eq!(request.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()), "{}", request.line());
        assert_eq!(request.header("accept"), Some("application/json"), "{}", request.line());
        if request.method != "GET" {
            let content_type = request.header("content-type").unwrap_or_default();
            assert!(content_type.starts_with("application/json"), "{}: {content_type}", request.line());
        }
    }
}

const SEARCH: &str = "/crm/v3/objects/contacts/search";
const CONTACTS: &str = "/crm/v3/objects/contacts";

const UPSERT: &str = r#"
id: upsert
triggers: [{id: go, type: manual}]
nodes:
  - id: contact
    uses: "wirework/crm@^0.1"
    node: upsert-contact
    config:
      email: "{{ $json.email }}"
      properties: {firstname: "{{ $json.first }}", company: "{{ $json.company }}"}
      lifecycle_stage: "{{ $json.stage }}"
    credentials: {hubspot: hubspot-test}
    retry: {max_attempts: 3, initial_delay_ms: 50}
connections: [{from: go, to: contact}]
"#;

#[tokio::test]
async fn upsert_contact_creates_the_contact_then_updates_the_same_one() {
    let Setup { fake, server, .. } = setup(|_| {}).await;
    server.deploy(UPSERT).await;

    // Not found: search, then create.
    let first = json!([{"email": "  Ann@Example.COM ", "first": "Ann", "company": "Acme", "stage": "lead"}]);
    let execution = run(&server, "upsert", first).await;
    let created = &output(succeeded(&execution), "contact")[0];
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["email"], "ann@example.com", "{created}");
    assert_eq!(created["created"], true, "{created}");
    assert_eq!(created["properties"]["firstname"], "Ann", "{created}");
    assert_eq!(created["properties"]["lifecyclestage"], "lead", "{created}");
    let lines: Vec<String> = fake.requests().iter().map(|r| r.line()).collect();
    assert_eq!(lines, [format!("POST {SEARCH}"), format!("POST {CONTACTS}")]);
    let search = &fake.requests()[0].body;
    assert_eq!(
        search["filterGroups"],
        json!([{"filters": [{"propertyName": "email", "operator": "EQ", "value": "ann@example.com"}]}]),
        "the email is trimmed and lower-cased: {search}"
    );
    assert_eq!(search["limit"], 1);
    assert_eq!(search["properties"], json!(["email", "company", "firstname", "lifecyclestage"]));
    let create = &fake.requests()[1].body;
    assert_eq!(
        create,
        &json!({"properties": {"email": "ann@example.com", "firstname": "Ann", "company": "Acme", "lifecyclestage": "lead"}})
    );

    // Found: search, then PATCH of that contact; a property that matched
    // nothing (`company`) is left out, not cleared.
    fake.clear_requests();
    let second = json!([{"email": "ann@example.com", "first": "Annie", "stage": "customer"}]);
    let execution = run(&server, "upsert", second).await;
    let updated = &output(succeeded(&execution), "contact")[0];
    assert_eq!(updated["id"], id.as_str(), "{updated}");
    assert_eq!(updated["created"], false, "{updated}");
    assert_eq!(updated["properties"]["firstname"], "Annie", "{updated}");
    assert_eq!(updated["properties"]["lifecyclestage"], "customer", "{updated}");
    let lines: Vec<String> = fake.requests().iter().map(|r| r.line()).collect();
    assert_eq!(lines, [format!("POST {SEARCH}"), format!("PATCH {CONTACTS}/{id}")]);
    assert_eq!(fake.requests()[1].body, json!({"properties": {"firstname": "Annie", "lifecyclestage": "customer"}}));
    assert_authenticated(&fake);

    let contacts = fake.contacts();
    assert_eq!(contacts.len(), 1, "one contact, created once and updated: {contacts:#?}");
    let properties = &contacts[0]["properties"];
    assert_eq!(
        (&properties["email"], &properties["firstname"], &properties["company"], &properties["lifecyclestage"]),
        (&json!("ann@example.com"), &json!("Annie"), &json!("Acme"), &json!("customer")),
        "{contacts:#?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn upsert_contact_that_loses_the_create_race_updates_the_existing_contact() {
    let Setup { fake, server, .. } = setup(|_| {}).await;
    server.deploy(UPSERT).await;
    // Created by someone else a moment ago: HubSpot's search does not see it yet.
    let existing = fake.seed_contact_unsearchable(json!({"email": "bob@example.com", "firstname": "Bob"}));

    let execution = run(&server, "upsert", json!([{"email": "Bob@example.com", "company": "Bobco"}])).await;
    let item = &output(succeeded(&execution), "contact")[0];
    assert_eq!((&item["id"], &item["created"]), (&json!(existing), &json!(false)), "{item}");
    assert_eq!(item["properties"]["company"], "Bobco", "{item}");
    let requests = fake.requests();
    let lines: Vec<String> = requests.iter().map(|r| r.line()).collect();
    assert_eq!(lines, [format!("POST {SEARCH}"), format!("POST {CONTACTS}"), format!("PATCH {CONTACTS}/{existing}")]);
    assert_eq!(requests[2].body, json!({"properties": {"company": "Bobco"}}));
    // Nothing to set: the existing contact is read instead.
    fake.clear_requests();
    let execution = run(&server, "upsert", json!([{"email": "bob@example.com"}])).await;
    let item = &output(succeeded(&execution), "contact")[0];
    assert_eq!((&item["id"], &item["created"]), (&json!(existing), &json!(false)), "{item}");
    let requests = fake.requests();
    let lines: Vec<String> = requests.iter().map(|r| r.line()).collect();
    assert_eq!(lines, [format!("POST {SEARCH}"), format!("POST {CONTACTS}"), format!("GET {CONTACTS}/{existing}")]);
    assert_eq!(requests[2].query_param("properties").as_deref(), Some("email"));
    assert_authenticated(&fake);

    let contacts = fake.contacts();
    assert_eq!(contacts.len(), 1, "no duplicate: {contacts:#?}");
    assert_eq!(contacts[0]["properties"]["company"], "Bobco");
    assert_eq!(contacts[0]["properties"]["firstname"], "Bob");
    server.stop().await;
}

const UPDATE: &str = r#"
id: update
triggers: [{id: go, type: manual}]
nodes:
  - id: update
    uses: "wirework/crm@^0.1"
    node: update-contact
    config: {email: "{{ $json.email }}", lifecycle_stage: "{{ $json.stage }}"}
    credentials: {hubspot: hubspot-test}
    retry: {max_attempts: 3, initial_delay_ms: 50}
connections: [{from: go, to: update}]
"#;

/// The node's failure in a failed execution, after checking it was not retried.
fn fatal_failure<'a>(execution: &'a Value, node: &str) -> &'a Value {
    assert_eq!(execution["status"], "failed", "{execution:#}");
    let error = &execution["error"];
    assert_eq!(error["node"], node, "{error:#}");
    let failure = &error["failure"];
    assert_eq!(failure["kind"], "plugin", "{failure:#}");
    assert_eq!(failure["retryable"], false, "a 4xx is not retried: {failure:#}");
    let attempts: Vec<&Value> = steps(execution, node).into_iter().map(|s| &s["attempt"]).collect();
    assert_eq!(attempts, [&json!(1)], "one attempt despite `retry`: {execution:#}");
    failure
}

#[tokio::test]
async fn hubspot_errors_end_the_step_with_hubspots_category_and_message() {
    let Setup { fake, server, .. } = setup(|_| {}).await;
    server.deploy(UPDATE).await;
    let carol = fake.seed_contact(json!({"email": "carol@example.com", "lifecyclestage": "customer"}));

    // HubSpot refuses to move a lifecycle stage backwards.
    let execution = run(&server, "update", json!([{"email": "carol@example.com", "stage": "lead"}])).await;
    let failure = fatal_failure(&execution, "update");
    assert_eq!(failure["code"], "VALIDATION_ERROR", "{failure:#}");
    let message = failure["message"].as_str().unwrap();
    assert!(message.starts_with("updating the contact carol@example.com: HubSpot answered 400: "), "{message}");
    assert!(message.contains("can't be moved backwards from customer to lead"), "HubSpot's message: {message}");
    assert!(message.contains("set lifecycle_stage to \"\" first"), "the hint: {message}");
    assert!(message.contains("[correlationId c0ffee"), "the correlation id: {message}");
    let requests = fake.requests();
    assert_eq!(requests.len(), 1, "sent once");
    assert_eq!(requests[0].line(), format!("PATCH {CONTACTS}/carol@example.com"));
    assert_eq!(requests[0].query_param("idProperty").as_deref(), Some("email"));
    assert_eq!(requests[0].body, json!({"properties": {"lifecyclestage": "lead"}}));
    assert_eq!(fake.contact(&carol).unwrap()["properties"]["lifecyclestage"], "customer", "unchanged");

    // The documented way back: clear it, then set the earlier stage.
    for stage in ["", "lead"] {
        let execution = run(&server, "update", json!([{"email": "carol@example.com", "stage": stage}])).await;
        let item = &output(succeeded(&execution), "update")[0];
        assert_eq!(item["id"], carol.as_str(), "{item}");
    }
    assert_eq!(fake.contact(&carol).unwrap()["properties"]["lifecyclestage"], "lead");

    // No such contact.
    fake.clear_requests();
    let execution = run(&server, "update", json!([{"email": "nobody@example.com", "stage": "lead"}])).await;
    let failure = fatal_failure(&execution, "update");
    assert_eq!(failure["code"], "OBJECT_NOT_FOUND", "{failure:#}");
    assert!(failure["message"].as_str().unwrap().contains("HubSpot answered 404: resource not found"), "{failure:#}");
    assert_eq!(fake.requests().len(), 1);

    // A token HubSpot does not know: the fake saw it, the record does not.
    let wrong = UPDATE.replacen("id: update\n", "id: update-wrong\n", 1).replace("hubspot-test", "hubspot-wrong");
    server.deploy(&wrong).await;
    fake.clear_requests();
    let execution = run(&server, "update-wrong", json!([{"email": "carol@example.com", "stage": "customer"}])).await;
    let failure = fatal_failure(&execution, "update");
    assert_eq!(failure["code"], "INVALID_AUTHENTICATION", "{failure:#}");
    assert!(failure["message"].as_str().unwrap().contains("Authentication credentials not found"), "{failure:#}");
    assert_eq!(fake.requests()[0].header("authorization"), Some(format!("Bearer {WRONG_TOKEN}").as_str()));
    assert_eq!(fake.contact(&carol).unwrap()["properties"]["lifecyclestage"], "lead", "unchanged");
    server.stop().await;
}

const PIPELINE: &str = r#"
id: pipeline
triggers: [{id: go, type: manual}]
nodes:
  - id: contact
    uses: "wirework/crm@^0.1"
    node: upsert-contact
    config: {email: "{{ $json.email }}", properties: {firstname: "{{ $json.first }}"}}
    credentials: {hubspot: hubspot-test}
  - id: note
    uses: "wirework/crm@^0.1"
    node: add-note
    config: {contact_id: "{{ $json.id }}", body: "Contact form: {{ $trigger.message }}", timestamp: 1767225600000}
    credentials: {hubspot: hubspot-test}
  - id: deal
    uses: "wirework/crm@^0.1"
    node: create-deal
    config:
      dealname: "{{ $trigger.company }} - inbound"
      dealstage: appointmentscheduled
      amount: 1200
      closedate: "2026-03-31"
      contact_id: "{{ $node.contact.json.id }}"
      properties: {dealtype: newbusiness}
    credentials: {hubspot: hubspot-test}
  - id: won
    uses: "wirework/crm@^0.1"
    node: move-deal
    config: {deal_id: "{{ $json.id }}", dealstage: closedwon}
    credentials: {hubspot: hubspot-test}
connections:
  - {from: go, to: contact}
  - {from: contact, to: note}
  - {from: note, to: deal}
  - {from: deal, to: won}
---
id: move
triggers: [{id: go, type: manual}]
nodes:
  - id: move
    uses: "wirework/crm@^0.1"
    node: move-deal
    config: {deal_id: "{{ $json.deal }}", dealstage: "{{ $json.stage }}"}
    credentials: {hubspot: hubspot-test}
    retry: {max_attempts: 3, initial_delay_ms: 50}
connections: [{from: go, to: move}]
---
id: note
triggers: [{id: go, type: manual}]
nodes:
  - id: note
    uses: "wirework/crm@^0.1"
    node: add-note
    config: {contact_id: "{{ $json.contact }}", body: "hello"}
    credentials: {hubspot: hubspot-test}
    retry: {max_attempts: 3, initial_delay_ms: 50}
connections: [{from: go, to: note}]
"#;

#[tokio::test]
async fn notes_and_deals_are_created_with_their_associations_and_deals_move() {
    let Setup { fake, server, .. } = setup(|_| {}).await;
    for workflow in PIPELINE.split("---") {
        server.deploy(workflow).await;
    }
    let item = json!([{"email": "dana@example.com", "first": "Dana", "company": "Danco", "message": "a demo, please"}]);
    let execution = run(&server, "pipeline", item).await;
    succeeded(&execution);
    let contact = output(&execution, "contact")[0]["id"].as_str().unwrap().to_string();

    let note = &output(&execution, "note")[0];
    let notes = fake.notes();
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert_eq!(note, &json!({"id": notes[0]["id"], "contact_id": contact}), "{note}");
    assert_eq!(notes[0]["properties"]["hs_note_body"], "Contact form: a demo, please");
    assert_eq!(notes[0]["properties"]["hs_timestamp"], "2026-01-01T00:00:00.000Z", "Unix ms sent as ISO 8601");
    assert_eq!(notes[0]["associations"], json!([{"to_type": "contact", "to": contact, "typeId": 202}]));
    let sent = &fake.requests_to("POST", "/crm/v3/objects/notes")[0].body;
    assert_eq!(
        sent["associations"],
        json!([{"to": {"id": contact}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}]}])
    );

    let deals = fake.deals();
    assert_eq!(deals.len(), 1, "{deals:#?}");
    let deal_id = deals[0]["id"].as_str().unwrap().to_string();
    let created = &output(&execution, "deal")[0];
    assert_eq!(
        created,
        &json!({"id": deal_id, "stage": "appointmentscheduled", "pipeline": "default", "contact_id": contact})
    );
    let sent = &fake.requests_to("POST", "/crm/v3/objects/deals")[0].body;
    assert_eq!(
        sent["properties"],
        json!({"dealname": "Danco - inbound", "dealstage": "appointmentscheduled", "pipeline": "default",
               "amount": "1200", "closedate": "2026-03-31", "dealtype": "newbusiness"}),
        "property values are strings: {sent}"
    );
    assert_eq!(deals[0]["associations"], json!([{"to_type": "contact", "to": contact, "typeId": 3}]));
    let moved = &output(&execution, "won")[0];
    assert_eq!(moved, &json!({"id": deal_id, "stage": "closedwon"}));
    let patch = fake.requests_to("PATCH", &format!("/crm/v3/objects/deals/{deal_id}"));
    assert_eq!(patch.len(), 1);
    assert_eq!(patch[0].body, json!({"properties": {"dealstage": "closedwon"}}));
    assert_eq!(fake.deal(&deal_id).unwrap()["properties"]["dealstage"], "closedwon");
    assert_authenticated(&fake);

    // A stage the pipeline does not have: HubSpot's validation error, not retried.
    fake.clear_requests();
    let execution = run(&server, "move", json!([{"deal": deal_id, "stage": "closedwonn"}])).await;
    let failure = fatal_failure(&execution, "move");
    assert_eq!(failure["code"], "VALIDATION_ERROR", "{failure:#}");
    assert!(
        failure["message"].as_str().unwrap().contains("closedwonn was not one of the allowed options"),
        "{failure:#}"
    );
    assert_eq!(fake.requests().len(), 1);
    assert_eq!(fake.deal(&deal_id).unwrap()["properties"]["dealstage"], "closedwon", "unchanged");

    // A note on a contact HubSpot does not have.
    fake.clear_requests();
    let execution = run(&server, "note", json!([{"contact": 999999}])).await;
    let failure = fatal_failure(&execution, "note");
    assert_eq!(failure["code"], "VALIDATION_ERROR", "{failure:#}");
    let message = failure["message"].as_str().unwrap();
    assert!(message.contains("One or more associations are invalid (No contact with ID 999999 exists)"), "{message}");
    assert_eq!(fake.notes().len(), 1, "no new note");
    server.stop().await;
}

const SEARCH_WORKFLOW: &str = r#"
id: search
triggers: [{id: go, type: manual}]
nodes:
  - id: leads
    uses: "wirework/crm@^0.1"
    node: search-contacts
    config:
      filters:
        - {property: lifecyclestage, value: lead}
        - {property: hs_lead_status, operator: IN, values: [NEW, OPEN]}
        - {property: email, operator: HAS_PROPERTY}
      properties: [email, lifecyclestage, hs_lead_status]
      sorts: [{property: createdate, direction: ASCENDING}]
      limit: "{{ $json.limit }}"
    credentials: {hubspot: hubspot-test}
connections: [{from: go, to: leads}]
"#;

#[tokio::test]
async fn search_contacts_follows_pages_up_to_its_limit() {
    let Setup { fake, server, .. } = setup(|_| {}).await;
    server.deploy(SEARCH_WORKFLOW).await;
    let mut leads = Vec::new();
    for i in 0..230 {
        let status = if i % 2 == 0 { "NEW" } else { "OPEN" };
        let email = format!("lead{i:03}@example.com");
        leads.push(fake.seed_contact(json!({"email": email, "lifecyclestage": "lead", "hs_lead_status": status})));
    }
    // Not matching: another stage, another status.
    for i in 0..15 {
        fake.seed_contact(
            json!({"email": format!("customer{i}@example.com"), "lifecyclestage": "customer", "hs_lead_status": "NEW"}),
        );
        fake.seed_contact(
            json!({"email": format!("cold{i}@example.com"), "lifecyclestage": "lead", "hs_lead_status": "UNQUALIFIED"}),
        );
    }

    let execution = run(&server, "search", json!([{"limit": 1000}])).await;
    let found = output(succeeded(&execution), "leads");
    let ids: Vec<&str> = found.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, leads.iter().map(String::as_str).collect::<Vec<_>>(), "every lead, once, in order");
    assert!(found.iter().all(|c| c["properties"]["lifecyclestage"] == "lead"), "{found:?}");
    assert_eq!(found[1]["properties"]["email"], "lead001@example.com");
    let pages: Vec<(Value, Value)> =
        fake.requests_to("POST", SEARCH).iter().map(|r| (r.body["limit"].clone(), r.body["after"].clone())).collect();
    assert_eq!(
        pages,
        [(json!(100), Value::Null), (json!(100), json!("100")), (json!(100), json!("200"))],
        "pages of 100 following paging.next.after"
    );
    let first = &fake.requests()[0].body;
    assert_eq!(
        first["filterGroups"],
        json!([{"filters": [
            {"propertyName": "lifecyclestage", "operator": "EQ", "value": "lead"},
            {"propertyName": "hs_lead_status", "operator": "IN", "values": ["NEW", "OPEN"]},
            {"propertyName": "email", "operator": "HAS_PROPERTY"},
        ]}])
    );
    assert_eq!(first["sorts"], json!([{"propertyName": "createdate", "direction": "ASCENDING"}]));

    // A limit ends the paging early: the last page asks only for what is missing.
    fake.clear_requests();
    let execution = run(&server, "search", json!([{"limit": 150}])).await;
    assert_eq!(output(succeeded(&execution), "leads").len(), 150);
    let pages: Vec<(Value, Value)> =
        fake.requests().iter().map(|r| (r.body["limit"].clone(), r.body["after"].clone())).collect();
    assert_eq!(pages, [(json!(100), Value::Null), (json!(50), json!("100"))]);
    assert_authenticated(&fake);
    server.stop().await;
}

#[tokio::test]
async fn a_rate_limit_is_retried_after_retry_after_and_a_server_error_is_retried() {
    let Setup { fake, server, .. } = setup(|_| {}).await;
    server.deploy(UPSERT).await;

    // 429 with Retry-After: 1 s, while the workflow's own backoff is 50 ms.
    fake.fail_next(429, 1, Some(1));
    let execution = run(&server, "upsert", json!([{"email": "eve@example.com", "first": "Eve"}])).await;
    let item = &output(succeeded(&execution), "contact")[0];
    assert_eq!(item["created"], true, "{item}");
    let attempts = steps(&execution, "contact");
    assert_eq!(attempts.len(), 2, "{execution:#}");
    let failed = &attempts[0]["outcome"]["failed"];
    assert_eq!(failed["then"], "retry", "{failed:#}");
    assert_eq!(failed["failure"]["code"], "RATE_LIMIT", "HubSpot's errorType: {failed:#}");
    assert_eq!(failed["failure"]["retryable"], true);
    assert_eq!(failed["failure"]["retry_after_ms"], 1000);
    assert!(failed["failure"]["message"].as_str().unwrap().contains("You have reached your secondly limit."));
    assert_eq!(attempts[1]["attempt"], 2);
    let searches = fake.requests_to("POST", SEARCH);
    assert_eq!(searches.len(), 2, "the limited search, then the retry's");
    let waited = searches[1].at.duration_since(searches[0].at);
    assert!(waited >= Duration::from_millis(1000), "retried after {waited:?}, before Retry-After");
    assert_eq!(fake.contacts().len(), 1);

    // 500 twice: retried with the workflow's backoff, then done.
    fake.clear_requests();
    fake.fail_next(500, 2, None);
    let execution = run(&server, "upsert", json!([{"email": "eve@example.com", "first": "Evelyn"}])).await;
    let item = &output(succeeded(&execution), "contact")[0];
    assert_eq!(item["created"], false, "{item}");
    let attempts = steps(&execution, "contact");
    let outcomes: Vec<(&Value, &Value)> =
        attempts.iter().map(|s| (&s["attempt"], &s["outcome"]["failed"]["failure"]["code"])).collect();
    assert_eq!(
        outcomes,
        [(&json!(1), &json!("http_500")), (&json!(2), &json!("http_500")), (&json!(3), &Value::Null)],
        "{execution:#}"
    );
    let lines: Vec<String> = fake.requests().iter().map(|r| r.line()).collect();
    assert_eq!(
        lines,
        [
            format!("POST {SEARCH}"),
            format!("POST {SEARCH}"),
            format!("POST {SEARCH}"),
            format!("PATCH {CONTACTS}/{}", item["id"].as_str().unwrap())
        ]
    );
    assert_eq!(fake.contacts()[0]["properties"]["firstname"], "Evelyn");
    server.stop().await;
}

// ---------------------------------------------------------------------------
// The webhook trigger
// ---------------------------------------------------------------------------

const HOOKS: [&str; 4] = [
    // HubSpot's deliveries: contact creations and changes start it.
    r#"
id: crm-events
triggers:
  - id: hubspot
    type: webhook
    path: hubspot
    uses: "wirework/crm@^0.1"
    node: webhook
    mode: async
    config: {subscriptions: [contact.creation, contact.propertyChange]}
    credentials: {hubspot-app: hubspot-app}
nodes:
  - {id: seen, uses: "wirework/core@^0.1", node: noop}
connections: [{from: hubspot, to: seen}]
"#,
    // Started by every new contact.
    r#"
id: new-contacts
triggers: [{id: created, type: event, event: contact.created}]
nodes:
  - {id: welcome, uses: "wirework/core@^0.1", node: noop}
connections: [{from: created, to: welcome}]
"#,
    // Started by every new deal.
    r#"
id: new-deals
triggers: [{id: created, type: event, event: deal.created}]
nodes:
  - {id: celebrate, uses: "wirework/core@^0.1", node: noop}
connections: [{from: created, to: celebrate}]
"#,
    // Waits for one contact's next change.
    r#"
id: follow-up
triggers: [{id: go, type: manual}]
nodes:
  - {id: wait, uses: "wirework/core@^0.1", node: wait, config: {event: "contact.updated:{{ $json.id }}", timeout_seconds: 3600}}
  - {id: changed, uses: "wirework/core@^0.1", node: noop}
connections: [{from: go, to: wait}, {from: wait, to: changed}]
"#,
];

async fn deploy_hooks(server: &TestServer) {
    for workflow in HOOKS {
        server.deploy(workflow).await;
    }
}

async fn executions(server: &TestServer, workflow: &str) -> Vec<Value> {
    let (_, listed) =
        json(server.api(Method::GET, &format!("/executions?workflow={workflow}")).send().await.unwrap()).await;
    listed.as_array().cloned().unwrap_or_default()
}

/// A `follow-up` execution waiting for `contact.updated:<id>`.
async fn waiting_for(server: &TestServer, id: &str) -> String {
    let path = "/workflows/follow-up/executions";
    let (status, started) =
        json(server.api_json(Method::POST, path, &json!({"items": [{"id": id}]})).send().await.unwrap()).await;
    assert_eq!(status, 202, "{started}");
    let execution = started["execution_id"].as_str().unwrap().to_string();
    server.wait_for(&execution, &["waiting"]).await;
    execution
}

/// The one execution of `workflow`, once it has ended.
async fn only_execution(server: &TestServer, workflow: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let listed = loop {
        let listed = executions(server, workflow).await;
        if !listed.is_empty() {
            break listed;
        }
        assert!(tokio::time::Instant::now() < deadline, "{workflow} never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(listed.len(), 1, "{workflow}: {listed:#?}");
    let execution = server.wait_for(listed[0]["id"].as_str().unwrap(), &["succeeded", "failed"]).await;
    assert_no_secret(&execution.to_string(), "an execution record");
    succeeded(&execution).clone()
}

#[tokio::test]
async fn signed_deliveries_start_executions_and_publish_contact_and_deal_events() {
    // Behind a proxy: HubSpot signs the public URL it was given, escapes and all.
    let public = "https://wirework.example.com";
    let Setup { server, .. } = setup(|c| c.public_url = Some(public.into())).await;
    deploy_hooks(&server).await;
    let waiting = waiting_for(&server, "501").await;
    let other = waiting_for(&server, "777").await;

    let path = "/hooks/crm-events/hubspot?portal=hub%3A62515";
    let events = json!([
        hubspot::contact_creation("501"),
        hubspot::contact_property_change("501", "lifecyclestage", "customer"),
        hubspot::deal_creation("8001"),
    ]);
    let delivery = Delivery::signed(CLIENT_SECRET, &format!("{public}{path}"), &events);
    let response = delivery.post(&server.client, &format!("{}{path}", server.url)).send().await.unwrap();
    let (status, body) = json(response).await;
    assert_eq!((status, &body), (200, &json!({"received": 3})));

    // The subscribed types are the items of one execution; the deal is not.
    let execution = only_execution(&server, "crm-events").await;
    let items = &steps(&execution, "seen")[0]["input"];
    let items = items.as_array().unwrap();
    assert_eq!(items.len(), 2, "{execution:#}");
    assert_eq!(items[0]["event"], "contact.created");
    assert_eq!(items[0]["contact_id"], "501");
    assert_eq!(items[0]["portal_id"], hubspot::PORTAL_ID);
    assert_eq!(items[1]["event"], "contact.updated");
    assert_eq!((&items[1]["property"], &items[1]["value"]), (&json!("lifecyclestage"), &json!("customer")));

    // contact.created:501 started the listener; deal.created:8001 too, though
    // the trigger does not start on deals.
    only_execution(&server, "new-contacts").await;
    only_execution(&server, "new-deals").await;

    // contact.updated:501 resumed the wait on 501 with the event, not the wait on 777.
    let resumed = server.wait_for(&waiting, &["succeeded", "failed"]).await;
    let changed = &steps(succeeded(&resumed), "changed")[0]["input"][0];
    assert_eq!(changed["event"]["contact_id"], "501", "{changed:#}");
    assert_eq!(changed["event"]["value"], "customer", "{changed:#}");
    assert_eq!(server.wait_for(&other, &["waiting"]).await["status"], "waiting");
    assert_no_secret(&resumed.to_string(), "the resumed execution");
    assert_eq!(executions(&server, "crm-events").await.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn unsigned_forged_stale_or_misdirected_deliveries_are_refused_and_start_nothing() {
    let Setup { server, .. } = setup(|_| {}).await;
    deploy_hooks(&server).await;
    let waiting = waiting_for(&server, "501").await;

    // Without a public URL the trigger sees `http://` + Host + path.
    let url = format!("{}/hooks/crm-events/hubspot", server.url);
    let events = json!([hubspot::contact_creation("501"), hubspot::contact_property_change("501", "phone", "+1555")]);
    let good = Delivery::signed(CLIENT_SECRET, &url, &events);
    let mut forged = Vec::new();
    forged.push(("wrong secret", Delivery::signed("not-the-client-secret", &url, &events)));
    let mut tampered = good.clone();
    tampered.body = tampered.body.replace("+1555", "+1666");
    forged.push(("tampered body", tampered));
    let stale = hubspot::now_ms() - 6 * 60 * 1000;
    forged.push(("stale timestamp", Delivery::signed_at(CLIENT_SECRET, &url, &events, stale)));
    let mut replayed = good.clone();
    replayed.timestamp = Some((hubspot::now_ms() - 1000).to_string());
    forged.push(("another timestamp", replayed));
    let other_path = format!("{}/hooks/crm-events/other", server.url);
    forged.push(("signed for another URL", Delivery::signed(CLIENT_SECRET, &other_path, &events)));
    forged.push(("no signature", Delivery { signature: None, ..good.clone() }));
    forged.push(("no timestamp", Delivery { timestamp: None, ..good.clone() }));
    forged.push(("garbled signature", Delivery { signature: Some("%%%".into()), ..good.clone() }));
    for (what, delivery) in forged {
        let response = delivery.post(&server.client, &url).send().await.unwrap();
        let (status, body) = json(response).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| e.contains("signature")), "{what}: {body}");
        assert_no_secret(&body.to_string(), what);
    }
    // Signed, but not HubSpot's array of events.
    let not_events = Delivery::signed(CLIENT_SECRET, &url, &json!({"objectId": 501}));
    let (status, body) = json(not_events.post(&server.client, &url).send().await.unwrap()).await;
    assert_eq!(status, 400, "{body}");

    for workflow in ["crm-events", "new-contacts", "new-deals"] {
        assert_eq!(executions(&server, workflow).await.len(), 0, "{workflow} started");
    }
    assert_eq!(server.wait_for(&waiting, &["waiting"]).await["status"], "waiting", "nothing published");

    // The genuine delivery goes through: the refusals above were the signature's.
    let (status, body) = json(good.post(&server.client, &url).send().await.unwrap()).await;
    assert_eq!((status, &body), (200, &json!({"received": 2})));
    let execution = only_execution(&server, "crm-events").await;
    assert_eq!(steps(&execution, "seen")[0]["input"].as_array().map(Vec::len), Some(2));
    only_execution(&server, "new-contacts").await;
    assert_eq!(server.wait_for(&waiting, &["succeeded", "failed"]).await["status"], "succeeded");
    server.stop().await;
}
