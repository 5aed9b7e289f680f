//! Account data, filters and push rules.

use axum::extract::State;
use ruma::{
    api::client::{
        config::{
            get_global_account_data, get_room_account_data, set_global_account_data,
            set_room_account_data,
        },
        filter::{create_filter, get_filter},
        push::{get_pushers, get_pushrules_all, get_pushrules_global_scope},
    },
    serde::Raw,
};

use super::ruma_wrapper::{Ruma, RumaResponse};
use crate::{
    error::{Error, Result},
    service::{Services, accounts::Requester},
};

fn own(who: &Requester, user_id: &ruma::UserId) -> Result<()> {
    if who.user_id != user_id {
        return Err(Error::forbidden(
            "You can only access your own account data",
        ));
    }
    Ok(())
}

/// # `PUT /_matrix/client/v3/user/{userId}/account_data/{type}`
pub async fn set_global(
    State(services): State<Services>,
    req: Ruma<set_global_account_data::v3::Request>,
) -> Result<RumaResponse<set_global_account_data::v3::Response>> {
    let who = req.requester()?;
    own(who, &req.body.user_id)?;
    services.account_data.set_account_data(
        &who.user_id,
        None,
        &req.body.event_type.to_string(),
        req.body.data.json(),
    )?;
    Ok(set_global_account_data::v3::Response::new().into())
}

/// # `GET /_matrix/client/v3/user/{userId}/account_data/{type}`
pub async fn get_global(
    State(services): State<Services>,
    req: Ruma<get_global_account_data::v3::Request>,
) -> Result<RumaResponse<get_global_account_data::v3::Response>> {
    let who = req.requester()?;
    own(who, &req.body.user_id)?;
    let data =
        services
            .account_data
            .account_data(&who.user_id, None, &req.body.event_type.to_string())?;
    Ok(get_global_account_data::v3::Response::new(Raw::from_json(data)).into())
}

/// # `PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}`
pub async fn set_room(
    State(services): State<Services>,
    req: Ruma<set_room_account_data::v3::Request>,
) -> Result<RumaResponse<set_room_account_data::v3::Response>> {
    let who = req.requester()?;
    own(who, &req.body.user_id)?;
    let body = &req.body;
    services.account_data.set_account_data(
        &who.user_id,
        Some(&body.room_id),
        &body.event_type.to_string(),
        body.data.json(),
    )?;
    Ok(set_room_account_data::v3::Response::new().into())
}

/// # `GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}`
pub async fn get_room(
    State(services): State<Services>,
    req: Ruma<get_room_account_data::v3::Request>,
) -> Result<RumaResponse<get_room_account_data::v3::Response>> {
    let who = req.requester()?;
    own(who, &req.body.user_id)?;
    let data = services.account_data.account_data(
        &who.user_id,
        Some(&req.body.room_id),
        &req.body.event_type.to_string(),
    )?;
    Ok(get_room_account_data::v3::Response::new(Raw::from_json(data)).into())
}

/// # `POST /_matrix/client/v3/user/{userId}/filter`
pub async fn create(
    State(services): State<Services>,
    req: Ruma<create_filter::v3::Request>,
) -> Result<RumaResponse<create_filter::v3::Response>> {
    let who = req.requester()?;
    if who.user_id != req.body.user_id {
        return Err(Error::forbidden("You can only create filters for yourself"));
    }
    let json = serde_json::to_string(&req.body.filter)?;
    Ok(
        create_filter::v3::Response::new(services.account_data.create_filter(&who.user_id, &json)?)
            .into(),
    )
}

/// # `GET /_matrix/client/v3/user/{userId}/filter/{filterId}`
pub async fn get(
    State(services): State<Services>,
    req: Ruma<get_filter::v3::Request>,
) -> Result<RumaResponse<get_filter::v3::Response>> {
    let who = req.requester()?;
    if who.user_id != req.body.user_id {
        return Err(Error::not_found("No such filter"));
    }
    let json = services
        .account_data
        .filter(&who.user_id, &req.body.filter_id)?;
    Ok(get_filter::v3::Response::new(serde_json::from_str(&json)?).into())
}

/// # `GET /_matrix/client/v3/pushrules/`
pub async fn push_rules(
    State(services): State<Services>,
    req: Ruma<get_pushrules_all::v3::Request>,
) -> Result<RumaResponse<get_pushrules_all::v3::Response>> {
    Ok(get_pushrules_all::v3::Response::new(
        services
            .account_data
            .push_rules(&req.requester()?.user_id)?,
    )
    .into())
}

/// # `GET /_matrix/client/v3/pushrules/global/`
pub async fn push_rules_global(
    State(services): State<Services>,
    req: Ruma<get_pushrules_global_scope::v3::Request>,
) -> Result<RumaResponse<get_pushrules_global_scope::v3::Response>> {
    Ok(get_pushrules_global_scope::v3::Response::new(
        services
            .account_data
            .push_rules(&req.requester()?.user_id)?,
    )
    .into())
}

/// # `GET /_matrix/client/v3/pushers`
///
/// No push gateway is reachable from a self-hosted box without internet, so
/// nobody has pushers yet; the list is truthfully empty.
pub async fn pushers(
    req: Ruma<get_pushers::v3::Request>,
) -> Result<RumaResponse<get_pushers::v3::Response>> {
    req.requester()?;
    Ok(get_pushers::v3::Response::new(Vec::new()).into())
}
