//! The `wirework` command line.

use crate::build::{build_plugin, BuildOptions};
use crate::home::Home;
use crate::runtime::{Grants, Invocation, InvokeReport, MemoryKv, Outcome, Runtime, RuntimeConfig};
use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wirework_registry::keys::public_key_path;
use wirework_registry::{Package, PublicKey, SecretKey, TrustStore};

/// Wirework: workflow automation whose every node type is a signed WebAssembly component.
#[derive(Debug, Parser)]
#[command(name = "wirework", version)]
pub struct Cli {
    /// Where keys, the trust store and caches live.
    #[arg(long, global = true, env = "WIREWORK_HOME")]
    home: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Publisher signing keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Keys this machine trusts to sign plugins.
    #[command(subcommand)]
    Trust(TrustCommand),
    /// Build and inspect plugin packages.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Run nodes.
    #[command(subcommand)]
    Node(NodeCommand),
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Write a new key pair to `<home>/keys/NAME.key` and `.key.pub`.
    Generate {
        /// The key's name.
        #[arg(long, default_value = "default")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum TrustCommand {
    /// Trust KEY (`ed25519:<hex>`, or a `.pub` file) to sign PUBLISHER's plugins.
    Add { publisher: String, key: String },
    /// List trusted keys.
    List,
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Build a plugin crate to a signed package; prints the package path last.
    Build {
        /// The crate holding `Cargo.toml` and `plugin.toml`.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Signing key (default: `<home>/keys/default.key`, made on first use).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Directory for the package.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Cargo target dir for wasm builds (default: `<home>/wasm-target`).
        #[arg(long, env = "WIREWORK_WASM_TARGET_DIR")]
        target_dir: Option<PathBuf>,
    },
    /// Verify a package and show its manifest, signer and node types.
    Inspect {
        /// The `.wwpkg` file.
        package: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum NodeCommand {
    /// Run one node of a package and print its outcome, fuel used and wall time.
    Run(RunArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The `.wwpkg` file.
    package: PathBuf,
    /// The node's name.
    node: String,
    /// The node's configuration, JSON.
    #[arg(long, default_value = "{}")]
    config: String,
    /// Input: one item (a JSON object) or a JSON array of items.
    #[arg(long, default_value = "[]")]
    input: String,
    /// Resume a wait with this state (JSON), as the engine would.
    #[arg(long)]
    resume: Option<String>,
    /// A secret for the node, NAME=VALUE; only names the manifest requests are granted.
    #[arg(long = "secret", value_name = "NAME=VALUE")]
    secrets: Vec<String>,
    /// Grant HTTP to these host patterns only (default: all the manifest requests).
    #[arg(long = "grant-http", value_name = "PATTERN")]
    grant_http: Vec<String>,
    /// Override the manifest's fuel budget.
    #[arg(long)]
    fuel: Option<u64>,
    /// Override the manifest's wall-time limit, in ms.
    #[arg(long)]
    wall_ms: Option<u64>,
    /// Override the manifest's memory cap, in MiB.
    #[arg(long)]
    memory_mib: Option<u64>,
    /// Print one JSON object: `outcome` (or `error`), `fuel`, `wall_ms`, `logs`, `denials`.
    #[arg(long)]
    json: bool,
}

impl Cli {
    /// Run the command; the process exit code is the result.
    pub async fn run(self) -> anyhow::Result<i32> {
        let home = self.home.map(Home::at).unwrap_or_else(Home::from_env);
        match self.command {
            Command::Key(KeyCommand::Generate { name }) => {
                let path = home.key_path(&name);
                if path.exists() {
                    bail!("{} exists already; keys are never overwritten", path.display());
                }
                let key = SecretKey::generate();
                key.write(&path)?;
                println!("key id:     {}", key.public().id());
                println!("public key: {}", key.public());
                println!("secret key: {}", path.display());
                println!("{}", public_key_path(&path).display());
            }
            Command::Trust(TrustCommand::Add { publisher, key }) => {
                wirework_registry::manifest::validate_package_name(&format!("{publisher}/x"))
                    .map_err(|_| anyhow::anyhow!("`{publisher}` is not a publisher name"))?;
                let text = match std::fs::read_to_string(&key) {
                    Ok(text) => text,
                    Err(_) => key.clone(),
                };
                let key = PublicKey::parse(&text)?;
                let path = home.trust_store_path();
                let mut trust = TrustStore::load(&path)?;
                trust.add(&publisher, key.clone());
                trust.save(&path)?;
                println!("trusting {} ({}) for `{publisher}`", key.id(), key);
            }
            Command::Trust(TrustCommand::List) => {
                for entry in TrustStore::load(&home.trust_store_path())?.entries() {
                    println!("{}  {}  {}", entry.key.id(), entry.publishers.join(","), entry.key);
                }
            }
            Command::Plugin(PluginCommand::Build { path, key, out, target_dir }) => {
                let options = BuildOptions { crate_dir: path, key, out_dir: out, target_dir };
                let output = build_plugin(&home, &options).await?;
                eprintln!(
                    "built {}@{} ({} bytes, {:?}), signed",
                    output.manifest.plugin.name, output.manifest.plugin.version, output.component_bytes, output.route
                );
                println!("{}", output.package.display());
            }
            Command::Plugin(PluginCommand::Inspect { package }) => inspect(&home, &package).await?,
            Command::Node(NodeCommand::Run(args)) => return run_node(&home, args).await,
        }
        Ok(0)
    }
}

fn runtime_for(home: &Home) -> anyhow::Result<Runtime> {
    let config = RuntimeConfig { cache_dir: Some(home.artifact_cache_dir()), max_instances: 16, ..Default::default() };
    Runtime::new(config, Arc::new(MemoryKv::default()))
}

async fn inspect(home: &Home, path: &Path) -> anyhow::Result<()> {
    let trust = TrustStore::load(&home.trust_store_path())?;
    let package = Package::read(path)?;
    let runtime = runtime_for(home)?;
    let plugin = runtime.load(package, &trust, &Grants::default()).await?;
    let m = plugin.manifest();
    println!("{}@{}  (wirework:plugin@{})", m.plugin.name, m.plugin.version, m.plugin.wit);
    println!("component sha256 {}", plugin.digest());
    println!(
        "requests: http {:?}, secrets {:?}, kv {}",
        m.capabilities.http, m.capabilities.secrets, m.capabilities.kv
    );
    println!("limits:   fuel {}, memory {} MiB, wall {} ms", m.limits.fuel, m.limits.memory_mib, m.limits.wall_ms);
    for node in plugin.nodes() {
        let ports = if node.ports.is_empty() { "(named by config)".to_string() } else { node.ports.join(", ") };
        println!("  {:<10} {:?}  {} -> {}", node.name, node.kind, node.title, ports);
    }
    Ok(())
}

fn parse_json(what: &str, text: &str) -> anyhow::Result<Value> {
    serde_json::from_str(text).with_context(|| format!("--{what} is not valid JSON"))
}

async fn run_node(home: &Home, args: RunArgs) -> anyhow::Result<i32> {
    let config = parse_json("config", &args.config)?;
    let items = match parse_json("input", &args.input)? {
        Value::Array(items) => items,
        item @ Value::Object(_) => vec![item],
        _ => bail!("--input must be a JSON object or an array of objects"),
    };
    if let Some(bad) = items.iter().find(|i| !i.is_object()) {
        bail!("--input items must be JSON objects, not {bad}");
    }
    let resume_state = args.resume.as_deref().map(|r| parse_json("resume", r)).transpose()?;
    let mut secrets = BTreeMap::new();
    for pair in &args.secrets {
        let (name, value) = pair.split_once('=').with_context(|| format!("--secret `{pair}` is not NAME=VALUE"))?;
        secrets.insert(name.to_string(), value.to_string());
    }

    let trust = TrustStore::load(&home.trust_store_path())?;
    let package = Package::read(&args.package)?;
    let runtime = runtime_for(home)?;
    // Verify first to learn what the manifest requests; `load` verifies again.
    let requested = package.clone().verify(&trust)?.manifest.capabilities;
    let mut grants = Grants::all_requested(&requested, secrets);
    if !args.grant_http.is_empty() {
        grants.http = args.grant_http.clone();
    }
    let plugin = runtime.load(package, &trust, &grants).await?;
    let mut limits = plugin.manifest().limits;
    limits.fuel = args.fuel.unwrap_or(limits.fuel);
    limits.wall_ms = args.wall_ms.unwrap_or(limits.wall_ms);
    limits.memory_mib = args.memory_mib.unwrap_or(limits.memory_mib);
    let invocation = Invocation {
        node: args.node.clone(),
        config: config.to_string(),
        items: items.iter().map(Value::to_string).collect(),
        execution_id: "cli".into(),
        attempt: 1,
        idempotency_key: format!("cli-{}", std::process::id()),
        resume_state: resume_state.map(|s| s.to_string()),
        kv_scope: String::new(),
        limits: Some(limits),
    };
    let report = runtime.invoke(&plugin, invocation).await;
    if args.json {
        println!("{}", report_json(&report));
    } else {
        print_report(&report);
    }
    Ok(if report.result.is_ok() { 0 } else { 1 })
}

/// The `--json` form of a report.
fn report_json(report: &InvokeReport<Outcome>) -> Value {
    let (outcome, error) = match &report.result {
        Ok(outcome) => (serde_json::to_value(outcome).expect("outcomes serialise"), Value::Null),
        Err(failure) => {
            let mut error = serde_json::to_value(failure).expect("failures serialise");
            error["message"] = json!(failure.to_string());
            error["retryable"] = json!(failure.retryable());
            (Value::Null, error)
        }
    };
    json!({
        "outcome": outcome,
        "error": error,
        "fuel": report.fuel,
        "wall_ms": report.wall.as_secs_f64() * 1000.0,
        "logs": report.logs,
        "denials": report.denials,
    })
}

fn print_report(report: &InvokeReport<Outcome>) {
    for line in &report.logs {
        println!("[{}] {}", line.level, line.message);
    }
    for denial in &report.denials {
        println!("[sandbox] {denial}");
    }
    match &report.result {
        Ok(Outcome::Emit { ports }) => {
            println!("outcome: emit");
            for port in ports {
                println!("  {} ({} items)", port.port, port.items.len());
                for item in &port.items {
                    println!("    {}", item.get());
                }
            }
        }
        Ok(Outcome::Wait { until_unix_ms, event, state }) => {
            let until = until_unix_ms.map(|ms| format!("until unix ms {ms}"));
            let event = event.as_ref().map(|e| format!("for event `{e}`"));
            let what: Vec<String> = [event, until].into_iter().flatten().collect();
            println!("outcome: wait {}", what.join(", at most "));
            println!("  state {}", state.get());
        }
        Err(failure) => println!("error: {failure}"),
    }
    println!("fuel: {}", report.fuel);
    println!("wall: {:.3} ms", report.wall.as_secs_f64() * 1000.0);
}
