//! Rooms: creating them, membership and state, with every event appended
//! through the [`Appender`](super::appender::Appender).

use std::sync::Arc;

use rand::distr::{Alphanumeric, SampleString};
use ruma::{
    OwnedEventId, OwnedRoomId, OwnedServerName, OwnedUserId, RoomId, RoomVersionId, UserId,
    api::client::room::{Visibility, create_room::v3 as create_room},
    events::{TimelineEventType, room::member::MembershipState},
};
use serde_json::{Value, json};

use super::{
    accounts::Accounts,
    accounts::Requester,
    appender::Appender,
    directory::Directory,
    pdu::Pdu,
    room_reader::{self, MemberProfile, level, user_level},
};
use crate::{
    error::{Error, ErrorKind, Result},
    storage::{AccountStore, DirectoryStore, EventStore, StateStore},
};

/// The member-event field naming who authorised a restricted join.
const AUTHORISER_KEY: &str = "join_authorised_via_users_server";

/// Room versions this server can create and serve.
pub const SUPPORTED_ROOM_VERSIONS: [RoomVersionId; 2] = [RoomVersionId::V10, RoomVersionId::V11];
/// The version new rooms get unless the client asks for another.
pub const DEFAULT_ROOM_VERSION: RoomVersionId = RoomVersionId::V11;

pub use super::appender::{EventSpec, Txn};

/// Rooms: creating them, membership, state and moderation. Owns the
/// appender (the event lock, room cache and group commit under it) and only
/// the storage areas it reads besides: accounts (to check invitees), aliases
/// and the directory (createRoom), events and state.
pub struct Rooms {
    /// Read by createRoom's rehearsal (`rehearsal.rs`) too.
    pub(super) server_name: OwnedServerName,
    account_store: Arc<dyn AccountStore>,
    directory_store: Arc<dyn DirectoryStore>,
    events: Arc<dyn EventStore>,
    state: Arc<dyn StateStore>,
    accounts: Arc<Accounts>,
    pub(super) directory: Arc<Directory>,
    pub(super) appender: Arc<Appender>,
}

/// What [`Rooms`] is built from.
pub struct RoomsParts {
    pub server_name: OwnedServerName,
    pub account_store: Arc<dyn AccountStore>,
    pub directory_store: Arc<dyn DirectoryStore>,
    pub events: Arc<dyn EventStore>,
    pub state: Arc<dyn StateStore>,
    pub accounts: Arc<Accounts>,
    pub directory: Arc<Directory>,
    pub appender: Arc<Appender>,
}

impl Rooms {
    pub fn new(parts: RoomsParts) -> Self {
        let RoomsParts {
            server_name,
            account_store,
            directory_store,
            events,
            state,
            accounts,
            directory,
            appender,
        } = parts;
        Self {
            server_name,
            account_store,
            directory_store,
            events,
            state,
            accounts,
            directory,
            appender,
        }
    }
}

impl Rooms {
    /// Appends an event to a room, enforcing the auth rules. Returns the new
    /// event's ID (or the original one for a repeated transaction).
    pub async fn append(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        spec: EventSpec,
        txn: Option<Txn<'_>>,
    ) -> Result<OwnedEventId> {
        self.appender.append(room_id, sender, spec, txn).await
    }

    /// A member event for one of our users, with their profile filled in (as
    /// the spec asks servers to do).
    fn member_content(
        &self,
        user_id: &UserId,
        membership: &str,
        extra: Option<(&str, Value)>,
    ) -> Result<Value> {
        let mut content = json!({ "membership": membership });
        if let Some((name, avatar)) = self.accounts.profile(user_id)? {
            if let Some(name) = name {
                content["displayname"] = json!(name);
            }
            if let Some(avatar) = avatar {
                content["avatar_url"] = json!(avatar);
            }
        }
        if let Some((key, value)) = extra {
            content[key] = value;
        }
        Ok(content)
    }

    /// `POST /createRoom`.
    pub async fn create_room(
        &self,
        creator: &Requester,
        req: &create_room::Request,
    ) -> Result<OwnedRoomId> {
        let version = req.room_version.clone().unwrap_or(DEFAULT_ROOM_VERSION);
        if !SUPPORTED_ROOM_VERSIONS.contains(&version) {
            return Err(Error::new(
                ErrorKind::UnsupportedRoomVersion,
                format!("Room version {version} is not supported; use 10 or 11"),
            ));
        }
        let server = &self.server_name;
        let alias = match &req.room_alias_name {
            Some(name) => {
                let alias = ruma::OwnedRoomAliasId::try_from(format!("#{name}:{server}"))
                    .map_err(|e| Error::invalid_param(format!("room_alias_name: {e}")))?;
                if self.directory_store.alias(&alias)?.is_some() {
                    return Err(Error::new(ErrorKind::RoomInUse, "That room alias is taken"));
                }
                Some(alias)
            }
            None => None,
        };
        let creator_id = &creator.user_id;
        // Invitees are checked before anything is stored, like everything else below:
        // a createRoom that fails leaves no half-built room behind.
        for invitee in &req.invite {
            self.check_invitee(invitee)?;
        }
        let room_id = loop {
            let id = format!(
                "!{}:{server}",
                Alphanumeric.sample_string(&mut rand::rng(), 18)
            );
            let id = OwnedRoomId::try_from(id).map_err(Error::internal)?;
            if self.events.room_version(&id)?.is_none() {
                break id;
            }
        };

        let preset = req.preset.clone().unwrap_or(match req.visibility {
            Visibility::Public => create_room::RoomPreset::PublicChat,
            _ => create_room::RoomPreset::PrivateChat,
        });
        let (join_rule, guest_access, invite_level) = match preset {
            create_room::RoomPreset::PublicChat => ("public", "forbidden", 50),
            _ => ("invite", "can_join", 0),
        };

        // 1. m.room.create
        let mut create: Value = match &req.creation_content {
            Some(raw) => serde_json::from_str(raw.json().get())
                .map_err(|e| Error::bad_json(format!("creation_content: {e}")))?,
            None => json!({}),
        };
        if !create.is_object() {
            return Err(Error::bad_json("creation_content must be an object"));
        }
        create["room_version"] = json!(version.as_str());
        if version == RoomVersionId::V10 {
            create["creator"] = json!(creator_id);
        }
        let mut events = vec![EventSpec::state("m.room.create", "", create)?];

        // 2. The creator joins.
        events.push(EventSpec::state(
            "m.room.member",
            creator_id.as_str(),
            self.member_content(creator_id, "join", None)?,
        )?);

        // 3. Power levels (Synapse's defaults), with the client's overrides.
        let mut users = serde_json::Map::new();
        users.insert(creator_id.to_string(), json!(100));
        if preset == create_room::RoomPreset::TrustedPrivateChat {
            for invitee in &req.invite {
                users.insert(invitee.to_string(), json!(100));
            }
        }
        let mut power_levels = json!({
            "users": users,
            "users_default": 0,
            "events": {
                "m.room.name": 50,
                "m.room.power_levels": 100,
                "m.room.history_visibility": 100,
                "m.room.canonical_alias": 50,
                "m.room.avatar": 50,
                "m.room.tombstone": 100,
                "m.room.server_acl": 100,
                "m.room.encryption": 100,
            },
            "events_default": 0,
            "state_default": 50,
            "ban": 50,
            "kick": 50,
            "redact": 50,
            "invite": invite_level,
            "notifications": { "room": 50 },
        });
        if preset == create_room::RoomPreset::PublicChat {
            power_levels["events"]["m.call.invite"] = json!(50);
        }
        if let Some(overrides) = &req.power_level_content_override {
            let overrides: Value = serde_json::from_str(overrides.json().get())
                .map_err(|e| Error::bad_json(format!("power_level_content_override: {e}")))?;
            let Value::Object(overrides) = overrides else {
                return Err(Error::bad_json(
                    "power_level_content_override must be an object",
                ));
            };
            for (key, value) in overrides {
                power_levels[key] = value;
            }
        }
        events.push(EventSpec::state("m.room.power_levels", "", power_levels)?);

        // 4. The canonical alias (claimed once everything has been checked).
        if let Some(alias) = &alias {
            events.push(EventSpec::state(
                "m.room.canonical_alias",
                "",
                json!({ "alias": alias }),
            )?);
        }

        // 5. Preset state.
        events.push(EventSpec::state(
            "m.room.join_rules",
            "",
            json!({ "join_rule": join_rule }),
        )?);
        events.push(EventSpec::state(
            "m.room.history_visibility",
            "",
            json!({ "history_visibility": "shared" }),
        )?);
        events.push(EventSpec::state(
            "m.room.guest_access",
            "",
            json!({ "guest_access": guest_access }),
        )?);

        // 6. initial_state, in order.
        for raw in &req.initial_state {
            let event: InitialState = raw
                .deserialize_as_unchecked()
                .map_err(|e| Error::bad_json(format!("initial_state: {e}")))?;
            if matches!(
                event.kind.as_str(),
                "m.room.create" | "m.room.member" | "m.room.power_levels"
            ) {
                return Err(Error::new(
                    ErrorKind::InvalidParam,
                    format!("initial_state may not contain {}", event.kind),
                ));
            }
            events.push(EventSpec::state(
                &event.kind,
                &event.state_key,
                event.content,
            )?);
        }

        // 7. Name and topic.
        if let Some(name) = &req.name {
            events.push(EventSpec::state(
                "m.room.name",
                "",
                json!({ "name": name }),
            )?);
        }
        if let Some(topic) = &req.topic {
            events.push(EventSpec::state(
                "m.room.topic",
                "",
                json!({ "topic": topic, "m.topic": [{ "body": topic, "mimetype": "text/plain" }] }),
            )?);
        }

        // A dry run of every event, invites included, before anything is stored.
        let invites = req
            .invite
            .iter()
            .map(|invitee| {
                let content = self.member_content(
                    invitee,
                    "invite",
                    req.is_direct.then_some(("is_direct", json!(true))),
                )?;
                EventSpec::state("m.room.member", invitee.as_str(), content)
            })
            .collect::<Result<Vec<_>>>()?;
        let rehearsal: Vec<_> = events
            .iter()
            .chain(&invites)
            .map(|spec| (creator_id, spec))
            .collect();
        self.rehearse_new_room(&room_id, &version, alias.as_deref(), &rehearsal)?;

        if let Some(alias) = &alias
            && !self
                .directory_store
                .create_alias(alias, &room_id, creator_id)?
        {
            return Err(Error::new(ErrorKind::RoomInUse, "That room alias is taken"));
        }
        if !self.events.create_room(&room_id, &version, creator_id)? {
            if let Some(alias) = &alias {
                self.directory_store.delete_alias(alias)?;
            }
            return Err(Error::internal("a new room ID was taken meanwhile"));
        }
        for spec in events {
            self.append(&room_id, creator_id, spec, None).await?;
        }

        if req.visibility == Visibility::Public {
            self.directory_store.set_room_published(&room_id, true)?;
        }

        // 8. Invites.
        for invitee in &req.invite {
            self.invite(&room_id, creator_id, invitee, req.is_direct)
                .await?;
        }
        Ok(room_id)
    }

    /// Invites a user of this server.
    pub async fn invite(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        is_direct: bool,
    ) -> Result<OwnedEventId> {
        if target.server_name() != self.server_name {
            return Err(Error::forbidden(
                "This server does not federate yet; only local users can be invited",
            ));
        }
        if self.account_store.user(target)?.is_none() {
            return Err(Error::not_found(format!("Unknown user {target}")));
        }
        let content = self.member_content(
            target,
            "invite",
            is_direct.then_some(("is_direct", json!(true))),
        )?;
        self.append(
            room_id,
            sender,
            EventSpec::state("m.room.member", target.as_str(), content)?,
            None,
        )
        .await
    }

    /// Joins (or re-joins) a room.
    pub async fn join(&self, room_id: &RoomId, user: &UserId) -> Result<OwnedEventId> {
        if self.events.room_version(room_id)?.is_none() {
            return Err(Error::not_found("This server does not know that room"));
        }
        let mut content = self.member_content(user, "join", None)?;
        if let Some(authoriser) = self.restricted_join_authoriser(room_id, user)? {
            content[AUTHORISER_KEY] = json!(authoriser);
        }
        self.append(
            room_id,
            user,
            EventSpec::state("m.room.member", user.as_str(), content)?,
            None,
        )
        .await
    }

    /// `PUT /rooms/{roomId}/state/{eventType}/{stateKey}`: a state event a
    /// client wrote itself. A join's authoriser for a restricted room is
    /// the server's to choose, never the client's: the auth rules trust
    /// `join_authorised_via_users_server`, so a client naming any member
    /// there would walk past the room's `allow` list.
    pub async fn send_state(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        mut spec: EventSpec,
    ) -> Result<OwnedEventId> {
        if spec.kind == TimelineEventType::RoomCreate {
            return Err(Error::forbidden("The create event cannot be replaced"));
        }
        if spec.kind != TimelineEventType::RoomMember {
            return self.append(room_id, sender, spec, None).await;
        }
        let mut content: Value = serde_json::from_str(spec.content.get())?;
        if self.is_joined(room_id, sender)? {
            // A member's profile change may repeat the field (Element copies
            // the old content); it means nothing there, and dropping it
            // means a kick landing before this append cannot turn the event
            // into a join that names its own authoriser.
            if content
                .as_object_mut()
                .and_then(|c| c.remove(AUTHORISER_KEY))
                .is_some()
            {
                spec.content = serde_json::value::to_raw_value(&content)?;
            }
        } else {
            if content.get(AUTHORISER_KEY).is_some() {
                return Err(Error::forbidden(
                    "join_authorised_via_users_server is set by the server; join with /join instead",
                ));
            }
            let own_join = spec.state_key.as_deref() == Some(sender.as_str())
                && content.get("membership").and_then(Value::as_str) == Some("join");
            if own_join
                && let Some(authoriser) = self.restricted_join_authoriser(room_id, sender)?
            {
                content[AUTHORISER_KEY] = json!(authoriser);
                spec.content = serde_json::value::to_raw_value(&content)?;
            }
        }
        self.append(room_id, sender, spec, None).await
    }

    /// For a join to a `restricted` (or `knock_restricted`) room by someone
    /// neither joined nor invited: checks the room's `allow` list (membership
    /// of an allowed room) and picks the local member who authorises the
    /// join, the one with the highest power level that may invite, as
    /// Synapse does. `None` when the room is not restricted or the join
    /// needs no authoriser; `M_FORBIDDEN` when the user does not qualify.
    fn restricted_join_authoriser(
        &self,
        room_id: &RoomId,
        user: &UserId,
    ) -> Result<Option<OwnedUserId>> {
        #[derive(serde::Deserialize)]
        struct JoinRules {
            join_rule: String,
            #[serde(default)]
            allow: Vec<Value>,
        }
        let Some(event) = self
            .state
            .current_state_event(room_id, "m.room.join_rules", "")?
        else {
            return Ok(None);
        };
        let Ok(rules) = Pdu::from_stored(&event)?.content_as::<JoinRules>() else {
            return Ok(None);
        };
        if !matches!(rules.join_rule.as_str(), "restricted" | "knock_restricted") {
            return Ok(None);
        }
        let membership = self
            .state
            .memberships_of(user)?
            .into_iter()
            .find(|r| r.room_id == room_id);
        if membership.is_some_and(|r| matches!(r.membership.as_str(), "join" | "invite")) {
            return Ok(None);
        }
        let mut qualifies = false;
        for rule in &rules.allow {
            if rule.get("type").and_then(Value::as_str) != Some("m.room_membership") {
                continue;
            }
            let Some(allowed) = rule
                .get("room_id")
                .and_then(Value::as_str)
                .and_then(|r| RoomId::parse(r).ok())
            else {
                continue;
            };
            if self.is_joined(&allowed, user)? {
                qualifies = true;
                break;
            }
        }
        if !qualifies {
            return Err(Error::forbidden(
                "This room is only for members of certain other rooms; join one of them or ask for an invite",
            ));
        }
        let power = self.power_levels(room_id)?;
        let needed = level(&power, "invite", 0);
        let server = &self.server_name;
        let authoriser = self
            .state
            .joined_members(room_id)?
            .into_iter()
            .filter(|m| m.server_name() == server && user_level(&power, m) >= needed)
            .max_by(|a, b| {
                user_level(&power, a)
                    .cmp(&user_level(&power, b))
                    .then_with(|| b.cmp(a))
            });
        match authoriser {
            Some(a) => Ok(Some(a)),
            None => Err(Error::forbidden(
                "No member of this server can let you in; ask for an invite",
            )),
        }
    }

    /// Leaves a room, or rejects an invite.
    pub async fn leave(&self, room_id: &RoomId, user: &UserId) -> Result<OwnedEventId> {
        if self.events.room_version(room_id)?.is_none() {
            return Err(Error::not_found("This server does not know that room"));
        }
        let content = json!({ "membership": "leave" });
        self.append(
            room_id,
            user,
            EventSpec::state("m.room.member", user.as_str(), content)?,
            None,
        )
        .await
    }
}

impl Rooms {
    /// The rooms the user is joined to.
    pub fn joined_rooms(&self, user: &UserId) -> Result<Vec<OwnedRoomId>> {
        Ok(self
            .state
            .memberships_of(user)?
            .into_iter()
            .filter(|row| row.membership == MembershipState::Join)
            .map(|row| row.room_id)
            .collect())
    }

    /// The users joined to a room.
    pub fn joined_members(&self, room_id: &RoomId) -> Result<Vec<OwnedUserId>> {
        Ok(self.state.joined_members(room_id)?)
    }

    /// Whether `user` is currently joined to the room.
    pub fn is_joined(&self, room_id: &RoomId, user: &UserId) -> Result<bool> {
        room_reader::is_joined(&*self.state, room_id, user)
    }

    /// The room's power levels content (`{}` if it has none).
    pub fn power_levels(&self, room_id: &RoomId) -> Result<Value> {
        room_reader::power_levels(&*self.state, room_id)
    }
}

impl Rooms {
    /// A member's display name and avatar as this room knows them.
    pub fn member_content_in(&self, room_id: &RoomId, user_id: &UserId) -> Result<MemberProfile> {
        room_reader::member_profile(&*self.state, room_id, user_id)
    }
}

#[derive(serde::Deserialize)]
struct InitialState {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    state_key: String,
    content: Value,
}

impl Rooms {
    /// Kick, ban or unban: a membership change made by `sender` for `target`.
    /// The auth rules decide whether the sender's power level allows it.
    pub async fn moderate(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        membership: &str,
        reason: Option<&str>,
    ) -> Result<OwnedEventId> {
        if self.events.room_version(room_id)?.is_none() {
            return Err(Error::not_found("This server does not know that room"));
        }
        let mut content = json!({ "membership": membership });
        if let Some(reason) = reason {
            content["reason"] = json!(reason);
        }
        self.append(
            room_id,
            sender,
            EventSpec::state("m.room.member", target.as_str(), content)?,
            None,
        )
        .await
    }

    /// `POST /rooms/{roomId}/forget`: only once the user is no longer in the room.
    pub fn forget(&self, room_id: &RoomId, user: &UserId) -> Result<()> {
        let row = self
            .state
            .memberships_of(user)?
            .into_iter()
            .find(|r| r.room_id == room_id);
        match row {
            Some(row) if matches!(row.membership.as_str(), "join" | "invite" | "knock") => {
                Err(Error::with_status(
                    ErrorKind::Unknown,
                    http::StatusCode::BAD_REQUEST,
                    "Leave the room before forgetting it",
                ))
            }
            Some(_) => Ok(self.state.forget_room(room_id, user)?),
            None => Ok(()),
        }
    }
}

impl Rooms {
    /// Only existing users of this server can be invited (what `invite` checks first).
    fn check_invitee(&self, target: &UserId) -> Result<()> {
        if target.server_name() != self.server_name {
            return Err(Error::forbidden(
                "This server does not federate yet; only local users can be invited",
            ));
        }
        if self.account_store.user(target)?.is_none() {
            return Err(Error::not_found(format!("Unknown user {target}")));
        }
        Ok(())
    }
}
