//! One joined room in the room list: its picture, name, newest message, the time of its
//! latest activity, and its unread count.
//!
//! The row is one button named after the room (then "N unread"): the preview and time are
//! its description, not its name, so a message can never make a room's button match
//! another room's name.

use leptos::prelude::*;
use ruma::OwnedRoomId;
use weft_client::preview::list_time;

use crate::{
    components::avatar::Avatar,
    handle::ClientHandle,
    platform::clock,
    reactive::dyn_view,
};

/// The row of `room_id`; `tick` changes every minute, so the time stays right.
#[component]
pub fn RoomRow(room_id: OwnedRoomId, tick: ReadSignal<u32>) -> impl IntoView {
    let handle = ClientHandle::expect();
    let summary = handle.room_summary(&room_id);
    let is_selected = {
        let room_id = room_id.clone();
        move || handle.selected().as_ref() == Some(&room_id)
    };
    // The picture only changes with the name or the picture, not with each message.
    let picture = Memo::new({
        let summary = summary.clone();
        let room_id = room_id.to_string();
        move |_| {
            summary.with(|room| {
                room.as_ref().map(|room| {
                    // A person keeps their colour everywhere, so a DM takes theirs.
                    let hue = room.direct_with.as_ref().map_or_else(|| room_id.clone(), ToString::to_string);
                    (room.name.clone(), hue, room.avatar.clone())
                })
            })
        }
    });
    let preview_id = format!("preview-{room_id}");
    let time_id = format!("time-{room_id}");
    let described_by = format!("{preview_id} {time_id}");
    // Name, time, preview and count in one piece: they change together, with the room's
    // summary (or the minute, for the time), and one piece keeps the wasm small.
    let text = move || {
        tick.track();
        let Some(room) = summary.get() else { return ().into_any() };
        let time = room
            .last_active
            .map(|ts| list_time(ts.get().into(), clock::now().get().into(), clock::utc_offset_minutes()))
            .unwrap_or_default();
        // The count is drawn; the button's name gets the words (an `aria-label` on a span
        // is not allowed). Both are empty without unread messages.
        let (count, words) = match (room.unread, room.highlights) {
            (0, _) => (String::new(), String::new()),
            (unread, 0) => (unread.to_string(), format!(" {unread} unread")),
            (unread, highlights) => (unread.to_string(), format!(" {unread} unread, {highlights} mentioning you")),
        };
        let class = if room.unread > 0 { "room-name unread" } else { "room-name" };
        let badge = if room.highlights > 0 { "badge highlight" } else { "badge" };
        view! {
            <span class=class>{room.name}</span>
            <span class="room-time" id=time_id.clone() aria-hidden="true">{time}</span>
            <span class="room-preview" id=preview_id.clone() aria-hidden="true">{room.preview.unwrap_or_default()}</span>
            <span class=badge aria-hidden="true">{count}</span>
            <span class="visually-hidden">{words}</span>
        }
        .into_any()
    };
    view! {
        <li>
            <button
                class="room"
                class:selected=is_selected.clone()
                aria-current=move || is_selected().then_some("page")
                aria-describedby=described_by
                on:click=move |_| handle.select(Some(room_id.clone()))
            >
                {dyn_view(move || match picture.get() {
                    Some((name, hue, avatar)) => view! { <Avatar name user_id=hue picture=avatar /> }.into_any(),
                    None => ().into_any(),
                })}
                {dyn_view(text)}
            </button>
        </li>
    }
}
