//! The `wirework/http` request node against a real HTTP server on loopback.

use crate::common::*;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Json;
use futures_util::future::BoxFuture;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use wirework::runtime::{Grants, HostLookup, MemoryKv, NodeFailure, Resolver, Runtime, RuntimeConfig};

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
        .route(
            "/redirect",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                (StatusCode::FOUND, [("location", q["to"].clone())], "moved")
            }),
        )
        .route("/busy", get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "try later") }))
        .route("/limited", get(|| async { (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "7")], "slow down") }))
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
async fn post_sends_headers_json_and_an_idempotency_key_per_item() {
    let addr = server().await;
    let (runtime, plugin) = http_plugin(addr).await;
    let config = json!({
        "method": "POST",
        "url": format!("http://127.0.0.1:{}/echo", addr.port()),
        "headers": {"x-token": "abc"},
        "send_item": true
    });
    let items = vec![json!({"email": "a@example.com"}), json!({"email": "b@example.com"})];
    let report = runtime.invoke(&plugin, invocation("request", config.clone(), items.clone())).await;
    let out = port(&report, "main");
    assert_eq!(out.len(), 2);
    assert_eq!(out[1]["body"]["got"], json!({"email": "b@example.com"}));
    assert_eq!(out[0]["body"]["token"], "abc");
    // One key per item, so that a provider deduplicating by key takes both;
    // the same again on a retry of the step.
    assert_eq!(out[0]["body"]["idempotency"], "exec-1:step-1-0");
    assert_eq!(out[1]["body"]["idempotency"], "exec-1:step-1-1");
    let again = runtime.invoke(&plugin, invocation("request", config.clone(), items)).await;
    let keys: Vec<Value> = port(&again, "main").iter().map(|o| o["body"]["idempotency"].clone()).collect();
    assert_eq!(keys, [json!("exec-1:step-1-0"), json!("exec-1:step-1-1")]);

    // One item: the step's key as it is.
    let mut config = config;
    config["json"] = json!({"fixed": true});
    let report = runtime.invoke(&plugin, invocation("request", config, vec![json!({"x": 1})])).await;
    assert_eq!(port(&report, "main")[0]["body"]["got"], json!({"fixed": true}));
    assert_eq!(port(&report, "main")[0]["body"]["idempotency"], "exec-1:step-1");
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
        NodeFailure::Plugin { message, code, retryable, .. } => {
            assert!(retryable, "503 may pass");
            assert_eq!(code.as_deref(), Some("http_status"));
            assert!(message.contains("503") && message.contains("try later"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let report = runtime.invoke(&plugin, invocation("request", json!({"url": url("/missing")}), vec![])).await;
    assert!(!report.result.unwrap_err().retryable(), "404 will not pass by retrying");
    // A 429's Retry-After reaches the engine, which waits at least that long.
    let report = runtime.invoke(&plugin, invocation("request", json!({"url": url("/limited")}), vec![])).await;
    match report.result.unwrap_err() {
        NodeFailure::Plugin { retryable, retry_after_ms, .. } => {
            assert_eq!((retryable, retry_after_ms), (true, Some(7000)))
        }
        other => panic!("{other:?}"),
    }

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

/// A DNS we control: each name answers the addresses it is given.
struct Names(HashMap<String, Vec<IpAddr>>);

impl HostLookup for Names {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let found = self.0.get(host).cloned().ok_or_else(|| std::io::Error::other(format!("no such host {host}")));
        Box::pin(async move { found })
    }
}

/// A runtime whose plugins resolve names through `names` only.
fn runtime_resolving(names: &[(&str, &str)]) -> Runtime {
    let names = Names(names.iter().map(|(n, ip)| (n.to_string(), vec![ip.parse().unwrap()])).collect());
    let config = RuntimeConfig { max_instances: 8, resolver: Resolver::new(names), ..Default::default() };
    Runtime::new(config, Arc::new(MemoryKv::default())).unwrap()
}

/// The failure of one GET of `url` through the http node with `grants`.
async fn refusal(runtime: &Runtime, grants: &Grants, url: &str) -> NodeFailure {
    let plugin = load(runtime, &fixtures().http, grants).await;
    let report = runtime.invoke(&plugin, invocation("request", json!({"url": url}), vec![])).await;
    match report.result {
        Err(failure) => {
            assert!(!failure.retryable(), "a refusal is permanent: {failure}");
            assert!(!report.denials.is_empty() || failure.to_string().contains("denied"), "{failure}");
            failure
        }
        Ok(outcome) => panic!("{url} was reached: {outcome:?}"),
    }
}

#[tokio::test]
async fn a_granted_name_that_resolves_to_an_internal_address_is_refused() {
    // One name per kind of internal address, each granted exactly.
    let names = [
        ("metadata.test", "169.254.169.254"),
        ("loop.test", "127.0.0.1"),
        ("private.test", "10.1.2.3"),
        ("cgnat.test", "100.64.0.1"),
        ("bench.test", "198.18.0.1"),
        ("reserved.test", "240.0.0.1"),
        ("docs.test", "192.0.2.1"),
        ("mapped.test", "::ffff:127.0.0.1"),
        ("compat.test", "::127.0.0.1"),
        ("nat64.test", "64:ff9b::a9fe:a9fe"),
        ("sixtofour.test", "2002:7f00:1::1"),
        ("teredo.test", "2001:0:4136:e378:8000:63bf:3fff:fdd2"),
        ("ula.test", "fd00::1"),
        ("linklocal.test", "fe80::1"),
        ("loop6.test", "::1"),
    ];
    let runtime = runtime_resolving(&names);
    for (name, ip) in names {
        let grants = Grants { http: vec![name.to_string()], ..Default::default() };
        let failure = refusal(&runtime, &grants, &format!("http://{name}/latest/meta-data/")).await;
        let message = failure.to_string();
        assert!(message.contains("internal addresses") && message.contains(name), "{name} ({ip}): {message}");
    }
}

#[tokio::test]
async fn an_internal_grant_reaches_a_service_on_loopback_and_an_exact_grant_does_not() {
    let addr = server().await;
    let runtime = runtime_resolving(&[("crm.corp.test", "127.0.0.1")]);
    let url = format!("http://crm.corp.test:{}/contacts", addr.port());

    let exact = Grants { http: vec![format!("crm.corp.test:{}", addr.port())], ..Default::default() };
    assert!(refusal(&runtime, &exact, &url).await.to_string().contains("internal addresses"));

    let internal = Grants { http_internal: vec![format!("crm.corp.test:{}", addr.port())], ..Default::default() };
    let plugin = load(&runtime, &fixtures().http, &internal).await;
    let report = runtime.invoke(&plugin, invocation("request", json!({"url": url}), vec![])).await;
    assert_eq!(port(&report, "main")[0]["body"]["contacts"][0]["email"], "ann@example.com");
}

#[tokio::test]
async fn a_redirect_to_an_internal_address_is_refused() {
    let addr = server().await;
    let runtime = runtime_resolving(&[("rebound.test", "127.0.0.1")]);
    let here = format!("127.0.0.1:{}", addr.port());
    // The first hop is granted (an IP literal); each target is checked again.
    let grants = Grants { http: vec![here.clone(), format!("rebound.test:{}", addr.port())], ..Default::default() };
    for (to, why) in [
        (format!("http://rebound.test:{}/contacts", addr.port()), "internal addresses"),
        ("http://169.254.169.254/latest/meta-data/".to_string(), "redirect to"),
        (format!("http://[::ffff:127.0.0.1]:{}/contacts", addr.port()), "redirect to"),
    ] {
        let url = format!(
            "http://{here}/redirect?to={}",
            url::form_urlencoded::byte_serialize(to.as_bytes()).collect::<String>()
        );
        let message = refusal(&runtime, &grants, &url).await.to_string();
        assert!(message.contains(why), "{to}: {message}");
    }
}

/// The HTTP node's other credential types: the host sends `basic` as an
/// Authorization header and `query` as a query parameter, named by the
/// credential, from the fields bound to the call.
#[tokio::test]
async fn basic_and_query_credentials_are_sent_by_the_host() {
    let router = axum::Router::new().route(
        "/whoami",
        get(|headers: HeaderMap, Query(q): Query<HashMap<String, String>>| async move {
            let auth = headers.get("authorization").map(|v| v.to_str().unwrap().to_string());
            Json(json!({"authorization": auth, "query": q}))
        }),
    );
    let addr = crate::common::serve(router).await;
    let runtime = runtime();
    let grants = Grants {
        http: vec![format!("127.0.0.1:{}", addr.port())],
        credentials: vec!["basic".into(), "query".into()],
        ..Default::default()
    };
    let plugin = load(&runtime, &fixtures().http, &grants).await;
    let url = format!("http://127.0.0.1:{}/whoami?page=2", addr.port());
    let bound = |kind: &str, fields: &[(&str, &str)]| {
        let fields = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        wirework::runtime::Bound { credentials: Some(Arc::new([(kind.to_string(), fields)].into())), secrets: None }
    };

    let mut call = invocation("request", json!({"url": url, "auth": "basic"}), vec![]);
    call.bound = bound("basic", &[("username", "ann"), ("password", "pa55word")]);
    let report = runtime.invoke(&plugin, call).await;
    let body = &port(&report, "main")[0]["body"];
    // base64("ann:pa55word"); the password is a secret field, so it cannot show, but this is its encoding.
    assert_eq!(body["authorization"], "Basic YW5uOnBhNTV3b3Jk", "{body}");

    let mut call = invocation("request", json!({"url": url, "auth": "query"}), vec![]);
    call.bound = bound("query", &[("name", "api_key"), ("value", "k-query-secret")]);
    let report = runtime.invoke(&plugin, call).await;
    let body = &port(&report, "main")[0]["body"];
    assert_eq!(body["query"], json!({"page": "2", "api_key": "k-query-secret"}), "{body}");

    // A type the operator did not grant is refused, and says so.
    let mut call = invocation("request", json!({"url": url, "auth": "bearer"}), vec![]);
    call.bound = bound("bearer", &[("token", "t-secret")]);
    let error = runtime.invoke(&plugin, call).await.result.unwrap_err().to_string();
    assert!(error.contains("credential type `bearer` is not granted to this plugin"), "{error}");
}
