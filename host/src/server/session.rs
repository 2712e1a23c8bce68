//! Studio sign-in: a browser trades an API token for a session cookie, so
//! the token never sits in a URL, in the page's storage or in script reach.
//!
//! `POST /api/v1/session {"token"}` checks the token and answers with a
//! cookie `wirework_session` that is `HttpOnly` (scripts cannot read it) and
//! `SameSite=Strict` (no other site's page can send it), `Secure` behind an
//! `https` public URL. The session holds the token's digest, not the token:
//! revoking the token ends its sessions at their next request. Sessions live
//! in memory for [`SESSION_LIFETIME`]; a restart signs everyone out.
//!
//! A request the cookie authenticates must also carry
//! `X-Wirework-Studio: 1` when it changes anything, a header no form or
//! cross-site request can set: defence in depth beside `SameSite`.

use parking_lot::Mutex;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The cookie's name.
pub const COOKIE: &str = "wirework_session";
/// The header a cookie-authenticated request that changes something carries.
pub const STUDIO_HEADER: &str = "x-wirework-studio";
/// How long a session lasts from sign-in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// At most this many sessions at once; the oldest go first.
const MAX_SESSIONS: usize = 10_000;

/// One signed-in browser.
struct Session {
    /// The digest of the token it signed in with.
    token_digest: String,
    /// When it ends.
    expires: Instant,
}

/// The open sessions, by the SHA-256 of their id (the cookie's value).
#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<[u8; 32], Session>>,
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// Open a session for the token whose digest is `token_digest`; its id.
    pub fn open(&self, token_digest: String) -> String {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let id = hex::encode(bytes);
        let now = Instant::now();
        let mut open = self.open.lock();
        open.retain(|_, s| s.expires > now);
        if open.len() >= MAX_SESSIONS {
            if let Some(oldest) = open.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| *k) {
                open.remove(&oldest);
            }
        }
        open.insert(key(&id), Session { token_digest, expires: now + SESSION_LIFETIME });
        id
    }

    /// The token digest of session `id`, while it lasts.
    pub fn token_digest(&self, id: &str) -> Option<String> {
        let mut open = self.open.lock();
        let key = key(id);
        match open.get(&key) {
            Some(session) if session.expires > Instant::now() => Some(session.token_digest.clone()),
            Some(_) => {
                open.remove(&key);
                None
            }
            None => None,
        }
    }

    /// End session `id`.
    pub fn close(&self, id: &str) {
        self.open.lock().remove(&key(id));
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').filter_map(|pair| pair.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// The `Set-Cookie` value that opens session `id`.
pub fn set_cookie(id: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SESSION_LIFETIME.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}", if secure { "; Secure" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_open_resolve_and_close() {
        let sessions = Sessions::default();
        let id = sessions.open("abc".into());
        assert_eq!(id.len(), 64);
        assert_eq!(sessions.token_digest(&id).as_deref(), Some("abc"));
        assert_eq!(sessions.token_digest("not-a-session"), None);
        sessions.close(&id);
        assert_eq!(sessions.token_digest(&id), None);
    }

    #[test]
    fn cookies_are_read_and_written_strictly() {
        assert_eq!(cookie("a=1; wirework_session=xyz; b=2", COOKIE), Some("xyz"));
        assert_eq!(cookie("xwirework_session=1", COOKIE), None);
        let set = set_cookie("xyz", true);
        for part in ["wirework_session=xyz", "HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
            assert!(set.contains(part), "{set}");
        }
        assert!(!set_cookie("xyz", false).contains("Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }
}
