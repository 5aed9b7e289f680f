//! The "Security" region of the account menu: this device's cross-signing, recovery and
//! key backup in words; setting up recovery (showing the recovery key once); verifying this
//! device with the recovery key or with another device of ours.
//!
//! In the `security` wasm chunk with the verification dialog: only [`security_panel`] is
//! reachable from the main module.

use leptos::{ev::SubmitEvent, prelude::*};
use weft_client::engine::{BackupStatus, CrossSigningStatus, RecoveryStatus, SecurityState};

use crate::{
    calls::ChunkError,
    handle::ClientHandle,
    platform::clipboard,
    reactive::{dyn_show, dyn_text, dyn_view, error_line, lazy_view},
};

/// The panel, its chunk fetched first.
pub fn security_panel() -> AnyView {
    lazy_view(Box::pin(panel()), "Security settings")
}

#[leptos::wasm_split::wasm_split(security, wasm_split_path = ::leptos::wasm_split, fallible)]
fn panel() -> Result<AnyView, ChunkError> {
    Ok(view! { <SecurityPanel /> }.into_any())
}

fn cross_signing_words(state: &SecurityState) -> &'static str {
    match state.cross_signing {
        CrossSigningStatus::Ready => "Cross-signing is ready and this device is verified",
        CrossSigningStatus::NeedsVerification => "This device is not verified",
        CrossSigningStatus::NeedsPassword => {
            "Cross-signing needs your password to finish setting up"
        }
        CrossSigningStatus::Bootstrapping => "Setting up cross-signing…",
    }
}

fn recovery_words(state: &SecurityState) -> &'static str {
    match state.recovery {
        RecoveryStatus::On => "Recovery is on",
        RecoveryStatus::Off => "Recovery is off",
    }
}

fn backup_words(state: &SecurityState) -> &'static str {
    match state.backup {
        BackupStatus::Off => "Key backup is off",
        BackupStatus::Uploading => "Backing up keys…",
        BackupStatus::UpToDate => "Key backup is up to date",
        BackupStatus::Failed => "Key backup failed: set up recovery again",
    }
}

#[component]
pub fn SecurityPanel() -> impl IntoView {
    let handle = ClientHandle::expect();
    let state = Memo::new(move |_| handle.security());
    let words = move |f: fn(&SecurityState) -> &'static str| {
        move || state.with(|s| s.as_ref().map(f).unwrap_or_default().to_owned())
    };
    // Shown once after setting up recovery, until "Done".
    let recovery_key = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let entering_key = RwSignal::new(false);
    let typed_key = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let needs_password = move || {
        state.with(|s| {
            s.as_ref()
                .is_some_and(|s| s.cross_signing == CrossSigningStatus::NeedsPassword)
        })
    };
    let give_password = move |ev: SubmitEvent| {
        ev.prevent_default();
        match handle.give_password(password.get_untracked()) {
            Ok(()) => {
                error.set(None);
                password.set(String::new());
            }
            Err(e) => error.set(Some(e.to_string())),
        }
    };

    let can_set_up = move || {
        state.with(|s| {
            s.as_ref().is_some_and(|s| {
                s.cross_signing == CrossSigningStatus::Ready && s.recovery == RecoveryStatus::Off
            })
        }) && recovery_key.with(Option::is_none)
    };
    let unverified = move || {
        state.with(|s| {
            s.as_ref()
                .is_some_and(|s| s.cross_signing == CrossSigningStatus::NeedsVerification)
        })
    };
    let set_up = move |_| match handle.set_up_recovery() {
        Ok(key) => {
            error.set(None);
            recovery_key.set(Some(key));
        }
        Err(e) => error.set(Some(e.to_string())),
    };
    let recover = move |ev: SubmitEvent| {
        ev.prevent_default();
        match handle.recover(typed_key.get_untracked().trim()) {
            Ok(()) => {
                error.set(None);
                entering_key.set(false);
                typed_key.set(String::new());
            }
            Err(e) => error.set(Some(e.to_string())),
        }
    };
    let verify_elsewhere = move |_| {
        let Some(own) = handle.user_id_untracked() else {
            return;
        };
        if let Err(e) = handle.start_verification(&own) {
            error.set(Some(e.to_string()));
        }
    };

    view! {
        <section class="security" aria-label="Security">
            <h3 class="section-title">"Security"</h3>
            <ul class="security-status">
                <li>{dyn_text(words(cross_signing_words))}</li>
                <li>{dyn_text(words(recovery_words))}</li>
                <li>{dyn_text(words(backup_words))}</li>
            </ul>
            {dyn_view(move || match state.with(|s| s.as_ref().and_then(|s| s.last_error.clone())) {
                Some(message) => view! { <p class="error">{message}</p> }.into_any(),
                None => ().into_any(),
            })}
            {dyn_show(needs_password, move || view! {
                <form on:submit=give_password>
                    <label for="security-password">"Password"</label>
                    <div class="row">
                        <input id="security-password" type="password" autocomplete="current-password" bind:value=password />
                        <button type="submit">"Continue"</button>
                    </div>
                </form>
            }.into_any())}
            {dyn_show(can_set_up, move || view! {
                <button on:click=set_up>"Set up recovery"</button>
            }.into_any())}
            {dyn_show(move || recovery_key.with(Option::is_some), move || {
                let key = recovery_key.get_untracked().unwrap_or_default();
                let copied = key.clone();
                view! {
                    <div class="recovery-key">
                        <p>"Your recovery key. Keep it somewhere safe: with it you can read your encrypted messages on a new device. It is shown only this once."</p>
                        <code aria-label="Recovery key">{key}</code>
                        <div class="row">
                            <button on:click=move |_| clipboard::copy_text(&copied)>"Copy"</button>
                            <button on:click=move |_| recovery_key.set(None)>"Done"</button>
                        </div>
                    </div>
                }.into_any()
            })}
            {dyn_show(unverified, move || view! {
                <div class="verify-device">
                    <h4>"Verify this device"</h4>
                    <p>"Verify it to read your encrypted messages from before it signed in."</p>
                    <button on:click=move |_| entering_key.update(|on| *on = !*on)>"Use recovery key"</button>
                    {dyn_show(move || entering_key.get(), move || view! {
                        <form on:submit=recover>
                            <label for="security-recovery-key">"Recovery key"</label>
                            <div class="row">
                                <input id="security-recovery-key" type="text" autocomplete="off" spellcheck="false" bind:value=typed_key />
                                <button type="submit">"Continue"</button>
                            </div>
                        </form>
                    }.into_any())}
                    <button on:click=verify_elsewhere>"Verify with another device"</button>
                </div>
            }.into_any())}
            {error_line(error)}
        </section>
    }
}
