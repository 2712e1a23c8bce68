//! Registry commands: `wirework plugin install|upgrade|list|remove|publish|refresh`
//! for operators and authors, and `wirework registry serve|search|show|yank|...`.

use super::client::{plugin, PluginRequest, PluginServerArg};
use crate::data_dir::{DataDir, DEFAULT_DATA_DIR};
use crate::home::Home;
use crate::plugins::registry::{
    describe_capabilities, memory_path, not_granted, parse_spec, ungranted_refusal, GrantFlags, Installed, Lockfile,
};
use crate::plugins::{GrantEntry, PluginManager, RegistryRequest};
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use semver::Version;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wirework_registry::client::RegistryClient;
use wirework_registry::log::{rotation_proof, sign_hex, Operation};
use wirework_registry::manifest::Capabilities;
use wirework_registry::{Package, SecretKey};

/// Where the registry is: `--registry URL`, else `WIREWORK_REGISTRY`.
#[derive(Debug, Clone, Args)]
pub struct RegistryArg {
    /// The registry's URL.
    #[arg(long = "registry", env = "WIREWORK_REGISTRY", default_value = "http://127.0.0.1:7080")]
    url: String,
}

/// The data directory a command installs into.
#[derive(Debug, Clone, Args)]
pub struct DataDirArg {
    /// The data directory.
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
}

/// The publisher key that signs a request.
#[derive(Debug, Clone, Args)]
pub struct KeyArg {
    /// The signing key (default: `<home>/keys/default.key`).
    #[arg(long)]
    key: Option<PathBuf>,
}

impl KeyArg {
    fn load(&self, home: &Home) -> anyhow::Result<SecretKey> {
        let path = self.key.clone().unwrap_or_else(|| home.key_path("default"));
        SecretKey::read(&path).with_context(|| format!("reading signing key {}", path.display()))
    }
}

/// `wirework plugin ...` commands that use a registry.
#[derive(Debug, Subcommand)]
pub enum PluginRegistryCommand {
    /// Install `publisher/name@RANGE` (e.g. `acme/crm@^1.2`; `@=1.2.3` pins
    /// exactly, yanked versions too) from a registry, verified against the
    /// trust store; or, with `--locked`, every version in a lockfile. With
    /// `--server`, a running server installs it (with its own trust store,
    /// into its data directory) and runs it at once; `name@version` is
    /// printed last.
    Install {
        /// `publisher/name@RANGE`; without `@RANGE`, the newest version.
        spec: Option<String>,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        data_dir: DataDirArg,
        /// Grant a capability: `http=PATTERN`, `http-internal=HOST`,
        /// `credential=TYPE`, `event=PATTERN`, `kv`, `all` (everything the
        /// package requests) or `none`; repeatable. Without it, a terminal
        /// prompts (not with `--server`); otherwise a package that requests
        /// capabilities is refused.
        #[arg(long = "grant", value_name = "CAPABILITY")]
        grants: Vec<String>,
        /// When no key of the publisher is trusted yet, trust the key that
        /// signed the version, if the registry's verified log lists it for
        /// that publisher.
        #[arg(long)]
        trust_on_first_use: bool,
        /// Install exactly the versions and digests of a lockfile.
        #[arg(long, conflicts_with = "spec")]
        locked: bool,
        /// The lockfile for `--locked` (default: the data directory's, or
        /// with `--server` the server's).
        #[arg(long, requires = "locked")]
        lockfile: Option<PathBuf>,
        #[command(flatten)]
        server: PluginServerArg,
    },
    /// Install the newest version in each installed plugin's range (beside
    /// the versions installed). New capabilities are not granted without
    /// `--grant`. With `--server`, a running server upgrades the plugins of
    /// its lockfile and runs the new versions at once.
    Upgrade {
        /// Only these plugins (`publisher/name`).
        names: Vec<String>,
        #[command(flatten)]
        data_dir: DataDirArg,
        /// Grant a capability (see `install`); repeatable.
        #[arg(long = "grant", value_name = "CAPABILITY")]
        grants: Vec<String>,
        #[command(flatten)]
        server: PluginServerArg,
    },
    /// List installed versions with their source, grant and revocation state
    /// (with `--server`: what a running server has loaded, as JSON).
    List {
        #[command(flatten)]
        data_dir: DataDirArg,
        #[command(flatten)]
        server: PluginServerArg,
    },
    /// Remove one installed version (`publisher/name@1.2.3`); refused while
    /// a deployed workflow's current version uses it, unless `--force`.
    Remove {
        /// `publisher/name@VERSION`.
        spec: String,
        #[command(flatten)]
        data_dir: DataDirArg,
        #[command(flatten)]
        server: PluginServerArg,
        /// Remove even if workflows use it.
        #[arg(long)]
        force: bool,
    },
    /// Publish a signed package; claims its publisher namespace for the key
    /// on first publish.
    Publish {
        /// The `.wwpkg` file.
        package: PathBuf,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        key: KeyArg,
    },
    /// Fetch the revocation lists of the registries in the lockfile (a
    /// running server does this itself, every `registry_refresh_secs`).
    Refresh {
        #[command(flatten)]
        data_dir: DataDirArg,
    },
}

/// `wirework registry ...`.
#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Serve a registry (axum + sled) until SIGTERM/SIGINT.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7080")]
        listen: String,
        /// Where the registry keeps its log, packages and key.
        #[arg(long, default_value = "wirework-registry")]
        data_dir: PathBuf,
        /// The registry's signing key (default: `<data dir>/registry.key`, made on first start).
        #[arg(long)]
        key: Option<PathBuf>,
        /// The largest package accepted, in bytes.
        #[arg(long, default_value_t = wirework_registry::package::MAX_PACKAGE_BYTES as usize)]
        max_upload_bytes: usize,
    },
    /// List packages whose name or description contains TEXT (verified view).
    Search {
        /// Text to look for; empty: everything.
        #[arg(default_value = "")]
        text: String,
        #[command(flatten)]
        registry: RegistryArg,
    },
    /// Show one package's versions, yank and revocation state and capabilities.
    Show {
        /// `publisher/name`.
        name: String,
        #[command(flatten)]
        registry: RegistryArg,
    },
    /// Keep a version out of range resolution (exact pins still install it).
    Yank {
        /// `publisher/name@VERSION`.
        spec: String,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        key: KeyArg,
    },
    /// Undo a yank.
    Unyank {
        /// `publisher/name@VERSION`.
        spec: String,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        key: KeyArg,
    },
    /// Replace a publisher's key: signed by the current key (`--key`) and the new one.
    RotateKey {
        /// The publisher namespace.
        publisher: String,
        /// The new secret key file.
        #[arg(long)]
        new_key: PathBuf,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        key: KeyArg,
    },
    /// Revoke a key of a publisher: every package it signed stops loading.
    RevokeKey {
        /// The publisher namespace.
        publisher: String,
        /// The key's id.
        key_id: String,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        key: KeyArg,
    },
    /// Revoke one component digest of a package.
    Revoke {
        /// `publisher/name`.
        name: String,
        /// The component's SHA-256.
        digest: String,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        key: KeyArg,
    },
}

/// `publisher/name@VERSION`.
fn parse_exact(spec: &str) -> anyhow::Result<(String, Version)> {
    let Some((name, version)) = spec.split_once('@') else { bail!("expected publisher/name@VERSION, got `{spec}`") };
    let version = Version::parse(version).with_context(|| format!("`{version}` is not a version"))?;
    Ok((name.to_string(), version))
}

/// The grant decision of `install`/`upgrade`: [`GrantFlags::decide`], else
/// a prompt on a terminal, else a refusal.
fn decide(
    flags: &GrantFlags,
    name: &str,
    requested: &Capabilities,
    earlier: Option<&GrantEntry>,
) -> anyhow::Result<GrantEntry> {
    eprintln!("{name} requests: {}", describe_capabilities(requested));
    if let Some(grant) = flags.decide(requested, earlier) {
        return Ok(grant);
    }
    if std::io::stdin().is_terminal() {
        let mut grant = GrantEntry::default();
        for capability in not_granted(requested, &GrantEntry::default()) {
            eprint!("grant {capability}? [y/N] ");
            std::io::stderr().flush().ok();
            let mut answer = String::new();
            std::io::stdin().lock().read_line(&mut answer)?;
            if answer.trim().eq_ignore_ascii_case("y") {
                match capability.split_once(' ') {
                    Some(("http", host)) => grant.http.push(host.to_string()),
                    Some(("credential", kind)) => grant.credentials.push(kind.to_string()),
                    Some(("event", pattern)) => grant.events.push(pattern.to_string()),
                    _ => grant.kv = true,
                }
            }
        }
        return Ok(grant);
    }
    let how = "--grant http=PATTERN / --grant credential=TYPE / --grant event=PATTERN / --grant kv / --grant all";
    bail!("{}", ungranted_refusal(name, requested, how, "--grant none"))
}

fn report(installed: &Installed) {
    for note in &installed.notes {
        eprintln!("note: {note}");
    }
    if !installed.not_granted.is_empty() {
        eprintln!(
            "not granted: {} (calls to them are refused; grant with `--grant` or the API's grants route)",
            installed.not_granted.join(", ")
        );
    }
    println!(
        "installed {} {} (sha256 {}) into {}",
        installed.name,
        installed.version,
        installed.locked.component_sha256,
        installed.path.display()
    );
}

/// Run a `wirework plugin` command that installs from or publishes to a
/// registry, or lists or removes installed versions; the result is the exit code.
pub async fn run_plugin(home: &Home, command: PluginRegistryCommand) -> anyhow::Result<i32> {
    match command {
        PluginRegistryCommand::Install {
            spec, registry, grants, trust_on_first_use, locked, lockfile, server, ..
        } if server.server.is_some() => {
            if locked {
                let lockfile = match lockfile {
                    Some(path) => {
                        Some(std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?)
                    }
                    None => None,
                };
                let request = PluginRequest::InstallLocked { lockfile, grants, trust_on_first_use };
                return Ok(plugin(&server, request).await?.unwrap_or(0));
            }
            let Some(spec) = spec else { bail!("name the plugin to install on the server (publisher/name@RANGE)") };
            let request = PluginRequest::Install { spec, registry: registry.url, grants, trust_on_first_use };
            return Ok(plugin(&server, request).await?.unwrap_or(0));
        }
        PluginRegistryCommand::Install {
            spec,
            registry,
            data_dir,
            grants,
            trust_on_first_use,
            locked,
            lockfile,
            server: _,
        } => {
            let dir = DataDir::at(&data_dir.data_dir);
            super::warn_if_served(&dir);
            let flags = GrantFlags::parse(&grants)?;
            let mut decider = |n: &str, r: &Capabilities, e: Option<&GrantEntry>| decide(&flags, n, r, e);
            let manager = PluginManager::for_data_dir(dir.clone(), home.clone());
            if locked {
                let path = lockfile.unwrap_or_else(|| dir.lockfile());
                let lock = Lockfile::load(&path)?;
                if lock.plugins.is_empty() {
                    bail!("{} locks no plugins", path.display());
                }
                match manager.install_locked(Some(lock), trust_on_first_use, &mut decider).await {
                    Ok(installed) => installed.iter().for_each(report),
                    Err(failure) => {
                        failure.installed.iter().for_each(report);
                        bail!("{failure}");
                    }
                }
                return Ok(0);
            }
            let Some(spec) = spec else { bail!("name a plugin (publisher/name@RANGE) or pass --locked") };
            let (name, range) = parse_spec(&spec)?;
            let request = RegistryRequest { name, range, registry: registry.url, trust_on_first_use, locked: None };
            report(&manager.install(&request, &mut decider).await?);
        }
        PluginRegistryCommand::Upgrade { names, grants, server, .. } if server.server.is_some() => {
            return Ok(plugin(&server, PluginRequest::Upgrade { names, grants }).await?.unwrap_or(0));
        }
        PluginRegistryCommand::Upgrade { names, data_dir, grants, server: _ } => {
            let dir = DataDir::at(&data_dir.data_dir);
            super::warn_if_served(&dir);
            let flags = GrantFlags::parse(&grants)?;
            let mut decider = |n: &str, r: &Capabilities, e: Option<&GrantEntry>| decide(&flags, n, r, e);
            let manager = PluginManager::for_data_dir(dir, home.clone());
            let mut failed = false;
            for upgrade in manager.upgrade(&names, &mut decider).await? {
                let (name, from) = (&upgrade.from.name, &upgrade.from.version);
                match upgrade.outcome {
                    Ok(Some(installed)) => {
                        report(&installed);
                        eprintln!(
                            "kept {name} {from} beside it (remove it with `wirework plugin remove {name}@{from}`)"
                        );
                    }
                    Ok(None) => println!("{name} {from} is the newest in `{}`", upgrade.from.range),
                    Err(e) => {
                        failed = true;
                        eprintln!("error: {name}: {e}");
                    }
                }
            }
            return Ok(i32::from(failed));
        }
        PluginRegistryCommand::List { data_dir, server } => match plugin(&server, PluginRequest::List).await? {
            Some(code) => return Ok(code),
            None => list(home, &DataDir::at(&data_dir.data_dir))?,
        },
        PluginRegistryCommand::Remove { spec, data_dir, server, force } => {
            let (name, version) = parse_exact(&spec)?;
            let request = PluginRequest::Remove { name: name.clone(), version: version.clone(), force };
            match plugin(&server, request).await? {
                Some(code) => return Ok(code),
                None => {
                    let dir = DataDir::at(&data_dir.data_dir);
                    super::warn_if_served(&dir);
                    let manager = PluginManager::for_data_dir(dir, home.clone());
                    manager.remove(&name, &version, force).await?;
                    println!("removed {name} {version}");
                }
            }
        }
        PluginRegistryCommand::Publish { package, registry, key } => {
            let key = key.load(home)?;
            let bytes = std::fs::read(&package).with_context(|| format!("reading {}", package.display()))?;
            // The registry checks again; this catches the wrong --key before any upload.
            let package = Package::from_bytes(&bytes)?;
            let statement: wirework_registry::package::Statement =
                serde_json::from_slice(&package.statement_bytes).context("the package's statement")?;
            if statement.key_id != key.public().id() {
                bail!(
                    "{} is signed by key {}, not by the publishing key {}: sign it with that key (`wirework plugin build --key`)",
                    package_label(&package),
                    statement.key_id,
                    key.public().id()
                );
            }
            let manifest =
                package.verify(&wirework_registry::package::trust_for(&key.public(), &publisher_of(&bytes)?))?;
            let client = RegistryClient::new(&registry.url, memory_path(home));
            let index = client.publish(bytes, &key).await?;
            let m = &manifest.manifest.plugin;
            println!("published {} {} to {} (log entry {index})", m.name, m.version, registry.url);
        }
        PluginRegistryCommand::Refresh { data_dir } => {
            let manager = PluginManager::for_data_dir(DataDir::at(&data_dir.data_dir), home.clone());
            let (revocations, failures) = manager.refresh().await?;
            for failure in &failures {
                eprintln!("warning: {failure}");
            }
            let (keys, digests) = revocations.counts();
            println!("{keys} revoked keys, {digests} revoked digests");
        }
    }
    Ok(0)
}

/// `publisher/name version` of a package, for messages.
fn package_label(package: &Package) -> String {
    std::str::from_utf8(&package.manifest_bytes)
        .ok()
        .and_then(|t| wirework_registry::Manifest::parse(t).ok())
        .map_or_else(|| "the package".into(), |m| format!("{} {}", m.plugin.name, m.plugin.version))
}

/// The publisher named in a package's manifest (for the pre-publish check).
fn publisher_of(bytes: &[u8]) -> anyhow::Result<String> {
    let package = Package::from_bytes(bytes)?;
    let text = std::str::from_utf8(&package.manifest_bytes).context("the manifest is not UTF-8")?;
    Ok(wirework_registry::Manifest::parse(text)?.publisher().to_string())
}

fn list(home: &Home, data_dir: &DataDir) -> anyhow::Result<()> {
    let (listed, unloadable) = PluginManager::for_data_dir(data_dir.clone(), home.clone()).list()?;
    for file in unloadable {
        println!("{}  NOT LOADABLE: {}", file.path.display(), file.error);
    }
    for p in listed {
        let source = p.locked.as_ref().map_or_else(|| "file".to_string(), |l| format!("{} ({})", l.registry, l.range));
        print!("{} {}  from {source}  sha256 {}", p.name, p.version, &p.digest[..16]);
        if !p.not_granted.is_empty() {
            print!("  not granted: {}", p.not_granted.join(", "));
        }
        if let Some(reason) = p.revoked {
            print!("  REVOKED: {reason}");
        }
        println!();
    }
    Ok(())
}

/// Run a `wirework registry` command.
pub async fn run_registry(home: &Home, command: RegistryCommand) -> anyhow::Result<()> {
    match command {
        RegistryCommand::Serve { listen, data_dir, key, max_upload_bytes } => {
            serve(&listen, &data_dir, key.as_deref(), max_upload_bytes).await?;
        }
        RegistryCommand::Search { text, registry } => {
            let view = RegistryClient::new(&registry.url, memory_path(home)).view().await?;
            let needle = text.to_lowercase();
            for (name, versions) in &view.state.packages {
                let latest = versions.values().rev().find(|v| !v.yanked && !v.revoked);
                let newest = versions.values().next_back();
                let description = latest.or(newest).map(|v| v.description.as_str()).unwrap_or_default();
                if name.contains(&needle) || description.to_lowercase().contains(&needle) {
                    let latest = latest.map_or_else(|| "-".to_string(), |v| v.version.to_string());
                    println!("{name}  {latest}  {description}");
                }
            }
        }
        RegistryCommand::Show { name, registry } => {
            let view = RegistryClient::new(&registry.url, memory_path(home)).view().await?;
            let versions =
                view.state.packages.get(&name).with_context(|| format!("{name} is not published on {}", view.url))?;
            for v in versions.values() {
                let mut flags = Vec::new();
                if v.yanked {
                    flags.push("yanked");
                }
                if v.revoked {
                    flags.push("revoked");
                }
                println!(
                    "{} {}  sha256 {}  key {}  requests {}{}",
                    name,
                    v.version,
                    v.component_sha256,
                    v.key_id,
                    describe_capabilities(&v.capabilities),
                    if flags.is_empty() { String::new() } else { format!("  [{}]", flags.join(", ")) }
                );
            }
        }
        RegistryCommand::Yank { spec, registry, key } => {
            let (package, version) = parse_exact(&spec)?;
            let op = Operation::Yank { package: package.clone(), version: version.clone() };
            let index = RegistryClient::new(&registry.url, memory_path(home)).submit(op, &key.load(home)?).await?;
            println!("yanked {package} {version} (log entry {index})");
        }
        RegistryCommand::Unyank { spec, registry, key } => {
            let (package, version) = parse_exact(&spec)?;
            let op = Operation::Unyank { package: package.clone(), version: version.clone() };
            let index = RegistryClient::new(&registry.url, memory_path(home)).submit(op, &key.load(home)?).await?;
            println!("unyanked {package} {version} (log entry {index})");
        }
        RegistryCommand::RotateKey { publisher, new_key, registry, key } => {
            let old = key.load(home)?;
            let new = SecretKey::read(&new_key).with_context(|| format!("reading {}", new_key.display()))?;
            let new_text = new.public().to_string();
            let proof = sign_hex(&new, rotation_proof(&publisher, &new_text).as_bytes());
            let op = Operation::RotateKey { publisher: publisher.clone(), new_key: new_text, new_key_proof: proof };
            let index = RegistryClient::new(&registry.url, memory_path(home)).submit(op, &old).await?;
            println!("`{publisher}` now signs with key {} (log entry {index})", new.public().id());
        }
        RegistryCommand::RevokeKey { publisher, key_id, registry, key } => {
            let op = Operation::RevokeKey { publisher: publisher.clone(), key_id: key_id.clone() };
            let index = RegistryClient::new(&registry.url, memory_path(home)).submit(op, &key.load(home)?).await?;
            println!("revoked key {key_id} of `{publisher}` (log entry {index})");
        }
        RegistryCommand::Revoke { name, digest, registry, key } => {
            let op = Operation::RevokeDigest { package: name.clone(), component_sha256: digest.clone() };
            let index = RegistryClient::new(&registry.url, memory_path(home)).submit(op, &key.load(home)?).await?;
            println!("revoked {name} component {digest} (log entry {index})");
        }
    }
    Ok(())
}

async fn serve(listen: &str, data_dir: &Path, key: Option<&Path>, max_upload_bytes: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let key = match key {
        Some(path) => SecretKey::read(path).with_context(|| format!("reading {}", path.display()))?,
        None => {
            let (key, created) = wirework_registry::server::load_or_create_key(data_dir)?;
            if created {
                eprintln!("created the registry's key in {}", data_dir.join("registry.key").display());
            }
            key
        }
    };
    let runtime = crate::runtime::Runtime::new(
        crate::runtime::RuntimeConfig { max_instances: 16, ..Default::default() },
        Arc::new(crate::runtime::MemoryKv::default()),
    )?;
    let check = Arc::new(crate::plugins::registry::DescribeCheck::new(runtime));
    let server = wirework_registry::server::RegistryServer::open(data_dir, key, check, max_upload_bytes)?;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    let public = server.public_key();
    eprintln!("registry key {} ({public})", public.id());
    println!("registry listening on http://{}", listener.local_addr()?);
    // The host's accept loop: a client that never finishes its request head
    // cannot hold a connection, nor a stop, for ever.
    let limits = crate::server::http::HttpLimits {
        header_read_timeout: std::time::Duration::from_secs(30),
        drain: std::time::Duration::from_secs(10),
    };
    let stop = crate::server::stop_signal();
    let cut = crate::server::http::serve(listener, server.router(), limits, stop, std::future::ready(())).await;
    if cut > 0 {
        eprintln!("closed {cut} connection(s) still open {:?} after the stop", limits.drain);
    }
    Ok(())
}
