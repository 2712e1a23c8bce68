//! Events that arrive before the wait on them: kept for the event window,
//! taken by the first wait on their exact name that begins in it, once.

use crate::common::server::{data_dir, json, serve, TestServer};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const WAITS: &str = r#"
id: waits
triggers: [{id: go, type: manual}]
nodes:
  - {id: opened, uses: wirework/core@^0.1, node: wait, config: {event: "email.opened:{{ $json.email }}", timeout_seconds: 3600}}
  - {id: done, uses: wirework/core@^0.1, node: noop}
connections: [{from: go, to: opened}, {from: "opened:main", to: done}]
"#;

async fn emit(server: &TestServer, name: &str, payload: Value) -> Value {
    let body = json!({"name": name, "payload": payload});
    let (status, outcome) = json(server.api_json(Method::POST, "/events", &body).send().await.unwrap()).await;
    assert_eq!(status, 200, "{outcome}");
    outcome
}

/// Finished, either way.
const FINISHED: &[&str] = &["succeeded", "failed"];
/// Waiting or finished.
const STOPPED: &[&str] = &["waiting", "succeeded", "failed"];

/// Start `waits` for `email`; the execution once its status is one of
/// `settled` (a kept event is taken just after the wait is stored, so a
/// run that should take one is awaited until it finished).
async fn wait_for_open(server: &TestServer, email: &str, settled: &[&str]) -> (String, Value) {
    let body = json!({"items": [{"email": email}]});
    let (status, started) =
        json(server.api_json(Method::POST, "/workflows/waits/executions", &body).send().await.unwrap()).await;
    assert_eq!(status, 202, "{started}");
    let id = started["execution_id"].as_str().unwrap().to_string();
    let execution = server.wait_for(&id, settled).await;
    (id, execution)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_before_its_wait_is_kept_and_taken_once() {
    let data = data_dir("127.0.0.1");
    let server = serve(data.path(), |_| {}).await;
    server.deploy(WAITS).await;

    // The open arrives first: nothing waits on it yet.
    let outcome = emit(&server, "email.opened:ann@example.com", json!({"campaign": "spring"})).await;
    assert_eq!(outcome["resumed"], 0);

    // The wait that begins next takes it at once, with its payload.
    let (_, ann) = wait_for_open(&server, "ann@example.com", FINISHED).await;
    assert_eq!(ann["status"], "succeeded", "{ann}");
    let opened = ann["steps"].as_array().unwrap().iter().rev().find(|s| s["node"] == "opened").unwrap();
    assert!(opened["outcome"].to_string().contains("spring"), "{opened}");

    // Taken once: a second wait on the same name waits for the next one.
    let (second, waiting) = wait_for_open(&server, "ann@example.com", STOPPED).await;
    assert_eq!(waiting["status"], "waiting", "{waiting}");
    // Another key is another name: kept events of one do not end waits on the other.
    emit(&server, "email.opened:bob@example.com", json!({})).await;
    assert_eq!(server.wait_for(&second, &["waiting"]).await["status"], "waiting");
    // A live event still ends the waits on it, and is not kept besides.
    assert_eq!(emit(&server, "email.opened:ann@example.com", json!({})).await["resumed"], 1);
    server.wait_for(&second, &["succeeded"]).await;
    let (_, third) = wait_for_open(&server, "ann@example.com", STOPPED).await;
    assert_eq!(third["status"], "waiting", "{third}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_events_outlive_a_restart_and_expire_after_the_window() {
    let data = data_dir("127.0.0.1");
    let window = |secs| move |c: &mut wirework::server::ServeConfig| c.event_window = Duration::from_secs(secs);
    let server = serve(data.path(), window(60)).await;
    server.deploy(WAITS).await;
    emit(&server, "email.opened:cy@example.com", json!({})).await;
    server.stop().await;

    // Kept durably: taken after a restart.
    let server = serve(data.path(), window(60)).await;
    let (_, cy) = wait_for_open(&server, "cy@example.com", FINISHED).await;
    assert_eq!(cy["status"], "succeeded", "{cy}");
    server.stop().await;

    // Past the window: dropped, the wait waits.
    let server = serve(data.path(), window(1)).await;
    emit(&server, "email.opened:dee@example.com", json!({})).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, dee) = wait_for_open(&server, "dee@example.com", STOPPED).await;
    assert_eq!(dee["status"], "waiting", "{dee}");
    server.stop().await;

    // A window of zero keeps nothing.
    let server = serve(data.path(), |c| c.event_window = Duration::ZERO).await;
    emit(&server, "email.opened:eve@example.com", json!({})).await;
    let (_, eve) = wait_for_open(&server, "eve@example.com", STOPPED).await;
    assert_eq!(eve["status"], "waiting", "{eve}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_racing_its_wait_ends_it_exactly_once() {
    // The event and the wait's start race, many times: each wait ends,
    // once (a second delivery would leave a kept event or fail a run).
    let data = data_dir("127.0.0.1");
    let server = serve(data.path(), |_| {}).await;
    server.deploy(WAITS).await;
    let mut ids = Vec::new();
    for i in 0..40 {
        let email = format!("race{i}@example.com");
        let start = async {
            let body = json!({"items": [{"email": email}]});
            let (_, started) =
                json(server.api_json(Method::POST, "/workflows/waits/executions", &body).send().await.unwrap()).await;
            started["execution_id"].as_str().unwrap().to_string()
        };
        let name = format!("email.opened:{email}");
        let (id, _) = tokio::join!(start, emit(&server, &name, json!({"n": i})));
        ids.push(id);
    }
    for id in &ids {
        let execution = server.wait_for(id, &["succeeded"]).await;
        let resumed = execution["steps"].as_array().unwrap().iter().filter(|s| s["node"] == "done").count();
        assert_eq!(resumed, 1, "{execution}");
    }
    server.stop().await;
}
