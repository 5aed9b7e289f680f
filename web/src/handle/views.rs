//! Per-room reactive state, fed by the engine's change reports.
//!
//! Views never subscribe to the engine for room data. After every mutation the handle takes
//! the engine's [`Changes`] and updates only what they name: the room list's order and the
//! row of each changed room, the open room's header, typing line and receipts, and its
//! timeline item by item (the keys in order, plus one signal per item). A typing notice in
//! one room thus re-renders that room's typing line and nothing else; an edit re-renders one
//! item. Signals are reference-counted (`ArcRwSignal`), so they outlive the component that
//! first asked for them.

use std::collections::{HashMap, HashSet};

use leptos::prelude::*;
use ruma::{OwnedRoomId, OwnedUserId, RoomId};
use weft_client::{Changes, Engine, ItemDiff, RoomChanges, RoomEntry, TimelineItem};

use super::{ClientHandle, MemberEntry, RoomSnapshot};
use crate::platform::clock;

/// Messages from one sender closer than this share one header.
const GROUP_MS: u64 = 5 * 60 * 1000;

/// One row of the timeline's list: an item's key, whether it starts a group, and the day it
/// opens if any. The list is keyed by the whole row, so a row whose header or day changes
/// is rebuilt, and nothing else is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Row {
    pub key: String,
    pub header: bool,
    pub day: Option<String>,
}

/// The open room's reactive state (cheap handles to shared signals).
#[derive(Clone)]
pub struct OpenRoom {
    room_id: OwnedRoomId,
    /// Everything but the timeline; `None` while we are not in the room.
    pub header: ArcRwSignal<Option<RoomSnapshot>>,
    /// Display names of the people typing (not us).
    pub typing: ArcRwSignal<Vec<String>>,
    /// The timeline's rows, oldest first.
    pub rows: ArcRwSignal<Vec<Row>>,
    /// Who has read up to each item, by item key.
    pub receipts: ArcRwSignal<HashMap<String, Vec<OwnedUserId>>>,
    /// Each item's content, by key.
    items: HashMap<String, ArcRwSignal<TimelineItem>>,
}

impl OpenRoom {
    /// The signal of the item with `key`.
    pub fn item(&self, key: &str) -> Option<ArcRwSignal<TimelineItem>> {
        self.items.get(key).cloned()
    }
}

/// All per-room signals the handle keeps.
pub(crate) struct Views {
    /// Joined rooms, most recently active first.
    order: ArcRwSignal<Vec<OwnedRoomId>>,
    /// Each listed room's row in the room list.
    summaries: HashMap<OwnedRoomId, ArcRwSignal<Option<RoomEntry>>>,
    total_unread: ArcRwSignal<u64>,
    /// The current minute (since the epoch), for the room list's times.
    minute: ArcRwSignal<u64>,
    open: Option<OpenRoom>,
}

impl Default for Views {
    fn default() -> Self {
        Self {
            order: ArcRwSignal::new(Vec::new()),
            summaries: HashMap::new(),
            total_unread: ArcRwSignal::new(0),
            minute: ArcRwSignal::new(0),
            open: None,
        }
    }
}

impl Views {
    /// Applies what the engine reports changed.
    fn apply(&mut self, engine: &Engine, changes: &Changes) {
        for room_id in &changes.removed {
            if let Some(summary) = self.summaries.remove(room_id) {
                summary.set(None);
            }
        }
        let mut unread = !changes.removed.is_empty();
        for (room_id, room_changes) in &changes.rooms {
            unread |= room_changes.unread;
            // The row shows the newest message too; an unchanged row is not set again.
            if room_changes.state || room_changes.unread || !room_changes.timeline.is_empty() {
                self.refresh_summary(engine, room_id);
            }
            if let Some(open) = self.open.as_mut().filter(|open| open.room_id == *room_id) {
                update_open(engine, open, room_changes);
            }
        }
        if changes.room_list {
            set_if_changed(&self.order, engine.room_order());
        }
        if unread {
            set_if_changed(&self.total_unread, engine.total_unread());
        }
        if let Some(open) = self
            .open
            .as_ref()
            .filter(|open| changes.removed.contains(&open.room_id))
        {
            open.header.set(None);
        }
    }

    fn refresh_summary(&mut self, engine: &Engine, room_id: &RoomId) {
        let entry = engine.room_entry(room_id);
        match self.summaries.get(room_id) {
            Some(summary) => set_if_changed(summary, entry),
            None => {
                self.summaries
                    .insert(room_id.to_owned(), ArcRwSignal::new(entry));
            }
        }
    }

    /// Reads everything again: a new engine (sign-in, restore) or none (sign-out).
    fn resync(&mut self, engine: Option<&Engine>) {
        let ids: Vec<OwnedRoomId> = self.summaries.keys().cloned().collect();
        for room_id in ids {
            match engine.and_then(|engine| engine.room_entry(&room_id)) {
                Some(entry) => set_if_changed(&self.summaries[&room_id], Some(entry)),
                None => {
                    if let Some(summary) = self.summaries.remove(&room_id) {
                        summary.set(None);
                    }
                }
            }
        }
        let order = engine.map(Engine::room_order).unwrap_or_default();
        if let Some(engine) = engine {
            for room_id in &order {
                self.refresh_summary(engine, room_id);
            }
        }
        set_if_changed(&self.order, order);
        set_if_changed(&self.total_unread, engine.map_or(0, Engine::total_unread));
        if let Some(open) = self.open.as_mut() {
            match engine {
                Some(engine) => update_open(engine, open, &RoomChanges::all()),
                None => open.header.set(None),
            }
        }
    }
}

/// Brings the open room's signals up to date with `changes`.
fn update_open(engine: &Engine, open: &mut OpenRoom, changes: &RoomChanges) {
    let own = engine.user_id();
    let Some(room) = engine.room(&open.room_id) else {
        open.header.set(None);
        return;
    };
    let reset = changes.timeline.contains(&ItemDiff::Reset);
    if changes.state || reset {
        set_if_changed(&open.header, Some(snapshot(engine, room)));
    }
    if changes.typing {
        let typing = room
            .typing(own)
            .iter()
            .map(|user| room.member_name(user))
            .collect();
        set_if_changed(&open.typing, typing);
    }
    let order_changed = changes.order_changed();
    if reset {
        // Compose every item once rather than looking each up by key.
        let outline = room.timeline().outline();
        let mut items = HashMap::with_capacity(outline.len());
        for (entry, mut item) in outline.iter().zip(room.items(own)) {
            item.read_by = Vec::new();
            let signal = match open.items.remove(&entry.key) {
                Some(signal) => {
                    set_if_changed(&signal, item);
                    signal
                }
                None => ArcRwSignal::new(item),
            };
            items.insert(entry.key.clone(), signal);
        }
        open.items = items;
        set_if_changed(&open.rows, rows(&outline));
    } else if order_changed {
        let outline = room.timeline().outline();
        let keys: HashSet<&str> = outline.iter().map(|entry| entry.key.as_str()).collect();
        open.items.retain(|key, _| keys.contains(key.as_str()));
        for entry in &outline {
            if !open.items.contains_key(&entry.key)
                && let Some(item) = room.item_by_key(&entry.key, own)
            {
                open.items.insert(entry.key.clone(), ArcRwSignal::new(item));
            }
        }
        set_if_changed(&open.rows, rows(&outline));
    }
    if !reset {
        for diff in &changes.timeline {
            if let ItemDiff::Update(key) | ItemDiff::Confirmed(key) = diff
                && let (Some(signal), Some(item)) =
                    (open.items.get(key), room.item_by_key(key, own))
            {
                set_if_changed(signal, item);
            }
        }
    }
    if changes.receipts || order_changed {
        set_if_changed(&open.receipts, room.receipts_by_key(own));
    }
}

/// Lays out the list: a header where the sender changes, after a room change, or after a
/// pause; a day separator where the day changes.
fn rows(outline: &[weft_client::Outline]) -> Vec<Row> {
    let mut rows = Vec::with_capacity(outline.len());
    let mut previous: Option<&weft_client::Outline> = None;
    let mut previous_day = None;
    for entry in outline {
        let day = clock::day_of(entry.ts);
        let new_day = previous_day != Some(day);
        let header = new_day
            || previous.is_none_or(|p| {
                p.sender != entry.sender
                    || p.state
                    || u64::from(entry.ts.get()) > u64::from(p.ts.get()) + GROUP_MS
            });
        rows.push(Row {
            key: entry.key.clone(),
            header,
            day: new_day.then(|| clock::format_day(entry.ts)),
        });
        previous = Some(entry);
        previous_day = Some(day);
    }
    rows
}

fn set_if_changed<T: PartialEq + Send + Sync + 'static>(signal: &ArcRwSignal<T>, value: T) {
    if signal.with_untracked(|old| *old != value) {
        signal.set(value);
    }
}

/// Everything the room view shows of `room` but its timeline and typing line.
fn snapshot(engine: &Engine, room: &weft_client::Room) -> RoomSnapshot {
    let own = engine.user_id();
    RoomSnapshot {
        name: room.display_name(own),
        avatar: room.avatar().cloned(),
        topic: room.topic().map(ToOwned::to_owned),
        loaded: room.is_loaded(),
        reached_start: room.reached_start(),
        can_redact_others: room.can_redact_others(own),
        members: members(engine, room),
        can_edit_name: room.can_set_state(own, "m.room.name"),
        can_edit_topic: room.can_set_state(own, "m.room.topic"),
        can_kick: room.can_kick(own),
        own_power: room.power_level(own),
        encrypted: room.is_encrypted(),
        can_encrypt: room.can_set_state(own, "m.room.encryption"),
    }
}

fn members(engine: &Engine, room: &weft_client::Room) -> Vec<MemberEntry> {
    use ruma::events::room::member::MembershipState;
    let mut members: Vec<MemberEntry> = room
        .members()
        .iter()
        .filter(|(_, m)| {
            matches!(
                m.membership,
                MembershipState::Join | MembershipState::Invite
            )
        })
        .map(|(user_id, m)| MemberEntry {
            user_id: user_id.clone(),
            name: room.member_name(user_id),
            power: room.power_level(user_id),
            invited: m.membership == MembershipState::Invite,
            avatar: room.member_avatar(user_id),
            verified: user_id != engine.user_id() && engine.is_user_verified(user_id),
        })
        .collect();
    members.sort_by(|a, b| b.power.cmp(&a.power).then_with(|| a.name.cmp(&b.name)));
    members
}

impl ClientHandle {
    /// Joined rooms, most recently active first (reactive).
    pub fn room_order(&self) -> Vec<OwnedRoomId> {
        self.views.with_value(|views| views.order.clone()).get()
    }

    /// One room's row in the room list (reactive through the returned signal).
    pub fn room_summary(&self, room_id: &RoomId) -> ArcRwSignal<Option<RoomEntry>> {
        let entry = self
            .with_engine(|engine| engine.room_entry(room_id))
            .ok()
            .flatten();
        let mut summary = None;
        self.views.update_value(|views| {
            let signal = views
                .summaries
                .entry(room_id.to_owned())
                .or_insert_with(|| ArcRwSignal::new(entry));
            summary = Some(signal.clone());
        });
        summary.unwrap_or_else(|| ArcRwSignal::new(None))
    }

    /// The current minute (reactive), so times like "14:05" move on. The sync loop sets
    /// it before each request: with long-polls of at most 30 s, at least once a minute.
    pub fn minute(&self) -> u64 {
        self.views.with_value(|views| views.minute.clone()).get()
    }

    /// Notes the time (see [`Self::minute`]).
    pub(crate) fn note_time(&self, now: ruma::MilliSecondsSinceUnixEpoch) {
        self.views
            .with_value(|views| set_if_changed(&views.minute, u64::from(now.get()) / 60_000));
    }

    /// Unread messages over all rooms, for the page title.
    pub fn total_unread(&self) -> u64 {
        self.views
            .with_value(|views| views.total_unread.clone())
            .get()
    }

    /// The reactive state of `room_id`, built from the engine the first time it is shown;
    /// from then on only change reports update it. One room is open at a time.
    pub fn open_room(&self, room_id: &RoomId) -> OpenRoom {
        if let Some(open) = self
            .views
            .with_value(|views| views.open.clone())
            .filter(|open| open.room_id == room_id)
        {
            return open;
        }
        let mut open = OpenRoom {
            room_id: room_id.to_owned(),
            header: ArcRwSignal::new(None),
            typing: ArcRwSignal::new(Vec::new()),
            rows: ArcRwSignal::new(Vec::new()),
            receipts: ArcRwSignal::new(HashMap::new()),
            items: HashMap::new(),
        };
        // Its only error is "signed out": then the room has nothing to show.
        let _ = self.with_engine(|engine| update_open(engine, &mut open, &RoomChanges::all()));
        self.views
            .update_value(|views| views.open = Some(open.clone()));
        open
    }

    /// The open room's item signal for `key`, looked up when its row is built.
    pub fn item_signal(&self, key: &str) -> Option<ArcRwSignal<TimelineItem>> {
        self.views
            .with_value(|views| views.open.as_ref().and_then(|open| open.item(key)))
    }

    /// Hands the engine's change report to the views (after every mutation).
    pub(super) fn dispatch(&self, changes: Changes) {
        if changes.is_empty() {
            return;
        }
        // Its only error is "signed out": then no view is left to update.
        let _ = self.with_engine(|engine| {
            self.views
                .update_value(|views| views.apply(engine, &changes));
        });
    }

    /// Installs a new engine (or none) and reads all views from it again.
    pub(super) fn install_engine(&self, engine: Option<Engine>) {
        self.engine.set(engine);
        // Its only error is "signed out": no engine, no changes to drop.
        let _ = self.update_engine_quietly(|engine| {
            engine.take_changes();
        });
        let engine_views =
            |engine: Option<&Engine>| self.views.update_value(|views| views.resync(engine));
        if self
            .with_engine(|engine| engine_views(Some(engine)))
            .is_err()
        {
            engine_views(None);
        }
    }
}
