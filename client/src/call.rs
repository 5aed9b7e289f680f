//! The rules of 1:1 calls over `m.call.*` room events (VoIP v1), as pure decisions the call
//! state machine builds on: reading call event contents (v0 and v1), whether an invite
//! should ring, which invites a batch of events already settled, which party an event
//! belongs to, and glare resolution. `sdp.rs` reads session descriptions, `metadata.rs`
//! the streams' metadata, `wording.rs` puts calls in words for the timeline and the call
//! screen alike.
//!
//! Nothing here touches WebRTC or the network; see `../shared/spec/voip.md` for the spec
//! and for what Element's implementation does.

use std::time::Duration;

mod machine;
mod metadata;
mod sdp;
pub mod turn;
pub mod wording;

pub use machine::{Call, EndReason, GlareOutcome, INVITE_LIFETIME, Output, State, handle_glare};
pub use metadata::SdpStreamMetadata;
pub use sdp::{Sdp, SessionDescription};

use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The call protocol version we send.
pub const VERSION: &str = "1";

/// An invite must stay valid this long after we see it for ringing to make sense.
pub const RING_GRACE: Duration = Duration::from_secs(3);

/// A call event that sync delivered, waiting for the call manager (which the browser
/// loads only when there is a call, so the engine merely collects these).
#[derive(Clone, Debug)]
pub struct CallSignal {
    pub room_id: OwnedRoomId,
    pub sender: OwnedUserId,
    pub event_type: String,
    pub content: Box<RawValue>,
    /// How old the event was when sync delivered it (`unsigned.age`), if the server said.
    pub age_ms: Option<u64>,
}

impl CallSignal {
    /// An invite that may still be ringing: its lifetime was not over when it arrived.
    /// (Without `unsigned.age` we cannot tell, so it may.)
    pub fn may_ring(&self) -> bool {
        #[derive(Deserialize)]
        struct Lifetime {
            lifetime: u64,
        }
        self.event_type == "m.call.invite"
            && crate::event::parse_json::<Lifetime>(self.content.get()).is_ok_and(|l| {
                self.age_ms
                    .is_none_or(|age| age + RING_GRACE.as_millis() as u64 <= l.lifetime)
            })
    }
}

/// The call events of one batch that may still need answering: an invite answered,
/// declined or hung up within the same batch (an initial sync after a call) is left out,
/// so it never rings, even for a moment. Everything else keeps its order.
pub fn without_settled(signals: Vec<CallSignal>) -> Vec<CallSignal> {
    let call_id =
        |s: &CallSignal| crate::event::parse_json::<CallCommon>(s.content.get()).map(|c| c.call_id);
    let settled: Vec<String> = signals
        .iter()
        .filter(|s| {
            matches!(
                s.event_type.as_str(),
                "m.call.answer" | "m.call.hangup" | "m.call.reject"
            )
        })
        .filter_map(|s| call_id(s).ok())
        .collect();
    signals
        .into_iter()
        .filter(|s| {
            s.event_type != "m.call.invite" || call_id(s).is_ok_and(|id| !settled.contains(&id))
        })
        .collect()
}

/// Fields every `m.call.*` event carries.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct CallCommon {
    pub call_id: String,
    /// `None` for version 0 peers, which have no party IDs.
    #[serde(default)]
    pub party_id: Option<String>,
    #[serde(default)]
    version: serde_json::Value,
}

impl CallCommon {
    /// Version 0 is the integer 0; anything else (including integer 1) is treated as "1".
    pub fn is_v0(&self) -> bool {
        self.version.as_u64() == Some(0)
    }

    /// The party this event is from: `None` for v0 events, which match only each other.
    pub fn party(&self) -> Option<&str> {
        if self.is_v0() {
            None
        } else {
            self.party_id.as_deref()
        }
    }
}

/// `m.call.invite`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct CallInvite {
    #[serde(flatten)]
    pub common: CallCommon,
    /// Milliseconds the invite is valid.
    pub lifetime: u64,
    #[serde(default)]
    pub invitee: Option<OwnedUserId>,
    /// The caller's offer.
    pub offer: SessionDescription,
    /// What the caller's streams are (their mute state).
    #[serde(default, alias = "org.matrix.msc3077.sdp_stream_metadata")]
    pub sdp_stream_metadata: Option<SdpStreamMetadata>,
}

/// `m.call.hangup`; a missing reason means the user hung up.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct CallHangup {
    #[serde(flatten)]
    pub common: CallCommon,
    #[serde(default)]
    pub reason: Option<String>,
}

impl CallHangup {
    pub fn reason(&self) -> &str {
        self.reason.as_deref().unwrap_or("user_hangup")
    }
}

/// `m.call.select_answer`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct CallSelectAnswer {
    #[serde(flatten)]
    pub common: CallCommon,
    pub selected_party_id: String,
}

/// How much of an invite's lifetime is left, given its age when received (`unsigned.age`,
/// which is immune to clock skew) and the time since then.
pub fn remaining(
    lifetime: Duration,
    age_at_receipt: Duration,
    since_receipt: Duration,
) -> Duration {
    lifetime.saturating_sub(age_at_receipt + since_receipt)
}

/// Whether an invite should ring for `own`: addressed to us, or to anyone (as Element's
/// invites are) when someone else placed it — our own calls from another device ring
/// here only if they name us as the invitee (calling ourselves) — not in a public room,
/// and valid long enough to be answered.
pub fn should_ring(
    invite: &CallInvite,
    sender: &UserId,
    own: &UserId,
    own_party: &str,
    left: Duration,
    public_room: bool,
) -> bool {
    let for_us = match invite.invitee.as_deref() {
        Some(invitee) => {
            invitee == own && (sender != own || invite.common.party() != Some(own_party))
        }
        None => sender != own,
    };
    for_us && !public_room && left > RING_GRACE
}

/// What to do when an invite from the other side arrives while we are calling them in the
/// same room (glare).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Glare {
    /// Drop our call and answer theirs.
    AnswerTheirs,
    /// Keep ours; their call gets hung up.
    KeepOurs,
}

/// The call in progress (or ringing), as the call buttons see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveCall {
    pub room_id: OwnedRoomId,
    /// Who calls us, while the call rings unanswered.
    pub ringing_from: Option<OwnedUserId>,
}

/// What pressing "Voice call" or "Video call" in a room does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallButton {
    /// Call the other member.
    Place,
    /// That person's call is ringing here: answer it (as Element does), rather than place
    /// a second call or do nothing.
    Answer,
    /// Another call is in progress (or ours is being placed): the buttons are off.
    Busy,
}

/// The call buttons' rule, for the room whose other member is `peer`.
pub fn call_button(active: Option<&ActiveCall>, room_id: &RoomId, peer: &UserId) -> CallButton {
    match active {
        None => CallButton::Place,
        Some(call) if call.room_id == room_id && call.ringing_from.as_deref() == Some(peer) => {
            CallButton::Answer
        }
        Some(_) => CallButton::Busy,
    }
}

/// The spec's rule: the call with the lexicographically smaller `call_id` survives; a
/// call not yet sent always yields. One exception for Element, which never sets `invitee`
/// and so never resolves glare itself (it would never ring for ours): an incoming invite
/// without `invitee` always wins.
pub fn resolve_glare(ours_sent: bool, our_call_id: &str, theirs: &CallInvite) -> Glare {
    if !ours_sent || theirs.invitee.is_none() || theirs.common.call_id.as_str() < our_call_id {
        Glare::AnswerTheirs
    } else {
        Glare::KeepOurs
    }
}

/// Whether an event belongs to the party the call is with: the caller's party for a
/// callee, the chosen answerer for a caller. v0 events (no party) match v0 parties.
pub fn from_party(
    event: &CallCommon,
    sender: &UserId,
    party_user: &UserId,
    party_id: Option<&str>,
) -> bool {
    sender == party_user && event.party() == party_id
}

/// Whether we should end a call we answered: the caller selected another party (another
/// device of ours, or another member) — silently, sending nothing.
pub fn answered_elsewhere(select: &CallSelectAnswer, own_party: &str) -> bool {
    select.selected_party_id != own_party
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn call_buttons_place_answer_or_wait() {
        let dm: OwnedRoomId = "!dm:hs".try_into().unwrap();
        let other: OwnedRoomId = "!other:hs".try_into().unwrap();
        let (alice, carol): (OwnedUserId, OwnedUserId) = (
            "@alice:hs".try_into().unwrap(),
            "@carol:hs".try_into().unwrap(),
        );
        assert_eq!(call_button(None, &dm, &alice), CallButton::Place);
        let ringing = ActiveCall {
            room_id: dm.clone(),
            ringing_from: Some(alice.clone()),
        };
        assert_eq!(call_button(Some(&ringing), &dm, &alice), CallButton::Answer);
        // Someone else ringing, or a ringing call in another room: not ours to answer here.
        assert_eq!(
            call_button(Some(&ringing), &other, &carol),
            CallButton::Busy
        );
        assert_eq!(call_button(Some(&ringing), &dm, &carol), CallButton::Busy);
        // A call in progress (answered, or ours being placed) keeps the buttons off.
        let talking = ActiveCall {
            room_id: dm.clone(),
            ringing_from: None,
        };
        assert_eq!(call_button(Some(&talking), &dm, &alice), CallButton::Busy);
    }

    fn invite(call_id: &str, invitee: Option<&str>, version: serde_json::Value) -> CallInvite {
        serde_json::from_value(
            json!({"call_id": call_id, "party_id": "PARTY", "version": version,
            "lifetime": 60000, "invitee": invitee, "offer": {"type": "offer", "sdp": "v=0"}}),
        )
        .unwrap()
    }

    fn user(id: &str) -> OwnedUserId {
        id.try_into().unwrap()
    }

    #[test]
    fn versions_and_parties() {
        let v1 = invite("c", None, json!("1"));
        assert!(!v1.common.is_v0());
        assert_eq!(v1.common.party(), Some("PARTY"));
        let v0 = invite("c", None, json!(0));
        assert!(v0.common.is_v0());
        assert_eq!(v0.common.party(), None);
        // Integer 1 and other values are treated as "1".
        assert!(!invite("c", None, json!(1)).common.is_v0());
        let hangup: CallHangup =
            serde_json::from_value(json!({"call_id": "c", "version": 0})).unwrap();
        assert_eq!(hangup.reason(), "user_hangup");
    }

    #[test]
    fn ringing_rules() {
        let (alice, bob) = (user("@alice:hs"), user("@bob:hs"));
        let left = remaining(
            Duration::from_secs(60),
            Duration::from_secs(2),
            Duration::from_secs(1),
        );
        assert_eq!(left, Duration::from_secs(57));
        let for_bob = invite("c", Some("@bob:hs"), json!("1"));
        assert!(should_ring(&for_bob, &alice, &bob, "BOBDEV", left, false));
        assert!(
            !should_ring(&for_bob, &alice, &alice, "ALICEDEV", left, false),
            "not for us"
        );
        assert!(
            should_ring(
                &invite("c", None, json!("1")),
                &alice,
                &bob,
                "BOBDEV",
                left,
                false
            ),
            "Element sets no invitee"
        );
        assert!(
            !should_ring(&for_bob, &alice, &bob, "BOBDEV", left, true),
            "not in public rooms"
        );
        assert!(
            !should_ring(
                &for_bob,
                &alice,
                &bob,
                "BOBDEV",
                Duration::from_secs(2),
                false
            ),
            "about to expire"
        );
        // Our own invite from this device never rings; from another device of ours it may
        // (calling yourself).
        let to_self = invite("c", Some("@bob:hs"), json!("1"));
        assert!(!should_ring(&to_self, &bob, &bob, "PARTY", left, false));
        assert!(should_ring(&to_self, &bob, &bob, "OTHER", left, false));
        // Our own invite to anyone (Element on our phone calling the room) is for the
        // others: it never rings on our other devices.
        let ours_to_anyone = invite("c", None, json!("1"));
        assert!(!should_ring(
            &ours_to_anyone,
            &bob,
            &bob,
            "OTHER",
            left,
            false
        ));
    }

    #[test]
    fn glare_keeps_the_smaller_call_id() {
        let theirs = invite("1000abc", Some("@alice:hs"), json!("1"));
        assert_eq!(resolve_glare(true, "2000xyz", &theirs), Glare::AnswerTheirs);
        assert_eq!(resolve_glare(true, "0999zzz", &theirs), Glare::KeepOurs);
        // Not sent yet: always yield. From Element (no invitee): always answer theirs.
        assert_eq!(resolve_glare(false, "0000", &theirs), Glare::AnswerTheirs);
        assert_eq!(
            resolve_glare(true, "0000", &invite("9999", None, json!("1"))),
            Glare::AnswerTheirs
        );
    }

    #[test]
    fn invites_settled_in_the_same_batch_are_left_out() {
        let signal = |event_type: &str, call_id: &str| CallSignal {
            room_id: "!dm:hs".try_into().unwrap(),
            sender: user("@alice:hs"),
            event_type: event_type.to_owned(),
            content: serde_json::value::to_raw_value(
                &json!({"call_id": call_id, "party_id": "P", "version": "1"}),
            )
            .unwrap(),
            age_ms: None,
        };
        let batch = vec![
            signal("m.call.invite", "answered"),
            signal("m.call.invite", "open"),
            signal("m.call.candidates", "answered"),
            signal("m.call.answer", "answered"),
            signal("m.call.invite", "declined"),
            signal("m.call.reject", "declined"),
            signal("m.call.invite", "over"),
            signal("m.call.hangup", "over"),
        ];
        let left: Vec<(String, String)> = without_settled(batch)
            .into_iter()
            .map(|s| {
                let common: CallCommon = serde_json::from_str(s.content.get()).unwrap();
                (s.event_type, common.call_id)
            })
            .collect();
        let expected = [
            ("m.call.invite", "open"),
            ("m.call.candidates", "answered"),
            ("m.call.answer", "answered"),
            ("m.call.reject", "declined"),
            ("m.call.hangup", "over"),
        ];
        assert_eq!(left, expected.map(|(t, id)| (t.to_owned(), id.to_owned())));
    }

    #[test]
    fn invites_read_their_offer_and_metadata() {
        let invite: CallInvite = serde_json::from_value(json!({"call_id": "c", "party_id": "P",
            "version": "1", "lifetime": 60000, "offer": {"type": "offer", "sdp": "v=0\r\nm=audio 9 RTP/AVP 0\r\n"},
            "org.matrix.msc3077.sdp_stream_metadata": {"s": {"purpose": "m.usermedia", "audio_muted": true}}}))
        .unwrap();
        assert!(!invite.offer.sdp.has_video());
        assert_eq!(
            invite.sdp_stream_metadata.unwrap().user_media_muted(),
            (true, false)
        );
        // An invite without an offer cannot be answered: it is not an invite.
        assert!(
            serde_json::from_value::<CallInvite>(
                json!({"call_id": "c", "version": "1", "lifetime": 1})
            )
            .is_err()
        );
    }

    #[test]
    fn parties_and_answered_elsewhere() {
        let bob = user("@bob:hs");
        let event = invite("c", None, json!("1")).common;
        assert!(from_party(&event, &bob, &bob, Some("PARTY")));
        assert!(!from_party(&event, &bob, &bob, Some("OTHER")));
        let v0 = invite("c", None, json!(0)).common;
        assert!(from_party(&v0, &bob, &bob, None));
        let select: CallSelectAnswer = serde_json::from_value(
            json!({"call_id": "c", "party_id": "A", "version": "1", "selected_party_id": "DEV2"}),
        )
        .unwrap();
        assert!(answered_elsewhere(&select, "DEV1"));
        assert!(!answered_elsewhere(&select, "DEV2"));
    }
}
