//! Serves the built web client (Trunk's `dist/`).
//!
//! Release builds embed `dist/` in the binary, so one file is a whole
//! deployment; debug builds read it from disk so a rebuilt client shows up
//! without rebuilding the server. Hashed assets are cached for a year;
//! `index.html` is never cached, so a new release is picked up at once.

use std::sync::OnceLock;

use axum::{
    body::Body,
    extract::Request,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, Method, StatusCode, header};
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};

#[derive(RustEmbed)]
#[folder = "$CARGO_MANIFEST_DIR/../dist"]
#[allow_missing = true]
struct Dist;

/// Fallback handler: static files, with `index.html` for client-side routes.
pub async fn serve_client(request: Request) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let path = request.uri().path().trim_start_matches('/');
    if let Some(file) = (!path.is_empty() && path != "index.html").then(|| Dist::get(path)).flatten() {
        let mime = content_type(path, file.metadata.mimetype());
        let cache = if is_hashed(path) { "public, max-age=31536000, immutable" } else { "no-cache" };
        return file_response(file.data.into_owned(), mime, cache);
    }
    // Unknown asset-like paths are real 404s; everything else is a client route.
    if path.rsplit('/').next().is_some_and(|last| last.contains('.')) {
        return (StatusCode::NOT_FOUND, "Not found").into_response();
    }
    match Dist::get("index.html") {
        Some(index) => {
            let mut response = file_response(index.data.into_owned(), "text/html; charset=utf-8", "no-cache");
            if let Ok(csp) = HeaderValue::from_str(content_security_policy(&index_html())) {
                response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, csp);
            }
            response
        }
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "The Weft web client is not built. Run ./scripts/run (or `trunk build --release`) and restart weft.\n",
        )
            .into_response(),
    }
}

fn file_response(data: Vec<u8>, mime: &str, cache: &'static str) -> Response {
    let mut response = Response::new(Body::from(data));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(mime) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

fn index_html() -> String {
    Dist::get("index.html").map(|f| String::from_utf8_lossy(&f.data).into_owned()).unwrap_or_default()
}

/// The browser refuses module scripts (we send `nosniff`) and streamed wasm
/// (`WebAssembly.instantiateStreaming`, used for the main module and the lazily
/// loaded chunks) without these exact types, so they are not left to the guess.
fn content_type<'a>(path: &str, guessed: &'a str) -> &'a str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("wasm") => "application/wasm",
        Some("js" | "mjs") => "text/javascript",
        _ => guessed,
    }
}

/// Built assets are named `name-<hex hash>.ext` by Trunk and by scripts/split-wasm.mjs
/// (the JS glue, the `__wasm_split-<hash>.js` loader, and the lazy chunks
/// `split_<module>-<hash>.wasm` and `chunk_<n>-<hash>.wasm`); those never change content.
fn is_hashed(path: &str) -> bool {
    let stem = path.rsplit('/').next().unwrap_or(path);
    let stem = stem.split('.').next().unwrap_or(stem);
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    // Trunk writes its 64-bit hash without leading zeros, so it is sometimes shorter than 16.
    stem.rsplit_once('-')
        .is_some_and(|(_, hash)| (12..=16).contains(&hash.len()) && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The client's CSP. Scripts only from our origin, plus the exact inline
/// bootstrap module Trunk writes into `index.html` (allowed by its hash, so
/// any other inline script, e.g. one injected through a message, is refused).
fn content_security_policy(index: &str) -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        let hashes: String = inline_scripts(index)
            .map(|script| {
                let digest = Sha256::digest(script.as_bytes());
                format!(" 'sha256-{}'", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, digest))
            })
            .collect();
        format!(
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; style-src 'self'; \
             img-src 'self' blob: data:; media-src 'self' blob:; connect-src *; font-src 'self'; \
             object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
    })
}

fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    html.match_indices("<script").filter_map(move |(start, _)| {
        let open_end = start + html[start..].find('>')?;
        let tag = &html[start..open_end];
        if tag.contains(" src=") {
            return None;
        }
        let body_start = open_end + 1;
        let body_end = body_start + html[body_start..].find("</script>")?;
        Some(&html[body_start..body_end])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names() {
        assert!(is_hashed("weft-web-0123456789abcdef_bg.wasm"));
        assert!(is_hashed("style-0123456789abcdef.css"));
        assert!(is_hashed("weft-web-5f3bc9d7fbc801f.js"), "15 digits: a hash with a leading zero");
        assert!(!is_hashed("index.html"));
        assert!(!is_hashed("icon.svg"));
        // scripts/split-wasm.mjs: the wasm-split loader and the lazily loaded chunks.
        assert!(is_hashed("__wasm_split-0123456789abcdef.js"));
        assert!(is_hashed("split_calls-0123456789abcdef.wasm"));
        assert!(is_hashed("chunk_0-0123456789abcdef.wasm"));
        assert!(!is_hashed("__wasm_split.js"));
        assert!(!is_hashed("split_calls.wasm"));
    }

    #[test]
    fn content_types() {
        let guess = "application/octet-stream";
        assert_eq!(content_type("weft-web-0123456789abcdef_bg.wasm", guess), "application/wasm");
        assert_eq!(content_type("split_calls-0123456789abcdef.wasm", guess), "application/wasm");
        assert_eq!(content_type("chunk_0-0123456789abcdef.wasm", guess), "application/wasm");
        assert_eq!(content_type("weft-web-0123456789abcdef.js", guess), "text/javascript");
        assert_eq!(content_type("__wasm_split-0123456789abcdef.js", guess), "text/javascript");
        assert_eq!(content_type("style-0123456789abcdef.css", "text/css"), "text/css");
    }

    #[test]
    fn finds_inline_scripts_only() {
        let html = r#"<script src="/a.js"></script><script type="module">boot()</script>"#;
        assert_eq!(inline_scripts(html).collect::<Vec<_>>(), vec!["boot()"]);
    }
}
