//! The browser console: panics go there, so a crash in the app is visible in devtools, and
//! so do warnings about problems the page recovers from.

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
