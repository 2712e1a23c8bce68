//! Crash safety: the real `wirework` process, SIGKILLed in the middle of many
//! executions, restarted, and checked. Every execution it acknowledged must
//! complete; no step may run twice, except one that was running at the kill,
//! and that one again with the same idempotency key.

use crate::common;
use crate::common::engine::{install_fixtures, open, Recorder};
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use wirework::engine::records::StepOutcome;
use wirework::engine::{ExecutionFilter, MemoryCredentials, Status};

const EXECUTIONS: usize = 300;

fn wirework(data_dir: &std::path::Path, log: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wirework"));
    command
        .arg("--home")
        .arg(common::fixtures().home.root())
        .args(["engine", "run", "--data-dir"])
        .arg(data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .kill_on_drop(true);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_run_loses_nothing_and_repeats_only_interrupted_steps() {
    let recorder = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    install_fixtures(&data, &recorder.addr.to_string());
    let workflow = dir.path().join("crash.yaml");
    std::fs::write(
        &workflow,
        format!(
            r#"
id: crash
triggers: [{{id: go, type: manual}}]
nodes:
  - {{id: prepare, uses: wirework/core@^0.1, node: set, config: {{fields: {{stage: prepared}}}}}}
  - {{id: charge, uses: wirework/http@^0.1, node: request, config: {{method: POST, url: "http://{addr}/charge", send_item: true}}}}
  - {{id: mark, uses: wirework/core@^0.1, node: set, config: {{fields: {{stage: charged}}}}}}
  - {{id: notify, uses: wirework/http@^0.1, node: request, config: {{method: POST, url: "http://{addr}/notify", send_item: true}}}}
  - {{id: done, uses: wirework/core@^0.1, node: noop}}
connections:
  - {{from: go, to: prepare}}
  - {{from: prepare, to: charge}}
  - {{from: charge, to: mark}}
  - {{from: mark, to: notify}}
  - {{from: notify, to: done}}
"#,
            addr = recorder.addr
        ),
    )
    .unwrap();

    // First run: deploy, fire, and kill -9 once a third of the calls are made.
    let first_log = dir.path().join("first.log");
    let mut first = wirework(&data, &first_log)
        .arg("--deploy")
        .arg(&workflow)
        .args(["--start", "crash", "--count", &EXECUTIONS.to_string(), "--input", r#"{"amount": 5}"#])
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(first.stdout.take().unwrap()).lines();
    let reader = tokio::spawn(async move {
        let mut accepted = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(id) = line.strip_prefix("accepted ") {
                accepted.push(id.to_string());
            }
        }
        accepted
    });
    let total_calls = 2 * EXECUTIONS;
    let calls = || recorder.state.received.lock().unwrap().len();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    while calls() < total_calls / 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first run made {} calls; its log:\n{}",
            calls(),
            std::fs::read_to_string(&first_log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    first.start_kill().unwrap(); // SIGKILL
    first.wait().await.unwrap();
    let calls_at_kill = calls();
    let accepted = reader.await.unwrap();
    assert!(calls_at_kill < total_calls, "the kill came after everything was done; nothing was tested");
    assert!(!accepted.is_empty(), "no execution was acknowledged before the kill");

    // Restart: continue whatever was running, until nothing is.
    let second_log = dir.path().join("second.log");
    let status =
        tokio::time::timeout(Duration::from_secs(300), wirework(&data, &second_log).arg("--until-idle").status())
            .await
            .expect("the restarted host went idle")
            .unwrap();
    assert!(status.success(), "restart failed:\n{}", std::fs::read_to_string(&second_log).unwrap_or_default());

    let instance = open(&data, Arc::new(MemoryCredentials::default())).await;
    let engine = &instance.engine;
    let all = engine.list_executions(&ExecutionFilter { limit: Some(10 * EXECUTIONS), ..Default::default() }).unwrap();
    assert!(all.len() >= accepted.len());
    assert!(
        all.iter().all(|e| e.status == Status::Succeeded),
        "unfinished: {:?}",
        all.iter().filter(|e| e.status != Status::Succeeded).collect::<Vec<_>>()
    );

    let mut seen: HashMap<String, usize> = HashMap::new();
    for call in recorder.state.received.lock().unwrap().iter() {
        *seen.entry(call.idempotency_key.clone().expect("every POST carries its key")).or_default() += 1;
    }
    for id in &accepted {
        let record = engine.execution(id).unwrap().unwrap_or_else(|| panic!("accepted execution {id} was lost"));
        assert_eq!(record.status, Status::Succeeded, "{id}: {:?}", record.error);
    }
    let mut repeated_steps = 0;
    for execution in &all {
        let id = &execution.id;
        let steps = engine.steps(id).unwrap();
        let nodes: Vec<&str> = steps.iter().map(|s| s.node.as_str()).collect();
        assert_eq!(nodes, ["prepare", "charge", "mark", "notify", "done"], "{id}: each step recorded once, in order");
        assert!(steps.iter().all(|s| matches!(s.outcome, StepOutcome::Emitted { .. })));
        let mut repeated_here = 0;
        for step in steps.iter().filter(|s| s.node == "charge" || s.node == "notify") {
            let times = seen.get(&step.idempotency_key).copied().unwrap_or(0);
            assert!((1..=2).contains(&times), "{} was called {times} times", step.idempotency_key);
            repeated_here += times - 1;
        }
        assert!(repeated_here <= 1, "{id}: only the step running at the kill may run again");
        repeated_steps += repeated_here;
    }
    // Every call the server saw belongs to a recorded step.
    assert_eq!(seen.len(), 2 * all.len(), "one key per side-effecting step, none unknown");
    eprintln!(
        "{} acknowledged before the kill, {} in all; {calls_at_kill} calls at the kill; {repeated_steps} interrupted steps ran again",
        accepted.len(),
        all.len()
    );
}
