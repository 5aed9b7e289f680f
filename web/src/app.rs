//! The root component: the sign-in screen or the chat layout.

use leptos::prelude::*;

use crate::{
    components::{
        account_menu::AccountMenu, call_host::CallHost, connection_status::ConnectionStatus,
        login::Login, room_list::RoomList, room_view::RoomView,
        verification_host::VerificationHost,
    },
    handle::ClientHandle,
    platform::document,
    reactive::dyn_view,
};

/// The whole app.
#[component]
pub fn App() -> impl IntoView {
    let handle = ClientHandle::provide();
    let signed_in = Memo::new(move |_| handle.is_signed_in());
    let starting = Memo::new(move |_| handle.is_starting());
    dyn_view(move || {
        if signed_in.get() {
            view! { <Chat /> }.into_any()
        } else if starting.get() {
            // Opening this device's crypto store; says so if another tab holds it.
            view! {
                <main class="login">
                    <p class="card login-card" role="status">
                        {move || handle.notice().unwrap_or_else(|| "Opening Weft…".to_owned())}
                    </p>
                </main>
            }
            .into_any()
        } else {
            view! { <Login /> }.into_any()
        }
    })
}

/// Signed-in layout: top bar, room list, and the selected room.
#[component]
fn Chat() -> impl IntoView {
    let handle = ClientHandle::expect();
    let has_room = move || handle.selected().is_some();
    Effect::new(move |_| {
        let unread = handle.total_unread();
        document::set_title(&if unread > 0 {
            format!("({unread}) Weft")
        } else {
            "Weft".to_owned()
        });
    });
    view! {
        <div class="chat" class:room-open=has_room>
            <header class="topbar">
                <span class="brand">"Weft"</span>
                <ConnectionStatus />
                <AccountMenu />
            </header>
            <RoomList />
            <main class="main">
                {dyn_view(move || match handle.selected() {
                    Some(room_id) => view! { <RoomView room_id /> }.into_any(),
                    None => view! {
                        <div class="empty-state">
                            <p>"Pick a room on the left, or start a new one."</p>
                        </div>
                    }
                    .into_any(),
                })}
            </main>
            <CallHost />
            <VerificationHost />
        </div>
    }
}
