//! `GET /_matrix/client/v3/sync`.

use std::time::Duration;

use axum::extract::State;
use ruma::api::client::{
    filter::{FilterDefinition, RoomEventFilter},
    sync::sync_events::{self, v3::Filter},
};

use super::ruma_wrapper::{Ruma, RumaResponse};
use crate::{
    error::{Error, Result},
    service::{
        Services,
        sync::{DEFAULT_TIMELINE_LIMIT, EventMatch, SyncParams, parse_position},
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
                .account_data
                .filter(&who.user_id, id)
                .map_err(|_| Error::invalid_param(format!("Unknown filter {id}")))?;
            stored = serde_json::from_str::<FilterDefinition>(&json)?;
            Some(&stored)
        }
        None => None,
        Some(_) => return Err(Error::invalid_param("Unsupported filter")),
    };
    let default = FilterDefinition::default();
    let def = definition.unwrap_or(&default);
    let room_event_match = |f: &RoomEventFilter| EventMatch {
        types: f.types.clone(),
        not_types: f.not_types.clone(),
        senders: f.senders.clone(),
        not_senders: f.not_senders.clone(),
    };
    let event_match = |f: &ruma::api::client::filter::Filter| EventMatch {
        types: f.types.clone(),
        not_types: f.not_types.clone(),
        senders: f.senders.clone(),
        not_senders: f.not_senders.clone(),
    };
    let params = SyncParams {
        since: parse_position(body.since.as_deref())?,
        timeout: body.timeout.unwrap_or(Duration::ZERO),
        full_state: body.full_state,
        timeline_limit: def
            .room
            .timeline
            .limit
            .map_or(DEFAULT_TIMELINE_LIMIT, |l| u64::from(l) as usize),
        lazy_load_members: !def.room.state.lazy_load_options.is_disabled(),
        set_presence: body.set_presence.as_str().to_owned(),
        timeline_filter: room_event_match(&def.room.timeline),
        state_filter: room_event_match(&def.room.state),
        presence_filter: event_match(&def.presence),
        account_data_filter: event_match(&def.account_data),
        rooms: def.room.rooms.clone(),
        not_rooms: def.room.not_rooms.clone(),
        include_leave: def.room.include_leave,
    };
    Ok(services.sync.sync(who, params).await?.into())
}
