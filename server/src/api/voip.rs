//! `GET /voip/turnServer`: TURN credentials for calls.

use axum::{
    Json,
    extract::State,
    response::{IntoResponse, Response},
};
use ruma::api::client::voip::get_turn_server_info;

use super::ruma_wrapper::{Ruma, RumaResponse};
use crate::{error::Result, service::Services};

/// Time-limited TURN credentials; `{}` when no TURN server is configured (as Synapse
/// answers, which clients treat as "no relay").
pub async fn turn_server(
    State(services): State<Services>,
    req: Ruma<get_turn_server_info::v3::Request>,
) -> Result<Response> {
    let who = req.requester()?;
    Ok(match services.voip.turn_credentials(&who.user_id) {
        Some(c) => RumaResponse(get_turn_server_info::v3::Response::new(
            c.username, c.password, c.uris, c.ttl,
        ))
        .into_response(),
        None => Json(serde_json::json!({})).into_response(),
    })
}
