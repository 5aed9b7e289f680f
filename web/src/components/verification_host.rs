//! Verifications wherever the app is: an alert "NAME wants to verify" with "Accept" and
//! "Decline" for each incoming request, and the "Verification" dialog for the one under
//! way. The dialog lives in the `security` wasm chunk, fetched when first needed; the
//! alert stays in the main module so a request is seen at once.

use leptos::prelude::*;
use weft_client::engine::{VerificationPhase, VerificationView};

use crate::{
    components::verification_dialog::verification_dialog,
    error::OrLog,
    handle::ClientHandle,
    reactive::{dyn_view, lazy_view},
};

fn is_incoming_request(v: &VerificationView) -> bool {
    !v.we_started
        && v.phase
            == VerificationPhase::Requested {
                we_requested: false,
            }
}

#[component]
pub fn VerificationHost() -> impl IntoView {
    let handle = ClientHandle::expect();
    let verifications = Memo::new(move |_| handle.verifications());
    let incoming = Memo::new(move |_| {
        verifications.with(|all| {
            all.iter()
                .filter(|v| is_incoming_request(v))
                .map(|v| (v.id.clone(), handle.verification_peer_name(v)))
                .collect::<Vec<_>>()
        })
    });
    // The dialog shows the first verification past an unanswered incoming request.
    let active = Memo::new(move |_| {
        verifications.with(|all| {
            all.iter()
                .find(|v| !is_incoming_request(v))
                .map(|v| v.id.clone())
        })
    });
    view! {
        {dyn_view(move || {
            incoming.get().into_iter().map(|(id, name)| {
                let decline_id = id.clone();
                view! {
                    <div class="verification-request card" role="alert" aria-label=format!("{name} wants to verify")>
                        <span>{format!("{name} wants to verify")}</span>
                        <button class="primary small" on:click=move |_| handle.accept_verification(&id).or_log("accept verification")>"Accept"</button>
                        <button class="small" on:click=move |_| handle.cancel_verification(&decline_id).or_log("decline verification")>"Decline"</button>
                    </div>
                }
            }).collect_view().into_any()
        })}
        {dyn_view(move || match active.get() {
            Some(id) => lazy_view(Box::pin(verification_dialog(id)), "Verification"),
            None => ().into_any(),
        })}
    }
}
