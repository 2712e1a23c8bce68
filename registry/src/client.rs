//! The registry client: a verified view of a registry, downloads checked
//! against it, and signed requests (publish, yank, rotate, revoke).
//!
//! [`RegistryClient::view`] never trusts the registry's index: it fetches the
//! signed checkpoint and the whole log, checks every hash, link and registry
//! signature ([`crate::log::verify_chain`]), replays the log through the same
//! rules the registry applies ([`RegistryState::apply`]), and compares it with
//! what this client saw before, kept in a small JSON file (the *memory*):
//!
//! - the registry's key, pinned at first contact by URL: a registry that
//!   later answers with another key is refused;
//! - per registry key, the last log length and head: a log that is shorter
//!   (rollback) or whose entry at that length has another hash (fork, e.g. a
//!   second instance serving a forged history under the same key) is
//!   refused, and nothing is remembered from it;
//! - a checkpoint past its expiry is refused (a frozen registry or mirror).

use crate::keys::{PublicKey, SecretKey};
use crate::log::{
    verify_chain, Checkpoint, LogError, Operation, Record, RegistryState, SignedCheckpoint, SignedRequest, VersionInfo,
    EMPTY_HEAD,
};
use crate::package::{sha256_hex, Package};
use semver::Version;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

/// A `reqwest` client builder with Wirework's TLS: rustls on the `ring`
/// provider, trusting Mozilla's roots (`webpki-roots`). Every HTTP client of
/// the host and the registry starts here: reqwest is built without a crypto
/// provider of its own (`Cargo.toml` says why), so a plain
/// `reqwest::Client::new()` would panic for want of one.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    static TLS: LazyLock<rustls::ClientConfig> = LazyLock::new(|| {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("ring supports rustls's default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        // What reqwest offers itself when built with HTTP/1 only.
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        tls
    });
    reqwest::Client::builder().tls_backend_preconfigured(TLS.clone())
}

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The registry could not be reached or answered garbage.
    #[error("registry {url}: {message}")]
    Transport {
        /// The registry.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The registry refused a request (its own message).
    #[error("registry {url} refused ({status}): {message}")]
    Refused {
        /// The registry.
        url: String,
        /// HTTP status.
        status: u16,
        /// The registry's message.
        message: String,
    },
    /// The registry's view failed verification.
    #[error("registry {url}: {source}")]
    Verification {
        /// The registry.
        url: String,
        /// What failed.
        #[source]
        source: LogError,
    },
    /// The registry now answers with another key than the one pinned.
    #[error("registry {url} now presents key {now}, but key {pinned} was pinned at first contact: refusing (if the registry really changed its key, remove it from {memory})")]
    KeyChanged {
        /// The registry.
        url: String,
        /// The pinned key id.
        pinned: String,
        /// The key id it presents.
        now: String,
        /// The memory file.
        memory: String,
    },
    /// The registry presents another key than the one the caller expects.
    #[error("registry {url} presents key {now}, but the lockfile was written against its key {expected}: refusing")]
    UnexpectedKey {
        /// The registry.
        url: String,
        /// The key id expected.
        expected: String,
        /// The key id it presents.
        now: String,
    },
    /// A download does not match the digest the verified log records.
    #[error("{package} {version} from {url}: the download's sha256 is {actual}, the registry's log records {logged}")]
    DigestMismatch {
        /// The registry.
        url: String,
        /// The package.
        package: String,
        /// The version.
        version: String,
        /// Digest of what was downloaded.
        actual: String,
        /// Digest in the log.
        logged: String,
    },
    /// The memory file could not be read or written.
    #[error("{path}: {message}")]
    Memory {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// What a client remembers of registries (see the module docs).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    /// Registry key (`ed25519:...`) by URL.
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    /// Last verified log position by registry key id.
    #[serde(default)]
    pub heads: BTreeMap<String, Head>,
}

/// A log position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Entries.
    pub length: u64,
    /// Hash of the last one.
    pub head: String,
}

impl Memory {
    fn load(path: &Path) -> Result<Memory, ClientError> {
        let error = |message: String| ClientError::Memory { path: path.display().to_string(), message };
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| error(e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Memory::default()),
            Err(e) => Err(error(e.to_string())),
        }
    }

    /// Read the file at `path`, let `change` check and change it, and write
    /// it back if `change` says so (`Ok(true)`), all under a
    /// [`crate::FileLock`]. What `change` said.
    fn update(path: &Path, change: impl FnOnce(&mut Memory) -> Result<bool, ClientError>) -> Result<bool, ClientError> {
        let error = |message: String| ClientError::Memory { path: path.display().to_string(), message };
        let _lock = crate::lock_for_update(path).map_err(|e| error(e.to_string()))?;
        let mut memory = Memory::load(path)?;
        if !change(&mut memory)? {
            return Ok(false);
        }
        let text = serde_json::to_vec_pretty(&memory).expect("memory serialises");
        crate::write_atomically(path, &text).map_err(|e| error(e.to_string()))?;
        Ok(true)
    }
}

/// A registry as verified just now.
#[derive(Debug, Clone)]
pub struct View {
    /// The registry's URL.
    pub url: String,
    /// Its key.
    pub key: PublicKey,
    /// Whether the key was pinned by this call (first contact).
    pub first_contact: bool,
    /// The checkpoint the log was checked against.
    pub checkpoint: Checkpoint,
    /// The log, replayed.
    pub state: RegistryState,
}

impl View {
    /// The version `package` resolves to in `range` (see [`RegistryState::resolve`]).
    pub fn resolve(&self, package: &str, range: &semver::VersionReq) -> Option<&VersionInfo> {
        self.state.resolve(package, range)
    }

    /// One published version, yanked or not.
    pub fn version(&self, package: &str, version: &Version) -> Option<&VersionInfo> {
        self.state.packages.get(package)?.get(version)
    }
}

/// A client of one registry.
pub struct RegistryClient {
    url: String,
    http: reqwest::Client,
    memory: PathBuf,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Pages of this many records are fetched at a time.
const PAGE: u64 = 1000;

impl RegistryClient {
    /// A client of the registry at `url` (`http://host:port`), remembering
    /// what it verified in the JSON file `memory`.
    pub fn new(url: &str, memory: impl Into<PathBuf>) -> RegistryClient {
        let http = http_client_builder()
            .timeout(std::time::Duration::from_secs(120))
            .build()
            .expect("an HTTP client with default TLS builds");
        RegistryClient { url: url.trim_end_matches('/').to_string(), http, memory: memory.into() }
    }

    /// The registry's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn transport(&self, message: impl std::fmt::Display) -> ClientError {
        ClientError::Transport { url: self.url.clone(), message: message.to_string() }
    }

    async fn answer(&self, response: Result<reqwest::Response, reqwest::Error>) -> Result<Vec<u8>, ClientError> {
        let response = response.map_err(|e| self.transport(e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| self.transport(e))?.to_vec();
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            return Err(ClientError::Refused { url: self.url.clone(), status: status.as_u16(), message });
        }
        Ok(body)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let body = self.answer(self.http.get(format!("{}{path}", self.url)).send().await).await?;
        serde_json::from_slice(&body).map_err(|e| self.transport(format!("GET {path}: {e}")))
    }

    /// The key the registry presents (unverified: pinning is [`view`](Self::view)'s job).
    pub async fn presented_key(&self) -> Result<PublicKey, ClientError> {
        #[derive(Deserialize)]
        struct KeyAnswer {
            key: String,
        }
        let answer: KeyAnswer = self.get_json("/v1/key").await?;
        PublicKey::parse(&answer.key).map_err(|e| self.transport(format!("its key: {e}")))
    }

    /// Fetch, verify and replay the registry's log (see the module docs);
    /// remember its key and head.
    pub async fn view(&self) -> Result<View, ClientError> {
        self.view_expecting(None).await
    }

    /// [`view`](Self::view), refusing a registry whose key id is not
    /// `expected` (a lockfile's) before anything about it is remembered.
    pub async fn view_expecting(&self, expected: Option<&str>) -> Result<View, ClientError> {
        // Another client of this home may record a newer head while this one
        // fetches: then fetch again rather than call the older log a rollback.
        for _ in 0..3 {
            if let Some(view) = self.try_view(expected).await? {
                return Ok(view);
            }
        }
        Err(self.transport("the log kept moving while it was verified; retry"))
    }

    /// One attempt of [`view_expecting`](Self::view_expecting): `None` when
    /// the memory moved past the fetched log during the attempt.
    async fn try_view(&self, expected: Option<&str>) -> Result<Option<View>, ClientError> {
        let verification = |source: LogError| ClientError::Verification { url: self.url.clone(), source };
        let memory = Memory::load(&self.memory)?;
        let key = self.presented_key().await?;
        if let Some(expected) = expected.filter(|e| *e != key.id()) {
            return Err(ClientError::UnexpectedKey { url: self.url.clone(), expected: expected.into(), now: key.id() });
        }
        let first_contact = self.check_pin(&memory, &key)?;
        let signed: SignedCheckpoint = self.get_json("/v1/checkpoint").await?;
        let checkpoint = signed.open(&key, now_ms()).map_err(verification)?;
        if checkpoint.registry != key.id() {
            return Err(verification(LogError::Tampered("the checkpoint names another registry".into())));
        }
        let seen_before = memory.heads.get(&key.id()).map(|h| h.length);
        if let Some(seen) = seen_before {
            // Refuse a rollback before fetching the log (checked again below, under the lock).
            if checkpoint.length < seen {
                return Err(verification(rolled_back(checkpoint.length, seen)));
            }
        }
        let mut records: Vec<Record> = Vec::new();
        while (records.len() as u64) < checkpoint.length {
            #[derive(Deserialize)]
            struct Page {
                records: Vec<Record>,
            }
            let from = records.len() as u64;
            let page: Page = self.get_json(&format!("/v1/log?from={from}&limit={PAGE}")).await?;
            if page.records.is_empty() {
                return Err(verification(LogError::Tampered(format!(
                    "the checkpoint says {} entries, the log ends at {from}",
                    checkpoint.length
                ))));
            }
            records.extend(page.records);
        }
        records.truncate(checkpoint.length as usize);
        let (entries, head) = verify_chain(&records, &key, 0, EMPTY_HEAD).map_err(verification)?;
        if head != checkpoint.head {
            return Err(verification(LogError::Tampered("the log's head is not the checkpoint's".into())));
        }
        let mut state = RegistryState::default();
        for entry in &entries {
            state.apply(&entry.request, &key.id(), entry.time_ms).map_err(|e| {
                verification(LogError::Tampered(format!("entry {} breaks the registry's rules: {e}", entry.index)))
            })?;
        }
        // Compare with what this home has seen, and remember the new head, under
        // the memory's lock: another client may have moved on meanwhile.
        let remembered = Memory::update(&self.memory, |memory| {
            self.check_pin(memory, &key)?;
            if let Some(seen) = memory.heads.get(&key.id()) {
                if checkpoint.length < seen.length {
                    if seen_before.is_none_or(|before| before < seen.length) {
                        return Ok(false); // moved on meanwhile, by another client: fetch again
                    }
                    return Err(verification(rolled_back(checkpoint.length, seen.length)));
                }
                let then = if seen.length == 0 { EMPTY_HEAD } else { &records[seen.length as usize - 1].hash };
                if then != seen.head {
                    return Err(verification(LogError::Inconsistent(format!(
                        "entry {} differs from the one seen before: a forked history",
                        seen.length.saturating_sub(1)
                    ))));
                }
            }
            memory.keys.insert(self.url.clone(), key.to_string());
            memory.heads.insert(key.id(), Head { length: checkpoint.length, head: checkpoint.head.clone() });
            Ok(true)
        })?;
        Ok(remembered.then(|| View { url: self.url.clone(), key, first_contact, checkpoint, state }))
    }

    /// Refuse `key` if `memory` pinned another key for this registry's URL;
    /// whether nothing is pinned yet (first contact).
    fn check_pin(&self, memory: &Memory, key: &PublicKey) -> Result<bool, ClientError> {
        match memory.keys.get(&self.url) {
            Some(pinned) if *pinned != key.to_string() => Err(ClientError::KeyChanged {
                url: self.url.clone(),
                pinned: PublicKey::parse(pinned).map(|k| k.id()).unwrap_or_else(|_| pinned.clone()),
                now: key.id(),
                memory: self.memory.display().to_string(),
            }),
            Some(_) => Ok(false),
            None => Ok(true),
        }
    }

    /// Download one version and check it against the digest `view`'s log records.
    pub async fn download(&self, view: &View, package: &str, version: &Version) -> Result<Vec<u8>, ClientError> {
        let info = view.version(package, version).ok_or_else(|| ClientError::Refused {
            url: self.url.clone(),
            status: 404,
            message: format!("{package} {version} is not in the registry's log"),
        })?;
        let path = format!("/v1/packages/{package}/{version}");
        let bytes = self.answer(self.http.get(format!("{}{path}", self.url)).send().await).await?;
        let actual = sha256_hex(&bytes);
        if actual != info.package_sha256 {
            return Err(ClientError::DigestMismatch {
                url: self.url.clone(),
                package: package.to_string(),
                version: version.to_string(),
                actual,
                logged: info.package_sha256.clone(),
            });
        }
        Ok(bytes)
    }

    /// Sign `operation` with `key` for this registry and submit it; its log index.
    pub async fn submit(&self, operation: Operation, key: &SecretKey) -> Result<u64, ClientError> {
        let registry = self.presented_key().await?;
        let request = SignedRequest::sign(operation, &registry.id(), now_ms(), key);
        let body = serde_json::to_vec(&request).expect("a request serialises");
        let url = format!("{}/v1/requests", self.url);
        let answer =
            self.answer(self.http.post(url).header("content-type", "application/json").body(body).send().await);
        index_of(&answer.await?).ok_or_else(|| self.transport("no index in the answer"))
    }

    /// Publish a signed package with `key` (which must own its publisher
    /// namespace); claims the namespace first if nobody has. Its log index.
    pub async fn publish(&self, package_bytes: Vec<u8>, key: &SecretKey) -> Result<u64, ClientError> {
        let package = Package::from_bytes(&package_bytes).map_err(|e| self.transport(format!("not a package: {e}")))?;
        let manifest = std::str::from_utf8(&package.manifest_bytes)
            .ok()
            .and_then(|t| crate::Manifest::parse(t).ok())
            .ok_or_else(|| self.transport("the package's manifest does not parse"))?;
        let publisher = manifest.publisher().to_string();
        let claimed = self.http.get(format!("{}/v1/publishers/{publisher}", self.url)).send().await;
        if claimed.map_err(|e| self.transport(e))?.status() == reqwest::StatusCode::NOT_FOUND {
            self.submit(Operation::Claim { publisher, key: key.public().to_string() }, key).await?;
        }
        let registry = self.presented_key().await?;
        let operation = Operation::Publish {
            package: manifest.plugin.name.clone(),
            version: manifest.plugin.version.clone(),
            package_sha256: sha256_hex(&package_bytes),
            component_sha256: sha256_hex(&package.component),
            capabilities: manifest.capabilities.clone(),
            description: manifest.plugin.description.clone(),
        };
        let request = SignedRequest::sign(operation, &registry.id(), now_ms(), key);
        let header = ascii_json(&serde_json::to_string(&request).expect("a request serialises"));
        let url = format!("{}/v1/packages", self.url);
        let sent = self.http.post(url).header("wirework-request", header).body(package_bytes).send().await;
        index_of(&self.answer(sent).await?).ok_or_else(|| self.transport("no index in the answer"))
    }
}

fn rolled_back(length: u64, seen: u64) -> LogError {
    LogError::Inconsistent(format!("it has {length} entries, {seen} were seen before"))
}

fn index_of(body: &[u8]) -> Option<u64> {
    serde_json::from_slice::<serde_json::Value>(body).ok()?.get("index")?.as_u64()
}

/// `json` with every non-ASCII character escaped (`\uXXXX`), so it fits in
/// an HTTP header; the JSON value is unchanged.
fn ascii_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_json_is_ascii_and_means_the_same() {
        let text = serde_json::json!({"body": "caf\u{e9} \u{1f600}"}).to_string();
        let escaped = super::ascii_json(&text);
        assert!(escaped.is_ascii());
        let a: serde_json::Value = serde_json::from_str(&text).unwrap();
        let b: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn http_clients_build_with_the_ring_tls_config() {
        // reqwest takes the ready-made rustls config only when its rustls is
        // the very version this crate names; otherwise `build` fails here.
        super::http_client_builder().build().unwrap();
        super::http_client_builder().build().unwrap();
    }
}
