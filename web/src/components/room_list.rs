//! The sidebar: new-room form, pending invites and joined rooms.

use leptos::prelude::*;

use crate::{
    components::{invite_card::InviteCard, new_room::NewRoom},
    handle::ClientHandle,
};

/// `<nav aria-label="Rooms">` listing invites and joined rooms.
#[component]
pub fn RoomList() -> impl IntoView {
    let handle = ClientHandle::expect();
    let rooms = Memo::new(move |_| handle.room_list());
    let invites = Memo::new(move |_| handle.invites());

    view! {
        <nav class="sidebar" aria-label="Rooms">
            <div class="sidebar-header">
                <h2>"Rooms"</h2>
                <NewRoom />
            </div>
            <Show when=move || !invites.with(Vec::is_empty)>
                <h3 class="section-title">"Invites"</h3>
                <ul class="invites">
                    <For
                        each=move || invites.get()
                        key=|invite| invite.room_id.clone()
                        children=|invite| view! { <InviteCard invite /> }
                    />
                </ul>
            </Show>
            <ul class="rooms">
                <For
                    each=move || rooms.get()
                    key=|room| room.clone()
                    children=move |room| {
                        let room_id = room.room_id.clone();
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
                                </button>
                            </li>
                        }
                    }
                />
            </ul>
            <Show when=move || handle.has_synced() && rooms.with(Vec::is_empty) && invites.with(Vec::is_empty)>
                <p class="hint">"No rooms yet. Create one, or ask someone to invite you."</p>
            </Show>
        </nav>
    }
}
