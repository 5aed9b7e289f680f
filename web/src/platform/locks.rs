//! Web Locks: one tab at a time owns a device's crypto store.
//!
//! Two tabs ratcheting the same Olm sessions from two copies of the store would wedge them
//! (each tab's copy forgets the other's steps), so the tab that holds the lock is the only
//! one that runs the session; others wait for it, as Element's "open in another window".

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue, closure::Closure, prelude::wasm_bindgen};
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks` (web-sys only binds it behind its unstable-API flag).
    type LockManager;
    #[wasm_bindgen(method, js_name = request)]
    fn request_with_options(
        this: &LockManager,
        name: &str,
        options: &Object,
        callback: &Function,
    ) -> Promise;
}

fn manager() -> Option<LockManager> {
    let navigator = web_sys::window()?.navigator();
    let locks = Reflect::get(&navigator, &"locks".into()).ok()?;
    (!locks.is_undefined()).then(|| locks.unchecked_into())
}

/// A held lock; dropping it releases the lock.
pub struct LockGuard {
    release: Option<Function>,
    _granted: Closure<dyn FnMut(JsValue) -> Promise>,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            // A promise's `resolve` does not throw.
            let _ = release.call0(&JsValue::NULL);
        }
    }
}

/// Whether the lock `name` is free right now, without waiting for it.
pub async fn is_free(name: &str) -> bool {
    let Some(manager) = manager() else {
        return true;
    };
    let options = Object::new();
    // Setting a property of a plain new object does not fail.
    let _ = Reflect::set(&options, &"ifAvailable".into(), &JsValue::TRUE);
    let probe = Closure::<dyn FnMut(JsValue) -> JsValue>::new(|lock: JsValue| {
        JsValue::from_bool(!lock.is_null())
    });
    let result = JsFuture::from(manager.request_with_options(
        name,
        &options,
        probe.as_ref().unchecked_ref(),
    ))
    .await;
    result.ok().and_then(|v| v.as_bool()).unwrap_or(false)
}

/// Waits until this tab holds the exclusive lock `name`. Browsers without Web Locks get a
/// guard at once (nothing to coordinate with).
pub async fn acquire(name: &str) -> LockGuard {
    let (granted_tx, granted_rx) = oneshot();
    let mut granted_tx = Some(granted_tx);
    // Called once the lock is granted; the lock is held until the promise it returns
    // settles, which is when the guard calls the promise's resolve function.
    let granted = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |_lock: JsValue| {
        let mut release = None;
        let held =
            Promise::new(&mut |resolve: Function, _reject: Function| release = Some(resolve));
        if let (Some(tx), Some(release)) = (granted_tx.take(), release) {
            // A promise's `resolve` does not throw.
            let _ = tx.call1(&JsValue::NULL, &release);
        }
        held
    });
    let Some(manager) = manager() else {
        return LockGuard {
            release: None,
            _granted: granted,
        };
    };
    // Its promise settles only when the lock is let go; the grant below is what we wait for.
    let _ = manager.request_with_options(name, &Object::new(), granted.as_ref().unchecked_ref());
    let release = JsFuture::from(granted_rx)
        .await
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok());
    LockGuard {
        release,
        _granted: granted,
    }
}

/// A one-shot channel made of a promise and its resolve function (which takes the value).
fn oneshot() -> (Function, Promise) {
    let mut resolve_fn = None;
    let promise =
        Promise::new(&mut |resolve: Function, _reject: Function| resolve_fn = Some(resolve));
    (
        resolve_fn.expect("the Promise executor runs synchronously"),
        promise,
    )
}
