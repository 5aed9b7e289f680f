//! Rooms and membership: createRoom, invite, join, leave.

use axum::extract::State;
use ruma::api::client::{
    membership::{invite_user, join_room_by_id, leave_room},
    room::create_room,
};

use super::ruma_wrapper::{Ruma, RumaResponse};
use crate::{error::{Error, Result}, service::Services};

/// # `POST /_matrix/client/v3/createRoom`
pub async fn create_room(
    State(services): State<Services>,
    req: Ruma<create_room::v3::Request>,
) -> Result<RumaResponse<create_room::v3::Response>> {
    let room_id = services.create_room(req.requester()?, &req.body).await?;
    Ok(create_room::v3::Response::new(room_id).into())
}

/// # `POST /_matrix/client/v3/rooms/{roomId}/invite`
pub async fn invite(
    State(services): State<Services>,
    req: Ruma<invite_user::v3::Request>,
) -> Result<RumaResponse<invite_user::v3::Response>> {
    let who = req.requester()?;
    let invite_user::v3::InvitationRecipient::UserId(recipient) = &req.body.recipient else {
        return Err(Error::invalid_param("Third-party invites are not supported"));
    };
    services.invite(&req.body.room_id, &who.user_id, &recipient.user_id, false).await?;
    Ok(invite_user::v3::Response::new().into())
}

/// # `POST /_matrix/client/v3/rooms/{roomId}/join`
pub async fn join(
    State(services): State<Services>,
    req: Ruma<join_room_by_id::v3::Request>,
) -> Result<RumaResponse<join_room_by_id::v3::Response>> {
    services.join(&req.body.room_id, &req.requester()?.user_id).await?;
    Ok(join_room_by_id::v3::Response::new(req.body.room_id.clone()).into())
}

/// # `POST /_matrix/client/v3/rooms/{roomId}/leave`
pub async fn leave(
    State(services): State<Services>,
    req: Ruma<leave_room::v3::Request>,
) -> Result<RumaResponse<leave_room::v3::Response>> {
    services.leave(&req.body.room_id, &req.requester()?.user_id).await?;
    Ok(leave_room::v3::Response::new().into())
}
