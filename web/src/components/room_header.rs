//! The room's header: one compact row with "Back to rooms" (phones), the room's avatar, its
//! name and topic (cut to one line; clicking the topic shows all of it, Escape hides it
//! again), the call buttons and "Room settings".

use leptos::{ev::KeyboardEvent, html, prelude::*};
use ruma::OwnedRoomId;

use crate::{
    components::{
        avatar::Avatar,
        call_buttons::CallButtons,
        icon::{Icon, icon},
    },
    handle::{ClientHandle, RoomSnapshot},
    reactive::{dyn_show, dyn_text, dyn_view},
};

#[component]
pub fn RoomHeader(
    room_id: OwnedRoomId,
    snapshot: Memo<Option<RoomSnapshot>>,
    /// Whether the settings panel is open; the button toggles it.
    settings_open: RwSignal<bool>,
    /// "Room settings" itself, so that focus can come back to it when the panel closes.
    settings_button: NodeRef<html::Button>,
) -> impl IntoView {
    let handle = ClientHandle::expect();
    let name = move || {
        snapshot.with(|room| {
            room.as_ref()
                .map(|room| room.name.clone())
                .unwrap_or_default()
        })
    };
    let topic =
        Memo::new(move |_| snapshot.with(|room| room.as_ref().and_then(|room| room.topic.clone())));
    let encrypted =
        Memo::new(move |_| snapshot.with(|room| room.as_ref().is_some_and(|room| room.encrypted)));
    let avatar = Memo::new(move |_| {
        snapshot.with(|room| room.as_ref().and_then(|room| room.avatar.clone()))
    });
    let topic_open = RwSignal::new(false);

    // Escape hides the whole topic first; the room's own Escape (closing the settings panel)
    // sees the event as handled.
    let on_keydown = move |ev: KeyboardEvent| {
        if ev.key() == "Escape" && topic_open.get_untracked() {
            ev.prevent_default();
            topic_open.set(false);
        }
    };

    view! {
        <header class="room-header" on:keydown=on_keydown>
            <button class="back icon-button" aria-label="Back to rooms" title="Back to rooms" on:click=move |_| handle.select(None)>
                {icon(Icon::Back)}
            </button>
            {
                let room_id = room_id.clone();
                dyn_view(move || view! { <Avatar name=name() user_id=room_id.to_string() picture=avatar.get() /> }.into_any())
            }
            <div class="room-title">
                <h2>
                    {dyn_text(name)}
                    {dyn_show(move || encrypted.get(), || view! {
                        <svg class="room-lock" role="img" aria-label="Encrypted" viewBox="0 0 16 16" width="14" height="14">
                            <title>"Encrypted"</title>
                            <path fill="currentColor" d="M5 7V5a3 3 0 0 1 6 0v2h1a1 1 0 0 1 1 1v6a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V8a1 1 0 0 1 1-1zm1.5 0h3V5a1.5 1.5 0 0 0-3 0z"/>
                        </svg>
                    }.into_any())}
                </h2>
                {dyn_view(move || topic.get().map(|topic| view! {
                    <button
                        class="topic"
                        class:open=move || topic_open.get()
                        aria-expanded=move || topic_open.get().to_string()
                        on:click=move |_| topic_open.update(|open| *open = !*open)
                    >
                        {topic}
                    </button>
                }).into_any())}
            </div>
            <CallButtons room_id=room_id.clone() />
            <button
                class="icon-button"
                aria-label="Room settings"
                title="Room settings"
                aria-expanded=move || settings_open.get().to_string()
                node_ref=settings_button
                on:click=move |_| settings_open.update(|open| *open = !*open)
            >
                {icon(Icon::Settings)}
            </button>
        </header>
    }
}
