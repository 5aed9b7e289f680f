//! The engine's stored state in the browser: restored when a session starts, so the room
//! list and the open room show before the network answers, and saved after syncs.
//!
//! It lives in the device's IndexedDB database beside the crypto store (sealed with the
//! same key; deleted with it at sign-out). Saving is debounced: at most one write every
//! [`SAVE_DELAY`], each one snapshot in one transaction; a save still waiting goes at once
//! when the page is hidden (which includes leaving or reloading it, as far as the browser
//! lets the write finish). A snapshot that cannot be read
//! (another format version, corrupt) is dropped with a console warning; the session then
//! starts with a full sync, as without one.

use std::time::Duration;

use leptos::{prelude::*, task::spawn_local};
use weft_client::Engine;

use super::ClientHandle;
use crate::platform::{crypto_store::CryptoStore, document::OnHidden, panic, timer::sleep};

/// How long after a sync the state is saved; syncs meanwhile share the write.
const SAVE_DELAY: Duration = Duration::from_millis(1500);

/// Snapshots larger than this are not saved (the engine already bounds rooms and events;
/// this guards the browser's quota against surprises).
const MAX_BYTES: usize = 16 << 20;

/// Whether a save is scheduled or running, and the listener that hurries it when the page
/// is hidden.
#[derive(Default)]
pub(crate) struct StateDesk {
    scheduled: bool,
    /// One save at a time: two overlapping writes could land in the wrong order and leave
    /// the older snapshot stored. A save asked for meanwhile runs when this one ends.
    saving: bool,
    on_hidden: Option<OnHidden>,
}

impl ClientHandle {
    /// The stored state, unsealed; `None` when there is none or it cannot be read.
    pub(super) async fn load_state(store: &CryptoStore) -> Option<String> {
        store.load_state().await.unwrap_or_else(|error| {
            warn_dropped(&error.to_string());
            None
        })
    }

    /// Restores the stored state into a new engine (its crypto state already restored).
    /// Never fails: anything unreadable is dropped, and the next save replaces it.
    pub(super) fn restore_state(engine: &mut Engine, state: Option<String>) {
        if let Some(Err(error)) = state.map(|state| engine.restore_state(&state)) {
            warn_dropped(&error.to_string());
        }
    }

    /// Saves the engine state soon (after each sync); later calls meanwhile share the write.
    pub(crate) fn save_state_soon(&self) {
        let handle = *self;
        let scheduled = self.stored.try_update_value(|desk| {
            if desk.on_hidden.is_none() {
                desk.on_hidden = OnHidden::new(move || handle.save_state_now());
            }
            std::mem::replace(&mut desk.scheduled, true)
        });
        if scheduled != Some(false) {
            return;
        }
        spawn_local(async move {
            sleep(SAVE_DELAY).await;
            handle.save_state_now();
        });
    }

    /// Saves the engine state now if a save is waiting (after the running one, if any).
    fn save_state_now(&self) {
        let start = self.stored.try_update_value(|desk| {
            if !desk.scheduled || desk.saving {
                return false;
            }
            desk.scheduled = false;
            desk.saving = true;
            true
        });
        if start != Some(true) {
            return;
        }
        let handle = *self;
        spawn_local(async move {
            handle.save_state().await;
            let again = handle.stored.try_update_value(|desk| {
                desk.saving = false;
                desk.scheduled
            });
            if again == Some(true) {
                handle.save_state_now();
            }
        });
    }

    /// Writes a snapshot of the engine state as it is now.
    async fn save_state(&self) {
        let (Ok(Some(state)), Some(store)) =
            (self.with_engine(Engine::stored_state), self.crypto_store())
        else {
            return;
        };
        // The snapshot's sync token acknowledges to-device messages on the next start: the
        // room keys they brought must be committed first, or they are lost for good. This
        // returns once the crypto state as of the snapshot (and all before) is.
        if self.persist_crypto().await.is_err() {
            return;
        }
        if state.len() > MAX_BYTES {
            panic::warn(&format!(
                "Weft: the rooms are not stored ({} bytes)",
                state.len()
            ));
            return;
        }
        if let Err(error) = store.save_state(&state).await {
            panic::warn(&format!("Weft: the rooms could not be stored: {error}"));
        }
    }
}

fn warn_dropped(error: &str) {
    panic::warn(&format!("Weft: the stored rooms were dropped: {error}"));
}
