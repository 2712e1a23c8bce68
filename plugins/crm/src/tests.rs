//! Native tests with the SDK's FakeHost (it reads plugin.toml, so the
//! `hubspot` credential is sent as a bearer token, as by the real host).

use super::*;
use serde_json::json;
use wirework_sdk::signature::hmac_sha256_base64;
use wirework_sdk::testing::{FakeHost, Reply, SentRequest};
use wirework_sdk::{Request, TriggerResult};

const TOKEN: &str = "pat-na1-11111111-2222-3333-4444-555555555555";
const BASE: &str = "https://hubspot.test/api";
const HUB: &str = "https://api.hubapi.com";
const SECRET: &str = "hubspot-client-secret-0123456789";
/// FakeHost's clock: 2026-01-01T00:00:00Z.
const NOW_MS: u64 = 1_767_225_600_000;

/// A host with the API credential, its base_url overridden (with a trailing `/`).
fn host() -> FakeHost {
    FakeHost::new().credential("hubspot", &[("token", TOKEN), ("base_url", "https://hubspot.test/api/")])
}

/// A host with the API credential and HubSpot's default base URL.
fn default_host() -> FakeHost {
    FakeHost::new().credential("hubspot", &[("token", TOKEN)])
}

fn items(outcome: Outcome) -> Vec<Item> {
    match outcome {
        Outcome::Emit(mut ports) => {
            assert_eq!(ports.len(), 1, "one port");
            let (port, items) = ports.remove(0);
            assert_eq!(port, "main");
            items
        }
        other => panic!("expected items, got {other:?}"),
    }
}

/// Method, URL, JSON content type, bearer token; returns the body.
fn check(sent: &SentRequest, method: &str, url: &str) -> Value {
    assert_eq!(sent.method, method);
    assert_eq!(sent.url, url);
    assert_eq!(sent.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    assert_eq!(sent.header("accept"), Some("application/json"));
    if sent.body.is_empty() {
        assert_eq!(sent.header("content-type"), None);
        return Value::Null;
    }
    assert_eq!(sent.header("content-type"), Some("application/json"));
    sent.json()
}

fn hubspot_error(status: u16, category: &str, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"status": "error", "message": message, "correlationId": "aeb5f871-7f07-4993-9211-075dc63e7cbf", "category": category}),
    )
}

/// No credential value in the error nor in the logs.
fn assert_no_secret(host: &FakeHost, error: &NodeError) {
    assert!(!error.message.contains(TOKEN), "{}", error.message);
    assert!(!error.message.contains("pat-na1"), "{}", error.message);
    for (_, line) in host.logs() {
        assert!(!line.contains(TOKEN) && !line.contains(SECRET), "{line}");
    }
}

// ---------------------------------------------------------------------------
// upsert-contact
// ---------------------------------------------------------------------------

fn search_for(email: &str, properties: &[&str]) -> Value {
    json!({
        "filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}],
        "properties": properties,
        "limit": 1
    })
}

#[test]
fn upsert_finds_the_contact_and_patches_it() {
    let host = host()
        .expect(
            "POST",
            &format!("{BASE}/crm/v3/objects/contacts/search"),
            Reply::json(
                200,
                json!({"total": 1, "results": [{"id": "501", "properties": {"email": "ann@example.com", "firstname": "Annie", "hs_object_id": "501"}, "archived": false}]}),
            ),
        )
        .expect(
            "PATCH",
            &format!("{BASE}/crm/v3/objects/contacts/501"),
            Reply::json(
                200,
                json!({"id": "501", "properties": {"firstname": "Ann", "phone": "+31 6 1234", "lifecyclestage": "lead", "lastmodifieddate": "2026-01-01T00:00:00Z"}}),
            ),
        );
    let config = json!({
        "email": "  Ann@Example.COM ",
        "properties": {"firstname": "Ann", "phone": "+31 6 1234", "company": null},
        "lifecycle_stage": "lead"
    });
    let out = items(host.run::<UpsertContact>(config, vec![]).unwrap());
    host.assert_done();
    let sent = host.requests();
    assert_eq!(
        check(&sent[0], "POST", &format!("{BASE}/crm/v3/objects/contacts/search")),
        search_for("ann@example.com", &["email", "firstname", "lifecyclestage", "phone"])
    );
    assert_eq!(
        check(&sent[1], "PATCH", &format!("{BASE}/crm/v3/objects/contacts/501")),
        json!({"properties": {"firstname": "Ann", "phone": "+31 6 1234", "lifecyclestage": "lead"}})
    );
    assert_eq!(
        out,
        vec![json!({
            "id": "501",
            "email": "ann@example.com",
            "created": false,
            "properties": {
                "email": "ann@example.com", "firstname": "Ann", "hs_object_id": "501", "phone": "+31 6 1234",
                "lifecyclestage": "lead", "lastmodifieddate": "2026-01-01T00:00:00Z"
            }
        })]
    );
}

#[test]
fn upsert_creates_the_contact_when_none_is_found() {
    let host = default_host()
        .expect("POST", &format!("{HUB}/crm/v3/objects/contacts/search"), Reply::json(200, json!({"total": 0, "results": []})))
        .expect(
            "POST",
            &format!("{HUB}/crm/v3/objects/contacts"),
            Reply::json(
                201,
                json!({"id": "777", "properties": {"email": "bob@example.com", "firstname": "Bob", "hs_object_id": "777"}, "createdAt": "2026-01-01T00:00:00Z"}),
            ),
        );
    let config = json!({"email": "Bob@example.com", "properties": {"firstname": "Bob", "age": 42, "vip": true}});
    let out = items(host.run::<UpsertContact>(config, vec![]).unwrap());
    host.assert_done();
    let sent = host.requests();
    assert_eq!(
        check(&sent[0], "POST", &format!("{HUB}/crm/v3/objects/contacts/search")),
        search_for("bob@example.com", &["email", "age", "firstname", "vip"])
    );
    assert_eq!(
        check(&sent[1], "POST", &format!("{HUB}/crm/v3/objects/contacts")),
        json!({"properties": {"email": "bob@example.com", "firstname": "Bob", "age": "42", "vip": "true"}})
    );
    assert_eq!(
        out,
        vec![json!({
            "id": "777", "email": "bob@example.com", "created": true,
            "properties": {"email": "bob@example.com", "firstname": "Bob", "hs_object_id": "777"}
        })]
    );
}

#[test]
fn upsert_that_loses_a_create_race_patches_the_existing_contact() {
    let host = host()
        .expect("POST", &format!("{BASE}/crm/v3/objects/contacts/search"), Reply::json(200, json!({"total": 0, "results": []})))
        .expect(
            "POST",
            &format!("{BASE}/crm/v3/objects/contacts"),
            Reply::json(
                409,
                json!({"status": "error", "message": "Contact already exists. Existing ID: 12345", "correlationId": "c-1", "category": "CONFLICT"}),
            ),
        )
        .expect(
            "PATCH",
            &format!("{BASE}/crm/v3/objects/contacts/12345"),
            Reply::json(200, json!({"id": "12345", "properties": {"firstname": "Cy"}})),
        );
    let config = json!({"email": "cy@example.com", "properties": {"firstname": "Cy"}});
    let out = items(host.run::<UpsertContact>(config, vec![]).unwrap());
    host.assert_done();
    let sent = host.requests();
    assert_eq!(
        check(&sent[2], "PATCH", &format!("{BASE}/crm/v3/objects/contacts/12345")),
        json!({"properties": {"firstname": "Cy"}})
    );
    assert_eq!(
        out,
        vec![json!({"id": "12345", "email": "cy@example.com", "created": false, "properties": {"firstname": "Cy"}})]
    );
}

#[test]
fn upsert_race_without_properties_reads_the_existing_contact() {
    let host = host()
        .expect("POST", &format!("{BASE}/crm/v3/objects/contacts/search"), Reply::json(200, json!({"results": []})))
        .expect(
            "POST",
            &format!("{BASE}/crm/v3/objects/contacts"),
            hubspot_error(409, "CONFLICT", "Contact already exists. Existing ID: 98"),
        )
        .expect(
            "GET",
            &format!("{BASE}/crm/v3/objects/contacts/98?properties=email"),
            Reply::json(200, json!({"id": "98", "properties": {"email": "dee@example.com"}})),
        );
    let out = items(host.run::<UpsertContact>(json!({"email": "dee@example.com"}), vec![]).unwrap());
    host.assert_done();
    assert_eq!(
        check(&host.requests()[1], "POST", &format!("{BASE}/crm/v3/objects/contacts")),
        json!({"properties": {"email": "dee@example.com"}})
    );
    check(&host.requests()[2], "GET", &format!("{BASE}/crm/v3/objects/contacts/98?properties=email"));
    assert_eq!(out[0]["id"], "98");
    assert_eq!(out[0]["created"], false);
}

#[test]
fn upsert_found_without_properties_sends_no_patch() {
    let host = host().expect(
        "POST",
        &format!("{BASE}/crm/v3/objects/contacts/search"),
        Reply::json(200, json!({"results": [{"id": "5", "properties": {"email": "e@example.com"}}]})),
    );
    let out = items(host.run::<UpsertContact>(json!({"email": "e@example.com", "properties": {}}), vec![]).unwrap());
    host.assert_done();
    assert_eq!(host.requests().len(), 1);
    assert_eq!(
        out,
        vec![json!({"id": "5", "email": "e@example.com", "created": false, "properties": {"email": "e@example.com"}})]
    );
}

#[test]
fn upsert_409_without_an_existing_id_is_fatal_with_hubspots_message() {
    let host = host()
        .expect("POST", &format!("{BASE}/crm/v3/objects/contacts/search"), Reply::json(200, json!({"results": []})))
        .expect(
            "POST",
            &format!("{BASE}/crm/v3/objects/contacts"),
            hubspot_error(409, "CONFLICT", "Conflict on unique property"),
        );
    let error = host.run::<UpsertContact>(json!({"email": "f@example.com"}), vec![]).unwrap_err();
    assert!(!error.retryable);
    assert_eq!(error.code.as_deref(), Some("CONFLICT"));
    assert!(error.message.contains("creating the contact f@example.com"), "{}", error.message);
    assert!(error.message.contains("Conflict on unique property"), "{}", error.message);
    assert!(error.message.contains("aeb5f871-7f07-4993-9211-075dc63e7cbf"), "{}", error.message);
    assert_no_secret(&host, &error);
}

#[test]
fn upsert_runs_once_per_input_item() {
    let search = Reply::json(200, json!({"results": [{"id": "5", "properties": {"email": "g@example.com"}}]}));
    let url = format!("{BASE}/crm/v3/objects/contacts/search");
    let host = host().expect("POST", &url, search.clone()).expect("POST", &url, search);
    let out = items(
        host.run::<UpsertContact>(json!({"email": "g@example.com"}), vec![json!({"a": 1}), json!({"a": 2})]).unwrap(),
    );
    host.assert_done();
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|item| item.get("a").is_none()), "input fields are not merged");
}

#[test]
fn upsert_refuses_bad_config() {
    let host = host();
    for config in [
        json!({"email": " "}),
        json!({"email": "a@b.c", "properties": {"email": "x@y.z"}}),
        json!({"email": "a@b.c", "properties": {"tags": ["a"]}}),
        json!({"email": "a@b.c", "unknown": 1}),
        json!({"properties": {}}),
    ] {
        let error = host.run::<UpsertContact>(config.clone(), vec![]).unwrap_err();
        assert_eq!(error.code.as_deref(), Some("bad_config"), "{config}: {}", error.message);
        assert!(!error.retryable);
    }
    assert!(host.requests().is_empty());
}

#[test]
fn the_search_failing_is_reported_with_hubspots_category() {
    let host = host().expect(
        "POST",
        &format!("{BASE}/crm/v3/objects/contacts/search"),
        Reply::json(
            400,
            json!({
                "status": "error",
                "message": "There was a problem with the request.",
                "correlationId": "c-2",
                "category": "VALIDATION_ERROR",
                "errors": [{"message": "Property \"nope\" does not exist", "code": "PROPERTY_DOESNT_EXIST"}]
            }),
        ),
    );
    let error = host.run::<UpsertContact>(json!({"email": "a@b.c", "properties": {"nope": "1"}}), vec![]).unwrap_err();
    assert!(!error.retryable);
    assert_eq!(error.code.as_deref(), Some("VALIDATION_ERROR"));
    assert_eq!(
        error.message,
        "searching the contact a@b.c: HubSpot answered 400: There was a problem with the request. \
         (Property \"nope\" does not exist) [correlationId c-2]"
    );
}

// ---------------------------------------------------------------------------
// update-contact
// ---------------------------------------------------------------------------

#[test]
fn update_contact_by_id() {
    let host = host().expect(
        "PATCH",
        &format!("{BASE}/crm/v3/objects/contacts/77"),
        Reply::json(200, json!({"id": "77", "properties": {"lastname": "Lovelace", "lifecyclestage": "customer"}})),
    );
    let config = json!({"contact_id": 77, "properties": {"lastname": "Lovelace"}, "lifecycle_stage": "customer"});
    let out = items(host.run::<UpdateContact>(config, vec![]).unwrap());
    host.assert_done();
    assert_eq!(
        check(&host.requests()[0], "PATCH", &format!("{BASE}/crm/v3/objects/contacts/77")),
        json!({"properties": {"lastname": "Lovelace", "lifecyclestage": "customer"}})
    );
    assert_eq!(out, vec![json!({"id": "77", "properties": {"lastname": "Lovelace", "lifecyclestage": "customer"}})]);
}

#[test]
fn update_contact_by_email_uses_id_property() {
    let url = format!("{HUB}/crm/v3/objects/contacts/ann%2Bnews@example.com?idProperty=email");
    let host =
        default_host().expect("PATCH", &url, Reply::json(200, json!({"id": "9", "properties": {"phone": "123"}})));
    let config = json!({"email": "Ann+News@example.com", "properties": {"phone": "123"}});
    let out = items(host.run::<UpdateContact>(config, vec![]).unwrap());
    host.assert_done();
    assert_eq!(check(&host.requests()[0], "PATCH", &url), json!({"properties": {"phone": "123"}}));
    assert_eq!(out, vec![json!({"id": "9", "properties": {"phone": "123"}})]);
}

#[test]
fn update_contact_ids_are_path_encoded() {
    let url = format!("{BASE}/crm/v3/objects/contacts/..%2F..%2Fdeals%2F1");
    let host = host().expect("PATCH", &url, Reply::json(200, json!({"id": "1", "properties": {}})));
    host.run::<UpdateContact>(json!({"contact_id": "../../deals/1", "properties": {"a": "b"}}), vec![]).unwrap();
    host.assert_done();
}

#[test]
fn update_contact_moving_the_lifecycle_stage_backwards_is_fatal_with_hubspots_message() {
    let message = "Property values were not valid: [{\"isValid\":false,\"message\":\"lifecyclestage cannot be set backwards from customer to lead\",\"error\":\"INVALID_OPTION\",\"name\":\"lifecyclestage\"}]";
    let host = host().expect(
        "PATCH",
        &format!("{BASE}/crm/v3/objects/contacts/77"),
        hubspot_error(400, "VALIDATION_ERROR", message),
    );
    let error = host.run::<UpdateContact>(json!({"contact_id": "77", "lifecycle_stage": "lead"}), vec![]).unwrap_err();
    assert!(!error.retryable);
    assert_eq!(error.code.as_deref(), Some("VALIDATION_ERROR"));
    assert!(error.message.starts_with("updating the contact 77: HubSpot answered 400: "), "{}", error.message);
    assert!(error.message.contains(message), "{}", error.message);
    assert!(error.message.contains("set lifecycle_stage to \"\" first"), "{}", error.message);
    assert_no_secret(&host, &error);
}

#[test]
fn update_contact_not_found_is_fatal() {
    let url = format!("{BASE}/crm/v3/objects/contacts/nobody@example.com?idProperty=email");
    let host = host().expect("PATCH", &url, hubspot_error(404, "OBJECT_NOT_FOUND", "resource not found"));
    let error = host
        .run::<UpdateContact>(json!({"email": "nobody@example.com", "properties": {"a": "1"}}), vec![])
        .unwrap_err();
    assert!(!error.retryable);
    assert_eq!(error.code.as_deref(), Some("OBJECT_NOT_FOUND"));
    assert!(error.message.contains("resource not found"), "{}", error.message);
}

#[test]
fn update_contact_refuses_bad_config() {
    let host = host();
    for config in [
        json!({"properties": {"a": "1"}}),
        json!({"contact_id": "1", "email": "a@b.c", "properties": {"a": "1"}}),
        json!({"contact_id": "1"}),
        json!({"contact_id": "1", "properties": {"a": null}}),
        json!({"contact_id": -3, "properties": {"a": "1"}}),
        json!({"contact_id": "", "properties": {"a": "1"}}),
    ] {
        let error = host.run::<UpdateContact>(config.clone(), vec![]).unwrap_err();
        assert_eq!(error.code.as_deref(), Some("bad_config"), "{config}: {}", error.message);
    }
    assert!(host.requests().is_empty());
}

// ---------------------------------------------------------------------------
// add-note
// ---------------------------------------------------------------------------

#[test]
fn add_note_posts_the_note_associated_to_the_contact() {
    let host = host().expect(
        "POST",
        &format!("{BASE}/crm/v3/objects/notes"),
        Reply::json(201, json!({"id": "3001", "properties": {"hs_note_body": "Called, interested"}})),
    );
    let out = items(host.run::<AddNote>(json!({"contact_id": "501", "body": "Called, interested"}), vec![]).unwrap());
    host.assert_done();
    assert_eq!(
        check(&host.requests()[0], "POST", &format!("{BASE}/crm/v3/objects/notes")),
        json!({
            "properties": {"hs_timestamp": "2026-01-01T00:00:00.000Z", "hs_note_body": "Called, interested"},
            "associations": [{
                "to": {"id": "501"},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}]
            }]
        })
    );
    assert_eq!(out, vec![json!({"id": "3001", "contact_id": "501"})]);
}

#[test]
fn add_note_timestamps_take_ms_or_iso_8601() {
    let url = format!("{BASE}/crm/v3/objects/notes");
    let note = Reply::json(201, json!({"id": "1"}));
    let host = host().expect("POST", &url, note.clone()).expect("POST", &url, note);
    host.run::<AddNote>(json!({"contact_id": 5, "body": "x", "timestamp": 951_782_400_123u64}), vec![]).unwrap();
    host.run::<AddNote>(json!({"contact_id": 5, "body": "x", "timestamp": "2025-06-30T12:00:00Z"}), vec![]).unwrap();
    let sent = host.requests();
    assert_eq!(sent[0].json()["properties"]["hs_timestamp"], "2000-02-29T00:00:00.123Z");
    assert_eq!(sent[0].json()["associations"][0]["to"]["id"], "5");
    assert_eq!(sent[1].json()["properties"]["hs_timestamp"], "2025-06-30T12:00:00Z");
}

#[test]
fn add_note_429_is_retryable_after_retry_after_or_hubspots_10_second_window() {
    let url = format!("{BASE}/crm/v3/objects/notes");
    let limited = json!({"status": "error", "message": "You have reached your secondly limit.", "errorType": "RATE_LIMIT", "correlationId": "c-3", "policyName": "SECONDLY"});
    let host = host()
        .expect(
            "POST",
            &url,
            Reply::with(429, &[("content-type", "application/json"), ("retry-after", "3")], &limited.to_string()),
        )
        .expect("POST", &url, Reply::json(429, limited));
    let config = json!({"contact_id": "1", "body": "x"});
    let error = host.run::<AddNote>(config.clone(), vec![]).unwrap_err();
    assert!(error.retryable);
    assert_eq!(error.retry_after_ms, Some(3_000));
    assert_eq!(error.code.as_deref(), Some("RATE_LIMIT"));
    assert!(error.message.contains("You have reached your secondly limit."), "{}", error.message);
    let error = host.run::<AddNote>(config, vec![]).unwrap_err();
    assert!(error.retryable);
    assert_eq!(error.retry_after_ms, Some(10_000));
    assert_no_secret(&host, &error);
}

#[test]
fn add_note_refuses_a_missing_contact_or_body() {
    let host = host();
    for config in
        [json!({"body": "x"}), json!({"contact_id": "1", "body": "  "}), json!({"contact_id": null, "body": "x"})]
    {
        let error = host.run::<AddNote>(config.clone(), vec![]).unwrap_err();
        assert_eq!(error.code.as_deref(), Some("bad_config"), "{config}: {}", error.message);
    }
}

// ---------------------------------------------------------------------------
// create-deal
// ---------------------------------------------------------------------------

#[test]
fn create_deal_posts_the_deal_associated_to_the_contact() {
    let host = host().expect(
        "POST",
        &format!("{BASE}/crm/v3/objects/deals"),
        Reply::json(
            201,
            json!({"id": "8001", "properties": {"dealname": "Acme - 50 seats", "dealstage": "appointmentscheduled", "pipeline": "default", "amount": "1500.5"}}),
        ),
    );
    let config = json!({
        "dealname": "Acme - 50 seats",
        "dealstage": "appointmentscheduled",
        "amount": 1500.5,
        "closedate": 1_767_225_600_000u64,
        "contact_id": "501",
        "properties": {"dealtype": "newbusiness", "hubspot_owner_id": 42}
    });
    let out = items(host.run::<CreateDeal>(config, vec![]).unwrap());
    host.assert_done();
    assert_eq!(
        check(&host.requests()[0], "POST", &format!("{BASE}/crm/v3/objects/deals")),
        json!({
            "properties": {
                "dealname": "Acme - 50 seats", "pipeline": "default", "dealstage": "appointmentscheduled",
                "amount": "1500.5", "closedate": "2026-01-01T00:00:00.000Z",
                "dealtype": "newbusiness", "hubspot_owner_id": "42"
            },
            "associations": [{
                "to": {"id": "501"},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}]
            }]
        })
    );
    assert_eq!(
        out,
        vec![json!({"id": "8001", "stage": "appointmentscheduled", "pipeline": "default", "contact_id": "501"})]
    );
}

#[test]
fn create_deal_without_a_contact_has_no_associations() {
    let host =
        default_host().expect("POST", &format!("{HUB}/crm/v3/objects/deals"), Reply::json(201, json!({"id": "8002"})));
    let config =
        json!({"dealname": "D", "dealstage": "s1", "pipeline": "p9", "amount": "12", "closedate": "2026-03-31"});
    let out = items(host.run::<CreateDeal>(config, vec![]).unwrap());
    assert_eq!(
        check(&host.requests()[0], "POST", &format!("{HUB}/crm/v3/objects/deals")),
        json!({"properties": {"dealname": "D", "pipeline": "p9", "dealstage": "s1", "amount": "12", "closedate": "2026-03-31"}})
    );
    assert_eq!(out, vec![json!({"id": "8002", "stage": "s1", "pipeline": "p9"})]);
}

#[test]
fn create_deal_500_is_retryable_and_a_network_failure_too() {
    let url = format!("{BASE}/crm/v3/objects/deals");
    let host = host()
        .expect("POST", &url, Reply::with(502, &[("content-type", "text/html")], "<html>Bad Gateway</html>"))
        .expect("POST", &url, hubspot_error(500, "INTERNAL_ERROR", "internal error"))
        .expect("POST", &url, Reply::Fail("connection reset".into()));
    let config = json!({"dealname": "D", "dealstage": "s1"});
    let error = host.run::<CreateDeal>(config.clone(), vec![]).unwrap_err();
    assert!(error.retryable);
    assert_eq!(error.retry_after_ms, None);
    assert_eq!(error.code.as_deref(), Some("http_502"));
    assert!(error.message.contains("<html>Bad Gateway</html>"), "{}", error.message);
    let error = host.run::<CreateDeal>(config.clone(), vec![]).unwrap_err();
    assert!(error.retryable);
    assert_eq!(error.code.as_deref(), Some("INTERNAL_ERROR"));
    let error = host.run::<CreateDeal>(config, vec![]).unwrap_err();
    assert!(error.retryable);
    assert_eq!(error.code.as_deref(), Some("http_failed"));
    host.assert_done();
}

#[test]
fn create_deal_refuses_bad_config() {
    let host = host();
    for config in [
        json!({"dealstage": "s"}),
        json!({"dealname": "D"}),
        json!({"dealname": " ", "dealstage": "s"}),
        json!({"dealname": "D", "dealstage": "s", "amount": [1]}),
        json!({"dealname": "D", "dealstage": "s", "closedate": -1}),
    ] {
        let error = host.run::<CreateDeal>(config.clone(), vec![]).unwrap_err();
        assert_eq!(error.code.as_deref(), Some("bad_config"), "{config}: {}", error.message);
    }
}

// ---------------------------------------------------------------------------
// move-deal
// ---------------------------------------------------------------------------

#[test]
fn move_deal_patches_the_stage() {
    let host = host().expect(
        "PATCH",
        &format!("{BASE}/crm/v3/objects/deals/8001"),
        Reply::json(200, json!({"id": "8001", "properties": {"dealstage": "closedwon", "hs_object_id": "8001"}})),
    );
    let out = items(host.run::<MoveDeal>(json!({"deal_id": 8001, "dealstage": "closedwon"}), vec![]).unwrap());
    host.assert_done();
    assert_eq!(
        check(&host.requests()[0], "PATCH", &format!("{BASE}/crm/v3/objects/deals/8001")),
        json!({"properties": {"dealstage": "closedwon"}})
    );
    assert_eq!(out, vec![json!({"id": "8001", "stage": "closedwon"})]);
}

#[test]
fn move_deal_to_another_pipeline() {
    let host = host().expect(
        "PATCH",
        &format!("{BASE}/crm/v3/objects/deals/8001"),
        Reply::json(200, json!({"id": "8001", "properties": {"dealstage": "s7"}})),
    );
    let out = items(
        host.run::<MoveDeal>(json!({"deal_id": "8001", "dealstage": "s7", "pipeline": "renewals"}), vec![]).unwrap(),
    );
    assert_eq!(host.requests()[0].json(), json!({"properties": {"dealstage": "s7", "pipeline": "renewals"}}));
    assert_eq!(out, vec![json!({"id": "8001", "stage": "s7", "pipeline": "renewals"})]);
}

#[test]
fn move_deal_to_an_unknown_stage_is_fatal() {
    let host = host().expect(
        "PATCH",
        &format!("{BASE}/crm/v3/objects/deals/8001"),
        Reply::json(
            400,
            json!({
                "status": "error",
                "message": "Property values were not valid: [{\"isValid\":false,\"message\":\"nope was not one of the allowed options\",\"error\":\"INVALID_OPTION\",\"name\":\"dealstage\"}]",
                "correlationId": "c-4",
                "category": "VALIDATION_ERROR"
            }),
        ),
    );
    let error = host.run::<MoveDeal>(json!({"deal_id": "8001", "dealstage": "nope"}), vec![]).unwrap_err();
    assert!(!error.retryable);
    assert_eq!(error.code.as_deref(), Some("VALIDATION_ERROR"));
    assert!(
        error.message.starts_with("moving the deal 8001 to the stage nope: HubSpot answered 400: "),
        "{}",
        error.message
    );
    assert!(error.message.contains("nope was not one of the allowed options") && error.message.contains("c-4"));
    assert!(!error.message.contains("backwards"), "no lifecycle hint: {}", error.message);
}

#[test]
fn move_deal_503_with_retry_after_is_retryable() {
    let host = host().expect(
        "PATCH",
        &format!("{BASE}/crm/v3/objects/deals/1"),
        Reply::with(503, &[("Retry-After", "7")], ""),
    );
    let error = host.run::<MoveDeal>(json!({"deal_id": "1", "dealstage": "s"}), vec![]).unwrap_err();
    assert!(error.retryable);
    assert_eq!(error.retry_after_ms, Some(7_000));
    assert_eq!(error.code.as_deref(), Some("http_503"));
    assert!(error.message.contains("no error body"), "{}", error.message);
}

// ---------------------------------------------------------------------------
// search-contacts
// ---------------------------------------------------------------------------

fn contacts(from: usize, count: usize) -> Vec<Value> {
    (from..from + count)
        .map(|i| json!({"id": i.to_string(), "properties": {"email": format!("c{i}@example.com")}, "archived": false}))
        .collect()
}

#[test]
fn search_contacts_follows_the_cursor_up_to_the_limit() {
    let url = format!("{BASE}/crm/v3/objects/contacts/search");
    let host = host()
        .expect(
            "POST",
            &url,
            Reply::json(200, json!({"total": 400, "results": contacts(0, 100), "paging": {"next": {"after": "100"}}})),
        )
        .expect(
            "POST",
            &url,
            Reply::json(200, json!({"total": 400, "results": contacts(100, 50), "paging": {"next": {"after": "150"}}})),
        );
    let config = json!({
        "filters": [
            {"property": "lifecyclestage", "operator": "IN", "values": ["lead", "customer"]},
            {"property": "createdate", "operator": "BETWEEN", "value": 1_700_000_000_000u64, "high_value": "1767225600000"},
            {"property": "email", "operator": "HAS_PROPERTY"},
            {"property": "firstname", "value": "Ann"}
        ],
        "properties": ["email", "firstname"],
        "sorts": [{"property": "createdate", "direction": "DESCENDING"}],
        "limit": 150
    });
    let out = items(host.run::<SearchContacts>(config, vec![]).unwrap());
    host.assert_done();
    let sent = host.requests();
    let mut expected = json!({
        "filterGroups": [{"filters": [
            {"propertyName": "lifecyclestage", "operator": "IN", "values": ["lead", "customer"]},
            {"propertyName": "createdate", "operator": "BETWEEN", "value": "1700000000000", "highValue": "1767225600000"},
            {"propertyName": "email", "operator": "HAS_PROPERTY"},
            {"propertyName": "firstname", "operator": "EQ", "value": "Ann"}
        ]}],
        "properties": ["email", "firstname"],
        "sorts": [{"propertyName": "createdate", "direction": "DESCENDING"}],
        "limit": 100
    });
    assert_eq!(check(&sent[0], "POST", &url), expected);
    expected["limit"] = json!(50);
    expected["after"] = json!("100");
    assert_eq!(check(&sent[1], "POST", &url), expected);
    assert_eq!(out.len(), 150);
    assert_eq!(out[0], json!({"id": "0", "properties": {"email": "c0@example.com"}}));
    assert_eq!(out[149], json!({"id": "149", "properties": {"email": "c149@example.com"}}));
}

#[test]
fn search_contacts_stops_on_the_last_page() {
    let url = format!("{HUB}/crm/v3/objects/contacts/search");
    let host = default_host()
        .expect(
            "POST",
            &url,
            Reply::json(200, json!({"total": 3, "results": contacts(0, 2), "paging": {"next": {"after": "2"}}})),
        )
        .expect("POST", &url, Reply::json(200, json!({"total": 3, "results": contacts(2, 1)})));
    let out = items(host.run::<SearchContacts>(json!({"query": "example.com"}), vec![json!({}), json!({})]).unwrap());
    host.assert_done();
    let sent = host.requests();
    assert_eq!(check(&sent[0], "POST", &url), json!({"query": "example.com", "limit": 100}));
    assert_eq!(check(&sent[1], "POST", &url), json!({"query": "example.com", "limit": 98, "after": "2"}));
    assert_eq!(out.iter().map(|c| c["id"].as_str().unwrap()).collect::<Vec<_>>(), ["0", "1", "2"]);
}

#[test]
fn search_contacts_with_no_match_emits_nothing() {
    let url = format!("{BASE}/crm/v3/objects/contacts/search");
    let host = host().expect("POST", &url, Reply::json(200, json!({"total": 0, "results": []})));
    assert_eq!(items(host.run::<SearchContacts>(json!({"limit": 5}), vec![]).unwrap()), Vec::<Value>::new());
    assert_eq!(host.requests()[0].json(), json!({"limit": 5}));
}

#[test]
fn search_contacts_429_mid_way_is_retryable() {
    let url = format!("{BASE}/crm/v3/objects/contacts/search");
    let host = host()
        .expect(
            "POST",
            &url,
            Reply::json(200, json!({"results": contacts(0, 100), "paging": {"next": {"after": "100"}}})),
        )
        .expect("POST", &url, Reply::with(429, &[("retry-after", "1.5")], ""));
    let error = host.run::<SearchContacts>(json!({"limit": 200}), vec![]).unwrap_err();
    assert!(error.retryable);
    assert_eq!(error.retry_after_ms, Some(1_500));
    assert_eq!(error.code.as_deref(), Some("http_429"));
    assert!(error.message.starts_with("searching contacts (page 2): HubSpot answered 429"), "{}", error.message);
}

#[test]
fn search_contacts_refuses_bad_filters_and_limits() {
    let host = host();
    for config in [
        json!({"filters": [{"property": "a", "operator": "LIKE", "value": "x"}]}),
        json!({"filters": [{"property": "a", "operator": "IN"}]}),
        json!({"filters": [{"property": "a", "operator": "IN", "values": []}]}),
        json!({"filters": [{"property": "a", "operator": "EQ"}]}),
        json!({"filters": [{"property": "a", "operator": "BETWEEN", "value": 1}]}),
        json!({"filters": [{"property": "", "value": 1}]}),
        json!({"filters": [{"property": "a", "value": {"x": 1}}]}),
        json!({"sorts": [{"property": "a", "direction": "UP"}]}),
        json!({"limit": 0}),
        json!({"limit": 10_001}),
    ] {
        let error = host.run::<SearchContacts>(config.clone(), vec![]).unwrap_err();
        assert_eq!(error.code.as_deref(), Some("bad_config"), "{config}: {}", error.message);
    }
    assert!(host.requests().is_empty());
}

// ---------------------------------------------------------------------------
// Credentials and secrets
// ---------------------------------------------------------------------------

#[test]
fn a_rejected_token_is_fatal_and_the_token_shows_nowhere() {
    let host = host().expect(
        "PATCH",
        &format!("{BASE}/crm/v3/objects/deals/1"),
        hubspot_error(
            401,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        ),
    );
    let error = host.run::<MoveDeal>(json!({"deal_id": "1", "dealstage": "s"}), vec![]).unwrap_err();
    assert!(!error.retryable);
    assert_eq!(error.code.as_deref(), Some("INVALID_AUTHENTICATION"));
    assert!(error.message.contains("Authentication credentials not found"), "{}", error.message);
    assert_eq!(host.requests()[0].header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    assert!(!host.requests()[0].body.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()));
    assert_no_secret(&host, &error);
}

#[test]
fn no_bound_credential_is_an_error_naming_the_type() {
    let host = FakeHost::new();
    let error = host.run::<MoveDeal>(json!({"deal_id": "1", "dealstage": "s"}), vec![]).unwrap_err();
    assert_eq!(error.code.as_deref(), Some("credential_missing"));
    assert!(error.message.contains("hubspot"), "{}", error.message);
    let host = FakeHost::new().credential("hubspot", &[("token", TOKEN), ("base_url", "ftp://x")]);
    let error = host.run::<MoveDeal>(json!({"deal_id": "1", "dealstage": "s"}), vec![]).unwrap_err();
    assert_eq!(error.code.as_deref(), Some("bad_credential"));
    assert!(!error.message.contains(TOKEN));
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

#[test]
fn iso8601_formats_unix_milliseconds() {
    assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(iso8601(NOW_MS), "2026-01-01T00:00:00.000Z");
    assert_eq!(iso8601(951_782_400_123), "2000-02-29T00:00:00.123Z");
    assert_eq!(iso8601(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
}

#[test]
fn existing_id_reads_hubspots_conflict_message() {
    assert_eq!(existing_id("Contact already exists. Existing ID: 12345").as_deref(), Some("12345"));
    assert_eq!(existing_id("Contact already exists. Existing ID:987 (more)").as_deref(), Some("987"));
    assert_eq!(existing_id("Contact already exists."), None);
    assert_eq!(existing_id("Existing ID: abc"), None);
}

#[test]
fn api_error_without_a_json_body_uses_the_status() {
    let response = Response { status: 404, headers: vec![], body: vec![] };
    let error = api_error("reading", &response);
    assert_eq!(error.code.as_deref(), Some("http_404"));
    assert_eq!(error.message, "reading: HubSpot answered 404: no error body");
    assert!(!error.retryable);
    let response = Response { status: 408, headers: vec![], body: b"timeout".to_vec() };
    let error = api_error("reading", &response);
    assert!(error.retryable);
    assert_eq!(error.retry_after_ms, None);
}

#[test]
fn the_manifest_declares_every_node_and_schemas_refuse_unknown_fields() {
    let manifest = include_str!("../plugin.toml");
    let infos = [
        (UpsertContact::NAME, UpsertContact::info()),
        (UpdateContact::NAME, UpdateContact::info()),
        (AddNote::NAME, AddNote::info()),
        (CreateDeal::NAME, CreateDeal::info()),
        (MoveDeal::NAME, MoveDeal::info()),
        (SearchContacts::NAME, SearchContacts::info()),
        (Webhook::NAME, Webhook::info()),
    ];
    for (name, info) in infos {
        assert!(manifest.contains(&format!("name = \"{name}\"")), "{name} is not in plugin.toml");
        let schema = format!("{info:?}");
        assert!(schema.contains("additionalProperties"), "{name}");
    }
    assert!(manifest.contains("events = [\"contact.*\", \"deal.*\"]"));
}

// ---------------------------------------------------------------------------
// webhook
// ---------------------------------------------------------------------------

const HOOK_URL: &str = "https://wirework.example.com/hooks/crm-sync/hubspot";

fn deliveries() -> Value {
    json!([
        {"eventId": 100, "subscriptionId": 25, "portalId": 62515, "appId": 1160452, "occurredAt": 1_767_225_590_000u64,
         "subscriptionType": "contact.creation", "attemptNumber": 0, "objectId": 123, "changeFlag": "NEW", "changeSource": "CRM"},
        {"eventId": 101, "subscriptionId": 26, "portalId": 62515, "appId": 1160452, "occurredAt": 1_767_225_595_000u64,
         "subscriptionType": "contact.propertyChange", "attemptNumber": 1, "objectId": 123,
         "propertyName": "lifecyclestage", "propertyValue": "customer", "changeSource": "CRM_UI", "sourceId": "userId:42"},
        {"eventId": 102, "subscriptionId": 27, "portalId": 62515, "appId": 1160452, "occurredAt": 1_767_225_596_000u64,
         "subscriptionType": "deal.propertyChange", "attemptNumber": 0, "objectId": 8001,
         "propertyName": "dealstage", "propertyValue": "closedwon", "changeSource": "API"},
        {"eventId": 103, "subscriptionId": 28, "portalId": 62515, "appId": 1160452, "occurredAt": 1_767_225_597_000u64,
         "subscriptionType": "company.creation", "attemptNumber": 0, "objectId": 55, "changeSource": "CRM"}
    ])
}

/// A request signed the way HubSpot signs v3: base64 HMAC-SHA256 of
/// method + URI + body + timestamp under the client secret.
fn signed(url: &str, signed_uri: &str, body: &str, secret: &str, timestamp_ms: u64) -> Request {
    let timestamp = timestamp_ms.to_string();
    let signature = hmac_sha256_base64(secret.as_bytes(), format!("POST{signed_uri}{body}{timestamp}").as_bytes());
    Request {
        method: "POST".into(),
        url: url.into(),
        path: "".into(),
        query: url.split_once('?').map(|(_, q)| q.to_string()).unwrap_or_default(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-hubspot-request-timestamp".into(), timestamp),
            ("x-hubspot-signature-v3".into(), signature),
        ],
        body: body.as_bytes().to_vec(),
    }
}

fn app_host() -> FakeHost {
    FakeHost::new().credential("hubspot-app", &[("client_secret", SECRET)])
}

fn status(result: &TriggerResult) -> u16 {
    result.response.as_ref().expect("an answer").status
}

fn answer(result: &TriggerResult) -> Value {
    serde_json::from_slice(&result.response.as_ref().expect("an answer").body).unwrap()
}

#[test]
fn webhook_verifies_and_turns_events_into_items_and_keyed_events() {
    let body = deliveries().to_string();
    let host = app_host();
    let result = host.handle::<Webhook>(json!({}), signed(HOOK_URL, HOOK_URL, &body, SECRET, NOW_MS - 1_000)).unwrap();
    assert_eq!(status(&result), 200);
    assert_eq!(answer(&result), json!({"received": 4}));
    assert_eq!(result.items.len(), 4);
    assert_eq!(
        result.items[0],
        json!({
            "event": "contact.created", "subscription_type": "contact.creation", "object_type": "contact",
            "object_id": "123", "contact_id": "123", "portal_id": 62515, "app_id": 1160452, "event_id": 100,
            "subscription_id": 25, "occurred_at": 1_767_225_590_000u64, "attempt_number": 0, "source": "CRM",
            "change_flag": "NEW"
        })
    );
    assert_eq!(
        result.items[1],
        json!({
            "event": "contact.updated", "subscription_type": "contact.propertyChange", "object_type": "contact",
            "object_id": "123", "contact_id": "123", "portal_id": 62515, "app_id": 1160452, "event_id": 101,
            "subscription_id": 26, "occurred_at": 1_767_225_595_000u64, "attempt_number": 1, "source": "CRM_UI",
            "property": "lifecyclestage", "value": "customer", "source_id": "userId:42"
        })
    );
    assert_eq!(result.items[2]["deal_id"], "8001");
    assert_eq!(result.items[2]["event"], "deal.updated");
    assert_eq!(result.items[3]["company_id"], "55");
    assert_eq!(result.items[3]["event"], "company.created");
    let names: Vec<&str> = result.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["contact.created:123", "contact.updated:123", "deal.updated:8001"]);
    assert_eq!(result.events[1].payload, result.items[1]);
    for event in &result.events {
        let base = event.name.split(':').next().unwrap();
        assert!(base.starts_with("contact.") || base.starts_with("deal."), "{base} is in capabilities.events");
    }
    for (_, line) in host.logs() {
        assert!(!line.contains(SECRET));
    }
}

#[test]
fn webhook_accepts_hubspots_published_v3_vector() {
    // The v3 example of HubSpot's Python client (also in the SDK's tests):
    // signed, but its body is not JSON, so the answer is 400, not 401.
    let host = FakeHost::new().credential("hubspot-app", &[("client_secret", "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy")]);
    let host = host.now_ms(15_000_000);
    let request = Request {
        method: "POST".into(),
        url: "https://www.example.com/webhook_uri".into(),
        headers: vec![
            ("x-hubspot-request-timestamp".into(), "15000000".into()),
            ("x-hubspot-signature-v3".into(), "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw=".into()),
        ],
        body: b"{'example_field':'example_value'}".to_vec(),
        ..Default::default()
    };
    let result = host.handle::<Webhook>(json!({}), request).unwrap();
    assert_eq!(status(&result), 400);
    assert!(result.items.is_empty() && result.events.is_empty());
}

#[test]
fn webhook_signs_the_uri_with_hubspots_escapes_decoded() {
    let body = json!([deliveries()[0]]).to_string();
    let url = "https://wirework.example.com/hooks/crm-sync/hubspot?portal=62515&tag=a%3Ab%40c%28x%29";
    let decoded = "https://wirework.example.com/hooks/crm-sync/hubspot?portal=62515&tag=a:b@c(x)";
    let result = app_host().handle::<Webhook>(json!({}), signed(url, decoded, &body, SECRET, NOW_MS)).unwrap();
    assert_eq!(status(&result), 200);
    assert_eq!(result.items.len(), 1);
    // Signed over the URI as received (escapes kept): not what HubSpot signs.
    let result = app_host().handle::<Webhook>(json!({}), signed(url, url, &body, SECRET, NOW_MS)).unwrap();
    assert_eq!(status(&result), 401);
}

#[test]
fn webhook_refuses_a_wrong_secret() {
    let body = deliveries().to_string();
    let host = app_host();
    let result =
        host.handle::<Webhook>(json!({}), signed(HOOK_URL, HOOK_URL, &body, "another-secret", NOW_MS)).unwrap();
    assert_eq!(status(&result), 401);
    assert_eq!(answer(&result), json!({"error": "signature does not match"}));
    assert!(result.items.is_empty() && result.events.is_empty());
    let text = String::from_utf8_lossy(&result.response.as_ref().unwrap().body).to_string();
    assert!(!text.contains(SECRET));
    for (_, line) in host.logs() {
        assert!(!line.contains(SECRET), "{line}");
    }
}

#[test]
fn webhook_refuses_a_tampered_body() {
    let body = deliveries().to_string();
    let mut request = signed(HOOK_URL, HOOK_URL, &body, SECRET, NOW_MS);
    request.body = body.replace("customer", "evangelist").into_bytes();
    let result = app_host().handle::<Webhook>(json!({}), request).unwrap();
    assert_eq!(status(&result), 401);
    assert!(result.items.is_empty() && result.events.is_empty());
    // Another URL than the one signed.
    let request = signed("https://evil.example.com/hooks/crm-sync/hubspot", HOOK_URL, &body, SECRET, NOW_MS);
    assert_eq!(status(&app_host().handle::<Webhook>(json!({}), request).unwrap()), 401);
}

#[test]
fn webhook_refuses_a_stale_or_future_timestamp() {
    let body = deliveries().to_string();
    let stale = NOW_MS - 300_001;
    let result = app_host().handle::<Webhook>(json!({}), signed(HOOK_URL, HOOK_URL, &body, SECRET, stale)).unwrap();
    assert_eq!(status(&result), 401);
    assert!(answer(&result)["error"].as_str().unwrap().contains("old"), "{}", answer(&result));
    assert!(result.items.is_empty() && result.events.is_empty());
    let result =
        app_host().handle::<Webhook>(json!({}), signed(HOOK_URL, HOOK_URL, &body, SECRET, NOW_MS + 600_000)).unwrap();
    assert_eq!(status(&result), 401);
    // Just inside the 5 minutes.
    let result =
        app_host().handle::<Webhook>(json!({}), signed(HOOK_URL, HOOK_URL, &body, SECRET, NOW_MS - 299_000)).unwrap();
    assert_eq!(status(&result), 200);
}

#[test]
fn webhook_refuses_missing_headers() {
    let body = deliveries().to_string();
    for (header, named) in [
        ("x-hubspot-signature-v3", "X-HubSpot-Signature-v3"),
        ("x-hubspot-request-timestamp", "X-HubSpot-Request-Timestamp"),
    ] {
        let mut request = signed(HOOK_URL, HOOK_URL, &body, SECRET, NOW_MS);
        request.headers.retain(|(k, _)| k != header);
        let result = app_host().handle::<Webhook>(json!({}), request).unwrap();
        assert_eq!(status(&result), 401);
        assert!(answer(&result)["error"].as_str().unwrap().contains(named), "{}", answer(&result));
        assert!(result.items.is_empty() && result.events.is_empty());
    }
    let mut request = signed(HOOK_URL, HOOK_URL, &body, SECRET, NOW_MS);
    request.headers[2].1 = "not base64!".into();
    assert_eq!(status(&app_host().handle::<Webhook>(json!({}), request).unwrap()), 401);
}

#[test]
fn webhook_subscriptions_choose_the_items_and_every_contact_or_deal_event_is_published() {
    let body = deliveries().to_string();
    let config = json!({"subscriptions": ["contact.propertyChange", "deal.creation"]});
    let result = app_host().handle::<Webhook>(config, signed(HOOK_URL, HOOK_URL, &body, SECRET, NOW_MS)).unwrap();
    assert_eq!(status(&result), 200);
    assert_eq!(answer(&result), json!({"received": 4}));
    assert_eq!(result.items.len(), 1);
    assert_eq!(result.items[0]["event_id"], 101);
    assert_eq!(result.events.len(), 3);

    let config = json!({"subscriptions": ["deal.deletion"], "publish_events": false});
    let result = app_host().handle::<Webhook>(config, signed(HOOK_URL, HOOK_URL, &body, SECRET, NOW_MS)).unwrap();
    assert_eq!(status(&result), 200);
    assert!(result.items.is_empty() && result.events.is_empty());
}

#[test]
fn webhook_answers_400_to_a_signed_body_that_is_not_events() {
    for body in ["{}", "[1]", "[{\"objectId\": 1}]", "not json"] {
        let result = app_host().handle::<Webhook>(json!({}), signed(HOOK_URL, HOOK_URL, body, SECRET, NOW_MS)).unwrap();
        assert_eq!(status(&result), 400, "{body}");
        assert!(result.items.is_empty() && result.events.is_empty());
    }
    let result = app_host().handle::<Webhook>(json!({}), signed(HOOK_URL, HOOK_URL, "[]", SECRET, NOW_MS)).unwrap();
    assert_eq!(status(&result), 200);
    assert_eq!(answer(&result), json!({"received": 0}));
}

#[test]
fn webhook_without_its_credential_fails() {
    let body = deliveries().to_string();
    let error =
        FakeHost::new().handle::<Webhook>(json!({}), signed(HOOK_URL, HOOK_URL, &body, SECRET, NOW_MS)).unwrap_err();
    assert_eq!(error.code.as_deref(), Some("credential_missing"));
}

#[test]
fn webhook_maps_other_subscription_types() {
    let merge =
        json!({"subscriptionType": "contact.merge", "objectId": 9, "primaryObjectId": 9, "mergedObjectIds": [7, 8]});
    let item = webhook::event_item(&merge).unwrap();
    assert_eq!(item["event"], "contact.merged");
    assert_eq!(item["primary_object_id"], 9);
    assert_eq!(item["merged_object_ids"], json!([7, 8]));
    let item = webhook::event_item(&json!({"subscriptionType": "contact.associationChange", "objectId": "4"})).unwrap();
    assert_eq!(item["event"], "contact.association_changed");
    let item = webhook::event_item(&json!({"subscriptionType": "line_item.privacyDeletion", "objectId": 1})).unwrap();
    assert_eq!((item["event"].as_str(), item["line_item_id"].as_str()), (Some("line_item.privacy_deleted"), Some("1")));
    assert!(webhook::event_item(&json!({"objectId": 1})).is_none());
}
