//! Sending room events.

use axum::extract::State;
use ruma::api::client::message::send_message_event;

use super::ruma_wrapper::{Ruma, RumaResponse};
use crate::{
    error::Result,
    service::{
        Services,
        rooms::{EventSpec, Txn},
    },
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
    let event_id = services.append(&body.room_id, &who.user_id, spec, Some(txn)).await?;
    Ok(send_message_event::v3::Response::new(event_id).into())
}
