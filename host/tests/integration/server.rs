//! `wirework serve` over real HTTP on loopback: the management API, webhooks
//! (async, sync, idempotent), credentials, schedules and plugins, against the
//! plugins built from source and a sled store in a temporary directory.

use crate::common;
use crate::common::engine::Recorder;
use crate::common::fixtures;
use crate::common::server::{data_dir, json, serve, ADMIN};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const INTAKE: &str = r#"
id: intake
triggers: [{id: form, type: webhook, path: leads/new, uses: wirework/core@^0.1}]
nodes:
  - {id: tag, uses: wirework/core@^0.1, node: set, config: {fields: {stage: new}}}
  - {id: hot, uses: wirework/core@^0.1, node: if, config: {condition: {field: score, op: gte, value: 50}}}
  - {id: priority, uses: wirework/core@^0.1, node: set, config: {fields: {priority: high}}}
connections:
  - {from: form, to: tag}
  - {from: tag, to: hot}
  - {from: "hot:true", to: priority}
"#;

async fn executions_of(server: &common::server::TestServer, workflow: &str) -> Vec<Value> {
    let (status, list) =
        json(server.api(Method::GET, &format!("/executions?workflow={workflow}")).send().await.unwrap()).await;
    assert_eq!(status, 200, "{list}");
    list.as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_fire_follow_and_every_refusal() {
    let dir = data_dir("127.0.0.1:1");
    let server = serve(dir.path(), |c| c.max_body_bytes = 4096).await;

    // No token, a wrong token: 401, and the answer says what to do.
    let (status, body) = json(server.raw(Method::GET, "/api/v1/workflows").send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert!(body["error"].as_str().unwrap().contains("Bearer"), "{body}");
    let wrong = server.raw(Method::GET, "/api/v1/workflows").bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), 401);

    // Invalid and malformed workflows: 400 with every problem, nothing stored.
    let invalid = INTAKE.replace("node: set, config: {fields: {stage: new}}", "node: sett");
    let (status, body) = json(server.api(Method::POST, "/workflows").body(invalid).send().await.unwrap()).await;
    assert_eq!(status, 400, "{body}");
    let problems = body["problems"].as_array().unwrap();
    assert!(
        problems.iter().any(|p| p["location"] == "nodes[0] (tag)" || p["message"].as_str().unwrap().contains("sett")),
        "{body}"
    );
    // A config the node's schema refuses (merge by a field, but which?).
    let unkeyed = INTAKE.replace("node: set, config: {fields: {stage: new}}", "node: merge, config: {mode: by_field}");
    let (status, body) = json(server.api(Method::POST, "/workflows").body(unkeyed).send().await.unwrap()).await;
    assert_eq!(status, 400, "{body}");
    let problem = &body["problems"][0];
    assert_eq!(problem["location"], "nodes[0](tag).config", "{body}");
    assert!(problem["message"].as_str().unwrap().contains("\"field\" is a required property"), "{body}");
    let stray = INTAKE.replace("node: set, config: {fields: {stage: new}}", "node: merge, config: {into: all}");
    let (status, body) = json(server.api(Method::POST, "/workflows").body(stray).send().await.unwrap()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["problems"][0]["location"], "nodes[0](tag).config", "{body}");
    assert!(body["problems"][0]["message"].as_str().unwrap().contains("\"mode\" is a required property"), "{body}");
    let (status, body) = json(server.api(Method::POST, "/workflows").body("id: [unclosed").send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(body["problems"][0]["message"].as_str().unwrap().contains("YAML"), "{body}");
    let (_, list) = json(server.api(Method::GET, "/workflows").send().await.unwrap()).await;
    assert_eq!(list, json!([]));

    // Deploy, fire the webhook, follow the execution to its end.
    let deployed = server.deploy(INTAKE).await;
    assert_eq!((deployed["id"].as_str(), deployed["version"].as_u64()), (Some("intake"), Some(1)));
    let lead = json!({"email": "ann@example.com", "score": 70});
    let response = server.raw(Method::POST, "/hooks/intake/leads/new").json_body(&lead).send().await.unwrap();
    let (status, accepted) = json(response).await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["execution_id"].as_str().unwrap().to_string();
    let execution = server.wait_for(&id, &["succeeded", "failed"]).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    let steps = execution["steps"].as_array().unwrap();
    let nodes: Vec<&str> = steps.iter().map(|s| s["node"].as_str().unwrap()).collect();
    // The trigger's call is the first step.
    assert_eq!(nodes, ["form", "tag", "hot", "priority"]);
    let last = &steps[3]["outcome"]["emitted"]["ports"][0][1][0];
    assert_eq!((last["stage"].as_str(), last["priority"].as_str()), (Some("new"), Some("high")), "{last}");
    assert!(execution.get("state").is_none(), "the engine's bookkeeping stays private");

    // Unknown hooks, oversized and malformed bodies: nothing starts.
    for path in ["/hooks/nobody/leads/new", "/hooks/intake/other"] {
        let response = server.raw(Method::POST, path).json_body(&lead).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    let big = json!({"padding": "x".repeat(5000)});
    let response = server.raw(Method::POST, "/hooks/intake/leads/new").json_body(&big).send().await.unwrap();
    assert_eq!(response.status(), 413);
    let response = server
        .raw(Method::POST, "/hooks/intake/leads/new")
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    let (status, body) = json(response).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(executions_of(&server, "intake").await.len(), 1, "refused requests start nothing");

    // Idempotent repeats: the first answer again, one execution.
    let keyed =
        || server.raw(Method::POST, "/hooks/intake/leads/new").header("idempotency-key", "form-42").json_body(&lead);
    let first = keyed().send().await.unwrap();
    assert_eq!(first.status(), 202);
    let (_, first) = json(first).await;
    let again = keyed().send().await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let (status, again) = json(again).await;
    assert_eq!((status, &again), (202, &first));
    assert_eq!(executions_of(&server, "intake").await.len(), 2);
    // A key must be visible ASCII: a space or a TAB in it is refused, and starts nothing.
    for bad in ["form 42", "form\t42", " ", "é"] {
        let request = server.raw(Method::POST, "/hooks/intake/leads/new").json_body(&lead);
        let response = request.header("idempotency-key", axum::http::HeaderValue::from_bytes(bad.as_bytes()).unwrap());
        let (status, body) = json(response.send().await.unwrap()).await;
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert!(body["error"].as_str().unwrap().contains("visible ASCII"), "{body}");
    }
    assert_eq!(executions_of(&server, "intake").await.len(), 2, "refused keys start nothing");
    // A method the webhook does not take: 405 and what it takes.
    let wrong = server.raw(Method::GET, "/hooks/intake/leads/new").send().await.unwrap();
    assert_eq!(wrong.status(), 405);
    assert_eq!(wrong.headers().get("allow").and_then(|v| v.to_str().ok()), Some("POST"));

    // Deactivated: its hooks are gone (404); activated again, they answer.
    let (status, head) = json(server.api(Method::POST, "/workflows/intake/deactivate").send().await.unwrap()).await;
    assert_eq!((status, head["active"].as_bool()), (200, Some(false)));
    let response = server.raw(Method::POST, "/hooks/intake/leads/new").json_body(&lead).send().await.unwrap();
    assert_eq!(response.status(), 404);
    server.api(Method::POST, "/workflows/intake/activate").send().await.unwrap();
    let response = server.raw(Method::POST, "/hooks/intake/leads/new").json_body(&lead).send().await.unwrap();
    assert_eq!(response.status(), 202);

    // Versions and rollback.
    server.deploy(&INTAKE.replace("stage: new", "stage: fresh")).await;
    let (_, versions) = json(server.api(Method::GET, "/workflows/intake/versions").send().await.unwrap()).await;
    assert_eq!(versions.as_array().unwrap().len(), 2);
    let rollback = server.api_json(Method::POST, "/workflows/intake/rollback", &json!({"version": 1}));
    let (status, head) = json(rollback.send().await.unwrap()).await;
    assert_eq!((status, head["current"].as_u64()), (200, Some(1)), "{head}");
    let (_, workflow) = json(server.api(Method::GET, "/workflows/intake").send().await.unwrap()).await;
    assert_eq!(workflow["definition"]["nodes"][0]["config"]["fields"]["stage"], "new");

    // Filters, a manual start, retry and cancel refusals, malformed JSON.
    let (_, succeeded) =
        json(server.api(Method::GET, "/executions?workflow=intake&status=succeeded&limit=1").send().await.unwrap())
            .await;
    assert_eq!(succeeded.as_array().unwrap().len(), 1);
    let page = format!("/executions?workflow=intake&limit=1&before={}", succeeded[0]["id"].as_str().unwrap());
    let (status, older) = json(server.api(Method::GET, &page).send().await.unwrap()).await;
    assert_eq!(status, 200, "{older}");
    let ids: Vec<Value> = executions_of(&server, "intake").await.iter().map(|e| e["id"].clone()).collect();
    let at = ids.iter().position(|id| *id == succeeded[0]["id"]).unwrap();
    assert_eq!(older.as_array().unwrap().len(), 1, "the next page: {older}");
    assert_eq!(older[0]["id"], ids[at + 1], "the one just older than the page's last, in {ids:?}");
    let (status, body) = json(server.api(Method::GET, "/executions?status=sleeping").send().await.unwrap()).await;
    assert_eq!(status, 400, "{body}");
    let manual = server.api_json(Method::POST, "/workflows/intake/executions", &json!({"items": [lead]}));
    let (status, body) = json(manual.send().await.unwrap()).await;
    assert_eq!(status, 202, "started by hand through its first trigger: {body}");
    let (status, body) = json(server.api(Method::POST, &format!("/executions/{id}/retry")).send().await.unwrap()).await;
    assert_eq!(status, 409, "a succeeded execution is not retried from failed: {body}");
    let (status, _) = json(server.api(Method::GET, "/executions/no-such-id").send().await.unwrap()).await;
    assert_eq!(status, 404);
    let bad = server.api(Method::POST, "/events").header("content-type", "application/json").body("{\"name\": ");
    let (status, body) = json(bad.send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("malformed JSON"), "{body}");
    // A method a route does not take: 405, a JSON error, and what it does take.
    let wrong = server.api(Method::DELETE, "/workflows").send().await.unwrap();
    let allow = wrong.headers().get("allow").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let (status, body) = json(wrong).await;
    assert_eq!(status, 405, "{body}");
    assert!(body["error"].as_str().unwrap().contains("DELETE is not allowed on /api/v1/workflows"), "{body}");
    assert!(allow.contains("GET") && allow.contains("POST"), "Allow: {allow}");
    let (status, body) = json(server.raw(Method::POST, "/healthz").send().await.unwrap()).await;
    assert_eq!((status, body["error"].is_string()), (405, true), "{body}");

    // Health, readiness, metrics.
    assert_eq!(server.raw(Method::GET, "/healthz").send().await.unwrap().status(), 200);
    assert_eq!(server.raw(Method::GET, "/readyz").send().await.unwrap().status(), 200);
    let metrics = server.raw(Method::GET, "/metrics").send().await.unwrap().text().await.unwrap();
    for family in [
        "wirework_executions_finished_total{status=\"succeeded\"}",
        "wirework_step_duration_seconds_bucket",
        "wirework_fuel_consumed_total{plugin=\"wirework/core@0.1.5\"}",
        "wirework_webhook_duration_seconds_count{mode=\"async\",code=\"202\"}",
        "wirework_webhook_duration_seconds_count{mode=\"async\",code=\"413\"}",
        "wirework_executions_in_memory",
        "wirework_store_write_failing 0\n",
    ] {
        assert!(metrics.contains(family), "{family} missing from /metrics:\n{metrics}");
    }
    let flushes_timed = metrics
        .lines()
        .find_map(|line| line.strip_prefix("wirework_store_flush_seconds_count "))
        .and_then(|n| n.trim().parse::<u64>().ok());
    assert!(flushes_timed.is_some_and(|n| n > 0), "the accepted webhooks' flushes are timed:\n{metrics}");
    let (status, doc) = json(server.raw(Method::GET, "/api/v1/openapi.json").send().await.unwrap()).await;
    assert_eq!((status, doc["openapi"].as_str()), (200, Some("3.1.0")));
    server.stop().await;
}

/// JSON bodies without reqwest's `json` feature.
trait JsonBody {
    fn json_body(self, value: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, value: &Value) -> Self {
        self.header("content-type", "application/json").body(value.to_string())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_webhooks_answer_with_the_result_or_fall_back_to_202() {
    let recorder = Recorder::start().await;
    let dir = data_dir(&recorder.addr.to_string());
    let server = serve(dir.path(), |c| c.sync_timeout = Duration::from_millis(500)).await;
    server
        .deploy(
            r#"
id: quote
triggers: [{id: ask, type: webhook, path: quote, uses: wirework/core@^0.1, mode: sync}]
nodes:
  - {id: price, uses: wirework/core@^0.1, node: set, config: {fields: {price: 42}}}
  - {id: answer, uses: wirework/core@^0.1, node: respond, config: {status: 201, headers: {x-quote: yes}, body: {price: "{{ $json.price }}", sku: "{{ $json.sku }}"}}}
connections: [{from: ask, to: price}, {from: price, to: answer}]
"#,
        )
        .await;
    server
        .deploy(
            r#"
id: echo
triggers: [{id: ask, type: webhook, path: echo, uses: wirework/core@^0.1, mode: sync}]
nodes:
  - {id: stamp, uses: wirework/core@^0.1, node: set, config: {fields: {seen: true}}}
connections: [{from: ask, to: stamp}]
"#,
        )
        .await;
    server
        .deploy(
            r#"
id: slow
triggers: [{id: ask, type: webhook, path: slow, uses: wirework/core@^0.1, mode: sync}]
nodes:
  - {id: call, uses: wirework-tests/hostile@^0.1, node: fetch, config: {url: "http://ADDR/barrier/alone"}, timeout_ms: 15000}
connections: [{from: ask, to: call}]
"#
            .replace("ADDR", &recorder.addr.to_string())
            .as_str(),
        )
        .await;

    // A respond node's answer: status, headers and body from its config.
    let response =
        server.raw(Method::POST, "/hooks/quote/quote").json_body(&json!({"sku": "A-1"})).send().await.unwrap();
    assert_eq!(response.headers()["x-quote"], "yes");
    let (status, body) = json(response).await;
    assert_eq!((status, body), (201, json!({"price": 42, "sku": "A-1"})));

    // No respond node: the last step's output.
    let response = server.raw(Method::POST, "/hooks/echo/echo").json_body(&json!({"n": 1})).send().await.unwrap();
    let (status, body) = json(response).await;
    assert_eq!((status, body), (200, json!({"n": 1, "seen": true})));

    // Still running at the sync timeout: 202 with the id, and it goes on.
    let started = std::time::Instant::now();
    let response = server.raw(Method::POST, "/hooks/slow/slow").json_body(&json!({})).send().await.unwrap();
    let (status, body) = json(response).await;
    assert_eq!(status, 202, "{body}");
    assert!(started.elapsed() < Duration::from_secs(9), "answered at the sync timeout, not at the end");
    let id = body["execution_id"].as_str().unwrap();
    let (_, execution) = json(server.api(Method::GET, &format!("/executions/{id}")).send().await.unwrap()).await;
    assert_eq!(execution["status"], "running");

    // A sync repeat with the same key: the final answer again, one execution.
    let keyed = || {
        server.raw(Method::POST, "/hooks/quote/quote").header("idempotency-key", "q-1").json_body(&json!({"sku": "B"}))
    };
    let (first_status, first) = json(keyed().send().await.unwrap()).await;
    let (again_status, again) = json(keyed().send().await.unwrap()).await;
    assert_eq!((first_status, &first), (201, &json!({"price": 42, "sku": "B"})));
    assert_eq!((again_status, again), (first_status, first));
    assert_eq!(executions_of(&server, "quote").await.len(), 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_set_through_the_api_reaches_only_the_node_bound_to_it() {
    const VALUE: &str = "sk_live_very_secret_42";
    let dir = data_dir("127.0.0.1:1");
    let server = serve(dir.path(), |_| {}).await;
    let set = server.api_json(Method::PUT, "/credentials/crm-token", &json!({"value": VALUE}));
    assert_eq!(set.send().await.unwrap().status(), 204);
    let (_, names) = json(server.api(Method::GET, "/credentials").send().await.unwrap()).await;
    assert_eq!(names[0]["name"], "crm-token");
    assert!(!names.to_string().contains(VALUE));
    server
        .deploy(
            r#"
id: secrets
triggers: [{id: go, type: manual}]
nodes:
  - {id: bound, uses: wirework-tests/hostile@^0.1, node: secret, config: {name: API_TOKEN}, credentials: {API_TOKEN: crm-token}}
  - {id: unbound, uses: wirework-tests/hostile@^0.1, node: secret, config: {name: API_TOKEN}, on_error: continue}
connections: [{from: go, to: bound}, {from: bound, to: unbound}]
"#,
        )
        .await;
    let start = server.api_json(Method::POST, "/workflows/secrets/executions", &json!({"items": [{}]}));
    let (status, body) = json(start.send().await.unwrap()).await;
    assert_eq!(status, 202, "{body}");
    let id = body["execution_id"].as_str().unwrap();
    let execution = server.wait_for(id, &["succeeded", "failed"]).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    let steps = &execution["steps"];
    assert_eq!(steps[0]["outcome"]["emitted"]["ports"][0][1][0]["length"], VALUE.len(), "the bound node read it");
    let failure = steps[1]["outcome"]["failed"]["failure"]["message"].as_str().unwrap();
    assert!(failure.contains("not granted"), "the unbound node did not: {failure}");
    assert!(!execution.to_string().contains(VALUE), "no value in API answers");
    let missing = server.api(Method::DELETE, "/credentials/nothing-here").send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let bad_name = server.api_json(Method::PUT, "/credentials/bad%20name", &json!({"value": "x"}));
    assert_eq!(bad_name.send().await.unwrap().status(), 400);
    server.stop().await;

    // Nothing in the store holds the value in the clear.
    let store = wirework::store::Store::open_sled(&dir.path().join("store")).unwrap();
    for entry in store.scan_prefix(b"") {
        let (key, value) = entry.unwrap();
        let text = String::from_utf8_lossy(&value);
        assert!(!text.contains(VALUE), "{} holds the secret", String::from_utf8_lossy(&key));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_fires_on_time_and_missed_slots_are_caught_up_once() {
    let dir = data_dir("127.0.0.1:1");
    let server = serve(dir.path(), |_| {}).await;
    server
        .deploy(
            r#"
id: tick
triggers: [{id: every, type: schedule, cron: "*/3 * * * * *", timezone: Europe/Amsterdam}]
nodes: [{id: n, uses: wirework/core@^0.1, node: noop}]
connections: [{from: every, to: n}]
"#,
        )
        .await;
    // An invalid schedule is refused at deploy.
    let bad = "id: bad\ntriggers: [{id: t, type: schedule, cron: '* * *', timezone: Nowhere/City}]\n";
    let (status, body) = json(server.api(Method::POST, "/workflows").body(bad).send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(body.to_string().contains("Nowhere/City") || body.to_string().contains("* * *"), "{body}");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let first = loop {
        if let Some(first) = executions_of(&server, "tick").await.last().cloned() {
            break first;
        }
        assert!(tokio::time::Instant::now() < deadline, "the schedule never fired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let execution = server.wait_for(first["id"].as_str().unwrap(), &["succeeded"]).await;
    let item = &execution["trigger"]["items"][0];
    let (slot, fired) = (item["scheduled_ms"].as_u64().unwrap(), item["fired_ms"].as_u64().unwrap());
    assert_eq!(slot % 3000, 0, "a slot of the expression: {item}");
    assert!(fired >= slot && fired - slot < 2500, "fired on time: {item}");
    assert_eq!(item["missed"], 0);
    server.stop().await;

    // Down for more than two slots: one execution catches up, saying how many.
    let stopped_ms = now_ms();
    tokio::time::sleep(Duration::from_millis(7000)).await;
    let server = serve(dir.path(), |_| {}).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let catch_up = loop {
        let all = executions_of(&server, "tick").await;
        let after: Vec<Value> = all.into_iter().filter(|e| e["created_ms"].as_u64().unwrap() > stopped_ms).collect();
        if let Some(oldest) = after.last() {
            break oldest.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "no catch-up after the restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let execution = server.wait_for(catch_up["id"].as_str().unwrap(), &["succeeded"]).await;
    let item = &execution["trigger"]["items"][0];
    assert!(item["missed"].as_u64().unwrap() >= 1, "it says slots were missed: {item}");
    assert!(item["scheduled_ms"].as_u64().unwrap() < item["fired_ms"].as_u64().unwrap());
    let slots_while_down: Vec<Value> = executions_of(&server, "tick")
        .await
        .into_iter()
        .filter(|e| e["created_ms"].as_u64().unwrap() > stopped_ms)
        .collect();
    assert!(slots_while_down.len() <= 2, "one catch-up, not one per missed slot: {slots_while_down:#?}");
    server.stop().await;
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_are_installed_regranted_and_not_removed_while_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), |_| {}).await;
    let (_, list) = json(server.api(Method::GET, "/plugins").send().await.unwrap()).await;
    assert_eq!(list, json!([]));

    // Not a package; then the real http package with a grant.
    let (status, body) = json(server.api(Method::POST, "/plugins").body("garbage").send().await.unwrap()).await;
    assert_eq!(status, 400, "{body}");
    let package = std::fs::read(&fixtures().http).unwrap();
    let upload =
        server.api(Method::POST, "/plugins?grant_http=127.0.0.1:9&grant_http=api.example.com").body(package.clone());
    let (status, body) = json(upload.send().await.unwrap()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], "wirework/http");
    let core = std::fs::read(&fixtures().core).unwrap();
    assert_eq!(server.api(Method::POST, "/plugins").body(core).send().await.unwrap().status(), 201);
    let (_, list) = json(server.api(Method::GET, "/plugins").send().await.unwrap()).await;
    let http = list.as_array().unwrap().iter().find(|p| p["name"] == "wirework/http").unwrap().clone();
    assert_eq!(http["grants"]["http"], json!(["127.0.0.1:9", "api.example.com"]));
    assert_eq!(http["requested"]["http"], json!(["*"]));

    // Change the grants.
    let put =
        server.api_json(Method::PUT, "/plugins/wirework/http/grants", &json!({"http": ["127.0.0.1:9"], "kv": false}));
    assert_eq!(put.send().await.unwrap().status(), 200);
    let (_, grants) = json(server.api(Method::GET, "/plugins/wirework/http/grants").send().await.unwrap()).await;
    assert_eq!(grants["http"], json!(["127.0.0.1:9"]));
    // A grant that is not one is refused before anything is written: 400
    // naming the pattern, the grant in force unchanged, on disk too.
    let grants_file = dir.path().join("plugins/grants.toml");
    let on_disk = std::fs::read_to_string(&grants_file).unwrap();
    for bad in [
        json!({"http": [""]}),
        json!({"http": ["x:"]}),
        json!({"http": ["*x"]}),
        json!({"http": [" a.test"]}),
        json!({"http": ["a b"]}),
        json!({"http_internal": ["*.corp.test"]}),
    ] {
        let put = server.api_json(Method::PUT, "/plugins/wirework/http/grants", &bad);
        let (status, body) = json(put.send().await.unwrap()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].as_str().unwrap().contains("refused"), "{body}");
        let (_, grants) = json(server.api(Method::GET, "/plugins/wirework/http/grants").send().await.unwrap()).await;
        assert_eq!(grants["http"], json!(["127.0.0.1:9"]), "{bad}");
        assert_eq!(std::fs::read_to_string(&grants_file).unwrap(), on_disk, "{bad}");
    }
    let package_again = std::fs::read(&fixtures().http).unwrap();
    let upload = server.api(Method::POST, "/plugins?grant_http=x:").body(package_again);
    let (status, body) = json(upload.send().await.unwrap()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(std::fs::read_to_string(&grants_file).unwrap(), on_disk);

    // Removal is refused while a deployed workflow pins the version.
    server.deploy(&http_caller("http://127.0.0.1:9/")).await;
    let version = http["version"].as_str().unwrap();
    let path = format!("/plugins/wirework/http/{version}");
    let (status, body) = json(server.api(Method::DELETE, &path).send().await.unwrap()).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("caller"), "{body}");
    let forced = server.api(Method::DELETE, &format!("{path}?force=true")).send().await.unwrap();
    assert_eq!(forced.status(), 204);
    let (_, list) = json(server.api(Method::GET, "/plugins").send().await.unwrap()).await;
    assert!(!list.to_string().contains("wirework/http"), "{list}");
    assert!(!dir.path().join("plugins").join(format!("wirework.http@{version}.wwpkg")).exists());

    // Tokens: a new one works, revoked it does not; the admin token is kept hashed.
    let (status, made) =
        json(server.api_json(Method::POST, "/tokens", &json!({"name": "ci"})).send().await.unwrap()).await;
    assert_eq!(status, 201);
    let token = made["token"].as_str().unwrap().to_string();
    let with = |t: &str| server.raw(Method::GET, "/api/v1/tokens").bearer_auth(t).send();
    let (status, tokens) = json(with(&token).await.unwrap()).await;
    assert_eq!(status, 200);
    assert!(!tokens.to_string().contains(ADMIN) && !tokens.to_string().contains(&token), "{tokens}");
    assert_eq!(server.api(Method::DELETE, "/tokens/ci").send().await.unwrap().status(), 204);
    assert_eq!(with(&token).await.unwrap().status(), 401);
    server.stop().await;
    // Nothing refused above was kept: the data directory serves again.
    let server = serve(dir.path(), |_| {}).await;
    let (status, list) = json(server.api(Method::GET, "/plugins").send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert!(list.to_string().contains("wirework/core"), "{list}");
    server.stop().await;
}

/// `wirework/http`'s manifest text: as built, or at another `version`.
fn http_manifest(version: Option<&str>) -> String {
    let http = wirework_registry::Package::read(&fixtures().http).unwrap();
    let text = String::from_utf8(http.manifest_bytes).unwrap();
    let Some(version) = version else { return text };
    let mut manifest = wirework_registry::Manifest::parse(&text).unwrap();
    manifest.plugin.version = semver::Version::parse(version).unwrap();
    toml::to_string(&manifest).unwrap()
}

/// A package of `manifest` and `component`, signed by the fixtures' key
/// (which the server trusts).
fn signed(manifest: &str, component: Vec<u8>) -> Vec<u8> {
    let key = fixtures().home.default_key_or_create().unwrap();
    wirework_registry::Package::sign(manifest, component, &key).unwrap().to_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_that_cannot_load_or_would_replace_an_installed_version_changes_nothing() {
    let dir = data_dir("127.0.0.1:1");
    let server = serve(dir.path(), |_| {}).await;
    let (_, before) = json(server.api(Method::GET, "/plugins").send().await.unwrap()).await;
    let http = before.as_array().unwrap().iter().find(|p| p["name"] == "wirework/http").unwrap().clone();
    let version = http["version"].as_str().unwrap().to_string();
    let installed_file = dir.path().join("plugins").join(format!("wirework.http@{version}.wwpkg"));
    let installed = std::fs::read(&installed_file).unwrap();
    let unchanged = || async {
        let (_, now) = json(server.api(Method::GET, "/plugins").send().await.unwrap()).await;
        assert_eq!(now, before);
        assert_eq!(std::fs::read(&installed_file).unwrap(), installed);
    };

    // Signed by a trusted key, but not a component the runtime can load: 422,
    // and no file is left for the next start to trip over.
    let junk = signed(&http_manifest(Some("0.9.9")), b"\0asm\x01\0\0\0".to_vec());
    let (status, body) = json(server.api(Method::POST, "/plugins").body(junk).send().await.unwrap()).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().starts_with("cannot load wirework/http 0.9.9: "), "{body}");
    assert!(!dir.path().join("plugins").join("wirework.http@0.9.9.wwpkg").exists());
    unchanged().await;

    // The installed version's very manifest with other code (a rebuild; here
    // core's component): 409, whether or not it would load, and the
    // installed one keeps running.
    let core = wirework_registry::Package::read(&fixtures().core).unwrap();
    let rebuilt = signed(&http_manifest(None), core.component.clone());
    let (status, body) = json(server.api(Method::POST, "/plugins").body(rebuilt.clone()).send().await.unwrap()).await;
    assert_eq!(status, 409, "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(message.contains(&format!("wirework/http {version} is installed already, with other contents")), "{body}");
    assert!(message.contains("publish the change as a new version"), "{body}");
    unchanged().await;
    // The same code with another manifest (its description changed): 409 too.
    let http_component = wirework_registry::Package::read(&fixtures().http).unwrap().component;
    let redescribed = http_manifest(None).replace("description = \"", "description = \"Now: ");
    let redescribed = signed(&redescribed, http_component.clone());
    let (status, body) = json(server.api(Method::POST, "/plugins").body(redescribed).send().await.unwrap()).await;
    assert_eq!(status, 409, "{body}");
    unchanged().await;

    // A file changed behind the server's back is not what it runs: checked
    // against the loaded code too.
    std::fs::write(&installed_file, &rebuilt).unwrap();
    let (status, body) = json(server.api(Method::POST, "/plugins").body(rebuilt).send().await.unwrap()).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("is loaded already, with other code"), "{body}");
    std::fs::write(&installed_file, &installed).unwrap();
    unchanged().await;

    // The same package again is fine (a re-grant, say).
    let again = server.api(Method::POST, "/plugins?grant_http=127.0.0.1:1").body(installed.clone());
    assert_eq!(again.send().await.unwrap().status(), 201);
    unchanged().await;
    // So are the same contents signed by another trusted key.
    let second = wirework_registry::SecretKey::generate();
    wirework_registry::TrustStore::add_to_file(&server.home.trust_store_path(), "wirework", second.public()).unwrap();
    let resigned = wirework_registry::Package::sign(&http_manifest(None), http_component, &second).unwrap();
    let again = server.api(Method::POST, "/plugins?grant_http=127.0.0.1:1").body(resigned.to_bytes());
    let (status, body) = json(again.send().await.unwrap()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["digest"], http["digest"], "{body}");

    // The server kept serving: a workflow on the http plugin deploys and runs.
    server.deploy(&http_caller("http://127.0.0.1:1/")).await;
    let (status, started) = json(
        server.api_json(Method::POST, "/workflows/caller/executions", &json!({"items": [{}]})).send().await.unwrap(),
    )
    .await;
    assert_eq!(status, 202, "{started}");
    let record = server.wait_for(started["execution_id"].as_str().unwrap(), &["succeeded", "failed"]).await;
    let steps = record["steps"].as_array().unwrap();
    assert!(steps.iter().any(|s| s["node"] == "call"), "the http node ran: {record:#}");
    server.stop().await;
}

/// A workflow `caller`, started by hand, whose one node (the http plugin's
/// `request`) calls `url`.
fn http_caller(url: &str) -> String {
    format!(
        r#"
id: caller
triggers: [{{id: go, type: manual}}]
nodes: [{{id: call, uses: wirework/http@^0.1, node: request, config: {{url: "{url}"}}}}]
connections: [{{from: go, to: call}}]
"#
    )
}

/// Connect to `url`'s host and port and send `bytes` as they are.
async fn send_raw(url: &str, bytes: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut tcp = tokio::net::TcpStream::connect(url.trim_start_matches("http://")).await.unwrap();
    tcp.write_all(bytes.as_bytes()).await.unwrap();
    tcp
}

/// Everything the server sends until it closes the connection (at most 30 s).
async fn read_to_close(tcp: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), tcp.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server kept the connection open; it sent {:?}", String::from_utf8_lossy(&answer));
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_cannot_hold_up_a_shutdown() {
    let dir = data_dir("127.0.0.1:1");
    let server = serve(dir.path(), |c| c.request_timeout = Duration::from_millis(300)).await;
    server.deploy(INTAKE).await;

    // A head that never ends, and a connection that never sends anything: closed.
    let mut trickled = send_raw(&server.url, "GET /healthz HTTP/1.1\r\nHost: wirework\r\nX-Slow: ").await;
    let mut silent = send_raw(&server.url, "").await;
    // A webhook body that stops half way: 408, and nothing started.
    let head = "POST /hooks/intake/leads/new HTTP/1.1\r\nHost: wirework\r\nContent-Type: application/json\r\n";
    let mut half = send_raw(&server.url, &format!("{head}Content-Length: 100\r\n\r\n{{\"email\": ")).await;
    let answer = read_to_close(&mut half).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive within 300 ms"), "{answer}");
    assert!(!read_to_close(&mut trickled).await.contains("200 OK"));
    assert_eq!(read_to_close(&mut silent).await, "");
    let (status, list) = json(server.api(Method::GET, "/executions").send().await.unwrap()).await;
    assert_eq!((status, list.as_array().map(Vec::len)), (200, Some(0)), "{list}");
    // Meanwhile, and after, everyone else is served.
    let response =
        server.raw(Method::POST, "/hooks/intake/leads/new").json_body(&json!({"email": "a@b.c"})).send().await;
    assert_eq!(response.unwrap().status(), 202);
    server.stop().await;

    // A request still arriving when a graceful stop begins is cut off after
    // the grace period, not waited for until its client gives up.
    let server = serve(dir.path(), |c| {
        c.request_timeout = Duration::from_secs(600);
        c.shutdown_grace = Duration::from_millis(500);
    })
    .await;
    let mut stuck = send_raw(&server.url, &format!("{head}Content-Length: 100\r\n\r\n{{")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopped = tokio::time::timeout(Duration::from_secs(60), server.stop()).await;
    assert!(stopped.is_ok(), "the stop waited for a client that sends nothing more");
    assert_eq!(read_to_close(&mut stuck).await, "", "closed without an answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_server_answers_503_until_its_running_steps_finish() {
    // A step that is in flight until the test lets it finish.
    let (entered_tx, entered) = tokio::sync::mpsc::unbounded_channel::<()>();
    let release = Arc::new(tokio::sync::Notify::new());
    let released = release.clone();
    let slow = common::serve(axum::Router::new().route(
        "/slow",
        axum::routing::get(move || {
            let (entered_tx, released) = (entered_tx.clone(), released.clone());
            async move {
                let _ = entered_tx.send(());
                released.notified().await;
                axum::Json(json!({"done": true}))
            }
        }),
    ))
    .await;
    let dir = data_dir(&format!("127.0.0.1:{}", slow.port()));
    let mut server = serve(dir.path(), |c| c.shutdown_grace = Duration::from_secs(60)).await;
    server.deploy(INTAKE).await;
    server.deploy(&http_caller(&format!("http://127.0.0.1:{}/slow", slow.port()))).await;
    let (status, started) = json(server.api(Method::POST, "/workflows/caller/executions").send().await.unwrap()).await;
    assert_eq!(status, 202, "{started}");
    let id = started["execution_id"].as_str().unwrap().to_string();
    let mut entered = entered;
    tokio::time::timeout(Duration::from_secs(60), entered.recv()).await.expect("the step started");

    server.begin_stop();
    // Fresh connections each time, as a load balancer's probes make them.
    let fresh = wirework_registry::client::http_client_builder().pool_max_idle_per_host(0).build().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let readyz = loop {
        let answer = fresh.get(format!("{}/readyz", server.url)).send().await.expect("the listener stays open");
        if answer.status() == 503 || tokio::time::Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(readyz.status(), 503);
    assert!(readyz.text().await.unwrap().contains("stopping"));
    let hook = fresh.post(format!("{}/hooks/intake/leads/new", server.url)).json_body(&json!({"email": "late@b.c"}));
    let refused = hook.send().await.expect("a webhook during the drain is answered, not refused at connect");
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("5"));
    let (status, body) = json(refused).await;
    assert!(body["error"].as_str().unwrap().contains("stopping"), "{status} {body}");
    let api = fresh.get(format!("{}/api/v1/workflows", server.url)).bearer_auth(ADMIN);
    assert_eq!(api.send().await.unwrap().status(), 503);
    assert_eq!(fresh.get(format!("{}/healthz", server.url)).send().await.unwrap().status(), 200);

    // The step finishes; then the server stops, and the execution is done.
    release.notify_one();
    server.stop().await;
    let server = serve(dir.path(), |_| {}).await;
    let done = server.wait_for(&id, &["succeeded", "failed"]).await;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    assert_eq!(executions_of(&server, "intake").await.len(), 0, "the refused webhook started nothing");
    server.stop().await;
}
