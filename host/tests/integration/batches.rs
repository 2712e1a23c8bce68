//! Batches (split in batches, for each) through the real server: a node
//! hands its items on a batch at a time around a bounded loop, and the
//! items that came back leave on `done`.

use crate::common::server::{data_dir, json, serve};
use reqwest::Method;
use serde_json::{json, Value};

fn workflow(id: &str, size: u32, max_iterations: u32, body: &str) -> String {
    format!(
        r#"
id: {id}
triggers: [{{id: go, type: webhook, path: run, uses: wirework/core@^0.1, mode: sync}}]
nodes:
  - {{id: split, uses: wirework/core@^0.1, node: set, config: {{fields: {{}}}}}}
  - {{id: each, batches: {{size: {size}}}}}
  - {body}
  - {{id: report, uses: wirework/core@^0.1, node: merge, config: {{mode: collect, into: leads}}}}
connections:
  - {{from: go, to: split}}
  - {{from: split, to: each}}
  - {{from: "each:batch", to: work}}
  - {{from: work, to: each, max_iterations: {max_iterations}}}
  - {{from: "each:done", to: report}}
"#
    )
}

const STAMP: &str = r#"{id: work, uses: wirework/core@^0.1, node: set, config: {fields: {seen: true, batch_size: "{{ size($items) }}"}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_go_round_the_loop_a_batch_at_a_time_within_its_bound() {
    let dir = data_dir("127.0.0.1:9");
    let server = serve(dir.path(), |_| {}).await;
    server.deploy(&workflow("leads", 3, 10, STAMP)).await;
    // The webhook item holds the list; a set node cannot split it, so the
    // trigger gets one item per lead through the API's start instead.
    let items: Vec<Value> = (1..=7).map(|i| json!({"n": i})).collect();
    let (status, started) = json(
        server.api_json(Method::POST, "/workflows/leads/executions", &json!({"items": items})).send().await.unwrap(),
    )
    .await;
    assert_eq!(status, 202, "{started}");
    let id = started["execution_id"].as_str().unwrap();
    let execution = server.wait_for(id, &["succeeded", "failed"]).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    let steps = execution["steps"].as_array().unwrap();
    let work: Vec<&Value> = steps.iter().filter(|s| s["node"] == "work").collect();
    let sizes: Vec<usize> = work.iter().map(|s| s["input"].as_array().unwrap().len()).collect();
    assert_eq!(sizes, [3, 3, 1], "three batches of at most 3");
    let report = steps.iter().find(|s| s["node"] == "report").unwrap();
    let leads = &report["outcome"]["emitted"]["ports"][0][1][0]["leads"];
    let ns: Vec<i64> = leads.as_array().unwrap().iter().map(|l| l["n"].as_i64().unwrap()).collect();
    assert_eq!(ns, [1, 2, 3, 4, 5, 6, 7], "every item came back, in order: {report}");
    assert!(leads.as_array().unwrap().iter().all(|l| l["seen"] == true));

    // The loop's bound holds: 7 items in batches of 1 need 7 trips, not 5.
    server.deploy(&workflow("leads", 1, 5, STAMP)).await;
    let (_, started) = json(
        server.api_json(Method::POST, "/workflows/leads/executions", &json!({"items": items})).send().await.unwrap(),
    )
    .await;
    let failed = server.wait_for(started["execution_id"].as_str().unwrap(), &["failed"]).await;
    assert!(failed["error"]["message"].as_str().unwrap().contains("max_iterations of 5"), "{failed:#}");

    // A loop that sends nothing back stops the batches: a clear failure, not a silent success.
    let drop_all = r#"{id: work, uses: wirework/core@^0.1, node: filter, config: {condition: false}}"#;
    server.deploy(&workflow("leads", 3, 10, drop_all)).await;
    let (_, started) = json(
        server.api_json(Method::POST, "/workflows/leads/executions", &json!({"items": items})).send().await.unwrap(),
    )
    .await;
    let failed = server.wait_for(started["execution_id"].as_str().unwrap(), &["failed", "succeeded"]).await;
    assert_eq!(failed["status"], "failed", "{failed:#}");
    assert!(failed["error"]["message"].as_str().unwrap().contains("still holds items"), "{failed:#}");

    // Refused at deploy: no loop back, a size out of range.
    let no_loop = workflow("leads-2", 3, 10, STAMP).replace("  - {from: work, to: each, max_iterations: 10}\n", "");
    assert!(server.refused(&no_loop).await.contains("needs a connection back to it"));
    assert!(server.refused(&workflow("leads-3", 0, 10, STAMP)).await.contains("from 1 to 10000"));
    server.stop().await;
}
