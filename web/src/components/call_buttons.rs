//! "Voice call" and "Video call" in the header of a room with one other member.

use leptos::prelude::*;
use ruma::OwnedRoomId;

use crate::{handle::ClientHandle, reactive::dyn_view};

/// The call buttons; nothing in rooms where a 1:1 call does not fit.
#[component]
pub fn CallButtons(room_id: OwnedRoomId) -> impl IntoView {
    let handle = ClientHandle::expect();
    let can_call = Memo::new({
        let room_id = room_id.clone();
        move |_| handle.call_peer(&room_id).is_some()
    });
    let busy = move || handle.active_call().is_some();
    dyn_view(move || {
        if !can_call.get() {
            return ().into_any();
        }
        let (voice_room, video_room) = (room_id.clone(), room_id.clone());
        view! {
            <div class="call-buttons">
                <button disabled=busy on:click=move |_| handle.start_call(voice_room.clone(), false)>"Voice call"</button>
                <button disabled=busy on:click=move |_| handle.start_call(video_room.clone(), true)>"Video call"</button>
            </div>
        }
        .into_any()
    })
}
