//! Sends the engine's `http::Request`s with the browser's `fetch`.

use gloo_net::http::RequestBuilder;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use weft_client::{HttpRequest, MediaKind};

use super::files::ObjectUrl;

/// The request never got an HTTP response: offline, DNS, CORS, or aborted.
#[derive(Debug, Clone)]
pub struct NetworkError;

/// Cancels in-flight requests that were given its [`AbortToken`] when dropped.
///
/// The sync loop's long-poll can take 30 s; signing out drops this to end it at once.
pub struct Abort {
    controller: Option<web_sys::AbortController>,
}

/// Passed to [`send`] to make the request abortable.
#[derive(Clone)]
pub struct AbortToken(Option<web_sys::AbortSignal>);

impl Abort {
    /// A new controller (without one, requests just can't be aborted).
    pub fn new() -> Self {
        Self {
            controller: web_sys::AbortController::new().ok(),
        }
    }

    /// A token tied to this controller.
    pub fn token(&self) -> AbortToken {
        AbortToken(
            self.controller
                .as_ref()
                .map(web_sys::AbortController::signal),
        )
    }
}

impl Drop for Abort {
    fn drop(&mut self) {
        if let Some(controller) = &self.controller {
            controller.abort();
        }
    }
}

/// Fetches `request` (a media download) into a blob URL; `Err` carries the HTTP status, or
/// 0 when there was no response.
///
/// A blob URL belongs to our origin, so a sender's HTML or SVG opened from it ("open image
/// in new tab") would run as us. The blob is therefore re-typed: only image, video and
/// audio types the browser shows as media keep their type; everything else becomes
/// `application/octet-stream`.
///
/// With `limit`, a body announced as larger is refused as 413 before it is read.
pub async fn fetch_object_url(request: HttpRequest, limit: Option<u64>) -> Result<ObjectUrl, u16> {
    let response = builder(&request, None)
        .build()
        .map_err(|_| 0u16)?
        .send()
        .await
        .map_err(|_| 0u16)?;
    if !response.ok() {
        return Err(response.status());
    }
    let length = response
        .headers()
        .get("content-length")
        .and_then(|l| l.parse::<u64>().ok());
    if let (Some(limit), Some(length)) = (limit, length)
        && length > limit
    {
        return Err(413);
    }
    let promise = web_sys::Response::from(response).blob().map_err(|_| 0u16)?;
    let blob: web_sys::Blob = JsFuture::from(promise)
        .await
        .map_err(|_| 0u16)?
        .unchecked_into();
    let served = blob.type_();
    let safe = if MediaKind::for_mimetype(&served) == MediaKind::File {
        "application/octet-stream"
    } else {
        served.split(';').next().unwrap_or_default().trim()
    };
    let blob = blob
        .slice_with_f64_and_f64_and_content_type(0.0, blob.size(), safe)
        .map_err(|_| 0u16)?;
    ObjectUrl::new(&blob).ok_or(0)
}

fn builder(request: &HttpRequest, abort: Option<&AbortToken>) -> RequestBuilder {
    let mut builder = RequestBuilder::new(&request.uri().to_string())
        .method(request.method().clone())
        .abort_signal(abort.and_then(|token| token.0.as_ref()));
    for (name, value) in request.headers() {
        if let Ok(value) = value.to_str() {
            builder = builder.header(name.as_str(), value);
        }
    }
    builder
}

/// Sends `request` and reads the whole response body.
pub async fn send(
    request: HttpRequest,
    abort: Option<&AbortToken>,
) -> Result<http::Response<Vec<u8>>, NetworkError> {
    let builder = builder(&request, abort);
    let body = request.into_body();
    // fetch rejects a body on GET and HEAD, even an empty one.
    let request = if body.is_empty() {
        builder.build()
    } else {
        builder.body(js_sys::Uint8Array::from(body.as_slice()))
    }
    .map_err(|_| NetworkError)?;

    let response = request.send().await.map_err(|_| NetworkError)?;
    let status = response.status();
    let bytes = response.binary().await.map_err(|_| NetworkError)?;
    http::Response::builder()
        .status(status)
        .body(bytes)
        .map_err(|_| NetworkError)
}
