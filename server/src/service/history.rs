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

#[derive(serde::Deserialize)]
struct Visibility {
    history_visibility: String,
}

#[derive(serde::Deserialize)]
struct Membership {
    membership: String,
}

impl Services {
    fn membership_at(&self, room_id: &RoomId, user: &UserId, at: i64) -> Result<Option<String>> {
        match self.state_event_at(room_id, "m.room.member", user.as_str(), at)? {
            Some(e) => Ok(Some(Pdu::from_stored(&e)?.content_as::<Membership>()?.membership)),
            None => Ok(None),
        }
    }

    /// Whether `user` may see the event at stream position `at`.
    pub fn can_see(&self, room_id: &RoomId, user: &UserId, at: i64, joined_now: bool) -> Result<bool> {
        let visibility = match self.state_event_at(room_id, "m.room.history_visibility", "", at)? {
            Some(e) => Pdu::from_stored(&e)?.content_as::<Visibility>()?.history_visibility,
            None => "shared".to_owned(),
        };
        if visibility == "world_readable" {
            return Ok(true);
        }
        let then = self.membership_at(room_id, user, at)?;
        Ok(match visibility.as_str() {
            "invited" => matches!(then.as_deref(), Some("join" | "invite")),
            "joined" => then.as_deref() == Some("join"),
            // "shared" and anything unknown (the spec says treat as shared).
            _ => joined_now || then.as_deref() == Some("join"),
        })
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

    /// Up to which position the user may read the room at all: everything if
    /// joined, up to their leave if they left, nothing otherwise (unless the
    /// room is world-readable).
    fn read_horizon(&self, room_id: &RoomId, user: &UserId) -> Result<(i64, bool)> {
        if self.storage().room_version(room_id.as_str())?.is_none() {
            return Err(Error::not_found("Unknown room"));
        }
        let position = self.notifier().position();
        match self.current_membership(room_id, user)? {
            Some((m, _)) if m == "join" => Ok((position, true)),
            Some((_, stream)) => Ok((stream, false)),
            None => Ok((position, false)),
        }
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
        let (horizon, joined_now) = self.read_horizon(room_id, user)?;
        let mut events = Vec::new();
        let mut cursor = match dir {
            Direction::Backward => from.unwrap_or(horizon).min(horizon),
            Direction::Forward => from.unwrap_or(0),
        };
        let start = cursor;
        let mut exhausted = false;
        // Invisible events are skipped, so keep reading until the page is full.
        while events.len() < limit && !exhausted {
            let batch = match dir {
                Direction::Backward => {
                    let floor = to.unwrap_or(0);
                    let b = self.storage().room_events_desc(room_id.as_str(), floor, cursor, limit)?;
                    exhausted = b.len() < limit;
                    b
                }
                Direction::Forward => {
                    let ceiling = to.map_or(horizon, |t| t.min(horizon));
                    let b = self.storage().room_events_asc(room_id.as_str(), cursor, ceiling, limit)?;
                    exhausted = b.len() < limit;
                    b
                }
            };
            for event in batch {
                cursor = match dir {
                    Direction::Backward => event.stream - 1,
                    Direction::Forward => event.stream,
                };
                if self.can_see(room_id, user, event.stream, joined_now)? {
                    events.push(event);
                    if events.len() == limit {
                        break;
                    }
                }
            }
        }
        if events.is_empty() && !joined_now && self.current_membership(room_id, user)?.is_none() {
            // Nothing visible and never a member: do not confirm what the room holds.
            if !self.can_see(room_id, user, horizon, false)? {
                return Err(Error::forbidden("You are not allowed to read this room"));
            }
        }
        let end = (!exhausted || events.len() == limit).then_some(cursor).filter(|_| !events.is_empty());
        let senders: BTreeSet<OwnedUserId> =
            events.iter().filter_map(|e| Pdu::from_stored(e).ok().map(|p| p.sender)).collect();
        let mut members = Vec::new();
        for sender in senders {
            if let Some(e) = self.storage().current_state_event(room_id.as_str(), "m.room.member", sender.as_str())? {
                members.push(e);
            }
        }
        Ok(Page { start, end, events, members })
    }

    /// Current state (or the state when the user left), for `/state`.
    pub fn room_state_for(&self, user: &UserId, room_id: &RoomId) -> Result<Vec<StoredEvent>> {
        let (horizon, joined_now) = self.read_horizon(room_id, user)?;
        if !joined_now && !self.can_see(room_id, user, horizon, false)? {
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
        let (horizon, joined_now) = self.read_horizon(room_id, user)?;
        if !joined_now && !self.can_see(room_id, user, horizon, false)? {
            return Err(Error::forbidden("You are not allowed to read this room's state"));
        }
        self.state_event_at(room_id, event_type, state_key, horizon)?
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
        let (horizon, joined_now) = self.read_horizon(room_id, user)?;
        if event.stream > horizon || !self.can_see(room_id, user, event.stream, joined_now)? {
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
        let (horizon, joined_now) = self.read_horizon(room_id, user)?;
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
            if event.room_id == room_id && self.can_see(room_id, user, event.stream, joined_now)? {
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
