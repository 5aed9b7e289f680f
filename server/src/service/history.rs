//! Reading a room: history visibility, `/messages`, `/state`, `/members`,
//! single events.
//!
//! Visibility follows the spec: an event is visible to a user according to
//! the room's `m.room.history_visibility` at that event and the user's
//! membership then (or now, for `shared`).

use std::collections::BTreeSet;

use ruma::{OwnedUserId, RoomId, UserId, events::AnyTimelineEvent, serde::Raw};
use serde_json::value::RawValue;

use super::{
    Services, now,
    pdu::{Pdu, RenderOptions, client_event, redacted_content},
};
use crate::{
    error::{Error, Result},
    storage::StoredEvent,
};

/// Which way `/messages` pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Backward,
    Forward,
}

/// One page of `/messages`.
pub struct Page {
    pub start: i64,
    pub end: Option<i64>,
    pub events: Vec<StoredEvent>,
    /// Member events of the page's senders (lazy-loading).
    pub members: Vec<StoredEvent>,
}

/// A room's `history_visibility` setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Visibility {
    WorldReadable,
    Shared,
    Invited,
    Joined,
}

impl Visibility {
    fn parse(setting: &str) -> Self {
        match setting {
            "world_readable" => Self::WorldReadable,
            "invited" => Self::Invited,
            "joined" => Self::Joined,
            // "shared", and anything unknown (the spec says treat it as shared).
            _ => Self::Shared,
        }
    }
}

/// What one user may read of one room, worked out once per request: their
/// read horizon, and the room's history-visibility changes and the user's
/// membership changes, each as `(from stream position, value)` in order.
///
/// Every read of room history (`/sync` timelines joined and left,
/// `/messages`, `/context`, `/relations`, single events, state) goes through
/// [`Services::visible_events`] or [`ReadView::can_see`], so one set of rules
/// decides what anybody sees.
pub(crate) struct ReadView {
    user: OwnedUserId,
    /// The last stream position the user may read: their leave if they left.
    pub horizon: i64,
    /// Joined at the horizon (`shared` history is visible to members).
    pub joined_now: bool,
    visibility: Vec<(i64, Visibility)>,
    membership: Vec<(i64, String)>,
}

#[derive(serde::Deserialize)]
struct VisibilityContent {
    history_visibility: String,
}

#[derive(serde::Deserialize)]
struct MembershipContent {
    membership: String,
}

#[derive(serde::Deserialize)]
struct StateHead<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(default, borrow)]
    state_key: Option<std::borrow::Cow<'a, str>>,
}

impl ReadView {
    /// The setting or membership in force at stream position `at`.
    fn at<T: Clone>(changes: &[(i64, T)], at: i64) -> Option<T> {
        let after = changes.partition_point(|(pos, _)| *pos <= at);
        after.checked_sub(1).map(|i| changes[i].1.clone())
    }

    /// Whether the user may see what the room held at stream position `at`,
    /// by the room's visibility then and the user's membership then.
    pub fn can_see_at(&self, at: i64) -> bool {
        if at > self.horizon {
            return false;
        }
        let visibility = Self::at(&self.visibility, at).unwrap_or(Visibility::Shared);
        let then = Self::at(&self.membership, at);
        match visibility {
            Visibility::WorldReadable => true,
            Visibility::Invited => matches!(then.as_deref(), Some("join" | "invite")),
            Visibility::Joined => then.as_deref() == Some("join"),
            Visibility::Shared => self.joined_now || then.as_deref() == Some("join"),
        }
    }

    /// Whether the user may see this event. Their own membership events
    /// (an invite they declined, a knock they withdrew, their leave) are
    /// always theirs to see, as in Synapse.
    pub fn can_see(&self, event: &StoredEvent) -> bool {
        if event.stream > self.horizon {
            return false;
        }
        self.can_see_at(event.stream) || self.is_own_membership(event)
    }

    /// Whether the user was ever joined, up to the horizon.
    pub fn was_ever_joined(&self) -> bool {
        self.membership.iter().any(|(pos, m)| *pos <= self.horizon && m == "join")
    }

    fn is_own_membership(&self, event: &StoredEvent) -> bool {
        serde_json::from_str::<StateHead<'_>>(&event.pdu_json)
            .is_ok_and(|h| h.kind == "m.room.member" && h.state_key.as_deref() == Some(self.user.as_str()))
    }

    /// The earliest stream position the user could see anything at: nothing
    /// before it needs reading (a new member of a `joined` room with a long
    /// past costs one short read, not a scan of the past).
    fn floor(&self) -> i64 {
        let mut floor = self.membership.first().map_or(i64::MAX, |(pos, _)| *pos);
        // Before the first setting the room is `shared`.
        let mut intervals = vec![(0, Visibility::Shared)];
        intervals.extend(self.visibility.iter().copied());
        for (pos, visibility) in intervals {
            if visibility == Visibility::WorldReadable || (visibility == Visibility::Shared && self.joined_now) {
                floor = floor.min(pos);
                break;
            }
        }
        floor
    }
}

/// A read of visible events: what passed, where to read on from, and
/// whether the range holds nothing more.
pub(crate) struct Scan {
    pub events: Vec<StoredEvent>,
    /// Backward: the position below the last event examined; forward: that event's position.
    pub cursor: i64,
    pub exhausted: bool,
}

impl Services {
    /// Every value a state entry has had, oldest first (walking back through
    /// the events each state event replaced).
    fn state_history(&self, room_id: &RoomId, event_type: &str, state_key: &str) -> Result<Vec<StoredEvent>> {
        let mut out = Vec::new();
        let mut current = self.storage().current_state_event(room_id.as_str(), event_type, state_key)?;
        while let Some(event) = current {
            current = match &event.replaces_state {
                Some(prev) => self.storage().event(prev.as_str())?,
                None => None,
            };
            out.push(event);
        }
        out.reverse();
        Ok(out)
    }

    /// What `user` may read of the room up to `horizon`.
    pub(crate) fn read_view(&self, room_id: &RoomId, user: &UserId, horizon: i64, joined_now: bool) -> Result<ReadView> {
        let mut visibility = Vec::new();
        for event in self.state_history(room_id, "m.room.history_visibility", "")? {
            let setting = Pdu::from_stored(&event)?.content_as::<VisibilityContent>().map(|c| c.history_visibility);
            // An unreadable setting counts as `shared`, as an unknown one does.
            visibility.push((event.stream, Visibility::parse(setting.as_deref().unwrap_or("shared"))));
        }
        let mut membership = Vec::new();
        for event in self.state_history(room_id, "m.room.member", user.as_str())? {
            let m = Pdu::from_stored(&event)?.content_as::<MembershipContent>().map(|c| c.membership);
            membership.push((event.stream, m.unwrap_or_else(|_| "leave".to_owned())));
        }
        Ok(ReadView { user: user.to_owned(), horizon, joined_now, visibility, membership })
    }

    /// Reads up to `limit` events that the view lets its user see and `keep`
    /// accepts, with `after < stream <= until`, newest first (backward) or
    /// oldest first (forward). The one path every history read takes.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn visible_events(
        &self,
        view: &ReadView,
        room_id: &RoomId,
        after: i64,
        until: i64,
        dir: Direction,
        limit: usize,
        mut keep: impl FnMut(&StoredEvent) -> bool,
    ) -> Result<Scan> {
        let after = after.max(view.floor().saturating_sub(1));
        let until = until.min(view.horizon);
        let batch_size = limit.max(10);
        let mut cursor = match dir {
            Direction::Backward => until,
            Direction::Forward => after,
        };
        let mut events = Vec::new();
        let mut exhausted = after >= until;
        while events.len() < limit && !exhausted {
            let batch = match dir {
                Direction::Backward => self.storage().room_events_desc(room_id.as_str(), after, cursor, batch_size)?,
                Direction::Forward => self.storage().room_events_asc(room_id.as_str(), cursor, until, batch_size)?,
            };
            exhausted = batch.len() < batch_size;
            let total = batch.len();
            for (i, event) in batch.into_iter().enumerate() {
                cursor = match dir {
                    Direction::Backward => event.stream - 1,
                    Direction::Forward => event.stream,
                };
                if keep(&event) && view.can_see(&event) {
                    events.push(event);
                    if events.len() == limit {
                        exhausted &= i + 1 == total;
                        break;
                    }
                }
            }
        }
        Ok(Scan { events, cursor, exhausted })
    }

    /// The user's current membership row in a room.
    fn current_membership(&self, room_id: &RoomId, user: &UserId) -> Result<Option<(String, i64)>> {
        Ok(self
            .storage()
            .memberships_of(user.as_str())?
            .into_iter()
            .find(|row| row.room_id == room_id)
            .map(|row| (row.membership, row.stream)))
    }

    /// What the user may read of the room now: everything if joined, up to
    /// their leave if they left, nothing of their own otherwise (unless the
    /// room is world-readable).
    fn current_read_view(&self, room_id: &RoomId, user: &UserId) -> Result<ReadView> {
        if self.storage().room_version(room_id.as_str())?.is_none() {
            return Err(Error::not_found("Unknown room"));
        }
        let position = self.notifier().position();
        let (horizon, joined_now) = match self.current_membership(room_id, user)? {
            Some((m, _)) if m == "join" => (position, true),
            Some((_, stream)) => (stream, false),
            None => (position, false),
        };
        self.read_view(room_id, user, horizon, joined_now)
    }

    /// `GET /rooms/{roomId}/messages`.
    pub fn messages(
        &self,
        user: &UserId,
        room_id: &RoomId,
        from: Option<i64>,
        to: Option<i64>,
        dir: Direction,
        limit: usize,
    ) -> Result<Page> {
        let limit = limit.clamp(1, 1000);
        let view = self.current_read_view(room_id, user)?;
        let horizon = view.horizon;
        let (start, scan) = match dir {
            Direction::Backward => {
                let from = from.unwrap_or(horizon).min(horizon);
                (from, self.visible_events(&view, room_id, to.unwrap_or(0), from, dir, limit, |_| true)?)
            }
            Direction::Forward => {
                let from = from.unwrap_or(0);
                let until = to.map_or(horizon, |t| t.min(horizon));
                (from, self.visible_events(&view, room_id, from, until, dir, limit, |_| true)?)
            }
        };
        let Scan { events, cursor, exhausted } = scan;
        if events.is_empty() && !view.joined_now && self.current_membership(room_id, user)?.is_none() {
            // Nothing visible and never a member: do not confirm what the room holds.
            if !view.can_see_at(horizon) {
                return Err(Error::forbidden("You are not allowed to read this room"));
            }
        }
        let end = (!exhausted).then_some(cursor).filter(|_| !events.is_empty());
        // Lazy-loaded members as they were at the user's horizon, never later.
        let senders: BTreeSet<OwnedUserId> =
            events.iter().filter_map(|e| Pdu::from_stored(e).ok().map(|p| p.sender)).collect();
        let mut members = Vec::new();
        for sender in senders {
            if let Some(e) = self.state_event_at(room_id, "m.room.member", sender.as_str(), horizon)? {
                members.push(e);
            }
        }
        Ok(Page { start, end, events, members })
    }

    /// Current state (or the state when the user left), for `/state`.
    pub fn room_state_for(&self, user: &UserId, room_id: &RoomId) -> Result<Vec<StoredEvent>> {
        let view = self.current_read_view(room_id, user)?;
        let horizon = view.horizon;
        if !view.joined_now && !view.can_see_at(horizon) {
            return Err(Error::forbidden("You are not allowed to read this room's state"));
        }
        let mut out = Vec::new();
        for (event_type, state_key, _) in self.storage().current_state(room_id.as_str())? {
            if let Some(e) = self.state_event_at(room_id, &event_type, &state_key, horizon)? {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// One state event, for `/state/{type}/{key}`.
    pub fn state_event_for(&self, user: &UserId, room_id: &RoomId, event_type: &str, state_key: &str) -> Result<StoredEvent> {
        let view = self.current_read_view(room_id, user)?;
        if !view.joined_now && !view.can_see_at(view.horizon) {
            return Err(Error::forbidden("You are not allowed to read this room's state"));
        }
        self.state_event_at(room_id, event_type, state_key, view.horizon)?
            .ok_or_else(|| Error::not_found("No such state event"))
    }

    /// One event by ID, if the user may see it (404 otherwise, so hidden
    /// events are indistinguishable from missing ones).
    pub fn event_for(&self, user: &UserId, room_id: &RoomId, event_id: &str) -> Result<StoredEvent> {
        let missing = || Error::not_found("Event not found");
        let event = self.storage().event(event_id)?.ok_or_else(missing)?;
        if event.room_id != room_id {
            return Err(missing());
        }
        if !self.current_read_view(room_id, user)?.can_see(&event) {
            return Err(missing());
        }
        Ok(event)
    }

    /// Renders with `room_id` (the non-sync client format).
    pub fn render(&self, who: &super::accounts::Requester, event: &StoredEvent) -> Result<Raw<AnyTimelineEvent>> {
        self.render_event(Some(who), event, true, None)
    }

    /// Renders an event for a client, applying its redaction if it has one.
    pub fn render_event(
        &self,
        who: Option<&super::accounts::Requester>,
        event: &StoredEvent,
        with_room_id: bool,
        prev_content: Option<&RawValue>,
    ) -> Result<Raw<AnyTimelineEvent>> {
        let viewer = who.map(|w| (&*w.user_id, &*w.device_id));
        let redaction = match &event.redacted_by {
            Some(id) => self.storage().event(id.as_str())?,
            None => None,
        };
        let Some(redaction) = redaction else {
            let options = RenderOptions { viewer, now: now(), with_room_id, prev_content, redacted: None };
            return client_event(event, options);
        };
        let rules = self
            .storage()
            .room_version(event.room_id.as_str())?
            .and_then(|v| v.rules())
            .ok_or_else(|| Error::internal("room without known version"))?;
        let content = redacted_content(&Pdu::from_stored(event)?, &rules)?;
        let because = client_event(
            &redaction,
            RenderOptions { viewer, now: now(), with_room_id: true, prev_content: None, redacted: None },
        )?;
        let options = RenderOptions {
            viewer,
            now: now(),
            with_room_id,
            prev_content: None,
            redacted: Some((&content, because.json())),
        };
        client_event(event, options)
    }
}

impl Services {
    /// `GET /rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]`:
    /// events relating to a visible parent, paged like `/messages`.
    #[allow(clippy::too_many_arguments)]
    pub fn relations(
        &self,
        user: &UserId,
        room_id: &RoomId,
        parent: &str,
        rel_type: Option<&str>,
        event_type: Option<&str>,
        from: Option<i64>,
        to: Option<i64>,
        dir: Direction,
        limit: usize,
    ) -> Result<(Vec<StoredEvent>, Option<i64>)> {
        self.event_for(user, room_id, parent)?;
        let view = self.current_read_view(room_id, user)?;
        let horizon = view.horizon;
        let limit = limit.clamp(1, 100);
        let (after, until) = match dir {
            Direction::Backward => (to.unwrap_or(0), from.unwrap_or(horizon).min(horizon)),
            Direction::Forward => (from.unwrap_or(0), to.unwrap_or(horizon).min(horizon)),
        };
        let rows = self.storage().relations(parent, rel_type, event_type, after, until, limit + 1, dir == Direction::Backward)?;
        let more = rows.len() > limit;
        let mut events = Vec::new();
        let mut last = None;
        for event in rows.into_iter().take(limit) {
            last = Some(event.stream);
            if event.room_id == room_id && view.can_see(&event) {
                events.push(event);
            }
        }
        let next = if more {
            last.map(|s| match dir {
                Direction::Backward => s - 1,
                Direction::Forward => s,
            })
        } else {
            None
        };
        Ok((events, next))
    }
}
