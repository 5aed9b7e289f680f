//! The call manager: feeds the engine's call events, the user's choices, time and
//! WebRTC's reports into the call state machine ([`weft_client::call::Call`]), and carries
//! out what it asks for: events to send, session descriptions and candidates for the peer
//! connection, ringing, and tearing down.
//!
//! Inputs go through one queue handled one at a time, start to finish (including the
//! awaits on WebRTC), so the machine and the peer connection never see them interleaved.
//! Events are sent in order through a second queue, so sending never holds up the calls.

use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    rc::Rc,
    time::Duration,
};

use leptos::{prelude::*, task::spawn_local};
use ruma::OwnedRoomId;
use serde_json::{Value, json};
use web_sys::MediaStream;
use weft_client::call::{
    self, Call, CallButton, CallInvite, CallSignal, EndReason, GlareOutcome, Output, State,
    turn::TurnServers,
};

use crate::{
    handle::ClientHandle,
    platform::{
        clock,
        sound::Looping,
        storage,
        timer::sleep,
        webrtc::{LocalMedia, Peer, PeerEvent},
    },
};

/// How long candidates may gather before an offer or answer goes out, so the first ones
/// travel inside it.
const SETTLE_MS: u32 = 200;
/// How often the machine's timers are checked.
const TICK: Duration = Duration::from_millis(100);
/// How long the end of a call stays on screen.
const ENDED_SHOWN: Duration = Duration::from_secs(4);
/// Sending a call event is tried this often, with back-off between tries, as matrix-js-sdk does.
const SEND_TRIES: u32 = 5;

/// Where the call is, as the screen shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Someone calls us; `video` if they offer video.
    Incoming { video: bool },
    /// We call; getting the camera or waiting for an answer.
    Outgoing,
    /// Answered; media being set up (or re-established: `reconnecting`).
    Connecting { reconnecting: bool },
    /// Media flows, since this time (ms).
    Connected { since: u64 },
    /// Over, in words ("Call ended · 1:04", "Call declined", an error).
    Ended(String),
}

/// What the call screen shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Screen {
    pub room_id: OwnedRoomId,
    pub peer_name: String,
    pub phase: Phase,
    /// We send video (the camera is on).
    pub camera: bool,
    pub muted: bool,
    /// The other side sends video ...
    pub remote_video: bool,
    /// ... unless they turned their camera off.
    pub remote_camera_off: bool,
    pub remote_muted: bool,
    /// We put the call on hold / they did.
    pub on_hold: bool,
    pub remote_hold: bool,
}

impl Screen {
    fn new(room_id: OwnedRoomId, peer_name: String, phase: Phase, camera: bool) -> Self {
        Self {
            room_id,
            peer_name,
            phase,
            camera,
            muted: false,
            remote_video: false,
            remote_camera_off: false,
            remote_muted: false,
            on_hold: false,
            remote_hold: false,
        }
    }

    /// Whether the other side's video is worth showing.
    pub fn shows_remote_video(&self) -> bool {
        self.remote_video && !self.remote_camera_off
    }
}

/// Something for the manager to handle.
enum Input {
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
struct Active {
    /// Numbers calls, so reports from an old peer connection are ignored.
    number: u64,
    room_id: OwnedRoomId,
    call: Call,
    peer: Peer,
    media: Option<LocalMedia>,
    ring: Option<Looping>,
    /// When the call connected (for "Call ended · m:ss").
    connected_at: Option<u64>,
    /// ICE is connected (false while it recovers from a lost connection).
    ice_ok: bool,
    /// The other side's streams, and what its `sdp_stream_metadata` says they are.
    remote_streams: Vec<MediaStream>,
    remote_meta: Option<Value>,
    /// The offer we answer has video (else answering with video needs a renegotiation).
    offer_video: bool,
    /// On hold by us: what microphone and camera were (on) before, restored on resume.
    hold: Option<(bool, bool)>,
}

/// The manager's own state, only touched while handling an input.
#[derive(Default)]
struct Inner {
    active: Option<Active>,
    turn: Option<(TurnServers, u64)>,
    calls: u64,
}

/// Cheap to clone; all clones are the same manager.
/// A call event waiting to be sent: (call generation, room, event type, content).
type Outgoing = (u64, OwnedRoomId, &'static str, Value);

#[derive(Clone)]
pub struct Manager {
    handle: ClientHandle,
    queue: Rc<RefCell<VecDeque<Input>>>,
    busy: Rc<Cell<bool>>,
    inner: Rc<RefCell<Option<Inner>>>,
    outbox: Rc<RefCell<VecDeque<Outgoing>>>,
    sending: Rc<Cell<bool>>,
    ticking: Rc<Cell<bool>>,
    /// A tick waits in the queue (so a slow input never piles ticks up).
    tick_queued: Rc<Cell<bool>>,
    /// The session ended: tasks still running stop.
    closed: Rc<Cell<bool>>,
    /// "Hang up" was pressed (a call being placed stops before its invite goes out).
    cancelled: Rc<Cell<bool>>,
    /// Counts the ends of calls shown, so each is cleared by its own timer only.
    endings: Rc<Cell<u64>>,
    /// What the screen shows; `None` when there is no call.
    pub screen: RwSignal<Option<Screen>>,
    /// The media elements' streams: (ours, theirs), bumped in `streams`.
    pub local: StoredValue<Option<MediaStream>, LocalStorage>,
    pub remote: StoredValue<Option<MediaStream>, LocalStorage>,
    pub streams: RwSignal<u32>,
}

impl Manager {
    /// Starts handling call events and call buttons, for as long as the current reactive
    /// owner (the signed-in layout) lives: signing out ends a call at once (camera off).
    pub fn start(handle: ClientHandle) -> StoredValue<Self, LocalStorage> {
        let manager = Self {
            handle,
            queue: Rc::default(),
            busy: Rc::default(),
            inner: Rc::new(RefCell::new(Some(Inner::default()))),
            outbox: Rc::default(),
            sending: Rc::default(),
            ticking: Rc::default(),
            tick_queued: Rc::default(),
            closed: Rc::default(),
            cancelled: Rc::default(),
            endings: Rc::default(),
            screen: RwSignal::new(None),
            local: StoredValue::new_local(None),
            remote: StoredValue::new_local(None),
            streams: RwSignal::new(0),
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
        // Signed out: drop the call (peer connection, camera, ringtone) and queued events;
        // the other side sees the connection go. Tasks still running stop at `closed`.
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
        // (Cleanups run before the owner drops its values, so `stored` is still there.)
        on_cleanup(move || {
            handle.set_hang_up_hook(None);
            stored.try_with_value(|m| {
                m.closed.set(true);
                m.outbox.borrow_mut().clear();
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
        // queue would otherwise only reach after the invite went out.
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

    fn post(&self, input: Input) {
        self.queue.borrow_mut().push_back(input);
        if self.busy.replace(true) {
            return;
        }
        let manager = self.clone();
        spawn_local(async move {
            loop {
                let next = manager.queue.borrow_mut().pop_front();
                let Some(input) = next else { break };
                if manager.closed.get() {
                    manager.queue.borrow_mut().clear();
                    break;
                }
                // Taken out while handling, so no borrow is held across an await.
                let Some(mut inner) = manager.inner.borrow_mut().take() else {
                    break;
                };
                manager.handle_input(&mut inner, input).await;
                if manager.closed.get() {
                    inner.active = None;
                }
                // The call buttons follow the call: answering, or ending, turns them off.
                if let Some(active) = &inner.active {
                    manager
                        .handle
                        .set_active_call(Some(active.call.as_active(active.room_id.clone())));
                }
                manager.inner.borrow_mut().replace(inner);
            }
            manager.busy.set(false);
        });
    }

    async fn handle_input(&self, inner: &mut Inner, input: Input) {
        let now = now_ms();
        match input {
            Input::Signals => {
                let signals = self.handle.take_call_signals();
                // An invite answered, declined or hung up within the same batch (an
                // initial sync after a call) must not ring, even for a moment.
                let settled: Vec<String> = signals
                    .iter()
                    .filter(|s| {
                        matches!(
                            s.event_type.as_str(),
                            "m.call.answer" | "m.call.hangup" | "m.call.reject"
                        )
                    })
                    .filter_map(call_id)
                    .collect();
                for signal in signals {
                    if signal.event_type == "m.call.invite"
                        && call_id(&signal).is_some_and(|id| settled.contains(&id))
                    {
                        continue;
                    }
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
            Input::ToggleMute => {
                if let Some(active) = inner.active.as_mut()
                    && let Some(media) = &active.media
                {
                    media.set_enabled("audio", !media.is_enabled("audio"));
                    let outputs = active.call.streams_changed(metadata(media));
                    self.run(inner, outputs).await;
                }
            }
            Input::ToggleCamera => self.camera_on_off(inner).await,
            Input::ToggleHold => {
                if let Some(active) = inner.active.as_mut()
                    && active.call.can_renegotiate()
                    && let Some(media) = &active.media
                {
                    // While on hold we send nothing either; resuming restores mute state.
                    active.hold = match active.hold.take() {
                        Some((audio, video)) => {
                            media.set_enabled("audio", audio);
                            media.set_enabled("video", video);
                            None
                        }
                        None => {
                            let before = (media.is_enabled("audio"), media.is_enabled("video"));
                            media.set_enabled("audio", false);
                            media.set_enabled("video", false);
                            Some(before)
                        }
                    };
                    active.peer.set_hold(active.hold.is_some());
                    let meta = metadata(media);
                    if let Ok(offer) = active.peer.offer(false).await {
                        let outputs = active.call.negotiate_offer(offer, Some(meta));
                        self.run(inner, outputs).await;
                    }
                }
            }
            Input::SwitchDevice { kind, id } => {
                if let Some(active) = inner.active.as_mut()
                    && let Some(media) = &active.media
                    && (kind == "audio" || media.has_video())
                    && let Ok(track) = media.switch(kind, Some(&id)).await
                {
                    active.peer.replace_track(&track).await;
                    self.streams.update(|n| *n += 1);
                    let outputs = active.call.streams_changed(metadata(media));
                    self.run(inner, outputs).await;
                }
            }
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
                    // The server cannot be reached: the other side will time out.
                    let _ = active.call.hang_up("signalling_timeout");
                    self.finish(
                        inner,
                        Some("The call ended: the server could not be reached".to_owned()),
                    );
                }
            }
        }
        self.refresh(inner);
    }

    /// One call event from sync.
    async fn on_signal(&self, inner: &mut Inner, signal: CallSignal) {
        let Ok(content) = serde_json::from_str::<Value>(signal.content.get()) else {
            return;
        };
        if signal.event_type == "m.call.invite" {
            self.on_invite(inner, signal, content).await;
            return;
        }
        let Some(active) = inner.active.as_mut() else {
            return;
        };
        if active.room_id != signal.room_id {
            return;
        }
        let state_before = active.call.state().clone();
        let outputs = active
            .call
            .receive(&signal.event_type, &signal.sender, &content);
        // The answer we chose carries the answerer's stream metadata (the machine reports
        // it only for later changes).
        if signal.event_type == "m.call.answer"
            && state_before == State::Inviting
            && *active.call.state() == State::Connecting
            && let Some(meta) = stream_metadata(&content)
        {
            active.remote_meta = Some(meta.clone());
            self.show_remote(active);
        }
        self.run(inner, outputs).await;
    }

    async fn on_invite(&self, inner: &mut Inner, signal: CallSignal, content: Value) {
        let Ok(invite) = serde_json::from_value::<CallInvite>(content.clone()) else {
            return;
        };
        let Some(offer) = content
            .pointer("/offer/sdp")
            .and_then(Value::as_str)
            .map(ToOwned::to_owned)
        else {
            return;
        };
        let Ok((own, party)) = self.handle.call_identity() else {
            return;
        };
        let left = call::remaining(
            Duration::from_millis(invite.lifetime),
            Duration::from_millis(signal.age_ms.unwrap_or(0)),
            Duration::ZERO,
        );
        let public = !self.handle.may_ring_in(&signal.room_id);
        if !call::should_ring(&invite, &signal.sender, &own, &party, left, public) {
            return;
        }
        let now = now_ms();
        if let Some(active) = inner.active.as_mut() {
            let glare = active.room_id == signal.room_id
                && active.call.call_id != invite.common.call_id
                && *active.call.state() == State::Inviting
                && active.call.peer_user().is_some_and(|u| *u == signal.sender);
            if !glare {
                // One call at a time; the caller sees "No answer" when theirs times out.
                return;
            }
            match call::handle_glare(
                &mut active.call,
                &invite,
                &signal.sender,
                offer,
                party,
                left,
                now,
            ) {
                GlareOutcome::KeepOurs => {}
                GlareOutcome::Replaced {
                    ours,
                    theirs,
                    theirs_outputs,
                } => {
                    // Our call gives way; its camera and microphone answer theirs.
                    let media = active.media.take();
                    let sends: Vec<Output> = ours
                        .into_iter()
                        .filter(|o| matches!(o, Output::Send { .. }))
                        .collect();
                    self.run(inner, sends).await;
                    inner.active = None;
                    if let Some(mut next) = self.new_active(inner, signal.room_id, *theirs).await {
                        next.offer_video = content
                            .pointer("/offer/sdp")
                            .and_then(Value::as_str)
                            .is_some_and(|sdp| sdp.contains("m=video"));
                        next.remote_meta = stream_metadata(&content).cloned();
                        next.media = media;
                        if let Some(media) = &next.media {
                            next.peer.add_media(media);
                        }
                        inner.active = Some(next);
                        self.run(inner, theirs_outputs).await;
                    }
                }
            }
            return;
        }
        let (call, outputs) = Call::incoming(&invite, &signal.sender, offer, party, own, left, now);
        let video = content
            .pointer("/offer/sdp")
            .and_then(Value::as_str)
            .is_some_and(|sdp| sdp.contains("m=video"));
        let Some(active) = self.new_active(inner, signal.room_id.clone(), call).await else {
            return;
        };
        inner.active = Some(active);
        if let Some(active) = inner.active.as_mut() {
            active.offer_video = video;
            active.remote_meta = stream_metadata(&content).cloned();
        }
        self.show(inner, Phase::Incoming { video }, false);
        self.run(inner, outputs).await;
    }

    /// A new call with its own peer connection.
    async fn new_active(
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
                    offer_video: false,
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

    async fn place(&self, inner: &mut Inner, room_id: OwnedRoomId, video: bool) {
        let Ok((own, party)) = self.handle.call_identity() else {
            return;
        };
        let Some(invitee) = self.handle.call_peer_untracked(&room_id) else {
            self.ended(
                room_id,
                "Calls need a room with exactly one other person".to_owned(),
            );
            return;
        };
        let name = self.handle.member_name_untracked(&room_id, &invitee);
        self.screen.set(Some(Screen::new(
            room_id.clone(),
            name,
            Phase::Outgoing,
            video,
        )));
        self.handle.set_active_call(Some(call::ActiveCall {
            room_id: room_id.clone(),
            ringing_from: None,
        }));
        self.cancelled.set(false);
        let media = match LocalMedia::open(
            video,
            storage::call_device("audio").as_deref(),
            storage::call_device("video").as_deref(),
        )
        .await
        {
            Ok(media) => media,
            Err(error) => return self.ended(room_id, error),
        };
        if self.cancelled.get() {
            return self.ended(room_id, "Call cancelled".to_owned());
        }
        let now = now_ms();
        // Element's call IDs: the time and a random part.
        let call_id = format!("{now}{}", random_suffix());
        let (placeholder, _) = Call::place(
            call_id.clone(),
            party.clone(),
            own.clone(),
            invitee.clone(),
            String::new(),
            now,
        );
        let Some(mut active) = self.new_active(inner, room_id.clone(), placeholder).await else {
            return;
        };
        active.peer.add_media(&media);
        let offer = match active.peer.offer(false).await {
            Ok(offer) => offer,
            Err(error) => return self.ended(room_id, error.to_owned()),
        };
        active.peer.settle(SETTLE_MS).await;
        if self.cancelled.get() {
            return self.ended(room_id, "Call cancelled".to_owned());
        }
        let sdp = active.peer.local_sdp().unwrap_or(offer);
        let (call, outputs) = Call::place(call_id, party, own, invitee, sdp, now_ms());
        active.call = call;
        self.local.set_value(Some(media.stream()));
        active.media = Some(media);
        inner.active = Some(active);
        self.streams.update(|n| *n += 1);
        self.run(inner, outputs).await;
    }

    async fn accept_call(&self, inner: &mut Inner, video: bool, now: u64) {
        let Some(active) = inner
            .active
            .as_mut()
            .filter(|a| *a.call.state() == State::Ringing)
        else {
            return;
        };
        active.ring = None;
        let media = match LocalMedia::open(
            video,
            storage::call_device("audio").as_deref(),
            storage::call_device("video").as_deref(),
        )
        .await
        {
            Ok(media) => media,
            Err(error) => {
                let outputs = active.call.hang_up("user_media_failed");
                self.run(inner, outputs).await;
                return self.finish(inner, Some(error));
            }
        };
        active.peer.add_media(&media);
        self.local.set_value(Some(media.stream()));
        active.media = Some(media);
        self.streams.update(|n| *n += 1);
        self.answer(inner, now).await;
    }

    /// Answers the ringing call with the media it has.
    async fn answer(&self, inner: &mut Inner, now: u64) {
        let Some(active) = inner.active.as_mut() else {
            return;
        };
        let answer = match active.peer.answer().await {
            Ok(answer) => answer,
            Err(error) => {
                let outputs = active.call.hang_up("unknown_error");
                self.run(inner, outputs).await;
                return self.finish(inner, Some(error.to_owned()));
            }
        };
        active.peer.settle(SETTLE_MS).await;
        let sdp = active.peer.local_sdp().unwrap_or(answer);
        let mut outputs = active.call.answer(sdp, now);
        outputs.extend(video_after_answer(active).await);
        self.run(inner, outputs).await;
    }

    async fn camera_on_off(&self, inner: &mut Inner) {
        let Some(active) = inner.active.as_mut() else {
            return;
        };
        let Some(media) = &active.media else { return };
        // Adding the camera needs a renegotiation: not before the call is answered, and
        // never with a version 0 peer.
        if !media.has_video() && !active.call.can_renegotiate() {
            return;
        }
        if media.has_video() {
            if media.is_enabled("video") {
                media.stop_camera();
            } else if let Ok(track) = media
                .switch("video", storage::call_device("video").as_deref())
                .await
            {
                active.peer.replace_track(&track).await;
                self.streams.update(|n| *n += 1);
            }
            let outputs = active.call.streams_changed(metadata(media));
            return self.run(inner, outputs).await;
        }
        // A voice call turns into a video call: add the camera and renegotiate.
        let track = match media
            .add_camera(storage::call_device("video").as_deref())
            .await
        {
            Ok(track) => track,
            Err(_) => return,
        };
        active.peer.add_track(&track, media);
        let meta = metadata(media);
        self.streams.update(|n| *n += 1);
        if let Ok(offer) = active.peer.offer(false).await {
            let outputs = active.call.negotiate_offer(offer, Some(meta));
            self.run(inner, outputs).await;
        }
    }

    /// Carries out the machine's outputs, and those they lead to, in order.
    async fn run(&self, inner: &mut Inner, outputs: Vec<Output>) {
        let mut pending: VecDeque<Output> = outputs.into();
        while let Some(output) = pending.pop_front() {
            let Some(active) = inner.active.as_mut() else {
                return;
            };
            match output {
                Output::Send {
                    event_type,
                    mut content,
                } => {
                    // Every invite, answer and negotiation says which stream is what.
                    if matches!(
                        event_type,
                        "m.call.invite" | "m.call.answer" | "m.call.negotiate"
                    ) && content.get("sdp_stream_metadata").is_none()
                        && let Some(media) = &active.media
                    {
                        content["sdp_stream_metadata"] = metadata(media);
                    }
                    self.send(active.number, active.room_id.clone(), event_type, content);
                }
                Output::SetRemoteDescription { sdp, kind } => {
                    if active.peer.set_remote(kind, &sdp).await.is_err() {
                        pending.extend(active.call.hang_up("unknown_error"));
                    }
                }
                Output::Ring(on) => {
                    active.ring = if on { Looping::start("ring.wav") } else { None }
                }
                Output::CreateAnswer => {
                    if let Ok(answer) = active.peer.answer().await {
                        let meta = active.media.as_ref().map(metadata);
                        pending.extend(active.call.negotiate_answer(answer, meta));
                    }
                    let held = active.peer.held();
                    self.screen.update(|s| {
                        if let Some(s) = s {
                            s.remote_hold = held;
                        }
                    });
                }
                Output::RemoteStreams(meta) => {
                    active.remote_meta = Some(meta);
                    self.show_remote(active);
                }
                Output::AutoAnswer => {
                    // Glare: answer at once with the media our own call had.
                    self.local
                        .set_value(active.media.as_ref().map(LocalMedia::stream));
                    self.streams.update(|n| *n += 1);
                    match active.peer.answer().await {
                        Ok(answer) => {
                            active.peer.settle(SETTLE_MS).await;
                            let sdp = active.peer.local_sdp().unwrap_or(answer);
                            pending.extend(active.call.answer(sdp, now_ms()));
                            pending.extend(video_after_answer(active).await);
                        }
                        Err(_) => pending.extend(active.call.hang_up("unknown_error")),
                    }
                    let camera = active.media.as_ref().is_some_and(LocalMedia::has_video);
                    self.show(
                        inner,
                        Phase::Connecting {
                            reconnecting: false,
                        },
                        camera,
                    );
                }
                Output::RestartIce => {
                    if let Ok(offer) = active.peer.offer(true).await {
                        let meta = active.media.as_ref().map(metadata);
                        pending.extend(active.call.negotiate_offer(offer, meta));
                    }
                }
                Output::AddIceCandidate(candidate) => active.peer.add_candidate(&candidate).await,
                Output::Close => {}
            }
        }
    }

    /// Shows the other side's camera-and-microphone stream: the one its metadata calls
    /// `m.usermedia` (a screen share arrives as a second stream and must not replace it),
    /// or the first one from peers that send no metadata; and its mute state.
    fn show_remote(&self, active: &Active) {
        let usermedia = match &active.remote_meta {
            Some(meta) => active
                .remote_streams
                .iter()
                .find(|s| meta[s.id()]["purpose"] == "m.usermedia"),
            None => active.remote_streams.first(),
        };
        let (audio_muted, video_muted) = active
            .remote_meta
            .as_ref()
            .map(remote_mute)
            .unwrap_or_default();
        let video = usermedia.is_some_and(|s| s.get_video_tracks().length() > 0);
        let changed = self.remote.with_value(|shown| {
            shown.as_ref().map(MediaStream::id) != usermedia.map(MediaStream::id)
        });
        if changed {
            self.remote.set_value(usermedia.cloned());
            self.streams.update(|n| *n += 1);
        }
        self.screen.update(|s| {
            if let Some(s) = s {
                s.remote_video = video;
                s.remote_muted = audio_muted;
                s.remote_camera_off = video_muted;
            }
        });
    }

    /// Queues a call event; a single task sends them in order, retrying with back-off
    /// (1 s, 2 s, 4 s, 8 s) under the same transaction ID, so a retry whose first try
    /// did arrive is not sent twice. Only a lost invite or answer ends the call.
    fn send(&self, number: u64, room_id: OwnedRoomId, event_type: &'static str, content: Value) {
        self.outbox
            .borrow_mut()
            .push_back((number, room_id, event_type, content));
        if self.sending.replace(true) {
            return;
        }
        let manager = self.clone();
        spawn_local(async move {
            loop {
                let next = manager.outbox.borrow_mut().pop_front();
                let Some((number, room_id, event_type, content)) = next else {
                    break;
                };
                let txn_id = clock::new_txn_id();
                let mut tries = 0;
                while !manager.closed.get()
                    && manager
                        .handle
                        .send_call_event(&room_id, event_type, &content, &txn_id)
                        .await
                        .is_err()
                {
                    tries += 1;
                    if tries == SEND_TRIES {
                        if matches!(event_type, "m.call.invite" | "m.call.answer") {
                            manager.post(Input::SendFailed(number));
                        }
                        break;
                    }
                    sleep(Duration::from_millis(500 << tries)).await;
                }
            }
            manager.sending.set(false);
        });
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
                let ringing = self.screen.with_untracked(|s| {
                    s.as_ref()
                        .is_some_and(|s| matches!(s.phase, Phase::Incoming { .. }))
                });
                let text = if ringing && matches!(reason, EndReason::Hangup(_)) {
                    // The caller gave up (or the invite ran out) before we answered.
                    "Missed call".to_owned()
                } else {
                    ended_text(reason, lasted, active.call.outgoing())
                };
                return self.finish(inner, Some(text));
            }
        };
        let Some(mut next) = self.screen.get_untracked() else {
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
        // Ticks come ten times a second; the screen changes far less often.
        if self.screen.with_untracked(|s| s.as_ref() != Some(&next)) {
            self.screen.set(Some(next));
        }
    }

    /// Shows a new call on screen.
    fn show(&self, inner: &Inner, phase: Phase, camera: bool) {
        let Some(active) = &inner.active else { return };
        let peer = active.call.peer_user().cloned();
        let peer_name = peer
            .map(|user| self.handle.member_name_untracked(&active.room_id, &user))
            .unwrap_or_default();
        self.handle
            .set_active_call(Some(active.call.as_active(active.room_id.clone())));
        self.screen.set(Some(Screen::new(
            active.room_id.clone(),
            peer_name,
            phase,
            camera,
        )));
    }

    /// Drops the call (peer connection, camera, ringtone) and shows how it ended.
    fn finish(&self, inner: &mut Inner, text: Option<String>) {
        let Some(active) = inner.active.take() else {
            return;
        };
        drop(active);
        self.local.set_value(None);
        self.remote.set_value(None);
        self.streams.update(|n| *n += 1);
        let room_id = self
            .screen
            .with_untracked(|s| s.as_ref().map(|s| s.room_id.clone()));
        if let Some(room_id) = room_id {
            self.ended(room_id, text.unwrap_or_else(|| "Call ended".to_owned()));
        }
    }

    /// Shows `text` as the end of the call for a few seconds.
    fn ended(&self, room_id: OwnedRoomId, text: String) {
        self.handle.set_active_call(None);
        let peer_name = self
            .screen
            .with_untracked(|s| s.as_ref().map(|s| s.peer_name.clone()))
            .unwrap_or_default();
        self.screen.set(Some(Screen::new(
            room_id,
            peer_name,
            Phase::Ended(text),
            false,
        )));
        // Numbered: the timer of an earlier end must not clear this one, even when both
        // say the same ("Call ended · 0:01").
        let number = self.endings.get() + 1;
        self.endings.set(number);
        let (screen, endings) = (self.screen, self.endings.clone());
        spawn_local(async move {
            sleep(ENDED_SHOWN).await;
            // Only if no new call took the screen meanwhile (and it still exists).
            let still_this_end = screen.try_with_untracked(|s| {
                s.as_ref()
                    .is_some_and(|s| matches!(s.phase, Phase::Ended(_)))
            });
            if endings.get() == number && still_this_end == Some(true) {
                screen.try_set(None);
            }
        });
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
                    && manager.queue.borrow().is_empty();
                if idle || manager.closed.get() {
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

/// Answering a voice offer with the camera on: the answer can only carry audio, so the
/// video goes in a renegotiation right after it.
async fn video_after_answer(active: &mut Active) -> Vec<Output> {
    let Some(media) = &active.media else {
        return Vec::new();
    };
    if active.offer_video || !media.has_video() || !active.call.can_renegotiate() {
        return Vec::new();
    }
    let meta = metadata(media);
    match active.peer.offer(false).await {
        Ok(offer) => active.call.negotiate_offer(offer, Some(meta)),
        Err(_) => Vec::new(),
    }
}

/// Our `sdp_stream_metadata`: one user-media stream with its mute state.
fn metadata(media: &LocalMedia) -> Value {
    json!({ media.id(): {
        "purpose": "m.usermedia",
        "audio_muted": !media.is_enabled("audio"),
        "video_muted": !(media.has_video() && media.is_enabled("video")),
    }})
}

/// The peer's mute state from its metadata (the user-media stream).
fn remote_mute(meta: &Value) -> (bool, bool) {
    let stream = meta
        .as_object()
        .and_then(|streams| streams.values().find(|s| s["purpose"] == "m.usermedia"));
    match stream {
        Some(s) => (s["audio_muted"] == true, s["video_muted"] == true),
        None => (false, false),
    }
}

/// How a call ended, as the screen says it.
fn ended_text(reason: &EndReason, lasted_ms: Option<u64>, outgoing: bool) -> String {
    match (reason, lasted_ms) {
        (EndReason::AnsweredElsewhere, _) => "Answered on another device".to_owned(),
        (EndReason::Rejected, _) if outgoing => "Call declined".to_owned(),
        (EndReason::Rejected, _) => "You declined the call".to_owned(),
        (EndReason::Hangup(reason), None) if reason == "invite_timeout" => {
            if outgoing {
                "No answer".to_owned()
            } else {
                "Missed call".to_owned()
            }
        }
        (EndReason::Hangup(reason), None) if reason == "ice_failed" => {
            "The call could not connect. Check your network, then try again.".to_owned()
        }
        (EndReason::Hangup(_), Some(ms)) => {
            format!("Call ended · {}", weft_client::media::format_duration(ms))
        }
        (EndReason::Hangup(_), None) => "Call ended".to_owned(),
    }
}

/// The `call_id` of a call event.
fn call_id(signal: &CallSignal) -> Option<String> {
    serde_json::from_str::<call::CallCommon>(signal.content.get())
        .ok()
        .map(|c| c.call_id)
}

/// `sdp_stream_metadata` of an invite, answer or negotiation (older Element versions
/// send it under the MSC3077 name).
fn stream_metadata(content: &Value) -> Option<&Value> {
    content
        .get("sdp_stream_metadata")
        .or_else(|| content.get("org.matrix.msc3077.sdp_stream_metadata"))
}

fn now_ms() -> u64 {
    clock::now().get().into()
}

/// 16 random letters, as Element's call IDs end.
fn random_suffix() -> String {
    (0..16)
        .map(|_| {
            let n = (js_sys::Math::random() * 52.0) as u8 % 52;
            char::from(if n < 26 { b'A' + n } else { b'a' + n - 26 })
        })
        .collect()
}
