//! "Voice call" and "Video call" in the header of a room with one other member: they call
//! that person, answer their call while it rings here, and are off during another call and
//! in encrypted rooms (call events would have to be encrypted).

use leptos::prelude::*;
use ruma::OwnedRoomId;
use weft_client::call::CallButton;

use crate::{handle::ClientHandle, reactive::dyn_view};

/// The call buttons; nothing in rooms where a 1:1 call does not fit.
#[component]
pub fn CallButtons(room_id: OwnedRoomId) -> impl IntoView {
    let handle = ClientHandle::expect();
    let peer = Memo::new({
        let room_id = room_id.clone();
        move |_| handle.call_peer(&room_id)
    });
    dyn_view(move || {
        let Some((user, encrypted)) = peer.get() else {
            return ().into_any();
        };
        let off = {
            let room_id = room_id.clone();
            move || encrypted || handle.call_button(&room_id, &user) == CallButton::Busy
        };
        let (voice_room, video_room) = (room_id.clone(), room_id.clone());
        view! {
            <div class="call-buttons">
                <button disabled=off.clone() on:click=move |_| handle.start_call(voice_room.clone(), false)>"Voice call"</button>
                <button disabled=off on:click=move |_| handle.start_call(video_room.clone(), true)>"Video call"</button>
            </div>
        }
        .into_any()
    })
}
