//! One 1:1 call as a sans-I/O state machine: user actions, received call events and
//! WebRTC reports go in; events to send and commands for the browser's WebRTC layer come
//! out. Time is passed in, never read.
//!
//! This first part covers the core signalling: placing a call (invite with `lifetime`,
//! `party_id`, `version` and `invitee`), ringing, answering, choosing the first answer
//! (`select_answer`), rejecting, hanging up with reasons, invite expiry, answered or
//! rejected elsewhere, and ICE candidates (batched: 2 s after the invite or 500 ms after
//! the answer, then every 100 ms; end-of-candidates at once; the early candidates of
//! several answering devices kept until one is chosen), renegotiation with
//! `m.call.negotiate` both ways (perfect negotiation: the callee is polite), and stream
//! metadata (mute state), and ICE recovery (restart 2 s after a disconnect or at once on
//! failure; hang up with `ice_timeout` after 30 s, or `ice_failed` if media never
//! flowed), and glare: when the person we call calls us at once, exactly one call survives
//! and the replaced side answers the other at once.

use std::time::Duration;

use ruma::{OwnedUserId, UserId};
use serde_json::{Value, json};

use super::{
    CallCommon, CallHangup, CallInvite, CallSelectAnswer, Glare, SdpStreamMetadata, VERSION,
    answered_elsewhere, resolve_glare,
};

/// How long our invites stay valid (the spec recommends at least 90 s).
pub const INVITE_LIFETIME: Duration = Duration::from_secs(90);
/// First candidate batch: this long after the invite (caller) ...
const CALLER_FIRST_BATCH_MS: u64 = 2_000;
/// ... or after the answer (callee).
const CALLEE_FIRST_BATCH_MS: u64 = 500;
/// Later batches gather for this long.
const BATCH_MS: u64 = 100;
/// A disconnected ICE is restarted after this long ...
const ICE_RESTART_AFTER_MS: u64 = 2_000;
/// ... and the call given up this long after the connection was lost.
const ICE_GIVE_UP_MS: u64 = 30_000;

/// Where the call is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// We are calling; waiting for an answer.
    Inviting,
    /// Someone is calling us.
    Ringing,
    /// An answer was chosen (or sent); media is being set up.
    Connecting,
    /// Media flows.
    Connected,
    /// Over, with the reason.
    Ended(EndReason),
}

/// Why a call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// Someone hung up (with the hangup reason, e.g. `user_hangup`, `invite_timeout`).
    Hangup(String),
    /// The callee declined.
    Rejected,
    /// Another device (ours or another member's) took the call.
    AnsweredElsewhere,
}

/// What the machine asks of its caller.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Send this room event (`m.call.*`).
    Send {
        event_type: &'static str,
        content: Value,
    },
    /// Apply the remote description to the peer connection.
    SetRemoteDescription { sdp: String, kind: &'static str },
    /// Start ringing / stop ringing.
    Ring(bool),
    /// Create an answer to the offer just applied and hand it to [`Call::negotiate_answer`].
    CreateAnswer,
    /// The peer's stream metadata (purposes, mute state): in their invite or answer, or
    /// changed since.
    RemoteStreams(SdpStreamMetadata),
    /// Answer this call at once with the media already captured (glare hand-over).
    AutoAnswer,
    /// Restart ICE (`RTCPeerConnection.restartIce()`), which leads to a renegotiation.
    RestartIce,
    /// Our media changed while another negotiation was under way: make a new offer now
    /// (see [`Call::may_offer`]) and hand it to [`Call::negotiate_offer`].
    Renegotiate,
    /// Add the peer's ICE candidate (an `RTCIceCandidateInit`; empty `candidate` = end).
    AddIceCandidate(Value),
    /// Tear the peer connection down.
    Close,
}

/// One call.
#[derive(Clone, Debug)]
pub struct Call {
    pub call_id: String,
    /// Our party ID (the device ID, as matrix-js-sdk uses).
    pub party_id: String,
    pub own: OwnedUserId,
    state: State,
    /// The other party once known: (user, party ID; `None` for v0 peers).
    peer: Option<(OwnedUserId, Option<String>)>,
    v0_peer: bool,
    /// When our invite (or theirs) stops being valid, in ms on the caller's clock.
    expires_at: Option<u64>,
    /// Our candidates not sent yet, and when the next batch goes.
    pending_local: Vec<Value>,
    flush_at: Option<u64>,
    /// The peer's candidates that arrived before we chose whose to use (caller side).
    remote_buffer: Vec<(OwnedUserId, Option<String>, Value)>,
    /// We placed the call: the impolite side in a negotiation collision.
    outgoing: bool,
    /// Our renegotiation offer awaits its answer.
    making_offer: bool,
    /// Our media changed while a negotiation was under way (our offer unanswered, or
    /// rolled back in a collision): another offer goes out once it is over.
    offer_wanted: bool,
    /// Media flowed at some point (decides `ice_failed` vs `ice_timeout`).
    was_connected: bool,
    /// A lost connection: when to restart ICE, and when to give up.
    restart_at: Option<u64>,
    give_up_at: Option<u64>,
    /// Our streams' metadata, sent with every invite, answer and negotiation.
    local_streams: Option<SdpStreamMetadata>,
    /// The offer we were called with has video (else answering with the camera on needs a
    /// renegotiation right after the answer).
    offered_video: bool,
}

impl Call {
    /// Places a call: returns the call and the invite to send. `now_ms` is the local clock.
    pub fn place(
        call_id: String,
        party_id: String,
        own: OwnedUserId,
        invitee: OwnedUserId,
        offer_sdp: String,
        streams: Option<SdpStreamMetadata>,
        now_ms: u64,
    ) -> (Self, Vec<Output>) {
        let lifetime = INVITE_LIFETIME.as_millis() as u64;
        let call = Self {
            call_id,
            party_id,
            own,
            state: State::Inviting,
            peer: Some((invitee.clone(), None)),
            v0_peer: false,
            expires_at: Some(now_ms + lifetime),
            pending_local: Vec::new(),
            flush_at: Some(now_ms + CALLER_FIRST_BATCH_MS),
            remote_buffer: Vec::new(),
            outgoing: true,
            making_offer: false,
            offer_wanted: false,
            was_connected: false,
            restart_at: None,
            give_up_at: None,
            local_streams: streams,
            offered_video: false,
        };
        let mut content = call.common();
        content["lifetime"] = json!(lifetime);
        content["invitee"] = json!(invitee);
        content["offer"] = json!({"type": "offer", "sdp": offer_sdp});
        call.add_streams(&mut content);
        (
            call,
            vec![Output::Send {
                event_type: "m.call.invite",
                content,
            }],
        )
    }

    /// A call someone placed to us; `left` is how long the invite stays valid (see
    /// [`super::remaining`]). The caller decides with [`super::should_ring`] whether to ring.
    pub fn incoming(
        invite: &CallInvite,
        sender: &UserId,
        party_id: String,
        own: OwnedUserId,
        left: Duration,
        now_ms: u64,
    ) -> (Self, Vec<Output>) {
        let call = Self {
            call_id: invite.common.call_id.clone(),
            party_id,
            own,
            state: State::Ringing,
            peer: Some((
                sender.to_owned(),
                invite.common.party().map(ToOwned::to_owned),
            )),
            v0_peer: invite.common.is_v0(),
            expires_at: Some(
                now_ms.saturating_add(u64::try_from(left.as_millis()).unwrap_or(u64::MAX)),
            ),
            pending_local: Vec::new(),
            // Nothing is sent while ringing; answering schedules the first batch.
            flush_at: None,
            remote_buffer: Vec::new(),
            outgoing: false,
            making_offer: false,
            offer_wanted: false,
            was_connected: false,
            restart_at: None,
            give_up_at: None,
            local_streams: None,
            offered_video: invite.offer.sdp.has_video(),
        };
        let mut outputs = vec![Output::SetRemoteDescription {
            sdp: invite.offer.sdp.as_str().to_owned(),
            kind: "offer",
        }];
        outputs.extend(
            invite
                .sdp_stream_metadata
                .clone()
                .map(Output::RemoteStreams),
        );
        outputs.push(Output::Ring(true));
        (call, outputs)
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// The other person: the invitee until someone answers, then the answerer; the caller
    /// for incoming calls.
    pub fn peer_user(&self) -> Option<&OwnedUserId> {
        self.peer.as_ref().map(|(user, _)| user)
    }

    /// Who is calling us while this call rings unanswered (`None` once answered, and for
    /// calls we placed).
    pub fn ringing_from(&self) -> Option<&OwnedUserId> {
        if self.state == State::Ringing && !self.outgoing {
            self.peer_user()
        } else {
            None
        }
    }

    /// The call as the call buttons see it (see [`super::call_button`]).
    pub fn as_active(&self, room_id: ruma::OwnedRoomId) -> super::ActiveCall {
        super::ActiveCall {
            room_id,
            ringing_from: self.ringing_from().cloned(),
        }
    }

    /// Whether [`Self::negotiate_offer`] would send an offer now: the call is answered and
    /// the peer speaks version 1. (Check before creating an offer, which would otherwise
    /// leave the connection waiting for an answer that never comes.)
    pub fn can_renegotiate(&self) -> bool {
        !self.v0_peer && matches!(self.state, State::Connecting | State::Connected)
    }

    /// We placed this call.
    pub fn outgoing(&self) -> bool {
        self.outgoing
    }

    /// Someone calls us with video.
    pub fn offered_video(&self) -> bool {
        self.offered_video
    }

    /// After answering (or answering a glare's winner) while sending video: whether the
    /// video needs an offer of its own, because the offer we answered had none (the answer
    /// can only carry what was offered).
    pub fn needs_video_offer(&self, sending_video: bool) -> bool {
        sending_video && !self.offered_video && self.can_renegotiate()
    }

    /// Whether an invite from `sender` crosses ours (glare): the person we are still
    /// calling calls us at the same time, with another call. (The caller checks the room.)
    pub fn is_glare(&self, invite: &CallInvite, sender: &UserId) -> bool {
        self.call_id != invite.common.call_id
            && self.state == State::Inviting
            && self.peer_user().is_some_and(|user| user == sender)
    }

    /// Our streams' metadata from now on (sent with the answer and any negotiation).
    pub fn set_local_streams(&mut self, streams: SdpStreamMetadata) {
        self.local_streams = Some(streams);
    }

    fn common(&self) -> Value {
        json!({"call_id": self.call_id, "party_id": self.party_id, "version": VERSION})
    }

    /// Every invite, answer and negotiation says which stream is what.
    fn add_streams(&self, content: &mut Value) {
        if let Some(streams) = &self.local_streams {
            content["sdp_stream_metadata"] = streams.to_json();
        }
    }

    fn end(&mut self, reason: EndReason, mut outputs: Vec<Output>) -> Vec<Output> {
        if self.state == State::Ringing {
            outputs.push(Output::Ring(false));
        }
        self.state = State::Ended(reason);
        outputs.push(Output::Close);
        outputs
    }

    /// The user answers a ringing call with this SDP answer.
    pub fn answer(&mut self, answer_sdp: String, now_ms: u64) -> Vec<Output> {
        if self.state != State::Ringing {
            return Vec::new();
        }
        self.state = State::Connecting;
        self.flush_at = Some(now_ms + CALLEE_FIRST_BATCH_MS);
        let mut content = self.common();
        content["answer"] = json!({"type": "answer", "sdp": answer_sdp});
        self.add_streams(&mut content);
        vec![
            Output::Ring(false),
            Output::Send {
                event_type: "m.call.answer",
                content,
            },
        ]
    }

    /// The user declines a ringing call (a v0 caller gets a hangup instead of a reject).
    pub fn reject(&mut self) -> Vec<Output> {
        if self.state != State::Ringing {
            return Vec::new();
        }
        let send = if self.v0_peer {
            let mut content = self.common();
            content["reason"] = json!("user_hangup");
            Output::Send {
                event_type: "m.call.hangup",
                content,
            }
        } else {
            Output::Send {
                event_type: "m.call.reject",
                content: self.common(),
            }
        };
        self.end(EndReason::Rejected, vec![send])
    }

    /// Ends the call from our side with a reason (`user_hangup`, `ice_failed`, ...).
    pub fn hang_up(&mut self, reason: &str) -> Vec<Output> {
        if matches!(self.state, State::Ended(_)) {
            return Vec::new();
        }
        let mut content = self.common();
        content["reason"] = json!(reason);
        self.end(
            EndReason::Hangup(reason.to_owned()),
            vec![Output::Send {
                event_type: "m.call.hangup",
                content,
            }],
        )
    }

    /// Time passes: an unanswered invite expires; a due candidate batch goes out.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Output> {
        let expired = self.expires_at.is_some_and(|at| now_ms >= at);
        match self.state {
            State::Inviting if expired => self.hang_up("invite_timeout"),
            // Their invite expired while ringing: stop, send nothing (the caller times out).
            State::Ringing if expired => {
                self.end(EndReason::Hangup("invite_timeout".into()), Vec::new())
            }
            _ if self.give_up_at.is_some_and(|at| now_ms >= at) => {
                let reason = if self.was_connected {
                    "ice_timeout"
                } else {
                    "ice_failed"
                };
                self.hang_up(reason)
            }
            _ if self.restart_at.is_some_and(|at| now_ms >= at) => {
                self.restart_at = None;
                vec![Output::RestartIce]
            }
            _ if self.flush_at.is_some_and(|at| now_ms >= at) => self.flush(),
            _ => Vec::new(),
        }
    }

    /// Whether an offer may be made now: the call can renegotiate and no offer of ours
    /// awaits its answer. Offers must not overlap: an answer carries no reference to its
    /// offer, so the answer to the first would be applied to the second, and the second's
    /// answer dropped, leaving the media of the second change (say, our camera) never
    /// negotiated. When this says no, [`Self::offer_later`].
    pub fn may_offer(&self) -> bool {
        self.can_renegotiate() && !self.making_offer
    }

    /// Our media changed while an offer is under way: [`Output::Renegotiate`] follows once
    /// the negotiation is over.
    pub fn offer_later(&mut self) {
        if self.can_renegotiate() {
            self.offer_wanted = true;
        }
    }

    /// WebRTC needs to renegotiate (video added, hold, ICE restart): sends the new offer.
    /// Version 0 peers cannot renegotiate, so nothing is sent to them.
    pub fn negotiate_offer(
        &mut self,
        offer_sdp: String,
        stream_metadata: Option<SdpStreamMetadata>,
    ) -> Vec<Output> {
        if !self.can_renegotiate() {
            return Vec::new();
        }
        self.making_offer = true;
        self.offer_wanted = false;
        vec![self.negotiate("offer", offer_sdp, stream_metadata)]
    }

    /// The answer WebRTC created after [`Output::CreateAnswer`].
    pub fn negotiate_answer(
        &mut self,
        answer_sdp: String,
        stream_metadata: Option<SdpStreamMetadata>,
    ) -> Vec<Output> {
        if matches!(self.state, State::Ended(_)) {
            return Vec::new();
        }
        let mut outputs = vec![self.negotiate("answer", answer_sdp, stream_metadata)];
        // Our own offer gave way to theirs: what it carried goes in a new one.
        if std::mem::take(&mut self.offer_wanted) && self.can_renegotiate() {
            outputs.push(Output::Renegotiate);
        }
        outputs
    }

    fn negotiate(
        &mut self,
        kind: &str,
        sdp: String,
        stream_metadata: Option<SdpStreamMetadata>,
    ) -> Output {
        if stream_metadata.is_some() {
            self.local_streams = stream_metadata;
        }
        let mut content = self.common();
        content["description"] = json!({"type": kind, "sdp": sdp});
        content["lifetime"] = json!(60_000);
        self.add_streams(&mut content);
        Output::Send {
            event_type: "m.call.negotiate",
            content,
        }
    }

    /// Our mute state or stream purposes changed without renegotiation.
    pub fn streams_changed(&mut self, stream_metadata: SdpStreamMetadata) -> Vec<Output> {
        if self.v0_peer || matches!(self.state, State::Ended(_)) {
            return Vec::new();
        }
        self.local_streams = Some(stream_metadata);
        let mut content = self.common();
        self.add_streams(&mut content);
        vec![Output::Send {
            event_type: "m.call.sdp_stream_metadata_changed",
            content,
        }]
    }

    /// WebRTC found a local candidate (`RTCIceCandidate.toJSON()`).
    pub fn local_candidate(&mut self, candidate: Value, now_ms: u64) {
        self.pending_local.push(candidate);
        let sending = matches!(
            self.state,
            State::Inviting | State::Connecting | State::Connected
        );
        if sending && self.flush_at.is_none() {
            self.flush_at = Some(now_ms + BATCH_MS);
        }
    }

    /// Gathering finished: end-of-candidates goes out at once (unless still ringing).
    pub fn gathering_complete(&mut self) -> Vec<Output> {
        self.pending_local.push(json!({"candidate": ""}));
        match self.state {
            State::Inviting | State::Connecting | State::Connected => self.flush(),
            _ => Vec::new(),
        }
    }

    fn flush(&mut self) -> Vec<Output> {
        self.flush_at = None;
        if self.pending_local.is_empty() {
            return Vec::new();
        }
        let mut content = self.common();
        content["candidates"] = Value::Array(std::mem::take(&mut self.pending_local));
        vec![Output::Send {
            event_type: "m.call.candidates",
            content,
        }]
    }

    /// WebRTC reports the connection is up.
    pub fn connected(&mut self) {
        if matches!(self.state, State::Connecting | State::Connected) {
            self.state = State::Connected;
            self.was_connected = true;
            self.restart_at = None;
            self.give_up_at = None;
        }
    }

    /// WebRTC's ICE connection state (`iceConnectionState`) changed.
    pub fn ice_state(&mut self, ice: &str, now_ms: u64) -> Vec<Output> {
        if !matches!(self.state, State::Connecting | State::Connected) {
            return Vec::new();
        }
        match ice {
            "connected" | "completed" => {
                self.connected();
                Vec::new()
            }
            // Never connected: this path will not work.
            "failed" if !self.was_connected => self.hang_up("ice_failed"),
            // It worked before: try a restart now, give up after 30 s.
            "failed" => {
                self.give_up_at.get_or_insert(now_ms + ICE_GIVE_UP_MS);
                self.restart_at = None;
                vec![Output::RestartIce]
            }
            // Often recovers by itself; restart if it has not within 2 s.
            "disconnected" => {
                self.restart_at.get_or_insert(now_ms + ICE_RESTART_AFTER_MS);
                self.give_up_at.get_or_insert(now_ms + ICE_GIVE_UP_MS);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// A call event for this call arrived (already decrypted), from `sender`.
    pub fn receive(&mut self, event_type: &str, sender: &UserId, content: &Value) -> Vec<Output> {
        let Ok(common) = serde_json::from_value::<CallCommon>(content.clone()) else {
            return Vec::new();
        };
        if common.call_id != self.call_id || matches!(self.state, State::Ended(_)) {
            return Vec::new();
        }
        // Our own echo (same device): nothing to do. Other devices of ours are parties.
        if sender == self.own && common.party() == Some(self.party_id.as_str()) {
            return Vec::new();
        }
        match (event_type, &self.state) {
            ("m.call.answer", State::Inviting) => {
                let Some(sdp) = content.pointer("/answer/sdp").and_then(Value::as_str) else {
                    return Vec::new();
                };
                // The first answer wins; later ones are ignored.
                self.peer = Some((sender.to_owned(), common.party().map(ToOwned::to_owned)));
                self.v0_peer = common.is_v0();
                self.state = State::Connecting;
                let mut outputs = vec![Output::SetRemoteDescription {
                    sdp: sdp.to_owned(),
                    kind: "answer",
                }];
                // The answer we chose says what the answerer's streams are.
                outputs.extend(SdpStreamMetadata::of_content(content).map(Output::RemoteStreams));
                // Candidates of the chosen party that came early; the others' are dropped.
                let chosen = common.party().map(ToOwned::to_owned);
                for (user, party, candidate) in std::mem::take(&mut self.remote_buffer) {
                    if user == sender && party == chosen {
                        outputs.push(Output::AddIceCandidate(candidate));
                    }
                }
                if !self.v0_peer
                    && let Some(party) = common.party()
                {
                    let mut select = self.common();
                    select["selected_party_id"] = json!(party);
                    outputs.push(Output::Send {
                        event_type: "m.call.select_answer",
                        content: select,
                    });
                }
                outputs
            }
            ("m.call.reject", State::Inviting) => {
                let mut select = self.common();
                select["selected_party_id"] = json!(common.party());
                let send = Output::Send {
                    event_type: "m.call.select_answer",
                    content: select,
                };
                self.end(EndReason::Rejected, vec![send])
            }
            // Another device of ours answered or declined while we ring.
            ("m.call.answer" | "m.call.reject", State::Ringing) if sender == self.own => {
                self.end(EndReason::AnsweredElsewhere, Vec::new())
            }
            // The caller chose someone else's answer (another member, in an invite to
            // anyone) while we ring.
            ("m.call.select_answer", State::Ringing) if self.is_peer(sender, &common) => {
                match serde_json::from_value::<CallSelectAnswer>(content.clone()) {
                    Ok(select) if answered_elsewhere(&select, &self.party_id) => {
                        self.end(EndReason::AnsweredElsewhere, Vec::new())
                    }
                    _ => Vec::new(),
                }
            }
            ("m.call.select_answer", State::Connecting | State::Connected) => {
                match serde_json::from_value::<CallSelectAnswer>(content.clone()) {
                    Ok(select) if answered_elsewhere(&select, &self.party_id) => {
                        self.end(EndReason::AnsweredElsewhere, Vec::new())
                    }
                    _ => Vec::new(),
                }
            }
            ("m.call.negotiate", State::Connecting | State::Connected)
                if self.is_peer(sender, &common) =>
            {
                let kind = content.pointer("/description/type").and_then(Value::as_str);
                let Some(sdp) = content.pointer("/description/sdp").and_then(Value::as_str) else {
                    return Vec::new();
                };
                let mut outputs: Vec<Output> = SdpStreamMetadata::of_content(content)
                    .map(Output::RemoteStreams)
                    .into_iter()
                    .collect();
                match kind {
                    Some("offer") => {
                        // Perfect negotiation: on a collision the caller (impolite) keeps
                        // its own offer; the callee (polite) rolls back and answers.
                        if self.making_offer && self.outgoing {
                            return outputs;
                        }
                        if self.making_offer {
                            // Rolled back: our change is offered again after our answer.
                            self.offer_wanted = true;
                        }
                        self.making_offer = false;
                        outputs.push(Output::SetRemoteDescription {
                            sdp: sdp.to_owned(),
                            kind: "offer",
                        });
                        outputs.push(Output::CreateAnswer);
                    }
                    Some("answer") if self.making_offer => {
                        self.making_offer = false;
                        outputs.push(Output::SetRemoteDescription {
                            sdp: sdp.to_owned(),
                            kind: "answer",
                        });
                        if std::mem::take(&mut self.offer_wanted) {
                            outputs.push(Output::Renegotiate);
                        }
                    }
                    _ => {}
                }
                outputs
            }
            (
                "m.call.sdp_stream_metadata_changed"
                | "org.matrix.call.sdp_stream_metadata_changed",
                _,
            ) if self.is_peer(sender, &common) => SdpStreamMetadata::of_content(content)
                .map(Output::RemoteStreams)
                .into_iter()
                .collect(),
            ("m.call.candidates", _) => {
                let candidates = content
                    .get("candidates")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if self.state == State::Inviting {
                    // No answer chosen yet: keep them until we know whose to use.
                    let party = common.party().map(ToOwned::to_owned);
                    self.remote_buffer.extend(
                        candidates
                            .into_iter()
                            .map(|c| (sender.to_owned(), party.clone(), c)),
                    );
                    Vec::new()
                } else if self.is_peer(sender, &common) {
                    candidates
                        .into_iter()
                        .map(Output::AddIceCandidate)
                        .collect()
                } else {
                    Vec::new()
                }
            }
            ("m.call.hangup", _)
                if self.is_peer(sender, &common) || self.state == State::Ringing =>
            {
                let reason = serde_json::from_value::<CallHangup>(content.clone())
                    .map(|h| h.reason().to_owned())
                    .unwrap_or_else(|_| "user_hangup".to_owned());
                self.end(EndReason::Hangup(reason), Vec::new())
            }
            _ => Vec::new(),
        }
    }

    fn is_peer(&self, sender: &UserId, common: &CallCommon) -> bool {
        match &self.peer {
            // Before an answer is chosen the caller hears from any party of the invitee.
            Some((user, None)) if self.state == State::Inviting => user == sender,
            Some((user, party)) => user == sender && common.party() == party.as_deref(),
            None => false,
        }
    }
}

/// What became of two calls placed at each other at once.
#[derive(Debug)]
pub enum GlareOutcome {
    /// Ours was hung up (`replaced`); theirs is answered at once with our media.
    Replaced {
        ours: Vec<Output>,
        /// Boxed: a call is large, and the other outcome carries nothing.
        theirs: Box<Call>,
        theirs_outputs: Vec<Output>,
    },
    /// Ours survives; their invite is ignored (their side drops it by the same rule).
    KeepOurs,
}

/// An invite from the person we are calling arrived while our invite is out (glare):
/// exactly one call survives, by [`resolve_glare`].
pub fn handle_glare(
    ours: &mut Call,
    invite: &CallInvite,
    sender: &UserId,
    party_id: String,
    left: Duration,
    now_ms: u64,
) -> GlareOutcome {
    match resolve_glare(ours.state == State::Inviting, &ours.call_id, invite) {
        Glare::KeepOurs => GlareOutcome::KeepOurs,
        Glare::AnswerTheirs => {
            let ours_outputs = ours.hang_up("replaced");
            let (theirs, outputs) =
                Call::incoming(invite, sender, party_id, ours.own.clone(), left, now_ms);
            // No ringing: the user already asked for this call.
            let mut theirs_outputs: Vec<Output> = outputs
                .into_iter()
                .filter(|o| *o != Output::Ring(true))
                .collect();
            theirs_outputs.push(Output::AutoAnswer);
            GlareOutcome::Replaced {
                ours: ours_outputs,
                theirs: Box::new(theirs),
                theirs_outputs,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> OwnedUserId {
        id.try_into().unwrap()
    }

    fn sent(outputs: &[Output]) -> Vec<&str> {
        outputs
            .iter()
            .filter_map(|o| match o {
                Output::Send { event_type, .. } => Some(*event_type),
                _ => None,
            })
            .collect()
    }

    fn placed() -> (Call, Vec<Output>) {
        Call::place(
            "c1".into(),
            "ALICEDEV".into(),
            user("@alice:hs"),
            user("@bob:hs"),
            "offer-sdp".into(),
            Some(SdpStreamMetadata::user_media("s0".into(), false, false)),
            1_000,
        )
    }

    #[test]
    fn invite_carries_lifetime_party_version_and_invitee() {
        let (call, outputs) = placed();
        assert_eq!(call.state(), &State::Inviting);
        let Output::Send {
            event_type,
            content,
        } = &outputs[0]
        else {
            panic!()
        };
        assert_eq!(*event_type, "m.call.invite");
        assert_eq!(content["lifetime"], 90_000);
        assert_eq!(content["party_id"], "ALICEDEV");
        assert_eq!(content["version"], "1");
        assert_eq!(content["invitee"], "@bob:hs");
        assert_eq!(content["offer"]["type"], "offer");
        assert_eq!(
            content["sdp_stream_metadata"]["s0"]["purpose"],
            "m.usermedia"
        );
    }

    #[test]
    fn first_answer_wins_and_is_selected() {
        let (mut call, _) = placed();
        let bob = user("@bob:hs");
        let answer = |party: &str| json!({"call_id": "c1", "party_id": party, "version": "1", "answer": {"type": "answer", "sdp": "ans"}});
        let out = call.receive("m.call.answer", &bob, &answer("BOBPHONE"));
        assert_eq!(call.state(), &State::Connecting);
        assert!(matches!(
            &out[0],
            Output::SetRemoteDescription { kind: "answer", .. }
        ));
        let Output::Send {
            event_type: "m.call.select_answer",
            content,
        } = &out[1]
        else {
            panic!("{out:?}")
        };
        assert_eq!(content["selected_party_id"], "BOBPHONE");
        assert!(
            call.receive("m.call.answer", &bob, &answer("BOBLAPTOP"))
                .is_empty(),
            "later answers are ignored"
        );
        // Hangups from the unchosen device are ignored; from the chosen one they end the call.
        let hangup = |party: &str| json!({"call_id": "c1", "party_id": party, "version": "1", "reason": "user_hangup"});
        assert!(
            call.receive("m.call.hangup", &bob, &hangup("BOBLAPTOP"))
                .is_empty()
        );
        call.connected();
        assert_eq!(call.state(), &State::Connected);
        call.receive("m.call.hangup", &bob, &hangup("BOBPHONE"));
        assert_eq!(
            call.state(),
            &State::Ended(EndReason::Hangup("user_hangup".into()))
        );
    }

    #[test]
    fn unanswered_invite_times_out_with_a_hangup() {
        let (mut call, _) = placed();
        assert!(call.tick(60_000).is_empty());
        let out = call.tick(91_000);
        assert_eq!(sent(&out), ["m.call.hangup"]);
        let Output::Send { content, .. } = &out[0] else {
            panic!()
        };
        assert_eq!(content["reason"], "invite_timeout");
        assert!(matches!(call.state(), State::Ended(_)));
    }

    #[test]
    fn rejected_call_ends_and_selects_the_reject() {
        let (mut call, _) = placed();
        let out = call.receive(
            "m.call.reject",
            &user("@bob:hs"),
            &json!({"call_id": "c1", "party_id": "BOBPHONE", "version": "1"}),
        );
        assert_eq!(sent(&out), ["m.call.select_answer"]);
        assert_eq!(call.state(), &State::Ended(EndReason::Rejected));
    }

    fn ringing(version: Value) -> Call {
        let invite: CallInvite = serde_json::from_value(
            json!({"call_id": "c1", "party_id": "ALICEDEV", "version": version,
            "lifetime": 60000, "invitee": "@bob:hs", "offer": {"type": "offer", "sdp": "o"}}),
        )
        .unwrap();
        let (call, out) = Call::incoming(
            &invite,
            &user("@alice:hs"),
            "BOBPHONE".into(),
            user("@bob:hs"),
            Duration::from_secs(57),
            0,
        );
        assert!(out.contains(&Output::Ring(true)));
        call
    }

    #[test]
    fn callee_answers_rejects_and_v0_gets_a_hangup() {
        let mut call = ringing(json!("1"));
        let out = call.answer("a".into(), 0);
        assert_eq!(sent(&out), ["m.call.answer"]);
        assert!(out.contains(&Output::Ring(false)));
        assert_eq!(call.state(), &State::Connecting);

        let mut call = ringing(json!("1"));
        assert_eq!(sent(&call.reject()), ["m.call.reject"]);
        let mut call = ringing(json!(0));
        assert_eq!(sent(&call.reject()), ["m.call.hangup"]);
    }

    #[test]
    fn a_call_button_pressed_while_that_person_rings_answers_them() {
        let room: ruma::OwnedRoomId = "!dm:hs".try_into().unwrap();
        let alice = user("@alice:hs");
        // Alice's call rings for bob: "Voice call" / "Video call" with alice answer it.
        let mut call = ringing(json!("1"));
        assert_eq!(call.ringing_from(), Some(&alice));
        let active = call.as_active(room.clone());
        assert_eq!(
            super::super::call_button(Some(&active), &room, &alice),
            super::super::CallButton::Answer
        );
        // Once answered it no longer rings: the buttons are busy.
        call.answer("a".into(), 0);
        assert_eq!(call.ringing_from(), None);
        let active = call.as_active(room.clone());
        assert_eq!(
            super::super::call_button(Some(&active), &room, &alice),
            super::super::CallButton::Busy
        );
        // Our own call never counts as ringing, even before anyone answers.
        let (ours, _) = placed();
        assert_eq!(ours.ringing_from(), None);
    }

    #[test]
    fn answered_or_declined_elsewhere_stops_ringing_silently() {
        let bob = user("@bob:hs");
        let mut call = ringing(json!("1"));
        let out = call.receive("m.call.answer", &bob, &json!({"call_id": "c1", "party_id": "BOBLAPTOP", "version": "1", "answer": {"sdp": "x"}}));
        assert!(sent(&out).is_empty());
        assert!(out.contains(&Output::Ring(false)));
        assert_eq!(call.state(), &State::Ended(EndReason::AnsweredElsewhere));

        // We answered, but the caller picked another device.
        let mut call = ringing(json!("1"));
        call.answer("a".into(), 0);
        let select = json!({"call_id": "c1", "party_id": "ALICEDEV", "version": "1", "selected_party_id": "BOBLAPTOP"});
        assert!(
            sent(&call.receive("m.call.select_answer", &user("@alice:hs"), &select)).is_empty()
        );
        assert_eq!(call.state(), &State::Ended(EndReason::AnsweredElsewhere));

        // Someone else in the room answered an invite to anyone; the caller chose them.
        let mut call = ringing(json!("1"));
        let select = json!({"call_id": "c1", "party_id": "ALICEDEV", "version": "1", "selected_party_id": "CAROLDEV"});
        let out = call.receive("m.call.select_answer", &user("@alice:hs"), &select);
        assert!(sent(&out).is_empty());
        assert!(out.contains(&Output::Ring(false)));
        assert_eq!(call.state(), &State::Ended(EndReason::AnsweredElsewhere));
        // A third party cannot stop it.
        let mut call = ringing(json!("1"));
        assert!(
            call.receive("m.call.select_answer", &user("@mallory:hs"), &select)
                .is_empty()
        );
        assert_eq!(call.state(), &State::Ringing);

        // The caller gives up while we ring.
        let mut call = ringing(json!("1"));
        let out = call.receive(
            "m.call.hangup",
            &user("@alice:hs"),
            &json!({"call_id": "c1", "party_id": "ALICEDEV", "version": "1"}),
        );
        assert!(out.contains(&Output::Ring(false)));
        assert_eq!(
            call.state(),
            &State::Ended(EndReason::Hangup("user_hangup".into()))
        );
    }

    #[test]
    fn our_own_echo_and_other_calls_are_ignored() {
        let (mut call, outputs) = placed();
        let Output::Send { content, .. } = &outputs[0] else {
            panic!()
        };
        assert!(
            call.receive("m.call.invite", &user("@alice:hs"), content)
                .is_empty()
        );
        assert!(
            call.receive(
                "m.call.hangup",
                &user("@bob:hs"),
                &json!({"call_id": "other", "party_id": "X", "version": "1"})
            )
            .is_empty()
        );
        assert_eq!(call.state(), &State::Inviting);
    }

    #[test]
    fn candidates_are_batched_and_end_of_candidates_flushes() {
        let (mut call, _) = placed();
        call.local_candidate(json!({"candidate": "c1", "sdpMid": "0"}), 1_100);
        call.local_candidate(json!({"candidate": "c2", "sdpMid": "0"}), 1_200);
        assert!(
            call.tick(2_000).is_empty(),
            "the first batch waits 2 s after the invite"
        );
        let out = call.tick(3_000);
        let [
            Output::Send {
                event_type: "m.call.candidates",
                content,
            },
        ] = out.as_slice()
        else {
            panic!("{out:?}")
        };
        assert_eq!(content["candidates"].as_array().unwrap().len(), 2);
        call.local_candidate(json!({"candidate": "c3"}), 3_050);
        assert!(call.tick(3_100).is_empty());
        let out = call.gathering_complete();
        let [Output::Send { content, .. }] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(
            content["candidates"],
            json!([{"candidate": "c3"}, {"candidate": ""}])
        );
    }

    #[test]
    fn callee_sends_no_candidates_while_ringing() {
        let mut call = ringing(json!("1"));
        call.local_candidate(json!({"candidate": "c1"}), 10);
        assert!(call.gathering_complete().is_empty());
        assert!(call.tick(5_000).is_empty());
        call.answer("a".into(), 6_000);
        assert!(
            call.tick(6_400).is_empty(),
            "first batch 500 ms after the answer"
        );
        let out = call.tick(6_500);
        let [Output::Send { content, .. }] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(
            content["candidates"],
            json!([{"candidate": "c1"}, {"candidate": ""}])
        );
    }

    #[test]
    fn early_remote_candidates_are_kept_for_the_chosen_party_only() {
        let (mut call, _) = placed();
        let bob = user("@bob:hs");
        let candidates = |party: &str, c: &str| json!({"call_id": "c1", "party_id": party, "version": "1", "candidates": [{"candidate": c}]});
        assert!(
            call.receive("m.call.candidates", &bob, &candidates("BOBPHONE", "phone"))
                .is_empty()
        );
        assert!(
            call.receive(
                "m.call.candidates",
                &bob,
                &candidates("BOBLAPTOP", "laptop")
            )
            .is_empty()
        );
        let out = call.receive("m.call.answer", &bob, &json!({"call_id": "c1", "party_id": "BOBPHONE", "version": "1", "answer": {"sdp": "a"}}));
        let added: Vec<_> = out
            .iter()
            .filter_map(|o| match o {
                Output::AddIceCandidate(c) => Some(c.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(added, [json!({"candidate": "phone"})]);
        // Later ones from the chosen party apply directly; the other device's are ignored.
        assert_eq!(
            call.receive("m.call.candidates", &bob, &candidates("BOBPHONE", "p2")),
            [Output::AddIceCandidate(json!({"candidate": "p2"}))]
        );
        assert!(
            call.receive("m.call.candidates", &bob, &candidates("BOBLAPTOP", "l2"))
                .is_empty()
        );
    }

    fn connected_caller() -> Call {
        let (mut call, _) = placed();
        call.receive("m.call.answer", &user("@bob:hs"), &json!({"call_id": "c1", "party_id": "BOBPHONE", "version": "1", "answer": {"sdp": "a"}}));
        call.connected();
        call
    }

    fn negotiate(kind: &str, sdp: &str) -> Value {
        json!({"call_id": "c1", "party_id": "BOBPHONE", "version": "1", "lifetime": 60000,
               "description": {"type": kind, "sdp": sdp}, "sdp_stream_metadata": {"s1": {"purpose": "m.usermedia", "video_muted": true}}})
    }

    #[test]
    fn renegotiation_both_ways_and_collisions() {
        let bob = user("@bob:hs");
        // Voice to video from our side: offer out, answer in.
        let mut call = connected_caller();
        let out = call.negotiate_offer("offer2".into(), None);
        let [
            Output::Send {
                event_type: "m.call.negotiate",
                content,
            },
        ] = out.as_slice()
        else {
            panic!("{out:?}")
        };
        assert_eq!(content["description"]["type"], "offer");
        assert_eq!(content["lifetime"], 60_000);
        let out = call.receive("m.call.negotiate", &bob, &negotiate("answer", "ans2"));
        assert!(out.contains(&Output::SetRemoteDescription {
            sdp: "ans2".into(),
            kind: "answer"
        }));

        // Their offer: apply and answer.
        let out = call.receive("m.call.negotiate", &bob, &negotiate("offer", "their-offer"));
        assert!(out.contains(&Output::CreateAnswer));
        assert!(out.iter().any(
            |o| matches!(o, Output::RemoteStreams(m) if m.user_media_muted() == (false, true))
        ));
        let out = call.negotiate_answer("our-answer".into(), None);
        let [Output::Send { content, .. }] = out.as_slice() else {
            panic!()
        };
        assert_eq!(content["description"]["type"], "answer");

        // Collision: the caller is impolite and ignores their offer while making its own...
        call.negotiate_offer("mine".into(), None);
        let out = call.receive("m.call.negotiate", &bob, &negotiate("offer", "theirs"));
        assert!(!out.contains(&Output::CreateAnswer));
        // ... while the callee is polite and answers theirs.
        let mut callee = ringing(json!("1"));
        callee.answer("a".into(), 0);
        callee.negotiate_offer("mine".into(), None);
        let out = callee.receive("m.call.negotiate", &user("@alice:hs"),
            &json!({"call_id": "c1", "party_id": "ALICEDEV", "version": "1", "lifetime": 60000, "description": {"type": "offer", "sdp": "x"}}));
        assert!(out.contains(&Output::CreateAnswer));
    }

    #[test]
    fn offers_never_overlap_and_changes_made_meanwhile_are_offered_after() {
        let bob = user("@bob:hs");
        // The camera goes on while our hold offer awaits its answer: no second offer now,
        // one right after the answer.
        let mut call = connected_caller();
        assert!(call.may_offer());
        call.negotiate_offer("hold".into(), None);
        assert!(!call.may_offer());
        call.offer_later();
        let out = call.receive("m.call.negotiate", &bob, &negotiate("answer", "a1"));
        assert_eq!(
            out.last(),
            Some(&Output::Renegotiate),
            "after the answer is applied: {out:?}"
        );
        let setting = out
            .iter()
            .position(|o| matches!(o, Output::SetRemoteDescription { .. }));
        assert!(setting < out.iter().position(|o| *o == Output::Renegotiate));
        assert!(call.may_offer());
        call.negotiate_offer("camera".into(), None);
        let out = call.receive("m.call.negotiate", &bob, &negotiate("answer", "a2"));
        assert!(!out.contains(&Output::Renegotiate), "nothing more to offer");

        // The polite side's offer is rolled back in a collision: offered again after its
        // answer to theirs.
        let mut callee = ringing(json!("1"));
        callee.answer("a".into(), 0);
        callee.negotiate_offer("camera".into(), None);
        let theirs = json!({"call_id": "c1", "party_id": "ALICEDEV", "version": "1", "lifetime": 60000,
            "description": {"type": "offer", "sdp": "x"}});
        let out = callee.receive("m.call.negotiate", &user("@alice:hs"), &theirs);
        assert!(out.contains(&Output::CreateAnswer));
        let out = callee.negotiate_answer("ours".into(), None);
        assert_eq!(out.last(), Some(&Output::Renegotiate));
        assert!(callee.may_offer());
        // Without a collision an answer brings nothing more.
        let out = callee.receive("m.call.negotiate", &user("@alice:hs"), &theirs);
        assert!(out.contains(&Output::CreateAnswer));
        assert!(
            !callee
                .negotiate_answer("ours".into(), None)
                .contains(&Output::Renegotiate)
        );
    }

    #[test]
    fn mute_state_travels_and_v0_peers_never_renegotiate() {
        let mut call = connected_caller();
        let out = call.streams_changed(SdpStreamMetadata::user_media("s1".into(), true, false));
        let [
            Output::Send {
                event_type: "m.call.sdp_stream_metadata_changed",
                ..
            },
        ] = out.as_slice()
        else {
            panic!("{out:?}")
        };
        let out = call.receive("m.call.sdp_stream_metadata_changed", &user("@bob:hs"),
            &json!({"call_id": "c1", "party_id": "BOBPHONE", "version": "1", "sdp_stream_metadata": {"s9": {"purpose": "m.screenshare"}}}));
        assert!(matches!(out.as_slice(), [Output::RemoteStreams(_)]));

        let mut v0 = ringing(json!(0));
        v0.answer("a".into(), 0);
        assert!(v0.negotiate_offer("o".into(), None).is_empty());
        assert!(v0.streams_changed(SdpStreamMetadata::default()).is_empty());
    }

    #[test]
    fn ice_recovery_and_failure() {
        // Never connected: failure ends the call with ice_failed.
        let (mut call, _) = placed();
        call.receive(
            "m.call.answer",
            &user("@bob:hs"),
            &json!({"call_id": "c1", "party_id": "B", "version": "1", "answer": {"sdp": "a"}}),
        );
        assert_eq!(sent(&call.ice_state("failed", 5_000)), ["m.call.hangup"]);
        assert_eq!(
            call.state(),
            &State::Ended(EndReason::Hangup("ice_failed".into()))
        );

        // Connected, then lost: restart after 2 s, recover, or give up after 30 s.
        let mut call = connected_caller();
        assert!(call.ice_state("disconnected", 10_000).is_empty());
        assert!(call.tick(11_000).is_empty());
        assert_eq!(call.tick(12_000), [Output::RestartIce]);
        call.ice_state("connected", 13_000);
        assert!(call.tick(50_000).is_empty(), "recovered: no hangup");

        assert_eq!(call.ice_state("failed", 60_000), [Output::RestartIce]);
        let out = call.tick(90_000);
        let [Output::Send { content, .. }, ..] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(content["reason"], "ice_timeout");
    }

    #[test]
    fn the_streams_of_both_sides_travel_with_the_descriptions() {
        // Theirs: in the invite, and in the answer we choose.
        let invite: CallInvite = serde_json::from_value(json!({"call_id": "c1", "party_id": "A",
            "version": "1", "lifetime": 60000, "offer": {"type": "offer", "sdp": "v=0\r\nm=audio 9 RTP/AVP 0\r\nm=video 9 RTP/AVP 96\r\n"},
            "sdp_stream_metadata": {"s": {"purpose": "m.usermedia", "video_muted": true}}}))
        .unwrap();
        let (mut call, out) = Call::incoming(
            &invite,
            &user("@alice:hs"),
            "B".into(),
            user("@bob:hs"),
            Duration::from_secs(50),
            0,
        );
        assert!(call.offered_video());
        assert!(out.iter().any(
            |o| matches!(o, Output::RemoteStreams(m) if m.user_media_muted() == (false, true))
        ));
        // Ours: set before answering, sent with the answer and later negotiations.
        call.set_local_streams(SdpStreamMetadata::user_media("mine".into(), true, false));
        let out = call.answer("a".into(), 0);
        let Some(Output::Send { content, .. }) =
            out.iter().find(|o| matches!(o, Output::Send { .. }))
        else {
            panic!("{out:?}")
        };
        assert_eq!(content["sdp_stream_metadata"]["mine"]["audio_muted"], true);
        let out = call.negotiate_answer("a2".into(), None);
        let [Output::Send { content, .. }] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(
            content["sdp_stream_metadata"]["mine"]["purpose"],
            "m.usermedia"
        );

        let (mut caller, _) = placed();
        let answer = json!({"call_id": "c1", "party_id": "BOBPHONE", "version": "1", "answer": {"sdp": "a"},
            "sdp_stream_metadata": {"t": {"purpose": "m.usermedia", "audio_muted": true}}});
        let out = caller.receive("m.call.answer", &user("@bob:hs"), &answer);
        assert!(
            out.iter()
                .any(|o| matches!(o, Output::RemoteStreams(m) if m.is_user_media("t")))
        );
    }

    #[test]
    fn a_voice_offer_answered_with_the_camera_needs_a_video_offer() {
        let mut call = ringing(json!("1"));
        assert!(!call.offered_video());
        assert!(!call.needs_video_offer(true), "not before answering");
        call.answer("a".into(), 0);
        assert!(call.needs_video_offer(true));
        assert!(!call.needs_video_offer(false));
        let mut v0 = ringing(json!(0));
        v0.answer("a".into(), 0);
        assert!(!v0.needs_video_offer(true), "v0 peers cannot renegotiate");
    }

    #[test]
    fn glare_is_the_person_we_call_calling_us() {
        let (ours, _) = placed();
        let invite = |call_id: &str| -> CallInvite {
            serde_json::from_value(
                json!({"call_id": call_id, "party_id": "BOBPHONE", "version": "1",
                "lifetime": 90000, "invitee": "@alice:hs", "offer": {"type": "offer", "sdp": "o"}}),
            )
            .unwrap()
        };
        assert!(ours.is_glare(&invite("c2"), &user("@bob:hs")));
        assert!(
            !ours.is_glare(&invite("c2"), &user("@carol:hs")),
            "someone else"
        );
        assert!(
            !ours.is_glare(&invite("c1"), &user("@bob:hs")),
            "our own call"
        );
        let mut answered = connected_caller();
        answered.connected();
        assert!(
            !answered.is_glare(&invite("c2"), &user("@bob:hs")),
            "already answered"
        );
    }

    #[test]
    fn glare_leaves_exactly_one_call() {
        let invite = |call_id: &str, invitee: Option<&str>| -> CallInvite {
            serde_json::from_value(json!({"call_id": call_id, "party_id": "BOBPHONE", "version": "1", "lifetime": 90000,
                "invitee": invitee, "offer": {"type": "offer", "sdp": "o"}})).unwrap()
        };
        let bob = user("@bob:hs");
        // Their call_id is smaller: ours is replaced and theirs answered without ringing.
        let (mut ours, _) = Call::place(
            "2000".into(),
            "ALICEDEV".into(),
            user("@alice:hs"),
            bob.clone(),
            "o".into(),
            None,
            0,
        );
        let outcome = handle_glare(
            &mut ours,
            &invite("1000", Some("@alice:hs")),
            &bob,
            "ALICEDEV".into(),
            Duration::from_secs(80),
            10,
        );
        let GlareOutcome::Replaced {
            ours: out,
            theirs,
            theirs_outputs,
        } = outcome
        else {
            panic!("{outcome:?}")
        };
        let Output::Send { content, .. } = &out[0] else {
            panic!()
        };
        assert_eq!(content["reason"], "replaced");
        assert!(matches!(ours.state(), State::Ended(_)));
        assert_eq!(theirs.state(), &State::Ringing);
        assert!(
            theirs_outputs.contains(&Output::AutoAnswer)
                && !theirs_outputs.contains(&Output::Ring(true))
        );

        // Ours is smaller: ours survives, theirs is ignored.
        let (mut ours, _) = Call::place(
            "0500".into(),
            "ALICEDEV".into(),
            user("@alice:hs"),
            bob.clone(),
            "o".into(),
            None,
            0,
        );
        let outcome = handle_glare(
            &mut ours,
            &invite("1000", Some("@alice:hs")),
            &bob,
            "ALICEDEV".into(),
            Duration::from_secs(80),
            10,
        );
        assert!(matches!(outcome, GlareOutcome::KeepOurs));
        assert_eq!(ours.state(), &State::Inviting);

        // From Element (no invitee) theirs always wins, or nobody would answer.
        let outcome = handle_glare(
            &mut ours,
            &invite("9999", None),
            &bob,
            "ALICEDEV".into(),
            Duration::from_secs(80),
            10,
        );
        assert!(matches!(outcome, GlareOutcome::Replaced { .. }));
    }
}
