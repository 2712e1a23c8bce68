//! An engine on a fresh data directory with the fixture plugins installed,
//! and a loopback HTTP server that records what nodes send it.

use super::fixtures;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wirework::data_dir::DataDir;
use wirework::engine::{ExecutionRecord, MemoryCredentials, Status};
use wirework::instance::{Instance, InstanceOptions};
use wirework::plugins::{GrantEntry, PluginManager};

/// One request the recorder received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub idempotency_key: Option<String>,
    pub body: Value,
}

pub struct RecorderState {
    pub received: Mutex<Vec<Received>>,
    /// Answer 503 this many more times, per path.
    pub failures: Mutex<HashMap<String, usize>>,
    /// Paths under `/barrier/` wait until this many requests are inside at once.
    pub barrier: tokio::sync::Barrier,
    /// The JSON body to answer, per path (else `{"ok": true, "path": PATH}`).
    pub answers: Mutex<HashMap<String, Value>>,
}

/// A server on a loopback port that records every request to `/{path}`.
pub struct Recorder {
    pub addr: std::net::SocketAddr,
    pub state: Arc<RecorderState>,
}

impl Recorder {
    pub async fn start() -> Recorder {
        let state = Arc::new(RecorderState {
            received: Mutex::default(),
            failures: Mutex::default(),
            barrier: tokio::sync::Barrier::new(2),
            answers: Mutex::default(),
        });
        let router = axum::Router::new().route("/{*path}", axum::routing::any(record)).with_state(state.clone());
        Recorder { addr: super::serve(router).await, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    pub fn received(&self, path: &str) -> Vec<Received> {
        self.state.received.lock().unwrap().iter().filter(|r| r.path == path).cloned().collect()
    }

    pub fn fail_next(&self, path: &str, times: usize) {
        self.state.failures.lock().unwrap().insert(path.to_string(), times);
    }

    /// Answer requests to `/{path}` with `body` (status 200) from now on.
    pub fn answer(&self, path: &str, body: Value) {
        self.state.answers.lock().unwrap().insert(path.to_string(), body);
    }
}

async fn record(
    State(state): State<Arc<RecorderState>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, axum::Json<Value>) {
    let received = Received {
        path: path.clone(),
        idempotency_key: headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(String::from),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    state.received.lock().unwrap().push(received);
    if path.starts_with("barrier/") {
        // Both parallel branches must be inside at once, or this times out.
        if tokio::time::timeout(Duration::from_secs(10), state.barrier.wait()).await.is_err() {
            return (StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({"error": "alone at the barrier"})));
        }
    }
    let fail = {
        let mut failures = state.failures.lock().unwrap();
        match failures.get_mut(&path) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    };
    if fail {
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({"error": "try again"})));
    }
    let answer = state.answers.lock().unwrap().get(&path).cloned();
    (StatusCode::OK, axum::Json(answer.unwrap_or_else(|| serde_json::json!({"ok": true, "path": path}))))
}

/// Install the fixture packages into `data_dir`, granting HTTP to `grant_http`.
pub fn install_fixtures(data_dir: &std::path::Path, grant_http: &str) {
    let f = fixtures();
    let http = GrantEntry { http: vec![grant_http.to_string()], ..Default::default() };
    let packages =
        [(&f.core, GrantEntry::default()), (&f.http, http.clone()), (&f.hostile, GrantEntry { kv: true, ..http })];
    for (package, grant) in packages {
        install_package(data_dir, package, grant);
    }
}

/// Install one package file into `data_dir` with `grant`, as `wirework
/// plugin add` does (its own thread and runtime: callers may be inside tokio).
pub fn install_package(data_dir: &std::path::Path, package: &std::path::Path, grant: GrantEntry) {
    let (dir, package) = (DataDir::at(data_dir), package.to_path_buf());
    std::thread::spawn(move || {
        let manager = PluginManager::for_data_dir(dir, fixtures().home.clone());
        let bytes = std::fs::read(&package).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(manager.add(bytes, grant, false))
            .unwrap_or_else(|e| panic!("installing {}: {e}", package.display()));
    })
    .join()
    .unwrap();
}

/// Open an instance on `data_dir` with the fixtures' trust store.
/// A store just given up by an earlier instance is released once that
/// instance's last task ends: retry for a while.
pub async fn open(data_dir: &std::path::Path, credentials: Arc<MemoryCredentials>) -> Instance {
    try_open(data_dir, credentials).await.unwrap_or_else(|e| panic!("opening {}: {e:#}", data_dir.display()))
}

/// Open `data_dir`, waiting (up to 10 s) for the process's previous store on
/// it to be released; any other failure is returned.
pub async fn try_open(data_dir: &std::path::Path, credentials: Arc<MemoryCredentials>) -> anyhow::Result<Instance> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let options = InstanceOptions { component_cache: Some(super::component_cache()), ..Default::default() };
        let credentials = credentials.clone();
        match Instance::open_with(data_dir, &fixtures().home, options, |_| Ok(credentials as _)).await {
            Err(e) if tokio::time::Instant::now() < deadline && format!("{e:#}").contains("opening the store") => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            result => return result,
        }
    }
}

/// Poll `engine` until execution `id` reaches one of `statuses`.
pub async fn wait_for(engine: &wirework::engine::Engine, id: &str, statuses: &[Status]) -> ExecutionRecord {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let record = engine.execution(id).unwrap().expect("the execution exists");
        if statuses.contains(&record.status) {
            return record;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("execution {id} stayed {:?}: {:?}; steps {:#?}", record.status, record.error, engine.steps(id));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Poll until `f` holds.
pub async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
