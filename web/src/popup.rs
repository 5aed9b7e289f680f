//! Ties a popup element to [`platform::dismiss`](crate::platform::dismiss): one attribute on
//! the element that is the popup, `use:popup=(Kind::Menu, close(move || open.set(false)))`.
//!
//! A directive rather than a `NodeRef` with `on_load`: it runs as the element is built, with
//! nothing to watch, and every call site shares one compiled copy.

use std::rc::Rc;

use leptos::{prelude::*, tachys::renderer::types::Element};

use crate::platform::dismiss::Popup;

/// What sort of popup it is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A menu or popover: Escape and a press outside close it.
    Menu,
    /// A modal dialog: as a menu, and it takes focus and keeps Tab inside.
    Dialog,
    /// A modal dialog that a press outside leaves open: one where closing ends something
    /// under way (a verification), which a stray click should not do.
    ProcessDialog,
    /// A side panel (room settings): Escape closes it, but working in the timeline beside
    /// it does not.
    Panel,
}

/// What closes the popup (it should remove it), boxed for [`popup`].
pub fn close(f: impl Fn() + 'static) -> Rc<dyn Fn()> {
    Rc::new(f)
}

/// The directive: the element closes on Escape and on a press outside it, calling `close`,
/// with focus going back to the control that had it when the popup was built (its opener).
/// The watch ends with the view that holds the element.
pub fn popup(element: Element, (kind, close): (Kind, Rc<dyn Fn()>)) {
    let modal = matches!(kind, Kind::Dialog | Kind::ProcessDialog);
    let outside = matches!(kind, Kind::Menu | Kind::Dialog);
    // The reactive owner keeps it, and with it the popup's listeners, until the view goes.
    StoredValue::new_local(Popup::open(element, modal, outside, close));
}
