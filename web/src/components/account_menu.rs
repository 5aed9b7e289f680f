//! The account button in the top bar: display name, avatar, desktop notifications,
//! relayed calls, "Security" (its panel is a lazily loaded chunk), "Sign out".

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};

use crate::components::{attach::FileButton, security_panel::security_panel, uploads::Uploads};
use crate::handle::ClientHandle;
use crate::platform::{files::LocalFile, storage};
use crate::popup::{Kind, close, popup};
use crate::reactive::{dyn_show, dyn_text, status_line};

/// A button showing the user ID that opens a small menu.
#[component]
pub fn AccountMenu() -> impl IntoView {
    let handle = ClientHandle::expect();
    let open = RwSignal::new(false);
    let security = RwSignal::new(false);
    let display_name = RwSignal::new(String::new());
    let status = RwSignal::new(None::<Result<&'static str, String>>);
    let notifications = RwSignal::new(handle.notifications_enabled());
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
    let save_name = move |ev: SubmitEvent| {
        ev.prevent_default();
        let name = display_name.get_untracked();
        spawn_local(async move {
            let result = handle.set_display_name(&name).await;
            status.set(Some(
                result
                    .map(|()| "Display name saved")
                    .map_err(|e| e.to_string()),
            ));
        });
    };
    let toggle_notifications = move |ev| {
        let wanted = event_target_checked(&ev);
        spawn_local(async move {
            let on = handle.set_notifications(wanted).await;
            notifications.set(on);
            if wanted && !on {
                status.set(Some(Err(
                    "The browser did not allow notifications".to_owned()
                )));
            }
        });
    };
    view! {
        <div class="account-menu">
            <button
                class="account-button"
                aria-haspopup="true"
                aria-expanded=move || open.get().to_string()
                on:click=move |_| open.update(|open| *open = !*open)
            >
                {dyn_text(label)}
            </button>
            {dyn_show(move || open.get(), move || {
                // The box starts with our current name.
                display_name.set(handle.own_display_name_untracked().unwrap_or_default());
                security.set(false);
                status.set(None);
                view! {
                <div class="menu card" role="group" aria-label="Account" use:popup=(Kind::Menu, close(move || open.set(false)))>
                    <form on:submit=save_name>
                        <label for="account-display-name">"Display name"</label>
                        <div class="row">
                            <input id="account-display-name" type="text" autocomplete="nickname" bind:value=display_name />
                            <button type="submit">"Save name"</button>
                        </div>
                    </form>
                    <div class="row">
                        <FileButton label="Change avatar" class="small" on_files=Callback::new(move |files: Vec<LocalFile>| {
                            if let Some(file) = files.into_iter().next() { handle.set_avatar(None, file) }
                        })>
                            "Change avatar"
                        </FileButton>
                    </div>
                    <Uploads room_id=None />
                    <label class="check">
                        <input type="checkbox" prop:checked=move || notifications.get() on:change=toggle_notifications />
                        "Desktop notifications"
                    </label>
                    <label class="check">
                        <input
                            type="checkbox"
                            prop:checked=storage::relay_only()
                            on:change=move |ev| storage::set_relay_only(event_target_checked(&ev))
                        />
                        "Relay calls through the server (hides your IP address)"
                    </label>
                    <button
                        aria-expanded=move || security.get().to_string()
                        on:click=move |_| security.update(|open| *open = !*open)
                    >
                        "Security"
                    </button>
                    {dyn_show(move || security.get(), move || {
                        // Nested in the menu: a press elsewhere in the menu leaves it open.
                        view! {
                            <div class="security-region" use:popup=(Kind::Menu, close(move || security.set(false)))>
                                {security_panel()}
                            </div>
                        }.into_any()
                    })}
                    {status_line(status)}
                    <button on:click=sign_out>"Sign out"</button>
                </div>
            }.into_any()})}
        </div>
    }
}
