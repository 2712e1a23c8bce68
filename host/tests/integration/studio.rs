//! The studio's server side: its files at `/` with a strict
//! Content-Security-Policy, and its sign-in, an API token traded for an
//! HttpOnly, SameSite=Strict session cookie that dies with the token. (The
//! studio itself is tested in a browser: `studio/e2e/`.)

use crate::common::server::{data_dir, json, serve, ADMIN};
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::Method;
use serde_json::json;

fn built_studio() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("index.html"), "<!doctype html><script type=module src=/assets/app-1.js></script>")
        .unwrap();
    std::fs::write(dir.path().join("assets/app-1.js"), "console.log('studio')").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "not an asset").unwrap();
    dir
}

#[tokio::test]
async fn the_studio_is_served_with_a_strict_policy_and_only_its_assets() {
    let studio = built_studio();
    let data = data_dir("127.0.0.1");
    let studio_dir = studio.path().to_path_buf();
    let server = serve(data.path(), move |c| c.studio_dir = Some(studio_dir.clone())).await;
    let page = server.raw(Method::GET, "/").send().await.unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let policy = headers["content-security-policy"].to_str().unwrap();
    for part in ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"] {
        assert!(policy.contains(part), "{policy}");
    }
    assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"), "{policy}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-cache");
    assert!(page.text().await.unwrap().contains("/assets/app-1.js"));

    let asset = server.raw(Method::GET, "/assets/app-1.js").send().await.unwrap();
    assert_eq!(asset.status(), 200);
    assert_eq!(asset.headers()["content-type"], "text/javascript; charset=utf-8");
    assert!(asset.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    for path in
        ["/assets/..%2Fsecret.txt", "/assets/%2e%2e%2fsecret.txt", "/assets/.hidden", "/assets/nope.js", "/secret.txt"]
    {
        let response = server.raw(Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert!(!response.text().await.unwrap().contains("not an asset"), "{path}");
    }
    server.stop().await;

    // Without a built studio, `/` says how to get one; the API still works.
    let server = serve(data.path(), |c| c.studio_dir = Some(std::path::PathBuf::from("/nonexistent/studio"))).await;
    let page = server.raw(Method::GET, "/").send().await.unwrap();
    assert_eq!(page.status(), 404);
    assert!(page.text().await.unwrap().contains("scripts/setup"));
    assert_eq!(server.api(Method::GET, "/workflows").send().await.unwrap().status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn a_session_cookie_stands_for_its_token_until_sign_out_or_revocation() {
    let data = data_dir("127.0.0.1");
    let server = serve(data.path(), |_| {}).await;
    let session = |method: Method| server.raw(method, "/api/v1/session");

    let (status, _) = json(session(Method::POST).json(&json!({"token": "ww_wrong"})).send().await.unwrap()).await;
    assert_eq!(status, 401);
    let (status, _) = json(session(Method::POST).body("not json").send().await.unwrap()).await;
    assert_eq!(status, 400);
    let (status, who) = json(session(Method::GET).send().await.unwrap()).await;
    assert_eq!((status, who), (200, json!({"token": null})));

    // A token of its own, so that revoking it leaves the admin's.
    let (_, made) =
        json(server.api_json(Method::POST, "/tokens", &json!({"name": "browser"})).send().await.unwrap()).await;
    let token = made["token"].as_str().unwrap().to_string();
    let signed_in = session(Method::POST).json(&json!({"token": token})).send().await.unwrap();
    assert_eq!(signed_in.status(), 200);
    let set = signed_in.headers()[SET_COOKIE].to_str().unwrap().to_string();
    for part in ["wirework_session=", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(part), "{set}");
    }
    assert!(!set.contains(&token), "the cookie is a session id, not the token");
    let cookie = set.split(';').next().unwrap().to_string();
    let with_cookie = |method: Method, path: &str| server.raw(method, path).header(COOKIE, cookie.clone());

    let (status, who) = json(with_cookie(Method::GET, "/api/v1/session").send().await.unwrap()).await;
    assert_eq!((status, who), (200, json!({"token": "browser"})));
    assert_eq!(with_cookie(Method::GET, "/api/v1/workflows").send().await.unwrap().status(), 200);
    // A change needs the studio's header beside the cookie.
    let change = "/api/v1/tokens";
    let refused = with_cookie(Method::POST, change).json(&json!({"name": "x"})).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    let allowed = with_cookie(Method::POST, change)
        .header("x-wirework-studio", "1")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 201);
    // A forged session id is nobody.
    let forged =
        server.raw(Method::GET, "/api/v1/workflows").header(COOKIE, "wirework_session=00ff").send().await.unwrap();
    assert_eq!(forged.status(), 401);

    // Revoking the token ends the session.
    assert_eq!(server.api(Method::DELETE, "/tokens/browser").send().await.unwrap().status(), 204);
    assert_eq!(with_cookie(Method::GET, "/api/v1/workflows").send().await.unwrap().status(), 401);

    // Signing out ends a session and clears the cookie.
    let signed_in = session(Method::POST).json(&json!({"token": ADMIN})).send().await.unwrap();
    let cookie = signed_in.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string();
    let out = server.raw(Method::DELETE, "/api/v1/session").header(COOKIE, cookie.clone()).send().await.unwrap();
    assert_eq!(out.status(), 204);
    assert!(out.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    let after = server.raw(Method::GET, "/api/v1/workflows").header(COOKIE, cookie).send().await.unwrap();
    assert_eq!(after.status(), 401);
    server.stop().await;
}

#[tokio::test]
async fn execution_changes_stream_as_server_sent_events() {
    let data = data_dir("127.0.0.1");
    let server = serve(data.path(), |_| {}).await;
    server
        .deploy(
            r#"
id: quick
triggers: [{id: go, type: manual}]
nodes: [{id: pass, uses: "wirework/core@^0.1", node: noop}]
connections: [{from: go, to: pass}]
"#,
        )
        .await;
    server
        .deploy("id: other\ntriggers: [{id: go, type: manual}]\nnodes: [{id: pass, uses: \"wirework/core@^0.1\", node: noop}]\nconnections: [{from: go, to: pass}]\n")
        .await;
    let mut stream = server.api(Method::GET, "/executions/events?workflow=quick").send().await.unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    // Not signed in: refused.
    let anonymous = server.raw(Method::GET, "/api/v1/executions/events").send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    let start = |workflow: &'static str| {
        server.api_json(Method::POST, &format!("/workflows/{workflow}/executions"), &json!({}))
    };
    let (_, other) = json(start("other").send().await.unwrap()).await;
    let (_, started) = json(start("quick").send().await.unwrap()).await;
    let id = started["execution_id"].as_str().unwrap().to_string();
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !text.contains("\"status\":\"succeeded\"") {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk()).await.expect("the change arrives").unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk.expect("the stream stays open")));
    }
    let events: Vec<serde_json::Value> = text
        .split("\n\n")
        .filter(|e| e.contains("event: execution"))
        .map(|e| serde_json::from_str(e.lines().find_map(|l| l.strip_prefix("data: ")).unwrap()).unwrap())
        .collect();
    assert!(events.iter().all(|e| e["id"] == id.as_str()), "only the filtered workflow's: {events:?} (not {other})");
    let last = events.last().unwrap();
    assert_eq!((last["workflow_id"].as_str(), last["workflow_version"].as_u64()), (Some("quick"), Some(1)));
    assert!(last["finished_ms"].as_u64().is_some(), "{last}");
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn a_schedule_preview_lists_the_next_runs_or_says_why_not() {
    let data = data_dir("127.0.0.1");
    let server = serve(data.path(), |_| {}).await;
    let preview = |query: &str| server.api(Method::GET, &format!("/schedule-preview?{query}")).send();
    let (status, body) = json(preview("cron=30%209%20*%20*%201-5&timezone=Europe/Amsterdam").await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let next = body["next"].as_array().unwrap();
    assert_eq!(next.len(), 5);
    let times: Vec<u64> = next.iter().map(|n| n["at_ms"].as_u64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    assert!(next.iter().all(|n| n["local"].as_str().unwrap().contains("T09:30:00+0")), "{body}");
    let (_, one) = json(preview("cron=0%208%20*%20*%20*&count=0").await.unwrap()).await;
    assert_eq!(one["next"].as_array().unwrap().len(), 1, "count is at least 1");
    for bad in
        ["cron=not%20a%20cron", "cron=0%208%20*%20*%20*&timezone=Mars/Base", "cron=0%208%20*%20*%20*&count=x", ""]
    {
        let (status, body) = json(preview(bad).await.unwrap()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{bad}: {body}");
    }
    server.stop().await;
}
