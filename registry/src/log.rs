//! The registry's tamper-evident log and the state it describes.
//!
//! Every change a registry accepts (a namespace claimed, a version published,
//! yanked or unyanked, a key rotated, a key or digest revoked) is a
//! [`SignedRequest`]: an [`Operation`] signed by the publisher's key. The
//! registry appends it to a hash chain: each [`Entry`] names the hash of the
//! one before it, and the registry signs every entry's hash with its own key.
//! A [`Checkpoint`] (length, head hash, time, expiry), freshly signed, says
//! what the log is *now*.
//!
//! A client never trusts the registry's index: it fetches the log, checks
//! every link and signature, replays the operations into a [`RegistryState`]
//! (which re-checks every publisher signature) and compares the head with the
//! one it saw last ([`crate::client`]). A registry that serves a shorter log
//! (rollback), a different history (fork) or a stale checkpoint (freeze) is
//! refused, in the spirit of TUF and the Bytecode Alliance's warg.
//!
//! The server runs the very same [`RegistryState::apply`] before it appends,
//! so what it accepts is exactly what clients will accept on replay.

use crate::keys::{PublicKey, SecretKey};
use crate::manifest::Capabilities;
use ed25519_dalek::{Signature, Signer, Verifier};
use semver::Version;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// How far a request's time may be from the registry's clock.
pub const REQUEST_CLOCK_SKEW_MS: u64 = 10 * 60 * 1000;

/// How long a checkpoint is valid after it is signed: a client that only
/// gets older checkpoints notices a registry (or mirror) that stopped moving.
pub const CHECKPOINT_VALIDITY_MS: u64 = 5 * 60 * 1000;

/// The head of an empty log.
pub const EMPTY_HEAD: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a publisher asks the registry to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Operation {
    /// Bind an unclaimed publisher namespace to `key` (signed by that key).
    Claim {
        /// The namespace.
        publisher: String,
        /// Its key, `ed25519:<hex>`.
        key: String,
    },
    /// Publish one version (signed by the namespace's key, which must also
    /// have signed the package's statement).
    Publish {
        /// `publisher/name`.
        package: String,
        /// The version; versions are immutable.
        version: Version,
        /// SHA-256 of the whole `.wwpkg` file: what a client downloads.
        package_sha256: String,
        /// SHA-256 of the component: the identity of the code.
        component_sha256: String,
        /// What the manifest requests, for display before download.
        capabilities: Capabilities,
        /// The manifest's one-line description.
        #[serde(default)]
        description: String,
    },
    /// Keep a version out of range resolution (it still installs by exact pin).
    Yank {
        /// `publisher/name`.
        package: String,
        /// The version.
        version: Version,
    },
    /// Undo a yank.
    Unyank {
        /// `publisher/name`.
        package: String,
        /// The version.
        version: Version,
    },
    /// Replace the namespace's key (signed by the current key).
    RotateKey {
        /// The namespace.
        publisher: String,
        /// The new key, `ed25519:<hex>`.
        new_key: String,
        /// The new key's signature over [`rotation_proof`]: proof that whoever
        /// rotates holds the new key, so a typo cannot lock a namespace out.
        new_key_proof: String,
    },
    /// Revoke a key of the namespace (current or past): every package it
    /// signed stops loading. Revoking the current key freezes the namespace.
    RevokeKey {
        /// The namespace.
        publisher: String,
        /// The revoked key's id.
        key_id: String,
    },
    /// Revoke one component digest of one of the namespace's packages.
    RevokeDigest {
        /// `publisher/name`.
        package: String,
        /// The revoked component's SHA-256.
        component_sha256: String,
    },
}

impl Operation {
    /// The version the operation names, if it names one.
    pub fn version(&self) -> Option<&Version> {
        match self {
            Operation::Publish { version, .. }
            | Operation::Yank { version, .. }
            | Operation::Unyank { version, .. } => Some(version),
            _ => None,
        }
    }

    /// The namespace the operation acts on.
    pub fn publisher(&self) -> &str {
        match self {
            Operation::Claim { publisher, .. }
            | Operation::RotateKey { publisher, .. }
            | Operation::RevokeKey { publisher, .. } => publisher,
            Operation::Publish { package, .. }
            | Operation::Yank { package, .. }
            | Operation::Unyank { package, .. }
            | Operation::RevokeDigest { package, .. } => package.split_once('/').map_or("", |(p, _)| p),
        }
    }
}

/// The text [`Operation::RotateKey`]'s new key signs.
pub fn rotation_proof(publisher: &str, new_key: &str) -> String {
    format!("wirework-rotate-key:{publisher}:{new_key}")
}

/// What a publisher signs: the operation, the registry it is meant for and
/// when (so a request cannot be replayed at another registry, or much later).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestBody {
    /// The registry's key id.
    pub registry: String,
    /// Milliseconds since the Unix epoch, on the publisher's clock.
    pub time_ms: u64,
    /// What to do.
    pub operation: Operation,
}

/// A [`RequestBody`] with the publisher's signature over its exact text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRequest {
    /// The JSON text of a [`RequestBody`], exactly as signed.
    pub body: String,
    /// The signing key's id.
    pub key_id: String,
    /// ed25519 signature over `body`, hex.
    pub signature: String,
}

impl SignedRequest {
    /// Sign `operation` for the registry whose key id is `registry`.
    pub fn sign(operation: Operation, registry: &str, time_ms: u64, key: &SecretKey) -> SignedRequest {
        let body = RequestBody { registry: registry.to_string(), time_ms, operation };
        let body = serde_json::to_string(&body).expect("a request serialises");
        let signature = hex::encode(key.signing_key().sign(body.as_bytes()).to_bytes());
        SignedRequest { body, key_id: key.public().id(), signature }
    }

    /// The body, parsed.
    pub fn parse(&self) -> Result<RequestBody, LogError> {
        serde_json::from_str(&self.body).map_err(|e| LogError::Malformed(format!("request body: {e}")))
    }

    /// Whether `key` signed the body.
    pub fn signed_by(&self, key: &PublicKey) -> bool {
        key.id() == self.key_id && verify_hex(key, self.body.as_bytes(), &self.signature)
    }
}

/// Sign `message` with `key`, hex.
pub fn sign_hex(key: &SecretKey, message: &[u8]) -> String {
    hex::encode(key.signing_key().sign(message).to_bytes())
}

/// Whether `signature` (128 lower-case hex digits, the one spelling
/// [`sign_hex`] writes) is `key`'s over `message`.
pub fn verify_hex(key: &PublicKey, message: &[u8], signature: &str) -> bool {
    if signature.len() != 128 || !signature.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return false;
    }
    let Ok(bytes) = hex::decode(signature) else { return false };
    let Ok(signature) = Signature::from_slice(&bytes) else { return false };
    key.verifying_key().verify(message, &signature).is_ok()
}

/// One link of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Position, from 0.
    pub index: u64,
    /// Hash of the entry before ([`EMPTY_HEAD`] for the first).
    pub prev: String,
    /// When the registry appended it (ms since the epoch).
    pub time_ms: u64,
    /// The publisher's signed request.
    pub request: SignedRequest,
}

/// An [`Entry`] as stored and served: its exact text, its hash and the
/// registry's signature over the hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The JSON text of the entry.
    pub entry: String,
    /// SHA-256 of `entry`, hex.
    pub hash: String,
    /// The registry's signature over `hash` (its ASCII hex), hex.
    pub signature: String,
}

impl Record {
    /// Seal `entry` with the registry's key.
    pub fn seal(entry: &Entry, registry: &SecretKey) -> Record {
        let text = serde_json::to_string(entry).expect("an entry serialises");
        let hash = hex::encode(Sha256::digest(text.as_bytes()));
        let signature = sign_hex(registry, hash.as_bytes());
        Record { entry: text, hash, signature }
    }

    /// Check the hash and the registry's signature; the entry, parsed.
    pub fn open(&self, registry: &PublicKey) -> Result<Entry, LogError> {
        if hex::encode(Sha256::digest(self.entry.as_bytes())) != self.hash {
            return Err(LogError::Tampered("an entry's text does not match its hash".into()));
        }
        if !verify_hex(registry, self.hash.as_bytes(), &self.signature) {
            return Err(LogError::Tampered("an entry is not signed by the registry's key".into()));
        }
        serde_json::from_str(&self.entry).map_err(|e| LogError::Malformed(format!("log entry: {e}")))
    }
}

/// What the log is at a moment, signed by the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The registry's key id.
    pub registry: String,
    /// Entries in the log.
    pub length: u64,
    /// Hash of the last entry ([`EMPTY_HEAD`] when empty).
    pub head: String,
    /// When it was signed (ms since the epoch).
    pub time_ms: u64,
    /// After this, a client refuses it as stale.
    pub expires_ms: u64,
}

/// A [`Checkpoint`]'s exact text and the registry's signature over it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedCheckpoint {
    /// The JSON text of the checkpoint.
    pub checkpoint: String,
    /// The registry's signature over `checkpoint`, hex.
    pub signature: String,
}

impl SignedCheckpoint {
    /// Sign `checkpoint`.
    pub fn sign(checkpoint: &Checkpoint, registry: &SecretKey) -> SignedCheckpoint {
        let text = serde_json::to_string(checkpoint).expect("a checkpoint serialises");
        let signature = sign_hex(registry, text.as_bytes());
        SignedCheckpoint { checkpoint: text, signature }
    }

    /// Check the signature and the expiry (against `now_ms`).
    pub fn open(&self, registry: &PublicKey, now_ms: u64) -> Result<Checkpoint, LogError> {
        if !verify_hex(registry, self.checkpoint.as_bytes(), &self.signature) {
            return Err(LogError::Tampered("the checkpoint is not signed by the registry's key".into()));
        }
        let checkpoint: Checkpoint =
            serde_json::from_str(&self.checkpoint).map_err(|e| LogError::Malformed(format!("checkpoint: {e}")))?;
        if checkpoint.expires_ms < now_ms {
            return Err(LogError::Stale { signed_ms: checkpoint.time_ms, expired_ms: checkpoint.expires_ms, now_ms });
        }
        Ok(checkpoint)
    }
}

/// Why a log, an entry or a request is refused.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Not the expected shape.
    #[error("malformed {0}")]
    Malformed(String),
    /// A hash, link or registry signature does not check out.
    #[error("the registry's log was tampered with: {0}")]
    Tampered(String),
    /// The log is shorter than, or differs from, what this client saw before.
    #[error("the registry's log does not extend the one seen before ({0}): refusing a rolled-back or forked registry")]
    Inconsistent(String),
    /// The newest checkpoint expired: the registry (or a mirror) stopped moving.
    #[error("the registry's checkpoint is stale: signed at {signed_ms} ms, expired at {expired_ms} ms, now {now_ms} ms (a frozen registry or mirror)")]
    Stale {
        /// When it was signed.
        signed_ms: u64,
        /// When it expired.
        expired_ms: u64,
        /// The client's clock.
        now_ms: u64,
    },
    /// A well-formed request the registry's rules refuse.
    #[error("{message}")]
    Refused {
        /// What kind of refusal (an HTTP server maps it to a status).
        kind: Refusal,
        /// What is wrong.
        message: String,
    },
}

/// Kinds of [`LogError::Refused`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The signer has no authority over the namespace (HTTP 403).
    Forbidden,
    /// It conflicts with what is already there: a claimed namespace, an
    /// existing version, a replayed request (HTTP 409).
    Conflict,
    /// Anything else (HTTP 422).
    Invalid,
}

fn refused(kind: Refusal, message: impl Into<String>) -> LogError {
    LogError::Refused { kind, message: message.into() }
}

/// One published version, as the log describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// The version.
    pub version: Version,
    /// SHA-256 of the `.wwpkg` file.
    pub package_sha256: String,
    /// SHA-256 of the component.
    pub component_sha256: String,
    /// Id of the key that published it.
    pub key_id: String,
    /// What the manifest requests.
    pub capabilities: Capabilities,
    /// Out of range resolution.
    pub yanked: bool,
    /// Its component digest or its key was revoked.
    pub revoked: bool,
    /// When it was published (ms since the epoch).
    pub published_ms: u64,
    /// The manifest's description.
    pub description: String,
}

/// A publisher namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publisher {
    /// The current key.
    pub key: String,
    /// Every key the namespace has had, oldest first, current last.
    pub keys: Vec<String>,
}

/// Keys and component digests that must not load any more, each scoped to
/// the namespace or package whose publisher revoked it (nobody can revoke
/// another publisher's package by publishing the same bytes or key).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocations {
    /// Revoked key ids, by publisher.
    pub keys: BTreeMap<String, BTreeSet<String>>,
    /// Revoked component digests, by package, each with the ids of every key
    /// the revoking namespace had then: a revocation stops only builds signed
    /// by those keys, so a namespace of the same name on another registry
    /// cannot revoke a component it merely republished.
    pub digests: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

impl Revocations {
    /// Why package `name`'s component `digest`, signed by `key_id`, must not
    /// load, if it must not.
    ///
    /// Key revocations need no such scoping: a namespace lists a key only
    /// if the key itself signed its claim or rotation.
    pub fn reason(&self, name: &str, digest: &str, key_id: &str) -> Option<String> {
        if self.digests.get(name).and_then(|d| d.get(digest)).is_some_and(|keys| keys.contains(key_id)) {
            return Some(format!("its component {digest} was revoked by the publisher of {name}"));
        }
        let publisher = name.split_once('/').map_or(name, |(p, _)| p);
        if self.is_key_revoked(publisher, key_id) {
            return Some(format!("its signing key {key_id} was revoked by publisher `{publisher}`"));
        }
        None
    }

    /// Whether `publisher` revoked `key_id`.
    pub fn is_key_revoked(&self, publisher: &str, key_id: &str) -> bool {
        self.keys.get(publisher).is_some_and(|k| k.contains(key_id))
    }

    /// How many keys and digests are revoked.
    pub fn counts(&self) -> (usize, usize) {
        (self.keys.values().map(BTreeSet::len).sum(), self.digests.values().map(BTreeMap::len).sum())
    }

    /// Add everything in `other`.
    pub fn merge(&mut self, other: &Revocations) {
        for (publisher, keys) in &other.keys {
            self.keys.entry(publisher.clone()).or_default().extend(keys.iter().cloned());
        }
        for (package, digests) in &other.digests {
            let ours = self.digests.entry(package.clone()).or_default();
            for (digest, keys) in digests {
                ours.entry(digest.clone()).or_default().extend(keys.iter().cloned());
            }
        }
    }
}

/// What a log says, replayed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryState {
    /// Namespaces by name.
    pub publishers: BTreeMap<String, Publisher>,
    /// Versions by package, by version.
    pub packages: BTreeMap<String, BTreeMap<Version, VersionInfo>>,
    /// What was revoked.
    pub revocations: Revocations,
    /// SHA-256 of the bodies of requests already in the log: a signed body
    /// counts once, however its signature is spelled.
    seen: BTreeSet<String>,
}

impl RegistryState {
    /// Check `request` against the state as the registry `registry` (key id)
    /// at `now_ms`, and apply it. Refused requests change nothing.
    ///
    /// `now_ms` is the entry's time: on replay, the time the registry appended it.
    pub fn apply(&mut self, request: &SignedRequest, registry: &str, now_ms: u64) -> Result<(), LogError> {
        let refuse = |m: String| Err(refused(Refusal::Invalid, m));
        let forbid = |m: String| Err(refused(Refusal::Forbidden, m));
        let conflict = |m: String| Err(refused(Refusal::Conflict, m));
        let body = request.parse()?;
        if body.registry != registry {
            return forbid(format!("the request is signed for registry {}, not this one ({registry})", body.registry));
        }
        if body.time_ms.abs_diff(now_ms) > REQUEST_CLOCK_SKEW_MS {
            return refuse("the request's time is more than 10 minutes from the registry's clock".into());
        }
        let op = &body.operation;
        let publisher = op.publisher();
        if !valid_name(publisher) {
            return refuse(format!("`{publisher}` is not a valid publisher name ({NAME_RULE})"));
        }
        if let Some(version) = op.version().filter(|v| !v.build.is_empty()) {
            // `1.2.0+x` would be a second, distinct key for the same release.
            return refuse(format!(
                "version {version} has build metadata (`+...`): publish plain `x.y.z[-pre]` versions"
            ));
        }
        // Who may sign: the claimed key for a claim, else the namespace's current key.
        let signer = match (op, self.publishers.get(publisher)) {
            (Operation::Claim { .. }, Some(_)) => {
                return conflict(format!("publisher `{publisher}` is already claimed"))
            }
            (Operation::Claim { key, .. }, None) => parse_key(key)?,
            (_, None) => return forbid(format!("publisher `{publisher}` is not claimed on this registry")),
            (_, Some(p)) => parse_key(&p.key)?,
        };
        if self.revocations.is_key_revoked(publisher, &signer.id()) {
            return forbid(format!("key {} of `{publisher}` is revoked", signer.id()));
        }
        if !request.signed_by(&signer) {
            return forbid(format!(
                "the request is not signed by the key that owns `{publisher}` (expected key {}, signed as {})",
                signer.id(),
                request.key_id
            ));
        }
        let body_digest = hex::encode(Sha256::digest(request.body.as_bytes()));
        if self.seen.contains(&body_digest) {
            return conflict("this exact request was already applied (replay)".into());
        }
        match op {
            Operation::Claim { .. } => {
                let key = signer.to_string();
                self.publishers.insert(publisher.to_string(), Publisher { key: key.clone(), keys: vec![key] });
            }
            Operation::Publish { package, version, package_sha256, component_sha256, capabilities, description } => {
                if !package.split_once('/').is_some_and(|(_, n)| valid_name(n)) {
                    return refuse(format!("`{package}` is not a valid package name (publisher/name, {NAME_RULE})"));
                }
                for digest in [package_sha256, component_sha256] {
                    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return refuse(format!("`{digest}` is not a SHA-256 digest"));
                    }
                }
                if self.packages.get(package).is_some_and(|v| v.contains_key(version)) {
                    return conflict(format!("{package} {version} already exists: published versions are immutable"));
                }
                if self.revocations.digests.get(package).is_some_and(|d| d.contains_key(component_sha256)) {
                    return refuse(format!(
                        "component {component_sha256} of {package} was revoked: publish a fixed build"
                    ));
                }
                self.packages.entry(package.clone()).or_default().insert(
                    version.clone(),
                    VersionInfo {
                        version: version.clone(),
                        package_sha256: package_sha256.clone(),
                        component_sha256: component_sha256.clone(),
                        key_id: signer.id(),
                        capabilities: capabilities.clone(),
                        yanked: false,
                        revoked: self.revocations.reason(package, component_sha256, &signer.id()).is_some(),
                        published_ms: now_ms,
                        description: description.clone(),
                    },
                );
            }
            Operation::Yank { package, version } | Operation::Unyank { package, version } => {
                let Some(info) = self.packages.get_mut(package).and_then(|v| v.get_mut(version)) else {
                    return refuse(format!("{package} {version} is not published here"));
                };
                info.yanked = matches!(op, Operation::Yank { .. });
            }
            Operation::RotateKey { new_key, new_key_proof, .. } => {
                let parsed = parse_key(new_key)?;
                if !verify_hex(&parsed, rotation_proof(publisher, new_key).as_bytes(), new_key_proof) {
                    return refuse(
                        "the new key's proof does not verify: sign the rotation with the new key too".into(),
                    );
                }
                let entry = self.publishers.get_mut(publisher).expect("checked above");
                let new_key = parsed.to_string();
                if entry.keys.contains(&new_key) {
                    return conflict("the new key was already used by this publisher".into());
                }
                entry.key = new_key.clone();
                entry.keys.push(new_key);
            }
            Operation::RevokeKey { key_id, .. } => {
                let entry = &self.publishers[publisher];
                if !entry.keys.iter().any(|k| parse_key(k).is_ok_and(|k| &k.id() == key_id)) {
                    return refuse(format!("key {key_id} never belonged to `{publisher}`"));
                }
                self.revocations.keys.entry(publisher.to_string()).or_default().insert(key_id.clone());
                for info in self.packages.iter_mut().filter(|(n, _)| n.starts_with(&format!("{publisher}/"))) {
                    for v in info.1.values_mut().filter(|v| &v.key_id == key_id) {
                        v.revoked = true;
                    }
                }
            }
            Operation::RevokeDigest { package, component_sha256 } => {
                let Some(versions) = self.packages.get_mut(package) else {
                    return refuse(format!("{package} is not published here"));
                };
                let mut found = false;
                for v in versions.values_mut().filter(|v| &v.component_sha256 == component_sha256) {
                    v.revoked = true;
                    found = true;
                }
                if !found {
                    return refuse(format!("no version of {package} has component {component_sha256}"));
                }
                // Every key the namespace has had: each proved it belongs to it.
                let keys = self.key_chain(publisher).iter().map(PublicKey::id).collect::<Vec<_>>();
                let revoked = self.revocations.digests.entry(package.clone()).or_default();
                revoked.entry(component_sha256.clone()).or_default().extend(keys);
            }
        }
        self.seen.insert(body_digest);
        Ok(())
    }

    /// The highest version of `package` matching `range`, yanked and revoked
    /// versions left out; an exact pin (`=1.2.3`) also finds a yanked version.
    pub fn resolve(&self, package: &str, range: &semver::VersionReq) -> Option<&VersionInfo> {
        let versions = self.packages.get(package)?;
        let exact = exact_pin(range);
        versions
            .values()
            .rev()
            .find(|v| !v.revoked && range.matches(&v.version) && (!v.yanked || exact.as_ref() == Some(&v.version)))
    }

    /// The key ids `publisher` has had: a trusted one vouches for the later
    /// ones (each rotation was signed by the key before it).
    pub fn key_chain(&self, publisher: &str) -> Vec<PublicKey> {
        self.publishers
            .get(publisher)
            .map(|p| p.keys.iter().filter_map(|k| PublicKey::parse(k).ok()).collect())
            .unwrap_or_default()
    }
}

/// The version an `=x.y.z` requirement pins, if it is one.
pub fn exact_pin(range: &semver::VersionReq) -> Option<Version> {
    match range.comparators.as_slice() {
        [c] if c.op == semver::Op::Exact => Some(Version {
            major: c.major,
            minor: c.minor?,
            patch: c.patch?,
            pre: c.pre.clone(),
            build: Default::default(),
        }),
        _ => None,
    }
}

fn parse_key(text: &str) -> Result<PublicKey, LogError> {
    PublicKey::parse(text).map_err(|e| refused(Refusal::Invalid, e.to_string()))
}

pub use crate::manifest::{valid_name, NAME_RULE};

/// Check a run of records against `registry`'s key, starting after `prev`
/// (the head before the first record) at index `start`: every hash, link,
/// registry signature and index. The entries, and the new head.
pub fn verify_chain(
    records: &[Record],
    registry: &PublicKey,
    start: u64,
    prev: &str,
) -> Result<(Vec<Entry>, String), LogError> {
    let mut head = prev.to_string();
    let mut entries = Vec::with_capacity(records.len());
    for (offset, record) in records.iter().enumerate() {
        let entry = record.open(registry)?;
        let index = start + offset as u64;
        if entry.index != index {
            return Err(LogError::Tampered(format!("entry {index} says it is entry {}", entry.index)));
        }
        if entry.prev != head {
            return Err(LogError::Tampered(format!("entry {index} does not link to the entry before it")));
        }
        head = record.hash.clone();
        entries.push(entry);
    }
    Ok((entries, head))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REG: &str = "reg";

    /// A publish whose component digest is made from the version.
    fn publish(package: &str, version: &str, key: &SecretKey, now: u64) -> SignedRequest {
        publish_component(package, version, &format!("{:0>64}", version.replace('.', "")), key, now)
    }

    fn publish_component(package: &str, version: &str, component: &str, key: &SecretKey, now: u64) -> SignedRequest {
        let op = Operation::Publish {
            package: package.into(),
            version: Version::parse(version).unwrap(),
            package_sha256: "a".repeat(64),
            component_sha256: component.into(),
            capabilities: Capabilities::default(),
            description: String::new(),
        };
        SignedRequest::sign(op, REG, now, key)
    }

    fn claim(publisher: &str, key: &SecretKey, now: u64) -> SignedRequest {
        SignedRequest::sign(
            Operation::Claim { publisher: publisher.into(), key: key.public().to_string() },
            REG,
            now,
            key,
        )
    }

    #[test]
    fn only_the_namespace_key_publishes_and_versions_are_immutable() {
        let (owner, stranger) = (SecretKey::generate(), SecretKey::generate());
        let mut state = RegistryState::default();
        state.apply(&claim("acme", &owner, 1), REG, 1).unwrap();
        let err = state.apply(&claim("acme", &stranger, 2), REG, 2).unwrap_err();
        assert!(err.to_string().contains("already claimed"), "{err}");
        let err = state.apply(&publish("acme/crm", "1.0.0", &stranger, 3), REG, 3).unwrap_err();
        assert!(err.to_string().contains("not signed by the key that owns `acme`"), "{err}");
        state.apply(&publish("acme/crm", "1.0.0", &owner, 4), REG, 4).unwrap();
        let err = state.apply(&publish("acme/crm", "1.0.0", &owner, 5), REG, 5).unwrap_err();
        assert!(err.to_string().contains("immutable"), "{err}");
        let err = state.apply(&publish("acme/crm", "1.0.0+other-build", &owner, 6), REG, 6).unwrap_err();
        assert!(err.to_string().contains("build metadata"), "{err}");
        assert!(!state.packages["acme/crm"].keys().any(|v| !v.build.is_empty()), "nothing stored");
        let err = state.apply(&publish("acme/crm", "1.1.0", &owner, 7), "other", 7).unwrap_err();
        assert!(err.to_string().contains("signed for registry"), "{err}");
        let err =
            state.apply(&publish("acme/crm", "1.1.0", &owner, 7), REG, 7 + REQUEST_CLOCK_SKEW_MS + 1).unwrap_err();
        assert!(err.to_string().contains("10 minutes"), "{err}");
    }

    #[test]
    fn a_request_counts_once_however_its_signature_is_spelled() {
        let owner = SecretKey::generate();
        let mut state = RegistryState::default();
        state.apply(&claim("acme", &owner, 1), REG, 1).unwrap();
        state.apply(&publish("acme/crm", "1.0.0", &owner, 2), REG, 2).unwrap();
        let version = Version::parse("1.0.0").unwrap();
        let yank = SignedRequest::sign(
            Operation::Yank { package: "acme/crm".into(), version: version.clone() },
            REG,
            3,
            &owner,
        );
        state.apply(&yank, REG, 3).unwrap();
        let unyank = Operation::Unyank { package: "acme/crm".into(), version: version.clone() };
        state.apply(&SignedRequest::sign(unyank, REG, 4, &owner), REG, 4).unwrap();
        // Replaying the yank would otherwise succeed: it is refused as a replay.
        let err = state.apply(&yank, REG, 5).unwrap_err();
        assert!(err.to_string().contains("replay"), "{err}");
        // The same signature in upper case neither verifies nor sneaks past.
        let shouted = SignedRequest { signature: yank.signature.to_uppercase(), ..yank.clone() };
        assert!(!shouted.signed_by(&owner.public()));
        assert!(state.apply(&shouted, REG, 5).is_err());
        assert!(!state.packages["acme/crm"][&version].yanked, "still unyanked");
    }

    #[test]
    fn resolution_skips_yanked_versions_unless_pinned_exactly() {
        let owner = SecretKey::generate();
        let mut state = RegistryState::default();
        state.apply(&claim("acme", &owner, 1), REG, 1).unwrap();
        for (i, v) in ["1.2.0", "1.3.0", "2.0.0"].iter().enumerate() {
            state.apply(&publish("acme/crm", v, &owner, 2 + i as u64), REG, 2 + i as u64).unwrap();
        }
        let range = |r: &str| semver::VersionReq::parse(r).unwrap();
        assert_eq!(state.resolve("acme/crm", &range("^1.2")).unwrap().version.to_string(), "1.3.0");
        let yank = Operation::Yank { package: "acme/crm".into(), version: Version::parse("1.3.0").unwrap() };
        state.apply(&SignedRequest::sign(yank, REG, 9, &owner), REG, 9).unwrap();
        assert_eq!(state.resolve("acme/crm", &range("^1.2")).unwrap().version.to_string(), "1.2.0");
        assert_eq!(state.resolve("acme/crm", &range("=1.3.0")).unwrap().version.to_string(), "1.3.0");
        assert!(state.resolve("acme/crm", &range("^3")).is_none());
    }

    #[test]
    fn rotation_needs_both_keys_and_revocation_marks_versions() {
        let (old, new) = (SecretKey::generate(), SecretKey::generate());
        let mut state = RegistryState::default();
        state.apply(&claim("acme", &old, 1), REG, 1).unwrap();
        state.apply(&publish("acme/crm", "1.0.0", &old, 2), REG, 2).unwrap();
        let new_key = new.public().to_string();
        let bad =
            Operation::RotateKey { publisher: "acme".into(), new_key: new_key.clone(), new_key_proof: "00".into() };
        assert!(state.apply(&SignedRequest::sign(bad, REG, 3, &old), REG, 3).is_err());
        let proof = sign_hex(&new, rotation_proof("acme", &new_key).as_bytes());
        let rotate = Operation::RotateKey { publisher: "acme".into(), new_key, new_key_proof: proof };
        state.apply(&SignedRequest::sign(rotate, REG, 4, &old), REG, 4).unwrap();
        assert!(state.apply(&publish("acme/crm", "1.1.0", &old, 5), REG, 5).is_err(), "the old key no longer signs");
        state.apply(&publish("acme/crm", "1.1.0", &new, 6), REG, 6).unwrap();
        assert_eq!(state.key_chain("acme"), vec![old.public(), new.public()]);
        let revoke = Operation::RevokeKey { publisher: "acme".into(), key_id: old.public().id() };
        state.apply(&SignedRequest::sign(revoke, REG, 7, &new), REG, 7).unwrap();
        let v100 = &state.packages["acme/crm"][&Version::parse("1.0.0").unwrap()];
        assert!(v100.revoked);
        assert!(state.revocations.reason("acme/crm", &v100.component_sha256, &old.public().id()).is_some());
        assert!(
            state.revocations.reason("globex/crm", &v100.component_sha256, &old.public().id()).is_none(),
            "a revocation is scoped to the namespace that made it"
        );
        assert!(state.resolve("acme/crm", &semver::VersionReq::parse("=1.0.0").unwrap()).is_none());
    }

    #[test]
    fn a_digest_revocation_stops_only_the_revoking_publishers_builds() {
        let (owner, impostor) = (SecretKey::generate(), SecretKey::generate());
        let mut state = RegistryState::default();
        state.apply(&claim("acme", &owner, 1), REG, 1).unwrap();
        state.apply(&publish("acme/crm", "1.0.0", &owner, 2), REG, 2).unwrap();
        let digest = state.packages["acme/crm"][&Version::parse("1.0.0").unwrap()].component_sha256.clone();
        let revoke = Operation::RevokeDigest { package: "acme/crm".into(), component_sha256: digest.clone() };
        state.apply(&SignedRequest::sign(revoke, REG, 3, &owner), REG, 3).unwrap();
        assert!(state.revocations.reason("acme/crm", &digest, &owner.public().id()).is_some());
        assert!(
            state.revocations.reason("acme/crm", &digest, &impostor.public().id()).is_none(),
            "the same component signed by another key (another registry's `acme`) is not this revocation's"
        );
        let again = publish_component("acme/crm", "1.0.1", &digest, &owner, 4);
        let err = state.apply(&again, REG, 4).unwrap_err();
        assert!(err.to_string().contains("was revoked"), "a revoked build is not published again: {err}");
        let mut merged = Revocations::default();
        merged.merge(&state.revocations);
        merged.merge(&state.revocations);
        assert_eq!(merged, state.revocations);
        assert_eq!(merged.counts(), (0, 1));
    }

    #[test]
    fn a_chain_detects_altered_reordered_and_foreign_entries() {
        let registry = SecretKey::generate();
        let owner = SecretKey::generate();
        let mut records = Vec::new();
        let mut head = EMPTY_HEAD.to_string();
        for (i, request) in [claim("acme", &owner, 1), publish("acme/crm", "1.0.0", &owner, 2)].into_iter().enumerate()
        {
            let record = Record::seal(&Entry { index: i as u64, prev: head.clone(), time_ms: 1, request }, &registry);
            head = record.hash.clone();
            records.push(record);
        }
        let (entries, got) = verify_chain(&records, &registry.public(), 0, EMPTY_HEAD).unwrap();
        assert_eq!((entries.len(), got), (2, head));
        let mut altered = records.clone();
        altered[1].entry = altered[1].entry.replace("1.0.0", "1.0.1");
        assert!(matches!(verify_chain(&altered, &registry.public(), 0, EMPTY_HEAD), Err(LogError::Tampered(_))));
        let swapped = vec![records[1].clone(), records[0].clone()];
        assert!(verify_chain(&swapped, &registry.public(), 0, EMPTY_HEAD).is_err());
        let other = SecretKey::generate();
        assert!(verify_chain(&records, &other.public(), 0, EMPTY_HEAD).is_err());
        let checkpoint = Checkpoint { registry: "r".into(), length: 2, head: "h".into(), time_ms: 1, expires_ms: 10 };
        let signed = SignedCheckpoint::sign(&checkpoint, &registry);
        assert_eq!(signed.open(&registry.public(), 5).unwrap(), checkpoint);
        assert!(matches!(signed.open(&registry.public(), 11), Err(LogError::Stale { .. })));
        assert!(signed.open(&other.public(), 5).is_err());
    }
}
