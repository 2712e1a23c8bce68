//! Sub-workflows through the real server: a node that calls another
//! workflow, waiting for its output or not; the child linked from the
//! parent's step and back; version pinning; failures, cycles and depth.

use crate::common::server::{data_dir, json, serve, TestServer};
use reqwest::Method;
use serde_json::{json, Value};

const ENRICH_V1: &str = r#"
id: enrich
triggers: [{id: run, type: manual}]
nodes:
  - {id: score, uses: wirework/core@^0.1, node: set, config: {fields: {score: "{{ size($json.email) * 2 }}", by: enrich-v1}}}
connections: [{from: run, to: score}]
"#;

const INTAKE: &str = r#"
id: intake
triggers: [{id: form, type: webhook, path: lead, uses: wirework/core@^0.1, mode: sync}]
nodes:
  - {id: enrich, call: {workflow: enrich}}
  - {id: route, uses: wirework/core@^0.1, node: set, config: {fields: {tier: "{{ $json.score >= 20 ? 'hot' : 'warm' }}"}}}
connections: [{from: form, to: enrich}, {from: enrich, to: route}]
"#;

async fn fire(server: &TestServer, path: &str, body: &Value) -> (u16, Value) {
    json(server.raw(Method::POST, &format!("/hooks/{path}")).json(body).send().await.unwrap()).await
}

async fn steps(server: &TestServer, id: &str) -> Vec<Value> {
    let execution = execution(server, id).await;
    execution["steps"].as_array().unwrap_or_else(|| panic!("no steps: {execution}")).clone()
}

async fn execution(server: &TestServer, id: &str) -> Value {
    json(server.api(Method::GET, &format!("/executions/{id}")).send().await.unwrap()).await.1
}

/// The last execution of `workflow`.
async fn latest(server: &TestServer, workflow: &str) -> Value {
    let (_, list) =
        json(server.api(Method::GET, &format!("/executions?workflow={workflow}")).send().await.unwrap()).await;
    list[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_calls_a_workflow_waits_for_its_output_and_both_are_linked() {
    let dir = data_dir("127.0.0.1:9");
    let server = serve(dir.path(), |_| {}).await;
    server.deploy(ENRICH_V1).await;
    server.deploy(INTAKE).await;

    let (status, body) = fire(&server, "intake/lead", &json!({"email": "ann@example.com"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"email": "ann@example.com", "score": 30, "by": "enrich-v1", "tier": "hot"}));

    // Linked both ways: the parent's step names the child, the child its parent.
    let parent = latest(&server, "intake").await;
    let parent_id = parent["id"].as_str().unwrap();
    let call =
        steps(&server, parent_id).await.into_iter().find(|s| s["node"] == "enrich" && s["resumed"] == false).unwrap();
    let child_id = call["child_execution"].as_str().expect("the calling step names its child").to_string();
    let child = execution(&server, &child_id).await;
    assert_eq!(child["workflow_id"], "enrich");
    assert_eq!(child["status"], "succeeded");
    assert_eq!(child["depth"], 1);
    assert_eq!(
        child["parent"],
        json!({"execution_id": parent_id, "step": call["step"], "node": "enrich", "waits": true})
    );

    // The caller's version keeps the version it resolved at deploy.
    server.deploy(&ENRICH_V1.replace("enrich-v1", "enrich-v2")).await;
    let (_, body) = fire(&server, "intake/lead", &json!({"email": "bo@example.com"})).await;
    assert_eq!(body["by"], "enrich-v1", "intake v1 calls enrich v1: {body}");
    let (_, workflow) = json(server.api(Method::GET, "/workflows/intake").send().await.unwrap()).await;
    assert_eq!(workflow["calls"], json!({"enrich": 1}), "{workflow}");
    server.deploy(INTAKE).await;
    let (_, body) = fire(&server, "intake/lead", &json!({"email": "bo@example.com"})).await;
    assert_eq!(body["by"], "enrich-v2", "intake v2 resolved enrich v2: {body}");
    // Or the version named.
    server.deploy(&INTAKE.replace("{workflow: enrich}", "{workflow: enrich, version: 1}")).await;
    let (_, body) = fire(&server, "intake/lead", &json!({"email": "bo@example.com"})).await;
    assert_eq!(body["by"], "enrich-v1", "{body}");

    // Fire and forget: the items go on at once; the child runs on its own.
    server
        .deploy(
            r#"
id: notify
triggers: [{id: form, type: webhook, path: notify, uses: wirework/core@^0.1, mode: sync}]
nodes:
  - {id: start-enrich, call: {workflow: enrich, wait: false}}
connections: [{from: form, to: start-enrich}]
"#,
        )
        .await;
    let (status, body) = fire(&server, "notify/notify", &json!({"email": "cy@example.com"})).await;
    assert_eq!((status, body), (200, json!({"email": "cy@example.com"})));
    let parent_id = latest(&server, "notify").await["id"].as_str().unwrap().to_string();
    let child_id = steps(&server, &parent_id).await[1]["child_execution"].as_str().unwrap().to_string();
    let child = server.wait_for(&child_id, &["succeeded"]).await;
    assert_eq!(child["parent"]["waits"], false);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_child_fails_its_step_and_bad_calls_are_refused_at_deploy() {
    let dir = data_dir("127.0.0.1:9");
    let server = serve(dir.path(), |_| {}).await;
    server
        .deploy(
            r#"
id: divide
triggers: [{id: run, type: manual}]
nodes:
  - {id: share, uses: wirework/core@^0.1, node: set, config: {fields: {share: "{{ 1 / $json.parts }}"}}}
connections: [{from: run, to: share}]
"#,
        )
        .await;
    server
        .deploy(
            r#"
id: split
triggers: [{id: form, type: webhook, path: split, uses: wirework/core@^0.1}]
nodes:
  - {id: divide, call: {workflow: divide}}
connections: [{from: form, to: divide}]
"#,
        )
        .await;
    let (status, accepted) = fire(&server, "split/split", &json!({"parts": 0})).await;
    assert_eq!(status, 202, "{accepted}");
    let parent = server.wait_for(accepted["execution_id"].as_str().unwrap(), &["failed"]).await;
    let error = parent["error"].to_string();
    assert!(
        error.contains("call_failed") && error.contains("`divide` failed") && error.contains("division by zero"),
        "{parent:#}"
    );

    // Retried: a new child runs (the same pinned version, so it fails the same way).
    let parent_id = parent["id"].as_str().unwrap();
    let (status, body) =
        json(server.api(Method::POST, &format!("/executions/{parent_id}/retry")).send().await.unwrap()).await;
    assert!(status < 300, "{body}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let calls = loop {
        let calls: Vec<Value> =
            steps(&server, parent_id).await.into_iter().filter(|s| s["child_execution"].is_string()).collect();
        if calls.len() == 2 && execution(&server, parent_id).await["status"] == "failed" {
            break calls;
        }
        assert!(std::time::Instant::now() < deadline, "the retry did not start a second child: {calls:#?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_ne!(calls[0]["child_execution"], calls[1]["child_execution"]);

    // Refused at deploy, each with its place, nothing stored.
    let call = |id: &str, calls: &str, extra: &str| {
        format!(
            "id: {id}\ntriggers: [{{id: run, type: manual}}]\nnodes:\n  - {{id: go, call: {{workflow: {calls}}}{extra}}}\nconnections: [{{from: run, to: go}}]\n"
        )
    };
    assert!(server.refused(&call("nobody-calls", "missing", "")).await.contains("no workflow `missing` is deployed"));
    assert!(server.refused(&call("divide", "divide", "")).await.contains("cannot call itself"));
    assert!(server.refused(&call("other", "divide", ", config: {a: 1}")).await.contains("takes no `config`"));
    assert!(server.refused(&call("other", "divide, version: 7", "")).await.contains("has no version 7"));
    assert!(server
        .refused(&call("other", "divide", ", uses: wirework/core@^0.1, node: set"))
        .await
        .contains("one of them"));
    // divide v2 would call split, which calls divide: a cycle.
    let cycle = server.refused(&call("divide", "split", "")).await;
    assert!(cycle.contains("cycle: divide → split → divide"), "{cycle}");

    // A called workflow is not deleted from under its callers.
    let (status, body) = json(server.api(Method::DELETE, "/workflows/divide").send().await.unwrap()).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("called by `split`"), "{body}");

    // The engine's own events cannot be posted.
    let (status, body) = json(
        server
            .api_json(Method::POST, "/events", &json!({"name": "wirework.call:x", "payload": {}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_nest_at_most_the_depth_limit() {
    let dir = data_dir("127.0.0.1:9");
    let server = serve(dir.path(), |_| {}).await;
    let depth = wirework::engine::MAX_CALL_DEPTH;
    server
        .deploy("id: w0\ntriggers: [{id: run, type: manual}]\nnodes:\n  - {id: leaf, uses: wirework/core@^0.1, node: noop}\nconnections: [{from: run, to: leaf}]\n")
        .await;
    for n in 1..=depth + 1 {
        let definition = format!(
            "id: w{n}\ntriggers: [{{id: run, type: manual}}]\nnodes:\n  - {{id: down, call: {{workflow: w{}}}}}\nconnections: [{{from: run, to: down}}]\n",
            n - 1
        );
        server.deploy(&definition).await;
    }
    // w{depth} runs at depth 0 and reaches w0 at depth `depth`: fine.
    let start = |n: u32| {
        let server = &server;
        async move {
            let (status, body) = json(
                server
                    .api_json(Method::POST, &format!("/workflows/w{n}/executions"), &json!({"items": [{}]}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(status, 202, "{body}");
            body["execution_id"].as_str().unwrap().to_string()
        }
    };
    let ok = start(depth).await;
    server.wait_for(&ok, &["succeeded"]).await;
    // One more level: the deepest call is refused, and every caller fails with it.
    let too_deep = start(depth + 1).await;
    let failed = server.wait_for(&too_deep, &["failed"]).await;
    assert!(failed["error"].to_string().contains("call_failed"), "{failed:#}");
    let w1 = latest(&server, "w1").await;
    let w1 = server.wait_for(w1["id"].as_str().unwrap(), &["failed"]).await;
    assert!(w1["error"]["message"].as_str().unwrap().contains(&format!("calls nest {depth} deep")), "{w1:#}");
    server.stop().await;
}
