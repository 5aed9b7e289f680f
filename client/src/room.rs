//! A joined room: the state we display (name, topic, members) and its timeline.

use std::collections::BTreeMap;

use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedRoomAliasId, OwnedRoomId, OwnedUserId, UserId,
    events::room::member::MembershipState,
};

use crate::{
    content::{CanonicalAliasContent, MemberContent, NameContent, TopicContent},
    describe::describe,
    event::Event,
    sync::JoinedRoom,
    timeline::{SendState, Timeline, TimelineItem},
};

/// What we know about one member of a room.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Member {
    /// `displayname` of the member event, if set.
    pub display_name: Option<String>,
    /// Current membership.
    pub membership: MembershipState,
}

/// A room we are joined to.
#[derive(Clone, Debug)]
pub struct Room {
    room_id: OwnedRoomId,
    name: Option<String>,
    canonical_alias: Option<OwnedRoomAliasId>,
    topic: Option<String>,
    members: BTreeMap<OwnedUserId, Member>,
    heroes: Vec<OwnedUserId>,
    /// A name to show before the first sync of the room arrives (from the invite or the
    /// create request), so a freshly joined room doesn't flash its ID.
    name_hint: Option<String>,
    timeline: Timeline,
    loaded: bool,
    last_activity: Option<MilliSecondsSinceUnixEpoch>,
}

impl Room {
    /// An empty room, filled by syncs.
    pub(crate) fn new(room_id: OwnedRoomId) -> Self {
        Self {
            room_id,
            name: None,
            canonical_alias: None,
            topic: None,
            members: BTreeMap::new(),
            heroes: Vec::new(),
            name_hint: None,
            timeline: Timeline::default(),
            loaded: false,
            last_activity: None,
        }
    }

    /// A room we just joined or created, shown until sync delivers its state.
    pub(crate) fn placeholder(
        room_id: OwnedRoomId,
        name_hint: Option<String>,
        now: MilliSecondsSinceUnixEpoch,
    ) -> Self {
        Self {
            name_hint,
            last_activity: Some(now),
            ..Self::new(room_id)
        }
    }

    /// The room's ID.
    pub fn room_id(&self) -> &OwnedRoomId {
        &self.room_id
    }

    /// The topic, if one is set.
    pub fn topic(&self) -> Option<&str> {
        self.topic.as_deref().filter(|topic| !topic.is_empty())
    }

    /// The timeline.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// False until a sync has delivered the room's state and timeline.
    pub fn is_loaded(&self) -> bool {
        self.loaded
    }

    /// When something last happened here, for ordering the room list.
    pub fn last_activity(&self) -> Option<MilliSecondsSinceUnixEpoch> {
        self.last_activity
    }

    /// A member's state, if we have seen their member event (lazy loading may hide some).
    pub fn member(&self, user_id: &UserId) -> Option<&Member> {
        self.members.get(user_id)
    }

    /// A member's display name, falling back to the localpart of their user ID.
    pub fn member_name(&self, user_id: &UserId) -> String {
        self.members
            .get(user_id)
            .and_then(|member| member.display_name.clone())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| user_id.localpart().to_owned())
    }

    /// The name to show: `m.room.name`, else the canonical alias, else the other members'
    /// names, else the room ID.
    pub fn display_name(&self, own_user_id: &UserId) -> String {
        if let Some(name) = self.name.as_ref().filter(|name| !name.is_empty()) {
            return name.clone();
        }
        if let Some(alias) = &self.canonical_alias {
            return alias.to_string();
        }
        let others = self.other_members(own_user_id);
        if !others.is_empty() {
            return join_names(
                others
                    .iter()
                    .map(|user_id| self.member_name(user_id))
                    .collect(),
            );
        }
        self.name_hint
            .clone()
            .unwrap_or_else(|| self.room_id.to_string())
    }

    fn other_members(&self, own_user_id: &UserId) -> Vec<&OwnedUserId> {
        let heroes: Vec<_> = self.heroes.iter().filter(|id| *id != own_user_id).collect();
        if !heroes.is_empty() {
            return heroes;
        }
        self.members
            .iter()
            .filter(|(user_id, member)| {
                *user_id != own_user_id
                    && matches!(
                        member.membership,
                        MembershipState::Join | MembershipState::Invite
                    )
            })
            .map(|(user_id, _)| user_id)
            .collect()
    }

    /// Applies one room section of a sync response.
    pub(crate) fn apply_sync(&mut self, update: &JoinedRoom) {
        if let Some(heroes) = &update.summary.heroes {
            self.heroes = heroes.clone();
        }
        for event in update
            .state
            .events
            .iter()
            .filter_map(|raw| Event::parse(raw))
        {
            self.apply_state(&event);
        }
        for event in update
            .timeline
            .events
            .iter()
            .filter_map(|raw| Event::parse(raw))
        {
            self.apply_timeline_event(&event);
        }
        self.loaded = true;
    }

    fn apply_timeline_event(&mut self, event: &Event) {
        let (Some(event_id), Some(ts)) = (&event.event_id, event.origin_server_ts) else {
            return;
        };
        // A repeated event must not re-apply its state either: newer state may have
        // superseded it meanwhile.
        if self.timeline.contains(event_id) {
            return;
        }
        let shown = describe(self, event);
        if event.is_state() {
            self.apply_state(event);
        }
        self.bump_activity(ts);
        let Some((kind, body)) = shown else {
            return;
        };
        self.timeline.push_remote(TimelineItem {
            event_id: Some(event_id.clone()),
            txn_id: event.unsigned.transaction_id.clone(),
            sender: event.sender.clone(),
            sender_name: self.member_name(&event.sender),
            kind,
            body,
            origin_server_ts: ts,
            send_state: SendState::Sent,
        });
    }

    fn apply_state(&mut self, event: &Event) {
        let Some(state_key) = event.state_key.as_deref() else {
            return;
        };
        match event.kind.as_str() {
            "m.room.name" => {
                self.name = event.content::<NameContent>().map(|content| content.name);
            }
            "m.room.canonical_alias" => {
                self.canonical_alias = event
                    .content::<CanonicalAliasContent>()
                    .and_then(|content| content.alias);
            }
            "m.room.topic" => {
                self.topic = event.content::<TopicContent>().map(|content| content.topic);
            }
            "m.room.member" => {
                let (Ok(user_id), Some(content)) = (
                    OwnedUserId::try_from(state_key),
                    event.content::<MemberContent>(),
                ) else {
                    return;
                };
                let member = Member {
                    display_name: content.displayname,
                    membership: content.membership,
                };
                self.members.insert(user_id, member);
            }
            _ => {}
        }
    }

    pub(crate) fn timeline_mut(&mut self) -> &mut Timeline {
        &mut self.timeline
    }

    pub(crate) fn bump_activity(&mut self, ts: MilliSecondsSinceUnixEpoch) {
        self.last_activity = self.last_activity.max(Some(ts));
    }
}

/// "A", "A and B", "A, B and C", "A, B, C, D and 2 others".
fn join_names(mut names: Vec<String>) -> String {
    const SHOWN: usize = 4;
    let others = names.len().saturating_sub(SHOWN);
    names.truncate(SHOWN);
    if others > 0 {
        let other_word = if others == 1 { "other" } else { "others" };
        return format!("{} and {others} {other_word}", names.join(", "));
    }
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_names_like_a_sentence() {
        let names = |list: &[&str]| list.iter().map(|name| (*name).to_owned()).collect();
        assert_eq!(join_names(names(&["a"])), "a");
        assert_eq!(join_names(names(&["a", "b"])), "a and b");
        assert_eq!(join_names(names(&["a", "b", "c"])), "a, b and c");
        assert_eq!(
            join_names(names(&["a", "b", "c", "d", "e"])),
            "a, b, c, d and 1 other"
        );
    }
}
