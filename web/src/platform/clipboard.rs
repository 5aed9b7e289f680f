//! The system clipboard.

/// Copies `text` to the clipboard (the browser may refuse outside a click; the text stays
/// on screen to copy by hand).
pub fn copy_text(text: &str) {
    if let Some(window) = web_sys::window() {
        // A refusal only rejects the promise (the console notes it); the text stays on screen.
        let _ = window.navigator().clipboard().write_text(text);
    }
}
