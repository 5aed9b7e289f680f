//! Errors from talking to the homeserver, in terms the UI can act on.
//!
//! The `Display` texts are plain sentences meant to be shown to people as they are.

use ruma::api::{
    client::uiaa::UiaaResponse,
    error::{Error as MatrixError, ErrorBody, ErrorKind, FromHttpResponseError, IntoHttpError},
};

/// What went wrong with a request, as far as the engine can tell from the response.
///
/// Network failures never reach the engine (it does no I/O); the caller reports those itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// Login was refused: unknown user or wrong password.
    #[error("Wrong username or password")]
    WrongCredentials,
    /// Registration was refused because the user ID already exists.
    #[error("That username is taken")]
    UsernameTaken,
    /// Registration was refused because the username has characters Matrix does not allow.
    #[error("That username is not allowed; use lower-case letters, digits and . _ = - /")]
    InvalidUsername,
    /// The homeserver only registers people who present a registration token.
    #[error("This homeserver needs a registration token to create an account")]
    RegistrationTokenRequired,
    /// The registration token we presented was refused.
    #[error("That registration token was not accepted")]
    RegistrationTokenInvalid,
    /// The homeserver asks for an authentication step this client cannot perform.
    #[error("This homeserver asks for a sign-up step Weft cannot do yet")]
    UnsupportedAuthFlow,
    /// Registration is closed on this homeserver.
    #[error("This homeserver does not allow creating accounts")]
    RegistrationDisabled,
    /// The access token is no longer valid: the session has ended.
    #[error("You have been signed out")]
    UnknownToken,
    /// The homeserver asked us to slow down.
    #[error("The homeserver is busy; trying again shortly")]
    RateLimited {
        /// How long the server asked us to wait, if it said.
        retry_after_ms: Option<u64>,
    },
    /// The homeserver refused the request for another reason.
    #[error("{message}")]
    Server {
        /// HTTP status code of the response.
        status: u16,
        /// The Matrix `errcode`, or `M_UNKNOWN` when the body had none.
        errcode: String,
        /// The server's human-readable explanation.
        message: String,
    },
    /// The response did not have the shape the Matrix spec promises.
    #[error("The homeserver sent a response Weft does not understand ({0})")]
    Malformed(String),
    /// The request could not be built (for example an invalid homeserver URL).
    #[error("Could not build the request: {0}")]
    InvalidRequest(String),
}

impl ApiError {
    /// Whether trying the same request again later could succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Malformed(_) => true,
            Self::Server { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// Maps a standard Matrix error response onto our error type.
    pub(crate) fn from_matrix(error: &MatrixError) -> Self {
        let status = error.status_code.as_u16();
        match &error.body {
            ErrorBody::Standard(body) => match &body.kind {
                ErrorKind::UnknownToken(_) | ErrorKind::MissingToken => Self::UnknownToken,
                ErrorKind::UserInUse => Self::UsernameTaken,
                ErrorKind::InvalidUsername => Self::InvalidUsername,
                ErrorKind::LimitExceeded(data) => Self::RateLimited {
                    retry_after_ms: data.retry_after.as_ref().and_then(retry_after_ms),
                },
                kind => Self::Server {
                    status,
                    errcode: kind.errcode().to_string(),
                    message: if body.message.is_empty() {
                        format!("The homeserver refused the request ({})", kind.errcode())
                    } else {
                        body.message.clone()
                    },
                },
            },
            ErrorBody::Json(_) | ErrorBody::NotJson { .. } => Self::Server {
                status,
                errcode: "M_UNKNOWN".to_owned(),
                message: format!("The homeserver answered with an error (HTTP {status})"),
            },
            // `ErrorBody` is non-exhaustive.
            #[allow(unreachable_patterns)]
            _ => Self::Server {
                status,
                errcode: "M_UNKNOWN".to_owned(),
                message: format!("The homeserver answered with an error (HTTP {status})"),
            },
        }
    }
}

fn retry_after_ms(retry: &ruma::api::error::RetryAfter) -> Option<u64> {
    match retry {
        ruma::api::error::RetryAfter::Delay(delay) => u64::try_from(delay.as_millis()).ok(),
        // An absolute date would need a clock; let the caller's back-off decide.
        _ => None,
    }
}

impl From<IntoHttpError> for ApiError {
    fn from(error: IntoHttpError) -> Self {
        Self::InvalidRequest(error.to_string())
    }
}

impl From<FromHttpResponseError<MatrixError>> for ApiError {
    fn from(error: FromHttpResponseError<MatrixError>) -> Self {
        match error {
            FromHttpResponseError::Server(error) => Self::from_matrix(&error),
            FromHttpResponseError::Deserialization(error) => Self::Malformed(error.to_string()),
            #[allow(unreachable_patterns)]
            other => Self::Malformed(other.to_string()),
        }
    }
}

impl From<FromHttpResponseError<UiaaResponse>> for ApiError {
    fn from(error: FromHttpResponseError<UiaaResponse>) -> Self {
        match error {
            FromHttpResponseError::Server(UiaaResponse::MatrixError(error)) => {
                Self::from_matrix(&error)
            }
            // Callers that run UIA look at `AuthResponse` themselves before converting.
            FromHttpResponseError::Server(UiaaResponse::AuthResponse(_)) => {
                Self::UnsupportedAuthFlow
            }
            FromHttpResponseError::Deserialization(error) => Self::Malformed(error.to_string()),
            #[allow(unreachable_patterns)]
            other => Self::Malformed(other.to_string()),
        }
    }
}
