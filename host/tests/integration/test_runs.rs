//! Test runs of drafts (`POST /test-runs`) and deleting workflows
//! (`DELETE /workflows/{id}`), through a real server and real plugins.

use crate::common::engine::Recorder;
use crate::common::server::{data_dir, json, serve, TestServer};
use reqwest::Method;
use serde_json::{json, Value};

/// A draft: a manual trigger, an HTTP call to the recorder, then a `set`
/// that reads what the call answered.
fn draft(recorder: &Recorder) -> Value {
    json!({
        "id": "lookup",
        "triggers": [{"id": "go", "type": "manual"}],
        "nodes": [
            {"id": "fetch", "uses": "wirework/http@^0.1", "node": "request",
             "config": {"method": "POST", "url": recorder.url("lookup"), "send_item": true}},
            {"id": "mark", "uses": "wirework/core@^0.1", "node": "set",
             "config": {"fields": {"looked_up": true}}}
        ],
        "connections": [{"from": "go", "to": "fetch"}, {"from": "fetch", "to": "mark"}]
    })
}

async fn test_run(server: &TestServer, body: &Value) -> (u16, Value) {
    json(server.api_json(Method::POST, "/test-runs", body).send().await.unwrap()).await
}

async fn execution(server: &TestServer, id: &str) -> Value {
    let (status, execution) = json(server.api(Method::GET, &format!("/executions/{id}")).send().await.unwrap()).await;
    assert_eq!(status, 200, "{execution}");
    execution
}

/// The items a step emitted on its port `port`.
fn emitted<'a>(execution: &'a Value, node: &str, port: &str) -> &'a Value {
    let step = execution["steps"].as_array().unwrap().iter().find(|s| s["node"] == node).unwrap();
    let ports = step["outcome"]["emitted"]["ports"].as_array().unwrap();
    &ports.iter().find(|p| p[0] == port).unwrap_or_else(|| panic!("{node} emitted nothing on {port}: {step}"))[1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_runs_once_without_being_deployed_and_pinned_outputs_stand_for_their_nodes() {
    let recorder = Recorder::start().await;
    let data = data_dir(&recorder.addr.to_string());
    let server = serve(data.path(), |_| {}).await;

    let (status, run) = test_run(
        &server,
        &json!({"workflow": draft(&recorder), "items": [{"email": "ann@example.com"}], "wait": true}),
    )
    .await;
    assert_eq!(status, 201, "{run}");
    assert_eq!((run["status"].as_str(), run["workflow_id"].as_str()), (Some("succeeded"), Some("lookup~test")));
    // The node really ran, with the sample item.
    let sent = recorder.received("lookup");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body, json!({"email": "ann@example.com"}));
    let first = execution(&server, run["execution_id"].as_str().unwrap()).await;
    assert_eq!(emitted(&first, "mark", "main")[0]["looked_up"], true);

    // Nothing was deployed: no workflow, no version, no trigger.
    let (_, workflows) = json(server.api(Method::GET, "/workflows").send().await.unwrap()).await;
    assert_eq!(workflows, json!([]));
    let (status, _) = json(server.api(Method::GET, "/workflows/lookup").send().await.unwrap()).await;
    assert_eq!(status, 404);

    // Pinned: the call is not made; its pinned items flow on.
    let pinned = json!({"fetch": {"main": [{"status": 200, "body": {"name": "Pinned Ann"}}]}});
    let (status, run) = test_run(&server, &json!({"workflow": draft(&recorder), "pinned": pinned, "wait": true})).await;
    assert_eq!((status, run["status"].as_str()), (201, Some("succeeded")), "{run}");
    assert_eq!(run["workflow_version"], 2);
    assert_eq!(recorder.received("lookup").len(), 1, "a pinned node is not called");
    let second = execution(&server, run["execution_id"].as_str().unwrap()).await;
    let step = second["steps"].as_array().unwrap().iter().find(|s| s["node"] == "fetch").unwrap().clone();
    assert_eq!(step["fuel"], 0);
    assert!(step["logs"].to_string().contains("pinned"), "{step}");
    let marked = &emitted(&second, "mark", "main")[0];
    assert_eq!((marked["body"]["name"].as_str(), &marked["looked_up"]), (Some("Pinned Ann"), &json!(true)));

    // Its runs are listed under the draft's own id.
    let (_, listed) = json(server.api(Method::GET, "/executions?workflow=lookup~test").send().await.unwrap()).await;
    assert_eq!(listed.as_array().unwrap().len(), 2);

    // Deploying it for real starts at version 1: test runs are no versions.
    // Where the studio drew its boxes is kept with it.
    let mut definition = draft(&recorder);
    definition["layout"] = json!({"positions": {"go": {"x": 0, "y": 0}, "fetch": {"x": 260.5, "y": 0}}});
    assert_eq!(server.deploy(&definition.to_string()).await["version"], 1);
    let (_, saved) = json(server.api(Method::GET, "/workflows/lookup").send().await.unwrap()).await;
    assert_eq!(saved["definition"]["layout"]["positions"]["fetch"], json!({"x": 260.5, "y": 0.0}));
    server.stop().await;
}

#[tokio::test]
async fn a_bad_draft_or_pin_is_refused_with_every_problem_and_nothing_runs() {
    let recorder = Recorder::start().await;
    let data = data_dir(&recorder.addr.to_string());
    let server = serve(data.path(), |_| {}).await;
    let mut broken = draft(&recorder);
    broken["nodes"][1]["node"] = json!("no-such-node");
    let (status, answer) = test_run(&server, &json!({"workflow": broken})).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["problems"].to_string().contains("(mark)"), "the problem names the node: {answer}");

    let bad_pins = json!({"nope": {"main": [{}]}, "fetch": {"main": [1]}});
    let (status, answer) = test_run(&server, &json!({"workflow": draft(&recorder), "pinned": bad_pins})).await;
    assert_eq!(status, 400, "{answer}");
    let locations: Vec<&str> =
        answer["problems"].as_array().unwrap().iter().map(|p| p["location"].as_str().unwrap()).collect();
    assert_eq!(locations, ["pinned.fetch.main", "pinned.nope"]);

    // A position for a box the draft does not have.
    let mut misplaced = draft(&recorder);
    misplaced["layout"] = json!({"positions": {"fetch": {"x": 10, "y": 20}, "ghost": {"x": 0, "y": 0}}});
    let (status, answer) = test_run(&server, &json!({"workflow": misplaced})).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["problems"][0]["location"], "layout.positions.ghost", "{answer}");

    for body in [
        json!({"workflow": draft(&recorder), "items": ["not an object"]}),
        json!({"workflow": draft(&recorder), "trigger": "nope"}),
        json!({"workflow": "id: [", "items": []}),
        json!({"items": []}),
    ] {
        let (status, answer) = test_run(&server, &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
    }
    assert!(recorder.received("lookup").is_empty());
    let (_, listed) = json(server.api(Method::GET, "/executions").send().await.unwrap()).await;
    assert_eq!(listed, json!([]));
    server.stop().await;
}

#[tokio::test]
async fn a_workflow_is_deleted_with_its_history_once_nothing_of_it_runs() {
    let data = data_dir("127.0.0.1");
    let server = serve(data.path(), |_| {}).await;
    let waits = r#"
id: waits
triggers: [{id: go, type: manual}]
nodes:
  - {id: hold, uses: wirework/core@^0.1, node: wait, config: {event: order.paid}}
connections: [{from: go, to: hold}]
"#;
    server.deploy(waits).await;
    server.deploy(waits).await;
    let start = |_: ()| server.api(Method::POST, "/workflows/waits/executions").send();
    let (_, started) = json(start(()).await.unwrap()).await;
    let waiting = started["execution_id"].as_str().unwrap().to_string();
    server.wait_for(&waiting, &["waiting"]).await;

    // Refused while an execution waits; nothing is deleted.
    let delete = || server.api(Method::DELETE, "/workflows/waits").send();
    let (status, refusal) = json(delete().await.unwrap()).await;
    assert_eq!(status, 409, "{refusal}");
    assert!(refusal["error"].as_str().unwrap().contains(&waiting), "{refusal}");
    let (status, _) = json(server.api(Method::GET, "/workflows/waits").send().await.unwrap()).await;
    assert_eq!(status, 200);

    // Named as another workflow's error workflow: refused too.
    server
        .deploy("id: alerts\ntriggers: [{id: failed, type: error}]\nnodes: [{id: log, uses: wirework/core@^0.1, node: noop}]\nconnections: [{from: failed, to: log}]\n")
        .await;
    server
        .deploy("id: guarded\nsettings: {error_workflow: alerts}\ntriggers: [{id: go, type: manual}]\nnodes: [{id: n, uses: wirework/core@^0.1, node: noop}]\nconnections: [{from: go, to: n}]\n")
        .await;
    let (status, refusal) = json(server.api(Method::DELETE, "/workflows/alerts").send().await.unwrap()).await;
    assert_eq!(status, 409, "{refusal}");
    assert!(refusal["error"].as_str().unwrap().contains("`guarded`"), "{refusal}");

    // Once it is cancelled: deleted, with its versions and executions.
    let (status, _) =
        json(server.api(Method::POST, &format!("/executions/{waiting}/cancel")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    let (status, deleted) = json(delete().await.unwrap()).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted, json!({"id": "waits", "versions": 2, "executions": 1}));
    for path in ["/workflows/waits", "/workflows/waits/versions", &format!("/executions/{waiting}")] {
        let (status, _) = json(server.api(Method::GET, path).send().await.unwrap()).await;
        assert_eq!(status, 404, "{path}");
    }
    let (_, listed) = json(server.api(Method::GET, "/executions?workflow=waits").send().await.unwrap()).await;
    assert_eq!(listed, json!([]));
    let (status, _) = json(delete().await.unwrap()).await;
    assert_eq!(status, 404);
    // Its id is free again: deployed anew, it starts at version 1.
    assert_eq!(server.deploy(waits).await["version"], 1);
    server.stop().await;
}

#[tokio::test]
async fn only_the_newest_test_runs_of_a_workflow_are_kept() {
    let data = data_dir("127.0.0.1");
    let server = serve(data.path(), |_| {}).await;
    let workflow = json!({
        "id": "tiny",
        "triggers": [{"id": "go", "type": "manual"}],
        "nodes": [{"id": "n", "uses": "wirework/core@^0.1", "node": "noop"}],
        "connections": [{"from": "go", "to": "n"}]
    });
    let mut runs = Vec::new();
    for _ in 0..wirework::engine::TEST_RUNS_KEPT + 2 {
        let (status, run) = test_run(&server, &json!({"workflow": workflow, "wait": true})).await;
        assert_eq!(status, 201, "{run}");
        runs.push(run["execution_id"].as_str().unwrap().to_string());
    }
    let (_, listed) = json(server.api(Method::GET, "/executions?workflow=tiny~test").send().await.unwrap()).await;
    assert_eq!(listed.as_array().unwrap().len(), wirework::engine::TEST_RUNS_KEPT as usize);
    for (i, id) in runs.iter().enumerate() {
        let (status, _) = json(server.api(Method::GET, &format!("/executions/{id}")).send().await.unwrap()).await;
        assert_eq!(status, if i < 2 { 404 } else { 200 }, "run {i}");
    }
    server.stop().await;
}
