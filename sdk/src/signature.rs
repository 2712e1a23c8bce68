//! Verifying the signatures that services put on their webhooks.
//!
//! Each provider function checks one scheme and returns `Ok` only for a
//! request signed with the given secret; a
//! [`SignatureError`](crate::signature::SignatureError) says what was wrong
//! without ever containing the secret. Signatures are compared in constant
//! time. Header arguments are `Option<&str>` so that
//! [`Request::header`](crate::Request::header) can be passed straight in:
//!
//! ```no_run
//! use wirework_sdk::{clock, secrets, signature, NodeError, Request};
//!
//! fn check(request: &Request) -> Result<i64, NodeError> {
//!     let secret = secrets::get("stripe_webhook_secret")?;
//!     let timestamp = signature::verify_stripe(
//!         &request.body,
//!         request.header("stripe-signature"),
//!         &secret,
//!         clock::now_unix_ms(),
//!         signature::STRIPE_TOLERANCE_SECS,
//!     )?;
//!     Ok(timestamp)
//! }
//! ```
//!
//! The signature is checked before the timestamp, so
//! [`OutsideTolerance`](crate::signature::SignatureError::OutsideTolerance)
//! means an authentic but stale (replayed or delayed) request, and
//! [`Mismatch`](crate::signature::SignatureError::Mismatch) a forged one or a
//! wrong secret. Timestamps are rejected when they are too far from the host
//! clock in either direction.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Stripe's default tolerance for the `t=` timestamp, in seconds.
pub const STRIPE_TOLERANCE_SECS: u64 = 300;
/// Slack's tolerance for `X-Slack-Request-Timestamp`, in seconds.
pub const SLACK_TOLERANCE_SECS: u64 = 300;
/// HubSpot's tolerance for `X-HubSpot-Request-Timestamp`, in seconds.
pub const HUBSPOT_TOLERANCE_SECS: u64 = 300;
/// A tolerance for SendGrid's `X-Twilio-Email-Event-Webhook-Timestamp`, in
/// seconds. SendGrid documents none. It retries a failed POST for up to 24
/// hours, but each attempt carries (and signs) its own timestamp, so the
/// window only has to cover transit and clock skew: 10 minutes refuses a
/// replay of a captured request after that while leaving room for a slow hop.
pub const SENDGRID_TOLERANCE_SECS: u64 = 600;

/// Why a webhook signature was rejected. It never holds the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureError {
    /// A header, or a required part of one, is absent or empty (its name, e.g.
    /// `X-Slack-Signature` or `v1`).
    Missing(&'static str),
    /// A header, or a part of one, is not in the expected format (which one).
    Malformed(&'static str),
    /// Signed, but the timestamp is too far from the host clock.
    OutsideTolerance {
        /// Seconds between the timestamp and now; negative if it is in the future.
        age_secs: i64,
        /// The tolerance that was applied, in seconds.
        tolerance_secs: u64,
    },
    /// The signature was not made with this secret over this request.
    Mismatch,
}

impl SignatureError {
    /// A stable machine-readable code: `signature_missing`, `signature_malformed`,
    /// `signature_expired` or `signature_mismatch`.
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::Missing(_) => "signature_missing",
            SignatureError::Malformed(_) => "signature_malformed",
            SignatureError::OutsideTolerance { .. } => "signature_expired",
            SignatureError::Mismatch => "signature_mismatch",
        }
    }
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignatureError::Missing(what) => write!(f, "signature: `{what}` is missing"),
            SignatureError::Malformed(what) => write!(f, "signature: `{what}` is malformed"),
            SignatureError::OutsideTolerance { age_secs, tolerance_secs } if *age_secs < 0 => write!(
                f,
                "signature: timestamp is {} s in the future (tolerance {tolerance_secs} s)",
                age_secs.unsigned_abs()
            ),
            SignatureError::OutsideTolerance { age_secs, tolerance_secs } => {
                write!(f, "signature: timestamp is {age_secs} s old (tolerance {tolerance_secs} s)")
            }
            SignatureError::Mismatch => write!(f, "signature does not match"),
        }
    }
}

impl std::error::Error for SignatureError {}

impl From<SignatureError> for crate::NodeError {
    /// A fatal error with the [`SignatureError::code`]; a trigger returning it
    /// has the request refused.
    fn from(e: SignatureError) -> Self {
        crate::NodeError::fatal(e.to_string()).with_code(e.code())
    }
}

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    mac_sha256(key, &[message])
}

/// HMAC-SHA256 of `message` under `key`, as lower-case hex.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    to_hex(&hmac_sha256(key, message))
}

/// HMAC-SHA256 of `message` under `key`, as standard padded base64.
pub fn hmac_sha256_base64(key: &[u8], message: &[u8]) -> String {
    BASE64.encode(hmac_sha256(key, message))
}

/// HMAC-SHA1 of `message` under `key` (Twilio's scheme).
pub fn hmac_sha1(key: &[u8], message: &[u8]) -> [u8; 20] {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA1 of `message` under `key`, as standard padded base64.
pub fn hmac_sha1_base64(key: &[u8], message: &[u8]) -> String {
    BASE64.encode(hmac_sha1(key, message))
}

/// Whether `a` and `b` are equal, in time that depends only on their lengths.
/// Use it, never `==`, to compare a computed signature with a received one.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Accept `ts_secs` (Unix seconds) if it is at most `tolerance_secs` away from
/// `now_ms` (the host clock, Unix milliseconds, e.g. `clock::now_unix_ms()`),
/// in either direction.
pub fn check_timestamp(ts_secs: i64, now_ms: u64, tolerance_secs: u64) -> Result<(), SignatureError> {
    check_window(i128::from(ts_secs) * 1000, now_ms, tolerance_secs)
}

/// Verify Stripe's `Stripe-Signature` header (`t=...,v1=...[,v1=...]`): a
/// lower-case hex HMAC-SHA256 of `{t}.{payload}` under the endpoint's signing
/// secret (`whsec_...`, used whole as the key). Any one matching `v1` is
/// enough (Stripe sends one per active secret while a secret is rolled);
/// `v0` and other schemes are ignored. `payload` is the raw body, unparsed.
/// Returns the signed timestamp (Unix seconds).
pub fn verify_stripe(
    payload: &[u8],
    header: Option<&str>,
    secret: &str,
    now_ms: u64,
    tolerance_secs: u64,
) -> Result<i64, SignatureError> {
    let header = present(header, "Stripe-Signature")?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let Some((key, value)) = item.split_once('=') else { continue };
        match key.trim() {
            "t" if timestamp.is_none() => timestamp = Some(value.trim()),
            "v1" => signatures.push(value.trim()),
            _ => {}
        }
    }
    let timestamp = timestamp.filter(|t| !t.is_empty()).ok_or(SignatureError::Missing("t"))?;
    let ts: i64 = timestamp.parse().map_err(|_| SignatureError::Malformed("t"))?;
    if signatures.is_empty() {
        return Err(SignatureError::Missing("v1"));
    }
    let expected = mac_sha256(secret.as_bytes(), &[timestamp.as_bytes(), b".", payload]);
    // Check every candidate so the time taken does not say which one matched.
    let mut matched = false;
    for signature in signatures {
        if let Some(given) = from_hex(signature) {
            matched |= constant_time_eq(&expected, &given);
        }
    }
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    check_timestamp(ts, now_ms, tolerance_secs)?;
    Ok(ts)
}

/// Verify Twilio's `X-Twilio-Signature` header for a form-encoded request:
/// base64 HMAC-SHA1, under the account's auth token, of the full URL Twilio
/// requested (scheme, host, path and query, as configured in Twilio) followed
/// by every POST parameter sorted by key, each key immediately followed by its
/// value (values of a repeated key in sorted order). `params` are the decoded
/// body pairs, e.g. from [`form::decode`](crate::form::decode); for a GET
/// request pass none. As Twilio's own libraries do, the URL is also tried
/// without its port and, if it has none, with the scheme's default port.
pub fn verify_twilio<K: AsRef<str>, V: AsRef<str>>(
    url: &str,
    params: &[(K, V)],
    header: Option<&str>,
    auth_token: &str,
) -> Result<(), SignatureError> {
    let given = base64_signature(header, "X-Twilio-Signature")?;
    let mut sorted: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
    sorted.sort_unstable();
    let mut matched = false;
    for candidate in twilio_url_variants(url) {
        let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes keys of any length");
        mac.update(candidate.as_bytes());
        for (key, value) in &sorted {
            mac.update(key.as_bytes());
            mac.update(value.as_bytes());
        }
        matched |= constant_time_eq(&mac.finalize().into_bytes(), &given);
    }
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Verify Twilio's `X-Twilio-Signature` for a request with a raw (e.g. JSON)
/// body: Twilio then adds `bodySHA256=<hex SHA-256 of the body>` to the URL's
/// query and signs the URL alone. Checks both the signature and the body hash.
pub fn verify_twilio_body(
    url: &str,
    body: &[u8],
    header: Option<&str>,
    auth_token: &str,
) -> Result<(), SignatureError> {
    verify_twilio::<&str, &str>(url, &[], header, auth_token)?;
    let query = url.split_once('?').map(|(_, q)| q.split('#').next().unwrap_or(q)).unwrap_or("");
    let hash = crate::form::decode(query)
        .into_iter()
        .find(|(k, _)| k == "bodySHA256")
        .map(|(_, v)| v)
        .ok_or(SignatureError::Missing("bodySHA256"))?;
    let hash = from_hex(&hash).ok_or(SignatureError::Malformed("bodySHA256"))?;
    if constant_time_eq(&Sha256::digest(body), &hash) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Verify HubSpot's `X-HubSpot-Signature-v3` header: base64 HMAC-SHA256,
/// under the app's client secret, of `method + uri + body + timestamp`, where
/// `timestamp` is the `X-HubSpot-Request-Timestamp` header (Unix milliseconds)
/// exactly as sent and must be within [`HUBSPOT_TOLERANCE_SECS`] of `now_ms`.
/// `uri` is the full URL HubSpot requested (`https://...`); the escapes HubSpot
/// says to decode (`%3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B`) are
/// decoded here, so the URL may be passed as received.
pub fn verify_hubspot_v3(
    method: &str,
    uri: &str,
    body: &[u8],
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    client_secret: &str,
    now_ms: u64,
) -> Result<(), SignatureError> {
    let given = base64_signature(signature_header, "X-HubSpot-Signature-v3")?;
    let timestamp = present(timestamp_header, "X-HubSpot-Request-Timestamp")?;
    let ts_ms: i64 = timestamp.parse().map_err(|_| SignatureError::Malformed("X-HubSpot-Request-Timestamp"))?;
    let uri = hubspot_decode_uri(uri);
    let expected =
        mac_sha256(client_secret.as_bytes(), &[method.as_bytes(), uri.as_bytes(), body, timestamp.as_bytes()]);
    if !constant_time_eq(&expected, &given) {
        return Err(SignatureError::Mismatch);
    }
    check_window(i128::from(ts_ms), now_ms, HUBSPOT_TOLERANCE_SECS)
}

/// Verify Slack's `X-Slack-Signature` header: `v0=` and the lower-case hex
/// HMAC-SHA256, under the app's signing secret, of `v0:{timestamp}:{body}`,
/// where `timestamp` is the `X-Slack-Request-Timestamp` header (Unix seconds)
/// and must be within [`SLACK_TOLERANCE_SECS`] of `now_ms`. `body` is raw.
pub fn verify_slack(
    body: &[u8],
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    signing_secret: &str,
    now_ms: u64,
) -> Result<(), SignatureError> {
    let signature = present(signature_header, "X-Slack-Signature")?;
    let timestamp = present(timestamp_header, "X-Slack-Request-Timestamp")?;
    let ts: i64 = timestamp.parse().map_err(|_| SignatureError::Malformed("X-Slack-Request-Timestamp"))?;
    let given = prefixed_hex(signature, "v0=", "X-Slack-Signature")?;
    let expected = mac_sha256(signing_secret.as_bytes(), &[b"v0:", timestamp.as_bytes(), b":", body]);
    if !constant_time_eq(&expected, &given) {
        return Err(SignatureError::Mismatch);
    }
    check_timestamp(ts, now_ms, SLACK_TOLERANCE_SECS)
}

/// Verify GitHub's `X-Hub-Signature-256` header: `sha256=` and the lower-case
/// hex HMAC-SHA256 of the raw body under the webhook's secret. GitHub's scheme
/// has no timestamp; use the `X-GitHub-Delivery` id to drop replays.
pub fn verify_github(body: &[u8], signature_header: Option<&str>, secret: &str) -> Result<(), SignatureError> {
    let signature = present(signature_header, "X-Hub-Signature-256")?;
    let given = prefixed_hex(signature, "sha256=", "X-Hub-Signature-256")?;
    if constant_time_eq(&hmac_sha256(secret.as_bytes(), body), &given) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Verify SendGrid's signed Event Webhook: `X-Twilio-Email-Event-Webhook-Signature`
/// is the base64 of an ASN.1 DER ECDSA P-256 signature, over SHA-256, of the
/// `X-Twilio-Email-Event-Webhook-Timestamp` header (Unix seconds, exactly as
/// sent) immediately followed by the raw body (`payload`, unparsed: SendGrid
/// ends it with `\r\n`, which is signed too). `public_key` is the
/// verification key SendGrid shows (Mail Settings, Signed Event Webhook): the
/// base64 of a DER SubjectPublicKeyInfo, with or without the PEM armour
/// (`-----BEGIN PUBLIC KEY-----`). The timestamp must be within
/// `tolerance_secs` of `now_ms` (see [`SENDGRID_TOLERANCE_SECS`]).
///
/// The key is checked first: one that does not parse as a P-256 public key is
/// `Malformed("public key")` whatever the request, a configuration error
/// rather than a forged request. A signature of either `s` form (low or high)
/// is accepted, as SendGrid's own libraries do.
pub fn verify_sendgrid(
    payload: &[u8],
    signature_header: Option<&str>,
    timestamp_header: Option<&str>,
    public_key: &str,
    now_ms: u64,
    tolerance_secs: u64,
) -> Result<(), SignatureError> {
    use p256::ecdsa::signature::DigestVerifier;
    use p256::ecdsa::{Signature, VerifyingKey};
    use p256::pkcs8::DecodePublicKey;

    let key = sendgrid_public_key_der(public_key).ok_or(SignatureError::Malformed("public key"))?;
    let key = VerifyingKey::from_public_key_der(&key).map_err(|_| SignatureError::Malformed("public key"))?;
    const SIGNATURE: &str = "X-Twilio-Email-Event-Webhook-Signature";
    const TIMESTAMP: &str = "X-Twilio-Email-Event-Webhook-Timestamp";
    let given = base64_signature(signature_header, SIGNATURE)?;
    let timestamp = present(timestamp_header, TIMESTAMP)?;
    let ts: i64 = timestamp.parse().map_err(|_| SignatureError::Malformed(TIMESTAMP))?;
    let signature = Signature::from_der(&given).map_err(|_| SignatureError::Malformed(SIGNATURE))?;
    let digest = Sha256::new().chain_update(timestamp.as_bytes()).chain_update(payload);
    // RustCrypto's P-256 verification takes both `s` forms; no normalisation needed.
    key.verify_digest(digest, &signature).map_err(|_| SignatureError::Mismatch)?;
    check_timestamp(ts, now_ms, tolerance_secs)
}

/// The DER bytes of a base64 public key, PEM armour (any label lines) and
/// whitespace removed; `None` if it is not base64.
fn sendgrid_public_key_der(text: &str) -> Option<Vec<u8>> {
    let body: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("-----"))
        .flat_map(str::chars)
        .filter(|c| !c.is_whitespace())
        .collect();
    if body.is_empty() {
        return None;
    }
    BASE64.decode(body).ok()
}

fn mac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Compare `ts_ms` with `now_ms`; i128 so that no header value can overflow.
fn check_window(ts_ms: i128, now_ms: u64, tolerance_secs: u64) -> Result<(), SignatureError> {
    let age_ms = i128::from(now_ms) - ts_ms;
    if age_ms.unsigned_abs() <= u128::from(tolerance_secs) * 1000 {
        return Ok(());
    }
    let age_secs = i64::try_from(age_ms / 1000).unwrap_or(if age_ms < 0 { i64::MIN } else { i64::MAX });
    Err(SignatureError::OutsideTolerance { age_secs, tolerance_secs })
}

/// The header's value, trimmed, or `Missing(name)` if it is absent or blank.
fn present<'a>(header: Option<&'a str>, name: &'static str) -> Result<&'a str, SignatureError> {
    header.map(str::trim).filter(|h| !h.is_empty()).ok_or(SignatureError::Missing(name))
}

fn base64_signature(header: Option<&str>, name: &'static str) -> Result<Vec<u8>, SignatureError> {
    BASE64.decode(present(header, name)?).map_err(|_| SignatureError::Malformed(name))
}

fn prefixed_hex(value: &str, prefix: &str, name: &'static str) -> Result<Vec<u8>, SignatureError> {
    value.strip_prefix(prefix).and_then(from_hex).ok_or(SignatureError::Malformed(name))
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// Hex (either case) to bytes; `None` for an odd length or a non-hex digit.
fn from_hex(text: &str) -> Option<Vec<u8>> {
    let pairs = text.as_bytes().chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return None;
    }
    pairs.map(|pair| Some(hex_value(pair[0])? * 16 + hex_value(pair[1])?)).collect()
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// `url` as given, plus the form Twilio may have signed instead: without the
/// port if it has one, with the scheme's default port if it has none.
fn twilio_url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_string()];
    let Some(scheme_end) = url.find("://") else { return variants };
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..].find(['/', '?', '#']).map(|i| authority_start + i).unwrap_or(url.len());
    let authority = &url[authority_start..authority_end];
    let host_start = authority_start + authority.rfind('@').map(|i| i + 1).unwrap_or(0);
    let host_port = &url[host_start..authority_end];
    // The port's colon: after an IPv6 literal's `]`, else the last one.
    let colon = match host_port.rfind(']') {
        Some(close) => host_port[close..].find(':').map(|i| close + i),
        None => host_port.rfind(':'),
    };
    match colon {
        Some(colon) if host_port[colon + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            let port_start = host_start + colon;
            variants.push(format!("{}{}", &url[..port_start], &url[authority_end..]));
        }
        Some(_) => {}
        None => {
            let port = match &url[..scheme_end] {
                s if s.eq_ignore_ascii_case("https") => "443",
                s if s.eq_ignore_ascii_case("http") => "80",
                _ => return variants,
            };
            variants.push(format!("{}:{port}{}", &url[..authority_end], &url[authority_end..]));
        }
    }
    variants
}

/// Decode the escapes HubSpot's v3 scheme lists, and no others.
fn hubspot_decode_uri(uri: &str) -> String {
    const DECODED: &[u8] = b":/?@!$'()*,;";
    let bytes = uri.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                let byte = hi * 16 + lo;
                if DECODED.contains(&byte) {
                    out.push(byte);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).expect("only ASCII escapes were replaced by ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4231 test case 2 (HMAC-SHA-256) and RFC 2202 test case 2 (HMAC-SHA-1).
    #[test]
    fn hmac_primitives_match_the_rfc_vectors() {
        let (key, data) = (b"Jefe".as_slice(), b"what do ya want for nothing?".as_slice());
        assert_eq!(hmac_sha256_hex(key, data), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert_eq!(to_hex(&hmac_sha1(key, data)), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
        assert_eq!(BASE64.decode(hmac_sha256_base64(key, data)).unwrap(), hmac_sha256(key, data));
        assert_eq!(BASE64.decode(hmac_sha1_base64(key, data)).unwrap(), hmac_sha1(key, data));
    }

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn hex_round_trips_and_rejects_junk() {
        assert_eq!(from_hex("00ff7fAb"), Some(vec![0, 255, 127, 171]));
        assert_eq!(to_hex(&[0, 255, 127, 171]), "00ff7fab");
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex("+1"), None);
    }

    #[test]
    fn timestamps_are_checked_both_ways_inclusively() {
        let now_ms = 1_700_000_000_000;
        assert_eq!(check_timestamp(1_700_000_000, now_ms, 300), Ok(()));
        assert_eq!(check_timestamp(1_700_000_000 - 300, now_ms, 300), Ok(()));
        assert_eq!(check_timestamp(1_700_000_000 + 300, now_ms, 300), Ok(()));
        assert_eq!(
            check_timestamp(1_700_000_000 - 301, now_ms, 300),
            Err(SignatureError::OutsideTolerance { age_secs: 301, tolerance_secs: 300 })
        );
        assert_eq!(
            check_timestamp(1_700_000_000 + 301, now_ms, 300),
            Err(SignatureError::OutsideTolerance { age_secs: -301, tolerance_secs: 300 })
        );
        // Absurd values do not overflow.
        assert!(check_timestamp(i64::MAX, now_ms, 300).is_err());
        assert_eq!(
            check_timestamp(i64::MIN, u64::MAX, 300),
            Err(SignatureError::OutsideTolerance { age_secs: i64::MAX, tolerance_secs: 300 })
        );
        assert_eq!(check_timestamp(i64::MIN, u64::MAX, u64::MAX), Ok(()));
    }

    #[test]
    fn errors_explain_without_the_secret() {
        let e = SignatureError::OutsideTolerance { age_secs: 400, tolerance_secs: 300 };
        assert_eq!(e.to_string(), "signature: timestamp is 400 s old (tolerance 300 s)");
        let e = SignatureError::OutsideTolerance { age_secs: -400, tolerance_secs: 300 };
        assert_eq!(e.to_string(), "signature: timestamp is 400 s in the future (tolerance 300 s)");
        assert_eq!(SignatureError::Missing("v1").to_string(), "signature: `v1` is missing");
        let node: crate::NodeError = SignatureError::Mismatch.into();
        assert_eq!(node.code.as_deref(), Some("signature_mismatch"));
        assert!(!node.retryable);

        let secret = "whsec_do_not_leak";
        let payload = br#"{"id":"evt_1"}"#;
        let header = format!("t=1700000000,v1={}", hmac_sha256_hex(b"other", b"1700000000.{}"));
        let e = verify_stripe(payload, Some(&header), secret, 1_700_000_000_000, 300).unwrap_err();
        assert!(!format!("{e} {e:?}").contains(secret));
    }

    // ---- Stripe ----
    // Stripe publishes the algorithm but no secret/payload/signature triple, so
    // these signatures were computed with Python's `hmac` module following
    // https://docs.stripe.com/webhooks#verify-manually:
    // hex(HMAC-SHA256(secret, "1700000000." + PAYLOAD)).
    const STRIPE_PAYLOAD: &[u8] = br#"{"id":"evt_test","object":"event"}"#;
    const STRIPE_SECRET: &str = "whsec_test_secret";
    const STRIPE_SIG: &str = "8042376f6ca064adbe037642a718227dfd59047137eb49497a54c49eb0cfb724";
    // The same payload and time signed with "whsec_old_secret".
    const STRIPE_OLD_SIG: &str = "a1dd24cd166a5ec1b320e88ebfc7df18408a2dc13ab12ccf1d9e392d099b1dc1";
    const STRIPE_NOW_MS: u64 = 1_700_000_100_000;

    fn stripe(header: &str) -> Result<i64, SignatureError> {
        verify_stripe(STRIPE_PAYLOAD, Some(header), STRIPE_SECRET, STRIPE_NOW_MS, STRIPE_TOLERANCE_SECS)
    }

    #[test]
    fn stripe_accepts_a_valid_header_and_returns_its_timestamp() {
        assert_eq!(
            hmac_sha256_hex(STRIPE_SECRET.as_bytes(), b"1700000000.{\"id\":\"evt_test\",\"object\":\"event\"}"),
            STRIPE_SIG
        );
        assert_eq!(stripe(&format!("t=1700000000,v1={STRIPE_SIG}")), Ok(1_700_000_000));
        // v0 and unknown schemes are ignored, order and spaces do not matter.
        assert_eq!(stripe(&format!("v0=deadbeef, v1={STRIPE_SIG}, t=1700000000, x=1")), Ok(1_700_000_000));
        // Upper-case hex is the same signature.
        assert_eq!(stripe(&format!("t=1700000000,v1={}", STRIPE_SIG.to_uppercase())), Ok(1_700_000_000));
    }

    #[test]
    fn stripe_accepts_any_of_several_v1_values_during_a_secret_roll() {
        assert_eq!(stripe(&format!("t=1700000000,v1={STRIPE_OLD_SIG},v1={STRIPE_SIG}")), Ok(1_700_000_000));
        assert_eq!(stripe(&format!("t=1700000000,v1={STRIPE_SIG},v1={STRIPE_OLD_SIG}")), Ok(1_700_000_000));
        let old = verify_stripe(
            STRIPE_PAYLOAD,
            Some(&format!("t=1700000000,v1={STRIPE_SIG},v1={STRIPE_OLD_SIG}")),
            "whsec_old_secret",
            STRIPE_NOW_MS,
            300,
        );
        assert_eq!(old, Ok(1_700_000_000));
    }

    #[test]
    fn stripe_rejects_wrong_secret_tampering_and_staleness() {
        let header = format!("t=1700000000,v1={STRIPE_SIG}");
        let wrong = verify_stripe(STRIPE_PAYLOAD, Some(&header), "whsec_wrong", STRIPE_NOW_MS, 300);
        assert_eq!(wrong, Err(SignatureError::Mismatch));
        let tampered =
            verify_stripe(br#"{"id":"evt_test","object":"evil"}"#, Some(&header), STRIPE_SECRET, STRIPE_NOW_MS, 300);
        assert_eq!(tampered, Err(SignatureError::Mismatch));
        // The timestamp is signed: changing it breaks the signature.
        assert_eq!(stripe(&format!("t=1700000099,v1={STRIPE_SIG}")), Err(SignatureError::Mismatch));
        // Only v1 counts.
        assert_eq!(stripe(&format!("t=1700000000,v0={STRIPE_SIG},v1=00")), Err(SignatureError::Mismatch));
        let late = verify_stripe(STRIPE_PAYLOAD, Some(&header), STRIPE_SECRET, 1_700_000_301_000, 300);
        assert_eq!(late, Err(SignatureError::OutsideTolerance { age_secs: 301, tolerance_secs: 300 }));
        let early = verify_stripe(STRIPE_PAYLOAD, Some(&header), STRIPE_SECRET, 1_699_999_000_000, 300);
        assert_eq!(early, Err(SignatureError::OutsideTolerance { age_secs: -1000, tolerance_secs: 300 }));
    }

    #[test]
    fn stripe_names_what_is_wrong_with_a_malformed_header() {
        let none = verify_stripe(STRIPE_PAYLOAD, None, STRIPE_SECRET, STRIPE_NOW_MS, 300);
        assert_eq!(none, Err(SignatureError::Missing("Stripe-Signature")));
        assert_eq!(stripe("  "), Err(SignatureError::Missing("Stripe-Signature")));
        assert_eq!(stripe(&format!("v1={STRIPE_SIG}")), Err(SignatureError::Missing("t")));
        assert_eq!(stripe(&format!("t=,v1={STRIPE_SIG}")), Err(SignatureError::Missing("t")));
        assert_eq!(stripe("garbage"), Err(SignatureError::Missing("t")));
        assert_eq!(stripe(&format!("t=yesterday,v1={STRIPE_SIG}")), Err(SignatureError::Malformed("t")));
        assert_eq!(stripe("t=1700000000"), Err(SignatureError::Missing("v1")));
        assert_eq!(stripe("t=1700000000,v0=abcd"), Err(SignatureError::Missing("v1")));
        assert_eq!(stripe("t=1700000000,v1=not-hex"), Err(SignatureError::Mismatch));
    }

    // ---- Twilio ----
    // Published: the example of Twilio's request-validation docs (auth token
    // 12345), as in twilio-php's docs/usage/validation.rst and twilio-python's
    // tests/unit/test_request_validator.py.
    const TWILIO_TOKEN: &str = "12345";
    const TWILIO_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const TWILIO_PARAMS: &[(&str, &str)] = &[
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ];
    const TWILIO_SIG: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";

    #[test]
    fn twilio_accepts_the_published_example() {
        assert_eq!(verify_twilio(TWILIO_URL, TWILIO_PARAMS, Some(TWILIO_SIG), TWILIO_TOKEN), Ok(()));
        // Parameter order does not matter: they are sorted.
        let mut reversed = TWILIO_PARAMS.to_vec();
        reversed.reverse();
        assert_eq!(verify_twilio(TWILIO_URL, &reversed, Some(TWILIO_SIG), TWILIO_TOKEN), Ok(()));
        // Straight from a form body, as a plugin gets it.
        let body = "CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212";
        let pairs = crate::form::decode(body);
        assert_eq!(verify_twilio(TWILIO_URL, &pairs, Some(TWILIO_SIG), TWILIO_TOKEN), Ok(()));
    }

    // Published in twilio-python's tests/unit/test_request_validator.py.
    #[test]
    fn twilio_tries_the_url_with_and_without_its_port() {
        // Signed with ":443" added; the handler sees the URL without a port.
        assert_eq!(
            verify_twilio(TWILIO_URL, TWILIO_PARAMS, Some("kvajT1Ptam85bY51eRf/AJRuM3w="), TWILIO_TOKEN),
            Ok(())
        );
        let http = TWILIO_URL.replace("https", "http");
        assert_eq!(verify_twilio(&http, TWILIO_PARAMS, Some("0ZXoZLH/DfblKGATFgpif+LLRf4="), TWILIO_TOKEN), Ok(()));
        // Signed without a port; the handler's URL has one.
        let with_port = TWILIO_URL.replace(".com", ".com:1234");
        assert_eq!(verify_twilio(&with_port, TWILIO_PARAMS, Some(TWILIO_SIG), TWILIO_TOKEN), Ok(()));
        let http_port = http.replace(".com", ".com:1234");
        assert_eq!(
            verify_twilio(&http_port, TWILIO_PARAMS, Some("Zmvh+3yNM1Phv2jhDCwEM3q5ebU="), TWILIO_TOKEN),
            Ok(())
        );
    }

    #[test]
    fn twilio_url_variants_handle_userinfo_ipv6_and_no_path() {
        assert_eq!(twilio_url_variants("https://a.com"), ["https://a.com", "https://a.com:443"]);
        assert_eq!(twilio_url_variants("http://u:p@a.com/x"), ["http://u:p@a.com/x", "http://u:p@a.com:80/x"]);
        assert_eq!(
            twilio_url_variants("https://u:p@a.com:8443/x?y"),
            ["https://u:p@a.com:8443/x?y", "https://u:p@a.com/x?y"]
        );
        assert_eq!(twilio_url_variants("https://[::1]/x"), ["https://[::1]/x", "https://[::1]:443/x"]);
        assert_eq!(twilio_url_variants("https://[::1]:8443/x"), ["https://[::1]:8443/x", "https://[::1]/x"]);
        assert_eq!(twilio_url_variants("not a url"), ["not a url"]);
        assert_eq!(twilio_url_variants("ftp://a.com/x"), ["ftp://a.com/x"]);
    }

    // Published in twilio-python's tests: a repeated key's values are sorted.
    #[test]
    fn twilio_sorts_the_values_of_a_repeated_key() {
        let params = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")];
        assert_eq!(verify_twilio(TWILIO_URL, &params, Some("IK+Dwps556ElfBT0I3Rgjkr1wJU="), TWILIO_TOKEN), Ok(()));
    }

    #[test]
    fn twilio_rejects_wrong_token_tampering_and_bad_headers() {
        let wrong = verify_twilio(TWILIO_URL, TWILIO_PARAMS, Some(TWILIO_SIG), "54321");
        assert_eq!(wrong, Err(SignatureError::Mismatch));
        let mut tampered = TWILIO_PARAMS.to_vec();
        tampered[2] = ("Digits", "9999");
        assert_eq!(verify_twilio(TWILIO_URL, &tampered, Some(TWILIO_SIG), TWILIO_TOKEN), Err(SignatureError::Mismatch));
        let extra = [TWILIO_PARAMS, &[("Extra", "1")]].concat();
        assert_eq!(verify_twilio(TWILIO_URL, &extra, Some(TWILIO_SIG), TWILIO_TOKEN), Err(SignatureError::Mismatch));
        let other_url = "https://mycompany.com/myapp.php?foo=1&bar=3";
        assert_eq!(
            verify_twilio(other_url, TWILIO_PARAMS, Some(TWILIO_SIG), TWILIO_TOKEN),
            Err(SignatureError::Mismatch)
        );
        let none = verify_twilio(TWILIO_URL, TWILIO_PARAMS, None, TWILIO_TOKEN);
        assert_eq!(none, Err(SignatureError::Missing("X-Twilio-Signature")));
        let junk = verify_twilio(TWILIO_URL, TWILIO_PARAMS, Some("not base64!"), TWILIO_TOKEN);
        assert_eq!(junk, Err(SignatureError::Malformed("X-Twilio-Signature")));
    }

    // Published in twilio-python's tests (test_validation_of_body_succeeds).
    #[test]
    fn twilio_body_checks_the_signature_and_the_body_hash() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let url = format!("{TWILIO_URL}&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620");
        let sig = Some("a9nBmqA0ju/hNViExpshrM61xv4=");
        assert_eq!(verify_twilio_body(&url, body, sig, TWILIO_TOKEN), Ok(()));
        assert_eq!(verify_twilio_body(&url, b"{}", sig, TWILIO_TOKEN), Err(SignatureError::Mismatch));
        assert_eq!(verify_twilio_body(&url, body, sig, "54321"), Err(SignatureError::Mismatch));
        let signed_without_hash = Some(hmac_sha1_base64(b"12345", TWILIO_URL.as_bytes()));
        assert_eq!(
            verify_twilio_body(TWILIO_URL, body, signed_without_hash.as_deref(), TWILIO_TOKEN),
            Err(SignatureError::Missing("bodySHA256"))
        );
    }

    // ---- HubSpot ----
    // Published: the v3 vector of HubSpot's official Python client,
    // tests/spec/utils/test_signature.py (timestamp 15000000 ms).
    const HUBSPOT_SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
    const HUBSPOT_BODY: &[u8] = b"{'example_field':'example_value'}";
    const HUBSPOT_URI: &str = "https://www.example.com/webhook_uri";
    const HUBSPOT_SIG: &str = "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw=";

    fn hubspot(
        body: &[u8],
        ts: Option<&str>,
        sig: Option<&str>,
        secret: &str,
        now_ms: u64,
    ) -> Result<(), SignatureError> {
        verify_hubspot_v3("POST", HUBSPOT_URI, body, ts, sig, secret, now_ms)
    }

    #[test]
    fn hubspot_accepts_the_published_vector() {
        assert_eq!(hubspot(HUBSPOT_BODY, Some("15000000"), Some(HUBSPOT_SIG), HUBSPOT_SECRET, 15_000_000), Ok(()));
        assert_eq!(hubspot(HUBSPOT_BODY, Some("15000000"), Some(HUBSPOT_SIG), HUBSPOT_SECRET, 15_300_000), Ok(()));
    }

    #[test]
    fn hubspot_rejects_wrong_secret_tampering_and_staleness() {
        let ok = (Some("15000000"), Some(HUBSPOT_SIG));
        assert_eq!(hubspot(HUBSPOT_BODY, ok.0, ok.1, "wrong", 15_000_000), Err(SignatureError::Mismatch));
        assert_eq!(hubspot(b"{}", ok.0, ok.1, HUBSPOT_SECRET, 15_000_000), Err(SignatureError::Mismatch));
        assert_eq!(
            hubspot(HUBSPOT_BODY, Some("15000001"), ok.1, HUBSPOT_SECRET, 15_000_000),
            Err(SignatureError::Mismatch)
        );
        let get = verify_hubspot_v3("GET", HUBSPOT_URI, HUBSPOT_BODY, ok.0, ok.1, HUBSPOT_SECRET, 15_000_000);
        assert_eq!(get, Err(SignatureError::Mismatch));
        assert_eq!(
            hubspot(HUBSPOT_BODY, ok.0, ok.1, HUBSPOT_SECRET, 15_300_001),
            Err(SignatureError::OutsideTolerance { age_secs: 300, tolerance_secs: 300 })
        );
        assert_eq!(
            hubspot(HUBSPOT_BODY, ok.0, ok.1, HUBSPOT_SECRET, 16_000_000),
            Err(SignatureError::OutsideTolerance { age_secs: 1000, tolerance_secs: 300 })
        );
    }

    #[test]
    fn hubspot_names_missing_and_malformed_headers() {
        let r = hubspot(HUBSPOT_BODY, Some("15000000"), None, HUBSPOT_SECRET, 15_000_000);
        assert_eq!(r, Err(SignatureError::Missing("X-HubSpot-Signature-v3")));
        let r = hubspot(HUBSPOT_BODY, None, Some(HUBSPOT_SIG), HUBSPOT_SECRET, 15_000_000);
        assert_eq!(r, Err(SignatureError::Missing("X-HubSpot-Request-Timestamp")));
        let r = hubspot(HUBSPOT_BODY, Some("1.5e7"), Some(HUBSPOT_SIG), HUBSPOT_SECRET, 15_000_000);
        assert_eq!(r, Err(SignatureError::Malformed("X-HubSpot-Request-Timestamp")));
        let r = hubspot(HUBSPOT_BODY, Some("15000000"), Some("%%%"), HUBSPOT_SECRET, 15_000_000);
        assert_eq!(r, Err(SignatureError::Malformed("X-HubSpot-Signature-v3")));
    }

    // Computed (Python `hmac`): HubSpot signs the URI with the listed escapes
    // decoded, here "https://example.com/hook?email=a@b.com&x=(1)".
    #[test]
    fn hubspot_decodes_the_listed_escapes_in_the_uri() {
        let sig = Some("rBYVAcYLjB5votnY3LnFNy6pzwSvoUNGdB02KyUCr14=");
        let ts = Some("1700000000000");
        let now = 1_700_000_000_000;
        for uri in
            ["https://example.com/hook?email=a@b.com&x=(1)", "https://example.com/hook?email=a%40b.com&x=%281%29"]
        {
            assert_eq!(verify_hubspot_v3("POST", uri, b"[]", ts, sig, "hubspot-client-secret", now), Ok(()), "{uri}");
        }
        assert_eq!(hubspot_decode_uri("a%3a%2F%3F%40%21%24%27%28%29%2A%2C%3B"), "a:/?@!$'()*,;");
        // Other escapes, and truncated ones, stay as they are.
        assert_eq!(hubspot_decode_uri("a%20b%2Bc%25d%3"), "a%20b%2Bc%25d%3");
        assert_eq!(hubspot_decode_uri("%"), "%");
        assert_eq!(hubspot_decode_uri("%é%3A"), "%é:");
    }

    // ---- Slack ----
    // Published: the worked example of https://api.slack.com/authentication/verifying-requests-from-slack
    const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const SLACK_TS: &str = "1531420618";
    const SLACK_BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SLACK_SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const SLACK_NOW_MS: u64 = 1_531_420_618_000 + 42_000;

    #[test]
    fn slack_accepts_the_published_example() {
        assert_eq!(verify_slack(SLACK_BODY, Some(SLACK_TS), Some(SLACK_SIG), SLACK_SECRET, SLACK_NOW_MS), Ok(()));
    }

    #[test]
    fn slack_rejects_wrong_secret_tampering_and_staleness() {
        let (ts, sig) = (Some(SLACK_TS), Some(SLACK_SIG));
        assert_eq!(
            verify_slack(SLACK_BODY, ts, sig, "8f742231b10e8888abcd99yyyzzz85a6", SLACK_NOW_MS),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify_slack(b"token=evil", ts, sig, SLACK_SECRET, SLACK_NOW_MS), Err(SignatureError::Mismatch));
        assert_eq!(
            verify_slack(SLACK_BODY, Some("1531420619"), sig, SLACK_SECRET, SLACK_NOW_MS),
            Err(SignatureError::Mismatch)
        );
        let next_day = 1_531_420_618_000 + 86_400_000;
        assert_eq!(
            verify_slack(SLACK_BODY, ts, sig, SLACK_SECRET, next_day),
            Err(SignatureError::OutsideTolerance { age_secs: 86_400, tolerance_secs: 300 })
        );
    }

    #[test]
    fn slack_names_missing_and_malformed_headers() {
        let ts = Some(SLACK_TS);
        let r = verify_slack(SLACK_BODY, ts, None, SLACK_SECRET, SLACK_NOW_MS);
        assert_eq!(r, Err(SignatureError::Missing("X-Slack-Signature")));
        let r = verify_slack(SLACK_BODY, Some(""), Some(SLACK_SIG), SLACK_SECRET, SLACK_NOW_MS);
        assert_eq!(r, Err(SignatureError::Missing("X-Slack-Request-Timestamp")));
        let r = verify_slack(SLACK_BODY, Some("soon"), Some(SLACK_SIG), SLACK_SECRET, SLACK_NOW_MS);
        assert_eq!(r, Err(SignatureError::Malformed("X-Slack-Request-Timestamp")));
        let unprefixed = &SLACK_SIG[3..];
        let r = verify_slack(SLACK_BODY, ts, Some(unprefixed), SLACK_SECRET, SLACK_NOW_MS);
        assert_eq!(r, Err(SignatureError::Malformed("X-Slack-Signature")));
        let r = verify_slack(SLACK_BODY, ts, Some("v1=abcd"), SLACK_SECRET, SLACK_NOW_MS);
        assert_eq!(r, Err(SignatureError::Malformed("X-Slack-Signature")));
    }

    // ---- SendGrid ----
    // Published: the vector of sendgrid-python's test/unit/test_eventwebhook.py
    // (a real `dropped` event; the body ends with "\r\n"; its `s` is the high one).
    const SENDGRID_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";
    const SENDGRID_SIG: &str =
        "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=";
    const SENDGRID_TS: &str = "1600112502";
    const SENDGRID_BODY: &[u8] = b"[{\"email\":\"hello@world.com\",\"event\":\"dropped\",\"reason\":\"Bounced Address\",\"sg_event_id\":\"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA\",\"sg_message_id\":\"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0\",\"smtp-id\":\"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>\",\"timestamp\":1600112492}]\r\n";
    const SENDGRID_NOW_MS: u64 = 1_600_112_502_000 + 30_000;
    // The "bad key" of the same tests: a valid P-256 key, not the signer's.
    const SENDGRID_OTHER_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA==";

    fn sendgrid(
        body: &[u8],
        sig: Option<&str>,
        ts: Option<&str>,
        key: &str,
        now_ms: u64,
    ) -> Result<(), SignatureError> {
        verify_sendgrid(body, sig, ts, key, now_ms, SENDGRID_TOLERANCE_SECS)
    }

    /// A key from a fixed scalar, and its public key as SendGrid shows one.
    fn sendgrid_test_key(scalar: u8) -> (p256::ecdsa::SigningKey, String) {
        use p256::pkcs8::EncodePublicKey;
        let signing = p256::ecdsa::SigningKey::from_bytes(&[scalar; 32].into()).expect("a valid scalar");
        let der = signing.verifying_key().to_public_key_der().expect("encodes");
        (signing, BASE64.encode(der.as_bytes()))
    }

    fn sendgrid_sign(key: &p256::ecdsa::SigningKey, ts: &str, body: &[u8]) -> String {
        use p256::ecdsa::signature::Signer;
        let signature: p256::ecdsa::Signature = key.sign(&[ts.as_bytes(), body].concat());
        BASE64.encode(signature.to_der().as_bytes())
    }

    #[test]
    fn sendgrid_accepts_the_published_vectors() {
        let (sig, ts) = (Some(SENDGRID_SIG), Some(SENDGRID_TS));
        assert_eq!(sendgrid(SENDGRID_BODY, sig, ts, SENDGRID_KEY, SENDGRID_NOW_MS), Ok(()));
        // The older vector of sendgrid-python's test/test_eventwebhook.py (a low `s`).
        let older = verify_sendgrid(
            br#"{"category":"example_payload","event":"test_event","message_id":"message_id"}"#,
            Some("MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0="),
            Some("1588788367"),
            "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==",
            1_588_788_367_000,
            SENDGRID_TOLERANCE_SECS,
        );
        assert_eq!(older, Ok(()));
    }

    #[test]
    fn sendgrid_takes_the_key_as_base64_der_or_pem() {
        let (sig, ts) = (Some(SENDGRID_SIG), Some(SENDGRID_TS));
        let wrapped: Vec<&str> = [&SENDGRID_KEY[..64], &SENDGRID_KEY[64..]].to_vec();
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", wrapped.join("\n"));
        assert_eq!(sendgrid(SENDGRID_BODY, sig, ts, &pem, SENDGRID_NOW_MS), Ok(()));
        let crlf = pem.replace('\n', "\r\n");
        assert_eq!(sendgrid(SENDGRID_BODY, sig, ts, &crlf, SENDGRID_NOW_MS), Ok(()));
        let padded = format!("  {SENDGRID_KEY}\n");
        assert_eq!(sendgrid(SENDGRID_BODY, sig, ts, &padded, SENDGRID_NOW_MS), Ok(()));
        // What p256 itself writes as PEM.
        use p256::pkcs8::{EncodePublicKey, LineEnding};
        let (signing, _) = sendgrid_test_key(7);
        let pem = signing.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
        let sig = sendgrid_sign(&signing, SENDGRID_TS, b"[]");
        assert_eq!(sendgrid(b"[]", Some(&sig), ts, &pem, SENDGRID_NOW_MS), Ok(()));
    }

    #[test]
    fn sendgrid_accepts_a_signature_made_here_in_both_s_forms() {
        let (signing, public) = sendgrid_test_key(42);
        let body = br#"[{"email":"ann@example.com","event":"open"}]"#;
        let sig = sendgrid_sign(&signing, "1700000000", body);
        let now = 1_700_000_000_000;
        assert_eq!(sendgrid(body, Some(&sig), Some("1700000000"), &public, now), Ok(()));
        // The same signature with `s` replaced by `n - s`: still valid ECDSA.
        let der = BASE64.decode(&sig).unwrap();
        let parsed = p256::ecdsa::Signature::from_der(&der).unwrap();
        let (r, s) = parsed.split_scalars();
        let flipped = p256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
        assert_ne!(flipped, parsed);
        let flipped = BASE64.encode(flipped.to_der().as_bytes());
        assert_eq!(sendgrid(body, Some(&flipped), Some("1700000000"), &public, now), Ok(()));
    }

    #[test]
    fn sendgrid_rejects_wrong_key_tampering_and_staleness() {
        let (sig, ts) = (Some(SENDGRID_SIG), Some(SENDGRID_TS));
        assert_eq!(
            sendgrid(SENDGRID_BODY, sig, ts, SENDGRID_OTHER_KEY, SENDGRID_NOW_MS),
            Err(SignatureError::Mismatch)
        );
        let (_, generated) = sendgrid_test_key(9);
        assert_eq!(sendgrid(SENDGRID_BODY, sig, ts, &generated, SENDGRID_NOW_MS), Err(SignatureError::Mismatch));
        // The body, byte for byte: without its trailing "\r\n" it is another message.
        let trimmed = &SENDGRID_BODY[..SENDGRID_BODY.len() - 2];
        assert_eq!(sendgrid(trimmed, sig, ts, SENDGRID_KEY, SENDGRID_NOW_MS), Err(SignatureError::Mismatch));
        assert_eq!(sendgrid(b"payload", sig, ts, SENDGRID_KEY, SENDGRID_NOW_MS), Err(SignatureError::Mismatch));
        // The timestamp is signed.
        assert_eq!(
            sendgrid(SENDGRID_BODY, sig, Some("1600112503"), SENDGRID_KEY, SENDGRID_NOW_MS),
            Err(SignatureError::Mismatch)
        );
        // Another signature of the signer's, over another body and time.
        let (signing, public) = sendgrid_test_key(5);
        let other = sendgrid_sign(&signing, SENDGRID_TS, b"[]");
        assert_eq!(sendgrid(b"[]", Some(&other), ts, &public, SENDGRID_NOW_MS), Ok(()));
        assert_eq!(sendgrid(SENDGRID_BODY, Some(&other), ts, &public, SENDGRID_NOW_MS), Err(SignatureError::Mismatch));
        // The "bad signature" of sendgrid-python's tests: the older vector's, one character changed.
        let older_body = br#"{"category":"example_payload","event":"test_event","message_id":"message_id"}"#;
        let older_key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==";
        let bad =
            Some("MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0=");
        assert_eq!(
            sendgrid(older_body, bad, Some("1588788367"), older_key, 1_588_788_367_000),
            Err(SignatureError::Mismatch)
        );
        // Authentic but stale, or from the future.
        let late = 1_600_112_502_000 + 601_000;
        assert_eq!(
            sendgrid(SENDGRID_BODY, sig, ts, SENDGRID_KEY, late),
            Err(SignatureError::OutsideTolerance { age_secs: 601, tolerance_secs: 600 })
        );
        assert_eq!(sendgrid(SENDGRID_BODY, sig, ts, SENDGRID_KEY, 1_600_112_502_000 + 600_000), Ok(()));
        assert_eq!(
            sendgrid(SENDGRID_BODY, sig, ts, SENDGRID_KEY, 1_600_111_000_000),
            Err(SignatureError::OutsideTolerance { age_secs: -1502, tolerance_secs: 600 })
        );
        // A forged request is a mismatch, however old.
        assert_eq!(sendgrid(b"[]", sig, ts, SENDGRID_KEY, late), Err(SignatureError::Mismatch));
    }

    #[test]
    fn sendgrid_names_missing_and_malformed_headers() {
        let (sig, ts, key, now) = (Some(SENDGRID_SIG), Some(SENDGRID_TS), SENDGRID_KEY, SENDGRID_NOW_MS);
        let missing_sig = SignatureError::Missing("X-Twilio-Email-Event-Webhook-Signature");
        let missing_ts = SignatureError::Missing("X-Twilio-Email-Event-Webhook-Timestamp");
        let bad_sig = SignatureError::Malformed("X-Twilio-Email-Event-Webhook-Signature");
        assert_eq!(sendgrid(SENDGRID_BODY, None, ts, key, now), Err(missing_sig.clone()));
        assert_eq!(sendgrid(SENDGRID_BODY, Some(" "), ts, key, now), Err(missing_sig));
        assert_eq!(sendgrid(SENDGRID_BODY, sig, None, key, now), Err(missing_ts));
        assert_eq!(
            sendgrid(SENDGRID_BODY, sig, Some("timestamp"), key, now),
            Err(SignatureError::Malformed("X-Twilio-Email-Event-Webhook-Timestamp"))
        );
        assert_eq!(sendgrid(SENDGRID_BODY, Some("not base64!"), ts, key, now), Err(bad_sig.clone()));
        // Base64, but not a DER signature: a raw r||s, or DER cut short.
        let raw = BASE64.encode([1u8; 64]);
        assert_eq!(sendgrid(SENDGRID_BODY, Some(&raw), ts, key, now), Err(bad_sig.clone()));
        let der = BASE64.decode(SENDGRID_SIG).unwrap();
        let cut = BASE64.encode(&der[..der.len() - 1]);
        assert_eq!(sendgrid(SENDGRID_BODY, Some(&cut), ts, key, now), Err(bad_sig));
    }

    #[test]
    fn sendgrid_refuses_a_malformed_key_before_looking_at_the_request() {
        let (sig, ts) = (Some(SENDGRID_SIG), Some(SENDGRID_TS));
        let malformed = SignatureError::Malformed("public key");
        for key in [
            "",
            "  \n",
            "not a key!",
            "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----",
            // Base64, but not a SubjectPublicKeyInfo.
            "aGVsbG8gd29ybGQ=",
            // The key cut short.
            &SENDGRID_KEY[..60],
            // An Ed25519 key (another algorithm).
            "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=",
        ] {
            assert_eq!(sendgrid(SENDGRID_BODY, sig, ts, key, SENDGRID_NOW_MS), Err(malformed.clone()), "{key:?}");
            assert_eq!(sendgrid(SENDGRID_BODY, None, None, key, SENDGRID_NOW_MS), Err(malformed.clone()), "{key:?}");
        }
    }

    // ---- GitHub ----
    // Published: "Testing the webhook payload validation" in
    // https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
    const GITHUB_SECRET: &str = "It's a Secret to Everybody";
    const GITHUB_SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn github_accepts_the_published_example() {
        assert_eq!(verify_github(b"Hello, World!", Some(GITHUB_SIG), GITHUB_SECRET), Ok(()));
    }

    #[test]
    fn github_rejects_wrong_secret_tampering_and_bad_headers() {
        assert_eq!(
            verify_github(b"Hello, World!", Some(GITHUB_SIG), "It's a secret to everybody"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify_github(b"Hello, World?", Some(GITHUB_SIG), GITHUB_SECRET), Err(SignatureError::Mismatch));
        assert_eq!(verify_github(b"Hello, World!", Some("sha256=00"), GITHUB_SECRET), Err(SignatureError::Mismatch));
        assert_eq!(
            verify_github(b"Hello, World!", None, GITHUB_SECRET),
            Err(SignatureError::Missing("X-Hub-Signature-256"))
        );
        let unprefixed = &GITHUB_SIG["sha256=".len()..];
        assert_eq!(
            verify_github(b"Hello, World!", Some(unprefixed), GITHUB_SECRET),
            Err(SignatureError::Malformed("X-Hub-Signature-256"))
        );
        let sha1 = Some("sha1=757107ea0eb2509fc211221cce984b8a37570b6d");
        assert_eq!(
            verify_github(b"Hello, World!", sha1, GITHUB_SECRET),
            Err(SignatureError::Malformed("X-Hub-Signature-256"))
        );
        let odd = Some("sha256=757");
        assert_eq!(
            verify_github(b"Hello, World!", odd, GITHUB_SECRET),
            Err(SignatureError::Malformed("X-Hub-Signature-256"))
        );
    }
}
