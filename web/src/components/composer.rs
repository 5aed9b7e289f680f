//! The message box: Enter sends, Shift+Enter starts a new line.

use leptos::{
    ev::{KeyboardEvent, SubmitEvent},
    prelude::*,
};
use ruma::OwnedRoomId;

use crate::handle::ClientHandle;

/// Text area "Message" and a "Send" button.
#[component]
pub fn Composer(room_id: OwnedRoomId) -> impl IntoView {
    let handle = ClientHandle::expect();
    let text = RwSignal::new(String::new());

    let send = move || {
        let body = text.get_untracked();
        if body.trim().is_empty() {
            return;
        }
        handle.send_text(room_id.clone(), body);
        text.set(String::new());
    };
    let on_submit = {
        let send = send.clone();
        move |ev: SubmitEvent| {
            ev.prevent_default();
            send();
        }
    };
    let on_keydown = move |ev: KeyboardEvent| {
        // While an IME composes, Enter confirms the composition rather than sending.
        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
            ev.prevent_default();
            send();
        }
    };

    view! {
        <form class="composer" on:submit=on_submit>
            <label class="visually-hidden" for="composer-message">"Message"</label>
            <textarea
                id="composer-message"
                rows="1"
                placeholder="Write a message…"
                bind:value=text
                on:keydown=on_keydown
            ></textarea>
            <button type="submit" class="primary">"Send"</button>
        </form>
    }
}
