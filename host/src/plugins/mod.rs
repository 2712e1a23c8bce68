//! Installed plugins: verified, compiled packages the engine runs nodes of,
//! several versions of one plugin side by side. [`InstalledPlugins`] is the
//! loaded set and implements the engine's [`NodeHost`] on top of the
//! [runtime](crate::runtime); [`PluginManager`] is the one place that
//! changes what is installed.
//!
//! On disk (inside a [data directory](crate::data_dir)), `plugins/` holds the
//! installed packages (`publisher.name@version.wwpkg`) and
//! `plugins/grants.toml` the operator's grants per plugin:
//!
//! ```toml
//! ["wirework/http"]
//! http = ["api.example.com", "127.0.0.1:8025"]
//! http_internal = ["crm.corp.example"]
//! kv = false
//! credentials = ["bearer"]
//! ```
//!
//! `http_internal` names hosts that may resolve to internal addresses (see
//! [`crate::runtime::capabilities`]); an IP literal in `http` may be internal too.
//!
//! Packages are verified against the trust store when loaded, every time,
//! and checked against the revocation list ([`registry`]) before every
//! instantiation: a version whose key or digest its publisher revoked stops
//! running as soon as the host learns of it.

pub mod manager;
pub mod registry;

pub use manager::{PluginError, PluginManager, PluginUsers, RegistryRequest};

use crate::data_dir::{package_file_name, package_file_prefix, GRANTS_FILE_NAME};
use crate::engine::{NodeHost, PluginVersion};
use crate::runtime::{
    Grants, Invocation, InvokeReport, LoadedPlugin, NodeFailure, Outcome, Runtime, TriggerOutput, TriggerRequest,
};
use anyhow::Context;
use futures_util::future::BoxFuture;
use parking_lot::RwLock;
use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::Semaphore;
use wirework_registry::log::Revocations;
use wirework_registry::package::sha256_hex;
use wirework_registry::{Package, PackageError, TrustStore};

/// What the operator granted one plugin, as kept in `grants.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantEntry {
    /// Host patterns it may call.
    #[serde(default)]
    pub http: Vec<String>,
    /// Hosts it may call at internal addresses (exact hosts only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_internal: Vec<String>,
    /// Whether it may keep key-value state.
    #[serde(default)]
    pub kv: bool,
    /// Credential types (its manifest's names) it may be handed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<String>,
    /// Event patterns (its manifest's `capabilities.events` entries) its
    /// triggers may publish.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
}

impl GrantEntry {
    /// Refuse a grant that could not be put in force: the error names the
    /// first host pattern that is not one. Checked before a grant is written.
    pub fn check(&self) -> Result<(), String> {
        crate::runtime::capabilities::check_patterns(&self.http)?;
        crate::runtime::capabilities::check_internal_hosts(&self.http_internal)?;
        if let Some(c) = self.credentials.iter().find(|c| !wirework_registry::manifest::valid_name(c)) {
            return Err(format!("`{c}` is not a credential type name: {}", wirework_registry::manifest::NAME_RULE));
        }
        match self.events.iter().find(|e| !wirework_registry::manifest::valid_event_pattern(e)) {
            Some(e) => Err(format!("`{e}` is not an event name or prefix (`contact.created`, `email.*`)")),
            None => Ok(()),
        }
    }

    /// The runtime's grants for this entry (secrets are bound per call).
    pub fn grants(&self) -> Grants {
        Grants {
            http: self.http.clone(),
            http_internal: self.http_internal.clone(),
            kv: self.kv,
            credentials: self.credentials.clone(),
            events: self.events.clone(),
            ..Default::default()
        }
    }
}

/// Plugin versions loaded into a runtime.
pub struct InstalledPlugins {
    runtime: Runtime,
    plugins: RwLock<BTreeMap<String, BTreeMap<Version, Arc<LoadedPlugin>>>>,
    /// Calls at once, within the pooling allocator's instance slots.
    slots: Arc<Semaphore>,
    max_calls: usize,
    revocations: Arc<RwLock<Revocations>>,
}

impl InstalledPlugins {
    /// No plugins yet; at most `max_calls` node calls run at once.
    pub fn new(runtime: Runtime, max_calls: usize) -> InstalledPlugins {
        let max_calls = max_calls.max(1);
        InstalledPlugins {
            runtime,
            plugins: RwLock::default(),
            slots: Arc::new(Semaphore::new(max_calls)),
            max_calls,
            revocations: Arc::default(),
        }
    }

    /// Replace the revocation list checked before every instantiation.
    pub fn set_revocations(&self, revocations: Revocations) {
        *self.revocations.write() = revocations;
    }

    /// An installed version that may run now (installed and not revoked).
    fn runnable(&self, name: &str, version: &Version) -> Result<Arc<LoadedPlugin>, NodeFailure> {
        let plugin = self.plugins.read().get(name).and_then(|v| v.get(version)).cloned();
        let plugin =
            plugin.ok_or_else(|| NodeFailure::Setup { message: format!("{name} {version} is not installed") })?;
        match Self::revoked(&self.revocations, &plugin) {
            Some(failure) => Err(failure),
            None => Ok(plugin),
        }
    }

    /// Why `plugin` must not run, if it was revoked.
    fn revoked(revocations: &RwLock<Revocations>, plugin: &LoadedPlugin) -> Option<NodeFailure> {
        revocation_failure(revocations, &Build::of(plugin))
    }

    /// Make a loaded plugin available (replacing the same version).
    pub fn add(&self, plugin: LoadedPlugin) -> PluginVersion {
        let info = describe(&plugin);
        let mut plugins = self.plugins.write();
        plugins.entry(info.name.clone()).or_default().insert(info.version.clone(), Arc::new(plugin));
        info
    }

    /// The component digest of a loaded version.
    pub fn component_digest(&self, name: &str, version: &Version) -> Option<String> {
        let plugins = self.plugins.read();
        Some(plugins.get(name)?.get(version)?.digest().to_string())
    }

    /// Every installed version.
    pub fn list(&self) -> Vec<PluginVersion> {
        let plugins = self.plugins.read();
        plugins.values().flat_map(|versions| versions.values().map(|p| describe(p))).collect()
    }

    /// The id of the key that signed a loaded version.
    pub fn key_id(&self, name: &str, version: &Version) -> Option<String> {
        let plugins = self.plugins.read();
        Some(plugins.get(name)?.get(version)?.key_id().to_string())
    }

    /// The capabilities an installed version's manifest requests.
    pub fn requested(&self, name: &str, version: &Version) -> Option<wirework_registry::manifest::Capabilities> {
        let plugins = self.plugins.read();
        Some(plugins.get(name)?.get(version)?.manifest().capabilities.clone())
    }

    /// Forget one version (its package file is the caller's to delete).
    /// Whether it was loaded.
    pub fn forget(&self, name: &str, version: &Version) -> bool {
        let mut plugins = self.plugins.write();
        let Some(versions) = plugins.get_mut(name) else { return false };
        let removed = versions.remove(version).is_some();
        if versions.is_empty() {
            plugins.remove(name);
        }
        removed
    }

    /// Node calls holding an instance slot now.
    pub fn calls_in_flight(&self) -> usize {
        self.max_calls - self.slots.available_permits()
    }

    /// Load one package with `grant` and make it available.
    pub async fn load_package(
        &self,
        package: Package,
        trust: &TrustStore,
        grant: &GrantEntry,
    ) -> anyhow::Result<PluginVersion> {
        let plugin = self.compile(package, trust, grant).await?;
        Ok(self.add(plugin))
    }

    /// Verify, compile and link one package with `grant`, without making it
    /// available yet (see [`add`](Self::add)).
    pub async fn compile(
        &self,
        package: Package,
        trust: &TrustStore,
        grant: &GrantEntry,
    ) -> anyhow::Result<LoadedPlugin> {
        Ok(self.runtime.load(package, trust, &grant.grants()).await?)
    }

    /// The credential type `kind` (`publisher/plugin:type`) as the newest
    /// installed version of its plugin declares it. `Err` says why there is none.
    pub fn credential_type(&self, kind: &str) -> Result<wirework_registry::CredentialType, String> {
        let Some((plugin, name)) = kind.split_once(':') else {
            return Err(format!("`{kind}` is not a credential type: they are `publisher/plugin:type`"));
        };
        let plugins = self.plugins.read();
        let Some(versions) = plugins.get(plugin) else {
            return Err(format!("credential type `{kind}`: plugin {plugin} is not installed"));
        };
        let declared = versions.values().rev().find_map(|p| p.manifest().credential(name).cloned());
        declared.ok_or_else(|| {
            let mut known: Vec<String> = versions
                .values()
                .flat_map(|p| p.manifest().credentials.iter().map(|c| format!("{plugin}:{}", c.name)))
                .collect();
            known.sort();
            known.dedup();
            let known = if known.is_empty() { "none".into() } else { known.join(", ") };
            format!("{plugin} declares no credential type `{name}` (it declares {known})")
        })
    }

    /// Load every package in `dir` (see the module docs), verified against
    /// `trust`; revoked ones are skipped with a warning (and
    /// `revocations.json` becomes the list checked before every call). A
    /// file whose name is not its manifest's `publisher.name@version.wwpkg`
    /// is refused: it was not installed by wirework, and the name is what
    /// every later change looks the version up by.
    pub async fn load_dir(&self, dir: &Path, trust: &TrustStore) -> anyhow::Result<Vec<PluginVersion>> {
        let grants = read_grants(dir)?;
        let data_dir = dir.parent().unwrap_or(dir);
        let revocations = registry::read_revocations(data_dir)?;
        let mut loaded = Vec::new();
        for path in package_files(dir) {
            let package = Package::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let verified = package.clone().verify(trust).with_context(|| format!("loading {}", path.display()))?;
            let m = &verified.manifest.plugin;
            let expected = package_file_name(&m.name, &m.version);
            if path.file_name().is_none_or(|n| n != expected.as_str()) {
                anyhow::bail!(
                    "{} holds {} {}, whose file is named {expected}: install packages with `wirework plugin add`, \
                     or move it to {expected}",
                    path.display(),
                    m.name,
                    m.version
                );
            }
            let entry = grants.get(&m.name).cloned().unwrap_or_default();
            let plugin = self
                .runtime
                .load(package, trust, &entry.grants())
                .await
                .with_context(|| format!("loading {}", path.display()))?;
            if let Some(reason) = revocations.reason(&plugin.manifest().plugin.name, plugin.digest(), plugin.key_id()) {
                tracing::warn!(package = %path.display(), "not loaded: {reason}");
                continue;
            }
            loaded.push(self.add(plugin));
        }
        self.set_revocations(revocations);
        Ok(loaded)
    }
}

/// A package offered for a version that is installed already with other
/// contents. An installed version is never replaced: executions pin the exact
/// version they resolved, and a workflow was checked against what it
/// described, so the same version must stay the same code and manifest.
#[derive(Debug, thiserror::Error)]
#[error(
    "{name} {version} is installed already, with other contents (installed: {installed}; this package: {offered}); \
     an installed version is never replaced, since executions pin it: publish the change as a new version, \
     or remove {name}@{version} first"
)]
pub struct VersionConflict {
    /// `publisher/name`.
    pub name: String,
    /// The version.
    pub version: Version,
    /// The installed package's manifest and component digests.
    pub installed: String,
    /// The offered package's.
    pub offered: String,
}

/// Refuse `package` (`name` at `version`) when `dir` holds that version with
/// another manifest or component: the error is then a [`VersionConflict`].
/// The same contents, even signed by another key, may be installed again;
/// so may a version whose file is not a valid package (that is a repair).
/// An installed file that cannot be read is an error of its own.
pub fn check_not_replacing(dir: &Path, name: &str, version: &Version, package: &Package) -> anyhow::Result<()> {
    let path = package_path(dir, name, version);
    let installed = match Package::read(&path) {
        Ok(installed) => installed,
        Err(PackageError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(PackageError::Format(_)) => return Ok(()),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("reading the installed {}", path.display()))),
    };
    let (installed, offered) = (contents(&installed), contents(package));
    if installed == offered {
        return Ok(());
    }
    Err(VersionConflict { name: name.to_string(), version: version.clone(), installed, offered }.into())
}

/// A package's manifest and component digests, shortened, for messages.
fn contents(package: &Package) -> String {
    let (manifest, component) = (sha256_hex(&package.manifest_bytes), sha256_hex(&package.component));
    format!("manifest sha256 {}…, component sha256 {}…", &manifest[..12], &component[..12])
}

/// Set (or, with `None`, drop) the grant of plugin `name` in `dir`.
pub fn set_grant(dir: &Path, name: &str, grant: Option<GrantEntry>) -> anyhow::Result<()> {
    if let Some(grant) = &grant {
        grant.check().map_err(|e| anyhow::anyhow!("the grant of {name}: {e}"))?;
    }
    let path = dir.join(GRANTS_FILE_NAME);
    let _lock = wirework_registry::lock_for_update(&path).with_context(|| format!("locking {}", path.display()))?;
    let mut grants = read_grants(dir)?;
    match grant {
        Some(grant) => grants.insert(name.to_string(), grant),
        None => grants.remove(name),
    };
    let text = toml::to_string(&grants).context("writing grants")?;
    wirework_registry::write_atomically(&path, text.as_bytes()).context("writing grants.toml")
}

/// The file an installed version is kept in, inside `dir`.
pub fn package_path(dir: &Path, name: &str, version: &Version) -> PathBuf {
    dir.join(package_file_name(name, version))
}

/// The package files in `dir` (a data directory's `plugins/`), in name order.
pub fn package_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wwpkg"))
        .collect();
    paths.sort();
    paths
}

/// Whether some version of `name` is installed in `dir`.
pub fn is_installed(dir: &Path, name: &str) -> bool {
    let prefix = package_file_prefix(name);
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.filter_map(Result::ok).any(|e| e.file_name().to_string_lossy().starts_with(&prefix))
}

/// The grants kept in `dir` (see the module docs).
pub fn read_grants(dir: &Path) -> anyhow::Result<BTreeMap<String, GrantEntry>> {
    let path = dir.join(GRANTS_FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).with_context(|| format!("parsing {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// What a revocation can name: one signed build of a plugin version.
struct Build<'a> {
    name: &'a str,
    version: &'a Version,
    digest: &'a str,
    key_id: &'a str,
}

impl<'a> Build<'a> {
    fn of(plugin: &'a LoadedPlugin) -> Build<'a> {
        let m = &plugin.manifest().plugin;
        Build { name: &m.name, version: &m.version, digest: plugin.digest(), key_id: plugin.key_id() }
    }
}

/// Why `build` must not run, if it was revoked.
fn revocation_failure(revocations: &RwLock<Revocations>, build: &Build<'_>) -> Option<NodeFailure> {
    let reason = revocations.read().reason(build.name, build.digest, build.key_id)?;
    Some(NodeFailure::Setup { message: format!("{} {} is revoked: {reason}", build.name, build.version) })
}

/// Wait for an instance slot for `build`, then check the revocations again:
/// one may have arrived while the call waited.
async fn slot_for<'s>(
    slots: &'s Semaphore,
    revocations: &RwLock<Revocations>,
    build: &Build<'_>,
) -> Result<tokio::sync::SemaphorePermit<'s>, NodeFailure> {
    let slot = slots.acquire().await.expect("the semaphore is never closed");
    match revocation_failure(revocations, build) {
        Some(failure) => Err(failure),
        None => Ok(slot),
    }
}

/// The report of a call that never reached the plugin.
fn not_run<T>(failure: NodeFailure) -> InvokeReport<T> {
    InvokeReport { result: Err(failure), fuel: 0, wall: Default::default(), logs: Vec::new(), denials: Vec::new() }
}

fn describe(plugin: &LoadedPlugin) -> PluginVersion {
    let m = plugin.manifest();
    PluginVersion {
        name: m.plugin.name.clone(),
        version: m.plugin.version.clone(),
        digest: plugin.digest().to_string(),
        nodes: plugin.nodes().to_vec(),
        secrets: m.capabilities.secrets.clone(),
        credential_types: m.credentials.clone(),
        limits: m.limits,
        side_effects: !m.capabilities.http.is_empty() || m.capabilities.kv,
    }
}

impl NodeHost for InstalledPlugins {
    fn resolve(&self, name: &str, range: &VersionReq) -> Result<PluginVersion, String> {
        let plugins = self.plugins.read();
        let Some(versions) = plugins.get(name) else {
            return Err(format!("plugin {name} is not installed"));
        };
        // A revoked version never resolves: a deploy picks an older clean one.
        let revoked = |plugin: &LoadedPlugin| Self::revoked(&self.revocations, plugin).is_some();
        match versions.iter().rev().find(|(v, p)| range.matches(v) && !revoked(p)) {
            Some((_, plugin)) => Ok(describe(plugin)),
            None => {
                let installed: Vec<String> = versions
                    .iter()
                    .map(|(v, p)| if revoked(p) { format!("{v} (revoked)") } else { v.to_string() })
                    .collect();
                Err(format!("no installed version of {name} matches `{range}` (installed: {})", installed.join(", ")))
            }
        }
    }

    fn get(&self, name: &str, version: &Version) -> Option<PluginVersion> {
        self.plugins.read().get(name)?.get(version).map(|p| describe(p))
    }

    fn invoke(
        &self,
        name: &str,
        version: &Version,
        invocation: Invocation,
    ) -> BoxFuture<'static, InvokeReport<Outcome>> {
        self.in_slot(name, version, |runtime, plugin| async move { runtime.invoke(&plugin, invocation).await })
    }

    fn handle_request(
        &self,
        name: &str,
        version: &Version,
        call: Invocation,
        request: TriggerRequest,
    ) -> BoxFuture<'static, InvokeReport<TriggerOutput>> {
        self.in_slot(
            name,
            version,
            |runtime, plugin| async move { runtime.handle_request(&plugin, call, request).await },
        )
    }
}

impl InstalledPlugins {
    /// Run `call` on an exact installed version once it holds an instance
    /// slot, unless it is not installed or its key or digest is revoked
    /// (checked again after the wait for the slot).
    fn in_slot<T, F, Fut>(&self, name: &str, version: &Version, call: F) -> BoxFuture<'static, InvokeReport<T>>
    where
        T: Send + 'static,
        F: FnOnce(Runtime, Arc<LoadedPlugin>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = InvokeReport<T>> + Send,
    {
        let plugin = self.runnable(name, version);
        let (runtime, slots, revocations) = (self.runtime.clone(), self.slots.clone(), self.revocations.clone());
        Box::pin(async move {
            let plugin = match plugin {
                Ok(plugin) => plugin,
                Err(failure) => return not_run(failure),
            };
            let _slot = match slot_for(&slots, &revocations, &Build::of(&plugin)).await {
                Ok(slot) => slot,
                Err(failure) => return not_run(failure),
            };
            call(runtime, plugin).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[tokio::test]
    async fn a_call_waiting_for_a_slot_is_refused_if_revoked_meanwhile() {
        let slots = Semaphore::new(1);
        let revocations = RwLock::new(Revocations::default());
        let version = Version::new(1, 0, 0);
        let build = Build { name: "acme/crm", version: &version, digest: "d1", key_id: "k1" };
        let busy = slots.acquire().await.unwrap();
        let mut waiting = std::pin::pin!(slot_for(&slots, &revocations, &build));
        assert!(futures_util::poll!(&mut waiting).is_pending(), "every slot is taken");
        let revoked = BTreeMap::from([("d1".to_string(), BTreeSet::from(["k1".to_string()]))]);
        revocations.write().digests.insert("acme/crm".into(), revoked);
        drop(busy);
        let failure = waiting.await.unwrap_err();
        assert!(failure.to_string().contains("acme/crm 1.0.0 is revoked"), "{failure}");
        assert_eq!(slots.available_permits(), 1, "the slot is given back");
        let other = Build { key_id: "k2", ..build };
        assert!(slot_for(&slots, &revocations, &other).await.is_ok(), "another key's build still runs");
    }
}
