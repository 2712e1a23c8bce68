//! The registry's HTTP server.
//!
//! It keeps the tamper-evident log ([`crate::log`]) and the package bytes in a
//! sled database, runs [`RegistryState::apply`] on every request before it
//! appends (so it accepts exactly what clients accept on replay), and verifies
//! every uploaded package against the namespace's current key and a
//! [`PackageCheck`] the host supplies.
//!
//! | method and path | what |
//! |---|---|
//! | `GET /v1/key` | the registry's key and key id |
//! | `GET /v1/checkpoint` | a freshly signed [`SignedCheckpoint`] |
//! | `GET /v1/log?from=N&limit=M` | `{"records": [Record...]}`, at most 1000 |
//! | `POST /v1/requests` | a [`SignedRequest`] (anything but a publish) |
//! | `POST /v1/packages` | `.wwpkg` bytes, with the signed publish request in the `wirework-request` header |
//! | `GET /v1/packages?q=TEXT` | search |
//! | `GET /v1/packages/{publisher}/{name}` | every version of a package |
//! | `GET /v1/packages/{publisher}/{name}/{version}` | the package bytes |
//! | `GET /v1/publishers/{publisher}` | a namespace and its keys |
//! | `GET /v1/revocations` | revoked keys and digests |
//!
//! Errors are `{"error": "..."}`: 400 malformed input, 403 no authority over
//! the namespace, 404 unknown, 409 conflict, 413 oversized, 422 refused package.

mod store;

use crate::keys::{PublicKey, SecretKey};
use crate::log::{
    Checkpoint, LogError, Operation, Refusal, RegistryState, SignedCheckpoint, SignedRequest, CHECKPOINT_VALIDITY_MS,
};
use crate::manifest::ManifestError;
use crate::package::{sha256_hex, trust_for, Package, PackageError};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use store::{AppendError, Store};

/// The header that carries the signed publish request beside the package bytes.
pub const REQUEST_HEADER: &str = "wirework-request";

/// Most records one `GET /v1/log` returns.
const MAX_LOG_PAGE: u64 = 1000;

/// A check the host runs on a package before it is accepted: the registry
/// crate knows no wasm; the host implements it by compiling the component and
/// comparing its `describe()` with the manifest.
pub trait PackageCheck: Send + Sync + 'static {
    /// Check `package` (already verified against `key`, the namespace's
    /// current key); `Err` says what disagrees, for the publisher to read.
    fn check(&self, package: Package, key: PublicKey) -> BoxFuture<'static, Result<(), String>>;
}

/// A registry: its key, its database and the check it runs on packages.
/// Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct RegistryServer {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    check: Arc<dyn PackageCheck>,
    max_upload_bytes: usize,
}

impl RegistryServer {
    /// Open (or create) a registry in `data_dir` (its sled database is
    /// `data_dir/db`), signing with `key`. The log is replayed and checked
    /// as a client would check it: a database that does not replay, or was
    /// written with another key, is an error.
    pub fn open(
        data_dir: &Path,
        key: SecretKey,
        check: Arc<dyn PackageCheck>,
        max_upload_bytes: usize,
    ) -> anyhow::Result<RegistryServer> {
        let store = Store::open(&data_dir.join("db"), key)?;
        Ok(RegistryServer { inner: Arc::new(Inner { store, check, max_upload_bytes }) })
    }

    /// The registry's public key: what clients pin.
    pub fn public_key(&self) -> PublicKey {
        self.inner.store.key().public()
    }

    /// The HTTP API; serve it with `axum::serve(listener, server.router())`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/key", get(get_key))
            .route("/v1/checkpoint", get(get_checkpoint))
            .route("/v1/log", get(get_log))
            .route("/v1/requests", post(post_request))
            .route(
                "/v1/packages",
                post(post_package).layer(DefaultBodyLimit::max(self.inner.max_upload_bytes)).get(search),
            )
            .route("/v1/packages/{publisher}/{name}", get(get_package))
            .route("/v1/packages/{publisher}/{name}/{version}", get(download))
            .route("/v1/publishers/{publisher}", get(get_publisher))
            .route("/v1/revocations", get(get_revocations))
            .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint (the API is under /v1)") })
            .with_state(self.clone())
    }
}

/// The registry's key in `data_dir/registry.key` (public half beside it in
/// `registry.key.pub`), created on first use. Returns the key and whether it
/// was created now.
pub fn load_or_create_key(data_dir: &Path) -> anyhow::Result<(SecretKey, bool)> {
    use anyhow::Context;
    let path = data_dir.join("registry.key");
    if !path.exists() {
        let key = SecretKey::generate();
        match key.write(&path) {
            Ok(()) => return Ok((key, true)),
            // Another process created it first: use theirs.
            Err(crate::keys::KeyError::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).context("creating the registry key"),
        }
    }
    let key = SecretKey::read(&path).with_context(|| format!("reading the registry key {}", path.display()))?;
    Ok((key, false))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// An error response: a status and `{"error": message}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    fn internal(message: impl std::fmt::Display) -> ApiError {
        tracing::error!("registry storage error: {message}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the registry failed to store or read data: {message}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<LogError> for ApiError {
    fn from(error: LogError) -> ApiError {
        let status = match &error {
            LogError::Refused { kind: Refusal::Forbidden, .. } => StatusCode::FORBIDDEN,
            LogError::Refused { kind: Refusal::Conflict, .. } => StatusCode::CONFLICT,
            LogError::Refused { kind: Refusal::Invalid, .. } => StatusCode::UNPROCESSABLE_ENTITY,
            LogError::Malformed(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, error.to_string())
    }
}

impl From<AppendError> for ApiError {
    fn from(error: AppendError) -> ApiError {
        match error {
            AppendError::Refused(e) => e.into(),
            AppendError::Storage(m) => ApiError::internal(m),
        }
    }
}

fn rejection(status: StatusCode, text: String) -> ApiError {
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "the body is larger than this registry accepts".to_string()
    } else {
        text
    };
    ApiError::new(status, message)
}

type ApiResult<T> = Result<T, ApiError>;

async fn get_key(State(server): State<RegistryServer>) -> Json<serde_json::Value> {
    let key = server.public_key();
    Json(json!({ "key": key.to_string(), "id": key.id() }))
}

async fn get_checkpoint(State(server): State<RegistryServer>) -> Json<SignedCheckpoint> {
    let store = &server.inner.store;
    let snapshot = store.snapshot();
    let now = now_ms();
    let checkpoint = Checkpoint {
        registry: store.key_id().to_string(),
        length: snapshot.length,
        head: snapshot.head.clone(),
        time_ms: now,
        expires_ms: now + CHECKPOINT_VALIDITY_MS,
    };
    Json(SignedCheckpoint::sign(&checkpoint, store.key()))
}

#[derive(Deserialize)]
struct LogQuery {
    from: Option<u64>,
    limit: Option<u64>,
}

async fn get_log(
    State(server): State<RegistryServer>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(format!("{e} (expected ?from=N&limit=M)")))?;
    let limit = query.limit.unwrap_or(MAX_LOG_PAGE).min(MAX_LOG_PAGE);
    let records = server.inner.store.records(query.from.unwrap_or(0), limit).map_err(ApiError::internal)?;
    Ok(Json(json!({ "records": records })))
}

async fn post_request(
    State(server): State<RegistryServer>,
    request: Result<Json<SignedRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let Json(request) =
        request.map_err(|e| rejection(e.status(), format!("not a signed request: {}", e.body_text())))?;
    if let Operation::Publish { .. } = request.parse()?.operation {
        return Err(ApiError::bad_request(format!(
            "publish with POST /v1/packages: the package bytes as the body, this request in the `{REQUEST_HEADER}` header"
        )));
    }
    let index = server.inner.store.append(request, None, now_ms()).await?;
    Ok((StatusCode::CREATED, Json(json!({ "index": index }))))
}

/// The publish request in the header, parsed: its raw form and operation.
fn publish_request(headers: &HeaderMap) -> ApiResult<(SignedRequest, Operation)> {
    let value = headers.get(REQUEST_HEADER).ok_or_else(|| {
        ApiError::bad_request(format!(
            "the `{REQUEST_HEADER}` header is missing: send the signed publish request in it"
        ))
    })?;
    let text =
        value.to_str().map_err(|_| ApiError::bad_request(format!("the `{REQUEST_HEADER}` header is not text")))?;
    let request: SignedRequest = serde_json::from_str(text).map_err(|e| {
        ApiError::bad_request(format!("the `{REQUEST_HEADER}` header is not a signed request (JSON): {e}"))
    })?;
    let operation = request.parse()?.operation;
    if !matches!(operation, Operation::Publish { .. }) {
        return Err(ApiError::bad_request(format!(
            "the `{REQUEST_HEADER}` header holds a {} request, not a publish: send it to POST /v1/requests",
            op_name(&operation)
        )));
    }
    Ok((request, operation))
}

async fn post_package(
    State(server): State<RegistryServer>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let body = body.map_err(|e| rejection(e.status(), e.body_text()))?;
    let (request, operation) = publish_request(&headers)?;
    let Operation::Publish { package: name, version, package_sha256, component_sha256, capabilities, description } =
        &operation
    else {
        unreachable!("publish_request returns publishes only")
    };
    let package = Package::from_bytes(&body).map_err(|e| ApiError::bad_request(format!("not a package: {e}")))?;
    let publisher = operation.publisher();
    let snapshot = server.inner.store.snapshot();
    let owner = snapshot.state.publishers.get(publisher).ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!("publisher `{publisher}` is not claimed on this registry: claim it first (POST /v1/requests)"),
        )
    })?;
    let key = PublicKey::parse(&owner.key).map_err(ApiError::internal)?;
    let verified = verify_package(package.clone(), &key, publisher)?;

    let manifest = &verified.manifest;
    let mismatch = |field: &str, requested: &dyn std::fmt::Debug, actual: &dyn std::fmt::Debug| {
        ApiError::bad_request(format!(
            "the request's `{field}` ({requested:?}) does not match the package ({actual:?}): sign the request for this package"
        ))
    };
    let body_sha256 = sha256_hex(&body);
    if name != &manifest.plugin.name {
        return Err(mismatch("package", name, &manifest.plugin.name));
    }
    if version != &manifest.plugin.version {
        return Err(mismatch("version", &version.to_string(), &manifest.plugin.version.to_string()));
    }
    if package_sha256 != &body_sha256 {
        return Err(mismatch("package_sha256", package_sha256, &body_sha256));
    }
    if component_sha256 != verified.component_digest() {
        return Err(mismatch("component_sha256", component_sha256, &verified.component_digest()));
    }
    if capabilities != &manifest.capabilities {
        return Err(mismatch("capabilities", capabilities, &manifest.capabilities));
    }
    if description != &manifest.plugin.description {
        return Err(mismatch("description", description, &manifest.plugin.description));
    }

    // The registry's rules first: the check below compiles the component.
    let now = now_ms();
    snapshot.state.clone().apply(&request, server.inner.store.key_id(), now)?;
    server.inner.check.check(package, key).await.map_err(|m| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("the manifest disagrees with the component: {m}"))
    })?;
    let index = server.inner.store.append(request, Some(&body), now_ms()).await?;
    Ok((StatusCode::CREATED, Json(json!({ "index": index, "package": name, "version": version }))))
}

/// Verify `package` against the namespace's current `key` only, mapping each
/// failure to a status and a message the publisher can act on.
fn verify_package(package: Package, key: &PublicKey, publisher: &str) -> ApiResult<crate::package::VerifiedPackage> {
    let unsigned =
        || ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "the package is unsigned or its signature does not verify");
    if package.signature.is_empty() {
        return Err(unsigned());
    }
    package.verify(&trust_for(key, publisher)).map_err(|e| match e {
        PackageError::BadSignature => unsigned(),
        PackageError::UntrustedKey { key_id, .. } | PackageError::KeyNotForPublisher { key_id, .. } => ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "the package is signed by key {key_id}, which does not own namespace `{publisher}` (its key is {})",
                key.id()
            ),
        ),
        PackageError::Manifest(ManifestError::Parse(m)) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("malformed manifest: {m}"))
        }
        PackageError::Manifest(ManifestError::Invalid(problems)) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("malformed manifest: {}", problems.join("; ")))
        }
        other => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, other.to_string()),
    })
}

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

async fn search(
    State(server): State<RegistryServer>,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(format!("{e} (expected ?q=TEXT)")))?;
    let needle = query.q.unwrap_or_default().to_lowercase();
    let snapshot = server.inner.store.snapshot();
    let packages: Vec<_> = snapshot
        .state
        .packages
        .iter()
        .filter_map(|(name, versions)| {
            let latest = versions.values().rev().find(|v| !v.yanked && !v.revoked);
            let description = latest.or(versions.values().next_back()).map_or("", |v| &v.description);
            let matches = name.to_lowercase().contains(&needle) || description.to_lowercase().contains(&needle);
            matches.then(|| json!({ "name": name, "latest": latest.map(|v| &v.version), "description": description }))
        })
        .collect();
    Ok(Json(json!({ "packages": packages })))
}

fn versions_of<'a>(
    state: &'a RegistryState,
    name: &str,
) -> ApiResult<&'a std::collections::BTreeMap<semver::Version, crate::log::VersionInfo>> {
    state.packages.get(name).ok_or_else(|| ApiError::not_found(format!("package {name} is not published here")))
}

async fn get_package(
    State(server): State<RegistryServer>,
    UrlPath((publisher, name)): UrlPath<(String, String)>,
) -> ApiResult<Json<serde_json::Value>> {
    let snapshot = server.inner.store.snapshot();
    let name = format!("{publisher}/{name}");
    let versions: Vec<_> = versions_of(&snapshot.state, &name)?.values().collect();
    Ok(Json(json!({ "name": name, "versions": versions })))
}

async fn download(
    State(server): State<RegistryServer>,
    UrlPath((publisher, name, version)): UrlPath<(String, String, String)>,
) -> ApiResult<Response> {
    let parsed = semver::Version::parse(&version)
        .map_err(|e| ApiError::bad_request(format!("`{version}` is not a version: {e}")))?;
    let snapshot = server.inner.store.snapshot();
    let name = format!("{publisher}/{name}");
    let info = versions_of(&snapshot.state, &name)?
        .get(&parsed)
        .ok_or_else(|| ApiError::not_found(format!("{name} {version} is not published here")))?;
    let bytes = server
        .inner
        .store
        .blob(&info.package_sha256)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal(format!("the bytes of {name} {version} are missing")))?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

async fn get_publisher(
    State(server): State<RegistryServer>,
    UrlPath(publisher): UrlPath<String>,
) -> ApiResult<Json<crate::log::Publisher>> {
    let snapshot = server.inner.store.snapshot();
    let found = snapshot.state.publishers.get(&publisher).cloned();
    found.map(Json).ok_or_else(|| ApiError::not_found(format!("publisher `{publisher}` is not claimed here")))
}

async fn get_revocations(State(server): State<RegistryServer>) -> Json<crate::log::Revocations> {
    Json(server.inner.store.snapshot().state.revocations.clone())
}

/// The operation's name, as in its JSON `op` tag.
fn op_name(operation: &Operation) -> &'static str {
    match operation {
        Operation::Claim { .. } => "claim",
        Operation::Publish { .. } => "publish",
        Operation::Yank { .. } => "yank",
        Operation::Unyank { .. } => "unyank",
        Operation::RotateKey { .. } => "rotate-key",
        Operation::RevokeKey { .. } => "revoke-key",
        Operation::RevokeDigest { .. } => "revoke-digest",
    }
}

/// What an accepted operation did, for the log line.
pub(crate) fn describe(operation: &Operation) -> String {
    match operation {
        Operation::Claim { publisher, key } => format!("claim `{publisher}` for key {key}"),
        Operation::Publish { package, version, .. } => format!("publish {package} {version}"),
        Operation::Yank { package, version } => format!("yank {package} {version}"),
        Operation::Unyank { package, version } => format!("unyank {package} {version}"),
        Operation::RotateKey { publisher, new_key, .. } => format!("rotate `{publisher}` to key {new_key}"),
        Operation::RevokeKey { publisher, key_id } => format!("revoke key {key_id} of `{publisher}`"),
        Operation::RevokeDigest { package, component_sha256 } => {
            format!("revoke component {component_sha256} of {package}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{sign_hex, verify_chain, Record, EMPTY_HEAD};
    use crate::manifest::Manifest;
    use crate::package::{Statement, STATEMENT_FORMAT};
    use reqwest::StatusCode as Status;
    use serde_json::Value;
    use tokio::sync::oneshot;

    const MAX_UPLOAD: usize = 64 * 1024;

    /// Refuses a manifest that declares a node named `missing`, as the host's
    /// describe() comparison would.
    struct FakeDescribe;

    impl PackageCheck for FakeDescribe {
        fn check(&self, package: Package, _key: PublicKey) -> BoxFuture<'static, Result<(), String>> {
            Box::pin(async move {
                let text = String::from_utf8(package.manifest_bytes).map_err(|e| e.to_string())?;
                let manifest = Manifest::parse(&text).map_err(|e| e.to_string())?;
                match manifest.node("missing") {
                    Some(_) => Err("node `missing` is not in the component's describe()".into()),
                    None => Ok(()),
                }
            })
        }
    }

    struct Running {
        server: RegistryServer,
        url: String,
        http: reqwest::Client,
        stop: oneshot::Sender<()>,
        task: tokio::task::JoinHandle<()>,
    }

    async fn start(dir: &Path) -> Running {
        let (key, _) = load_or_create_key(dir).unwrap();
        let server = RegistryServer::open(dir, key, Arc::new(FakeDescribe), MAX_UPLOAD).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let router = server.router();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            axum::serve(listener, router).with_graceful_shutdown(shutdown).await.unwrap();
        });
        Running { server, url, http: crate::client::http_client_builder().build().unwrap(), stop, task }
    }

    impl Running {
        /// Stop serving and release the database.
        async fn stop(self) {
            drop(self.http);
            let _ = self.stop.send(());
            self.task.await.unwrap();
        }

        fn sign(&self, operation: Operation, key: &SecretKey) -> SignedRequest {
            SignedRequest::sign(operation, &self.server.public_key().id(), now_ms(), key)
        }

        async fn get(&self, path: &str) -> (Status, Value) {
            let response = self.http.get(format!("{}{path}", self.url)).send().await.unwrap();
            (response.status(), response.json().await.unwrap())
        }

        async fn request(&self, request: &SignedRequest) -> (Status, Value) {
            let response = self.http.post(format!("{}/v1/requests", self.url)).json(request).send().await.unwrap();
            (response.status(), response.json().await.unwrap())
        }

        async fn upload(&self, bytes: Vec<u8>, request: Option<&SignedRequest>) -> (Status, Value) {
            let mut post = self.http.post(format!("{}/v1/packages", self.url)).body(bytes);
            if let Some(request) = request {
                post = post.header(REQUEST_HEADER, serde_json::to_string(request).unwrap());
            }
            let response = post.send().await.unwrap();
            (response.status(), response.json().await.unwrap())
        }

        /// Sign a publish request matching `package` and upload it.
        async fn publish(&self, package: &Package, key: &SecretKey) -> (Status, Value) {
            let bytes = package.to_bytes();
            let request = self.sign(publish_op(package, &bytes), key);
            self.upload(bytes, Some(&request)).await
        }

        async fn claim(&self, publisher: &str, key: &SecretKey) {
            let claim = Operation::Claim { publisher: publisher.into(), key: key.public().to_string() };
            let (status, body) = self.request(&self.sign(claim, key)).await;
            assert_eq!(status, Status::CREATED, "{body}");
        }

        /// The checkpoint, its signature checked.
        async fn checkpoint(&self) -> Checkpoint {
            let (status, body) = self.get("/v1/checkpoint").await;
            assert_eq!(status, Status::OK);
            let signed: SignedCheckpoint = serde_json::from_value(body).unwrap();
            signed.open(&self.server.public_key(), now_ms()).unwrap()
        }

        fn blobs(&self) -> usize {
            self.server.inner.store.blob_count()
        }
    }

    fn manifest(version: &str, node: &str) -> String {
        format!(
            "[plugin]\nname = \"acme/crm\"\nversion = \"{version}\"\ndescription = \"CRM records\"\n\
             [[node]]\nname = \"{node}\"\n[capabilities]\nhttp = [\"api.example.com\"]\n"
        )
    }

    fn package(version: &str, key: &SecretKey) -> Package {
        Package::sign(&manifest(version, "create"), b"\0asm fake".to_vec(), key).unwrap()
    }

    /// The publish operation that describes `package` (whose archive is `bytes`).
    fn publish_op(package: &Package, bytes: &[u8]) -> Operation {
        let manifest = Manifest::parse(std::str::from_utf8(&package.manifest_bytes).unwrap()).unwrap();
        Operation::Publish {
            package: manifest.plugin.name,
            version: manifest.plugin.version,
            package_sha256: sha256_hex(bytes),
            component_sha256: sha256_hex(&package.component),
            capabilities: manifest.capabilities,
            description: manifest.plugin.description,
        }
    }

    #[tokio::test]
    async fn claim_publish_download_and_index() {
        let dir = tempfile::tempdir().unwrap();
        let registry = start(dir.path()).await;
        let owner = SecretKey::generate();
        registry.claim("acme", &owner).await;
        let published = package("1.0.0", &owner);
        let (status, body) = registry.publish(&published, &owner).await;
        assert_eq!(status, Status::CREATED, "{body}");
        assert_eq!(body, json!({ "index": 1, "package": "acme/crm", "version": "1.0.0" }));

        let response = registry.http.get(format!("{}/v1/packages/acme/crm/1.0.0", registry.url)).send().await.unwrap();
        assert_eq!(response.headers()[header::CONTENT_TYPE.as_str()], "application/octet-stream");
        assert_eq!(response.bytes().await.unwrap(), published.to_bytes());

        let (status, body) = registry.get("/v1/packages/acme/crm").await;
        assert_eq!(status, Status::OK);
        assert_eq!(body["versions"][0]["version"], "1.0.0");
        assert_eq!(body["versions"][0]["key_id"], owner.public().id());
        let (_, body) = registry.get("/v1/packages?q=CRM").await;
        assert_eq!(
            body,
            json!({ "packages": [{ "name": "acme/crm", "latest": "1.0.0", "description": "CRM records" }] })
        );
        let (_, body) = registry.get("/v1/packages?q=billing").await;
        assert_eq!(body, json!({ "packages": [] }));

        let (_, body) = registry.get("/v1/key").await;
        assert_eq!(body["id"], registry.server.public_key().id());
        let (_, body) = registry.get("/v1/publishers/acme").await;
        assert_eq!(body["key"], owner.public().to_string());
        let (_, body) = registry.get("/v1/revocations").await;
        assert_eq!(body, json!({ "keys": {}, "digests": {} }));
        for unknown in ["/v1/publishers/globex", "/v1/packages/acme/billing", "/v1/packages/acme/crm/2.0.0", "/v2/x"] {
            assert_eq!(registry.get(unknown).await.0, Status::NOT_FOUND, "{unknown}");
        }

        // A client replays the log to the checkpoint's head.
        let checkpoint = registry.checkpoint().await;
        let (_, body) = registry.get("/v1/log?from=0").await;
        let records: Vec<Record> = serde_json::from_value(body["records"].clone()).unwrap();
        let (entries, head) = verify_chain(&records, &registry.server.public_key(), 0, EMPTY_HEAD).unwrap();
        assert_eq!((entries.len() as u64, head), (checkpoint.length, checkpoint.head));
        let (_, body) = registry.get("/v1/log?from=1&limit=5").await;
        assert_eq!(body["records"].as_array().unwrap().len(), 1);
        assert_eq!(registry.get("/v1/log?from=x").await.0, Status::BAD_REQUEST);
        registry.stop().await;
    }

    #[tokio::test]
    async fn refused_publishes_store_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let registry = start(dir.path()).await;
        let (owner, stranger) = (SecretKey::generate(), SecretKey::generate());
        registry.claim("acme", &owner).await;
        assert_eq!(registry.publish(&package("1.0.0", &owner), &owner).await.0, Status::CREATED);
        let (length, blobs) = (registry.checkpoint().await.length, registry.blobs());

        let mut cases: Vec<(&str, (Status, Value), Status, &str)> = Vec::new();

        let mut unsigned = package("1.1.0", &owner);
        unsigned.signature = vec![0; 64];
        let got = registry.publish(&unsigned, &owner).await;
        cases.push(("unsigned", got, Status::UNPROCESSABLE_ENTITY, "unsigned or its signature does not verify"));

        let got = registry.publish(&package("1.1.0", &stranger), &owner).await;
        cases.push(("wrong key", got, Status::FORBIDDEN, "which does not own namespace `acme`"));

        let again = Package::sign(&manifest("1.0.0", "create"), b"\0asm other".to_vec(), &owner).unwrap();
        let got = registry.publish(&again, &owner).await;
        cases.push(("existing version", got, Status::CONFLICT, "immutable"));

        // A correctly signed statement over a manifest that does not parse.
        let component = b"\0asm fake".to_vec();
        let statement = Statement {
            format: STATEMENT_FORMAT.into(),
            package: "acme/crm".into(),
            version: "1.1.0".into(),
            wit: "0.1.0".into(),
            component_sha256: sha256_hex(&component),
            manifest_sha256: sha256_hex(b"not toml"),
            key_id: owner.public().id(),
        };
        let statement_bytes = serde_json::to_vec(&statement).unwrap();
        let signature = hex::decode(sign_hex(&owner, &statement_bytes)).unwrap();
        let malformed = Package { manifest_bytes: b"not toml".to_vec(), component, statement_bytes, signature };
        let bytes = malformed.to_bytes();
        let request = registry.sign(
            Operation::Publish {
                package: "acme/crm".into(),
                version: semver::Version::new(1, 1, 0),
                package_sha256: sha256_hex(&bytes),
                component_sha256: sha256_hex(&malformed.component),
                capabilities: Default::default(),
                description: String::new(),
            },
            &owner,
        );
        let got = registry.upload(bytes, Some(&request)).await;
        cases.push(("malformed manifest", got, Status::UNPROCESSABLE_ENTITY, "malformed manifest: "));

        let missing = Package::sign(&manifest("1.1.0", "missing"), b"\0asm fake".to_vec(), &owner).unwrap();
        let got = registry.publish(&missing, &owner).await;
        cases.push(("check", got, Status::UNPROCESSABLE_ENTITY, "the manifest disagrees with the component: node"));

        let huge = Package::sign(&manifest("1.1.0", "create"), vec![7; MAX_UPLOAD + 1], &owner).unwrap();
        let got = registry.publish(&huge, &owner).await;
        cases.push(("oversized", got, Status::PAYLOAD_TOO_LARGE, "larger than this registry accepts"));

        let fine = package("1.1.0", &owner);
        let bytes = fine.to_bytes();
        let mut op = publish_op(&fine, &bytes);
        if let Operation::Publish { description, .. } = &mut op {
            *description = "something else".into();
        }
        let got = registry.upload(bytes.clone(), Some(&registry.sign(op, &owner))).await;
        cases.push(("field mismatch", got, Status::BAD_REQUEST, "`description`"));

        let got = registry.upload(bytes.clone(), None).await;
        cases.push(("no header", got, Status::BAD_REQUEST, "header is missing"));

        let got = registry.upload(b"garbage".to_vec(), Some(&registry.sign(publish_op(&fine, &bytes), &owner))).await;
        cases.push(("not a package", got, Status::BAD_REQUEST, "not a package: "));

        let got = registry.request(&registry.sign(publish_op(&fine, &bytes), &owner)).await;
        cases.push(("publish as a request", got, Status::BAD_REQUEST, "publish with POST /v1/packages"));

        let globex = Package::sign(&manifest("1.1.0", "create").replace("acme/", "globex/"), vec![1], &owner).unwrap();
        let got = registry.publish(&globex, &owner).await;
        cases.push(("unclaimed", got, Status::FORBIDDEN, "`globex` is not claimed"));

        for (what, (status, body), expected, message) in cases {
            assert_eq!(status, expected, "{what}: {body}");
            let error = body["error"].as_str().unwrap_or_else(|| panic!("{what}: {body}"));
            assert!(error.contains(message), "{what}: {error}");
            assert_eq!(registry.checkpoint().await.length, length, "{what} stored an entry");
            assert_eq!(registry.blobs(), blobs, "{what} stored a blob");
        }
        registry.stop().await;
    }

    /// A registry in `dir` where `acme` published `acme/crm` 1.0.0.
    async fn one_published(dir: &Path) -> (Running, SecretKey, Package) {
        let registry = start(dir).await;
        let owner = SecretKey::generate();
        registry.claim("acme", &owner).await;
        let published = package("1.0.0", &owner);
        assert_eq!(registry.publish(&published, &owner).await.0, Status::CREATED);
        (registry, owner, published)
    }

    #[tokio::test]
    async fn a_yank_shows_in_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let (registry, owner, published) = one_published(dir.path()).await;
        let yank = Operation::Yank { package: "acme/crm".into(), version: semver::Version::new(1, 0, 0) };
        let (status, body) = registry.request(&registry.sign(yank.clone(), &owner)).await;
        assert_eq!((status, body), (Status::CREATED, json!({ "index": 2 })));
        let (status, body) = registry.request(&registry.sign(yank, &SecretKey::generate())).await;
        assert_eq!(status, Status::FORBIDDEN, "{body}");

        let (_, body) = registry.get("/v1/packages/acme/crm").await;
        assert_eq!(body["versions"][0]["yanked"], true);
        let (_, body) = registry.get("/v1/packages").await;
        assert_eq!(body["packages"][0]["latest"], Value::Null);
        let response = registry.http.get(format!("{}/v1/packages/acme/crm/1.0.0", registry.url)).send().await.unwrap();
        assert_eq!(response.bytes().await.unwrap(), published.to_bytes(), "a yanked version still downloads");
        registry.stop().await;
    }

    #[tokio::test]
    async fn a_reopened_registry_has_the_same_head() {
        let dir = tempfile::tempdir().unwrap();
        let (registry, _, published) = one_published(dir.path()).await;
        let before = registry.checkpoint().await;
        registry.stop().await;

        let registry = start(dir.path()).await;
        let after = registry.checkpoint().await;
        assert_eq!((after.length, &after.head), (2, &before.head));
        let response = registry.http.get(format!("{}/v1/packages/acme/crm/1.0.0", registry.url)).send().await.unwrap();
        assert_eq!(response.bytes().await.unwrap(), published.to_bytes());
        registry.stop().await;

        // The log is signed by the registry's key: another key cannot open it.
        let err = RegistryServer::open(dir.path(), SecretKey::generate(), Arc::new(FakeDescribe), MAX_UPLOAD);
        let err = format!("{:#}", err.err().expect("a foreign key is refused"));
        assert!(err.contains("inconsistent"), "{err}");
    }

    #[test]
    fn the_registry_key_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let (key, created) = load_or_create_key(dir.path()).unwrap();
        assert!(created);
        let (again, created) = load_or_create_key(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(again.public(), key.public());
    }
}
