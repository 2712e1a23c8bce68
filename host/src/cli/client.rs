//! Operator commands that talk to a running `wirework serve` over its HTTP API
//! (`/api/v1`): workflows, executions, tokens, secrets and events, and the
//! `plugin add|install|list|remove|grants` commands when they are given `--server`.
//!
//! Exit codes: 0 when the server did what was asked, 1 when it refused (its
//! message, and a workflow's problems, go to stderr); anything that keeps the
//! request from being answered at all is an error for `main` (exit 2).

use crate::dto;
use crate::plugins::registry::describe_capabilities;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;
use wirework_registry::manifest::Capabilities;

/// How long to wait for a TCP connection to the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for a whole answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `plugin install --server` waits: the server answers only once it
/// has downloaded (each registry request may take 120 s), verified and
/// compiled the package, and it goes on with the install if the CLI gives up.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);
/// How long `plugin upgrade --server` and `plugin install --locked --server`
/// wait: the server installs one plugin after another in the one request
/// (each as long as an install), and goes on if the CLI gives up.
const UPGRADE_TIMEOUT: Duration = Duration::from_secs(1800);
/// At most this much of a non-JSON error body is shown.
const MAX_SHOWN_BODY: usize = 300;

/// Where the server is and which token to show it.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The server's base URL.
    #[arg(long, global = true, env = "WIREWORK_URL", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// An API token (`wirework token create`, or the server's first admin token).
    #[arg(long, global = true, env = "WIREWORK_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// A group of server commands: the server to talk to, and the command.
#[derive(Debug, Args)]
pub struct Group<C: Subcommand> {
    /// The server and token.
    #[command(flatten)]
    server: ServerArgs,
    /// What to ask of it.
    #[command(subcommand)]
    command: C,
}

/// The commands that talk to a server.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deploy and manage workflows on a server.
    Workflow(Group<WorkflowCommand>),
    /// Inspect, retry and cancel executions on a server.
    Execution(Group<ExecutionCommand>),
    /// Create, list and revoke a server's API tokens.
    Token(Group<TokenCommand>),
    /// Set, list and delete the credentials a server's nodes use (values are never shown).
    Secret(Group<SecretCommand>),
    /// Send events to a server: they start and resume workflows waiting for them.
    Event(Group<EventCommand>),
}

/// `wirework workflow ...`
#[derive(Debug, Subcommand)]
pub enum WorkflowCommand {
    /// Deploy a workflow file (YAML or JSON): a new workflow, or its next version.
    /// Prints the workflow id last.
    Deploy {
        /// The workflow definition.
        file: PathBuf,
    },
    /// List workflows with their current and latest versions (JSON).
    List,
    /// Show a workflow and its current definition (JSON).
    Show {
        /// The workflow's id.
        id: String,
    },
    /// Let the workflow's triggers start executions again.
    Activate {
        /// The workflow's id.
        id: String,
    },
    /// Stop the workflow's triggers from starting executions.
    Deactivate {
        /// The workflow's id.
        id: String,
    },
    /// Make an earlier deployed version current again.
    Rollback {
        /// The workflow's id.
        id: String,
        /// The version to make current.
        version: u32,
    },
    /// Start an execution by hand (without its trigger firing); prints the
    /// execution's id last, once it is durable.
    Start {
        /// The workflow's id.
        id: String,
        /// The trigger item: a JSON object, or an array of objects.
        #[arg(long, default_value = "{}")]
        input: String,
        /// Start as this trigger (by its id in the workflow); default: the
        /// first `manual` trigger, else the first.
        #[arg(long)]
        trigger: Option<String>,
    },
}

/// `wirework execution ...`
#[derive(Debug, Subcommand)]
pub enum ExecutionCommand {
    /// List executions, newest first (JSON).
    List {
        /// Only this workflow's.
        #[arg(long)]
        workflow: Option<String>,
        /// Only those with this status (running, waiting, succeeded, failed, cancelled).
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long)]
        limit: Option<usize>,
        /// Only those created before this execution: the last id of a page
        /// gives the next page.
        #[arg(long, value_name = "ID")]
        before: Option<String>,
    },
    /// Show one execution with its steps (JSON).
    Show {
        /// The execution's id.
        id: String,
    },
    /// Run a finished execution again, from its failed steps; prints the new execution's id last.
    Retry {
        /// The execution's id.
        id: String,
        /// Run it again from its trigger instead.
        #[arg(long)]
        from_start: bool,
    },
    /// Cancel a running or waiting execution.
    Cancel {
        /// The execution's id.
        id: String,
    },
}

/// `wirework token ...`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; prints it last (the server shows it only this once).
    Create {
        /// The token's name.
        name: String,
    },
    /// List tokens by name (JSON; never the tokens themselves).
    List,
    /// Revoke a token.
    Revoke {
        /// The token's name.
        name: String,
    },
}

/// `wirework secret ...`
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Set a credential: a plain value, or with `--type` a typed one. A
    /// value not given on the command line (which leaves it in shell
    /// history) is read from stdin, one trailing newline dropped.
    Set {
        /// The credential's name, as workflows bind it.
        name: String,
        /// The value (plain credentials).
        #[arg(long, conflicts_with_all = ["kind", "fields"])]
        value: Option<String>,
        /// A credential type an installed plugin declares, `publisher/plugin:type`.
        #[arg(long = "type", value_name = "TYPE", requires = "fields")]
        kind: Option<String>,
        /// With `--type`: a field, NAME=VALUE, or NAME alone to read its value
        /// from stdin (one such field at most); repeatable.
        #[arg(long = "field", value_name = "NAME[=VALUE]", requires = "kind")]
        fields: Vec<String>,
    },
    /// List credential names and when they changed (JSON; never values).
    List,
    /// Delete a credential.
    Delete {
        /// The credential's name.
        name: String,
    },
}

/// `wirework event ...`
#[derive(Debug, Subcommand)]
pub enum EventCommand {
    /// Emit an event; prints what it started and resumed (JSON).
    Emit {
        /// The event's name.
        name: String,
        /// The event's payload (JSON).
        #[arg(long, default_value = "{}")]
        payload: String,
    },
}

/// Run a server command; the result is the process exit code.
pub async fn run(command: Command) -> anyhow::Result<i32> {
    exit_code(run_command(command).await)
}

async fn run_command(command: Command) -> anyhow::Result<i32> {
    match command {
        Command::Workflow(Group { server, command }) => workflow(&Client::new(server)?, command).await,
        Command::Execution(Group { server, command }) => execution(&Client::new(server)?, command).await,
        Command::Token(Group { server, command }) => token(&Client::new(server)?, command).await,
        Command::Secret(Group { server, command }) => secret(&Client::new(server)?, command).await,
        Command::Event(Group { server, command }) => event(&Client::new(server)?, command).await,
    }
}

async fn workflow(client: &Client, command: WorkflowCommand) -> anyhow::Result<i32> {
    let answer = match command {
        WorkflowCommand::Deploy { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let body = Body::Raw { content_type: definition_type(&file), bytes: text.into_bytes() };
            let deployed: dto::Deployed = answer(client.call(Method::POST, &["workflows"], &[], body).await?)?;
            eprintln!("deployed workflow `{}` version {}", deployed.id, deployed.version);
            println!("{}", deployed.id);
            return Ok(0);
        }
        WorkflowCommand::List => client.call(Method::GET, &["workflows"], &[], Body::None).await?,
        WorkflowCommand::Show { id } => client.call(Method::GET, &["workflows", &id], &[], Body::None).await?,
        WorkflowCommand::Activate { id } => {
            client.call(Method::POST, &["workflows", &id, "activate"], &[], Body::None).await?
        }
        WorkflowCommand::Deactivate { id } => {
            client.call(Method::POST, &["workflows", &id, "deactivate"], &[], Body::None).await?
        }
        WorkflowCommand::Rollback { id, version } => {
            let body = Body::json(&dto::RollbackRequest { version })?;
            client.call(Method::POST, &["workflows", &id, "rollback"], &[], body).await?
        }
        WorkflowCommand::Start { id, input, trigger } => {
            let items = match serde_json::from_str(&input).context("--input is not valid JSON")? {
                Value::Array(items) => items,
                item => vec![item],
            };
            let body = Body::json(&dto::StartRequest { trigger, items })?;
            let started = client.call(Method::POST, &["workflows", &id, "executions"], &[], body).await?;
            let started: dto::ExecutionId = answer(started)?;
            eprintln!("started an execution of workflow `{id}`");
            println!("{}", started.execution_id);
            return Ok(0);
        }
    };
    print_json(answer)
}

async fn execution(client: &Client, command: ExecutionCommand) -> anyhow::Result<i32> {
    let answer = match command {
        ExecutionCommand::List { workflow, status, limit, before } => {
            let limit = limit.map(|n| n.to_string());
            let query: Vec<(&str, String)> =
                [("workflow", workflow), ("status", status), ("limit", limit), ("before", before)]
                    .into_iter()
                    .filter_map(|(key, value)| Some((key, value?)))
                    .collect();
            client.call(Method::GET, &["executions"], &query, Body::None).await?
        }
        ExecutionCommand::Show { id } => client.call(Method::GET, &["executions", &id], &[], Body::None).await?,
        ExecutionCommand::Retry { id, from_start } => {
            let mode = if from_start { "from_start" } else { "from_failed" };
            let body = Body::json(&dto::RetryRequest { mode: Some(mode.into()) })?;
            let retried: dto::ExecutionId =
                answer(client.call(Method::POST, &["executions", &id, "retry"], &[], body).await?)?;
            eprintln!("retrying execution `{id}` ({mode}) as a new execution");
            println!("{}", retried.execution_id);
            return Ok(0);
        }
        ExecutionCommand::Cancel { id } => {
            let cancelled: dto::Cancelled =
                answer(client.call(Method::POST, &["executions", &id, "cancel"], &[], Body::None).await?)?;
            println!("execution `{id}`: {}", cancelled.status.map_or("cancelled", |s| s.as_str()));
            return Ok(0);
        }
    };
    print_json(answer)
}

async fn token(client: &Client, command: TokenCommand) -> anyhow::Result<i32> {
    match command {
        TokenCommand::Create { name } => {
            let body = Body::json(&dto::TokenRequest { name: name.clone() })?;
            let created: dto::NewToken = answer(client.call(Method::POST, &["tokens"], &[], body).await?)?;
            eprintln!("created token `{name}`; it is shown only this once");
            println!("{}", created.token);
            Ok(0)
        }
        TokenCommand::List => print_json(client.call(Method::GET, &["tokens"], &[], Body::None).await?),
        TokenCommand::Revoke { name } => {
            client.call(Method::DELETE, &["tokens", &name], &[], Body::None).await?;
            println!("revoked token `{name}`");
            Ok(0)
        }
    }
}

async fn secret(client: &Client, command: SecretCommand) -> anyhow::Result<i32> {
    match command {
        SecretCommand::Set { name, kind: Some(kind), fields, .. } => {
            let mut values = std::collections::BTreeMap::new();
            let mut from_stdin = None;
            for field in fields {
                match field.split_once('=') {
                    Some((field, value)) => values.insert(field.to_string(), value.to_string()),
                    None if from_stdin.is_some() => bail!("only one --field can be read from stdin"),
                    None => {
                        let value = read_secret_value(&format!("{name}.{field}"))?;
                        from_stdin = Some(field.clone());
                        values.insert(field, value)
                    }
                };
            }
            let request = dto::CredentialRequest { kind: Some(kind.clone()), fields: Some(values), value: None };
            client.call(Method::PUT, &["credentials", &name], &[], Body::json(&request)?).await?;
            println!("set credential `{name}` of type {kind}");
            Ok(0)
        }
        SecretCommand::Set { name, value, .. } => {
            let value = match value {
                Some(value) => value,
                None => read_secret_value(&name)?,
            };
            if value.is_empty() {
                bail!("the value for secret `{name}` is empty");
            }
            let body = Body::json(&dto::CredentialRequest { value: Some(value), ..Default::default() })?;
            client.call(Method::PUT, &["credentials", &name], &[], body).await?;
            println!("set secret `{name}`");
            Ok(0)
        }
        SecretCommand::List => print_json(client.call(Method::GET, &["credentials"], &[], Body::None).await?),
        SecretCommand::Delete { name } => {
            client.call(Method::DELETE, &["credentials", &name], &[], Body::None).await?;
            println!("deleted secret `{name}`");
            Ok(0)
        }
    }
}

async fn event(client: &Client, command: EventCommand) -> anyhow::Result<i32> {
    match command {
        EventCommand::Emit { name, payload } => {
            let payload: Value = serde_json::from_str(&payload).context("--payload is not valid JSON")?;
            let body = Body::json(&dto::EventRequest { name, payload })?;
            print_json(client.call(Method::POST, &["events"], &[], body).await?)
        }
    }
}

/// `--server` and `--token` on `plugin add|install|list|remove|grants`: act on a running
/// server through its API instead of on a data directory. A server loads
/// the plugins of its directory when it starts, so files written beside it
/// take effect only at its next start; through the API they do at once.
#[derive(Debug, Clone, Args)]
pub struct PluginServerArg {
    /// Act on the running server at this URL (through its API) instead of on a
    /// data directory.
    #[arg(long, value_name = "URL", conflicts_with = "data_dir")]
    pub server: Option<String>,
    /// An API token, with `--server`.
    #[arg(long, env = "WIREWORK_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl PluginServerArg {
    /// The client for `--server`, if it was given.
    fn client(&self) -> anyhow::Result<Option<Client>> {
        let Some(server) = &self.server else { return Ok(None) };
        Client::new(ServerArgs { server: server.clone(), token: self.token.clone() }).map(Some)
    }
}

/// A `plugin` command for a running server.
#[derive(Debug)]
pub enum PluginRequest {
    /// Install a package file with these grants.
    Add {
        /// The `.wwpkg` file.
        package: PathBuf,
        /// The grant it gets.
        grant: crate::plugins::GrantEntry,
    },
    /// Install from a registry, as `plugin install` does on a data directory.
    Install {
        /// `publisher/name@RANGE`.
        spec: String,
        /// The registry's URL (the server fetches from it).
        registry: String,
        /// `--grant` values: `http=PATTERN`, `kv`, `all`, `none`.
        grants: Vec<String>,
        /// Trust the publisher's key if the server trusts none of its keys yet.
        trust_on_first_use: bool,
    },
    /// Install exactly what a lockfile lists, as `plugin install --locked`
    /// does on a data directory.
    InstallLocked {
        /// The lockfile's text; the server's own lockfile when `None`.
        lockfile: Option<String>,
        /// `--grant` values.
        grants: Vec<String>,
        /// Trust a publisher's key if the server trusts none of its keys yet.
        trust_on_first_use: bool,
    },
    /// Upgrade the plugins of the server's lockfile (or only `names`).
    Upgrade {
        /// `publisher/name`s; all when empty.
        names: Vec<String>,
        /// `--grant` values for what newer versions request.
        grants: Vec<String>,
    },
    /// List the installed versions (JSON).
    List,
    /// Show `name`'s grant, or replace it with `set`.
    Grants {
        /// `publisher/name`.
        name: String,
        /// The new grant, if it is to change.
        set: Option<crate::plugins::GrantEntry>,
    },
    /// Remove `name` `version`.
    Remove {
        /// `publisher/name`.
        name: String,
        /// The exact version.
        version: semver::Version,
        /// Even if workflows use it.
        force: bool,
    },
}

/// Run `request` against the server `server` names, if it names one; `None`
/// means the command acts on a data directory instead.
pub async fn plugin(server: &PluginServerArg, request: PluginRequest) -> anyhow::Result<Option<i32>> {
    let Some(client) = server.client()? else { return Ok(None) };
    exit_code(plugin_request(&client, request).await).map(Some)
}

async fn plugin_request(client: &Client, request: PluginRequest) -> anyhow::Result<i32> {
    let code = match request {
        PluginRequest::Add { package, grant } => {
            let bytes = std::fs::read(&package).with_context(|| format!("reading {}", package.display()))?;
            let mut query: Vec<(&str, String)> = grant.http.into_iter().map(|p| ("grant_http", p)).collect();
            query.extend(grant.http_internal.into_iter().map(|h| ("grant_http_internal", h)));
            query.extend(grant.credentials.into_iter().map(|c| ("grant_credential", c)));
            if grant.kv {
                query.push(("grant_kv", "true".into()));
            }
            let body = Body::Raw { content_type: "application/octet-stream", bytes };
            let installed: dto::PluginAdded = answer(client.call(Method::POST, &["plugins"], &query, body).await?)?;
            let (name, version) = (&installed.name, &installed.version);
            eprintln!("installed {name} {version} on {}; it runs from now on", client.server);
            if let Some(missing) = not_granted(client, name, version).await {
                eprintln!(
                    "warning: {name} requests {missing}, not granted: its calls that need it will be refused \
                     (the grant given replaces the plugin's grant, for every installed version; \
                     pass --grant-http / --grant-kv / --grant-credential)"
                );
            }
            println!("{name}@{version}");
            0
        }
        PluginRequest::Install { spec, registry, grants, trust_on_first_use } => {
            let request = dto::RegistryInstallRequest { plugin: spec, registry, grants, trust_on_first_use };
            let path = ["plugins", "install"];
            let answered = client.call_within(Method::POST, &path, &[], Body::json(&request)?, INSTALL_TIMEOUT).await;
            let installed: dto::PluginInstalled = answer(answered.map_err(|e| goes_on(e, "install", &client.server))?)?;
            print_installed(&installed);
            let (name, version) = (&installed.name, &installed.version);
            eprintln!("installed {name} {version} on {}; it runs from now on", client.server);
            println!("{name}@{version}");
            0
        }
        PluginRequest::InstallLocked { lockfile, grants, trust_on_first_use } => {
            let request = dto::LockedInstallRequest { lockfile, grants, trust_on_first_use };
            let path = ["plugins", "install-locked"];
            let answered = client.call_within(Method::POST, &path, &[], Body::json(&request)?, UPGRADE_TIMEOUT).await;
            let installed: dto::PluginsInstalled =
                answer(answered.map_err(|e| goes_on(e, "install", &client.server))?)?;
            for installed in &installed.plugins {
                print_installed(installed);
                let (name, version) = (&installed.name, &installed.version);
                eprintln!("installed {name} {version} on {}; it runs from now on", client.server);
                println!("{name}@{version}");
            }
            0
        }
        PluginRequest::Upgrade { names, grants } => {
            let request = dto::UpgradeRequest { plugins: names, grants };
            let path = ["plugins", "upgrade"];
            let answered = client.call_within(Method::POST, &path, &[], Body::json(&request)?, UPGRADE_TIMEOUT).await;
            let upgrades: dto::PluginUpgrades = answer(answered.map_err(|e| goes_on(e, "upgrade", &client.server))?)?;
            let mut failed = false;
            for plugin in &upgrades.plugins {
                let (name, from) = (&plugin.name, &plugin.from);
                match (plugin.outcome, &plugin.installed) {
                    (dto::UpgradeOutcome::Upgraded, Some(to)) => {
                        let version = &to.version;
                        print_install_notes(name, version, &to.requested, &to.notes, &to.not_granted);
                        eprintln!(
                            "installed {name} {version} on {} beside {from}; it runs from now on \
                             (workflows move to it when deployed again; remove {from} with \
                             `wirework plugin remove {name}@{from} --server {}`)",
                            client.server, client.server
                        );
                        println!("{name}@{version}");
                    }
                    (dto::UpgradeOutcome::Current, _) => println!("{name} {from} is the newest in `{}`", plugin.range),
                    _ => {
                        failed = true;
                        eprintln!("error: {name}: {}", plugin.error.as_deref().unwrap_or("failed"));
                    }
                }
            }
            i32::from(failed)
        }
        PluginRequest::List => print_json(client.call(Method::GET, &["plugins"], &[], Body::None).await?)?,
        PluginRequest::Grants { name, set } => {
            let (publisher, short) = publisher_and_name(&name)?;
            let path = ["plugins", publisher, short, "grants"];
            let answer = match set {
                None => client.call(Method::GET, &path, &[], Body::None).await?,
                Some(grant) => client.call(Method::PUT, &path, &[], Body::json(&grant)?).await?,
            };
            print_json(answer)?
        }
        PluginRequest::Remove { name, version, force } => {
            let (publisher, short) = publisher_and_name(&name)?;
            let query: Vec<(&str, String)> = if force { vec![("force", "true".into())] } else { Vec::new() };
            let path = ["plugins", publisher, short, &version.to_string()];
            client.call(Method::DELETE, &path, &query, Body::None).await?;
            println!("removed {name} {version} from {}", client.server);
            0
        }
    };
    Ok(code)
}

/// `publisher/name` as the two path segments the plugin routes take.
fn publisher_and_name(name: &str) -> anyhow::Result<(&str, &str)> {
    name.split_once('/').with_context(|| format!("`{name}` is not publisher/name"))
}

/// What the server's `name` `version` requests and is not granted, if anything
/// (`None` too when the list cannot be read: this only informs).
async fn not_granted(client: &Client, name: &str, version: &semver::Version) -> Option<String> {
    let list: Vec<dto::PluginAnswer> =
        answer(client.call(Method::GET, &["plugins"], &[], Body::None).await.ok()?).ok()?;
    let plugin = list.into_iter().find(|p| p.name == name && p.version == *version)?;
    let missing = crate::plugins::registry::not_granted(&plugin.requested, &plugin.grants);
    (!missing.is_empty()).then(|| missing.join(", "))
}

/// Read a secret's value from stdin: one line typed at a terminal, which is
/// not echoed (`rpassword` turns echo off on the terminal and back on),
/// everything from a pipe or file; either way without one trailing newline.
fn read_secret_value(name: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return rpassword::prompt_password(format!("value for secret `{name}` (one line, not shown): "))
            .context("reading the value from the terminal");
    }
    let mut value = String::new();
    stdin.lock().read_to_string(&mut value).context("reading the value from stdin")?;
    Ok(trim_one_newline(value))
}

/// `text` without one trailing `\n` or `\r\n`.
fn trim_one_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

/// The content type a workflow file is sent with (the server reads either).
fn definition_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("json") => "application/json",
        _ => "application/yaml",
    }
}

/// Print an answer as pretty JSON.
fn print_json(answer: Value) -> anyhow::Result<i32> {
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(0)
}

/// A request the server refused, after the CLI said why on stderr: the
/// command exits 1 (see [`exit_code`]).
#[derive(Debug, thiserror::Error)]
#[error("the server refused the request")]
struct Refused;

/// A command's exit code: 1 when the server refused a request (already
/// told), else its own.
fn exit_code(result: anyhow::Result<i32>) -> anyhow::Result<i32> {
    match result {
        Err(e) if e.is::<Refused>() => Ok(1),
        other => other,
    }
}

/// The server's answer as the body type its route answers ([`dto`]).
fn answer<T: serde::de::DeserializeOwned>(value: Value) -> anyhow::Result<T> {
    let shown = value.to_string();
    serde_json::from_value(value).with_context(|| format!("the server's answer is not the one expected: {shown}"))
}

impl Body {
    /// A request type of [`dto`], as JSON.
    fn json(body: &impl serde::Serialize) -> anyhow::Result<Body> {
        Ok(Body::Json(serde_json::to_value(body)?))
    }
}

/// A request body.
enum Body {
    /// None.
    None,
    /// A JSON document.
    Json(Value),
    /// Bytes as they are, e.g. a workflow file or a plugin package.
    Raw {
        /// Their `Content-Type`.
        content_type: &'static str,
        /// The bytes.
        bytes: Vec<u8>,
    },
}

/// The server's API, as `--server` and `--token` name it.
struct Client {
    /// `--server` as given, for messages.
    server: String,
    /// `--server` parsed.
    base: Url,
    /// The bearer token, if any.
    token: Option<String>,
    /// The HTTP client.
    http: reqwest::Client,
}

impl Client {
    /// A client for the server `args` name.
    fn new(args: ServerArgs) -> anyhow::Result<Self> {
        let base = parse_server(&args.server)?;
        let http = wirework_registry::client::http_client_builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("wirework-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("making an HTTP client")?;
        let token = args.token.filter(|t| !t.is_empty());
        Ok(Client { server: args.server, base, token, http })
    }

    /// Send one API request: its answer (`null` when it has no body). When
    /// the server refuses, says why on stderr and fails with [`Refused`];
    /// fails too when no answer came or it could not be read.
    async fn call(&self, method: Method, path: &[&str], query: &[(&str, String)], body: Body) -> anyhow::Result<Value> {
        self.call_within(method, path, query, body, REQUEST_TIMEOUT).await
    }

    /// [`call`](Self::call), waiting at most `timeout` for the whole answer.
    async fn call_within(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, String)],
        body: Body,
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        let mut url = api_url(&self.base, path)?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let what = format!("{method} {}", url.path());
        let mut request = self.http.request(method, url).timeout(timeout);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request = match body {
            Body::None => request,
            Body::Json(value) => request.header(CONTENT_TYPE, "application/json").body(value.to_string()),
            Body::Raw { content_type, bytes } => request.header(CONTENT_TYPE, content_type).body(bytes),
        };
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) if e.is_connect() => {
                return Err(anyhow::Error::new(e).context(format!(
                    "cannot connect to the Wirework server at {}: is `wirework serve` running there? \
                     (set --server or WIREWORK_URL to use another)",
                    self.server
                )))
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("{what} on {}", self.server))),
        };
        let status = response.status();
        let bytes = response.bytes().await.with_context(|| format!("reading the answer to {what}"))?;
        if !status.is_success() {
            let refusal = Refusal::from_answer(status, &bytes, self.token.is_some());
            eprintln!("error: {}", refusal.message);
            for problem in &refusal.problems {
                eprintln!("{problem}");
            }
            return Err(Refused.into());
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).with_context(|| format!("the server's answer to {what} ({status}) is not JSON"))
    }
}

/// What the operator is told when the server answers with a non-2xx status.
#[derive(Debug)]
struct Refusal {
    /// One line: why.
    message: String,
    /// A workflow's problems, `location: message` each.
    problems: Vec<String>,
}

impl Refusal {
    /// Read a refusal from the server's status and body (`{"error", "problems"}`, or anything).
    fn from_answer(status: StatusCode, body: &[u8], token_given: bool) -> Refusal {
        if status == StatusCode::UNAUTHORIZED {
            let message = if token_given {
                "the server refused the token (set --token or WIREWORK_TOKEN)"
            } else {
                "the server wants a token and none was given (set --token or WIREWORK_TOKEN)"
            };
            return Refusal { message: message.to_string(), problems: Vec::new() };
        }
        let answer: Option<dto::ErrorAnswer> = serde_json::from_slice(body).ok();
        let problems: Vec<String> = answer
            .as_ref()
            .and_then(|a| a.problems.as_ref())
            .map(|p| p.iter().map(problem_line).collect())
            .unwrap_or_default();
        if !problems.is_empty() {
            // The server's `error` repeats the problems on one line; list them instead.
            let message = format!("invalid workflow ({status}), {} problem(s):", problems.len());
            return Refusal { message, problems };
        }
        let reason = match answer {
            Some(answer) => answer.error,
            None => {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                if text.is_empty() {
                    "the server gave no reason".to_string()
                } else if text.chars().count() > MAX_SHOWN_BODY {
                    format!("{}...", text.chars().take(MAX_SHOWN_BODY).collect::<String>())
                } else {
                    text.to_string()
                }
            }
        };
        Refusal { message: format!("{reason} ({status})"), problems }
    }
}

/// A workflow problem as `location: message`.
fn problem_line(problem: &dto::Problem) -> String {
    if problem.location.is_empty() {
        problem.message.clone()
    } else {
        format!("{}: {}", problem.location, problem.message)
    }
}

/// Check `--server`: an `http://` or `https://` URL, maybe with a path prefix.
fn parse_server(server: &str) -> anyhow::Result<Url> {
    let hint = || format!("--server `{server}` is not an http:// or https:// URL (like http://127.0.0.1:8080)");
    let mut url = Url::parse(server).with_context(hint)?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        bail!(hint());
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// `base` + `/api/v1/` + `segments`, each segment percent-encoded (a `/` in an
/// id stays inside its segment). Empty, `.` and `..` segments are refused, since
/// they would name another resource.
fn api_url(base: &Url, segments: &[&str]) -> anyhow::Result<Url> {
    if let Some(bad) = segments.iter().find(|s| matches!(**s, "" | "." | "..")) {
        bail!("`{bad}` cannot be used as a name or id");
    }
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| anyhow::anyhow!("{base} cannot have a path"))?
        .pop_if_empty()
        .extend(["api", "v1"])
        .extend(segments);
    Ok(url)
}

/// What an installed version requests, and the `notes` and `not_granted`
/// of a server's answer to an install or an upgrade, on stderr.
fn print_install_notes(
    name: &str,
    version: &semver::Version,
    requested: &Capabilities,
    notes: &[String],
    not_granted: &[String],
) {
    eprintln!("{name} {version} requests: {}", describe_capabilities(requested));
    for note in notes {
        eprintln!("note: {note}");
    }
    if !not_granted.is_empty() {
        eprintln!(
            "not granted: {} (calls to them are refused; grant with `--grant` or `plugin grants --set`)",
            not_granted.join(", ")
        );
    }
}

/// [`print_install_notes`] of an install's answer.
fn print_installed(installed: &dto::PluginInstalled) {
    let i = installed;
    print_install_notes(&i.name, &i.version, &i.requested, &i.notes, &i.not_granted);
}

/// `e`, and when it is the CLI's own timeout, that the server goes on with
/// the `what` (install or upgrade) regardless and how to see whether it landed.
fn goes_on(e: anyhow::Error, what: &str, server: &str) -> anyhow::Error {
    let timed_out = e.chain().any(|c| c.downcast_ref::<reqwest::Error>().is_some_and(|e| e.is_timeout()));
    if timed_out {
        e.context(format!(
            "the server goes on with the {what} even so: `wirework plugin list --server {server}` shows what landed"
        ))
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;
    use serde_json::json;

    fn url(server: &str, segments: &[&str]) -> String {
        api_url(&parse_server(server).unwrap(), segments).unwrap().to_string()
    }

    #[test]
    fn urls_keep_the_server_prefix_and_encode_ids() {
        assert_eq!(url("http://127.0.0.1:8080", &["workflows"]), "http://127.0.0.1:8080/api/v1/workflows");
        assert_eq!(url("http://h:1/", &["tokens", "ci"]), "http://h:1/api/v1/tokens/ci");
        assert_eq!(url("https://h/ww/", &["workflows", "w"]), "https://h/ww/api/v1/workflows/w");
        assert_eq!(url("https://h/ww?x=1#f", &["events"]), "https://h/ww/api/v1/events");
        assert_eq!(
            url("http://h", &["workflows", "a b/c?d", "activate"]),
            "http://h/api/v1/workflows/a%20b%2Fc%3Fd/activate"
        );
    }

    #[test]
    fn names_that_would_change_the_path_are_refused() {
        let base = parse_server("http://h").unwrap();
        for bad in ["", ".", ".."] {
            assert!(api_url(&base, &["tokens", bad]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn servers_must_be_http_urls() {
        for bad in ["127.0.0.1:8080", "localhost:8080", "ftp://h", "mailto:a@b", "not a url"] {
            assert!(parse_server(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refusals_name_the_token_the_error_and_the_problems() {
        let with = Refusal::from_answer(StatusCode::UNAUTHORIZED, b"{\"error\":\"no\"}", true);
        assert_eq!(with.message, "the server refused the token (set --token or WIREWORK_TOKEN)");
        let without = Refusal::from_answer(StatusCode::UNAUTHORIZED, b"", false);
        assert!(without.message.contains("WIREWORK_TOKEN") && without.message.contains("none was given"));

        let body = json!({
            "error": "the workflow is invalid",
            "problems": [{"location": "nodes.a.config", "message": "missing `url`"}, {"message": "no trigger"}],
        });
        let invalid = Refusal::from_answer(StatusCode::BAD_REQUEST, body.to_string().as_bytes(), true);
        assert_eq!(invalid.message, "invalid workflow (400 Bad Request), 2 problem(s):");
        assert_eq!(invalid.problems, ["nodes.a.config: missing `url`", "no trigger"]);

        let empty = json!({"error": "no workflow `w`", "problems": []});
        let missing = Refusal::from_answer(StatusCode::NOT_FOUND, empty.to_string().as_bytes(), true);
        assert_eq!((missing.message.as_str(), missing.problems.len()), ("no workflow `w` (404 Not Found)", 0));
        let plain = Refusal::from_answer(StatusCode::BAD_GATEWAY, b"upstream down\n", true);
        assert_eq!(plain.message, "upstream down (502 Bad Gateway)");
        let long = Refusal::from_answer(StatusCode::INTERNAL_SERVER_ERROR, "x".repeat(1000).as_bytes(), true);
        assert!(long.message.len() < 400);
    }

    #[test]
    fn one_trailing_newline_is_dropped() {
        assert_eq!(trim_one_newline("s3cret\n".into()), "s3cret");
        assert_eq!(trim_one_newline("s3cret\r\n".into()), "s3cret");
        assert_eq!(trim_one_newline("two\n\n".into()), "two\n");
        assert_eq!(trim_one_newline("none".into()), "none");
    }

    fn parse(args: &[&str]) -> Command {
        match Cli::try_parse_from(args).unwrap().command {
            super::super::Command::Remote(command) => command,
            other => panic!("not a server command: {other:?}"),
        }
    }

    #[test]
    fn server_options_go_before_or_after_the_subcommand() {
        let after = ["wirework", "workflow", "deploy", "w.yaml", "--server", "http://a:1", "--token", "t"];
        let Command::Workflow(Group { server, command: WorkflowCommand::Deploy { file } }) = parse(&after) else {
            panic!("not workflow deploy");
        };
        assert_eq!((server.server.as_str(), server.token.as_deref()), ("http://a:1", Some("t")));
        assert_eq!(file, PathBuf::from("w.yaml"));

        let before = ["wirework", "execution", "--server", "http://b:2", "retry", "e1", "--from-start"];
        let Command::Execution(Group { server, command: ExecutionCommand::Retry { id, from_start } }) = parse(&before)
        else {
            panic!("not execution retry");
        };
        assert_eq!((server.server.as_str(), id.as_str(), from_start), ("http://b:2", "e1", true));
    }

    #[test]
    fn every_contract_command_parses() {
        let s = ["--server", "http://h"];
        for args in [
            &["workflow", "list"][..],
            &["workflow", "show", "w"],
            &["workflow", "activate", "w"],
            &["workflow", "deactivate", "w"],
            &["workflow", "rollback", "w", "3"],
            &["workflow", "start", "w", "--input", "[{\"a\":1}]", "--trigger", "t"],
            &["plugin", "add", "p.wwpkg", "--grant-http", "*.example.com", "--grant-kv"],
            &["plugin", "list"],
            &["plugin", "remove", "acme/crm@1.0.0", "--force"],
            &["plugin", "grants", "acme/crm"],
            &["plugin", "grants", "acme/crm", "--set", "--grant-http", "api.example.com", "--grant-kv"],
            &["execution", "list", "--workflow", "w", "--status", "failed", "--limit", "5", "--before", "e"],
            &["execution", "show", "e"],
            &["execution", "cancel", "e"],
            &["token", "create", "ci"],
            &["token", "list"],
            &["token", "revoke", "ci"],
            &["secret", "set", "k", "--value", "v"],
            &["secret", "list"],
            &["secret", "delete", "k"],
            &["event", "emit", "signup", "--payload", "{\"a\":1}"],
        ] {
            let argv: Vec<&str> = ["wirework"].iter().chain(args).chain(&s).copied().collect();
            assert!(Cli::try_parse_from(&argv).is_ok(), "{argv:?}");
        }
        assert!(Cli::try_parse_from(["wirework", "workflow", "rollback", "w", "latest"]).is_err());
        assert!(Cli::try_parse_from(["wirework", "plugin", "grants", "a/b", "--grant-kv"]).is_err(), "needs --set");
        assert!(Cli::try_parse_from(["wirework", "execution", "list", "--limit", "-1"]).is_err());
    }
}
