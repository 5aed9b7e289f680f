//! What the UI can ask for: sign in, register, create/join/invite, send, sign out.
//!
//! Each action builds its request with the engine, sends it through the platform, and feeds
//! the response back to the engine; errors come back as [`ActionError`]s to show as they are.

use ruma::{OwnedRoomId, OwnedUserId};
use weft_client::{
    ApiError, Engine,
    auth::{self, Registration, RegistrationStep},
};

use super::{ClientHandle, as_borrowed, send};
use crate::error::{ActionError, OrLog};

impl ClientHandle {
    /// Signs in with a password.
    pub async fn sign_in(
        &self,
        homeserver: &str,
        username: &str,
        password: &str,
    ) -> Result<(), ActionError> {
        let homeserver = &self.discover(homeserver, username).await;
        let request = auth::login_request(homeserver, username, password)?;
        let response = send(homeserver, request, None).await?;
        let session = auth::parse_login(homeserver, as_borrowed(&response))?;
        // The password sets up cross-signing if this account has none yet.
        self.start_session(session, Some(password.to_owned()));
        Ok(())
    }

    /// The homeserver to use: the one typed, unless it is still the default and the username
    /// is a full user ID whose server names another homeserver in `.well-known`.
    async fn discover(&self, homeserver: &str, username: &str) -> String {
        let typed = homeserver.to_owned();
        let Some(server) = auth::server_of(username) else {
            return typed;
        };
        if homeserver != crate::platform::location::origin() {
            return typed;
        }
        let Ok(request) = auth::discovery_request(server) else {
            return typed;
        };
        match send(server, request, None).await {
            Ok(response) => auth::parse_discovery(as_borrowed(&response)).unwrap_or(typed),
            Err(_) => typed,
        }
    }

    /// Creates an account and signs in to it; `token` answers a registration-token stage.
    pub async fn register(
        &self,
        homeserver: &str,
        username: &str,
        password: &str,
        token: Option<String>,
    ) -> Result<(), ActionError> {
        let mut registration = Registration::new(homeserver, username, password, token);
        let mut request = registration.start()?;
        loop {
            let response = send(homeserver, request, None).await?;
            match registration.handle_response(as_borrowed(&response))? {
                RegistrationStep::Continue(next) => request = next,
                RegistrationStep::Done(session) => {
                    self.start_session(session, Some(password.to_owned()));
                    return Ok(());
                }
                _ => return Err(ApiError::UnsupportedAuthFlow.into()),
            }
        }
    }

    /// Invites `user_id` into `room_id`.
    pub async fn invite(
        &self,
        room_id: OwnedRoomId,
        user_id: OwnedUserId,
    ) -> Result<(), ActionError> {
        let request = self.with_engine(|engine| engine.invite_request(&room_id, user_id))??;
        let response = self.send(request).await?;
        let result =
            self.with_engine(|engine| engine.handle_invite_response(as_borrowed(&response)));
        self.check(result)
    }

    /// Ends the session on the server and forgets it locally.
    pub async fn sign_out(&self) {
        let hang_up = self.hang_up_request();
        let request = self.with_engine(Engine::logout_request);
        let homeserver = self.with_engine(|engine| engine.session().homeserver.clone());
        self.end_session(None);
        // Local data is gone either way; the server deletes the device if it hears us.
        if let (Ok(Ok(request)), Ok(homeserver)) = (request, homeserver) {
            // A call in progress ends for the other side too, while the token still works.
            if let Some(hang_up) = hang_up {
                send(&homeserver, hang_up, None).await.or_log("hang up");
            }
            send(&homeserver, request, None).await.or_log("sign out");
        }
    }
}
