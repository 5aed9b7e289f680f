//! Shows when the sync connection is down (or not up yet).

use leptos::prelude::*;

use crate::handle::{ClientHandle, Connection};
use crate::reactive::dyn_view;

/// "Connecting…" / "Offline" badge; nothing while online.
#[component]
pub fn ConnectionStatus() -> impl IntoView {
    let handle = ClientHandle::expect();
    view! {
        <span class="connection" role="status">
            {dyn_view(move || match handle.connection() {
                Connection::Online => ().into_any(),
                Connection::Connecting => view! { <span class="badge">"Connecting…"</span> }.into_any(),
                Connection::Offline => {
                    view! { <span class="badge offline">"Offline — reconnecting"</span> }.into_any()
                }
            })}
        </span>
    }
}
