//! The `.wwpkg` package: component, manifest, and a signed statement binding them.
//!
//! A package is a tar archive of four entries:
//!
//! | entry            | content |
//! |------------------|---------|
//! | `manifest.toml`  | the plugin manifest, byte for byte as signed |
//! | `component.wasm` | the WebAssembly component |
//! | `statement.json` | the [`Statement`], the exact bytes the signature covers |
//! | `signature`      | the ed25519 signature over `statement.json`, hex |
//!
//! The signature covers a statement, not bare bytes: the digests of component
//! and manifest together with the package name, version, WIT version and key id,
//! so a valid signature cannot be replayed under another name or version.

use crate::keys::{key_id, PublicKey, SecretKey, TrustStore};
use crate::manifest::{Manifest, ManifestError};
use ed25519_dalek::{Signature, Signer, Verifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// The `format` of statements this crate writes and accepts.
pub const STATEMENT_FORMAT: &str = "wirework-package-statement/1";

/// The largest package this crate reads.
pub const MAX_PACKAGE_BYTES: u64 = 64 << 20;

/// What a publisher signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// Always [`STATEMENT_FORMAT`].
    pub format: String,
    /// `publisher/name`.
    pub package: String,
    /// The plugin's version.
    pub version: String,
    /// The WIT contract version.
    pub wit: String,
    /// SHA-256 of `component.wasm`, hex.
    pub component_sha256: String,
    /// SHA-256 of `manifest.toml`, hex.
    pub manifest_sha256: String,
    /// Id of the signing key (see [`key_id`]).
    pub key_id: String,
}

/// Why a package is refused.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The file could not be read.
    #[error("cannot read package: {0}")]
    Io(#[from] std::io::Error),
    /// Not a package archive, or an entry is missing or oversized.
    #[error("not a valid package: {0}")]
    Format(String),
    /// The manifest inside is not acceptable.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The signing key is not in the trust store.
    #[error("package {package} is signed by key {key_id}, which is not in the trust store")]
    UntrustedKey {
        /// The package's name.
        package: String,
        /// The unknown key.
        key_id: String,
    },
    /// The key is trusted, but not for this publisher.
    #[error("package {package} is signed by key {key_id}, which is trusted for {trusted_for:?}, not for publisher `{publisher}`")]
    KeyNotForPublisher {
        /// The package's name.
        package: String,
        /// The signing key.
        key_id: String,
        /// The package's publisher.
        publisher: String,
        /// The publishers the key is trusted for.
        trusted_for: Vec<String>,
    },
    /// The signature does not verify with the trusted key.
    #[error("package signature is invalid: the statement was altered or signed by another key")]
    BadSignature,
    /// The component's digest differs from the signed one.
    #[error("component was altered after signing: its sha256 is {actual}, the signature covers {signed}")]
    ComponentAltered {
        /// Digest of the component in the package.
        actual: String,
        /// Digest in the signed statement.
        signed: String,
    },
    /// The manifest's digest differs from the signed one.
    #[error("manifest was altered after signing: its sha256 is {actual}, the signature covers {signed}")]
    ManifestAltered {
        /// Digest of the manifest in the package.
        actual: String,
        /// Digest in the signed statement.
        signed: String,
    },
    /// The statement names another package, version or contract than the manifest.
    #[error("signed statement does not match the manifest: {0}")]
    StatementMismatch(String),
}

/// A package as read from disk, not yet verified.
#[derive(Debug, Clone)]
pub struct Package {
    /// `manifest.toml` bytes.
    pub manifest_bytes: Vec<u8>,
    /// `component.wasm` bytes.
    pub component: Vec<u8>,
    /// `statement.json` bytes.
    pub statement_bytes: Vec<u8>,
    /// The signature, raw.
    pub signature: Vec<u8>,
}

/// A package whose signature, digests and publisher have been checked.
#[derive(Debug, Clone)]
pub struct VerifiedPackage {
    /// The parsed manifest.
    pub manifest: Manifest,
    /// The component bytes.
    pub component: Vec<u8>,
    /// The signed statement.
    pub statement: Statement,
}

impl VerifiedPackage {
    /// SHA-256 of the component, hex: the identity of the code.
    pub fn component_digest(&self) -> &str {
        &self.statement.component_sha256
    }
}

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Package {
    /// Sign `component` and `manifest_text` with `key` into a package.
    /// The manifest is validated first.
    pub fn sign(manifest_text: &str, component: Vec<u8>, key: &SecretKey) -> Result<Package, PackageError> {
        let manifest = Manifest::parse(manifest_text)?;
        let statement = Statement {
            format: STATEMENT_FORMAT.into(),
            package: manifest.plugin.name.clone(),
            version: manifest.plugin.version.to_string(),
            wit: manifest.plugin.wit.to_string(),
            component_sha256: sha256_hex(&component),
            manifest_sha256: sha256_hex(manifest_text.as_bytes()),
            key_id: key.public().id(),
        };
        let statement_bytes = serde_json::to_vec_pretty(&statement).expect("a statement serialises");
        let signature = key.signing_key().sign(&statement_bytes).to_bytes().to_vec();
        Ok(Package { manifest_bytes: manifest_text.as_bytes().to_vec(), component, statement_bytes, signature })
    }

    /// The package as archive bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let signature_hex = hex::encode(&self.signature);
        for (name, data) in [
            ("manifest.toml", &self.manifest_bytes[..]),
            ("component.wasm", &self.component[..]),
            ("statement.json", &self.statement_bytes[..]),
            ("signature", signature_hex.as_bytes()),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, data).expect("writing to memory");
        }
        builder.into_inner().expect("writing to memory")
    }

    /// Write the package to `path`.
    ///
    /// The file appears whole or not at all (see [`crate::write_atomically`]).
    pub fn write(&self, path: &Path) -> Result<(), PackageError> {
        crate::write_atomically(path, &self.to_bytes())?;
        Ok(())
    }

    /// Read a package file.
    pub fn read(path: &Path) -> Result<Package, PackageError> {
        let len = std::fs::metadata(path)?.len();
        if len > MAX_PACKAGE_BYTES {
            return Err(PackageError::Format(format!("{len} bytes is over the {MAX_PACKAGE_BYTES}-byte limit")));
        }
        Package::from_bytes(&std::fs::read(path)?)
    }

    /// Parse archive bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Package, PackageError> {
        let format = |e: std::io::Error| PackageError::Format(e.to_string());
        let mut entries: [Option<Vec<u8>>; 4] = Default::default();
        const NAMES: [&str; 4] = ["manifest.toml", "component.wasm", "statement.json", "signature"];
        let mut archive = tar::Archive::new(bytes);
        for entry in archive.entries().map_err(format)? {
            let entry = entry.map_err(format)?;
            let name = entry.path().map_err(format)?.to_string_lossy().into_owned();
            let slot = NAMES
                .iter()
                .position(|n| *n == name)
                .ok_or_else(|| PackageError::Format(format!("unexpected entry `{name}`")))?;
            if entries[slot].is_some() {
                return Err(PackageError::Format(format!("entry `{name}` appears twice")));
            }
            let mut data = Vec::new();
            entry.take(MAX_PACKAGE_BYTES).read_to_end(&mut data).map_err(format)?;
            entries[slot] = Some(data);
        }
        let [manifest, component, statement, signature] = entries;
        let missing = |name: &str| PackageError::Format(format!("entry `{name}` is missing"));
        let signature = signature.ok_or_else(|| missing("signature"))?;
        let signature =
            hex::decode(signature.trim_ascii()).map_err(|_| PackageError::Format("signature is not hex".into()))?;
        Ok(Package {
            manifest_bytes: manifest.ok_or_else(|| missing("manifest.toml"))?,
            component: component.ok_or_else(|| missing("component.wasm"))?,
            statement_bytes: statement.ok_or_else(|| missing("statement.json"))?,
            signature,
        })
    }

    /// Check signature, digests and publisher against `trust`.
    pub fn verify(self, trust: &TrustStore) -> Result<VerifiedPackage, PackageError> {
        let statement: Statement = serde_json::from_slice(&self.statement_bytes)
            .map_err(|e| PackageError::Format(format!("statement.json: {e}")))?;
        if statement.format != STATEMENT_FORMAT {
            return Err(PackageError::Format(format!("unknown statement format `{}`", statement.format)));
        }
        let entry = trust.by_id(&statement.key_id).ok_or_else(|| PackageError::UntrustedKey {
            package: statement.package.clone(),
            key_id: statement.key_id.clone(),
        })?;
        let signature = Signature::from_slice(&self.signature).map_err(|_| PackageError::BadSignature)?;
        entry.key.verifying_key().verify(&self.statement_bytes, &signature).map_err(|_| PackageError::BadSignature)?;
        let publisher = statement.package.split_once('/').map_or("", |(p, _)| p);
        if !entry.publishers.iter().any(|p| p == publisher) {
            return Err(PackageError::KeyNotForPublisher {
                package: statement.package.clone(),
                key_id: statement.key_id.clone(),
                publisher: publisher.to_string(),
                trusted_for: entry.publishers.clone(),
            });
        }
        let component_sha256 = sha256_hex(&self.component);
        if component_sha256 != statement.component_sha256 {
            return Err(PackageError::ComponentAltered {
                actual: component_sha256,
                signed: statement.component_sha256,
            });
        }
        let manifest_sha256 = sha256_hex(&self.manifest_bytes);
        if manifest_sha256 != statement.manifest_sha256 {
            return Err(PackageError::ManifestAltered { actual: manifest_sha256, signed: statement.manifest_sha256 });
        }
        let text = std::str::from_utf8(&self.manifest_bytes)
            .map_err(|_| PackageError::Format("manifest.toml is not UTF-8".into()))?;
        let manifest = Manifest::parse(text)?;
        let mut mismatches = Vec::new();
        if manifest.plugin.name != statement.package {
            mismatches.push(format!("name {} vs {}", manifest.plugin.name, statement.package));
        }
        if manifest.plugin.version.to_string() != statement.version {
            mismatches.push(format!("version {} vs {}", manifest.plugin.version, statement.version));
        }
        if manifest.plugin.wit.to_string() != statement.wit {
            mismatches.push(format!("wit {} vs {}", manifest.plugin.wit, statement.wit));
        }
        if !mismatches.is_empty() {
            return Err(PackageError::StatementMismatch(mismatches.join(", ")));
        }
        debug_assert_eq!(key_id(&entry.key), statement.key_id);
        Ok(VerifiedPackage { manifest, component: self.component, statement })
    }
}

/// Read and verify a package file in one step.
pub fn load_verified(path: &Path, trust: &TrustStore) -> Result<VerifiedPackage, PackageError> {
    Package::read(path)?.verify(trust)
}

/// Convenience for tests and tools: the public half of `key` as a trust entry.
pub fn trust_for(key: &PublicKey, publisher: &str) -> TrustStore {
    let mut store = TrustStore::default();
    store.add(publisher, key.clone());
    store
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "[plugin]\nname = \"acme/crm\"\nversion = \"1.0.0\"\n[[node]]\nname = \"create\"\n";

    fn signed() -> (Package, SecretKey) {
        let key = SecretKey::generate();
        (Package::sign(MANIFEST, b"\0asm-component".to_vec(), &key).unwrap(), key)
    }

    #[test]
    fn a_signed_package_round_trips_and_verifies() {
        let (package, key) = signed();
        let again = Package::from_bytes(&package.to_bytes()).unwrap();
        let verified = again.verify(&trust_for(&key.public(), "acme")).unwrap();
        assert_eq!(verified.manifest.plugin.name, "acme/crm");
        assert_eq!(verified.component, b"\0asm-component");
        assert_eq!(verified.component_digest(), sha256_hex(b"\0asm-component"));
    }

    #[test]
    fn altered_component_is_refused_as_such() {
        let (mut package, key) = signed();
        package.component.push(0);
        let err = package.verify(&trust_for(&key.public(), "acme")).unwrap_err();
        assert!(matches!(err, PackageError::ComponentAltered { .. }), "{err}");
        assert!(err.to_string().contains("component was altered"));
    }

    #[test]
    fn altered_manifest_is_refused_as_such() {
        let (mut package, key) = signed();
        package.manifest_bytes = MANIFEST.replace("1.0.0", "1.0.1").into_bytes();
        let err = package.verify(&trust_for(&key.public(), "acme")).unwrap_err();
        assert!(matches!(err, PackageError::ManifestAltered { .. }), "{err}");
    }

    #[test]
    fn untrusted_key_and_wrong_publisher_are_refused() {
        let (package, _key) = signed();
        let stranger = SecretKey::generate();
        let err = package.clone().verify(&trust_for(&stranger.public(), "acme")).unwrap_err();
        assert!(matches!(err, PackageError::UntrustedKey { .. }), "{err}");
        assert!(err.to_string().contains("not in the trust store"));

        let (package, key) = signed();
        let err = package.verify(&trust_for(&key.public(), "globex")).unwrap_err();
        assert!(matches!(err, PackageError::KeyNotForPublisher { .. }), "{err}");
    }

    #[test]
    fn a_signature_cannot_be_replayed_under_another_name() {
        let (package, key) = signed();
        // Re-point the statement at another package: the signature no longer verifies.
        let mut forged = package.clone();
        let text = String::from_utf8(forged.statement_bytes.clone()).unwrap();
        forged.statement_bytes = text.replace("acme/crm", "acme/billing").into_bytes();
        let err = forged.verify(&trust_for(&key.public(), "acme")).unwrap_err();
        assert!(matches!(err, PackageError::BadSignature), "{err}");

        // Keep the statement but swap in a manifest of another name: digest mismatch.
        let mut swapped = package;
        swapped.manifest_bytes = MANIFEST.replace("acme/crm", "acme/billing").into_bytes();
        let err = swapped.verify(&trust_for(&key.public(), "acme")).unwrap_err();
        assert!(matches!(err, PackageError::ManifestAltered { .. }), "{err}");
    }

    #[test]
    fn garbage_is_not_a_package() {
        assert!(matches!(Package::from_bytes(b"not a tar file at all"), Err(PackageError::Format(_))));
    }
}
