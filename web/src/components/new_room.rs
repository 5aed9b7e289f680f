//! "New room" button and its small create form.

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};

use crate::handle::ClientHandle;

/// Toggles a form with "Room name" and "Create"; the created room gets selected.
#[component]
pub fn NewRoom() -> impl IntoView {
    let handle = ClientHandle::expect();
    let open = RwSignal::new(false);
    let name = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);

    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let room_name = name.get_untracked().trim().to_owned();
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let result = handle.create_room(&room_name).await;
            busy.set(false);
            match result {
                Ok(_) => {
                    name.set(String::new());
                    open.set(false);
                }
                Err(failure) => error.set(Some(failure.to_string())),
            }
        });
    };

    view! {
        <button
            class="new-room-button"
            aria-expanded=move || open.get().to_string()
            on:click=move |_| open.update(|open| *open = !*open)
        >
            "New room"
        </button>
        <Show when=move || open.get()>
            <form class="new-room card" on:submit=on_submit>
                <label for="new-room-name">"Room name"</label>
                <input id="new-room-name" type="text" autocomplete="off" bind:value=name />
                {move || error.get().map(|message| view! { <p class="error" role="alert">{message}</p> })}
                <div class="actions">
                    <button type="submit" class="primary" disabled=move || busy.get()>
                        "Create"
                    </button>
                    <button type="button" on:click=move |_| open.set(false)>
                        "Cancel"
                    </button>
                </div>
            </form>
        </Show>
    }
}
