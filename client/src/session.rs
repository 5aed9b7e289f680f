//! The signed-in identity: which homeserver, which user and device, and the access token.

use ruma::{OwnedDeviceId, OwnedUserId};
use serde::{Deserialize, Serialize};

/// Everything needed to make authenticated requests; persisted by the app between reloads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Base URL of the homeserver, without a trailing slash.
    pub homeserver: String,
    /// The signed-in user.
    pub user_id: OwnedUserId,
    /// The device this session created at login.
    pub device_id: OwnedDeviceId,
    /// Bearer token for every authenticated request.
    pub access_token: String,
}

/// Trims whitespace and trailing slashes so that paths can be appended directly.
pub fn normalize_homeserver(url: &str) -> String {
    url.trim().trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json() {
        let session = Session {
            homeserver: "http://localhost:8008".to_owned(),
            user_id: "@alice:localhost".try_into().unwrap(),
            device_id: "ABCDEFGHIJ".into(),
            access_token: "secret".to_owned(),
        };
        let json = serde_json::to_string(&session).unwrap();
        assert_eq!(serde_json::from_str::<Session>(&json).unwrap(), session);
    }

    #[test]
    fn normalizes_trailing_slashes() {
        assert_eq!(
            normalize_homeserver(" https://hs.example/ "),
            "https://hs.example"
        );
    }
}
