//! The "Search rooms" box above the room list: it narrows the list as you type, Escape
//! clears it, and Ctrl+K (Cmd+K) anywhere in the app focuses it.

use leptos::{ev::KeyboardEvent, prelude::*};

use crate::platform::keys::{FocusShortcut, clear_input};

/// The text box's element ID, which the shortcut focuses.
const ID: &str = "room-search";

/// A text box whose text goes to `query` (not bound back: only Escape clears it).
#[component]
pub fn RoomSearch(query: RwSignal<String>) -> impl IntoView {
    // Dropped with the component, which takes the page's key listener away.
    StoredValue::new_local(FocusShortcut::new("k", ID));
    view! {
        <input
            id=ID
            class="room-search"
            type="text"
            placeholder="Search rooms (Ctrl+K)"
            aria-label="Search rooms"
            aria-keyshortcuts="Control+K Meta+K"
            autocomplete="off"
            on:input=move |ev| query.set(event_target_value(&ev))
            on:keydown=move |ev: KeyboardEvent| {
                if ev.key() == "Escape" {
                    clear_input(&ev);
                    query.set(String::new());
                }
            }
        />
    }
}
