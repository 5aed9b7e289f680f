//! One joined room in the room list: its picture, name, newest message, the time of its
//! latest activity, and its unread count.
//!
//! The row is one button named after the room (then "N unread"); the preview and time are
//! not part of its name, so a message can never make a room's button match another
//! room's name.

use leptos::prelude::*;
use ruma::OwnedRoomId;
use weft_client::preview::list_time;

use crate::{
    components::avatar::Avatar, handle::ClientHandle, platform::clock, reactive::dyn_view,
};

/// The row of `room_id`.
#[component]
pub fn RoomRow(room_id: OwnedRoomId) -> impl IntoView {
    let handle = ClientHandle::expect();
    let summary = handle.room_summary(&room_id);
    let is_selected = {
        let room_id = room_id.clone();
        move || handle.selected().as_ref() == Some(&room_id)
    };
    // The picture only changes with the name or the picture, not with each message. A
    // person keeps their colour everywhere, so a DM takes theirs.
    let name = Memo::new({
        let summary = summary.clone();
        move |_| {
            summary.with(|room| {
                room.as_ref()
                    .map(|room| room.name.clone())
                    .unwrap_or_default()
            })
        }
    });
    let picture = Memo::new({
        let summary = summary.clone();
        move |_| summary.with(|room| room.as_ref().and_then(|room| room.avatar.clone()))
    });
    let hue = summary
        .with_untracked(|room| {
            room.as_ref()
                .and_then(|room| room.direct_with.as_ref().map(ToString::to_string))
        })
        .unwrap_or_else(|| room_id.to_string());
    // Name, time, preview and count in one piece: they change together, with the room's
    // summary (or the minute, for the time), and one piece keeps the wasm small.
    let text = move || {
        handle.minute();
        let Some(room) = summary.get() else {
            return ().into_any();
        };
        let time = room
            .last_active
            .map(|ts| {
                list_time(
                    ts.get().into(),
                    clock::now().get().into(),
                    clock::utc_offset_minutes(),
                )
            })
            .unwrap_or_default();
        // The count is drawn; the button's name gets the words (an `aria-label` on a span
        // is not allowed). Both are empty without unread messages.
        let (count, words) = match (room.unread, room.highlights) {
            (0, _) => (String::new(), String::new()),
            (unread, 0) => (unread.to_string(), format!(" {unread} unread")),
            (unread, highlights) => (
                unread.to_string(),
                format!(" {unread} unread, {highlights} mentioning you"),
            ),
        };
        let unread = room.unread > 0;
        // The time and preview are hidden from the button's name, which must stay the
        // room's name: tests and people find rooms by it.
        (
            part(
                if unread {
                    "room-name unread"
                } else {
                    "room-name"
                },
                false,
                room.name,
            ),
            part("room-time", true, time),
            part("room-preview", true, room.preview.unwrap_or_default()),
            part(
                if room.highlights > 0 {
                    "badge highlight"
                } else {
                    "badge"
                },
                true,
                count,
            ),
            part("visually-hidden", false, words),
        )
            .into_any()
    };
    view! {
        <li>
            <button
                class="room"
                class:selected=is_selected.clone()
                aria-current=move || is_selected().then_some("page")
                on:click=move |_| handle.select(Some(room_id.clone()))
            >
                {dyn_view(move || view! { <Avatar name=name.get() user_id=hue.clone() picture=picture.get() /> }.into_any())}
                {dyn_view(text)}
            </button>
        </li>
    }
}

/// One piece of text of the row; all alike, so the wasm holds one kind of span.
fn part(class: &'static str, hidden: bool, text: String) -> impl IntoView {
    view! { <span class=class aria-hidden=hidden.then_some("true")>{text}</span> }
}
