//! Message actions: send, retry, react, delete, read receipts, typing, older history.
//!
//! Each updates the engine at once (so the UI shows the change), then sends the request in
//! the background and hands the response back to the engine.

use leptos::{prelude::*, task::spawn_local};
use ruma::{OwnedEventId, OwnedRoomId, OwnedTransactionId};
use weft_client::{Draft, HttpRequest, engine::Outgoing};

use super::{ClientHandle, as_borrowed};
use crate::{
    error::{ActionError, OrLog},
    platform::clock,
};

/// Renew "typing" this often while the person keeps typing (the server expires it after
/// [`weft_client::engine::TYPING_TIMEOUT`]).
const TYPING_RENEW_MS: f64 = 20_000.0;

impl ClientHandle {
    /// Sends what the composer holds: a message, a reply or an edit.
    pub fn send_message(&self, room_id: OwnedRoomId, draft: Draft) {
        self.set_typing(room_id.clone(), false);
        let txn_id = clock::new_txn_id();
        let now = clock::now();
        let request =
            self.update_engine(|engine| engine.send_message(&room_id, draft, txn_id.clone(), now));
        match request {
            Ok(Ok(Outgoing::Now(request))) => self.spawn_send(room_id, txn_id, request),
            // Encrypted room: the engine's outgoing requests carry it, once the key is shared.
            Ok(Ok(Outgoing::Queued)) => self.pump_crypto(),
            _ => {}
        }
    }

    /// Sends a failed message again, with its original transaction ID.
    pub fn retry(&self, room_id: OwnedRoomId, txn_id: OwnedTransactionId) {
        match self.update_engine(|engine| engine.retry_send(&room_id, &txn_id)) {
            Ok(Ok(Outgoing::Now(request))) => self.spawn_send(room_id, txn_id, request),
            Ok(Ok(Outgoing::Queued)) => self.pump_crypto(),
            _ => {}
        }
    }

    /// Adds our reaction `key` to `target`, or takes it back if we already reacted so.
    pub fn toggle_reaction(&self, room_id: OwnedRoomId, target: OwnedEventId, key: String) {
        let existing = self.with_engine(|engine| engine.own_reaction(&room_id, &target, &key));
        match existing.ok().flatten() {
            // Ours is still being sent: wait for it rather than race it.
            Some(None) => {}
            Some(Some(own_event)) => self.delete(room_id, own_event),
            _ => {
                let txn_id = clock::new_txn_id();
                let request = self.update_engine(|engine| {
                    engine.react(&room_id, target.clone(), key.clone(), txn_id.clone())
                });
                if let Ok(Ok(Outgoing::Queued)) = request {
                    self.pump_crypto();
                } else if let Ok(Ok(Outgoing::Now(request))) = request {
                    let handle = *self;
                    spawn_local(async move {
                        let response = handle.send(request).await.ok();
                        handle
                            .update_engine(|engine| {
                                engine.handle_reaction_response(
                                    &room_id,
                                    &txn_id,
                                    response.as_ref().map(as_borrowed),
                                )
                            })
                            .and_then(|result| result.map_err(ActionError::from))
                            .or_log("reaction");
                    });
                }
            }
        }
    }

    /// Deletes a message or one of our reactions.
    pub fn delete(&self, room_id: OwnedRoomId, event_id: OwnedEventId) {
        let txn_id = clock::new_txn_id();
        let request =
            self.update_engine(|engine| engine.redact(&room_id, event_id.clone(), txn_id));
        if let Ok(Ok(request)) = request {
            let handle = *self;
            spawn_local(async move {
                let response = handle.send(request).await.ok();
                handle
                    .update_engine(|engine| {
                        engine.handle_redact_response(
                            &room_id,
                            &event_id,
                            response.as_ref().map(as_borrowed),
                        )
                    })
                    .and_then(|result| result.map_err(ActionError::from))
                    .or_log("deletion");
            });
        }
    }

    /// Tells the server we have read the room up to its newest message.
    pub fn mark_read(&self, room_id: &OwnedRoomId) {
        if let Ok(Some(request)) = self.update_engine(|engine| engine.read_receipt_request(room_id))
        {
            self.fire_and_forget(request);
        }
    }

    /// Says we are typing (renewed at most every 20 s) or stopped (sent once).
    pub fn set_typing(&self, room_id: OwnedRoomId, typing: bool) {
        let now = clock::now_ms();
        let last = self.typing_sent.get_value();
        let send = match (&last, typing) {
            (Some((room, at)), true) => *room != room_id || now - at > TYPING_RENEW_MS,
            (None, true) => true,
            (Some((room, _)), false) => *room == room_id,
            (None, false) => false,
        };
        if !send {
            return;
        }
        self.typing_sent
            .set_value(typing.then(|| (room_id.clone(), now)));
        if let Ok(Ok(request)) = self.with_engine(|engine| engine.typing_request(&room_id, typing))
        {
            self.fire_and_forget(request);
        }
    }

    /// Fetches the page of history before what the room shows.
    pub fn load_older(&self, room_id: OwnedRoomId) {
        if self.paginating.get_untracked().is_some() {
            return;
        }
        let Ok(Some(page)) = self.with_engine(|engine| engine.back_page_request(&room_id)) else {
            return;
        };
        self.paginating.set(Some(room_id.clone()));
        let handle = *self;
        spawn_local(async move {
            if let Ok(response) = handle.send(page.request).await {
                let result = handle.update_engine(|engine| {
                    engine.handle_back_page(&room_id, &page.from, as_borrowed(&response))
                });
                handle.check(result).or_log("history page");
            }
            handle.paginating.set(None);
        });
    }

    pub(super) fn spawn_send(
        &self,
        room_id: OwnedRoomId,
        txn_id: OwnedTransactionId,
        request: HttpRequest,
    ) {
        let handle = *self;
        spawn_local(async move {
            match handle.send(request).await {
                Ok(response) => {
                    let result = handle.update_engine(|engine| {
                        engine.handle_send_response(&room_id, &txn_id, as_borrowed(&response))
                    });
                    handle.check(result).or_log("send");
                }
                Err(_) => {
                    // The message shows as not sent, with "Retry". The only error is
                    // "signed out", when there is no message left to mark.
                    let _ =
                        handle.update_engine(|engine| engine.mark_send_failed(&room_id, &txn_id));
                }
            }
        });
    }

    /// Sends a request whose answer changes nothing we show (typing, receipts).
    fn fire_and_forget(&self, request: HttpRequest) {
        let handle = *self;
        spawn_local(async move {
            handle.send(request).await.or_log("typing or receipt");
        });
    }
}
