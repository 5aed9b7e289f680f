//! Room state: read all, read one, set one.

use axum::extract::State;
use ruma::api::client::{
    membership::get_member_events,
    state::{get_state_event_for_key, get_state_events, send_state_event},
};
use serde_json::value::RawValue;

use super::ruma_wrapper::{Ruma, RumaResponse};
use crate::{
    error::Result,
    service::{Services, pdu::Pdu, rooms::EventSpec},
};

/// # `GET /_matrix/client/v3/rooms/{roomId}/state`
pub async fn all(
    State(services): State<Services>,
    req: Ruma<get_state_events::v3::Request>,
) -> Result<RumaResponse<get_state_events::v3::Response>> {
    let who = req.requester()?;
    let events = services
        .history
        .room_state_for(&who.user_id, &req.body.room_id)?;
    let state = events
        .iter()
        .map(|e| services.history.render(who, e).map(|r| r.cast_unchecked()))
        .collect::<Result<_>>()?;
    Ok(get_state_events::v3::Response::new(state).into())
}

/// # `GET /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}`
///
/// Returns the content, or the whole event with `?format=event`.
pub async fn one(
    State(services): State<Services>,
    req: Ruma<get_state_event_for_key::v3::Request>,
) -> Result<RumaResponse<get_state_event_for_key::v3::Response>> {
    let who = req.requester()?;
    let body = &req.body;
    let event = services.history.state_event_for(
        &who.user_id,
        &body.room_id,
        &body.event_type.to_string(),
        &body.state_key,
    )?;
    let json: Box<RawValue> = if body.format == get_state_event_for_key::v3::StateEventFormat::Event
    {
        services.history.render(who, &event)?.into_json()
    } else {
        Pdu::from_stored(&event)?.content
    };
    Ok(get_state_event_for_key::v3::Response::new(json).into())
}

/// # `PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}`
pub async fn set(
    State(services): State<Services>,
    req: Ruma<send_state_event::v3::Request>,
) -> Result<RumaResponse<send_state_event::v3::Response>> {
    let who = req.requester()?;
    let body = &req.body;
    let spec = EventSpec {
        kind: body.event_type.to_string().into(),
        state_key: Some(body.state_key.clone()),
        content: body.body.json().to_owned(),
    };
    let event_id = services
        .rooms
        .send_state(&body.room_id, &who.user_id, spec)
        .await?;
    Ok(send_state_event::v3::Response::new(event_id).into())
}

/// # `GET /_matrix/client/v3/rooms/{roomId}/members`
pub async fn members(
    State(services): State<Services>,
    req: Ruma<get_member_events::v3::Request>,
) -> Result<RumaResponse<get_member_events::v3::Response>> {
    let who = req.requester()?;
    let body = &req.body;
    let wanted = |membership: &str| {
        body.membership
            .as_ref()
            .is_none_or(|m| m.as_str() == membership)
            && body
                .not_membership
                .as_ref()
                .is_none_or(|m| m.as_str() != membership)
    };
    #[derive(serde::Deserialize)]
    struct Member {
        membership: String,
    }
    let mut chunk = Vec::new();
    for event in services
        .history
        .room_state_for(&who.user_id, &body.room_id)?
    {
        let pdu = Pdu::from_stored(&event)?;
        if pdu.kind.to_string() != "m.room.member" {
            continue;
        }
        if wanted(&pdu.content_as::<Member>()?.membership) {
            chunk.push(services.history.render(who, &event)?.cast_unchecked());
        }
    }
    Ok(get_member_events::v3::Response::new(chunk).into())
}
