//! "Voice call" and "Video call" (icon buttons) in the header of a room with one other member: they call
//! that person, answer their call while it rings here, and are off during another call.

use leptos::prelude::*;
use ruma::OwnedRoomId;

use crate::{
    components::icon::{Icon, icon},
    handle::ClientHandle,
    reactive::dyn_view,
};

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
                <button class="icon-button" aria-label="Voice call" title="Voice call" disabled=off on:click=move |_| handle.start_call(voice_room.clone(), false)>
                    {icon(Icon::Call)}
                </button>
                <button class="icon-button" aria-label="Video call" title="Video call" disabled=off on:click=move |_| handle.start_call(video_room.clone(), true)>
                    {icon(Icon::Video)}
                </button>
            </div>
        }
        .into_any()
    })
}
