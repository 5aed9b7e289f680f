//! The E2EE side of the handle: the device's crypto store and the requests the engine's
//! crypto asks for (key uploads and queries, one-time key claims, to-device key shares,
//! encrypted events).
//!
//! Two rules from the protocol shape this module:
//! - The crypto state is committed before the next `/sync`, which acknowledges the to-device
//!   messages whose keys it holds (lose it and those keys are gone for good), and before any
//!   request built from it goes out (a to-device message carries an Olm ratchet step, an
//!   event a Megolm index; a reload that forgot them would wedge the session or reuse an
//!   index).
//! - Every request the engine hands out is sent once and its response handed back; without
//!   a response it goes back to the engine, which hands it out again after a pause.

use std::rc::Rc;

use leptos::{prelude::*, task::spawn_local};
use weft_client::{
    Backoff, Engine,
    engine::{CryptoDriver, FullCrypto, OutgoingRequest},
};

use super::{ClientHandle, as_borrowed};
use crate::{
    calls::ChunkError,
    error::{ActionError, OrLog},
    platform::{crypto_store::CryptoStore, timer::sleep, wake},
};

/// The crypto store and the bookkeeping of writing to it in order.
#[derive(Default)]
pub(crate) struct CryptoDesk {
    /// The open store; `None` before the session starts.
    store: Option<Rc<CryptoStore>>,
    /// The newest state not yet written.
    pending: Option<String>,
    /// A write is running; later callers wait for it.
    saving: bool,
    /// Callers waiting for the running writes to finish.
    waiters: Vec<wake::Waker>,
    /// Pauses after requests that got no response.
    backoff: Backoff,
}

impl ClientHandle {
    /// Opens this device's crypto store (waiting while another tab owns it) and builds the
    /// engine from what it holds. An unreadable store ends the session rather than start
    /// over with new identity keys for the same device, which other people's clients would
    /// rightly refuse.
    pub(crate) async fn open_engine(
        &self,
        session: weft_client::Session,
    ) -> Result<(Engine, CryptoStore), String> {
        let (user, device) = (session.user_id.to_string(), session.device_id.to_string());
        // The crypto chunk loads (from the HTTP cache after the first time: compiling is what
        // remains) while the store opens, rather than after it.
        spawn_local(async {
            // Only a head start: the session's start awaits the chunk again and reports
            // a failure to load it.
            let _ = crypto_driver().await;
        });
        if CryptoStore::in_use_elsewhere(&user, &device).await {
            self.notice.set(Some(
                "Weft is open in another tab. Close it to use Weft here.".to_owned(),
            ));
        }
        let store = CryptoStore::open(&user, &device)
            .await
            .map_err(|e| format!("Encryption can't start: {e}. Sign in again."))?;
        let stored = store.load().await.map_err(|e| {
            format!("This device's encryption keys can't be read ({e}). Sign in again.")
        })?;
        let rooms = Self::load_state(&store).await;
        let driver = crypto_driver().await.map_err(|ChunkError| {
            "Encryption could not be loaded. Check your connection and reload the page.".to_owned()
        })?;
        let mut engine =
            Engine::with_crypto_driver(session, driver, stored.as_deref()).map_err(|e| {
                format!("This device's encryption keys can't be read ({e}). Sign in again.")
            })?;
        // The rooms as stored, decrypted with the keys just restored.
        Self::restore_state(&mut engine, rooms);
        Ok((engine, store))
    }

    pub(crate) fn set_crypto_store(&self, store: Option<CryptoStore>) {
        self.crypto.update_value(|desk| {
            *desk = CryptoDesk {
                store: store.map(Rc::new),
                ..CryptoDesk::default()
            };
        });
    }

    /// The open store, for the stored engine state that shares its database.
    pub(super) fn crypto_store(&self) -> Option<Rc<CryptoStore>> {
        self.crypto
            .try_with_value(|desk| desk.store.clone())
            .flatten()
    }

    /// Deletes the device's crypto store (sign-out, or a session the server ended).
    pub(crate) fn delete_crypto_store(&self, user_id: String, device_id: String) {
        let store = self
            .crypto
            .try_update_value(|desk| desk.store.take())
            .flatten();
        spawn_local(async move {
            // Dropping our handle closes the database; a write still running holds another
            // reference until it ends, and the delete waits for it.
            let store = store.and_then(|store| Rc::try_unwrap(store).ok());
            CryptoStore::delete(store, &user_id, &device_id)
                .await
                .or_log("delete key store");
        });
    }

    /// Commits the engine's crypto state if it changed; returns once that state and every
    /// earlier one are committed.
    pub(crate) async fn persist_crypto(&self) -> Result<(), ActionError> {
        let state = self.update_engine_quietly(Engine::crypto_changes)?;
        let Some(running) = self.crypto.try_update_value(|desk| {
            if let Some(state) = state {
                desk.pending = Some(state);
            }
            let running = desk.saving;
            desk.saving = desk.saving || desk.pending.is_some();
            running
        }) else {
            return Err(ActionError::SignedOut);
        };
        if running {
            // The running writer takes our state too; wait until it has written it.
            let (waker, wait) = wake::pair();
            self.crypto.update_value(|desk| desk.waiters.push(waker));
            wait.wait().await;
            return self.crypto_result();
        }
        let mut outcome = Ok(());
        loop {
            let next = self
                .crypto
                .try_update_value(|desk| Some((desk.pending.take()?, desk.store.clone())))
                .flatten();
            let Some((state, store)) = next else { break };
            let Some(store) = store else { break };
            if let Err(error) = store.save(&state).await {
                // Keep it for the next attempt unless something newer came meanwhile.
                self.crypto.update_value(|desk| {
                    desk.pending.get_or_insert(state);
                });
                outcome = Err(ActionError::Storage(error.to_string()));
                break;
            }
        }
        let waiters = self
            .crypto
            .try_update_value(|desk| {
                desk.saving = false;
                std::mem::take(&mut desk.waiters)
            })
            .unwrap_or_default();
        for waiter in waiters {
            waiter.wake();
        }
        outcome
    }

    /// After a writer finished: whether what the waiter handed over is written.
    fn crypto_result(&self) -> Result<(), ActionError> {
        match self.crypto.try_with_value(|desk| desk.pending.is_some()) {
            None => Err(ActionError::SignedOut),
            Some(true) => Err(ActionError::Storage(
                "the crypto store could not be written".into(),
            )),
            Some(false) => Ok(()),
        }
    }

    /// Sends what the engine's crypto asks for now. Cheap when there is nothing: call it
    /// after every sync and after anything that may queue an encrypted event.
    pub(crate) fn pump_crypto(&self) {
        let handle = *self;
        spawn_local(async move {
            let Ok(requests) = handle.update_engine(Engine::outgoing_requests) else {
                return;
            };
            if requests.is_empty() {
                return;
            }
            // Building them ratcheted sessions: commit that before anything leaves.
            if handle.persist_crypto().await.is_err() {
                for request in requests {
                    handle
                        .update_engine(|engine| engine.mark_request_sent(&request.id, None))
                        .and_then(|result| result.map_err(ActionError::from))
                        .or_log("requeue crypto request");
                }
                handle.pump_crypto_later();
                return;
            }
            for request in requests {
                spawn_local(handle.send_crypto_request(request));
            }
        });
    }

    async fn send_crypto_request(self, request: OutgoingRequest) {
        let OutgoingRequest { id, request, .. } = request;
        let response = self.send(request).await;
        let answered = response.is_ok();
        self.update_engine(|engine| {
            engine.mark_request_sent(&id, response.as_ref().ok().map(as_borrowed))
        })
        .and_then(|result| result.map_err(ActionError::from))
        .or_log("crypto request");
        if answered {
            self.crypto.update_value(|desk| desk.backoff.reset());
            self.pump_crypto();
        } else {
            self.pump_crypto_later();
        }
    }

    /// Pumps again after the back-off delay (the network is down or the store failed).
    fn pump_crypto_later(&self) {
        let handle = *self;
        let delay = self
            .crypto
            .try_update_value(|desk| desk.backoff.next_delay());
        if let Some(delay) = delay {
            spawn_local(async move {
                sleep(delay).await;
                handle.pump_crypto();
            });
        }
    }
}

/// The engine's crypto code (vodozemac, the crypto machine, trust, verification): a wasm
/// chunk of its own, fetched when a session starts, so the sign-in page loads without it.
#[leptos::wasm_split::wasm_split(crypto, wasm_split_path = ::leptos::wasm_split, fallible)]
fn crypto_driver() -> Result<&'static dyn CryptoDriver, ChunkError> {
    Ok(&FullCrypto)
}
