//! The selected room: header, timeline and composer, and the settings panel beside them
//! (a sheet over them on phones), which Escape closes.

use leptos::{html, prelude::*};
use ruma::OwnedRoomId;

use crate::{
    components::{
        attach::{Pending, SendFiles, add},
        composer::{Composer, ComposerMode},
        room_header::RoomHeader,
        room_settings::settings_panel,
        timeline::Timeline,
        uploads::Uploads,
    },
    handle::{ClientHandle, RoomSnapshot},
    platform::{document, files},
    reactive::{dyn_show, dyn_view},
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
    let rows = open.rows.clone();
    let loaded = field(|r| r.loaded);
    let reached_start = field(|r| r.reached_start);
    let can_redact_others = field(|r| r.can_redact_others);
    let mode = RwSignal::new(ComposerMode::Message);
    let settings_open = RwSignal::new(false);
    let settings_button = NodeRef::<html::Button>::new();
    // Closing the panel (its "Close", Escape) gives focus back to the button that opened it.
    let close_settings = Callback::new(move |()| {
        settings_open.set(false);
        if let Some(button) = settings_button.get_untracked() {
            document::focus(&button);
        }
    });
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
                <RoomHeader room_id=room_id.clone() snapshot settings_open settings_button />
                <div class="room-body">
                    <div class="room-main">
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
                    </div>
                    {
                        let room_id = room_id.clone();
                        dyn_show(
                            move || settings_open.get(),
                            move || settings_panel(room_id.clone(), with_trust(handle, snapshot), close_settings),
                        )
                    }
                </div>
            </section>
        }
        .into_any()
        })
    })
}

/// The snapshot with each member's "verified" read live: trust changes are account-wide, so
/// they reach the member list only while the settings panel shows it.
fn with_trust(
    handle: ClientHandle,
    snapshot: Memo<Option<RoomSnapshot>>,
) -> Memo<Option<RoomSnapshot>> {
    let own = handle.user_id_untracked();
    Memo::new(move |_| {
        let mut room = snapshot.get()?;
        for member in &mut room.members {
            member.verified =
                own.as_ref() != Some(&member.user_id) && handle.is_user_verified(&member.user_id);
        }
        Some(room)
    })
}
