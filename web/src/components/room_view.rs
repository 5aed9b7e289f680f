//! The selected room: header, invite form, timeline and composer.

use leptos::prelude::*;
use ruma::OwnedRoomId;

use crate::{
    components::{
        attach::{Pending, SendFiles, add},
        avatar::Avatar,
        call_buttons::CallButtons,
        composer::{Composer, ComposerMode},
        uploads::Uploads,
        invite_form::InviteForm,
        room_settings::settings_panel,
        timeline::Timeline,
    },
    handle::{ClientHandle, RoomSnapshot},
    platform::{document, files},
    reactive::{dyn_show, dyn_text, dyn_view},
};

/// Everything shown for one room.
#[component]
pub fn RoomView(room_id: OwnedRoomId) -> impl IntoView {
    let handle = ClientHandle::expect();
    let open = handle.open_room(&room_id);
    let snapshot = Memo::new({
        let header = open.header.clone();
        move |_| header.get()
    });
    let field = move |f: fn(&RoomSnapshot) -> bool| {
        Signal::derive(move || snapshot.with(|room| room.as_ref().is_some_and(f)))
    };
    let name = move || snapshot.with(|room| room.as_ref().map(|room| room.name.clone()));
    let topic = move || snapshot.with(|room| room.as_ref().and_then(|room| room.topic.clone()));
    let rows = open.rows.clone();
    let loaded = field(|r| r.loaded);
    let reached_start = field(|r| r.reached_start);
    let can_redact_others = field(|r| r.can_redact_others);
    let encrypted = field(|r| r.encrypted);
    let mode = RwSignal::new(ComposerMode::Message);
    let settings_open = RwSignal::new(false);
    let pending: Pending = RwSignal::new_local(Vec::new());

    // Reading: whenever something new shows while the page is seen, say so (and once the
    // first real sync has come: rooms shown from storage may be behind).
    let synced = Memo::new(move |_| handle.has_synced());
    Effect::new({
        let room_id = room_id.clone();
        move |_| {
            rows.track();
            synced.track();
            if document::is_seen() {
                handle.mark_read(&room_id);
            }
        }
    });

    let present = Memo::new(move |_| snapshot.with(Option::is_some));
    dyn_view(move || {
        if !present.get() {
            let text = if handle.has_synced() {
                "You are no longer in this room."
            } else {
                "Loading…"
            };
            return view! { <div class="empty-state"><p>{text}</p></div> }.into_any();
        }
        let room_id = room_id.clone();
        let open = open.clone();
        untrack(move || {
            view! {
            <section
                class="room-view"
                aria-label="Room"
                on:dragover=move |ev| if files::drag_has_files(&ev) { ev.prevent_default() }
                on:drop=move |ev| {
                    if files::drag_has_files(&ev) {
                        ev.prevent_default();
                        add(pending, files::from_drop(&ev));
                    }
                }
            >
                <header class="room-header">
                    <button class="back" on:click=move |_| handle.select(None)>
                        "Back to rooms"
                    </button>
                    {
                        let room_id = room_id.clone();
                        let avatar = Memo::new(move |_| snapshot.with(|r| r.as_ref().and_then(|r| r.avatar.clone())));
                        dyn_view(move || {
                            let name = name().unwrap_or_default();
                            view! { <Avatar name user_id=room_id.to_string() picture=avatar.get() /> }.into_any()
                        })
                    }
                    <div class="room-title">
                        <h2>
                            {dyn_text(move || name().unwrap_or_default())}
                            {dyn_show(move || encrypted.get(), || view! {
                                <svg class="room-lock" role="img" aria-label="Encrypted" viewBox="0 0 16 16" width="14" height="14">
                                    <title>"Encrypted"</title>
                                    <path fill="currentColor" d="M5 7V5a3 3 0 0 1 6 0v2h1a1 1 0 0 1 1 1v6a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V8a1 1 0 0 1 1-1zm1.5 0h3V5a1.5 1.5 0 0 0-3 0z"/>
                                </svg>
                            }.into_any())}
                        </h2>
                        {dyn_view(move || topic().map(|topic| view! { <p class="topic">{topic}</p> }).into_any())}
                    </div>
                    <CallButtons room_id=room_id.clone() />
                    <InviteForm room_id=room_id.clone() />
                    <button
                        class="settings-button"
                        aria-expanded=move || settings_open.get().to_string()
                        on:click=move |_| settings_open.update(|o| *o = !*o)
                    >
                        "Room settings"
                    </button>
                </header>
                {
                    let room_id = room_id.clone();
                    dyn_show(
                        move || settings_open.get(),
                        move || settings_panel(room_id.clone(), with_trust(handle, snapshot)),
                    )
                }
                <Timeline
                    room_id=room_id.clone()
                    open=open.clone()
                    loaded
                    reached_start
                    can_redact_others
                    mode
                />
                <Uploads room_id=Some(room_id.clone()) />
                <SendFiles room_id=room_id.clone() pending />
                <Composer room_id=room_id.clone() mode pending />
            </section>
        }
        .into_any()
        })
    })
}

/// The snapshot with each member's "verified" read live: trust changes are account-wide, so
/// they reach the member list only while the settings panel shows it.
fn with_trust(handle: ClientHandle, snapshot: Memo<Option<RoomSnapshot>>) -> Memo<Option<RoomSnapshot>> {
    let own = handle.user_id_untracked();
    Memo::new(move |_| {
        let mut room = snapshot.get()?;
        for member in &mut room.members {
            member.verified = own.as_ref() != Some(&member.user_id) && handle.is_user_verified(&member.user_id);
        }
        Some(room)
    })
}
