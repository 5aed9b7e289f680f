//! The message list of a room.

use leptos::prelude::*;
use ruma::OwnedRoomId;
use weft_client::{ItemKind, SendState, TimelineItem};

use crate::{handle::ClientHandle, platform::clock::format_time};

/// `<section aria-label="Timeline">` with one `<li>` per item.
///
/// The scroll container uses `flex-direction: column-reverse` (see style.css), which keeps
/// it pinned to the newest message without any scrolling code.
#[component]
pub fn Timeline(
    room_id: OwnedRoomId,
    items: Signal<Vec<TimelineItem>>,
    loaded: Signal<bool>,
) -> impl IntoView {
    let own_user_id = ClientHandle::expect().user_id_untracked();
    view! {
        <section class="timeline" role="region" aria-label="Timeline">
            <div class="timeline-inner">
                <Show when=move || !loaded.get()>
                    <p class="hint">"Loading room…"</p>
                </Show>
                <Show when=move || loaded.get() && items.with(Vec::is_empty)>
                    <p class="hint">"No messages yet. Say hello!"</p>
                </Show>
                <ol class="items">
                    <For
                        each=move || items.get()
                        // The send state is part of the key so a confirmed echo re-renders.
                        key=|item| (item.key(), item.send_state, item.body.clone())
                        children=move |item| {
                            let own = own_user_id.as_ref() == Some(&item.sender);
                            view! { <Item item own room_id=room_id.clone() /> }
                        }
                    />
                </ol>
            </div>
        </section>
    }
}

/// One list item: a message with its sender, or a notice sentence.
#[component]
fn Item(item: TimelineItem, own: bool, room_id: OwnedRoomId) -> impl IntoView {
    let handle = ClientHandle::expect();
    let time = format_time(item.origin_server_ts);
    let state_class = match item.send_state {
        SendState::Pending => "pending",
        SendState::Failed => "failed",
        _ => "",
    };
    match item.kind {
        ItemKind::Notice => view! {
            <li class="item notice">
                <span class="notice-text">{item.body}</span>
            </li>
        }
        .into_any(),
        kind => {
            let kind_class = match kind {
                ItemKind::Emote => "emote",
                ItemKind::Encrypted | ItemKind::Redacted => "muted",
                _ => "",
            };
            let txn_id = item.txn_id.clone();
            let status = match item.send_state {
                SendState::Pending => {
                    Some(view! { <span class="status">"Sending…"</span> }.into_any())
                }
                SendState::Failed => Some(
                    view! {
                        <span class="status">"Not sent"</span>
                        <button
                            class="small"
                            on:click=move |_| {
                                if let Some(txn_id) = txn_id.clone() {
                                    handle.retry(room_id.clone(), txn_id);
                                }
                            }
                        >
                            "Retry"
                        </button>
                    }
                    .into_any(),
                ),
                _ => None,
            };
            view! {
                <li class=format!("item message {kind_class} {state_class}") class:own=own>
                    <div class="meta">
                        <span class="sender">{item.sender_name}</span>
                        <time class="time">{time}</time>
                    </div>
                    <p class="body">{item.body}</p>
                    {status}
                </li>
            }
            .into_any()
        }
    }
}
