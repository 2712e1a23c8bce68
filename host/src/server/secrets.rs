//! Credentials kept in the store, encrypted at rest.
//!
//! Each value is sealed with ChaCha20-Poly1305 under the server's 32-byte key,
//! a fresh random nonce per write, and the credential's name (and type) as
//! associated data (so a sealed value cannot be moved to another name or
//! given another type). A typed credential's fields are sealed together as
//! one JSON object; its type is kept in the clear beside them, so a deploy
//! checks bindings without opening anything. The key comes
//! from `WIREWORK_SECRET_KEY` (64 hex characters) or a key file (default
//! `secret.key` in the data directory, made with mode 0600 at first start).
//! Values are decrypted only when a node bound to them runs; the API lists
//! names, never values.
//!
//! Keys: `cr/{name}` holds a [`Sealed`] record.

use crate::engine::{CredentialValue, Credentials};
use crate::store::{Batch, Store};
use anyhow::{bail, Context};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One sealed credential.
#[derive(Serialize, Deserialize)]
struct Sealed {
    nonce: String,
    ciphertext: String,
    updated_ms: u64,
    /// A typed credential's type (`publisher/plugin:type`); none for a plain value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    /// A typed credential's field names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    fields: Vec<String>,
}

/// A credential's name, type and when it was last set: never its value.
#[derive(Debug, Clone, Serialize)]
pub struct CredentialInfo {
    /// Its name, as workflows bind it.
    pub name: String,
    /// When it was set (ms since the epoch).
    pub updated_ms: u64,
    /// Its type (`publisher/plugin:type`); absent for a plain value.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A typed credential's field names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

/// The associated data a value is sealed with: its name, and its type when it has one.
fn associated(name: &str, kind: Option<&str>) -> Vec<u8> {
    match kind {
        Some(kind) => format!("{name}\u{0}{kind}").into_bytes(),
        None => name.as_bytes().to_vec(),
    }
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
    pub async fn set(&self, name: &str, value: &CredentialValue) -> anyhow::Result<()> {
        let (plain, kind, fields) = match value {
            CredentialValue::Plain(value) => (value.clone(), None, Vec::new()),
            CredentialValue::Typed { kind, fields } => {
                (serde_json::to_string(fields)?, Some(kind.clone()), fields.keys().cloned().collect())
            }
        };
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let aad = associated(name, kind.as_deref());
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain.as_bytes(), aad: &aad })
            .map_err(|_| anyhow::anyhow!("sealing a credential failed"))?;
        let sealed = Sealed {
            nonce: hex::encode(nonce),
            ciphertext: hex::encode(ciphertext),
            updated_ms: crate::engine::now_ms(),
            kind,
            fields,
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
            found.push(CredentialInfo {
                name,
                updated_ms: sealed.updated_ms,
                kind: sealed.kind,
                fields: sealed.fields,
            });
        }
        Ok(found)
    }

    fn sealed(&self, name: &str) -> anyhow::Result<Option<Sealed>> {
        let Some(bytes) = self.store.get(&key_of(name))? else { return Ok(None) };
        Ok(Some(serde_json::from_slice(&bytes).context("corrupt credential record")?))
    }

    fn open(&self, name: &str) -> anyhow::Result<Option<CredentialValue>> {
        let Some(sealed) = self.sealed(name)? else { return Ok(None) };
        let nonce = hex::decode(&sealed.nonce).context("corrupt credential nonce")?;
        let ciphertext = hex::decode(&sealed.ciphertext).context("corrupt credential")?;
        if nonce.len() != 12 {
            bail!("corrupt credential nonce");
        }
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload { msg: &ciphertext, aad: &associated(name, sealed.kind.as_deref()) },
            )
            .map_err(|_| anyhow::anyhow!("credential `{name}` does not open with this key"))?;
        let plain = String::from_utf8(plain).context("credential is not UTF-8")?;
        Ok(Some(match sealed.kind {
            None => CredentialValue::Plain(plain),
            Some(kind) => {
                let fields: BTreeMap<String, String> = serde_json::from_str(&plain).context("corrupt credential")?;
                CredentialValue::Typed { kind, fields }
            }
        }))
    }
}

impl Credentials for SecretStore {
    fn kind(&self, name: &str) -> Option<Option<String>> {
        match self.sealed(name) {
            Ok(sealed) => sealed.map(|s| s.kind),
            Err(e) => {
                tracing::error!(credential = %name, "{e:#}");
                None
            }
        }
    }

    fn get(&self, name: &str) -> Option<CredentialValue> {
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
        secrets.set("sendgrid", &CredentialValue::Plain("SG.very-secret".into())).await.unwrap();
        assert_eq!(secrets.get("sendgrid"), Some(CredentialValue::Plain("SG.very-secret".into())));
        let fields: BTreeMap<String, String> = [("token".to_string(), "ghp_very-secret".to_string())].into();
        let typed = CredentialValue::Typed { kind: "wirework/http:bearer".into(), fields };
        secrets.set("github", &typed).await.unwrap();
        assert_eq!(secrets.get("github"), Some(typed));
        assert_eq!(secrets.kind("github"), Some(Some("wirework/http:bearer".to_string())));
        assert_eq!(secrets.kind("sendgrid"), Some(None));
        // Given another type in the clear, it does not open.
        let mut record: serde_json::Value = serde_json::from_slice(&store.get(b"cr/github").unwrap().unwrap()).unwrap();
        record["kind"] = "wirework/http:basic".into();
        let mut batch = Batch::default();
        batch.put(b"cr/github".to_vec(), serde_json::to_vec(&record).unwrap());
        store.commit(batch).await.unwrap();
        assert_eq!(secrets.get("github"), None);
        assert!(secrets.delete("github").await.unwrap());
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
