//! The envelope shared by every event in a sync response, with its content left raw.

use ruma::{MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedTransactionId, OwnedUserId};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::value::RawValue;

/// A timeline, state or stripped-state event; stripped state lacks ID and timestamp.
#[derive(Debug, Deserialize)]
pub(crate) struct Event {
    #[serde(rename = "type")]
    pub kind: String,
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
