//! A JavaScript plugin end to end: `examples/github-plugin`, built from its
//! source by componentize-js through `wirework plugin build`'s own code,
//! signed, installed with grants, bound to typed credentials and run by a
//! real server: a signed GitHub delivery starts an execution that files an
//! issue with a fake GitHub on loopback, which checks what GitHub checks.

use crate::common::engine::install_package;
use crate::common::server::{json, serve};
use crate::common::*;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::Mac;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use wirework::plugins::GrantEntry;

const TOKEN: &str = "ghp_test_token_0123456789";
const HOOK_SECRET: &str = "It's a Secret to Everybody";

/// A fake api.github.com: `POST /repos/{owner}/{repo}/issues` with a bearer
/// token, GitHub's API version header, a user agent and a JSON title, as the
/// real one requires; 201 with the issue, or GitHub's own refusals.
async fn fake_github(seen: Arc<Mutex<Vec<Value>>>) -> std::net::SocketAddr {
    let router = axum::Router::new().route(
        "/repos/{owner}/{repo}/issues",
        post(move |Path((owner, repo)): Path<(String, String)>, headers: HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
                if header("authorization") != Some(format!("Bearer {TOKEN}")) {
                    return (StatusCode::UNAUTHORIZED, axum::Json(json!({"message": "Bad credentials"})));
                }
                if header("user-agent").is_none() || header("x-github-api-version").as_deref() != Some("2022-11-28") {
                    return (StatusCode::BAD_REQUEST, axum::Json(json!({"message": "missing headers"})));
                }
                let Ok(issue) = serde_json::from_str::<Value>(&body) else {
                    return (StatusCode::BAD_REQUEST, axum::Json(json!({"message": "Problems parsing JSON"})));
                };
                if !issue["title"].is_string() {
                    let message = json!({"message": "Validation Failed", "errors": [{"field": "title", "code": "missing_field"}]});
                    return (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(message));
                }
                seen.lock().unwrap().push(issue.clone());
                let answer = json!({
                    "number": 42, "id": 4242, "state": "open", "title": issue["title"], "labels": [],
                    "html_url": format!("https://github.com/{owner}/{repo}/issues/42"),
                    "url": format!("https://api.github.com/repos/{owner}/{repo}/issues/42"),
                });
                (StatusCode::CREATED, axum::Json(answer))
            }
        }),
    );
    crate::common::serve(router).await
}

fn signed(body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_javascript_plugin_takes_a_signed_delivery_and_files_an_issue() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let github = fake_github(seen.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    install_package(dir.path(), &fixtures().core, GrantEntry::default());
    let grant = GrantEntry {
        http: vec![format!("127.0.0.1:{}", github.port())],
        credentials: vec!["github-token".into(), "github-webhook".into()],
        ..Default::default()
    };
    install_package(dir.path(), &fixtures().github, grant);
    let server = serve(dir.path(), |_| {}).await;
    let (_, plugins) = json(server.api(Method::GET, "/plugins").send().await.unwrap()).await;
    assert!(plugins.to_string().contains("acme/github"), "{plugins}");

    let token = json!({"type": "acme/github:github-token", "fields": {"token": TOKEN, "base_url": format!("http://127.0.0.1:{}", github.port())}});
    let hook = json!({"type": "acme/github:github-webhook", "fields": {"secret": HOOK_SECRET}});
    for (name, body) in [("gh-token", token), ("gh-hook", hook)] {
        let response = server.api_json(Method::PUT, &format!("/credentials/{name}"), &body).send().await.unwrap();
        assert_eq!(response.status(), 204, "{}", response.text().await.unwrap());
    }
    server
        .deploy(
            r#"
id: triage
triggers:
  - id: github
    type: webhook
    path: github
    uses: "acme/github@^0.1"
    node: webhook
    config: {events: ["issues.opened"]}
    credentials: {github-webhook: gh-hook}
nodes:
  - id: file
    uses: "acme/github@^0.1"
    node: create-issue
    config: {owner: acme, repo: widgets, title: "Triage: {{ $json.payload.issue.title }}"}
    credentials: {github-token: gh-token}
connections: [{from: github, to: file}]
"#,
        )
        .await;

    let body = r#"{"action": "opened", "issue": {"number": 7, "title": "Widget broke"}}"#;
    let deliver = |signature: String, event: &'static str| {
        server
            .client
            .post(format!("{}/hooks/triage/github", server.url))
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-hub-signature-256", signature)
            .body(body)
            .send()
    };
    // A forged delivery is refused by the plugin; nothing runs.
    let forged = deliver(signed("something else"), "issues").await.unwrap();
    assert_eq!(forged.status(), 401, "{}", forged.text().await.unwrap());

    let (status, accepted) = json(deliver(signed(body), "issues").await.unwrap()).await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["execution_id"].as_str().unwrap();
    let execution = server.wait_for(id, &["succeeded", "failed"]).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    let steps = execution["steps"].as_array().unwrap();
    assert_eq!(steps[0]["node"], "github");
    assert!(steps[0]["fuel"].as_u64().unwrap() > 0);
    let issue = &steps[1]["outcome"]["emitted"]["ports"][0][1][0];
    assert_eq!(issue["number"], 42, "{issue}");
    assert_eq!(issue["url"], "https://github.com/acme/widgets/issues/42");
    assert_eq!(*seen.lock().unwrap(), [json!({"title": "Triage: Widget broke"})]);
    assert!(!execution.to_string().contains(TOKEN), "the token stays out of the record");
    server.stop().await;
}
