//! The envelope shared by every event in a sync response, with its content left raw, and
//! its type parsed once into an [`EventKind`].

use ruma::{MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedTransactionId, OwnedUserId};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::value::RawValue;

/// A timeline, state or stripped-state event; stripped state lacks ID and timestamp.
#[derive(Debug, Deserialize)]
pub(crate) struct Event {
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub sender: OwnedUserId,
    pub event_id: Option<OwnedEventId>,
    pub origin_server_ts: Option<MilliSecondsSinceUnixEpoch>,
    pub state_key: Option<String>,
    pub content: Box<RawValue>,
    /// `m.room.redaction` before room version 11 names its target here.
    pub redacts: Option<OwnedEventId>,
    #[serde(default)]
    pub unsigned: Unsigned,
}

/// An event's `type`: the ones the engine acts on by name, any other kept as it came.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub(crate) enum EventKind {
    Message,
    Reaction,
    Redaction,
    Encrypted,
    Create,
    Name,
    Topic,
    Avatar,
    CanonicalAlias,
    JoinRules,
    Member,
    PowerLevels,
    Encryption,
    HistoryVisibility,
    CallInvite,
    CallAnswer,
    CallHangup,
    CallReject,
    Other(String),
}

/// Every named kind with its type, in one place for both directions. A `static`: as a
/// `const` (a type with a destructor cannot be promoted) each use would build the array
/// anew, in code.
static KINDS: [(&str, EventKind); 18] = [
    ("m.room.message", EventKind::Message),
    ("m.reaction", EventKind::Reaction),
    ("m.room.redaction", EventKind::Redaction),
    ("m.room.encrypted", EventKind::Encrypted),
    ("m.room.create", EventKind::Create),
    ("m.room.name", EventKind::Name),
    ("m.room.topic", EventKind::Topic),
    ("m.room.avatar", EventKind::Avatar),
    ("m.room.canonical_alias", EventKind::CanonicalAlias),
    ("m.room.join_rules", EventKind::JoinRules),
    ("m.room.member", EventKind::Member),
    ("m.room.power_levels", EventKind::PowerLevels),
    ("m.room.encryption", EventKind::Encryption),
    ("m.room.history_visibility", EventKind::HistoryVisibility),
    ("m.call.invite", EventKind::CallInvite),
    ("m.call.answer", EventKind::CallAnswer),
    ("m.call.hangup", EventKind::CallHangup),
    ("m.call.reject", EventKind::CallReject),
];

impl From<String> for EventKind {
    fn from(kind: String) -> Self {
        KINDS
            .iter()
            .find(|(name, _)| *name == kind)
            .map_or(Self::Other(kind), |(_, known)| known.clone())
    }
}

impl EventKind {
    /// The event's `type` as the spec spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Other(kind) => kind,
            known => KINDS
                .iter()
                .find(|(_, kind)| kind == known)
                .map_or("", |(name, _)| name),
        }
    }

    /// A VoIP event (`m.call.*`), named here or not (candidates, negotiate, …).
    pub fn is_call(&self) -> bool {
        self.as_str().starts_with("m.call.")
    }
}

/// The `unsigned` fields we read.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Unsigned {
    /// Only present for our own device's events: the txn ID we sent them with.
    pub transaction_id: Option<OwnedTransactionId>,
    /// The state this event replaced, to describe changes ("changed their name").
    pub prev_content: Option<Box<RawValue>>,
    /// Present when the server has already redacted the event.
    pub redacted_because: Option<Box<RawValue>>,
    /// Milliseconds since the event was sent, by the server's clock (immune to our skew).
    pub age: Option<i64>,
    /// The state event this one replaced.
    pub replaces_state: Option<OwnedEventId>,
}

/// `serde_json::from_str`, but through the byte-slice reader that response parsing
/// (`serde_json::from_slice`) already uses: one reader keeps the wasm bundle to one copy
/// of serde_json's parser and of every `Deserialize` impl both paths reach.
pub(crate) fn parse_json<T: DeserializeOwned>(json: &str) -> serde_json::Result<T> {
    serde_json::from_slice(json.as_bytes())
}

impl Event {
    /// Parses one raw event; `None` for events that don't match the spec's shape.
    pub fn parse(raw: &RawValue) -> Option<Self> {
        parse_json(raw.get()).ok()
    }

    /// Parses the content as `T`, `None` when it doesn't fit (e.g. redacted events).
    pub fn content<T: DeserializeOwned>(&self) -> Option<T> {
        parse_json(self.content.get()).ok()
    }

    /// Parses `unsigned.prev_content` as `T`.
    pub fn prev_content<T: DeserializeOwned>(&self) -> Option<T> {
        parse_json(self.unsigned.prev_content.as_ref()?.get()).ok()
    }

    pub fn is_state(&self) -> bool {
        self.state_key.is_some()
    }
}

/// An ephemeral (`m.typing`, `m.receipt`) or account data event: just a type and content.
#[derive(Debug, Deserialize)]
pub(crate) struct Bare {
    #[serde(rename = "type")]
    pub kind: String,
    pub content: Box<RawValue>,
}

impl Event {
    /// Parses an event that has no sender or ID; `None` when it has no type or content.
    pub fn parse_ephemeral(raw: &RawValue) -> Option<(String, Box<RawValue>)> {
        let bare: Bare = parse_json(raw.get()).ok()?;
        Some((bare.kind, bare.content))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(kind: &str) -> EventKind {
        let json = format!(r#"{{"type":"{kind}","sender":"@a:hs","content":{{}}}}"#);
        Event::parse(&RawValue::from_string(json).unwrap())
            .unwrap()
            .kind
    }

    #[test]
    fn a_type_is_parsed_once_into_its_kind_and_spelled_back_the_same() {
        assert_eq!(kind_of("m.room.member"), EventKind::Member);
        assert_eq!(kind_of("m.call.hangup"), EventKind::CallHangup);
        for (name, kind) in &KINDS {
            assert_eq!(&kind_of(name), kind);
            assert_eq!(kind.as_str(), *name);
        }
    }

    #[test]
    fn another_type_keeps_its_name() {
        let kind = kind_of("m.call.candidates");
        assert_eq!(kind, EventKind::Other("m.call.candidates".to_owned()));
        assert_eq!(kind.as_str(), "m.call.candidates");
        assert!(kind.is_call() && EventKind::CallInvite.is_call());
        assert!(!EventKind::Message.is_call());
    }
}
