//! How a call is put in words, in one place: the timeline's line for a call and the room
//! list's preview ("Video call ended · 3:12", "Missed call") and the call screen's last
//! words ("Call ended · 0:42", "Call declined") say the same things the same way.

use super::EndReason;
use crate::media::format_duration;

/// Where a call stands, or how it ended, as one side sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Someone calls us; nobody answered yet.
    Incoming,
    /// We call; nobody answered yet.
    Calling,
    /// Answered, not over.
    InProgress,
    /// The callee declined (`by_us`: we did).
    Declined { by_us: bool },
    /// Over, after lasting this long since the answer (if we know).
    Ended { lasted_ms: Option<u64> },
    /// Our call was not answered in time.
    NoAnswer,
    /// We gave up calling before an answer.
    Cancelled,
    /// Someone called us and gave up (or their invite ran out) before we answered.
    Missed,
    /// Another device (ours or another member's) took the call.
    AnsweredElsewhere,
    /// Media never flowed.
    CouldNotConnect,
}

/// The words for `outcome`; `video` calls say so ("Video call ended · 3:12").
pub fn words(outcome: Outcome, video: bool) -> String {
    // Spelled out: `to_lowercase` would bring Unicode case tables into the wasm.
    let (kind, lower) = if video {
        ("Video call", "video call")
    } else {
        ("Call", "call")
    };
    match outcome {
        Outcome::Incoming => format!("Incoming {lower}"),
        Outcome::Calling => "Calling…".to_owned(),
        Outcome::InProgress => format!("{kind} in progress"),
        Outcome::Declined { by_us: true } => format!("You declined the {lower}"),
        Outcome::Declined { by_us: false } => format!("{kind} declined"),
        Outcome::Ended {
            lasted_ms: Some(ms),
        } => format!("{kind} ended · {}", format_duration(ms)),
        Outcome::Ended { lasted_ms: None } => format!("{kind} ended"),
        Outcome::NoAnswer => "No answer".to_owned(),
        Outcome::Cancelled => format!("{kind} cancelled"),
        Outcome::Missed => format!("Missed {lower}"),
        Outcome::AnsweredElsewhere => "Answered on another device".to_owned(),
        Outcome::CouldNotConnect => {
            "The call could not connect. Check your network, then try again.".to_owned()
        }
    }
}

/// How a call we took part in ended, for the call screen: why it ended, how long it
/// lasted once connected, whether we placed it, and whether it was still ringing here.
pub fn ended(reason: &EndReason, lasted_ms: Option<u64>, outgoing: bool, ringing: bool) -> Outcome {
    match (reason, lasted_ms) {
        (EndReason::AnsweredElsewhere, _) => Outcome::AnsweredElsewhere,
        (EndReason::Rejected, _) => Outcome::Declined { by_us: !outgoing },
        // The caller gave up (or the invite ran out) before we answered.
        (EndReason::Hangup(_), _) if ringing => Outcome::Missed,
        (EndReason::Hangup(reason), None) if reason == "invite_timeout" => {
            if outgoing {
                Outcome::NoAnswer
            } else {
                Outcome::Missed
            }
        }
        (EndReason::Hangup(reason), None) if reason == "ice_failed" => Outcome::CouldNotConnect,
        (EndReason::Hangup(_), lasted_ms) => Outcome::Ended { lasted_ms },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_words_everywhere() {
        assert_eq!(
            words(
                Outcome::Ended {
                    lasted_ms: Some(64_000)
                },
                true
            ),
            "Video call ended · 1:04"
        );
        assert_eq!(
            words(
                Outcome::Ended {
                    lasted_ms: Some(64_000)
                },
                false
            ),
            "Call ended · 1:04"
        );
        assert_eq!(
            words(Outcome::Ended { lasted_ms: None }, false),
            "Call ended"
        );
        assert_eq!(words(Outcome::Missed, true), "Missed video call");
        assert_eq!(words(Outcome::Missed, false), "Missed call");
        assert_eq!(
            words(Outcome::Declined { by_us: true }, true),
            "You declined the video call"
        );
        assert_eq!(
            words(Outcome::Declined { by_us: false }, false),
            "Call declined"
        );
        assert_eq!(words(Outcome::Cancelled, true), "Video call cancelled");
        assert_eq!(words(Outcome::Incoming, false), "Incoming call");
        assert_eq!(words(Outcome::InProgress, true), "Video call in progress");
        assert_eq!(words(Outcome::Calling, true), "Calling…");
        assert_eq!(words(Outcome::NoAnswer, true), "No answer");
    }

    #[test]
    fn the_call_screen_says_how_it_ended() {
        let hangup = |r: &str| EndReason::Hangup(r.into());
        let text = |reason: &EndReason, lasted, outgoing, ringing| {
            words(ended(reason, lasted, outgoing, ringing), false)
        };
        assert_eq!(
            text(&hangup("user_hangup"), Some(3_000), true, false),
            "Call ended · 0:03"
        );
        assert_eq!(
            text(&hangup("user_hangup"), None, true, false),
            "Call ended"
        );
        assert_eq!(
            text(&hangup("invite_timeout"), None, true, false),
            "No answer"
        );
        assert_eq!(
            text(&hangup("invite_timeout"), None, false, false),
            "Missed call"
        );
        assert_eq!(
            text(&hangup("user_hangup"), None, false, true),
            "Missed call"
        );
        assert_eq!(
            text(&hangup("ice_failed"), None, true, false),
            "The call could not connect. Check your network, then try again."
        );
        // Connected once: a later ICE failure is just the end of the call.
        assert_eq!(
            text(&hangup("ice_failed"), Some(61_000), false, false),
            "Call ended · 1:01"
        );
        assert_eq!(
            text(&EndReason::Rejected, None, true, false),
            "Call declined"
        );
        assert_eq!(
            text(&EndReason::Rejected, None, false, true),
            "You declined the call"
        );
        assert_eq!(
            text(&EndReason::AnsweredElsewhere, None, false, true),
            "Answered on another device"
        );
    }
}
