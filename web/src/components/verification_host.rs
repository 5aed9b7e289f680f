//! Verifications wherever the app is: an alert "NAME wants to verify" with "Accept" and
//! "Decline" for each incoming request, and the "Verification" dialog for the one under
//! way. The dialog lives in the `security` wasm chunk, fetched when first needed; the
//! alert stays in the main module so a request is seen at once.

use std::{future::Future, pin::Pin};

use leptos::{prelude::*, task::spawn_local_scoped};
use weft_client::engine::{VerificationPhase, VerificationView};

use crate::{
    calls::ChunkError,
    components::verification_dialog::verification_dialog,
    error::OrLog,
    handle::ClientHandle,
    reactive::{dyn_show, dyn_view},
};

/// A view from a lazily loaded chunk: nothing until it arrives, an error line if it can't
/// be fetched (offline, a deploy replaced it). Not `<Suspense>`, which costs more
/// first-load bytes than the chunk saves.
pub fn chunk_view(
    load: Pin<Box<dyn Future<Output = Result<AnyView, ChunkError>>>>,
    what: &'static str,
) -> AnyView {
    let view = StoredValue::new_local(None::<AnyView>);
    let ready = RwSignal::new(false);
    spawn_local_scoped(async move {
        let loaded = match load.await {
            Ok(view) => view,
            Err(ChunkError) => view! {
                <p class="error" role="alert">{what}" could not be loaded. Check your connection and reload the page."</p>
            }
            .into_any(),
        };
        view.set_value(Some(loaded));
        ready.set(true);
    });
    dyn_show(
        move || ready.get(),
        move || {
            view.try_update_value(Option::take)
                .flatten()
                .unwrap_or_else(|| ().into_any())
        },
    )
    .into_any()
}

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
                        <button class="primary small" on:click=move |_| handle.accept_verification(&id).or_log("a verification could not be accepted")>"Accept"</button>
                        <button class="small" on:click=move |_| handle.cancel_verification(&decline_id).or_log("a verification could not be declined")>"Decline"</button>
                    </div>
                }
            }).collect_view().into_any()
        })}
        {dyn_view(move || match active.get() {
            Some(id) => chunk_view(Box::pin(verification_dialog(id)), "Verification"),
            None => ().into_any(),
        })}
    }
}
