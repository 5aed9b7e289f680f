//! One timeline entry: a message (header, reply quote, body, reactions, receipts, actions)
//! or a room change in words.

use leptos::prelude::*;
use ruma::{OwnedRoomId, OwnedUserId};
use weft_client::{ItemKind, SendState, TimelineItem};

use crate::{
    components::{
        avatar::{self, Avatar},
        composer::ComposerMode,
        icon::{Icon, icon},
        media_view::MediaView,
        message_body::MessageBody,
        reactions::{ReactionPicker, Reactions},
        verified_badge::VerifiedBadge,
    },
    handle::ClientHandle,
    platform::clock::format_time,
    reactive::{dyn_show, dyn_view},
};

/// How many read-receipt avatars to show before "+N".
const RECEIPTS_SHOWN: usize = 4;

#[component]
pub fn Item(
    room_id: OwnedRoomId,
    item: TimelineItem,
    header: bool,
    mode: RwSignal<ComposerMode>,
    can_redact_others: Signal<bool>,
    /// Who has read up to here (apart from `item`, so that it can change in place).
    read_by: Signal<Vec<OwnedUserId>>,
) -> impl IntoView {
    let handle = ClientHandle::expect();
    if item.kind == ItemKind::State {
        return view! {
            <li class="item state">
                <span class="state-text">{item.body.clone()}</span>
                {receipts(room_id, read_by)}
            </li>
        }
        .into_any();
    }
    let own_user = handle.user_id_untracked();
    let own = own_user.as_ref() == Some(&item.sender);
    let mentions_me = !own
        && own_user.as_ref().is_some_and(|me| {
            item.mentions.contains(me) || {
                let my_name = handle.member_name_untracked(&room_id, me);
                !my_name.is_empty()
                    && item
                        .body
                        .to_ascii_lowercase()
                        .contains(&my_name.to_ascii_lowercase())
            }
        });
    let kind_class = match item.kind {
        ItemKind::Emote => "emote",
        ItemKind::Notice => "bot",
        ItemKind::Encrypted | ItemKind::Redacted => "muted",
        _ => "",
    };
    let state_class = match item.send_state {
        SendState::Pending => "pending",
        SendState::Failed => "failed",
        _ => "",
    };
    let picking = RwSignal::new(false);
    let time = format_time(item.origin_server_ts);

    let reply = item.reply_to.clone().map(|target| {
        let quoted = handle.item_untracked(&room_id, &target);
        match quoted {
            Some(quoted) => view! {
                <blockquote class="reply-quote">
                    <span class="sender">{quoted.sender_name}</span>
                    <MessageBody body=quoted.body html=quoted.html quote=true />
                </blockquote>
            }
            .into_any(),
            None => view! {
                <blockquote class="reply-quote muted">"In reply to an earlier message"</blockquote>
            }
            .into_any(),
        }
    });

    let status = match item.send_state {
        SendState::Pending => Some(view! { <span class="status">"Sending…"</span> }.into_any()),
        SendState::Failed => {
            let (room_id, txn_id) = (room_id.clone(), item.txn_id.clone());
            Some(
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
            )
        }
        _ => None,
    };

    let picker_room = room_id.clone();
    let actions = item.event_id.clone().filter(|_| item.is_message()).map(|event_id| {
        let can_delete = own || can_redact_others.get_untracked();
        let (reply_item, edit_item) = (item.clone(), item.clone());
        let (delete_room, delete_event) = (room_id.clone(), event_id.clone());
        view! {
            <div class="item-actions" role="toolbar" aria-label="Message actions">
                <button class="icon-button" aria-label="React" title="React" on:click=move |_| picking.update(|p| *p = !*p)>
                    {icon(Icon::React)}
                </button>
                <button class="icon-button" aria-label="Reply" title="Reply" on:click=move |_| mode.set(ComposerMode::Reply(reply_item.clone()))>
                    {icon(Icon::Reply)}
                </button>
                {own.then(|| view! {
                    <button class="icon-button" aria-label="Edit" title="Edit" on:click=move |_| mode.set(ComposerMode::Edit(edit_item.clone()))>
                        {icon(Icon::Edit)}
                    </button>
                })}
                {can_delete.then(|| view! {
                    <button
                        class="icon-button danger"
                        aria-label="Delete"
                        title="Delete"
                        on:click=move |_| handle.delete(delete_room.clone(), delete_event.clone())
                    >
                        {icon(Icon::Delete)}
                    </button>
                })}
            </div>
            {dyn_show(move || picking.get(), move || view! {
                <ReactionPicker
                    room_id=picker_room.clone()
                    event_id=event_id.clone()
                    on_pick=Callback::new(move |()| picking.set(false))
                />
            }.into_any())}
        }
    });

    let reactions = match (&item.event_id, item.reactions.is_empty()) {
        (Some(event_id), false) => Some(view! {
            <div class="reactions">
                <Reactions room_id=room_id.clone() event_id=event_id.clone() reactions=item.reactions.clone() />
            </div>
        }),
        _ => None,
    };

    view! {
        <li
            class=format!("item message {kind_class} {state_class}")
            class:own=own
            class:grouped=!header
            class:mention=mentions_me
        >
            {header.then(|| view! {
                <div class="meta">
                    <Avatar name=item.sender_name.clone() user_id=item.sender.to_string() picture=item.sender_avatar.clone() />
                    <span class="sender" style:--hue=avatar::hue(item.sender.as_str()).to_string()>{item.sender_name.clone()}</span>
                    {(!own).then(|| {
                        let sender = item.sender.clone();
                        dyn_show(move || handle.is_user_verified(&sender), || view! { <VerifiedBadge /> }.into_any())
                    })}
                    <time class="time">{time.clone()}</time>
                </div>
            })}
            <div class="content">
                {reply}
                {(item.kind == ItemKind::Emote).then(|| view! { <span class="emote-sender">{format!("* {} ", item.sender_name)}</span> })}
                {match (item.media.clone(), item.kind) {
                    (Some(media), _) => view! { <MediaView media /> }.into_any(),
                    // Kept in place: re-classified when its key arrives.
                    (None, ItemKind::Encrypted) => view! {
                        <p class="utd">"Unable to decrypt: " <span class="utd-reason">{item.body.clone()}</span></p>
                    }.into_any(),
                    (None, _) => view! { <MessageBody body=item.body.clone() html=item.html.clone() /> }.into_any(),
                }}
                {(item.encrypted && !item.sender_cross_signed && item.kind != ItemKind::Encrypted).then(|| view! {
                    <span class="shield warning" role="img" aria-label="Encrypted by a device not verified by its owner" title="Encrypted by a device not verified by its owner">"!"</span>
                })}
                {item.edited.then(|| view! { <span class="edited">"(edited)"</span> })}
                {(!header).then(|| view! { <time class="time hover-time">{time}</time> })}
                {status}
                {reactions}
                {receipts(room_id.clone(), read_by)}
            </div>
            {actions}
        </li>
    }
    .into_any()
}

/// Small avatars of the people who have read up to this item.
fn receipts(room_id: OwnedRoomId, read_by: Signal<Vec<OwnedUserId>>) -> impl IntoView {
    let handle = ClientHandle::expect();
    dyn_view(move || {
        let read_by = read_by.get();
        if read_by.is_empty() {
            return ().into_any();
        }
        let names: Vec<String> = read_by
            .iter()
            .map(|user| handle.member_name_untracked(&room_id, user))
            .collect();
        let label = format!("Read by {}", names.join(", "));
        let extra = names.len().saturating_sub(RECEIPTS_SHOWN);
        view! {
            <div class="receipts" role="img" title=label.clone() aria-label=label>
                {read_by
                    .iter()
                    .zip(&names)
                    .take(RECEIPTS_SHOWN)
                    .map(|(user, name)| view! { <Avatar name=name.clone() user_id=user.to_string() small=true /> })
                    .collect_view()}
                {(extra > 0).then(|| view! { <span class="more">{format!("+{extra}")}</span> })}
            </div>
        }
        .into_any()
    })
}
