//! `wirework plugin test [PATH]`: a plugin's own tests, natively, then its
//! built component in the real runtime, on the cases of
//! `tests/component.json`:
//!
//! ```json
//! [{"name": "a signed webhook starts an execution",
//!   "node": "webhook", "config": {},
//!   "credentials": {"webhook-secret": {"secret": "whsec_..."}}, "secrets": {},
//!   "request": {"method": "POST", "headers": {"x-signature-256": "sha256=..."}, "body": "{...}"},
//!   "expect": {"items": [{"event": "contact.created"}]}},
//!  {"name": "...", "node": "lookup", "input": [{"name": "Ann"}],
//!   "expect": {"error_code": "no_email"}}]
//! ```
//!
//! A case with `request` calls a trigger's `handle-request`, any other a
//! node's `invoke` on `input`. `expect` takes `items` (on `port`, default
//! `main`, for an action), `status` (a trigger's own answer), `error_code`
//! or `error_contains`. Every capability the manifest requests is granted,
//! as it is to an author running their own plugin.

use super::{build_plugin, BuildOptions};
use crate::home::Home;
use crate::runtime::{
    Bound, Grants, Invocation, MemoryKv, NodeFailure, Outcome, Runtime, RuntimeConfig, TriggerRequest,
};
use anyhow::{bail, Context};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use wirework_registry::{Package, TrustStore};

/// One case of `tests/component.json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    node: String,
    #[serde(default)]
    config: Value,
    #[serde(default)]
    input: Vec<Value>,
    #[serde(default)]
    secrets: BTreeMap<String, String>,
    #[serde(default)]
    credentials: BTreeMap<String, BTreeMap<String, String>>,
    request: Option<CaseRequest>,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseRequest {
    #[serde(default = "post")]
    method: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    path: String,
    #[serde(default)]
    query: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: String,
}

fn post() -> String {
    "POST".into()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    items: Option<Vec<Value>>,
    port: Option<String>,
    status: Option<u16>,
    error_code: Option<String>,
    error_contains: Option<String>,
}

/// What a test run found.
#[derive(Debug, Default)]
pub struct TestReport {
    /// Component cases that passed.
    pub passed: usize,
    /// Component cases that failed, each with why.
    pub failed: Vec<String>,
}

/// Run the plugin's native tests, build it, and run its component cases.
/// `Err` when the native tests or the build fail; failed cases are in the report.
pub async fn test_plugin(home: &Home, dir: &Path, target_dir: Option<PathBuf>) -> anyhow::Result<TestReport> {
    let dir = dir.canonicalize().with_context(|| format!("plugin folder {}", dir.display()))?;
    run_native_tests(&dir)?;

    eprintln!("== building the component");
    let options = BuildOptions { crate_dir: dir.clone(), key: None, out_dir: None, target_dir, cache_dir: None };
    let built = build_plugin(home, &options).await?;
    eprintln!("built {} ({} bytes)", built.package.display(), built.component_bytes);

    let cases_path = dir.join("tests").join("component.json");
    if !cases_path.exists() {
        eprintln!("== no tests/component.json: the component loads and describes its nodes as plugin.toml says");
        return Ok(TestReport::default());
    }
    let text = std::fs::read_to_string(&cases_path).with_context(|| format!("reading {}", cases_path.display()))?;
    let cases: Vec<Case> =
        serde_json::from_str(&text).with_context(|| format!("{} is not a list of cases", cases_path.display()))?;
    eprintln!("== the component in the runtime ({} cases)", cases.len());
    // The build's describe check compiled it into the home's cache: loaded from there.
    let config = RuntimeConfig { max_instances: 4, cache_dir: Some(home.artifact_cache_dir()), ..Default::default() };
    let runtime = Runtime::new(config, Arc::new(MemoryKv::default()))?;
    let package = Package::read(&built.package)?;
    let trust = TrustStore::load(&home.trust_store_path())?;
    let grants = Grants::all_requested(&built.manifest.capabilities, BTreeMap::new());
    let plugin = runtime.load(package, &trust, &grants).await?;
    let mut report = TestReport::default();
    for case in cases {
        match run_case(&runtime, &plugin, &case).await {
            Ok(()) => {
                eprintln!("  ok      {}", case.name);
                report.passed += 1;
            }
            Err(why) => {
                eprintln!("  FAILED  {}: {why}", case.name);
                report.failed.push(format!("{}: {why}", case.name));
            }
        }
    }
    Ok(report)
}

/// `cargo test` for a crate, `npm test` for a JavaScript plugin.
fn run_native_tests(dir: &Path) -> anyhow::Result<()> {
    if !dir.join("Cargo.toml").exists() && dir.join("package.json").exists() {
        eprintln!("== native tests (npm test)");
        super::js::ensure_node_modules(dir)?;
        let status = Command::new("npm").arg("test").current_dir(dir).status().context("running npm test")?;
        if !status.success() {
            bail!("the native tests failed (npm test in {}); their output is above", dir.display());
        }
        return Ok(());
    }
    eprintln!("== native tests (cargo test)");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .arg("test")
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        // Not the settings of a build that runs this one (clippy, a target).
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .context("running cargo test")?;
    if !status.success() {
        bail!("the native tests failed (cargo test in {}); their output is above", dir.display());
    }
    Ok(())
}

async fn run_case(runtime: &Runtime, plugin: &crate::runtime::LoadedPlugin, case: &Case) -> Result<(), String> {
    let bound = Bound {
        secrets: (!case.secrets.is_empty()).then(|| Arc::new(case.secrets.clone())),
        credentials: (!case.credentials.is_empty()).then(|| Arc::new(case.credentials.clone())),
    };
    let config = if case.config.is_null() { "{}".to_string() } else { case.config.to_string() };
    let call = Invocation {
        node: case.node.clone(),
        config,
        items: case.input.iter().map(Value::to_string).collect(),
        execution_id: "plugin-test".into(),
        attempt: 1,
        idempotency_key: "plugin-test:1".into(),
        kv_scope: "plugin-test".into(),
        bound,
        ..Default::default()
    };
    let expect = &case.expect;
    match &case.request {
        Some(request) => {
            let request = TriggerRequest {
                method: request.method.clone(),
                url: request.url.clone().unwrap_or_else(|| format!("http://localhost/hooks/test/{}", case.node)),
                path: request.path.clone(),
                query: request.query.clone(),
                headers: request.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect(),
                body: request.body.clone().into_bytes(),
            };
            let report = runtime.handle_request(plugin, call, request).await;
            let out = match report.result {
                Ok(out) => out,
                Err(failure) => return expected_failure(expect, failure),
            };
            if expect.error_code.is_some() || expect.error_contains.is_some() {
                return Err("it succeeded; an error was expected".into());
            }
            let items: Vec<Value> =
                out.items.iter().map(|i| serde_json::from_str(i.get()).unwrap_or(Value::Null)).collect();
            if let Some(want) = &expect.items {
                same("items", want, &items)?;
            }
            if let Some(status) = expect.status {
                let got = out.response.as_ref().map(|r| r.status);
                if got != Some(status) {
                    return Err(format!("expected the trigger to answer {status}, it answered {got:?}"));
                }
            }
            Ok(())
        }
        None => {
            let report = runtime.invoke(plugin, call).await;
            let outcome = match report.result {
                Ok(outcome) => outcome,
                Err(failure) => return expected_failure(expect, failure),
            };
            if expect.error_code.is_some() || expect.error_contains.is_some() {
                return Err(format!("it succeeded ({}); an error was expected", describe(&outcome)));
            }
            if let Some(want) = &expect.items {
                let port = expect.port.as_deref().unwrap_or("main");
                let Outcome::Emit { ports } = &outcome else { return Err(format!("it waits: {}", describe(&outcome))) };
                let items: Vec<Value> = ports
                    .iter()
                    .filter(|p| p.port == port)
                    .flat_map(|p| p.items.iter().map(|i| serde_json::from_str(i.get()).unwrap_or(Value::Null)))
                    .collect();
                same(&format!("items on `{port}`"), want, &items)?;
            }
            Ok(())
        }
    }
}

fn expected_failure(expect: &Expect, failure: NodeFailure) -> Result<(), String> {
    let code = match &failure {
        NodeFailure::Plugin { code, .. } => code.clone(),
        _ => None,
    };
    let message = failure.to_string();
    match (&expect.error_code, &expect.error_contains) {
        (None, None) => Err(format!("it failed: {message}")),
        (Some(want), _) if code.as_deref() != Some(want) => {
            Err(format!("expected error code `{want}`, got {code:?} ({message})"))
        }
        (_, Some(want)) if !message.contains(want.as_str()) => {
            Err(format!("expected an error saying `{want}`, got: {message}"))
        }
        _ => Ok(()),
    }
}

fn same(what: &str, want: &[Value], got: &[Value]) -> Result<(), String> {
    if want == got {
        return Ok(());
    }
    Err(format!("expected {what} {}, got {}", Value::from(want.to_vec()), Value::from(got.to_vec())))
}

fn describe(outcome: &Outcome) -> String {
    serde_json::to_string(outcome).unwrap_or_default()
}
