//! Getting a [`Session`]: password login and account registration.
//!
//! Registration runs User-Interactive Authentication (UIA): the first attempt carries no
//! `auth`, the server answers 401 with the flows it accepts and a `session`, and we repeat the
//! request with one stage at a time until the server returns the new account's token.

use ruma::api::{
    IncomingResponseExt,
    client::{
        account::register,
        session::login,
        uiaa::{self, AuthData, AuthFlow, AuthType, UiaaInfo, UiaaResponse, UserIdentifier},
    },
    error::{Error as MatrixError, ErrorKind, FromHttpResponseError},
};

use crate::{
    ApiError, HttpRequest, HttpResponse, Session, requests::build, session::normalize_homeserver,
};

/// Shown in the device list of the account, so people can tell their sessions apart.
const DEVICE_NAME: &str = "Weft (web)";

/// UIA should finish in a handful of rounds; a server that keeps asking is misbehaving.
const MAX_UIA_ROUNDS: u8 = 5;

/// `POST /_matrix/client/v3/login` with `m.login.password` and an `m.id.user` identifier.
///
/// `username` may be a bare localpart or a full user ID; the server resolves both.
pub fn login_request(
    homeserver: &str,
    username: &str,
    password: &str,
) -> Result<HttpRequest, ApiError> {
    let identifier =
        UserIdentifier::Matrix(uiaa::MatrixUserIdentifier::new(username.trim().to_owned()));
    let info =
        login::v3::LoginInfo::Password(login::v3::Password::new(identifier, password.to_owned()));
    let mut request = login::v3::Request::new(info);
    request.initial_device_display_name = Some(DEVICE_NAME.to_owned());
    build(request, &normalize_homeserver(homeserver), None)
}

/// Turns a login response into a session.
pub fn parse_login(homeserver: &str, response: HttpResponse<'_>) -> Result<Session, ApiError> {
    match login::v3::Response::try_from_http_response(response) {
        Ok(response) => Ok(Session {
            homeserver: normalize_homeserver(homeserver),
            user_id: response.user_id,
            device_id: response.device_id,
            access_token: response.access_token,
        }),
        Err(FromHttpResponseError::Server(error)) if is_forbidden(&error) => {
            Err(ApiError::WrongCredentials)
        }
        Err(error) => Err(error.into()),
    }
}

fn is_forbidden(error: &MatrixError) -> bool {
    matches!(error.error_kind(), Some(ErrorKind::Forbidden))
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

/// One attempt to create an account, driven through the UIA stages.
#[derive(Debug, Clone)]
pub struct Registration {
    homeserver: String,
    username: String,
    password: String,
    token: Option<String>,
    rounds: u8,
    last_stage: Option<AuthType>,
}

impl Registration {
    /// Prepares to register `username`; `token` answers an `m.login.registration_token` stage.
    pub fn new(homeserver: &str, username: &str, password: &str, token: Option<String>) -> Self {
        Self {
            homeserver: normalize_homeserver(homeserver),
            // Matrix localparts are lower-case; people type "Alice" and mean "alice".
            username: username.trim().to_lowercase(),
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
        match register::v3::Response::try_from_http_response(response) {
            Ok(response) => {
                let (Some(access_token), Some(device_id)) =
                    (response.access_token, response.device_id)
                else {
                    return Err(ApiError::Malformed(
                        "registration returned no access token".into(),
                    ));
                };
                Ok(RegistrationStep::Done(Session {
                    homeserver: self.homeserver.clone(),
                    user_id: response.user_id,
                    device_id,
                    access_token,
                }))
            }
            Err(FromHttpResponseError::Server(UiaaResponse::AuthResponse(info))) => {
                self.next_stage(&info).map(RegistrationStep::Continue)
            }
            Err(FromHttpResponseError::Server(UiaaResponse::MatrixError(error)))
                if is_forbidden(&error) =>
            {
                Err(ApiError::RegistrationDisabled)
            }
            Err(error) => Err(error.into()),
        }
    }

    fn next_stage(&mut self, info: &UiaaInfo) -> Result<HttpRequest, ApiError> {
        if info.auth_error.is_some() && self.last_stage == Some(AuthType::RegistrationToken) {
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
                .any(|flow| flow.stages.contains(&AuthType::RegistrationToken));
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
        let session = info.session.clone();
        let auth = match stage {
            AuthType::Dummy => {
                let mut data = uiaa::Dummy::new();
                data.session = session;
                AuthData::Dummy(data)
            }
            AuthType::RegistrationToken => {
                let mut data = uiaa::RegistrationToken::new(self.token.clone().unwrap_or_default());
                data.session = session;
                AuthData::RegistrationToken(data)
            }
            _ => return Err(ApiError::UnsupportedAuthFlow),
        };
        self.last_stage = Some(stage.clone());
        self.request(Some(auth))
    }

    fn can_complete(&self, flow: &AuthFlow) -> bool {
        flow.stages.iter().all(|stage| match stage {
            AuthType::Dummy => true,
            AuthType::RegistrationToken => self.token.is_some(),
            _ => false,
        })
    }

    fn request(&self, auth: Option<AuthData>) -> Result<HttpRequest, ApiError> {
        let mut request = register::v3::Request::new();
        request.username = Some(self.username.clone());
        request.password = Some(self.password.clone());
        request.initial_device_display_name = Some(DEVICE_NAME.to_owned());
        request.auth = auth;
        build(request, &self.homeserver, None)
    }
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
