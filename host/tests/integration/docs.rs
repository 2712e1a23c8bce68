//! The docs' commands, run as written: docs/plugin-authors.md is a
//! walkthrough from `wirework plugin new` to a signed plugin in a deployed
//! workflow, and every command in its `sh` blocks runs here, in order, in
//! one shell, on a fresh home.

use crate::common::*;
use std::net::TcpListener;
use std::process::Command;

/// The `sh` blocks of a markdown file, in order.
fn sh_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(Vec::new()),
            (Some(lines), "```") => {
                blocks.push(lines.join("\n"));
                current = None;
            }
            (Some(lines), _) => lines.push(line),
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "an sh block is not closed");
    blocks
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The walkthrough as one bash script: its ports made free ones, each
/// server started in the background waited for, and every background job
/// stopped at the end.
fn script(blocks: &[String], ports: &[(u16, u16)]) -> String {
    let mut script = String::from(
        "set -euo pipefail\n\
         trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n\
         wait_port() { for _ in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; \
         echo \"nothing listens on $1\" >&2; return 1; }\n",
    );
    for block in blocks {
        let mut block = block.clone();
        for (doc, free) in ports {
            block = block.replace(&doc.to_string(), &free.to_string());
        }
        script.push_str(&format!("echo '== {}' >&2\n", block.lines().next().unwrap_or("").replace('\'', "")));
        for line in block.lines() {
            script.push_str(line);
            script.push('\n');
            // A server started in the background: wait until it listens.
            if line.trim_end().ends_with('&') {
                let port = ports.iter().map(|(_, free)| *free).find(|p| line.contains(&p.to_string()));
                let port = port.unwrap_or_else(|| panic!("a background command on no known port: {line}"));
                script.push_str(&format!("wait_port {port}\n"));
            }
        }
    }
    script
}

#[test]
fn the_plugin_authors_walkthrough_runs() {
    let markdown = std::fs::read_to_string(repo().join("docs/plugin-authors.md")).unwrap();
    let blocks = sh_blocks(&markdown);
    assert!(blocks.len() >= 8, "the walkthrough lost its commands: {blocks:?}");
    let ports = [(7080, free_port()), (8080, free_port()), (9090, free_port())];
    let script = script(&blocks, &ports);

    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_wirework")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(work.path())
        .env("PATH", path)
        .env("WIREWORK_HOME", &home)
        .env("WIREWORK_WASM_TARGET_DIR", wasm_target_dir())
        .env("WIREWORK_SDK", repo().join("sdk"))
        // The new crate's native build: one target dir across runs.
        .env("CARGO_TARGET_DIR", repo().join("target").join("walkthrough"))
        .env_remove("WIREWORK_URL")
        .env_remove("WIREWORK_TOKEN")
        .env_remove("WIREWORK_ADMIN_TOKEN")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "the walkthrough failed:\n--- script\n{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    // What the doc says the last commands print.
    assert!(stdout.contains(r#""contact":{"id":7,"stage":"lead"}"#), "{stdout}");
    assert!(stdout.trim_end().ends_with("401"), "{stdout}");
    assert!(stdout.contains("crm-key") && !stdout.contains("k-test"), "secret list shows names, not values: {stdout}");
    assert!(stdout.contains("credential acme/crm:api-key  fields key (secret), base_url?"), "inspect: {stdout}");
}
