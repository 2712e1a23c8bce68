//! Compensation (sagas) through the real server: when an execution fails
//! after steps whose nodes name a compensation, those compensations run,
//! newest first, with the items their steps emitted, durably and with their
//! own retries; the outcome is recorded. Side effects are observed on a
//! loopback HTTP recorder, as an outside system would see them.

use crate::common::engine::Recorder;
use crate::common::server::{data_dir, json, serve};
use reqwest::Method;
use serde_json::{json, Value};

fn order_workflow(addr: &str, refund_retry: &str) -> String {
    format!(
        r#"
id: order
triggers: [{{id: go, type: manual}}]
nodes:
  - {{id: charge, uses: wirework/http@^0.1, node: request, compensate: refund,
     config: {{method: POST, url: "http://{addr}/charge", json: {{order: "{{{{ $json.order }}}}"}}}}}}
  - {{id: reserve, uses: wirework/http@^0.1, node: request, compensate: release,
     config: {{method: POST, url: "http://{addr}/reserve", json: {{sku: A-1}}}}}}
  - {{id: ship, uses: wirework/http@^0.1, node: request,
     config: {{method: POST, url: "http://{addr}/ship", json: {{sku: A-1}}}}}}
  - {{id: refund, uses: wirework/http@^0.1, node: request, {refund_retry}
     config: {{method: POST, url: "http://{addr}/refund", json: {{charge: "{{{{ $json.body.charge_id }}}}"}}}}}}
  - {{id: release, uses: wirework/http@^0.1, node: request,
     config: {{method: POST, url: "http://{addr}/release", json: {{reservation: "{{{{ $json.body.reservation }}}}"}}}}}}
connections: [{{from: go, to: charge}}, {{from: charge, to: reserve}}, {{from: reserve, to: ship}}]
"#
    )
}

async fn start(server: &crate::common::server::TestServer) -> String {
    let body = json!({"items": [{"order": "o-7"}]});
    let (status, started) =
        json(server.api_json(Method::POST, "/workflows/order/executions", &body).send().await.unwrap()).await;
    assert_eq!(status, 202, "{started}");
    started["execution_id"].as_str().unwrap().to_string()
}

fn paths(recorder: &Recorder) -> Vec<String> {
    recorder.state.received.lock().unwrap().iter().map(|r| r.path.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_undoes_the_finished_steps_newest_first_and_records_it() {
    let recorder = Recorder::start().await;
    recorder.answer("charge", json!({"charge_id": "ch_1"}));
    recorder.answer("reserve", json!({"reservation": "r_9"}));
    recorder.fail_next("ship", 100);
    let addr = recorder.addr.to_string();
    let dir = data_dir(&addr);
    let server = serve(dir.path(), |_| {}).await;
    server.deploy(&order_workflow(&addr, "")).await;

    let id = start(&server).await;
    let execution = server.wait_for(&id, &["failed"]).await;
    assert_eq!(paths(&recorder), ["charge", "reserve", "ship", "release", "refund"], "newest first");
    assert_eq!(recorder.received("release")[0].body, json!({"reservation": "r_9"}), "with the step's own output");
    assert_eq!(recorder.received("refund")[0].body, json!({"charge": "ch_1"}));
    assert!(
        execution["error"]["message"].as_str().unwrap().contains("ship"),
        "the failure stays the cause: {execution:#}"
    );
    let report = &execution["compensation"];
    assert_eq!(report["status"], "completed", "{execution:#}");
    let done: Vec<(&str, &str, &str)> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["node"].as_str().unwrap(), s["by"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(done, [("reserve", "release", "succeeded"), ("charge", "refund", "succeeded")]);

    // A compensated execution is not retried from where it failed.
    let (status, body) = json(server.api(Method::POST, &format!("/executions/{id}/retry")).send().await.unwrap()).await;
    assert_eq!(status, 409, "{body}");

    // Nothing to undo when the failure comes first.
    recorder.fail_next("charge", 100);
    let first = start(&server).await;
    let execution = server.wait_for(&first, &["failed"]).await;
    assert!(execution.get("compensation").is_none(), "{execution:#}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compensation_that_fails_is_retried_reported_and_the_others_still_run() {
    let recorder = Recorder::start().await;
    recorder.answer("charge", json!({"charge_id": "ch_1"}));
    recorder.answer("reserve", json!({"reservation": "r_9"}));
    recorder.fail_next("ship", 100);
    recorder.fail_next("release", 100);
    let addr = recorder.addr.to_string();
    let dir = data_dir(&addr);
    let server = serve(dir.path(), |_| {}).await;
    let retry = "retry: {max_attempts: 3, initial_delay_ms: 20},";
    server
        .deploy(&order_workflow(&addr, "").replace(
            "id: release, uses: wirework/http@^0.1, node: request,",
            &format!("id: release, uses: wirework/http@^0.1, node: request, {retry}"),
        ))
        .await;

    let id = start(&server).await;
    let execution = server.wait_for(&id, &["failed"]).await;
    assert_eq!(recorder.received("release").len(), 3, "the compensation's own retry policy");
    assert_eq!(recorder.received("refund").len(), 1, "the next compensation still ran");
    let report = &execution["compensation"];
    assert_eq!(report["status"], "failed", "{execution:#}");
    let steps: Vec<&Value> = report["steps"].as_array().unwrap().iter().collect();
    assert_eq!(steps[0]["status"], "failed");
    assert!(steps[0]["error"].as_str().unwrap().contains("release"), "{execution:#}");
    assert_eq!(steps[1]["status"], "succeeded");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_compensations_are_refused_at_deploy() {
    let dir = data_dir("127.0.0.1:9");
    let server = serve(dir.path(), |_| {}).await;
    let workflow = |a: &str, b: &str, connections: &str| {
        format!(
            "id: saga\ntriggers: [{{id: go, type: manual}}]\nnodes:\n  - {{id: a, uses: wirework/core@^0.1, node: noop{a}}}\n  - {{id: b, uses: wirework/core@^0.1, node: noop{b}}}\nconnections: [{{from: go, to: a}}{connections}]\n"
        )
    };
    assert!(server.refused(&workflow(", compensate: nobody", "", "")).await.contains("no node `nobody`"));
    assert!(server.refused(&workflow(", compensate: a", "", "")).await.contains("cannot compensate itself"));
    assert!(server.refused(&workflow(", compensate: b", "", ", {from: a, to: b}")).await.contains("has connections"));
    assert!(server.refused(&workflow(", compensate: b", ", on_error: continue", "")).await.contains("on_error: stop"));
    assert!(server
        .refused(&workflow(", compensate: b", ", compensate: a", ""))
        .await
        .contains("compensation of its own"));
    // Fine: `b` stands apart, reachable only as a's compensation.
    server.deploy(&workflow(", compensate: b", "", "")).await;
    server.stop().await;
}
