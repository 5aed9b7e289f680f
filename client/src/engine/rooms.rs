//! Managing rooms and people: new rooms and DMs, leaving, removing people, room settings,
//! our display name, and loading the full member list.

use ruma::{MilliSecondsSinceUnixEpoch, OwnedRoomId, OwnedUserId, RoomId, UserId};

use super::Engine;
use crate::{
    ApiError, HttpRequest, HttpResponse,
    content::{NameContent, TopicContent},
    event::Event,
    media::Mxc,
    people,
    requests::{self, EncryptionContent, MEGOLM, NewRoom},
};

impl Engine {
    /// Handles the create response; the room is listed at once, before sync delivers it.
    /// For a DM, returns the `m.direct` update to send next.
    pub fn handle_created_room(
        &mut self,
        room: &NewRoom,
        response: HttpResponse<'_>,
        now: MilliSecondsSinceUnixEpoch,
    ) -> Result<(OwnedRoomId, Option<HttpRequest>), ApiError> {
        let name = room
            .direct_with
            .as_ref()
            .map_or(room.name.clone(), |user| user.to_string());
        let room_id = self.handle_create_room_response(&name, response, now)?;
        let direct = match &room.direct_with {
            Some(user) => Some(self.add_direct(user.clone(), room_id.clone())?),
            None => None,
        };
        Ok((room_id, direct))
    }

    /// Records `room_id` as our DM with `user` and returns the `m.direct` update.
    pub fn add_direct(
        &mut self,
        user: OwnedUserId,
        room_id: OwnedRoomId,
    ) -> Result<HttpRequest, ApiError> {
        let rooms = self.direct.entry(user).or_default();
        if !rooms.contains(&room_id) {
            rooms.push(room_id);
        }
        people::direct_request(&self.session, &self.direct)
    }

    /// Our DM with `user`, if we have one we are still in.
    pub fn direct_room_with(&self, user: &UserId) -> Option<OwnedRoomId> {
        self.direct
            .get(user)?
            .iter()
            .rev()
            .find(|room| self.rooms.contains_key(*room))
            .cloned()
    }

    /// Leaves a room; it disappears from the list once the server agrees.
    pub fn leave_request(&self, room_id: &RoomId) -> Result<HttpRequest, ApiError> {
        people::leave_request(&self.session, room_id)
    }

    /// Forgets the room locally after a successful leave.
    pub fn handle_leave_response(
        &mut self,
        room_id: &RoomId,
        response: HttpResponse<'_>,
    ) -> Result<(), ApiError> {
        crate::endpoint::parse_empty(response)?;
        self.rooms.remove(room_id);
        Ok(())
    }

    /// Removes `user` from the room.
    pub fn kick_request(
        &self,
        room_id: &RoomId,
        user: &UserId,
        reason: &str,
    ) -> Result<HttpRequest, ApiError> {
        people::kick_request(&self.session, room_id, user, reason)
    }

    /// Renames the room.
    pub fn set_name_request(&self, room_id: &RoomId, name: &str) -> Result<HttpRequest, ApiError> {
        people::state_request(
            &self.session,
            room_id,
            "m.room.name",
            "",
            &NameContent {
                name: name.trim().to_owned(),
            },
        )
    }

    /// Changes the room's topic.
    pub fn set_topic_request(
        &self,
        room_id: &RoomId,
        topic: &str,
    ) -> Result<HttpRequest, ApiError> {
        people::state_request(
            &self.session,
            room_id,
            "m.room.topic",
            "",
            &TopicContent {
                topic: topic.trim().to_owned(),
            },
        )
    }

    /// Turns on end-to-end encryption (`m.room.encryption`, Megolm). There is no way back:
    /// clients ignore a later change of algorithm, as the spec asks.
    pub fn enable_encryption_request(&self, room_id: &RoomId) -> Result<HttpRequest, ApiError> {
        people::state_request(
            &self.session,
            room_id,
            "m.room.encryption",
            "",
            &EncryptionContent { algorithm: MEGOLM },
        )
    }

    /// Changes the room's picture to an uploaded image.
    pub fn set_room_avatar_request(
        &self,
        room_id: &RoomId,
        mxc: &Mxc,
    ) -> Result<HttpRequest, ApiError> {
        #[derive(serde::Serialize)]
        struct Avatar {
            url: String,
        }
        people::state_request(
            &self.session,
            room_id,
            "m.room.avatar",
            "",
            &Avatar {
                url: mxc.to_string(),
            },
        )
    }

    /// Changes our picture (the server updates it in every room).
    pub fn avatar_request(&self, mxc: &Mxc) -> Result<HttpRequest, ApiError> {
        people::avatar_url_request(&self.session, mxc)
    }

    /// Changes our display name (the server updates it in every room).
    pub fn display_name_request(&self, name: &str) -> Result<HttpRequest, ApiError> {
        people::display_name_request(&self.session, name)
    }

    /// Our display name as our member events carry it (the server copies the profile's
    /// into every room we are in), from the first room that has one. Read from what sync
    /// brought rather than asked of `/profile`: no request, and no wasm for one.
    pub fn own_display_name(&self) -> Option<&str> {
        let own = self.user_id();
        self.rooms
            .values()
            .filter_map(|room| room.member(own)?.display_name.as_deref())
            .find(|name| !name.is_empty())
    }

    /// The full member list of a room (lazy loading only sent who spoke).
    pub fn members_request(&self, room_id: &RoomId) -> Result<HttpRequest, ApiError> {
        people::members_request(&self.session, room_id)
    }

    /// Adds the member list to the room.
    pub fn handle_members_response(
        &mut self,
        room_id: &RoomId,
        response: HttpResponse<'_>,
    ) -> Result<(), ApiError> {
        let page = people::parse_members(response)?;
        let room = self.room_mut(room_id)?;
        for event in page.chunk.iter().filter_map(|raw| Event::parse(raw)) {
            room.apply_listed_member(&event);
        }
        Ok(())
    }

    /// Request to create a room (a DM when `direct_with` is set).
    pub fn create_room_request(&self, room: &NewRoom) -> Result<HttpRequest, ApiError> {
        requests::create_room_request(&self.session, room)
    }
}

#[cfg(test)]
mod tests {
    use ruma::room_id;

    use super::*;
    use crate::Session;

    #[test]
    fn encryption_is_turned_on_with_megolm() {
        let engine = Engine::new(Session {
            homeserver: "http://hs".to_owned(),
            user_id: "@bob:hs".try_into().unwrap(),
            device_id: "DEV".into(),
            access_token: "tok".to_owned(),
        });
        let request = engine.enable_encryption_request(room_id!("!r:hs")).unwrap();
        assert_eq!(request.method(), http::Method::PUT);
        assert!(
            request
                .uri()
                .path()
                .ends_with("/rooms/!r:hs/state/m.room.encryption/"),
            "{}",
            request.uri()
        );
        let body: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"algorithm": "m.megolm.v1.aes-sha2"})
        );
    }
}
