//! WebRTC for 1:1 calls: the camera and microphone, one `RTCPeerConnection`, and the
//! reports the call state machine needs (ICE candidates, ICE state, remote tracks).
//!
//! Everything the browser calls back into is a closure owned by [`Peer`], released (and the
//! connection closed, the tracks stopped) when it is dropped.

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Event, HtmlMediaElement, MediaStream, MediaStreamConstraints, MediaStreamTrack,
    RtcConfiguration, RtcIceCandidateInit, RtcIceServer, RtcIceTransportPolicy, RtcPeerConnection,
    RtcPeerConnectionIceEvent, RtcSdpType, RtcSessionDescriptionInit, RtcTrackEvent,
};
use weft_client::call::turn::TurnServers;

use super::panic::warn;

/// What the connection reports.
pub enum PeerEvent {
    /// A local ICE candidate as `m.call.candidates` carries it.
    Candidate(serde_json::Value),
    /// Candidate gathering finished.
    GatheringComplete,
    /// The ICE connection state changed ("checking", "connected", "failed", …).
    IceState(String),
    /// The other side's media arrived.
    RemoteStream(Stream),
}

/// A media stream: ours (the preview) or the other side's.
#[derive(Clone, Debug, PartialEq)]
pub struct Stream(MediaStream);

impl Stream {
    /// The stream's ID: the `msid` in the SDP, which `sdp_stream_metadata` is keyed by.
    pub fn id(&self) -> String {
        self.0.id()
    }

    pub fn has_video(&self) -> bool {
        self.0.get_video_tracks().length() > 0
    }
}

/// Logs a failure the call survives (a constraint not set, a candidate refused).
fn log_failure(what: &str, result: Result<impl Sized, JsValue>) {
    if let Err(error) = result {
        warn(&format!("Weft calls: {what} failed: {error:?}"));
    }
}

/// The camera and microphone, stopped when dropped.
pub struct LocalMedia(MediaStream);

/// A camera or microphone the browser offers (`MediaDeviceInfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    pub label: String,
}

/// The browser's cameras (`"videoinput"`) or microphones (`"audioinput"`). Labels are
/// empty until the page was allowed to use one, so unnamed ones get a number.
pub async fn devices(kind: &str) -> Vec<Device> {
    let Some(devices) = web_sys::window().and_then(|w| w.navigator().media_devices().ok()) else {
        return Vec::new();
    };
    let Ok(promise) = devices.enumerate_devices() else {
        return Vec::new();
    };
    let Ok(list) = JsFuture::from(promise).await else {
        return Vec::new();
    };
    let list: Array = list.unchecked_into();
    list.iter()
        .filter(|d| string_field(d, "kind") == kind)
        .enumerate()
        .map(|(n, d)| {
            let label = string_field(&d, "label");
            Device {
                id: string_field(&d, "deviceId"),
                label: if label.is_empty() {
                    format!("Device {}", n + 1)
                } else {
                    label
                },
            }
        })
        .collect()
}

/// `true`, or `{deviceId: {ideal: id}}` for a chosen device (ideal: a device that has
/// gone away falls back to another rather than failing the call).
fn constraint(wanted: bool, device: Option<&str>) -> JsValue {
    match (wanted, device) {
        (false, _) => JsValue::FALSE,
        (true, None) => JsValue::TRUE,
        (true, Some(id)) => {
            let ideal = Object::new();
            log_failure(
                "choosing the device",
                Reflect::set(&ideal, &"ideal".into(), &id.into()),
            );
            let constraint = Object::new();
            log_failure(
                "choosing the device",
                Reflect::set(&constraint, &"deviceId".into(), &ideal),
            );
            constraint.into()
        }
    }
}

async fn user_media(
    audio: bool,
    video: bool,
    devices: [Option<&str>; 2],
) -> Result<MediaStream, String> {
    let media_devices = web_sys::window()
        .ok_or("no window")?
        .navigator()
        .media_devices()
        .map_err(|_| "This browser cannot use a camera or microphone")?;
    let constraints = MediaStreamConstraints::new();
    constraints.set_audio(&constraint(audio, devices[0]));
    constraints.set_video(&constraint(video, devices[1]));
    let promise = media_devices
        .get_user_media_with_constraints(&constraints)
        .map_err(|_| "The browser refused the camera or microphone")?;
    let stream = JsFuture::from(promise).await.map_err(|_| {
        if video {
            "Allow the camera and microphone to make video calls"
        } else {
            "Allow the microphone to make calls"
        }
    })?;
    Ok(stream.unchecked_into())
}

impl LocalMedia {
    /// Asks for the microphone, and the camera when `video`: the chosen ones (device IDs
    /// of [`devices`]), or the browser's default.
    pub async fn open(
        video: bool,
        microphone: Option<&str>,
        camera: Option<&str>,
    ) -> Result<Self, String> {
        user_media(true, video, [microphone, camera])
            .await
            .map(Self)
    }

    /// Adds the camera to a voice call's media; returns the new track.
    pub async fn add_camera(&self, camera: Option<&str>) -> Result<MediaStreamTrack, String> {
        let camera = user_media(false, true, [None, camera]).await?;
        let track = camera
            .get_video_tracks()
            .get(0)
            .dyn_into::<MediaStreamTrack>()
            .map_err(|_| "No camera found")?;
        self.0.add_track(&track);
        Ok(track)
    }

    /// Swaps the microphone (`"audio"`) or camera (`"video"`) for the device `id`;
    /// returns the new track (for [`Peer::replace_track`]); the old one stops.
    pub async fn switch(&self, kind: &str, id: Option<&str>) -> Result<MediaStreamTrack, String> {
        let audio = kind == "audio";
        let stream =
            user_media(audio, !audio, [id.filter(|_| audio), id.filter(|_| !audio)]).await?;
        let track = stream
            .get_tracks()
            .get(0)
            .dyn_into::<MediaStreamTrack>()
            .map_err(|_| "That device gave no media")?;
        for old in self.tracks(kind) {
            // A camera turned off (stopped) comes back on.
            track.set_enabled(old.enabled() || !is_live(&old));
            old.stop();
            self.0.remove_track(&old);
        }
        self.0.add_track(&track);
        Ok(track)
    }

    /// The stream, to show as the local preview.
    pub fn stream(&self) -> Stream {
        Stream(self.0.clone())
    }

    /// The stream's ID, which `sdp_stream_metadata` is keyed by.
    pub fn id(&self) -> String {
        self.0.id()
    }

    fn tracks(&self, kind: &str) -> Vec<MediaStreamTrack> {
        self.0
            .get_tracks()
            .iter()
            .filter_map(|t| t.dyn_into::<MediaStreamTrack>().ok())
            .filter(|t| t.kind() == kind)
            .collect()
    }

    /// Mutes or unmutes the microphone (`"audio"`) or turns the camera (`"video"`) off/on.
    pub fn set_enabled(&self, kind: &str, enabled: bool) {
        for track in self.tracks(kind) {
            track.set_enabled(enabled);
        }
    }

    pub fn has_video(&self) -> bool {
        !self.tracks("video").is_empty()
    }

    /// Whether the microphone (`"audio"`) or camera (`"video"`) is on.
    pub fn is_enabled(&self, kind: &str) -> bool {
        self.tracks(kind).iter().any(|t| t.enabled() && is_live(t))
    }

    /// Turns the camera off for real (its light goes out): the track stops, and the
    /// peer connection sends nothing for it. [`Self::switch`] turns it on again.
    pub fn stop_camera(&self) {
        for track in self.tracks("video") {
            track.set_enabled(false);
            track.stop();
        }
    }
}

fn is_live(track: &MediaStreamTrack) -> bool {
    string_field(track, "readyState") == "live"
}

impl Drop for LocalMedia {
    fn drop(&mut self) {
        for track in self
            .0
            .get_tracks()
            .iter()
            .filter_map(|t| t.dyn_into::<MediaStreamTrack>().ok())
        {
            track.stop();
        }
    }
}

/// Shows `stream` in a media element, or nothing.
pub fn show(element: &web_sys::Element, stream: Option<&Stream>) {
    if let Some(media) = element.dyn_ref::<HtmlMediaElement>() {
        media.set_src_object(stream.map(|s| &s.0));
    }
}

/// One peer connection.
pub struct Peer {
    pc: RtcPeerConnection,
    _on_candidate: Closure<dyn FnMut(RtcPeerConnectionIceEvent)>,
    _on_ice_state: Closure<dyn FnMut(Event)>,
    _on_gathering: Closure<dyn FnMut(Event)>,
    _on_track: Closure<dyn FnMut(RtcTrackEvent)>,
}

fn string_field(object: &JsValue, name: &str) -> String {
    Reflect::get(object, &JsValue::from_str(name))
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_default()
}

impl Peer {
    /// A connection using `turn` (if any) as ICE servers; with `relay_only`, only relayed
    /// candidates are used (tests, and people who must not reveal their address).
    pub fn new(
        turn: &TurnServers,
        relay_only: bool,
        on_event: impl Fn(PeerEvent) + Clone + 'static,
    ) -> Result<Self, String> {
        let config = RtcConfiguration::new();
        if !turn.is_empty() {
            let server = RtcIceServer::new();
            let urls: Array = turn.uris.iter().map(|u| JsValue::from_str(u)).collect();
            server.set_urls(&urls);
            server.set_username(&turn.username);
            server.set_credential(&turn.password);
            config.set_ice_servers(&Array::of1(&server));
        }
        if relay_only {
            config.set_ice_transport_policy(RtcIceTransportPolicy::Relay);
        }
        let pc = RtcPeerConnection::new_with_configuration(&config)
            .map_err(|_| "The browser cannot make calls")?;
        // Gathering ends with a null candidate, but Chromium does not always send one, so
        // `icegatheringstatechange` reports it too; `done` keeps it to one report per round.
        let done = std::rc::Rc::new(std::cell::Cell::new(false));
        let report = on_event.clone();
        let gathered = done.clone();
        let on_candidate = Closure::<dyn FnMut(RtcPeerConnectionIceEvent)>::new(
            move |event: RtcPeerConnectionIceEvent| match event.candidate() {
                Some(candidate) if !candidate.candidate().is_empty() => {
                    gathered.set(false);
                    report(PeerEvent::Candidate(serde_json::json!({
                        "candidate": candidate.candidate(),
                        "sdpMid": candidate.sdp_mid(),
                        "sdpMLineIndex": candidate.sdp_m_line_index(),
                    })));
                }
                _ if !gathered.replace(true) => report(PeerEvent::GatheringComplete),
                _ => {}
            },
        );
        pc.set_onicecandidate(Some(on_candidate.as_ref().unchecked_ref()));
        let report = on_event.clone();
        let state_pc = pc.clone();
        let on_ice_state = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            report(PeerEvent::IceState(string_field(
                &state_pc,
                "iceConnectionState",
            )));
        });
        pc.set_oniceconnectionstatechange(Some(on_ice_state.as_ref().unchecked_ref()));
        let report = on_event.clone();
        let gathering_pc = pc.clone();
        let on_gathering = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            if string_field(&gathering_pc, "iceGatheringState") == "complete" && !done.replace(true)
            {
                report(PeerEvent::GatheringComplete);
            }
        });
        pc.set_onicegatheringstatechange(Some(on_gathering.as_ref().unchecked_ref()));
        let on_track = Closure::<dyn FnMut(RtcTrackEvent)>::new(move |event: RtcTrackEvent| {
            if let Ok(stream) = event.streams().get(0).dyn_into::<MediaStream>() {
                on_event(PeerEvent::RemoteStream(Stream(stream)));
            }
        });
        pc.set_ontrack(Some(on_track.as_ref().unchecked_ref()));
        Ok(Self {
            pc,
            _on_candidate: on_candidate,
            _on_ice_state: on_ice_state,
            _on_gathering: on_gathering,
            _on_track: on_track,
        })
    }

    /// Sends our camera and microphone.
    pub fn add_media(&self, media: &LocalMedia) {
        for track in media
            .0
            .get_tracks()
            .iter()
            .filter_map(|t| t.dyn_into::<MediaStreamTrack>().ok())
        {
            self.pc.add_track_0(&track, &media.0);
        }
    }

    /// Sends one more track of `media` (the camera added to a voice call).
    pub fn add_track(&self, track: &MediaStreamTrack, media: &LocalMedia) {
        self.pc.add_track_0(track, &media.0);
    }

    /// Sends `track` instead of the current track of its kind, without renegotiating.
    pub async fn replace_track(&self, track: &MediaStreamTrack) {
        for sender in self
            .pc
            .get_senders()
            .iter()
            .filter_map(|s| s.dyn_into::<web_sys::RtcRtpSender>().ok())
        {
            if sender.track().is_some_and(|t| t.kind() == track.kind()) {
                log_failure(
                    "replacing the track",
                    JsFuture::from(sender.replace_track(Some(track))).await,
                );
            }
        }
    }

    /// Puts the call on hold (we keep sending, stop receiving: `sendonly`) or resumes it
    /// (`sendrecv`); a renegotiation follows.
    pub fn set_hold(&self, hold: bool) {
        let direction = if hold { "sendonly" } else { "sendrecv" };
        for transceiver in self.pc.get_transceivers().iter() {
            log_failure(
                "setting the direction",
                Reflect::set(&transceiver, &"direction".into(), &direction.into()),
            );
        }
    }

    /// Whether the other side put us on hold: it stopped receiving from us, so every
    /// transceiver now only receives (`recvonly`) or is `inactive`.
    pub fn held(&self) -> bool {
        let directions: Vec<String> = self
            .pc
            .get_transceivers()
            .iter()
            .map(|t| string_field(&t, "currentDirection"))
            .collect();
        !directions.is_empty()
            && directions
                .iter()
                .all(|d| d == "inactive" || d == "recvonly")
    }

    /// No offer or answer is half done (`signalingState` is `stable`): a new offer may
    /// start.
    pub fn is_stable(&self) -> bool {
        string_field(&self.pc, "signalingState") == "stable"
    }

    /// Our current session description, with the candidates gathered so far.
    pub fn local_sdp(&self) -> Option<String> {
        self.pc.local_description().map(|d| d.sdp())
    }

    /// Waits until candidate gathering is complete, at most `limit_ms`, so that the
    /// first candidates travel inside the offer or answer.
    pub async fn settle(&self, limit_ms: u32) {
        let mut waited = 0;
        while waited < limit_ms && string_field(&self.pc, "iceGatheringState") != "complete" {
            super::timer::sleep(std::time::Duration::from_millis(20)).await;
            waited += 20;
        }
    }

    /// Creates an offer (an ICE restart with `restart`), sets it as ours, returns its SDP.
    pub async fn offer(&self, restart: bool) -> Result<String, String> {
        let options = Object::new();
        if restart {
            log_failure(
                "asking for an ICE restart",
                Reflect::set(&options, &"iceRestart".into(), &JsValue::TRUE),
            );
        }
        let offer = JsFuture::from(
            self.pc
                .create_offer_with_rtc_offer_options(options.unchecked_ref()),
        )
        .await
        .map_err(|_| "Could not start the call")?;
        self.set_local(offer).await
    }

    /// Creates the answer to the remote offer, sets it as ours, returns its SDP.
    pub async fn answer(&self) -> Result<String, String> {
        let answer = JsFuture::from(self.pc.create_answer())
            .await
            .map_err(|_| "Could not answer the call")?;
        self.set_local(answer).await
    }

    async fn set_local(&self, description: JsValue) -> Result<String, String> {
        let sdp = Reflect::get(&description, &"sdp".into())
            .ok()
            .and_then(|s| s.as_string())
            .ok_or("The browser made no session description")?;
        JsFuture::from(self.pc.set_local_description(description.unchecked_ref()))
            .await
            .map_err(|_| "The browser refused its own session description")?;
        Ok(sdp)
    }

    /// Takes the other side's offer or answer.
    pub async fn set_remote(&self, kind: &str, sdp: &str) -> Result<(), String> {
        let kind = if kind == "offer" {
            RtcSdpType::Offer
        } else {
            RtcSdpType::Answer
        };
        let description = RtcSessionDescriptionInit::new(kind);
        description.set_sdp(sdp);
        JsFuture::from(self.pc.set_remote_description(&description))
            .await
            .map(drop)
            .map_err(|_| "The other side's session description was refused".to_owned())
    }

    /// Adds one of the other side's candidates (as `m.call.candidates` carries it).
    pub async fn add_candidate(&self, candidate: &serde_json::Value) {
        let Some(text) = candidate["candidate"].as_str() else {
            return;
        };
        let init = RtcIceCandidateInit::new(text);
        if let Some(mid) = candidate["sdpMid"].as_str() {
            init.set_sdp_mid(Some(mid));
        }
        if let Some(index) = candidate["sdpMLineIndex"].as_u64() {
            init.set_sdp_m_line_index(u16::try_from(index).ok());
        }
        log_failure(
            "adding a candidate",
            JsFuture::from(
                self.pc
                    .add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init)),
            )
            .await,
        );
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.pc.set_onicecandidate(None);
        self.pc.set_oniceconnectionstatechange(None);
        self.pc.set_onicegatheringstatechange(None);
        self.pc.set_ontrack(None);
        self.pc.close();
    }
}
