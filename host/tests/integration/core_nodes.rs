//! Every `wirework/core` node, built from source and called through the real runtime.

use crate::common::*;
use serde_json::{json, Value};
use wirework::runtime::{Grants, Invocation, NodeFailure, Outcome, TriggerRequest};
use wirework_registry::NodeKind;

async fn core() -> (wirework::runtime::Runtime, wirework::runtime::LoadedPlugin) {
    let runtime = runtime();
    let plugin = load(&runtime, &fixtures().core, &Grants::default()).await;
    (runtime, plugin)
}

#[tokio::test]
async fn describe_lists_every_core_node_with_its_ports() {
    let (_, plugin) = core().await;
    let names: Vec<&str> = plugin.nodes().iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["webhook", "set", "if", "switch", "filter", "merge", "wait", "respond", "noop"]);
    let node = |name: &str| plugin.nodes().iter().find(|n| n.name == name).unwrap();
    assert_eq!(node("webhook").kind, NodeKind::Trigger);
    assert_eq!(node("if").ports, ["true", "false"]);
    assert_eq!(node("merge").ports, ["main", "unmatched"]);
    assert!(node("switch").ports.is_empty(), "switch ports are named by its rules");
    let schema: Value = serde_json::from_str(&node("set").config_schema).unwrap();
    assert_eq!(schema["type"], "object");
}

#[tokio::test]
async fn set_sets_renames_and_removes_fields() {
    let (runtime, plugin) = core().await;
    let config = json!({
        "fields": {"status": "lead", "contact.source": "form"},
        "rename": {"mail": "email"},
        "remove": ["tmp"]
    });
    let items = vec![json!({"mail": "ann@example.com", "tmp": 1, "contact": {"name": "Ann"}}), json!({})];
    let report = runtime.invoke(&plugin, invocation("set", config, items)).await;
    assert_eq!(
        port(&report, "main"),
        [
            json!({"email": "ann@example.com", "status": "lead", "contact": {"name": "Ann", "source": "form"}}),
            json!({"status": "lead", "contact": {"source": "form"}}),
        ]
    );
    assert!(report.fuel > 0, "the call is metered");

    let report = runtime
        .invoke(&plugin, invocation("set", json!({"fields": {"a": 1}, "keep_only_set": true}), vec![json!({"b": 2})]))
        .await;
    assert_eq!(port(&report, "main"), [json!({"a": 1})]);
}

#[tokio::test]
async fn set_refuses_to_write_inside_a_non_object() {
    let (runtime, plugin) = core().await;
    let report = runtime
        .invoke(&plugin, invocation("set", json!({"fields": {"name.first": "x"}}), vec![json!({"name": "Ann"})]))
        .await;
    match report.result {
        Err(NodeFailure::Plugin { code, retryable, .. }) => {
            assert_eq!(code.as_deref(), Some("bad_path"));
            assert!(!retryable);
        }
        other => panic!("expected a plugin error, got {other:?}"),
    }
}

#[tokio::test]
async fn if_routes_items_to_true_and_false() {
    let (runtime, plugin) = core().await;
    let config = json!({"condition": {"all": [
        {"field": "score", "op": "gte", "value": 50},
        {"field": "tags", "op": "not_contains", "value": "customer"}
    ]}});
    let items = vec![
        json!({"id": 1, "score": 80, "tags": []}),
        json!({"id": 2, "score": "20", "tags": []}),
        json!({"id": 3, "score": 90, "tags": ["customer"]}),
    ];
    let report = runtime.invoke(&plugin, invocation("if", config, items)).await;
    assert_eq!(port(&report, "true"), [json!({"id": 1, "score": 80, "tags": []})]);
    let ids: Vec<i64> = port(&report, "false").iter().map(|i| i["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [2, 3]);
}

#[tokio::test]
async fn switch_routes_by_first_matching_rule_with_a_fallback() {
    let (runtime, plugin) = core().await;
    let config = json!({
        "rules": [
            {"port": "enterprise", "when": {"field": "employees", "op": "gte", "value": 1000}},
            {"port": "smb", "when": {"field": "employees", "op": "gte", "value": 10}}
        ],
        "fallback": "solo"
    });
    let items = vec![json!({"employees": 5000}), json!({"employees": 50}), json!({"employees": 2}), json!({})];
    let report = runtime.invoke(&plugin, invocation("switch", config, items)).await;
    let counts: Vec<(String, usize)> = emitted(&report).into_iter().map(|(p, i)| (p, i.len())).collect();
    assert_eq!(counts, [("enterprise".into(), 1), ("smb".into(), 1), ("solo".into(), 2)]);
}

#[tokio::test]
async fn filter_keeps_matches_and_discards_the_rest() {
    let (runtime, plugin) = core().await;
    let config = json!({"condition": {"field": "email", "op": "ends_with", "value": "@example.com"}});
    let items = vec![json!({"email": "a@example.com"}), json!({"email": "b@other.test"}), json!({})];
    let report = runtime.invoke(&plugin, invocation("filter", config, items)).await;
    assert_eq!(port(&report, "main"), [json!({"email": "a@example.com"})]);
    assert_eq!(port(&report, "discarded").len(), 2);
}

#[tokio::test]
async fn merge_combines_groups_collects_or_takes_the_first() {
    let (runtime, plugin) = core().await;
    // What a join of two branches delivers: each branch's items, in order.
    let items = vec![
        json!({"email": "ann@example.com", "crm": {"id": 7, "stage": "lead"}, "name": "Ann"}),
        json!({"email": "ann@example.com", "crm": {"stage": "customer"}, "plan": "pro"}),
        json!({"email": "bob@example.com", "name": "Bob"}),
        json!({"note": "no email"}),
    ];
    let merge = |config: Value| runtime.invoke(&plugin, invocation("merge", config, items.clone()));

    // combine (the default): one item, objects merged deep, the later value winning.
    let combined = json!({
        "email": "bob@example.com", "crm": {"id": 7, "stage": "customer"}, "name": "Bob", "plan": "pro", "note": "no email"
    });
    assert_eq!(port(&merge(json!({})).await, "main"), std::slice::from_ref(&combined));
    assert_eq!(port(&merge(json!({"mode": "combine"})).await, "main"), [combined]);

    // by_field: one item per email, in first-seen order; the rest to `unmatched`.
    let report = merge(json!({"mode": "by_field", "field": "email"})).await;
    assert_eq!(
        port(&report, "main"),
        [
            json!({"email": "ann@example.com", "crm": {"id": 7, "stage": "customer"}, "name": "Ann", "plan": "pro"}),
            json!({"email": "bob@example.com", "name": "Bob"}),
        ]
    );
    assert_eq!(port(&report, "unmatched"), [json!({"note": "no email"})]);

    // collect: one item with the list; first: the first item.
    let report = merge(json!({"mode": "collect", "into": "batch.contacts"})).await;
    assert_eq!(port(&report, "main"), [json!({"batch": {"contacts": items.clone()}})]);
    assert_eq!(port(&merge(json!({"mode": "collect"})).await, "main"), [json!({"items": items.clone()})]);
    assert_eq!(port(&merge(json!({"mode": "first"})).await, "main"), [items[0].clone()]);

    // Nothing in, nothing out (not an empty object).
    let report = runtime.invoke(&plugin, invocation("merge", json!({}), vec![])).await;
    assert!(port(&report, "main").is_empty());

    // Options that do not go together are config errors.
    for config in [json!({"mode": "by_field"}), json!({"field": "email"}), json!({"mode": "first", "into": "x"})] {
        let report = merge(config.clone()).await;
        assert!(
            matches!(report.result, Err(NodeFailure::Plugin { ref code, .. }) if code.as_deref() == Some("bad_config")),
            "{config}"
        );
    }
    let err = merge(json!({"mode": "zip"})).await.result.unwrap_err().to_string();
    assert!(err.contains("invalid config") && err.contains("zip"), "{err}");
}

#[tokio::test]
async fn wait_suspends_and_resumes_by_timer_or_event() {
    let (runtime, plugin) = core().await;
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let items = vec![json!({"email": "ann@example.com"})];

    // A delay: wait until now + 1 day, holding the items in the state.
    let report = runtime.invoke(&plugin, invocation("wait", json!({"seconds": 86400}), items.clone())).await;
    let state = match report.result.unwrap() {
        Outcome::Wait { until_unix_ms, event, state } => {
            let until = until_unix_ms.unwrap();
            assert!(until >= before + 86_400_000 && until < before + 86_400_000 + 60_000, "{until}");
            assert_eq!(event, None);
            state.get().to_string()
        }
        other => panic!("expected a wait, got {other:?}"),
    };
    let mut resume = invocation("wait", json!({"seconds": 86400}), vec![]);
    resume.resume_state = Some(state);
    assert_eq!(port(&runtime.invoke(&plugin, resume).await, "main"), items);

    // An event with a timeout: the event resumes on `main` with its payload...
    let config = json!({"event": "email.opened", "timeout_seconds": 3600});
    let report = runtime.invoke(&plugin, invocation("wait", config.clone(), items.clone())).await;
    let state = match report.result.unwrap() {
        Outcome::Wait { until_unix_ms, event, state } => {
            assert_eq!(event.as_deref(), Some("email.opened"));
            assert!(until_unix_ms.unwrap() >= before + 3_600_000);
            state.get().to_string()
        }
        other => panic!("expected a wait, got {other:?}"),
    };
    let mut by_event = invocation("wait", config.clone(), vec![json!({"campaign": "welcome"})]);
    by_event.resume_state = Some(state.clone());
    assert_eq!(
        port(&runtime.invoke(&plugin, by_event).await, "main"),
        [json!({"email": "ann@example.com", "event": {"campaign": "welcome"}})]
    );
    // ...and the timer without the event resumes on `timeout`.
    let mut by_timer = invocation("wait", config, vec![]);
    by_timer.resume_state = Some(state);
    let report = runtime.invoke(&plugin, by_timer).await;
    assert_eq!(port(&report, "timeout"), items);
    assert!(port(&report, "main").is_empty());
}

#[tokio::test]
async fn wait_without_a_duration_is_a_config_error() {
    let (runtime, plugin) = core().await;
    let report = runtime.invoke(&plugin, invocation("wait", json!({}), vec![json!({})])).await;
    assert!(
        matches!(report.result, Err(NodeFailure::Plugin { ref code, .. }) if code.as_deref() == Some("bad_config"))
    );
    let report = runtime.invoke(&plugin, invocation("wait", json!({"sconds": 5}), vec![])).await;
    let err = report.result.unwrap_err().to_string();
    assert!(err.contains("invalid config") && err.contains("sconds"), "{err}");
}

#[tokio::test]
async fn respond_describes_the_answer_and_passes_items_on() {
    let (runtime, plugin) = core().await;
    let items = vec![json!({"id": 7})];
    let report = runtime.invoke(&plugin, invocation("respond", json!({"status": 201}), items.clone())).await;
    assert_eq!(port(&report, "main"), items);
    assert_eq!(port(&report, "response"), [json!({"status": 201, "headers": {}, "body": {"id": 7}})]);
    let report = runtime.invoke(&plugin, invocation("respond", json!({"status": 1000}), items)).await;
    assert!(report.result.is_err(), "1000 is no HTTP status");
}

#[tokio::test]
async fn noop_passes_items_through() {
    let (runtime, plugin) = core().await;
    let items = vec![json!({"a": [1, 2, {"b": null}]}), json!({})];
    let report = runtime.invoke(&plugin, invocation("noop", json!({}), items.clone())).await;
    assert_eq!(port(&report, "main"), items);
}

fn request(method: &str, content_type: &str, body: &str) -> TriggerRequest {
    TriggerRequest {
        method: method.into(),
        url: "http://127.0.0.1/hooks/leads/signup?utm=ad&utm=mail".into(),
        path: "/signup".into(),
        query: "utm=ad&utm=mail".into(),
        headers: vec![("content-type".into(), content_type.into())],
        body: body.as_bytes().to_vec(),
    }
}

async fn trigger(config: Value, req: TriggerRequest) -> wirework::runtime::TriggerOutput {
    let (runtime, plugin) = core().await;
    let call = Invocation { node: "webhook".into(), config: config.to_string(), ..Default::default() };
    runtime.handle_request(&plugin, call, req).await.result.unwrap()
}

fn items(out: &wirework::runtime::TriggerOutput) -> Vec<Value> {
    out.items.iter().map(|i| serde_json::from_str(i.get()).unwrap()).collect()
}

#[tokio::test]
async fn webhook_turns_json_and_form_bodies_into_items() {
    let out =
        trigger(json!({}), request("POST", "application/json", r#"{"email":"ann@example.com","plan":"pro"}"#)).await;
    assert_eq!(items(&out), [json!({"email": "ann@example.com", "plan": "pro"})]);
    assert!(out.response.is_none(), "the host answers accepted requests");

    let form = "email=bob%40example.com&name=Bob+Smith&interest=a&interest=b";
    let out = trigger(json!({}), request("POST", "application/x-www-form-urlencoded", form)).await;
    assert_eq!(items(&out), [json!({"email": "bob@example.com", "name": "Bob Smith", "interest": ["a", "b"]})]);

    let out = trigger(json!({"include_request": true}), request("POST", "application/json", r#"[1,2]"#)).await;
    let item = &items(&out)[0];
    assert_eq!(item["body"], json!([1, 2]));
    assert_eq!(item["query"], json!({"utm": ["ad", "mail"]}));
    assert_eq!(item["method"], "POST");
    assert_eq!(item["headers"]["content-type"], "application/json");
}

#[tokio::test]
async fn webhook_rejects_bad_bodies_and_methods_with_an_answer() {
    let out = trigger(json!({}), request("POST", "application/json", "{not json")).await;
    assert!(out.items.is_empty());
    let response = out.response.unwrap();
    assert_eq!(response.status, 400);
    assert!(String::from_utf8_lossy(&response.body).contains("not valid JSON"));

    let out = trigger(json!({}), request("GET", "application/json", "")).await;
    let response = out.response.unwrap();
    assert_eq!(response.status, 405);
    let allow = |headers: &[(String, String)]| headers.iter().find(|(n, _)| n == "allow").map(|(_, v)| v.clone());
    assert_eq!(allow(&response.headers).as_deref(), Some("POST"), "a 405 names what the hook takes");
    let out = trigger(json!({"methods": ["post", "PUT"]}), request("DELETE", "", "")).await;
    assert_eq!(allow(&out.response.unwrap().headers).as_deref(), Some("POST, PUT"));
    let out = trigger(json!({"methods": ["GET", "POST"]}), request("GET", "", "")).await;
    assert_eq!(items(&out), [json!({})]);
}

#[tokio::test]
async fn unknown_nodes_and_non_triggers_are_clean_errors() {
    let (runtime, plugin) = core().await;
    let report = runtime.invoke(&plugin, invocation("explode", json!({}), vec![])).await;
    let err = report.result.unwrap_err();
    assert!(err.to_string().contains("no node `explode`"), "{err}");
    let call = Invocation { node: "set".into(), config: "{}".into(), ..Default::default() };
    let report = runtime.handle_request(&plugin, call, request("POST", "", "{}")).await;
    assert!(report.result.unwrap_err().to_string().contains("not an HTTP trigger"));
}
