//! Why an action failed, phrased for people.

use std::fmt;

use weft_client::ApiError;

use crate::platform::{idb::IdbError, panic};

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

/// `result.or_log("…")` for an action nobody waits on (a reaction's answer, a typing
/// notice, the server's half of signing out): the page goes on either way, and the
/// console keeps the reason.
pub trait OrLog {
    fn or_log(self, what: &str);
}

impl<T, E: Failure> OrLog for Result<T, E> {
    fn or_log(self, what: &str) {
        if let Err(error) = self
            && error.worth_logging()
        {
            log_failure(what, &error);
        }
    }
}

/// One copy of the formatting for every error type: "Weft: reaction: <why>".
fn log_failure(what: &str, error: &dyn fmt::Display) {
    panic::warn(&format!("Weft: {what}: {error}"));
}

/// An error an action can end with.
pub trait Failure: fmt::Display {
    /// False for a session that ended meanwhile: what was under way simply stops.
    fn worth_logging(&self) -> bool {
        true
    }
}

impl Failure for ActionError {
    fn worth_logging(&self) -> bool {
        *self != Self::SignedOut
    }
}

impl Failure for IdbError {}
