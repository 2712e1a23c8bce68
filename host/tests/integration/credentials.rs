//! Typed credentials end to end: declared by a plugin's manifest, created
//! through the API (checked against the declared type), granted by the
//! operator, bound per node by a workflow (checked at deploy), and sent by
//! the host on the HTTP node's request without the secret ever reaching the
//! plugin, the execution record or the API.

use crate::common::engine::install_package;
use crate::common::server::{json, serve};
use crate::common::*;
use axum::http::HeaderMap;
use axum::routing::get;
use reqwest::Method;
use serde_json::json;
use std::collections::HashMap;
use wirework::plugins::GrantEntry;

const TOKEN: &str = "ghp_bearer-secret-0123456789";
const API_KEY: &str = "key-in-a-header-9876543210";

/// A server that answers with the credentials it received.
async fn api() -> std::net::SocketAddr {
    let router = axum::Router::new().route(
        "/whoami",
        get(|headers: HeaderMap, axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>| async move {
            let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string());
            let bearer = header("authorization").and_then(|a| a.strip_prefix("Bearer ").map(str::to_string));
            // An API that echoes what it got back: the host must hide it.
            axum::Json(json!({"bearer": bearer, "api_key": header("x-api-key"), "query": q}))
        }),
    );
    crate::common::serve(router).await
}

#[tokio::test]
async fn the_http_node_sends_a_bound_credential_the_plugin_never_sees() {
    let addr = api().await;
    let dir = tempfile::tempdir().unwrap();
    install_package(dir.path(), &fixtures().core, GrantEntry::default());
    let grant = GrantEntry {
        http: vec![format!("127.0.0.1:{}", addr.port())],
        credentials: vec!["bearer".into(), "header".into()],
        ..Default::default()
    };
    install_package(dir.path(), &fixtures().http, grant);
    let server = serve(dir.path(), |_| {}).await;
    let put = |name: &str, body: serde_json::Value| {
        server.api_json(Method::PUT, &format!("/credentials/{name}"), &body).send()
    };

    // The plugin's credential types are listed, fields and all, for whoever creates credentials.
    let (_, plugins) = json(server.api(Method::GET, "/plugins").send().await.unwrap()).await;
    let http = plugins.as_array().unwrap().iter().find(|p| p["name"] == "wirework/http").unwrap();
    let bearer = http["credential_types"].as_array().unwrap().iter().find(|t| t["name"] == "bearer").unwrap();
    assert_eq!(bearer["fields"][0]["name"], "token");
    assert_eq!(bearer["auth"]["scheme"], "bearer");

    // Created against the declared types: unknown types, unknown or missing fields are refused.
    let (status, body) =
        json(put("gh", json!({"type": "wirework/http:bearer", "fields": {"token": TOKEN}})).await.unwrap()).await;
    assert_eq!(status, 204, "{body}");
    let typed = json!({"type": "wirework/http:header", "fields": {"name": "X-Api-Key", "value": API_KEY}});
    assert_eq!(put("crm-key", typed).await.unwrap().status(), 204);
    assert_eq!(put("plain", json!({"value": "just-a-value"})).await.unwrap().status(), 204);
    for (body, says) in [
        (json!({"type": "wirework/http:oauth", "fields": {"token": "x"}}), "declares no credential type `oauth`"),
        (json!({"type": "acme/none:bearer", "fields": {"token": "x"}}), "plugin acme/none is not installed"),
        (json!({"type": "wirework/http:bearer", "fields": {"tokn": "x"}}), "has no field tokn"),
        (json!({"type": "wirework/http:basic", "fields": {"username": "ann"}}), "needs field password"),
        (json!({"type": "wirework/http:bearer"}), "either"),
    ] {
        let (status, answer) = json(put("bad", body).await.unwrap()).await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer.to_string().contains(says), "{answer} should say {says}");
    }
    let (_, listed) = json(server.api(Method::GET, "/credentials").send().await.unwrap()).await;
    let listed = listed.to_string();
    assert!(!listed.contains(TOKEN) && !listed.contains(API_KEY), "values listed: {listed}");
    assert!(
        listed.contains(r#""type":"wirework/http:bearer""#) && listed.contains(r#""fields":["token"]"#),
        "{listed}"
    );
    assert!(server.api(Method::GET, "/credentials/bad").send().await.unwrap().status() != 200);

    // Deploy checks every binding against what is stored, naming node and field.
    let workflow = |bearer: &str, header: &str| {
        format!(
            r#"
id: calls
triggers: [{{id: start, type: manual}}]
nodes:
  - id: whoami
    uses: "wirework/http@^0.1"
    node: request
    config: {{url: "http://127.0.0.1:{port}/whoami", auth: bearer}}
    credentials: {{bearer: {bearer}}}
  - id: crm
    uses: "wirework/http@^0.1"
    node: request
    config: {{url: "http://127.0.0.1:{port}/whoami?page=2", auth: header}}
    credentials: {{header: {header}}}
connections: [{{from: start, to: whoami}}, {{from: whoami, to: crm}}]
"#,
            port = addr.port()
        )
    };
    for (bearer, header, location, says) in [
        ("missing", "crm-key", "nodes[0](whoami).credentials.bearer", "no credential `missing` is stored"),
        ("plain", "crm-key", "nodes[0](whoami).credentials.bearer", "is a plain value"),
        ("crm-key", "crm-key", "nodes[0](whoami).credentials.bearer", "is of type `wirework/http:header`"),
    ] {
        let response = server.api(Method::POST, "/workflows").body(workflow(bearer, header)).send().await.unwrap();
        let (status, body) = json(response).await;
        assert_eq!(status, 400, "{body}");
        let problem = body["problems"].as_array().unwrap().iter().find(|p| p["location"] == location);
        let problem = problem.unwrap_or_else(|| panic!("no problem at {location}: {body}"));
        assert!(problem["message"].as_str().unwrap().contains(says), "{problem}");
    }
    let oops = workflow("gh", "crm-key").replace("credentials: {bearer: gh}", "credentials: {oauth: gh}");
    let (status, body) = json(server.api(Method::POST, "/workflows").body(oops).send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(body.to_string().contains("`oauth` is neither a credential type nor a secret"), "{body}");

    server.deploy(&workflow("gh", "crm-key")).await;
    let (status, started) =
        json(server.api_json(Method::POST, "/workflows/calls/executions", &json!({})).send().await.unwrap()).await;
    assert_eq!(status, 202, "{started}");
    let id = started["execution_id"].as_str().unwrap();
    let execution = server.wait_for(id, &["succeeded", "failed"]).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    let record = execution.to_string();
    assert!(!record.contains(TOKEN) && !record.contains(API_KEY), "a secret in the record: {record}");
    // The API got them (it echoed them back, redacted on the way in).
    assert!(record.contains(r#""bearer":"***""#), "{record}");
    assert!(record.contains(r#""api_key":"***""#), "{record}");
    assert!(record.contains(r#""page":"2""#), "the node's own query kept: {record}");
    server.stop().await;
}

#[tokio::test]
async fn a_credential_type_not_granted_is_refused_at_the_call() {
    let addr = api().await;
    let dir = tempfile::tempdir().unwrap();
    install_package(dir.path(), &fixtures().core, GrantEntry::default());
    // HTTP granted, credential types not.
    install_package(
        dir.path(),
        &fixtures().http,
        GrantEntry { http: vec![format!("127.0.0.1:{}", addr.port())], ..Default::default() },
    );
    let server = serve(dir.path(), |_| {}).await;
    let body = json!({"type": "wirework/http:bearer", "fields": {"token": TOKEN}});
    assert_eq!(server.api_json(Method::PUT, "/credentials/gh", &body).send().await.unwrap().status(), 204);
    server
        .deploy(&format!(
            r#"
id: ungranted
triggers: [{{id: start, type: manual}}]
nodes:
  - id: whoami
    uses: "wirework/http@^0.1"
    node: request
    config: {{url: "http://127.0.0.1:{}/whoami", auth: bearer}}
    credentials: {{bearer: gh}}
connections: [{{from: start, to: whoami}}]
"#,
            addr.port()
        ))
        .await;
    let (_, started) =
        json(server.api_json(Method::POST, "/workflows/ungranted/executions", &json!({})).send().await.unwrap()).await;
    let id = started["execution_id"].as_str().unwrap();
    let execution = server.wait_for(id, &["succeeded", "failed"]).await;
    assert_eq!(execution["status"], "failed");
    let error = execution["error"].to_string();
    assert!(error.contains("credential type `bearer` is not granted to this plugin"), "{error}");
    assert!(!execution.to_string().contains(TOKEN));
    server.stop().await;
}
