//! A joined room: the state we display (name, topic, members) and its timeline.

use std::collections::BTreeMap;

use std::collections::BTreeSet;

use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedRoomAliasId, OwnedRoomId, OwnedTransactionId,
    OwnedUserId, RoomId, UserId, events::room::member::MembershipState,
};
use serde_json::value::RawValue;

pub(crate) mod record;

pub use crate::member::Member;
use record::RoomRecord;

use crate::{
    call::CallSignal,
    changes::RoomChanges,
    content::{
        AvatarContent, CanonicalAliasContent, CreateContent, JoinRulesContent, MemberContent,
        NameContent, PowerLevelsContent, ReceiptContent, TopicContent, TypingContent,
    },
    crypto::{Decrypted, Machine, RoomKeySettings, UtdReason},
    describe::classify,
    event::{Event, EventKind, Unsigned},
    media::Mxc,
    member::{self, Members},
    sync::{JoinedRoom, UnreadNotifications},
    timeline::{Incoming, ItemKind, Timeline, TimelineItem},
};

/// `m.room.encryption`'s rotation settings.
#[derive(Clone, Copy, Debug, Default, serde::Deserialize)]
struct EncryptionContent {
    rotation_period_ms: Option<u64>,
    rotation_period_msgs: Option<u64>,
}

/// `m.room.history_visibility`.
#[derive(serde::Deserialize)]
struct HistoryVisibilityContent {
    history_visibility: String,
}

/// An encrypted event we could not decrypt yet, kept to try again when its key arrives.
#[derive(Clone, Debug)]
struct Undecrypted {
    event_id: OwnedEventId,
    sender: OwnedUserId,
    ts: MilliSecondsSinceUnixEpoch,
    session_id: Option<String>,
    content: Box<RawValue>,
    txn_id: Option<OwnedTransactionId>,
}

/// Undecryptable events kept per room for a later key; the oldest are let go beyond this.
const MAX_UNDECRYPTED: usize = 1000;

/// How a room decrypts its events and drops its outbound key; the engine hands in its
/// crypto driver through this, so the room need not know the engine.
pub(crate) trait RoomDecryptor {
    /// Decrypts one `m.room.encrypted` event's content.
    fn decrypt(
        &mut self,
        room_id: &RoomId,
        sender: &UserId,
        event_id: &OwnedEventId,
        origin_server_ts: u64,
        content: &str,
    ) -> Result<Decrypted, UtdReason>;

    /// Drops the room's outbound session (someone left, or visibility changed).
    fn discard_room_key(&mut self, room_id: &RoomId);
}

/// A room we are joined to.
#[derive(Clone, Debug)]
pub struct Room {
    room_id: OwnedRoomId,
    name: Option<String>,
    canonical_alias: Option<OwnedRoomAliasId>,
    topic: Option<String>,
    /// `m.room.avatar`.
    avatar: Option<Mxc>,
    members: Members,
    heroes: Vec<OwnedUserId>,
    /// A name to show before the first sync of the room arrives (from the invite or the
    /// create request), so a freshly joined room doesn't flash its ID.
    name_hint: Option<String>,
    timeline: Timeline,
    loaded: bool,
    last_activity: Option<MilliSecondsSinceUnixEpoch>,
    /// Token to fetch events older than the oldest we have.
    prev_batch: Option<String>,
    /// Back-pagination reached the room's creation.
    reached_start: bool,
    /// Everyone's latest read receipt (public or, for us, private).
    receipts: BTreeMap<OwnedUserId, OwnedEventId>,
    typing: Vec<OwnedUserId>,
    unread: UnreadNotifications,
    power_levels: PowerLevelsContent,
    /// From room version 12, the room's creators outrank every power level.
    creators: Vec<OwnedUserId>,
    /// `join_rule` is `public`.
    public: bool,
    /// `m.room.encryption` is set.
    encrypted: bool,
    /// Its rotation settings (the first `m.room.encryption` counts: encryption cannot be
    /// turned off or weakened later).
    encryption: Option<EncryptionContent>,
    /// `m.room.history_visibility` (`shared` when unset).
    history_visibility: Option<String>,
    /// Encrypted events waiting for their key.
    undecrypted: Vec<Undecrypted>,
    /// The server's count of joined members, when it sent one.
    joined_members: Option<u64>,
    /// State events we know were replaced by newer ones we applied (from the timeline's
    /// order and `unsigned.replaces_state`): a later `state` section or member list that
    /// still carries one of them must not undo the newer state.
    superseded: Superseded,
    /// Sync data kept for the stored snapshot.
    record: RoomRecord,
    /// What changed besides the timeline since the engine last took it.
    changes: RoomChanges,
    /// Its place in the room list may have changed.
    activity_changed: bool,
}

/// The event IDs of state events known to be replaced, the newest [`Superseded::CAP`]
/// of them: a server repeats an old state event only shortly after replacing it (a sync's
/// `state` section, a `/members` answer in flight), so older ones are let go rather than
/// kept for the whole session.
#[derive(Clone, Debug, Default)]
struct Superseded {
    ids: std::collections::HashSet<OwnedEventId>,
    order: std::collections::VecDeque<OwnedEventId>,
}

impl Superseded {
    const CAP: usize = 512;

    fn insert(&mut self, id: OwnedEventId) {
        if self.ids.contains(&id) {
            return;
        }
        if self.order.len() == Self::CAP
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        self.ids.insert(id.clone());
        self.order.push_back(id);
    }

    fn contains(&self, id: &OwnedEventId) -> bool {
        self.ids.contains(id)
    }
}

impl Room {
    /// An empty room, filled by syncs.
    pub(crate) fn new(room_id: OwnedRoomId) -> Self {
        Self {
            room_id,
            name: None,
            canonical_alias: None,
            topic: None,
            avatar: None,
            members: BTreeMap::new(),
            heroes: Vec::new(),
            name_hint: None,
            timeline: Timeline::default(),
            loaded: false,
            last_activity: None,
            prev_batch: None,
            reached_start: false,
            receipts: BTreeMap::new(),
            typing: Vec::new(),
            unread: UnreadNotifications::default(),
            power_levels: PowerLevelsContent::default(),
            creators: Vec::new(),
            public: false,
            encrypted: false,
            encryption: None,
            history_visibility: None,
            undecrypted: Vec::new(),
            joined_members: None,
            superseded: Superseded::default(),
            record: RoomRecord::default(),
            changes: RoomChanges::all(),
            activity_changed: true,
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
    /// The room's picture (`m.room.avatar`).
    pub fn avatar(&self) -> Option<&Mxc> {
        self.avatar.as_ref()
    }

    /// A member's picture, from their member event.
    pub fn member_avatar(&self, user: &UserId) -> Option<Mxc> {
        member::avatar(&self.members, user)
    }

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
        member::name(&self.members, user_id)
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

    /// Applies one room section of a sync response, as `own` receives it.
    /// New `m.call.*` events are added to `calls` for the call manager.
    /// Encrypted events are decrypted with `crypto` as they arrive.
    pub(crate) fn apply_sync(
        &mut self,
        update: &JoinedRoom,
        own: &UserId,
        calls: &mut Vec<CallSignal>,
        crypto: &mut impl RoomDecryptor,
    ) {
        if let Some(heroes) = &update.summary.heroes
            && *heroes != self.heroes
        {
            self.heroes = heroes.clone();
            self.changes.state = true;
        }
        if let Some(count) = update.summary.joined_member_count
            && self.joined_members != Some(count)
        {
            self.joined_members = Some(count);
            self.changes.state = true;
        }
        if update.timeline.limited && self.loaded {
            // Events between our last sync and this one are missing. Rather than show a
            // timeline with a hole, start over from here; scrolling up fills it again.
            self.timeline.clear_remote();
            self.undecrypted.clear();
            self.reached_start = false;
            self.changes.state = true;
        }
        if !self.loaded || update.timeline.limited {
            self.prev_batch = update.timeline.prev_batch.clone();
        }
        self.record
            .note_timeline(&update.timeline, !self.loaded || update.timeline.limited);
        let timeline: Vec<Event> = update
            .timeline
            .events
            .iter()
            .filter_map(|raw| Event::parse(raw))
            .collect();
        if update.timeline.limited && self.encrypted {
            // Someone may have left and come back in the gap: what they missed must stay
            // unreadable to them, so the room key is replaced (e2ee.md §5, v1.19).
            let parsed_state: Vec<Event> = update
                .state
                .events
                .iter()
                .filter_map(|raw| Event::parse(raw))
                .collect();
            let not_joined = parsed_state.iter().chain(&timeline).any(|event| {
                event.kind == EventKind::Member
                    && event
                        .content::<MemberContent>()
                        .is_some_and(|c| c.membership != MembershipState::Join)
            });
            if not_joined {
                crypto.discard_room_key(&self.room_id);
            }
        }
        for event in update
            .state
            .events
            .iter()
            .filter_map(|raw| Event::parse(raw))
        {
            // Some servers also list in `state` an event that is in the timeline; applying
            // it early would lose the "before" that the timeline item describes.
            let in_timeline =
                event.event_id.is_some() && timeline.iter().any(|t| t.event_id == event.event_id);
            if !in_timeline && !self.is_superseded(&event) {
                self.apply_state(&event);
                self.record.note_state(&event);
            }
        }
        for event in &timeline {
            // Call events may come encrypted: what counts is the decrypted type.
            if let Some((kind, content)) = self.apply_timeline_event(event, own, crypto)
                && kind.is_call()
            {
                calls.push(CallSignal {
                    room_id: self.room_id.clone(),
                    sender: event.sender.clone(),
                    event_type: kind.as_str().to_owned(),
                    content,
                    age_ms: event.unsigned.age.and_then(|age| u64::try_from(age).ok()),
                });
            }
        }
        for event in update
            .ephemeral
            .events
            .iter()
            .filter_map(|raw| Event::parse_ephemeral(raw))
        {
            self.apply_ephemeral(&event.0, &event.1);
        }
        if let Some(unread) = update.unread_notifications
            && unread != self.unread
        {
            self.unread = unread;
            self.changes.unread = true;
        }
        if !self.loaded {
            self.loaded = true;
            self.changes.state = true;
        }
    }

    /// Whether a new event brings the room to the top of the list, as Element orders it:
    /// what the timeline shows (messages, calls, room changes), but not others' comings and
    /// goings, nor anyone's change of name or picture; reactions, edits, deletions and
    /// receipts never.
    fn moves_room(&self, event: &Event, incoming: &Incoming, own: &UserId) -> bool {
        match incoming {
            Incoming::Item(_) if event.kind == EventKind::Member => {
                let membership = event.content::<MemberContent>().map(|c| c.membership);
                let before = event
                    .state_key
                    .as_deref()
                    .and_then(|key| UserId::parse(key).ok())
                    .and_then(|user| self.members.get(&user))
                    .map(|member| member.membership.clone());
                event.sender == own && membership.is_some() && membership != before
            }
            Incoming::Item(_) | Incoming::Call { shown: Some(_), .. } => true,
            _ => false,
        }
    }

    /// The type and content of the event (decrypted) if it was new.
    fn apply_timeline_event(
        &mut self,
        event: &Event,
        own: &UserId,
        crypto: &mut impl RoomDecryptor,
    ) -> Option<(EventKind, Box<RawValue>)> {
        let (Some(event_id), Some(ts)) = (&event.event_id, event.origin_server_ts) else {
            return None;
        };
        // A repeated event must not re-apply its state either: newer state may have
        // superseded it meanwhile.
        if self.timeline.contains(event_id) {
            return None;
        }
        let (incoming, kind, content) = self.classify_maybe_encrypted(event, event_id, ts, crypto);
        // Before the state applies: a member event is compared with what it replaces.
        let moves = self.moves_room(event, &incoming, own);
        if event.is_state() {
            // The timeline is in order: whatever this replaces is older.
            if let Some(previous) = self.member_event_id(event) {
                self.superseded.insert(previous);
            }
            self.apply_state(event);
            self.record.note_state(event);
        }
        if moves {
            self.bump_activity(ts);
        }
        self.timeline.push_back(incoming);
        Some((kind, content))
    }

    /// Classifies an event, decrypting it first if it is `m.room.encrypted`; also returns
    /// the type and content it really has. One we cannot decrypt becomes an
    /// [`ItemKind::Encrypted`] item and waits for its key.
    fn classify_maybe_encrypted(
        &mut self,
        event: &Event,
        event_id: &OwnedEventId,
        ts: MilliSecondsSinceUnixEpoch,
        crypto: &mut impl RoomDecryptor,
    ) -> (Incoming, EventKind, Box<RawValue>) {
        if event.kind != EventKind::Encrypted || event.is_state() {
            return (
                classify(&self.members, event, event_id.clone(), ts),
                event.kind.clone(),
                event.content.clone(),
            );
        }
        let result = crypto.decrypt(
            &self.room_id,
            &event.sender,
            event_id,
            ts.get().into(),
            event.content.get(),
        );
        match result {
            Ok(decrypted) => {
                let plain = decrypted_event(event, &decrypted);
                let incoming = mark_encrypted(
                    classify(&self.members, &plain, event_id.clone(), ts),
                    &decrypted,
                );
                (incoming, plain.kind, plain.content)
            }
            Err(reason) => {
                let incoming = self.undecryptable(event, event_id, ts, reason);
                (incoming, event.kind.clone(), event.content.clone())
            }
        }
    }

    /// The placeholder item for an event we cannot decrypt, remembered for a retry.
    fn undecryptable(
        &mut self,
        event: &Event,
        event_id: &OwnedEventId,
        ts: MilliSecondsSinceUnixEpoch,
        reason: UtdReason,
    ) -> Incoming {
        let redacted = event.unsigned.redacted_because.is_some();
        let (kind, body) = if redacted {
            (ItemKind::Redacted, "Message deleted".to_owned())
        } else {
            (ItemKind::Encrypted, reason.describe().to_owned())
        };
        let mut item = TimelineItem::new(
            event.sender.clone(),
            self.member_name(&event.sender),
            kind,
            body,
            ts,
        );
        item.event_id = Some(event_id.clone());
        item.txn_id = event.unsigned.transaction_id.clone();
        item.sender_avatar = self.member_avatar(&event.sender);
        item.encrypted = true;
        if !redacted {
            item.utd = Some(reason);
            if self.undecrypted.len() == MAX_UNDECRYPTED {
                self.undecrypted.remove(0);
            }
            self.undecrypted.push(Undecrypted {
                event_id: event_id.clone(),
                sender: event.sender.clone(),
                ts,
                session_id: Machine::session_id_of(event.content.get()),
                content: event.content.clone(),
                txn_id: event.unsigned.transaction_id.clone(),
            });
        }
        Incoming::Item(item)
    }

    /// Tries again the events waiting for one of `sessions`' keys; those that decrypt take
    /// their real place in the timeline, the others get their (maybe withheld) reason.
    pub(crate) fn retry_decryption(
        &mut self,
        sessions: &BTreeSet<String>,
        crypto: &mut impl RoomDecryptor,
    ) {
        let waiting = std::mem::take(&mut self.undecrypted);
        for utd in waiting {
            if !utd
                .session_id
                .as_ref()
                .is_some_and(|id| sessions.contains(id))
            {
                self.undecrypted.push(utd);
                continue;
            }
            let event = Event {
                kind: EventKind::Encrypted,
                sender: utd.sender.clone(),
                event_id: Some(utd.event_id.clone()),
                origin_server_ts: Some(utd.ts),
                state_key: None,
                content: utd.content.clone(),
                redacts: None,
                unsigned: Unsigned {
                    transaction_id: utd.txn_id.clone(),
                    ..Unsigned::default()
                },
            };
            match crypto.decrypt(
                &self.room_id,
                &utd.sender,
                &utd.event_id,
                utd.ts.get().into(),
                utd.content.get(),
            ) {
                Ok(decrypted) => {
                    let plain = decrypted_event(&event, &decrypted);
                    let incoming = mark_encrypted(
                        classify(&self.members, &plain, utd.event_id.clone(), utd.ts),
                        &decrypted,
                    );
                    self.timeline.replace(&utd.event_id, incoming);
                }
                Err(reason) => {
                    self.timeline.set_utd(&utd.event_id, reason);
                    self.undecrypted.push(utd);
                }
            }
        }
    }

    /// Who must get this room's key: joined members, and invited ones unless history is
    /// only for joined members. Complete only once the full member list is loaded.
    pub fn key_recipients(&self) -> BTreeSet<OwnedUserId> {
        let invited_too = self.history_visibility.as_deref() != Some("joined");
        self.members
            .iter()
            .filter(|(_, m)| {
                m.membership == MembershipState::Join
                    || (invited_too && m.membership == MembershipState::Invite)
            })
            .map(|(user, _)| user.clone())
            .collect()
    }

    /// The sharing settings of this (encrypted) room.
    pub fn key_settings(&self) -> RoomKeySettings {
        let defaults = RoomKeySettings::default();
        let encryption = self.encryption.unwrap_or_default();
        RoomKeySettings {
            rotation_period_ms: encryption
                .rotation_period_ms
                .unwrap_or(defaults.rotation_period_ms),
            rotation_period_msgs: encryption
                .rotation_period_msgs
                .unwrap_or(defaults.rotation_period_msgs),
            history_visibility: self
                .history_visibility
                .clone()
                .unwrap_or(defaults.history_visibility),
        }
    }

    fn apply_ephemeral(&mut self, kind: &str, content: &RawValue) {
        match kind {
            "m.typing" => {
                if let Ok(typing) = crate::event::parse_json::<TypingContent>(content.get())
                    && typing.user_ids != self.typing
                {
                    self.typing = typing.user_ids;
                    self.changes.typing = true;
                }
            }
            "m.receipt" => {
                let Ok(receipts) = crate::event::parse_json::<ReceiptContent>(content.get()) else {
                    return;
                };
                for (event_id, by_type) in receipts {
                    for (receipt_type, users) in by_type {
                        if receipt_type != "m.read" && receipt_type != "m.read.private" {
                            continue;
                        }
                        for user in users.into_keys() {
                            self.set_receipt(user, event_id.clone());
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Adds a page of older events from `/messages` (given newest first, as the server
    /// sends them) and remembers where the next page starts.
    pub(crate) fn apply_back_page(
        &mut self,
        page: crate::messaging::MessagesPage,
        crypto: &mut impl RoomDecryptor,
    ) {
        for event in page.state.iter().filter_map(|raw| Event::parse(raw)) {
            // Members of old messages that lazy loading had not sent yet; never overwrite
            // what we know of their current state.
            if event.kind == EventKind::Member {
                self.apply_member_if_newer(&event);
            }
        }
        let mut batch = Vec::new();
        for event in page.chunk.iter().rev().filter_map(|raw| Event::parse(raw)) {
            let (Some(event_id), Some(ts)) = (&event.event_id, event.origin_server_ts) else {
                continue;
            };
            if self.timeline.contains(event_id) {
                continue;
            }
            batch.push(
                self.classify_maybe_encrypted(&event, event_id, ts, crypto)
                    .0,
            );
        }
        self.timeline.push_front(batch);
        let reached_start = page.end.is_none() || page.chunk.is_empty();
        self.changes.state |= reached_start != self.reached_start;
        self.reached_start = reached_start;
        self.prev_batch = page.end;
    }

    /// Where to continue back-pagination; `None` once the start of the room is reached.
    pub fn prev_batch(&self) -> Option<&str> {
        if self.reached_start {
            None
        } else {
            self.prev_batch.as_deref()
        }
    }

    /// Whether back-pagination reached the room's first event.
    pub fn reached_start(&self) -> bool {
        self.reached_start
    }

    /// The timeline as shown, with everyone else's read receipts placed on the item they
    /// have read up to.
    pub fn items(&self, own: &UserId) -> Vec<TimelineItem> {
        let mut items = self.timeline.items();
        let index: std::collections::HashMap<&OwnedEventId, usize> = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| Some((item.event_id.as_ref()?, i)))
            .collect();
        let mut placed: Vec<(usize, OwnedUserId)> = Vec::new();
        for (user, event_id) in &self.receipts {
            if user == own {
                continue;
            }
            if let Some(&i) = index.get(self.timeline.anchor(event_id)) {
                placed.push((i, user.clone()));
            }
        }
        drop(index);
        for (i, user) in placed {
            items[i].read_by.push(user);
        }
        for item in &mut items {
            self.finish(item, own);
        }
        items
    }

    /// Who is typing, not counting us.
    pub fn typing(&self, own: &UserId) -> Vec<OwnedUserId> {
        self.typing
            .iter()
            .filter(|user| *user != own)
            .cloned()
            .collect()
    }

    /// The user's read receipt in this room.
    pub fn receipt_of(&self, user: &UserId) -> Option<&OwnedEventId> {
        self.receipts.get(user)
    }

    pub(crate) fn set_receipt(&mut self, user: OwnedUserId, event_id: OwnedEventId) {
        if self.receipts.get(&user) != Some(&event_id) {
            self.receipts.insert(user, event_id);
            self.changes.receipts = true;
        }
    }

    /// Unread counts as the server last reported them.
    pub fn unread(&self) -> UnreadNotifications {
        self.unread
    }

    pub(crate) fn clear_unread(&mut self) {
        if self.unread != UnreadNotifications::default() {
            self.unread = UnreadNotifications::default();
            self.changes.unread = true;
        }
    }

    /// Members we know of (lazy loading sends only those who spoke), by user ID.
    pub fn members(&self) -> &Members {
        &self.members
    }

    /// A user's power level (`i64::MAX` for the creators of a version 12+ room).
    pub fn power_level(&self, user: &UserId) -> i64 {
        if self.creators.iter().any(|creator| creator == user) {
            return i64::MAX;
        }
        self.power_levels
            .users
            .get(user)
            .copied()
            .unwrap_or(self.power_levels.users_default)
    }

    /// Whether `user` may change a state event of this type (name, topic, ...).
    pub fn can_set_state(&self, user: &UserId, event_type: &str) -> bool {
        let needed = self
            .power_levels
            .events
            .get(event_type)
            .copied()
            .unwrap_or(self.power_levels.state_default.unwrap_or(50));
        self.power_level(user) >= needed
    }

    /// Whether `user` may remove others from the room.
    pub fn can_kick(&self, user: &UserId) -> bool {
        self.power_level(user) >= self.power_levels.kick.unwrap_or(50)
    }

    /// Whether `user` may delete other people's messages.
    pub fn can_redact_others(&self, user: &UserId) -> bool {
        self.power_level(user) >= self.power_levels.redact.unwrap_or(50)
    }

    /// The person a 1:1 call here would be with: the other member of a room with exactly
    /// two joined members (as Element offers calls; the server's count, since lazy loading
    /// sends only some members). None in public rooms, where invites do not ring. In
    /// encrypted rooms the call events are encrypted.
    pub fn call_peer(&self, own: &UserId) -> Option<OwnedUserId> {
        self.one_to_one_peer(own)
    }

    /// The other member of a room with exactly two joined members that is not public,
    /// encrypted or not: where the call buttons show (disabled while encrypted).
    pub fn one_to_one_peer(&self, own: &UserId) -> Option<OwnedUserId> {
        let joined = self.joined_members.unwrap_or(self.joined_count() as u64);
        if joined != 2 || self.public {
            return None;
        }
        self.members
            .iter()
            .find(|(user, m)| {
                m.membership == MembershipState::Join && user.as_str() != own.as_str()
            })
            .map(|(user, _)| user)
            .or_else(|| {
                self.heroes
                    .iter()
                    .find(|user| user.as_str() != own.as_str())
            })
            .cloned()
    }

    /// `m.room.encryption` is set: events sent here are encrypted (redactions, typing
    /// notices and receipts excepted).
    pub fn is_encrypted(&self) -> bool {
        self.encrypted
    }

    /// Anyone may join (`join_rule: public`): invites here never ring, since anyone could
    /// have placed them.
    pub fn is_public(&self) -> bool {
        self.public
    }

    /// Joined members, for naming DMs and the call buttons.
    pub fn joined_count(&self) -> usize {
        self.members
            .values()
            .filter(|m| m.membership == MembershipState::Join)
            .count()
    }

    /// A state event we already replaced with a newer one.
    fn is_superseded(&self, event: &Event) -> bool {
        event
            .event_id
            .as_ref()
            .is_some_and(|id| self.superseded.contains(id))
    }

    /// The event ID of the member event we hold for the member `event` is about (if it is
    /// one), unless it is `event` itself.
    fn member_event_id(&self, event: &Event) -> Option<OwnedEventId> {
        if event.kind != EventKind::Member {
            return None;
        }
        let user = UserId::parse(event.state_key.as_deref()?).ok()?;
        self.members
            .get(&user)?
            .event_id
            .clone()
            .filter(|id| Some(id) != event.event_id.as_ref())
    }

    fn apply_state(&mut self, event: &Event) {
        let Some(state_key) = event.state_key.as_deref() else {
            return;
        };
        if let Some(replaced) = &event.unsigned.replaces_state {
            self.superseded.insert(replaced.clone());
        }
        self.changes.state = true;
        match event.kind {
            EventKind::Name => {
                self.name = event.content::<NameContent>().map(|content| content.name);
            }
            EventKind::CanonicalAlias => {
                self.canonical_alias = event
                    .content::<CanonicalAliasContent>()
                    .and_then(|content| content.alias);
            }
            EventKind::Avatar => {
                self.avatar = event
                    .content::<AvatarContent>()
                    .and_then(|c| Mxc::parse(&c.url?));
            }
            EventKind::Topic => {
                self.topic = event.content::<TopicContent>().map(|content| content.topic);
            }
            EventKind::Create => {
                let content: CreateContent = event.content().unwrap_or_default();
                // Versions 1–11 rank creators by power level like everyone else.
                let legacy = content
                    .room_version
                    .as_deref()
                    .is_none_or(|v| v.parse::<u8>().is_ok_and(|n| (1..=11).contains(&n)));
                if !legacy {
                    self.creators = std::iter::once(event.sender.clone())
                        .chain(content.additional_creators)
                        .collect();
                }
            }
            EventKind::PowerLevels => {
                self.power_levels = event.content().unwrap_or_default();
            }
            EventKind::Encryption => {
                self.encrypted = true;
                if self.encryption.is_none() {
                    self.encryption = Some(event.content().unwrap_or_default());
                }
            }
            EventKind::HistoryVisibility => {
                if let Some(content) = event.content::<HistoryVisibilityContent>() {
                    self.history_visibility = Some(content.history_visibility);
                }
            }
            EventKind::JoinRules => {
                self.public = event
                    .content::<JoinRulesContent>()
                    .is_some_and(|c| c.join_rule == "public");
            }
            EventKind::Member => {
                let (Ok(user_id), Some(content)) = (
                    OwnedUserId::try_from(state_key),
                    event.content::<MemberContent>(),
                ) else {
                    return;
                };
                let member = Member {
                    display_name: content.displayname,
                    membership: content.membership,
                    avatar_url: content.avatar_url,
                    event_id: event.event_id.clone(),
                };
                self.members.insert(user_id, member);
            }
            _ => {}
        }
    }

    /// Applies a member event from `/members` (the current state when the server answered),
    /// also for someone already listed, unless sync has since brought something newer.
    pub(crate) fn apply_listed_member(&mut self, event: &Event) {
        if event.kind == EventKind::Member && !self.is_superseded(event) {
            self.apply_state(event);
        }
    }

    /// Applies a member event of an older page of history for someone we know nothing of
    /// yet; what we know of anyone else is newer.
    pub(crate) fn apply_member_if_newer(&mut self, event: &Event) {
        let known = event
            .state_key
            .as_deref()
            .and_then(|key| OwnedUserId::try_from(key).ok())
            .is_some_and(|user| self.members.contains_key(&user));
        if !known {
            self.apply_state(event);
        }
    }

    /// What the room keeps for the stored snapshot.
    pub(crate) fn record(&self) -> &RoomRecord {
        &self.record
    }

    /// The members the server names the room after (`m.heroes`).
    pub(crate) fn heroes(&self) -> &[OwnedUserId] {
        &self.heroes
    }

    /// The server's count of joined members, if it sent one.
    pub(crate) fn joined_members(&self) -> Option<u64> {
        self.joined_members
    }

    /// Everyone's latest read receipt.
    pub(crate) fn receipts(&self) -> &BTreeMap<OwnedUserId, OwnedEventId> {
        &self.receipts
    }

    pub(crate) fn timeline_mut(&mut self) -> &mut Timeline {
        &mut self.timeline
    }

    pub(crate) fn bump_activity(&mut self, ts: MilliSecondsSinceUnixEpoch) {
        if self.last_activity < Some(ts) {
            self.last_activity = Some(ts);
            self.activity_changed = true;
        }
    }

    /// Takes the record of what changed, and whether the room's place in the list may have.
    pub(crate) fn take_changes(&mut self) -> (RoomChanges, bool) {
        let mut changes = std::mem::take(&mut self.changes);
        changes.timeline.extend(self.timeline.take_diffs());
        (changes, std::mem::take(&mut self.activity_changed))
    }

    /// The item with this key, as [`Self::items`] shows it but without read receipts (see
    /// [`Self::receipts_by_key`]).
    pub fn item_by_key(&self, key: &str, own: &UserId) -> Option<TimelineItem> {
        let mut item = self.timeline.item_by_key(key)?;
        self.finish(&mut item, own);
        Some(item)
    }

    /// Who has read up to each item (not counting us), by item key.
    pub fn receipts_by_key(
        &self,
        own: &UserId,
    ) -> std::collections::HashMap<String, Vec<OwnedUserId>> {
        let mut by_key: std::collections::HashMap<String, Vec<OwnedUserId>> =
            std::collections::HashMap::new();
        for (user, event_id) in &self.receipts {
            if user == own {
                continue;
            }
            if let Some(key) = self.timeline.key_of(self.timeline.anchor(event_id)) {
                by_key.entry(key).or_default().push(user.clone());
            }
        }
        by_key
    }

    /// The newest message-like item as `own` sees it, for the room list's preview (see
    /// [`crate::timeline::Timeline::latest_message_like`]).
    pub fn latest_message(&self, own: &UserId) -> Option<TimelineItem> {
        let mut item = self.timeline.latest_message_like()?;
        self.finish(&mut item, own);
        Some(item)
    }

    /// Fills in what depends on who we are: our reactions, a call's line.
    fn finish(&self, item: &mut TimelineItem, own: &UserId) {
        self.timeline.mark_own_reactions(item, own);
        if let Some(call) = item
            .call_id
            .as_deref()
            .and_then(|id| self.timeline.call(id))
        {
            item.body = call.summary(own);
        }
    }
}

/// The event as it really is, after decryption.
fn decrypted_event(event: &Event, decrypted: &Decrypted) -> Event {
    let content = serde_json::value::to_raw_value(&decrypted.content)
        .unwrap_or_else(|_| RawValue::from_string("{}".to_owned()).expect("valid JSON"));
    Event {
        kind: EventKind::from(decrypted.event_type.clone()),
        sender: event.sender.clone(),
        event_id: event.event_id.clone(),
        origin_server_ts: event.origin_server_ts,
        state_key: None,
        content,
        redacts: None,
        unsigned: Unsigned {
            transaction_id: event.unsigned.transaction_id.clone(),
            redacted_because: event.unsigned.redacted_because.clone(),
            age: event.unsigned.age,
            ..Unsigned::default()
        },
    }
}

/// Notes on the item that it came encrypted, and from what kind of device.
fn mark_encrypted(mut incoming: Incoming, decrypted: &Decrypted) -> Incoming {
    if let Incoming::Item(item)
    | Incoming::Call {
        shown: Some(item), ..
    } = &mut incoming
    {
        item.encrypted = true;
        item.sender_cross_signed = decrypted.cross_signed;
    }
    incoming
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

    #[test]
    fn superseded_state_ids_are_bounded_keeping_the_newest() {
        let id = |n: usize| -> OwnedEventId { format!("$e{n}").try_into().unwrap() };
        let mut superseded = Superseded::default();
        for n in 0..Superseded::CAP * 3 {
            superseded.insert(id(n));
            superseded.insert(id(n)); // a repeat takes no second place
        }
        assert_eq!(superseded.ids.len(), Superseded::CAP);
        assert_eq!(superseded.order.len(), Superseded::CAP);
        assert!(!superseded.contains(&id(Superseded::CAP * 2 - 1)));
        assert!((Superseded::CAP * 2..Superseded::CAP * 3).all(|n| superseded.contains(&id(n))));
    }
}
