//! Wirework plugin packages: the manifest format, publisher keys, the signed
//! statement that binds a component to its name and version, and the trust
//! store a host verifies packages against.
//!
//! The registry server and client (publishing, semver resolution, tamper-evident
//! log) will live here too; today the crate is the package format both sides share.
//!
//! Dependencies: `ed25519-dalek` for signatures, `sha2` for digests, `tar` for the
//! package archive, `toml`/`serde_json` for manifest and statement, `semver` for versions,
//! `tempfile` for writes that land whole or not at all.

#![deny(missing_docs)]

pub mod keys;
pub mod manifest;
pub mod package;

pub use keys::{PublicKey, SecretKey, TrustStore};

/// Write `bytes` to `path` whole or not at all: into a uniquely named file
/// beside it, then renamed into place. Readers never see a half-written file,
/// and concurrent writers (two builds, two hosts sharing a cache) never write
/// into each other's temporary file.
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
pub use manifest::{Capabilities, Limits, Manifest, NodeKind};
pub use package::{load_verified, Package, PackageError, VerifiedPackage};
