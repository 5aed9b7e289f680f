//! Ties a popup element to [`platform::dismiss`]: one call in the component that shows it.

use std::rc::Rc;

use leptos::{
    prelude::*,
    tachys::html::element::ElementType,
    wasm_bindgen::JsCast,
};

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
}

/// Makes the element behind `root` close on Escape and on a press outside it, calling
/// `close` (which should remove it), with focus going back to the control that opened it.
/// Call it where the popup's view is built: the watch ends when that view goes.
pub fn popup<E>(root: NodeRef<E>, kind: Kind, close: impl Fn() + 'static)
where
    E: ElementType,
    E::Output: JsCast + Clone + 'static,
{
    // Boxed at once: the rest is compiled once per element type rather than once per
    // caller's closure (each copy of `on_load`'s effect costs wasm).
    watch(root, kind, Rc::new(close));
}

fn watch<E>(root: NodeRef<E>, kind: Kind, close: Rc<dyn Fn()>)
where
    E: ElementType,
    E::Output: JsCast + Clone + 'static,
{
    let held = StoredValue::new_local(None::<Popup>);
    root.on_load(move |element| {
        let (modal, outside) = (kind != Kind::Menu, kind != Kind::ProcessDialog);
        held.set_value(Popup::open(element, modal, outside, close));
    });
}
