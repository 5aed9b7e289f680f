//! The "Search rooms" box above the room list: it narrows the list as you type, Escape
//! clears it, and Ctrl+K (Cmd+K) anywhere in the app focuses it.

use leptos::{ev::KeyboardEvent, html, prelude::*};

use crate::platform::keys::FocusShortcut;

/// A text box bound to `query`.
#[component]
pub fn RoomSearch(query: RwSignal<String>) -> impl IntoView {
    let input = NodeRef::<html::Input>::new();
    // Dropped with the component, which takes the page's key listener away.
    let shortcut = StoredValue::new_local(None::<FocusShortcut>);
    input.on_load(move |element| shortcut.set_value(FocusShortcut::new("k", element)));
    view! {
        <input
            class="room-search"
            type="text"
            node_ref=input
            placeholder="Search rooms (Ctrl+K)"
            aria-label="Search rooms"
            aria-keyshortcuts="Control+K Meta+K"
            autocomplete="off"
            prop:value=query
            on:input=move |ev| query.set(event_target_value(&ev))
            on:keydown=move |ev: KeyboardEvent| {
                if ev.key() == "Escape" {
                    query.set(String::new());
                }
            }
        />
    }
}
