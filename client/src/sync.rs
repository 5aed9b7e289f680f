//! The parts of a `/sync` response the engine uses, as small serde structs.
//!
//! We deliberately don't use ruma's `sync_events::v3::Response`: its `Any*Event` enums make
//! the WebAssembly bundle about 190 KB (brotli) bigger. Events stay raw JSON here and are
//! parsed one at a time by the engine, so one odd event cannot make a whole sync fail.

use std::collections::BTreeMap;

use ruma::{OwnedRoomId, OwnedUserId};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{ApiError, HttpResponse};

/// An event as the server sent it; parsed later by [`crate::event`].
pub type RawEvent = Box<RawValue>;

/// The top level of a `/sync` response.
#[derive(Debug, Deserialize)]
#[non_exhaustive]
pub struct SyncResponse {
    /// Token to pass as `since` in the next request.
    pub next_batch: String,
    /// Updates per room, by our membership.
    #[serde(default)]
    pub rooms: Rooms,
    /// Global account data that changed (e.g. `m.direct`).
    #[serde(default)]
    pub account_data: Events,
    /// To-device messages for this device (room keys over Olm, withheld notices, …).
    #[serde(default)]
    pub to_device: Events,
    /// Users whose devices changed, or with whom we no longer share a room.
    #[serde(default)]
    pub device_lists: DeviceLists,
    /// How many of our one-time keys the server still holds, by algorithm.
    pub device_one_time_keys_count: Option<BTreeMap<String, u64>>,
    /// The algorithms of our fallback keys that are still unused.
    pub device_unused_fallback_key_types: Option<Vec<String>>,
}

/// `device_lists` of a sync response.
#[derive(Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct DeviceLists {
    /// Users whose device list (or cross-signing keys) changed.
    #[serde(default)]
    pub changed: Vec<OwnedUserId>,
    /// Users we no longer share an encrypted room with.
    #[serde(default)]
    pub left: Vec<OwnedUserId>,
}

impl SyncResponse {
    /// Parses a `/sync` HTTP response, mapping error statuses like every other endpoint.
    pub fn from_http(response: HttpResponse<'_>) -> Result<Self, ApiError> {
        crate::endpoint::parse(response)
    }
}

/// `rooms` of a sync response.
#[derive(Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct Rooms {
    /// Rooms we are joined to.
    #[serde(default)]
    pub join: BTreeMap<OwnedRoomId, JoinedRoom>,
    /// Rooms we are invited to.
    #[serde(default)]
    pub invite: BTreeMap<OwnedRoomId, InvitedRoom>,
    /// Rooms we left (or were removed from) since the last sync.
    #[serde(default)]
    pub leave: BTreeMap<OwnedRoomId, LeftRoom>,
}

/// Updates for a joined room.
#[derive(Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct JoinedRoom {
    /// Heroes and member counts, used to name rooms that have no name.
    #[serde(default)]
    pub summary: RoomSummary,
    /// State up to the start of `timeline`.
    #[serde(default)]
    pub state: Events,
    /// New events.
    #[serde(default)]
    pub timeline: Timeline,
    /// Typing notices and read receipts.
    #[serde(default)]
    pub ephemeral: Events,
    /// Unread counts computed by the server from our push rules.
    pub unread_notifications: Option<UnreadNotifications>,
}

/// `unread_notifications` of a joined room.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnreadNotifications {
    /// Unread events that notify.
    #[serde(default)]
    pub notification_count: u64,
    /// Of those, the ones that mention us.
    #[serde(default)]
    pub highlight_count: u64,
}

/// `summary` of a joined room.
#[derive(Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct RoomSummary {
    /// Members to name the room after; only sent when they changed.
    #[serde(rename = "m.heroes")]
    pub heroes: Option<Vec<OwnedUserId>>,
    /// Joined members, counted by the server (lazy loading sends us only some of them).
    #[serde(rename = "m.joined_member_count")]
    pub joined_member_count: Option<u64>,
}

/// A room's new timeline events.
#[derive(Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct Timeline {
    /// Events in the order the server received them.
    #[serde(default)]
    pub events: Vec<RawEvent>,
    /// True when events were left out between the previous sync and these.
    #[serde(default)]
    pub limited: bool,
    /// Token for paginating backwards from the first event.
    pub prev_batch: Option<String>,
}

/// A list of events (`state`, `invite_state`).
#[derive(Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct Events {
    /// The events.
    #[serde(default)]
    pub events: Vec<RawEvent>,
}

/// Updates for a room we are invited to.
#[derive(Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct InvitedRoom {
    /// Stripped state: enough to show what the room is and who invited us.
    #[serde(default)]
    pub invite_state: Events,
}

/// Updates for a room we left.
#[derive(Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct LeftRoom {
    /// The last events we may see, including our own leave.
    #[serde(default)]
    pub timeline: Timeline,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_minimal_and_full_shapes() {
        let minimal: SyncResponse = serde_json::from_str(r#"{"next_batch":"s1"}"#).unwrap();
        assert!(minimal.rooms.join.is_empty());

        let full: SyncResponse = serde_json::from_str(
            r#"{"next_batch":"s2","presence":{"events":[]},"rooms":{
                "join":{"!a:hs":{"summary":{"m.heroes":["@b:hs"]},"timeline":{"events":[{"x":1}],"limited":true,"prev_batch":"p"},"ephemeral":{"events":[]}}},
                "invite":{"!b:hs":{"invite_state":{"events":[]}}},
                "leave":{"!c:hs":{}}}}"#,
        )
        .unwrap();
        let room = &full.rooms.join[&OwnedRoomId::try_from("!a:hs").unwrap()];
        assert!(room.timeline.limited);
        assert_eq!(room.timeline.events.len(), 1);
        assert_eq!(room.summary.heroes.as_deref().unwrap().len(), 1);
        assert_eq!(full.rooms.invite.len(), 1);
        assert_eq!(full.rooms.leave.len(), 1);

        let e2ee: SyncResponse = serde_json::from_str(
            r#"{"next_batch":"s3","to_device":{"events":[{"type":"m.dummy","sender":"@a:hs","content":{}}]},
                "device_lists":{"changed":["@a:hs"],"left":["@b:hs"]},
                "device_one_time_keys_count":{"signed_curve25519":12},
                "device_unused_fallback_key_types":["signed_curve25519"]}"#,
        )
        .unwrap();
        assert_eq!(e2ee.to_device.events.len(), 1);
        assert_eq!(
            (
                e2ee.device_lists.changed.len(),
                e2ee.device_lists.left.len()
            ),
            (1, 1)
        );
        assert_eq!(
            e2ee.device_one_time_keys_count.unwrap()["signed_curve25519"],
            12
        );
        assert_eq!(
            e2ee.device_unused_fallback_key_types.unwrap(),
            ["signed_curve25519"]
        );
    }

    #[test]
    fn maps_error_statuses() {
        let response = http::Response::builder()
            .status(401)
            .body(&br#"{"errcode":"M_UNKNOWN_TOKEN","error":"x"}"#[..])
            .unwrap();
        assert_eq!(
            SyncResponse::from_http(response).unwrap_err(),
            ApiError::UnknownToken
        );
    }
}
