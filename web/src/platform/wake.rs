//! A one-shot wake-up: a future that completes when its waker is called.
//!
//! Made of a JS promise whose own `resolve` function is the waker, so no Rust closure has to
//! be kept alive for the browser.

use js_sys::{Function, Promise};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

/// Wakes the paired [`Wait`]; calling it more than once does nothing more.
pub struct Waker(Function);

impl Waker {
    pub fn wake(&self) {
        // A promise's `resolve` does not throw.
        let _ = self.0.call0(&JsValue::NULL);
    }
}

/// Completes once the paired [`Waker`] is called.
pub struct Wait(Promise);

impl Wait {
    pub async fn wait(self) {
        // The promise only ever resolves.
        let _ = JsFuture::from(self.0).await;
    }
}

/// A new waker and the wait it ends.
pub fn pair() -> (Waker, Wait) {
    let mut resolve_fn = None;
    let promise =
        Promise::new(&mut |resolve: Function, _reject: Function| resolve_fn = Some(resolve));
    // The executor runs synchronously inside `Promise::new`.
    let resolve = resolve_fn.unwrap_or_else(|| Function::new_no_args(""));
    (Waker(resolve), Wait(promise))
}
