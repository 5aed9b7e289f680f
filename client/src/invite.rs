//! Rooms we are invited to, as far as an invite's stripped state describes them.

use std::collections::BTreeMap;

use ruma::{
    OwnedRoomAliasId, OwnedRoomId, OwnedUserId, RoomId, UserId,
    events::room::member::MembershipState,
};

use crate::{
    content::{CanonicalAliasContent, DirectFlag, MemberContent, NameContent},
    event::{Event, EventKind},
    sync::InvitedRoom,
};

/// A pending invite in the room list.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct InviteEntry {
    /// The room we are invited to.
    pub room_id: OwnedRoomId,
    /// The room's name as far as the invite tells.
    pub name: String,
    /// Who invited us, if the server said.
    pub inviter: Option<OwnedUserId>,
    /// The inviter's display name (or localpart).
    pub inviter_name: Option<String>,
    /// The inviter marked it a direct chat (`is_direct`); joining lists it in `m.direct`.
    pub is_direct: bool,
}

/// What an invite's stripped state tells us.
#[derive(Clone, Debug, Default)]
pub(crate) struct Invite {
    name: Option<String>,
    alias: Option<OwnedRoomAliasId>,
    inviter: Option<OwnedUserId>,
    inviter_name: Option<String>,
    /// The invite says it is a direct chat with the inviter.
    is_direct: bool,
    /// Which sync first listed the invite, for newest-first ordering.
    pub(crate) order: u64,
}

impl Invite {
    pub(crate) fn from_stripped_state(own_user_id: &UserId, room: &InvitedRoom) -> Self {
        let mut invite = Self::default();
        let mut names = BTreeMap::new();
        for event in room
            .invite_state
            .events
            .iter()
            .filter_map(|raw| Event::parse(raw))
        {
            match event.kind {
                EventKind::Name => invite.name = event.content::<NameContent>().map(|c| c.name),
                EventKind::CanonicalAlias => {
                    invite.alias = event
                        .content::<CanonicalAliasContent>()
                        .and_then(|c| c.alias);
                }
                EventKind::Member => {
                    let Some(content) = event.content::<MemberContent>() else {
                        continue;
                    };
                    let Some(state_key) = event.state_key.as_deref() else {
                        continue;
                    };
                    if state_key == own_user_id.as_str()
                        && content.membership == MembershipState::Invite
                    {
                        invite.inviter = Some(event.sender.clone());
                        invite.is_direct = event
                            .content::<DirectFlag>()
                            .is_some_and(|flag| flag.is_direct);
                    }
                    if let Some(name) = content.displayname.filter(|name| !name.is_empty()) {
                        names.insert(state_key.to_owned(), name);
                    }
                }
                _ => {}
            }
        }
        invite.inviter_name = invite.inviter.as_ref().map(|inviter| {
            names
                .remove(inviter.as_str())
                .unwrap_or_else(|| inviter.localpart().to_owned())
        });
        invite
    }

    /// Who the direct chat is with, if the invite is to one.
    pub(crate) fn direct_inviter(&self) -> Option<OwnedUserId> {
        self.inviter.clone().filter(|_| self.is_direct)
    }

    pub(crate) fn display_name(&self, room_id: &RoomId) -> String {
        if let Some(name) = self.name.as_ref().filter(|name| !name.is_empty()) {
            return name.clone();
        }
        if let Some(alias) = &self.alias {
            return alias.to_string();
        }
        // An unnamed room one is invited to is usually a direct chat with the inviter.
        self.inviter_name
            .clone()
            .unwrap_or_else(|| room_id.to_string())
    }

    /// The room-list entry for this invite.
    pub(crate) fn entry(&self, room_id: &RoomId) -> InviteEntry {
        InviteEntry {
            room_id: room_id.to_owned(),
            name: self.display_name(room_id),
            inviter: self.inviter.clone(),
            inviter_name: self.inviter_name.clone(),
            is_direct: self.is_direct,
        }
    }
}
