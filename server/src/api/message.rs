//! Sending room events.

use axum::extract::State;
use ruma::api::client::{
    context::get_context,
    message::{get_message_events, send_message_event},
    redact::redact_event,
    relations::{
        get_relating_events, get_relating_events_with_rel_type,
        get_relating_events_with_rel_type_and_event_type,
    },
    room::get_room_event,
};

use super::ruma_wrapper::{Ruma, RumaResponse};
use crate::{
    error::Result,
    service::{
        Services,
        history::{Direction, RelationsPage},
        ratelimit::Action,
        rooms::{EventSpec, Txn},
        sync::{SyncToken, parse_position},
    },
    storage::StreamPos,
};

/// # `PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}`
///
/// Idempotent per device and path: repeating a transaction ID returns the
/// original event ID without creating a second event.
pub async fn send(
    State(services): State<Services>,
    req: Ruma<send_message_event::v3::Request>,
) -> Result<RumaResponse<send_message_event::v3::Response>> {
    let who = req.requester()?;
    services.rate_limit(Action::Send, who.user_id.as_str())?;
    let body = &req.body;
    let txn = Txn {
        who,
        txn_id: body.txn_id.as_str(),
        scope: format!("send/{}/{}/{}", body.room_id, body.event_type, body.txn_id),
    };
    let spec = EventSpec {
        kind: body.event_type.to_string().into(),
        state_key: None,
        content: body.body.json().to_owned(),
    };
    let event_id = services
        .rooms
        .append(&body.room_id, &who.user_id, spec, Some(txn))
        .await?;
    Ok(send_message_event::v3::Response::new(event_id).into())
}

/// # `GET /_matrix/client/v3/rooms/{roomId}/messages`
pub async fn messages(
    State(services): State<Services>,
    req: Ruma<get_message_events::v3::Request>,
) -> Result<RumaResponse<get_message_events::v3::Response>> {
    let who = req.requester()?;
    let body = &req.body;
    let from = parse_position(body.from.as_deref())?;
    let to = parse_position(body.to.as_deref())?;
    let dir = match body.dir {
        ruma::api::Direction::Backward => Direction::Backward,
        _ => Direction::Forward,
    };
    let limit = u64::from(body.limit) as usize;
    let page = services
        .history
        .messages(&who.user_id, &body.room_id, from, to, dir, limit)?;
    let mut response = get_message_events::v3::Response::new();
    response.start = SyncToken(page.start).to_string();
    response.end = page.end.map(|e| SyncToken(e).to_string());
    response.chunk = page
        .events
        .iter()
        .map(|e| services.history.render(who, e))
        .collect::<Result<_>>()?;
    response.state = page
        .members
        .iter()
        .map(|e| services.history.render(who, e).map(|r| r.cast_unchecked()))
        .collect::<Result<_>>()?;
    Ok(response.into())
}

/// # `GET /_matrix/client/v3/rooms/{roomId}/event/{eventId}`
pub async fn event(
    State(services): State<Services>,
    req: Ruma<get_room_event::v3::Request>,
) -> Result<RumaResponse<get_room_event::v3::Response>> {
    let who = req.requester()?;
    let event = services
        .history
        .event_for(&who.user_id, &req.body.room_id, &req.body.event_id)?;
    Ok(get_room_event::v3::Response::new(services.history.render(who, &event)?).into())
}

/// # `PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}`
pub async fn redact(
    State(services): State<Services>,
    req: Ruma<redact_event::v3::Request>,
) -> Result<RumaResponse<redact_event::v3::Response>> {
    let who = req.requester()?;
    let body = &req.body;
    let mut content = serde_json::json!({ "redacts": body.event_id });
    if let Some(reason) = &body.reason {
        content["reason"] = reason.as_str().into();
    }
    let txn = Txn {
        who,
        txn_id: body.txn_id.as_str(),
        scope: format!("redact/{}/{}/{}", body.room_id, body.event_id, body.txn_id),
    };
    let spec = EventSpec {
        kind: ruma::events::TimelineEventType::RoomRedaction,
        state_key: None,
        content: serde_json::value::to_raw_value(&content)?,
    };
    let event_id = services
        .rooms
        .append(&body.room_id, &who.user_id, spec, Some(txn))
        .await?;
    Ok(redact_event::v3::Response::new(event_id).into())
}

/// # `GET /_matrix/client/v3/rooms/{roomId}/context/{eventId}`
pub async fn context(
    State(services): State<Services>,
    req: Ruma<get_context::v3::Request>,
) -> Result<RumaResponse<get_context::v3::Response>> {
    let who = req.requester()?;
    let body = &req.body;
    let event = services
        .history
        .event_for(&who.user_id, &body.room_id, &body.event_id)?;
    // The limit counts events before and after together, split evenly.
    let limit = (u64::from(body.limit) as usize).min(100);
    let (before_limit, after_limit) = (limit / 2, limit - limit / 2);
    let before = if before_limit > 0 {
        services.history.messages(
            &who.user_id,
            &body.room_id,
            Some(event.stream - 1),
            None,
            Direction::Backward,
            before_limit,
        )?
    } else {
        empty_page(event.stream - 1)
    };
    let after = if after_limit > 0 {
        services.history.messages(
            &who.user_id,
            &body.room_id,
            Some(event.stream),
            None,
            Direction::Forward,
            after_limit,
        )?
    } else {
        empty_page(event.stream)
    };
    let render = |events: &[crate::storage::StoredEvent]| -> Result<Vec<_>> {
        events
            .iter()
            .map(|e| services.history.render(who, e))
            .collect()
    };
    let mut response = get_context::v3::Response::new();
    response.start = Some(SyncToken(before.end.unwrap_or(StreamPos::ZERO)).to_string());
    let end = after
        .end
        .unwrap_or_else(|| after.events.last().map_or(event.stream, |e| e.stream));
    response.end = Some(SyncToken(end).to_string());
    response.events_before = render(&before.events)?;
    response.events_after = render(&after.events)?;
    response.event = Some(services.history.render(who, &event)?);
    let mut members = before.members;
    members.extend(after.members);
    members.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    members.dedup_by(|a, b| a.event_id == b.event_id);
    response.state = members
        .iter()
        .map(|e| services.history.render(who, e).map(|r| r.cast_unchecked()))
        .collect::<Result<_>>()?;
    Ok(response.into())
}

fn empty_page(position: StreamPos) -> crate::service::history::Page {
    crate::service::history::Page {
        start: position,
        end: Some(position),
        events: Vec::new(),
        members: Vec::new(),
    }
}

/// Runs one of the three `/relations` shapes.
#[allow(clippy::too_many_arguments)]
fn relations_page(
    services: &Services,
    who: &crate::service::accounts::Requester,
    room_id: &ruma::RoomId,
    event_id: &ruma::EventId,
    rel_type: Option<String>,
    event_type: Option<String>,
    from: Option<&str>,
    to: Option<&str>,
    dir: ruma::api::Direction,
    limit: Option<ruma::UInt>,
) -> Result<(
    Vec<ruma::serde::Raw<ruma::events::AnyMessageLikeEvent>>,
    Option<String>,
)> {
    let dir = match dir {
        ruma::api::Direction::Backward => Direction::Backward,
        _ => Direction::Forward,
    };
    let limit = limit.map_or(50, |l| u64::from(l) as usize);
    let page = RelationsPage {
        parent: event_id,
        rel_type: rel_type.as_deref(),
        event_type: event_type.as_deref(),
        from: parse_position(from)?,
        to: parse_position(to)?,
        dir,
        limit,
    };
    let (events, next) = services.history.relations(&who.user_id, room_id, &page)?;
    let chunk = events
        .iter()
        .map(|e| services.history.render(who, e).map(|r| r.cast_unchecked()))
        .collect::<Result<_>>()?;
    Ok((chunk, next.map(|n| SyncToken(n).to_string())))
}

/// # `GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}`
pub async fn relations(
    State(services): State<Services>,
    req: Ruma<get_relating_events::v1::Request>,
) -> Result<RumaResponse<get_relating_events::v1::Response>> {
    let who = req.requester()?;
    let b = &req.body;
    let (chunk, next) = relations_page(
        &services,
        who,
        &b.room_id,
        &b.event_id,
        None,
        None,
        b.from.as_deref(),
        b.to.as_deref(),
        b.dir,
        b.limit,
    )?;
    let mut response = get_relating_events::v1::Response::new(chunk);
    response.next_batch = next;
    Ok(response.into())
}

/// # `GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}`
pub async fn relations_by_type(
    State(services): State<Services>,
    req: Ruma<get_relating_events_with_rel_type::v1::Request>,
) -> Result<RumaResponse<get_relating_events_with_rel_type::v1::Response>> {
    let who = req.requester()?;
    let b = &req.body;
    let (chunk, next) = relations_page(
        &services,
        who,
        &b.room_id,
        &b.event_id,
        Some(b.rel_type.to_string()),
        None,
        b.from.as_deref(),
        b.to.as_deref(),
        b.dir,
        b.limit,
    )?;
    let mut response = get_relating_events_with_rel_type::v1::Response::new(chunk);
    response.next_batch = next;
    Ok(response.into())
}

/// # `GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}`
pub async fn relations_by_type_and_event_type(
    State(services): State<Services>,
    req: Ruma<get_relating_events_with_rel_type_and_event_type::v1::Request>,
) -> Result<RumaResponse<get_relating_events_with_rel_type_and_event_type::v1::Response>> {
    let who = req.requester()?;
    let b = &req.body;
    let (chunk, next) = relations_page(
        &services,
        who,
        &b.room_id,
        &b.event_id,
        Some(b.rel_type.to_string()),
        Some(b.event_type.to_string()),
        b.from.as_deref(),
        b.to.as_deref(),
        b.dir,
        b.limit,
    )?;
    let mut response = get_relating_events_with_rel_type_and_event_type::v1::Response::new(chunk);
    response.next_batch = next;
    Ok(response.into())
}
