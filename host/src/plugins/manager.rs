//! [`PluginManager`]: the one place that changes a data directory's installed
//! plugins. Installing a package file, installing from a registry (by range
//! or from a lockfile), upgrading, removing, changing grants and refreshing
//! revocations each have one implementation here, with all their checks:
//! signature and trust, digests, an installed version never replaced by
//! other contents, grants that never grow without the operator saying so,
//! and no removal of a version deployed workflows pin.
//!
//! The CLI (on a data directory), the server's API and whatever comes later
//! call it and only present the outcome. On a running host it also changes
//! what is loaded ([`InstalledPlugins`]) at once; on a bare data directory
//! the next start loads the files.
//!
//! **Locking.** Every change holds the data directory's change lock
//! ([`DataDir::changes_lock`], an advisory file lock), so two processes (two
//! CLI installs, or a CLI beside a server) never both pass a check and then
//! both write. Within one process an async mutex comes first, so that tasks
//! wait without blocking a runtime thread. Registry installs also take a
//! registry turn before they ask the registry, so a second upgrade waits for
//! the first and then finds its plugins current.

use super::registry::{
    newer_in_range, prepare, read_revocations, sync_revocations, Decide, Installed, Locked, Lockfile, Review, Source,
};
use super::{check_not_replacing, is_installed, read_grants, set_grant, GrantEntry, InstalledPlugins, VersionConflict};
use crate::data_dir::DataDir;
use crate::engine::PluginVersion;
use crate::home::Home;
use crate::runtime::LoadedPlugin;
use semver::{Version, VersionReq};
use std::sync::Arc;
use wirework_registry::client::ClientError;
use wirework_registry::log::Revocations;
use wirework_registry::manifest::Capabilities;
use wirework_registry::package::{sha256_hex, MAX_PACKAGE_BYTES};
use wirework_registry::{Package, TrustStore};

/// Why a change to the installed plugins was refused or failed. Each kind
/// maps to one HTTP status in the server and to exit code 1 in the CLI.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The request itself is malformed (a grant pattern, a spec): 400.
    #[error("{0}")]
    Invalid(String),
    /// No such plugin or version: 404.
    #[error("{0}")]
    NotFound(String),
    /// It would replace an installed version, or remove one in use: 409.
    #[error("{0}")]
    Conflict(String),
    /// The package or the install was refused: an untrusted signer, a
    /// revoked version, no version in the range, capabilities not granted,
    /// a component that does not load: 422.
    #[error("{0}")]
    Refused(String),
    /// The registry could not be reached or failed: 502.
    #[error("{0}")]
    Unavailable(String),
    /// The host's own failure (I/O on the data directory): 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl PluginError {
    /// An install step's error: a [`VersionConflict`] is a conflict, a
    /// registry that cannot be reached is unavailable, the host's own I/O is
    /// internal, anything else (trust, revocation, range, grant) a refusal.
    pub fn from_install(e: anyhow::Error) -> PluginError {
        if let Some(conflict) = e.downcast_ref::<VersionConflict>() {
            return PluginError::Conflict(conflict.to_string());
        }
        let unavailable = e.chain().any(|cause| {
            matches!(
                cause.downcast_ref::<ClientError>(),
                Some(ClientError::Transport { .. }) | Some(ClientError::Refused { status: 500.., .. })
            )
        });
        if unavailable {
            return PluginError::Unavailable(format!("{e:#}"));
        }
        if e.chain().any(|c| c.is::<std::io::Error>()) {
            return PluginError::Internal(e);
        }
        PluginError::Refused(format!("{e:#}"))
    }
}

/// Which workflows pin a plugin version: what a removal must not break.
pub trait PluginUsers: Send + Sync {
    /// The ids of the workflows whose deployed versions pin `name` at `version`.
    fn workflows_using(&self, name: &str, version: &Version) -> anyhow::Result<Vec<String>>;
}

impl PluginUsers for crate::engine::Engine {
    fn workflows_using(&self, name: &str, version: &Version) -> anyhow::Result<Vec<String>> {
        crate::engine::Engine::workflows_using(self, name, version)
    }
}

/// A data directory's store, opened for the question only (a CLI beside no
/// server; with a server running, the store is its and the open fails).
struct StoreUsers(DataDir);

impl PluginUsers for StoreUsers {
    fn workflows_using(&self, name: &str, version: &Version) -> anyhow::Result<Vec<String>> {
        let path = self.0.store();
        if !path.exists() {
            return Ok(Vec::new());
        }
        let store = crate::store::Store::open_sled(&path).map_err(|e| {
            anyhow::anyhow!(
                "opening {} to see which workflows use {name} {version} (if a server is running on it, \
                 remove through it: add --server URL): {e:#}",
                path.display()
            )
        })?;
        crate::engine::workflows_using(&store, name, version)
    }
}

/// Where a registry install comes from.
#[derive(Debug, Clone)]
pub struct RegistryRequest {
    /// `publisher/name`.
    pub name: String,
    /// The range to resolve (a lock entry's exact version with `locked`).
    pub range: VersionReq,
    /// The registry's URL.
    pub registry: String,
    /// Trust the publisher's current key if no key of it is trusted yet.
    pub trust_on_first_use: bool,
    /// Install exactly this lock entry: the registry must present its key
    /// and the package its digests.
    pub locked: Option<Locked>,
}

/// A package file installed by [`PluginManager::add`].
#[derive(Debug, Clone)]
pub struct Added {
    /// `publisher/name`.
    pub name: String,
    /// The version.
    pub version: Version,
    /// The component's SHA-256.
    pub digest: String,
    /// The grant it has now (every installed version of the plugin has it).
    pub grant: GrantEntry,
    /// Requested and not granted, for humans (`http api.example.com`, `kv`).
    pub not_granted: Vec<String>,
    /// Where the package now is.
    pub path: std::path::PathBuf,
}

/// The outcome of upgrading one plugin ([`PluginManager::upgrade`]).
#[derive(Debug)]
pub struct Upgrade {
    /// The lock entry it was upgraded from (the plugin's newest).
    pub from: Locked,
    /// `Ok(None)`: the newest in its range already; `Ok(Some)`: what was installed.
    pub outcome: Result<Option<Installed>, PluginError>,
}

/// A locked install that stopped at an entry ([`PluginManager::install_locked`]).
#[derive(Debug)]
pub struct LockedInstallError {
    /// The entries installed before it (they stay).
    pub installed: Vec<Installed>,
    /// The entry that failed, or `None` when the lockfile itself is the problem.
    pub entry: Option<Locked>,
    /// Why.
    pub error: PluginError,
}

impl std::fmt::Display for LockedInstallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(entry) = &self.entry {
            write!(f, "{}@{}: ", entry.name, entry.version)?;
        }
        write!(f, "{}", self.error)?;
        if !self.installed.is_empty() {
            let kept: Vec<String> = self.installed.iter().map(|i| format!("{}@{}", i.name, i.version)).collect();
            let notes: Vec<&str> = self.installed.iter().flat_map(|i| i.notes.iter().map(String::as_str)).collect();
            write!(f, " (installed before it, and kept: {}", kept.join(", "))?;
            if !notes.is_empty() {
                write!(f, "; their notes: {}", notes.join("; "))?;
            }
            write!(f, ")")?;
        }
        Ok(())
    }
}

/// An installed version as listed ([`PluginManager::list`]).
#[derive(Debug, Clone)]
pub struct Listed {
    /// `publisher/name`.
    pub name: String,
    /// The version.
    pub version: Version,
    /// The component's SHA-256.
    pub digest: String,
    /// Its node types, when loaded.
    pub loaded: Option<PluginVersion>,
    /// What its manifest requests.
    pub requested: Capabilities,
    /// The plugin's grant.
    pub grant: GrantEntry,
    /// Requested and not granted, for humans.
    pub not_granted: Vec<String>,
    /// Its lock entry, when it came from a registry.
    pub locked: Option<Locked>,
    /// Why it must not run, when its key or digest was revoked.
    pub revoked: Option<String>,
}

/// A package file in `plugins/` that cannot be loaded, as listed.
#[derive(Debug, Clone)]
pub struct Unloadable {
    /// The file.
    pub path: std::path::PathBuf,
    /// Why.
    pub error: String,
}

/// A package file's bytes, for [`PluginManager::add`]: refused unread when
/// it is over the size limit a host loads.
pub fn read_package_file(path: &std::path::Path) -> Result<Vec<u8>, PluginError> {
    let reading =
        |e: std::io::Error| PluginError::Internal(anyhow::Error::new(e).context(format!("reading {}", path.display())));
    let len = std::fs::metadata(path).map_err(reading)?.len();
    if len > MAX_PACKAGE_BYTES {
        return Err(PluginError::Invalid(format!(
            "{}: {len} bytes is over the {MAX_PACKAGE_BYTES}-byte limit",
            path.display()
        )));
    }
    std::fs::read(path).map_err(reading)
}

/// The one service that changes a data directory's installed plugins (see
/// the module docs).
pub struct PluginManager {
    dir: DataDir,
    home: Home,
    /// A running host's loaded plugins, changed with the files.
    live: Option<Arc<InstalledPlugins>>,
    users: Arc<dyn PluginUsers>,
    changes: tokio::sync::Mutex<()>,
    registry_turn: tokio::sync::Mutex<()>,
}

/// Held while the installed plugins change (see the module docs).
struct ChangeLock<'a> {
    _turn: tokio::sync::MutexGuard<'a, ()>,
    _file: wirework_registry::FileLock,
}

impl PluginManager {
    /// The plugins of a data directory no host is serving: changes are
    /// written and loaded at the next start; a removal asks the store which
    /// workflows pin the version.
    pub fn for_data_dir(dir: DataDir, home: Home) -> PluginManager {
        let users = Arc::new(StoreUsers(dir.clone()));
        PluginManager::new(dir, home, None, users)
    }

    /// The plugins of a running host: changes take effect in `loaded` at once.
    pub fn serving(dir: DataDir, home: Home, loaded: Arc<InstalledPlugins>, users: Arc<dyn PluginUsers>) -> Self {
        PluginManager::new(dir, home, Some(loaded), users)
    }

    fn new(dir: DataDir, home: Home, live: Option<Arc<InstalledPlugins>>, users: Arc<dyn PluginUsers>) -> Self {
        PluginManager {
            dir,
            home,
            live,
            users,
            changes: tokio::sync::Mutex::new(()),
            registry_turn: tokio::sync::Mutex::new(()),
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &DataDir {
        &self.dir
    }

    /// The home whose trust store packages are verified against.
    pub fn home(&self) -> &Home {
        &self.home
    }

    async fn lock_changes(&self) -> Result<ChangeLock<'_>, PluginError> {
        let turn = self.changes.lock().await;
        let path = self.dir.changes_lock();
        let file = wirework_registry::lock_for_update(&path)
            .map_err(|e| anyhow::Error::new(e).context(format!("locking {}", path.display())))?;
        Ok(ChangeLock { _turn: turn, _file: file })
    }

    fn trust(&self) -> Result<TrustStore, PluginError> {
        Ok(TrustStore::load(&self.home.trust_store_path()).map_err(anyhow::Error::new)?)
    }

    /// Whether some version of `name` is installed (a file, or loaded).
    fn installed(&self, name: &str) -> bool {
        is_installed(&self.dir.plugins(), name)
            || self.live.as_ref().is_some_and(|live| live.list().iter().any(|p| p.name == name))
    }

    /// Install a package file's `bytes` with `grant`, which replaces the
    /// plugin's grant for every installed version. Verified against the
    /// trust store; on a running host compiled and linked before anything is
    /// written, so a package that cannot load leaves nothing behind. An
    /// installed version with other contents is refused, unless `replace`
    /// (a plugin author's rebuild, on a data directory only).
    pub async fn add(&self, bytes: Vec<u8>, grant: GrantEntry, replace: bool) -> Result<Added, PluginError> {
        grant.check().map_err(|e| PluginError::Invalid(format!("refused: {e}")))?;
        if bytes.len() as u64 > MAX_PACKAGE_BYTES {
            let message = format!("not a package: {} bytes is over the {MAX_PACKAGE_BYTES}-byte limit", bytes.len());
            return Err(PluginError::Invalid(message));
        }
        let package = Package::from_bytes(&bytes).map_err(|e| PluginError::Invalid(format!("not a package: {e}")))?;
        let trust = self.trust()?;
        let verified = package.clone().verify(&trust).map_err(|e| PluginError::Refused(format!("refused: {e}")))?;
        let (name, version) = (verified.manifest.plugin.name.clone(), verified.manifest.plugin.version.clone());
        let not_granted = super::registry::not_granted(&verified.manifest.capabilities, &grant);
        let digest = verified.component_digest().to_string();
        if replace && self.live.is_some() {
            return Err(PluginError::Invalid(
                "a running host never replaces an installed version: remove it first".into(),
            ));
        }
        let _changes = self.lock_changes().await?;
        let dir = self.dir.plugins();
        let mut replacing = false;
        match self.check_not_replacing(&name, &version, &package) {
            Ok(()) => {}
            Err(PluginError::Conflict(_)) if replace => replacing = true,
            Err(PluginError::Conflict(conflict)) if self.live.is_none() => {
                return Err(PluginError::Conflict(format!(
                    "{conflict} (or, in a data directory, `plugin add --replace`)"
                )))
            }
            Err(e) => return Err(e),
        }
        let loaded = self.compile_if_serving(package, &trust, &grant, &name, &version).await?;
        let path = self.dir.package(&name, &version);
        let existed = path.exists();
        let write = || -> anyhow::Result<()> {
            std::fs::create_dir_all(&dir)?;
            wirework_registry::write_atomically(&path, &bytes)?;
            set_grant(&dir, &name, Some(grant.clone()))?;
            if replacing {
                // The lockfile's entry would describe a package that is gone.
                Lockfile::update(&self.dir.lockfile(), |l| l.remove(&name, &version))?;
            }
            Ok(())
        };
        if let Err(e) = write() {
            // The same contents may have been there before; a new file goes.
            if !existed {
                let _ = std::fs::remove_file(&path);
            }
            return Err(PluginError::Internal(e.context(format!("installing {name} {version}"))));
        }
        if let (Some(live), Some(plugin)) = (&self.live, loaded) {
            live.add(plugin);
            // The grant is per plugin: versions installed before get it too.
            self.reload_with(&name, &grant, Some(&version)).await?;
        }
        tracing::info!(plugin = %name, %version, "installed");
        Ok(Added { name, version, digest, grant, not_granted, path })
    }

    /// On a running host, compile and link `package` with `grant` before
    /// anything is written, so a package that cannot load leaves nothing
    /// behind; `None` on a data directory, whose next start loads it (its
    /// contract is checked here all the same).
    async fn compile_if_serving(
        &self,
        package: Package,
        trust: &TrustStore,
        grant: &GrantEntry,
        name: &str,
        version: &Version,
    ) -> Result<Option<LoadedPlugin>, PluginError> {
        let Some(live) = &self.live else {
            // No host to load it: a contract this host does not speak is
            // refused here, before anything is written (a host's load checks it).
            let refused = |e: String| PluginError::Refused(format!("cannot load {name} {version}: {e}"));
            let manifest = wirework_registry::Manifest::parse(&String::from_utf8_lossy(&package.manifest_bytes))
                .map_err(|e| refused(e.to_string()))?;
            crate::runtime::check_contract(&package.component, &manifest).map_err(|e| refused(e.to_string()))?;
            return Ok(None);
        };
        let plugin = live.compile(package, trust, grant).await;
        plugin.map(Some).map_err(|e| PluginError::Refused(format!("cannot load {name} {version}: {e:#}")))
    }

    /// Refuse `package` as `name` `version` when that version is installed
    /// with other contents: in the data directory, or as the host loaded it.
    fn check_not_replacing(&self, name: &str, version: &Version, package: &Package) -> Result<(), PluginError> {
        check_not_replacing(&self.dir.plugins(), name, version, package).map_err(|e| {
            match e.downcast::<VersionConflict>() {
                Ok(conflict) => PluginError::Conflict(conflict.to_string()),
                Err(e) => PluginError::Internal(e),
            }
        })?;
        let loaded = self.live.as_ref().and_then(|live| live.component_digest(name, version));
        match loaded {
            Some(loaded) if loaded != sha256_hex(&package.component) => Err(PluginError::Conflict(format!(
                "{name} {version} is loaded already, with other code (component sha256 {}…); an installed version \
                 is never replaced, since executions pin it: publish the change as a new version, or remove \
                 {name}@{version} first",
                &loaded[..12]
            ))),
            _ => Ok(()),
        }
    }

    /// Resolve, download, verify and install a version from a registry
    /// (lock entry, revocations, trust), deciding its grant with `decide`;
    /// on a running host, compiled before it is written and loaded after.
    pub async fn install(&self, request: &RegistryRequest, decide: Decide<'_>) -> Result<Installed, PluginError> {
        let _turn = self.registry_turn.lock().await;
        self.install_in_turn(request, decide).await
    }

    /// [`install`](Self::install), the caller holding the registry turn.
    async fn install_in_turn(&self, request: &RegistryRequest, decide: Decide<'_>) -> Result<Installed, PluginError> {
        let (name, version_range) = (&request.name, &request.range);
        let source = Source {
            home: &self.home,
            data_dir: self.dir.root(),
            registry: &request.registry,
            trust_on_first_use: request.trust_on_first_use,
        };
        // The registry's traffic happens before the change lock is taken.
        let mut prepared = prepare(&source, name, version_range, request.locked.as_ref(), &mut *decide)
            .await
            .map_err(PluginError::from_install)?;
        let _changes = self.lock_changes().await?;
        // The plugin's grant may have changed while the registry was asked.
        prepared.decide_again(self.dir.root(), decide).map_err(PluginError::from_install)?;
        let version = prepared.version.clone();
        let package = Package::from_bytes(&prepared.bytes).map_err(|e| PluginError::Internal(e.into()))?;
        self.check_not_replacing(name, &version, &package)?;
        let loaded = self.compile_if_serving(package, &prepared.trust, &prepared.grant, name, &version).await?;
        let mut installed = prepared.commit(&self.home, self.dir.root()).map_err(PluginError::from_install)?;
        if let (Some(live), Some(plugin)) = (&self.live, loaded) {
            live.add(plugin);
            // The registry's revocations (now in the data directory's list)
            // apply from now on, not only from the next refresh.
            match read_revocations(self.dir.root()) {
                Ok(revocations) => live.set_revocations(revocations),
                Err(e) => tracing::warn!("revocations not reloaded after an install: {e:#}"),
            }
            // The grant is per plugin: versions installed before get it too.
            // The new version runs by now, so a failure here is told, not
            // answered as a failed install.
            if let Err(e) = self.reload_with(name, &installed.grant, Some(&version)).await {
                tracing::error!(plugin = %name, "earlier versions not reloaded with the new grant: {e}");
                installed.notes.push(format!(
                    "the versions of {name} installed before keep their old grant until the host restarts: {e}"
                ));
            }
        }
        tracing::info!(plugin = %name, %version, registry = %installed.locked.registry, "installed from the registry");
        Ok(installed)
    }

    /// Everything [`install`](Self::install) checks (resolved, downloaded,
    /// verified against the trust store, not revoked), without installing:
    /// what the version requests, for the operator to grant before the
    /// install. Only the registry's key and head are remembered (as on any
    /// first contact).
    pub async fn preview(&self, request: &RegistryRequest) -> Result<Review, PluginError> {
        let _turn = self.registry_turn.lock().await;
        let source = Source {
            home: &self.home,
            data_dir: self.dir.root(),
            registry: &request.registry,
            trust_on_first_use: request.trust_on_first_use,
        };
        let mut keep =
            |_: &str, _: &Capabilities, earlier: Option<&GrantEntry>| Ok(earlier.cloned().unwrap_or_default());
        let prepared = prepare(&source, &request.name, &request.range, None, &mut keep)
            .await
            .map_err(PluginError::from_install)?;
        Ok(prepared.review())
    }

    /// Install exactly the versions and digests of `lock` (the data
    /// directory's own lockfile when `None`), each from the registry its
    /// entry names. Entries go in order; the first that fails stops the rest
    /// and the error names the ones installed before it (which stay).
    pub async fn install_locked(
        &self,
        lock: Option<Lockfile>,
        trust_on_first_use: bool,
        decide: Decide<'_>,
    ) -> Result<Vec<Installed>, LockedInstallError> {
        let _turn = self.registry_turn.lock().await;
        let fail = |error| LockedInstallError { installed: Vec::new(), entry: None, error };
        // The data directory's own lockfile is read in the registry turn, as an upgrade's.
        let lock = match lock {
            Some(lock) => lock,
            None => Lockfile::load(&self.dir.lockfile()).map_err(|e| fail(PluginError::Internal(e)))?,
        };
        if lock.plugins.is_empty() {
            return Err(fail(PluginError::Refused("the lockfile locks no plugins".into())));
        }
        let mut installed = Vec::with_capacity(lock.plugins.len());
        for entry in &lock.plugins {
            let request = RegistryRequest {
                name: entry.name.clone(),
                range: entry.exact(),
                registry: entry.registry.clone(),
                trust_on_first_use,
                locked: Some(entry.clone()),
            };
            match self.install_in_turn(&request, &mut *decide).await {
                Ok(done) => installed.push(done),
                Err(error) => return Err(LockedInstallError { installed, entry: Some(entry.clone()), error }),
            }
        }
        Ok(installed)
    }

    /// For each plugin of the lockfile (or each of `names`), install the
    /// newest version in its locked range from its registry, beside the
    /// versions installed. One that fails does not stop the others. `Err`:
    /// one of `names` was not installed from a registry (nothing done).
    pub async fn upgrade(&self, names: &[String], decide: Decide<'_>) -> Result<Vec<Upgrade>, PluginError> {
        let _turn = self.registry_turn.lock().await;
        // Read in the turn: after an upgrade that ran meanwhile, its plugins are current.
        let lock = Lockfile::load(&self.dir.lockfile())?;
        let newest: Vec<Locked> = match lock.newest(names) {
            Ok(newest) => newest.into_values().cloned().collect(),
            Err(name) => {
                return Err(PluginError::Refused(format!(
                    "{name} was not installed from a registry (not in the lockfile)"
                )))
            }
        };
        let mut upgrades = Vec::with_capacity(newest.len());
        for entry in newest {
            let outcome = self.upgrade_one(&entry, &mut *decide).await;
            upgrades.push(Upgrade { from: entry, outcome });
        }
        Ok(upgrades)
    }

    async fn upgrade_one(&self, entry: &Locked, decide: Decide<'_>) -> Result<Option<Installed>, PluginError> {
        let range = VersionReq::parse(&entry.range).map_err(|e| {
            PluginError::Refused(format!("the lockfile's range `{}` is not a version range: {e}", entry.range))
        })?;
        if newer_in_range(&self.home, entry, &range).await.map_err(PluginError::from_install)?.is_none() {
            return Ok(None);
        }
        let request = RegistryRequest {
            name: entry.name.clone(),
            range,
            registry: entry.registry.clone(),
            trust_on_first_use: false,
            locked: None,
        };
        let installed = self.install_in_turn(&request, decide).await?;
        tracing::info!(plugin = %entry.name, from = %entry.version, to = %installed.version, "upgraded");
        Ok(Some(installed))
    }

    /// Remove one installed version, refused while a deployed workflow pins
    /// it (unless `force`).
    pub async fn remove(&self, name: &str, version: &Version, force: bool) -> Result<(), PluginError> {
        let _changes = self.lock_changes().await?;
        let path = self.dir.package(name, version);
        let loaded = self.live.as_ref().is_some_and(|live| live.requested(name, version).is_some());
        if !loaded && !path.exists() {
            let where_ = if self.live.is_some() { String::new() } else { format!(" in {}", self.dir.root().display()) };
            return Err(PluginError::NotFound(format!("{name} {version} is not installed{where_}")));
        }
        if !force {
            let users = self.users.workflows_using(name, version)?;
            if !users.is_empty() {
                return Err(PluginError::Conflict(format!(
                    "{name} {version} is used by workflow(s) {} (force=true removes it anyway; `--force` in the CLI)",
                    users.join(", ")
                )));
            }
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(anyhow::Error::new(e).context(format!("removing {}", path.display())).into()),
        }
        if let Some(live) = &self.live {
            live.forget(name, version);
        }
        Lockfile::update(&self.dir.lockfile(), |lock| lock.remove(name, version))?;
        tracing::info!(plugin = %name, %version, "removed");
        Ok(())
    }

    /// The grant of plugin `name`.
    pub fn grant(&self, name: &str) -> Result<GrantEntry, PluginError> {
        if !self.installed(name) {
            return Err(PluginError::NotFound(format!("{name} is not installed")));
        }
        Ok(read_grants(&self.dir.plugins())?.remove(name).unwrap_or_default())
    }

    /// Replace the grant of plugin `name`, for every installed version.
    /// Checked before anything is written; on a running host every version
    /// is reloaded with it, and a reload that fails puts the earlier grant
    /// back, in the file and in the loaded versions.
    pub async fn set_grant(&self, name: &str, grant: GrantEntry) -> Result<GrantEntry, PluginError> {
        grant.check().map_err(|e| PluginError::Invalid(format!("refused: {e}")))?;
        let _changes = self.lock_changes().await?;
        if !self.installed(name) {
            return Err(PluginError::NotFound(format!("{name} is not installed")));
        }
        let dir = self.dir.plugins();
        let earlier = read_grants(&dir)?.remove(name);
        set_grant(&dir, name, Some(grant.clone()))?;
        if let Err(e) = self.reload_with(name, &grant, None).await {
            let restored = set_grant(&dir, name, earlier.clone());
            let _ = self.reload_with(name, &earlier.unwrap_or_default(), None).await;
            if let Err(restore) = restored {
                tracing::error!(plugin = %name, "restoring the earlier grant: {restore:#}");
            }
            return Err(e);
        }
        Ok(grant)
    }

    /// Reload every loaded version of `name` (but `except`) with `grant`.
    async fn reload_with(&self, name: &str, grant: &GrantEntry, except: Option<&Version>) -> Result<(), PluginError> {
        let Some(live) = &self.live else { return Ok(()) };
        let trust = self.trust()?;
        let versions = live.list().into_iter().filter(|p| p.name == name && Some(&p.version) != except);
        for plugin in versions {
            let package = Package::read(&self.dir.package(name, &plugin.version)).map_err(anyhow::Error::new)?;
            live.load_package(package, &trust, grant).await?;
        }
        Ok(())
    }

    /// Fetch the verified revocations of every registry the lockfile names
    /// and add them to the data directory's list; a running host checks
    /// against the whole list from then on. The whole list, and the
    /// registries that could not be reached or verified.
    pub async fn refresh(&self) -> Result<(Revocations, Vec<String>), PluginError> {
        let (revocations, failures) = sync_revocations(&self.home, self.dir.root()).await?;
        for failure in &failures {
            tracing::warn!("revocations not refreshed: {failure}");
        }
        if let Some(live) = &self.live {
            live.set_revocations(revocations.clone());
        }
        Ok((revocations, failures))
    }

    /// The installed versions, with their grants, sources and revocations:
    /// on a running host what it loaded; on a data directory every package
    /// file, verified (and the files that cannot be loaded, apart).
    pub fn list(&self) -> Result<(Vec<Listed>, Vec<Unloadable>), PluginError> {
        let grants = read_grants(&self.dir.plugins())?;
        let lock = Lockfile::load(&self.dir.lockfile())?;
        let revocations = read_revocations(self.dir.root())?;
        let entry = |name: &str, version: &Version, digest: &str, key_id: &str, requested: Capabilities| {
            let grant = grants.get(name).cloned().unwrap_or_default();
            Listed {
                name: name.to_string(),
                version: version.clone(),
                digest: digest.to_string(),
                loaded: None,
                not_granted: super::registry::not_granted(&requested, &grant),
                requested,
                grant,
                locked: lock.plugins.iter().find(|l| l.name == name && &l.version == version).cloned(),
                revoked: revocations.reason(name, digest, key_id),
            }
        };
        if let Some(live) = &self.live {
            let listed = live
                .list()
                .into_iter()
                .map(|p| {
                    let requested = live.requested(&p.name, &p.version).unwrap_or_default();
                    let key_id = live.key_id(&p.name, &p.version).unwrap_or_default();
                    Listed { loaded: Some(p.clone()), ..entry(&p.name, &p.version, &p.digest, &key_id, requested) }
                })
                .collect();
            return Ok((listed, Vec::new()));
        }
        let trust = self.trust()?;
        let (mut listed, mut unloadable) = (Vec::new(), Vec::new());
        for path in super::package_files(&self.dir.plugins()) {
            match Package::read(&path).and_then(|p| p.verify(&trust)) {
                Ok(v) => {
                    let m = &v.manifest.plugin;
                    let requested = v.manifest.capabilities.clone();
                    listed.push(entry(&m.name, &m.version, v.component_digest(), &v.statement.key_id, requested));
                }
                Err(e) => unloadable.push(Unloadable { path, error: e.to_string() }),
            }
        }
        Ok((listed, unloadable))
    }
}
