//! The sidebar's "New room", "Start chat" and "Join room" forms.

use std::{future::Future, pin::Pin};

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use weft_client::NewRoom as NewRoomSpec;

use crate::{
    error::ActionError,
    handle::ClientHandle,
    popup::{Kind, close, popup},
    reactive::{dyn_show, dyn_text, dyn_view, error_line},
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Closed,
    Room,
    Chat,
    Join,
}

/// Three buttons, each opening its small form; whatever is created or joined gets selected.
#[component]
pub fn NewRoom() -> impl IntoView {
    let handle = ClientHandle::expect();
    let form = RwSignal::new(Form::Closed);
    let name = RwSignal::new(String::new());
    let topic = RwSignal::new(String::new());
    let public = RwSignal::new(false);
    // On by default for private rooms, off for public ones (as Element does: anyone can
    // join a public room, so encrypting it protects little and costs history).
    let encrypted = RwSignal::new(true);
    let alias = RwSignal::new(String::new());
    let target = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);

    let run = move |job: Pin<Box<dyn Future<Output = Result<(), ActionError>>>>| {
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let result = job.await;
            busy.set(false);
            match result {
                Ok(()) => {
                    for field in [name, topic, alias, target] {
                        field.set(String::new());
                    }
                    public.set(false);
                    encrypted.set(true);
                    form.set(Form::Closed);
                }
                Err(failure) => error.set(Some(failure.to_string())),
            }
        });
    };
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        match form.get_untracked() {
            Form::Room => {
                let spec = NewRoomSpec {
                    name: name.get_untracked(),
                    topic: topic.get_untracked(),
                    public: public.get_untracked(),
                    alias: if public.get_untracked() {
                        alias.get_untracked()
                    } else {
                        String::new()
                    },
                    encrypted: encrypted.get_untracked(),
                    ..NewRoomSpec::default()
                };
                run(Box::pin(
                    async move { handle.create_room(spec).await.map(drop) },
                ));
            }
            Form::Chat => {
                let user = target.get_untracked();
                run(Box::pin(async move { handle.start_dm(&user).await }));
            }
            Form::Join => {
                let room = target.get_untracked();
                run(Box::pin(async move { handle.join(&room).await }));
            }
            Form::Closed => {}
        }
    };
    let toggle = move |which: Form| {
        error.set(None);
        form.update(|f| *f = if *f == which { Form::Closed } else { which });
    };
    let button = move |which: Form, label: &'static str| {
        view! {
            <button
                class="new-room-button"
                aria-expanded=move || (form.get() == which).to_string()
                on:click=move |_| toggle(which)
            >
                {label}
            </button>
        }
    };

    view! {
        <div class="sidebar-actions">
            {button(Form::Room, "New room")}
            {button(Form::Chat, "Start chat")}
            {button(Form::Join, "Join room")}
        </div>
        {dyn_show(move || form.get() != Form::Closed, move || {
            view! {
            <form class="new-room card" use:popup=(Kind::Menu, close(move || form.set(Form::Closed))) on:submit=on_submit>
                {dyn_view(move || match form.get() {
                    Form::Room => view! {
                        <label for="new-room-name">"Room name"</label>
                        <input id="new-room-name" type="text" autocomplete="off" bind:value=name />
                        <label for="new-room-topic">"Topic"</label>
                        <input id="new-room-topic" type="text" autocomplete="off" bind:value=topic />
                        <label class="check">
                            <input
                                type="checkbox"
                                prop:checked=public
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    public.set(on);
                                    encrypted.set(!on);
                                }
                            />
                            "Public (anyone can find and join)"
                        </label>
                        <label class="check">
                            <input type="checkbox" bind:checked=encrypted />
                            "Encrypted"
                        </label>
                        {dyn_show(move || public.get(), move || view! {
                            <label for="new-room-alias">"Address"</label>
                            <input id="new-room-alias" type="text" placeholder="town-square" autocomplete="off" bind:value=alias />
                        }.into_any())}
                    }
                    .into_any(),
                    Form::Chat => view! {
                        <label for="new-chat-user">"User ID"</label>
                        <input id="new-chat-user" type="text" placeholder="@name:server" autocomplete="off" bind:value=target />
                    }
                    .into_any(),
                    _ => view! {
                        <label for="join-room">"Room address or ID"</label>
                        <input id="join-room" type="text" placeholder="#room:server" autocomplete="off" bind:value=target />
                    }
                    .into_any(),
                })}
                {error_line(error)}
                <div class="actions">
                    <button type="submit" class="primary" disabled=busy>
                        {dyn_text(move || match form.get() {
                            Form::Room => "Create",
                            Form::Chat => "Start",
                            _ => "Join",
                        }.to_owned())}
                    </button>
                    <button type="button" on:click=move |_| form.set(Form::Closed)>
                        "Cancel"
                    </button>
                </div>
            </form>
        }.into_any()})}
    }
}
