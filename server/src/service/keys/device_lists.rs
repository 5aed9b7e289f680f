//! Device-list changes: whose device keys a user should fetch again (`changed`)
//! and whose they can stop tracking (`left`), for `/sync` and `/keys/changes`.
//!
//! A user tracks the devices of everyone they share a room with. Besides key
//! changes (device added, removed, keys or cross-signing keys uploaded), sharing
//! a room for the first time is a change too: the user may never have fetched
//! that person's keys. Sharing no room any more puts them in `left`.

use ruma::events::room::member::MembershipState;
use std::collections::BTreeSet;

use ruma::{OwnedUserId, RoomId, UserId};

use super::part::Keys;
use crate::service::room_reader::was_joined_at;
use crate::{error::Result, storage::StreamPos};

/// The `device_lists` of a sync, or the answer of `/keys/changes`.
#[derive(Debug, Default)]
pub struct DeviceListUpdates {
    pub changed: Vec<OwnedUserId>,
    pub left: Vec<OwnedUserId>,
}

impl Keys {
    /// Device-list updates `user` should hear of in `(after, until]`.
    pub fn device_list_updates(
        &self,
        user: &UserId,
        after: StreamPos,
        until: StreamPos,
    ) -> Result<DeviceListUpdates> {
        let mut changed: BTreeSet<OwnedUserId> = self
            .keys
            .device_list_changes(after, until)?
            .into_iter()
            .collect();
        let mut maybe_left = BTreeSet::new();
        for row in self.state.memberships_of(user)? {
            if row.stream > until {
                continue; // After this window; the next one reports it.
            }
            let joined_now = row.membership == MembershipState::Join;
            let joined_before = if row.stream <= after {
                joined_now // Unchanged since before the window.
            } else {
                was_joined_at(&*self.state, &*self.events, user, &row.room_id, Some(after))?
            };
            let room = &row.room_id;
            match (joined_before, joined_now) {
                // Others joined or left a room the user stays in.
                (true, true) => {
                    let (joined, parted) = self.member_moves(&row.room_id, user, after, until)?;
                    changed.extend(joined);
                    maybe_left.extend(parted);
                }
                // The user joined: everybody there is new to them.
                (false, true) => {
                    changed.extend(
                        self.state
                            .joined_members(room)?
                            .into_iter()
                            .filter(|m| m != user),
                    );
                }
                // The user left: whoever was there may be gone from their rooms.
                (true, false) => {
                    let (joined, parted) = self.member_moves(&row.room_id, user, after, until)?;
                    maybe_left.extend(self.state.joined_members(room)?);
                    maybe_left.extend(joined.into_iter().chain(parted));
                }
                (false, false) => {}
            }
        }
        if changed.is_empty() && maybe_left.is_empty() {
            return Ok(DeviceListUpdates::default()); // The common case: no need to list room members.
        }
        let sharing = self.users_sharing_rooms(user)?;
        let left: Vec<OwnedUserId> = maybe_left
            .into_iter()
            .filter(|u| u != user && !sharing.contains(u))
            .collect();
        Ok(DeviceListUpdates {
            changed: changed
                .into_iter()
                .filter(|u| sharing.contains(u))
                .collect(),
            left,
        })
    }

    /// Who else joined a room in `(after, until]` without being there before (a join
    /// event of a member, such as a profile change, is no news), and who parted from it
    /// after being there.
    fn member_moves(
        &self,
        room_id: &RoomId,
        user: &UserId,
        after: StreamPos,
        until: StreamPos,
    ) -> Result<(BTreeSet<OwnedUserId>, BTreeSet<OwnedUserId>)> {
        let (mut joined, mut parted) = (BTreeSet::new(), BTreeSet::new());
        let mut was_there = std::collections::BTreeMap::new();
        for change in self.state.member_changes(room_id, after, until)? {
            let (member, membership) = (change.user_id, change.membership);
            if member == user {
                continue;
            }
            let there = match was_there.get(&member) {
                Some(there) => *there,
                None => {
                    let there =
                        was_joined_at(&*self.state, &*self.events, &member, room_id, Some(after))?;
                    was_there.insert(member.clone(), there);
                    there
                }
            };
            if membership == MembershipState::Join {
                if !there {
                    joined.insert(member);
                }
            } else if there || joined.contains(&member) {
                parted.insert(member);
            }
        }
        Ok((joined, parted))
    }
}
