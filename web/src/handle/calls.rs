//! What the rest of the app knows of calls, and what the lazily loaded call manager
//! (`crate::calls`) needs from the handle.
//!
//! The main module only collects call events (in the engine), offers the call buttons and
//! says when the call manager is needed: a call button was pressed or an invite that may
//! ring arrived. Everything else about calls lives in the calls chunk.

use leptos::{prelude::*, task::spawn_local};
use ruma::{OwnedRoomId, OwnedUserId, RoomId};
use weft_client::call::{
    ActiveCall, CallButton, CallSignal,
    turn::{self, TurnServers},
};

use super::{ClientHandle, as_borrowed, send};
use crate::{
    error::ActionError,
    platform::{net::Abort, timer::sleep},
};

/// How long a call waits for the homeserver's TURN servers.
const TURN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);

/// A call the user asked to place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallIntent {
    pub room_id: OwnedRoomId,
    pub video: bool,
}

/// Call state shared between the main module and the call manager.
#[derive(Clone, Copy)]
pub(crate) struct CallDesk {
    /// Bumped after a sync that brought call events.
    pub wake: RwSignal<u64>,
    /// A call button was pressed; the manager takes it.
    pub intent: RwSignal<Option<CallIntent>>,
    /// The room of the call in progress (or ringing), if any: call buttons are off then,
    /// except that those for the person ringing us answer them.
    pub active: RwSignal<Option<OwnedRoomId>>,
    /// Who calls us while that call rings unanswered. (Two signals of types used elsewhere
    /// rather than one of [`ActiveCall`]: each new signal type costs first-load bytes.)
    pub ringing_from: RwSignal<Option<OwnedUserId>>,
    /// Set by the call manager: ends the call in progress and gives the hangup request
    /// (signing out sends it while the session still works).
    pub hang_up: StoredValue<Option<HangUpHook>, LocalStorage>,
}

/// Ends the call in progress, returning the `m.call.hangup` request for it. (Built in the
/// calls chunk, so none of it weighs on the first load.)
pub(crate) type HangUpHook = std::rc::Rc<dyn Fn() -> Option<weft_client::HttpRequest>>;

impl CallDesk {
    pub fn new() -> Self {
        Self {
            wake: RwSignal::new(0),
            intent: RwSignal::new(None),
            active: RwSignal::new(None),
            ringing_from: RwSignal::new(None),
            hang_up: StoredValue::new_local(None),
        }
    }
}

impl ClientHandle {
    /// Whether `room_id` shows call buttons: exactly two joined members, not public.
    pub fn has_call_buttons(&self, room_id: &RoomId) -> bool {
        self.engine.with(|engine| {
            engine
                .as_ref()
                .and_then(|e| e.room(room_id)?.one_to_one_peer(e.user_id()))
                .is_some()
        })
    }

    /// Whether the call buttons of `room_id` are off: another call is in progress. While
    /// the other member's call rings they answer it. (In encrypted rooms the call events
    /// are encrypted like any other.)
    pub fn call_buttons_off(&self, room_id: &RoomId) -> bool {
        let peer = self.engine.with(|engine| {
            let engine = engine.as_ref()?;
            let room = engine.room(room_id)?;
            room.one_to_one_peer(engine.user_id())
        });
        let Some(peer) = peer else {
            return true;
        };
        let active = self.calls.active.get().map(|room_id| ActiveCall {
            room_id,
            ringing_from: self.calls.ringing_from.get(),
        });
        weft_client::call::call_button(active.as_ref(), room_id, &peer) == CallButton::Busy
    }

    /// Asks the call manager (loading it first) to call the other member of `room_id`.
    pub fn start_call(&self, room_id: OwnedRoomId, video: bool) {
        self.calls.intent.set(Some(CallIntent { room_id, video }));
    }

    /// Whether the call manager must run: a call was asked for, or an invite may ring.
    pub fn calls_needed(&self) -> bool {
        self.calls.wake.track();
        self.calls.intent.with(Option::is_some)
            || self
                .engine
                .with_untracked(|engine| engine.as_ref().is_some_and(|e| e.call_waiting()))
    }

    /// After a sync: wakes the call manager if call events arrived.
    pub(crate) fn wake_calls(&self) {
        if self
            .with_engine(|engine| engine.call_waiting() || engine.has_call_signals())
            .unwrap_or(false)
        {
            self.calls.wake.update(|n| *n += 1);
        }
    }

    // For the call manager.

    /// Tracks new call events (see [`Self::take_call_signals`]).
    pub(crate) fn track_call_signals(&self) {
        self.calls.wake.track();
    }

    /// The call events received since the last call, oldest first.
    pub(crate) fn take_call_signals(&self) -> Vec<CallSignal> {
        self.engine
            .try_update_untracked(|engine| engine.as_mut().map(|e| e.take_call_signals()))
            .flatten()
            .unwrap_or_default()
    }

    pub(crate) fn take_call_intent(&self) -> Option<CallIntent> {
        let intent = self.calls.intent.get_untracked()?;
        self.calls.intent.set(None);
        Some(intent)
    }

    pub(crate) fn track_call_intent(&self) {
        self.calls.intent.track();
    }

    pub(crate) fn set_hang_up_hook(&self, hook: Option<HangUpHook>) {
        self.calls.hang_up.set_value(hook);
    }

    /// Ends the call in progress (if any) and returns the request that tells the other
    /// side, to send before the session ends.
    pub(crate) fn hang_up_request(&self) -> Option<weft_client::HttpRequest> {
        self.calls
            .hang_up
            .with_value(|hook| hook.as_ref().and_then(|hook| hook()))
    }

    /// A call event request to send at once, for the hang-up hook (signing out): in an
    /// encrypted room it uses the room key already shared.
    pub(crate) fn call_event_request(
        &self,
        room_id: &RoomId,
        event_type: &str,
        content: &serde_json::Value,
    ) -> Option<weft_client::HttpRequest> {
        let txn_id = crate::platform::clock::new_txn_id();
        self.update_engine(|engine| {
            engine.last_call_event_request(room_id, event_type, content, &txn_id)
        })
        .ok()?
        .ok()
    }

    pub(crate) fn set_active_call(&self, active: Option<ActiveCall>) {
        let (room_id, ringing_from) =
            active.map_or((None, None), |a| (Some(a.room_id), a.ringing_from));
        if self.calls.active.get_untracked() != room_id {
            self.calls.active.set(room_id);
        }
        if self.calls.ringing_from.get_untracked() != ringing_from {
            self.calls.ringing_from.set(ringing_from);
        }
    }

    /// Our user ID and device ID (the party ID of our calls).
    pub(crate) fn call_identity(&self) -> Result<(OwnedUserId, String), ActionError> {
        self.with_engine(|engine| {
            (
                engine.user_id().to_owned(),
                engine.session().device_id.to_string(),
            )
        })
    }

    /// Whether invites in `room_id` may ring (not a public room, still joined).
    pub(crate) fn may_ring_in(&self, room_id: &RoomId) -> bool {
        self.with_engine(|engine| engine.room(room_id).is_some_and(|room| !room.is_public()))
            .unwrap_or(false)
    }

    /// The peer of a DM, read once.
    pub(crate) fn call_peer_untracked(&self, room_id: &RoomId) -> Option<OwnedUserId> {
        self.with_engine(|engine| engine.room(room_id)?.call_peer(engine.user_id()))
            .ok()
            .flatten()
    }

    /// Sends one call event (`m.call.*`) to `room_id`; retries reuse `txn_id`.
    pub(crate) async fn send_call_event(
        &self,
        room_id: &RoomId,
        event_type: &str,
        content: &serde_json::Value,
        txn_id: &ruma::OwnedTransactionId,
    ) -> Result<(), ActionError> {
        let request = self.update_engine(|engine| {
            engine.call_event_request(room_id, event_type, content, txn_id)
        })?;
        // Encrypted room: queued, the engine's outgoing requests send it.
        let weft_client::engine::Outgoing::Now(request) = self.check(Ok(request))? else {
            self.pump_crypto();
            return Ok(());
        };
        let response = self.send(request).await?;
        self.check(Ok(weft_client::requests::parse_send(as_borrowed(
            &response,
        ))))?;
        Ok(())
    }

    /// The homeserver's TURN servers (empty when it has none or cannot say within a few
    /// seconds: a call must not wait on them for long).
    pub(crate) async fn turn_servers(&self) -> TurnServers {
        let Ok((request, homeserver)) = self.with_engine(|engine| {
            (
                turn::turn_server_request(engine.session()),
                engine.session().homeserver.clone(),
            )
        }) else {
            return TurnServers::default();
        };
        let Ok(request) = request else {
            return TurnServers::default();
        };
        let abort = Abort::new();
        let token = abort.token();
        spawn_local(async move {
            sleep(TURN_TIMEOUT).await;
            drop(abort);
        });
        match send(&homeserver, request, Some(&token)).await {
            Ok(response) => turn::parse_turn_server(as_borrowed(&response)).unwrap_or_default(),
            Err(_) => TurnServers::default(),
        }
    }
}
