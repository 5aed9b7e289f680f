//! Tiny content structs for the event types the engine understands.
//!
//! ruma's content types validate and model much more than we read (and cost bundle size);
//! these keep only the fields we display, and tolerate everything else.

use std::collections::BTreeMap;

use ruma::{
    OwnedEventId, OwnedRoomAliasId, OwnedRoomId, OwnedUserId, events::room::member::MembershipState,
};
use serde::Deserialize;

/// `m.room.message`: `body` is the plain-text fallback every message type must carry.
#[derive(Debug, Deserialize)]
pub(crate) struct MessageContent {
    pub msgtype: Option<String>,
    pub body: Option<String>,
    pub format: Option<String>,
    pub formatted_body: Option<String>,
    #[serde(rename = "m.relates_to")]
    pub relates_to: Option<RelatesTo>,
    #[serde(rename = "m.new_content")]
    pub new_content: Option<NewContent>,
    #[serde(rename = "m.mentions")]
    pub mentions: Option<Mentions>,
    /// Media messages: the `mxc://` URI (or for an encrypted file `file`), the file name when `body` is a caption, and `info`
    /// (kept raw so that odd details cannot cost the message; see `media::Media`).
    pub url: Option<String>,
    /// An encrypted file (`EncryptedFile`) in place of `url`; raw like `info`.
    pub file: Option<Box<serde_json::value::RawValue>>,
    pub filename: Option<String>,
    pub info: Option<Box<serde_json::value::RawValue>>,
}

impl MessageContent {
    /// The HTML body, if the message has one in the only format the spec defines.
    pub fn html(&self) -> Option<&str> {
        html_of(self.format.as_deref(), self.formatted_body.as_deref())
    }
}

fn html_of<'a>(format: Option<&str>, body: Option<&'a str>) -> Option<&'a str> {
    (format == Some("org.matrix.custom.html")).then_some(body?)
}

/// The replacement content of an edit (`m.new_content`).
#[derive(Debug, Deserialize)]
pub(crate) struct NewContent {
    pub msgtype: Option<String>,
    pub body: Option<String>,
    pub format: Option<String>,
    pub formatted_body: Option<String>,
}

impl NewContent {
    pub fn html(&self) -> Option<&str> {
        html_of(self.format.as_deref(), self.formatted_body.as_deref())
    }
}

/// `m.relates_to`: replies, edits and reactions.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RelatesTo {
    pub rel_type: Option<String>,
    pub event_id: Option<OwnedEventId>,
    pub key: Option<String>,
    #[serde(rename = "m.in_reply_to")]
    pub in_reply_to: Option<InReplyTo>,
}

/// `m.in_reply_to`.
#[derive(Debug, Deserialize)]
pub(crate) struct InReplyTo {
    pub event_id: OwnedEventId,
}

/// `m.mentions` (intentional mentions).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Mentions {
    #[serde(default)]
    pub user_ids: Vec<OwnedUserId>,
}

/// `m.reaction`.
#[derive(Debug, Deserialize)]
pub(crate) struct ReactionContent {
    #[serde(rename = "m.relates_to")]
    pub relates_to: Option<RelatesTo>,
}

/// `m.room.redaction` (room version 11 puts `redacts` in the content).
#[derive(Debug, Deserialize)]
pub(crate) struct RedactionContent {
    pub redacts: Option<OwnedEventId>,
}

/// The `is_direct` flag of the `m.room.member` event that invites us, read on its own so a
/// malformed flag only loses the flag, not the invite.
#[derive(Debug, Deserialize)]
pub(crate) struct DirectFlag {
    #[serde(default)]
    pub is_direct: bool,
}

/// `m.room.member`.
#[derive(Debug, Deserialize)]
pub(crate) struct MemberContent {
    pub membership: MembershipState,
    pub displayname: Option<String>,
    pub avatar_url: Option<String>,
}

/// `m.room.name`, read from events and sent to rename a room.
#[derive(Debug, Deserialize, serde::Serialize)]
pub(crate) struct NameContent {
    #[serde(default)]
    pub name: String,
}

/// `m.room.avatar`: the picture's `mxc://` URI (absent when removed).
#[derive(Debug, Deserialize)]
pub(crate) struct AvatarContent {
    pub url: Option<String>,
}

/// `m.room.join_rules`.
#[derive(Debug, Deserialize)]
pub(crate) struct JoinRulesContent {
    pub join_rule: String,
}

/// `m.room.topic`, read from events and sent to change it.
#[derive(Debug, Deserialize, serde::Serialize)]
pub(crate) struct TopicContent {
    #[serde(default)]
    pub topic: String,
}

/// `m.room.canonical_alias`.
#[derive(Debug, Deserialize)]
pub(crate) struct CanonicalAliasContent {
    pub alias: Option<OwnedRoomAliasId>,
}

/// `m.room.power_levels`: the parts that decide what members may do.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct PowerLevelsContent {
    #[serde(default)]
    pub users: BTreeMap<OwnedUserId, i64>,
    #[serde(default)]
    pub users_default: i64,
    #[serde(default)]
    pub events: BTreeMap<String, i64>,
    pub state_default: Option<i64>,
    pub kick: Option<i64>,
    pub redact: Option<i64>,
}

/// `m.typing`.
#[derive(Debug, Deserialize)]
pub(crate) struct TypingContent {
    #[serde(default)]
    pub user_ids: Vec<OwnedUserId>,
}

/// `m.receipt`: event ID → receipt type → user → receipt.
pub(crate) type ReceiptContent =
    BTreeMap<OwnedEventId, BTreeMap<String, BTreeMap<OwnedUserId, serde::de::IgnoredAny>>>;

/// `m.direct`: user → their DM rooms with us.
pub(crate) type DirectContent = BTreeMap<OwnedUserId, Vec<OwnedRoomId>>;

/// `m.room.create`: the room version, and (from version 12) the extra creators.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CreateContent {
    pub room_version: Option<String>,
    #[serde(default)]
    pub additional_creators: Vec<OwnedUserId>,
}
