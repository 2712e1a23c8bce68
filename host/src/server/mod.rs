//! `wirework serve`: one process serving webhooks, schedules, the management
//! API and metrics over one data directory and its embedded store.
//!
//! - [`config`]: settings from flags, environment, `wirework.toml`.
//! - `hooks`: HTTP triggers at `/hooks/{workflow}/{path}`.
//! - `api`: the management API under `/api/v1` (bearer tokens, `auth`),
//!   described by `/api/v1/openapi.json`.
//! - `secrets`: credentials, encrypted at rest.
//! - [`studio`]: the web studio's files at `/`; [`session`]: its sign-in
//!   (an API token traded for an `HttpOnly`, `SameSite=Strict` cookie).
//!
//! Besides the engine's records (see `engine::records`), the server keeps
//! in the store: `tk/`, `th/` (API tokens, hashed), `cr/` (sealed
//! credentials), `ik/` (answers to webhook requests with an `Idempotency-Key`).
//!
//! Schedules are the engine's (`engine::schedule`): they run whenever the
//! engine is open.

mod api;
mod auth;
pub mod config;
mod hooks;
pub(crate) mod http;
pub mod secrets;
pub mod session;
pub mod studio;

pub use config::ServeConfig;

use crate::data_dir::DataDir;
use crate::engine::{Credentials, EngineConfig, EngineError, Invalid};
use crate::home::Home;
use crate::instance::{Instance, InstanceOptions};
use crate::metrics::Metrics;
use crate::plugins::{InstalledPlugins, PluginError, PluginManager};
use anyhow::Context;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What every handler shares.
pub(crate) struct AppState {
    engine: crate::engine::Engine,
    /// What is loaded: webhooks call their trigger nodes through it.
    plugins: Arc<InstalledPlugins>,
    /// Every change to the installed plugins.
    manager: PluginManager,
    tokens: auth::Tokens,
    /// Browsers signed in to the studio.
    sessions: session::Sessions,
    /// The studio's built files.
    studio: Arc<studio::StudioFiles>,
    secrets: Arc<secrets::SecretStore>,
    idempotency: hooks::KeyLocks,
    metrics: Arc<Metrics>,
    config: ServeConfig,
    ready: AtomicBool,
}

/// An error answer: `{"error": ..., "problems": [...]}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    problems: Option<Vec<crate::engine::Problem>>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into(), problems: None }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    fn invalid(invalid: Invalid) -> ApiError {
        let message = invalid.to_string();
        ApiError { status: StatusCode::BAD_REQUEST, message, problems: Some(invalid.problems) }
    }

    /// A failure of the host itself: logged with its cause, answered 500
    /// without it (callers of webhooks are outsiders).
    fn internal(e: impl Into<anyhow::Error>) -> ApiError {
        let e = e.into();
        tracing::error!("internal error: {e:#}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error (the server's log has the cause)")
    }
}

impl From<PluginError> for ApiError {
    fn from(e: PluginError) -> ApiError {
        let status = match &e {
            PluginError::Invalid(_) => StatusCode::BAD_REQUEST,
            PluginError::NotFound(_) => StatusCode::NOT_FOUND,
            PluginError::Conflict(_) => StatusCode::CONFLICT,
            PluginError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            PluginError::Unavailable(_) => StatusCode::BAD_GATEWAY,
            PluginError::Internal(_) => return ApiError::internal(e),
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        match e {
            EngineError::Invalid(invalid) => ApiError::invalid(invalid),
            EngineError::NotFound(message) => ApiError::new(StatusCode::NOT_FOUND, message),
            EngineError::Conflict(message) => ApiError::new(StatusCode::CONFLICT, message),
            EngineError::Store(e) => ApiError::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = crate::dto::ErrorAnswer { error: self.message, problems: self.problems };
        (self.status, axum::Json(body)).into_response()
    }
}

/// A server bound to its address, not yet serving.
pub struct Server {
    state: Arc<AppState>,
    instance: Instance,
    listener: tokio::net::TcpListener,
}

impl Server {
    /// Open the data directory (plugins verified against `home`'s trust
    /// store, unfinished executions continued), make sure an admin token
    /// exists, and bind the listen address.
    pub async fn open(config: ServeConfig, home: Home) -> anyhow::Result<Server> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
        let data_dir = DataDir::at(&config.data_dir);
        let key_file = config.secret_key_file.clone().unwrap_or_else(|| data_dir.secret_key());
        let key = secrets::load_key(config.secret_key_hex.as_deref(), &key_file)?;
        let mut secret_store = None;
        let options = InstanceOptions {
            engine: EngineConfig {
                retention: config.retention,
                event_window: config.event_window,
                vars: config.vars.clone(),
                max_call_wall_ms: config.call_caps.wall_ms,
                execution_fuel_budget: config.execution_fuel_budget,
                ..Default::default()
            },
            component_cache: config.component_cache.clone(),
            call_caps: config.call_caps,
        };
        let instance = Instance::open_with(&config.data_dir, &home, options, |store| {
            let secrets = Arc::new(secrets::SecretStore::new(store.clone(), key));
            secret_store = Some(secrets.clone());
            Ok(secrets as Arc<dyn Credentials>)
        })
        .await?;
        let secrets = secret_store.expect("the credentials were made");
        let tokens = auth::Tokens::new(instance.engine.store().clone());
        if let Some(token) = tokens.bootstrap(config.admin_token.as_deref()).await? {
            println!("admin token (shown once; keep it): {token}");
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        let state = Arc::new(AppState {
            engine: instance.engine.clone(),
            plugins: instance.plugins.clone(),
            manager: PluginManager::serving(
                data_dir,
                home,
                instance.plugins.clone(),
                Arc::new(instance.engine.clone()),
            ),
            tokens,
            sessions: session::Sessions::default(),
            studio: Arc::new(studio::StudioFiles::locate(config.studio_dir.as_deref())),
            secrets,
            idempotency: hooks::KeyLocks::default(),
            metrics: instance.engine.metrics().clone(),
            config,
            ready: AtomicBool::new(false),
        });
        Ok(Server { state, instance, listener })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serve until `shutdown` completes, then stop gracefully: refuse new
    /// connections, finish the requests in flight, let running steps finish
    /// (for the configured grace) and close the store.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Server { state, instance, listener } = self;
        let app = router(state.clone());
        state.ready.store(true, Ordering::SeqCst);
        let addr = listener.local_addr()?;
        tracing::info!(%addr, data_dir = %state.manager.data_dir().root().display(), "serving");
        println!("listening on http://{addr}");
        let pruning = state.engine.store().clone();
        let pruner = tokio::spawn(async move {
            loop {
                if let Err(e) = hooks::prune_idempotency(&pruning).await {
                    tracing::error!("pruning idempotency keys: {e:#}");
                }
                tokio::time::sleep(std::time::Duration::from_secs(600)).await;
            }
        });
        let refreshing = state.clone();
        let refresher = tokio::spawn(async move {
            loop {
                if let Err(e) = refreshing.manager.refresh().await {
                    tracing::warn!("refreshing revocations: {e:#}");
                }
                match refreshing.config.registry_refresh {
                    Some(every) => tokio::time::sleep(every).await,
                    None => break,
                }
            }
        });
        let stopping = state.clone();
        let draining = state.clone();
        let limits =
            http::HttpLimits { header_read_timeout: state.config.request_timeout, drain: state.config.shutdown_grace };
        let cut = http::serve(
            listener,
            app,
            limits,
            async move {
                shutdown.await;
                stopping.ready.store(false, Ordering::SeqCst);
                tracing::info!("shutting down: new requests are answered 503 while running steps finish");
            },
            // The listener stays open (answering 503) until running steps are done.
            async move {
                draining.engine.shutdown(draining.config.shutdown_grace).await;
            },
        )
        .await;
        if cut > 0 {
            tracing::warn!(connections = cut, grace = ?limits.drain, "requests still open after the grace period were cut off");
        }
        pruner.abort();
        refresher.abort();
        // An aborted task lets go of what it holds (the store) only when it
        // is next polled: wait for that, so that the store is released when
        // this returns.
        let _ = pruner.await;
        let _ = refresher.await;
        let grace = state.config.shutdown_grace;
        if !state.engine.shutdown(grace).await {
            tracing::warn!("steps still running after {grace:?}; they run again at the next start");
        }
        drop(state);
        drop(instance);
        tracing::info!("stopped");
        Ok(())
    }
}

/// SIGINT (Ctrl-C) or SIGTERM.
pub async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// How long a client is told to wait before trying again while the server
/// stops (another host behind the load balancer will answer sooner).
const RETRY_AFTER_STOPPING_SECS: &str = "5";

/// While the server stops, refuse every request but the probes and metrics
/// with 503 and `Retry-After`: requests already being answered finish, new
/// ones go elsewhere.
async fn refuse_while_stopping(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let probe = matches!(request.uri().path(), "/healthz" | "/readyz" | "/metrics");
    if probe || state.ready.load(Ordering::SeqCst) {
        return next.run(request).await;
    }
    let mut response =
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping: try again shortly").into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_STOPPING_SECS));
    response
}

fn router(state: Arc<AppState>) -> Router {
    let hooks = Router::new()
        .route("/hooks/{workflow}/{*path}", any(hooks::handle))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    let studio = Router::new()
        .route("/", get(studio::index))
        .route("/assets/{file}", get(studio::asset))
        .with_state(state.studio.clone());
    Router::new()
        .merge(hooks)
        .merge(studio)
        .nest("/api/v1", api::router(state.clone()))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .fallback(|| async {
            ApiError::not_found("no such route (the studio is at /, the API under /api/v1, webhooks under /hooks)")
        })
        // After every route: it applies to the routes already added. axum
        // still sets the `Allow` header.
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), refuse_while_stopping))
        .with_state(state)
}

/// A known path with a method it does not take: 405 with a JSON error like
/// every other refusal (axum's own answer has an empty body).
async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not allowed on {}", uri.path()))
}

/// The key `/readyz` writes to find out whether a failing store can write again.
const READINESS_PROBE_KEY: &[u8] = b"health/readyz";
/// How long `/readyz` waits for that write.
const READINESS_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Ready while serving and while the store takes writes. After a write to the
/// store failed (a full or broken disk: webhooks then answer 500), each call
/// tries a small write and is ready again as soon as one succeeds (with sled,
/// after an I/O error, that takes a restart).
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if !state.ready.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready: stopping").into_response();
    }
    let store = state.engine.store();
    if store.failure().is_some() {
        let why = match tokio::time::timeout(READINESS_PROBE_TIMEOUT, store.probe(READINESS_PROBE_KEY)).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(format!("{e:#}")),
            Err(_) => Some(format!("no answer within {} s", READINESS_PROBE_TIMEOUT.as_secs())),
        };
        if let Some(why) = why {
            let body = format!("not ready: the store cannot write ({why})");
            return (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
        }
    }
    (StatusCode::OK, "ready").into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let m = &state.metrics;
    m.executions_in_memory.set(state.engine.executions_in_memory() as i64);
    m.plugin_calls_in_flight.set(state.plugins.calls_in_flight() as i64);
    m.store_write_failing.set(i64::from(state.engine.store().failure().is_some()));
    let headers = [("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")];
    (headers, m.encode()).into_response()
}
