//! Hostile plugins: each misbehaviour ends in a clean, specific node error, and
//! the same runtime then runs a well-behaved node correctly.

use crate::common::*;
use axum::routing::get;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use wirework::runtime::{Grants, HttpLimits, LoadedPlugin, MemoryKv, NodeFailure, Runtime, RuntimeConfig};
use wirework_registry::Limits;

async fn hostile(grants: Grants) -> (Runtime, LoadedPlugin) {
    let runtime = runtime();
    let plugin = load(&runtime, &fixtures().hostile, &grants).await;
    (runtime, plugin)
}

/// The well-behaved node still works on the same runtime.
async fn still_serves(runtime: &Runtime, plugin: &LoadedPlugin) {
    let report = runtime.invoke(plugin, invocation("echo", json!({}), vec![json!({"ok": true})])).await;
    assert_eq!(port(&report, "main"), [json!({"ok": true})]);
}

#[tokio::test]
async fn an_infinite_loop_runs_out_of_fuel() {
    let (runtime, plugin) = hostile(Grants::default()).await;
    let report = runtime.invoke(&plugin, invocation("spin", json!({}), vec![])).await;
    assert_eq!(report.result.unwrap_err(), NodeFailure::FuelExhausted { budget: 100_000_000 });
    assert_eq!(report.fuel, 100_000_000, "the whole budget was used and metered");
    still_serves(&runtime, &plugin).await;
}

#[tokio::test]
async fn a_call_past_its_deadline_times_out() {
    let (runtime, plugin) = hostile(Grants::default()).await;
    let mut inv = invocation("spin", json!({}), vec![]);
    // Fuel enough for minutes: only the 200 ms deadline can stop it.
    inv.limits = Some(Limits { fuel: 1_000_000_000_000, memory_mib: 16, wall_ms: 200 });
    let report = runtime.invoke(&plugin, inv).await;
    assert_eq!(report.result.unwrap_err(), NodeFailure::Timeout { wall_ms: 200 });
    assert!(report.wall.as_millis() >= 200, "{:?}", report.wall);
    still_serves(&runtime, &plugin).await;
}

#[tokio::test]
async fn unbounded_allocation_hits_the_memory_cap() {
    let (runtime, plugin) = hostile(Grants::default()).await;
    let report = runtime.invoke(&plugin, invocation("hog", json!({}), vec![])).await;
    assert_eq!(report.result.unwrap_err(), NodeFailure::MemoryLimit { limit_mib: 16 });
    still_serves(&runtime, &plugin).await;
}

#[tokio::test]
async fn a_panic_becomes_a_node_error_with_its_message() {
    let (runtime, plugin) = hostile(Grants::default()).await;
    let report =
        runtime.invoke(&plugin, invocation("panic", json!({"message": "customer 42 has no email"}), vec![])).await;
    match report.result.unwrap_err() {
        NodeFailure::Trap { message } => {
            assert!(message.contains("customer 42 has no email"), "{message}")
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    let report = runtime.invoke(&plugin, invocation("trap", json!({}), vec![])).await;
    match report.result.unwrap_err() {
        NodeFailure::Trap { message } => assert!(message.contains("unreachable"), "{message}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    still_serves(&runtime, &plugin).await;
}

#[tokio::test]
async fn http_reaches_only_granted_hosts_and_never_loopback_by_wildcard() {
    let addr = serve(axum::Router::new().route("/ping", get(|| async { "pong" }))).await;
    let url = format!("http://127.0.0.1:{}/ping", addr.port());
    let fetch = |url: &str| invocation("fetch", json!({"url": url}), vec![]);

    // Everything public is granted, but loopback needs an explicit grant.
    let (runtime, plugin) = hostile(Grants { http: vec!["*".into()], ..Default::default() }).await;
    let report = runtime.invoke(&plugin, fetch(&url)).await;
    let err = report.result.unwrap_err();
    assert!(matches!(&err, NodeFailure::Plugin { code, .. } if code.as_deref() == Some("http_denied")), "{err:?}");
    assert!(err.to_string().contains("internal address"), "{err}");
    assert_eq!(report.denials.len(), 1, "the refusal is recorded: {:?}", report.denials);
    // A name that resolves to loopback is refused the same way, at connect time.
    let report = runtime.invoke(&plugin, fetch(&format!("http://localhost:{}/ping", addr.port()))).await;
    assert!(report.result.unwrap_err().to_string().contains("internal addresses"));
    still_serves(&runtime, &plugin).await;

    // A host that is not granted at all.
    let (runtime, plugin) = hostile(Grants { http: vec!["api.example.test".into()], ..Default::default() }).await;
    let report = runtime.invoke(&plugin, fetch("http://elsewhere.example.test/")).await;
    assert!(report.result.unwrap_err().to_string().contains("not granted"));
    let report = runtime.invoke(&plugin, fetch(&url)).await;
    assert!(report.result.unwrap_err().to_string().contains("not granted"));

    // The explicit grant of that exact host and port lets it through.
    let grant = format!("127.0.0.1:{}", addr.port());
    let (runtime, plugin) = hostile(Grants { http: vec![grant], ..Default::default() }).await;
    let report = runtime.invoke(&plugin, fetch(&url)).await;
    assert_eq!(port(&report, "main"), [json!({"status": 200, "body": "pong"})]);
    assert!(report.denials.is_empty());
}

#[tokio::test]
async fn http_is_bounded_in_redirects_size_and_time() {
    use axum::response::Redirect;
    let elsewhere = serve(axum::Router::new().route("/ping", get(|| async { "pong" }))).await;
    let to_elsewhere = format!("http://127.0.0.1:{}/ping", elsewhere.port());
    let addr = serve(
        axum::Router::new()
            .route("/ping", get(|| async { "pong" }))
            .route("/hop", get(|| async { Redirect::temporary("/ping") }))
            .route("/away", get(move || async move { Redirect::temporary(&to_elsewhere) }))
            .route("/big", get(|| async { "x".repeat(1 << 20) }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    "late"
                }),
            ),
    )
    .await;
    let http = HttpLimits { timeout: std::time::Duration::from_millis(300), max_response_bytes: 64 << 10 };
    let runtime =
        Runtime::new(RuntimeConfig { max_instances: 16, http, ..Default::default() }, Arc::new(MemoryKv::default()))
            .unwrap();
    let grants = Grants { http: vec![format!("127.0.0.1:{}", addr.port())], ..Default::default() };
    let plugin = load(&runtime, &fixtures().hostile, &grants).await;
    let fetch =
        |path: &str| invocation("fetch", json!({"url": format!("http://127.0.0.1:{}{path}", addr.port())}), vec![]);

    // A redirect within the grant is followed; one to a host not granted is refused.
    let report = runtime.invoke(&plugin, fetch("/hop")).await;
    assert_eq!(port(&report, "main"), [json!({"status": 200, "body": "pong"})]);
    let report = runtime.invoke(&plugin, fetch("/away")).await;
    let err = report.result.clone().unwrap_err();
    assert!(matches!(&err, NodeFailure::Plugin { code, .. } if code.as_deref() == Some("http_denied")), "{err:?}");
    assert!(err.to_string().contains("redirect"), "{err}");
    assert_eq!(report.denials.len(), 1, "the refusal is recorded: {:?}", report.denials);

    // A body over the cap is refused rather than buffered.
    let err = runtime.invoke(&plugin, fetch("/big")).await.result.unwrap_err();
    assert!(err.to_string().contains("over the 65536-byte limit"), "{err}");

    // A server that never answers costs the timeout, and a retry may help.
    let report = runtime.invoke(&plugin, fetch("/slow")).await;
    let err = report.result.unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(err.retryable(), "{err:?}");
    assert!(report.wall < std::time::Duration::from_secs(4), "{:?}", report.wall);
    still_serves(&runtime, &plugin).await;
}

#[tokio::test]
async fn secrets_are_readable_only_when_requested_and_granted() {
    let secrets = BTreeMap::from([
        ("API_TOKEN".to_string(), "s3cret-value".to_string()),
        ("NOT_REQUESTED".to_string(), "other".to_string()),
    ]);
    let (runtime, plugin) = hostile(Grants { secrets, ..Default::default() }).await;
    let read = |name: &str| invocation("secret", json!({"name": name}), vec![]);

    let report = runtime.invoke(&plugin, read("API_TOKEN")).await;
    assert_eq!(port(&report, "main"), [json!({"length": 12})]);

    // Requested by the manifest but not granted by the operator.
    let report = runtime.invoke(&plugin, read("OTHER_TOKEN")).await;
    let err = report.result.unwrap_err();
    assert!(matches!(&err, NodeFailure::Plugin { code, .. } if code.as_deref() == Some("secret_denied")), "{err:?}");
    assert!(err.to_string().contains("`OTHER_TOKEN` is not granted"));
    assert_eq!(report.denials.len(), 1);
    // Granted by the operator but never requested by the manifest.
    let report = runtime.invoke(&plugin, read("NOT_REQUESTED")).await;
    assert!(report.result.unwrap_err().to_string().contains("not granted"));
    still_serves(&runtime, &plugin).await;
}

#[tokio::test]
async fn kv_state_is_scoped_and_needs_its_grant() {
    let (runtime, plugin) = hostile(Grants { kv: true, ..Default::default() }).await;
    let count = |scope: &str| {
        let mut inv = invocation("counter", json!({}), vec![]);
        inv.kv_scope = scope.into();
        inv
    };
    for expected in 1..=3 {
        let report = runtime.invoke(&plugin, count("workflow-a")).await;
        assert_eq!(port(&report, "main"), [json!({"count": expected})]);
    }
    let report = runtime.invoke(&plugin, count("workflow-b")).await;
    assert_eq!(port(&report, "main"), [json!({"count": 1})], "another scope starts afresh");

    let (runtime, plugin) = hostile(Grants::default()).await;
    let report = runtime.invoke(&plugin, count("workflow-a")).await;
    let err = report.result.unwrap_err();
    assert!(err.to_string().contains("key-value state is not granted"), "{err}");
    still_serves(&runtime, &plugin).await;
}

#[tokio::test]
async fn each_call_gets_a_fresh_instance() {
    // The `remember` node counts its calls in a static: with an instance per
    // call, every call is the first, even with traps and concurrency around it.
    let (runtime, plugin) = hostile(Grants::default()).await;
    let calls = (0..8).map(|i| {
        let name = if i % 2 == 0 { "remember" } else { "trap" };
        runtime.invoke(&plugin, invocation(name, json!({}), vec![]))
    });
    let reports = futures_util::future::join_all(calls).await;
    for (i, report) in reports.iter().enumerate() {
        if i % 2 == 0 {
            assert_eq!(port(report, "main"), [json!({"calls": 1})], "call {i}");
        } else {
            assert!(report.result.is_err(), "call {i}");
        }
    }
}

#[tokio::test]
async fn output_past_the_copy_limit_fails_for_good_naming_the_limit() {
    let config = RuntimeConfig { max_instances: 4, max_copy_bytes: 256 << 10, ..Default::default() };
    let runtime = Runtime::new(config, Arc::new(MemoryKv::default())).unwrap();
    let plugin = load(&runtime, &fixtures().hostile, &Grants::default()).await;
    // About 1 MiB of items: four times the limit, well within the plugin's memory.
    let flood = invocation("flood", json!({"count": 4000, "size": 250}), vec![]);
    let err = runtime.invoke(&plugin, flood).await.result.unwrap_err();
    assert_eq!(err, NodeFailure::CopyLimit { limit_bytes: 256 << 10 });
    assert!(!err.retryable(), "the same output fails the same way every time");
    assert!(err.to_string().contains("more than 262144 bytes in one call"), "{err}");
    // Under the limit, the same node's output goes through.
    let small = invocation("flood", json!({"count": 100, "size": 250}), vec![]);
    assert_eq!(port(&runtime.invoke(&plugin, small).await, "main").len(), 100);
    still_serves(&runtime, &plugin).await;
}
