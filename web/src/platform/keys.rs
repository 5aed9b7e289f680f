//! Keyboard shortcuts that work anywhere in the app.

use wasm_bindgen::{JsCast, closure::Closure};

fn document() -> Option<web_sys::Document> {
    web_sys::window()?.document()
}

/// Ctrl+`key` (Cmd+`key` on a Mac) anywhere on the page focuses a text box and selects
/// its text, instead of whatever the browser would do; the listener goes when this is
/// dropped.
pub struct FocusShortcut {
    closure: Closure<dyn FnMut(web_sys::KeyboardEvent)>,
}

impl FocusShortcut {
    pub fn new(key: &'static str, target: web_sys::HtmlInputElement) -> Option<Self> {
        let closure = Closure::<dyn FnMut(web_sys::KeyboardEvent)>::new(move |event: web_sys::KeyboardEvent| {
            if (event.ctrl_key() || event.meta_key()) && !event.alt_key() && event.key().eq_ignore_ascii_case(key) {
                event.prevent_default();
                let _ = target.focus();
                target.select();
            }
        });
        document()?.add_event_listener_with_callback("keydown", closure.as_ref().unchecked_ref()).ok()?;
        Some(Self { closure })
    }
}

impl Drop for FocusShortcut {
    fn drop(&mut self) {
        if let Some(document) = document() {
            let _ = document.remove_event_listener_with_callback("keydown", self.closure.as_ref().unchecked_ref());
        }
    }
}
