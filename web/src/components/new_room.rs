//! The sidebar's "New room", "Start chat" and "Join room" forms. The buttons are part of the
//! first load; the forms behind them are a lazily loaded chunk (`forms`), fetched when one
//! first opens.

use std::{future::Future, pin::Pin};

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use weft_client::NewRoom as NewRoomSpec;

use crate::{
    calls::ChunkError,
    error::ActionError,
    handle::ClientHandle,
    popup::{Kind, close, popup},
    reactive::{dyn_show, dyn_text, dyn_view, error_line, lazy_view},
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Closed,
    Room,
    Chat,
    Join,
}

/// The forms' state, kept by the buttons so that it survives the chunk's loading.
#[derive(Clone, Copy)]
struct Fields {
    handle: ClientHandle,
    form: RwSignal<Form>,
    name: RwSignal<String>,
    topic: RwSignal<String>,
    public: RwSignal<bool>,
    encrypted: RwSignal<bool>,
    alias: RwSignal<String>,
    target: RwSignal<String>,
    busy: RwSignal<bool>,
    error: RwSignal<Option<String>>,
}

/// Three buttons, each opening its small form; whatever is created or joined gets selected.
#[component]
pub fn NewRoom() -> impl IntoView {
    let form = RwSignal::new(Form::Closed);
    let fields = Fields {
        handle: ClientHandle::expect(),
        form,
        name: RwSignal::new(String::new()),
        topic: RwSignal::new(String::new()),
        public: RwSignal::new(false),
        // On by default for private rooms, off for public ones (as Element does: anyone
        // can join a public room, so encrypting it protects little and costs history).
        encrypted: RwSignal::new(true),
        alias: RwSignal::new(String::new()),
        target: RwSignal::new(String::new()),
        busy: RwSignal::new(false),
        error: RwSignal::new(None::<String>),
    };
    let toggle = move |which: Form| {
        fields.error.set(None);
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
        {dyn_show(move || form.get() != Form::Closed, move || lazy_view(Box::pin(form_view(fields)), "This form"))}
    }
}

#[leptos::wasm_split::wasm_split(forms, wasm_split_path = ::leptos::wasm_split, fallible)]
fn form_view(fields: Fields) -> Result<AnyView, ChunkError> {
    Ok(form(fields))
}

/// The form itself: its fields, "Create" / "Start" / "Join" and "Cancel".
fn form(fields: Fields) -> AnyView {
    let Fields {
        handle,
        form,
        name,
        topic,
        public,
        encrypted,
        alias,
        target,
        busy,
        error,
    } = fields;
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
        }.into_any()
}
