//! Waiting without blocking, for back-off between retries.

use std::time::Duration;

use wasm_bindgen_futures::JsFuture;

/// Resolves after `duration`.
///
/// The JS promise's own `resolve` function is the timeout callback, so no Rust closure has
/// to be kept alive (or leaked) for the browser.
pub async fn sleep(duration: Duration) {
    let millis = i32::try_from(duration.as_millis()).unwrap_or(i32::MAX);
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        if let Some(window) = web_sys::window() {
            // `setTimeout` does not throw for a function and a delay.
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, millis);
        }
    });
    // The promise only ever resolves.
    let _ = JsFuture::from(promise).await;
}
