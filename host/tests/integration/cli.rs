//! The `wirework` binary as an author uses it: build a plugin from source to a
//! signed package, then run one of its nodes.

use crate::common::*;
use serde_json::{json, Value};
use std::process::Command;

fn wirework(home: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wirework"));
    cmd.env("WIREWORK_HOME", home).env("WIREWORK_WASM_TARGET_DIR", wasm_target_dir());
    cmd
}

fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn build_then_run_a_node_in_the_inner_loop() {
    let home = tempfile::tempdir().unwrap();
    let out = stdout_of(wirework(home.path()).args(["plugin", "build"]).arg(repo().join("plugins/core")));
    let package = out.lines().last().unwrap().to_string();
    assert!(package.ends_with("wirework-core-0.1.5.wwpkg"), "{out}");
    assert!(home.path().join("keys/default.key").exists(), "a key is made on first use");

    let out = stdout_of(wirework(home.path()).args(["node", "run", &package, "set", "--json"]).args([
        "--config",
        r#"{"fields": {"tag": "engaged"}}"#,
        "--input",
        r#"[{"email": "ann@example.com"}]"#,
    ]));
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["outcome"],
        json!({"kind": "emit", "ports": [{"port": "main", "items": [{"email": "ann@example.com", "tag": "engaged"}]}]})
    );
    assert!(report["fuel"].as_u64().unwrap() > 0);
    assert!(report["wall_ms"].as_f64().unwrap() > 0.0);

    // The human form says the same.
    let out = stdout_of(wirework(home.path()).args(["node", "run", &package, "noop", "--input", r#"{"a": 1}"#]));
    assert!(out.contains("outcome: emit") && out.contains(r#"{"a":1}"#) && out.contains("fuel: "), "{out}");

    // A node failure is reported, with a non-zero exit.
    let out =
        wirework(home.path()).args(["node", "run", &package, "wait", "--json", "--config", "{}"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["error"]["kind"], "plugin");
    assert_eq!(report["outcome"], Value::Null);
}

#[test]
fn a_tampered_package_is_refused_by_the_cli() {
    let home = tempfile::tempdir().unwrap();
    // Its own output directory: the other test signs the same plugin with another key.
    let out = stdout_of(
        wirework(home.path()).args(["plugin", "build", "--out"]).arg(home.path()).arg(repo().join("plugins/core")),
    );
    let package_path = out.lines().last().unwrap().to_string();
    let mut package = wirework_registry::Package::read(package_path.as_ref()).unwrap();
    package.component[100] ^= 1;
    let tampered = home.path().join("tampered.wwpkg");
    package.write(&tampered).unwrap();

    let out = wirework(home.path()).args(["node", "run"]).arg(&tampered).arg("noop").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("component was altered after signing"), "{stderr}");

    // Another home does not trust this author's key.
    let stranger = tempfile::tempdir().unwrap();
    let out = wirework(stranger.path()).args(["node", "run", &package_path, "noop"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not in the trust store"));
    // ...until its operator adds it.
    let public = std::fs::read_to_string(home.path().join("keys/default.key.pub")).unwrap();
    stdout_of(wirework(stranger.path()).args(["trust", "add", "wirework", public.trim()]));
    stdout_of(wirework(stranger.path()).args(["node", "run", &package_path, "noop"]));
}

#[test]
fn key_generate_never_overwrites() {
    let home = tempfile::tempdir().unwrap();
    let out = stdout_of(wirework(home.path()).args(["key", "generate", "--name", "acme"]));
    assert!(out.contains("public key: ed25519:"), "{out}");
    let again = wirework(home.path()).args(["key", "generate", "--name", "acme"]).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwritten"));
}

#[test]
fn the_example_third_party_plugin_builds_and_runs() {
    let home = tempfile::tempdir().unwrap();
    let out = stdout_of(
        wirework(home.path())
            .args(["plugin", "build", "--out"])
            .arg(home.path())
            .arg(repo().join("examples/greet-plugin")),
    );
    let package = out.lines().last().unwrap().to_string();
    assert!(package.ends_with("acme-greet-0.1.0.wwpkg"), "{out}");
    // The author's key is trusted for the publisher it signed for, `acme`.
    let trust = std::fs::read_to_string(home.path().join("trust.toml")).unwrap();
    assert!(trust.contains("acme"), "{trust}");

    let out = stdout_of(wirework(home.path()).args(["node", "run", &package, "greet", "--json"]).args([
        "--config",
        r#"{"greeting": "Hello"}"#,
        "--input",
        r#"[{"name": "Ann"}, {"name": "Bo"}]"#,
    ]));
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["outcome"]["ports"][0]["items"],
        json!([{"name": "Ann", "greeting": "Hello"}, {"name": "Bo", "greeting": "Hello"}])
    );

    // Its config is typed: a missing field is the node's error, not a crash.
    let out = wirework(home.path()).args(["node", "run", &package, "greet", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["error"]["message"].as_str().unwrap().contains("greeting"), "{report}");
}

/// `wirework plugin add FILE --data-dir DIR`, as an operator runs it, with
/// the fixtures' home (which trusts their key).
fn plugin_add(data_dir: &std::path::Path, package: &std::path::Path) -> Command {
    let mut cmd = wirework(fixtures().home.root());
    cmd.args(["plugin", "add"]).arg(package).arg("--data-dir").arg(data_dir);
    cmd
}

#[test]
fn an_install_into_a_data_directory_waits_for_the_change_lock() {
    let data = tempfile::tempdir().unwrap();
    let dir = wirework::data_dir::DataDir::at(data.path());
    // Another process (here: this test) is changing the installed plugins.
    let held = wirework_registry::lock_for_update(&dir.changes_lock()).unwrap();
    let mut child = plugin_add(data.path(), &fixtures().core).stdout(std::process::Stdio::piped()).spawn().unwrap();
    // While the lock is held the install cannot check or write anything.
    // (Without the lock it would finish within this window; with it, it never can.)
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(child.try_wait().unwrap().is_none(), "the install went ahead while another change held the lock");
    assert!(!dir.plugins().join("wirework.core@0.1.5.wwpkg").exists(), "nothing written under another's lock");
    drop(held);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(dir.package("wirework/core", &"0.1.5".parse().unwrap()).exists());
}

#[test]
fn a_package_file_not_named_for_its_manifest_is_refused_at_load() {
    let data = tempfile::tempdir().unwrap();
    let dir = wirework::data_dir::DataDir::at(data.path());
    let out = plugin_add(data.path(), &fixtures().core).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Copied in by hand under another name: the host will not start on it.
    std::fs::rename(
        dir.package("wirework/core", &"0.1.5".parse().unwrap()),
        dir.plugins().join("wirework.core@9.9.9.wwpkg"),
    )
    .unwrap();
    let out = wirework(fixtures().home.root())
        .args(["engine", "run", "--until-idle", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "wirework.core@9.9.9.wwpkg holds wirework/core 0.1.5, whose file is named wirework.core@0.1.5.wwpkg"
        ),
        "{stderr}"
    );
}

/// `wirework plugin new` makes plugins that pass their own tests:
/// `wirework plugin test` runs them natively, builds the component and runs
/// its component cases in the real runtime. (The Rust scaffold is run by
/// the docs' walkthrough, `docs.rs`; this is the JavaScript one.)
#[test]
fn a_new_javascript_plugin_passes_its_native_and_component_tests() {
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("jscrm");
    let new = ["plugin", "new", "acme/jscrm", "--lang", "js", "--dir"];
    let out = stdout_of(wirework(home.path()).args(new).arg(&dir));
    assert_eq!(out.trim(), dir.display().to_string());
    for file in
        ["package.json", "package-lock.json", "plugin.toml", "src/plugin.js", "wit/plugin.wit", "tests/component.json"]
    {
        assert!(dir.join(file).exists(), "{file} missing");
    }
    // A second `new` into the same folder changes nothing.
    let again = wirework(home.path()).args(new).arg(&dir).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists and is not empty"));

    let test = wirework(home.path()).args(["plugin", "test"]).arg(&dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&test.stderr);
    assert!(test.status.success(), "plugin test failed:\n{}\n{stderr}", String::from_utf8_lossy(&test.stdout));
    assert!(stderr.contains("all passed (3 component cases)"), "{stderr}");
    assert!(String::from_utf8_lossy(&test.stdout).contains("# pass 3"), "the native tests ran");
}
