//! Shows when the sync connection is down (or not up yet).

use leptos::prelude::*;

use crate::handle::{ClientHandle, Connection};

/// "Connecting…" / "Offline" badge; nothing while online.
#[component]
pub fn ConnectionStatus() -> impl IntoView {
    let handle = ClientHandle::expect();
    view! {
        <span class="connection" role="status">
            {move || match handle.connection() {
                Connection::Online => None,
                Connection::Connecting => Some(view! { <span class="badge">"Connecting…"</span> }),
                Connection::Offline => {
                    Some(view! { <span class="badge offline">"Offline — reconnecting"</span> })
                }
            }}
        </span>
    }
}
