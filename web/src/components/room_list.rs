//! The sidebar: new-room form, "Search rooms", pending invites and joined rooms (most
//! recently active first).

use leptos::prelude::*;

use crate::{
    components::{
        invite_card::InviteCard, new_room::NewRoom, room_row::RoomRow, room_search::RoomSearch,
    },
    handle::ClientHandle,
    reactive::{dyn_show, dyn_view},
};

/// Whether `text` contains `query` (already lowercase), ignoring ASCII case. Spelled out:
/// `to_lowercase` would bring Unicode case tables into the wasm.
fn matches(text: &str, query: &str) -> bool {
    text.to_ascii_lowercase().contains(query)
}

/// `<nav aria-label="Rooms">` listing invites and joined rooms.
#[component]
pub fn RoomList() -> impl IntoView {
    let handle = ClientHandle::expect();
    let query = RwSignal::new(String::new());
    let needle = move || query.with(|q| q.trim().to_ascii_lowercase());
    // The order only: each row follows its own room's summary, so a change in one room
    // re-renders that row and nothing else. While searching, the names are read too.
    let rooms = Memo::new(move |_| {
        let order = handle.room_order();
        let needle = needle();
        {
            let needle = needle.as_str();
            if needle.is_empty() {
                return order;
            }
            order
                .into_iter()
                .filter(|room_id| {
                    handle.room_summary(room_id).with(|room| {
                        room.as_ref().is_some_and(|room| {
                            matches(&room.name, needle)
                                || room
                                    .direct_with
                                    .as_ref()
                                    .is_some_and(|user| matches(user.as_str(), needle))
                        })
                    })
                })
                .collect()
        }
    });
    let invites = Memo::new(move |_| {
        let mut invites = handle.invites();
        let needle = needle();
        invites.retain(|invite| matches(&invite.name, &needle));
        invites
    });
    view! {
        <nav class="sidebar" aria-label="Rooms">
            <div class="sidebar-header">
                <h2>"Rooms"</h2>
                <NewRoom />
            </div>
            <RoomSearch query />
            {dyn_show(move || !invites.with(Vec::is_empty), move || view! {
                <h3 class="section-title">"Invites"</h3>
                <ul class="invites">
                    // Few and short-lived: re-rendering the list beats a keyed <For> in size.
                    {dyn_view(move || {
                        invites.get().into_iter().map(|invite| view! { <InviteCard invite /> }).collect_view().into_any()
                    })}
                </ul>
            }.into_any())}
            <ul class="rooms">
                <For each=move || rooms.get() key=|room_id| room_id.clone() let(room_id)>
                    <RoomRow room_id />
                </For>
            </ul>
            // One line for an empty list: nothing matches the search, or no rooms yet.
            {dyn_view(move || {
                if !rooms.with(Vec::is_empty) || !invites.with(Vec::is_empty) {
                    return ().into_any();
                }
                let text = if !query.with(|q| q.trim().is_empty()) {
                    "No rooms match"
                } else if handle.has_synced() {
                    "No rooms yet. Create one, or ask someone to invite you."
                } else {
                    return ().into_any();
                };
                view! { <p class="hint" role="status">{text}</p> }.into_any()
            })}
        </nav>
    }
}
