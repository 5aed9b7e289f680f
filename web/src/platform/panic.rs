//! The browser console: panics go there, so a crash in the app is visible in devtools, and
//! so do warnings about problems the page recovers from.

use wasm_bindgen::JsValue;

/// Installs the panic hook (a smaller stand-in for `console_error_panic_hook`).
pub fn log_to_console() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&info.to_string().into());
    }));
}

/// Writes a warning to the browser console, for problems the page recovers from by itself
/// (a stored state dropped, a write that will be retried).
pub fn warn(message: &str) {
    web_sys::console::warn_1(&message.into());
}

/// Writes a failure the page carries on without to the console ("Weft: save session"),
/// with the browser's own error beside it (not formatted here: the console shows it whole,
/// at no cost to the wasm).
pub fn warn_js(what: &str, error: &JsValue) {
    web_sys::console::warn_3(&"Weft:".into(), &what.into(), error);
}

/// `result.or_warn("…")`: a browser call that may fail without stopping the page (a
/// setting not saved, a notification not shown), but not in silence.
pub trait OrWarn {
    fn or_warn(self, what: &str);
}

impl<T> OrWarn for Result<T, JsValue> {
    fn or_warn(self, what: &str) {
        if let Err(error) = self {
            warn_js(what, &error);
        }
    }
}
