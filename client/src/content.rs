//! Tiny content structs for the event types the engine understands.
//!
//! ruma's content types validate and model much more than we read (and cost bundle size);
//! these keep only the fields we display, and tolerate everything else.

use ruma::{OwnedRoomAliasId, events::room::member::MembershipState};
use serde::Deserialize;

/// `m.room.message`: `body` is the plain-text fallback every message type must carry.
#[derive(Debug, Deserialize)]
pub(crate) struct MessageContent {
    pub msgtype: Option<String>,
    pub body: Option<String>,
}

/// `m.room.member`.
#[derive(Debug, Deserialize)]
pub(crate) struct MemberContent {
    pub membership: MembershipState,
    pub displayname: Option<String>,
}

/// `m.room.name`.
#[derive(Debug, Deserialize)]
pub(crate) struct NameContent {
    #[serde(default)]
    pub name: String,
}

/// `m.room.topic`.
#[derive(Debug, Deserialize)]
pub(crate) struct TopicContent {
    #[serde(default)]
    pub topic: String,
}

/// `m.room.canonical_alias`.
#[derive(Debug, Deserialize)]
pub(crate) struct CanonicalAliasContent {
    pub alias: Option<OwnedRoomAliasId>,
}
