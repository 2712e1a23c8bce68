//! The web studio's files, served at `/` from a built `studio/dist`.
//!
//! The studio is a static single-page app (TypeScript, React, Vite: see
//! `studio/` and docs/studio.md) that talks to `/api/v1` like any client; the
//! server only hands out its files. They are read from a directory
//! ([`StudioFiles::locate`]): `--studio-dir`, else `studio/` beside the
//! binary, else the repository's `studio/dist` (a development checkout,
//! where `scripts/setup` builds it).
//!
//! Every answer carries a strict Content-Security-Policy (scripts and styles
//! from this origin only, no inline script, no framing), `nosniff` and no
//! referrer: item data and plugin output are untrusted, and the studio
//! renders them as text.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

/// The Content-Security-Policy of every studio answer.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// Where the built studio is, if anywhere.
#[derive(Debug, Clone)]
pub struct StudioFiles {
    dir: Option<PathBuf>,
}

impl StudioFiles {
    /// The studio in `configured` (none when it holds no `index.html`),
    /// else the first built one of: `studio/`
    /// beside the binary, the repository's `studio/dist` above a
    /// `target/<profile>/` binary. A directory counts when it holds
    /// `index.html`.
    pub fn locate(configured: Option<&FsPath>) -> StudioFiles {
        if let Some(dir) = configured {
            if !dir.join("index.html").is_file() {
                tracing::warn!(dir = %dir.display(), "the studio directory holds no index.html: / will say so");
                return StudioFiles { dir: None };
            }
            return StudioFiles { dir: Some(dir.to_path_buf()) };
        }
        let exe = std::env::current_exe().ok().and_then(|e| e.parent().map(FsPath::to_path_buf));
        let candidates = exe
            .iter()
            .flat_map(|bin| [bin.join("studio"), bin.join("../../studio/dist"), bin.join("../../../studio/dist")]);
        let dir = candidates.into_iter().find(|d| d.join("index.html").is_file());
        StudioFiles { dir }
    }

    /// The directory served, if there is one.
    pub fn dir(&self) -> Option<&FsPath> {
        self.dir.as_deref()
    }
}

/// `GET /`: the studio's page.
pub async fn index(State(files): State<Arc<StudioFiles>>) -> Response {
    let Some(dir) = files.dir() else {
        let message = "the studio is not built here: run scripts/setup (it builds studio/dist), or start \
                       `wirework serve --studio-dir DIR` with a built studio; the API is under /api/v1";
        return with_headers(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", message.as_bytes().to_vec(), false);
    };
    match tokio::fs::read(dir.join("index.html")).await {
        Ok(bytes) => with_headers(StatusCode::OK, "text/html; charset=utf-8", bytes, false),
        Err(e) => {
            tracing::error!(dir = %dir.display(), "the studio's index.html cannot be read: {e}");
            with_headers(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", b"the studio cannot be read".to_vec(), false)
        }
    }
}

/// `GET /assets/{file}`: one of the built files (names Vite gives them carry
/// a content hash, so they are cached for good).
pub async fn asset(State(files): State<Arc<StudioFiles>>, Path(file): Path<String>) -> Response {
    let not_found = || with_headers(StatusCode::NOT_FOUND, "text/plain", b"no such file".to_vec(), false);
    let plain = !file.is_empty()
        && !file.starts_with('.')
        && file.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    let (Some(dir), true) = (files.dir(), plain) else { return not_found() };
    match tokio::fs::read(dir.join("assets").join(&file)).await {
        Ok(bytes) => with_headers(StatusCode::OK, content_type(&file), bytes, true),
        Err(_) => not_found(),
    }
}

fn content_type(file: &str) -> &'static str {
    match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("woff2") => "font/woff2",
        Some("json" | "map") => "application/json",
        _ => "application/octet-stream",
    }
}

fn with_headers(status: StatusCode, content_type: &'static str, body: Vec<u8>, immutable: bool) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    let cache = if immutable { "public, max-age=31536000, immutable" } else { "no-cache" };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}
