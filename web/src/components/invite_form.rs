//! The "Invite user" box in room settings, above the member list.

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use ruma::{OwnedRoomId, OwnedUserId};

use crate::{
    components::icon::{Icon, icon},
    handle::ClientHandle,
    reactive::dyn_view,
};

/// What the last invite attempt came to.
#[derive(Clone, PartialEq, Eq)]
enum Outcome {
    Invited(String),
    Failed(String),
}

/// Text box for a full user ID and an "Invite" button, with the result underneath.
#[component]
pub fn InviteForm(room_id: OwnedRoomId) -> impl IntoView {
    let handle = ClientHandle::expect();
    let user = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let outcome = RwSignal::new(None::<Outcome>);

    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let typed = user.get_untracked().trim().to_owned();
        let Ok(user_id) = OwnedUserId::try_from(typed.as_str()) else {
            outcome.set(Some(Outcome::Failed(
                "Enter a full user ID, like @bob:example.org".to_owned(),
            )));
            return;
        };
        busy.set(true);
        outcome.set(None);
        let room_id = room_id.clone();
        spawn_local(async move {
            let result = handle.invite(room_id, user_id.clone()).await;
            busy.set(false);
            outcome.set(Some(match result {
                Ok(()) => {
                    user.set(String::new());
                    Outcome::Invited(format!("Invited {user_id}"))
                }
                Err(failure) => Outcome::Failed(failure.to_string()),
            }));
        });
    };

    view! {
        <form class="invite-form" on:submit=on_submit>
            <label class="visually-hidden" for="invite-user">"Invite user"</label>
            <input
                id="invite-user"
                type="text"
                placeholder="@someone:server"
                autocomplete="off"
                autocapitalize="none"
                spellcheck="false"
                bind:value=user
            />
            <button type="submit" class="with-icon" disabled=busy>{icon(Icon::Invite)}"Invite"</button>
            {dyn_view(move || match outcome.get() {
                Some(Outcome::Invited(text)) => {
                    view! { <p class="invite-result ok" role="status">{text}</p> }.into_any()
                }
                Some(Outcome::Failed(text)) => {
                    view! { <p class="invite-result error" role="alert">{text}</p> }.into_any()
                }
                None => ().into_any(),
            })}
        </form>
    }
}
