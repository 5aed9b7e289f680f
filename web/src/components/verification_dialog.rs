//! The "Verification" dialog: where a verification stands, the seven emoji to compare with
//! the other screen, "They match" / "They don't match", and the outcome.
//!
//! In the `security` wasm chunk; [`verification_dialog`] fetches it.

use leptos::prelude::*;
use weft_client::engine::{CancelCode, VerificationPhase, VerificationView};

use crate::{
    calls::ChunkError,
    handle::ClientHandle,
    popup::{Kind, close, popup},
    reactive::{dyn_text, dyn_view, error_line},
};

#[leptos::wasm_split::wasm_split(security, wasm_split_path = ::leptos::wasm_split, fallible)]
pub fn verification_dialog(id: String) -> Result<AnyView, ChunkError> {
    Ok(view! { <VerificationDialog id /> }.into_any())
}

fn phase_words(phase: &VerificationPhase, name: &str) -> String {
    match phase {
        VerificationPhase::Requested { we_requested: true } => {
            format!("Waiting for {name} to accept…")
        }
        VerificationPhase::Requested {
            we_requested: false,
        }
        | VerificationPhase::Ready => "Starting…".to_owned(),
        VerificationPhase::Started => "Exchanging keys…".to_owned(),
        VerificationPhase::ShowSas => {
            format!("Compare these emoji with {name}'s screen, in the same order.")
        }
        VerificationPhase::Confirmed => format!("Waiting for {name} to confirm…"),
        VerificationPhase::Done => "Verified".to_owned(),
        VerificationPhase::Cancelled {
            code,
            reason,
            by_us,
        } => match (code, by_us) {
            (CancelCode::MismatchedSas, _) => {
                "The emoji didn't match: verification cancelled".to_owned()
            }
            (CancelCode::Timeout, _) => "Verification timed out".to_owned(),
            (CancelCode::Accepted, _) => "Accepted on another device".to_owned(),
            (CancelCode::User, true) => "You cancelled the verification".to_owned(),
            (CancelCode::User, false) => format!("{name} cancelled the verification"),
            (_, _) if reason.is_empty() => "Verification cancelled".to_owned(),
            (_, _) => format!("Verification cancelled: {reason}"),
        },
    }
}

#[component]
pub fn VerificationDialog(id: String) -> impl IntoView {
    let handle = ClientHandle::expect();
    let id = StoredValue::new(id);
    let current = Memo::new(move |_| {
        id.with_value(|id| handle.verifications().into_iter().find(|v| v.id == *id))
    });
    let name = Memo::new(move |_| {
        current.with(|v| {
            v.as_ref()
                .map(|v| handle.verification_peer_name(v))
                .unwrap_or_default()
        })
    });
    let phase = Memo::new(move |_| current.with(|v| v.as_ref().map(|v| v.phase.clone())));
    let error = RwSignal::new(None::<String>);
    let act = move |f: fn(&ClientHandle, &str) -> Result<(), crate::handle::SecurityError>| {
        move |_| {
            if let Err(e) = id.with_value(|id| f(&handle, id)) {
                error.set(Some(e.to_string()));
            }
        }
    };
    let emoji = move |v: &VerificationView| {
        v.emoji
            .map(|emoji| {
                view! {
                    <ul class="sas-emoji" aria-label="Emoji">
                        {emoji.iter().map(|e| view! {
                            <li aria-label=e.description>
                                <span class="symbol" aria-hidden="true">{e.symbol}</span>
                                <span class="description">{e.description}</span>
                            </li>
                        }).collect_view()}
                    </ul>
                }
                .into_any()
            })
            .or_else(|| {
                v.decimals.map(|(a, b, c)| {
                    view! { <p class="sas-decimals">{format!("{a} {b} {c}")}</p> }.into_any()
                })
            })
    };

    // Escape is "Cancel" (or "Close" once it is over), as closing Element's verification
    // dialog cancels the request; a press elsewhere leaves it open, since a stray click
    // should not end a verification under way.
    let cancel = close(move || {
        if let Err(e) = id.with_value(|id| handle.cancel_verification(id)) {
            error.set(Some(e.to_string()));
        }
    });
    view! {
        <div class="verification card" role="dialog" aria-modal="true" aria-label="Verification"
            use:popup=(Kind::ProcessDialog, cancel)>
            <h3>{dyn_text(move || format!("Verify {}", name.get()))}</h3>
            <p role="status">{dyn_text(move || {
                phase.with(|p| p.as_ref().map(|p| phase_words(p, &name.get())).unwrap_or_else(|| "Verification cancelled".to_owned()))
            })}</p>
            {dyn_view(move || {
                current.with(|v| match v {
                    Some(v) if v.phase == VerificationPhase::ShowSas => emoji(v).unwrap_or_else(|| ().into_any()),
                    _ => ().into_any(),
                })
            })}
            <div class="actions">
                {dyn_view(move || match phase.get() {
                    Some(VerificationPhase::ShowSas) => view! {
                        <button class="primary" on:click=act(ClientHandle::confirm_verification)>"They match"</button>
                        <button class="danger" on:click=act(ClientHandle::mismatch_verification)>"They don't match"</button>
                        <button on:click=act(ClientHandle::cancel_verification)>"Cancel"</button>
                    }.into_any(),
                    Some(VerificationPhase::Ready) if current.with_untracked(|v| v.as_ref().is_some_and(|v| !v.we_started)) => view! {
                        <button class="primary" on:click=act(ClientHandle::accept_verification)>"Start"</button>
                        <button on:click=act(ClientHandle::cancel_verification)>"Cancel"</button>
                    }.into_any(),
                    Some(VerificationPhase::Done | VerificationPhase::Cancelled { .. }) | None => view! {
                        <button on:click=act(ClientHandle::cancel_verification)>"Close"</button>
                    }.into_any(),
                    Some(_) => view! {
                        <button on:click=act(ClientHandle::cancel_verification)>"Cancel"</button>
                    }.into_any(),
                })}
            </div>
            {error_line(error)}
        </div>
    }
}
