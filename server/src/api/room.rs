//! Rooms and membership: createRoom, invite, join (by ID or alias), leave,
//! members, moderation.

use axum::extract::State;
use ruma::api::client::{
    membership::{
        ban_user, forget_room, invite_user, join_room_by_id, join_room_by_id_or_alias,
        joined_members, joined_rooms, kick_user, leave_room, unban_user,
    },
    room::create_room,
};

use super::ruma_wrapper::{Ruma, RumaResponse};
use crate::{
    error::{Error, Result},
    service::{Services, ratelimit::Action},
};

/// # `POST /_matrix/client/v3/createRoom`
pub async fn create_room(
    State(services): State<Services>,
    req: Ruma<create_room::v3::Request>,
) -> Result<RumaResponse<create_room::v3::Response>> {
    let who = req.requester()?;
    services.rate_limit(Action::CreateRoom, who.user_id.as_str())?;
    let room_id = services.rooms.create_room(who, &req.body).await?;
    Ok(create_room::v3::Response::new(room_id).into())
}

/// # `POST /_matrix/client/v3/rooms/{roomId}/invite`
pub async fn invite(
    State(services): State<Services>,
    req: Ruma<invite_user::v3::Request>,
) -> Result<RumaResponse<invite_user::v3::Response>> {
    let who = req.requester()?;
    let invite_user::v3::InvitationRecipient::UserId(recipient) = &req.body.recipient else {
        return Err(Error::invalid_param(
            "Third-party invites are not supported",
        ));
    };
    services
        .rooms
        .invite(&req.body.room_id, &who.user_id, &recipient.user_id, false)
        .await?;
    Ok(invite_user::v3::Response::new().into())
}

/// # `POST /_matrix/client/v3/rooms/{roomId}/join`
pub async fn join(
    State(services): State<Services>,
    req: Ruma<join_room_by_id::v3::Request>,
) -> Result<RumaResponse<join_room_by_id::v3::Response>> {
    services
        .rooms
        .join(&req.body.room_id, &req.requester()?.user_id)
        .await?;
    Ok(join_room_by_id::v3::Response::new(req.body.room_id.clone()).into())
}

/// # `POST /_matrix/client/v3/join/{roomIdOrAlias}`
pub async fn join_by_id_or_alias(
    State(services): State<Services>,
    req: Ruma<join_room_by_id_or_alias::v3::Request>,
) -> Result<RumaResponse<join_room_by_id_or_alias::v3::Response>> {
    let who = req.requester()?;
    let room_id = match <&ruma::RoomId>::try_from(&*req.body.room_id_or_alias) {
        Ok(room_id) => room_id.to_owned(),
        Err(alias) => services.directory.resolve_alias(alias)?,
    };
    services.rooms.join(&room_id, &who.user_id).await?;
    Ok(join_room_by_id_or_alias::v3::Response::new(room_id).into())
}

/// # `POST /_matrix/client/v3/rooms/{roomId}/leave`
pub async fn leave(
    State(services): State<Services>,
    req: Ruma<leave_room::v3::Request>,
) -> Result<RumaResponse<leave_room::v3::Response>> {
    services
        .rooms
        .leave(&req.body.room_id, &req.requester()?.user_id)
        .await?;
    Ok(leave_room::v3::Response::new().into())
}

/// # `GET /_matrix/client/v3/joined_rooms`
pub async fn joined_rooms(
    State(services): State<Services>,
    req: Ruma<joined_rooms::v3::Request>,
) -> Result<RumaResponse<joined_rooms::v3::Response>> {
    let who = req.requester()?;
    let rooms = services.rooms.joined_rooms(&who.user_id)?;
    Ok(joined_rooms::v3::Response::new(rooms).into())
}

/// # `GET /_matrix/client/v3/rooms/{roomId}/joined_members`
pub async fn joined_members(
    State(services): State<Services>,
    req: Ruma<joined_members::v3::Request>,
) -> Result<RumaResponse<joined_members::v3::Response>> {
    let who = req.requester()?;
    let members = services.rooms.joined_members(&req.body.room_id)?;
    if !members.contains(&who.user_id) {
        return Err(Error::forbidden("You are not in this room"));
    }
    let mut joined = std::collections::BTreeMap::new();
    for user_id in members {
        let content = services
            .rooms
            .member_content_in(&req.body.room_id, &user_id)?;
        let mut member = joined_members::v3::RoomMember::new();
        member.display_name = content.displayname;
        member.avatar_url = content.avatar_url.map(Into::into);
        joined.insert(user_id, member);
    }
    Ok(joined_members::v3::Response::new(joined).into())
}

/// # `POST /_matrix/client/v3/rooms/{roomId}/kick`
pub async fn kick(
    State(services): State<Services>,
    req: Ruma<kick_user::v3::Request>,
) -> Result<RumaResponse<kick_user::v3::Response>> {
    let b = &req.body;
    services
        .rooms
        .moderate(
            &b.room_id,
            &req.requester()?.user_id,
            &b.user_id,
            "leave",
            b.reason.as_deref(),
        )
        .await?;
    Ok(kick_user::v3::Response::new().into())
}

/// # `POST /_matrix/client/v3/rooms/{roomId}/ban`
pub async fn ban(
    State(services): State<Services>,
    req: Ruma<ban_user::v3::Request>,
) -> Result<RumaResponse<ban_user::v3::Response>> {
    let b = &req.body;
    services
        .rooms
        .moderate(
            &b.room_id,
            &req.requester()?.user_id,
            &b.user_id,
            "ban",
            b.reason.as_deref(),
        )
        .await?;
    Ok(ban_user::v3::Response::new().into())
}

/// # `POST /_matrix/client/v3/rooms/{roomId}/unban`
pub async fn unban(
    State(services): State<Services>,
    req: Ruma<unban_user::v3::Request>,
) -> Result<RumaResponse<unban_user::v3::Response>> {
    let b = &req.body;
    services
        .rooms
        .moderate(
            &b.room_id,
            &req.requester()?.user_id,
            &b.user_id,
            "leave",
            b.reason.as_deref(),
        )
        .await?;
    Ok(unban_user::v3::Response::new().into())
}

/// # `POST /_matrix/client/v3/rooms/{roomId}/forget`
pub async fn forget(
    State(services): State<Services>,
    req: Ruma<forget_room::v3::Request>,
) -> Result<RumaResponse<forget_room::v3::Response>> {
    services
        .rooms
        .forget(&req.body.room_id, &req.requester()?.user_id)?;
    Ok(forget_room::v3::Response::new().into())
}
