//! Room aliases, the public room directory and the user directory.
//!
//! [`Directory`] is a part of [`Services`](super::Services): it holds the
//! directory area of storage and reads rooms through a [`RoomReader`].

use std::sync::Arc;

use ruma::{
    OwnedRoomAliasId, OwnedRoomId, OwnedServerName, RoomAliasId, RoomId, UserId,
    directory::{PublicRoomsChunk, PublicRoomsChunkInit},
    room::JoinRuleKind,
};
use serde_json::Value;

use super::room_reader::{RoomReader, state_level, user_level, users_sharing_rooms};
use crate::{
    error::{Error, ErrorKind, Result},
    storage::{AliasRow, DirectoryStore, StateStore, UserProfileRow},
};

/// Room aliases, the public room directory and the user directory.
pub struct Directory {
    server_name: OwnedServerName,
    storage: Arc<dyn DirectoryStore>,
    rooms: RoomReader,
    /// Memberships: whom a searcher shares a room with.
    state: Arc<dyn StateStore>,
}

impl Directory {
    pub(super) fn new(
        server_name: OwnedServerName,
        storage: Arc<dyn DirectoryStore>,
        rooms: RoomReader,
        state: Arc<dyn StateStore>,
    ) -> Self {
        Self {
            server_name,
            storage,
            rooms,
            state,
        }
    }

    fn may_manage_directory(&self, room_id: &RoomId, user: &UserId) -> Result<bool> {
        let power = self.rooms.power_levels(room_id)?;
        Ok(self.rooms.is_joined(room_id, user)?
            && user_level(&power, user) >= state_level(&power, "m.room.canonical_alias"))
    }

    /// `PUT /directory/room/{alias}`.
    pub fn create_alias(&self, user: &UserId, alias: &RoomAliasId, room_id: &RoomId) -> Result<()> {
        if alias.server_name() != self.server_name {
            return Err(Error::invalid_param(
                "Aliases must end with this server's name",
            ));
        }
        if !self.rooms.exists(room_id)? {
            return Err(Error::not_found("Unknown room"));
        }
        if !self.rooms.is_joined(room_id, user)? {
            return Err(Error::forbidden(
                "You must be in the room to give it an alias",
            ));
        }
        if !self.storage.create_alias(alias, room_id, user)? {
            return Err(Error::with_status(
                ErrorKind::Unknown,
                http::StatusCode::CONFLICT,
                "That alias is taken",
            ));
        }
        Ok(())
    }

    /// An `m.room.canonical_alias` content may only name aliases that point to its room
    /// (`pending`: one about to, during createRoom); otherwise anyone could list their
    /// room under someone else's alias. Aliases on other servers cannot be checked without
    /// federation, so they are refused too.
    pub fn check_canonical_alias(
        &self,
        room_id: &RoomId,
        content: &serde_json::value::RawValue,
        pending: Option<&RoomAliasId>,
    ) -> Result<()> {
        #[derive(serde::Deserialize)]
        struct Content {
            alias: Option<String>,
            #[serde(default)]
            alt_aliases: Vec<String>,
        }
        let content: Content = serde_json::from_str(content.get()).map_err(|e| {
            Error::invalid_param(format!("Invalid m.room.canonical_alias content: {e}"))
        })?;
        for alias in content.alias.iter().chain(&content.alt_aliases) {
            let alias = <&RoomAliasId>::try_from(alias.as_str())
                .map_err(|e| Error::invalid_param(format!("`{alias}` is not a room alias: {e}")))?;
            if pending == Some(alias) {
                continue;
            }
            let points_here = alias.server_name() == self.server_name
                && self
                    .storage
                    .alias(alias)?
                    .is_some_and(|row| row.room_id == room_id);
            if !points_here {
                return Err(Error::new(
                    ErrorKind::BadAlias,
                    format!("{alias} does not point to this room"),
                ));
            }
        }
        Ok(())
    }

    /// `GET /directory/room/{alias}`.
    pub fn resolve_alias(&self, alias: &RoomAliasId) -> Result<OwnedRoomId> {
        match self.storage.alias(alias)? {
            Some(row) => Ok(row.room_id),
            None if alias.server_name() != self.server_name => Err(Error::not_found(
                "Aliases on other servers need federation, which this server does not do yet",
            )),
            None => Err(Error::not_found("No room has that alias")),
        }
    }

    /// `DELETE /directory/room/{alias}`: its creator, or a room moderator.
    pub fn delete_alias(&self, user: &UserId, alias: &RoomAliasId) -> Result<()> {
        let AliasRow { room_id, creator } = self
            .storage
            .alias(alias)?
            .ok_or_else(|| Error::not_found("No room has that alias"))?;
        if creator != user && !self.may_manage_directory(&room_id, user)? {
            return Err(Error::forbidden(
                "Only the alias's creator or a room moderator can remove it",
            ));
        }
        Ok(self.storage.delete_alias(alias)?)
    }

    /// `GET /rooms/{roomId}/aliases` (members only).
    pub fn room_aliases(&self, user: &UserId, room_id: &RoomId) -> Result<Vec<OwnedRoomAliasId>> {
        if !self.rooms.is_joined(room_id, user)? {
            return Err(Error::forbidden("You are not in this room"));
        }
        Ok(self.storage.aliases_of_room(room_id)?)
    }

    /// `PUT /directory/list/room/{roomId}`.
    pub fn set_published(&self, user: &UserId, room_id: &RoomId, published: bool) -> Result<()> {
        if !self.rooms.exists(room_id)? {
            return Err(Error::not_found("Unknown room"));
        }
        if !self.may_manage_directory(room_id, user)? {
            return Err(Error::forbidden(
                "You need a higher power level to change the room's directory listing",
            ));
        }
        Ok(self.storage.set_room_published(room_id, published)?)
    }

    pub fn is_published(&self, room_id: &RoomId) -> Result<bool> {
        if !self.rooms.exists(room_id)? {
            return Err(Error::not_found("Unknown room"));
        }
        Ok(self.storage.room_published(room_id)?)
    }

    /// The public room directory, optionally filtered by a search term.
    pub fn public_rooms(&self, search: Option<&str>) -> Result<Vec<PublicRoomsChunk>> {
        let term = search.map(str::to_lowercase).filter(|t| !t.is_empty());
        let mut chunks = Vec::new();
        for room_id in self.storage.published_rooms()? {
            let content = |event_type: &str| self.rooms.state_content(&room_id, event_type);
            let text = |v: Option<Value>, key: &str| {
                v.and_then(|c| c.get(key).and_then(Value::as_str).map(str::to_owned))
            };
            let mut chunk: PublicRoomsChunk = PublicRoomsChunkInit {
                num_joined_members: ruma::UInt::MIN,
                room_id: room_id.clone(),
                world_readable: false,
                guest_can_join: false,
            }
            .into();
            chunk.name = text(content("m.room.name")?, "name");
            chunk.topic = text(content("m.room.topic")?, "topic");
            chunk.canonical_alias =
                text(content("m.room.canonical_alias")?, "alias").and_then(|a| a.try_into().ok());
            chunk.avatar_url = text(content("m.room.avatar")?, "url").map(Into::into);
            chunk.world_readable =
                text(content("m.room.history_visibility")?, "history_visibility").as_deref()
                    == Some("world_readable");
            chunk.guest_can_join = text(content("m.room.guest_access")?, "guest_access").as_deref()
                == Some("can_join");
            chunk.join_rule = text(content("m.room.join_rules")?, "join_rule")
                .map_or(JoinRuleKind::Public, |r| JoinRuleKind::from(r.as_str()));
            chunk.num_joined_members =
                ruma::UInt::new_saturating(self.rooms.joined_members(&room_id)?.len() as u64);
            if let Some(term) = &term {
                let haystack = [
                    chunk.name.as_deref(),
                    chunk.topic.as_deref(),
                    chunk.canonical_alias.as_ref().map(|a| a.as_str()),
                ];
                if !haystack
                    .iter()
                    .flatten()
                    .any(|h| h.to_lowercase().contains(term.as_str()))
                {
                    continue;
                }
            }
            chunks.push(chunk);
        }
        chunks.sort_by(|a, b| {
            b.num_joined_members
                .cmp(&a.num_joined_members)
                .then(a.room_id.cmp(&b.room_id))
        });
        Ok(chunks)
    }

    /// `POST /user_directory/search`: users who share a room with the
    /// searcher or sit in a public room (Synapse's default), matching the term.
    pub fn search_users(
        &self,
        searcher: &UserId,
        term: &str,
        limit: usize,
    ) -> Result<(Vec<UserProfileRow>, bool)> {
        let mut visible = users_sharing_rooms(&*self.state, searcher)?;
        for room_id in self.storage.published_rooms()? {
            visible.extend(self.rooms.joined_members(&room_id)?);
        }
        let term = term.trim().to_lowercase();
        let mut found: Vec<UserProfileRow> = self
            .storage
            .search_users(&term, 1000)?
            .into_iter()
            .filter(|u| visible.contains(&u.user_id))
            .collect();
        let limited = found.len() > limit;
        found.truncate(limit);
        Ok((found, limited))
    }
}
