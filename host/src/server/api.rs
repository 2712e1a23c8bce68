//! The management API under `/api/v1`: workflows, executions, plugins,
//! credentials, events and tokens. Every route but `openapi.json` needs
//! `Authorization: Bearer <token>`. Errors are `{"error": ...}` (with
//! `problems` for invalid workflows). The routes are listed, with their
//! bodies, in `openapi.json` next to this file.

use super::{ApiError, AppState};
use crate::engine::{ExecutionFilter, RetryMode, Status};
use crate::instance::plugins_dir;
use crate::plugins::registry::{
    lockfile_path, newer_in_range, parse_spec, prepare, read_revocations, ungranted_refusal, GrantFlags, Locked,
    Lockfile, Source,
};
use crate::plugins::{check_not_replacing, package_path, read_grants, write_grant, GrantEntry, VersionConflict};
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
use wirework_registry::client::ClientError;
use wirework_registry::manifest::Capabilities;
use wirework_registry::package::sha256_hex;
use wirework_registry::{Package, TrustStore};

/// The OpenAPI 3.1 document of this API (kept by hand next to the routes;
/// a test checks every route below is in it).
pub(super) const OPENAPI: &str = include_str!("openapi.json");

/// Largest plugin package accepted for upload.
const MAX_PACKAGE_BYTES: usize = 64 * 1024 * 1024;

type ApiResult = Result<Response, ApiError>;

pub(super) fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    let protected = Router::new()
        .route("/workflows", get(list_workflows).post(deploy))
        .route("/workflows/{id}", get(get_workflow))
        .route("/workflows/{id}/activate", post(activate))
        .route("/workflows/{id}/deactivate", post(deactivate))
        .route("/workflows/{id}/versions", get(versions))
        .route("/workflows/{id}/rollback", post(rollback))
        .route("/workflows/{id}/executions", post(start))
        .route("/executions", get(list_executions))
        .route("/executions/{id}", get(get_execution))
        .route("/executions/{id}/retry", post(retry))
        .route("/executions/{id}/cancel", post(cancel))
        .route("/plugins", get(list_plugins).post(install_plugin).layer(DefaultBodyLimit::max(MAX_PACKAGE_BYTES)))
        .route("/plugins/install", post(install_from_registry))
        .route("/plugins/upgrade", post(upgrade_from_registry))
        .route("/plugins/install-locked", post(install_locked))
        .route("/plugins/refresh", post(refresh_plugins))
        .route("/plugins/{publisher}/{name}/{version}", delete(remove_plugin))
        .route("/plugins/{publisher}/{name}/grants", get(get_grants).put(set_grants))
        .route("/credentials", get(list_credentials))
        .route("/credentials/{name}", put(set_credential).delete(delete_credential))
        .route("/events", post(emit))
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{name}", delete(revoke_token))
        .route_layer(middleware::from_fn_with_state(state, require_token));
    Router::new().route("/openapi.json", get(openapi)).merge(protected)
}

async fn require_token(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let header = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let refuse = |message: &str| {
        let mut response = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
        response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        response
    };
    let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")).map(str::trim) else {
        return refuse("this API needs `Authorization: Bearer <token>` (see `wirework token create`)");
    };
    match state.tokens.check(token) {
        Ok(Some(_)) => next.run(request).await,
        Ok(None) => refuse("unknown or revoked token"),
        Err(e) => ApiError::internal(e).into_response(),
    }
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

fn refresh_hooks(state: &AppState) -> Result<(), ApiError> {
    state.hooks.refresh(&state.engine).map_err(ApiError::internal)
}

// ---- workflows ----

async fn list_workflows(State(state): State<Arc<AppState>>) -> ApiResult {
    ok(state.engine.workflows().map_err(ApiError::internal)?)
}

async fn deploy(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult {
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("the definition is not UTF-8"))?;
    let deployed = state.engine.deploy_text(text).await?;
    refresh_hooks(&state)?;
    created(deployed)
}

async fn get_workflow(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult {
    let head = state.engine.head(&id).map_err(ApiError::internal)?;
    let head = head.ok_or_else(|| ApiError::not_found(format!("no workflow `{id}`")))?;
    let version = state.engine.workflow(&id, Some(head.current))?;
    ok(json!({
        "id": head.id, "current": head.current, "latest": head.latest, "active": head.active,
        "definition": version.workflow, "pins": version.pins,
    }))
}

async fn activate(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult {
    let head = state.engine.set_active(&id, true).await?;
    refresh_hooks(&state)?;
    ok(head)
}

async fn deactivate(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult {
    let head = state.engine.set_active(&id, false).await?;
    refresh_hooks(&state)?;
    ok(head)
}

async fn versions(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult {
    let versions = state.engine.versions(&id).map_err(ApiError::internal)?;
    if versions.is_empty() {
        return Err(ApiError::not_found(format!("no workflow `{id}`")));
    }
    ok(versions)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    version: u32,
}

async fn rollback(State(state): State<Arc<AppState>>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let RollbackBody { version } = parse_json(&body)?;
    let head = state.engine.rollback(&id, version).await?;
    refresh_hooks(&state)?;
    ok(head)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    #[serde(default)]
    trigger: Option<String>,
    #[serde(default)]
    items: Vec<Value>,
}

async fn start(State(state): State<Arc<AppState>>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let StartBody { trigger, items } =
        if body.is_empty() { StartBody { trigger: None, items: Vec::new() } } else { parse_json(&body)? };
    let items = if items.is_empty() { vec![json!({})] } else { items };
    if let Some(bad) = items.iter().find(|i| !i.is_object()) {
        return Err(ApiError::bad_request(format!("items must be JSON objects, not {bad}")));
    }
    let execution = state.engine.start(&id, trigger.as_deref(), items).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"execution_id": execution}))).into_response())
}

// ---- executions ----

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetryBody {
    #[serde(default)]
    mode: Option<String>,
}

async fn retry(State(state): State<Arc<AppState>>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let RetryBody { mode } = if body.is_empty() { RetryBody { mode: None } } else { parse_json(&body)? };
    let mode = match mode.as_deref() {
        None | Some("from_failed") => RetryMode::FromFailed,
        Some("from_start") => RetryMode::FromStart,
        Some(other) => return Err(ApiError::bad_request(format!("unknown mode `{other}`: from_failed or from_start"))),
    };
    let execution = state.engine.retry(&id, mode).await?;
    ok(json!({"execution_id": execution}))
}

async fn cancel(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult {
    state.engine.cancel(&id).await?;
    let status = state.engine.execution(&id).map_err(ApiError::internal)?.map(|r| r.status);
    ok(json!({"execution_id": id, "status": status}))
}

// ---- plugins ----

async fn list_plugins(State(state): State<Arc<AppState>>) -> ApiResult {
    let grants = read_grants(&plugins_dir(&state.data_dir)).map_err(ApiError::internal)?;
    let plugins: Vec<Value> = state
        .plugins
        .list()
        .into_iter()
        .map(|p| {
            let requested = state.plugins.requested(&p.name, &p.version).unwrap_or_default();
            let nodes: Vec<Value> =
                p.nodes.iter().map(|n| json!({"name": n.name, "kind": n.kind, "title": n.title})).collect();
            json!({
                "name": p.name, "version": p.version, "digest": p.digest, "nodes": nodes,
                "requested": requested, "grants": grants.get(&p.name).cloned().unwrap_or_default(),
            })
        })
        .collect();
    ok(plugins)
}

fn trust(state: &AppState) -> Result<TrustStore, ApiError> {
    TrustStore::load(&state.home.trust_store_path()).map_err(ApiError::internal)
}

/// `grant_http=HOST` (repeatable) and `grant_kv=true` from a query string.
fn grant_from_query(uri: &Uri) -> Result<GrantEntry, ApiError> {
    let mut grant = GrantEntry::default();
    for (key, value) in url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "grant_http" => grant.http.push(value.into_owned()),
            "grant_kv" => grant.kv = value == "true",
            other => return Err(ApiError::bad_request(format!("unknown parameter `{other}`: grant_http, grant_kv"))),
        }
    }
    Ok(grant)
}

async fn install_plugin(State(state): State<Arc<AppState>>, uri: Uri, body: Bytes) -> ApiResult {
    let grant = grant_from_query(&uri)?;
    let package = Package::from_bytes(&body).map_err(|e| ApiError::bad_request(format!("not a package: {e}")))?;
    let trust = trust(&state)?;
    let verified = package
        .clone()
        .verify(&trust)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("refused: {e}")))?;
    let (name, version) = (verified.manifest.plugin.name.clone(), verified.manifest.plugin.version.clone());
    let _guard = state.plugin_lock.lock().await;
    let dir = plugins_dir(&state.data_dir);
    refuse_replacing(&state, &name, &version, &package)?;
    // Compile and link first, and make it available only once it is written:
    // a package that cannot load, or cannot be written, leaves nothing behind.
    let plugin =
        state.plugins.compile(package, &trust, &grant).await.map_err(|e| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("cannot load {name} {version}: {e:#}"))
        })?;
    let path = package_path(&dir, &name, &version);
    let existed = path.exists();
    let write = || -> anyhow::Result<()> {
        std::fs::create_dir_all(&dir)?;
        wirework_registry::write_atomically(&path, &body)?;
        write_grant(&dir, &name, grant.clone())
    };
    if let Err(e) = write() {
        // The same contents may have been there before; a new file goes.
        if !existed {
            let _ = std::fs::remove_file(&path);
        }
        return Err(ApiError::internal(e));
    }
    let loaded = state.plugins.add(plugin);
    // The grant is per plugin: versions installed before get it too.
    reload_with(&state, &name, &grant, Some(&version)).await?;
    tracing::info!(plugin = %name, %version, "installed");
    created(json!({"name": loaded.name, "version": loaded.version, "digest": loaded.digest, "grants": grant}))
}

/// The body of `POST /plugins/install`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryInstall {
    /// `publisher/name@RANGE`.
    plugin: String,
    /// The registry's URL.
    registry: String,
    /// `http=PATTERN`, `kv`, `all` or `none` (see [`GrantFlags`]).
    #[serde(default)]
    grants: Vec<String>,
    /// Trust the publisher's current key if the server trusts none of its keys yet.
    #[serde(default)]
    trust_on_first_use: bool,
}

/// `POST /plugins/install`: resolve, download, verify and install from a
/// registry into the served data directory, as `wirework plugin install`
/// does (lockfile, revocations, trust), and load it: it runs from now on.
/// Grants come from the body only; a package requesting capabilities
/// without them is refused, as on a terminal-less CLI.
async fn install_from_registry(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult {
    let request: RegistryInstall = parse_json(&body)?;
    let (name, range) = parse_spec(&request.plugin).map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    let flags = GrantFlags::parse(&request.grants).map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    // In a task of its own: a client that gives up does not stop it half-way.
    let install = tokio::spawn(async move {
        let _one_at_a_time = state.registry_lock.lock().await;
        let from = RegistrySource { url: &request.registry, trust_on_first_use: request.trust_on_first_use };
        install_and_load(&state, &name, &range, from, &flags, None).await
    });
    created(install.await.map_err(|e| ApiError::internal(anyhow::anyhow!("the install task stopped: {e}")))??)
}

/// Which registry a server install comes from, and whether it may trust the
/// publisher's key on first use.
#[derive(Clone, Copy)]
struct RegistrySource<'a> {
    url: &'a str,
    trust_on_first_use: bool,
}

/// Install the newest version of `name` in `range` from `from` into the
/// served data directory and load it; what was installed, as answered by
/// `POST /plugins/install`. With `locked`, the registry must present the
/// key and the package the digests that entry names. The caller holds
/// `registry_lock`.
async fn install_and_load(
    state: &AppState,
    name: &str,
    range: &semver::VersionReq,
    from: RegistrySource<'_>,
    flags: &GrantFlags,
    locked: Option<&Locked>,
) -> Result<Value, ApiError> {
    let mut decide = |name: &str, requested: &Capabilities, earlier: Option<&GrantEntry>| {
        flags.decide(requested, earlier).ok_or_else(|| {
            let how = "grants (the CLI's --grant) http=PATTERN, kv or all";
            anyhow::anyhow!(ungranted_refusal(name, requested, how, "the grant none"))
        })
    };
    let source = Source {
        home: &state.home,
        data_dir: &state.data_dir,
        registry: from.url,
        trust_on_first_use: from.trust_on_first_use,
    };
    // The registry's traffic happens before the plugin lock is taken.
    let prepared = prepare(&source, name, range, locked, &mut decide).await.map_err(|e| registry_refusal(state, e))?;
    let _guard = state.plugin_lock.lock().await;
    // The plugin's grant may have changed while the registry was asked.
    let mut prepared = prepared;
    prepared
        .decide_again(&state.data_dir, &mut decide)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("refused by the server: {e:#}")))?;
    let version = prepared.version.clone();
    // Compile and link first, and make it available only once it is written:
    // a package that cannot load, or cannot be written, leaves nothing behind.
    let package = Package::from_bytes(&prepared.bytes).map_err(ApiError::internal)?;
    refuse_replacing(state, name, &version, &package)?;
    let plugin =
        state.plugins.compile(package, &prepared.trust, &prepared.grant).await.map_err(|e| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("cannot load {name} {version}: {e:#}"))
        })?;
    let installed = prepared.commit(&state.home, &state.data_dir).map_err(conflict_or_internal)?;
    let loaded = state.plugins.add(plugin);
    // The registry's revocations (now in the data directory's list) apply
    // from now on, not only from the next refresh.
    match read_revocations(&state.data_dir) {
        Ok(revocations) => state.plugins.set_revocations(revocations),
        Err(e) => tracing::warn!("revocations not reloaded after an install: {e:#}"),
    }
    // The grant is per plugin: versions installed before get it too. The new
    // version is installed and running by now, so a failure here is told,
    // not answered as a failed install.
    let mut notes = installed.notes.clone();
    if let Err(e) = reload_with(state, name, &installed.grant, Some(&version)).await {
        tracing::error!(plugin = %name, "earlier versions not reloaded with the new grant: {}", e.message);
        notes.push(format!(
            "the versions of {name} installed before keep their old grant until the server restarts: {}",
            e.message
        ));
    }
    tracing::info!(plugin = %name, %version, registry = %installed.locked.registry, "installed from the registry");
    Ok(json!({
        "name": loaded.name,
        "version": loaded.version,
        "digest": loaded.digest,
        "requested": state.plugins.requested(&loaded.name, &loaded.version).unwrap_or_default(),
        "grants": installed.grant,
        "not_granted": installed.not_granted,
        "registry": installed.locked.registry,
        "notes": notes,
    }))
}

/// 409 when `name` `version` is installed with other contents than
/// `package`: in the data directory, or as the server loaded it.
fn refuse_replacing(
    state: &AppState,
    name: &str,
    version: &semver::Version,
    package: &Package,
) -> Result<(), ApiError> {
    check_not_replacing(&plugins_dir(&state.data_dir), name, version, package).map_err(conflict_or_internal)?;
    match state.plugins.component_digest(name, version) {
        Some(loaded) if loaded != sha256_hex(&package.component) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "{name} {version} is loaded already, with other code (component sha256 {}…); an installed version \
                 is never replaced, since executions pin it: publish the change as a new version, or remove \
                 {name}@{version} first",
                &loaded[..12]
            ),
        )),
        _ => Ok(()),
    }
}

/// 409 for a [`VersionConflict`], else 500.
fn conflict_or_internal(e: anyhow::Error) -> ApiError {
    match e.downcast_ref::<VersionConflict>() {
        Some(conflict) => ApiError::new(StatusCode::CONFLICT, conflict.to_string()),
        None => ApiError::internal(e),
    }
}

/// The answer to an install or upgrade that the registry step refused or
/// could not do: 502 when the registry cannot be reached or fails, 500 for
/// the server's own I/O, else 422 naming the server's trust store.
fn registry_refusal(state: &AppState, e: anyhow::Error) -> ApiError {
    let status = e
        .chain()
        .find_map(|cause| match cause.downcast_ref::<ClientError>() {
            Some(ClientError::Transport { .. }) => Some(StatusCode::BAD_GATEWAY),
            Some(ClientError::Refused { status, .. }) if *status >= 500 => Some(StatusCode::BAD_GATEWAY),
            _ => None,
        })
        .or_else(|| e.chain().any(|c| c.is::<std::io::Error>()).then_some(StatusCode::INTERNAL_SERVER_ERROR))
        .unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    let message = match status {
        StatusCode::UNPROCESSABLE_ENTITY => {
            let trust = state.home.trust_store_path();
            format!("refused by the server (its trust store: {}): {e:#}", trust.display())
        }
        _ => format!("{e:#}"),
    };
    ApiError::new(status, message)
}

/// The body of `POST /plugins/install-locked`.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockedInstall {
    /// A lockfile's text (TOML); the server's own lockfile when absent.
    #[serde(default)]
    lockfile: Option<String>,
    /// `http=PATTERN`, `kv`, `all` or `none` (see [`GrantFlags`]).
    #[serde(default)]
    grants: Vec<String>,
    /// Trust a publisher's current key if the server trusts none of its keys yet.
    #[serde(default)]
    trust_on_first_use: bool,
}

/// `POST /plugins/install-locked`: install exactly the versions and digests
/// of a lockfile (the body's, or the server's own), each from the registry
/// its entry names, as `wirework plugin install --locked` does, and load
/// them. Entries go in order and the first that fails stops the rest: it is
/// answered with the status its install would get, naming the entries
/// installed before it (which stay).
async fn install_locked(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult {
    let request: LockedInstall = if body.is_empty() { LockedInstall::default() } else { parse_json(&body)? };
    let flags = GrantFlags::parse(&request.grants).map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    let sent = match &request.lockfile {
        Some(text) => Some(
            Lockfile::parse(text).map_err(|e| ApiError::bad_request(format!("the lockfile does not parse: {e:#}")))?,
        ),
        None => None,
    };
    // In a task of its own, as an install: a client that gives up does not stop it.
    let install = tokio::spawn(async move {
        // The server's own lockfile is read under the lock, as an upgrade's.
        let _one_at_a_time = state.registry_lock.lock().await;
        let lock = match sent {
            Some(lock) => lock,
            None => Lockfile::load(&lockfile_path(&state.data_dir)).map_err(ApiError::internal)?,
        };
        if lock.plugins.is_empty() {
            return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "the lockfile locks no plugins"));
        }
        let mut installed: Vec<Value> = Vec::with_capacity(lock.plugins.len());
        for entry in &lock.plugins {
            let from = RegistrySource { url: &entry.registry, trust_on_first_use: request.trust_on_first_use };
            match install_and_load(&state, &entry.name, &entry.exact(), from, &flags, Some(entry)).await {
                Ok(answer) => installed.push(answer),
                Err(mut e) => {
                    let before: Vec<String> = installed
                        .iter()
                        .map(|i| {
                            format!("{}@{}", i["name"].as_str().unwrap_or("?"), i["version"].as_str().unwrap_or("?"))
                        })
                        .collect();
                    // What the kept installs would have told (a registry
                    // pinned, a key trusted) is not lost with the answer.
                    let notes: Vec<&str> = installed
                        .iter()
                        .flat_map(|i| i["notes"].as_array().into_iter().flatten().filter_map(Value::as_str))
                        .collect();
                    let before = match (before.is_empty(), notes.is_empty()) {
                        (true, _) => String::new(),
                        (false, true) => format!(" (installed before it, and kept: {})", before.join(", ")),
                        (false, false) => format!(
                            " (installed before it, and kept: {}; their notes: {})",
                            before.join(", "),
                            notes.join("; ")
                        ),
                    };
                    e.message = format!("{}@{}: {}{before}", entry.name, entry.version, e.message);
                    return Err(e);
                }
            }
        }
        Ok(installed)
    });
    let installed =
        install.await.map_err(|e| ApiError::internal(anyhow::anyhow!("the install task stopped: {e}")))??;
    created(json!({ "plugins": installed }))
}

/// The body of `POST /plugins/upgrade`; an empty body upgrades every plugin.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryUpgrade {
    /// Only these plugins (`publisher/name`); every plugin in the lockfile when empty.
    #[serde(default)]
    plugins: Vec<String>,
    /// `http=PATTERN`, `kv`, `all` or `none`, for what a newer version
    /// requests beyond its plugin's grant (see [`GrantFlags`]).
    #[serde(default)]
    grants: Vec<String>,
}

/// `POST /plugins/upgrade`: for each plugin in the served data directory's
/// lockfile (or each one named), install the newest version in its locked
/// range from its registry, beside the versions installed, and load it, as
/// `wirework plugin upgrade` does on a data directory. Deployed workflows
/// keep the versions they pinned until deployed again. Answers each plugin's
/// outcome (`upgraded`, `current` or `failed`); one that fails does not stop
/// the others.
async fn upgrade_from_registry(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult {
    let request: RegistryUpgrade = if body.is_empty() { RegistryUpgrade::default() } else { parse_json(&body)? };
    let flags = GrantFlags::parse(&request.grants).map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    // In a task of its own, as an install: a client that gives up does not stop it.
    let upgrade = tokio::spawn(async move {
        // The lockfile is read under the lock: after an upgrade that ran
        // meanwhile, its plugins are current.
        let _one_at_a_time = state.registry_lock.lock().await;
        let lock = Lockfile::load(&lockfile_path(&state.data_dir)).map_err(ApiError::internal)?;
        let newest: Vec<Locked> = match lock.newest(&request.plugins) {
            Ok(newest) => newest.into_values().cloned().collect(),
            Err(name) => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("{name} was not installed from a registry (not in the server's lockfile)"),
                ))
            }
        };
        let mut outcomes = Vec::with_capacity(newest.len());
        for entry in &newest {
            outcomes.push(upgrade_one(&state, entry, &flags).await);
        }
        Ok(outcomes)
    });
    let outcomes =
        upgrade.await.map_err(|e| ApiError::internal(anyhow::anyhow!("the upgrade task stopped: {e}")))??;
    ok(json!({ "plugins": outcomes }))
}

/// Upgrade the plugin of `entry` (its newest locked version) to the newest
/// version in its range, if there is a newer one; its outcome as answered
/// by `POST /plugins/upgrade`.
async fn upgrade_one(state: &AppState, entry: &Locked, flags: &GrantFlags) -> Value {
    let mut outcome = json!({
        "name": entry.name,
        "from": entry.version,
        "range": entry.range,
        "registry": entry.registry,
    });
    let failed = |mut outcome: Value, e: ApiError| {
        outcome["outcome"] = json!("failed");
        outcome["status"] = json!(e.status.as_u16());
        outcome["error"] = json!(e.message);
        outcome
    };
    let range = match semver::VersionReq::parse(&entry.range) {
        Ok(range) => range,
        Err(e) => {
            let message = format!("the lockfile's range `{}` is not a version range: {e}", entry.range);
            return failed(outcome, ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message));
        }
    };
    let newer = match newer_in_range(&state.home, entry, &range).await {
        Ok(newer) => newer,
        Err(e) => return failed(outcome, registry_refusal(state, e)),
    };
    if newer.is_none() {
        outcome["outcome"] = json!("current");
        return outcome;
    }
    let from = RegistrySource { url: &entry.registry, trust_on_first_use: false };
    match install_and_load(state, &entry.name, &range, from, flags, None).await {
        Ok(installed) => {
            outcome["outcome"] = json!("upgraded");
            for field in ["version", "digest", "requested", "grants", "not_granted", "notes"] {
                outcome[field] = installed[field].clone();
            }
            let to = installed["version"].as_str().unwrap_or("?");
            tracing::info!(plugin = %entry.name, from = %entry.version, to, "upgraded");
            outcome
        }
        Err(e) => failed(outcome, e),
    }
}

/// `POST /plugins/refresh`: fetch the registries' revocation lists now.
async fn refresh_plugins(State(state): State<Arc<AppState>>) -> ApiResult {
    let (revocations, failures) = super::refresh_revocations(&state).await.map_err(ApiError::internal)?;
    ok(json!({"revocations": revocations, "unreachable": failures}))
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
    let _guard = state.plugin_lock.lock().await;
    if state.plugins.requested(&name, &version).is_none() {
        return Err(ApiError::not_found(format!("{name} {version} is not installed")));
    }
    if !query.force {
        let users = state.engine.workflows_using(&name, &version).map_err(ApiError::internal)?;
        if !users.is_empty() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "{name} {version} is used by workflow(s) {} (force=true removes it anyway; `--force` in the CLI)",
                    users.join(", ")
                ),
            ));
        }
    }
    let path = package_path(&plugins_dir(&state.data_dir), &name, &version);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ApiError::internal(e)),
    }
    state.plugins.forget(&name, &version);
    Lockfile::update(&lockfile_path(&state.data_dir), |lock| lock.remove(&name, &version))
        .map_err(ApiError::internal)?;
    tracing::info!(plugin = %name, %version, "removed");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `publisher/name`, if some version of it is installed.
fn installed_name(state: &AppState, publisher: &str, name: &str) -> Result<String, ApiError> {
    let name = format!("{publisher}/{name}");
    if !state.plugins.list().iter().any(|p| p.name == name) {
        return Err(ApiError::not_found(format!("{name} is not installed")));
    }
    Ok(name)
}

async fn get_grants(State(state): State<Arc<AppState>>, Path((publisher, name)): Path<(String, String)>) -> ApiResult {
    let name = installed_name(&state, &publisher, &name)?;
    let grants = read_grants(&plugins_dir(&state.data_dir)).map_err(ApiError::internal)?;
    ok(grants.get(&name).cloned().unwrap_or_default())
}

async fn set_grants(
    State(state): State<Arc<AppState>>,
    Path((publisher, name)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let grant: GrantEntry = parse_json(&body)?;
    let _guard = state.plugin_lock.lock().await;
    let name = installed_name(&state, &publisher, &name)?;
    write_grant(&plugins_dir(&state.data_dir), &name, grant.clone()).map_err(ApiError::internal)?;
    reload_with(&state, &name, &grant, None).await?;
    ok(grant)
}

/// Reload every installed version of `name` (but `except`) with `grant`.
async fn reload_with(
    state: &AppState,
    name: &str,
    grant: &GrantEntry,
    except: Option<&Version>,
) -> Result<(), ApiError> {
    let dir = plugins_dir(&state.data_dir);
    let trust = trust(state)?;
    let versions = state.plugins.list().into_iter().filter(|p| p.name == name && Some(&p.version) != except);
    for plugin in versions {
        let package = Package::read(&package_path(&dir, name, &plugin.version)).map_err(ApiError::internal)?;
        state.plugins.load_package(package, &trust, grant).await.map_err(ApiError::internal)?;
    }
    Ok(())
}

// ---- credentials ----

async fn list_credentials(State(state): State<Arc<AppState>>) -> ApiResult {
    ok(state.secrets.list().map_err(ApiError::internal)?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialBody {
    value: String,
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
    let CredentialBody { value } = parse_json(&body)?;
    state.secrets.set(&name, &value).await.map_err(ApiError::internal)?;
    tracing::info!(credential = %name, "credential set");
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_credential(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> ApiResult {
    if !state.secrets.delete(&name).await.map_err(ApiError::internal)? {
        return Err(ApiError::not_found(format!("no credential `{name}`")));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- events ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventBody {
    name: String,
    #[serde(default = "empty_object")]
    payload: Value,
}

fn empty_object() -> Value {
    json!({})
}

async fn emit(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult {
    let EventBody { name, payload } = parse_json(&body)?;
    if name.trim().is_empty() {
        return Err(ApiError::bad_request("an event needs a name"));
    }
    if !payload.is_object() {
        return Err(ApiError::bad_request("an event's payload must be a JSON object"));
    }
    ok(state.engine.emit_event(&name, payload).await?)
}

// ---- tokens ----

async fn list_tokens(State(state): State<Arc<AppState>>) -> ApiResult {
    ok(state.tokens.list().map_err(ApiError::internal)?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    name: String,
}

async fn create_token(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult {
    let TokenBody { name } = parse_json(&body)?;
    check_name(&name, "token")?;
    let token = state.tokens.create(&name).await.map_err(ApiError::internal)?;
    created(json!({"name": name, "token": token}))
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
