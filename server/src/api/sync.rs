//! `GET /_matrix/client/v3/sync`.

use std::time::Duration;

use axum::extract::State;
use ruma::api::client::sync::sync_events::{self, v3::Filter};

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
    let (timeline_limit, lazy_load_members) = match &body.filter {
        Some(Filter::FilterDefinition(def)) => (
            def.room.timeline.limit.map(|l| u64::from(l) as usize),
            !def.room.state.lazy_load_options.is_disabled(),
        ),
        // Stored filters arrive with the homeserver issue; until then an ID
        // means defaults rather than an error, so Element's start-up proceeds.
        Some(Filter::FilterId(_)) | None => (None, false),
        Some(_) => return Err(Error::invalid_param("Unsupported filter")),
    };
    let params = SyncParams {
        since: body.since.as_deref().map(parse_token).transpose()?,
        timeout: body.timeout.unwrap_or(Duration::ZERO),
        full_state: body.full_state,
        timeline_limit: timeline_limit.unwrap_or(DEFAULT_TIMELINE_LIMIT),
        lazy_load_members,
    };
    Ok(services.sync(who, params).await?.into())
}
