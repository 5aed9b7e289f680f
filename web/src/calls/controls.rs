//! The call's controls: mute, the camera (off, on, or added to a voice call), hold and
//! resume, and switching the microphone or camera.

use super::{
    manager::{Inner, Manager, metadata},
    outputs::offer_media,
};
use crate::platform::{panic::warn, storage};

impl Manager {
    pub(super) async fn toggle_mute_now(&self, inner: &mut Inner) {
        if let Some(active) = inner.active.as_mut()
            && let Some(media) = &active.media
        {
            media.set_enabled("audio", !media.is_enabled("audio"));
            let outputs = active.call.streams_changed(metadata(media));
            self.run(inner, outputs).await;
        }
    }

    pub(super) async fn camera_on_off(&self, inner: &mut Inner) {
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
                self.view.streams_changed();
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
            Err(error) => return warn(&format!("Weft calls: no camera: {error}")),
        };
        active.peer.add_track(&track, media);
        self.view.streams_changed();
        let outputs = offer_media(active, false).await;
        self.run(inner, outputs).await;
    }

    pub(super) async fn hold_or_resume(&self, inner: &mut Inner) {
        let Some(active) = inner.active.as_mut() else {
            return;
        };
        let Some(media) = &active.media else { return };
        if !active.call.can_renegotiate() {
            return;
        }
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
        let outputs = offer_media(active, false).await;
        self.run(inner, outputs).await;
    }

    /// Uses microphone (`"audio"`) or camera (`"video"`) `id` in this call.
    pub(super) async fn use_device(&self, inner: &mut Inner, kind: &'static str, id: &str) {
        if let Some(active) = inner.active.as_mut()
            && let Some(media) = &active.media
            && (kind == "audio" || media.has_video())
            && let Ok(track) = media.switch(kind, Some(id)).await
        {
            active.peer.replace_track(&track).await;
            self.view.streams_changed();
            let outputs = active.call.streams_changed(metadata(media));
            self.run(inner, outputs).await;
        }
    }
}
