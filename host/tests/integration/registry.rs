//! The plugin registry end to end: a real registry server on a loopback port
//! (in-process, with the host's real `describe()` check), the real
//! `wirework` binary as author and operator client, packages made from the
//! first-party `core` component built from source and re-signed as
//! `acme/crm` at several versions.

use crate::common;
use crate::common::fixtures;
use semver::Version;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::process::Command;
use wirework::engine::NodeHost;
use wirework::home::Home;
use wirework::plugins::registry::{DescribeCheck, Lockfile};
use wirework::plugins::InstalledPlugins;
use wirework::runtime::{Invocation, MemoryKv, Runtime, RuntimeConfig};
use wirework_registry::client::{ClientError, RegistryClient};
use wirework_registry::log::{Checkpoint, LogError, SignedCheckpoint};
use wirework_registry::server::RegistryServer;
use wirework_registry::{Manifest, Package, SecretKey, TrustStore};

/// A registry on a loopback port; it stops with the test's runtime.
struct Registry {
    url: String,
    _dir: Option<tempfile::TempDir>,
}

async fn registry_at(dir: &Path, key: SecretKey) -> String {
    let runtime =
        Runtime::new(RuntimeConfig { max_instances: 8, ..Default::default() }, Arc::new(MemoryKv::default())).unwrap();
    let server = RegistryServer::open(dir, key, Arc::new(DescribeCheck::new(runtime)), 16 << 20).unwrap();
    format!("http://{}", common::serve(server.router()).await)
}

async fn registry(key: SecretKey) -> Registry {
    let dir = tempfile::tempdir().unwrap();
    let url = registry_at(dir.path(), key).await;
    Registry { url, _dir: Some(dir) }
}

/// The `core` component re-signed by `key` as `name` at `version`, asking
/// for HTTP to `hosts`; `extra_node` adds a node the component lacks.
fn package(dir: &Path, key: &SecretKey, name: &str, version: &str, hosts: &[&str], extra_node: bool) -> PathBuf {
    let core = Package::read(&fixtures().core).unwrap();
    let mut manifest = Manifest::parse(std::str::from_utf8(&core.manifest_bytes).unwrap()).unwrap();
    manifest.plugin.name = name.into();
    manifest.plugin.version = Version::parse(version).unwrap();
    manifest.plugin.description = format!("CRM nodes {version}");
    manifest.capabilities.http = hosts.iter().map(|h| h.to_string()).collect();
    if extra_node {
        let mut ghost = manifest.nodes[0].clone();
        ghost.name = "ghost".into();
        manifest.nodes.push(ghost);
    }
    let text = toml::to_string(&manifest).unwrap();
    let path =
        dir.join(format!("{}-{version}{}.wwpkg", name.replace('/', "."), if extra_node { "-ghost" } else { "" }));
    Package::sign(&text, core.component.clone(), key).unwrap().write(&path).unwrap();
    path
}

/// Someone using the `wirework` binary with a home of their own.
struct User {
    home: tempfile::TempDir,
}

impl User {
    fn new() -> User {
        User { home: tempfile::tempdir().unwrap() }
    }

    /// An author: a signing key in the home.
    fn author() -> (User, SecretKey) {
        let user = User::new();
        let key = SecretKey::generate();
        key.write(&Home::at(user.home.path()).key_path("default")).unwrap();
        (user, key)
    }

    /// Run `wirework ARGS`; (success, stdout, stderr).
    async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_wirework"))
            .args(args)
            .env("WIREWORK_HOME", self.home.path())
            .env_remove("WIREWORK_REGISTRY")
            .env("WIREWORK_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .unwrap();
        let (stdout, stderr) =
            (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
        (out.status.success(), stdout, stderr)
    }

    /// Run and expect success; stdout and stderr together.
    async fn ok(&self, args: &[&str]) -> String {
        let (ok, stdout, stderr) = self.run(args).await;
        assert!(ok, "wirework {args:?} failed:\n{stdout}\n{stderr}");
        format!("{stdout}{stderr}")
    }

    /// Run and expect failure; stderr.
    async fn fails(&self, args: &[&str]) -> String {
        let (ok, stdout, stderr) = self.run(args).await;
        assert!(!ok, "wirework {args:?} should have failed:\n{stdout}\n{stderr}");
        stderr
    }
}

/// A registry on which a new author published `name` 1.0.0, asking for
/// HTTP to `hosts`.
struct Published {
    registry: Registry,
    author: User,
    key: SecretKey,
    /// The package file published (in `_packages`).
    pkg: PathBuf,
    _packages: tempfile::TempDir,
}

async fn published(name: &str, hosts: &[&str]) -> Published {
    let registry = registry(SecretKey::generate()).await;
    let (author, key) = User::author();
    let packages = tempfile::tempdir().unwrap();
    let pkg = package(packages.path(), &key, name, "1.0.0", hosts, false);
    author.ok(&["plugin", "publish", pkg.to_str().unwrap(), "--registry", &registry.url]).await;
    Published { registry, author, key, pkg, _packages: packages }
}

async fn get_json(url: &str) -> Value {
    let client = wirework_registry::client::http_client_builder().build().unwrap();
    serde_json::from_slice(&client.get(url).send().await.unwrap().bytes().await.unwrap()).unwrap()
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn installed(data_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data_dir.join("plugins"))
        .map(|d| d.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| n.ends_with(".wwpkg")).collect())
        .unwrap_or_default();
    names.sort();
    names
}

fn grants(data_dir: &Path) -> toml::Value {
    toml::from_str(&std::fs::read_to_string(data_dir.join("plugins/grants.toml")).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_install_by_range_upgrade_side_by_side_lock_and_remove() {
    let registry = registry(SecretKey::generate()).await;
    let url = registry.url.as_str();
    let (author, key) = User::author();
    let packages = tempfile::tempdir().unwrap();
    let pkg = |v: &str, hosts: &[&str]| package(packages.path(), &key, "acme/crm", v, hosts, false);
    for version in ["1.2.0", "1.3.0"] {
        let out =
            author.ok(&["plugin", "publish", pkg(version, &["a.example"]).to_str().unwrap(), "--registry", url]).await;
        assert!(out.contains(&format!("published acme/crm {version}")), "{out}");
    }

    let operator = User::new();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    // Nobody's key is trusted yet: refused, with the way out named.
    let err = operator
        .fails(&["plugin", "install", "acme/crm@^1.2", "--registry", url, "--data-dir", data_dir, "--grant", "all"])
        .await;
    assert!(err.contains("does not trust") && err.contains("wirework trust add acme"), "{err}");
    assert!(installed(data.path()).is_empty());
    operator.ok(&["trust", "add", "acme", &key.public().to_string()]).await;
    // Capabilities requested and neither granted nor prompted for: refused.
    let err = operator.fails(&["plugin", "install", "acme/crm@^1.2", "--registry", url, "--data-dir", data_dir]).await;
    assert!(err.contains("http a.example") && err.contains("--grant"), "{err}");
    assert!(installed(data.path()).is_empty());

    let out = operator
        .ok(&[
            "plugin",
            "install",
            "acme/crm@^1.2",
            "--registry",
            url,
            "--data-dir",
            data_dir,
            "--grant",
            "http=a.example",
        ])
        .await;
    assert!(out.contains("installed acme/crm 1.3.0"), "the highest version in range: {out}");
    let memory = std::fs::read_to_string(operator.home.path().join("registries.json")).unwrap();
    assert!(memory.contains(url), "the first contact pinned the registry's key: {memory}");
    assert_eq!(installed(data.path()), ["acme.crm@1.3.0.wwpkg"]);

    // A yanked version leaves ranges but installs by exact pin.
    author.ok(&["registry", "yank", "acme/crm@1.3.0", "--registry", url]).await;
    let other = tempfile::tempdir().unwrap();
    let other_dir = other.path().to_str().unwrap();
    let install_other = |spec: &str| {
        ["plugin", "install", spec, "--registry", url, "--data-dir", other_dir, "--grant", "none"].map(str::to_string)
    };
    let out = operator.ok(&strs(&install_other("acme/crm@^1.2"))).await;
    assert!(out.contains("installed acme/crm 1.2.0"), "{out}");
    let out = operator.ok(&strs(&install_other("acme/crm@=1.3.0"))).await;
    assert!(out.contains("installed acme/crm 1.3.0"), "{out}");
    let show = operator.ok(&["registry", "show", "acme/crm", "--registry", url]).await;
    assert!(show.contains("1.3.0") && show.contains("[yanked]"), "{show}");
    author.ok(&["registry", "unyank", "acme/crm@1.3.0", "--registry", url]).await;

    // 1.4.0 asks for one more host: the upgrade installs it beside 1.3.0
    // without granting the new host.
    author
        .ok(&["plugin", "publish", pkg("1.4.0", &["a.example", "b.example"]).to_str().unwrap(), "--registry", url])
        .await;
    let out = operator.ok(&["plugin", "upgrade", "--data-dir", data_dir]).await;
    assert!(out.contains("installed acme/crm 1.4.0") && out.contains("not granted: http b.example"), "{out}");
    assert_eq!(installed(data.path()), ["acme.crm@1.3.0.wwpkg", "acme.crm@1.4.0.wwpkg"]);
    assert_eq!(grants(data.path())["acme/crm"]["http"], toml::Value::Array(vec!["a.example".into()]));
    let list = operator.ok(&["plugin", "list", "--data-dir", data_dir]).await;
    assert!(list.contains("acme/crm 1.3.0") && list.contains("acme/crm 1.4.0"), "{list}");
    assert!(list.contains("not granted: http b.example"), "{list}");
    // Granting it takes an explicit grant.
    let out = operator.ok(&["plugin", "upgrade", "--data-dir", data_dir]).await;
    assert!(out.contains("1.4.0 is the newest"), "{out}");

    // The lockfile reproduces the same bytes on a second host.
    let lock = Lockfile::load(&data.path().join("plugins/wirework.lock")).unwrap();
    assert_eq!(lock.plugins.iter().map(|p| p.version.to_string()).collect::<Vec<_>>(), ["1.3.0", "1.4.0"]);
    let lock_path = data.path().join("plugins/wirework.lock");
    let second = tempfile::tempdir().unwrap();
    operator
        .ok(&[
            "plugin",
            "install",
            "--locked",
            "--lockfile",
            lock_path.to_str().unwrap(),
            "--data-dir",
            second.path().to_str().unwrap(),
            "--grant",
            "http=a.example",
        ])
        .await;
    for file in ["acme.crm@1.3.0.wwpkg", "acme.crm@1.4.0.wwpkg"] {
        let a = std::fs::read(data.path().join("plugins").join(file)).unwrap();
        let b = std::fs::read(second.path().join("plugins").join(file)).unwrap();
        assert!(a == b, "{file} differs between the hosts");
    }

    // A workflow deployed on ^1.4 pins 1.4.0: removing that version is
    // refused until forced; 1.3.0 goes.
    let workflow = data.path().join("crm.yaml");
    std::fs::write(
        &workflow,
        "id: crm\ntriggers: [{id: go, type: manual}]\nnodes:\n  - {id: tag, uses: acme/crm@^1.4, node: set, config: {fields: {stage: new}}}\nconnections: [{from: go, to: tag}]\n",
    )
    .unwrap();
    operator
        .ok(&["engine", "run", "--data-dir", data_dir, "--deploy", workflow.to_str().unwrap(), "--until-idle"])
        .await;
    let err = operator.fails(&["plugin", "remove", "acme/crm@1.4.0", "--data-dir", data_dir]).await;
    assert!(err.contains("used by workflow(s) crm"), "{err}");
    operator.ok(&["plugin", "remove", "acme/crm@1.3.0", "--data-dir", data_dir]).await;
    operator.ok(&["plugin", "remove", "acme/crm@1.4.0", "--data-dir", data_dir, "--force"]).await;
    assert!(!installed(data.path()).iter().any(|n| n.starts_with("acme")));
    assert!(Lockfile::load(&lock_path).unwrap().plugins.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_refuses_a_wrong_key_and_a_manifest_the_component_contradicts() {
    let registry = registry(SecretKey::generate()).await;
    let url = registry.url.as_str();
    let (author, key) = User::author();
    let packages = tempfile::tempdir().unwrap();
    author
        .ok(&[
            "plugin",
            "publish",
            package(packages.path(), &key, "acme/crm", "1.0.0", &[], false).to_str().unwrap(),
            "--registry",
            url,
        ])
        .await;
    let checkpoint = |url: String| async move {
        let body = get_json(&format!("{url}/v1/checkpoint")).await;
        let checkpoint: Checkpoint = serde_json::from_str(body["checkpoint"].as_str().unwrap()).unwrap();
        checkpoint.length
    };
    let before = checkpoint(url.to_string()).await;

    // The manifest names a node `describe()` does not have.
    let ghost = package(packages.path(), &key, "acme/crm", "1.1.0", &[], true);
    let err = author.fails(&["plugin", "publish", ghost.to_str().unwrap(), "--registry", url]).await;
    assert!(err.contains("422") && err.contains("ghost"), "{err}");

    // Another author's key does not own `acme`.
    let (mallory, mallory_key) = User::author();
    let forged = package(packages.path(), &mallory_key, "acme/crm", "1.2.0", &[], false);
    let err = mallory.fails(&["plugin", "publish", forged.to_str().unwrap(), "--registry", url]).await;
    assert!(err.contains("403") && err.contains("acme"), "{err}");

    // Versions are immutable.
    let again = package(packages.path(), &key, "acme/crm", "1.0.0", &["changed.example"], false);
    let err = author.fails(&["plugin", "publish", again.to_str().unwrap(), "--registry", url]).await;
    assert!(err.contains("409") && err.contains("immutable"), "{err}");

    assert_eq!(checkpoint(url.to_string()).await, before, "refusals store nothing");
}

/// A registry that serves a recorded, signed but expired checkpoint with the
/// log it covered: a mirror that stopped moving.
async fn frozen_mirror(key: &SecretKey, records: Value, length: u64, head: String) -> String {
    use axum::routing::get;
    let public = key.public();
    let checkpoint = Checkpoint { registry: public.id(), length, head, time_ms: 1_000, expires_ms: 2_000 };
    let signed = serde_json::to_value(SignedCheckpoint::sign(&checkpoint, key)).unwrap();
    let key_json = json!({"key": public.to_string(), "id": public.id()});
    let router = axum::Router::new()
        .route("/v1/key", get(move || async move { axum::Json(key_json) }))
        .route("/v1/checkpoint", get(move || async move { axum::Json(signed) }))
        .route("/v1/log", get(move || async move { axum::Json(records) }));
    format!("http://{}", common::serve(router).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_refuses_a_forked_rolled_back_or_frozen_registry() {
    let registry_key = SecretKey::generate();
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("registry.key");
    registry_key.write(&key_path).unwrap();
    let honest = registry_at(&dir.path().join("honest"), SecretKey::read(&key_path).unwrap()).await;
    let (author, key) = User::author();
    let packages = tempfile::tempdir().unwrap();
    for v in ["1.0.0", "1.1.0"] {
        let pkg = package(packages.path(), &key, "acme/crm", v, &[], false);
        author.ok(&["plugin", "publish", pkg.to_str().unwrap(), "--registry", &honest]).await;
    }
    let memory = tempfile::tempdir().unwrap();
    let memory = memory.path().join("registries.json");
    let seen = RegistryClient::new(&honest, &memory).view().await.unwrap();
    assert_eq!(seen.checkpoint.length, 3, "claim and two publishes");

    // A second instance with the same key (stolen, or a hostile mirror)
    // serves another history: the same claim, then a different 1.0.0.
    let forged = registry_at(&dir.path().join("forged"), SecretKey::read(&key_path).unwrap()).await;
    let evil = package(packages.path(), &key, "acme/crm", "1.0.0", &["exfiltrate.example"], false);
    author.ok(&["plugin", "publish", evil.to_str().unwrap(), "--registry", &forged]).await;
    for v in ["1.1.0", "1.2.0"] {
        let pkg = package(packages.path(), &key, "acme/crm", v, &["exfiltrate.example"], false);
        author.ok(&["plugin", "publish", pkg.to_str().unwrap(), "--registry", &forged]).await;
    }
    let err = RegistryClient::new(&forged, &memory).view().await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Verification { source: LogError::Inconsistent(_), .. }),
        "a fork is refused: {err}"
    );
    assert!(err.to_string().contains("forked"), "{err}");

    // A third instance that lost the last publish: rolled back.
    let behind = registry_at(&dir.path().join("behind"), SecretKey::read(&key_path).unwrap()).await;
    let pkg = package(packages.path(), &key, "acme/crm", "1.0.0", &[], false);
    author.ok(&["plugin", "publish", pkg.to_str().unwrap(), "--registry", &behind]).await;
    let err = RegistryClient::new(&behind, &memory).view().await.unwrap_err();
    assert!(matches!(&err, ClientError::Verification { source: LogError::Inconsistent(_), .. }), "{err}");
    assert!(err.to_string().contains("seen before"), "{err}");

    // Nothing was remembered from the refused views: the honest one still verifies.
    let again = RegistryClient::new(&honest, &memory).view().await.unwrap();
    assert_eq!(again.checkpoint.head, seen.checkpoint.head);

    // A mirror replaying the honest log under an expired checkpoint.
    let records = get_json(&format!("{honest}/v1/log?from=0")).await;
    let mirror = frozen_mirror(&registry_key, records, 3, seen.checkpoint.head.clone()).await;
    let err = RegistryClient::new(&mirror, &memory).view().await.unwrap_err();
    assert!(matches!(&err, ClientError::Verification { source: LogError::Stale { .. }, .. }), "{err}");
    assert!(err.to_string().contains("stale"), "{err}");

    // The operator's CLI says the same.
    let operator = User::new();
    operator.ok(&["registry", "search", "crm", "--registry", &honest]).await;
    let err = operator.fails(&["registry", "search", "crm", "--registry", &forged]).await;
    assert!(err.contains("forked"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_digest_stops_a_loaded_plugin_at_the_next_refresh() {
    let Published { registry, author, key, .. } = published("acme/crm", &[]).await;
    let url = registry.url.as_str();

    // The server's home (a copy of the fixtures', its own): install into its data dir with it.
    let data = common::server::data_dir("127.0.0.1");
    let served_home = fixtures().fresh_home();
    let home = served_home.root();
    let run = |args: Vec<String>| {
        let home = home.to_path_buf();
        async move {
            let out = Command::new(env!("CARGO_BIN_EXE_wirework"))
                .args(&args)
                .env("WIREWORK_HOME", &home)
                .stdin(std::process::Stdio::null())
                .output()
                .await
                .unwrap();
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
    };
    let data_dir = data.path().to_str().unwrap().to_string();
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    run(args(&["trust", "add", "acme", &key.public().to_string()])).await;
    run(args(&["plugin", "install", "acme/crm@^1", "--registry", url, "--data-dir", &data_dir, "--grant", "none"]))
        .await;

    let server = common::server::serve_in(&served_home, data.path(), |_| {}).await;
    server
        .deploy(
            "id: crm\ntriggers: [{id: hook, type: webhook, path: lead, uses: wirework/core@^0.1}]\nnodes:\n  - {id: tag, uses: acme/crm@^1, node: set, config: {fields: {stage: new}}}\nconnections: [{from: hook, to: tag}]\n",
        )
        .await;
    let fire = || async {
        let response = server
            .client
            .post(format!("{}/hooks/crm/lead", server.url))
            .header("content-type", "application/json")
            .body(json!({"email": "ann@example.com"}).to_string())
            .send()
            .await
            .unwrap();
        let answer: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        let id = answer["execution_id"].as_str().unwrap_or_else(|| panic!("no execution: {answer}")).to_string();
        server.wait_for(&id, &["succeeded", "failed"]).await
    };
    assert_eq!(fire().await["status"], "succeeded");

    let digest =
        Lockfile::load(&data.path().join("plugins/wirework.lock")).unwrap().plugins[0].component_sha256.clone();
    author.ok(&["registry", "revoke", "acme/crm", &digest, "--registry", url]).await;
    // Still loaded until the host hears of it.
    assert_eq!(fire().await["status"], "succeeded");
    let (status, body) =
        common::server::json(server.api(reqwest::Method::POST, "/plugins/refresh").send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let signer = Lockfile::load(&data.path().join("plugins/wirework.lock")).unwrap().plugins[0].key_id.clone();
    assert_eq!(body["revocations"]["digests"]["acme/crm"], json!({ digest.clone(): [signer] }), "{body}");
    let failed = fire().await;
    assert_eq!(failed["status"], "failed");
    assert!(failed.to_string().contains("revoked"), "{failed}");
    // A revoked version no longer resolves at deploy.
    let definition = "id: crm2\ntriggers: [{id: go, type: manual}]\nnodes:\n  - {id: tag, uses: acme/crm@^1, node: set}\nconnections: [{from: go, to: tag}]\n";
    let response = server.api(reqwest::Method::POST, "/workflows").body(definition).send().await.unwrap();
    let (status, body) = common::server::json(response).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("1.0.0 (revoked)"), "{body}");
    // Removing it through the API drops its lock entry too.
    let response = server.api(reqwest::Method::DELETE, "/plugins/acme/crm/1.0.0?force=true").send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert!(Lockfile::load(&data.path().join("plugins/wirework.lock")).unwrap().plugins.is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_installs_from_the_registry_and_runs_it_at_once() {
    let Published { registry, key, .. } = published("globex/crm", &["api.globex.example"]).await;
    let url = registry.url.as_str();

    let data = common::server::data_dir("127.0.0.1");
    let served = common::server::serve(data.path(), |_| {}).await;
    let server = &served;
    let install = |body: Value| async move {
        let response = server.api_json(reqwest::Method::POST, "/plugins/install", &body).send().await.unwrap();
        common::server::json(response).await
    };
    // Every file of the data directory's plugins/, and whether the server
    // trusts a globex key: what a refused install must leave as it was.
    let snapshot = || {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(data.path().join("plugins"))
            .unwrap()
            .map(|e| e.unwrap().path())
            // Not the `.NAME.lock` files of updates, which stay once made.
            .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
            .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
            .collect();
        files.sort();
        let trust = TrustStore::load(&server.home.trust_store_path()).unwrap();
        let trusted = trust.entries().iter().any(|e| e.publishers.iter().any(|p| p == "globex"));
        (files, trusted)
    };
    let before = snapshot();
    assert!(!before.1, "no globex key is trusted at first");
    let nothing_installed = |before: &(Vec<(String, Vec<u8>)>, bool)| {
        let now = snapshot();
        let names = |s: &(Vec<(String, Vec<u8>)>, bool)| s.0.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
        assert!(
            now == *before,
            "a refused install changed something: {:?} {} -> {:?} {}",
            names(before),
            before.1,
            names(&now),
            now.1
        );
    };

    // Refusals change nothing: an untrusted signer, no grant for what the
    // package requests, a bad grant, an unreachable registry.
    let (status, body) = install(json!({"plugin": "globex/crm@^1", "registry": url, "grants": ["none"]})).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("trust"), "{body}");
    nothing_installed(&before);
    // A preview checks what an install checks, and installs nothing: what the
    // version requests, and the key it would trust on first use.
    let preview = |body: Value| async move {
        let response = server.api_json(reqwest::Method::POST, "/plugins/install/preview", &body).send().await.unwrap();
        common::server::json(response).await
    };
    let (status, body) = preview(json!({"plugin": "globex/crm@^1", "registry": url})).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("trust"), "{body}");
    let (status, body) = preview(json!({"plugin": "globex/crm@^1", "registry": url, "trust_on_first_use": true})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["name"].as_str(), body["version"].as_str()), (Some("globex/crm"), Some("1.0.0")), "{body}");
    assert_eq!(body["requested"]["http"], json!(["api.globex.example"]), "{body}");
    assert!(body["notes"].to_string().contains("trust"), "{body}");
    nothing_installed(&before);
    let (status, body) = preview(json!({"plugin": "globex/crm@^9", "registry": url, "trust_on_first_use": true})).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = preview(json!({"plugin": "globex/crm@^1", "registry": "http://127.0.0.1:9"})).await;
    assert_eq!(status, 502, "{body}");
    for registry in ["", "ftp://127.0.0.1", "127.0.0.1:7080"] {
        let (status, body) = preview(json!({"plugin": "globex/crm@^1", "registry": registry})).await;
        assert_eq!(status, 400, "{registry}: {body}");
        let (status, body) = install(json!({"plugin": "globex/crm@^1", "registry": registry, "grants": ["all"]})).await;
        assert_eq!(status, 400, "{registry}: {body}");
    }
    // Trusted on first use, but refused for want of a grant: the key is not kept.
    let (status, body) = install(json!({"plugin": "globex/crm@^1", "registry": url, "trust_on_first_use": true})).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("requests capabilities"), "{body}");
    nothing_installed(&before);
    served_trusts(&server.home, "globex", &key).await;
    let trusted_before = snapshot();
    assert!(trusted_before.1);
    let (status, body) = install(json!({"plugin": "globex/crm@^1", "registry": url})).await;
    assert_eq!(status, 422, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("requests capabilities (http api.globex.example)") && error.contains("none"), "{body}");
    nothing_installed(&trusted_before);
    let (status, body) = install(json!({"plugin": "globex/crm@^1", "registry": url, "grants": ["everything"]})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = install(json!({"plugin": "globex/crm@^1", "registry": "http://127.0.0.1:9"})).await;
    assert_eq!(status, 502, "{body}");
    nothing_installed(&trusted_before);

    // The operator's CLI installs through the server, which runs it at once.
    let operator = User::new();
    let out = operator
        .ok(&[
            "plugin",
            "install",
            "globex/crm@^1",
            "--registry",
            url,
            "--server",
            &server.url,
            "--token",
            common::server::ADMIN,
            "--grant",
            "http=api.globex.example",
        ])
        .await;
    assert!(out.contains("globex/crm@1.0.0"), "{out}");
    let lock = Lockfile::load(&data.path().join("plugins/wirework.lock")).unwrap();
    let entry = lock.plugins.iter().find(|p| p.name == "globex/crm").expect("locked in the served data dir");
    assert_eq!((entry.version.to_string(), entry.registry.as_str(), entry.range.as_str()), ("1.0.0".into(), url, "^1"));
    let (status, grant) =
        common::server::json(server.api(reqwest::Method::GET, "/plugins/globex/crm/grants").send().await.unwrap())
            .await;
    assert_eq!((status, grant["http"].clone()), (200, json!(["api.globex.example"])));
    server
        .deploy(
            "id: globex\ntriggers: [{id: hook, type: webhook, path: lead, uses: wirework/core@^0.1}]\nnodes:\n  - {id: tag, uses: globex/crm@^1, node: set, config: {fields: {stage: new}}}\nconnections: [{from: hook, to: tag}]\n",
        )
        .await;
    let response = server
        .client
        .post(format!("{}/hooks/globex/lead", server.url))
        .header("content-type", "application/json")
        .body(json!({"email": "ann@example.com"}).to_string())
        .send()
        .await
        .unwrap();
    let (status, answer) = common::server::json(response).await;
    assert_eq!(status, 202, "{answer}");
    let execution = server.wait_for(answer["execution_id"].as_str().unwrap(), &["succeeded", "failed"]).await;
    assert_eq!(execution["status"], "succeeded", "{execution}");
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_upgrades_its_plugins_and_one_failure_stops_no_other() {
    // initech/crm comes from an in-process registry; hooli/crm (done first:
    // plugins go in name order) from a registry process that is stopped
    // before the upgrade.
    let Published { registry, author, key, .. } = published("initech/crm", &[]).await;
    let url = registry.url.as_str();
    let hooli_dir = tempfile::tempdir().unwrap();
    let hooli_registry = registry_process(hooli_dir.path()).await;
    let (hooli_author, hooli_key) = User::author();
    let packages = tempfile::tempdir().unwrap();
    let hooli = package(packages.path(), &hooli_key, "hooli/crm", "1.0.0", &[], false);
    hooli_author.ok(&["plugin", "publish", hooli.to_str().unwrap(), "--registry", &hooli_registry.url]).await;

    let data = common::server::data_dir("127.0.0.1");
    let served = common::server::serve(data.path(), |_| {}).await;
    let server = &served;
    served_trusts(&server.home, "initech", &key).await;
    served_trusts(&server.home, "hooli", &hooli_key).await;
    for (spec, registry) in [("initech/crm@^1", url), ("hooli/crm@^1", hooli_registry.url.as_str())] {
        let body = json!({"plugin": spec, "registry": registry});
        let response = server.api_json(reqwest::Method::POST, "/plugins/install", &body).send().await.unwrap();
        let (status, body) = common::server::json(response).await;
        assert_eq!(status, 201, "{body}");
    }
    let operator = User::new();
    let upgrade = |extra: &'static [&'static str]| {
        let mut args = vec!["plugin", "upgrade", "--server", &server.url, "--token", common::server::ADMIN];
        args.extend_from_slice(extra);
        let operator = &operator;
        async move { operator.run(&args).await }
    };

    // Nothing newer yet.
    let (ok, stdout, stderr) = upgrade(&[]).await;
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("initech/crm 1.0.0 is the newest in `^1`"), "{stdout}");
    assert!(stdout.contains("hooli/crm 1.0.0 is the newest in `^1`"), "{stdout}");
    // A plugin the server did not install from a registry is refused, and nothing is done.
    let (ok, _, stderr) = upgrade(&["acme/none"]).await;
    assert!(!ok && stderr.contains("acme/none was not installed from a registry"), "{stderr}");

    // 1.1.0 asks for HTTP to a host; hooli's registry goes away.
    let v110 = package(packages.path(), &key, "initech/crm", "1.1.0", &["api.initech.example"], false);
    author.ok(&["plugin", "publish", v110.to_str().unwrap(), "--registry", url]).await;
    drop(hooli_registry);
    let (ok, stdout, stderr) = upgrade(&[]).await;
    assert!(!ok, "a failed plugin makes the upgrade exit non-zero:\n{stdout}\n{stderr}");
    assert!(stdout.contains("initech/crm@1.1.0"), "the other plugin still upgraded:\n{stdout}\n{stderr}");
    assert!(stderr.contains("beside 1.0.0") && stderr.contains("not granted: http api.initech.example"), "{stderr}");
    assert!(stderr.contains("initech/crm 1.1.0 requests: http api.initech.example"), "{stderr}");
    assert!(stderr.contains("error: hooli/crm:"), "{stderr}");
    let lock = Lockfile::load(&data.path().join("plugins/wirework.lock")).unwrap();
    let mut locked: Vec<String> = lock.plugins.iter().map(|p| format!("{}@{}", p.name, p.version)).collect();
    locked.sort();
    assert_eq!(locked, ["hooli/crm@1.0.0", "initech/crm@1.0.0", "initech/crm@1.1.0"]);
    // Both initech versions are loaded, and the grant stayed as it was.
    assert_eq!(loaded_versions(server, "initech/crm").await, ["1.0.0", "1.1.0"]);
    let (_, grant) =
        common::server::json(server.api(reqwest::Method::GET, "/plugins/initech/crm/grants").send().await.unwrap())
            .await;
    assert_eq!(grant["http"], json!([]), "an upgrade grants nothing new without --grant: {grant}");

    // Upgraded already: only the unreachable registry still fails, and the API
    // answers each plugin's outcome with the status an install would get.
    let (ok, stdout, stderr) = upgrade(&[]).await;
    assert!(!ok && stdout.contains("initech/crm 1.1.0 is the newest in `^1`"), "{stdout}\n{stderr}");
    assert!(stderr.contains("error: hooli/crm:"), "{stderr}");
    let response =
        server.api_json(reqwest::Method::POST, "/plugins/upgrade", &json!({"plugins": ["hooli/crm"]})).send().await;
    let (status, answer) = common::server::json(response.unwrap()).await;
    assert_eq!(status, 200, "{answer}");
    let outcome = &answer["plugins"][0];
    assert_eq!(
        (outcome["name"].as_str(), outcome["outcome"].as_str()),
        (Some("hooli/crm"), Some("failed")),
        "{answer}"
    );
    assert_eq!(outcome["status"], 502, "an unreachable registry: {answer}");

    // Two upgrades at once: the second waits for the first, then finds the
    // plugin current (it does not install 1.2.0 a second time).
    let v120 = package(packages.path(), &key, "initech/crm", "1.2.0", &["api.initech.example"], false);
    author.ok(&["plugin", "publish", v120.to_str().unwrap(), "--registry", url]).await;
    let body = json!({"plugins": ["initech/crm"]});
    let (first, second) = tokio::join!(
        server.api_json(reqwest::Method::POST, "/plugins/upgrade", &body).send(),
        server.api_json(reqwest::Method::POST, "/plugins/upgrade", &body).send(),
    );
    let mut outcomes = Vec::new();
    for response in [first, second] {
        let (status, answer) = common::server::json(response.unwrap()).await;
        assert_eq!(status, 200, "{answer}");
        let outcome = &answer["plugins"][0];
        if outcome["outcome"] == "upgraded" {
            assert_eq!(outcome["version"], "1.2.0", "{answer}");
            assert_eq!(outcome["requested"]["http"], json!(["api.initech.example"]), "{answer}");
        } else {
            assert_eq!(outcome["from"], "1.2.0", "the second saw the first's upgrade: {answer}");
        }
        outcomes.push(outcome["outcome"].as_str().unwrap_or("?").to_string());
    }
    outcomes.sort();
    assert_eq!(outcomes, ["current", "upgraded"]);
    served.stop().await;
}

/// Installs from registries on one server run one at a time: of two at once
/// from a publisher the server does not know yet (one by range, one from a
/// lockfile), the second sees the key the first trusted on first use and
/// the registry it pinned, so only one answer says it did either, and the key
/// is trusted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_installs_from_registries_one_at_a_time() {
    let Published { registry, author, key, _packages: packages, .. } = published("umbrella/crm", &[]).await;
    let url = registry.url.as_str();
    let erp = package(packages.path(), &key, "umbrella/erp", "1.0.0", &[], false);
    author.ok(&["plugin", "publish", erp.to_str().unwrap(), "--registry", url]).await;
    // Another host's lockfile, with umbrella/erp in it.
    let elsewhere = tempfile::tempdir().unwrap();
    let dir = elsewhere.path().to_str().unwrap();
    let installing = ["plugin", "install", "umbrella/erp@^1", "--registry", url, "--data-dir", dir];
    User::new().ok(&[&installing[..], &["--trust-on-first-use", "--grant", "all"]].concat()).await;
    let lockfile = std::fs::read_to_string(elsewhere.path().join("plugins/wirework.lock")).unwrap();

    let data = common::server::data_dir("127.0.0.1");
    let served = common::server::serve(data.path(), |_| {}).await;
    let server = &served;
    let by_range = json!({"plugin": "umbrella/crm@^1", "registry": url, "trust_on_first_use": true});
    let locked = json!({"lockfile": lockfile, "trust_on_first_use": true});
    let (crm, erp) = tokio::join!(
        server.api_json(reqwest::Method::POST, "/plugins/install", &by_range).send(),
        server.api_json(reqwest::Method::POST, "/plugins/install-locked", &locked).send(),
    );
    let notes_of = |answer: &Value| -> Vec<String> {
        answer["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()).collect()
    };
    let (status, crm) = common::server::json(crm.unwrap()).await;
    assert_eq!(status, 201, "{crm}");
    let (status, erp) = common::server::json(erp.unwrap()).await;
    assert_eq!(status, 201, "{erp}");
    let notes = [notes_of(&crm), notes_of(&erp["plugins"][0])];
    let saying = |what: &str| notes.iter().filter(|n| n.iter().any(|n| n.contains(what))).count();
    assert_eq!(saying("on first use"), 1, "one install trusted the key: {notes:?}");
    assert_eq!(saying("pinned registry"), 1, "one install pinned the registry: {notes:?}");
    let trust = TrustStore::load(&server.home.trust_store_path()).unwrap();
    let umbrella = trust.entries().iter().filter(|e| e.publishers.iter().any(|p| p == "umbrella")).count();
    assert_eq!(umbrella, 1, "{:?}", trust.entries());
    assert_eq!(loaded_versions(server, "umbrella/crm").await, ["1.0.0"]);
    assert_eq!(loaded_versions(server, "umbrella/erp").await, ["1.0.0"]);
    let lock = Lockfile::load(&data.path().join("plugins/wirework.lock")).unwrap();
    let mut locked: Vec<String> = lock.plugins.iter().map(|p| format!("{}@{}", p.name, p.version)).collect();
    locked.sort();
    assert_eq!(locked, ["umbrella/crm@1.0.0", "umbrella/erp@1.0.0"]);
    served.stop().await;
}

/// `plugin install --locked --server`: a server installs exactly what
/// another host's lockfile lists (not the newer version published since),
/// and a lockfile naming another registry key is refused, nothing installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_installs_exactly_what_a_lockfile_lists() {
    let Published { registry, author, key, _packages: packages, .. } = published("initech/crm", &[]).await;
    let url = registry.url.as_str();
    // The first host: a data directory.
    let operator = User::new();
    operator.ok(&["trust", "add", "initech", &key.public().to_string()]).await;
    let first = tempfile::tempdir().unwrap();
    let first_dir = first.path().to_str().unwrap();
    operator.ok(&["plugin", "install", "initech/crm@^1", "--registry", url, "--data-dir", first_dir]).await;
    let lockfile = first.path().join("plugins/wirework.lock");
    let v110 = package(packages.path(), &key, "initech/crm", "1.1.0", &[], false);
    author.ok(&["plugin", "publish", v110.to_str().unwrap(), "--registry", url]).await;

    // The second host: a running server that trusts the same key.
    let data = common::server::data_dir("127.0.0.1");
    let served = common::server::serve(data.path(), |_| {}).await;
    let server = &served;
    served_trusts(&server.home, "initech", &key).await;
    let loaded = || loaded_versions(server, "initech/crm");
    let install_locked = |lockfile: &Path| {
        let lockfile = lockfile.to_str().unwrap().to_string();
        let operator = &operator;
        async move {
            let args = ["plugin", "install", "--locked", "--lockfile", &lockfile, "--server", &server.url];
            let mut args = args.to_vec();
            args.extend(["--token", common::server::ADMIN]);
            operator.run(&args).await
        }
    };

    // A lockfile whose registry key is not the registry's: refused, nothing installed.
    let forged = first.path().join("forged.lock");
    let text = std::fs::read_to_string(&lockfile).unwrap();
    let real_key = Lockfile::load(&lockfile).unwrap().plugins[0].registry_key.clone();
    std::fs::write(&forged, text.replace(&real_key, "00000000deadbeef")).unwrap();
    let (ok, stdout, stderr) = install_locked(&forged).await;
    assert!(!ok, "{stdout}\n{stderr}");
    assert!(stderr.contains("initech/crm@1.0.0") && stderr.contains("lockfile was written against"), "{stderr}");
    assert!(loaded().await.is_empty(), "nothing was installed");

    // A second entry whose digest is not the one the registry's log records:
    // the first entry stays installed, and the error says so.
    let mut two = Lockfile::load(&lockfile).unwrap();
    let mut second = two.plugins[0].clone();
    second.version = "1.1.0".parse().unwrap();
    second.package_sha256 = "00".repeat(32);
    two.plugins.push(second);
    let partial = first.path().join("partial.lock");
    two.save(&partial).unwrap();
    let (ok, stdout, stderr) = install_locked(&partial).await;
    assert!(!ok, "{stdout}\n{stderr}");
    assert!(stderr.contains("initech/crm@1.1.0: "), "{stderr}");
    assert!(stderr.contains("installed before it, and kept: initech/crm@1.0.0"), "{stderr}");
    assert!(stderr.contains("their notes: pinned registry"), "the kept install's notes are told: {stderr}");
    assert_eq!(loaded().await, ["1.0.0"]);

    // Removed again, then the whole lockfile: installed and running at once.
    let response = server.api(reqwest::Method::DELETE, "/plugins/initech/crm/1.0.0").send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert!(loaded().await.is_empty());
    let (ok, stdout, stderr) = install_locked(&lockfile).await;
    assert!(ok, "{stdout}\n{stderr}");
    assert_eq!(stdout.trim(), "initech/crm@1.0.0", "the locked version, not the newest: {stderr}");
    assert_eq!(loaded().await, ["1.0.0"], "running at once");
    let served_lock = Lockfile::load(&data.path().join("plugins/wirework.lock")).unwrap();
    assert_eq!(served_lock.plugins, Lockfile::load(&lockfile).unwrap().plugins, "the same entries, digests and keys");

    // Without --lockfile, the server installs again what its own lists.
    let args = ["plugin", "install", "--locked", "--server", &server.url, "--token", common::server::ADMIN];
    let (ok, stdout, stderr) = operator.run(&args).await;
    assert!(ok && stdout.trim() == "initech/crm@1.0.0", "{stdout}\n{stderr}");
    served.stop().await;
}

/// Make a test server's home (`TestServer::home`, its own) trust `key` for `publisher`.
async fn served_trusts(home: &Home, publisher: &str, key: &SecretKey) {
    let trusted = Command::new(env!("CARGO_BIN_EXE_wirework"))
        .args(["trust", "add", publisher, &key.public().to_string()])
        .env("WIREWORK_HOME", home.root())
        .output()
        .await
        .unwrap();
    assert!(trusted.status.success(), "{}", String::from_utf8_lossy(&trusted.stderr));
}

/// The versions of plugin `name` that `server` has loaded, sorted.
async fn loaded_versions(server: &common::server::TestServer, name: &str) -> Vec<String> {
    let (status, plugins) =
        common::server::json(server.api(reqwest::Method::GET, "/plugins").send().await.unwrap()).await;
    assert_eq!(status, 200, "{plugins}");
    let mut versions: Vec<String> = plugins
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == name)
        .map(|p| p["version"].as_str().unwrap().to_string())
        .collect();
    versions.sort();
    versions
}

/// `wirework registry serve` as its own process on a port the OS picks;
/// killed when dropped.
struct RegistryProcess {
    child: tokio::process::Child,
    url: String,
}

impl Drop for RegistryProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn registry_process(data_dir: &Path) -> RegistryProcess {
    use tokio::io::AsyncBufReadExt;
    let mut child = Command::new(env!("CARGO_BIN_EXE_wirework"))
        .args(["registry", "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir.to_str().unwrap()])
        .env("WIREWORK_HOME", data_dir.join("home"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
        .await
        .expect("the registry starts within a minute")
        .unwrap()
        .expect("the registry prints its address");
    let url = line.strip_prefix("registry listening on ").expect("`registry listening on URL`").to_string();
    RegistryProcess { child, url }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_trusted_through_the_log_and_a_revoked_key_stops_installs() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry_process(dir.path()).await;
    let url = registry.url.as_str();
    let (author, old_key) = User::author();
    let packages = tempfile::tempdir().unwrap();
    let v100 = package(packages.path(), &old_key, "acme/crm", "1.0.0", &[], false);
    author.ok(&["plugin", "publish", v100.to_str().unwrap(), "--registry", url]).await;

    // The operator trusts the key the publisher had when they met.
    let operator = User::new();
    operator.ok(&["trust", "add", "acme", &old_key.public().to_string()]).await;

    // The publisher rotates: signed by the old key, proven by the new one.
    let new_key = SecretKey::generate();
    let new_path = author.home.path().join("keys/new.key");
    new_key.write(&new_path).unwrap();
    let out = author
        .ok(&["registry", "rotate-key", "acme", "--new-key", new_path.to_str().unwrap(), "--registry", url])
        .await;
    assert!(out.contains(&new_key.public().id()), "{out}");
    let v110 = package(packages.path(), &new_key, "acme/crm", "1.1.0", &[], false);
    let err = author.fails(&["plugin", "publish", v110.to_str().unwrap(), "--registry", url]).await;
    assert!(err.contains("not by the publishing key"), "checked before the upload: {err}");
    // Signed by the old key, sent with the old key: the registry refuses it.
    let elsewhere = tempfile::tempdir().unwrap();
    let stale = package(elsewhere.path(), &old_key, "acme/crm", "1.1.0", &[], false);
    let err = author.fails(&["plugin", "publish", stale.to_str().unwrap(), "--registry", url]).await;
    assert!(err.contains("403"), "the old key no longer publishes: {err}");
    author
        .ok(&["plugin", "publish", v110.to_str().unwrap(), "--registry", url, "--key", new_path.to_str().unwrap()])
        .await;

    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let out = operator
        .ok(&["plugin", "install", "acme/crm@^1.1", "--registry", url, "--data-dir", data_dir, "--grant", "none"])
        .await;
    assert!(out.contains("installed acme/crm 1.1.0"), "{out}");
    assert!(out.contains(&format!("trusting key {}", new_key.public().id())), "trusted through the rotation: {out}");
    operator
        .ok(&["plugin", "install", "acme/crm@=1.0.0", "--registry", url, "--data-dir", data_dir, "--grant", "none"])
        .await;

    // Both versions loaded in a host, as `wirework serve` loads them.
    let home = Home::at(operator.home.path());
    let trust = TrustStore::load(&home.trust_store_path()).unwrap();
    let runtime = Runtime::new(RuntimeConfig::default(), Arc::new(MemoryKv::default())).unwrap();
    let plugins = InstalledPlugins::new(runtime, 4);
    assert_eq!(plugins.load_dir(&data.path().join("plugins"), &trust).await.unwrap().len(), 2);
    let call = |version: &str| {
        let invocation = Invocation {
            node: "set".into(),
            config: json!({"fields": {"stage": "new"}}).to_string(),
            items: vec!["{}".into()],
            execution_id: "e1".into(),
            attempt: 1,
            idempotency_key: "k".into(),
            ..Default::default()
        };
        plugins.invoke("acme/crm", &Version::parse(version).unwrap(), invocation)
    };
    assert!(call("1.0.0").await.result.is_ok());

    // The old key is revoked: what it signed no longer installs, even pinned,
    // and stops running once the host has synced the revocations.
    let old_id = old_key.public().id();
    author
        .ok(&["registry", "revoke-key", "acme", &old_id, "--registry", url, "--key", new_path.to_str().unwrap()])
        .await;
    let other = tempfile::tempdir().unwrap();
    let err = operator
        .fails(&[
            "plugin",
            "install",
            "acme/crm@=1.0.0",
            "--registry",
            url,
            "--data-dir",
            other.path().to_str().unwrap(),
            "--grant",
            "none",
        ])
        .await;
    assert!(err.contains("1.0.0 (revoked)"), "{err}");
    assert!(installed(other.path()).is_empty());
    assert!(call("1.0.0").await.result.is_ok(), "still running until the host hears of it");
    let (revocations, unreachable) = wirework::plugins::registry::sync_revocations(&home, data.path()).await.unwrap();
    assert!(unreachable.is_empty(), "{unreachable:?}");
    plugins.set_revocations(revocations);
    let err = call("1.0.0").await.result.unwrap_err().to_string();
    assert!(err.contains("is revoked") && err.contains(&old_id), "{err}");
    assert!(call("1.1.0").await.result.is_ok(), "the new key's build runs on");
    let list = operator.ok(&["plugin", "list", "--data-dir", data_dir]).await;
    let line = |v: &str| list.lines().find(|l| l.contains(&format!("acme/crm {v}"))).unwrap_or_default().to_string();
    assert!(line("1.0.0").contains("REVOKED"), "{list}");
    assert!(!line("1.1.0").contains("REVOKED"), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_on_first_use_and_a_failed_install_trusts_nothing() {
    let Published { registry, key, .. } = published("acme/crm", &["api.acme.example"]).await;
    let url = registry.url.as_str();
    let operator = User::new();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let trust_store = Home::at(operator.home.path()).trust_store_path();
    let trusts_acme = || TrustStore::load(&trust_store).unwrap().by_id(&key.public().id()).is_some();

    // The grant is refused (no --grant, no terminal): the key the install
    // would have trusted on first use is not trusted, nothing is written.
    let install =
        ["plugin", "install", "acme/crm@^1", "--registry", url, "--data-dir", data_dir, "--trust-on-first-use"];
    let err = operator.fails(&install).await;
    assert!(err.contains("--grant"), "{err}");
    assert!(!trusts_acme(), "a failed install trusts no key");
    assert!(installed(data.path()).is_empty());
    assert!(Lockfile::load(&data.path().join("plugins/wirework.lock")).unwrap().plugins.is_empty());
    // A lockfile that does not parse stops the install before anything is
    // written, the trust store included.
    let lock_path = data.path().join("plugins/wirework.lock");
    std::fs::create_dir_all(lock_path.parent().unwrap()).unwrap();
    std::fs::write(&lock_path, "[[plugin]\nname = ").unwrap();
    let err = operator.fails(&[&install[..], &["--grant", "all"]].concat()).await;
    assert!(err.contains("wirework.lock"), "{err}");
    assert!(!trusts_acme(), "a failed install trusts no key");
    assert!(installed(data.path()).is_empty());
    std::fs::remove_file(&lock_path).unwrap();
    // The trust store cannot be written (its lock is a directory): the
    // package, grant and lock entry written before are undone.
    let trust_lock = operator.home.path().join(".trust.toml.lock");
    std::fs::create_dir_all(&trust_lock).unwrap();
    let err = operator.fails(&[&install[..], &["--grant", "all"]].concat()).await;
    assert!(err.contains("nothing was installed"), "{err}");
    assert!(!trusts_acme());
    assert!(installed(data.path()).is_empty());
    assert!(Lockfile::load(&lock_path).unwrap().plugins.is_empty());
    let grants = std::fs::read_to_string(data.path().join("plugins/grants.toml")).unwrap_or_default();
    assert!(!grants.contains("acme/crm"), "{grants}");
    std::fs::remove_dir(&trust_lock).unwrap();

    let out = operator.ok(&[&install[..], &["--grant", "all"]].concat()).await;
    assert!(out.contains("installed acme/crm 1.0.0") && out.contains("on first use"), "{out}");
    assert!(trusts_acme());

    // Once some key of `acme` is trusted, first use is over: a package
    // signed by another key is refused.
    let (_, other_key) = User::author();
    let wary = User::new();
    wary.ok(&["trust", "add", "acme", &other_key.public().to_string()]).await;
    let second = tempfile::tempdir().unwrap();
    let err = wary
        .fails(&[
            "plugin",
            "install",
            "acme/crm@^1",
            "--registry",
            url,
            "--data-dir",
            second.path().to_str().unwrap(),
            "--trust-on-first-use",
            "--grant",
            "all",
        ])
        .await;
    assert!(err.contains("does not trust") && !err.contains("--trust-on-first-use"), "{err}");
    let wary_trust = TrustStore::load(&Home::at(wary.home.path()).trust_store_path()).unwrap();
    assert!(wary_trust.by_id(&key.public().id()).is_none());
    assert!(installed(second.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_install_refuses_a_registry_with_another_key_and_pins_nothing() {
    let Published { registry, author, key, pkg, _packages: packages } = published("acme/crm", &[]).await;
    let operator = User::new();
    operator.ok(&["trust", "add", "acme", &key.public().to_string()]).await;
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    operator
        .ok(&[
            "plugin",
            "install",
            "acme/crm@1",
            "--registry",
            &registry.url,
            "--data-dir",
            data_dir,
            "--grant",
            "none",
        ])
        .await;

    // An impostor with its own key serves the same package under another
    // URL; the lockfile is pointed at it.
    let impostor = self::registry(SecretKey::generate()).await;
    author.ok(&["plugin", "publish", pkg.to_str().unwrap(), "--registry", &impostor.url]).await;
    let lock_path = data.path().join("plugins/wirework.lock");
    let mut lock = Lockfile::load(&lock_path).unwrap();
    lock.plugins[0].registry = impostor.url.clone();
    let edited = packages.path().join("edited.lock");
    lock.save(&edited).unwrap();

    let fresh = User::new();
    fresh.ok(&["trust", "add", "acme", &key.public().to_string()]).await;
    let second = tempfile::tempdir().unwrap();
    let err = fresh
        .fails(&[
            "plugin",
            "install",
            "--locked",
            "--lockfile",
            edited.to_str().unwrap(),
            "--data-dir",
            second.path().to_str().unwrap(),
            "--grant",
            "none",
        ])
        .await;
    assert!(err.contains("lockfile was written against its key"), "{err}");
    assert!(installed(second.path()).is_empty());
    let memory = std::fs::read_to_string(fresh.home.path().join("registries.json")).unwrap_or_default();
    assert!(!memory.contains(&impostor.url), "the impostor's key was not pinned: {memory}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installed_version_is_not_replaced_by_other_contents_from_another_registry() {
    // hooli/crm 1.0.0 on one registry, and a 1.0.0 with other contents (it
    // asks for another host) by the same author on a second one.
    let Published { registry: first, author, key, pkg, _packages: _keep } =
        published("hooli/crm", &["a.example"]).await;
    let second = registry(SecretKey::generate()).await;
    let other_packages = tempfile::tempdir().unwrap();
    let other = package(other_packages.path(), &key, "hooli/crm", "1.0.0", &["b.example"], false);
    author.ok(&["plugin", "publish", other.to_str().unwrap(), "--registry", &second.url]).await;

    // The CLI into a data directory.
    let operator = User::new();
    operator.ok(&["trust", "add", "hooli", &key.public().to_string()]).await;
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let install = |url: &str| {
        ["plugin", "install", "hooli/crm@=1.0.0", "--registry", url, "--data-dir", data_dir, "--grant", "all"]
            .map(String::from)
    };
    operator.ok(&strs(&install(&first.url))).await;
    let file = data.path().join("plugins/hooli.crm@1.0.0.wwpkg");
    let kept = (std::fs::read(&file).unwrap(), std::fs::read(data.path().join("plugins/wirework.lock")).unwrap());
    assert_eq!(kept.0, std::fs::read(&pkg).unwrap());
    let err = operator.fails(&strs(&install(&second.url))).await;
    assert!(err.contains("hooli/crm 1.0.0 is installed already, with other contents"), "{err}");
    assert!(err.contains("or remove hooli/crm@1.0.0 first"), "{err}");
    assert_eq!(
        (std::fs::read(&file).unwrap(), std::fs::read(data.path().join("plugins/wirework.lock")).unwrap()),
        kept
    );
    // The same contents again are fine; so is `plugin add` of the same file,
    // and `plugin add` of the other is refused as well.
    operator.ok(&strs(&install(&first.url))).await;
    operator.ok(&["plugin", "add", pkg.to_str().unwrap(), "--data-dir", data_dir]).await;
    let err = operator.fails(&["plugin", "add", other.to_str().unwrap(), "--data-dir", data_dir]).await;
    assert!(err.contains("hooli/crm 1.0.0 is installed already, with other contents"), "{err}");
    assert!(err.contains("plugin add --replace"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), kept.0);
    // Unless asked to, for a rebuilt plugin in a data directory of one's own;
    // the lockfile entry of the package replaced goes with it.
    let other_dir = tempfile::tempdir().unwrap();
    let scratch = other_dir.path().to_str().unwrap();
    let mut into_scratch = install(&first.url);
    into_scratch[6] = scratch.to_string();
    operator.ok(&strs(&into_scratch)).await;
    let locked = || std::fs::read_to_string(other_dir.path().join("plugins/wirework.lock")).unwrap();
    assert!(locked().contains("hooli/crm"), "{}", locked());
    operator.ok(&["plugin", "add", other.to_str().unwrap(), "--data-dir", scratch, "--replace"]).await;
    let replaced = std::fs::read(other_dir.path().join("plugins/hooli.crm@1.0.0.wwpkg")).unwrap();
    assert_eq!(replaced, std::fs::read(&other).unwrap());
    assert!(!locked().contains("hooli/crm"), "{}", locked());

    // A running server: 409, and the version it runs stays as it was.
    let served_home = fixtures().fresh_home();
    served_trusts(&served_home, "hooli", &key).await;
    let served_data = common::server::data_dir("127.0.0.1");
    let served = common::server::serve_in(&served_home, served_data.path(), |_| {}).await;
    let server_install = |url: &str| {
        let body = json!({"plugin": "hooli/crm@=1.0.0", "registry": url, "grants": ["all"]});
        served.api_json(reqwest::Method::POST, "/plugins/install", &body).send()
    };
    let (status, body) = common::server::json(server_install(&first.url).await.unwrap()).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = common::server::json(server_install(&second.url).await.unwrap()).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("installed already, with other contents"), "{body}");
    let served_file = served_data.path().join("plugins/hooli.crm@1.0.0.wwpkg");
    assert_eq!(std::fs::read(&served_file).unwrap(), kept.0);
    // Nor does `plugin add` through it, --replace or not.
    let add = |replace: bool| {
        let mut args = vec!["plugin", "add", other.to_str().unwrap(), "--server", &served.url];
        args.extend(["--token", common::server::ADMIN]);
        if replace {
            args.push("--replace");
        }
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let err = operator.fails(&strs(&add(false))).await;
    assert!(err.contains("installed already, with other contents"), "{err}");
    let err = operator.fails(&strs(&add(true))).await;
    assert!(err.contains("--replace works on a data directory only"), "{err}");
    // Nor into its data directory behind its back.
    let served_dir = served_data.path().to_str().unwrap();
    let behind = ["plugin", "add", other.to_str().unwrap(), "--data-dir", served_dir, "--replace"];
    let err = operator.fails(&behind).await;
    assert!(err.contains("a running wirework has") && err.contains("stop it first"), "{err}");
    assert_eq!(std::fs::read(&served_file).unwrap(), kept.0);
    let (_, grants) =
        common::server::json(served.api(reqwest::Method::GET, "/plugins/hooli/crm/grants").send().await.unwrap()).await;
    assert_eq!(grants["http"], json!(["a.example"]), "{grants}");
    served.stop().await;
}
