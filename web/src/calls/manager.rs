//! The call manager: the thin layer between the engine's call state machine
//! ([`weft_client::call::Call`]) and the browser. It feeds the machine sync's call events,
//! the user's choices, time and WebRTC's reports, one at a time through its inbox
//! (`inbox.rs`), and carries out what the machine answers (`outputs.rs`): events go to the
//! outbox (`outbox.rs`), descriptions and candidates to the peer connection, what to show
//! to the screen's state (`screen.rs`). Events from sync are in `incoming.rs`, placing and
//! answering calls in `placing.rs`, mute, camera, hold and devices in `controls.rs`.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
    time::Duration,
};

use leptos::{prelude::*, task::spawn_local};
use ruma::OwnedRoomId;
use weft_client::call::{
    self, Call, CallButton, Output, SdpStreamMetadata, State, turn::TurnServers, wording,
};

pub use super::screen::{CallView, Phase, Screen};
use super::{
    inbox::Inbox,
    outbox::{Envelope, Outbox},
};
use crate::{
    handle::ClientHandle,
    platform::{
        clock,
        panic::warn,
        sound::Looping,
        storage,
        timer::sleep,
        webrtc::{LocalMedia, Peer, PeerEvent, Stream},
    },
};

/// How long candidates may gather before an offer or answer goes out, so the first ones
/// travel inside it.
pub(super) const SETTLE_MS: u32 = 200;

/// How often the machine's timers are checked.
const TICK: Duration = Duration::from_millis(100);

/// Something for the manager to handle.
pub(super) enum Input {
    /// The engine has call events.
    Signals,
    /// A call button was pressed.
    Intent,
    Accept {
        video: bool,
    },
    Decline,
    HangUp,
    ToggleMute,
    ToggleCamera,
    ToggleHold,
    SwitchDevice {
        kind: &'static str,
        id: String,
    },
    Tick,
    /// A report of the peer connection of call number `.0`.
    Peer(u64, PeerEvent),
    /// Sending this call's events failed for good.
    SendFailed(u64),
}

/// The call in progress.
pub(super) struct Active {
    /// Numbers calls, so reports from an old peer connection are ignored.
    pub number: u64,
    pub room_id: OwnedRoomId,
    pub call: Call,
    pub peer: Peer,
    pub media: Option<LocalMedia>,
    pub ring: Option<Looping>,
    /// When the call connected (for "Call ended · m:ss").
    pub connected_at: Option<u64>,
    /// ICE is connected (false while it recovers from a lost connection).
    pub ice_ok: bool,
    /// The other side's streams, and what its `sdp_stream_metadata` says they are.
    pub remote_streams: Vec<Stream>,
    pub remote_meta: Option<SdpStreamMetadata>,
    /// On hold by us: what microphone and camera were (on) before, restored on resume.
    pub hold: Option<(bool, bool)>,
}

/// The manager's own state, only touched while handling an input.
#[derive(Default)]
pub(super) struct Inner {
    pub active: Option<Active>,
    turn: Option<(TurnServers, u64)>,
    calls: u64,
}

/// Cheap to clone; all clones are the same manager.
#[derive(Clone)]
pub struct Manager {
    pub(super) handle: ClientHandle,
    inbox: Rc<Inbox<Input>>,
    outbox: Rc<Outbox>,
    /// Taken out while an input is handled, so no borrow is held across an await.
    inner: Rc<RefCell<Option<Inner>>>,
    ticking: Rc<Cell<bool>>,
    /// A tick waits in the inbox (so a slow input never piles ticks up).
    tick_queued: Rc<Cell<bool>>,
    /// "Hang up" was pressed (a call being placed stops before its invite goes out).
    pub(super) cancelled: Rc<Cell<bool>>,
    /// What the call screen shows.
    pub view: CallView,
}

impl Manager {
    /// Starts handling call events and call buttons, for as long as the current reactive
    /// owner (the signed-in layout) lives: signing out ends a call at once (camera off).
    pub fn start(handle: ClientHandle) -> StoredValue<Self, LocalStorage> {
        let manager = Self {
            handle,
            inbox: Inbox::new(),
            outbox: Outbox::new(handle),
            inner: Rc::new(RefCell::new(Some(Inner::default()))),
            ticking: Rc::default(),
            tick_queued: Rc::default(),
            cancelled: Rc::default(),
            view: CallView::new(),
        };
        let stored = StoredValue::new_local(manager);
        Effect::new(move |_| {
            handle.track_call_signals();
            stored.with_value(|m| m.post(Input::Signals));
        });
        Effect::new(move |_| {
            handle.track_call_intent();
            stored.with_value(|m| m.post(Input::Intent));
        });
        // Signing out hangs up first, while the session still works.
        let inner = stored.with_value(|m| m.inner.clone());
        handle.set_hang_up_hook(Some(Rc::new(move || {
            let mut inner = inner.borrow_mut();
            let active = inner.as_mut()?.active.as_mut()?;
            // A call only ringing here goes on ringing on our other devices.
            if *active.call.state() == State::Ringing {
                return None;
            }
            let room_id = active.room_id.clone();
            active
                .call
                .hang_up("user_hangup")
                .into_iter()
                .find_map(|output| match output {
                    Output::Send {
                        event_type: "m.call.hangup",
                        content,
                    } => handle.call_event_request(&room_id, "m.call.hangup", &content),
                    _ => None,
                })
        })));
        // Signed out: drop the call (peer connection, camera, ringtone) and queued inputs
        // and events; the other side sees the connection go. (Cleanups run before the
        // owner drops its values, so `stored` is still there.)
        on_cleanup(move || {
            handle.set_hang_up_hook(None);
            stored.try_with_value(|m| {
                m.inbox.close();
                m.outbox.close();
                if let Some(inner) = m.inner.borrow_mut().as_mut() {
                    inner.active = None;
                }
            });
            handle.set_active_call(None);
        });
        stored
    }

    pub fn accept(&self, video: bool) {
        self.post(Input::Accept { video });
    }

    pub fn decline(&self) {
        self.post(Input::Decline);
    }

    pub fn hang_up(&self) {
        // Seen at once by a call still being placed (waiting for the camera), which the
        // inbox would otherwise only reach after the invite went out.
        self.cancelled.set(true);
        self.post(Input::HangUp);
    }

    pub fn toggle_mute(&self) {
        self.post(Input::ToggleMute);
    }

    pub fn toggle_camera(&self) {
        self.post(Input::ToggleCamera);
    }

    pub fn toggle_hold(&self) {
        self.post(Input::ToggleHold);
    }

    /// Uses microphone (`"audio"`) or camera (`"video"`) `id` from now on, in this call too.
    pub fn switch_device(&self, kind: &'static str, id: String) {
        storage::set_call_device(kind, &id);
        self.post(Input::SwitchDevice { kind, id });
    }

    pub(super) fn post(&self, input: Input) {
        let manager = self.clone();
        self.inbox.post(input, move |input| {
            let manager = manager.clone();
            async move { manager.handle(input).await }
        });
    }

    async fn handle(&self, input: Input) {
        let Some(mut inner) = self.inner.borrow_mut().take() else {
            return;
        };
        self.handle_input(&mut inner, input).await;
        if self.inbox.is_closed() {
            inner.active = None;
        }
        // The call buttons follow the call: answering, or ending, turns them off.
        if let Some(active) = &inner.active {
            self.handle
                .set_active_call(Some(active.call.as_active(active.room_id.clone())));
        }
        self.inner.borrow_mut().replace(inner);
    }

    async fn handle_input(&self, inner: &mut Inner, input: Input) {
        let now = now_ms();
        match input {
            Input::Signals => {
                for signal in call::without_settled(self.handle.take_call_signals()) {
                    self.on_signal(inner, signal).await;
                }
            }
            Input::Intent => {
                if let Some(intent) = self.handle.take_call_intent() {
                    let active = inner
                        .active
                        .as_ref()
                        .map(|a| a.call.as_active(a.room_id.clone()));
                    let action = match self.handle.call_peer_untracked(&intent.room_id) {
                        Some(peer) => call::call_button(active.as_ref(), &intent.room_id, &peer),
                        // `place` says why there is no call to place here.
                        None if active.is_none() => CallButton::Place,
                        None => CallButton::Busy,
                    };
                    match action {
                        // Calling someone who is calling us answers them (as Element does).
                        CallButton::Answer => self.accept_call(inner, intent.video, now).await,
                        CallButton::Place => self.place(inner, intent.room_id, intent.video).await,
                        CallButton::Busy => {}
                    }
                }
            }
            Input::Accept { video } => self.accept_call(inner, video, now).await,
            Input::Decline => {
                if let Some(active) = inner.active.as_mut() {
                    let outputs = active.call.reject();
                    self.run(inner, outputs).await;
                }
            }
            Input::HangUp => {
                if let Some(active) = inner.active.as_mut() {
                    let outputs = active.call.hang_up("user_hangup");
                    self.run(inner, outputs).await;
                }
            }
            Input::ToggleMute => self.toggle_mute_now(inner).await,
            Input::ToggleCamera => self.camera_on_off(inner).await,
            Input::ToggleHold => self.hold_or_resume(inner).await,
            Input::SwitchDevice { kind, id } => self.use_device(inner, kind, &id).await,
            Input::Tick => {
                self.tick_queued.set(false);
                if let Some(active) = inner.active.as_mut() {
                    let outputs = active.call.tick(now);
                    self.run(inner, outputs).await;
                }
            }
            Input::Peer(number, event) => {
                let Some(active) = inner.active.as_mut().filter(|a| a.number == number) else {
                    return;
                };
                let outputs = match event {
                    PeerEvent::Candidate(candidate) => {
                        active.call.local_candidate(candidate, now);
                        Vec::new()
                    }
                    PeerEvent::GatheringComplete => active.call.gathering_complete(),
                    PeerEvent::IceState(state) => {
                        match state.as_str() {
                            "connected" | "completed" => active.ice_ok = true,
                            "disconnected" | "failed" => active.ice_ok = false,
                            _ => {}
                        }
                        active.call.ice_state(&state, now)
                    }
                    PeerEvent::RemoteStream(stream) => {
                        if !active.remote_streams.iter().any(|s| s.id() == stream.id()) {
                            active.remote_streams.push(stream);
                        }
                        self.show_remote(active);
                        Vec::new()
                    }
                };
                self.run(inner, outputs).await;
            }
            Input::SendFailed(number) => {
                if let Some(active) = inner.active.as_mut().filter(|a| a.number == number) {
                    // The server cannot be reached, so the hangup cannot go either: the
                    // other side will time out.
                    let unsent = active.call.hang_up("signalling_timeout");
                    warn(&format!(
                        "Weft calls: the server cannot be reached; the call ends here ({} events not sent)",
                        unsent.len()
                    ));
                    self.finish(
                        inner,
                        Some("The call ended: the server could not be reached".to_owned()),
                    );
                }
            }
        }
        self.refresh(inner);
    }

    /// Queues a call event of call `number`; only a lost invite or answer ends the call.
    pub(super) fn send(
        &self,
        number: u64,
        room_id: OwnedRoomId,
        event_type: &'static str,
        content: serde_json::Value,
    ) {
        let manager = self.clone();
        self.outbox.send(
            Envelope {
                call: number,
                room_id,
                event_type,
                content,
            },
            move |number, event_type| {
                if matches!(event_type, "m.call.invite" | "m.call.answer") {
                    manager.post(Input::SendFailed(number));
                }
            },
        );
    }

    /// Brings the screen in line with the machine; ends the call when the machine did.
    fn refresh(&self, inner: &mut Inner) {
        let Some(active) = inner.active.as_mut() else {
            return;
        };
        let now = now_ms();
        let phase = match active.call.state() {
            State::Ringing => return,
            State::Inviting => Phase::Outgoing,
            State::Connecting => Phase::Connecting {
                reconnecting: false,
            },
            State::Connected if !active.ice_ok => Phase::Connecting { reconnecting: true },
            State::Connected => {
                let since = *active.connected_at.get_or_insert(now);
                Phase::Connected { since }
            }
            State::Ended(reason) => {
                let lasted = active.connected_at.map(|at| now.saturating_sub(at));
                let outcome =
                    wording::ended(reason, lasted, active.call.outgoing(), self.view.ringing());
                // The screen never says "Video call": the call shows whether it had video.
                return self.finish(inner, Some(wording::words(outcome, false)));
            }
        };
        let Some(mut next) = self.view.get() else {
            return;
        };
        next.phase = phase;
        next.on_hold = active.hold.is_some();
        if let Some(media) = &active.media {
            // On hold the tracks are off, but the buttons show what resuming brings back.
            let (audio, video) = active
                .hold
                .unwrap_or((media.is_enabled("audio"), media.is_enabled("video")));
            next.camera = media.has_video() && video;
            next.muted = !audio;
        }
        self.view.set_if_changed(next);
    }

    /// Shows a new call on screen.
    pub(super) fn show(&self, inner: &Inner, phase: Phase, camera: bool) {
        let Some(active) = &inner.active else { return };
        let peer = active.call.peer_user().cloned();
        let peer_name = peer
            .map(|user| self.handle.member_name_untracked(&active.room_id, &user))
            .unwrap_or_default();
        self.handle
            .set_active_call(Some(active.call.as_active(active.room_id.clone())));
        self.view.set(Screen::new(
            active.room_id.clone(),
            peer_name,
            phase,
            camera,
        ));
    }

    /// Drops the call (peer connection, camera, ringtone) and shows how it ended.
    pub(super) fn finish(&self, inner: &mut Inner, text: Option<String>) {
        let Some(active) = inner.active.take() else {
            return;
        };
        drop(active);
        match self.view.room_id() {
            Some(room_id) => {
                self.ended(room_id, text.unwrap_or_else(|| "Call ended".to_owned()));
            }
            None => {
                self.view.show_local(None);
                self.view.show_remote(None);
            }
        }
    }

    /// Shows `text` as the end of the call for a few seconds; the call buttons come back.
    pub(super) fn ended(&self, room_id: OwnedRoomId, text: String) {
        self.handle.set_active_call(None);
        self.view.ended(room_id, text);
    }

    /// A new call with its own peer connection.
    pub(super) async fn new_active(
        &self,
        inner: &mut Inner,
        room_id: OwnedRoomId,
        call: Call,
    ) -> Option<Active> {
        let turn = self.turn(inner).await;
        inner.calls += 1;
        let number = inner.calls;
        let manager = self.clone();
        let peer = Peer::new(&turn, storage::relay_only(), move |event| {
            manager.post(Input::Peer(number, event))
        });
        match peer {
            Ok(peer) => {
                self.start_ticking();
                Some(Active {
                    number,
                    room_id,
                    call,
                    peer,
                    media: None,
                    ring: None,
                    connected_at: None,
                    ice_ok: false,
                    remote_streams: Vec::new(),
                    remote_meta: None,
                    hold: None,
                })
            }
            Err(error) => {
                self.ended(room_id, error);
                None
            }
        }
    }

    /// TURN credentials for a new call, fetched again once half their lifetime is gone:
    /// relays check them again on every allocation refresh, so a call started with
    /// almost-expired credentials would drop minutes later.
    async fn turn(&self, inner: &mut Inner) -> TurnServers {
        let now = now_ms();
        if let Some((servers, fetched)) = &inner.turn {
            let fresh_for = if servers.is_empty() {
                // No TURN here: ask again now and then, not for every call.
                call::turn::MIN_REFRESH
            } else {
                servers
                    .refresh_after()
                    .min(Duration::from_secs(servers.ttl / 2))
            };
            if now < fetched + fresh_for.as_millis() as u64 {
                return servers.clone();
            }
        }
        let servers = self.handle.turn_servers().await;
        inner.turn = Some((servers.clone(), now));
        servers
    }

    /// Runs the machine's timers while there is a call.
    fn start_ticking(&self) {
        if self.ticking.replace(true) {
            return;
        }
        let manager = self.clone();
        spawn_local(async move {
            loop {
                sleep(TICK).await;
                let idle = manager
                    .inner
                    .borrow()
                    .as_ref()
                    .is_some_and(|i| i.active.is_none())
                    && manager.inbox.is_empty();
                if idle || manager.inbox.is_closed() {
                    break;
                }
                if !manager.tick_queued.replace(true) {
                    manager.post(Input::Tick);
                }
            }
            manager.ticking.set(false);
        });
    }
}

/// Our `sdp_stream_metadata`: one user-media stream with its mute state.
pub(super) fn metadata(media: &LocalMedia) -> SdpStreamMetadata {
    SdpStreamMetadata::user_media(
        media.id(),
        !media.is_enabled("audio"),
        !(media.has_video() && media.is_enabled("video")),
    )
}

pub(super) fn now_ms() -> u64 {
    clock::now().get().into()
}
