//! Where the app was served from: the default homeserver.

/// `window.location.origin`, e.g. `http://127.0.0.1:8008`.
pub fn origin() -> String {
    web_sys::window()
        .and_then(|window| window.location().origin().ok())
        .unwrap_or_default()
}
