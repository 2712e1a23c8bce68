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
pub use manifest::{Capabilities, Limits, Manifest, NodeKind};
pub use package::{load_verified, Package, PackageError, VerifiedPackage};
