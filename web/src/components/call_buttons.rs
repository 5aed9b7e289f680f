//! "Voice call" and "Video call" in the header of a room with one other member: they call
//! that person, answer their call while it rings here, and are off during another call.

use leptos::prelude::*;
use ruma::OwnedRoomId;

use crate::{handle::ClientHandle, reactive::dyn_view};

/// The call buttons; nothing in rooms where a 1:1 call does not fit.
#[component]
pub fn CallButtons(room_id: OwnedRoomId) -> impl IntoView {
    let handle = ClientHandle::expect();
    let shown = Memo::new({
        let room_id = room_id.clone();
        move |_| handle.has_call_buttons(&room_id)
    });
    dyn_view(move || {
        if !shown.get() {
            return ().into_any();
        }
        let off = Signal::derive({
            let room_id = room_id.clone();
            move || handle.call_buttons_off(&room_id)
        });
        let (voice_room, video_room) = (room_id.clone(), room_id.clone());
        view! {
            <div class="call-buttons">
                <button disabled=off on:click=move |_| handle.start_call(voice_room.clone(), false)>"Voice call"</button>
                <button disabled=off on:click=move |_| handle.start_call(video_room.clone(), true)>"Video call"</button>
            </div>
        }
        .into_any()
    })
}
