//! Getting a [`Session`]: password login and account registration.
//!
//! Registration runs User-Interactive Authentication (UIA): the first attempt carries no
//! `auth`, the server answers 401 with the flows it accepts and a `session`, and we repeat the
//! request with one stage at a time until the server returns the new account's token.

use ruma::{
    OwnedDeviceId, OwnedUserId,
    api::client::{account::register, session::login},
};
use serde::{Deserialize, Serialize};

use crate::{
    ApiError, HttpRequest, HttpResponse, Session,
    endpoint::{self, Target, json},
    error::ErrorBody,
    session::normalize_homeserver,
};

/// Shown in the device list of the account, so people can tell their sessions apart.
const DEVICE_NAME: &str = "Weft (web)";

/// UIA should finish in a handful of rounds; a server that keeps asking is misbehaving.
const MAX_UIA_ROUNDS: u8 = 5;

const DUMMY: &str = "m.login.dummy";
const REGISTRATION_TOKEN: &str = "m.login.registration_token";

#[derive(Serialize)]
struct LoginBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    identifier: Identifier<'a>,
    password: &'a str,
    initial_device_display_name: &'static str,
}

#[derive(Serialize)]
struct Identifier<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    user: &'a str,
}

/// What login and registration answer with.
#[derive(Deserialize)]
struct SessionResponse {
    user_id: OwnedUserId,
    access_token: Option<String>,
    device_id: Option<OwnedDeviceId>,
}

impl SessionResponse {
    fn into_session(self, homeserver: String) -> Result<Session, ApiError> {
        let (Some(access_token), Some(device_id)) = (self.access_token, self.device_id) else {
            return Err(ApiError::Malformed(
                "the server returned no access token".into(),
            ));
        };
        Ok(Session {
            homeserver,
            user_id: self.user_id,
            device_id,
            access_token,
        })
    }
}

/// `POST /_matrix/client/v3/login` with `m.login.password` and an `m.id.user` identifier.
///
/// `username` may be a bare localpart or a full user ID; the server resolves both.
pub fn login_request(
    homeserver: &str,
    username: &str,
    password: &str,
) -> Result<HttpRequest, ApiError> {
    let body = LoginBody {
        kind: "m.login.password",
        identifier: Identifier {
            kind: "m.id.user",
            user: username.trim(),
        },
        password,
        initial_device_display_name: DEVICE_NAME,
    };
    let homeserver = normalize_homeserver(homeserver);
    let target = Target {
        homeserver: &homeserver,
        access_token: None,
    };
    endpoint::request::<login::v3::Request>(target, &[], &[], json(&body)?)
}

/// Turns a login response into a session.
pub fn parse_login(homeserver: &str, response: HttpResponse<'_>) -> Result<Session, ApiError> {
    if response.status() == http::StatusCode::FORBIDDEN {
        return Err(ApiError::WrongCredentials);
    }
    endpoint::parse::<SessionResponse>(response)?.into_session(normalize_homeserver(homeserver))
}

/// What to do after a registration response.
#[derive(Debug)]
#[non_exhaustive]
pub enum RegistrationStep {
    /// Send this request next and hand its response to [`Registration::handle_response`].
    Continue(HttpRequest),
    /// The account exists and we are signed in.
    Done(Session),
}

/// A 401 answer during UIA: what the server accepts and what is done.
#[derive(Debug, Default, Deserialize)]
struct UiaaInfo {
    #[serde(default)]
    flows: Vec<AuthFlow>,
    #[serde(default)]
    completed: Vec<String>,
    session: Option<String>,
    /// Set when the previous stage was refused.
    errcode: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AuthFlow {
    #[serde(default)]
    stages: Vec<String>,
}

#[derive(Serialize)]
struct AuthData<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
}

#[derive(Serialize)]
struct RegisterBody<'a> {
    username: &'a str,
    password: &'a str,
    initial_device_display_name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<AuthData<'a>>,
}

/// One attempt to create an account, driven through the UIA stages.
#[derive(Debug, Clone)]
pub struct Registration {
    homeserver: String,
    username: String,
    password: String,
    token: Option<String>,
    rounds: u8,
    last_stage: Option<String>,
}

impl Registration {
    /// Prepares to register `username`; `token` answers an `m.login.registration_token` stage.
    pub fn new(homeserver: &str, username: &str, password: &str, token: Option<String>) -> Self {
        Self {
            homeserver: normalize_homeserver(homeserver),
            // Matrix localparts are lower-case; people type "Alice" and mean "alice".
            username: username.trim().to_ascii_lowercase(),
            password: password.to_owned(),
            token: token.filter(|token| !token.is_empty()),
            rounds: 0,
            last_stage: None,
        }
    }

    /// The first request, without `auth`, which asks the server for its flows.
    pub fn start(&mut self) -> Result<HttpRequest, ApiError> {
        self.rounds = 0;
        self.last_stage = None;
        self.request(None)
    }

    /// Advances the flow with the server's answer to the previous request.
    pub fn handle_response(
        &mut self,
        response: HttpResponse<'_>,
    ) -> Result<RegistrationStep, ApiError> {
        let status = response.status().as_u16();
        if status == 401
            && let Ok(info) = serde_json::from_slice::<UiaaInfo>(response.body())
            && !info.flows.is_empty()
        {
            return self.next_stage(&info).map(RegistrationStep::Continue);
        }
        if status == 403
            && let Ok(body) = serde_json::from_slice::<ErrorBody>(response.body())
            && body.errcode.as_deref() == Some("M_FORBIDDEN")
        {
            return Err(ApiError::RegistrationDisabled);
        }
        let session = endpoint::parse::<SessionResponse>(response)?;
        session
            .into_session(self.homeserver.clone())
            .map(RegistrationStep::Done)
    }

    fn next_stage(&mut self, info: &UiaaInfo) -> Result<HttpRequest, ApiError> {
        if info.errcode.is_some() && self.last_stage.as_deref() == Some(REGISTRATION_TOKEN) {
            return Err(ApiError::RegistrationTokenInvalid);
        }
        self.rounds += 1;
        if self.rounds > MAX_UIA_ROUNDS {
            return Err(ApiError::UnsupportedAuthFlow);
        }
        let Some(flow) = info.flows.iter().find(|flow| self.can_complete(flow)) else {
            let wants_token = info
                .flows
                .iter()
                .any(|flow| flow.stages.iter().any(|s| s == REGISTRATION_TOKEN));
            return Err(if wants_token && self.token.is_none() {
                ApiError::RegistrationTokenRequired
            } else {
                ApiError::UnsupportedAuthFlow
            });
        };
        let Some(stage) = flow
            .stages
            .iter()
            .find(|stage| !info.completed.contains(stage))
        else {
            // Every stage is done yet the server still says 401: nothing left we could send.
            return Err(ApiError::UnsupportedAuthFlow);
        };
        let stage = stage.clone();
        let session = info.session.clone();
        let token = self.token.clone();
        let auth = AuthData {
            kind: &stage,
            session: session.as_deref(),
            token: (stage == REGISTRATION_TOKEN).then_some(token.as_deref().unwrap_or_default()),
        };
        let request = self.request(Some(auth));
        self.last_stage = Some(stage);
        request
    }

    fn can_complete(&self, flow: &AuthFlow) -> bool {
        flow.stages.iter().all(|stage| match stage.as_str() {
            DUMMY => true,
            REGISTRATION_TOKEN => self.token.is_some(),
            _ => false,
        })
    }

    fn request(&self, auth: Option<AuthData<'_>>) -> Result<HttpRequest, ApiError> {
        let body = RegisterBody {
            username: &self.username,
            password: &self.password,
            initial_device_display_name: DEVICE_NAME,
            auth,
        };
        let target = Target {
            homeserver: &self.homeserver,
            access_token: None,
        };
        endpoint::request::<register::v3::Request>(target, &[], &[], json(&body)?)
    }
}

/// The server part of a full user ID typed at sign-in (`@alice:example.org` →
/// `example.org`), to discover its homeserver from.
pub fn server_of(username: &str) -> Option<&str> {
    let (_, server) = username.trim().strip_prefix('@')?.split_once(':')?;
    (!server.is_empty()).then_some(server)
}

/// `GET https://{server}/.well-known/matrix/client` (plain `http` for `localhost`, which
/// has no certificate in development).
pub fn discovery_request(server: &str) -> Result<HttpRequest, ApiError> {
    let local =
        server == "localhost" || server.starts_with("localhost:") || server.starts_with("127.");
    let scheme = if local { "http" } else { "https" };
    http::Request::get(format!("{scheme}://{server}/.well-known/matrix/client"))
        .body(Vec::new())
        .map_err(|error| ApiError::InvalidRequest(error.to_string()))
}

#[derive(Deserialize)]
struct WellKnown {
    #[serde(rename = "m.homeserver")]
    homeserver: WellKnownHomeserver,
}

#[derive(Deserialize)]
struct WellKnownHomeserver {
    base_url: String,
}

/// The homeserver URL a `.well-known` answer names, if it names a usable one.
pub fn parse_discovery(response: HttpResponse<'_>) -> Option<String> {
    let found: WellKnown = endpoint::parse(response).ok()?;
    let url = found
        .homeserver
        .base_url
        .trim()
        .trim_end_matches('/')
        .to_owned();
    (url.starts_with("https://") || url.starts_with("http://")).then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> http::Response<&[u8]> {
        http::Response::builder()
            .status(status)
            .body(body.as_bytes())
            .unwrap()
    }

    fn json(request: &HttpRequest) -> serde_json::Value {
        serde_json::from_slice(request.body()).unwrap()
    }

    #[test]
    fn discovery_from_full_user_ids() {
        assert_eq!(server_of("@alice:example.org"), Some("example.org"));
        assert_eq!(server_of("alice"), None);
        assert_eq!(
            discovery_request("example.org").unwrap().uri(),
            "https://example.org/.well-known/matrix/client"
        );
        let found = parse_discovery(response(
            200,
            r#"{"m.homeserver":{"base_url":"https://matrix.example.org/"}}"#,
        ));
        assert_eq!(found.as_deref(), Some("https://matrix.example.org"));
        assert_eq!(parse_discovery(response(404, "{}")), None);
        assert_eq!(
            parse_discovery(response(
                200,
                r#"{"m.homeserver":{"base_url":"javascript:x"}}"#
            )),
            None
        );
    }

    #[test]
    fn login_uses_user_identifier() {
        let request = login_request("http://hs/", "alice", "pw").unwrap();
        assert_eq!(request.uri(), "http://hs/_matrix/client/v3/login");
        let body = json(&request);
        assert_eq!(body["type"], "m.login.password");
        assert_eq!(
            body["identifier"],
            serde_json::json!({"type": "m.id.user", "user": "alice"})
        );
    }

    #[test]
    fn login_forbidden_means_wrong_credentials() {
        let error = parse_login(
            "http://hs",
            response(403, r#"{"errcode":"M_FORBIDDEN","error":"no"}"#),
        );
        assert_eq!(error, Err(ApiError::WrongCredentials));
    }

    #[test]
    fn login_success_gives_session() {
        let session = parse_login(
            "http://hs",
            response(
                200,
                r#"{"user_id":"@alice:hs","access_token":"t","device_id":"D"}"#,
            ),
        )
        .unwrap();
        assert_eq!(session.user_id, "@alice:hs");
        assert_eq!(session.homeserver, "http://hs");
    }

    #[test]
    fn registration_runs_dummy_stage_with_session() {
        let mut registration = Registration::new("http://hs", "Alice", "pw", None);
        let first = registration.start().unwrap();
        assert!(json(&first).get("auth").is_none());
        assert_eq!(json(&first)["username"], "alice");

        let step = registration
            .handle_response(response(
                401,
                r#"{"flows":[{"stages":["m.login.dummy"]}],"params":{},"session":"S1"}"#,
            ))
            .unwrap();
        let RegistrationStep::Continue(second) = step else {
            panic!("expected a request")
        };
        assert_eq!(
            json(&second)["auth"],
            serde_json::json!({"type": "m.login.dummy", "session": "S1"})
        );

        let done = registration
            .handle_response(response(
                200,
                r#"{"user_id":"@alice:hs","access_token":"t","device_id":"D"}"#,
            ))
            .unwrap();
        assert!(matches!(done, RegistrationStep::Done(session) if session.access_token == "t"));
    }

    #[test]
    fn registration_token_flow_is_reported_without_token() {
        let mut registration = Registration::new("http://hs", "alice", "pw", None);
        registration.start().unwrap();
        let error = registration
            .handle_response(response(
                401,
                r#"{"flows":[{"stages":["m.login.registration_token"]}],"session":"S"}"#,
            ))
            .unwrap_err();
        assert_eq!(error, ApiError::RegistrationTokenRequired);
    }

    #[test]
    fn registration_token_is_sent_when_given() {
        let mut registration = Registration::new("http://hs", "alice", "pw", Some("tok".into()));
        registration.start().unwrap();
        let step = registration
            .handle_response(response(
                401,
                r#"{"flows":[{"stages":["m.login.registration_token","m.login.dummy"]}],"session":"S"}"#,
            ))
            .unwrap();
        let RegistrationStep::Continue(request) = step else {
            panic!("expected a request")
        };
        assert_eq!(json(&request)["auth"]["type"], "m.login.registration_token");
        assert_eq!(json(&request)["auth"]["token"], "tok");
    }

    #[test]
    fn taken_username_is_reported() {
        let mut registration = Registration::new("http://hs", "alice", "pw", None);
        registration.start().unwrap();
        let error = registration
            .handle_response(response(
                400,
                r#"{"errcode":"M_USER_IN_USE","error":"taken"}"#,
            ))
            .unwrap_err();
        assert_eq!(error, ApiError::UsernameTaken);
    }
}
