//! Building Matrix requests into [`http::Request`]s and parsing their responses.
//!
//! Every endpoint the app uses gets a `*_request` builder and, where the response carries
//! something we need, a `parse_*` function. Paths come from ruma's endpoint metadata; bodies
//! are small structs of our own (see [`crate::endpoint`] for why). `/sync` responses are
//! parsed by [`crate::sync`].

use std::time::Duration;

use ruma::{
    OwnedEventId, OwnedRoomId, OwnedTransactionId, OwnedUserId, RoomId,
    api::client::{
        membership::{invite_user, join_room_by_id_or_alias},
        message::send_message_event,
        room::create_room,
        session::logout,
        sync::sync_events,
    },
};
use serde::{Deserialize, Serialize};

use crate::{
    ApiError, HttpRequest, HttpResponse, Session,
    endpoint::{self, Target, json},
};

/// How many timeline events per room a sync returns at most.
pub const TIMELINE_LIMIT: u32 = 30;

/// The sync filter: a bounded timeline and lazy-loaded members (only the senders we show).
const SYNC_FILTER: &str = r#"{"room":{"state":{"lazy_load_members":true},"timeline":{"limit":30,"lazy_load_members":true}}}"#;

pub(crate) fn target(session: &Session) -> Target<'_> {
    Target {
        homeserver: &session.homeserver,
        access_token: Some(&session.access_token),
    }
}

#[derive(Deserialize)]
struct RoomIdResponse {
    room_id: OwnedRoomId,
}

#[derive(Deserialize)]
struct EventIdResponse {
    event_id: OwnedEventId,
}

/// `POST /_matrix/client/v3/logout`: ends the session and deletes the device on the server.
pub fn logout_request(session: &Session) -> Result<HttpRequest, ApiError> {
    endpoint::request::<logout::v3::Request>(target(session), &[], &[], None)
}

/// What a new room should be.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewRoom {
    /// Its name (none for a DM).
    pub name: String,
    /// Its topic.
    pub topic: String,
    /// Anyone can find and join it (published in the room directory).
    pub public: bool,
    /// A direct chat with these people.
    pub direct_with: Option<OwnedUserId>,
    /// Local part of an address for the room (`#alias:server`), usually for public rooms.
    pub alias: String,
    /// End-to-end encrypted from the start (`m.room.encryption` in the initial state, as
    /// Element creates DMs), so that not even the first message goes out in the clear.
    pub encrypted: bool,
}

/// An initial state event of a new room.
#[derive(Serialize)]
struct InitialState<C> {
    #[serde(rename = "type")]
    kind: &'static str,
    state_key: &'static str,
    content: C,
}

/// `m.room.encryption` content: Megolm with the spec's default rotation.
#[derive(Serialize)]
pub(crate) struct EncryptionContent {
    pub algorithm: &'static str,
}

/// The only room encryption algorithm.
pub(crate) const MEGOLM: &str = "m.megolm.v1.aes-sha2";

#[derive(Serialize)]
struct CreateRoomBody<'a> {
    preset: &'static str,
    visibility: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    topic: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    invite: &'a [OwnedUserId],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    is_direct: bool,
    #[serde(skip_serializing_if = "str::is_empty")]
    room_alias_name: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    initial_state: &'a [InitialState<EncryptionContent>],
}

/// `POST /_matrix/client/v3/createRoom`.
pub fn create_room_request(session: &Session, room: &NewRoom) -> Result<HttpRequest, ApiError> {
    let invite: Vec<OwnedUserId> = room.direct_with.iter().cloned().collect();
    let body = CreateRoomBody {
        preset: match (room.public, room.direct_with.is_some()) {
            (_, true) => "trusted_private_chat",
            (true, false) => "public_chat",
            (false, false) => "private_chat",
        },
        visibility: if room.public { "public" } else { "private" },
        name: room.name.trim(),
        topic: room.topic.trim(),
        invite: &invite,
        is_direct: room.direct_with.is_some(),
        room_alias_name: room.alias.trim().trim_start_matches('#'),
        initial_state: if room.encrypted {
            &[InitialState {
                kind: "m.room.encryption",
                state_key: "",
                content: EncryptionContent { algorithm: MEGOLM },
            }]
        } else {
            &[]
        },
    };
    endpoint::request::<create_room::v3::Request>(target(session), &[], &[], json(&body)?)
}

/// The ID of the newly created room.
pub fn parse_create_room(response: HttpResponse<'_>) -> Result<OwnedRoomId, ApiError> {
    Ok(endpoint::parse::<RoomIdResponse>(response)?.room_id)
}

#[derive(Serialize)]
struct UserIdBody<'a> {
    user_id: &'a OwnedUserId,
}

/// `POST /_matrix/client/v3/rooms/{roomId}/invite`.
pub fn invite_request(
    session: &Session,
    room_id: &RoomId,
    user_id: OwnedUserId,
) -> Result<HttpRequest, ApiError> {
    let body = json(&UserIdBody { user_id: &user_id })?;
    endpoint::request::<invite_user::v3::Request>(target(session), &[&room_id], &[], body)
}

/// Checks that the invite went through.
pub fn parse_invite(response: HttpResponse<'_>) -> Result<(), ApiError> {
    endpoint::parse_empty(response)
}

/// `POST /_matrix/client/v3/join/{roomIdOrAlias}`: a room ID or an alias like `#a:hs`.
pub fn join_request(session: &Session, room_id_or_alias: &str) -> Result<HttpRequest, ApiError> {
    endpoint::request::<join_room_by_id_or_alias::v3::Request>(
        target(session),
        &[&room_id_or_alias],
        &[],
        None,
    )
}

/// The ID of the joined room.
pub fn parse_join(response: HttpResponse<'_>) -> Result<OwnedRoomId, ApiError> {
    Ok(endpoint::parse::<RoomIdResponse>(response)?.room_id)
}

/// `PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}` with any content.
///
/// The caller picks `txn_id` and must reuse it when retrying, so the server can de-duplicate.
pub(crate) fn send_request<T: Serialize>(
    session: &Session,
    room_id: &RoomId,
    event_type: &str,
    txn_id: &OwnedTransactionId,
    content: &T,
) -> Result<HttpRequest, ApiError> {
    endpoint::request::<send_message_event::v3::Request>(
        target(session),
        &[&room_id, &event_type, &txn_id],
        &[],
        json(content)?,
    )
}

/// The ID the server gave the sent event.
pub fn parse_send(response: HttpResponse<'_>) -> Result<OwnedEventId, ApiError> {
    Ok(endpoint::parse::<EventIdResponse>(response)?.event_id)
}

/// `GET /_matrix/client/v3/sync` with an inline filter.
///
/// Without `since` this is the initial sync, which should not long-poll (`timeout` zero).
pub fn sync_request(
    session: &Session,
    since: Option<&str>,
    timeout: Duration,
) -> Result<HttpRequest, ApiError> {
    // As u64: formatting a u128 would add its own code to the bundle.
    let timeout = u64::try_from(timeout.as_millis())
        .unwrap_or(u64::MAX)
        .to_string();
    let mut query = vec![("filter", SYNC_FILTER), ("timeout", timeout.as_str())];
    if let Some(since) = since {
        query.push(("since", since));
    }
    endpoint::request::<sync_events::v3::Request>(target(session), &[], &query, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session {
            homeserver: "http://localhost:8008".to_owned(),
            user_id: "@alice:localhost".try_into().unwrap(),
            device_id: "DEVICE".into(),
            access_token: "tok".to_owned(),
        }
    }

    #[test]
    fn sync_request_has_inline_filter_and_token() {
        let request = sync_request(&session(), Some("s1"), Duration::from_secs(30)).unwrap();
        let uri = request.uri().to_string();
        assert!(
            uri.starts_with("http://localhost:8008/_matrix/client/v3/sync?"),
            "{uri}"
        );
        assert!(uri.contains("since=s1"), "{uri}");
        assert!(uri.contains("timeout=30000"), "{uri}");
        assert!(uri.contains("lazy_load_members"), "{uri}");
        assert_eq!(request.headers()["authorization"], "Bearer tok");
    }

    #[test]
    fn send_text_puts_plain_body_under_txn_id() {
        let content = serde_json::json!({"msgtype": "m.text", "body": "hi"});
        let room_id: &RoomId = "!r:localhost".try_into().unwrap();
        let request = send_request(
            &session(),
            room_id,
            "m.room.message",
            &"t1".into(),
            &content,
        )
        .unwrap();
        assert_eq!(request.method(), http::Method::PUT);
        assert!(
            request.uri().path().ends_with("/send/m.room.message/t1"),
            "{}",
            request.uri()
        );
        let body: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
        assert_eq!(body, serde_json::json!({"msgtype": "m.text", "body": "hi"}));
    }

    #[test]
    fn create_room_is_private_chat_with_name() {
        let room = NewRoom {
            name: "Lobby".into(),
            ..NewRoom::default()
        };
        let request = create_room_request(&session(), &room).unwrap();
        let body: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
        assert_eq!(body["preset"], "private_chat");
        assert_eq!(body["name"], "Lobby");
        assert!(body.get("initial_state").is_none());
    }

    #[test]
    fn an_encrypted_room_is_encrypted_from_its_first_event() {
        let room = NewRoom {
            encrypted: true,
            ..NewRoom::default()
        };
        let request = create_room_request(&session(), &room).unwrap();
        let body: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
        assert_eq!(
            body["initial_state"],
            serde_json::json!([{"type": "m.room.encryption", "state_key": "",
                                "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
        );
    }

    #[test]
    fn parses_matrix_errors() {
        let response = http::Response::builder()
            .status(401)
            .body(&br#"{"errcode":"M_UNKNOWN_TOKEN","error":"gone"}"#[..])
            .unwrap();
        assert_eq!(parse_send(response), Err(ApiError::UnknownToken));
    }
}
