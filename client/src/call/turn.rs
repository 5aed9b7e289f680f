//! TURN servers for calls: `GET /_matrix/client/v3/voip/turnServer` gives time-limited
//! credentials (coturn's shared-secret scheme); they become the peer connection's ICE
//! servers and are fetched again before they expire.

use std::time::Duration;

use ruma::api::client::voip::get_turn_server_info;
use serde::Deserialize;

use crate::{ApiError, HttpRequest, HttpResponse, Session, endpoint, requests::target};

/// Fetch again this long before the credentials expire, so a call never starts with
/// credentials that lapse while it connects.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Never fetch more often than this, whatever TTL a server sends.
pub const MIN_REFRESH: Duration = Duration::from_secs(30);

/// The servers and credentials to hand to `RTCPeerConnection` as one `iceServers` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct TurnServers {
    /// `turn:`/`turns:` URIs (`stun:` ones pass through too).
    #[serde(default)]
    pub uris: Vec<String>,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// Seconds the credentials are valid.
    #[serde(default)]
    pub ttl: u64,
}

impl TurnServers {
    /// Whether there is anything to use: a server without TURN answers `{}`, and `turn:`
    /// URIs without credentials would make the browser refuse the whole configuration.
    pub fn is_empty(&self) -> bool {
        self.uris.is_empty() || self.username.is_empty() || self.password.is_empty()
    }

    /// When to fetch again, counted from when these were fetched: before expiry by
    /// [`REFRESH_MARGIN`] (or at half the TTL for short ones), at least [`MIN_REFRESH`].
    pub fn refresh_after(&self) -> Duration {
        let ttl = Duration::from_secs(self.ttl);
        let before_expiry = if ttl > REFRESH_MARGIN * 2 {
            ttl - REFRESH_MARGIN
        } else {
            ttl / 2
        };
        before_expiry.max(MIN_REFRESH)
    }
}

/// `GET /_matrix/client/v3/voip/turnServer`.
pub fn turn_server_request(session: &Session) -> Result<HttpRequest, ApiError> {
    endpoint::request::<get_turn_server_info::v3::Request>(target(session), &[], &[], None)
}

/// The servers, or none when the homeserver has no TURN configured (`{}`, or 404 from
/// servers that don't know the endpoint): calls then use host and STUN candidates only.
pub fn parse_turn_server(response: HttpResponse<'_>) -> Result<TurnServers, ApiError> {
    if response.status().as_u16() == 404 {
        return Ok(TurnServers::default());
    }
    endpoint::parse(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &'static str) -> HttpResponse<'static> {
        http::Response::builder()
            .status(status)
            .body(body.as_bytes())
            .unwrap()
    }

    #[test]
    fn credentials_parse_and_refresh_before_expiry() {
        let servers = parse_turn_server(response(
            200,
            r#"{"uris":["turn:127.0.0.1:3478?transport=udp"],"username":"1700000000:@a:hs","password":"c2VjcmV0","ttl":86400}"#,
        ))
        .unwrap();
        assert_eq!(servers.uris, ["turn:127.0.0.1:3478?transport=udp"]);
        assert_eq!(servers.username, "1700000000:@a:hs");
        assert_eq!(servers.refresh_after(), Duration::from_secs(86400 - 60));
        let short = TurnServers {
            ttl: 90,
            ..servers.clone()
        };
        assert_eq!(short.refresh_after(), Duration::from_secs(45));
        let tiny = TurnServers { ttl: 4, ..servers };
        assert_eq!(tiny.refresh_after(), MIN_REFRESH);
    }

    #[test]
    fn no_turn_is_not_an_error() {
        assert!(parse_turn_server(response(200, "{}")).unwrap().is_empty());
        assert!(
            parse_turn_server(response(200, r#"{"uris":["turn:x"],"ttl":60}"#))
                .unwrap()
                .is_empty()
        );
        assert!(
            parse_turn_server(response(404, r#"{"errcode":"M_UNRECOGNIZED"}"#))
                .unwrap()
                .is_empty()
        );
        assert!(
            parse_turn_server(response(500, r#"{"errcode":"M_UNKNOWN","error":"x"}"#)).is_err()
        );
        let session = Session {
            homeserver: "http://hs".into(),
            user_id: ruma::owned_user_id!("@a:hs"),
            device_id: ruma::owned_device_id!("D"),
            access_token: "tok".into(),
        };
        let request = turn_server_request(&session).unwrap();
        assert_eq!(request.uri(), "http://hs/_matrix/client/v3/voip/turnServer");
        assert_eq!(request.headers()["authorization"], "Bearer tok");
    }
}
