//! `/sync`: what changed for one device since a stream position.
//!
//! Tokens are opaque to clients ([`SyncToken`], `s<stream>`); the stream
//! position is the server-wide event order, so every event is delivered
//! exactly once and in order. Long-polls wait on the
//! [`Notifier`](super::notifier::Notifier).

mod token;

pub use token::{SyncToken, parse_position};

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
    time::Duration,
};

use ruma::{
    OwnedRoomId, OwnedUserId, RoomId, UInt, UserId,
    api::client::sync::sync_events::v3::{
        InvitedRoom, JoinedRoom, LeftRoom, Response, State, StateEvents, Timeline,
    },
    events::{AnyRoomAccountDataEvent, AnySyncEphemeralRoomEvent},
    serde::Raw,
};
use serde_json::value::RawValue;

use super::{
    account_data::AccountData,
    accounts::Requester,
    ephemeral::Ephemeral,
    history::{Direction, History, ReadView},
    keys::{Keys, TO_DEVICE_LIMIT, to_device_event},
    notifier::Notifier,
    presence::Presence,
    room_reader,
    unread::Unread,
};
use crate::{
    error::Result,
    storage::{AccountDataStore, EventStore, MembershipRow, StateStore, StoredEvent, StreamPos},
};

/// What the client asked for, already resolved from its filter.
#[derive(Clone, Debug)]
pub struct SyncParams {
    pub since: Option<StreamPos>,
    pub timeout: Duration,
    pub full_state: bool,
    pub timeline_limit: usize,
    pub lazy_load_members: bool,
    /// `online`, `unavailable` or `offline` (leave presence as it is).
    pub set_presence: String,
    pub timeline_filter: EventMatch,
    pub state_filter: EventMatch,
    pub presence_filter: EventMatch,
    pub account_data_filter: EventMatch,
    /// Only these rooms (`None`: all).
    pub rooms: Option<Vec<OwnedRoomId>>,
    pub not_rooms: Vec<OwnedRoomId>,
    /// Report rooms the user left in initial syncs too.
    pub include_leave: bool,
}

/// Which events a filter lets through: event types (with `*` wildcards)
/// and senders, as in the spec's `EventFilter`.
#[derive(Clone, Debug, Default)]
pub struct EventMatch {
    pub types: Option<Vec<String>>,
    pub not_types: Vec<String>,
    pub senders: Option<Vec<OwnedUserId>>,
    pub not_senders: Vec<OwnedUserId>,
}

fn type_matches(pattern: &str, kind: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => kind.starts_with(prefix),
        None => pattern == kind,
    }
}

impl EventMatch {
    pub fn matches(&self, kind: &str, sender: Option<&str>) -> bool {
        if self.not_types.iter().any(|t| type_matches(t, kind)) {
            return false;
        }
        if self
            .types
            .as_ref()
            .is_some_and(|types| !types.iter().any(|t| type_matches(t, kind)))
        {
            return false;
        }
        if let Some(sender) = sender {
            if self.not_senders.iter().any(|s| s == sender) {
                return false;
            }
            if self
                .senders
                .as_ref()
                .is_some_and(|senders| !senders.iter().any(|s| s == sender))
            {
                return false;
            }
        }
        true
    }

    fn matches_stored(&self, event: &StoredEvent) -> bool {
        head(event).is_ok_and(|h| self.matches(h.kind, h.sender))
    }
}

impl SyncParams {
    fn wants_room(&self, room_id: &RoomId) -> bool {
        !self.not_rooms.iter().any(|r| r == room_id)
            && self
                .rooms
                .as_ref()
                .is_none_or(|rooms| rooms.iter().any(|r| r == room_id))
    }
}

/// Default timeline length when the filter sets none (as Synapse).
pub const DEFAULT_TIMELINE_LIMIT: usize = 10;
const MAX_TIMELINE_LIMIT: usize = 100;
const MAX_TIMEOUT: Duration = Duration::from_secs(60);

fn token(position: StreamPos) -> String {
    SyncToken(position).to_string()
}

/// Shapes of stripped state shown with an invite.
const INVITE_STATE_TYPES: [&str; 7] = [
    "m.room.create",
    "m.room.join_rules",
    "m.room.name",
    "m.room.avatar",
    "m.room.topic",
    "m.room.canonical_alias",
    "m.room.encryption",
];

/// `/sync`: what changed for a user since their token, gathered from the
/// parts that own each kind of change. Owns only read access to the account
/// data, state and event areas and the notifier to wait on.
pub struct Syncer {
    account_data_store: Arc<dyn AccountDataStore>,
    state: Arc<dyn StateStore>,
    events: Arc<dyn EventStore>,
    notifier: Arc<Notifier>,
    history: Arc<History>,
    keys: Arc<Keys>,
    presence: Arc<Presence>,
    ephemeral: Arc<Ephemeral>,
    unread: Arc<Unread>,
    account_data: Arc<AccountData>,
}

/// What [`Syncer`] is built from.
pub struct SyncerParts {
    pub account_data_store: Arc<dyn AccountDataStore>,
    pub state: Arc<dyn StateStore>,
    pub events: Arc<dyn EventStore>,
    pub notifier: Arc<Notifier>,
    pub history: Arc<History>,
    pub keys: Arc<Keys>,
    pub presence: Arc<Presence>,
    pub ephemeral: Arc<Ephemeral>,
    pub unread: Arc<Unread>,
    pub account_data: Arc<AccountData>,
}

impl Syncer {
    pub fn new(parts: SyncerParts) -> Self {
        let SyncerParts {
            account_data_store,
            state,
            events,
            notifier,
            history,
            keys,
            presence,
            ephemeral,
            unread,
            account_data,
        } = parts;
        Self {
            account_data_store,
            state,
            events,
            notifier,
            history,
            keys,
            presence,
            ephemeral,
            unread,
            account_data,
        }
    }

    /// Runs one `/sync`, waiting up to the timeout for something to report.
    pub async fn sync(&self, who: &Requester, mut params: SyncParams) -> Result<Response> {
        params.timeline_limit = params.timeline_limit.clamp(1, MAX_TIMELINE_LIMIT);
        if params.set_presence != "offline" {
            self.presence
                .touch_presence(&who.user_id, &params.set_presence)?;
        }
        let deadline = tokio::time::Instant::now() + params.timeout.min(MAX_TIMEOUT);
        // Subscribe before reading, so nothing committed after the read is missed.
        let mut rx = self.notifier.subscribe();
        loop {
            let upto = *rx.borrow_and_update();
            let since = params.since.map(|s| s.min(upto));
            let response = self.build_sync(who, since, upto, &params)?;
            let must_answer = params.since.is_none() || params.full_state || has_updates(&response);
            if must_answer {
                return Ok(response);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                // Timed out (or the server is shutting down): report "nothing new".
                _ => return Ok(response),
            }
        }
    }

    fn build_sync(
        &self,
        who: &Requester,
        since: Option<StreamPos>,
        upto: StreamPos,
        params: &SyncParams,
    ) -> Result<Response> {
        // To-device first: if more are pending than one response carries,
        // this response stops at the last one delivered, so the next sync's
        // acknowledgement cannot delete an undelivered message.
        let mut to_device = self
            .keys
            .to_device_for(&who.user_id, &who.device_id, since, upto)?;
        let upto = if to_device.len() > TO_DEVICE_LIMIT {
            to_device.truncate(TO_DEVICE_LIMIT);
            to_device.last().map_or(upto, |m| m.stream)
        } else {
            upto
        };
        let mut response = Response::new(token(upto));
        for message in &to_device {
            response
                .to_device
                .events
                .push(Raw::from_json(serde_json::value::to_raw_value(
                    &to_device_event(message)?,
                )?));
        }
        if let Some(since) = since {
            let updates = self.keys.device_list_updates(&who.user_id, since, upto)?;
            response.device_lists.changed = updates.changed;
            response.device_lists.left = updates.left;
        }
        for (algorithm, count) in self
            .keys
            .one_time_key_counts(&who.user_id, &who.device_id)?
        {
            response
                .device_one_time_keys_count
                .insert(algorithm.as_str().into(), UInt::new_saturating(count));
        }
        let initial = since.is_none() || params.full_state;
        for event in self.presence.presence_events(&who.user_id, since, upto)? {
            if !params
                .presence_filter
                .matches("m.presence", event["sender"].as_str())
            {
                continue;
            }
            response
                .presence
                .events
                .push(Raw::from_json(serde_json::value::to_raw_value(&event)?));
        }

        let mut room_account_data: HashMap<OwnedRoomId, Vec<Raw<AnyRoomAccountDataEvent>>> =
            HashMap::new();
        let mut has_push_rules = false;
        let account_after = if initial { None } else { since };
        for row in
            self.account_data_store
                .account_data_changes(&who.user_id, account_after, upto)?
        {
            if row.room_id.is_none() && !params.account_data_filter.matches(&row.event_type, None) {
                continue;
            }
            let event = account_data_event(&row.event_type, &row.content)?;
            match row.room_id {
                Some(room_id) => room_account_data
                    .entry(room_id)
                    .or_default()
                    .push(event.cast_unchecked()),
                None => {
                    has_push_rules |= row.event_type == "m.push_rules";
                    response.account_data.events.push(event.cast_unchecked());
                }
            }
        }
        if initial && !has_push_rules && params.account_data_filter.matches("m.push_rules", None) {
            let rules =
                serde_json::json!({ "global": self.account_data.push_rules(&who.user_id)? })
                    .to_string();
            response
                .account_data
                .events
                .push(account_data_event("m.push_rules", &rules)?.cast_unchecked());
        }

        for row in self.state.memberships_of(&who.user_id)? {
            if row.stream > upto || !params.wants_room(&row.room_id) {
                continue; // Filtered out, or committed after our snapshot (the next sync reports it).
            }
            let changed = since.is_none_or(|s| row.stream > s);
            match row.membership.as_str() {
                "join" => {
                    let newly_joined =
                        changed && !self.was_joined_at(&who.user_id, &row.room_id, since)?;
                    let from = if initial || newly_joined { None } else { since };
                    let account_data = room_account_data.remove(&row.room_id).unwrap_or_default();
                    let mut ephemeral = Vec::new();
                    if let Some(typing) = self.ephemeral.typing_event(&row.room_id, from, upto) {
                        ephemeral.push(Raw::from_json(serde_json::value::to_raw_value(&typing)?));
                    }
                    // Built at most once per room, and only if receipts or the timeline need it.
                    let mut view = None;
                    let visible = |event_id: &ruma::EventId| -> Result<bool> {
                        let view = self.joined_view(&mut view, &row.room_id, &who.user_id, upto)?;
                        if view.reads_everything() {
                            return Ok(true);
                        }
                        Ok(self
                            .events
                            .event(event_id)?
                            .is_some_and(|e| e.room_id == row.room_id && view.can_see(&e)))
                    };
                    if let Some(receipts) = self.ephemeral.receipt_event(
                        &row.room_id,
                        &who.user_id,
                        from,
                        upto,
                        visible,
                    )? {
                        ephemeral.push(Raw::from_json(serde_json::value::to_raw_value(&receipts)?));
                    }
                    let extras = RoomExtras {
                        account_data,
                        ephemeral,
                    };
                    if let Some(room) =
                        self.joined_room(who, &row.room_id, from, upto, params, extras, &mut view)?
                    {
                        response.rooms.join.insert(row.room_id.clone(), room);
                    }
                }
                "invite" if changed => {
                    response
                        .rooms
                        .invite
                        .insert(row.room_id.clone(), self.invited_room(&row)?);
                }
                "leave" | "ban" if changed && (since.is_some() || params.include_leave) => {
                    let room = self.left_room(
                        who,
                        &row,
                        since.unwrap_or(StreamPos::ZERO),
                        initial,
                        params,
                    )?;
                    response.rooms.leave.insert(row.room_id.clone(), room);
                }
                _ => {}
            }
        }
        response.device_unused_fallback_key_types = Some(
            self.keys
                .unused_fallback_algorithms(&who.user_id, &who.device_id)?
                .iter()
                .map(|a| a.as_str().into())
                .collect(),
        );
        Ok(response)
    }

    /// Whether the user's membership was `join` at stream position `at`.
    pub(crate) fn was_joined_at(
        &self,
        user: &UserId,
        room_id: &RoomId,
        at: Option<StreamPos>,
    ) -> Result<bool> {
        room_reader::was_joined_at(&*self.state, &*self.events, user, room_id, at)
    }

    /// The state event for `(type, key)` as it was at stream position `at`.
    pub(crate) fn state_event_at(
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

    /// State of the room just before stream position `before` (exclusive).
    fn state_before(&self, room_id: &RoomId, before: StreamPos) -> Result<Vec<StoredEvent>> {
        let mut out = Vec::new();
        for entry in self.state.current_state(room_id)? {
            if let Some(event) =
                self.state_event_at(room_id, &entry.event_type, &entry.state_key, before - 1)?
            {
                out.push(event);
            }
        }
        Ok(out)
    }

    /// What a joined user may read of a room up to `upto`, built into `slot` on first use.
    fn joined_view<'a>(
        &self,
        slot: &'a mut Option<ReadView>,
        room_id: &RoomId,
        user: &UserId,
        upto: StreamPos,
    ) -> Result<&'a ReadView> {
        if slot.is_none() {
            *slot = Some(self.history.read_view(room_id, user, upto, true)?);
        }
        Ok(slot.as_ref().expect("just built"))
    }

    #[allow(clippy::too_many_arguments)]
    fn joined_room(
        &self,
        who: &Requester,
        room_id: &RoomId,
        since: Option<StreamPos>,
        upto: StreamPos,
        params: &SyncParams,
        extras: RoomExtras,
        view: &mut Option<ReadView>,
    ) -> Result<Option<JoinedRoom>> {
        let after = since.unwrap_or(StreamPos::ZERO);
        let nothing_else = extras.account_data.is_empty() && extras.ephemeral.is_empty();
        if since.is_some()
            && nothing_else
            && self
                .events
                .room_events_desc(room_id, after, upto, 1)?
                .is_empty()
        {
            return Ok(None);
        }
        // Newest first until the filter and history visibility have let
        // `limit + 1` through (one more than shown tells whether the
        // timeline is limited).
        let limit = params.timeline_limit;
        let view = self.joined_view(view, room_id, &who.user_id, upto)?;
        let keep = |e: &StoredEvent| params.timeline_filter.matches_stored(e);
        let scan = self.history.visible_events(
            view,
            room_id,
            after,
            upto,
            Direction::Backward,
            limit + 1,
            true,
            keep,
        )?;
        let mut events = scan.events;
        let limited = events.len() > limit || scan.gap;
        events.truncate(limit);
        events.reverse();
        if since.is_some() && events.is_empty() && nothing_else {
            return Ok(None);
        }
        let timeline_start = events.first().map_or(upto + 1, |e| e.stream);
        // Full state for a new room or after a gap; otherwise only what lazy
        // loading needs (members of the timeline's senders).
        let full = since.is_none() || limited;
        let state = self.sync_state(who, room_id, &events, timeline_start, full, params)?;

        let mut room = JoinedRoom::new();
        room.account_data.events = extras.account_data;
        room.ephemeral.events = extras.ephemeral;
        room.timeline = self.timeline(who, events, limited || since.is_none(), timeline_start)?;
        room.state = State::Before(StateEvents::from(self.render_all(who, &state, false)?));
        let joined = self.state.joined_members(room_id)?;
        room.summary.joined_member_count = UInt::new(joined.len() as u64);
        let unread = self.unread.unread_counts(&who.user_id, room_id, upto)?;
        room.unread_notifications.notification_count =
            Some(UInt::new_saturating(unread.notifications));
        room.unread_notifications.highlight_count = Some(UInt::new_saturating(unread.highlights));
        room.summary.heroes = joined
            .into_iter()
            .filter(|u| *u != who.user_id)
            .take(5)
            .collect();
        Ok(Some(room))
    }

    fn timeline(
        &self,
        who: &Requester,
        events: Vec<StoredEvent>,
        limited: bool,
        timeline_start: StreamPos,
    ) -> Result<Timeline> {
        let mut timeline = Timeline::new();
        timeline.limited = limited;
        timeline.prev_batch = Some(token(timeline_start - 1));
        timeline.events = self.render_all(who, &events, true)?;
        Ok(timeline)
    }

    fn render_all<T>(
        &self,
        who: &Requester,
        events: &[StoredEvent],
        with_prev: bool,
    ) -> Result<Vec<Raw<T>>> {
        events
            .iter()
            .map(|event| {
                let prev = match (&event.replaces_state, with_prev) {
                    (Some(prev), true) => self
                        .events
                        .event(prev)?
                        .map(|e| content_of(&e))
                        .transpose()?,
                    _ => None,
                };
                let raw = self
                    .history
                    .render_event(Some(who), event, false, prev.as_deref())?;
                Ok(raw.cast_unchecked())
            })
            .collect()
    }

    fn invited_room(&self, row: &MembershipRow) -> Result<InvitedRoom> {
        let mut events = Vec::new();
        for kind in INVITE_STATE_TYPES {
            if let Some(e) = self.state.current_state_event(&row.room_id, kind, "")? {
                events.push(stripped(&e)?);
            }
        }
        if let Some(invite) = self.events.event(&row.event_id)? {
            events.push(stripped(&invite)?);
        }
        let mut room = InvitedRoom::new();
        room.invite_state.events = events;
        Ok(room)
    }

    /// A room the user left (or was kicked or banned from, or whose invite
    /// or knock ended): its timeline up to the leave, as history visibility
    /// lets them see it, and its state only if they left from inside the
    /// room (a declined invite or a withdrawn knock shows nothing of it).
    fn left_room(
        &self,
        who: &Requester,
        row: &MembershipRow,
        since: StreamPos,
        initial: bool,
        params: &SyncParams,
    ) -> Result<LeftRoom> {
        let limit = params.timeline_limit;
        let view = self
            .history
            .read_view(&row.room_id, &who.user_id, row.stream, false)?;
        let keep = |e: &StoredEvent| params.timeline_filter.matches_stored(e);
        let scan = self.history.visible_events(
            &view,
            &row.room_id,
            since,
            row.stream,
            Direction::Backward,
            limit + 1,
            true,
            keep,
        )?;
        let mut events = scan.events;
        let limited = events.len() > limit || scan.gap;
        events.truncate(limit);
        events.reverse();
        let start = events.first().map_or(row.stream + 1, |e| e.stream);
        let mut room = LeftRoom::new();
        if view.left_from_join() {
            let state = self.sync_state(
                who,
                &row.room_id,
                &events,
                start,
                initial || limited,
                params,
            )?;
            room.state = State::Before(StateEvents::from(self.render_all(who, &state, false)?));
        }
        room.timeline = self.timeline(who, events, limited, start)?;
        Ok(room)
    }

    /// The `state` of a room in a sync response: all of it before the
    /// timeline (`full`, for a new room or after a gap), else what lazy
    /// loading needs (the members of the timeline's senders).
    fn sync_state(
        &self,
        who: &Requester,
        room_id: &RoomId,
        events: &[StoredEvent],
        timeline_start: StreamPos,
        full: bool,
        params: &SyncParams,
    ) -> Result<Vec<StoredEvent>> {
        let senders: BTreeSet<OwnedUserId> = events.iter().filter_map(sender_of).collect();
        let mut state = Vec::new();
        if full {
            for event in self.state_before(room_id, timeline_start)? {
                if !params.state_filter.matches_stored(&event) {
                    continue;
                }
                if params.lazy_load_members && is_member_event(&event) {
                    let key = state_key_of(&event).unwrap_or_default();
                    if key != who.user_id.as_str() && !senders.iter().any(|s| s.as_str() == key) {
                        continue;
                    }
                }
                state.push(event);
            }
        } else if params.lazy_load_members {
            let in_timeline: BTreeSet<String> = events
                .iter()
                .filter(|e| is_member_event(e))
                .filter_map(state_key_of)
                .collect();
            for sender in &senders {
                if in_timeline.contains(sender.as_str()) {
                    continue;
                }
                if let Some(e) = self.state_event_at(
                    room_id,
                    "m.room.member",
                    sender.as_str(),
                    timeline_start - 1,
                )? {
                    state.push(e);
                }
            }
        }
        Ok(state)
    }
}

/// Per-room data besides the timeline.
struct RoomExtras {
    account_data: Vec<Raw<AnyRoomAccountDataEvent>>,
    ephemeral: Vec<Raw<AnySyncEphemeralRoomEvent>>,
}

#[derive(serde::Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    sender: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(default, borrow)]
    state_key: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    content: Option<&'a RawValue>,
}

fn head(event: &StoredEvent) -> Result<Head<'_>> {
    Ok(serde_json::from_str(&event.pdu_json)?)
}

fn sender_of(event: &StoredEvent) -> Option<OwnedUserId> {
    head(event)
        .ok()?
        .sender
        .and_then(|s| OwnedUserId::try_from(s).ok())
}

fn is_member_event(event: &StoredEvent) -> bool {
    head(event).is_ok_and(|h| h.kind == "m.room.member")
}

fn state_key_of(event: &StoredEvent) -> Option<String> {
    head(event).ok()?.state_key.map(|k| k.into_owned())
}

fn content_of(event: &StoredEvent) -> Result<Box<RawValue>> {
    let h = head(event)?;
    Ok(h.content
        .map(|c| c.to_owned())
        .unwrap_or_else(|| RawValue::from_string("{}".into()).expect("valid")))
}

fn stripped<T>(event: &StoredEvent) -> Result<Raw<T>> {
    let h = head(event)?;
    let value = serde_json::json!({
        "type": h.kind,
        "state_key": h.state_key.as_deref().unwrap_or(""),
        "sender": h.sender,
        "content": h.content,
    });
    Ok(Raw::from_json(serde_json::value::to_raw_value(&value)?))
}

fn has_updates(response: &Response) -> bool {
    !response.rooms.join.is_empty()
        || !response.rooms.invite.is_empty()
        || !response.rooms.leave.is_empty()
        || !response.account_data.events.is_empty()
        || !response.to_device.events.is_empty()
        || !response.presence.events.is_empty()
        || !response.device_lists.changed.is_empty()
        || !response.device_lists.left.is_empty()
}

/// An account data event as sync shows it: `{type, content}`.
fn account_data_event(event_type: &str, content: &str) -> Result<Raw<()>> {
    let content = RawValue::from_string(content.to_owned())?;
    let event = serde_json::json!({ "type": event_type, "content": content });
    Ok(Raw::from_json(serde_json::value::to_raw_value(&event)?))
}
