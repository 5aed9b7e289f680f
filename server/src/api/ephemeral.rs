//! Typing notifications, read receipts and read markers.

use axum::extract::State;
use ruma::{
    api::client::{
        read_marker::set_read_marker,
        receipt::create_receipt,
        typing::create_typing_event::{self, v3::Typing},
    },
    events::receipt::ReceiptThread,
};

use super::ruma_wrapper::{Ruma, RumaResponse};
use crate::{
    error::{Error, Result},
    service::Services,
};

/// # `PUT /_matrix/client/v3/rooms/{roomId}/typing/{userId}`
pub async fn typing(
    State(services): State<Services>,
    req: Ruma<create_typing_event::v3::Request>,
) -> Result<RumaResponse<create_typing_event::v3::Response>> {
    let who = req.requester()?;
    if who.user_id != req.body.user_id {
        return Err(Error::forbidden("You can only set your own typing state"));
    }
    let timeout = match &req.body.state {
        Typing::Yes(info) => Some(info.timeout),
        _ => None,
    };
    services
        .ephemeral
        .set_typing(&req.body.room_id, &who.user_id, timeout)?;
    Ok(create_typing_event::v3::Response::new().into())
}

fn thread_id(thread: &ReceiptThread) -> Option<String> {
    match thread {
        ReceiptThread::Unthreaded => None,
        other => other.as_str().map(str::to_owned),
    }
}

/// # `POST /_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}`
pub async fn receipt(
    State(services): State<Services>,
    req: Ruma<create_receipt::v3::Request>,
) -> Result<RumaResponse<create_receipt::v3::Response>> {
    let who = req.requester()?;
    let body = &req.body;
    let kind = body.receipt_type.to_string();
    if kind == "m.fully_read" {
        services
            .ephemeral
            .set_fully_read(&body.room_id, &who.user_id, &body.event_id)?;
    } else {
        services.ephemeral.set_receipt(
            &body.room_id,
            &who.user_id,
            &kind,
            &body.event_id,
            thread_id(&body.thread),
        )?;
    }
    Ok(create_receipt::v3::Response::new().into())
}

/// # `POST /_matrix/client/v3/rooms/{roomId}/read_markers`
pub async fn read_markers(
    State(services): State<Services>,
    req: Ruma<set_read_marker::v3::Request>,
) -> Result<RumaResponse<set_read_marker::v3::Response>> {
    let who = req.requester()?;
    let body = &req.body;
    if let Some(event_id) = &body.fully_read {
        services
            .ephemeral
            .set_fully_read(&body.room_id, &who.user_id, event_id)?;
    }
    if let Some(event_id) = &body.read_receipt {
        services
            .ephemeral
            .set_receipt(&body.room_id, &who.user_id, "m.read", event_id, None)?;
    }
    if let Some(event_id) = &body.private_read_receipt {
        services.ephemeral.set_receipt(
            &body.room_id,
            &who.user_id,
            "m.read.private",
            event_id,
            None,
        )?;
    }
    Ok(set_read_marker::v3::Response::new().into())
}
