//! Wirework plugin packages: the manifest format, publisher keys, the signed
//! statement that binds a component to its name and version, and the trust
//! store a host verifies packages against.
//!
//! Also the registry: the tamper-evident log both sides check ([`log`]), the
//! server ([`server`]) and the client ([`client`]).
//!
//! Dependencies: `ed25519-dalek` for signatures, `sha2` for digests, `tar` for the
//! package archive, `toml`/`serde_json` for manifest and statement, `semver` for versions,
//! `tempfile` for writes that land whole or not at all, `reqwest` for the
//! client side of the registry.

#![deny(missing_docs)]

pub mod client;
pub mod keys;
pub mod log;
pub mod manifest;
pub mod package;
pub mod server;

pub use keys::{PublicKey, SecretKey, TrustStore};

/// Write `bytes` to `path` whole or not at all: into a uniquely named file
/// beside it, then renamed into place. Readers never see a half-written file,
/// and concurrent writers (two builds, two hosts sharing a cache) never write
/// into each other's temporary file.
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    // On disk before the rename makes it visible: a crash leaves the old
    // file or the new one, never an empty one.
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
/// An exclusive advisory lock for one file's read-modify-write, released
/// when dropped. It is taken on a hidden `.NAME.lock` beside the file, so
/// writers in other processes (a CLI install beside a running server, two
/// builds trusting keys) wait for each other instead of losing an update.
#[derive(Debug)]
pub struct FileLock(#[allow(dead_code)] std::fs::File);

/// Take [`FileLock`] for `path`, waiting for any other holder.
pub fn lock_for_update(path: &std::path::Path) -> std::io::Result<FileLock> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let file =
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join(format!(".{name}.lock")))?;
    file.lock()?;
    Ok(FileLock(file))
}

pub use manifest::{
    Capabilities, CredentialAuth, CredentialField, CredentialType, Limits, Manifest, NodeKind, DEFAULT_WIT_VERSION,
    SUPPORTED_WIT_VERSIONS, WIT_VERSION,
};
pub use package::{load_verified, Package, PackageError, VerifiedPackage};
