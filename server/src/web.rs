//! Serves the built web client (Trunk's `dist/`).
//!
//! Release builds embed `dist/` in the binary, so one file is a whole
//! deployment; debug builds read it from disk so a rebuilt client shows up
//! without rebuilding the server. Hashed assets are cached for a year;
//! `index.html` is never cached, so a new release is picked up at once.
//! Release builds of the client also hold `X.br` and `X.gz` beside every file
//! (scripts/split-wasm.mjs); they are sent, by `Accept-Encoding`, as that file's
//! brotli or gzip encoding, so a server without a reverse proxy in front still
//! ships a third of the bytes. Each representation has its own ETag.

use std::sync::OnceLock;

use axum::{
    body::Body,
    extract::Request,
    response::{IntoResponse, Response},
};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use rust_embed::{EmbeddedFile, RustEmbed};
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
    // The precompressed siblings are encodings of another file, not resources of their own:
    // served under their own name they would need either `Content-Encoding` (and the type
    // of a file the URL does not name) or an octet-stream nobody asked for. The client never
    // links them, so the URL space stays that of the plain files and they are 404s.
    if Coding::ALL
        .iter()
        .any(|c| c.suffix().is_some_and(|suffix| path.ends_with(suffix)))
    {
        return (StatusCode::NOT_FOUND, "Not found").into_response();
    }
    if let Some(file) = (!path.is_empty() && path != "index.html")
        .then(|| Dist::get(path))
        .flatten()
    {
        let mime = content_type(path, file.metadata.mimetype()).to_owned();
        let cache = if is_hashed(path) {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        return file_response(request.headers(), path, file, &mime, cache);
    }
    // Unknown asset-like paths are real 404s; everything else is a client route.
    if path
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'))
    {
        return (StatusCode::NOT_FOUND, "Not found").into_response();
    }
    match Dist::get("index.html") {
        Some(index) => {
            let mut response =
                file_response(request.headers(), "index.html", index, "text/html; charset=utf-8", "no-cache");
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

/// The representation of `file` (at `path`) that the request accepts best, or a 304 when the
/// request's `If-None-Match` already names it. `mime` is the plain file's type, whatever
/// the encoding.
fn file_response(
    request: &HeaderMap,
    path: &str,
    identity: EmbeddedFile,
    mime: &str,
    cache: &'static str,
) -> Response {
    let accepted = AcceptEncoding::parse(
        request
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .map(HeaderValue::as_bytes),
    );
    // The best accepted coding that has a file (a debug build of the client has none).
    let mut chosen = None;
    for coding in accepted.ranked() {
        let Some(suffix) = coding.suffix() else { break };
        if let Some(file) = Dist::get(&format!("{path}{suffix}")) {
            chosen = Some((coding, file));
            break;
        }
    }
    let (coding, file) = chosen.unwrap_or((Coding::Identity, identity));
    let etag = etag(&file);
    let not_modified = if_none_match(
        request
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .map(HeaderValue::as_bytes),
        &etag,
    );

    let mut response = if not_modified {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        let mut response = Response::new(Body::from(file.data));
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(mime) {
            headers.insert(header::CONTENT_TYPE, value);
        }
        if let Some(name) = coding.header() {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
        }
        response
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    // Caches must key on Accept-Encoding, whether or not this answer is encoded: the same
    // URL is brotli for one browser and plain for another.
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// A strong ETag from the SHA-256 of the bytes sent (computed at build time for embedded
/// files), so the plain, brotli and gzip representations each have their own.
fn etag(file: &EmbeddedFile) -> String {
    let hash = file.metadata.sha256_hash();
    let hex: String = hash[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Whether `If-None-Match` (all its header lines) names `etag`, by the weak comparison
/// RFC 9110 prescribes for it (`W/"x"` matches `"x"`), or is `*`. Reading stops at the
/// first malformed entry of a line; what was read before it still counts.
fn if_none_match<'a>(values: impl Iterator<Item = &'a [u8]>, etag: &str) -> bool {
    let ours = etag.trim_start_matches("W/").as_bytes();
    for mut rest in values {
        loop {
            rest = rest.trim_ascii_start();
            while let Some(tail) = rest.strip_prefix(b",") {
                rest = tail.trim_ascii_start();
            }
            if rest.is_empty() {
                break;
            }
            if rest.starts_with(b"*") {
                return true;
            }
            let tag = rest.strip_prefix(b"W/").unwrap_or(rest);
            let Some(body) = tag.strip_prefix(b"\"") else {
                break;
            };
            let Some(end) = body.iter().position(|&b| b == b'"') else {
                break;
            };
            if &tag[..end + 2] == ours {
                return true;
            }
            rest = &body[end + 1..];
        }
    }
    false
}

/// The content codings weft has files for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Coding {
    Brotli,
    Gzip,
    Identity,
}

impl Coding {
    /// In the order preferred when the client weighs them equally: brotli is the smallest.
    const ALL: [Coding; 3] = [Coding::Brotli, Coding::Gzip, Coding::Identity];

    /// The `Content-Encoding` name; none for the plain file.
    fn header(self) -> Option<&'static str> {
        match self {
            Coding::Brotli => Some("br"),
            Coding::Gzip => Some("gzip"),
            Coding::Identity => None,
        }
    }

    /// The suffix of the precompressed file beside the plain one.
    fn suffix(self) -> Option<&'static str> {
        match self {
            Coding::Brotli => Some(".br"),
            Coding::Gzip => Some(".gz"),
            Coding::Identity => None,
        }
    }
}

/// What `Accept-Encoding` says of the codings weft has, as q-values in thousandths
/// (`None`: not mentioned).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct AcceptEncoding {
    br: Option<u16>,
    gzip: Option<u16>,
    identity: Option<u16>,
    any: Option<u16>,
}

impl AcceptEncoding {
    /// Parses every line of the header (RFC 9110 §12.5.3): `coding *(; param)` elements,
    /// codings case-insensitive, `q` weights `0`…`1` with up to three decimals. One pass
    /// over the bytes without allocating, so a huge or hostile header costs no more than
    /// reading it; an element with a malformed weight is skipped. A coding listed twice
    /// keeps its lowest weight, so a `q=0` anywhere refuses it.
    fn parse<'a>(values: impl Iterator<Item = &'a [u8]>) -> Self {
        let mut accept = AcceptEncoding::default();
        for value in values {
            for element in value.split(|&b| b == b',') {
                let mut parts = element.split(|&b| b == b';');
                let coding = parts.next().unwrap_or_default().trim_ascii();
                let mut q = Some(1000);
                for param in parts {
                    let (name, value) = match param.iter().position(|&b| b == b'=') {
                        Some(eq) => (param[..eq].trim_ascii(), param[eq + 1..].trim_ascii()),
                        None => (param.trim_ascii(), &b""[..]),
                    };
                    if name.eq_ignore_ascii_case(b"q") {
                        q = parse_qvalue(value);
                    }
                }
                let Some(q) = q else { continue };
                let slot = if coding.eq_ignore_ascii_case(b"br") {
                    &mut accept.br
                } else if coding.eq_ignore_ascii_case(b"gzip")
                    || coding.eq_ignore_ascii_case(b"x-gzip")
                {
                    &mut accept.gzip
                } else if coding.eq_ignore_ascii_case(b"identity") {
                    &mut accept.identity
                } else if coding == b"*" {
                    &mut accept.any
                } else {
                    continue;
                };
                *slot = Some(slot.map_or(q, |old| old.min(q)));
            }
        }
        accept
    }

    /// The acceptable codings, best first: by weight, then brotli, gzip, identity. `*`
    /// stands for every coding not named. An unnamed identity is acceptable (unless `*;q=0`)
    /// but comes last. If the client refuses everything, the plain file is still sent
    /// (RFC 9110 allows it, and a page that loads beats a 406).
    fn ranked(self) -> impl Iterator<Item = Coding> {
        let weight = |coding| match coding {
            Coding::Brotli => self.br.or(self.any).unwrap_or(0),
            Coding::Gzip => self.gzip.or(self.any).unwrap_or(0),
            Coding::Identity => self.identity.or(self.any).unwrap_or(1),
        };
        let mut ranked = Coding::ALL.map(|coding| (coding, weight(coding)));
        // Stable: equal weights keep the order of `Coding::ALL`.
        ranked.sort_by_key(|&(_, q)| std::cmp::Reverse(q));
        ranked
            .into_iter()
            .filter(|&(_, q)| q > 0)
            .map(|(coding, _)| coding)
            .chain([Coding::Identity])
    }
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
fn parse_qvalue(value: &[u8]) -> Option<u16> {
    let (int, frac) = match value.iter().position(|&b| b == b'.') {
        Some(dot) => (&value[..dot], &value[dot + 1..]),
        None => (value, &b""[..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let thousandths = frac
        .iter()
        .zip([100, 10, 1])
        .map(|(d, scale)| u16::from(d - b'0') * scale)
        .sum::<u16>();
    match int {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

fn index_html() -> String {
    Dist::get("index.html")
        .map(|f| String::from_utf8_lossy(&f.data).into_owned())
        .unwrap_or_default()
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
    stem.rsplit_once('-').is_some_and(|(_, hash)| {
        (12..=16).contains(&hash.len()) && hash.bytes().all(|b| b.is_ascii_hexdigit())
    })
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
                format!(
                    " 'sha256-{}'",
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, digest)
                )
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
        assert!(
            is_hashed("weft-web-5f3bc9d7fbc801f.js"),
            "15 digits: a hash with a leading zero"
        );
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
        assert_eq!(
            content_type("weft-web-0123456789abcdef_bg.wasm", guess),
            "application/wasm"
        );
        assert_eq!(
            content_type("split_calls-0123456789abcdef.wasm", guess),
            "application/wasm"
        );
        assert_eq!(
            content_type("chunk_0-0123456789abcdef.wasm", guess),
            "application/wasm"
        );
        assert_eq!(
            content_type("weft-web-0123456789abcdef.js", guess),
            "text/javascript"
        );
        assert_eq!(
            content_type("__wasm_split-0123456789abcdef.js", guess),
            "text/javascript"
        );
        assert_eq!(
            content_type("style-0123456789abcdef.css", "text/css"),
            "text/css"
        );
    }

    /// The codings tried for `header`, up to the plain file (which is always there).
    fn ranked(header: &str) -> Vec<Coding> {
        tried(AcceptEncoding::parse([header.as_bytes()].into_iter()))
    }

    fn tried(accept: AcceptEncoding) -> Vec<Coding> {
        let mut tried = Vec::new();
        for coding in accept.ranked() {
            tried.push(coding);
            if coding == Coding::Identity {
                break;
            }
        }
        tried
    }

    #[test]
    fn accept_encoding() {
        use Coding::{Brotli as B, Gzip as G, Identity as I};
        // What browsers send; no header or an empty one means the plain file.
        assert_eq!(ranked("gzip, deflate, br, zstd"), [B, G, I]);
        assert_eq!(ranked(""), [I]);
        assert_eq!(tried(AcceptEncoding::parse(std::iter::empty())), [I]);
        assert_eq!(ranked("gzip"), [G, I]);
        assert_eq!(ranked("identity"), [I]);
        // Case-insensitive codings and parameter names, optional whitespace, x-gzip.
        assert_eq!(ranked(" GZip ;Q=0.5 , BR"), [B, G, I]);
        assert_eq!(ranked("x-gzip"), [G, I]);
        // q=0 refuses; weights order; equal weights prefer br, then gzip.
        assert_eq!(ranked("br;q=0, gzip"), [G, I]);
        assert_eq!(ranked("br;q=0.000, gzip;q=0"), [I]);
        assert_eq!(ranked("br;q=0.5, gzip;q=0.8"), [G, B, I]);
        assert_eq!(ranked("identity;q=1, br;q=0.9"), [I]);
        assert_eq!(ranked("gzip;q=1.000, br;q=1"), [B, G, I]);
        // `*` covers what is not named, identity too; a named coding overrides it.
        assert_eq!(ranked("*"), [B, G, I]);
        assert_eq!(ranked("*;q=0.5, gzip"), [G, B, I]);
        assert_eq!(ranked("*;q=0, gzip"), [G, I]);
        assert_eq!(ranked("br, *;q=0"), [B, I]);
        // Listed twice: the lowest weight wins, so a refusal is never overridden.
        assert_eq!(ranked("br, br;q=0"), [I]);
        // Malformed weights drop their element only.
        assert_eq!(ranked("br;q=2, gzip"), [G, I]);
        assert_eq!(ranked("br;q=0.0001, gzip"), [G, I]);
        assert_eq!(ranked("br;q=1.5, gzip;q=-0"), [I]);
        assert_eq!(ranked("br;q=, gzip;q"), [I]);
        assert_eq!(ranked("br;q=0.5x"), [I]);
        // Unknown codings and junk are ignored.
        assert_eq!(ranked(",,;;=,zstd, deflate;q=1, ;br, \u{7f}br"), [I]);
        // Several header lines count together.
        let accept = AcceptEncoding::parse([&b"br;q=0"[..], b"gzip"].into_iter());
        assert_eq!(tried(accept), [G, I]);
        // A hostile header: large, no panic, one pass.
        let huge = "br;q=0.5;x=;=;,".repeat(50_000) + &"\u{ff}".repeat(1000);
        assert_eq!(ranked(&huge), [B, I]);
        assert_eq!(
            ranked("br;q=0.5;q="),
            [I],
            "the last weight counts, and it is malformed"
        );
        assert_eq!(parse_qvalue(b"0.123"), Some(123));
        assert_eq!(parse_qvalue(b"1."), Some(1000));
        assert_eq!(parse_qvalue(b"0.1"), Some(100));
    }

    #[test]
    fn if_none_match_uses_weak_comparison() {
        let tag = "\"0123abcd\"";
        let matches = |header: &str| if_none_match([header.as_bytes()].into_iter(), tag);
        assert!(matches("\"0123abcd\""));
        assert!(matches("W/\"0123abcd\""));
        assert!(matches("\"other\", W/\"0123abcd\""));
        assert!(matches("*"));
        assert!(!matches(""));
        assert!(!matches("\"0123abcd"));
        assert!(!matches("0123abcd"));
        assert!(!matches("\"0123abc\", \"0123abcde\""));
        // A malformed entry ends the reading of its line.
        assert!(!matches("junk, \"0123abcd\""));
        assert!(if_none_match(
            [&b"\"x\""[..], b"\"0123abcd\""].into_iter(),
            tag
        ));
    }

    #[test]
    fn finds_inline_scripts_only() {
        let html = r#"<script src="/a.js"></script><script type="module">boot()</script>"#;
        assert_eq!(inline_scripts(html).collect::<Vec<_>>(), vec!["boot()"]);
    }
}
