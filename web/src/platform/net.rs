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

/// In headless Chromium (`scripts/test`). Media downloads are answered by a stand-in for
/// `fetch` that serves what a test put at a URL (any other URL goes to the real `fetch`).
#[cfg(test)]
pub(super) mod tests {
    use js_sys::{Function, Map, Object, Reflect};
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;
    use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
    use web_sys::Blob;

    use super::fetch_object_url;

    wasm_bindgen_test_configure!(run_in_browser);

    /// Installs the stand-in once; returns its URL → reply map.
    fn served() -> Map {
        Function::new_no_args(
            "if (!globalThis.__weftServed) {
                const served = new Map();
                const real = globalThis.fetch.bind(globalThis);
                globalThis.__weftServed = served;
                globalThis.fetch = (input, init) => {
                    const reply = served.get(typeof input === 'string' ? input : input.url);
                    if (!reply) return real(input, init);
                    const headers = new Headers({'content-type': reply.type});
                    if (reply.length !== undefined) headers.set('content-length', reply.length);
                    return Promise.resolve(new Response(reply.status === 200 ? reply.body : null,
                        {status: reply.status, headers}));
                };
            }
            return globalThis.__weftServed;",
        )
        .call0(&JsValue::NULL)
        .unwrap()
        .unchecked_into()
    }

    /// Serves `body` at `url` with `status` and a `Content-Type` of `content_type` (and a
    /// `Content-Length` of `length`, when given).
    pub(in crate::platform) fn serve(
        url: &str,
        body: &JsValue,
        content_type: &str,
        status: u16,
        length: Option<u64>,
    ) {
        let reply = Object::new();
        Reflect::set(&reply, &"body".into(), body).unwrap();
        Reflect::set(&reply, &"type".into(), &content_type.into()).unwrap();
        Reflect::set(&reply, &"status".into(), &status.into()).unwrap();
        if let Some(length) = length {
            Reflect::set(&reply, &"length".into(), &length.to_string().into()).unwrap();
        }
        served().set(&url.into(), &reply);
    }

    /// What a blob URL holds, read back with the real `fetch`: its type and its text.
    pub(in crate::platform) async fn read(url: &str) -> Result<(String, String), JsValue> {
        let window = web_sys::window().unwrap();
        let response: web_sys::Response = JsFuture::from(window.fetch_with_str(url))
            .await?
            .unchecked_into();
        let blob: Blob = JsFuture::from(response.blob()?).await?.unchecked_into();
        let text = JsFuture::from(blob.text()).await?.as_string().unwrap();
        Ok((blob.type_(), text))
    }

    fn get(url: &str) -> weft_client::HttpRequest {
        http::Request::get(url).body(Vec::new()).unwrap()
    }

    /// The type the blob URL of a download served as `content_type` carries.
    async fn shown_as(content_type: &str) -> String {
        let url = format!(
            "https://media.test/typed/{}",
            content_type.replace(['/', ' ', ';', '+'], "_")
        );
        serve(&url, &"body".into(), content_type, 200, None);
        let object = fetch_object_url(get(&url), None).await.ok().unwrap();
        let (shown, text) = read(object.as_str()).await.unwrap();
        assert_eq!(text, "body");
        shown
    }

    #[wasm_bindgen_test]
    async fn media_the_browser_plays_keeps_its_type() {
        assert_eq!(shown_as("image/png").await, "image/png");
        assert_eq!(shown_as("video/webm").await, "video/webm");
        // Parameters go: the blob is typed with the bare media type.
        assert_eq!(shown_as("audio/ogg; codecs=opus").await, "audio/ogg");
    }

    #[wasm_bindgen_test]
    async fn anything_that_could_run_as_our_origin_becomes_plain_bytes() {
        for served in [
            "text/html",
            "text/html; charset=utf-8",
            "image/svg+xml",
            "application/xhtml+xml",
            "text/javascript",
            "application/pdf",
            "",
        ] {
            assert_eq!(
                shown_as(served).await,
                "application/octet-stream",
                "{served:?}"
            );
        }
    }

    #[wasm_bindgen_test]
    async fn failures_carry_the_status_and_large_bodies_are_refused_unread() {
        serve(
            "https://media.test/missing",
            &JsValue::NULL,
            "text/plain",
            404,
            None,
        );
        assert_eq!(
            fetch_object_url(get("https://media.test/missing"), None)
                .await
                .err(),
            Some(404)
        );
        serve(
            "https://media.test/big",
            &"0123456789".into(),
            "image/png",
            200,
            Some(10),
        );
        assert_eq!(
            fetch_object_url(get("https://media.test/big"), Some(9))
                .await
                .err(),
            Some(413)
        );
        let fits = fetch_object_url(get("https://media.test/big"), Some(10)).await;
        assert_eq!(
            read(fits.ok().unwrap().as_str()).await.unwrap().1,
            "0123456789"
        );
    }

    #[wasm_bindgen_test]
    async fn a_blob_url_is_revoked_when_dropped() {
        serve(
            "https://media.test/drop",
            &"bytes".into(),
            "image/png",
            200,
            None,
        );
        let object = fetch_object_url(get("https://media.test/drop"), None)
            .await
            .ok()
            .unwrap();
        let url = object.as_str().to_owned();
        assert_eq!(object.size(), 5);
        assert!(read(&url).await.is_ok());
        drop(object);
        assert!(read(&url).await.is_err(), "the browser freed it");
    }
}
