//! Panics go to the browser console, so a crash in the app is visible in devtools.

/// Installs the panic hook (a smaller stand-in for `console_error_panic_hook`).
pub fn log_to_console() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&info.to_string().into());
    }));
}
