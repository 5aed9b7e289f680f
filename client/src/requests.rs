//! Building typed Matrix requests into [`http::Request`]s and parsing their responses.
//!
//! Every endpoint the app uses gets a `*_request` builder and, where the response carries
//! something we need, a `parse_*` function. `/sync` is special: its request is built here but
//! its response is parsed by [`crate::sync`] with small structs, see there for why.

use std::{borrow::Cow, collections::BTreeSet, time::Duration};

use ruma::{
    OwnedEventId, OwnedRoomId, OwnedTransactionId, OwnedUserId, RoomId, UInt,
    api::{
        IncomingResponseExt, MatrixVersion, OutgoingRequest, OutgoingRequestExt, SupportedVersions,
        auth_scheme::{AuthScheme, SendAccessToken},
        client::{
            account::whoami,
            filter::{FilterDefinition, LazyLoadOptions},
            membership::{
                invite_user::{
                    self,
                    v3::{InvitationRecipient, InviteUserId},
                },
                join_room_by_id,
            },
            message::send_message_event,
            room::{Visibility, create_room},
            session::logout,
            sync::sync_events,
        },
        error::Error as MatrixError,
        path_builder::VersionHistory,
    },
    events::MessageLikeEventType,
    serde::Raw,
};
use serde::Serialize;

use crate::{ApiError, HttpRequest, HttpResponse, Session};

/// How many timeline events per room a sync returns at most.
pub const TIMELINE_LIMIT: u32 = 30;

/// The Matrix versions we speak; we don't query `/versions` because every endpoint we use has
/// been stable since v1.1 and v1.11 is the baseline the spec notes ask servers for.
fn supported_versions() -> SupportedVersions {
    SupportedVersions {
        versions: BTreeSet::from([MatrixVersion::V1_11]),
        features: BTreeSet::new(),
    }
}

/// Serializes any ruma client request for `homeserver`, with the access token if given.
pub(crate) fn build<R>(
    request: R,
    homeserver: &str,
    access_token: Option<&str>,
) -> Result<HttpRequest, ApiError>
where
    R: OutgoingRequest<PathBuilder = VersionHistory>,
    for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
{
    let token = access_token.map_or(SendAccessToken::None, SendAccessToken::IfRequired);
    Ok(request.try_into_http_request::<Vec<u8>>(
        homeserver,
        token,
        Cow::Owned(supported_versions()),
    )?)
}

/// Parses a response of an endpoint whose errors are plain Matrix errors.
pub(crate) fn parse<R>(response: HttpResponse<'_>) -> Result<R, ApiError>
where
    R: IncomingResponseExt<EndpointError = MatrixError>,
{
    Ok(R::try_from_http_response(response)?)
}

/// Parses a JSON body into our own small struct, mapping error statuses like [`parse`].
pub(crate) fn parse_raw<T: serde::de::DeserializeOwned>(
    response: HttpResponse<'_>,
) -> Result<T, ApiError> {
    if response.status().as_u16() >= 400 {
        let error = <MatrixError as ruma::api::EndpointError>::from_http_response(response);
        return Err(ApiError::from_matrix(&error));
    }
    serde_json::from_slice(response.body()).map_err(|error| ApiError::Malformed(error.to_string()))
}

/// `GET /_matrix/client/v3/account/whoami`: checks a restored session is still valid.
pub fn whoami_request(session: &Session) -> Result<HttpRequest, ApiError> {
    build(
        whoami::v3::Request::new(),
        &session.homeserver,
        Some(&session.access_token),
    )
}

/// The user the access token belongs to.
pub fn parse_whoami(response: HttpResponse<'_>) -> Result<OwnedUserId, ApiError> {
    Ok(parse::<whoami::v3::Response>(response)?.user_id)
}

/// `POST /_matrix/client/v3/logout`: ends the session and deletes the device on the server.
pub fn logout_request(session: &Session) -> Result<HttpRequest, ApiError> {
    build(
        logout::v3::Request::new(),
        &session.homeserver,
        Some(&session.access_token),
    )
}

/// Checks that logout succeeded.
pub fn parse_logout(response: HttpResponse<'_>) -> Result<(), ApiError> {
    parse::<logout::v3::Response>(response).map(drop)
}

/// `POST /_matrix/client/v3/createRoom` for a private room with the given name.
pub fn create_room_request(session: &Session, name: &str) -> Result<HttpRequest, ApiError> {
    let mut request = create_room::v3::Request::new();
    request.name = Some(name.to_owned()).filter(|name| !name.is_empty());
    request.preset = Some(create_room::v3::RoomPreset::PrivateChat);
    request.visibility = Visibility::Private;
    build(request, &session.homeserver, Some(&session.access_token))
}

/// The ID of the newly created room.
pub fn parse_create_room(response: HttpResponse<'_>) -> Result<OwnedRoomId, ApiError> {
    Ok(parse::<create_room::v3::Response>(response)?.room_id)
}

/// `POST /_matrix/client/v3/rooms/{roomId}/invite`.
pub fn invite_request(
    session: &Session,
    room_id: &RoomId,
    user_id: OwnedUserId,
) -> Result<HttpRequest, ApiError> {
    let recipient = InvitationRecipient::UserId(InviteUserId::new(user_id));
    let request = invite_user::v3::Request::new(room_id.to_owned(), recipient);
    build(request, &session.homeserver, Some(&session.access_token))
}

/// Checks that the invite went through.
pub fn parse_invite(response: HttpResponse<'_>) -> Result<(), ApiError> {
    parse::<invite_user::v3::Response>(response).map(drop)
}

/// `POST /_matrix/client/v3/rooms/{roomId}/join`.
pub fn join_request(session: &Session, room_id: &RoomId) -> Result<HttpRequest, ApiError> {
    let request = join_room_by_id::v3::Request::new(room_id.to_owned());
    build(request, &session.homeserver, Some(&session.access_token))
}

/// The ID of the joined room.
pub fn parse_join(response: HttpResponse<'_>) -> Result<OwnedRoomId, ApiError> {
    Ok(parse::<join_room_by_id::v3::Response>(response)?.room_id)
}

/// The content of a plain-text `m.room.message`.
///
/// Our own tiny struct rather than ruma's `RoomMessageEventContent`: serializing that pulls in
/// every message type, and we only ever send text.
#[derive(Serialize)]
struct TextContent<'a> {
    msgtype: &'static str,
    body: &'a str,
}

/// `PUT /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}` with a text body.
///
/// The caller picks `txn_id` and must reuse it when retrying, so the server can de-duplicate.
pub fn send_text_request(
    session: &Session,
    room_id: &RoomId,
    txn_id: OwnedTransactionId,
    body: &str,
) -> Result<HttpRequest, ApiError> {
    let content = serde_json::value::to_raw_value(&TextContent {
        msgtype: "m.text",
        body,
    })
    .map_err(|error| ApiError::InvalidRequest(error.to_string()))?;
    let request = send_message_event::v3::Request::new_raw(
        room_id.to_owned(),
        txn_id,
        MessageLikeEventType::RoomMessage,
        Raw::from_json(content),
    );
    build(request, &session.homeserver, Some(&session.access_token))
}

/// The ID the server gave the sent event.
pub fn parse_send(response: HttpResponse<'_>) -> Result<OwnedEventId, ApiError> {
    Ok(parse::<send_message_event::v3::Response>(response)?.event_id)
}

/// `GET /_matrix/client/v3/sync` with an inline filter.
///
/// Without `since` this is the initial sync, which should not long-poll (`timeout` zero).
pub fn sync_request(
    session: &Session,
    since: Option<&str>,
    timeout: Duration,
) -> Result<HttpRequest, ApiError> {
    let mut filter = FilterDefinition::default();
    let lazy = LazyLoadOptions::Enabled {
        include_redundant_members: false,
    };
    filter.room.timeline.limit = Some(UInt::from(TIMELINE_LIMIT));
    filter.room.timeline.lazy_load_options = lazy;
    filter.room.state.lazy_load_options = lazy;

    let mut request = sync_events::v3::Request::new();
    request.filter = Some(filter.into());
    request.since = since.map(ToOwned::to_owned);
    request.timeout = Some(timeout);
    build(request, &session.homeserver, Some(&session.access_token))
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
        let request = send_text_request(
            &session(),
            "!r:localhost".try_into().unwrap(),
            "t1".into(),
            "hi",
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
        let request = create_room_request(&session(), "Lobby").unwrap();
        let body: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
        assert_eq!(body["preset"], "private_chat");
        assert_eq!(body["name"], "Lobby");
    }

    #[test]
    fn parses_matrix_errors() {
        let response = http::Response::builder()
            .status(401)
            .body(&br#"{"errcode":"M_UNKNOWN_TOKEN","error":"gone"}"#[..])
            .unwrap();
        assert_eq!(parse_whoami(response), Err(ApiError::UnknownToken));
    }
}
