//! Desktop notifications through the browser's `Notification` API.

use wasm_bindgen::JsValue;
use web_sys::{Notification, NotificationOptions, NotificationPermission};

use super::panic::OrWarn;

/// Whether notifications may be shown ("granted"), were refused, or not asked yet.
fn permission() -> NotificationPermission {
    // Browsers without the API (or without a secure context) have no `Notification`.
    let supported = js_sys::Reflect::has(&js_sys::global(), &JsValue::from_str("Notification"))
        .unwrap_or(false);
    if supported {
        Notification::permission()
    } else {
        NotificationPermission::Denied
    }
}

/// Whether notifications may be shown.
pub fn is_granted() -> bool {
    permission() == NotificationPermission::Granted
}

/// Shows the browser's permission prompt; resolves to whether it was granted.
pub async fn request_permission() -> bool {
    if is_granted() {
        return true;
    }
    let Ok(promise) = Notification::request_permission() else {
        return false;
    };
    let answer = wasm_bindgen_futures::JsFuture::from(promise).await;
    answer.ok().and_then(|value| value.as_string()).as_deref() == Some("granted")
}

/// Shows a notification with plain text (never HTML); `tag` replaces an older one for the
/// same room instead of stacking.
pub fn show(title: &str, body: &str, tag: &str) {
    if !is_granted() {
        return;
    }
    let options = NotificationOptions::new();
    options.set_body(body);
    options.set_tag(tag);
    // Some browsers (Chrome on Android) only show notifications from a service worker.
    Notification::new_with_options(title, &options).or_warn("show notification");
}
