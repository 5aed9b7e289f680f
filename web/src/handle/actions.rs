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
use crate::{error::ActionError, platform::clock};

impl ClientHandle {
    /// Signs in with a password.
    pub async fn sign_in(
        &self,
        homeserver: &str,
        username: &str,
        password: &str,
    ) -> Result<(), ActionError> {
        let request = auth::login_request(homeserver, username, password)?;
        let response = send(homeserver, request, None).await?;
        let session = auth::parse_login(homeserver, as_borrowed(&response))?;
        self.start_session(session);
        Ok(())
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
                    self.start_session(session);
                    return Ok(());
                }
                _ => return Err(ApiError::UnsupportedAuthFlow.into()),
            }
        }
    }

    /// Creates a private room and selects it.
    pub async fn create_room(&self, name: &str) -> Result<OwnedRoomId, ActionError> {
        let request = self.with_engine(|engine| engine.create_room_request(name))??;
        let response = self.send(request).await?;
        let now = clock::now();
        let room_id = self.update_engine(|engine| {
            engine.handle_create_room_response(name, as_borrowed(&response), now)
        });
        let room_id = self.check(room_id)?;
        self.select(Some(room_id.clone()));
        Ok(room_id)
    }

    /// Joins a room we are invited to and selects it as soon as the server confirms.
    pub async fn join(&self, room_id: OwnedRoomId) -> Result<(), ActionError> {
        let request = self.with_engine(|engine| engine.join_request(&room_id))??;
        let response = self.send(request).await?;
        let now = clock::now();
        let joined =
            self.update_engine(|engine| engine.handle_join_response(as_borrowed(&response), now));
        let joined = self.check(joined)?;
        self.select(Some(joined));
        Ok(())
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
        let request = self.with_engine(Engine::logout_request);
        let homeserver = self.with_engine(|engine| engine.session().homeserver.clone());
        self.end_session(None);
        // Local data is gone either way; the server deletes the device if it hears us.
        if let (Ok(Ok(request)), Ok(homeserver)) = (request, homeserver) {
            let _ = send(&homeserver, request, None).await;
        }
    }
}
