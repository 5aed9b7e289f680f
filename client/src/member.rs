//! A room's members as their member events describe them, and the names and pictures
//! shown for them. Its own module so that both the room and the timeline's wording
//! (`describe.rs`) read members without either importing the other.

use std::collections::BTreeMap;

use ruma::{OwnedEventId, OwnedUserId, UserId, events::room::member::MembershipState};

use crate::media::Mxc;

/// What we know about one member of a room.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Member {
    /// `displayname` of the member event, if set.
    pub display_name: Option<String>,
    /// Current membership.
    pub membership: MembershipState,
    /// `mxc://` URI of their avatar, if set.
    pub avatar_url: Option<String>,
    /// The member event this came from.
    pub(crate) event_id: Option<OwnedEventId>,
}

/// A room's members by user ID.
pub type Members = BTreeMap<OwnedUserId, Member>;

/// A member's display name, falling back to the localpart of their user ID.
pub(crate) fn name(members: &Members, user_id: &UserId) -> String {
    members
        .get(user_id)
        .and_then(|member| member.display_name.clone())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| user_id.localpart().to_owned())
}

/// A member's picture, from their member event.
pub(crate) fn avatar(members: &Members, user_id: &UserId) -> Option<Mxc> {
    Mxc::parse(members.get(user_id)?.avatar_url.as_deref()?)
}
