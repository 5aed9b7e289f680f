//! Popups (menus, popovers, dialogs) that go away the way people expect, as in Element and
//! the WAI-ARIA Authoring Practices: Escape closes the topmost one only and puts focus back
//! on the control that opened it; a press outside closes it and leaves focus to whatever was
//! pressed; a modal dialog takes focus when it opens and keeps Tab and Shift+Tab inside.
//!
//! Open popups form a stack (a media viewer opened from a menu sits above it), so one Escape
//! closes one popup. A popup whose root lies inside another popup's (the "Security" region
//! inside the account menu) counts presses anywhere in that outer popup as inside.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use wasm_bindgen::{JsCast, closure::Closure};
use web_sys::{Element, Event, HtmlElement, KeyboardEvent, Node};

/// What a modal dialog can move focus to with Tab.
const FOCUSABLE: &str = "a[href],button:not([disabled]),input:not([disabled]):not([type=hidden]),\
    select:not([disabled]),textarea:not([disabled]),[tabindex],video[controls],audio[controls]";

struct Entry {
    id: u32,
    root: Element,
    opener: Option<HtmlElement>,
}

thread_local! {
    static STACK: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
    static NEXT_ID: Cell<u32> = const { Cell::new(0) };
}

fn document() -> Option<web_sys::Document> {
    web_sys::window()?.document()
}

fn contains(outer: &Element, node: &Node) -> bool {
    outer.contains(Some(node))
}

/// Whether `id` is the topmost open popup.
fn is_top(id: u32) -> bool {
    STACK.with_borrow(|stack| stack.last().is_some_and(|entry| entry.id == id))
}

/// Whether a press on `target` counts as inside popup `id`: inside its root or opener, inside
/// a popup above it, or inside a popup that contains it.
fn pressed_inside(id: u32, target: &Node) -> bool {
    STACK.with_borrow(|stack| {
        let Some(at) = stack.iter().position(|entry| entry.id == id) else { return true };
        let own = &stack[at].root;
        stack.iter().enumerate().any(|(index, entry)| {
            (index >= at || contains(&entry.root, own))
                && (contains(&entry.root, target)
                    || entry.opener.as_ref().is_some_and(|opener| contains(opener, target)))
        })
    })
}

/// The elements Tab stops at inside `root`, in document order; hidden ones (no box) and
/// `tabindex="-1"` ones are left out.
fn tab_stops(root: &Element) -> Vec<HtmlElement> {
    let Ok(list) = root.query_selector_all(FOCUSABLE) else { return Vec::new() };
    (0..list.length())
        .filter_map(|i| list.item(i)?.dyn_into::<HtmlElement>().ok())
        .filter(|element| element.tab_index() >= 0)
        .filter(|element| {
            let rect = element.get_bounding_client_rect();
            rect.width() > 0.0 || rect.height() > 0.0
        })
        .collect()
}

fn active_element() -> Option<Element> {
    document()?.active_element()
}

/// Keeps Tab inside `root`: from the last stop to the first and back.
fn trap_tab(root: &Element, event: &KeyboardEvent) {
    let stops = tab_stops(root);
    let (Some(first), Some(last)) = (stops.first(), stops.last()) else {
        event.prevent_default();
        return;
    };
    let active = active_element();
    let inside = active.as_ref().is_some_and(|a| contains(root, a));
    let at = |edge: &HtmlElement| active.as_ref().is_some_and(|a| a == edge.unchecked_ref::<Element>());
    let next = if event.shift_key() {
        (!inside || at(first)).then_some(last)
    } else {
        (!inside || at(last)).then_some(first)
    };
    if let Some(next) = next {
        event.prevent_default();
        let _ = next.focus();
    }
}

/// An open popup. Dropping it (when the popup leaves the page) removes its listeners and,
/// unless it was closed by a press elsewhere, returns focus to its opener if focus was in
/// the popup or lost with it.
pub struct Popup {
    id: u32,
    root: Element,
    opener: Option<HtmlElement>,
    restore: Rc<Cell<bool>>,
    on_key: Closure<dyn FnMut(KeyboardEvent)>,
    on_press: Closure<dyn FnMut(Event)>,
}

impl Popup {
    /// Starts watching `root`, just put on the page; the element focused now is its opener.
    /// `on_close` should remove the popup. A `modal` one takes focus (its `data-autofocus`
    /// element, else its first control) and keeps Tab inside; `outside` says whether a
    /// press outside closes it.
    pub fn open(root: impl JsCast, modal: bool, outside: bool, on_close: Rc<dyn Fn()>) -> Option<Self> {
        Self::open_element(root.unchecked_into(), modal, outside, on_close)
    }

    fn open_element(root: Element, modal: bool, outside: bool, on_close: Rc<dyn Fn()>) -> Option<Self> {
        let document = document()?;
        let body: Option<Element> = document.body().map(Into::into);
        let opener = active_element()
            .filter(|active| !contains(&root, active) && Some(active) != body.as_ref())
            .and_then(|active| active.dyn_into::<HtmlElement>().ok());
        let id = NEXT_ID.with(|next| {
            next.set(next.get() + 1);
            next.get()
        });
        let restore = Rc::new(Cell::new(true));

        let on_key = {
            let (root, restore, on_close) = (root.clone(), restore.clone(), on_close.clone());
            Closure::<dyn FnMut(KeyboardEvent)>::new(move |event: KeyboardEvent| {
                // Already handled (the composer cancelling a reply) or not ours to handle.
                if event.default_prevented() || event.is_composing() || !is_top(id) {
                    return;
                }
                match event.key().as_str() {
                    "Escape" => {
                        event.prevent_default();
                        restore.set(true);
                        on_close();
                    }
                    "Tab" if modal => trap_tab(&root, &event),
                    _ => {}
                }
            })
        };
        let on_press = {
            let restore = restore.clone();
            Closure::<dyn FnMut(Event)>::new(move |event: Event| {
                let Some(target) = event.target().and_then(|t| t.dyn_into::<Node>().ok()) else { return };
                if outside && !pressed_inside(id, &target) {
                    // Focus goes where the press lands; taking it back would fight the person.
                    restore.set(false);
                    on_close();
                }
            })
        };
        document
            .add_event_listener_with_callback("keydown", on_key.as_ref().unchecked_ref())
            .ok()?;
        // Capture: a control that stops the event's propagation still counts as a press.
        document
            .add_event_listener_with_callback_and_bool("pointerdown", on_press.as_ref().unchecked_ref(), true)
            .ok()?;
        STACK.with_borrow_mut(|stack| {
            stack.push(Entry { id, root: root.clone(), opener: opener.clone() });
        });
        if modal && !active_element().is_some_and(|a| contains(&root, &a)) {
            let first = root
                .query_selector("[data-autofocus]")
                .ok()
                .flatten()
                .and_then(|e| e.dyn_into::<HtmlElement>().ok())
                .or_else(|| tab_stops(&root).into_iter().next());
            if let Some(first) = first {
                let _ = first.focus();
            }
        }
        Some(Self { id, root, opener, restore, on_key, on_press })
    }
}

impl Drop for Popup {
    fn drop(&mut self) {
        STACK.with_borrow_mut(|stack| stack.retain(|entry| entry.id != self.id));
        if let Some(document) = document() {
            let _ = document.remove_event_listener_with_callback("keydown", self.on_key.as_ref().unchecked_ref());
            let _ = document.remove_event_listener_with_callback_and_bool(
                "pointerdown",
                self.on_press.as_ref().unchecked_ref(),
                true,
            );
            let Some(opener) = self.opener.as_ref().filter(|o| self.restore.get() && o.is_connected()) else {
                return;
            };
            // Only if focus was in the popup or went with it: focus moved on purpose stays.
            let lost = match document.active_element() {
                None => true,
                Some(active) => {
                    !active.is_connected()
                        || contains(&self.root, &active)
                        || document.body().is_some_and(|body| active == *body.unchecked_ref::<Element>())
                }
            };
            if lost {
                let _ = opener.focus();
            }
        }
    }
}
