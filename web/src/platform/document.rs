//! The page itself: its title, whether it is being looked at, and scrolling.

use wasm_bindgen::JsCast;

fn document() -> Option<web_sys::Document> {
    web_sys::window()?.document()
}

/// Sets the tab title.
pub fn set_title(title: &str) {
    if let Some(document) = document() {
        document.set_title(title);
    }
}

/// Whether the person can see the page (its tab is visible), so reading counts.
pub fn is_seen() -> bool {
    document().is_some_and(|d| d.visibility_state() == web_sys::VisibilityState::Visible)
}

/// Scroll offset and extent of an element: (scroll_top, scroll_height, client_height).
pub fn scroll_metrics(element: &web_sys::Element) -> (i32, i32, i32) {
    (
        element.scroll_top(),
        element.scroll_height(),
        element.client_height(),
    )
}

/// Scrolls an element to `top`.
pub fn scroll_to(element: &web_sys::Element, top: i32) {
    element.set_scroll_top(top);
}

/// Moves keyboard focus to an element, if it can take it.
pub fn focus(element: &web_sys::Element) {
    if let Some(element) = element.dyn_ref::<web_sys::HtmlElement>() {
        // `focus()` does not throw; an element that cannot take focus ignores it.
        let _ = element.focus();
    }
}

/// Whether the tab is hidden (another tab or a minimised window).
pub fn is_hidden() -> bool {
    document().is_some_and(|d| d.visibility_state() == web_sys::VisibilityState::Hidden)
}

/// Clicks an element, e.g. a hidden file input from its visible button.
pub fn click(element: &web_sys::HtmlElement) {
    element.click();
}

/// Calls a function whenever the page becomes hidden (another tab, a minimised window, the
/// page being left or reloaded); the listener goes when this is dropped.
pub struct OnHidden {
    closure: wasm_bindgen::closure::Closure<dyn FnMut()>,
}

impl OnHidden {
    pub fn new(mut f: impl FnMut() + 'static) -> Option<Self> {
        let closure = wasm_bindgen::closure::Closure::<dyn FnMut()>::new(move || {
            if is_hidden() {
                f();
            }
        });
        document()?
            .add_event_listener_with_callback("visibilitychange", closure.as_ref().unchecked_ref())
            .ok()?;
        Some(Self { closure })
    }
}

impl Drop for OnHidden {
    fn drop(&mut self) {
        if let Some(document) = document() {
            // Cannot fail: the same listener, on a live target, with plain arguments.
            let _ = document.remove_event_listener_with_callback(
                "visibilitychange",
                self.closure.as_ref().unchecked_ref(),
            );
        }
    }
}

/// The first or last child element of the first `selector` match inside `root`, with its
/// distance from the top of the viewport: an anchor to keep still while a list changes.
pub fn edge_child(
    root: &web_sys::Element,
    selector: &str,
    last: bool,
) -> Option<(web_sys::Element, f64)> {
    let list = root.query_selector(selector).ok()??;
    let child = if last {
        list.last_element_child()
    } else {
        list.first_element_child()
    }?;
    let top = child.get_bounding_client_rect().top();
    Some((child, top))
}

/// Scrolls `scroller` so that `anchor`, which was `was_top` px from the viewport's top,
/// is there again (content above or below it changed).
pub fn keep_in_place(scroller: &web_sys::Element, anchor: &web_sys::Element, was_top: f64) {
    let moved = anchor.get_bounding_client_rect().top() - was_top;
    if moved.abs() >= 0.5 {
        // Rounded: scrollTop takes whole pixels here.
        #[allow(clippy::cast_possible_truncation)]
        let moved = moved.round() as i32;
        scroller.set_scroll_top(scroller.scroll_top() + moved);
    }
}

/// Resolves at the next animation frame: after the pending DOM updates, before paint.
///
/// As in [`super::timer::sleep`], the promise's `resolve` is the callback, so no Rust
/// closure is kept alive for the browser.
pub async fn next_frame() {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        if let Some(window) = web_sys::window() {
            // Fails only without a document, where no frame will come either.
            let _ = window.request_animation_frame(&resolve);
        }
    });
    // The promise only ever resolves.
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}
