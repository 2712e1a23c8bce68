//! `wirework serve` in-process on a loopback port picked by the OS, with the
//! fixture plugins installed, a known admin token and a home of its own.

use super::engine::install_fixtures;
use super::{fixtures, OwnHome};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use wirework::home::Home;
use wirework::server::config::Settings;
use wirework::server::{ServeConfig, Server};

pub const ADMIN: &str = "test-admin-token";

/// A running server; [`TestServer::stop`] shuts it down gracefully.
pub struct TestServer {
    pub url: String,
    pub client: reqwest::Client,
    /// The server's home: what it trusts, the registries it pinned.
    pub home: Home,
    /// The home [`serve`] made for it (none for [`serve_in`]).
    _own_home: Option<OwnHome>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// A data dir with the fixtures installed, HTTP granted to `grant_http`.
pub fn data_dir(grant_http: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    install_fixtures(dir.path(), grant_http);
    dir
}

/// Serve `data_dir` with a home of the server's own (a fresh copy of the
/// fixtures' home, in [`TestServer::home`]); `tweak` adjusts the settings.
pub async fn serve(data_dir: &Path, tweak: impl Fn(&mut ServeConfig)) -> TestServer {
    let home = fixtures().fresh_home();
    let mut server = serve_in(&home, data_dir, tweak).await;
    server._own_home = Some(home);
    server
}

/// Serve `data_dir` with `home` (one the caller prepared, e.g. from
/// [`super::Fixtures::fresh_home`]); `tweak` adjusts the settings.
pub async fn serve_in(home: &Home, data_dir: &Path, tweak: impl Fn(&mut ServeConfig)) -> TestServer {
    let overrides =
        Settings { listen: Some("127.0.0.1:0".into()), data_dir: Some(data_dir.to_path_buf()), ..Default::default() };
    let mut config = ServeConfig::resolve(None, overrides).unwrap();
    config.admin_token = Some(ADMIN.into());
    config.secret_key_hex = None;
    config.component_cache = Some(super::component_cache());
    tweak(&mut config);
    // A store just given up by an earlier server is released once that
    // server's last task ends: retry for a while.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let server = loop {
        match Server::open(config.clone(), home.clone()).await {
            Ok(server) => break server,
            Err(e) if tokio::time::Instant::now() < deadline && format!("{e:#}").contains("opening the store") => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("opening the server on {}: {e:#}", data_dir.display()),
        }
    };
    let url = format!("http://{}", server.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let client = wirework_registry::client::http_client_builder().timeout(Duration::from_secs(60)).build().unwrap();
    TestServer { url, client, home: home.clone(), _own_home: None, stop: Some(stop), task: Some(task) }
}

impl TestServer {
    /// A request to the API with the admin token.
    pub fn api(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}/api/v1{path}", self.url)).bearer_auth(ADMIN)
    }

    /// A request to any path, without a token.
    pub fn raw(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.url))
    }

    /// Deploy a definition; panics unless it is accepted.
    pub async fn deploy(&self, definition: &str) -> Value {
        let response = self.api(Method::POST, "/workflows").body(definition.to_string()).send().await.unwrap();
        let (status, body) = json(response).await;
        assert_eq!(status, 201, "deploy refused: {body}");
        body
    }

    /// Deploy a definition that must be refused: its problems, as text.
    pub async fn refused(&self, definition: &str) -> String {
        let response = self.api(Method::POST, "/workflows").body(definition.to_string()).send().await.unwrap();
        let (status, body) = json(response).await;
        assert_eq!(status, 400, "deploy accepted: {body}");
        body["problems"].to_string()
    }

    /// Poll an execution until its status is one of `statuses`.
    pub async fn wait_for(&self, id: &str, statuses: &[&str]) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (_, execution) = json(self.api(Method::GET, &format!("/executions/{id}")).send().await.unwrap()).await;
            if statuses.iter().any(|s| execution["status"] == *s) {
                return execution;
            }
            assert!(tokio::time::Instant::now() < deadline, "execution {id} stayed: {execution:#}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A JSON request to the API with the admin token.
    pub fn api_json(&self, method: Method, path: &str, body: &Value) -> RequestBuilder {
        self.api(method, path).header("content-type", "application/json").body(body.to_string())
    }

    /// Begin a graceful stop (as SIGTERM does) without waiting for it.
    pub fn begin_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Stop gracefully and wait until the data directory is released.
    pub async fn stop(mut self) {
        self.begin_stop();
        self.task.take().unwrap().await.unwrap().unwrap();
    }
}

/// The JSON of a response, with its status.
pub async fn json(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}
