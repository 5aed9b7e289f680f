//! The account button in the top bar, with "Sign out".

use leptos::{prelude::*, task::spawn_local};

use crate::handle::ClientHandle;

/// A button showing the user ID that opens a small menu.
#[component]
pub fn AccountMenu() -> impl IntoView {
    let handle = ClientHandle::expect();
    let open = RwSignal::new(false);
    let label = move || {
        handle
            .user_id()
            .map(|user_id| user_id.to_string())
            .unwrap_or_default()
    };
    let sign_out = move |_| {
        open.set(false);
        spawn_local(async move { handle.sign_out().await });
    };
    view! {
        <div class="account-menu">
            <button
                class="account-button"
                aria-haspopup="true"
                aria-expanded=move || open.get().to_string()
                on:click=move |_| open.update(|open| *open = !*open)
            >
                {label}
            </button>
            <Show when=move || open.get()>
                <div class="menu" role="group" aria-label="Account">
                    <button on:click=sign_out>"Sign out"</button>
                </div>
            </Show>
        </div>
    }
}
