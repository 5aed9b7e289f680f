//! The one error type of the homeserver, and its mapping to Matrix error JSON.
//!
//! Every handler returns `Result<_, Error>`; the `IntoResponse` impl turns an
//! error into the spec's `{"errcode", "error"}` body with the right HTTP status,
//! or into a user-interactive-auth challenge.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use ruma::api::client::uiaa::UiaaInfo;
use serde_json::json;

/// Matrix error codes this server emits (`errcode` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    Forbidden,
    UnknownToken,
    MissingToken,
    BadJson,
    NotJson,
    NotFound,
    Unrecognized,
    Unknown,
    UserInUse,
    InvalidUsername,
    InvalidParam,
    MissingParam,
    RoomInUse,
    UnsupportedRoomVersion,
    GuestAccessForbidden,
    TooLarge,
    LimitExceeded,
    UserDeactivated,
    CannotOverwriteMedia,
    NotYetUploaded,
    BadAlias,
    InvalidSignature,
}

impl ErrorKind {
    /// The `errcode` string.
    pub fn code(self) -> &'static str {
        match self {
            Self::Forbidden => "M_FORBIDDEN",
            Self::UnknownToken => "M_UNKNOWN_TOKEN",
            Self::MissingToken => "M_MISSING_TOKEN",
            Self::BadJson => "M_BAD_JSON",
            Self::NotJson => "M_NOT_JSON",
            Self::NotFound => "M_NOT_FOUND",
            Self::Unrecognized => "M_UNRECOGNIZED",
            Self::Unknown => "M_UNKNOWN",
            Self::UserInUse => "M_USER_IN_USE",
            Self::InvalidUsername => "M_INVALID_USERNAME",
            Self::InvalidParam => "M_INVALID_PARAM",
            Self::MissingParam => "M_MISSING_PARAM",
            Self::RoomInUse => "M_ROOM_IN_USE",
            Self::UnsupportedRoomVersion => "M_UNSUPPORTED_ROOM_VERSION",
            Self::GuestAccessForbidden => "M_GUEST_ACCESS_FORBIDDEN",
            Self::TooLarge => "M_TOO_LARGE",
            Self::LimitExceeded => "M_LIMIT_EXCEEDED",
            Self::UserDeactivated => "M_USER_DEACTIVATED",
            Self::CannotOverwriteMedia => "M_CANNOT_OVERWRITE_MEDIA",
            Self::NotYetUploaded => "M_NOT_YET_UPLOADED",
            Self::BadAlias => "M_BAD_ALIAS",
            Self::InvalidSignature => "M_INVALID_SIGNATURE",
        }
    }

    /// The HTTP status the spec pairs with this code.
    pub fn status(self) -> StatusCode {
        match self {
            Self::Forbidden | Self::GuestAccessForbidden | Self::UserDeactivated => {
                StatusCode::FORBIDDEN
            }
            Self::UnknownToken | Self::MissingToken => StatusCode::UNAUTHORIZED,
            Self::NotFound | Self::Unrecognized => StatusCode::NOT_FOUND,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::LimitExceeded => StatusCode::TOO_MANY_REQUESTS,
            Self::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
            Self::CannotOverwriteMedia => StatusCode::CONFLICT,
            Self::NotYetUploaded => StatusCode::GATEWAY_TIMEOUT,
            Self::BadJson
            | Self::NotJson
            | Self::UserInUse
            | Self::InvalidUsername
            | Self::InvalidParam
            | Self::MissingParam
            | Self::RoomInUse
            | Self::BadAlias
            | Self::InvalidSignature
            | Self::UnsupportedRoomVersion => StatusCode::BAD_REQUEST,
        }
    }
}

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A client-facing error with a Matrix error code.
    #[error("{}: {message}", kind.code())]
    Matrix {
        kind: ErrorKind,
        status: StatusCode,
        message: String,
    },
    /// Too many requests: 429 `M_LIMIT_EXCEEDED` with when to try again.
    #[error("rate limited for {retry_after_ms} ms")]
    RateLimited { retry_after_ms: u64 },
    /// A key-backup write to a version that is not the newest: 403
    /// `M_WRONG_ROOM_KEYS_VERSION` naming the newest.
    #[error("backup version {current_version} is the current one")]
    WrongRoomKeysVersion { current_version: String },
    /// User-interactive authentication is needed (401 with flows and session).
    #[error("user-interactive authentication required")]
    Uiaa(Box<UiaaInfo>),
    /// A fault on our side; details go to the log, not to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A Matrix error with the code's usual HTTP status.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self::Matrix {
            kind,
            status: kind.status(),
            message: message.into(),
        }
    }

    /// A Matrix error with an explicit HTTP status (e.g. 405 `M_UNRECOGNIZED`).
    pub fn with_status(kind: ErrorKind, status: StatusCode, message: impl Into<String>) -> Self {
        Self::Matrix {
            kind,
            status,
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }

    pub fn bad_json(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadJson, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn invalid_param(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidParam, message)
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        Self::Internal(err.to_string())
    }
}

/// Storage failures are never the client's doing: they are internal errors,
/// logged in full and shown as `M_UNKNOWN`.
impl From<crate::storage::StorageError> for Error {
    fn from(err: crate::storage::StorageError) -> Self {
        Self::Internal(err.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Self::Internal(format!("json: {err}"))
    }
}

/// Shorthand used by every layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            Self::Matrix {
                kind,
                status,
                message,
            } => {
                let mut body = json!({ "errcode": kind.code(), "error": message });
                if kind == ErrorKind::UnknownToken {
                    body["soft_logout"] = json!(false);
                }
                (status, axum::Json(body)).into_response()
            }
            Self::RateLimited { retry_after_ms } => {
                let body = json!({
                    "errcode": "M_LIMIT_EXCEEDED",
                    "error": "Too many requests; try again later",
                    "retry_after_ms": retry_after_ms,
                });
                let seconds = retry_after_ms.div_ceil(1000).to_string();
                let mut response =
                    (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
                if let Ok(value) = http::HeaderValue::from_str(&seconds) {
                    response
                        .headers_mut()
                        .insert(http::header::RETRY_AFTER, value);
                }
                response
            }
            Self::WrongRoomKeysVersion { current_version } => {
                let body = json!({
                    "errcode": "M_WRONG_ROOM_KEYS_VERSION",
                    "error": "Wrong backup version",
                    "current_version": current_version,
                });
                (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
            }
            Self::Uiaa(info) => (StatusCode::UNAUTHORIZED, axum::Json(*info)).into_response(),
            Self::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                let body = json!({ "errcode": "M_UNKNOWN", "error": "Internal server error" });
                (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
            }
        }
    }
}
