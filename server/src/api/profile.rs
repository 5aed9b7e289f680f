//! Profiles: display name and avatar.

use axum::extract::State;
use ruma::api::client::profile::{
    get_avatar_url, get_display_name, get_profile, set_avatar_url, set_display_name,
};

use super::ruma_wrapper::{Ruma, RumaResponse};
use crate::{
    error::{Error, Result},
    service::Services,
    storage::ProfileField,
};

fn lookup(services: &Services, user_id: &ruma::UserId) -> Result<(Option<String>, Option<String>)> {
    services
        .accounts
        .profile(user_id)?
        .ok_or_else(|| Error::not_found("No such user"))
}

/// # `GET /_matrix/client/v3/profile/{userId}`
pub async fn get(
    State(services): State<Services>,
    req: Ruma<get_profile::v3::Request>,
) -> Result<RumaResponse<get_profile::v3::Response>> {
    let (displayname, avatar_url) = lookup(&services, &req.body.user_id)?;
    let fields = [("displayname", displayname), ("avatar_url", avatar_url)]
        .into_iter()
        .filter_map(|(key, value)| Some((key.to_owned(), serde_json::Value::String(value?))));
    Ok(fields.collect::<get_profile::v3::Response>().into())
}

/// # `GET /_matrix/client/v3/profile/{userId}/displayname`
#[allow(deprecated)]
pub async fn get_displayname(
    State(services): State<Services>,
    req: Ruma<get_display_name::v3::Request>,
) -> Result<RumaResponse<get_display_name::v3::Response>> {
    Ok(get_display_name::v3::Response::new(lookup(&services, &req.body.user_id)?.0).into())
}

/// # `GET /_matrix/client/v3/profile/{userId}/avatar_url`
#[allow(deprecated)]
pub async fn get_avatar(
    State(services): State<Services>,
    req: Ruma<get_avatar_url::v3::Request>,
) -> Result<RumaResponse<get_avatar_url::v3::Response>> {
    let avatar = lookup(&services, &req.body.user_id)?.1.map(Into::into);
    Ok(get_avatar_url::v3::Response::new(avatar).into())
}

/// # `PUT /_matrix/client/v3/profile/{userId}/displayname`
#[allow(deprecated)]
pub async fn set_displayname(
    State(services): State<Services>,
    req: Ruma<set_display_name::v3::Request>,
) -> Result<RumaResponse<set_display_name::v3::Response>> {
    let who = req.requester()?;
    if who.user_id != req.body.user_id {
        return Err(Error::forbidden("You can only change your own profile"));
    }
    let name = req.body.displayname.as_deref().filter(|n| !n.is_empty());
    services
        .profile
        .set_profile_field(&who.user_id, ProfileField::DisplayName, name)
        .await?;
    Ok(set_display_name::v3::Response::new().into())
}

/// # `PUT /_matrix/client/v3/profile/{userId}/avatar_url`
#[allow(deprecated)]
pub async fn set_avatar(
    State(services): State<Services>,
    req: Ruma<set_avatar_url::v3::Request>,
) -> Result<RumaResponse<set_avatar_url::v3::Response>> {
    let who = req.requester()?;
    if who.user_id != req.body.user_id {
        return Err(Error::forbidden("You can only change your own profile"));
    }
    let avatar = req
        .body
        .avatar_url
        .as_ref()
        .map(|a| a.as_str())
        .filter(|a| !a.is_empty());
    services
        .profile
        .set_profile_field(&who.user_id, ProfileField::AvatarUrl, avatar)
        .await?;
    Ok(set_avatar_url::v3::Response::new().into())
}
