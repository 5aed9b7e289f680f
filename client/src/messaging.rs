//! Requests for what people do in a room: send messages, replies, edits and reactions,
//! delete, page back through history, say they are typing or have read something.

use std::time::Duration;

use ruma::{
    OwnedEventId, OwnedTransactionId, OwnedUserId, RoomId,
    api::client::{
        message::get_message_events, receipt::create_receipt, redact::redact_event,
        typing::create_typing_event,
    },
};
use serde::{Deserialize, Serialize};

use crate::{
    ApiError, HttpRequest, HttpResponse, Session,
    crypto::attachment::EncryptedFile,
    endpoint::{self, json},
    media::{InfoOut, MediaDraft},
    requests::{self, target},
    sync::RawEvent,
};

/// Events per back-pagination request.
pub const PAGE_SIZE: u32 = 50;

/// The content of an `m.room.message` we send.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct MessageOut {
    pub msgtype: &'static str,
    pub body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub formatted_body: Option<String>,
    #[serde(rename = "m.relates_to", skip_serializing_if = "Option::is_none")]
    pub relates_to: Option<RelationOut>,
    #[serde(rename = "m.new_content", skip_serializing_if = "Option::is_none")]
    pub new_content: Option<Box<MessageOut>>,
    #[serde(rename = "m.mentions", skip_serializing_if = "Option::is_none")]
    pub mentions: Option<MentionsOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// An encrypted file: its location and keys, in place of `url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<EncryptedFile>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<InfoOut>,
}

impl MessageOut {
    /// A text message from the composer: `body` is what was typed, `html` its rendering when
    /// the markdown made any difference.
    pub fn text(body: String, html: Option<String>) -> Self {
        Self {
            msgtype: "m.text",
            body,
            format: html.as_ref().map(|_| "org.matrix.custom.html"),
            formatted_body: html,
            relates_to: None,
            new_content: None,
            mentions: Some(MentionsOut::default()),
            url: None,
            file: None,
            filename: None,
            info: None,
        }
    }

    /// A media message: the caption (or else the file name) is the `body`, and `filename`
    /// is always set, so clients that know MSC2530 tell the two apart. An encrypted file
    /// goes in `file` (and its thumbnail in `info.thumbnail_file`), never in `url`.
    pub fn media(draft: &MediaDraft) -> Self {
        let body = draft
            .caption
            .clone()
            .unwrap_or_else(|| draft.filename.clone());
        Self {
            msgtype: draft.kind.msgtype(),
            url: draft.plain_url(),
            file: draft.file(),
            filename: Some(draft.filename.clone()),
            info: Some(draft.info()),
            ..Self::text(body, None)
        }
    }
}

/// `m.relates_to` of what we send.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct RelationOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rel_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<OwnedEventId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(rename = "m.in_reply_to", skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<ReplyOut>,
}

/// `m.in_reply_to`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ReplyOut {
    pub event_id: OwnedEventId,
}

/// `m.mentions`: who the message pings. Always sent (even empty), so that other clients do
/// not fall back to guessing mentions from the text.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct MentionsOut {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub user_ids: Vec<OwnedUserId>,
}

/// `m.reaction` content.
#[derive(Serialize)]
struct ReactionOut {
    #[serde(rename = "m.relates_to")]
    relates_to: RelationOut,
}

/// An `m.reaction` with `key` on `target`.
pub(crate) fn reaction_request(
    session: &Session,
    room_id: &RoomId,
    txn_id: OwnedTransactionId,
    target: OwnedEventId,
    key: String,
) -> Result<HttpRequest, ApiError> {
    let content = ReactionOut {
        relates_to: RelationOut {
            rel_type: Some("m.annotation"),
            event_id: Some(target),
            key: Some(key),
            in_reply_to: None,
        },
    };
    requests::send_request(session, room_id, "m.reaction", &txn_id, &content)
}

/// `PUT /rooms/{roomId}/redact/{eventId}/{txnId}`.
pub(crate) fn redact_request(
    session: &Session,
    room_id: &RoomId,
    event_id: OwnedEventId,
    txn_id: OwnedTransactionId,
) -> Result<HttpRequest, ApiError> {
    endpoint::request::<redact_event::v3::Request>(
        target(session),
        &[&room_id, &event_id, &txn_id],
        &[],
        None,
    )
}

/// Checks a redaction response (`{"event_id"}`, like a send).
pub fn parse_redact(response: HttpResponse<'_>) -> Result<OwnedEventId, ApiError> {
    requests::parse_send(response)
}

#[derive(Serialize)]
struct TypingBody {
    typing: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<u64>,
}

/// `PUT /rooms/{roomId}/typing/{userId}`: typing for `timeout`, or stopped (`None`).
pub(crate) fn typing_request(
    session: &Session,
    room_id: &RoomId,
    timeout: Option<Duration>,
) -> Result<HttpRequest, ApiError> {
    let body = TypingBody {
        typing: timeout.is_some(),
        timeout: timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
    };
    endpoint::request::<create_typing_event::v3::Request>(
        target(session),
        &[&room_id, &session.user_id],
        &[],
        json(&body)?,
    )
}

/// `POST /rooms/{roomId}/receipt/m.read/{eventId}`.
pub(crate) fn receipt_request(
    session: &Session,
    room_id: &RoomId,
    event_id: OwnedEventId,
) -> Result<HttpRequest, ApiError> {
    endpoint::request::<create_receipt::v3::Request>(
        target(session),
        &[&room_id, &"m.read", &event_id],
        &[],
        None,
    )
}

/// Checks a response whose body does not matter (typing, receipts, state, ...).
pub use crate::endpoint::parse_empty;

/// `GET /rooms/{roomId}/messages` backwards from `from`, with lazy-loaded members.
pub(crate) fn messages_request(
    session: &Session,
    room_id: &RoomId,
    from: &str,
) -> Result<HttpRequest, ApiError> {
    let limit = PAGE_SIZE.to_string();
    endpoint::request::<get_message_events::v3::Request>(
        target(session),
        &[&room_id],
        &[
            ("from", from),
            ("dir", "b"),
            ("limit", &limit),
            ("filter", r#"{"lazy_load_members":true}"#),
        ],
        None,
    )
}

/// A `/messages` response, events left raw (see [`crate::sync`] for why).
#[derive(Debug, Deserialize)]
#[non_exhaustive]
pub struct MessagesPage {
    /// Events, newest first.
    #[serde(default)]
    pub chunk: Vec<RawEvent>,
    /// Member events for the senders of `chunk`.
    #[serde(default)]
    pub state: Vec<RawEvent>,
    /// Token for the next (older) page; absent at the start of the room.
    pub end: Option<String>,
}

/// Parses a `/messages` response.
pub fn parse_messages(response: HttpResponse<'_>) -> Result<MessagesPage, ApiError> {
    endpoint::parse(response)
}
