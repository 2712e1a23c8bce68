//! The management API under `/api/v1`: workflows, executions, plugins,
//! credentials, events and tokens. Every route but `openapi.json` needs
//! `Authorization: Bearer <token>`. Errors are `{"error": ...}` (with
//! `problems` for invalid workflows). The routes are listed, with their
//! bodies, in `openapi.json` next to this file.

use super::auth::Tokens;
use super::{session, ApiError, AppState};
use crate::dto;
use crate::engine::{CredentialValue, ExecutionFilter, RetryMode, Status};
use crate::plugins::manager::Upgrade;
use crate::plugins::registry::{parse_spec, ungranted_refusal, GrantFlags, Installed, Lockfile};
use crate::plugins::{GrantEntry, PluginError, RegistryRequest};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use semver::Version;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use wirework_registry::manifest::Capabilities;

/// The OpenAPI 3.1 document of this API (kept by hand next to the routes;
/// a test checks every route below is in it).
pub(super) const OPENAPI: &str = include_str!("openapi.json");

/// Largest plugin package accepted for upload: the size a host loads.
const MAX_PACKAGE_BYTES: usize = wirework_registry::package::MAX_PACKAGE_BYTES as usize;

type ApiResult = Result<Response, ApiError>;

pub(super) fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    let protected = Router::new()
        .route("/workflows", get(list_workflows).post(deploy))
        .route("/workflows/{id}", get(get_workflow).delete(delete_workflow))
        .route("/workflows/{id}/activate", post(activate))
        .route("/workflows/{id}/deactivate", post(deactivate))
        .route("/workflows/{id}/versions", get(versions))
        .route("/workflows/{id}/rollback", post(rollback))
        .route("/workflows/{id}/executions", post(start))
        .route("/test-runs", post(test_run))
        .route("/executions", get(list_executions))
        .route("/executions/events", get(execution_events))
        .route("/executions/{id}", get(get_execution))
        .route("/executions/{id}/retry", post(retry))
        .route("/executions/{id}/cancel", post(cancel))
        .route("/plugins", get(list_plugins).post(install_plugin).layer(DefaultBodyLimit::max(MAX_PACKAGE_BYTES)))
        .route("/plugins/install", post(install_from_registry))
        .route("/plugins/install/preview", post(preview_install))
        .route("/plugins/upgrade", post(upgrade_from_registry))
        .route("/plugins/install-locked", post(install_locked))
        .route("/plugins/refresh", post(refresh_plugins))
        .route("/plugins/{publisher}/{name}/{version}", delete(remove_plugin))
        .route("/plugins/{publisher}/{name}/grants", get(get_grants).put(set_grants))
        .route("/credentials", get(list_credentials))
        .route("/credentials/{name}", put(set_credential).delete(delete_credential))
        .route("/events", post(emit))
        .route("/schedule-preview", get(schedule_preview))
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{name}", delete(revoke_token))
        .route_layer(middleware::from_fn_with_state(state, require_token));
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/session", get(whoami).post(sign_in).delete(sign_out))
        .merge(protected)
}

/// Let a request through with a valid bearer token, or a studio session
/// cookie (which, on a request that changes anything, must come with the
/// studio's header: see [`session`](super::session)).
async fn require_token(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let refuse = |message: &str| {
        let mut response = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
        response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        response
    };
    let session = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| session::cookie(c, session::COOKIE))
        .map(str::to_string);
    let checked = match (bearer.and_then(|h| h.strip_prefix("Bearer ")).map(str::trim), session) {
        (Some(token), _) => state.tokens.check(token),
        (None, Some(id)) => {
            let Some(digest) = state.sessions.token_digest(&id) else {
                return refuse("the studio session has ended: sign in again");
            };
            let safe = matches!(*request.method(), axum::http::Method::GET | axum::http::Method::HEAD);
            if !safe && request.headers().get(session::STUDIO_HEADER).is_none() {
                let message = format!("a request signed in by cookie must carry `{}: 1`", session::STUDIO_HEADER);
                return ApiError::new(StatusCode::FORBIDDEN, message).into_response();
            }
            state.tokens.check_digest(&digest)
        }
        (None, None) => {
            return refuse("this API needs `Authorization: Bearer <token>` (see `wirework token create`)");
        }
    };
    match checked {
        Ok(Some(_)) => next.run(request).await,
        Ok(None) => refuse("unknown or revoked token"),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

// ---- studio sessions ----

/// `POST /session {"token"}`: sign a browser in.
async fn sign_in(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SignIn {
        token: String,
    }
    let SignIn { token } = parse_json(&body)?;
    let name = state.tokens.check(token.trim()).map_err(ApiError::internal)?;
    let Some(name) = name else {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unknown or revoked token"));
    };
    let id = state.sessions.open(Tokens::digest_of(token.trim()));
    let secure = state.config.public_url.as_deref().is_some_and(|u| u.starts_with("https://"));
    let cookie = header::HeaderValue::from_str(&session::set_cookie(&id, secure)).map_err(ApiError::internal)?;
    let mut response = Json(json!({"token": name})).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `GET /session`: who is signed in (the token's name, `null` when nobody is).
async fn whoami(State(state): State<Arc<AppState>>, headers: axum::http::HeaderMap) -> ApiResult {
    let bearer =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|h| h.strip_prefix("Bearer "));
    let name = match bearer {
        Some(token) => state.tokens.check(token.trim()),
        None => {
            let id = headers
                .get(header::COOKIE)
                .and_then(|v| v.to_str().ok())
                .and_then(|c| session::cookie(c, session::COOKIE));
            let digest = id.and_then(|id| state.sessions.token_digest(id)).unwrap_or_default();
            state.tokens.check_digest(&digest)
        }
    };
    ok(json!({"token": name.map_err(ApiError::internal)?}))
}

/// `DELETE /session`: sign the browser out (its cookie and session go).
async fn sign_out(State(state): State<Arc<AppState>>, headers: axum::http::HeaderMap) -> ApiResult {
    if let Some(id) =
        headers.get(header::COOKIE).and_then(|v| v.to_str().ok()).and_then(|c| session::cookie(c, session::COOKIE))
    {
        state.sessions.close(id);
    }
    let secure = state.config.public_url.as_deref().is_some_and(|u| u.starts_with("https://"));
    let mut response = StatusCode::NO_CONTENT.into_response();
    let cookie = header::HeaderValue::from_str(&session::clear_cookie(secure)).map_err(ApiError::internal)?;
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// A JSON body, or a 400 that says what is wrong with it.
fn parse_json<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))
}

fn ok(value: impl serde::Serialize) -> ApiResult {
    Ok(Json(value).into_response())
}

fn created(value: impl serde::Serialize) -> ApiResult {
    Ok((StatusCode::CREATED, Json(value)).into_response())
}

// ---- workflows ----

async fn list_workflows(State(state): State<Arc<AppState>>) -> ApiResult {
    ok(state.engine.workflows().map_err(ApiError::internal)?)
}

async fn deploy(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult {
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("the definition is not UTF-8"))?;
    let deployed = state.engine.deploy_text(text).await?;
    created(deployed)
}

async fn get_workflow(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult {
    let head = state.engine.head(&id).map_err(ApiError::internal)?;
    let head = head.ok_or_else(|| ApiError::not_found(format!("no workflow `{id}`")))?;
    let version = state.engine.workflow(&id, Some(head.current))?;
    ok(dto::WorkflowAnswer { head, definition: version.workflow, pins: version.pins, calls: version.calls })
}

/// `DELETE /workflows/{id}`: the workflow, its versions, its finished
/// executions and its test runs (refused while one of its executions runs
/// or waits, or while another workflow names it as its error workflow).
async fn delete_workflow(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult {
    ok(state.engine.delete_workflow(&id).await?)
}

async fn activate(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult {
    let head = state.engine.set_active(&id, true).await?;
    ok(head)
}

async fn deactivate(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult {
    let head = state.engine.set_active(&id, false).await?;
    ok(head)
}

async fn versions(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult {
    let versions = state.engine.versions(&id).map_err(ApiError::internal)?;
    if versions.is_empty() {
        return Err(ApiError::not_found(format!("no workflow `{id}`")));
    }
    ok(versions)
}

async fn rollback(State(state): State<Arc<AppState>>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let dto::RollbackRequest { version } = parse_json(&body)?;
    let head = state.engine.rollback(&id, version).await?;
    ok(head)
}

async fn start(State(state): State<Arc<AppState>>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let dto::StartRequest { trigger, items } = if body.is_empty() { Default::default() } else { parse_json(&body)? };
    let items = if items.is_empty() { vec![json!({})] } else { items };
    if let Some(bad) = items.iter().find(|i| !i.is_object()) {
        return Err(ApiError::bad_request(format!("items must be JSON objects, not {bad}")));
    }
    let execution = state.engine.start(&id, trigger.as_deref(), items).await?;
    Ok((StatusCode::ACCEPTED, Json(dto::ExecutionId { execution_id: execution })).into_response())
}

/// How long `POST /test-runs` with `wait` waits for the run to stop running.
const TEST_RUN_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// `POST /test-runs`: check a draft as a deploy would, store it as a test
/// run's draft (not a version of the workflow) and run it once.
async fn test_run(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult {
    let request: dto::TestRunRequest = parse_json(&body)?;
    let items = if request.items.is_empty() { vec![json!({})] } else { request.items };
    if let Some(bad) = items.iter().find(|i| !i.is_object()) {
        return Err(ApiError::bad_request(format!("items must be JSON objects, not {bad}")));
    }
    let workflow = crate::engine::Workflow::parse(&request.workflow.to_string()).map_err(|message| {
        ApiError::invalid(crate::engine::Invalid {
            problems: vec![crate::engine::Problem { location: "workflow".into(), message }],
        })
    })?;
    let run = crate::engine::TestRun { workflow, trigger: request.trigger, items, pinned: request.pinned };
    let started = state.engine.test_run(run).await?;
    let mut status = crate::engine::Status::Running;
    if request.wait {
        if let Ok(settled) = tokio::time::timeout(TEST_RUN_WAIT, state.engine.wait_settled(&started.execution)).await {
            status = settled?;
        }
    }
    created(dto::TestRunAnswer {
        execution_id: started.execution,
        workflow_id: started.workflow,
        workflow_version: started.version,
        status,
    })
}

// ---- executions ----

/// `GET /executions/events[?workflow=ID]`: every execution's status changes
/// from now on, as server-sent events (`event: execution`, the change as
/// JSON; `event: lagged` when this listener fell too far behind and should
/// read the list again). The stream ends when the server begins to stop.
async fn execution_events(
    State(state): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio::sync::broadcast::error::RecvError;
    let workflow = query.get("workflow").cloned();
    let changes = state.engine.changes();
    let stream =
        futures_util::stream::unfold((changes, workflow, state), |(mut changes, workflow, state)| async move {
            loop {
                if !state.ready.load(std::sync::atomic::Ordering::SeqCst) {
                    return None;
                }
                let event = match tokio::time::timeout(std::time::Duration::from_secs(1), changes.recv()).await {
                    Err(_) => continue,
                    Ok(Err(RecvError::Closed)) => return None,
                    Ok(Err(RecvError::Lagged(missed))) => Event::default().event("lagged").data(missed.to_string()),
                    Ok(Ok(change)) if workflow.as_ref().is_some_and(|w| *w != change.workflow_id) => continue,
                    Ok(Ok(change)) => match Event::default().event("execution").json_data(&change) {
                        Ok(event) => event,
                        Err(_) => continue,
                    },
                };
                return Some((Ok::<_, std::convert::Infallible>(event), (changes, workflow, state)));
            }
        });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

async fn list_executions(
    State(state): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let number = |name: &str| -> Result<Option<u64>, ApiError> {
        query
            .get(name)
            .map(|v| {
                v.parse::<u64>().map_err(|_| ApiError::bad_request(format!("`{name}` must be a number, not `{v}`")))
            })
            .transpose()
    };
    let status = match query.get("status") {
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!("unknown status `{s}`: running, waiting, succeeded, failed or cancelled"))
        })?),
        None => None,
    };
    if let Some(unknown) =
        query.keys().find(|k| !["workflow", "status", "since_ms", "until_ms", "limit", "before"].contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(format!("unknown filter `{unknown}`")));
    }
    let filter = ExecutionFilter {
        workflow: query.get("workflow").cloned(),
        status,
        since_ms: number("since_ms")?,
        until_ms: number("until_ms")?,
        limit: number("limit")?.map(|n| n.min(10_000) as usize),
        before: query.get("before").cloned(),
    };
    // A filter few executions match reads far back: off the async workers,
    // so webhooks are not held up behind it.
    let engine = state.engine.clone();
    let listed = tokio::task::spawn_blocking(move || engine.list_executions(&filter)).await;
    ok(listed.map_err(ApiError::internal)?.map_err(ApiError::internal)?)
}

async fn get_execution(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult {
    let record = state.engine.execution(&id).map_err(ApiError::internal)?;
    let record = record.ok_or_else(|| ApiError::not_found(format!("no execution `{id}`")))?;
    let steps = state.engine.steps(&id).map_err(ApiError::internal)?;
    let mut value = serde_json::to_value(&record).map_err(ApiError::internal)?;
    if let Value::Object(map) = &mut value {
        // The engine's private bookkeeping (ready steps, joins, loop counts).
        map.remove("state");
        map.insert("steps".into(), serde_json::to_value(&steps).map_err(ApiError::internal)?);
    }
    ok(value)
}

async fn retry(State(state): State<Arc<AppState>>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let dto::RetryRequest { mode } = if body.is_empty() { Default::default() } else { parse_json(&body)? };
    let mode = match mode.as_deref() {
        None | Some("from_failed") => RetryMode::FromFailed,
        Some("from_start") => RetryMode::FromStart,
        Some(other) => return Err(ApiError::bad_request(format!("unknown mode `{other}`: from_failed or from_start"))),
    };
    let execution = state.engine.retry(&id, mode).await?;
    ok(dto::ExecutionId { execution_id: execution })
}

async fn cancel(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult {
    state.engine.cancel(&id).await?;
    let status = state.engine.execution(&id).map_err(ApiError::internal)?.map(|r| r.status);
    ok(dto::Cancelled { execution_id: id, status })
}

// ---- plugins ----
//
// Every change goes through the server's `PluginManager`: these handlers
// parse the request, call it and present the outcome.

async fn list_plugins(State(state): State<Arc<AppState>>) -> ApiResult {
    let (listed, _) = state.manager.list()?;
    let plugins: Vec<dto::PluginAnswer> = listed
        .into_iter()
        .map(|p| dto::PluginAnswer {
            nodes: p
                .loaded
                .iter()
                .flat_map(|l| &l.nodes)
                .map(|n| dto::NodeInfo {
                    name: n.name.clone(),
                    kind: n.kind,
                    title: n.title.clone(),
                    description: n.description.clone(),
                    // A schema that is not JSON (the plugin's fault) shows as none.
                    config_schema: serde_json::from_str(&n.config_schema).unwrap_or(Value::Null),
                    ports: n.ports.clone(),
                })
                .collect(),
            name: p.name,
            version: p.version,
            digest: p.digest,
            credential_types: p.loaded.as_ref().map(|l| l.credential_types.clone()).unwrap_or_default(),
            requested: p.requested,
            grants: p.grant,
            registry: p.locked.as_ref().map(|l| l.registry.clone()),
            range: p.locked.map(|l| l.range),
        })
        .collect();
    ok(plugins)
}

/// `grant_http=PATTERN`, `grant_http_internal=HOST` (each repeatable) and
/// `grant_kv=true` from a query string.
fn grant_from_query(uri: &Uri) -> Result<GrantEntry, ApiError> {
    let mut grant = GrantEntry::default();
    for (key, value) in url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "grant_http" => grant.http.push(value.into_owned()),
            "grant_http_internal" => grant.http_internal.push(value.into_owned()),
            "grant_credential" => grant.credentials.push(value.into_owned()),
            "grant_event" => grant.events.push(value.into_owned()),
            "grant_kv" => grant.kv = value == "true",
            other => {
                let known = "grant_http, grant_http_internal, grant_credential, grant_event, grant_kv";
                return Err(ApiError::bad_request(format!("unknown parameter `{other}`: {known}")));
            }
        }
    }
    Ok(grant)
}

async fn install_plugin(State(state): State<Arc<AppState>>, uri: Uri, body: Bytes) -> ApiResult {
    let grant = grant_from_query(&uri)?;
    let added = state.manager.add(body.to_vec(), grant, false).await?;
    created(dto::PluginAdded { name: added.name, version: added.version, digest: added.digest, grants: added.grant })
}

/// How the server decides an install's grant: from the request's grants
/// only (a server has nobody to ask).
fn server_decide(
    flags: &GrantFlags,
) -> impl FnMut(&str, &Capabilities, Option<&GrantEntry>) -> anyhow::Result<GrantEntry> + Send + '_ {
    move |name, requested, earlier| {
        flags.decide(requested, earlier).ok_or_else(|| {
            let how = "grants (the CLI's --grant) http=PATTERN, kv or all";
            anyhow::anyhow!(ungranted_refusal(name, requested, how, "the grant none"))
        })
    }
}

/// A registry install's refusal, naming the trust store it was checked against.
fn install_refusal(state: &AppState, e: PluginError) -> ApiError {
    match e {
        PluginError::Refused(message) => {
            let trust = state.manager.home().trust_store_path();
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("refused by the server (its trust store: {}): {message}", trust.display()),
            )
        }
        other => other.into(),
    }
}

/// What an install from a registry answers.
fn installed_answer(state: &AppState, installed: Installed) -> dto::PluginInstalled {
    dto::PluginInstalled {
        requested: state.plugins.requested(&installed.name, &installed.version).unwrap_or_default(),
        digest: installed.locked.component_sha256,
        registry: installed.locked.registry,
        name: installed.name,
        version: installed.version,
        grants: installed.grant,
        not_granted: installed.not_granted,
        notes: installed.notes,
    }
}

/// `POST /plugins/install`: resolve, download, verify and install from a
/// registry into the served data directory, as `wirework plugin install`
/// does (lockfile, revocations, trust), and load it: it runs from now on.
/// Grants come from the body only; a package requesting capabilities
/// without them is refused, as on a terminal-less CLI.
/// What an install or a preview asks of a registry: `publisher/name@RANGE`
/// from a registry at an `http://` or `https://` URL (else 400, before
/// anything is fetched).
fn registry_request(plugin: &str, registry: String, trust_on_first_use: bool) -> Result<RegistryRequest, ApiError> {
    match url::Url::parse(&registry) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
        _ => {
            return Err(ApiError::bad_request(format!(
                "the registry `{registry}` is not an http:// or https:// URL (e.g. https://registry.example.com)"
            )))
        }
    }
    let (name, range) = parse_spec(plugin).map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    Ok(RegistryRequest { name, range, registry, trust_on_first_use, locked: None })
}

async fn install_from_registry(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult {
    let request: dto::RegistryInstallRequest = parse_json(&body)?;
    let registry = registry_request(&request.plugin, request.registry, request.trust_on_first_use)?;
    let flags = GrantFlags::parse(&request.grants).map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    // In a task of its own: a client that gives up does not stop it half-way.
    let install = tokio::spawn(async move {
        let installed = state.manager.install(&registry, &mut server_decide(&flags)).await;
        installed.map(|i| installed_answer(&state, i)).map_err(|e| install_refusal(&state, e))
    });
    created(install.await.map_err(|e| ApiError::internal(anyhow::anyhow!("the install task stopped: {e}")))??)
}

/// `POST /plugins/install/preview`: resolve, download and verify as an
/// install would, and answer what the version requests, installing
/// nothing: the studio's capability prompt asks the operator about these.
async fn preview_install(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult {
    let request: dto::RegistryPreviewRequest = parse_json(&body)?;
    let registry = registry_request(&request.plugin, request.registry, request.trust_on_first_use)?;
    let preview = tokio::spawn(async move {
        let review = state.manager.preview(&registry).await.map_err(|e| install_refusal(&state, e))?;
        Ok::<_, ApiError>(dto::PluginPreview {
            grants: review.earlier,
            name: review.name,
            version: review.version,
            requested: review.requested,
            key_id: review.key_id,
            registry: review.registry,
            notes: review.notes,
        })
    });
    ok(preview.await.map_err(|e| ApiError::internal(anyhow::anyhow!("the preview task stopped: {e}")))??)
}

/// `POST /plugins/install-locked`: install exactly the versions and digests
/// of a lockfile (the body's, or the server's own), each from the registry
/// its entry names, as `wirework plugin install --locked` does, and load
/// them. Entries go in order and the first that fails stops the rest: it is
/// answered with the status its install would get, naming the entries
/// installed before it (which stay).
async fn install_locked(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult {
    let request: dto::LockedInstallRequest = if body.is_empty() { Default::default() } else { parse_json(&body)? };
    let flags = GrantFlags::parse(&request.grants).map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    let sent = match &request.lockfile {
        Some(text) => Some(
            Lockfile::parse(text).map_err(|e| ApiError::bad_request(format!("the lockfile does not parse: {e:#}")))?,
        ),
        None => None,
    };
    // In a task of its own, as an install: a client that gives up does not stop it.
    let install = tokio::spawn(async move {
        let mut decide = server_decide(&flags);
        match state.manager.install_locked(sent, request.trust_on_first_use, &mut decide).await {
            Ok(installed) => Ok(installed.into_iter().map(|i| installed_answer(&state, i)).collect::<Vec<_>>()),
            Err(failure) => {
                let message = failure.to_string();
                let mut answer = install_refusal(&state, failure.error);
                answer.message = message;
                Err(answer)
            }
        }
    });
    let installed =
        install.await.map_err(|e| ApiError::internal(anyhow::anyhow!("the install task stopped: {e}")))??;
    created(dto::PluginsInstalled { plugins: installed })
}

/// `POST /plugins/upgrade`: for each plugin in the served data directory's
/// lockfile (or each one named), install the newest version in its locked
/// range from its registry, beside the versions installed, and load it, as
/// `wirework plugin upgrade` does on a data directory. Deployed workflows
/// keep the versions they pinned until deployed again. Answers each plugin's
/// outcome (`upgraded`, `current` or `failed`); one that fails does not stop
/// the others.
async fn upgrade_from_registry(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult {
    let request: dto::UpgradeRequest = if body.is_empty() { Default::default() } else { parse_json(&body)? };
    let flags = GrantFlags::parse(&request.grants).map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    // In a task of its own, as an install: a client that gives up does not stop it.
    let upgrade = tokio::spawn(async move {
        let upgrades = state.manager.upgrade(&request.plugins, &mut server_decide(&flags)).await?;
        Ok::<_, ApiError>(upgrades.into_iter().map(|u| upgrade_answer(&state, u)).collect::<Vec<_>>())
    });
    let outcomes =
        upgrade.await.map_err(|e| ApiError::internal(anyhow::anyhow!("the upgrade task stopped: {e}")))??;
    ok(dto::PluginUpgrades { plugins: outcomes })
}

/// One plugin's outcome, as answered by `POST /plugins/upgrade`.
fn upgrade_answer(state: &AppState, upgrade: Upgrade) -> dto::PluginUpgrade {
    let from = upgrade.from;
    let mut answer = dto::PluginUpgrade {
        name: from.name,
        from: from.version,
        range: from.range,
        registry: from.registry,
        outcome: dto::UpgradeOutcome::Current,
        installed: None,
        status: None,
        error: None,
    };
    match upgrade.outcome {
        Ok(None) => {}
        Ok(Some(installed)) => {
            let installed = installed_answer(state, installed);
            answer.outcome = dto::UpgradeOutcome::Upgraded;
            answer.installed = Some(dto::UpgradedTo {
                version: installed.version,
                digest: installed.digest,
                requested: installed.requested,
                grants: installed.grants,
                not_granted: installed.not_granted,
                notes: installed.notes,
            });
        }
        Err(e) => {
            let e = install_refusal(state, e);
            answer.outcome = dto::UpgradeOutcome::Failed;
            answer.status = Some(e.status.as_u16());
            answer.error = Some(e.message);
        }
    }
    answer
}

/// `POST /plugins/refresh`: fetch the registries' revocation lists now.
async fn refresh_plugins(State(state): State<Arc<AppState>>) -> ApiResult {
    let (revocations, failures) = state.manager.refresh().await?;
    ok(dto::Refreshed { revocations, unreachable: failures })
}

#[derive(Deserialize)]
struct RemoveQuery {
    #[serde(default)]
    force: bool,
}

async fn remove_plugin(
    State(state): State<Arc<AppState>>,
    Path((publisher, name, version)): Path<(String, String, String)>,
    Query(query): Query<RemoveQuery>,
) -> ApiResult {
    let name = format!("{publisher}/{name}");
    let version = Version::parse(&version).map_err(|e| ApiError::bad_request(format!("`{version}`: {e}")))?;
    state.manager.remove(&name, &version, query.force).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn get_grants(State(state): State<Arc<AppState>>, Path((publisher, name)): Path<(String, String)>) -> ApiResult {
    ok(state.manager.grant(&format!("{publisher}/{name}"))?)
}

async fn set_grants(
    State(state): State<Arc<AppState>>,
    Path((publisher, name)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let grant: dto::Grants = parse_json(&body)?;
    ok(state.manager.set_grant(&format!("{publisher}/{name}"), grant).await?)
}

// ---- credentials ----

async fn list_credentials(State(state): State<Arc<AppState>>) -> ApiResult {
    ok(state.secrets.list().map_err(ApiError::internal)?)
}

fn check_name(name: &str, what: &str) -> Result<(), ApiError> {
    if super::secrets::valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!("`{name}`: a {what} name is 1 to 128 letters, digits, `-`, `_` or `.`")))
    }
}

async fn set_credential(State(state): State<Arc<AppState>>, Path(name): Path<String>, body: Bytes) -> ApiResult {
    check_name(&name, "credential")?;
    let request: dto::CredentialRequest = parse_json(&body)?;
    let value = credential_value(&state, request)?;
    state.secrets.set(&name, &value).await.map_err(ApiError::internal)?;
    tracing::info!(credential = %name, "credential set");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The value a credential request sets, checked against the credential
/// type an installed plugin declares (any installed version of it).
fn credential_value(state: &AppState, request: dto::CredentialRequest) -> Result<CredentialValue, ApiError> {
    let (kind, fields) = match request {
        dto::CredentialRequest { value: Some(value), kind: None, fields: None } => {
            return Ok(CredentialValue::Plain(value));
        }
        dto::CredentialRequest { value: None, kind: Some(kind), fields: Some(fields) } => (kind, fields),
        _ => {
            return Err(ApiError::bad_request(
                "a credential is either `{\"value\": ...}` or `{\"type\": ..., \"fields\": {...}}`",
            ))
        }
    };
    let declared = state.plugins.credential_type(&kind).map_err(ApiError::bad_request)?;
    let unknown: Vec<&str> = fields.keys().filter(|f| declared.field(f).is_none()).map(String::as_str).collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = declared.fields.iter().map(|f| f.name.as_str()).collect();
        return Err(ApiError::bad_request(format!(
            "`{kind}` has no field {} (it has {})",
            unknown.join(", "),
            known.join(", ")
        )));
    }
    let missing: Vec<&str> = declared
        .fields
        .iter()
        .filter(|f| !f.optional && fields.get(&f.name).is_none_or(String::is_empty))
        .map(|f| f.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::bad_request(format!("`{kind}` needs field {}", missing.join(", "))));
    }
    Ok(CredentialValue::Typed { kind, fields })
}

async fn delete_credential(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> ApiResult {
    if !state.secrets.delete(&name).await.map_err(ApiError::internal)? {
        return Err(ApiError::not_found(format!("no credential `{name}`")));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- events ----

async fn emit(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult {
    let dto::EventRequest { name, payload } = parse_json(&body)?;
    if name.trim().is_empty() {
        return Err(ApiError::bad_request("an event needs a name"));
    }
    if !payload.is_object() {
        return Err(ApiError::bad_request("an event's payload must be a JSON object"));
    }
    ok(state.engine.emit_event(&name, payload).await?)
}

/// `GET /schedule-preview?cron=EXPR[&timezone=ZONE][&count=N]`: the next
/// times a schedule trigger with this cron and zone fires (the studio shows
/// them beside the fields), or a 400 saying why the expression is refused.
async fn schedule_preview(Query(query): Query<HashMap<String, String>>) -> ApiResult {
    let cron = query.get("cron").map(String::as_str).unwrap_or_default();
    let count = match query.get("count") {
        Some(n) => {
            n.parse::<usize>().map_err(|_| ApiError::bad_request(format!("`count` must be a number, not `{n}`")))?
        }
        None => 5,
    }
    .clamp(1, 50);
    let schedule = crate::engine::schedule::CronSchedule::parse(cron, query.get("timezone").map(String::as_str))
        .map_err(ApiError::bad_request)?;
    let mut next = Vec::with_capacity(count);
    let mut after = crate::engine::now_ms();
    while next.len() < count {
        let Some(at) = schedule.next_after(after) else { break };
        next.push(json!({"at_ms": at, "local": schedule.format(at)}));
        after = at;
    }
    ok(json!({"next": next}))
}

// ---- tokens ----

async fn list_tokens(State(state): State<Arc<AppState>>) -> ApiResult {
    ok(state.tokens.list().map_err(ApiError::internal)?)
}

async fn create_token(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult {
    let dto::TokenRequest { name } = parse_json(&body)?;
    check_name(&name, "token")?;
    let token = state.tokens.create(&name).await.map_err(ApiError::internal)?;
    created(dto::NewToken { name, token })
}

async fn revoke_token(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> ApiResult {
    if !state.tokens.revoke(&name).await.map_err(ApiError::internal)? {
        return Err(ApiError::not_found(format!("no token `{name}`")));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::OPENAPI;

    /// Every route of the router is documented (path and method).
    #[test]
    fn openapi_documents_every_route() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
        let source = include_str!("api.rs");
        let mut checked = 0;
        for line in source.lines().map(str::trim).filter(|l| l.starts_with(".route(\"")) {
            let path = line.split('"').nth(1).unwrap();
            let path = format!("/api/v1{path}");
            let entry = doc["paths"].get(&path).unwrap_or_else(|| panic!("{path} is not in openapi.json"));
            for method in ["get", "post", "put", "delete"] {
                let used = line.contains(&format!(" {method}(")) || line.contains(&format!(".{method}("));
                if used {
                    assert!(entry.get(method).is_some(), "{method} {path} is not in openapi.json");
                    checked += 1;
                }
            }
        }
        assert!(checked >= 24, "only {checked} routes found: did the router's layout change?");
    }
}
