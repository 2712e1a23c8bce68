//! Credentials kept in the store, encrypted at rest.
//!
//! Each value is sealed with ChaCha20-Poly1305 under the server's 32-byte key,
//! a fresh random nonce per write, and the credential's name as associated
//! data (so a sealed value cannot be moved to another name). The key comes
//! from `WIREWORK_SECRET_KEY` (64 hex characters) or a key file (default
//! `secret.key` in the data directory, made with mode 0600 at first start).
//! Values are decrypted only when a node bound to them runs; the API lists
//! names, never values.
//!
//! Keys: `cr/{name}` holds a [`Sealed`] record.

use crate::engine::Credentials;
use crate::store::{Batch, Store};
use anyhow::{bail, Context};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One sealed credential.
#[derive(Serialize, Deserialize)]
struct Sealed {
    nonce: String,
    ciphertext: String,
    updated_ms: u64,
}

/// A credential's name and when it was last set.
#[derive(Debug, Clone, Serialize)]
pub struct CredentialInfo {
    /// Its name, as workflows bind it.
    pub name: String,
    /// When it was set (ms since the epoch).
    pub updated_ms: u64,
}

/// Credentials in the store.
pub struct SecretStore {
    store: Store,
    cipher: ChaCha20Poly1305,
}

/// Load the key: `hex` (from the environment) if given, else the key file,
/// made with a new random key when it does not exist yet.
pub fn load_key(hex_key: Option<&str>, file: &Path) -> anyhow::Result<[u8; 32]> {
    let text = match hex_key {
        Some(text) => text.to_string(),
        None => match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::thread_rng().fill_bytes(&mut key);
                write_private(file, &hex::encode(key))?;
                tracing::warn!(
                    file = %file.display(),
                    "made a new credential key; keep a copy apart from the data directory's backups"
                );
                return Ok(key);
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
        },
    };
    let bytes = hex::decode(text.trim()).context("the credential key is not hex")?;
    match <[u8; 32]>::try_from(bytes.as_slice()) {
        Ok(key) => Ok(key),
        Err(_) => bail!("the credential key must be 32 bytes (64 hex characters), not {}", bytes.len()),
    }
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// Whether `name` can name a credential: 1 to 128 of letters, digits, `-`, `_`, `.`.
pub fn valid_name(name: &str) -> bool {
    (1..=128).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn key_of(name: &str) -> Vec<u8> {
    format!("cr/{name}").into_bytes()
}

impl SecretStore {
    /// Credentials in `store`, sealed with `key`.
    pub fn new(store: Store, key: [u8; 32]) -> SecretStore {
        SecretStore { store, cipher: ChaCha20Poly1305::new(Key::from_slice(&key)) }
    }

    /// Set `name` to `value`, durably.
    pub async fn set(&self, name: &str, value: &str) -> anyhow::Result<()> {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: value.as_bytes(), aad: name.as_bytes() })
            .map_err(|_| anyhow::anyhow!("sealing a credential failed"))?;
        let sealed = Sealed {
            nonce: hex::encode(nonce),
            ciphertext: hex::encode(ciphertext),
            updated_ms: crate::engine::now_ms(),
        };
        let mut batch = Batch::default();
        batch.put(key_of(name), serde_json::to_vec(&sealed)?);
        self.store.commit(batch).await
    }

    /// Delete `name`; whether it existed.
    pub async fn delete(&self, name: &str) -> anyhow::Result<bool> {
        let existed = self.store.get(&key_of(name))?.is_some();
        let mut batch = Batch::default();
        batch.delete(key_of(name));
        self.store.commit(batch).await?;
        Ok(existed)
    }

    /// Every credential's name, without values.
    pub fn list(&self) -> anyhow::Result<Vec<CredentialInfo>> {
        let mut found = Vec::new();
        for entry in self.store.scan_prefix(b"cr/") {
            let (key, value) = entry?;
            let sealed: Sealed = serde_json::from_slice(&value).context("corrupt credential record")?;
            let name = String::from_utf8_lossy(&key[3..]).into_owned();
            found.push(CredentialInfo { name, updated_ms: sealed.updated_ms });
        }
        Ok(found)
    }

    fn open(&self, name: &str) -> anyhow::Result<Option<String>> {
        let Some(bytes) = self.store.get(&key_of(name))? else { return Ok(None) };
        let sealed: Sealed = serde_json::from_slice(&bytes).context("corrupt credential record")?;
        let nonce = hex::decode(&sealed.nonce).context("corrupt credential nonce")?;
        let ciphertext = hex::decode(&sealed.ciphertext).context("corrupt credential")?;
        if nonce.len() != 12 {
            bail!("corrupt credential nonce");
        }
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(&nonce), Payload { msg: &ciphertext, aad: name.as_bytes() })
            .map_err(|_| anyhow::anyhow!("credential `{name}` does not open with this key"))?;
        Ok(Some(String::from_utf8(plain).context("credential is not UTF-8")?))
    }
}

impl Credentials for SecretStore {
    fn get(&self, name: &str) -> Option<String> {
        match self.open(name) {
            Ok(value) => value,
            Err(e) => {
                tracing::error!(credential = %name, "{e:#}");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn values_are_sealed_bound_to_their_name_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sled(&dir.path().join("store")).unwrap();
        let key = load_key(None, &dir.path().join("secret.key")).unwrap();
        assert_eq!(load_key(None, &dir.path().join("secret.key")).unwrap(), key, "the key file is reused");
        let secrets = SecretStore::new(store.clone(), key);
        secrets.set("sendgrid", "SG.very-secret").await.unwrap();
        assert_eq!(secrets.get("sendgrid").as_deref(), Some("SG.very-secret"));
        let raw = store.get(b"cr/sendgrid").unwrap().unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("very-secret"), "stored in the clear");
        // Moved to another name, it does not open.
        let mut batch = Batch::default();
        batch.put(b"cr/other".to_vec(), raw);
        store.commit(batch).await.unwrap();
        assert_eq!(secrets.get("other"), None);
        // Another key does not open it either.
        let wrong = SecretStore::new(store.clone(), [7; 32]);
        assert_eq!(wrong.get("sendgrid"), None);
        assert_eq!(secrets.list().unwrap().len(), 2);
        assert!(secrets.delete("sendgrid").await.unwrap());
        assert_eq!(secrets.get("sendgrid"), None);
        assert!(load_key(Some("abcd"), Path::new("/nonexistent")).is_err());
    }
}
