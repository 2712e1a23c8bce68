//! The host's services, one function each: inside a component they call the
//! `wirework:plugin/host` imports; in a native build (`cargo test`) they go
//! to the [`FakeHost`](crate::testing::FakeHost) the test installed, so a
//! node runs as plain Rust with nothing else changed.

/// A log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// An outgoing request, as the host takes it.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout_ms: Option<u32>,
    pub credential: Option<String>,
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::{Level, Outgoing};
    use crate::bindings::wirework::plugin::host;
    use crate::bindings::wirework::plugin::types::OutgoingRequest;
    use crate::Response;

    pub(crate) fn log(level: Level, message: &str) {
        let level = match level {
            Level::Debug => host::Level::Debug,
            Level::Info => host::Level::Info,
            Level::Warn => host::Level::Warn,
            Level::Error => host::Level::Error,
        };
        host::log(level, message)
    }

    pub(crate) fn secret(name: &str) -> Result<String, String> {
        host::secret(name)
    }

    pub(crate) fn credential(kind: &str) -> Result<Vec<(String, String)>, String> {
        host::credential(kind)
    }

    pub(crate) fn kv_get(key: &str) -> Option<Vec<u8>> {
        host::kv_get(key)
    }

    pub(crate) fn kv_set(key: &str, value: &[u8]) {
        host::kv_set(key, value)
    }

    pub(crate) fn now_unix_ms() -> u64 {
        host::now_unix_ms()
    }

    pub(crate) fn http_fetch(request: Outgoing) -> Result<Response, String> {
        let request = OutgoingRequest {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: request.body,
            timeout_ms: request.timeout_ms,
            credential: request.credential,
        };
        host::http_fetch(&request).map(|r| Response { status: r.status, headers: r.headers, body: r.body })
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::{Level, Outgoing};
    use crate::testing::with_host;
    use crate::Response;

    pub(crate) fn log(level: Level, message: &str) {
        with_host(|h| h.log(level, message))
    }

    pub(crate) fn secret(name: &str) -> Result<String, String> {
        with_host(|h| h.read_secret(name))
    }

    pub(crate) fn credential(kind: &str) -> Result<Vec<(String, String)>, String> {
        with_host(|h| h.read_credential(kind))
    }

    pub(crate) fn kv_get(key: &str) -> Option<Vec<u8>> {
        with_host(|h| h.kv_get(key))
    }

    pub(crate) fn kv_set(key: &str, value: &[u8]) {
        with_host(|h| h.kv_set(key, value))
    }

    pub(crate) fn now_unix_ms() -> u64 {
        with_host(|h| h.now_unix_ms())
    }

    pub(crate) fn http_fetch(request: Outgoing) -> Result<Response, String> {
        with_host(|h| h.http_fetch(request))
    }
}

pub(crate) use imp::*;
