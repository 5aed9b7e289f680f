//! `sdp_stream_metadata`: what each stream of a call is (camera and microphone, or a
//! screen share) and whether its audio or video is muted. Invites, answers and
//! negotiations carry it; `m.call.sdp_stream_metadata_changed` updates it.

use std::collections::BTreeMap;

use ruma::events::call::{StreamMetadata, StreamPurpose};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The metadata of a call's streams, by stream ID (the `msid` in the SDP).
#[derive(Clone, Debug, Default, Serialize)]
#[serde(transparent)]
pub struct SdpStreamMetadata(BTreeMap<String, StreamMetadata>);

impl SdpStreamMetadata {
    /// One camera-and-microphone stream (`m.usermedia`), as ours always is.
    pub fn user_media(stream_id: String, audio_muted: bool, video_muted: bool) -> Self {
        let mut stream = StreamMetadata::new(StreamPurpose::UserMedia);
        stream.audio_muted = audio_muted;
        stream.video_muted = video_muted;
        Self(BTreeMap::from([(stream_id, stream)]))
    }

    /// The metadata an event's content carries, under its stable name or the MSC3077 one
    /// that older Element versions send.
    pub fn of_content(content: &Value) -> Option<Self> {
        let metadata = content
            .get("sdp_stream_metadata")
            .or_else(|| content.get("org.matrix.msc3077.sdp_stream_metadata"))?;
        Self::deserialize(metadata).ok()
    }

    /// Whether stream `id` is the camera and microphone (not a screen share).
    pub fn is_user_media(&self, id: &str) -> bool {
        self.0
            .get(id)
            .is_some_and(|s| s.purpose == StreamPurpose::UserMedia)
    }

    /// The camera-and-microphone stream's mute state: (audio muted, video muted).
    pub fn user_media_muted(&self) -> (bool, bool) {
        self.0
            .values()
            .find(|s| s.purpose == StreamPurpose::UserMedia)
            .map_or((false, false), |s| (s.audio_muted, s.video_muted))
    }

    /// As JSON, for an event's content.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// By content (ruma's `StreamMetadata` has no `PartialEq`).
impl PartialEq for SdpStreamMetadata {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self.0.iter().zip(&other.0).all(|((a_id, a), (b_id, b))| {
                a_id == b_id
                    && a.purpose == b.purpose
                    && a.audio_muted == b.audio_muted
                    && a.video_muted == b.video_muted
            })
    }
}

impl Eq for SdpStreamMetadata {}

/// Read leniently: one stream described in a way we do not understand (no purpose, say)
/// is left out rather than losing what the others say.
impl<'de> Deserialize<'de> for SdpStreamMetadata {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let streams = BTreeMap::<String, Value>::deserialize(deserializer)?;
        Ok(Self(
            streams
                .into_iter()
                .filter_map(|(id, stream)| Some((id, serde_json::from_value(stream).ok()?)))
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ours_is_one_user_media_stream() {
        let ours = SdpStreamMetadata::user_media("s1".into(), true, false);
        assert_eq!(
            ours.to_json(),
            json!({"s1": {"purpose": "m.usermedia", "audio_muted": true}})
        );
        assert!(ours.is_user_media("s1"));
        assert!(!ours.is_user_media("s2"));
        assert_eq!(ours.user_media_muted(), (true, false));
    }

    #[test]
    fn theirs_is_read_from_either_name_leniently() {
        let content = json!({"sdp_stream_metadata": {
            "cam": {"purpose": "m.usermedia", "video_muted": true},
            "screen": {"purpose": "m.screenshare"},
            "odd": {"audio_muted": true},
        }});
        let theirs = SdpStreamMetadata::of_content(&content).unwrap();
        assert!(theirs.is_user_media("cam"));
        assert!(!theirs.is_user_media("screen"));
        assert!(!theirs.is_user_media("odd"), "no purpose: left out");
        assert_eq!(theirs.user_media_muted(), (false, true));

        let old = json!({"org.matrix.msc3077.sdp_stream_metadata": {"a": {"purpose": "m.usermedia", "audio_muted": true}}});
        assert_eq!(
            SdpStreamMetadata::of_content(&old)
                .unwrap()
                .user_media_muted(),
            (true, false)
        );
        assert!(SdpStreamMetadata::of_content(&json!({})).is_none());
        // A screen share alone mutes nothing.
        let screen = json!({"sdp_stream_metadata": {"s": {"purpose": "m.screenshare", "audio_muted": true}}});
        assert_eq!(
            SdpStreamMetadata::of_content(&screen)
                .unwrap()
                .user_media_muted(),
            (false, false)
        );
    }
}
