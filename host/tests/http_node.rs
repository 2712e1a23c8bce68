//! The `wirework/http` request node against a real HTTP server on loopback.

mod common;

use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Json;
use common::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use wirework::runtime::{Grants, NodeFailure};

async fn server() -> std::net::SocketAddr {
    let router = axum::Router::new()
        .route(
            "/contacts",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                Json(json!({"contacts": [{"email": "ann@example.com"}], "query": q}))
            }),
        )
        .route(
            "/echo",
            post(|headers: HeaderMap, Json(body): Json<Value>| async move {
                let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string());
                Json(json!({"got": body, "token": header("x-token"), "idempotency": header("idempotency-key")}))
            }),
        )
        .route("/text", get(|| async { "plain words" }))
        .route("/busy", get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "try later") }))
        .route("/missing", get(|| async { (StatusCode::NOT_FOUND, "no such thing") }));
    serve(router).await
}

async fn http_plugin(addr: std::net::SocketAddr) -> (wirework::runtime::Runtime, wirework::runtime::LoadedPlugin) {
    let runtime = runtime();
    let grants = Grants { http: vec![format!("127.0.0.1:{}", addr.port())], ..Default::default() };
    let plugin = load(&runtime, &fixtures().http, &grants).await;
    (runtime, plugin)
}

#[tokio::test]
async fn get_with_query_returns_parsed_json() {
    let addr = server().await;
    let (runtime, plugin) = http_plugin(addr).await;
    let config = json!({"url": format!("http://127.0.0.1:{}/contacts", addr.port()), "query": {"tag": "vip lead"}});
    let report = runtime.invoke(&plugin, invocation("request", config, vec![])).await;
    let items = port(&report, "main");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["status"], 200);
    assert_eq!(items[0]["headers"]["content-type"], "application/json");
    assert_eq!(items[0]["body"]["contacts"][0]["email"], "ann@example.com");
    assert_eq!(items[0]["body"]["query"]["tag"], "vip lead");
}

#[tokio::test]
async fn post_sends_headers_json_and_the_idempotency_key_once_per_item() {
    let addr = server().await;
    let (runtime, plugin) = http_plugin(addr).await;
    let config = json!({
        "method": "POST",
        "url": format!("http://127.0.0.1:{}/echo", addr.port()),
        "headers": {"x-token": "abc"},
        "send_item": true
    });
    let items = vec![json!({"email": "a@example.com"}), json!({"email": "b@example.com"})];
    let report = runtime.invoke(&plugin, invocation("request", config.clone(), items)).await;
    let out = port(&report, "main");
    assert_eq!(out.len(), 2);
    assert_eq!(out[1]["body"]["got"], json!({"email": "b@example.com"}));
    assert_eq!(out[0]["body"]["token"], "abc");
    assert_eq!(out[0]["body"]["idempotency"], "exec-1:step-1");

    let mut config = config;
    config["json"] = json!({"fixed": true});
    let report = runtime.invoke(&plugin, invocation("request", config, vec![json!({"x": 1})])).await;
    assert_eq!(port(&report, "main")[0]["body"]["got"], json!({"fixed": true}));
}

#[tokio::test]
async fn text_bodies_stay_text() {
    let addr = server().await;
    let (runtime, plugin) = http_plugin(addr).await;
    let config = json!({"url": format!("http://127.0.0.1:{}/text", addr.port())});
    let report = runtime.invoke(&plugin, invocation("request", config, vec![])).await;
    assert_eq!(port(&report, "main")[0]["body"], "plain words");
}

#[tokio::test]
async fn error_statuses_are_errors_retryable_only_when_a_retry_can_help() {
    let addr = server().await;
    let (runtime, plugin) = http_plugin(addr).await;
    let url = |path: &str| format!("http://127.0.0.1:{}{path}", addr.port());

    let report = runtime.invoke(&plugin, invocation("request", json!({"url": url("/busy")}), vec![])).await;
    match report.result.unwrap_err() {
        NodeFailure::Plugin { message, code, retryable } => {
            assert!(retryable, "503 may pass");
            assert_eq!(code.as_deref(), Some("http_status"));
            assert!(message.contains("503") && message.contains("try later"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let report = runtime.invoke(&plugin, invocation("request", json!({"url": url("/missing")}), vec![])).await;
    assert!(!report.result.unwrap_err().retryable(), "404 will not pass by retrying");

    let config = json!({"url": url("/missing"), "fail_on_status": false});
    let report = runtime.invoke(&plugin, invocation("request", config, vec![])).await;
    assert_eq!(port(&report, "main")[0]["status"], 404);
}

#[tokio::test]
async fn hosts_not_granted_are_refused_and_connection_failures_are_retryable() {
    let addr = server().await;
    let (runtime, plugin) = http_plugin(addr).await;
    let report = runtime.invoke(&plugin, invocation("request", json!({"url": "http://127.0.0.2:9/x"}), vec![])).await;
    let err = report.result.unwrap_err();
    assert!(!err.retryable() && err.to_string().contains("not granted"), "{err}");
    assert_eq!(report.denials.len(), 1);

    // Granted, but nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let grants = Grants { http: vec![format!("127.0.0.1:{}", closed.port())], ..Default::default() };
    let plugin = load(&runtime, &fixtures().http, &grants).await;
    let config = json!({"url": format!("http://127.0.0.1:{}/", closed.port())});
    let report = runtime.invoke(&plugin, invocation("request", config, vec![])).await;
    let err = report.result.unwrap_err();
    assert!(err.retryable(), "{err}");
}
