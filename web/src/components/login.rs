//! Sign-in and registration form.

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use weft_client::ApiError;

use crate::{
    error::ActionError,
    handle::ClientHandle,
    platform::location,
    reactive::dyn_show,
    reactive::{dyn_text, error_line},
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    SignIn,
    Register,
}

/// The first screen: homeserver, username and password, then "Sign in" or "Create account".
#[component]
pub fn Login() -> impl IntoView {
    let handle = ClientHandle::expect();
    let homeserver = RwSignal::new(location::origin());
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    // Shown once the homeserver has said it wants a registration token.
    let token = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(handle.notice_untracked());

    let submit = move |mode: Mode| {
        if busy.get_untracked() {
            return;
        }
        let (hs, user, pass) = (
            homeserver.get_untracked(),
            username.get_untracked(),
            password.get_untracked(),
        );
        if user.trim().is_empty() || pass.is_empty() {
            error.set(Some("Enter a username and a password".to_owned()));
            return;
        }
        busy.set(true);
        error.set(None);
        let registration_token = token.get_untracked();
        spawn_local(async move {
            let result = match mode {
                Mode::SignIn => handle.sign_in(&hs, &user, &pass).await,
                Mode::Register => handle.register(&hs, &user, &pass, registration_token).await,
            };
            // On success this component is gone; setting its signals is then a no-op.
            busy.set(false);
            if let Err(failure) = result {
                if failure == ActionError::Api(ApiError::RegistrationTokenRequired) {
                    token.set(Some(String::new()));
                }
                error.set(Some(failure.to_string()));
            }
        });
    };

    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        submit(Mode::SignIn);
    };

    view! {
        <main class="login">
            <form class="card login-card" on:submit=on_submit>
                <h1>"Weft"</h1>
                <p class="subtitle">"Sign in to your Matrix account, or create one."</p>
                <label for="login-homeserver">"Homeserver"</label>
                <input
                    id="login-homeserver"
                    type="url"
                    autocomplete="url"
                    required
                    bind:value=homeserver
                />
                <label for="login-username">"Username"</label>
                <input
                    id="login-username"
                    type="text"
                    autocomplete="username"
                    autocapitalize="none"
                    spellcheck="false"
                    required
                    bind:value=username
                />
                <label for="login-password">"Password"</label>
                <input
                    id="login-password"
                    type="password"
                    autocomplete="current-password"
                    required
                    bind:value=password
                />
                {dyn_show(move || token.with(Option::is_some), move || view! {
                    <label for="login-token">"Registration token"</label>
                    <input
                        id="login-token"
                        type="text"
                        autocomplete="off"
                        prop:value=move || token.get().unwrap_or_default()
                        on:input=move |ev| token.set(Some(event_target_value(&ev)))
                    />
                }.into_any())}
                {error_line(error)}
                <div class="actions">
                    <button type="submit" class="primary" disabled=busy>
                        "Sign in"
                    </button>
                    <button
                        type="button"
                        disabled=busy
                        on:click=move |_| submit(Mode::Register)
                    >
                        "Create account"
                    </button>
                </div>
                <p class="busy" aria-live="polite">
                    {dyn_text(move || if busy.get() { "Contacting the homeserver…".to_owned() } else { String::new() })}
                </p>
            </form>
        </main>
    }
}
