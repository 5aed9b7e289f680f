//! The message list of a room: day separators, grouped messages, older history on scroll,
//! who is typing, and a jump back to the newest message.
//!
//! Only a window of [`WINDOW`] items is in the page. It follows the newest message while the
//! reader is at the bottom (within [`FOLLOW_MARGIN`]); once they scroll up it holds still,
//! so new messages neither move the view nor take rows out from under it. Near the window's
//! top it moves [`STEP`] items back (and fetches older history once it shows the oldest item
//! loaded), near its bottom it moves forward again. Each move keeps an item that stays in
//! place on screen, so the view does not jump.

use leptos::{html, prelude::*};

use ruma::OwnedRoomId;
use weft_client::SendState;

use crate::{
    components::{composer::ComposerMode, timeline_item::Item},
    handle::{ClientHandle, OpenRoom},
    platform::document,
    reactive::{dyn_show, dyn_text, dyn_view},
};

/// Start loading older history, or move the window, when an edge is this close (px).
const LOAD_MARGIN: i32 = 600;
/// Items in the page at most.
pub const WINDOW: usize = 80;
/// Items the window moves by.
const STEP: usize = 30;
/// A reader this close to the newest message (px) still follows new ones. A touchpad, or
/// a click that scrolls a button into view, can leave the view a few pixels short of the
/// bottom; the browser then holds it still as messages arrive (scroll anchoring), and
/// without this margin the reader would silently stop seeing new messages.
const FOLLOW_MARGIN: i32 = 48;

/// `<section aria-label="Timeline">` with one `<li>` per item.
///
/// The scroll container uses `flex-direction: column-reverse` (see style.css): it stays
/// pinned to the newest message, and history added at the top does not move what you see.
#[component]
pub fn Timeline(
    room_id: OwnedRoomId,
    open: OpenRoom,
    loaded: Signal<bool>,
    reached_start: Signal<bool>,
    can_redact_others: Signal<bool>,
    mode: RwSignal<ComposerMode>,
) -> impl IntoView {
    let handle = ClientHandle::expect();
    let scroller = NodeRef::<html::Section>::new();
    let away_from_bottom = RwSignal::new(false);
    // The reader follows new messages: set by their own scrolling only (see `check_scroll`).
    // While it holds, the browser's scroll anchoring is off (style.css) and each render pins
    // the view to the bottom; once they scroll up, the window's end is held (`bottom`).
    let following = RwSignal::new(true);
    let rows = open.rows.clone();
    let receipts = open.receipts.clone();
    let typing = open.typing.clone();
    // The key of the newest row shown and its index then; `None`: the newest row of all
    // (following new ones). If that row goes (a local echo dropped, an undecryptable event
    // that was a reaction), the window stays about where it was instead of jumping to the
    // newest message under the reader.
    let bottom = RwSignal::new(None::<(String, usize)>);
    // The window as a range of `rows`.
    let window = Memo::new({
        let rows = rows.clone();
        move |_| {
            let bottom = bottom.get();
            rows.with(|rows| {
                let held = bottom.map(|(key, was)| {
                    rows.iter()
                        .rposition(|row| row.key == key)
                        .map_or(was + 1, |i| i + 1)
                        .min(rows.len())
                });
                // A held window still takes new rows while it has room: only rows pushed
                // out from under the reader matter.
                let end = held.map_or(rows.len(), |end| end.max(WINDOW.min(rows.len())));
                (end.saturating_sub(WINDOW), end)
            })
        }
    });
    let shown = Memo::new({
        let rows = rows.clone();
        move |_| {
            let (start, end) = window.get();
            rows.with(|rows| rows[start..end].to_vec())
        }
    });
    // A move is under way (waiting for its render): scroll events meanwhile are its own.
    let moving = StoredValue::new(false);
    // scrollTop at the last check, for the direction of scrolling: the window moves forward
    // only while the reader scrolls down, so a move back that leaves the bottom edge close
    // cannot bounce straight forward again.
    let last_top = StoredValue::new(0);
    // Moves the window so it ends at `end`, keeping the first (moving back) or last (moving
    // forward) item where it is on screen.
    let move_window = {
        let rows = rows.clone();
        move |end: usize, back: bool| {
            let Some(element) = scroller.get_untracked() else {
                return;
            };
            let key = rows.with_untracked(|rows| {
                (end < rows.len()).then(|| (rows[end - 1].key.clone(), end - 1))
            });
            let anchor = document::edge_child(&element, ".items", !back);
            moving.set_value(true);
            bottom.set(key);
            leptos::task::spawn_local(async move {
                document::next_frame().await;
                if let Some((anchor, was_top)) = anchor {
                    document::keep_in_place(&element, &anchor, was_top);
                }
                last_top.set_value(document::scroll_metrics(&element).0);
                moving.set_value(false);
            });
        }
    };

    let check_scroll = {
        let room_id = room_id.clone();
        let rows = rows.clone();
        move |scrolled: bool| {
            let Some(element) = scroller.get_untracked() else {
                return;
            };
            if moving.get_value() {
                return;
            }
            let (mut top, height, client) = document::scroll_metrics(&element);
            let (start, end) = window.get_untracked();
            let len = rows.with_untracked(Vec::len);
            if scrolled {
                // The reader scrolled (anchoring, which could also scroll, is off while
                // they follow): they follow again at the bottom, and stop well above it.
                let follow = -top <= FOLLOW_MARGIN && end == len;
                if follow != following.get_untracked() {
                    following.set(follow);
                    // Following, the window ends with the newest row; not, it keeps its end
                    // so new rows do not push the ones being read out of the page.
                    let held = (!follow && end > 0)
                        .then(|| rows.with_untracked(|rows| (rows[end - 1].key.clone(), end - 1)));
                    bottom.set(held);
                }
            } else if following.get_untracked() && top != 0 {
                // New rows while following: show them (the view may be a few px short).
                document::scroll_to(&element, 0);
                top = 0;
            }
            // column-reverse: scrollTop is 0 at the bottom and negative upwards.
            let from_top = height - client + top;
            let down = scrolled && top > last_top.get_value();
            last_top.set_value(top);
            away_from_bottom.set(top < -200 || end < len);
            if from_top < LOAD_MARGIN && !down {
                if start > 0 {
                    // Never while following: that would take the newest rows out of the
                    // page under the reader (only a window shorter than the screen gets here).
                    if !following.get_untracked() {
                        move_window(end.saturating_sub(STEP).max(WINDOW.min(len)), true);
                    }
                } else if loaded.get_untracked() && !reached_start.get_untracked() {
                    handle.load_older(room_id.clone());
                }
            } else if down && -top < LOAD_MARGIN && end < len {
                move_window((end + STEP).min(len), false);
            }
        }
    };
    // After each render (new items, a page of history), fill the screen if it isn't full.
    // Measured at the next frame, once the new rows are in the page: measured before, a
    // page that just arrived looks like a page still missing, and measured never again (no
    // scroll event comes while the view stays at the top) the history stops loading.
    Effect::new({
        let check_scroll = check_scroll.clone();
        let room_id = room_id.clone();
        let rows = rows.clone();
        move |_| {
            rows.track();
            shown.track();
            handle.is_paginating(&room_id);
            let check_scroll = check_scroll.clone();
            leptos::task::spawn_local(async move {
                document::next_frame().await;
                check_scroll(false);
            });
        }
    });

    // Sending a message takes the reader to it, wherever they were reading (as in every chat
    // app): a new newest row that is still being sent is one we just sent from here.
    let newest = Memo::new({
        let rows = rows.clone();
        move |_| rows.with(|rows| rows.last().map(|row| row.key.clone()))
    });
    Effect::new(move |previous: Option<Option<String>>| {
        let key = newest.get();
        let sent_here = previous.is_some_and(|previous| previous != key)
            && key
                .as_deref()
                .and_then(|key| handle.item_signal(key))
                .is_some_and(|item| {
                    item.with_untracked(|item| item.send_state == SendState::Pending)
                });
        if sent_here {
            // The render that follows pins the view to the bottom (`check_scroll`).
            bottom.set(None);
            following.set(true);
        }
        key
    });

    view! {
        <section
            class="timeline"
            role="region"
            aria-label="Timeline"
            // Reachable by keyboard, so the arrow keys and Page Up scroll it.
            tabindex="0"
            class:following=move || following.get()
            node_ref=scroller
            on:scroll=move |_| check_scroll(true)
        >
            <div class="timeline-inner">
                {dyn_view({
                    let rows = rows.clone();
                    move || {
                    let (loaded, start) = (loaded.get(), reached_start.get());
                    if !loaded || (!start && handle_paginating(handle)) {
                        view! { <p class="hint" role="status">"Loading…"</p> }.into_any()
                    } else if start && rows.with(Vec::is_empty) {
                        view! { <p class="hint">"No messages yet. Say hello!"</p> }.into_any()
                    } else if start && window.get().0 == 0 {
                        view! { <p class="hint">"This is the start of the room."</p> }.into_any()
                    } else {
                        ().into_any()
                    }
                }})}
                <ol class="items">
                    <For
                        each=move || shown.get()
                        key=|row| row.clone()
                        children=move |row| {
                            let room_id = room_id.clone();
                            let receipts = receipts.clone();
                            let key = row.key.clone();
                            // Receipts move often, so they are apart from the item: a playing
                            // video survives someone reading the room.
                            let read_by = Memo::new(move |_| {
                                receipts.with(|r| r.get(&key).cloned().unwrap_or_default())
                            });
                            let item = handle.item_signal(&row.key);
                            let header = row.header;
                            view! {
                                // A heading in an item of its own: a list holds only list items, and screen
                                // readers can jump between days by heading.
                                {row.day.map(|day| view! { <li class="day"><h3>{day}</h3></li> })}
                                {dyn_view(move || match &item {
                                    // Its own signal: an edit or a reaction re-renders this item only.
                                    Some(item) => view! {
                                        <Item room_id=room_id.clone() item=item.get() header mode can_redact_others read_by=read_by.into() />
                                    }.into_any(),
                                    None => ().into_any(),
                                })}
                            }
                        }
                    />
                </ol>
                <p class="typing" aria-live="polite">
                    {dyn_text(move || typing.with(|typing| typing_text(typing)))}
                </p>
            </div>
            {dyn_show(
                move || away_from_bottom.get(),
                move || view! {
                    <button
                        class="jump"
                        on:click=move |_| {
                            bottom.set(None);
                            following.set(true);
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
