//! Presence.

use std::time::Duration;

use axum::extract::State;
use ruma::{
    api::client::presence::{get_presence, set_presence},
    presence::PresenceState,
};

use super::ruma_wrapper::{Ruma, RumaResponse};
use crate::{
    error::{Error, Result},
    service::Services,
};

/// # `PUT /_matrix/client/v3/presence/{userId}/status`
pub async fn set(
    State(services): State<Services>,
    req: Ruma<set_presence::v3::Request>,
) -> Result<RumaResponse<set_presence::v3::Response>> {
    let who = req.requester()?;
    if who.user_id != req.body.user_id {
        return Err(Error::forbidden("You can only set your own presence"));
    }
    services.presence.set_presence(
        &who.user_id,
        req.body.presence.as_str(),
        req.body.status_msg.as_deref(),
    )?;
    Ok(set_presence::v3::Response::new().into())
}

/// # `GET /_matrix/client/v3/presence/{userId}/status`
pub async fn get(
    State(services): State<Services>,
    req: Ruma<get_presence::v3::Request>,
) -> Result<RumaResponse<get_presence::v3::Response>> {
    let who = req.requester()?;
    let user = &req.body.user_id;
    if *user != who.user_id
        && !services
            .keys
            .users_sharing_rooms(&who.user_id)?
            .contains(user)
    {
        return Err(Error::forbidden("You do not share a room with that user"));
    }
    let p = services.presence.presence(user)?;
    let mut response = get_presence::v3::Response::new(PresenceState::from(p.state.as_str()));
    response.status_msg = p.status_msg;
    response.currently_active = Some(p.currently_active);
    response.last_active_ago = p.last_active_ago.map(Duration::from_millis);
    Ok(response.into())
}
