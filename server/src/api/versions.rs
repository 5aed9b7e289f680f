//! Discovery: `/versions` and `.well-known/matrix/client`.

use std::collections::BTreeMap;

use axum::{Json, extract::State};
use ruma::api::client::{
    discovery::{get_capabilities, get_supported_versions},
    thirdparty::get_protocols,
};
use serde_json::{Value, json};

use super::ruma_wrapper::{Ruma, RumaResponse};
use crate::{
    error::Result,
    service::{
        Services,
        rooms::{DEFAULT_ROOM_VERSION, SUPPORTED_ROOM_VERSIONS},
    },
};

/// Spec versions whose required behaviour this server implements for the
/// endpoints it serves. v1.11 is advertised for authenticated media.
const VERSIONS: &[&str] = &[
    "r0.6.1", "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10",
    "v1.11",
];

/// # `GET /_matrix/client/versions`
pub async fn versions(
    _: Ruma<get_supported_versions::Request>,
) -> Result<RumaResponse<get_supported_versions::Response>> {
    let mut response =
        get_supported_versions::Response::new(VERSIONS.iter().map(|v| (*v).to_owned()).collect());
    response.unstable_features = BTreeMap::new();
    Ok(response.into())
}

/// # `GET /.well-known/matrix/client`
pub async fn well_known(State(services): State<Services>) -> Json<Value> {
    let base = services
        .config()
        .public_baseurl
        .clone()
        .unwrap_or_else(|| format!("http://{}", services.config().listen));
    Json(json!({ "m.homeserver": { "base_url": base } }))
}

/// # `GET /_matrix/client/v3/capabilities`
pub async fn capabilities(
    req: Ruma<get_capabilities::v3::Request>,
) -> Result<RumaResponse<get_capabilities::v3::Response>> {
    req.requester()?;
    let mut caps = get_capabilities::v3::Capabilities::new();
    caps.room_versions = get_capabilities::v3::RoomVersionsCapability::new(
        DEFAULT_ROOM_VERSION,
        SUPPORTED_ROOM_VERSIONS
            .iter()
            .map(|v| {
                (
                    v.clone(),
                    get_capabilities::v3::RoomVersionStability::Stable,
                )
            })
            .collect(),
    );
    caps.change_password = get_capabilities::v3::ChangePasswordCapability::new(true);
    caps.thirdparty_id_changes = get_capabilities::v3::ThirdPartyIdChangesCapability::new(false);
    caps.get_login_token = get_capabilities::v3::GetLoginTokenCapability::new(false);
    Ok(get_capabilities::v3::Response::new(caps).into())
}

/// # `GET /_matrix/client/v3/thirdparty/protocols`
///
/// No application-service bridges can be registered yet, so there are no
/// third-party protocols; Element asks at start-up.
pub async fn protocols(
    req: Ruma<get_protocols::v3::Request>,
) -> Result<RumaResponse<get_protocols::v3::Response>> {
    req.requester()?;
    Ok(get_protocols::v3::Response::new(Default::default()).into())
}
