//! Room and people actions: create rooms and DMs, join by alias, leave, remove people,
//! room settings, display name, member list.

use ruma::{OwnedRoomId, OwnedUserId};
use weft_client::{NewRoom, people};

use super::{ClientHandle, as_borrowed};
use crate::{error::ActionError, platform::clock};

impl ClientHandle {
    /// Creates a room (or a DM, recorded in `m.direct`) and selects it.
    pub async fn create_room(&self, room: NewRoom) -> Result<OwnedRoomId, ActionError> {
        let request = self.with_engine(|engine| engine.create_room_request(&room))??;
        let response = self.send(request).await?;
        let now = clock::now();
        let created = self
            .update_engine(|engine| engine.handle_created_room(&room, as_borrowed(&response), now));
        let (room_id, direct) = self.check(created)?;
        self.select(Some(room_id.clone()));
        if let Some(request) = direct {
            self.send_checked(request).await?;
        }
        Ok(room_id)
    }

    /// Opens our DM with `user`, creating it if there is none.
    pub async fn start_dm(&self, user: &str) -> Result<(), ActionError> {
        let user: OwnedUserId = people::parse_user_id(user)?;
        if let Ok(Some(room_id)) = self.with_engine(|engine| engine.direct_room_with(&user)) {
            self.select(Some(room_id));
            return Ok(());
        }
        // Encrypted from the first event, as Element makes every DM.
        self.create_room(NewRoom {
            direct_with: Some(user),
            encrypted: true,
            ..NewRoom::default()
        })
        .await
        .map(drop)
    }

    /// Joins a room by ID or alias (also: accepts an invite) and selects it.
    pub async fn join(&self, room_id_or_alias: &str) -> Result<(), ActionError> {
        let target = room_id_or_alias.trim().to_owned();
        let request = self.update_engine_quietly(|engine| engine.join_request(&target))??;
        let response = self.send(request).await?;
        let now = clock::now();
        let joined =
            self.update_engine(|engine| engine.handle_join_response(as_borrowed(&response), now));
        let (joined, direct) = self.check(joined)?;
        self.select(Some(joined));
        // An invite to a direct chat: list it in `m.direct`, so it shows as one here and in
        // the person's other clients.
        if let Some(direct) = direct {
            self.send_checked(direct).await?;
        }
        Ok(())
    }

    /// Leaves a room and goes back to the room list.
    pub async fn leave(&self, room_id: OwnedRoomId) -> Result<(), ActionError> {
        let request = self.with_engine(|engine| engine.leave_request(&room_id))??;
        let response = self.send(request).await?;
        let left = self
            .update_engine(|engine| engine.handle_leave_response(&room_id, as_borrowed(&response)));
        self.check(left)?;
        self.select(None);
        Ok(())
    }

    /// Removes someone from a room.
    pub async fn kick(&self, room_id: OwnedRoomId, user: OwnedUserId) -> Result<(), ActionError> {
        let request = self.with_engine(|engine| engine.kick_request(&room_id, &user, ""))??;
        self.send_checked(request).await
    }

    /// Renames a room and changes its topic (only what changed is sent).
    pub async fn save_room_settings(
        &self,
        room_id: OwnedRoomId,
        name: Option<String>,
        topic: Option<String>,
    ) -> Result<(), ActionError> {
        if let Some(name) = name {
            let request = self.with_engine(|engine| engine.set_name_request(&room_id, &name))??;
            self.send_checked(request).await?;
        }
        if let Some(topic) = topic {
            let request =
                self.with_engine(|engine| engine.set_topic_request(&room_id, &topic))??;
            self.send_checked(request).await?;
        }
        Ok(())
    }

    /// Changes our display name.
    pub async fn set_display_name(&self, name: &str) -> Result<(), ActionError> {
        let request = self.with_engine(|engine| engine.display_name_request(name))??;
        self.send_checked(request).await
    }

    /// Our display name as our rooms know it, if any does.
    pub fn own_display_name_untracked(&self) -> Option<String> {
        self.with_engine(|engine| engine.own_display_name().map(str::to_owned))
            .ok()
            .flatten()
    }

    /// Loads everyone in the room into the member list.
    pub async fn load_members(&self, room_id: OwnedRoomId) -> Result<(), ActionError> {
        let request = self.with_engine(|engine| engine.members_request(&room_id))??;
        let response = self.send(request).await?;
        let loaded = self.update_engine(|engine| {
            engine.handle_members_response(&room_id, as_borrowed(&response))
        });
        self.check(loaded)
    }

    pub(super) async fn send_checked(
        &self,
        request: weft_client::HttpRequest,
    ) -> Result<(), ActionError> {
        let response = self.send(request).await?;
        self.check(Ok(weft_client::messaging::parse_empty(as_borrowed(
            &response,
        ))))
    }
}
