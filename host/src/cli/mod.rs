//! The `wirework` command line.

mod client;
mod registry;

use crate::build::{build_plugin, BuildOptions};
use crate::data_dir::{DataDir, DEFAULT_DATA_DIR};
use crate::engine::{EngineConfig, ExecutionFilter, MemoryCredentials, Status};
use crate::home::Home;
use crate::instance::Instance;
use crate::plugins::manager::read_package_file;
use crate::plugins::{GrantEntry, PluginManager};
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
    /// Build, inspect, install (from a file or a registry), upgrade, list,
    /// remove and publish plugin packages.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Serve a plugin registry, or search it and manage what you published.
    #[command(subcommand)]
    Registry(registry::RegistryCommand),
    /// Run nodes.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Run the workflow engine on a data directory, without the HTTP server.
    #[command(subcommand)]
    Engine(EngineCommand),
    /// Serve webhooks, schedules, the management API and metrics over a data
    /// directory (flags over environment over `wirework.toml`).
    Serve(ServeArgs),
    /// Commands that talk to a running server: `workflow`, `execution`, `token`, `secret`, `event`.
    #[command(flatten)]
    Remote(client::Command),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// A settings file (default: `wirework.toml` if it exists).
    #[arg(long, env = "WIREWORK_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: crate::server::config::Settings,
}

#[derive(Debug, Subcommand)]
enum EngineCommand {
    /// Open a data directory, continue its unfinished executions, and optionally
    /// deploy workflows and start executions. Prints `accepted <id>` for each
    /// execution once it is durable.
    Run(EngineRunArgs),
    /// Show the executions of a data directory no other process is using:
    /// a list, or one execution with its steps (JSON).
    Show {
        /// The data directory.
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// One execution's id.
        execution: Option<String>,
        /// Only this workflow.
        #[arg(long)]
        workflow: Option<String>,
        /// Only this status (running, waiting, succeeded, failed, cancelled).
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

#[derive(Debug, Args)]
struct EngineRunArgs {
    /// The data directory.
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// Deploy this workflow file (YAML or JSON) first; repeatable.
    #[arg(long)]
    deploy: Vec<PathBuf>,
    /// Start executions of this workflow.
    #[arg(long)]
    start: Option<String>,
    /// With `--start`: the trigger item (a JSON object).
    #[arg(long, default_value = "{}")]
    input: String,
    /// With `--start`: how many executions.
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// A credential for nodes that bind it, NAME=VALUE.
    #[arg(long = "credential", value_name = "NAME=VALUE")]
    credentials: Vec<String>,
    /// Exit once nothing is running (waiting executions stay waiting);
    /// otherwise run until interrupted.
    #[arg(long)]
    until_idle: bool,
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
    /// Make a new plugin's folder: a manifest with an action, a trigger and
    /// their credential types, the nodes, and passing native and component
    /// tests. Prints the folder last.
    New {
        /// `publisher/name`, e.g. `acme/crm`.
        name: String,
        /// The folder to make (default: the plugin's name, here).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The language.
        #[arg(long, value_enum, default_value = "rust")]
        lang: crate::build::scaffold::Lang,
        /// The `wirework-sdk` crate's folder (default: this wirework's own, `sdk/` beside its source).
        #[arg(long, env = "WIREWORK_SDK")]
        sdk: Option<PathBuf>,
    },
    /// Run a plugin's native tests, then build it and run its component
    /// tests (`tests/component.json`) in the real runtime.
    Test {
        /// The plugin's folder.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Cargo target dir for wasm builds (default: `<home>/wasm-target`).
        #[arg(long, env = "WIREWORK_WASM_TARGET_DIR")]
        target_dir: Option<PathBuf>,
    },
    /// Verify a package and show its manifest, signer and node types.
    Inspect {
        /// The `.wwpkg` file.
        package: PathBuf,
    },
    /// Install a package file with the operator's grants: into a data
    /// directory, or with `--server` into a running server. Prints the
    /// installed file (`publisher/name@version` with `--server`) last.
    Add {
        /// The `.wwpkg` file.
        package: PathBuf,
        /// The data directory.
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        #[command(flatten)]
        server: client::PluginServerArg,
        /// Grant HTTP to this host pattern; repeatable.
        #[arg(long = "grant-http", value_name = "PATTERN")]
        grant_http: Vec<String>,
        /// Grant HTTP to this exact host even at internal (loopback,
        /// private, link-local...) addresses; repeatable.
        #[arg(long = "grant-http-internal", value_name = "HOST")]
        grant_http_internal: Vec<String>,
        /// Grant key-value state.
        #[arg(long)]
        grant_kv: bool,
        /// Grant a credential type the plugin declares (workflows may then
        /// bind credentials of it to its nodes); repeatable.
        #[arg(long = "grant-credential", value_name = "TYPE")]
        grant_credential: Vec<String>,
        /// Grant publishing events: an entry of the manifest's
        /// `capabilities.events` (`contact.created`, `email.*`); repeatable.
        #[arg(long = "grant-event", value_name = "PATTERN")]
        grant_event: Vec<String>,
        /// In a data directory: replace the installed version of the same
        /// number if its contents differ (a rebuilt plugin under
        /// development), instead of refusing. Executions pinned to that
        /// version run the new code.
        #[arg(long)]
        replace: bool,
    },
    /// Show a plugin's grant (JSON), or with `--set` replace it, for every
    /// installed version: in a data directory, or with `--server` on a
    /// running server (where it takes effect at once).
    Grants {
        /// `publisher/name`.
        name: String,
        /// Replace the grant with the `--grant-*` flags (none: nothing granted).
        #[arg(long)]
        set: bool,
        /// With `--set`: grant HTTP to this host pattern; repeatable.
        #[arg(long = "grant-http", value_name = "PATTERN", requires = "set")]
        grant_http: Vec<String>,
        /// With `--set`: grant HTTP to this exact host even at internal addresses; repeatable.
        #[arg(long = "grant-http-internal", value_name = "HOST", requires = "set")]
        grant_http_internal: Vec<String>,
        /// With `--set`: grant key-value state.
        #[arg(long, requires = "set")]
        grant_kv: bool,
        /// With `--set`: grant a credential type the plugin declares; repeatable.
        #[arg(long = "grant-credential", value_name = "TYPE", requires = "set")]
        grant_credential: Vec<String>,
        /// With `--set`: grant publishing events of a pattern the manifest requests; repeatable.
        #[arg(long = "grant-event", value_name = "PATTERN", requires = "set")]
        grant_event: Vec<String>,
        /// The data directory.
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        #[command(flatten)]
        server: client::PluginServerArg,
    },
    #[command(flatten)]
    Registry(registry::PluginRegistryCommand),
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
    /// A field of a credential bound to the node, TYPE.FIELD=VALUE (TYPE a
    /// credential type the manifest declares, which is granted); repeatable.
    #[arg(long = "credential", value_name = "TYPE.FIELD=VALUE")]
    credentials: Vec<String>,
    /// Grant HTTP to these host patterns only (default: all the manifest requests).
    #[arg(long = "grant-http", value_name = "PATTERN")]
    grant_http: Vec<String>,
    /// Grant HTTP to this exact host even at internal addresses; repeatable.
    #[arg(long = "grant-http-internal", value_name = "HOST")]
    grant_http_internal: Vec<String>,
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
    /// The log filter when `WIREWORK_LOG` is unset: the server tells what it
    /// does; one-shot commands only warn.
    pub fn default_log_filter(&self) -> &'static str {
        match self.command {
            Command::Serve(_) | Command::Registry(registry::RegistryCommand::Serve { .. }) => {
                "warn,wirework=info,wirework_registry=info"
            }
            _ => "warn",
        }
    }

    /// Run the command; the process exit code is the result.
    pub async fn run(self) -> anyhow::Result<i32> {
        let home = self.home.map(Home::at).unwrap_or_else(Home::from_env);
        match self.command {
            Command::Serve(args) => {
                let config = crate::server::ServeConfig::resolve(args.config.as_deref(), args.settings)?;
                let server = crate::server::Server::open(config, home).await?;
                server.run(crate::server::stop_signal()).await?;
            }
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
                TrustStore::add_to_file(&home.trust_store_path(), &publisher, key.clone())?;
                println!("trusting {} ({}) for `{publisher}`", key.id(), key);
            }
            Command::Trust(TrustCommand::List) => {
                for entry in TrustStore::load(&home.trust_store_path())?.entries() {
                    println!("{}  {}  {}", entry.key.id(), entry.publishers.join(","), entry.key);
                }
            }
            Command::Plugin(PluginCommand::Build { path, key, out, target_dir }) => {
                let options = BuildOptions { crate_dir: path, key, out_dir: out, target_dir, cache_dir: None };
                let output = build_plugin(&home, &options).await?;
                eprintln!(
                    "built {}@{} ({} bytes, {:?}), signed",
                    output.manifest.plugin.name, output.manifest.plugin.version, output.component_bytes, output.route
                );
                println!("{}", output.package.display());
            }
            Command::Plugin(PluginCommand::Inspect { package }) => inspect(&home, &package).await?,
            Command::Plugin(PluginCommand::New { name, dir, lang, sdk }) => {
                let dir = dir.unwrap_or_else(|| PathBuf::from(name.rsplit('/').next().unwrap_or(&name)));
                let sdk = sdk.unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk")));
                let plan = crate::build::scaffold::NewPlugin { name: name.clone(), dir: dir.clone(), lang, sdk };
                for file in crate::build::scaffold::new_plugin(&plan)? {
                    eprintln!("wrote {}", file.display());
                }
                eprintln!("next: cd {} && wirework plugin test", dir.display());
                println!("{}", dir.display());
            }
            Command::Plugin(PluginCommand::Test { path, target_dir }) => {
                let report = crate::build::plugin_test::test_plugin(&home, &path, target_dir).await?;
                if !report.failed.is_empty() {
                    eprintln!("{} passed, {} failed", report.passed, report.failed.len());
                    return Ok(1);
                }
                eprintln!("all passed ({} component cases)", report.passed);
            }
            Command::Plugin(PluginCommand::Add {
                package,
                server,
                grant_http,
                grant_http_internal,
                grant_kv,
                grant_credential,
                grant_event,
                replace,
                ..
            }) if server.server.is_some() => {
                if replace {
                    bail!(
                        "--replace works on a data directory only: a running server never replaces an installed \
                         version; remove it first (`plugin remove --server`)"
                    );
                }
                let grant = GrantEntry {
                    http: grant_http,
                    http_internal: grant_http_internal,
                    kv: grant_kv,
                    credentials: grant_credential,
                    events: grant_event,
                };
                let request = client::PluginRequest::Add { package, grant };
                return Ok(client::plugin(&server, request).await?.unwrap_or(0));
            }
            Command::Plugin(PluginCommand::Add {
                package,
                data_dir,
                server: _,
                grant_http,
                grant_http_internal,
                grant_kv,
                grant_credential,
                grant_event,
                replace,
            }) => {
                let dir = DataDir::at(&data_dir);
                if replace && dir.is_served() {
                    bail!(
                        "a running wirework has {} open: --replace would change the code of a version it runs; \
                         stop it first, or install a new version with --server",
                        data_dir.display()
                    );
                }
                warn_if_served(&dir);
                let grant = GrantEntry {
                    http: grant_http,
                    http_internal: grant_http_internal,
                    kv: grant_kv,
                    credentials: grant_credential,
                    events: grant_event,
                };
                let bytes = read_package_file(&package)?;
                let added = PluginManager::for_data_dir(dir, home.clone()).add(bytes, grant, replace).await?;
                if !added.not_granted.is_empty() {
                    eprintln!(
                        "warning: {} requests {}, not granted: its calls that need it will be refused",
                        added.name,
                        added.not_granted.join(", ")
                    );
                }
                println!("{}", added.path.display());
            }
            Command::Plugin(PluginCommand::Grants {
                name,
                set,
                grant_http,
                grant_http_internal,
                grant_kv,
                grant_credential,
                grant_event,
                data_dir,
                server,
            }) => {
                let grant = set.then_some(GrantEntry {
                    http: grant_http,
                    http_internal: grant_http_internal,
                    kv: grant_kv,
                    credentials: grant_credential,
                    events: grant_event,
                });
                let request = client::PluginRequest::Grants { name: name.clone(), set: grant.clone() };
                if let Some(code) = client::plugin(&server, request).await? {
                    return Ok(code);
                }
                return local_grants(home.clone(), &DataDir::at(&data_dir), &name, grant).await;
            }
            Command::Plugin(PluginCommand::Registry(command)) => return registry::run_plugin(&home, command).await,
            Command::Registry(command) => registry::run_registry(&home, command).await?,
            Command::Engine(EngineCommand::Run(args)) => engine_run(&home, args).await?,
            Command::Engine(EngineCommand::Show { data_dir, execution, workflow, status, limit }) => {
                let status =
                    status.map(|s| Status::parse(&s).with_context(|| format!("`{s}` is not a status"))).transpose()?;
                let instance = open_instance(&home, &data_dir, Arc::new(MemoryCredentials::default())).await?;
                let engine = &instance.engine;
                let out = match execution {
                    Some(id) => {
                        let record = engine.execution(&id)?.with_context(|| format!("no execution `{id}`"))?;
                        json!({"execution": record, "steps": engine.steps(&id)?})
                    }
                    None => {
                        let filter = ExecutionFilter { workflow, status, limit: Some(limit), ..Default::default() };
                        json!({"executions": engine.list_executions(&filter)?})
                    }
                };
                println!("{}", serde_json::to_string_pretty(&out)?);
            }
            Command::Node(NodeCommand::Run(args)) => return run_node(&home, args).await,
            Command::Remote(command) => return client::run(command).await,
        }
        Ok(0)
    }
}

/// Say so when a running process has `data_dir` open: it loaded its plugins
/// at start and will not see a package file written now until it restarts.
pub(crate) fn warn_if_served(data_dir: &DataDir) {
    if data_dir.is_served() {
        eprintln!(
            "warning: a running wirework has {} open; it loads plugins written here only at its next start \
             (`plugin add|install|upgrade|remove|grants --server URL` change a running server's plugins at once)",
            data_dir.root().display()
        );
    }
}

/// `plugin grants` on a data directory: show or replace `name`'s grant.
async fn local_grants(home: Home, data_dir: &DataDir, name: &str, set: Option<GrantEntry>) -> anyhow::Result<i32> {
    let manager = PluginManager::for_data_dir(data_dir.clone(), home);
    let grant = match set {
        Some(grant) => {
            warn_if_served(data_dir);
            manager.set_grant(name, grant).await
        }
        None => manager.grant(name),
    };
    match grant {
        Ok(grant) => println!("{}", serde_json::to_string_pretty(&grant)?),
        Err(crate::plugins::PluginError::NotFound(_)) => {
            eprintln!("error: {name} is not installed in {}", data_dir.root().display());
            return Ok(1);
        }
        Err(e) => return Err(e.into()),
    }
    Ok(0)
}

async fn open_instance(home: &Home, data_dir: &Path, credentials: Arc<MemoryCredentials>) -> anyhow::Result<Instance> {
    Instance::open(data_dir, home, credentials, EngineConfig::default()).await
}

async fn engine_run(home: &Home, args: EngineRunArgs) -> anyhow::Result<()> {
    let credentials = Arc::new(MemoryCredentials::default());
    for pair in &args.credentials {
        let (name, value) = pair.split_once('=').with_context(|| format!("--credential `{pair}` is not NAME=VALUE"))?;
        credentials.set(name, value);
    }
    let input = parse_json("input", &args.input)?;
    let instance = open_instance(home, &args.data_dir, credentials).await?;
    let engine = &instance.engine;
    for file in &args.deploy {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let deployed = engine.deploy_text(&text).await.with_context(|| format!("deploying {}", file.display()))?;
        eprintln!("deployed {} version {}", deployed.id, deployed.version);
    }
    if let Some(workflow) = &args.start {
        // Start them concurrently, as triggers would; report each once durable.
        let starts = (0..args.count).map(|_| {
            let (engine, input) = (engine.clone(), input.clone());
            let workflow = workflow.clone();
            tokio::spawn(async move { engine.start(&workflow, None, vec![input]).await })
        });
        for start in starts.collect::<Vec<_>>() {
            let id = start.await??;
            println!("accepted {id}");
        }
    }
    if args.until_idle {
        engine.idle().await;
        eprintln!("idle: nothing is running");
    } else {
        tokio::signal::ctrl_c().await?;
    }
    Ok(())
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
    for kind in &m.credentials {
        let fields: Vec<String> = kind
            .fields
            .iter()
            .map(|f| {
                format!("{}{}{}", f.name, if f.secret { " (secret)" } else { "" }, if f.optional { "?" } else { "" })
            })
            .collect();
        let sent = kind.auth.as_ref().map_or("read by the plugin".to_string(), |auth| {
            use wirework_registry::CredentialAuth::*;
            let named = |literal: &Option<String>, field: &Option<String>| match (literal, field) {
                (Some(name), _) => name.clone(),
                (None, Some(field)) => format!("<{field}>"),
                (None, None) => "?".into(),
            };
            match auth {
                Bearer { token } => format!("sent by the host as a bearer token ({token})"),
                Basic { username, password } => format!("sent by the host as basic auth ({username}, {password})"),
                Header { header, header_field, value } => {
                    format!("sent by the host in header {} ({value})", named(header, header_field))
                }
                Query { param, param_field, value } => {
                    format!("sent by the host as query parameter {} ({value})", named(param, param_field))
                }
            }
        });
        println!("credential {}:{}  fields {}; {sent}", m.plugin.name, kind.name, fields.join(", "));
    }
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
    let mut credentials = crate::runtime::BoundCredentials::new();
    for entry in &args.credentials {
        let parsed = entry.split_once('=').and_then(|(path, value)| Some((path.split_once('.')?, value)));
        let ((kind, field), value) =
            parsed.with_context(|| format!("--credential `{entry}` is not TYPE.FIELD=VALUE"))?;
        credentials.entry(kind.to_string()).or_default().insert(field.to_string(), value.to_string());
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
    grants.http_internal = args.grant_http_internal.clone();
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
        bound: crate::runtime::Bound {
            secrets: None,
            credentials: (!credentials.is_empty()).then(|| std::sync::Arc::new(credentials)),
        },
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
