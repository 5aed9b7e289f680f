//! Content repository endpoints: upload (direct and asynchronous), authenticated
//! download with safe headers and byte ranges, and the upload limit.
//!
//! Uploads and downloads are streamed, so these handlers take the raw body and answer with
//! raw bytes instead of going through ruma's (buffering) request types; paths still come
//! from ruma's metadata via `ruma_route`.

use std::io::SeekFrom;

use axum::{
    Json,
    body::Body,
    extract::{Path, State},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::ruma_wrapper::bearer_token_from;
use crate::{
    error::{Error, ErrorKind, Result},
    service::{
        Services, accounts::Requester, media::MediaFile, ratelimit::Action, thumbnail::Method,
    },
};

/// Sandbox for anything a browser might render from our origin.
const MEDIA_CSP: &str = "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; \
                         style-src 'unsafe-inline'; media-src 'self'; object-src 'self';";
const CHUNK: usize = 64 * 1024;

fn requester(services: &Services, headers: &HeaderMap) -> Result<Requester> {
    match bearer_token_from(headers)? {
        Some(token) => services.accounts.authenticate(token),
        None => Err(Error::new(ErrorKind::MissingToken, "Missing access token")),
    }
}

/// One query parameter, percent-decoded.
fn query_param(uri: &Uri, name: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| {
            let value = value.replace('+', " ");
            percent_encoding::percent_decode_str(&value)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// A file name as given by the uploader: trimmed, no path, no control characters.
fn clean_filename(name: Option<String>) -> Option<String> {
    let name = name?;
    let name = name.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    let name: String = name.chars().filter(|c| !c.is_control()).take(255).collect();
    (!name.is_empty()).then_some(name)
}

/// `POST /_matrix/media/v3/upload`.
pub async fn upload(
    State(services): State<Services>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let who = requester(&services, &headers)?;
    services.rate_limit(Action::MediaUpload, who.user_id.as_str())?;
    check_declared_length(&services, &headers)?;
    let filename = clean_filename(query_param(&uri, "filename"));
    let mxc = services
        .media
        .upload(&who, content_type(&headers), filename.as_deref(), body)
        .await?;
    Ok(Json(json!({ "content_uri": mxc })).into_response())
}

/// `POST /_matrix/media/v1/create`.
pub async fn create(State(services): State<Services>, headers: HeaderMap) -> Result<Response> {
    let who = requester(&services, &headers)?;
    services.rate_limit(Action::MediaUpload, who.user_id.as_str())?;
    let (mxc, expires) = services.media.create_pending(&who)?;
    Ok(Json(json!({ "content_uri": mxc, "unused_expires_at": expires })).into_response())
}

/// `PUT /_matrix/media/v3/upload/{serverName}/{mediaId}`.
pub async fn upload_to(
    State(services): State<Services>,
    Path((server_name, media_id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let who = requester(&services, &headers)?;
    services.rate_limit(Action::MediaUpload, who.user_id.as_str())?;
    check_declared_length(&services, &headers)?;
    let filename = clean_filename(query_param(&uri, "filename"));
    services
        .media
        .upload_pending(
            &who,
            &server_name,
            &media_id,
            content_type(&headers),
            filename.as_deref(),
            body,
        )
        .await?;
    Ok(Json(json!({})).into_response())
}

/// Refuses at once an upload whose declared length is over the limit.
fn check_declared_length(services: &Services, headers: &HeaderMap) -> Result<()> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(length) if length > services.media.max_upload_size() => Err(Error::new(
            ErrorKind::TooLarge,
            format!(
                "Files may be at most {} bytes",
                services.media.max_upload_size()
            ),
        )),
        _ => Ok(()),
    }
}

/// `GET /_matrix/client/v1/media/config`.
pub async fn config(State(services): State<Services>, headers: HeaderMap) -> Result<Response> {
    requester(&services, &headers)?;
    Ok(Json(json!({ "m.upload.size": services.media.max_upload_size() })).into_response())
}

/// `GET /_matrix/client/v1/media/download/{serverName}/{mediaId}`.
pub async fn download(
    State(services): State<Services>,
    Path((server_name, media_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    requester(&services, &headers)?;
    let file = services.media.media_file(&server_name, &media_id)?;
    let filename = file.filename.clone();
    serve(file, filename.as_deref(), &headers).await
}

/// `GET /_matrix/client/v1/media/download/{serverName}/{mediaId}/{fileName}`.
pub async fn download_as(
    State(services): State<Services>,
    Path((server_name, media_id, filename)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    requester(&services, &headers)?;
    let file = services.media.media_file(&server_name, &media_id)?;
    let filename = clean_filename(Some(filename));
    serve(file, filename.as_deref(), &headers).await
}

/// `GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}`.
pub async fn thumbnail(
    State(services): State<Services>,
    Path((server_name, media_id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response> {
    requester(&services, &headers)?;
    let dimension = |name: &str| -> Result<u32> {
        let value = query_param(&uri, name)
            .ok_or_else(|| Error::new(ErrorKind::MissingParam, format!("`{name}` is required")))?;
        value
            .parse()
            .map_err(|_| Error::invalid_param(format!("`{name}` must be a positive integer")))
    };
    let (width, height) = (dimension("width")?, dimension("height")?);
    let method = match query_param(&uri, "method").as_deref() {
        Some("crop") => Method::Crop,
        None | Some("scale") => Method::Scale,
        Some(other) => {
            return Err(Error::invalid_param(format!(
                "Unknown thumbnail method `{other}`"
            )));
        }
    };
    let file = services
        .media
        .thumbnail(&server_name, &media_id, width, height, method)
        .await?;
    let filename = file
        .filename
        .clone()
        .unwrap_or_else(|| "thumbnail".to_owned());
    serve(file, Some(&filename), &headers).await
}

/// The unauthenticated download endpoints are frozen (spec v1.11): nothing is served there.
pub async fn legacy() -> Error {
    Error::not_found("Media is only served by the authenticated /_matrix/client/v1/media endpoints")
}

/// `Content-Disposition` with the file name, RFC 6266 encoded when not plain ASCII.
fn disposition(inline: bool, filename: Option<&str>) -> String {
    let kind = if inline { "inline" } else { "attachment" };
    let Some(name) = filename else {
        return kind.to_owned();
    };
    let plain = name
        .chars()
        .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ');
    if plain {
        format!("{kind}; filename=\"{name}\"")
    } else {
        let encoded =
            percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
        format!("{kind}; filename*=utf-8''{encoded}")
    }
}

/// The requested byte range of a `size`-byte file: `Ok(None)` for the whole file,
/// `Err(())` when unsatisfiable. Only single ranges are supported (what players send).
fn byte_range(headers: &HeaderMap, size: u64) -> std::result::Result<Option<(u64, u64)>, ()> {
    let Some(value) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None); // Multiple ranges: answer with the whole file, as allowed.
    }
    let (start, end) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size.checked_sub(1).ok_or(())?)
        }
        (start, "") => (
            start.parse().map_err(|_| ())?,
            size.checked_sub(1).ok_or(())?,
        ),
        (start, end) => {
            let (start, end): (u64, u64) =
                (start.parse().map_err(|_| ())?, end.parse().map_err(|_| ())?);
            (start, end.min(size.saturating_sub(1)))
        }
    };
    if start > end || start >= size {
        return Err(());
    }
    Ok(Some((start, end)))
}

async fn serve(file: MediaFile, filename: Option<&str>, request: &HeaderMap) -> Result<Response> {
    let etag = format!("\"{}\"", file.sha256);
    let mut headers = HeaderMap::new();
    let content_type = HeaderValue::from_str(&file.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    let disposition = disposition(file.inline_safe(), filename);
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(MEDIA_CSP),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("cross-origin"),
    );
    // mxc content never changes.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    if request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return Ok((StatusCode::NOT_MODIFIED, headers).into_response());
    }

    let size = file.size;
    let (status, start, length) = match byte_range(request, size) {
        Ok(None) => (StatusCode::OK, 0, size),
        Ok(Some((start, end))) => {
            let range = format!("bytes {start}-{end}/{size}");
            headers.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&range).map_err(Error::internal)?,
            );
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        Err(()) => {
            let range = format!("bytes */{size}");
            headers.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&range).map_err(Error::internal)?,
            );
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, headers).into_response());
        }
    };
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));

    let mut handle = tokio::fs::File::open(&file.path)
        .await
        .map_err(|e| Error::internal(format!("media file {}: {e}", file.sha256)))?;
    handle
        .seek(SeekFrom::Start(start))
        .await
        .map_err(Error::internal)?;
    // Read in chunks as the client takes them: memory stays flat for large files.
    let stream = futures_util::stream::unfold((handle, length), |(mut handle, left)| async move {
        if left == 0 {
            return None;
        }
        let want = CHUNK.min(usize::try_from(left).unwrap_or(CHUNK));
        let mut buf = vec![0; want];
        match handle.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((
                    Ok::<Bytes, std::io::Error>(Bytes::from(buf)),
                    (handle, left - n as u64),
                ))
            }
            Err(e) => Some((Err(e), (handle, 0))),
        }
    });
    Ok((status, headers, Body::from_stream(stream)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(value: &str, size: u64) -> std::result::Result<Option<(u64, u64)>, ()> {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_str(value).unwrap());
        byte_range(&headers, size)
    }

    #[test]
    fn ranges() {
        assert_eq!(range("bytes=0-99", 1000), Ok(Some((0, 99))));
        assert_eq!(range("bytes=900-", 1000), Ok(Some((900, 999))));
        assert_eq!(range("bytes=-100", 1000), Ok(Some((900, 999))));
        assert_eq!(range("bytes=990-2000", 1000), Ok(Some((990, 999))));
        assert_eq!(range("bytes=1000-", 1000), Err(()));
        assert_eq!(range("bytes=5-1", 1000), Err(()));
        assert_eq!(range("bytes=0-1,5-6", 1000), Ok(None));
    }

    #[test]
    fn dispositions() {
        assert_eq!(
            disposition(true, Some("cat.png")),
            "inline; filename=\"cat.png\""
        );
        assert_eq!(disposition(false, None), "attachment");
        assert_eq!(
            disposition(false, Some("a\"b.txt")),
            "attachment; filename*=utf-8''a%22b%2Etxt"
        );
        assert_eq!(
            disposition(false, Some("résumé.pdf")),
            "attachment; filename*=utf-8''r%C3%A9sum%C3%A9%2Epdf"
        );
    }
}
