//! Reading a room: history visibility, `/messages`, `/state`, `/members`,
//! single events.
//!
//! Visibility follows the spec: an event is visible to a user according to
//! the room's `m.room.history_visibility` at that event and the user's
//! membership then (or now, for `shared`).

use std::{collections::BTreeSet, sync::Arc};

use ruma::{EventId, OwnedUserId, RoomId, UserId, events::AnyTimelineEvent, serde::Raw};
use serde_json::value::RawValue;

use super::{
    accounts::Requester,
    notifier::Notifier,
    now,
    pdu::{Pdu, RenderOptions, client_event, redacted_content},
    room_reader,
};
use crate::{
    error::{Error, Result},
    storage::{EventStore, RelationsQuery, StateStore, StoredEvent, StreamPos},
};

/// Reading rooms' history for their users: every read goes through the
/// visibility rules here. Owns nothing but read access to the state and
/// event areas, and the notifier's position (the newest readable event).
pub struct History {
    state: Arc<dyn StateStore>,
    events: Arc<dyn EventStore>,
    notifier: Arc<Notifier>,
}

/// A `/relations` request: the events relating to `parent`, optionally of
/// one relation type and event type, paged like `/messages`.
pub struct RelationsPage<'a> {
    pub parent: &'a EventId,
    pub rel_type: Option<&'a str>,
    pub event_type: Option<&'a str>,
    pub from: Option<StreamPos>,
    pub to: Option<StreamPos>,
    pub dir: Direction,
    pub limit: usize,
}

/// Which way `/messages` pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Backward,
    Forward,
}

/// One page of `/messages`.
pub struct Page {
    pub start: StreamPos,
    pub end: Option<StreamPos>,
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
/// membership changes, each as `(stream position, value)` in order.
///
/// Every read of room history (`/sync` timelines joined and left,
/// `/messages`, `/context`, `/relations`, single events, state) goes through
/// [`History::visible_events`] or [`ReadView::can_see`], so one set of rules
/// decides what anybody sees. Visibility only changes where one of those
/// changes happened, so the view turns them into the stream ranges the user
/// may read, and reads touch no hidden event at all.
pub(crate) struct ReadView {
    /// The last stream position the user may read: their leave if they left.
    pub horizon: StreamPos,
    /// Joined at the horizon (`shared` history is visible to members).
    pub joined_now: bool,
    visibility: Vec<(StreamPos, Visibility)>,
    membership: Vec<(StreamPos, String)>,
    /// Readable stream ranges `[from, to]`, in order, disjoint and not adjacent.
    ranges: Vec<(StreamPos, StreamPos)>,
}

/// Changes of one setting, each at the stream position it took effect, in order.
type Changes<T> = Vec<(StreamPos, T)>;

#[derive(serde::Deserialize)]
struct VisibilityContent {
    history_visibility: String,
}

#[derive(serde::Deserialize)]
struct MembershipContent {
    membership: String,
}

/// The setting or membership in force at stream position `at`.
fn in_force<T: Clone>(changes: &[(StreamPos, T)], at: StreamPos) -> Option<T> {
    let after = changes.partition_point(|(pos, _)| *pos <= at);
    after.checked_sub(1).map(|i| changes[i].1.clone())
}

impl ReadView {
    fn new(
        horizon: StreamPos,
        joined_now: bool,
        visibility: Vec<(StreamPos, Visibility)>,
        membership: Vec<(StreamPos, String)>,
    ) -> Self {
        let mut view = Self {
            horizon,
            joined_now,
            visibility,
            membership,
            ranges: Vec::new(),
        };
        view.ranges = view.compute_ranges();
        view
    }

    fn allows(&self, visibility: Visibility, then: Option<&str>) -> bool {
        match visibility {
            Visibility::WorldReadable => true,
            Visibility::Invited => matches!(then, Some("join" | "invite")),
            Visibility::Joined => then == Some("join"),
            Visibility::Shared => self.joined_now || then == Some("join"),
        }
    }

    /// Whether the user may see what the room held at stream position `at`,
    /// by the room's visibility then and the user's membership then.
    pub fn can_see_at(&self, at: StreamPos) -> bool {
        if at > self.horizon {
            return false;
        }
        let visibility = in_force(&self.visibility, at).unwrap_or(Visibility::Shared);
        self.allows(visibility, in_force(&self.membership, at).as_deref())
    }

    /// Single events visible although their stretch may not be: the user's
    /// own membership events (an invite they declined, a knock they
    /// withdrew, their leave; as in Synapse), and a history-visibility change
    /// that the setting before it let the user see (the spec: the old or the
    /// new setting).
    fn visible_points(&self) -> Vec<StreamPos> {
        let mut points: Vec<StreamPos> = self.membership.iter().map(|(pos, _)| *pos).collect();
        for (i, (pos, _)) in self.visibility.iter().enumerate() {
            let before = i
                .checked_sub(1)
                .map_or(Visibility::Shared, |j| self.visibility[j].1);
            if self.allows(before, in_force(&self.membership, *pos).as_deref()) {
                points.push(*pos);
            }
        }
        points
    }

    fn compute_ranges(&self) -> Vec<(StreamPos, StreamPos)> {
        let mut cuts: Vec<StreamPos> = std::iter::once(StreamPos::ZERO)
            .chain(self.visibility.iter().map(|(pos, _)| *pos))
            .chain(self.membership.iter().map(|(pos, _)| *pos))
            .filter(|pos| *pos <= self.horizon)
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut ranges = Vec::new();
        for (i, start) in cuts.iter().enumerate() {
            let end = cuts.get(i + 1).map_or(self.horizon, |next| *next - 1);
            if start <= &end && self.can_see_at(*start) {
                ranges.push((*start, end));
            }
        }
        ranges.extend(
            self.visible_points()
                .into_iter()
                .filter(|p| *p <= self.horizon)
                .map(|p| (p, p)),
        );
        ranges.sort_unstable();
        let mut merged: Vec<(StreamPos, StreamPos)> = Vec::with_capacity(ranges.len());
        for (from, to) in ranges {
            match merged.last_mut() {
                Some(last) if from <= last.1 + 1 => last.1 = last.1.max(to),
                _ => merged.push((from, to)),
            }
        }
        merged
    }

    /// Whether the user may see this event.
    pub fn can_see(&self, event: &StoredEvent) -> bool {
        let at = event.stream;
        let i = self.ranges.partition_point(|(from, _)| *from <= at);
        i.checked_sub(1).is_some_and(|i| at <= self.ranges[i].1)
    }

    /// Whether the user may read the room's whole history up to the horizon
    /// (the common case: a member of a `shared` room).
    pub fn reads_everything(&self) -> bool {
        matches!(self.ranges.as_slice(), [(from, to)] if *from <= StreamPos(1) && *to >= self.horizon)
    }

    /// Whether the user's membership changed to its last value from `join`:
    /// they left, were kicked or banned while in the room (not a declined
    /// invite or a withdrawn knock, even by someone who was once a member).
    pub fn left_from_join(&self) -> bool {
        let upto = self
            .membership
            .partition_point(|(pos, _)| *pos <= self.horizon);
        upto >= 2 && self.membership[upto - 2].1 == "join"
    }

    /// Whether the user never had any membership in the room.
    pub fn never_member(&self) -> bool {
        self.membership.is_empty()
    }
}

/// A read of visible events: what passed, where to read on from, and
/// whether the range holds nothing more.
pub(crate) struct Scan {
    pub events: Vec<StoredEvent>,
    /// Backward: the position below the last event read; forward: that event's position.
    pub cursor: StreamPos,
    pub exhausted: bool,
    /// The read stopped at hidden history (`contiguous` reads only).
    pub gap: bool,
}

impl History {
    pub fn new(
        state: Arc<dyn StateStore>,
        events: Arc<dyn EventStore>,
        notifier: Arc<Notifier>,
    ) -> Self {
        Self {
            state,
            events,
            notifier,
        }
    }

    /// The state event for `(type, key)` as it was at stream position `at`.
    fn state_event_at(
        &self,
        room_id: &RoomId,
        event_type: &str,
        state_key: &str,
        at: StreamPos,
    ) -> Result<Option<StoredEvent>> {
        room_reader::state_event_at(
            &*self.state,
            &*self.events,
            room_id,
            event_type,
            state_key,
            at,
        )
    }

    /// Every value a state entry has had, oldest first (walking back through
    /// the events each state event replaced).
    fn state_history(
        &self,
        room_id: &RoomId,
        event_type: &str,
        state_key: &str,
    ) -> Result<Vec<StoredEvent>> {
        let mut out = Vec::new();
        let mut current = self
            .state
            .current_state_event(room_id, event_type, state_key)?;
        while let Some(event) = current {
            current = match &event.replaces_state {
                Some(prev) => self.events.event(prev)?,
                None => None,
            };
            out.push(event);
        }
        out.reverse();
        Ok(out)
    }

    /// The room's history visibility settings and `user`'s memberships, oldest first.
    fn read_changes(
        &self,
        room_id: &RoomId,
        user: &UserId,
    ) -> Result<(Changes<Visibility>, Changes<String>)> {
        let mut visibility = Vec::new();
        for event in self.state_history(room_id, "m.room.history_visibility", "")? {
            let setting = Pdu::from_stored(&event)?
                .content_as::<VisibilityContent>()
                .map(|c| c.history_visibility);
            // An unreadable setting counts as `shared`, as an unknown one does.
            visibility.push((
                event.stream,
                Visibility::parse(setting.as_deref().unwrap_or("shared")),
            ));
        }
        let mut membership = Vec::new();
        for event in self.state_history(room_id, "m.room.member", user.as_str())? {
            let m = Pdu::from_stored(&event)?
                .content_as::<MembershipContent>()
                .map(|c| c.membership);
            membership.push((event.stream, m.unwrap_or_else(|_| "leave".to_owned())));
        }
        Ok((visibility, membership))
    }

    /// What `user` may read of the room up to `horizon` (sync, which knows
    /// the membership at its own snapshot).
    pub(crate) fn read_view(
        &self,
        room_id: &RoomId,
        user: &UserId,
        horizon: StreamPos,
        joined_now: bool,
    ) -> Result<ReadView> {
        let (visibility, membership) = self.read_changes(room_id, user)?;
        Ok(ReadView::new(horizon, joined_now, visibility, membership))
    }

    /// What the user may read of the room now: everything if joined, up to
    /// their last membership change otherwise (their leave; also after they
    /// forgot the room), nothing of their own if never a member (unless
    /// the room is world-readable).
    fn current_read_view(&self, room_id: &RoomId, user: &UserId) -> Result<ReadView> {
        if self.events.room_version(room_id)?.is_none() {
            return Err(Error::not_found("Unknown room"));
        }
        let position = self.notifier.position();
        let (visibility, membership) = self.read_changes(room_id, user)?;
        let (horizon, joined_now) = match membership.last() {
            Some((_, m)) if m == "join" => (position, true),
            Some((pos, _)) => (*pos, false),
            None => (position, false),
        };
        Ok(ReadView::new(horizon, joined_now, visibility, membership))
    }

    /// Reads up to `limit` events that the view lets its user see and `keep`
    /// accepts, with `after < stream <= until`, newest first (backward) or
    /// oldest first (forward), reading only the ranges the user may see. The
    /// one path every history read takes. `contiguous` stops at the first
    /// hidden stretch (a sync timeline has no holes: what is before a hole
    /// is history to page back through, and its state changes belong in the
    /// room's `state`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn visible_events(
        &self,
        view: &ReadView,
        room_id: &RoomId,
        after: StreamPos,
        until: StreamPos,
        dir: Direction,
        limit: usize,
        contiguous: bool,
        mut keep: impl FnMut(&StoredEvent) -> bool,
    ) -> Result<Scan> {
        let until = until.min(view.horizon);
        let mut ranges: Vec<(StreamPos, StreamPos)> = view
            .ranges
            .iter()
            .map(|(from, to)| ((*from).max(after + 1), (*to).min(until)))
            .filter(|(from, to)| from <= to)
            .collect();
        if dir == Direction::Backward {
            ranges.reverse();
        }
        let batch_size = limit.clamp(10, 1000);
        let mut cursor = match dir {
            Direction::Backward => until,
            Direction::Forward => after,
        };
        let mut events = Vec::new();
        let mut gap = false;
        for (i, (from, to)) in ranges.iter().copied().enumerate() {
            let hidden_between = match dir {
                Direction::Backward => to < cursor,
                Direction::Forward => from > cursor + 1,
            };
            if contiguous && hidden_between && (i > 0 || !events.is_empty()) {
                gap = true;
                break;
            }
            // Read this range in batches.
            let mut low = from - 1; // exclusive
            let mut high = to; // inclusive
            loop {
                let batch = match dir {
                    Direction::Backward => self
                        .events
                        .room_events_desc(room_id, low, high, batch_size)?,
                    Direction::Forward => self
                        .events
                        .room_events_asc(room_id, low, high, batch_size)?,
                };
                let short = batch.len() < batch_size;
                for event in batch {
                    cursor = match dir {
                        Direction::Backward => event.stream - 1,
                        Direction::Forward => event.stream,
                    };
                    match dir {
                        Direction::Backward => high = cursor,
                        Direction::Forward => low = cursor,
                    }
                    if keep(&event) {
                        events.push(event);
                        if events.len() == limit {
                            return Ok(Scan {
                                events,
                                cursor,
                                exhausted: false,
                                gap,
                            });
                        }
                    }
                }
                if short {
                    break;
                }
            }
            cursor = match dir {
                Direction::Backward => from - 1,
                Direction::Forward => to,
            };
        }
        // The hidden stretch below the lowest readable range also counts.
        if contiguous && !gap && dir == Direction::Backward {
            gap = ranges.last().is_some_and(|(from, _)| *from > after + 1)
                || (ranges.is_empty() && after < until);
        }
        Ok(Scan {
            events,
            cursor,
            exhausted: !gap,
            gap,
        })
    }

    /// `GET /rooms/{roomId}/messages`.
    pub fn messages(
        &self,
        user: &UserId,
        room_id: &RoomId,
        from: Option<StreamPos>,
        to: Option<StreamPos>,
        dir: Direction,
        limit: usize,
    ) -> Result<Page> {
        let limit = limit.clamp(1, 1000);
        let view = self.current_read_view(room_id, user)?;
        let horizon = view.horizon;
        let (start, scan) = match dir {
            Direction::Backward => {
                let from = from.unwrap_or(horizon).min(horizon);
                (
                    from,
                    self.visible_events(
                        &view,
                        room_id,
                        to.unwrap_or(StreamPos::ZERO),
                        from,
                        dir,
                        limit,
                        false,
                        |_| true,
                    )?,
                )
            }
            Direction::Forward => {
                let from = from.unwrap_or(StreamPos::ZERO);
                let until = to.map_or(horizon, |t| t.min(horizon));
                (
                    from,
                    self.visible_events(&view, room_id, from, until, dir, limit, false, |_| true)?,
                )
            }
        };
        let Scan {
            events,
            cursor,
            exhausted,
            ..
        } = scan;
        if events.is_empty() && view.never_member() {
            // Nothing visible and never a member: do not confirm what the room holds.
            if !view.can_see_at(horizon) {
                return Err(Error::forbidden("You are not allowed to read this room"));
            }
        }
        let end = (!exhausted)
            .then_some(cursor)
            .filter(|_| !events.is_empty());
        // Lazy-loaded members as they were at the user's horizon, never later.
        let senders: BTreeSet<OwnedUserId> = events
            .iter()
            .filter_map(|e| Pdu::from_stored(e).ok().map(|p| p.sender))
            .collect();
        let mut members = Vec::new();
        for sender in senders {
            if let Some(e) =
                self.state_event_at(room_id, "m.room.member", sender.as_str(), horizon)?
            {
                members.push(e);
            }
        }
        Ok(Page {
            start,
            end,
            events,
            members,
        })
    }

    /// Current state (or the state when the user left), for `/state`.
    pub fn room_state_for(&self, user: &UserId, room_id: &RoomId) -> Result<Vec<StoredEvent>> {
        let view = self.current_read_view(room_id, user)?;
        let horizon = view.horizon;
        if !view.joined_now && !view.can_see_at(horizon) {
            return Err(Error::forbidden(
                "You are not allowed to read this room's state",
            ));
        }
        let mut out = Vec::new();
        for entry in self.state.current_state(room_id)? {
            if let Some(e) =
                self.state_event_at(room_id, &entry.event_type, &entry.state_key, horizon)?
            {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// One state event, for `/state/{type}/{key}`.
    pub fn state_event_for(
        &self,
        user: &UserId,
        room_id: &RoomId,
        event_type: &str,
        state_key: &str,
    ) -> Result<StoredEvent> {
        let view = self.current_read_view(room_id, user)?;
        if !view.joined_now && !view.can_see_at(view.horizon) {
            return Err(Error::forbidden(
                "You are not allowed to read this room's state",
            ));
        }
        self.state_event_at(room_id, event_type, state_key, view.horizon)?
            .ok_or_else(|| Error::not_found("No such state event"))
    }

    /// One event by ID, if the user may see it (404 otherwise, so hidden
    /// events are indistinguishable from missing ones).
    pub fn event_for(
        &self,
        user: &UserId,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> Result<StoredEvent> {
        let missing = || Error::not_found("Event not found");
        let event = self.events.event(event_id)?.ok_or_else(missing)?;
        if event.room_id != room_id {
            return Err(missing());
        }
        if !self.current_read_view(room_id, user)?.can_see(&event) {
            return Err(missing());
        }
        Ok(event)
    }

    /// Renders with `room_id` (the non-sync client format).
    pub fn render(&self, who: &Requester, event: &StoredEvent) -> Result<Raw<AnyTimelineEvent>> {
        self.render_event(Some(who), event, true, None)
    }

    /// Renders an event for a client, applying its redaction if it has one.
    pub fn render_event(
        &self,
        who: Option<&Requester>,
        event: &StoredEvent,
        with_room_id: bool,
        prev_content: Option<&RawValue>,
    ) -> Result<Raw<AnyTimelineEvent>> {
        let viewer = who.map(|w| (&*w.user_id, &*w.device_id));
        let redaction = match &event.redacted_by {
            Some(id) => self.events.event(id)?,
            None => None,
        };
        let Some(redaction) = redaction else {
            let options = RenderOptions {
                viewer,
                now: now(),
                with_room_id,
                prev_content,
                redacted: None,
            };
            return client_event(event, options);
        };
        let rules = self
            .events
            .room_version(&event.room_id)?
            .and_then(|v| v.rules())
            .ok_or_else(|| Error::internal("room without known version"))?;
        let content = redacted_content(&Pdu::from_stored(event)?, &rules)?;
        let because = client_event(
            &redaction,
            RenderOptions {
                viewer,
                now: now(),
                with_room_id: true,
                prev_content: None,
                redacted: None,
            },
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

    /// `GET /rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]`:
    /// events relating to a visible parent, paged like `/messages`.
    pub fn relations(
        &self,
        user: &UserId,
        room_id: &RoomId,
        page: &RelationsPage<'_>,
    ) -> Result<(Vec<StoredEvent>, Option<StreamPos>)> {
        let RelationsPage {
            parent,
            rel_type,
            event_type,
            from,
            to,
            dir,
            limit,
        } = *page;
        self.event_for(user, room_id, parent)?;
        let view = self.current_read_view(room_id, user)?;
        let horizon = view.horizon;
        let limit = limit.clamp(1, 100);
        let (after, until) = match dir {
            Direction::Backward => (
                to.unwrap_or(StreamPos::ZERO),
                from.unwrap_or(horizon).min(horizon),
            ),
            Direction::Forward => (
                from.unwrap_or(StreamPos::ZERO),
                to.unwrap_or(horizon).min(horizon),
            ),
        };
        let rows = self.events.relations(&RelationsQuery {
            parent,
            rel_type,
            event_type,
            after,
            until,
            limit: limit + 1,
            backwards: dir == Direction::Backward,
        })?;
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

#[cfg(test)]
mod tests {
    use super::{ReadView, StreamPos, Visibility};

    fn view(
        horizon: i64,
        joined_now: bool,
        visibility: &[(i64, Visibility)],
        membership: &[(i64, &str)],
    ) -> ReadView {
        let visibility = visibility
            .iter()
            .map(|(p, v)| (StreamPos(*p), *v))
            .collect();
        let membership = membership
            .iter()
            .map(|(p, m)| (StreamPos(*p), (*m).to_owned()))
            .collect();
        ReadView::new(StreamPos(horizon), joined_now, visibility, membership)
    }

    fn ranges(view: &ReadView) -> Vec<(i64, i64)> {
        view.ranges
            .iter()
            .map(|(from, to)| (from.0, to.0))
            .collect()
    }

    #[test]
    fn a_joined_room_is_readable_only_while_joined_plus_own_membership_events() {
        // `joined` from 5; invited at 8, joined at 10, left at 20, invited at 30, declined at 31.
        let v = view(
            31,
            false,
            &[(5, Visibility::Joined)],
            &[
                (8, "invite"),
                (10, "join"),
                (20, "leave"),
                (30, "invite"),
                (31, "leave"),
            ],
        );
        assert_eq!(ranges(&v), vec![(8, 8), (10, 20), (30, 31)]);
        assert!(!v.left_from_join(), "the last leave ended an invite");
        let left = view(
            20,
            false,
            &[(5, Visibility::Joined)],
            &[(10, "join"), (20, "leave")],
        );
        assert!(left.left_from_join());
    }

    #[test]
    fn a_visibility_change_is_visible_by_its_old_or_new_setting() {
        // Shared until 5, then `joined`; the member joined at 10 and is joined now.
        let v = view(
            50,
            true,
            &[(3, Visibility::Shared), (5, Visibility::Joined)],
            &[(10, "join")],
        );
        assert_eq!(ranges(&v), vec![(0, 5), (10, 50)]);
        // `invited` until 7, then `world_readable`: readable from 7 on by anyone.
        let outsider = view(
            50,
            false,
            &[(2, Visibility::Invited), (7, Visibility::WorldReadable)],
            &[],
        );
        assert_eq!(ranges(&outsider), vec![(7, 50)]);
    }
}
