//! Push rules: read one, add or replace user rules, enable, set actions.
//! (The whole rule set is served by `account_data::push_rules`.)

use axum::extract::State;
use ruma::api::client::push::{
    delete_pushrule, get_pushrule, get_pushrule_actions, get_pushrule_enabled, set_pushrule,
    set_pushrule_actions, set_pushrule_enabled,
};

use super::ruma_wrapper::{Ruma, RumaResponse};
use crate::{
    error::{Error, Result},
    service::Services,
};

fn not_found() -> Error {
    Error::not_found("No push rule with that kind and ID")
}

/// # `GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}`
pub async fn get(
    State(services): State<Services>,
    req: Ruma<get_pushrule::v3::Request>,
) -> Result<RumaResponse<get_pushrule::v3::Response>> {
    let rules = services
        .account_data
        .push_rules(&req.requester()?.user_id)?;
    let rule = rules
        .get(req.body.kind.clone(), &req.body.rule_id)
        .ok_or_else(not_found)?
        .to_owned();
    Ok(get_pushrule::v3::Response::new(rule.into()).into())
}

/// # `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}`
pub async fn set(
    State(services): State<Services>,
    req: Ruma<set_pushrule::v3::Request>,
) -> Result<RumaResponse<set_pushrule::v3::Response>> {
    let body = &req.body;
    services
        .account_data
        .update_push_rules(&req.requester()?.user_id, |rules| {
            rules
                .insert(
                    body.rule.clone(),
                    body.after.as_deref(),
                    body.before.as_deref(),
                )
                .map_err(|e| Error::invalid_param(e.to_string()))
        })?;
    Ok(set_pushrule::v3::Response::new().into())
}

/// # `DELETE /_matrix/client/v3/pushrules/global/{kind}/{ruleId}`
pub async fn delete(
    State(services): State<Services>,
    req: Ruma<delete_pushrule::v3::Request>,
) -> Result<RumaResponse<delete_pushrule::v3::Response>> {
    let body = &req.body;
    services
        .account_data
        .update_push_rules(&req.requester()?.user_id, |rules| {
            if rules.get(body.kind.clone(), &body.rule_id).is_none() {
                return Err(not_found());
            }
            rules
                .remove(body.kind.clone(), &body.rule_id)
                .map_err(|e| Error::invalid_param(e.to_string()))
        })?;
    Ok(delete_pushrule::v3::Response::new().into())
}

/// # `GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled`
pub async fn get_enabled(
    State(services): State<Services>,
    req: Ruma<get_pushrule_enabled::v3::Request>,
) -> Result<RumaResponse<get_pushrule_enabled::v3::Response>> {
    let rules = services
        .account_data
        .push_rules(&req.requester()?.user_id)?;
    let rule = rules
        .get(req.body.kind.clone(), &req.body.rule_id)
        .ok_or_else(not_found)?;
    Ok(get_pushrule_enabled::v3::Response::new(rule.enabled()).into())
}

/// # `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled`
pub async fn set_enabled(
    State(services): State<Services>,
    req: Ruma<set_pushrule_enabled::v3::Request>,
) -> Result<RumaResponse<set_pushrule_enabled::v3::Response>> {
    let body = &req.body;
    services
        .account_data
        .update_push_rules(&req.requester()?.user_id, |rules| {
            rules
                .set_enabled(body.kind.clone(), &body.rule_id, body.enabled)
                .map_err(|_| not_found())
        })?;
    Ok(set_pushrule_enabled::v3::Response::new().into())
}

/// # `GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions`
pub async fn get_actions(
    State(services): State<Services>,
    req: Ruma<get_pushrule_actions::v3::Request>,
) -> Result<RumaResponse<get_pushrule_actions::v3::Response>> {
    let rules = services
        .account_data
        .push_rules(&req.requester()?.user_id)?;
    let rule = rules
        .get(req.body.kind.clone(), &req.body.rule_id)
        .ok_or_else(not_found)?;
    Ok(get_pushrule_actions::v3::Response::new(rule.actions().to_vec()).into())
}

/// # `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions`
pub async fn set_actions(
    State(services): State<Services>,
    req: Ruma<set_pushrule_actions::v3::Request>,
) -> Result<RumaResponse<set_pushrule_actions::v3::Response>> {
    let body = &req.body;
    services
        .account_data
        .update_push_rules(&req.requester()?.user_id, |rules| {
            rules
                .set_actions(body.kind.clone(), &body.rule_id, body.actions.clone())
                .map_err(|_| not_found())
        })?;
    Ok(set_pushrule_actions::v3::Response::new().into())
}
