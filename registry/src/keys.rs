//! Publisher keys (ed25519) and the operator's trust store.

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::Path;

const SECRET_PREFIX: &str = "wirework-secret-key:";
const PUBLIC_PREFIX: &str = "ed25519:";

/// Why a key or trust store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The text is not a key of the expected kind.
    #[error("not a valid {kind}: {reason}")]
    Malformed {
        /// `public key`, `secret key` or `trust store`.
        kind: &'static str,
        /// What is wrong.
        reason: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io { path: path.display().to_string(), source }
}

/// A publisher's public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parse `ed25519:<64 hex digits>` (the prefix is optional).
    pub fn parse(text: &str) -> Result<PublicKey, KeyError> {
        let malformed = |reason: &str| KeyError::Malformed { kind: "public key", reason: reason.into() };
        let text = text.trim();
        let hex_part = text.strip_prefix(PUBLIC_PREFIX).unwrap_or(text);
        let bytes: [u8; 32] = hex::decode(hex_part)
            .map_err(|_| malformed("expected `ed25519:` and 64 hex digits"))?
            .try_into()
            .map_err(|_| malformed("expected 32 bytes"))?;
        VerifyingKey::from_bytes(&bytes).map(PublicKey).map_err(|_| malformed("not a curve point"))
    }

    /// The key's id: the first 16 hex digits of the SHA-256 of its bytes.
    pub fn id(&self) -> String {
        key_id(self)
    }

    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_PREFIX}{}", hex::encode(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id())
    }
}

/// The id of a public key, as named in signed statements.
pub fn key_id(key: &PublicKey) -> String {
    hex::encode(&Sha256::digest(key.0.as_bytes())[..8])
}

/// A publisher's secret signing key.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A new random key.
    pub fn generate() -> SecretKey {
        SecretKey(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.0
    }

    /// Read a key written by [`SecretKey::write`].
    pub fn read(path: &Path) -> Result<SecretKey, KeyError> {
        let text = std::fs::read_to_string(path).map_err(io_error(path))?;
        let malformed = |reason: &str| KeyError::Malformed { kind: "secret key", reason: reason.into() };
        let hex_part = text.trim().strip_prefix(SECRET_PREFIX).ok_or_else(|| malformed("missing prefix"))?;
        let bytes: [u8; 32] = hex::decode(hex_part)
            .map_err(|_| malformed("not hex"))?
            .try_into()
            .map_err(|_| malformed("expected 32 bytes"))?;
        Ok(SecretKey(SigningKey::from_bytes(&bytes)))
    }

    /// Write the key to `path` (readable by its owner only) and the public key to
    /// `path` with `.pub` appended. Refuses to overwrite an existing key.
    pub fn write(&self, path: &Path) -> Result<(), KeyError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(io_error(path))?;
        let text = format!("{SECRET_PREFIX}{}\n", hex::encode(self.0.to_bytes()));
        std::io::Write::write_all(&mut file, text.as_bytes()).map_err(io_error(path))?;
        let public_path = public_key_path(path);
        std::fs::write(&public_path, format!("{}\n", self.public())).map_err(io_error(&public_path))
    }
}

/// Where [`SecretKey::write`] puts the public half of the key at `path`.
pub fn public_key_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".pub");
    name.into()
}

/// One trusted key and the publisher namespaces it may sign for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustEntry {
    /// The key.
    pub key: PublicKey,
    /// Publishers (the part before `/` in package names) it signs for.
    pub publishers: Vec<String>,
}

/// The keys an operator (or author) trusts, and for which publishers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustStore {
    entries: Vec<TrustEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustFile {
    #[serde(default, rename = "key")]
    keys: Vec<TrustFileEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustFileEntry {
    /// Informational: recomputed from `key` on load.
    id: Option<String>,
    key: String,
    publishers: Vec<String>,
}

impl TrustStore {
    /// Load a trust store file; a missing file is an empty store.
    pub fn load(path: &Path) -> Result<TrustStore, KeyError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TrustStore::default()),
            Err(e) => return Err(io_error(path)(e)),
        };
        let file: TrustFile = toml::from_str(&text)
            .map_err(|e| KeyError::Malformed { kind: "trust store", reason: format!("{}: {e}", path.display()) })?;
        let entries = file
            .keys
            .into_iter()
            .map(|e| Ok(TrustEntry { key: PublicKey::parse(&e.key)?, publishers: e.publishers }))
            .collect::<Result<_, KeyError>>()?;
        Ok(TrustStore { entries })
    }

    /// Write the store to `path`, atomically.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        let file = TrustFile {
            keys: self
                .entries
                .iter()
                .map(|e| TrustFileEntry {
                    id: Some(e.key.id()),
                    key: e.key.to_string(),
                    publishers: e.publishers.clone(),
                })
                .collect(),
        };
        let text = toml::to_string_pretty(&file).expect("a trust store serialises");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        }
        // Two builds may trust keys at once: neither may tear the other's file.
        crate::write_atomically(path, text.as_bytes()).map_err(io_error(path))
    }

    /// Trust `key` for `publisher` in the store file at `path`: read, added
    /// and written under a [`crate::FileLock`], so concurrent writers lose
    /// nothing. Returns whether anything changed.
    pub fn add_to_file(path: &Path, publisher: &str, key: PublicKey) -> Result<bool, KeyError> {
        let _lock = crate::lock_for_update(path).map_err(io_error(path))?;
        let mut store = TrustStore::load(path)?;
        let changed = store.add(publisher, key);
        if changed {
            store.save(path)?;
        }
        Ok(changed)
    }

    /// Trust `key` for `publisher` (in addition to what it is trusted for already).
    /// Returns whether anything changed.
    pub fn add(&mut self, publisher: &str, key: PublicKey) -> bool {
        match self.entries.iter_mut().find(|e| e.key == key) {
            Some(entry) if entry.publishers.iter().any(|p| p == publisher) => false,
            Some(entry) => {
                entry.publishers.push(publisher.to_string());
                true
            }
            None => {
                self.entries.push(TrustEntry { key, publishers: vec![publisher.to_string()] });
                true
            }
        }
    }

    /// The entry for a key id.
    pub fn by_id(&self, id: &str) -> Option<&TrustEntry> {
        self.entries.iter().find(|e| e.key.id() == id)
    }

    /// All entries.
    pub fn entries(&self) -> &[TrustEntry] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_trust_store_survive_a_round_trip_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate();
        let path = dir.path().join("keys/default.key");
        key.write(&path).unwrap();
        assert!(key.write(&path).is_err(), "an existing key is never overwritten");
        let again = SecretKey::read(&path).unwrap();
        assert_eq!(again.public(), key.public());
        let public = std::fs::read_to_string(public_key_path(&path)).unwrap();
        assert_eq!(PublicKey::parse(&public).unwrap(), key.public());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }

        let mut trust = TrustStore::default();
        assert!(trust.add("acme", key.public()));
        assert!(!trust.add("acme", key.public()));
        assert!(trust.add("globex", key.public()));
        let store_path = dir.path().join("trust.toml");
        trust.save(&store_path).unwrap();
        let loaded = TrustStore::load(&store_path).unwrap();
        assert_eq!(loaded, trust);
        assert_eq!(loaded.by_id(&key.public().id()).unwrap().publishers, ["acme", "globex"]);
        assert_eq!(TrustStore::load(&dir.path().join("none.toml")).unwrap(), TrustStore::default());
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert!(PublicKey::parse("ed25519:abcd").is_err());
        assert!(PublicKey::parse("not a key").is_err());
    }
}
