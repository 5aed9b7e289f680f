//! `GET /_matrix/client/v3/sync`.

use std::time::Duration;

use axum::extract::State;
use ruma::api::client::{
    filter::FilterDefinition,
    sync::sync_events::{self, v3::Filter},
};

use super::ruma_wrapper::{Ruma, RumaResponse};
use crate::{
    error::{Error, Result},
    service::{
        Services,
        sync::{DEFAULT_TIMELINE_LIMIT, SyncParams, parse_token},
    },
};

/// # `GET /_matrix/client/v3/sync`
pub async fn sync(
    State(services): State<Services>,
    req: Ruma<sync_events::v3::Request>,
) -> Result<RumaResponse<sync_events::v3::Response>> {
    let who = req.requester()?;
    let body = &req.body;
    let stored;
    let definition = match &body.filter {
        Some(Filter::FilterDefinition(def)) => Some(def),
        Some(Filter::FilterId(id)) => {
            let json = services
                .filter(&who.user_id, id)
                .map_err(|_| Error::invalid_param(format!("Unknown filter {id}")))?;
            stored = serde_json::from_str::<FilterDefinition>(&json)?;
            Some(&stored)
        }
        None => None,
        Some(_) => return Err(Error::invalid_param("Unsupported filter")),
    };
    let (timeline_limit, lazy_load_members) = match definition {
        Some(def) => (
            def.room.timeline.limit.map(|l| u64::from(l) as usize),
            !def.room.state.lazy_load_options.is_disabled(),
        ),
        None => (None, false),
    };
    let params = SyncParams {
        since: body.since.as_deref().map(parse_token).transpose()?,
        timeout: body.timeout.unwrap_or(Duration::ZERO),
        full_state: body.full_state,
        timeline_limit: timeline_limit.unwrap_or(DEFAULT_TIMELINE_LIMIT),
        lazy_load_members,
        set_presence: body.set_presence.as_str().to_owned(),
    };
    Ok(services.sync(who, params).await?.into())
}
