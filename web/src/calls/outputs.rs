//! Carrying out what the call state machine answers: events to the outbox, descriptions
//! and candidates to the peer connection, ringing, and what the screen shows of the other
//! side.

use std::collections::VecDeque;

use weft_client::call::{Output, SdpStreamMetadata};

use super::manager::{Active, Inner, Manager, Phase, SETTLE_MS, metadata, now_ms};
use crate::platform::{panic::warn, sound::Looping, webrtc::Stream};

impl Manager {
    /// Carries out the machine's outputs, and those they lead to, in order.
    pub(super) async fn run(&self, inner: &mut Inner, outputs: Vec<Output>) {
        let mut pending: VecDeque<Output> = outputs.into();
        while let Some(output) = pending.pop_front() {
            let Some(active) = inner.active.as_mut() else {
                return;
            };
            match output {
                Output::Send {
                    event_type,
                    content,
                } => self.send(active.number, active.room_id.clone(), event_type, content),
                Output::SetRemoteDescription { sdp, kind } => {
                    if let Err(error) = active.peer.set_remote(kind, &sdp).await {
                        warn(&format!("Weft calls: the {kind} was refused: {error}"));
                        pending.extend(active.call.hang_up("unknown_error"));
                    }
                }
                Output::Ring(on) => {
                    active.ring = if on { Looping::start("ring.wav") } else { None }
                }
                Output::CreateAnswer => {
                    match active.peer.answer().await {
                        Ok(answer) => {
                            let meta = active.media.as_ref().map(metadata);
                            pending.extend(active.call.negotiate_answer(answer, meta));
                        }
                        Err(error) => warn(&format!("Weft calls: no answer made: {error}")),
                    }
                    let held = active.peer.held();
                    self.view.update(|s| s.remote_hold = held);
                }
                Output::RemoteStreams(meta) => {
                    active.remote_meta = Some(meta);
                    self.show_remote(active);
                }
                Output::AutoAnswer => {
                    // Glare: answer at once with the media our own call had.
                    self.view
                        .show_local(active.media.as_ref().map(|m| m.stream()));
                    match active.peer.answer().await {
                        Ok(answer) => {
                            active.peer.settle(SETTLE_MS).await;
                            let sdp = active.peer.local_sdp().unwrap_or(answer);
                            pending.extend(active.call.answer(sdp, now_ms()));
                            pending.extend(video_after_answer(active).await);
                        }
                        Err(_) => pending.extend(active.call.hang_up("unknown_error")),
                    }
                    let camera = active.media.as_ref().is_some_and(|m| m.has_video());
                    self.show(
                        inner,
                        Phase::Connecting {
                            reconnecting: false,
                        },
                        camera,
                    );
                }
                Output::RestartIce => pending.extend(offer_media(active, true).await),
                Output::Renegotiate => pending.extend(offer_media(active, false).await),
                Output::AddIceCandidate(candidate) => active.peer.add_candidate(&candidate).await,
                Output::Close => {}
            }
        }
    }

    /// Shows the other side's camera-and-microphone stream: the one its metadata calls
    /// `m.usermedia` (a screen share arrives as a second stream and must not replace it),
    /// or the first one from peers that send no metadata; and its mute state.
    pub(super) fn show_remote(&self, active: &Active) {
        let usermedia = match &active.remote_meta {
            Some(meta) => active
                .remote_streams
                .iter()
                .find(|s| meta.is_user_media(&s.id())),
            None => active.remote_streams.first(),
        };
        let (audio_muted, video_muted) = active
            .remote_meta
            .as_ref()
            .map(SdpStreamMetadata::user_media_muted)
            .unwrap_or_default();
        let video = usermedia.is_some_and(Stream::has_video);
        self.view.show_remote(usermedia);
        self.view.update(|s| {
            s.remote_video = video;
            s.remote_muted = audio_muted;
            s.remote_camera_off = video_muted;
        });
    }
}

/// Answering a voice offer with the camera on: the answer can only carry audio, so the
/// video goes in a renegotiation right after it.
pub(super) async fn video_after_answer(active: &mut Active) -> Vec<Output> {
    let sending_video = active.media.as_ref().is_some_and(|m| m.has_video());
    if !active.call.needs_video_offer(sending_video) {
        return Vec::new();
    }
    offer_media(active, false).await
}

/// Offers our media as it is now (`restart`: with new ICE credentials), unless an offer is
/// already under way: offers must not overlap (see `Call::may_offer`), so then the machine
/// asks for this one again once that negotiation is over.
pub(super) async fn offer_media(active: &mut Active, restart: bool) -> Vec<Output> {
    if !active.call.may_offer() || !active.peer.is_stable() {
        active.call.offer_later();
        return Vec::new();
    }
    let meta = active.media.as_ref().map(metadata);
    match active.peer.offer(restart).await {
        Ok(offer) => active.call.negotiate_offer(offer, meta),
        Err(error) => {
            warn(&format!("Weft calls: no offer made: {error}"));
            Vec::new()
        }
    }
}
