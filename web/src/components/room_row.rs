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
    reactive::{dyn_text, dyn_view},
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
    let unread = {
        let summary = summary.clone();
        move || summary.with(|room| room.as_ref().is_some_and(|room| room.unread > 0))
    };
    let time = {
        let summary = summary.clone();
        move || {
            tick.track();
            summary
                .with(|room| room.as_ref().and_then(|room| room.last_active))
                .map(|ts| list_time(ts.get().into(), clock::now().get().into(), clock::utc_offset_minutes()))
                .unwrap_or_default()
        }
    };
    let preview_id = format!("preview-{room_id}");
    let time_id = format!("time-{room_id}");
    let described_by = format!("{preview_id} {time_id}");
    view! {
        <li>
            <button
                class="room"
                class:selected=is_selected.clone()
                class:unread=unread
                aria-current=move || is_selected().then_some("page")
                aria-describedby=described_by
                on:click=move |_| handle.select(Some(room_id.clone()))
            >
                {dyn_view(move || match picture.get() {
                    Some((name, hue, avatar)) => view! { <Avatar name user_id=hue picture=avatar /> }.into_any(),
                    None => ().into_any(),
                })}
                <span class="room-text">
                    <span class="room-line">
                        <span class="room-name">
                            {dyn_text({
                                let summary = summary.clone();
                                move || summary.with(|room| room.as_ref().map(|room| room.name.clone()).unwrap_or_default())
                            })}
                        </span>
                        <span class="room-time" id=time_id aria-hidden="true">{dyn_text(time)}</span>
                    </span>
                    <span class="room-line">
                        <span class="room-preview" id=preview_id aria-hidden="true">
                            {dyn_text({
                                let summary = summary.clone();
                                move || summary.with(|room| room.as_ref().and_then(|room| room.preview.clone()).unwrap_or_default())
                            })}
                        </span>
                        {dyn_view(move || {
                            let Some((unread, highlights)) = summary.with(|room| room.as_ref().map(|room| (room.unread, room.highlights)))
                            else {
                                return ().into_any();
                            };
                            if unread == 0 {
                                return ().into_any();
                            }
                            let label = if highlights > 0 {
                                format!("{unread} unread, {highlights} mentioning you")
                            } else {
                                format!("{unread} unread")
                            };
                            // The count is drawn; the button's name gets the words (an
                            // `aria-label` on a span is not allowed).
                            view! {
                                <span class="badge" class:highlight={highlights > 0} aria-hidden="true">
                                    {unread.to_string()}
                                </span>
                                <span class="visually-hidden">{format!(" {label}")}</span>
                            }
                            .into_any()
                        })}
                    </span>
                </span>
            </button>
        </li>
    }
}
