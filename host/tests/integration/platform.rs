//! What the plugin platform promises around a call: a webhook trigger's call
//! runs bound to its credentials and its workflow's key-value state and is
//! recorded as the first step of the execution it starts; the operator's
//! caps bound every call, and a fuel budget ends an execution that spends it.

use crate::common::engine::install_package;
use crate::common::server::{json, serve};
use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};
use wirework::plugins::GrantEntry;

const KEY: &str = "open-sesame-0123456789";

fn data_dir(hostile: GrantEntry) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    install_package(dir.path(), &fixtures().core, GrantEntry::default());
    install_package(dir.path(), &fixtures().hostile, hostile);
    dir
}

#[tokio::test]
async fn a_trigger_call_is_bound_like_a_node_and_recorded_as_the_first_step() {
    let grant = GrantEntry { kv: true, credentials: vec!["gate-key".into()], ..Default::default() };
    let dir = data_dir(grant);
    let server = serve(dir.path(), |c| c.public_url = Some("https://hooks.example.com/base".into())).await;
    let credential = json!({"type": "wirework-tests/hostile:gate-key", "fields": {"key": KEY}});
    assert_eq!(server.api_json(Method::PUT, "/credentials/gate", &credential).send().await.unwrap().status(), 204);
    server
        .deploy(
            r#"
id: gated
triggers:
  - {id: door, type: webhook, path: in, uses: "wirework-tests/hostile@^0.1", node: gate, credentials: {gate-key: gate}}
nodes:
  - {id: pass, uses: "wirework/core@^0.1", node: noop}
connections: [{from: door, to: pass}]
"#,
        )
        .await;
    let knock = |key: &'static str| {
        server.client.post(format!("{}/hooks/gated/in?x=1", server.url)).header("x-key", key).send()
    };

    // The trigger reads its bound credential: a wrong key is answered by it, and starts nothing.
    let response = knock("wrong").await.unwrap();
    assert_eq!(response.status(), 401);
    let (_, listed) = json(server.api(Method::GET, "/executions").send().await.unwrap()).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "{listed}");

    let mut ids = Vec::new();
    for _ in 0..2 {
        let (status, body) = json(knock(KEY).await.unwrap()).await;
        assert_eq!(status, 202, "{body}");
        ids.push(body["execution_id"].as_str().unwrap().to_string());
    }
    for (n, id) in ids.iter().enumerate() {
        let execution = server.wait_for(id, &["succeeded", "failed"]).await;
        assert_eq!(execution["status"], "succeeded", "{execution:#}");
        let steps = execution["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 2, "{execution:#}");
        let trigger = &steps[0];
        assert_eq!((trigger["step"].as_u64(), trigger["node"].as_str()), (Some(0), Some("door")));
        assert_eq!(trigger["plugin"], "wirework-tests/hostile@0.1.0");
        assert!(trigger["fuel"].as_u64().unwrap() > 0, "the trigger's call is metered: {trigger}");
        let count = n + 1;
        let logged =
            trigger["logs"].as_array().unwrap().iter().any(|l| l["message"] == format!("gate: request {count} let in"));
        assert!(logged, "{trigger}");
        let item = &trigger["outcome"]["emitted"]["ports"][0][1][0];
        assert_eq!(item["count"], count, "the trigger's kv is its workflow's: {item}");
        assert_eq!(item["url"], "https://hooks.example.com/base/hooks/gated/in?x=1", "{item}");
        assert_eq!((steps[1]["step"].as_u64(), steps[1]["node"].as_str()), (Some(1), Some("pass")));
        assert!(!execution.to_string().contains(KEY), "the credential stays out of the record");
    }
    let metrics = server.raw(Method::GET, "/metrics").bearer_auth(crate::common::server::ADMIN).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains(r#"node="gate""#), "the trigger's calls are counted: {metrics}");
    server.stop().await;
}

#[tokio::test]
async fn the_operators_caps_bound_every_call_and_a_fuel_budget_ends_an_execution() {
    let dir = data_dir(GrantEntry { kv: true, ..Default::default() });
    let server = serve(dir.path(), |c| {
        c.call_caps.wall_ms = 5_000;
        c.call_caps.fuel = 10_000_000;
        c.execution_fuel_budget = Some(25_000_000);
    })
    .await;

    // A node asking for more time than the operator allows is refused at deploy.
    let greedy = r#"
id: greedy
triggers: [{id: go, type: manual}]
nodes: [{id: slow, uses: "wirework-tests/hostile@^0.1", node: echo, timeout_ms: 60000}]
connections: [{from: go, to: slow}]
"#;
    let (status, body) = json(server.api(Method::POST, "/workflows").body(greedy).send().await.unwrap()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["problems"][0]["location"], "nodes[0](slow).timeout_ms", "{body}");
    assert!(body["problems"][0]["message"].as_str().unwrap().contains("over the operator's cap of 5000 ms"), "{body}");

    // The manifest asks 100M fuel a call; the operator's cap of 10M wins.
    // Three spinning calls that go on after failing: the third has 5M of the
    // execution's 25M left, and when it is spent the execution fails, saying so.
    server
        .deploy(
            r#"
id: spinning
triggers: [{id: go, type: manual}]
nodes:
  - {id: one, uses: "wirework-tests/hostile@^0.1", node: spin, on_error: continue}
  - {id: two, uses: "wirework-tests/hostile@^0.1", node: spin, on_error: continue}
  - {id: three, uses: "wirework-tests/hostile@^0.1", node: spin, on_error: continue}
  - {id: four, uses: "wirework-tests/hostile@^0.1", node: echo}
connections: [{from: go, to: one}, {from: one, to: two}, {from: two, to: three}, {from: three, to: four}]
"#,
        )
        .await;
    let (status, started) =
        json(server.api_json(Method::POST, "/workflows/spinning/executions", &json!({})).send().await.unwrap()).await;
    assert_eq!(status, 202, "{started}");
    let execution = server.wait_for(started["execution_id"].as_str().unwrap(), &["succeeded", "failed"]).await;
    assert_eq!(execution["status"], "failed", "{execution:#}");
    let steps: Vec<&Value> = execution["steps"].as_array().unwrap().iter().collect();
    let fuel: Vec<u64> = steps.iter().map(|s| s["fuel"].as_u64().unwrap()).collect();
    assert_eq!(fuel, [10_000_000, 10_000_000, 5_000_000], "{execution:#}");
    assert_eq!(steps[0]["outcome"]["failed"]["failure"]["budget"], 10_000_000, "the cap, not the manifest's 100M");
    let error = &execution["error"];
    assert_eq!(error["node"], "three", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("fuel budget spent") && message.contains("25000000"), "{message}");
    server.stop().await;
}
