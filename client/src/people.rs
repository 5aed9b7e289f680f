//! Requests for managing rooms and people: leave, remove someone, change a room's name or
//! topic, our display name, DMs in `m.direct`, and the full member list.

use ruma::{
    OwnedUserId, RoomId, UserId,
    api::client::{
        config::set_global_account_data,
        membership::{get_member_events, kick_user, leave_room},
        profile::{set_avatar_url, set_display_name},
        state::send_state_event,
    },
};
use serde::{Deserialize, Serialize};

use crate::{
    ApiError, HttpRequest, HttpResponse, Session,
    content::DirectContent,
    endpoint::{self, json},
    media::Mxc,
    requests::target,
    sync::RawEvent,
};

/// `POST /rooms/{roomId}/leave`.
pub(crate) fn leave_request(session: &Session, room_id: &RoomId) -> Result<HttpRequest, ApiError> {
    endpoint::request::<leave_room::v3::Request>(target(session), &[&room_id], &[], None)
}

#[derive(Serialize)]
struct KickBody<'a> {
    user_id: &'a UserId,
    #[serde(skip_serializing_if = "str::is_empty")]
    reason: &'a str,
}

/// `POST /rooms/{roomId}/kick`.
pub(crate) fn kick_request(
    session: &Session,
    room_id: &RoomId,
    user_id: &UserId,
    reason: &str,
) -> Result<HttpRequest, ApiError> {
    let body = json(&KickBody { user_id, reason })?;
    endpoint::request::<kick_user::v3::Request>(target(session), &[&room_id], &[], body)
}

/// `PUT /rooms/{roomId}/state/{eventType}/{stateKey}`.
pub(crate) fn state_request<T: Serialize>(
    session: &Session,
    room_id: &RoomId,
    event_type: &str,
    state_key: &str,
    content: &T,
) -> Result<HttpRequest, ApiError> {
    endpoint::request::<send_state_event::v3::Request>(
        target(session),
        &[&room_id, &event_type, &state_key],
        &[],
        json(content)?,
    )
}

#[derive(Serialize)]
struct DisplayNameBody<'a> {
    displayname: &'a str,
}

/// `PUT /profile/{userId}/displayname`.
pub(crate) fn display_name_request(session: &Session, name: &str) -> Result<HttpRequest, ApiError> {
    let body = json(&DisplayNameBody {
        displayname: name.trim(),
    })?;
    endpoint::request::<set_display_name::v3::Request>(
        target(session),
        &[&session.user_id],
        &[],
        body,
    )
}

#[derive(Serialize)]
struct AvatarUrlBody {
    avatar_url: String,
}

/// `PUT /profile/{userId}/avatar_url`.
pub(crate) fn avatar_url_request(session: &Session, mxc: &Mxc) -> Result<HttpRequest, ApiError> {
    let body = json(&AvatarUrlBody {
        avatar_url: mxc.to_string(),
    })?;
    endpoint::request::<set_avatar_url::v3::Request>(
        target(session),
        &[&session.user_id],
        &[],
        body,
    )
}

/// `PUT /user/{userId}/account_data/m.direct`.
pub(crate) fn direct_request(
    session: &Session,
    direct: &DirectContent,
) -> Result<HttpRequest, ApiError> {
    endpoint::request::<set_global_account_data::v3::Request>(
        target(session),
        &[&session.user_id, &"m.direct"],
        &[],
        json(direct)?,
    )
}

/// `GET /rooms/{roomId}/members`, current joined and invited members only.
pub(crate) fn members_request(
    session: &Session,
    room_id: &RoomId,
) -> Result<HttpRequest, ApiError> {
    endpoint::request::<get_member_events::v3::Request>(
        target(session),
        &[&room_id],
        &[("not_membership", "leave")],
        None,
    )
}

/// A `/members` response: member events, left raw.
#[derive(Debug, Deserialize)]
pub(crate) struct MembersPage {
    #[serde(default)]
    pub chunk: Vec<RawEvent>,
}

pub(crate) fn parse_members(response: HttpResponse<'_>) -> Result<MembersPage, ApiError> {
    endpoint::parse(response)
}

/// Someone to start a DM with, checked to be a user ID.
pub fn parse_user_id(text: &str) -> Result<OwnedUserId, ApiError> {
    OwnedUserId::try_from(text.trim()).map_err(|_| {
        ApiError::InvalidRequest(format!(
            "{} is not a user ID like @name:server",
            text.trim()
        ))
    })
}
