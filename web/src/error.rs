//! Why an action failed, phrased for people.

use std::fmt;

use weft_client::ApiError;

/// The failure of a request made on behalf of the UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    /// No HTTP response at all.
    Network {
        /// The homeserver we tried, to tell typos from outages.
        homeserver: String,
    },
    /// The homeserver answered with an error (or something we could not use).
    Api(ApiError),
    /// The user is no longer signed in.
    SignedOut,
    /// The browser's storage failed (the crypto store could not be written).
    Storage(String),
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Network { homeserver } => write!(f, "Can't reach the homeserver at {homeserver}"),
            Self::Api(error) => write!(f, "{error}"),
            Self::SignedOut => f.write_str("You are signed out"),
            Self::Storage(error) => {
                write!(f, "Weft could not save to this browser's storage: {error}")
            }
        }
    }
}

impl From<ApiError> for ActionError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}
