//! Typed ruma requests in, typed ruma responses out.
//!
//! [`Ruma<T>`] is an axum extractor: it authenticates the request as the
//! endpoint's metadata demands and parses it with ruma. [`RumaResponse`]
//! serialises a ruma response. [`RumaRouter::ruma_route`] registers a handler
//! on every path in the endpoint's metadata, so no path is typed twice.

use axum::{
    Router,
    body::Body,
    extract::{FromRequest, FromRequestParts, RawPathParams, Request},
    handler::Handler,
    response::{IntoResponse, Response},
    routing::{MethodFilter, on},
};
use bytes::BytesMut;
use ruma::api::{
    IncomingRequest, IncomingRequestExt, Metadata, OutgoingResponse, OutgoingResponseExt,
    auth_scheme::{
        AccessToken, AccessTokenOptional, AppserviceToken, AppserviceTokenOptional, NoAccessToken,
        NoAuthentication,
    },
    path_builder::PathBuilder,
};

use crate::{
    config::IpRange,
    error::{Error, ErrorKind},
    service::{Services, accounts::Requester, ratelimit::Action},
};

/// Largest JSON request body we read (events are capped at 64 KiB anyway).
const MAX_JSON_BODY: usize = 1024 * 1024;

/// How an endpoint authenticates, derived from ruma's metadata.
pub trait AuthPolicy {
    const TOKEN: TokenPolicy;
}

#[derive(PartialEq, Eq)]
pub enum TokenPolicy {
    Required,
    Optional,
    None,
}

impl AuthPolicy for AccessToken {
    const TOKEN: TokenPolicy = TokenPolicy::Required;
}
impl AuthPolicy for AccessTokenOptional {
    const TOKEN: TokenPolicy = TokenPolicy::Optional;
}
impl AuthPolicy for NoAuthentication {
    const TOKEN: TokenPolicy = TokenPolicy::None;
}
impl AuthPolicy for NoAccessToken {
    const TOKEN: TokenPolicy = TokenPolicy::None;
}
impl AuthPolicy for AppserviceTokenOptional {
    // Login and register: a token is allowed (application services) but not needed.
    const TOKEN: TokenPolicy = TokenPolicy::Optional;
}
impl AuthPolicy for AppserviceToken {
    // No application services yet: treat their token like a user's.
    const TOKEN: TokenPolicy = TokenPolicy::Required;
}

/// A parsed, authenticated request.
pub struct Ruma<T> {
    pub body: T,
    /// Set when the request carried a valid access token.
    pub requester: Option<Requester>,
    /// The client's address, for per-address rate limits.
    pub client_ip: Option<std::net::IpAddr>,
}

impl<T> Ruma<T> {
    /// The authenticated user; only call on endpoints that require a token.
    pub fn requester(&self) -> Result<&Requester, Error> {
        self.requester
            .as_ref()
            .ok_or_else(|| Error::new(ErrorKind::MissingToken, "Missing access token"))
    }
}

fn bearer_token(parts: &http::request::Parts) -> Result<Option<&str>, Error> {
    bearer_token_from(&parts.headers)
}

/// The access token of an `Authorization: Bearer` header (query-string tokens are not
/// accepted: they leak through copied URLs).
pub fn bearer_token_from(headers: &http::HeaderMap) -> Result<Option<&str>, Error> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| Error::new(ErrorKind::UnknownToken, "Malformed Authorization header"))?;
    match value.strip_prefix("Bearer ") {
        Some(token) if !token.is_empty() => Ok(Some(token.trim())),
        _ => Err(Error::new(
            ErrorKind::MissingToken,
            "Authorization header must be `Bearer <token>`",
        )),
    }
}

impl<T> FromRequest<Services> for Ruma<T>
where
    T: IncomingRequest + Send + 'static,
    T::Authentication: AuthPolicy,
{
    type Rejection = Error;

    async fn from_request(req: Request, services: &Services) -> Result<Self, Error> {
        let (mut parts, body) = req.into_parts();
        let client_ip = client_ip(&parts, &services.config().trusted_proxies);
        let path = RawPathParams::from_request_parts(&mut parts, services)
            .await
            .map_err(|e| Error::invalid_param(e.body_text()))?;
        let mut path_args: Vec<String> = path.iter().map(|(_, v)| v.to_owned()).collect();
        if path_args.len() + 1 == T::_path_parameters().len() {
            // `/state/{type}` and `/state/{type}/`: the empty state key.
            path_args.push(String::new());
        }
        let bytes = axum::body::to_bytes(body, MAX_JSON_BODY)
            .await
            .map_err(|_| Error::new(ErrorKind::TooLarge, "Request body too large"))?;

        let token = bearer_token(&parts)?;
        let requester = match (<T::Authentication as AuthPolicy>::TOKEN, token) {
            (TokenPolicy::None, _) | (TokenPolicy::Optional, None) => None,
            (TokenPolicy::Required, None) => {
                return Err(Error::new(ErrorKind::MissingToken, "Missing access token"));
            }
            (_, Some(token)) => Some(services.accounts.authenticate(token)?),
        };
        // Writes registered with `ruma_route_limited` take a token from the user's bucket.
        if let Some(RouteLimit(action)) = parts.extensions.get::<RouteLimit>().copied() {
            let key = match (&requester, client_ip) {
                (Some(who), _) => who.user_id.to_string(),
                (None, Some(ip)) => ip.to_string(),
                (None, None) => "unknown".to_owned(),
            };
            services.rate_limit(action, &key)?;
        }

        if !bytes.is_empty() && serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_err() {
            return Err(Error::new(
                ErrorKind::NotJson,
                "Request body is not valid JSON",
            ));
        }
        // An empty body means `{}` for endpoints like /logout.
        let body_bytes: &[u8] = if bytes.is_empty() && parts.method != http::Method::GET {
            b"{}"
        } else {
            &bytes
        };
        let request = http::Request::from_parts(parts, body_bytes);
        let args: Vec<&str> = path_args.iter().map(String::as_str).collect();
        // Some of ruma's deserialisers panic on malformed input (e.g. a login
        // body without `type`); bad input must get a 400, not a dropped connection.
        let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            T::try_from_http_request(request, &args)
        }));
        let body = match parsed {
            Ok(result) => result.map_err(|e| Error::bad_json(format!("Invalid request: {e}")))?,
            Err(_) => return Err(Error::bad_json("Invalid request: malformed body")),
        };
        Ok(Self {
            body,
            requester,
            client_ip,
        })
    }
}

/// The client's IP address. Only a peer listed in `trusted_proxies` (a reverse proxy) is
/// believed when it names the client in `X-Forwarded-For`; anyone else, loopback included,
/// could forge the header to get a fresh rate-limit bucket per request. The list is read
/// from the right, past further trusted proxies, to the first address none of ours added.
pub fn client_ip(parts: &http::request::Parts, trusted: &[IpRange]) -> Option<std::net::IpAddr> {
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip())?;
    let is_trusted = |ip: std::net::IpAddr| trusted.iter().any(|range| range.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let mut client = peer;
    let forwarded: Vec<&str> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for entry in forwarded.iter().rev() {
        let Ok(ip) = entry.trim().parse::<std::net::IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    Some(client)
}

/// The rate limit a route's requests are subject to (see `ruma_route_limited`).
#[derive(Clone, Copy)]
struct RouteLimit(Action);

/// A ruma response, serialised for axum.
pub struct RumaResponse<T>(pub T);

impl<T: OutgoingResponse> IntoResponse for RumaResponse<T> {
    fn into_response(self) -> Response {
        match self.0.try_into_http_response::<BytesMut>() {
            Ok(response) => response.map(|body| Body::from(body.freeze())),
            Err(e) => Error::internal(format!("serialising response: {e}")).into_response(),
        }
    }
}

impl<T> From<T> for RumaResponse<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

/// Registers handlers at the paths ruma's metadata lists for an endpoint.
pub trait RumaRouter {
    fn ruma_route<T, H, X>(self, handler: H) -> Self
    where
        T: IncomingRequest + Metadata,
        H: Handler<X, Services>,
        X: 'static;

    /// Like `ruma_route`, for a write: each request first takes a token from the
    /// requester's bucket for `action` (429 `M_LIMIT_EXCEEDED` when it is empty).
    fn ruma_route_limited<T, H, X>(self, action: Action, handler: H) -> Self
    where
        T: IncomingRequest + Metadata,
        H: Handler<X, Services>,
        X: 'static;
}

impl RumaRouter for Router<Services> {
    fn ruma_route<T, H, X>(self, handler: H) -> Self
    where
        T: IncomingRequest + Metadata,
        H: Handler<X, Services>,
        X: 'static,
    {
        route::<T, H, X>(self, None, handler)
    }

    fn ruma_route_limited<T, H, X>(self, action: Action, handler: H) -> Self
    where
        T: IncomingRequest + Metadata,
        H: Handler<X, Services>,
        X: 'static,
    {
        route::<T, H, X>(self, Some(action), handler)
    }
}

fn route<T, H, X>(
    mut router: Router<Services>,
    limit: Option<Action>,
    handler: H,
) -> Router<Services>
where
    T: IncomingRequest + Metadata,
    H: Handler<X, Services>,
    X: 'static,
{
    let method = MethodFilter::try_from(T::METHOD).expect("ruma endpoints use standard methods");
    let endpoint = || {
        let endpoint = on(method, handler.clone());
        match limit {
            Some(action) => endpoint.layer(axum::Extension(RouteLimit(action))),
            None => endpoint,
        }
    };
    for path in T::PATH_BUILDER.all_paths() {
        router = router.route(path, endpoint());
        // The router cannot match an empty segment, so an empty state key
        // gets its own routes (with and without the trailing slash).
        if let Some(prefix) = path.strip_suffix("/{state_key}") {
            router = router.route(prefix, endpoint());
            router = router.route(&format!("{prefix}/"), endpoint());
        }
    }
    router
}
