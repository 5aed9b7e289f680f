//! Popups (menus, popovers, dialogs) that go away the way people expect, as in Element and
//! the WAI-ARIA Authoring Practices: Escape closes the topmost one only and puts focus back
//! on the control that opened it; a press outside closes it and leaves focus to whatever was
//! pressed; a modal dialog takes focus when it opens and keeps Tab and Shift+Tab inside.
//!
//! Open popups form a stack (a media viewer opened from a menu sits above it), so one Escape
//! closes one popup. A popup whose root lies inside another popup's (the "Security" region
//! inside the account menu) counts presses anywhere in that outer popup as inside. One
//! listener serves the whole stack: it is added when the first popup opens and removed when
//! the last one closes.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use wasm_bindgen::{JsCast, closure::Closure};
use web_sys::{Element, Event, HtmlElement, KeyboardEvent, Node};

/// What a modal dialog can move focus to with Tab.
const FOCUSABLE: &str = "a[href],button:not([disabled]),input:not([disabled]):not([type=hidden]),\
    select:not([disabled]),textarea:not([disabled]),[tabindex],video[controls],audio[controls]";

/// The events the listener takes; `pointerdown` in the capture phase, so a control that
/// stops propagation still counts as a press.
const EVENTS: [(&str, bool); 2] = [("keydown", false), ("pointerdown", true)];

#[derive(Clone)]
struct Entry {
    id: u32,
    root: Element,
    opener: Option<HtmlElement>,
    modal: bool,
    outside: bool,
    /// Whether focus goes back to the opener when it closes (not after a press elsewhere).
    restore: Rc<Cell<bool>>,
    on_close: Rc<dyn Fn()>,
}

/// The one listener for keys and presses while any popup is open.
type Listener = Closure<dyn FnMut(Event)>;

thread_local! {
    static STACK: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
    static LISTENER: RefCell<Option<Listener>> = const { RefCell::new(None) };
    static NEXT_ID: Cell<u32> = const { Cell::new(0) };
}

fn document() -> Option<web_sys::Document> {
    web_sys::window()?.document()
}

fn active_element() -> Option<Element> {
    document()?.active_element()
}

fn contains(outer: &Element, node: &Node) -> bool {
    outer.contains(Some(node))
}

fn listen(add: bool) {
    let Some(document) = document() else { return };
    LISTENER.with_borrow_mut(|listener| {
        if add && listener.is_none() {
            let closure = Listener::new(on_event);
            for (name, capture) in EVENTS {
                // Cannot fail: the same listener, on a live target, with plain arguments.
                let _ = document.add_event_listener_with_callback_and_bool(
                    name,
                    closure.as_ref().unchecked_ref(),
                    capture,
                );
            }
            *listener = Some(closure);
        } else if !add && let Some(closure) = listener.take() {
            for (name, capture) in EVENTS {
                // Cannot fail: the same listener, on a live target, with plain arguments.
                let _ = document.remove_event_listener_with_callback_and_bool(
                    name,
                    closure.as_ref().unchecked_ref(),
                    capture,
                );
            }
        }
    });
}

fn on_event(event: Event) {
    // Copied out: closing a popup changes the stack.
    let stack = STACK.with_borrow(Clone::clone);
    let Some(top) = stack.last() else { return };
    if event.type_() == "keydown" {
        let key = event.unchecked_ref::<KeyboardEvent>();
        // Already handled (the composer cancelling a reply) or an input method composing.
        if event.default_prevented() || key.is_composing() {
            return;
        }
        match key.key().as_str() {
            "Escape" => {
                event.prevent_default();
                top.restore.set(true);
                (top.on_close)();
            }
            "Tab" if top.modal => trap_tab(&top.root, key),
            _ => {}
        }
        return;
    }
    let Some(target) = event.target() else { return };
    let target = target.unchecked_into::<Node>();
    // A press is inside a popup if it lands in its root or opener, in a popup above it, or
    // in a popup that contains it.
    for (at, entry) in stack.iter().enumerate() {
        let inside = stack.iter().enumerate().any(|(index, other)| {
            (index >= at || contains(&other.root, &entry.root))
                && (contains(&other.root, &target)
                    || other.opener.as_ref().is_some_and(|o| contains(o, &target)))
        });
        if entry.outside && !inside {
            // Focus goes where the press lands; taking it back would fight the person.
            entry.restore.set(false);
            (entry.on_close)();
        }
    }
}

/// The elements Tab stops at inside `root`, in document order; hidden ones (no box) and
/// `tabindex="-1"` ones are left out.
fn tab_stops(root: &Element) -> Vec<HtmlElement> {
    let Ok(list) = root.query_selector_all(FOCUSABLE) else {
        return Vec::new();
    };
    (0..list.length())
        .filter_map(|i| list.item(i))
        .map(JsCast::unchecked_into::<HtmlElement>)
        .filter(|element| {
            let rect = element.get_bounding_client_rect();
            element.tab_index() >= 0 && (rect.width() > 0.0 || rect.height() > 0.0)
        })
        .collect()
}

/// Keeps Tab inside `root`: from the last stop to the first and back.
fn trap_tab(root: &Element, event: &KeyboardEvent) {
    let stops = tab_stops(root);
    let active = active_element();
    let at = |index: usize| {
        stops
            .get(index)
            .is_some_and(|stop| active.as_ref() == Some(stop.unchecked_ref()))
    };
    let inside = active.as_ref().is_some_and(|a| contains(root, a));
    let next = match event.shift_key() {
        true if !inside || at(0) => stops.last(),
        false if !inside || at(stops.len().wrapping_sub(1)) => stops.first(),
        _ => return,
    };
    event.prevent_default();
    if let Some(next) = next {
        // `focus()` does not throw; an element that cannot take focus ignores it.
        let _ = next.focus();
    }
}

/// An open popup. Dropping it (when the popup leaves the page) takes it off the stack and,
/// unless it was closed by a press elsewhere, returns focus to its opener if focus was in
/// the popup or went with it.
pub struct Popup {
    id: u32,
}

impl Popup {
    /// Starts watching `root`, being put on the page; the element focused now is its opener.
    /// `on_close` should remove the popup. A `modal` one takes focus (its `data-autofocus`
    /// element, else its first control) and keeps Tab inside; `outside` says whether a
    /// press outside closes it.
    pub fn open(root: Element, modal: bool, outside: bool, on_close: Rc<dyn Fn()>) -> Self {
        let body: Option<Element> = document().and_then(|d| d.body()).map(Into::into);
        let opener = active_element()
            .filter(|active| Some(active) != body.as_ref())
            .map(JsCast::unchecked_into::<HtmlElement>);
        let id = NEXT_ID.with(|next| {
            next.set(next.get() + 1);
            next.get()
        });
        let restore = Rc::new(Cell::new(true));
        STACK.with_borrow_mut(|stack| {
            stack.push(Entry {
                id,
                root: root.clone(),
                opener,
                modal,
                outside,
                restore,
                on_close,
            });
        });
        listen(true);
        if modal {
            // The root is not on the page yet: focus moves in once it has been drawn.
            wasm_bindgen_futures::spawn_local(async move {
                super::document::next_frame().await;
                if !root.is_connected() || active_element().is_some_and(|a| contains(&root, &a)) {
                    return;
                }
                let first = root
                    .query_selector("[data-autofocus]")
                    .ok()
                    .flatten()
                    .map(JsCast::unchecked_into::<HtmlElement>)
                    .or_else(|| tab_stops(&root).into_iter().next());
                if let Some(first) = first {
                    // `focus()` does not throw; an element that cannot take focus ignores it.
                    let _ = first.focus();
                }
            });
        }
        Self { id }
    }
}

impl Drop for Popup {
    fn drop(&mut self) {
        let (entry, empty) = STACK.with_borrow_mut(|stack| {
            let at = stack.iter().position(|entry| entry.id == self.id);
            (at.map(|at| stack.remove(at)), stack.is_empty())
        });
        if empty {
            listen(false);
        }
        let Some(entry) = entry else { return };
        let Some(opener) = entry
            .opener
            .filter(|o| entry.restore.get() && o.is_connected())
        else {
            return;
        };
        // Only if focus was in the popup or went with it: focus moved on purpose stays.
        let lost = match active_element() {
            None => true,
            Some(active) => {
                !active.is_connected()
                    || contains(&entry.root, &active)
                    || document()
                        .and_then(|d| d.body())
                        .is_some_and(|body| active == *body.unchecked_ref::<Element>())
            }
        };
        if lost {
            // `focus()` does not throw; an element that cannot take focus ignores it.
            let _ = opener.focus();
        }
    }
}
