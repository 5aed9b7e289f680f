//! Uploads with progress, through `XMLHttpRequest` (`fetch` reports no upload progress).
//!
//! The file goes to the browser as a `Blob`, so its bytes never pass through wasm memory.

use wasm_bindgen::{JsCast, closure::Closure};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ProgressEvent, XmlHttpRequest};
use weft_client::HttpRequest;

use super::{files::LocalFile, net::NetworkError};

/// A running upload. Dropping it aborts the request and releases its callbacks.
pub struct Upload {
    xhr: XmlHttpRequest,
    done: js_sys::Promise,
    _on_progress: Closure<dyn FnMut(ProgressEvent)>,
}

impl Upload {
    /// Starts sending `file` as the body of `request` (whose own body is ignored);
    /// `on_progress` gets the fraction sent, 0.0 to 1.0.
    pub fn start(
        request: &HttpRequest,
        file: &LocalFile,
        mut on_progress: impl FnMut(f64) + 'static,
    ) -> Result<Self, NetworkError> {
        let xhr = XmlHttpRequest::new().map_err(|_| NetworkError)?;
        xhr.open(request.method().as_str(), &request.uri().to_string())
            .map_err(|_| NetworkError)?;
        for (name, value) in request.headers() {
            if let Ok(value) = value.to_str() {
                xhr.set_request_header(name.as_str(), value)
                    .map_err(|_| NetworkError)?;
            }
        }
        let on_progress = Closure::<dyn FnMut(ProgressEvent)>::new(move |event: ProgressEvent| {
            if event.length_computable() && event.total() > 0.0 {
                on_progress(event.loaded() / event.total());
            }
        });
        // Chromium throttles `progress` to one per 50 ms and ends with `load` alone, so a
        // quick upload may report only through `load`.
        let target = xhr.upload().map_err(|_| NetworkError)?;
        target.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
        target.set_onload(Some(on_progress.as_ref().unchecked_ref()));
        // `loadend` follows success, error and abort alike; the promise's own resolve
        // function is the listener, so no Rust closure is needed for it.
        let done = js_sys::Promise::new(&mut |resolve, _reject| xhr.set_onloadend(Some(&resolve)));
        xhr.send_with_opt_blob(Some(file.blob()))
            .map_err(|_| NetworkError)?;
        Ok(Self {
            xhr,
            done,
            _on_progress: on_progress,
        })
    }

    /// What finishing the upload returns: waits without borrowing the [`Upload`], so the
    /// caller can keep the upload where a cancel button can drop it.
    pub fn outcome(
        &self,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, NetworkError>> + use<> {
        let (xhr, done) = (self.xhr.clone(), JsFuture::from(self.done.clone()));
        async move {
            // Settles when the request ends, however it ends; the status below says how.
            let _ = done.await;
            let status = xhr.status().map_err(|_| NetworkError)?;
            if status == 0 {
                return Err(NetworkError);
            }
            let body = xhr.response_text().ok().flatten().unwrap_or_default();
            http::Response::builder()
                .status(status)
                .body(body.into_bytes())
                .map_err(|_| NetworkError)
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Ok(upload) = self.xhr.upload() {
            upload.set_onprogress(None);
            upload.set_onload(None);
        }
        if self.xhr.ready_state() != XmlHttpRequest::DONE {
            // `abort()` does not throw on a request that is still open.
            let _ = self.xhr.abort();
        }
        self.xhr.set_onloadend(None);
    }
}
