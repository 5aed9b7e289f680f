//! Placing a call and answering one: the microphone (and camera), the offer or answer,
//! and a moment for the first candidates to travel inside it.

use ruma::OwnedRoomId;
use weft_client::call::{self, Call, State};

use super::{
    manager::{Inner, Manager, Phase, SETTLE_MS, Screen, metadata, now_ms},
    outputs::video_after_answer,
};
use crate::platform::{random, storage, webrtc::LocalMedia};

impl Manager {
    pub(super) async fn place(&self, inner: &mut Inner, room_id: OwnedRoomId, video: bool) {
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
        self.view
            .set(Screen::new(room_id.clone(), name, Phase::Outgoing, video));
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
        let call_id = format!("{now}{}", random::letters(16));
        let (placeholder, _) = Call::place(
            call_id.clone(),
            party.clone(),
            own.clone(),
            invitee.clone(),
            String::new(),
            None,
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
        let streams = Some(metadata(&media));
        let (call, outputs) = Call::place(call_id, party, own, invitee, sdp, streams, now_ms());
        active.call = call;
        self.view.show_local(Some(media.stream()));
        active.media = Some(media);
        inner.active = Some(active);
        self.run(inner, outputs).await;
    }

    pub(super) async fn accept_call(&self, inner: &mut Inner, video: bool, now: u64) {
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
        active.call.set_local_streams(metadata(&media));
        self.view.show_local(Some(media.stream()));
        active.media = Some(media);
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
}
