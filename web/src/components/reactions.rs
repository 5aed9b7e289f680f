//! Reaction pills under a message and the quick reaction picker.

use leptos::prelude::*;
use ruma::{OwnedEventId, OwnedRoomId};
use weft_client::Reaction;

use crate::{
    handle::ClientHandle,
    popup::{Kind, close, popup},
};

/// The reactions offered by the "React" button.
pub const QUICK_REACTIONS: [&str; 6] = ["👍", "❤️", "😂", "🎉", "😮", "😢"];

/// One button per reaction key: the count, pressed if we reacted; the title lists who did.
#[component]
pub fn Reactions(
    room_id: OwnedRoomId,
    event_id: OwnedEventId,
    reactions: Vec<Reaction>,
) -> impl IntoView {
    let handle = ClientHandle::expect();
    reactions
        .into_iter()
        .map(|reaction| {
            let names: Vec<String> = reaction
                .senders
                .iter()
                .map(|user| handle.member_name_untracked(&room_id, user))
                .collect();
            let title = format!("{} reacted with {}", names.join(", "), reaction.key);
            let label = format!("{} {}", reaction.key, reaction.senders.len());
            let (room_id, event_id, key) = (room_id.clone(), event_id.clone(), reaction.key.clone());
            view! {
                <button
                    class="reaction"
                    class:own=reaction.own
                    title=title
                    aria-pressed=if reaction.own { "true" } else { "false" }
                    on:click=move |_| handle.toggle_reaction(room_id.clone(), event_id.clone(), key.clone())
                >
                    {label}
                </button>
            }
        })
        .collect_view()
}

/// The row of quick reactions shown after pressing "React"; Escape or a press elsewhere
/// closes it (`on_pick` too).
#[component]
pub fn ReactionPicker(
    room_id: OwnedRoomId,
    event_id: OwnedEventId,
    on_pick: Callback<()>,
) -> impl IntoView {
    let handle = ClientHandle::expect();
    view! {
        <div class="reaction-picker" role="group" aria-label="Pick a reaction"
            use:popup=(Kind::Menu, close(move || on_pick.run(())))>
            {QUICK_REACTIONS
                .iter()
                .map(|key| {
                    let (room_id, event_id) = (room_id.clone(), event_id.clone());
                    view! {
                        <button
                            class="small"
                            aria-label=format!("React with {key}")
                            on:click=move |_| {
                                handle.toggle_reaction(room_id.clone(), event_id.clone(), (*key).to_owned());
                                on_pick.run(());
                            }
                        >
                            {*key}
                        </button>
                    }
                })
                .collect_view()}
        </div>
    }
}
