//! HTTP triggers at `/hooks/{workflow}/{path}`.
//!
//! A request goes to the trigger node of the active workflow's current
//! version (a plugin's `handle-request`), which turns it into items or
//! answers it itself (a bad signature: 401). With items, an execution starts
//! and is durable before anything is answered:
//!
//! - `async` (default): `202 {"execution_id": ...}`, or the trigger's own answer;
//! - `sync`: the answer of a `respond` node (an item on a port named
//!   `response`: `{status, headers, body}`), else the last step's output as
//!   JSON (200); a failed execution is 500; still running after the sync
//!   timeout (or waiting on a timer or event): 202 with the execution id.
//!
//! **Idempotency.** With an `Idempotency-Key` header, the first answer is kept
//! under `ik/{workflow}\0{path}\0{key}` (written in the same batch as the
//! execution it started) and a repeat gets it again, starting nothing.
//! Repeats racing the first request wait for it. Kept answers are pruned
//! after [`IDEMPOTENCY_TTL`].

use super::{ApiError, AppState};
use crate::engine::records::StepOutcome;
use crate::engine::triggers::normalise_path;
use crate::engine::{Status, Webhook};
use crate::metrics::WebhookLabels;
use crate::runtime::{NodeFailure, TriggerRequest};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// Idempotency keys being answered now, so that repeats racing the first
/// request wait for it. (Webhooks themselves are routed by the engine's
/// trigger index: [`crate::engine::Engine::webhook`].)
#[derive(Default)]
pub struct KeyLocks {
    in_progress: Mutex<HashMap<Vec<u8>, Arc<tokio::sync::Mutex<()>>>>,
}

impl KeyLocks {
    /// The lock for one idempotency key; the entry is forgotten when the
    /// last holder drops it (a client hanging up included).
    fn key_lock<'a>(&'a self, key: &[u8]) -> KeyLock<'a> {
        let lock = self.in_progress.lock().entry(key.to_vec()).or_default().clone();
        KeyLock { table: self, key: key.to_vec(), lock }
    }
}

/// A handle on one idempotency key's lock (see [`KeyLocks::key_lock`]).
struct KeyLock<'a> {
    table: &'a KeyLocks,
    key: Vec<u8>,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for KeyLock<'_> {
    fn drop(&mut self) {
        let mut map = self.table.in_progress.lock();
        // Two references: the map's and this one; nobody else waits.
        if Arc::strong_count(&self.lock) <= 2 {
            map.remove(&self.key);
        }
    }
}

/// How long answers are kept for idempotent repeats.
pub const IDEMPOTENCY_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// An answer as kept for idempotent repeats.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// When it was kept (ms since the epoch).
    #[serde(default)]
    saved_ms: u64,
}

/// Delete kept answers older than [`IDEMPOTENCY_TTL`]; how many.
pub async fn prune_idempotency(store: &crate::store::Store) -> anyhow::Result<usize> {
    let cutoff = crate::engine::now_ms().saturating_sub(IDEMPOTENCY_TTL.as_millis() as u64);
    let mut batch = crate::store::Batch::default();
    let mut pruned = 0;
    for entry in store.scan_prefix(b"ik/") {
        let (key, value) = entry?;
        let old = serde_json::from_slice::<Answer>(&value).map_or(true, |a| a.saved_ms < cutoff);
        if old {
            batch.delete(key);
            pruned += 1;
        }
    }
    if pruned > 0 {
        store.commit(batch).await?;
    }
    Ok(pruned)
}

impl Answer {
    fn json(status: StatusCode, value: &Value) -> Answer {
        Answer {
            status: status.as_u16(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(value).expect("JSON serialises"),
            saved_ms: crate::engine::now_ms(),
        }
    }

    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, self.body).into_response();
        for (name, value) in self.headers {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

/// 1 to 255 visible ASCII characters (no space, no TAB), as docs/server.md says.
fn valid_idempotency_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

fn idempotency_key(route: &Webhook, path: &str, key: &str) -> Vec<u8> {
    format!("ik/{}\u{0}{}\u{0}{key}", route.workflow, normalise_path(path)).into_bytes()
}

/// `ANY /hooks/{workflow}/{*path}`.
pub async fn handle(
    State(state): State<Arc<AppState>>,
    Path((workflow, path)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let started = Instant::now();
    let Some(route) = state.engine.webhook(&workflow, &path) else {
        let message = format!("no active webhook at /hooks/{workflow}/{path}");
        return ApiError::new(StatusCode::NOT_FOUND, message).into_response();
    };
    let observe = |response: Response| {
        let mode = if route.sync { "sync" } else { "async" };
        let labels = WebhookLabels { mode: mode.into(), code: response.status().as_u16() };
        state.metrics.webhook_duration.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
        response
    };
    let limit = state.config.max_body_bytes;
    let deadline = state.config.request_timeout;
    let Ok(read) = tokio::time::timeout(deadline, axum::body::to_bytes(body, limit)).await else {
        let message = format!("the body did not arrive within {} ms", deadline.as_millis());
        return observe(ApiError::new(StatusCode::REQUEST_TIMEOUT, message).into_response());
    };
    let body = match read {
        Ok(body) => body,
        Err(e) if format!("{e:#}").contains("length limit") => {
            let message = format!("the body is larger than the limit of {limit} bytes");
            return observe(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, message).into_response());
        }
        Err(e) => return observe(ApiError::bad_request(format!("could not read the body: {e}")).into_response()),
    };
    let key = match headers.get("idempotency-key").map(|v| v.to_str()) {
        None => None,
        Some(Ok(k)) if valid_idempotency_key(k) => Some(idempotency_key(&route, &path, k)),
        Some(_) => {
            let message = "Idempotency-Key must be 1 to 255 visible ASCII characters";
            return ApiError::new(StatusCode::BAD_REQUEST, message).into_response();
        }
    };
    let answer = match &key {
        None => answer(&state, &route, &path, method, uri, headers, body, None).await,
        Some(key) => {
            let entry = state.idempotency.key_lock(key);
            let _turn = entry.lock.lock().await;
            {
                match state.engine.store().get(key) {
                    Ok(Some(saved)) => match serde_json::from_slice::<Answer>(&saved) {
                        // What a first request that gave up wrote may not be
                        // flushed yet: never replay an answer before it is durable.
                        Ok(saved) => match state.engine.store().durable().await {
                            Ok(()) => {
                                let mut response = saved.into_response();
                                let replayed = HeaderValue::from_static("true");
                                response.headers_mut().insert("idempotent-replayed", replayed);
                                Ok(response)
                            }
                            Err(e) => Err(ApiError::internal(e)),
                        },
                        Err(e) => Err(ApiError::internal(anyhow::anyhow!("corrupt idempotency record: {e}"))),
                    },
                    Ok(None) => answer(&state, &route, &path, method, uri, headers, body, Some(key.clone())).await,
                    Err(e) => Err(ApiError::internal(e)),
                }
            }
        }
    };
    observe(answer.unwrap_or_else(IntoResponse::into_response))
}

#[allow(clippy::too_many_arguments)]
async fn answer(
    state: &Arc<AppState>,
    route: &Webhook,
    path: &str,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    key: Option<Vec<u8>>,
) -> Result<Response, ApiError> {
    let request = TriggerRequest {
        method: method.to_string(),
        url: public_url(state.config.public_url.as_deref(), &uri, &headers),
        path: path.to_string(),
        query: uri.query().unwrap_or_default().to_string(),
        headers: headers
            .iter()
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
            .collect(),
        body: body.to_vec(),
    };
    let (result, trigger_call) = state.engine.call_trigger(route, request).await;
    let output = match result {
        Ok(output) => output,
        Err(NodeFailure::Plugin { message, .. }) => {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, format!("the trigger refused the request: {message}")))
        }
        Err(NodeFailure::Denied { message }) => {
            tracing::error!(workflow = %route.workflow, trigger = %route.trigger, "trigger result refused: {message}");
            let message = "the trigger's plugin did what it is not granted (the server's log says what)";
            return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message));
        }
        Err(failure) => {
            tracing::error!(workflow = %route.workflow, trigger = %route.trigger, "trigger failed: {failure}");
            let message = "the trigger failed (the server's log has the cause)";
            return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message));
        }
    };
    // Events first, each durable before anything is answered: the caller
    // (Stripe, Twilio, ...) takes a 2xx to mean it need not send again.
    for event in &output.events {
        let payload: Value = serde_json::from_str(event.payload.get()).map_err(ApiError::internal)?;
        state.engine.emit_event(&event.name, payload).await.map_err(ApiError::from)?;
    }
    let own = output.response.map(|r| Answer {
        status: r.status,
        headers: r.headers,
        body: r.body,
        saved_ms: crate::engine::now_ms(),
    });
    if output.items.is_empty() {
        // The trigger answered (or ignored) the request: no execution.
        let answer = own.unwrap_or_else(|| Answer::json(StatusCode::OK, &json!({"execution_id": null})));
        return Ok(answer.into_response());
    }
    let accepted = |id: &str| Answer::json(StatusCode::ACCEPTED, &json!({"execution_id": id}));
    // Async: the answer is known before the start, so it is written with it.
    let first = match (&own, route.sync) {
        (Some(own), false) => Some(own.clone()),
        _ => None,
    };
    let saved_key = key.clone();
    let writes: crate::engine::StartWrites = Box::new(move |id, batch| {
        if let Some(key) = saved_key {
            let answer = first.unwrap_or_else(|| accepted(id));
            batch.put(key, serde_json::to_vec(&answer).expect("answers serialise"));
        }
    });
    let id = state
        .engine
        .start_with(&route.workflow, route.version, Some(&route.trigger), output.items, writes, Some(trigger_call))
        .await
        .map_err(ApiError::from)?;
    if !route.sync {
        return Ok(own.unwrap_or_else(|| accepted(&id)).into_response());
    }
    let answer = match tokio::time::timeout(state.config.sync_timeout, state.engine.wait_settled(&id)).await {
        Err(_) => accepted(&id),
        Ok(Err(e)) => return Err(e.into()),
        Ok(Ok(status)) => match own {
            Some(own) => own,
            None => sync_answer(state, &id, status)?,
        },
    };
    if let Some(key) = key {
        // Replace the provisional 202 with the final answer.
        let mut batch = crate::store::Batch::default();
        batch.put(key, serde_json::to_vec(&answer).expect("answers serialise"));
        state.engine.store().commit(batch).await.map_err(ApiError::internal)?;
    }
    Ok(answer.into_response())
}

/// The full URL a caller used, as a trigger sees it (`http-request.url`):
/// the operator's public URL (`--public-url`, for a host behind a proxy or
/// load balancer) followed by the request's path and query; without one,
/// `http://` and the request's `Host` header.
fn public_url(configured: Option<&str>, uri: &Uri, headers: &HeaderMap) -> String {
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    match configured {
        Some(base) => format!("{}{path_and_query}", base.trim_end_matches('/')),
        None => {
            let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            format!("http://{host}{path_and_query}")
        }
    }
}

/// The answer of a settled sync execution.
fn sync_answer(state: &AppState, id: &str, status: Status) -> Result<Answer, ApiError> {
    match status {
        Status::Succeeded => {}
        Status::Failed => {
            let record = state.engine.execution(id).map_err(ApiError::internal)?;
            let error = record.and_then(|r| r.error).map(|e| e.message).unwrap_or_default();
            return Ok(Answer::json(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"execution_id": id, "status": "failed", "error": error}),
            ));
        }
        other => {
            return Ok(Answer::json(StatusCode::ACCEPTED, &json!({"execution_id": id, "status": other.as_str()})));
        }
    }
    let steps = state.engine.steps(id).map_err(ApiError::internal)?;
    // A respond node's answer wins; else the last step's output.
    for step in steps.iter().rev() {
        let StepOutcome::Emitted { ports } = &step.outcome else { continue };
        if let Some((_, items)) = ports.iter().find(|(port, items)| port == "response" && !items.is_empty()) {
            let item: Value = serde_json::from_str(items[0].get()).unwrap_or(Value::Null);
            return Ok(respond_answer(&item));
        }
    }
    let items: Vec<Value> = crate::engine::records::last_output(&steps)
        .into_iter()
        .map(|i| serde_json::from_str(i.get()).unwrap_or(Value::Null))
        .collect();
    let body = match <[Value; 1]>::try_from(items) {
        Ok([one]) => one,
        Err(items) => Value::Array(items),
    };
    Ok(Answer::json(StatusCode::OK, &body))
}

/// `{status, headers, body}` from a respond node: a string body is sent as
/// is, anything else as JSON.
fn respond_answer(item: &Value) -> Answer {
    let status = item.get("status").and_then(Value::as_u64).and_then(|s| u16::try_from(s).ok()).unwrap_or(200);
    let mut headers: Vec<(String, String)> = item
        .get("headers")
        .and_then(Value::as_object)
        .map(|h| h.iter().filter_map(|(k, v)| Some((k.to_lowercase(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default();
    let body = match item.get("body") {
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(other) => {
            if !headers.iter().any(|(k, _)| k == "content-type") {
                headers.push(("content-type".into(), "application/json".into()));
            }
            serde_json::to_vec(other).expect("JSON serialises")
        }
        None => Vec::new(),
    };
    Answer { status, headers, body, saved_ms: crate::engine::now_ms() }
}
