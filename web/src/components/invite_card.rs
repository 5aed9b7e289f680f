//! One pending invite in the room list, with its "Join" button.

use leptos::{prelude::*, task::spawn_local};
use weft_client::InviteEntry;

use crate::handle::ClientHandle;
use crate::reactive::error_line;

/// Shows the room and who invited us; "Join" joins and opens the room.
#[component]
pub fn InviteCard(invite: InviteEntry) -> impl IntoView {
    let handle = ClientHandle::expect();
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let room_id = invite.room_id.clone();
    let join = move |_| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let room_id = room_id.clone();
        spawn_local(async move {
            let result = handle.join(room_id.as_str()).await;
            busy.set(false);
            if let Err(failure) = result {
                error.set(Some(failure.to_string()));
            }
        });
    };
    let inviter = invite
        .inviter_name
        .clone()
        .or_else(|| invite.inviter.as_ref().map(ToString::to_string));
    view! {
        <li class="invite">
            <div class="invite-text">
                <span class="invite-room">{invite.name.clone()}</span>
                {inviter.map(|name| view! { <span class="invite-from">"Invited by " {name}</span> })}
            </div>
            <button class="primary small" disabled=busy on:click=join>
                "Join"
            </button>
            {error_line(error)}
        </li>
    }
}
