//! The host's side of a plugin registry: installing by a semver range from a
//! verified registry view, the lockfile, the revocation list, and the
//! `describe()` check a registry server runs on every upload.
//!
//! Inside a data directory's `plugins/`, beside the packages and
//! `grants.toml` (see [the module above](super)):
//!
//! | file | what |
//! |------|------|
//! | `wirework.lock` | per installed version: registry, exact version, range asked for, digests, signing key |
//! | `revocations.json` | keys and component digests revoked by their publishers, as last synced |
//!
//! Trust: a package installs only if its signing key is in the operator's
//! trust store for its publisher, or is a later key of that publisher in the
//! registry's verified log, rotated from a trusted one (each rotation is
//! signed by the key before it), or the operator passed
//! `--trust-on-first-use` and trusts no key of that publisher yet. Keys
//! accepted the second or third way are added to the trust store, so the
//! host verifies the package with it every time it loads.

use super::{package_path, read_grants, set_grant, GrantEntry};
use crate::data_dir::DataDir;
use crate::home::Home;
use crate::runtime::{Grants, Runtime};
use anyhow::{bail, Context};
use futures_util::future::BoxFuture;
use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wirework_registry::client::{RegistryClient, View};
use wirework_registry::log::Revocations;
use wirework_registry::manifest::Capabilities;
use wirework_registry::package::{sha256_hex, trust_for, Statement};
use wirework_registry::server::PackageCheck;
use wirework_registry::{Package, PublicKey, TrustStore};

pub use crate::data_dir::LOCKFILE_NAME;

/// Where a client remembers registries' keys and log heads.
pub fn memory_path(home: &Home) -> PathBuf {
    home.root().join("registries.json")
}

/// Exact versions and digests installed from registries, so a second host
/// installs the same bytes (`wirework plugin install --locked`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lockfile {
    /// One entry per installed version.
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<Locked>,
}

/// One locked version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Locked {
    /// `publisher/name`.
    pub name: String,
    /// The exact version.
    pub version: Version,
    /// The range it was installed for (what `upgrade` resolves again).
    pub range: String,
    /// The registry's URL.
    pub registry: String,
    /// The registry's key id.
    pub registry_key: String,
    /// SHA-256 of the `.wwpkg` file.
    pub package_sha256: String,
    /// SHA-256 of the component.
    pub component_sha256: String,
    /// Id of the key that signed it.
    pub key_id: String,
}

impl Locked {
    /// The range that matches this entry's version alone (what
    /// `install --locked` resolves).
    pub fn exact(&self) -> VersionReq {
        VersionReq {
            comparators: vec![semver::Comparator {
                op: semver::Op::Exact,
                major: self.version.major,
                minor: Some(self.version.minor),
                patch: Some(self.version.patch),
                pre: self.version.pre.clone(),
            }],
        }
    }
}

impl Lockfile {
    /// Read `path`; a missing file is an empty lockfile.
    pub fn load(path: &Path) -> anyhow::Result<Lockfile> {
        match std::fs::read_to_string(path) {
            Ok(text) => Lockfile::parse(&text).with_context(|| format!("parsing {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Lockfile::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// A lockfile's text.
    pub fn parse(text: &str) -> anyhow::Result<Lockfile> {
        Ok(toml::from_str(text)?)
    }

    /// The newest locked version of each plugin, in name order: of the
    /// plugins in `names`, or of all when it is empty. These are what
    /// `upgrade` resolves again. `Err` names a plugin of `names` that the
    /// lockfile does not have.
    pub fn newest<'a>(&'a self, names: &[String]) -> Result<BTreeMap<&'a str, &'a Locked>, String> {
        let mut newest: BTreeMap<&str, &Locked> = BTreeMap::new();
        for entry in &self.plugins {
            if names.is_empty() || names.contains(&entry.name) {
                let slot = newest.entry(&entry.name).or_insert(entry);
                if entry.version > slot.version {
                    *slot = entry;
                }
            }
        }
        match names.iter().find(|name| !newest.contains_key(name.as_str())) {
            Some(missing) => Err(missing.clone()),
            None => Ok(newest),
        }
    }

    /// Write to `path`, whole or not at all.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = format!(
            "# Written by `wirework plugin install`: exact versions and digests.\n{}",
            toml::to_string_pretty(self).context("writing the lockfile")?
        );
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        wirework_registry::write_atomically(path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Change the lockfile at `path` with `change`: read, changed and written
    /// under a [`wirework_registry::FileLock`], so concurrent installs and
    /// removals lose nothing. What `change` returned.
    pub fn update<T>(path: &Path, change: impl FnOnce(&mut Lockfile) -> T) -> anyhow::Result<T> {
        let _lock = wirework_registry::lock_for_update(path).with_context(|| format!("locking {}", path.display()))?;
        let mut lock = Lockfile::load(path)?;
        let before = lock.clone();
        let result = change(&mut lock);
        if lock != before {
            lock.save(path)?;
        }
        Ok(result)
    }

    /// Add or replace the entry for `entry.name` at `entry.version`.
    pub fn upsert(&mut self, entry: Locked) {
        self.plugins.retain(|p| !(p.name == entry.name && p.version == entry.version));
        self.plugins.push(entry);
        self.plugins.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    }

    /// Drop the entry for `name` at `version`; whether there was one.
    pub fn remove(&mut self, name: &str, version: &Version) -> bool {
        let before = self.plugins.len();
        self.plugins.retain(|p| !(p.name == name && &p.version == version));
        before != self.plugins.len()
    }
}

/// The revocation list kept in `dir` (a data directory's `plugins/`).
pub fn read_revocations(data_dir: &Path) -> anyhow::Result<Revocations> {
    let path = DataDir::at(data_dir).revocations();
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Revocations::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Add `more` to the data directory's revocation list (revocations are never undone); the whole list.
pub fn add_revocations(data_dir: &Path, more: &Revocations) -> anyhow::Result<Revocations> {
    let path = DataDir::at(data_dir).revocations();
    let _lock = wirework_registry::lock_for_update(&path).with_context(|| format!("locking {}", path.display()))?;
    let mut all = read_revocations(data_dir)?;
    let before = all.clone();
    all.merge(more);
    if all != before {
        let text = serde_json::to_vec_pretty(&all).expect("revocations serialise");
        wirework_registry::write_atomically(&path, &text).context("writing revocations.json")?;
    }
    Ok(all)
}

/// Fetch the verified revocations of every registry the lockfile names and
/// add them to the data directory's list. The whole list, and the
/// registries that could not be reached or verified (the list keeps what
/// they said before).
pub async fn sync_revocations(home: &Home, data_dir: &Path) -> anyhow::Result<(Revocations, Vec<String>)> {
    let lock = Lockfile::load(&DataDir::at(data_dir).lockfile())?;
    // Each registry as the lockfile knows it: its URL and the key it had.
    let registries: std::collections::BTreeSet<(&str, &str)> =
        lock.plugins.iter().map(|p| (p.registry.as_str(), p.registry_key.as_str())).collect();
    let mut fetched = Revocations::default();
    let mut failures = Vec::new();
    for (url, key) in registries {
        match RegistryClient::new(url, memory_path(home)).view_expecting(Some(key)).await {
            Ok(view) => fetched.merge(&view.state.revocations),
            Err(e) => failures.push(e.to_string()),
        }
    }
    Ok((add_revocations(data_dir, &fetched)?, failures))
}

/// `publisher/name@RANGE` (without `@RANGE`: any version).
pub fn parse_spec(spec: &str) -> anyhow::Result<(String, VersionReq)> {
    let (name, range) = spec.split_once('@').unwrap_or((spec, "*"));
    wirework_registry::manifest::validate_package_name(name)
        .map_err(|e| anyhow::anyhow!("`{name}` is not a package name (publisher/name): {e}"))?;
    let range = VersionReq::parse(range).with_context(|| format!("`{range}` is not a semver range"))?;
    Ok((name.to_string(), range))
}

/// The grants an operator gives with an install: `http=PATTERN`,
/// `http-internal=HOST`, `kv`, `credential=TYPE`, `all` (everything the
/// package requests) or `none` (the CLI's `--grant`, the API's `grants`).
#[derive(Debug, Default)]
pub struct GrantFlags {
    all: bool,
    none: bool,
    kv: bool,
    http: Vec<String>,
    http_internal: Vec<String>,
    credentials: Vec<String>,
    events: Vec<String>,
}

impl GrantFlags {
    /// Parse each of `flags`; the error names the one that is none of the above.
    pub fn parse(flags: &[String]) -> anyhow::Result<GrantFlags> {
        let mut out = GrantFlags::default();
        for flag in flags {
            match flag.as_str() {
                "all" => out.all = true,
                "none" => out.none = true,
                "kv" => out.kv = true,
                other => match other.split_once('=') {
                    Some(("http", pattern)) => out.http.push(pattern.to_string()),
                    Some(("http-internal", host)) => out.http_internal.push(host.to_string()),
                    Some(("credential", kind)) => out.credentials.push(kind.to_string()),
                    Some(("event", pattern)) => out.events.push(pattern.to_string()),
                    _ => bail!(
                        "grant `{other}`: expected http=PATTERN, http-internal=HOST, credential=TYPE, event=PATTERN, \
                         kv, all or none"
                    ),
                },
            }
        }
        let checked = GrantEntry {
            http: out.http.clone(),
            http_internal: out.http_internal.clone(),
            credentials: out.credentials.clone(),
            events: out.events.clone(),
            kv: false,
        };
        checked.check().map_err(|e| anyhow::anyhow!("grant: {e}"))?;
        Ok(out)
    }

    fn given(&self) -> bool {
        self.all
            || self.none
            || self.kv
            || !self.http.is_empty()
            || !self.http_internal.is_empty()
            || !self.credentials.is_empty()
            || !self.events.is_empty()
    }

    /// The grant for a package requesting `requested`, when it can be decided
    /// without asking: from the flags (added to the `earlier` grant unless
    /// `none`); else the earlier grant (a plugin's grant covers all its
    /// versions, so an upgrade gets no new capability); else the empty grant
    /// when nothing is requested. `None`: the operator must choose.
    pub fn decide(&self, requested: &Capabilities, earlier: Option<&GrantEntry>) -> Option<GrantEntry> {
        if self.given() {
            let mut grant = if self.none { GrantEntry::default() } else { earlier.cloned().unwrap_or_default() };
            if self.all {
                grant.http.extend(requested.http.iter().cloned());
                grant.kv |= requested.kv;
                grant.credentials.extend(requested.credentials.iter().cloned());
                grant.events.extend(requested.events.iter().cloned());
            }
            grant.events.extend(self.events.iter().cloned());
            grant.events.sort();
            grant.events.dedup();
            grant.credentials.extend(self.credentials.iter().cloned());
            grant.credentials.sort();
            grant.credentials.dedup();
            grant.http.extend(self.http.iter().cloned());
            grant.http_internal.extend(self.http_internal.iter().cloned());
            grant.kv |= self.kv;
            grant.http.sort();
            grant.http.dedup();
            grant.http_internal.sort();
            grant.http_internal.dedup();
            return Some(grant);
        }
        if let Some(earlier) = earlier {
            return Some(earlier.clone());
        }
        let empty = GrantEntry::default();
        not_granted(requested, &empty).is_empty().then_some(empty)
    }
}

/// Why a package that requests capabilities was refused when no grant was
/// given; `how` and `without` say how to grant them or do without, in the
/// caller's terms.
pub fn ungranted_refusal(name: &str, requested: &Capabilities, how: &str, without: &str) -> String {
    format!(
        "{name} requests capabilities ({}): grant them with {how}, or install without them with {without}",
        describe_capabilities(requested)
    )
}

/// What a package requests, for humans.
pub fn describe_capabilities(requested: &Capabilities) -> String {
    let mut parts: Vec<String> = requested.http.iter().map(|h| format!("http {h}")).collect();
    if requested.kv {
        parts.push("kv".into());
    }
    parts.extend(requested.credentials.iter().map(|c| format!("credential {c}")));
    parts.extend(requested.events.iter().map(|e| format!("event {e}")));
    if !requested.secrets.is_empty() {
        parts.push(format!("secrets {} (bound per node by workflows)", requested.secrets.join(", ")));
    }
    if parts.is_empty() {
        "no capabilities".into()
    } else {
        parts.join("; ")
    }
}

/// Which capabilities to grant a package that is being installed: decided
/// by the caller (flags or a prompt) from what it requests and what the
/// plugin was granted before (an upgrade).
pub type Decide<'a> =
    &'a mut (dyn FnMut(&str, &Capabilities, Option<&GrantEntry>) -> anyhow::Result<GrantEntry> + Send);

/// What an install from a registry did.
#[derive(Debug)]
pub struct Installed {
    /// `publisher/name`.
    pub name: String,
    /// The version installed.
    pub version: Version,
    /// Where the package now is.
    pub path: PathBuf,
    /// The grant it has.
    pub grant: GrantEntry,
    /// Requested but not granted, for humans (`http api.example.com`, `kv`).
    pub not_granted: Vec<String>,
    /// Things the operator should know (a pinned registry, a newly trusted key).
    pub notes: Vec<String>,
    /// The lock entry written.
    pub locked: Locked,
}

/// Where and how to install from.
pub struct Source<'a> {
    /// The operator's home (trust store, registry memory).
    pub home: &'a Home,
    /// The data directory to install into.
    pub data_dir: &'a Path,
    /// The registry's URL.
    pub registry: &'a str,
    /// Trust the publisher's current key if no key of it is trusted yet.
    pub trust_on_first_use: bool,
}

/// The newest version in `range` (`entry`'s locked range, parsed) on
/// `entry`'s registry, if it is newer than `entry`'s version. The registry
/// must still have the key it had when `entry` was locked.
pub async fn newer_in_range(home: &Home, entry: &Locked, range: &VersionReq) -> anyhow::Result<Option<Version>> {
    let view =
        RegistryClient::new(&entry.registry, memory_path(home)).view_expecting(Some(&entry.registry_key)).await?;
    Ok(view.resolve(&entry.name, range).map(|info| info.version.clone()).filter(|newer| *newer > entry.version))
}

/// A version downloaded, verified and granted by [`prepare`], nothing of it
/// written yet: [`Prepared::commit`] installs it (see
/// [`PluginManager::install`](super::PluginManager::install), which does both). A server loads it in
/// between, so that a package that cannot load is never installed.
pub struct Prepared {
    /// `publisher/name`.
    pub name: String,
    /// The version.
    pub version: Version,
    /// The package file's bytes.
    pub bytes: Vec<u8>,
    /// The trust store it verified against (with a newly trusted key, if any).
    pub trust: TrustStore,
    /// The grant decided.
    pub grant: GrantEntry,
    /// What the package requests.
    requested: Capabilities,
    /// The plugin's grant when the grant was decided.
    earlier: Option<GrantEntry>,
    not_granted: Vec<String>,
    notes: Vec<String>,
    newly_trusted: Option<NewlyTrusted>,
    entry: Locked,
    revocations: Revocations,
}

/// Everything an install checks, without writing anything but the
/// registry's key and head (see [`Prepared`]).
pub async fn prepare(
    source: &Source<'_>,
    name: &str,
    range: &VersionReq,
    locked: Option<&Locked>,
    decide: Decide<'_>,
) -> anyhow::Result<Prepared> {
    let client = RegistryClient::new(source.registry, memory_path(source.home));
    let view = client.view_expecting(locked.map(|l| l.registry_key.as_str())).await?;
    let mut notes = Vec::new();
    if view.first_contact {
        notes.push(format!("pinned registry {} to its key {} ({})", view.url, view.key.id(), view.key));
    }
    let info = match locked {
        Some(lock) => {
            let info = view
                .version(name, &lock.version)
                .with_context(|| format!("{name} {} (locked) is not in {}", lock.version, view.url))?;
            if info.package_sha256 != lock.package_sha256 {
                bail!(
                    "{name} {}: the registry's log records package sha256 {}, the lockfile {}: refusing",
                    lock.version,
                    info.package_sha256,
                    lock.package_sha256
                );
            }
            info
        }
        None => view.resolve(name, range).with_context(|| no_match(&view, name, range))?,
    }
    .clone();
    if let Some(reason) = view.state.revocations.reason(name, &info.component_sha256, &info.key_id) {
        bail!("{name} {} is revoked: {reason}", info.version);
    }
    let bytes = client.download(&view, name, &info.version).await?;
    let package = Package::from_bytes(&bytes).with_context(|| format!("{name} {}", info.version))?;
    let statement: Statement = serde_json::from_slice(&package.statement_bytes).context("the package's statement")?;
    let mut trust = TrustStore::load(&source.home.trust_store_path())?;
    // A key accepted here is saved only once the install goes ahead.
    let newly_trusted = trust_signer(&mut trust, &view, name, &statement.key_id, source.trust_on_first_use)?;
    let verified = package.verify(&trust)?;
    let m = &verified.manifest.plugin;
    if m.name != name || m.version != info.version || verified.component_digest() != info.component_sha256 {
        bail!("the package downloaded for {name} {} is another one ({} {})", info.version, m.name, m.version);
    }
    let earlier = read_grants(&DataDir::at(source.data_dir).plugins())?.get(name).cloned();
    let grant = decide(name, &verified.manifest.capabilities, earlier.as_ref())?;
    let not_granted = not_granted(&verified.manifest.capabilities, &grant);
    let entry = Locked {
        name: name.to_string(),
        version: info.version.clone(),
        range: locked.map_or_else(|| range.to_string(), |l| l.range.clone()),
        registry: view.url.clone(),
        registry_key: view.key.id(),
        package_sha256: sha256_hex(&bytes),
        component_sha256: info.component_sha256.clone(),
        key_id: statement.key_id.clone(),
    };
    Ok(Prepared {
        name: name.to_string(),
        version: info.version,
        bytes,
        trust,
        grant,
        requested: verified.manifest.capabilities.clone(),
        earlier,
        not_granted,
        notes,
        newly_trusted,
        entry,
        revocations: view.state.revocations.clone(),
    })
}

/// What installing a version would do, for an operator to decide its grant
/// on ([`PluginManager::preview`](super::PluginManager::preview)).
#[derive(Debug, Clone)]
pub struct Review {
    /// `publisher/name`.
    pub name: String,
    /// The version the range resolves to.
    pub version: Version,
    /// What its manifest requests.
    pub requested: Capabilities,
    /// The plugin's grant now, if it has one (an install keeps it unless told otherwise).
    pub earlier: Option<GrantEntry>,
    /// The key that signed it.
    pub key_id: String,
    /// The registry, as pinned.
    pub registry: String,
    /// A key the install would trust, a registry pinned at first contact, ...
    pub notes: Vec<String>,
}

impl Prepared {
    /// What this install would do, for the operator to decide on.
    pub fn review(&self) -> Review {
        let mut notes = self.notes.clone();
        if let Some((_, _, note)) = &self.newly_trusted {
            notes.push(note.clone());
        }
        Review {
            name: self.name.clone(),
            version: self.version.clone(),
            requested: self.requested.clone(),
            earlier: self.earlier.clone(),
            key_id: self.entry.key_id.clone(),
            registry: self.entry.registry.clone(),
            notes,
        }
    }

    /// Decide the grant again if the plugin's grant in `data_dir` changed
    /// since [`prepare`] decided it: the caller took the change lock after
    /// asking the registry, and decides under it.
    pub fn decide_again(&mut self, data_dir: &Path, decide: Decide<'_>) -> anyhow::Result<()> {
        let earlier = read_grants(&DataDir::at(data_dir).plugins())?.get(&self.name).cloned();
        if earlier == self.earlier {
            return Ok(());
        }
        self.grant = decide(&self.name, &self.requested, earlier.as_ref())?;
        self.not_granted = not_granted(&self.requested, &self.grant);
        self.earlier = earlier;
        Ok(())
    }

    /// Write the package, its grant, its lock entry and the registry's
    /// revocations into `data_dir`, then save a newly trusted key into
    /// `home`'s trust store, last. When a write fails, the ones before it are
    /// undone (added revocations stay: the list only grows).
    pub fn commit(self, home: &Home, data_dir: &Path) -> anyhow::Result<Installed> {
        let Prepared { name, version, bytes, grant, not_granted, mut notes, newly_trusted, entry, revocations, .. } =
            self;
        let dir = DataDir::at(data_dir).plugins();
        let earlier = read_grants(&dir)?.get(&name).cloned();
        // Read what is about to be updated before writing anything, so a
        // broken file stops the install with nothing changed.
        let lock_path = DataDir::at(data_dir).lockfile();
        let earlier_lock =
            Lockfile::load(&lock_path)?.plugins.into_iter().find(|p| p.name == name && p.version == version);
        read_revocations(data_dir)?;
        let trust_path = home.trust_store_path();
        let path = package_path(&dir, &name, &version);
        let offered = Package::from_bytes(&bytes).with_context(|| format!("{name} {version}"))?;
        super::check_not_replacing(&dir, &name, &version, &offered)?;
        let existed = path.exists();
        let earlier_bytes = if existed { Some(std::fs::read(&path)?) } else { None };
        let written = (|| -> anyhow::Result<()> {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            wirework_registry::write_atomically(&path, &bytes)
                .with_context(|| format!("writing {}", path.display()))?;
            set_grant(&dir, &name, Some(grant.clone()))?;
            Lockfile::update(&lock_path, |lock| lock.upsert(entry.clone()))?;
            add_revocations(data_dir, &revocations)?;
            // Last: a key is trusted only for an install that happened.
            if let Some((publisher, key, _)) = &newly_trusted {
                TrustStore::add_to_file(&trust_path, publisher, key.clone())?;
            }
            Ok(())
        })();
        if let Err(e) = written {
            match earlier_bytes {
                Some(earlier) => {
                    let _ = wirework_registry::write_atomically(&path, &earlier);
                }
                None => {
                    let _ = std::fs::remove_file(&path);
                }
            }
            let _ = super::set_grant(&dir, &name, earlier);
            let _ = Lockfile::update(&lock_path, |lock| {
                lock.remove(&name, &version);
                if let Some(earlier) = earlier_lock {
                    lock.upsert(earlier);
                }
            });
            return Err(e.context(format!("installing {name} {version}: nothing was installed")));
        }
        notes.extend(newly_trusted.map(|(_, _, note)| note));
        Ok(Installed { name, version, path, grant, not_granted, notes, locked: entry })
    }
}

fn no_match(view: &View, name: &str, range: &VersionReq) -> String {
    let Some(versions) = view.state.packages.get(name) else {
        return format!("{name} is not published on {}", view.url);
    };
    let listed: Vec<String> = versions
        .values()
        .map(|v| match (v.yanked, v.revoked) {
            (_, true) => format!("{} (revoked)", v.version),
            (true, _) => format!("{} (yanked: install it with `@={}`)", v.version, v.version),
            _ => v.version.to_string(),
        })
        .collect();
    format!("no version of {name} on {} matches `{range}`: {}", view.url, listed.join(", "))
}

/// A key [`trust_signer`] added to the in-memory trust store: publisher,
/// key, and a note for the operator.
type NewlyTrusted = (String, PublicKey, String);

/// Make sure the trust store trusts `key_id` for `name`'s publisher (see the
/// module docs); what was added, for the caller to save.
fn trust_signer(
    trust: &mut TrustStore,
    view: &View,
    name: &str,
    key_id: &str,
    trust_on_first_use: bool,
) -> anyhow::Result<Option<NewlyTrusted>> {
    let publisher = name.split_once('/').map_or(name, |(p, _)| p);
    let trusted_for =
        |trust: &TrustStore, id: &str| trust.by_id(id).is_some_and(|e| e.publishers.iter().any(|p| p == publisher));
    if trusted_for(trust, key_id) {
        return Ok(None);
    }
    let chain = view.state.key_chain(publisher);
    let Some(position) = chain.iter().position(|k| k.id() == key_id) else {
        bail!("{name} is signed by key {key_id}, which the registry's log does not list for `{publisher}`");
    };
    let signer: PublicKey = chain[position].clone();
    if let Some(voucher) = chain[..position].iter().rev().find(|k| trusted_for(trust, &k.id())) {
        trust.add(publisher, signer.clone());
        let note = format!(
            "trusting key {} for `{publisher}`: the registry's signed log rotates to it from your trusted key {}",
            signer.id(),
            voucher.id()
        );
        return Ok(Some((publisher.to_string(), signer, note)));
    }
    let trusts_any = trust.entries().iter().any(|e| e.publishers.iter().any(|p| p == publisher));
    if trust_on_first_use && !trusts_any {
        trust.add(publisher, signer.clone());
        let note = format!(
            "trusting key {} ({signer}) for `{publisher}` on first use: check it with the publisher",
            signer.id()
        );
        return Ok(Some((publisher.to_string(), signer, note)));
    }
    bail!(
        "{name} is signed by key {key_id} ({signer}), which your trust store does not trust for `{publisher}`: \
         check the key with the publisher and run `wirework trust add {publisher} {signer}`{}",
        if trusts_any { "" } else { ", or install with --trust-on-first-use" }
    )
}

/// What `requested` asks for beyond `grant`, for humans.
pub fn not_granted(requested: &Capabilities, grant: &GrantEntry) -> Vec<String> {
    let mut missing: Vec<String> =
        requested.http.iter().filter(|h| !grant.http.contains(h)).map(|h| format!("http {h}")).collect();
    if requested.kv && !grant.kv {
        missing.push("kv".into());
    }
    missing.extend(
        requested.credentials.iter().filter(|c| !grant.credentials.contains(c)).map(|c| format!("credential {c}")),
    );
    missing.extend(requested.events.iter().filter(|e| !grant.events.contains(e)).map(|e| format!("event {e}")));
    missing
}

/// The registry's upload check: the component compiles, links against the
/// host's contract, and its `describe()` agrees with its manifest (the very
/// load a host does before it runs the plugin).
pub struct DescribeCheck {
    runtime: Runtime,
}

impl DescribeCheck {
    /// A check on its own runtime.
    pub fn new(runtime: Runtime) -> DescribeCheck {
        DescribeCheck { runtime }
    }
}

impl PackageCheck for DescribeCheck {
    fn check(&self, package: Package, key: PublicKey) -> BoxFuture<'static, Result<(), String>> {
        let runtime = self.runtime.clone();
        Box::pin(async move {
            let publisher = std::str::from_utf8(&package.manifest_bytes)
                .ok()
                .and_then(|t| wirework_registry::Manifest::parse(t).ok())
                .map(|m| m.publisher().to_string())
                .unwrap_or_default();
            runtime
                .load(package, &trust_for(&key, &publisher), &Grants::default())
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lockfile_round_trips_and_keeps_one_entry_per_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = DataDir::at(dir.path()).lockfile();
        let entry = |v: &str| Locked {
            name: "acme/crm".into(),
            version: Version::parse(v).unwrap(),
            range: "^1.2".into(),
            registry: "http://127.0.0.1:1".into(),
            registry_key: "k".into(),
            package_sha256: "p".into(),
            component_sha256: "c".into(),
            key_id: "s".into(),
        };
        let mut lock = Lockfile::default();
        lock.upsert(entry("1.3.0"));
        lock.upsert(entry("1.2.0"));
        lock.upsert(entry("1.3.0"));
        lock.save(&path).unwrap();
        let again = Lockfile::load(&path).unwrap();
        assert_eq!(again, lock);
        assert_eq!(again.plugins.iter().map(|p| p.version.to_string()).collect::<Vec<_>>(), ["1.2.0", "1.3.0"]);
        let mut lock = again;
        assert!(lock.remove("acme/crm", &Version::parse("1.2.0").unwrap()));
        assert!(!lock.remove("acme/crm", &Version::parse("1.2.0").unwrap()));

        // An entry's exact range is the `=VERSION` a locked install resolves.
        for v in ["1.3.0", "2.0.0-rc.1"] {
            assert_eq!(entry(v).exact(), VersionReq::parse(&format!("={v}")).unwrap());
        }
        let exact = entry("1.3.0").exact();
        assert!(exact.matches(&Version::parse("1.3.0").unwrap()));
        assert!(!exact.matches(&Version::parse("1.3.1").unwrap()) && !exact.matches(&Version::parse("1.4.0").unwrap()));
    }

    #[test]
    fn an_upgrade_keeps_the_earlier_grant_credential_types_included() {
        // Version 1 was granted `bearer`; version 2 also asks for `webhook`.
        let requested = Capabilities { credentials: vec!["bearer".into(), "webhook".into()], ..Default::default() };
        let earlier = GrantEntry { credentials: vec!["bearer".into()], ..Default::default() };
        let decided = GrantFlags::parse(&[]).unwrap().decide(&requested, Some(&earlier)).unwrap();
        assert_eq!(decided, earlier, "nothing new without the operator");
        assert_eq!(not_granted(&requested, &decided), ["credential webhook"]);
        let flags = GrantFlags::parse(&["credential=webhook".into()]).unwrap();
        let decided = flags.decide(&requested, Some(&earlier)).unwrap();
        assert_eq!(decided.credentials, ["bearer", "webhook"], "granted when the operator says so");
        let all = GrantFlags::parse(&["all".into()]).unwrap().decide(&requested, None).unwrap();
        assert_eq!(all.credentials, ["bearer", "webhook"]);
        assert!(GrantFlags::parse(&["credential=Not A Type".into()])
            .unwrap_err()
            .to_string()
            .contains("credential type"));
    }

    #[test]
    fn capabilities_beyond_the_grant_are_listed() {
        let requested = Capabilities {
            http: vec!["a.example".into(), "b.example".into()],
            secrets: vec![],
            kv: true,
            credentials: vec!["bearer".into()],
            events: vec!["email.*".into()],
        };
        let grant = GrantEntry { http: vec!["a.example".into()], ..Default::default() };
        assert_eq!(not_granted(&requested, &grant), ["http b.example", "kv", "credential bearer", "event email.*"]);
        let flags = GrantFlags::parse(&["event=email.*".into()]).unwrap();
        let grant = flags.decide(&requested, None).unwrap();
        assert_eq!(grant.events, ["email.*"]);
        let all = GrantFlags::parse(&["all".into()]).unwrap().decide(&requested, None).unwrap();
        assert!(not_granted(&requested, &all).is_empty(), "`all` grants the events too");
        let error = GrantFlags::parse(&["event=Email".into()]).unwrap_err().to_string();
        assert!(error.contains("`Email` is not an event name or prefix"), "{error}");
    }
}
