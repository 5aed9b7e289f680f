//! The message box: Enter sends, Shift+Enter starts a new line, Escape cancels a reply or
//! edit, Up in an empty box edits your last message. Markdown is rendered when sent.

use leptos::{
    ev::{KeyboardEvent, SubmitEvent},
    html,
    prelude::*,
};
use ruma::OwnedRoomId;
use weft_client::{Draft, TimelineItem};

use crate::{
    components::{
        attach::{AttachButton, Pending, add},
        icon::{Icon, icon},
    },
    handle::ClientHandle,
    platform::{document, files},
    reactive::dyn_view,
};

/// Whether the composer answers or replaces a message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ComposerMode {
    #[default]
    Message,
    Reply(TimelineItem),
    Edit(TimelineItem),
}

/// Text area "Message" and a "Send" button, with a banner while replying or editing.
#[component]
pub fn Composer(
    room_id: OwnedRoomId,
    mode: RwSignal<ComposerMode>,
    pending: Pending,
) -> impl IntoView {
    let handle = ClientHandle::expect();
    let text = RwSignal::new(String::new());
    let textarea = NodeRef::<html::Textarea>::new();

    // Entering edit mode puts the message's text in the box; any mode change focuses it.
    Effect::new(move |_| {
        let current = mode.get();
        if let ComposerMode::Edit(item) = &current {
            text.set(item.body.clone());
        }
        if let Some(element) = textarea.get_untracked() {
            document::focus(&element);
        }
    });

    let send = {
        let room_id = room_id.clone();
        move || {
            let body = text.get_untracked();
            if body.trim().is_empty() {
                return;
            }
            let draft = match mode.get_untracked() {
                ComposerMode::Message => Draft {
                    text: body,
                    ..Draft::default()
                },
                ComposerMode::Reply(item) => Draft {
                    text: body,
                    reply_to: item.event_id,
                    edit_of: None,
                },
                ComposerMode::Edit(item) => Draft {
                    text: body,
                    reply_to: None,
                    edit_of: item.event_id,
                },
            };
            handle.send_message(room_id.clone(), draft);
            text.set(String::new());
            mode.set(ComposerMode::Message);
        }
    };
    let on_submit = {
        let send = send.clone();
        move |ev: SubmitEvent| {
            ev.prevent_default();
            send();
        }
    };
    let on_keydown = {
        let room_id = room_id.clone();
        move |ev: KeyboardEvent| {
            match ev.key().as_str() {
                // While an IME composes, Enter confirms the composition rather than sending.
                "Enter" if !ev.shift_key() && !ev.is_composing() => {
                    ev.prevent_default();
                    send();
                }
                "Escape" if mode.get_untracked() != ComposerMode::Message => {
                    ev.prevent_default();
                    if matches!(mode.get_untracked(), ComposerMode::Edit(_)) {
                        text.set(String::new());
                    }
                    mode.set(ComposerMode::Message);
                }
                "ArrowUp" if text.get_untracked().is_empty() => {
                    if let Some(item) = handle.last_editable(&room_id) {
                        ev.prevent_default();
                        mode.set(ComposerMode::Edit(item));
                    }
                }
                _ => {}
            }
        }
    };
    let on_input = {
        let room_id = room_id.clone();
        move |_| handle.set_typing(room_id.clone(), !text.get_untracked().is_empty())
    };
    let on_blur = move |_| handle.set_typing(room_id.clone(), false);

    let banner = move || {
        let (label, item) = match mode.get() {
            ComposerMode::Message => return ().into_any(),
            ComposerMode::Reply(item) => (format!("Replying to {}", item.sender_name), item),
            ComposerMode::Edit(item) => ("Editing your message".to_owned(), item),
        };
        view! {
            <div class="composer-banner">
                <span class="banner-label">{label}</span>
                <span class="banner-quote">{item.body}</span>
                <button
                    type="button"
                    class="small"
                    aria-label="Cancel"
                    on:click=move |_| {
                        if matches!(mode.get_untracked(), ComposerMode::Edit(_)) {
                            text.set(String::new());
                        }
                        mode.set(ComposerMode::Message);
                    }
                >
                    "Cancel"
                </button>
            </div>
        }
        .into_any()
    };

    view! {
        <form class="composer" on:submit=on_submit>
            {dyn_view(banner)}
            <div class="composer-row">
                <label class="visually-hidden" for="composer-message">"Message"</label>
                <textarea
                    id="composer-message"
                    rows="1"
                    placeholder="Write a message…"
                    node_ref=textarea
                    bind:value=text
                    on:keydown=on_keydown
                    on:input=on_input
                    on:blur=on_blur
                    on:paste=move |ev| {
                        let files = files::from_paste(&ev);
                        if !files.is_empty() {
                            ev.prevent_default();
                            add(pending, files);
                        }
                    }
                ></textarea>
                <AttachButton pending />
                <button type="submit" class="primary icon-button" aria-label="Send" title="Send">{icon(Icon::Send)}</button>
            </div>
        </form>
    }
}
