//! Session descriptions, as far as the call rules read them: which media an offer or an
//! answer carries. Everything else in the SDP is WebRTC's business and passes through.

use serde::{Deserialize, Serialize};

/// An SDP text (RFC 8866).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Sdp(String);

impl Sdp {
    pub fn new(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a video stream is offered or accepted: an `m=video` section whose port is
    /// not 0 (port 0 rejects or disables a section, unless it is `a=bundle-only`, which
    /// shares another section's transport).
    pub fn has_video(&self) -> bool {
        // One pass over the lines, nothing collected: this runs in the first load (the
        // timeline's call lines), where every kilobyte counts.
        let mut rejected_video = false;
        for line in self.0.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if let Some(media) = line.strip_prefix("m=") {
                let mut fields = media.split(' ');
                let video = fields.next() == Some("video");
                // "9" or "9/2" (a port and a count).
                let port = fields.next().unwrap_or_default();
                let port = port.split('/').next().unwrap_or_default();
                if video && !port.is_empty() && port != "0" {
                    return true;
                }
                rejected_video = video;
            } else if rejected_video && line == "a=bundle-only" {
                return true;
            }
        }
        false
    }
}

/// An offer or answer as call events carry it (`{"type": "offer", "sdp": "v=0…"}`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct SessionDescription {
    #[serde(rename = "type", default)]
    pub kind: String,
    pub sdp: Sdp,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdp(text: &str) -> Sdp {
        Sdp::new(text.replace('\n', "\r\n"))
    }

    #[test]
    fn video_is_an_active_video_section() {
        let voice =
            sdp("v=0\no=- 1 2 IN IP4 127.0.0.1\nm=audio 9 UDP/TLS/RTP/SAVPF 111\na=mid:0\n");
        assert!(!voice.has_video());
        let video = sdp("v=0\nm=audio 9 UDP/TLS/RTP/SAVPF 111\nm=video 9 UDP/TLS/RTP/SAVPF 96\n");
        assert!(video.has_video());
        // Rejected (port 0), unless bundled into another section.
        let rejected = sdp("v=0\nm=audio 9 RTP/AVP 0\nm=video 0 UDP/TLS/RTP/SAVPF 96\na=mid:1\n");
        assert!(!rejected.has_video());
        let bundled =
            sdp("v=0\nm=audio 9 RTP/AVP 0\nm=video 0 UDP/TLS/RTP/SAVPF 96\na=bundle-only\n");
        assert!(bundled.has_video());
        // A port with a count; plain \n line ends.
        assert!(Sdp::new("v=0\nm=video 49170/2 RTP/AVP 31\n".into()).has_video());
        // Words are not sections: "m=video" inside an attribute is not a video stream.
        let mentions = sdp("v=0\na=x-note:m=video 9\nm=audio 9 RTP/AVP 0\n");
        assert!(!mentions.has_video());
        assert!(!Sdp::default().has_video());
    }

    #[test]
    fn descriptions_read_from_json() {
        let d: SessionDescription =
            serde_json::from_str(r#"{"type":"offer","sdp":"v=0\r\nm=video 9 RTP/AVP 96\r\n"}"#)
                .unwrap();
        assert_eq!(d.kind, "offer");
        assert!(d.sdp.has_video());
    }
}
