//! The durable engine end to end: real plugins built from source, a real sled
//! store in a temporary directory, real HTTP to a loopback server.

use crate::common;
use crate::common::engine::{install_fixtures, open, until, wait_for, Recorder};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use wirework::engine::records::StepOutcome;
use wirework::engine::{EngineError, ExecutionFilter, MemoryCredentials, RetryMode, Status};
use wirework::runtime::NodeFailure;

fn creds() -> Arc<MemoryCredentials> {
    Arc::new(MemoryCredentials::default())
}

async fn setup() -> (tempfile::TempDir, Recorder, wirework::instance::Instance) {
    let recorder = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    install_fixtures(dir.path(), &recorder.addr.to_string());
    let instance = open(dir.path(), creds()).await;
    (dir, recorder, instance)
}

fn step_nodes(steps: &[wirework::engine::StepRecord]) -> Vec<String> {
    steps.iter().map(|s| s.node.clone()).collect()
}

fn lead_nurturing(recorder: &Recorder, event_timeout_s: u64) -> String {
    let text = std::fs::read_to_string(common::repo().join("examples/workflows/lead-nurturing.yaml")).unwrap();
    text.replace("http://127.0.0.1:8025", &format!("http://{}", recorder.addr))
        .replace("seconds: 86400", "seconds: 1")
        .replace("seconds: 259200", "seconds: 1")
        .replace("timeout_seconds: 172800", &format!("timeout_seconds: {event_timeout_s}"))
        .replace("timeout_seconds: 604800", &format!("timeout_seconds: {event_timeout_s}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lead_nurturing_runs_end_to_end_on_events() {
    let (_dir, recorder, instance) = setup().await;
    let engine = &instance.engine;
    engine.deploy_text(&lead_nurturing(&recorder, 60)).await.unwrap();

    // The event trigger starts it.
    let contact = json!({"email": "ada@example.com", "first_name": "Ada"});
    let started = engine.emit_event("contact.added", contact.clone()).await.unwrap().started;
    assert_eq!(started.len(), 1);
    let id = &started[0];
    let waiting = wait_for(engine, id, &[Status::Waiting]).await;
    assert_eq!(waiting.state.parked.len(), 1, "waiting one day, in the store");

    until("the welcome email", || recorder.received("send").len() == 1).await;
    let welcome = &recorder.received("send")[0];
    assert_eq!(welcome.body, json!({"to": "ada@example.com", "template": "welcome", "subject": "Welcome, Ada!"}));
    assert_eq!(welcome.idempotency_key.as_deref(), Some(format!("{id}:1").as_str()), "the step's key");

    // Opened: an event ends that wait; someone else's open does not.
    until("the wait for the open", || engine.steps(id).unwrap().iter().any(|s| s.node == "opened" && !s.resumed)).await;
    let other = engine.emit_event("email.opened:bob@example.com", json!({})).await.unwrap();
    assert_eq!(other.resumed, 0);
    let opened = engine.emit_event("email.opened:ada@example.com", json!({"at": "now"})).await.unwrap();
    assert_eq!(opened.resumed, 1);

    until("the value email", || recorder.received("send").len() == 2).await;
    assert_eq!(recorder.received("send")[1].body["tags"], json!(["engaged"]), "$node reads the tag step");
    until("the wait for the click", || engine.steps(id).unwrap().iter().any(|s| s.node == "clicked")).await;
    engine.emit_event("link.clicked:ada@example.com", json!({"url": "https://example.com/pricing"})).await.unwrap();

    let done = wait_for(engine, id, &[Status::Succeeded, Status::Failed]).await;
    assert_eq!(done.status, Status::Succeeded, "{:?}", done.error);
    let notify = recorder.received("notify");
    assert_eq!(notify.len(), 1);
    assert_eq!(notify[0].body["contact"], contact, "a whole-object expression keeps its type");

    let steps = engine.steps(id).unwrap();
    let ran: Vec<String> =
        steps.iter().filter(|s| matches!(s.outcome, StepOutcome::Emitted { .. })).map(|s| s.node.clone()).collect();
    assert_eq!(
        ran,
        ["wait-1-day", "send-welcome", "opened", "tag-engaged", "wait-3-days", "send-value", "clicked", "notify-sales"]
    );
    for step in &steps {
        assert!(step.fuel > 0 && step.attempt == 1, "{step:?}");
        assert_eq!(step.idempotency_key, format!("{id}:{}", step.step));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_wait_times_out_without_its_event() {
    let (_dir, recorder, instance) = setup().await;
    let engine = &instance.engine;
    engine.deploy_text(&lead_nurturing(&recorder, 1)).await.unwrap();
    let id = engine.start("lead-nurturing", None, vec![json!({"email": "cy@example.com"})]).await.unwrap();
    let done = wait_for(engine, &id, &[Status::Succeeded, Status::Failed]).await;
    assert_eq!(done.status, Status::Succeeded);
    let steps = engine.steps(&id).unwrap();
    let last = steps.last().unwrap();
    assert_eq!(last.node, "opened");
    match &last.outcome {
        StepOutcome::Emitted { ports } => {
            assert!(ports.iter().any(|(p, items)| p == "timeout" && items.len() == 1), "{ports:?}")
        }
        other => panic!("{other:?}"),
    }
    assert!(!step_nodes(&steps).contains(&"tag-engaged".to_string()), "no open, no tag");
    assert_eq!(recorder.received("send").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_resume_at_their_time_after_a_restart() {
    let recorder = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    install_fixtures(dir.path(), &recorder.addr.to_string());
    let workflow = r#"
id: later
triggers: [{id: go, type: manual}]
nodes:
  - {id: pause, uses: wirework/core@^0.1, node: wait, config: {seconds: 2}}
  - {id: ping, uses: wirework/http@^0.1, node: request, config: {method: POST, url: "http://ADDR/ping", send_item: true}}
connections: [{from: go, to: pause}, {from: pause, to: ping}]
"#
    .replace("ADDR", &recorder.addr.to_string());
    let (id, started) = {
        let instance = open(dir.path(), creds()).await;
        instance.engine.deploy_text(&workflow).await.unwrap();
        let started = std::time::SystemTime::now();
        let id = instance.engine.start("later", None, vec![json!({"n": 1})]).await.unwrap();
        wait_for(&instance.engine, &id, &[Status::Waiting]).await;
        (id, started)
        // The instance (engine, store, runtime) is dropped here: a restart.
    };
    assert!(recorder.received("ping").is_empty());
    let instance = open(dir.path(), creds()).await;
    let done = wait_for(&instance.engine, &id, &[Status::Succeeded, Status::Failed]).await;
    assert_eq!(done.status, Status::Succeeded, "{:?}", done.error);
    let waited = started.elapsed().unwrap();
    assert!(waited >= Duration::from_secs(2), "resumed at its time, not before ({waited:?})");
    assert_eq!(recorder.received("ping")[0].body, json!({"n": 1}));
}

fn retrying_workflow(recorder: &Recorder, attempts: u32, error_workflow: bool) -> String {
    let settings = if error_workflow { "settings: {error_workflow: on-failure}" } else { "" };
    format!(
        r#"
id: flaky
triggers: [{{id: go, type: manual}}]
nodes:
  - id: call
    uses: wirework/http@^0.1
    node: request
    config: {{method: POST, url: "http://{addr}/flaky", json: {{order: "{{{{ $json.order }}}}"}}}}
    retry: {{max_attempts: {attempts}, initial_delay_ms: 50, multiplier: 2}}
  - id: after
    uses: wirework/core@^0.1
    node: set
    config: {{fields: {{done: true}}}}
connections: [{{from: go, to: call}}, {{from: call, to: after}}]
{settings}
"#,
        addr = recorder.addr
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_follow_the_policy_with_one_idempotency_key() {
    let (_dir, recorder, instance) = setup().await;
    let engine = &instance.engine;
    engine.deploy_text(&retrying_workflow(&recorder, 3, false)).await.unwrap();
    recorder.fail_next("flaky", 2);
    let id = engine.start("flaky", None, vec![json!({"order": 7})]).await.unwrap();
    let done = wait_for(engine, &id, &[Status::Succeeded, Status::Failed]).await;
    assert_eq!(done.status, Status::Succeeded, "{:?}", done.error);

    let calls = recorder.received("flaky");
    assert_eq!(calls.len(), 3, "two 503s, then success");
    assert!(calls.iter().all(|c| c.idempotency_key == calls[0].idempotency_key), "one key for all attempts");
    let steps = engine.steps(&id).unwrap();
    let attempts: Vec<(u32, &str)> = steps
        .iter()
        .filter(|s| s.node == "call")
        .map(|s| {
            let then = match &s.outcome {
                StepOutcome::Failed { then, .. } => then.as_str(),
                StepOutcome::Emitted { .. } => "emitted",
                StepOutcome::Waiting { .. } => "waiting",
            };
            (s.attempt, then)
        })
        .collect();
    assert_eq!(attempts, [(1, "retry"), (2, "retry"), (3, "emitted")]);
    // Backoff: 50 ms then 100 ms, jittered down to half at most.
    let starts: Vec<u64> = steps.iter().filter(|s| s.node == "call").map(|s| s.started_ms).collect();
    assert!(starts[1] - starts[0] >= 25 && starts[2] - starts[1] >= 50, "{starts:?}");
    assert_eq!(step_nodes(&steps).last().map(String::as_str), Some("after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_retries_fail_start_the_error_workflow_and_can_be_retried() {
    let (_dir, recorder, instance) = setup().await;
    let engine = &instance.engine;
    let on_failure = format!(
        r#"
id: on-failure
triggers: [{{id: failed, type: error}}]
nodes:
  - {{id: report, uses: wirework/http@^0.1, node: request, config: {{method: POST, url: "http://{}/errors", send_item: true}}}}
connections: [{{from: failed, to: report}}]
"#,
        recorder.addr
    );
    let early = engine.deploy_text(&retrying_workflow(&recorder, 2, true)).await.unwrap_err().to_string();
    assert!(early.contains("no workflow `on-failure` is deployed"), "{early}");
    engine.deploy_text(&on_failure).await.unwrap();
    engine.deploy_text(&retrying_workflow(&recorder, 2, true)).await.unwrap();
    recorder.fail_next("flaky", 100);
    let id = engine.start("flaky", None, vec![json!({"order": 8})]).await.unwrap();
    let failed = wait_for(engine, &id, &[Status::Succeeded, Status::Failed]).await;
    assert_eq!(failed.status, Status::Failed);
    let error = failed.error.unwrap();
    assert_eq!(error.node.as_deref(), Some("call"));
    assert!(error.message.contains("503"), "{}", error.message);
    assert_eq!(recorder.received("flaky").len(), 2, "max_attempts 2");

    until("the error workflow", || recorder.received("errors").len() == 1).await;
    let report = &recorder.received("errors")[0].body;
    assert_eq!(report["execution_id"], json!(id));
    assert_eq!(report["workflow_id"], json!("flaky"));
    assert_eq!(report["node"], json!("call"));
    assert_eq!(report["attempt"], json!(2));

    // Failed executions stay, and can be listed as such.
    let listed =
        engine.list_executions(&ExecutionFilter { status: Some(Status::Failed), ..Default::default() }).unwrap();
    assert_eq!(listed.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), [id.as_str()]);

    // Retry from the failed step once the service is back.
    recorder.fail_next("flaky", 0);
    assert_eq!(engine.retry(&id, RetryMode::FromFailed).await.unwrap(), id);
    let done = wait_for(engine, &id, &[Status::Succeeded, Status::Failed]).await;
    assert_eq!(done.status, Status::Succeeded, "{:?}", done.error);
    let steps = engine.steps(&id).unwrap();
    let last_call = steps.iter().rfind(|s| s.node == "call").unwrap();
    assert_eq!(last_call.attempt, 3, "the retry is the next attempt of the same step");
    assert_eq!(step_nodes(&steps).last().map(String::as_str), Some("after"));
    let keys: Vec<Option<String>> = recorder.received("flaky").into_iter().map(|r| r.idempotency_key).collect();
    assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
    assert!(matches!(engine.retry(&id, RetryMode::FromFailed).await, Err(EngineError::Conflict(_))));

    // Re-run from the start: a new execution with the same input.
    let rerun = engine.retry(&id, RetryMode::FromStart).await.unwrap();
    assert_ne!(rerun, id);
    let again = wait_for(engine, &rerun, &[Status::Succeeded, Status::Failed]).await;
    assert_eq!(again.rerun_of.as_deref(), Some(id.as_str()));
    assert_eq!(recorder.received("flaky").last().unwrap().body, json!({"order": 8}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn branches_run_concurrently_and_a_join_waits_for_both() {
    let (_dir, recorder, instance) = setup().await;
    let engine = &instance.engine;
    let workflow = format!(
        r#"
id: fan-out
triggers: [{{id: go, type: manual}}]
nodes:
  - {{id: left, uses: wirework/http@^0.1, node: request, config: {{method: POST, url: "http://{addr}/barrier/left", json: {{}}}}}}
  - {{id: right, uses: wirework/http@^0.1, node: request, config: {{method: POST, url: "http://{addr}/barrier/right", json: {{}}}}}}
  - {{id: join, uses: wirework/core@^0.1, node: noop}}
  - {{id: route, uses: wirework/core@^0.1, node: if, config: {{condition: {{field: status, op: eq, value: 200}}}}}}
  - {{id: ok, uses: wirework/core@^0.1, node: set, config: {{fields: {{ok: true}}}}}}
  - {{id: not-ok, uses: wirework/core@^0.1, node: set, config: {{fields: {{ok: false}}}}}}
connections:
  - {{from: go, to: left}}
  - {{from: go, to: right}}
  - {{from: left, to: join}}
  - {{from: right, to: join}}
  - {{from: join, to: route}}
  - {{from: "route:true", to: ok}}
  - {{from: "route:false", to: not-ok}}
"#,
        addr = recorder.addr
    );
    engine.deploy_text(&workflow).await.unwrap();
    let id = engine.start("fan-out", None, vec![json!({})]).await.unwrap();
    let done = wait_for(engine, &id, &[Status::Succeeded, Status::Failed]).await;
    assert_eq!(done.status, Status::Succeeded, "both requests were inside the barrier at once: {:?}", done.error);
    let steps = engine.steps(&id).unwrap();
    let join: Vec<_> = steps.iter().filter(|s| s.node == "join").collect();
    assert_eq!(join.len(), 1, "the join ran once");
    assert_eq!(join[0].input.len(), 2, "with the items of both branches");
    assert!(step_nodes(&steps).contains(&"ok".to_string()));
    assert!(!step_nodes(&steps).contains(&"not-ok".to_string()), "an empty branch is skipped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loops_are_bounded_and_runaways_stop() {
    let (_dir, _recorder, instance) = setup().await;
    let engine = &instance.engine;
    let looping = |max_iterations: u32, max_steps: u32| {
        format!(
            r#"
id: loop-{max_iterations}-{max_steps}
triggers: [{{id: go, type: manual}}]
nodes:
  - {{id: again, uses: wirework/core@^0.1, node: noop}}
connections:
  - {{from: go, to: again}}
  - {{from: again, to: again, max_iterations: {max_iterations}}}
settings: {{max_steps: {max_steps}}}
"#
        )
    };
    engine.deploy_text(&looping(3, 100)).await.unwrap();
    let id = engine.start("loop-3-100", None, vec![json!({})]).await.unwrap();
    let done = wait_for(engine, &id, &[Status::Succeeded, Status::Failed]).await;
    assert_eq!(done.status, Status::Failed);
    assert!(done.error.unwrap().message.contains("exceeded its max_iterations of 3"));
    assert_eq!(engine.steps(&id).unwrap().len(), 4, "the first run and three trips");

    engine.deploy_text(&looping(1000, 10)).await.unwrap();
    let id = engine.start("loop-1000-10", None, vec![json!({})]).await.unwrap();
    let done = wait_for(engine, &id, &[Status::Succeeded, Status::Failed]).await;
    assert!(done.error.unwrap().message.contains("step limit of 10 reached"));
    assert_eq!(engine.steps(&id).unwrap().len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_executions_keep_their_version_and_rollback_restores_one() {
    let (_dir, _recorder, instance) = setup().await;
    let engine = &instance.engine;
    let version = |label: &str| {
        format!(
            r#"
id: versioned
triggers: [{{id: go, type: manual}}]
nodes:
  - {{id: hold, uses: wirework/core@^0.1, node: wait, config: {{event: release}}}}
  - {{id: mark, uses: wirework/core@^0.1, node: set, config: {{fields: {{version: {label}}}}}}}
connections: [{{from: go, to: hold}}, {{from: hold, to: mark}}]
"#
        )
    };
    assert_eq!(engine.deploy_text(&version("one")).await.unwrap().version, 1);
    let first = engine.start("versioned", None, vec![json!({})]).await.unwrap();
    wait_for(engine, &first, &[Status::Waiting]).await;
    let v2 = engine.deploy_text(&version("two")).await.unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.pins["wirework/core"].to_string(), "0.1.5", "the range resolved to an exact version");
    let second = engine.start("versioned", None, vec![json!({})]).await.unwrap();
    wait_for(engine, &second, &[Status::Waiting]).await;
    assert_eq!(engine.emit_event("release", json!({})).await.unwrap().resumed, 2);

    let marked = |id: &str| {
        let steps = engine.steps(id).unwrap();
        match &steps.last().unwrap().outcome {
            StepOutcome::Emitted { ports } => {
                serde_json::from_str::<Value>(ports[0].1[0].get()).unwrap()["version"].clone()
            }
            other => panic!("{other:?}"),
        }
    };
    for id in [&first, &second] {
        wait_for(engine, id, &[Status::Succeeded]).await;
    }
    assert_eq!(marked(&first), json!("one"), "started on version 1, finished on it");
    assert_eq!(marked(&second), json!("two"));
    assert_eq!(engine.execution(&first).unwrap().unwrap().workflow_version, 1);

    engine.rollback("versioned", 1).await.unwrap();
    assert_eq!(engine.versions("versioned").unwrap().len(), 2, "earlier versions are kept");
    let third = engine.start("versioned", None, vec![json!({})]).await.unwrap();
    wait_for(engine, &third, &[Status::Waiting]).await;
    engine.emit_event("release", json!({})).await.unwrap();
    wait_for(engine, &third, &[Status::Succeeded]).await;
    assert_eq!(marked(&third), json!("one"));
    assert!(matches!(engine.rollback("versioned", 9).await, Err(EngineError::NotFound(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_reach_only_the_nodes_bound_to_them_and_state_persists() {
    let recorder = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    install_fixtures(dir.path(), &recorder.addr.to_string());
    let credentials = creds();
    credentials.set("crm-token", "s3cret-value");
    let kept = credentials.clone();
    let instance = open(dir.path(), credentials).await;
    let engine = &instance.engine;
    let workflow = r#"
id: secrets
triggers: [{id: go, type: manual}]
nodes:
  - {id: bound, uses: wirework-tests/hostile@^0.1, node: secret, config: {name: API_TOKEN}, credentials: {API_TOKEN: crm-token}}
  - {id: unbound, uses: wirework-tests/hostile@^0.1, node: secret, config: {name: API_TOKEN}, on_error: continue}
  - {id: count, uses: wirework-tests/hostile@^0.1, node: counter}
connections: [{from: go, to: bound}, {from: bound, to: unbound}, {from: unbound, to: count}]
"#;
    engine.deploy_text(workflow).await.unwrap();
    let mut counts = Vec::new();
    for _ in 0..2 {
        let id = engine.start("secrets", None, vec![json!({})]).await.unwrap();
        let done = wait_for(engine, &id, &[Status::Succeeded, Status::Failed]).await;
        assert_eq!(done.status, Status::Succeeded, "{:?}", done.error);
        let steps = engine.steps(&id).unwrap();
        match &steps[0].outcome {
            StepOutcome::Emitted { ports } => assert_eq!(ports[0].1[0].get(), r#"{"length":12}"#),
            other => panic!("{other:?}"),
        }
        match &steps[1].outcome {
            StepOutcome::Failed { failure, then } => {
                assert_eq!(then, "continue");
                assert!(failure.to_string().contains("not granted"), "{failure}");
            }
            other => panic!("{other:?}"),
        }
        let record = serde_json::to_string(&(engine.execution(&id).unwrap(), steps.clone())).unwrap();
        assert!(!record.contains("s3cret-value"), "secret values never reach the execution record");
        if let StepOutcome::Emitted { ports } = &steps[2].outcome {
            counts.push(ports[0].1[0].get().to_string());
        }
    }
    assert_eq!(counts, [r#"{"count":1}"#, r#"{"count":2}"#], "kv state lives in the store, per workflow");

    // A plugin that hands the value back, in a failure's code, a log line,
    // or a wait's event name and state: none of it is recorded.
    let leaks = r#"
id: leaks
triggers: [{id: go, type: manual}]
nodes:
  - {id: code, uses: wirework-tests/hostile@^0.1, node: leak, config: {name: API_TOKEN, into: code}, credentials: {API_TOKEN: crm-token}, on_error: continue}
  - {id: log, uses: wirework-tests/hostile@^0.1, node: leak, config: {name: API_TOKEN, into: log}, credentials: {API_TOKEN: crm-token}}
  - {id: wait, uses: wirework-tests/hostile@^0.1, node: leak, config: {name: API_TOKEN, into: wait}, credentials: {API_TOKEN: crm-token}}
connections: [{from: go, to: code}, {from: code, to: log}, {from: log, to: wait}]
"#;
    engine.deploy_text(leaks).await.unwrap();
    let id = engine.start("leaks", None, vec![json!({})]).await.unwrap();
    let parked = wait_for(engine, &id, &[Status::Waiting, Status::Failed, Status::Succeeded]).await;
    assert_eq!(parked.status, Status::Waiting, "{:?}", parked.error);
    let steps = engine.steps(&id).unwrap();
    match &steps[0].outcome {
        StepOutcome::Failed { failure: NodeFailure::Plugin { code, .. }, .. } => {
            assert_eq!(code.as_deref(), Some("***"))
        }
        other => panic!("{other:?}"),
    }
    assert!(steps[1].logs.iter().any(|l| l.message == "token is ***"), "{:?}", steps[1].logs);
    match &steps[2].outcome {
        StepOutcome::Waiting { event, .. } => assert_eq!(event.as_deref(), Some("reply.***")),
        other => panic!("{other:?}"),
    }
    let record = serde_json::to_string(&(engine.execution(&id).unwrap(), steps)).unwrap();
    assert!(record.contains(r#"{\"token\":\"***\"}"#) || record.contains(r#"{"token":"***"}"#), "{record}");
    assert!(!record.contains("s3cret-value"), "secret values never reach the execution record: {record}");

    // A deploy binding a credential that is not stored is refused, naming node and field.
    let missing = workflow.replace("id: secrets", "id: secrets-2").replace("crm-token", "missing");
    let refused = engine.deploy_text(&missing).await.unwrap_err().to_string();
    assert!(refused.contains("nodes[0](bound).credentials.API_TOKEN: no credential `missing` is stored"), "{refused}");
    // One deleted after the deploy fails the step clearly.
    kept.set("short-lived", "s3cret-value");
    let workflow = workflow.replace("id: secrets", "id: secrets-3").replace("crm-token", "short-lived");
    engine.deploy_text(&workflow).await.unwrap();
    kept.remove("short-lived");
    let id = engine.start("secrets-3", None, vec![json!({})]).await.unwrap();
    let done = wait_for(engine, &id, &[Status::Succeeded, Status::Failed]).await;
    assert!(done.error.unwrap().message.contains("credential `short-lived` (bound to API_TOKEN) is not set"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_lists_by_workflow_status_and_time_and_retention_prunes() {
    let (_dir, _recorder, instance) = setup().await;
    let engine = &instance.engine;
    for id in ["alpha", "beta"] {
        let wf = format!(
            "{{\"id\": \"{id}\", \"triggers\": [{{\"id\": \"go\", \"type\": \"manual\"}}], \
             \"nodes\": [{{\"id\": \"n\", \"uses\": \"wirework/core@^0.1\", \"node\": \"noop\"}}], \
             \"connections\": [{{\"from\": \"go\", \"to\": \"n\"}}]}}"
        );
        engine.deploy_text(&wf).await.unwrap();
    }
    let mut ids = Vec::new();
    for wf in ["alpha", "beta", "alpha"] {
        // Apart by more than a millisecond, so that time windows tell them apart.
        tokio::time::sleep(Duration::from_millis(3)).await;
        let id = engine.start(wf, None, vec![json!({})]).await.unwrap();
        wait_for(engine, &id, &[Status::Succeeded]).await;
        ids.push(id);
    }
    let alpha =
        engine.list_executions(&ExecutionFilter { workflow: Some("alpha".into()), ..Default::default() }).unwrap();
    assert_eq!(
        alpha.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        [ids[2].clone(), ids[0].clone()],
        "newest first"
    );
    let since = engine.execution(&ids[1]).unwrap().unwrap().created_ms;
    let recent = engine.list_executions(&ExecutionFilter { since_ms: Some(since), ..Default::default() }).unwrap();
    assert_eq!(recent.len(), 2);
    let listed = |filter: ExecutionFilter| -> Vec<String> {
        engine.list_executions(&filter).unwrap().into_iter().map(|e| e.id).collect()
    };
    // Pages: the last id of one page starts the next.
    let first = listed(ExecutionFilter { limit: Some(2), ..Default::default() });
    assert_eq!(first, [ids[2].clone(), ids[1].clone()]);
    let next = listed(ExecutionFilter { limit: Some(2), before: first.last().cloned(), ..Default::default() });
    assert_eq!(next, [ids[0].clone()]);
    let alpha_before =
        ExecutionFilter { workflow: Some("alpha".into()), before: Some(ids[2].clone()), ..Default::default() };
    assert_eq!(listed(alpha_before), [ids[0].clone()]);
    assert_eq!(listed(ExecutionFilter { before: Some("zzz".into()), ..Default::default() }).len(), 3);
    assert_eq!(listed(ExecutionFilter { before: Some(String::new()), ..Default::default() }).len(), 3, "empty: none");
    // A time window from both ends.
    let last = engine.execution(&ids[2]).unwrap().unwrap().created_ms;
    assert_eq!(
        listed(ExecutionFilter { until_ms: Some(last), ..Default::default() }),
        [ids[1].clone(), ids[0].clone()]
    );
    let window = ExecutionFilter { since_ms: Some(since), until_ms: Some(last), ..Default::default() };
    assert_eq!(listed(window), [ids[1].clone()]);
    assert!(engine
        .list_executions(&ExecutionFilter { status: Some(Status::Failed), ..Default::default() })
        .unwrap()
        .is_empty());

    assert_eq!(engine.store().scan_prefix(b"wx/alpha\0").count(), 2, "each start is indexed by its workflow");
    assert_eq!(engine.prune(since).unwrap(), 1, "only the execution created before the cutoff");
    assert!(engine.execution(&ids[0]).unwrap().is_none());
    assert_eq!(engine.store().scan_prefix(b"wx/alpha\0").count(), 1, "its index key went with it");
    assert_eq!(listed(ExecutionFilter { workflow: Some("alpha".into()), ..Default::default() }), [ids[2].clone()]);
    assert!(engine.steps(&ids[0]).unwrap().is_empty(), "its steps went with it");
    assert!(engine.execution(&ids[1]).unwrap().is_some());
}

/// Listing by a status other than `succeeded` reads that status's index,
/// which every commit that changes a status keeps: retries, cancels and
/// pruning move or drop the keys, and a store without the index gets it at
/// its next open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_by_status_reads_an_index_kept_through_retries_cancels_and_prunes() {
    let (dir, recorder, instance) = setup().await;
    let engine = &instance.engine;
    engine.deploy_text(&retrying_workflow(&recorder, 1, false)).await.unwrap();
    let waits = r#"{"id": "waits", "triggers": [{"id": "go", "type": "manual"}],
        "nodes": [{"id": "w", "uses": "wirework/core@^0.1", "node": "wait", "config": {"event": "never"}}],
        "connections": [{"from": "go", "to": "w"}]}"#;
    engine.deploy_text(waits).await.unwrap();
    // Oldest first: a success, a failure, a wait, a success, a failure, a wait.
    recorder.fail_next("flaky", 2);
    let mut ids = Vec::new();
    for (workflow, expected) in [
        ("flaky", Status::Failed),
        ("flaky", Status::Failed),
        ("waits", Status::Waiting),
        ("flaky", Status::Succeeded),
        ("flaky", Status::Succeeded),
        ("waits", Status::Waiting),
    ] {
        let id = engine.start(workflow, None, vec![json!({"order": ids.len()})]).await.unwrap();
        let settled = wait_for(engine, &id, &[expected]).await;
        assert_eq!(settled.status, expected);
        ids.push(id);
    }
    let listed = |engine: &wirework::engine::Engine, filter: ExecutionFilter| -> Vec<String> {
        engine.list_executions(&filter).unwrap().into_iter().map(|e| e.id).collect()
    };
    let status = |s: Status| ExecutionFilter { status: Some(s), ..Default::default() };
    let picks = |ks: &[usize]| -> Vec<String> { ks.iter().map(|&k| ids[k].clone()).collect() };
    assert_eq!(listed(engine, status(Status::Failed)), picks(&[1, 0]), "newest first");
    assert_eq!(listed(engine, status(Status::Waiting)), picks(&[5, 2]));
    assert_eq!(listed(engine, status(Status::Succeeded)), picks(&[4, 3]));
    assert!(listed(engine, status(Status::Running)).is_empty());
    assert_eq!(listed(engine, ExecutionFilter { limit: Some(1), ..status(Status::Failed) }), picks(&[1]));
    assert_eq!(listed(engine, ExecutionFilter { before: Some(ids[1].clone()), ..status(Status::Failed) }), picks(&[0]));
    let waits_only = ExecutionFilter { workflow: Some("waits".into()), ..status(Status::Failed) };
    assert!(listed(engine, waits_only).is_empty(), "the workflow filter still applies");
    let index = |engine: &wirework::engine::Engine| -> Vec<String> {
        engine.store().scan_prefix(b"xs/").map(|e| String::from_utf8(e.unwrap().0).unwrap()).collect()
    };
    assert_eq!(index(engine).len(), 4, "successes have no index key: {:?}", index(engine));

    // A retry that succeeds leaves the failed list; a cancel moves a wait to
    // the cancelled list.
    assert_eq!(engine.retry(&ids[1], RetryMode::FromFailed).await.unwrap(), ids[1]);
    assert_eq!(wait_for(engine, &ids[1], &[Status::Succeeded, Status::Failed]).await.status, Status::Succeeded);
    engine.cancel(&ids[2]).await.unwrap();
    assert_eq!(listed(engine, status(Status::Failed)), picks(&[0]));
    assert_eq!(listed(engine, status(Status::Succeeded)), picks(&[4, 3, 1]));
    assert_eq!(listed(engine, status(Status::Cancelled)), picks(&[2]));
    assert_eq!(listed(engine, status(Status::Waiting)), picks(&[5]));

    // The list is the index: without its key, an execution is not in it.
    let mut batch = wirework::store::Batch::default();
    batch.delete(format!("xs/failed/{}", ids[0]));
    batch.put(format!("xs/failed/{}", ids[4]), Vec::new());
    engine.store().commit(batch).await.unwrap();
    assert!(listed(engine, status(Status::Failed)).is_empty(), "a key that names a success is skipped");
    // A store without the index (from before it, or broken as above) gets it
    // at its next open.
    let mut batch = wirework::store::Batch::default();
    batch.delete("meta/xs");
    engine.store().commit(batch).await.unwrap();
    drop(instance);
    let instance = common::engine::open(dir.path(), creds()).await;
    let engine = &instance.engine;
    assert_eq!(listed(engine, status(Status::Failed)), picks(&[0]));
    assert_eq!(listed(engine, status(Status::Cancelled)), picks(&[2]));
    assert_eq!(listed(engine, status(Status::Waiting)), picks(&[5]));
    let mut expected: Vec<String> =
        [("failed", 0), ("cancelled", 2), ("waiting", 5)].iter().map(|(s, k)| format!("xs/{s}/{}", ids[*k])).collect();
    expected.sort();
    assert_eq!(index(engine), expected);

    // Pruning drops the finished executions' keys; the wait stays.
    assert_eq!(engine.prune(u64::MAX).unwrap(), 5);
    assert_eq!(index(engine), [format!("xs/waiting/{}", ids[5])]);
    assert!(listed(engine, status(Status::Failed)).is_empty());
    assert_eq!(listed(engine, status(Status::Waiting)), picks(&[5]));
}

/// An execution that finishes in its first commit keeps that commit's steps
/// in its record (one key written instead of two); a retry's steps follow
/// them under `st/`, and both read back in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_steps_of_an_execution_finished_at_once_live_in_its_record() {
    let (_dir, _recorder, instance) = setup().await;
    let engine = &instance.engine;
    let wf = r#"{"id": "bad-wait", "triggers": [{"id": "go", "type": "manual"}],
        "nodes": [{"id": "tag", "uses": "wirework/core@^0.1", "node": "set", "config": {"fields": {"a": 1}}},
                  {"id": "w", "uses": "wirework/core@^0.1", "node": "wait", "config": {}}],
        "connections": [{"from": "go", "to": "tag"}, {"from": "tag", "to": "w"}]}"#;
    engine.deploy_text(wf).await.unwrap();
    let id = engine.start("bad-wait", None, vec![json!({})]).await.unwrap();
    let failed = wait_for(engine, &id, &[Status::Failed, Status::Succeeded]).await;
    assert_eq!(failed.status, Status::Failed, "a wait without a duration, time or event fails");
    let chunks = || engine.store().scan_prefix(format!("st/{id}/").as_bytes()).count();
    assert_eq!(chunks(), 0, "its steps are in its record");
    assert!(failed.first_steps.is_empty(), "execution() leaves the steps to steps()");
    assert_eq!(step_nodes(&engine.steps(&id).unwrap()), ["tag", "w"]);

    engine.retry(&id, RetryMode::FromFailed).await.unwrap();
    until("the retried step", || engine.steps(&id).unwrap().len() == 3).await;
    assert_eq!(wait_for(engine, &id, &[Status::Failed, Status::Succeeded]).await.status, Status::Failed);
    let steps = engine.steps(&id).unwrap();
    let attempts: Vec<(String, u32)> = steps.iter().map(|s| (s.node.clone(), s.attempt)).collect();
    assert_eq!(attempts, [("tag".into(), 1), ("w".into(), 1), ("w".into(), 2)]);
    assert_eq!(chunks(), 1, "the retry's step went under st/");
}

/// A store records its format; a wirework refuses one written by a newer
/// wirework (or with an unreadable marker) and leaves it as it found it, and
/// marks one from before the marker once it has brought it up to date.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_in_a_newer_format_is_refused_and_left_untouched() {
    let (dir, recorder, instance) = setup().await;
    instance.engine.deploy_text(&retrying_workflow(&recorder, 1, false)).await.unwrap();
    let id = instance.engine.start("flaky", None, vec![json!({})]).await.unwrap();
    wait_for(&instance.engine, &id, &[Status::Succeeded]).await;
    recorder.fail_next("flaky", 1);
    let failed = instance.engine.start("flaky", None, vec![json!({})]).await.unwrap();
    wait_for(&instance.engine, &failed, &[Status::Failed]).await;
    let format = |store: &wirework::store::Store| store.get(b"meta/format").unwrap();
    let current = wirework::engine::records::STORE_FORMAT;
    assert_eq!(format(instance.engine.store()), Some(current.to_string().into_bytes()), "a new store is marked");
    drop(instance);

    let store_dir = wirework::data_dir::DataDir::at(dir.path()).store();
    let everything = |store: &wirework::store::Store| -> Vec<(Vec<u8>, Vec<u8>)> {
        store.scan_prefix(b"").map(|e| e.unwrap()).collect()
    };
    for (marker, expected) in [
        ((current + 1).to_string(), format!("in format {}, written by a newer wirework", current + 1)),
        ("two".to_string(), "format marker (meta/format) is unreadable".to_string()),
    ] {
        let before = {
            let store = reopen_store(&store_dir).await;
            let mut batch = wirework::store::Batch::default();
            batch.put(b"meta/format".to_vec(), marker.clone().into_bytes());
            // Work an engine would take up at open, were it to open.
            batch.delete(b"meta/xs".to_vec());
            store.commit(batch).await.unwrap();
            everything(&store)
        };
        let refused = common::engine::try_open(dir.path(), creds()).await.err().expect("refused");
        let message = format!("{refused:#}");
        assert!(message.contains(&expected), "{message}");
        assert!(message.contains(&store_dir.display().to_string()), "names the store: {message}");
        let store = reopen_store(&store_dir).await;
        assert!(everything(&store) == before, "a refused store is left as it was (marker {marker})");
    }

    // From before the marker, written last by a wirework that failed an
    // execution without its key by status (though the index was once built):
    // its indexes are built again in full, then it is marked.
    let store = reopen_store(&store_dir).await;
    let mut batch = wirework::store::Batch::default();
    batch.delete(b"meta/format".to_vec());
    batch.put(b"meta/xs".to_vec(), b"1".to_vec());
    batch.delete(format!("xs/failed/{failed}").into_bytes());
    store.commit(batch).await.unwrap();
    drop(store);
    let instance = common::engine::open(dir.path(), creds()).await;
    assert_eq!(format(instance.engine.store()), Some(current.to_string().into_bytes()));
    let listed =
        instance.engine.list_executions(&ExecutionFilter { status: Some(Status::Failed), ..Default::default() });
    assert_eq!(
        listed.unwrap().into_iter().map(|e| e.id).collect::<Vec<_>>(),
        [failed],
        "its index by status was rebuilt"
    );
    assert_eq!(instance.engine.execution(&id).unwrap().unwrap().status, Status::Succeeded);
}

/// The sled store in `dir`, once the process's previous handle on it is released.
async fn reopen_store(dir: &std::path::Path) -> wirework::store::Store {
    until("the store to be released", || !wirework::store::SledBackend::in_use(dir)).await;
    wirework::store::Store::open_sled(dir).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_waiting_execution() {
    let (_dir, _recorder, instance) = setup().await;
    let engine = &instance.engine;
    let wf = r#"{"id": "c", "triggers": [{"id": "go", "type": "manual"}],
        "nodes": [{"id": "w", "uses": "wirework/core@^0.1", "node": "wait", "config": {"event": "never"}}],
        "connections": [{"from": "go", "to": "w"}]}"#;
    engine.deploy_text(wf).await.unwrap();
    let id = engine.start("c", None, vec![json!({})]).await.unwrap();
    wait_for(engine, &id, &[Status::Waiting]).await;
    engine.cancel(&id).await.unwrap();
    assert_eq!(engine.execution(&id).unwrap().unwrap().status, Status::Cancelled);
    assert_eq!(engine.emit_event("never", json!({})).await.unwrap().resumed, 0, "its subscription is gone");
    assert!(matches!(engine.cancel(&id).await, Err(EngineError::Conflict(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_workflows_report_every_problem_and_store_nothing() {
    let (_dir, _recorder, instance) = setup().await;
    let engine = &instance.engine;
    let workflow = r#"
id: broken
triggers: [{id: go, type: manual}]
nodes:
  - {id: a, uses: wirework/core@^0.1, node: set, config: {fields: {x: "{{ $json.email"}}}
  - {id: b, uses: wirework/nope@^1, node: set}
  - {id: c, uses: wirework/core@^9, node: set}
  - {id: d, uses: wirework/core@^0.1, node: teleport}
  - {id: e, uses: wirework/http@^0.1, node: request, config: {method: GET}}
  - {id: f, uses: wirework/core@^0.1, node: noop}
  - {id: g, uses: wirework/core@^0.1, node: noop}
  - {id: h, uses: wirework/core@^0.1, node: noop}
  - {id: a, uses: wirework/core@^0.1, node: noop}
connections:
  - {from: go, to: a}
  - {from: go, to: a}
  - {from: a, to: ghost}
  - {from: "a:sideways", to: e}
  - {from: g, to: h}
  - {from: h, to: g}
  - {from: a, to: e, max_iterations: 2}
"#;
    let err = engine.deploy_text(workflow).await.unwrap_err();
    let EngineError::Invalid(invalid) = err else { panic!("{err}") };
    let found = |location: &str, needle: &str| {
        invalid.problems.iter().any(|p| p.location.starts_with(location) && p.message.contains(needle))
    };
    let expected = [
        ("nodes[0](a).config/fields/x", "expression error"),
        ("nodes[1](b).uses", "not installed"),
        ("nodes[2](c).uses", "no installed version of wirework/core matches"),
        ("nodes[3](d).node", "has no node `teleport`"),
        ("nodes[4](e).config", "\"url\" is a required property"),
        ("nodes[8](a)", "already used"),
        ("connections[1]", "duplicate connection"),
        ("connections[2]", "target `ghost`"),
        ("connections[3]", "has no port `sideways`"),
        ("connections", "cycle through g, h without an explicit bound"),
        ("nodes[5](f)", "unreachable"),
        ("connections", "marks a loop, but e does not lead back to a"),
    ];
    for (location, needle) in expected {
        assert!(found(location, needle), "missing {location}: {needle} in {:#?}", invalid.problems);
    }
    assert!(engine.head("broken").unwrap().is_none(), "nothing stored");
    assert!(engine.workflows().unwrap().is_empty());

    let malformed = engine.deploy_text("id: [unclosed").await.unwrap_err();
    assert!(malformed.to_string().contains("definition"), "{malformed}");
    let no_trigger = engine.deploy_text(r#"{"id": "x", "nodes": []}"#).await.unwrap_err();
    assert!(no_trigger.to_string().contains("at least one trigger"));
    let bad_error_wf = r#"{"id": "y", "triggers": [{"id": "t", "type": "manual", "cron": "* * * * *"}], "settings": {"error_workflow": "nowhere"}}"#;
    let err = engine.deploy_text(bad_error_wf).await.unwrap_err().to_string();
    assert!(err.contains("no workflow `nowhere`") && err.contains("does not apply"), "{err}");
    assert!(engine.workflows().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_emit_events_that_start_workflows_and_end_waits() {
    let (_dir, _recorder, instance) = setup().await;
    let engine = &instance.engine;
    let listener = r#"
id: on-paid
triggers: [{id: paid, type: event, event: order.paid}]
nodes: [{id: thank, uses: wirework/core@^0.1, node: set, config: {fields: {thanked: true}}}]
connections: [{from: paid, to: thank}]
"#;
    let waiter = r#"
id: waits-for-payment
triggers: [{id: go, type: manual}]
nodes: [{id: hold, uses: wirework/core@^0.1, node: wait, config: {event: "order.paid", timeout_seconds: 60}}]
connections: [{from: go, to: hold}]
"#;
    let payer = r#"
id: pay
triggers: [{id: go, type: manual}]
nodes:
  - {id: charge, uses: wirework/core@^0.1, node: set, config: {fields: {paid: true}}, emit_event: "order.{{ $json.state }}"}
connections: [{from: go, to: charge}]
"#;
    for wf in [listener, waiter, payer] {
        engine.deploy_text(wf).await.unwrap();
    }
    let waiting = engine.start("waits-for-payment", None, vec![json!({})]).await.unwrap();
    wait_for(engine, &waiting, &[Status::Waiting]).await;
    let pay = engine.start("pay", None, vec![json!({"order": 42, "state": "paid"})]).await.unwrap();
    wait_for(engine, &pay, &[Status::Succeeded]).await;

    let resumed = wait_for(engine, &waiting, &[Status::Succeeded, Status::Failed]).await;
    assert_eq!(resumed.status, Status::Succeeded);
    let hold = engine.steps(&waiting).unwrap().pop().unwrap();
    match hold.outcome {
        StepOutcome::Emitted { ports } => {
            let item: Value = serde_json::from_str(ports[0].1[0].get()).unwrap();
            assert_eq!(ports[0].0, "main", "the event came, no timeout");
            assert_eq!(item["event"], json!({"order": 42, "state": "paid", "paid": true}));
        }
        other => panic!("{other:?}"),
    }
    let mut started = Vec::new();
    until("the listening workflow", || {
        started = engine
            .list_executions(&ExecutionFilter { workflow: Some("on-paid".into()), ..Default::default() })
            .unwrap();
        !started.is_empty()
    })
    .await;
    let listener_run = wait_for(engine, &started[0].id, &[Status::Succeeded]).await;
    let trigger_item: Value = serde_json::from_str(listener_run.trigger.items[0].get()).unwrap();
    assert_eq!(trigger_item, json!({"order": 42, "state": "paid", "paid": true}));
    until("follow-up actions done and deleted", || engine.store().scan_prefix(b"ob/").next().is_none()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_reads_back_by_time_across_a_long_history() {
    let (dir, _recorder, instance) = setup().await;
    // Five executions an hour apart, as a store from before the index by
    // workflow kept them (only the fields a list reads; no `wx/` keys).
    let hour = 3_600_000u64;
    let t0 = 1_790_000_000_000u64;
    let times: Vec<u64> = (0..5).map(|k| t0 + k * hour).collect();
    let mut ids = Vec::new();
    let mut batch = wirework::store::Batch::default();
    for (k, at) in times.iter().enumerate() {
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, at / 1000, 0);
        let id = uuid::Uuid::new_v7(ts).to_string();
        let record = json!({
            "id": id, "workflow_id": if k % 2 == 0 { "even" } else { "odd" }, "workflow_version": 1,
            "status": "succeeded", "created_ms": at, "finished_ms": at + 5, "error": null,
        });
        batch.put(format!("ex/{id}"), record.to_string());
        ids.push(id);
    }
    batch.delete("meta/wx");
    instance.engine.store().commit(batch).await.unwrap();
    drop(instance);
    // The next open indexes them.
    let instance = open(dir.path(), creds()).await;
    let engine = &instance.engine;
    assert_eq!(engine.store().scan_prefix(b"wx/").count(), 5);
    let listed = |filter: ExecutionFilter| -> Vec<String> {
        engine.list_executions(&filter).unwrap().into_iter().map(|e| e.id).collect()
    };
    let picks = |ks: &[usize]| -> Vec<String> { ks.iter().map(|&k| ids[k].clone()).collect() };
    let since = |k: usize| Some(times[k]);
    assert_eq!(listed(ExecutionFilter { since_ms: since(2), ..Default::default() }), picks(&[4, 3, 2]));
    assert_eq!(listed(ExecutionFilter { until_ms: since(3), ..Default::default() }), picks(&[2, 1, 0]));
    assert_eq!(listed(ExecutionFilter { until_ms: Some(times[3] + 1), ..Default::default() }), picks(&[3, 2, 1, 0]));
    let window = ExecutionFilter { since_ms: since(1), until_ms: since(4), ..Default::default() };
    assert_eq!(listed(window), picks(&[3, 2, 1]));
    assert_eq!(listed(ExecutionFilter { since_ms: since(1), limit: Some(2), ..Default::default() }), picks(&[4, 3]));
    let page = ExecutionFilter { since_ms: since(1), before: Some(ids[3].clone()), ..Default::default() };
    assert_eq!(listed(page), picks(&[2, 1]));
    let even = ExecutionFilter { workflow: Some("even".into()), until_ms: since(4), ..Default::default() };
    assert_eq!(listed(even), picks(&[2, 0]));
    let odd = ExecutionFilter { workflow: Some("odd".into()), ..Default::default() };
    assert_eq!(listed(odd), picks(&[3, 1]));
    let odd_page = ExecutionFilter { workflow: Some("odd".into()), before: Some(ids[3].clone()), ..Default::default() };
    assert_eq!(listed(odd_page), picks(&[1]));
    let odd_since = ExecutionFilter { workflow: Some("odd".into()), since_ms: since(2), ..Default::default() };
    assert_eq!(listed(odd_since), picks(&[3]));
    // A workflow's list is its index: without its key, an execution is not in it.
    let mut batch = wirework::store::Batch::default();
    batch.delete(format!("wx/odd\0{}", ids[1]));
    engine.store().commit(batch).await.unwrap();
    assert_eq!(listed(ExecutionFilter { workflow: Some("odd".into()), ..Default::default() }), picks(&[3]));
    assert_eq!(listed(ExecutionFilter::default()), picks(&[4, 3, 2, 1, 0]), "the whole list does not use it");
    assert!(listed(ExecutionFilter { since_ms: Some(times[4] + 1), ..Default::default() }).is_empty());
    assert!(listed(ExecutionFilter { until_ms: Some(times[0]), ..Default::default() }).is_empty());
}
