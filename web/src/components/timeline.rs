//! The message list of a room: day separators, grouped messages, older history on scroll,
//! who is typing, and a jump back to the newest message.

use leptos::{html, prelude::*};
use std::collections::HashMap;

use ruma::{OwnedRoomId, OwnedUserId};
use weft_client::{ItemKind, TimelineItem};

use crate::{
    components::{composer::ComposerMode, timeline_item::Item},
    handle::ClientHandle,
    platform::{clock, document},
    reactive::{dyn_show, dyn_text, dyn_view},
};

/// Messages from one sender closer than this share one header.
const GROUP_MS: u64 = 5 * 60 * 1000;
/// Start loading older history when the top is this close (px).
const LOAD_MARGIN: i32 = 600;

/// One row of the list: an item, whether it starts a group, and the day it opens if any.
///
/// The row is the list's key, so any change re-creates its element. Read receipts move
/// often, so they are left out (and shown from [`receipts`]): otherwise a playing video
/// would restart whenever someone read the room.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Row {
    item: TimelineItem,
    header: bool,
    day: Option<String>,
}

/// Who has read up to each item, by item key.
fn receipts(items: &[TimelineItem]) -> HashMap<String, Vec<OwnedUserId>> {
    items
        .iter()
        .filter(|item| !item.read_by.is_empty())
        .map(|item| (item.key(), item.read_by.clone()))
        .collect()
}

fn rows(items: &[TimelineItem]) -> Vec<Row> {
    let mut rows = Vec::with_capacity(items.len());
    let mut previous: Option<&TimelineItem> = None;
    for item in items {
        let day = clock::day_of(item.origin_server_ts);
        let new_day = previous.is_none_or(|p| clock::day_of(p.origin_server_ts) != day);
        let header = new_day
            || previous.is_none_or(|p| {
                p.sender != item.sender
                    || p.kind == ItemKind::State
                    || item.origin_server_ts.get()
                        > p.origin_server_ts.get()
                            + ruma::UInt::try_from(GROUP_MS).unwrap_or_default()
            });
        let mut item_without_receipts = item.clone();
        item_without_receipts.read_by = Vec::new();
        rows.push(Row {
            item: item_without_receipts,
            header,
            day: new_day.then(|| clock::format_day(item.origin_server_ts)),
        });
        previous = Some(item);
    }
    rows
}

/// `<section aria-label="Timeline">` with one `<li>` per item.
///
/// The scroll container uses `flex-direction: column-reverse` (see style.css): it stays
/// pinned to the newest message, and history added at the top does not move what you see.
#[component]
pub fn Timeline(
    room_id: OwnedRoomId,
    items: Signal<Vec<TimelineItem>>,
    loaded: Signal<bool>,
    reached_start: Signal<bool>,
    typing: Signal<Vec<String>>,
    can_redact_others: Signal<bool>,
    mode: RwSignal<ComposerMode>,
) -> impl IntoView {
    let handle = ClientHandle::expect();
    let scroller = NodeRef::<html::Section>::new();
    let away_from_bottom = RwSignal::new(false);
    let rows = Memo::new(move |_| items.with(|items| rows(items)));
    let receipts = Memo::new(move |_| items.with(|items| receipts(items)));

    let check_scroll = {
        let room_id = room_id.clone();
        move || {
            let Some(element) = scroller.get_untracked() else {
                return;
            };
            let (top, height, client) = document::scroll_metrics(&element);
            // column-reverse: scrollTop is 0 at the bottom and negative upwards.
            let from_top = height - client + top;
            away_from_bottom.set(top < -200);
            if from_top < LOAD_MARGIN && loaded.get_untracked() && !reached_start.get_untracked() {
                handle.load_older(room_id.clone());
            }
        }
    };
    // After each render (new items, a page of history), fill the screen if it isn't full.
    Effect::new({
        let check_scroll = check_scroll.clone();
        let room_id = room_id.clone();
        move |_| {
            rows.track();
            handle.is_paginating(&room_id);
            check_scroll();
        }
    });

    view! {
        <section
            class="timeline"
            role="region"
            aria-label="Timeline"
            node_ref=scroller
            on:scroll=move |_| check_scroll()
        >
            <div class="timeline-inner">
                {dyn_view(move || {
                    let (loaded, start) = (loaded.get(), reached_start.get());
                    if !loaded || (!start && handle_paginating(handle)) {
                        view! { <p class="hint" role="status">"Loading…"</p> }.into_any()
                    } else if start && items.with(Vec::is_empty) {
                        view! { <p class="hint">"No messages yet. Say hello!"</p> }.into_any()
                    } else if start {
                        view! { <p class="hint">"This is the start of the room."</p> }.into_any()
                    } else {
                        ().into_any()
                    }
                })}
                <ol class="items">
                    <For
                        each=move || rows.get()
                        key=|row| row.clone()
                        children=move |row| {
                            let room_id = room_id.clone();
                            let key = row.item.key();
                            let read_by = Signal::derive(move || {
                                receipts.with(|r| r.get(&key).cloned().unwrap_or_default())
                            });
                            view! {
                                {row.day.map(|day| view! { <li class="day" role="separator">{day}</li> })}
                                <Item room_id item=row.item header=row.header mode can_redact_others read_by />
                            }
                        }
                    />
                </ol>
                <p class="typing" aria-live="polite">
                    {dyn_text(move || typing_text(&typing.get()))}
                </p>
            </div>
            {dyn_show(
                move || away_from_bottom.get(),
                move || view! {
                    <button
                        class="jump"
                        on:click=move |_| {
                            if let Some(element) = scroller.get_untracked() {
                                document::scroll_to(&element, 0);
                            }
                        }
                    >
                        "Jump to latest"
                    </button>
                }
                .into_any(),
            )}
        </section>
    }
}

fn handle_paginating(handle: ClientHandle) -> bool {
    handle
        .selected()
        .is_some_and(|room| handle.is_paginating(&room))
}

/// "alice is typing…", "alice and bob are typing…", "Several people are typing…".
fn typing_text(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => format!("{one} is typing…"),
        [a, b] => format!("{a} and {b} are typing…"),
        _ => "Several people are typing…".to_owned(),
    }
}
