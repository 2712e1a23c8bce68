//! A data directory's layout: where each part of one Wirework instance's
//! state lives. Everything that reads or writes a data directory asks
//! [`DataDir`] for the path, so the layout is written down once.
//!
//! | path | what |
//! |------|------|
//! | `store/` | the sled database (one process at a time) |
//! | `plugins/` | installed packages, `publisher.name@version.wwpkg` |
//! | `plugins/grants.toml` | the operator's grants per plugin |
//! | `plugins/wirework.lock` | versions installed from registries, with their digests |
//! | `plugins/revocations.json` | keys and digests revoked by their publishers, as last synced |
//! | `plugins/.changes.lock` | held by whoever changes the installed plugins |
//! | `cache/` | precompiled components |
//! | `secret.key` | the key credentials are sealed with (unless configured elsewhere) |

use semver::Version;
use std::path::{Path, PathBuf};

/// The default data directory, relative to where the host runs.
pub const DEFAULT_DATA_DIR: &str = "wirework-data";

/// The lockfile's name, in [`DataDir::plugins`].
pub const LOCKFILE_NAME: &str = "wirework.lock";

/// The grants file's name, in [`DataDir::plugins`].
pub const GRANTS_FILE_NAME: &str = "grants.toml";

/// One data directory (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The data directory at `root` (nothing is created).
    pub fn at(root: impl Into<PathBuf>) -> DataDir {
        DataDir { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The store (sled allows one process at a time).
    pub fn store(&self) -> PathBuf {
        self.root.join("store")
    }

    /// Installed packages and the files that describe them.
    pub fn plugins(&self) -> PathBuf {
        self.root.join("plugins")
    }

    /// The file installed version `version` of `name` (`publisher/name`) is kept in.
    pub fn package(&self, name: &str, version: &Version) -> PathBuf {
        self.plugins().join(package_file_name(name, version))
    }

    /// The operator's grants per plugin.
    pub fn grants(&self) -> PathBuf {
        self.plugins().join(GRANTS_FILE_NAME)
    }

    /// Versions installed from registries (`wirework plugin install --locked`).
    pub fn lockfile(&self) -> PathBuf {
        self.plugins().join(LOCKFILE_NAME)
    }

    /// The revocation list, as last synced from the registries.
    pub fn revocations(&self) -> PathBuf {
        self.plugins().join("revocations.json")
    }

    /// The file whose lock serialises changes to the installed plugins
    /// (see [`crate::plugins::PluginManager`]).
    pub fn changes_lock(&self) -> PathBuf {
        self.plugins().join("changes")
    }

    /// Precompiled components.
    pub fn cache(&self) -> PathBuf {
        self.root.join("cache")
    }

    /// The default credential key file.
    pub fn secret_key(&self) -> PathBuf {
        self.root.join("secret.key")
    }

    /// Whether a running process (a `wirework serve` or `engine run`) has the
    /// store open. Such a process loaded the installed plugins when it
    /// started: package files written beside it are not loaded until it restarts.
    pub fn is_served(&self) -> bool {
        crate::store::SledBackend::in_use(&self.store())
    }
}

/// `publisher.name@version.wwpkg`: the name an installed package's file has.
pub fn package_file_name(name: &str, version: &Version) -> String {
    format!("{}{version}.wwpkg", package_file_prefix(name))
}

/// How the file names of `name`'s installed versions start.
pub fn package_file_prefix(name: &str) -> String {
    format!("{}@", name.replace('/', "."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_the_documented_one() {
        let dir = DataDir::at("/srv/ww");
        let v = Version::new(1, 2, 3);
        assert_eq!(dir.package("acme/crm", &v), Path::new("/srv/ww/plugins/acme.crm@1.2.3.wwpkg"));
        assert_eq!(dir.grants(), Path::new("/srv/ww/plugins/grants.toml"));
        assert_eq!(dir.lockfile(), Path::new("/srv/ww/plugins/wirework.lock"));
        assert_eq!(dir.revocations(), Path::new("/srv/ww/plugins/revocations.json"));
        assert_eq!(dir.store(), Path::new("/srv/ww/store"));
        assert_eq!(dir.cache(), Path::new("/srv/ww/cache"));
        assert_eq!(dir.secret_key(), Path::new("/srv/ww/secret.key"));
    }
}
