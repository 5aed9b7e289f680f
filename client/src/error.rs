//! Errors from talking to the homeserver, in terms the UI can act on.
//!
//! The `Display` texts are plain sentences meant to be shown to people as they are.

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
    /// The room is encrypted and what was asked would go out in the clear (a file that
    /// was not encrypted before its upload).
    #[error("Files for an encrypted room must be encrypted before they are sent")]
    EncryptedRoom,
    /// The stored encryption state could not be read (corrupt, another version, another
    /// device).
    #[error("The saved encryption keys could not be read ({0})")]
    CryptoStore(String),
}

impl ApiError {
    /// Maps a standard Matrix error body onto our error type.
    pub(crate) fn from_body(status: u16, body: ErrorBody) -> Self {
        let errcode = body.errcode.unwrap_or_else(|| "M_UNKNOWN".to_owned());
        match errcode.as_str() {
            "M_UNKNOWN_TOKEN" | "M_MISSING_TOKEN" => Self::UnknownToken,
            "M_USER_IN_USE" => Self::UsernameTaken,
            "M_INVALID_USERNAME" => Self::InvalidUsername,
            "M_LIMIT_EXCEEDED" => Self::RateLimited {
                retry_after_ms: body.retry_after_ms,
            },
            _ => Self::Server {
                status,
                message: match body.error.filter(|message| !message.is_empty()) {
                    Some(message) => message,
                    None => format!("The homeserver refused the request ({errcode})"),
                },
                errcode,
            },
        }
    }
}

/// The standard error body: `{"errcode": …, "error": …}`.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct ErrorBody {
    pub errcode: Option<String>,
    pub error: Option<String>,
    pub retry_after_ms: Option<u64>,
}
