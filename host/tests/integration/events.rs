//! Events a trigger publishes (wirework:plugin@0.3.0): durable before the
//! webhook's answer, they end the waits on exactly their name and start the
//! workflows listening for their name before the `:key`; only the patterns
//! the operator granted get through, and a result with one that is not
//! granted is refused whole.

use crate::common::engine::install_package;
use crate::common::server::{json, serve, TestServer};
use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};
use wirework::plugins::GrantEntry;

fn data_dir(hostile: GrantEntry) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    install_package(dir.path(), &fixtures().core, GrantEntry::default());
    install_package(dir.path(), &fixtures().hostile, hostile);
    dir
}

const WORKFLOWS: [&str; 3] = [
    // Publishes what each request says.
    r#"
id: herald
triggers:
  - {id: hook, type: webhook, path: say, uses: "wirework-tests/hostile@^0.1", node: herald}
nodes:
  - {id: pass, uses: "wirework/core@^0.1", node: noop}
connections: [{from: hook, to: pass}]
"#,
    // Waits for one contact's event.
    r#"
id: waiter
triggers: [{id: go, type: manual}]
nodes:
  - {id: wait, uses: "wirework/core@^0.1", node: wait, config: {event: "fixture.opened:{{ $json.who }}", timeout_seconds: 3600}}
  - {id: after, uses: "wirework/core@^0.1", node: noop}
connections: [{from: go, to: wait}, {from: wait, to: after}]
"#,
    // Started by the event's name, whatever its key.
    r#"
id: listener
triggers: [{id: on-open, type: event, event: fixture.opened}]
nodes:
  - {id: seen, uses: "wirework/core@^0.1", node: noop}
connections: [{from: on-open, to: seen}]
"#,
];

async fn say(server: &TestServer, body: Value) -> (u16, Value) {
    json(server.client.post(format!("{}/hooks/herald/say", server.url)).json(&body).send().await.unwrap()).await
}

async fn executions(server: &TestServer, workflow: &str) -> Vec<Value> {
    let path = format!("/executions?workflow={workflow}");
    let (_, listed) = json(server.api(Method::GET, &path).send().await.unwrap()).await;
    listed.as_array().cloned().unwrap_or_default()
}

async fn start_waiting(server: &TestServer, who: &str) -> String {
    let (status, started) = json(
        server
            .api_json(Method::POST, "/workflows/waiter/executions", &json!({"items": [{"who": who}]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(status == 201 || status == 202 || status == 200, "{status} {started}");
    let id = started["execution_id"].as_str().unwrap().to_string();
    server.wait_for(&id, &["waiting"]).await;
    id
}

#[tokio::test]
async fn a_triggers_events_resume_waits_and_start_listeners_as_far_as_granted() {
    let grant = GrantEntry { events: vec!["fixture.*".into()], ..Default::default() };
    let dir = data_dir(grant);
    let server = serve(dir.path(), |_| {}).await;
    for workflow in WORKFLOWS {
        server.deploy(workflow).await;
    }
    let ann = start_waiting(&server, "ann@example.com").await;
    let bob = start_waiting(&server, "bob@example.com").await;

    // Requested (`shared.name`) but not granted: the whole result is refused,
    // the granted event beside it included, and nothing starts.
    let refused = json!({"events": [
        {"name": "fixture.opened:ann@example.com", "payload": {"n": 0}},
        {"name": "shared.name", "payload": {}},
    ], "items": [{"x": 1}]});
    let (status, body) = say(&server, refused).await;
    assert_eq!(status, 500, "{body}");
    assert!(body["error"].as_str().unwrap().contains("not granted"), "{body}");
    // Neither requested nor granted, and not an event name at all: refused too.
    for name in ["other.thing", "Fixture.Opened", "fixture.*", ""] {
        let (status, body) = say(&server, json!({"events": [{"name": name, "payload": {}}]})).await;
        assert_eq!(status, 500, "{name}: {body}");
    }
    // A payload that is not an object is the plugin's fault.
    let (status, _) = say(&server, json!({"events": [{"name": "fixture.opened:ann@example.com", "payload": 3}]})).await;
    assert_eq!(status, 500);
    assert!(executions(&server, "herald").await.is_empty(), "nothing started");
    assert!(executions(&server, "listener").await.is_empty(), "nothing published");
    let waiting = server.wait_for(&ann, &["waiting"]).await;
    assert_eq!(waiting["status"], "waiting");

    // Granted: the keyed event ends ann's wait (not bob's) and starts the
    // listener on its name; published before the answer.
    let published = json!({"events": [{"name": "fixture.opened:ann@example.com", "payload": {"url": "https://x"}}]});
    let (status, body) = say(&server, published).await;
    assert_eq!(status, 200, "no items: the request starts nothing here ({body})");
    let done = server.wait_for(&ann, &["succeeded", "failed"]).await;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    let resumed = done["steps"].as_array().unwrap().iter().find(|s| s["node"] == "after").expect("after ran");
    let item = &resumed["input"][0];
    assert_eq!(item["event"]["url"], "https://x", "the payload reaches the waiting step: {resumed:#}");
    let listeners = executions(&server, "listener").await;
    assert_eq!(listeners.len(), 1, "{listeners:?}");
    assert_eq!(server.wait_for(&bob, &["waiting"]).await["status"], "waiting", "another key resumes nobody else");

    // Events and items together: the execution starts as well.
    let both = json!({"events": [{"name": "fixture.opened:bob@example.com", "payload": {}}], "items": [{"x": 2}]});
    let (status, body) = say(&server, both).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(server.wait_for(&bob, &["succeeded", "failed"]).await["status"], "succeeded");
    assert_eq!(executions(&server, "herald").await.len(), 1);
    assert_eq!(executions(&server, "listener").await.len(), 2);
    server.stop().await;
}
