//! TURN credentials for calls, in the TURN REST API form coturn understands
//! (`use-auth-secret`): the username is `expiry:user_id`, the password the base64
//! HMAC-SHA1 of that username under the shared secret. Nothing is stored; any relay that
//! knows the secret can check them until they expire.
//!
//! [`Voip`] is a part of [`Services`](super::Services) holding only the TURN
//! configuration.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use ruma::UserId;
use sha1::Sha1;

use crate::config::TurnConfig;

/// Credentials for the TURN relays.
#[derive(Debug)]
pub struct TurnCredentials {
    pub username: String,
    pub password: String,
    pub uris: Vec<String>,
    pub ttl: std::time::Duration,
}

/// The password for `username` under `secret`.
pub fn turn_password(secret: &str, username: &str) -> String {
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// TURN credentials for calls.
pub struct Voip {
    /// `None` when no TURN server is configured.
    turn: Option<TurnConfig>,
}

impl Voip {
    pub(super) fn new(turn: Option<TurnConfig>) -> Self {
        Self { turn }
    }

    /// Fresh credentials for `user`, or `None` when no TURN server is configured.
    pub fn turn_credentials(&self, user: &UserId) -> Option<TurnCredentials> {
        let turn = self.turn.as_ref()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let expiry = (now + turn.ttl).as_secs();
        let username = format!("{expiry}:{user}");
        Some(TurnCredentials {
            password: turn_password(&turn.shared_secret, &username),
            username,
            uris: turn.uris.clone(),
            ttl: turn.ttl,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_matches_coturn() {
        // Checked against Python: base64(hmac.new(secret, username, sha1).digest()).
        assert_eq!(
            turn_password("secret", "1700000000:@alice:example.org"),
            "g/l/t/tR2Emj7Ax0fkxwtp3GUrQ="
        );
    }
}
