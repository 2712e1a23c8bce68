//! The code node (`wirework/code`, `plugins/code`): user JavaScript run by
//! the JavaScript engine inside its component, built from source by
//! componentize-js through `wirework plugin build`, called through the real
//! runtime. What users rely on: items in and out, `console` in the log,
//! errors with the user's line, and hostile code stopped by the sandbox.

use crate::common::*;
use serde_json::{json, Value};
use wirework::runtime::{Grants, InvokeReport, NodeFailure, Outcome};

async fn code_plugin() -> (wirework::runtime::Runtime, wirework::runtime::LoadedPlugin) {
    let runtime = runtime();
    let plugin = load(&runtime, &fixtures().integration("code"), &Grants::default()).await;
    (runtime, plugin)
}

async fn run(
    runtime: &wirework::runtime::Runtime,
    plugin: &wirework::runtime::LoadedPlugin,
    code: &str,
    items: Vec<Value>,
) -> InvokeReport<Outcome> {
    runtime.invoke(plugin, invocation("javascript", json!({ "code": code }), items)).await
}

fn plugin_error(report: &InvokeReport<Outcome>) -> (String, Option<String>) {
    match &report.result {
        Err(NodeFailure::Plugin { message, code, retryable, .. }) => {
            assert!(!retryable, "the same code fails the same way: no retry");
            (message.clone(), code.clone())
        }
        other => panic!("expected the code's own error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_maps_items_and_logs_to_the_execution() {
    let (runtime, plugin) = code_plugin().await;
    let code = r#"
console.log("scoring", items.length, "leads", {first: items[0].email});
return items
  .filter((lead) => lead.score >= 50)
  .map((lead) => ({ ...lead, email: lead.email.toLowerCase(), tier: lead.score >= 80 ? "hot" : "warm" }));
"#;
    let items = vec![
        json!({"email": "ANN@example.com", "score": 90}),
        json!({"email": "bob@example.com", "score": 10}),
        json!({"email": "Cy@Example.com", "score": 60}),
    ];
    let report = run(&runtime, &plugin, code, items).await;
    assert_eq!(
        port(&report, "main"),
        [
            json!({"email": "ann@example.com", "score": 90, "tier": "hot"}),
            json!({"email": "cy@example.com", "score": 60, "tier": "warm"}),
        ]
    );
    let logs: Vec<(&str, &str)> = report.logs.iter().map(|l| (l.level.as_str(), l.message.as_str())).collect();
    assert_eq!(logs, [("info", r#"scoring 3 leads {"first":"ANN@example.com"}"#)]);
    assert!(report.fuel > 0, "the call is metered");

    // One object is one item; nothing returned passes the items on.
    let report = run(&runtime, &plugin, "return {count: items.length};", vec![json!({}), json!({})]).await;
    assert_eq!(port(&report, "main"), [json!({"count": 2})]);
    let report = run(&runtime, &plugin, "items[0].seen = true;", vec![json!({"a": 1})]).await;
    assert_eq!(port(&report, "main"), [json!({"a": 1, "seen": true})]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_user_s_line() {
    let (runtime, plugin) = code_plugin().await;
    let thrown = "const total = items.length;\n\nconst lead = items[5];\nreturn [{ email: lead.email }];";
    let (message, code) = plugin_error(&run(&runtime, &plugin, thrown, vec![json!({})]).await);
    assert_eq!(code.as_deref(), Some("code_error"));
    assert!(message.starts_with("TypeError at line 4:"), "{message}");

    let (message, code) = plugin_error(&run(&runtime, &plugin, "let a = 1;\nreturn [a +];", vec![]).await);
    assert_eq!(code.as_deref(), Some("syntax_error"));
    assert!(message.starts_with("SyntaxError at line 2:"), "{message}");

    let (message, _) = plugin_error(&run(&runtime, &plugin, "throw new Error('no plan for ' + 'x');", vec![]).await);
    assert_eq!(message, "Error at line 1: no plan for x");

    for (bad, says) in [
        ("return [1, 2];", "returned a number as item 0"),
        ("return [null];", "returned null as item 0"),
        ("return 'done';", "returned a string as item 0"),
        ("const a = {}; a.self = a; return [a];", "cannot be written as JSON"),
        ("return (async () => items)();", "returned a promise"),
    ] {
        let (message, code) = plugin_error(&run(&runtime, &plugin, bad, vec![json!({})]).await);
        assert_eq!(code.as_deref(), Some("bad_result"), "{bad}: {message}");
        assert!(message.contains(says), "{bad}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_code_is_stopped_by_the_sandbox_and_reaches_nothing() {
    let (runtime, plugin) = code_plugin().await;
    // Never returns: the call's fuel runs out (its wall time would stop it too).
    let report = run(&runtime, &plugin, "while (true) {}", vec![]).await;
    assert!(
        matches!(report.result, Err(NodeFailure::FuelExhausted { .. } | NodeFailure::Timeout { .. })),
        "{:?}",
        report.result
    );
    // Allocates without end: stopped at the memory cap.
    let hog = "const keep = []; while (true) keep.push(new ArrayBuffer(8 << 20));";
    let report = run(&runtime, &plugin, hog, vec![]).await;
    let stopped = match &report.result {
        Err(NodeFailure::MemoryLimit { .. } | NodeFailure::Trap { .. }) => true,
        // The engine may see the cap first and throw its own out-of-memory error.
        Err(NodeFailure::Plugin { message, .. }) => message.contains("memory"),
        _ => false,
    };
    assert!(stopped, "{:?}", report.result);
    // Nothing of the host is in reach: no fetch, no timers, no process, no
    // require, no module loading; the clock is frozen.
    let probe = r#"
return [{
  fetch: typeof fetch, setTimeout: typeof setTimeout, setInterval: typeof setInterval, process: typeof process,
  require: typeof require, importScripts: typeof importScripts, Deno: typeof Deno,
}];
"#;
    let report = run(&runtime, &plugin, probe, vec![]).await;
    let seen = &port(&report, "main")[0];
    for name in ["fetch", "setTimeout", "setInterval", "process", "require", "importScripts", "Deno"] {
        assert_eq!(seen[name], "undefined", "{name} is reachable: {seen}");
    }
    // Each call is a fresh instance: nothing one leaves is seen by the next.
    let _ = run(&runtime, &plugin, "globalThis.leaked = items[0]; return [];", vec![json!({"secret": 1})]).await;
    let report = run(&runtime, &plugin, "return [{leaked: typeof globalThis.leaked}];", vec![]).await;
    assert_eq!(port(&report, "main"), [json!({"leaked": "undefined"})]);
}
