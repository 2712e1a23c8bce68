//! The real `wirework serve` process driven by the operator CLI over HTTP:
//! first-start admin token, deploy, tokens, secrets, events, executions,
//! manual starts, plugins changed on the running server, graceful shutdown
//! on SIGTERM, and no secret value in the logs.

use crate::common::engine::{install_fixtures, install_package};
use crate::common::fixtures;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use wirework::plugins::GrantEntry;

const SECRET: &str = "crm_live_value_never_shown";

fn wirework() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wirework"));
    cmd.env("WIREWORK_HOME", fixtures().home.root())
        .env_remove("WIREWORK_ADMIN_TOKEN")
        .env_remove("WIREWORK_TOKEN")
        .env_remove("WIREWORK_URL");
    cmd
}

/// The server process; killed if the test fails half way.
struct Served {
    child: Child,
    stdout: std::sync::mpsc::Receiver<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Start the server; wait for its `listening on` line. Its stderr (the logs)
/// goes to `log`.
fn start(data_dir: &std::path::Path, port: u16, log: &std::path::Path) -> Served {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    let mut child = wirework()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .env("WIREWORK_LOG", "info,wirework=debug")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    Served { child, stdout: rx }
}

impl Served {
    /// Stdout lines up to and including `listening on ...`.
    fn until_listening(&self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.stdout.recv_timeout(Duration::from_secs(120)).expect("the server printed `listening on`");
            let done = line.starts_with("listening on");
            lines.push(line);
            if done {
                return lines;
            }
        }
    }
}

/// The admin token a first start prints once, among its stdout `lines`.
fn admin_token(lines: &[String]) -> String {
    lines
        .iter()
        .find_map(|l| l.strip_prefix("admin token (shown once; keep it): "))
        .unwrap_or_else(|| panic!("no admin token in {lines:?}"))
        .to_string()
}

/// Run the CLI against the server; (exit code, stdout, stderr).
fn cli(server: &str, token: Option<&str>, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut cmd = wirework();
    cmd.args(args).env("WIREWORK_URL", server);
    if let Some(token) = token {
        cmd.env("WIREWORK_TOKEN", token);
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (out.status.code().unwrap_or(-1), text(out.stdout), text(out.stderr))
}

fn ok(result: (i32, String, String)) -> String {
    assert_eq!(result.0, 0, "stdout: {}\nstderr: {}", result.1, result.2);
    result.1
}

#[test]
fn operators_drive_a_running_server_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    install_fixtures(&data, "127.0.0.1:1");
    let log = dir.path().join("server.log");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut served = start(&data, port, &log);

    // First start: an admin token is generated and shown once.
    let admin = admin_token(&served.until_listening());

    // Without a token the CLI says how to give one.
    let (code, _, stderr) = cli(&url, None, &["workflow", "list"], None);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("WIREWORK_TOKEN"), "{stderr}");

    // A token for CI, made with the admin token, used from here on.
    let out = ok(cli(&url, Some(&admin), &["token", "create", "ci"], None));
    let token = out.lines().last().unwrap().trim().to_string();
    assert!(token.starts_with("ww_"), "{out}");

    let file = dir.path().join("crm-sync.yaml");
    std::fs::write(
        &file,
        r#"
id: crm-sync
triggers: [{id: on-sync, type: event, event: crm.sync}]
nodes:
  - {id: bound, uses: wirework-tests/hostile@^0.1, node: secret, config: {name: API_TOKEN}, credentials: {API_TOKEN: crm-token}}
  - {id: unbound, uses: wirework-tests/hostile@^0.1, node: secret, config: {name: OTHER_TOKEN}, on_error: continue}
connections: [{from: on-sync, to: bound}, {from: bound, to: unbound}]
"#,
    )
    .unwrap();
    // A deploy binding a credential not stored yet is refused, naming node and field.
    let (code, _, stderr) = cli(&url, Some(&token), &["workflow", "deploy", file.to_str().unwrap()], None);
    assert_eq!(code, 1);
    assert!(stderr.contains("nodes[0](bound).credentials.API_TOKEN: no credential `crm-token` is stored"), "{stderr}");
    ok(cli(&url, Some(&token), &["secret", "set", "crm-token"], Some(&format!("{SECRET}\n"))));
    let names = ok(cli(&url, Some(&token), &["secret", "list"], None));
    assert!(names.contains("crm-token") && !names.contains(SECRET), "{names}");
    let out = ok(cli(&url, Some(&token), &["workflow", "deploy", file.to_str().unwrap()], None));
    assert_eq!(out.lines().last(), Some("crm-sync"), "the workflow id comes last: {out}");

    // An event starts the execution; follow it with `execution show`.
    let out = ok(cli(&url, Some(&token), &["event", "emit", "crm.sync", "--payload", r#"{"account": 7}"#], None));
    let emitted: Value = serde_json::from_str(&out).unwrap();
    let id = emitted["started"][0].as_str().unwrap_or_else(|| panic!("{out}")).to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let execution = loop {
        let out = ok(cli(&url, Some(&token), &["execution", "show", &id], None));
        let execution: Value = serde_json::from_str(&out).unwrap();
        if execution["status"] == "succeeded" || execution["status"] == "failed" {
            break execution;
        }
        assert!(Instant::now() < deadline, "{execution:#}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    assert_eq!(execution["steps"][0]["outcome"]["emitted"]["ports"][0][1][0]["length"], SECRET.len());
    assert!(!execution.to_string().contains(SECRET));
    let list = ok(cli(&url, Some(&token), &["execution", "list", "--workflow", "crm-sync"], None));
    assert!(list.contains(&id), "{list}");

    // SIGTERM: a graceful stop, exit 0.
    let pid = served.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = served.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");

    // Restarted: no new admin token, the same tokens work, history is there.
    let served = start(&data, port, &log);
    let lines = served.until_listening();
    assert!(!lines.iter().any(|l| l.contains("admin token")), "{lines:?}");
    let out = ok(cli(&url, Some(&token), &["execution", "show", &id], None));
    assert!(out.contains("succeeded"));
    drop(served);

    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("stopped"), "the graceful stop is logged:\n{logs}");
    assert!(!logs.contains(SECRET), "a secret value reached the logs");
}

/// The names and versions `plugin list --server` shows.
fn loaded(url: &str, token: &str) -> Vec<String> {
    let out = ok(cli(url, None, &["plugin", "list", "--server", url, "--token", token], None));
    let list: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{}@{}", p["name"].as_str().unwrap(), p["version"].as_str().unwrap()))
        .collect()
}

#[test]
fn plugins_change_on_a_running_server_and_workflows_start_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let f = fixtures();
    install_package(&data, &f.core, GrantEntry::default());
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let served = start(&data, port, &dir.path().join("server.log"));
    let admin = admin_token(&served.until_listening());
    let http = f.http.to_str().unwrap();
    assert_eq!(loaded(&url, &admin), ["wirework/core@0.1.5"]);

    // Refusals change nothing: no token, both a server and a data directory.
    let (code, _, stderr) = cli(&url, None, &["plugin", "add", http, "--server", &url], None);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("WIREWORK_TOKEN"), "{stderr}");
    let both = ["plugin", "add", http, "--server", &url, "--data-dir", data.to_str().unwrap()];
    let (code, _, stderr) = cli(&url, Some(&admin), &both, None);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("cannot be used with"), "{stderr}");
    assert_eq!(loaded(&url, &admin), ["wirework/core@0.1.5"]);

    // Written beside the server, a package is not loaded: the CLI says so.
    let beside = ok_with_stderr(cli(&url, None, &["plugin", "add", http, "--data-dir", data.to_str().unwrap()], None));
    assert!(beside.contains("only at its next start") && beside.contains("--server"), "{beside}");
    assert_eq!(loaded(&url, &admin), ["wirework/core@0.1.5"]);

    // Through the server it is loaded at once, with the grants given (and a
    // warning when what it requests is not granted).
    let add = ["plugin", "add", http, "--server", &url];
    let (code, out, stderr) = cli(&url, Some(&admin), &add, None);
    assert_eq!((code, out.lines().last()), (0, Some("wirework/http@0.1.3")), "{out}{stderr}");
    assert!(stderr.contains("warning: wirework/http requests http"), "{stderr}");
    let add = ["plugin", "add", http, "--server", &url, "--grant-http", "*"];
    let add = [&add[..], &["--grant-credential", "bearer", "--grant-credential", "basic"]].concat();
    let add = [&add[..], &["--grant-credential", "header", "--grant-credential", "query"]].concat();
    let (code, out, stderr) = cli(&url, Some(&admin), &add, None);
    assert_eq!((code, out.lines().last()), (0, Some("wirework/http@0.1.3")), "{out}{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let add = ["plugin", "add", http, "--server", &url, "--grant-http", "127.0.0.1:1"];
    let out = ok(cli(&url, Some(&admin), &add, None));
    assert_eq!(out.lines().last(), Some("wirework/http@0.1.3"), "{out}");
    assert_eq!(loaded(&url, &admin), ["wirework/core@0.1.5", "wirework/http@0.1.3"]);
    let list = ok(cli(&url, None, &["plugin", "list", "--server", &url, "--token", &admin], None));
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[1]["grants"]["http"][0], "127.0.0.1:1", "{list:#}");

    // Grants: shown and replaced on the server (at once), shown in the directory.
    let grants = |args: &[&str]| -> Value {
        let argv: Vec<&str> = [&["plugin", "grants"][..], args, &["--server", &url]].concat();
        serde_json::from_str(&ok(cli(&url, Some(&admin), &argv, None))).unwrap()
    };
    assert_eq!(grants(&["wirework/http"]), serde_json::json!({"http": ["127.0.0.1:1"], "kv": false}));
    let set = grants(&["wirework/http", "--set", "--grant-http", "127.0.0.1:1", "--grant-kv"]);
    assert_eq!(set, serde_json::json!({"http": ["127.0.0.1:1"], "kv": true}));
    let list: Value =
        serde_json::from_str(&ok(cli(&url, Some(&admin), &["plugin", "list", "--server", &url], None))).unwrap();
    assert_eq!(list[1]["grants"]["kv"], true, "{list:#}");
    let (code, _, stderr) = cli(&url, Some(&admin), &["plugin", "grants", "wirework/nope", "--server", &url], None);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("not installed"), "{stderr}");
    let local = ok(cli(&url, None, &["plugin", "grants", "wirework/http", "--data-dir", data.to_str().unwrap()], None));
    assert_eq!(serde_json::from_str::<Value>(&local).unwrap()["kv"], true, "the server wrote it: {local}");
    let (code, _, stderr) =
        cli(&url, None, &["plugin", "grants", "wirework/nope", "--data-dir", data.to_str().unwrap()], None);
    assert_eq!(code, 1, "{stderr}");

    // A workflow using it, started by hand with an item of the operator's.
    let file = dir.path().join("ping.yaml");
    std::fs::write(
        &file,
        r#"
id: ping
triggers: [{id: on-ping, type: event, event: ping}]
nodes:
  - {id: tag, uses: wirework/core@^0.1, node: set, config: {fields: {stage: manual}}}
  - {id: call, uses: wirework/http@^0.1, node: request, config: {url: "http://127.0.0.1:1/"}, on_error: continue}
connections: [{from: on-ping, to: tag}, {from: tag, to: call}]
"#,
    )
    .unwrap();
    ok(cli(&url, Some(&admin), &["workflow", "deploy", file.to_str().unwrap()], None));
    let out = ok(cli(&url, Some(&admin), &["workflow", "start", "ping", "--input", r#"{"lead": 42}"#], None));
    let id = out.lines().last().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let execution = loop {
        let execution: Value =
            serde_json::from_str(&ok(cli(&url, Some(&admin), &["execution", "show", &id], None))).unwrap();
        if execution["status"] == "succeeded" || execution["status"] == "failed" {
            break execution;
        }
        assert!(Instant::now() < deadline, "{execution:#}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    let emitted = &execution["steps"][0]["outcome"]["emitted"]["ports"][0][1][0];
    assert_eq!((emitted["lead"].as_i64(), emitted["stage"].as_str()), (Some(42), Some("manual")), "{execution:#}");
    let (code, _, stderr) = cli(&url, Some(&admin), &["workflow", "start", "ping", "--input", "{nope"], None);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--input is not valid JSON"), "{stderr}");
    let (code, _, stderr) = cli(&url, Some(&admin), &["workflow", "start", "missing"], None);
    assert_eq!(code, 1, "{stderr}");

    // Removing a version a workflow uses needs --force; then it is gone.
    let remove = ["plugin", "remove", "wirework/http@0.1.3", "--server", &url];
    let (code, _, stderr) = cli(&url, Some(&admin), &remove, None);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("used by workflow(s) ping"), "{stderr}");
    assert_eq!(loaded(&url, &admin).len(), 2);
    let out = ok(cli(&url, Some(&admin), &[&remove[..], &["--force"]].concat(), None));
    assert!(out.contains("removed wirework/http 0.1.3"), "{out}");
    assert_eq!(loaded(&url, &admin), ["wirework/core@0.1.5"]);
    let (code, _, stderr) = cli(&url, Some(&admin), &remove, None);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("not installed"), "{stderr}");
}

/// Like [`ok`], but the stderr.
fn ok_with_stderr(result: (i32, String, String)) -> String {
    assert_eq!(result.0, 0, "stdout: {}\nstderr: {}", result.1, result.2);
    result.2
}
