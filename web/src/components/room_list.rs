//! The sidebar: new-room form, pending invites and joined rooms.

use leptos::prelude::*;

use crate::{
    components::{invite_card::InviteCard, new_room::NewRoom},
    handle::ClientHandle,
    reactive::{dyn_show, dyn_view},
};

/// `<nav aria-label="Rooms">` listing invites and joined rooms.
#[component]
pub fn RoomList() -> impl IntoView {
    let handle = ClientHandle::expect();
    // The order only: each row follows its own room's summary, so a change in one room
    // re-renders that row and nothing else.
    let rooms = Memo::new(move |_| handle.room_order());
    let invites = Memo::new(move |_| handle.invites());

    view! {
        <nav class="sidebar" aria-label="Rooms">
            <div class="sidebar-header">
                <h2>"Rooms"</h2>
                <NewRoom />
            </div>
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
                <For
                    each=move || rooms.get()
                    key=|room_id| room_id.clone()
                    children=move |room_id| {
                        let summary = handle.room_summary(&room_id);
                        let is_selected = {
                            let room_id = room_id.clone();
                            move || handle.selected().as_ref() == Some(&room_id)
                        };
                        view! {
                            <li>
                                <button
                                    class="room"
                                    class:selected=is_selected.clone()
                                    aria-current=move || is_selected().then_some("page")
                                    on:click=move |_| handle.select(Some(room_id.clone()))
                                >
                                    {dyn_view(move || {
                                        let Some(room) = summary.get() else { return ().into_any() };
                                        view! {
                                            <span class="room-name">{room.name}</span>
                                            {(room.unread > 0).then(|| {
                                                let highlight = room.highlights > 0;
                                                let label = if room.highlights > 0 {
                                                    format!("{} unread, {} mentioning you", room.unread, room.highlights)
                                                } else {
                                                    format!("{} unread", room.unread)
                                                };
                                                view! {
                                                    <span class="badge" class:highlight=highlight aria-label=label>
                                                        {room.unread.to_string()}
                                                    </span>
                                                }
                                            })}
                                        }
                                        .into_any()
                                    })}
                                </button>
                            </li>
                        }
                    }
                />
            </ul>
            {dyn_show(
                move || handle.has_synced() && rooms.with(Vec::is_empty) && invites.with(Vec::is_empty),
                || view! { <p class="hint">"No rooms yet. Create one, or ask someone to invite you."</p> }.into_any(),
            )}
        </nav>
    }
}
