//! Requests built from ruma's endpoint metadata, with our own small bodies.
//!
//! ruma's request and response types (de)serialise every field the spec defines; compiled to
//! WebAssembly that cost about 12 KB (brotli) for the endpoints this client uses. We take each
//! endpoint's method and path from ruma's `Metadata` — so no path is typed twice — and send
//! and read only the fields we use, with the same small serde structs as the sync parser.

use std::{borrow::Cow, collections::BTreeSet, fmt::Display};

use ruma::api::{
    MatrixVersion, Metadata, SupportedVersions, error::IntoHttpError, path_builder::VersionHistory,
};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    HttpRequest, HttpResponse,
    error::{ApiError, ErrorBody},
};

/// The Matrix versions we speak; we don't query `/versions` because every endpoint we use has
/// been stable since v1.1 and v1.11 is the baseline the spec notes ask servers for.
fn supported_versions() -> SupportedVersions {
    SupportedVersions {
        versions: BTreeSet::from([MatrixVersion::V1_11]),
        features: BTreeSet::new(),
    }
}

/// Who a request goes to and as whom.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target<'a> {
    pub homeserver: &'a str,
    pub access_token: Option<&'a str>,
}

/// Builds a request for endpoint `E` with path arguments, query pairs and a JSON body.
/// `POST`/`PUT` requests without a body send `{}`, as the spec's endpoints expect.
pub(crate) fn request<E: Metadata<PathBuilder = VersionHistory>>(
    target: Target<'_>,
    path_args: &[&dyn Display],
    query: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Result<HttpRequest, ApiError> {
    let url = url::<E>(target.homeserver, path_args, query)?;
    finish(E::METHOD, url, target.access_token, body)
}

/// The URL of endpoint `E` with path arguments and query pairs.
pub(crate) fn url<E: Metadata<PathBuilder = VersionHistory>>(
    homeserver: &str,
    path_args: &[&dyn Display],
    query: &[(&str, &str)],
) -> Result<String, ApiError> {
    let query = encode_query(query);
    Ok(E::make_endpoint_url(
        Cow::Owned(supported_versions()),
        homeserver,
        path_args,
        &query,
    )?)
}

fn finish(
    method: http::Method,
    url: String,
    access_token: Option<&str>,
    body: Option<Vec<u8>>,
) -> Result<HttpRequest, ApiError> {
    let body = match body {
        Some(body) => body,
        None if method == http::Method::POST || method == http::Method::PUT => b"{}".to_vec(),
        None => Vec::new(),
    };
    let mut builder = http::Request::builder().method(method).uri(url);
    if !body.is_empty() {
        builder = builder.header(http::header::CONTENT_TYPE, "application/json");
    }
    if let Some(token) = access_token {
        builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    builder
        .body(body)
        .map_err(|error| ApiError::InvalidRequest(error.to_string()))
}

/// A JSON body.
pub(crate) fn json<T: Serialize + ?Sized>(body: &T) -> Result<Option<Vec<u8>>, ApiError> {
    serde_json::to_vec(body)
        .map(Some)
        .map_err(|error| ApiError::InvalidRequest(error.to_string()))
}

fn encode_query(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (key, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        percent_encode_into(&mut out, key);
        out.push('=');
        percent_encode_into(&mut out, value);
    }
    out
}

fn percent_encode_into(out: &mut String, text: &str) {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

/// Parses a successful JSON response into `T`, or maps the error response.
pub(crate) fn parse<T: DeserializeOwned>(response: HttpResponse<'_>) -> Result<T, ApiError> {
    if response.status().as_u16() >= 400 {
        return Err(error(response));
    }
    serde_json::from_slice(response.body()).map_err(|error| ApiError::Malformed(error.to_string()))
}

/// A response whose body does not matter.
pub fn parse_empty(response: HttpResponse<'_>) -> Result<(), ApiError> {
    parse::<serde::de::IgnoredAny>(response).map(drop)
}

/// Maps an error response onto [`ApiError`].
pub(crate) fn error(response: HttpResponse<'_>) -> ApiError {
    let status = response.status().as_u16();
    match serde_json::from_slice::<ErrorBody>(response.body()) {
        Ok(body) if body.errcode.is_some() => ApiError::from_body(status, body),
        _ => ApiError::Server {
            status,
            errcode: "M_UNKNOWN".to_owned(),
            message: format!("The homeserver answered with an error (HTTP {status})"),
        },
    }
}

impl From<IntoHttpError> for ApiError {
    fn from(error: IntoHttpError) -> Self {
        Self::InvalidRequest(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use ruma::api::client::message::send_message_event;

    use super::*;

    #[test]
    fn path_from_metadata_with_encoded_arguments_and_query() {
        let target = Target {
            homeserver: "http://hs/",
            access_token: Some("tok"),
        };
        let request = request::<send_message_event::v3::Request>(
            target,
            &[&"!r:hs", &"m.room.message", &"t/1"],
            &[("a", "x y&z")],
            None,
        )
        .unwrap();
        assert_eq!(request.method(), http::Method::PUT);
        assert_eq!(
            request.uri().to_string(),
            "http://hs/_matrix/client/v3/rooms/!r:hs/send/m.room.message/t%2F1?a=x%20y%26z"
        );
        assert_eq!(request.headers()["authorization"], "Bearer tok");
        assert_eq!(request.body(), b"{}");
    }

    #[test]
    fn errors_map_to_plain_words() {
        let response = |status: u16, body: &'static str| {
            http::Response::builder()
                .status(status)
                .body(body.as_bytes())
                .unwrap()
        };
        assert_eq!(
            error(response(
                401,
                r#"{"errcode":"M_UNKNOWN_TOKEN","error":"x"}"#
            )),
            ApiError::UnknownToken
        );
        assert_eq!(
            error(response(
                429,
                r#"{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":500}"#
            )),
            ApiError::RateLimited {
                retry_after_ms: Some(500)
            }
        );
        assert!(matches!(
            error(response(502, "<html>bad gateway</html>")),
            ApiError::Server { status: 502, .. }
        ));
    }
}
