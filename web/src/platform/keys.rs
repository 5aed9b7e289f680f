//! Keyboard shortcuts that work anywhere in the app.

use wasm_bindgen::{JsCast, closure::Closure};

fn document() -> Option<web_sys::Document> {
    web_sys::window()?.document()
}

/// Ctrl+`key` (Cmd+`key` on a Mac) anywhere on the page focuses the text box with ID
/// `target` and selects its text, instead of whatever the browser would do; the listener
/// goes when this is dropped.
pub struct FocusShortcut {
    // A plain `Event` closure, whose glue the app already has.
    closure: Closure<dyn FnMut(web_sys::Event)>,
}

impl FocusShortcut {
    pub fn new(key: &'static str, target: &'static str) -> Option<Self> {
        let closure = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            let Some(event) = event.dyn_ref::<web_sys::KeyboardEvent>() else {
                return;
            };
            if (event.ctrl_key() || event.meta_key())
                && !event.alt_key()
                && event.key().eq_ignore_ascii_case(key)
            {
                let input = document().and_then(|d| d.get_element_by_id(target));
                if let Some(input) =
                    input.and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok())
                {
                    event.prevent_default();
                    // `focus()` does not throw; an element that cannot take focus ignores it.
                    let _ = input.focus();
                    input.select();
                }
            }
        });
        document()?
            .add_event_listener_with_callback("keydown", closure.as_ref().unchecked_ref())
            .ok()?;
        Some(Self { closure })
    }
}

impl Drop for FocusShortcut {
    fn drop(&mut self) {
        if let Some(document) = document() {
            // Cannot fail: the same listener, on a live target, with plain arguments.
            let _ = document.remove_event_listener_with_callback(
                "keydown",
                self.closure.as_ref().unchecked_ref(),
            );
        }
    }
}

/// Empties the text box an event (a key pressed in it) came from.
pub fn clear_input(event: &web_sys::Event) {
    if let Some(input) = event
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
    {
        input.set_value("");
    }
}
