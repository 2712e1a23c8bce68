//! API tokens: bearer tokens, stored as SHA-256 digests only.
//!
//! A token is `ww_` and 32 random bytes in hex, so a fast digest suffices (it
//! cannot be guessed; a slow password hash would only slow every request).
//! Keys: `tk/{name}` holds a [`TokenRecord`]; `th/{digest}` maps a digest
//! back to its name for the per-request lookup.
//!
//! The first token is the admin token: `WIREWORK_ADMIN_TOKEN` when set (kept
//! under the name `admin`, replaced when the variable changes), else one
//! generated at the first start and printed once.

use crate::store::{Batch, Store};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What is kept of a token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Its name.
    pub name: String,
    /// SHA-256 of the token, hex.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub digest: String,
    /// When it was made.
    pub created_ms: u64,
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn name_key(name: &str) -> Vec<u8> {
    format!("tk/{name}").into_bytes()
}

fn digest_key(digest: &str) -> Vec<u8> {
    format!("th/{digest}").into_bytes()
}

/// The tokens of one server.
pub struct Tokens {
    store: Store,
}

impl Tokens {
    /// Tokens in `store`.
    pub fn new(store: Store) -> Tokens {
        Tokens { store }
    }

    /// Make sure an admin token exists: `configured` if given (replacing an
    /// earlier admin token), else a new one when there is no token at all.
    /// Returns a generated token, to show once.
    pub async fn bootstrap(&self, configured: Option<&str>) -> anyhow::Result<Option<String>> {
        match configured {
            Some(token) => {
                let existing = self.record("admin")?;
                if existing.is_none_or(|r| r.digest != digest(token)) {
                    self.put("admin", token).await?;
                }
                Ok(None)
            }
            None if self.store.scan_prefix(b"tk/").next().is_none() => {
                let token = new_token();
                self.put("admin", &token).await?;
                Ok(Some(token))
            }
            None => Ok(None),
        }
    }

    /// Make a token called `name` (replacing one of that name); returns it.
    pub async fn create(&self, name: &str) -> anyhow::Result<String> {
        let token = new_token();
        self.put(name, &token).await?;
        Ok(token)
    }

    async fn put(&self, name: &str, token: &str) -> anyhow::Result<()> {
        let mut batch = Batch::default();
        if let Some(old) = self.record(name)? {
            batch.delete(digest_key(&old.digest));
        }
        let record = TokenRecord { name: name.to_string(), digest: digest(token), created_ms: crate::engine::now_ms() };
        batch.put(digest_key(&record.digest), name.as_bytes().to_vec());
        batch.put(name_key(name), serde_json::to_vec(&record)?);
        self.store.commit(batch).await
    }

    fn record(&self, name: &str) -> anyhow::Result<Option<TokenRecord>> {
        Ok(self.store.get(&name_key(name))?.map(|b| serde_json::from_slice(&b)).transpose()?)
    }

    /// Revoke `name`; whether it existed.
    pub async fn revoke(&self, name: &str) -> anyhow::Result<bool> {
        let Some(record) = self.record(name)? else { return Ok(false) };
        let mut batch = Batch::default();
        batch.delete(digest_key(&record.digest));
        batch.delete(name_key(name));
        self.store.commit(batch).await?;
        Ok(true)
    }

    /// Every token's name and age (never digests).
    pub fn list(&self) -> anyhow::Result<Vec<TokenRecord>> {
        let mut found = Vec::new();
        for entry in self.store.scan_prefix(b"tk/") {
            let mut record: TokenRecord = serde_json::from_slice(&entry?.1)?;
            record.digest.clear();
            found.push(record);
        }
        Ok(found)
    }

    /// The name of the token `token`, if it is one.
    pub fn check(&self, token: &str) -> anyhow::Result<Option<String>> {
        self.check_digest(&digest(token))
    }

    /// The name of the token whose digest is `digest`, if it is still one
    /// (a studio session keeps the digest, never the token).
    pub fn check_digest(&self, digest: &str) -> anyhow::Result<Option<String>> {
        Ok(self.store.get(&digest_key(digest))?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// The digest a token is kept under.
    pub fn digest_of(token: &str) -> String {
        digest(token)
    }
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("ww_{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tokens_are_kept_hashed_and_can_be_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sled(dir.path()).unwrap();
        let tokens = Tokens::new(store.clone());
        let admin = tokens.bootstrap(None).await.unwrap().expect("a generated admin token");
        assert_eq!(tokens.bootstrap(None).await.unwrap(), None, "generated once");
        assert_eq!(tokens.check(&admin).unwrap().as_deref(), Some("admin"));
        let ci = tokens.create("ci").await.unwrap();
        assert_eq!(tokens.check(&ci).unwrap().as_deref(), Some("ci"));
        for entry in store.scan_prefix(b"") {
            let (_, value) = entry.unwrap();
            assert!(!String::from_utf8_lossy(&value).contains(&ci[3..]), "a token stored in the clear");
        }
        assert!(tokens.revoke("ci").await.unwrap());
        assert_eq!(tokens.check(&ci).unwrap(), None);
        // A configured admin token replaces the generated one.
        tokens.bootstrap(Some("configured-admin")).await.unwrap();
        assert_eq!(tokens.check(&admin).unwrap(), None);
        assert_eq!(tokens.check("configured-admin").unwrap().as_deref(), Some("admin"));
        assert_eq!(tokens.list().unwrap().len(), 1);
    }
}
