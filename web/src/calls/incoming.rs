//! Call events from sync: an invite rings (or, crossing our own call, settles glare);
//! everything else goes to the call it belongs to.

use std::time::Duration;

use serde_json::Value;
use weft_client::call::{self, Call, CallInvite, CallSignal, GlareOutcome, Output};

use super::manager::{Inner, Manager, Phase, metadata, now_ms};
use crate::platform::panic::warn;

impl Manager {
    /// One call event from sync.
    pub(super) async fn on_signal(&self, inner: &mut Inner, signal: CallSignal) {
        let content = match serde_json::from_str::<Value>(signal.content.get()) {
            Ok(content) => content,
            Err(error) => {
                return warn(&format!(
                    "Weft calls: unreadable {}: {error}",
                    signal.event_type
                ));
            }
        };
        if signal.event_type == "m.call.invite" {
            return self.on_invite(inner, signal, content).await;
        }
        let Some(active) = inner.active.as_mut() else {
            return;
        };
        if active.room_id != signal.room_id {
            return;
        }
        let outputs = active
            .call
            .receive(&signal.event_type, &signal.sender, &content);
        self.run(inner, outputs).await;
    }

    async fn on_invite(&self, inner: &mut Inner, signal: CallSignal, content: Value) {
        let invite = match serde_json::from_value::<CallInvite>(content) {
            Ok(invite) => invite,
            Err(error) => return warn(&format!("Weft calls: unreadable invite: {error}")),
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
            // One call at a time (the caller sees "No answer" when theirs times out),
            // unless the person we call calls us at the same time.
            if active.room_id != signal.room_id || !active.call.is_glare(&invite, &signal.sender) {
                return;
            }
            let outcome =
                call::handle_glare(&mut active.call, &invite, &signal.sender, party, left, now);
            if let GlareOutcome::Replaced {
                ours,
                theirs,
                theirs_outputs,
            } = outcome
            {
                // Our call gives way; its camera and microphone answer theirs.
                let media = active.media.take();
                let sends: Vec<Output> = ours
                    .into_iter()
                    .filter(|o| matches!(o, Output::Send { .. }))
                    .collect();
                self.run(inner, sends).await;
                inner.active = None;
                if let Some(mut next) = self.new_active(inner, signal.room_id, *theirs).await {
                    if let Some(media) = &media {
                        next.peer.add_media(media);
                        next.call.set_local_streams(metadata(media));
                    }
                    next.media = media;
                    inner.active = Some(next);
                    self.run(inner, theirs_outputs).await;
                }
            }
            return;
        }
        let video = invite.offer.sdp.has_video();
        let (call, outputs) = Call::incoming(&invite, &signal.sender, party, own, left, now);
        let Some(active) = self.new_active(inner, signal.room_id.clone(), call).await else {
            return;
        };
        inner.active = Some(active);
        self.show(inner, Phase::Incoming { video }, false);
        self.run(inner, outputs).await;
    }
}
