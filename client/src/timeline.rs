//! A room's timeline: remote events in server order, then our own not-yet-confirmed messages,
//! plus the relations that change how items look (edits, reactions, redactions).
//!
//! Local echoes live in a separate list so that they always stay at the bottom until the
//! server's copy of the event (the remote echo) arrives and takes their place. Relations are
//! kept in maps keyed by their target and applied when the timeline is read, so it does not
//! matter whether an edit or reaction arrives before its target (as with back-pagination).

use std::collections::{HashMap, HashSet};

pub use crate::crypto::{UtdReason, WithheldCode};
use crate::{
    call::wording::{self, Outcome},
    changes::ItemDiff,
    media::{Media, Mxc},
};
use ruma::{MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedTransactionId, OwnedUserId, UserId};

/// Delivery state of an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SendState {
    /// On the server: either received through sync or acknowledged by the send response.
    Sent,
    /// Waiting for the send request to finish.
    Pending,
    /// The send request failed; it can be retried with the same transaction ID.
    Failed,
}

/// What an item shows, which decides how it is styled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ItemKind {
    /// A message someone wrote; `body` is its text.
    Message,
    /// An `m.emote` ("/me waves"); `body` is the action without the name.
    Emote,
    /// An `m.notice`: a message from a bot.
    Notice,
    /// A membership or room-setting change described in words, e.g. "alice joined the room".
    State,
    /// An `m.room.encrypted` event we cannot decrypt (yet); [`TimelineItem::utd`] says why.
    /// It turns into what it really is, in place, when its key arrives.
    Encrypted,
    /// A message that was deleted.
    Redacted,
}

/// Reactions with one key on one item.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Reaction {
    /// The reaction, usually an emoji.
    pub key: String,
    /// Who reacted, in the order they did.
    pub senders: Vec<OwnedUserId>,
    /// Our own reaction's event ID, to take it back; `None` if we did not react (or ours is
    /// still being sent).
    pub own_event: Option<OwnedEventId>,
    /// Whether we reacted (possibly still sending).
    pub own: bool,
}

/// One entry of a timeline as the UI shows it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct TimelineItem {
    /// Server-assigned ID; `None` for a local echo the server hasn't acknowledged yet.
    pub event_id: Option<OwnedEventId>,
    /// The transaction ID for messages sent from this device.
    pub txn_id: Option<OwnedTransactionId>,
    /// Who sent it.
    pub sender: OwnedUserId,
    /// The sender's display name when the event was received (localpart as a fallback).
    pub sender_name: String,
    /// How to present `body`.
    pub kind: ItemKind,
    /// Plain text to show (reply fallback removed).
    pub body: String,
    /// The message's HTML (`formatted_body`), reply fallback removed. **Untrusted**: it must
    /// go through the sanitiser before it reaches the page.
    pub html: Option<String>,
    /// The event this one replies to.
    pub reply_to: Option<OwnedEventId>,
    /// Users the message mentions explicitly (`m.mentions`).
    pub mentions: Vec<OwnedUserId>,
    /// Whether it was edited (body and html then show the latest edit).
    pub edited: bool,
    /// Reactions, in the order their keys first appeared.
    pub reactions: Vec<Reaction>,
    /// Users whose read receipt is at this item (not counting us).
    pub read_by: Vec<OwnedUserId>,
    /// When it was sent (the local clock for local echoes).
    pub origin_server_ts: MilliSecondsSinceUnixEpoch,
    /// Whether it reached the server.
    pub send_state: SendState,
    /// The file of an image, video, audio or file message.
    pub media: Option<Media>,
    /// The sender's picture when the event was received.
    pub sender_avatar: Option<Mxc>,
    /// For a call's line in the history: the call, whose later events change `body`.
    pub call_id: Option<String>,
    /// It came encrypted (sent or received through Megolm).
    pub encrypted: bool,
    /// Encrypted, and the sending device is cross-signed by its owner (for shields).
    pub sender_cross_signed: bool,
    /// Why an [`ItemKind::Encrypted`] item could not be decrypted.
    pub utd: Option<UtdReason>,
}

impl TimelineItem {
    /// A message-like item from `sender`, sent and plain.
    pub(crate) fn new(
        sender: OwnedUserId,
        sender_name: String,
        kind: ItemKind,
        body: String,
        origin_server_ts: MilliSecondsSinceUnixEpoch,
    ) -> Self {
        Self {
            event_id: None,
            txn_id: None,
            sender,
            sender_name,
            kind,
            body,
            html: None,
            reply_to: None,
            mentions: Vec::new(),
            edited: false,
            reactions: Vec::new(),
            read_by: Vec::new(),
            origin_server_ts,
            send_state: SendState::Sent,
            media: None,
            sender_avatar: None,
            call_id: None,
            encrypted: false,
            sender_cross_signed: false,
            utd: None,
        }
    }

    /// A key that stays the same when a local echo is replaced by its remote echo, so a list
    /// renderer can keep the element.
    pub fn key(&self) -> String {
        match (&self.txn_id, &self.event_id) {
            (Some(txn_id), _) => format!("txn:{txn_id}"),
            (None, Some(event_id)) => event_id.to_string(),
            (None, None) => String::new(),
        }
    }

    /// Whether people can edit, reply to, react to or delete it.
    pub fn is_message(&self) -> bool {
        matches!(
            self.kind,
            ItemKind::Message | ItemKind::Emote | ItemKind::Notice
        )
    }
}

/// The latest replacement of a message (`m.replace`).
#[derive(Clone, Debug)]
pub(crate) struct Edit {
    pub sender: OwnedUserId,
    pub ts: MilliSecondsSinceUnixEpoch,
    pub kind: ItemKind,
    pub body: String,
    pub html: Option<String>,
}

/// One reaction event.
#[derive(Clone, Debug)]
pub(crate) struct ReactionEntry {
    pub target: OwnedEventId,
    pub key: String,
    pub sender: OwnedUserId,
    pub event_id: Option<OwnedEventId>,
    pub txn_id: Option<OwnedTransactionId>,
}

/// A timeline event, sorted by what it does to the timeline.
#[derive(Clone, Debug)]
pub(crate) enum Incoming {
    /// Something shown as its own item.
    Item(TimelineItem),
    /// An edit of `target`.
    Edit {
        event_id: OwnedEventId,
        target: OwnedEventId,
        edit: Edit,
    },
    /// A reaction.
    Reaction(ReactionEntry),
    /// `target` was deleted.
    Redaction {
        event_id: OwnedEventId,
        target: OwnedEventId,
    },
    /// An event not shown at all (still counts for read receipts).
    Hidden(OwnedEventId),
    /// An `m.call.*` event: it updates the call's record; the invite is also shown.
    Call {
        event_id: OwnedEventId,
        call_id: String,
        sender: OwnedUserId,
        update: CallUpdate,
        shown: Option<TimelineItem>,
    },
}

/// What one call event says about its call.
#[derive(Clone, Debug)]
pub(crate) enum CallUpdate {
    Invite {
        caller: OwnedUserId,
        invitee: Option<OwnedUserId>,
        video: bool,
        at: u64,
    },
    Answer {
        at: u64,
    },
    Hangup {
        at: u64,
        reason: String,
    },
    Reject {
        at: u64,
    },
}

impl CallUpdate {
    fn at(&self) -> u64 {
        match self {
            Self::Invite { at, .. }
            | Self::Answer { at }
            | Self::Hangup { at, .. }
            | Self::Reject { at } => *at,
        }
    }
}

/// What the timeline knows of one call: its events with their senders. They may arrive in
/// any order (back-pagination brings the hangup before the invite), so they are kept and
/// judged together when the line is read.
#[derive(Clone, Debug, Default)]
pub(crate) struct CallRecord {
    events: Vec<(OwnedUserId, CallUpdate)>,
}

impl CallRecord {
    fn apply(&mut self, sender: OwnedUserId, update: CallUpdate) {
        self.events.push((sender, update));
    }

    /// The call's line as `own` sees it: "Call ended · 3:12", "Missed call", …
    ///
    /// Only the two parties count: the caller, and the invitee (or, for invites without
    /// one, whoever answered or rejected first). A reject after an answer is ignored, as the
    /// spec says; anyone else's call events change nothing.
    pub fn summary(&self, own: &UserId) -> String {
        let Some((caller, invitee, video)) =
            self.events.iter().find_map(|(_, update)| match update {
                CallUpdate::Invite {
                    caller,
                    invitee,
                    video,
                    ..
                } => Some((caller, invitee.as_ref(), *video)),
                _ => None,
            })
        else {
            return String::new();
        };
        // The callee's first response decides (a reject after an answer is ignored). An
        // invite naming its invitee (a DM) counts only theirs; otherwise whoever responded
        // first. No sorting: a sort would add kilobytes to the wasm for a handful of events.
        let first = |wanted: &dyn Fn(&OwnedUserId, &CallUpdate) -> bool| {
            self.events
                .iter()
                .filter(|(sender, update)| wanted(sender, update))
                .min_by_key(|(_, update)| update.at())
        };
        let response = first(&|sender, update| {
            matches!(
                update,
                CallUpdate::Answer { .. } | CallUpdate::Reject { .. }
            ) && sender != caller
                && invitee.is_none_or(|invitee| invitee == sender)
        });
        let callee = response.map(|(sender, _)| sender);
        let answered_at = match response {
            Some((_, CallUpdate::Answer { at })) => Some(*at),
            _ => None,
        };
        let rejected_by = match response {
            Some((sender, CallUpdate::Reject { .. })) => Some(sender),
            _ => None,
        };
        let ended = first(&|sender, update| {
            // Version 0 callees decline with a hangup, so the invitee's counts too.
            matches!(update, CallUpdate::Hangup { .. })
                && (sender == caller || Some(sender) == callee || Some(sender) == invitee)
        })
        .and_then(|(_, update)| match update {
            CallUpdate::Hangup { at, reason } => Some((*at, reason.as_str())),
            _ => None,
        });
        let ours = caller == own;
        let outcome = match (answered_at, ended, rejected_by) {
            (_, _, Some(by)) => Outcome::Declined { by_us: by == own },
            (Some(answered), Some((ended, _)), _) => Outcome::Ended {
                lasted_ms: Some(ended.saturating_sub(answered)),
            },
            (Some(_), None, _) => Outcome::InProgress,
            (None, Some((_, "invite_timeout")), _) if ours => Outcome::NoAnswer,
            (None, Some(_), _) if ours => Outcome::Cancelled,
            (None, Some(_), _) => Outcome::Missed,
            (None, None, _) if ours => Outcome::Calling,
            (None, None, _) => Outcome::Incoming,
        };
        wording::words(outcome, video)
    }
}

/// The items of one room.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    remote: Vec<TimelineItem>,
    local: Vec<TimelineItem>,
    seen: HashSet<OwnedEventId>,
    edits: HashMap<OwnedEventId, Vec<Edit>>,
    reactions: HashMap<OwnedEventId, Vec<ReactionEntry>>,
    redacted: HashSet<OwnedEventId>,
    /// Hidden events → the shown item just before them, so receipts on hidden events
    /// (a reaction, an edit) show on something visible.
    anchors: HashMap<OwnedEventId, OwnedEventId>,
    /// Calls by `call_id`, for their lines in the history.
    calls: HashMap<String, CallRecord>,
    /// What changed since the engine last took it (see [`crate::changes`]).
    diffs: Vec<ItemDiff>,
}

impl Timeline {
    /// All items as the UI shows them: oldest first, local echoes last, with edits,
    /// reactions and redactions applied.
    pub fn items(&self) -> Vec<TimelineItem> {
        self.remote
            .iter()
            .chain(&self.local)
            .map(|item| self.compose(item))
            .collect()
    }

    /// Number of items, including local echoes.
    pub fn len(&self) -> usize {
        self.remote.len() + self.local.len()
    }

    /// Whether there is nothing to show.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether an event with this ID was already received.
    pub fn contains(&self, event_id: &OwnedEventId) -> bool {
        self.seen.contains(event_id)
    }

    /// One item as shown, by event ID.
    pub fn item(&self, event_id: &OwnedEventId) -> Option<TimelineItem> {
        self.remote
            .iter()
            .chain(&self.local)
            .find(|item| item.event_id.as_ref() == Some(event_id))
            .map(|item| self.compose(item))
    }

    /// The newest item from the server, for read receipts.
    pub fn latest_remote(&self) -> Option<&TimelineItem> {
        self.remote.last()
    }

    /// Our newest message, for the Up-arrow shortcut; `None` while it is still being sent
    /// (an older one must not be edited by mistake).
    pub fn last_editable_by(&self, user: &UserId) -> Option<TimelineItem> {
        self.remote
            .iter()
            .chain(&self.local)
            .rev()
            .map(|item| self.compose(item))
            .find(|item| item.sender == user && item.is_message())
            .filter(|item| item.event_id.is_some())
    }

    /// The newest item a room list preview shows, as shown: a message, a call's line, or a
    /// deleted or undecryptable message; never a room change ("alice joined the room").
    pub fn latest_message_like(&self) -> Option<TimelineItem> {
        self.remote
            .iter()
            .chain(&self.local)
            .rev()
            .find(|item| item.kind != ItemKind::State || item.call_id.is_some())
            .map(|item| self.compose(item))
    }

    /// The shown item a (possibly hidden) event stands at.
    pub(crate) fn anchor<'a>(&'a self, event_id: &'a OwnedEventId) -> &'a OwnedEventId {
        self.anchors.get(event_id).unwrap_or(event_id)
    }

    /// Appends newer events from the server. Returns `false` for an already-seen event:
    /// syncs may repeat events, e.g. after a retried request.
    pub(crate) fn push_back(&mut self, incoming: Incoming) -> bool {
        let anchor = self.remote.last().and_then(|item| item.event_id.clone());
        let Some(placed) = self.insert(incoming, anchor) else {
            return false;
        };
        if let Some((item, echo)) = placed {
            let key = item.key();
            self.diffs.push(if echo {
                ItemDiff::Confirmed(key)
            } else {
                ItemDiff::PushBack(key)
            });
            self.remote.push(item);
        }
        true
    }

    /// Prepends older events (from back-pagination), given oldest first.
    pub(crate) fn push_front(&mut self, batch: Vec<Incoming>) {
        let mut older: Vec<TimelineItem> = Vec::new();
        for incoming in batch {
            let anchor = older.last().and_then(|item| item.event_id.clone());
            if let Some(Some((item, _))) = self.insert(incoming, anchor) {
                older.push(item);
            }
        }
        if !older.is_empty() {
            self.diffs.push(ItemDiff::PushFront(
                older.iter().map(TimelineItem::key).collect(),
            ));
        }
        older.append(&mut self.remote);
        self.remote = older;
    }

    /// Takes the record of what changed.
    pub(crate) fn take_diffs(&mut self) -> Vec<ItemDiff> {
        std::mem::take(&mut self.diffs)
    }

    /// Records that the shown item of `event_id`, if loaded, changed.
    fn touch(&mut self, event_id: &OwnedEventId) {
        let found = self
            .remote
            .iter()
            .rev()
            .chain(&self.local)
            .find(|item| item.event_id.as_ref() == Some(event_id));
        if let Some(item) = found {
            let key = item.key();
            self.diffs.push(ItemDiff::Update(key));
        }
    }

    /// Records that the line of call `call_id` changed.
    fn touch_call(&mut self, call_id: &str) {
        if let Some(item) = self
            .remote
            .iter()
            .find(|item| item.call_id.as_deref() == Some(call_id))
        {
            let key = item.key();
            self.diffs.push(ItemDiff::Update(key));
        }
    }

    /// The item with this [`TimelineItem::key`], as shown.
    pub fn item_by_key(&self, key: &str) -> Option<TimelineItem> {
        self.remote
            .iter()
            .rev()
            .chain(&self.local)
            .find(|item| has_key(item, key))
            .map(|item| self.compose(item))
    }

    /// The keys of all items, in the order [`Self::items`] gives them.
    pub fn keys(&self) -> Vec<String> {
        self.remote
            .iter()
            .chain(&self.local)
            .map(TimelineItem::key)
            .collect()
    }

    /// The key of the shown item of `event_id`.
    pub(crate) fn key_of(&self, event_id: &OwnedEventId) -> Option<String> {
        self.remote
            .iter()
            .chain(&self.local)
            .find(|item| item.event_id.as_ref() == Some(event_id))
            .map(TimelineItem::key)
    }

    /// Forgets the server's items (after a gap), keeping local echoes and relations.
    /// Puts what an undecryptable event turned out to be in its place (its key arrived):
    /// an item replaces the placeholder; a relation (edit, reaction, redaction) takes the
    /// placeholder away and applies.
    pub(crate) fn replace(&mut self, event_id: &OwnedEventId, incoming: Incoming) {
        let Some(pos) = self
            .remote
            .iter()
            .position(|item| item.event_id.as_ref() == Some(event_id))
        else {
            return;
        };
        let key = self.remote[pos].key();
        let remove = |timeline: &mut Self| {
            timeline
                .diffs
                .push(ItemDiff::Remove(timeline.remote[pos].key()));
            timeline.remote.remove(pos);
            if let Some(anchor) = pos
                .checked_sub(1)
                .and_then(|before| timeline.remote[before].event_id.clone())
            {
                timeline.anchors.insert(event_id.clone(), anchor);
            }
        };
        match incoming {
            Incoming::Item(mut item) => {
                self.local
                    .retain(|local| item.txn_id.is_none() || local.txn_id != item.txn_id);
                // Keep the key the view knows the placeholder by.
                if item.txn_id.is_none() {
                    item.txn_id = self.remote[pos].txn_id.clone();
                }
                self.remote[pos] = item;
                self.diffs.push(ItemDiff::Update(key));
            }
            Incoming::Call {
                call_id,
                sender,
                update,
                shown,
                ..
            } => {
                self.calls
                    .entry(call_id.clone())
                    .or_default()
                    .apply(sender, update);
                match shown {
                    Some(mut item) => {
                        if item.txn_id.is_none() {
                            item.txn_id = self.remote[pos].txn_id.clone();
                        }
                        self.remote[pos] = item;
                        self.diffs.push(ItemDiff::Update(key));
                    }
                    None => {
                        remove(self);
                        self.touch_call(&call_id);
                    }
                }
            }
            Incoming::Edit { target, edit, .. } => {
                remove(self);
                self.add_edit(target, edit);
            }
            Incoming::Reaction(entry) => {
                remove(self);
                self.add_reaction(entry);
            }
            Incoming::Redaction { target, .. } => {
                remove(self);
                self.redact(target);
            }
            Incoming::Hidden(_) => remove(self),
        }
    }

    /// Updates why an undecryptable item is undecryptable (a withheld notice came).
    pub(crate) fn set_utd(&mut self, event_id: &OwnedEventId, reason: UtdReason) {
        if let Some(item) = self
            .remote
            .iter_mut()
            .find(|item| item.event_id.as_ref() == Some(event_id))
            && item.kind == ItemKind::Encrypted
        {
            item.utd = Some(reason);
            item.body = reason.describe().to_owned();
            let key = item.key();
            self.diffs.push(ItemDiff::Update(key));
        }
    }

    pub(crate) fn clear_remote(&mut self) {
        self.diffs.push(ItemDiff::Reset);
        self.remote.clear();
        self.seen.clear();
        self.anchors.clear();
    }

    /// Records a new event: relations apply at once; an item is handed back to place, with
    /// whether it is the remote echo of a local one. `None` for an event already seen.
    fn insert(
        &mut self,
        incoming: Incoming,
        anchor: Option<OwnedEventId>,
    ) -> Option<Option<(TimelineItem, bool)>> {
        let event_id = match &incoming {
            Incoming::Item(item) => item.event_id.clone(),
            Incoming::Edit { event_id, .. }
            | Incoming::Redaction { event_id, .. }
            | Incoming::Hidden(event_id) => Some(event_id.clone()),
            Incoming::Reaction(entry) => entry.event_id.clone(),
            Incoming::Call { event_id, .. } => Some(event_id.clone()),
        };
        let event_id = event_id?;
        if !self.seen.insert(event_id.clone()) {
            return None;
        }
        let shown = matches!(
            incoming,
            Incoming::Item(_) | Incoming::Call { shown: Some(_), .. }
        );
        if !shown && let Some(anchor) = anchor {
            self.anchors.insert(event_id.clone(), anchor);
        }
        Some(match incoming {
            Incoming::Item(mut item) => {
                // The server only echoes `transaction_id` to the sending device, and some
                // servers omit it; the event ID from the send response covers that case.
                let echo = |local: &TimelineItem| {
                    let same_txn = item.txn_id.is_some() && local.txn_id == item.txn_id;
                    same_txn || local.event_id.as_ref() == Some(&event_id)
                };
                let local_txn = self
                    .local
                    .iter()
                    .find(|local| echo(local))
                    .map(|local| local.txn_id.clone());
                self.local.retain(|local| !echo(local));
                // The remote echo keeps its local echo's key, so the view keeps its element.
                if item.txn_id.is_none() {
                    item.txn_id = local_txn.clone().flatten();
                }
                Some((item, local_txn.is_some()))
            }
            Incoming::Edit { target, edit, .. } => {
                self.add_edit(target, edit);
                None
            }
            Incoming::Reaction(entry) => {
                self.add_reaction(entry);
                None
            }
            Incoming::Redaction { target, .. } => {
                self.redact(target);
                None
            }
            Incoming::Hidden(_) => None,
            Incoming::Call {
                call_id,
                sender,
                update,
                shown,
                ..
            } => {
                self.calls
                    .entry(call_id.clone())
                    .or_default()
                    .apply(sender, update);
                if shown.is_none() {
                    self.touch_call(&call_id);
                }
                shown.map(|item| (item, false))
            }
        })
    }

    /// The record of a call, for its line.
    pub(crate) fn call(&self, call_id: &str) -> Option<&CallRecord> {
        self.calls.get(call_id)
    }

    pub(crate) fn add_edit(&mut self, target: OwnedEventId, edit: Edit) {
        self.touch(&target);
        self.edits.entry(target).or_default().push(edit);
    }

    pub(crate) fn add_reaction(&mut self, entry: ReactionEntry) {
        self.touch(&entry.target.clone());
        let list = self.reactions.entry(entry.target.clone()).or_default();
        // The remote echo of our own reaction replaces its local echo.
        list.retain(|old| {
            let same_txn = entry.txn_id.is_some() && old.txn_id == entry.txn_id;
            let same_event = entry.event_id.is_some() && old.event_id == entry.event_id;
            !same_txn && !same_event
        });
        list.push(entry);
    }

    /// Records the send response of our reaction.
    pub(crate) fn reaction_sent(&mut self, txn_id: &OwnedTransactionId, event_id: OwnedEventId) {
        let mut targets = Vec::new();
        for entry in self.reactions.values_mut().flatten() {
            if entry.txn_id.as_ref() == Some(txn_id) && entry.event_id.is_none() {
                entry.event_id = Some(event_id.clone());
                targets.push(entry.target.clone());
            }
        }
        for target in &targets {
            self.touch(target);
        }
    }

    /// Drops a reaction that failed to send.
    pub(crate) fn reaction_failed(&mut self, txn_id: &OwnedTransactionId) {
        let mut targets = Vec::new();
        for (target, list) in &mut self.reactions {
            let before = list.len();
            list.retain(|entry| entry.txn_id.as_ref() != Some(txn_id) || entry.event_id.is_some());
            if list.len() != before {
                targets.push(target.clone());
            }
        }
        for target in &targets {
            self.touch(target);
        }
    }

    /// Marks an event deleted: a message becomes "Message deleted", a reaction disappears.
    pub(crate) fn redact(&mut self, target: OwnedEventId) {
        let mut reacted_to = Vec::new();
        for (reacted, list) in &mut self.reactions {
            let before = list.len();
            list.retain(|entry| entry.event_id.as_ref() != Some(&target));
            if list.len() != before {
                reacted_to.push(reacted.clone());
            }
        }
        for reacted in &reacted_to {
            self.touch(reacted);
        }
        self.touch(&target);
        self.redacted.insert(target);
    }

    /// Takes back a redaction that failed to send.
    pub(crate) fn unredact(&mut self, target: &OwnedEventId) {
        self.redacted.remove(target);
        self.touch(target);
    }

    /// Appends a message we are about to send.
    pub(crate) fn push_local(&mut self, item: TimelineItem) {
        self.diffs.push(ItemDiff::PushBack(item.key()));
        self.local.push(item);
    }

    /// Records the send response: the message is on the server under `event_id`.
    pub(crate) fn mark_sent(&mut self, txn_id: &OwnedTransactionId, event_id: OwnedEventId) {
        if self.seen.contains(&event_id) {
            // The remote echo came first but could not be matched by transaction ID.
            let before = self.local.len();
            self.local
                .retain(|item| item.txn_id.as_ref() != Some(txn_id));
            if self.local.len() != before {
                self.diffs.push(ItemDiff::Remove(format!("txn:{txn_id}")));
            }
        } else if let Some(item) = self.local_mut(txn_id) {
            item.event_id = Some(event_id);
            item.send_state = SendState::Sent;
            self.diffs.push(ItemDiff::Update(format!("txn:{txn_id}")));
        }
    }

    /// Sets the send state of a local echo, e.g. `Failed` after an error.
    /// Notes on a local echo that it goes out encrypted.
    pub(crate) fn mark_local_encrypted(&mut self, txn_id: &OwnedTransactionId) {
        if let Some(item) = self.local_mut(txn_id) {
            item.encrypted = true;
            self.diffs.push(ItemDiff::Update(format!("txn:{txn_id}")));
        }
    }

    pub(crate) fn set_send_state(&mut self, txn_id: &OwnedTransactionId, state: SendState) {
        if let Some(item) = self.local_mut(txn_id) {
            item.send_state = state;
            self.diffs.push(ItemDiff::Update(format!("txn:{txn_id}")));
        }
    }

    fn local_mut(&mut self, txn_id: &OwnedTransactionId) -> Option<&mut TimelineItem> {
        self.local
            .iter_mut()
            .find(|item| item.txn_id.as_ref() == Some(txn_id))
    }

    /// An item with its relations applied.
    fn compose(&self, base: &TimelineItem) -> TimelineItem {
        let mut item = base.clone();
        let Some(event_id) = &base.event_id else {
            return item;
        };
        if self.redacted.contains(event_id) {
            item.kind = ItemKind::Redacted;
            item.body = "Message deleted".to_owned();
            item.html = None;
            item.reply_to = None;
            item.media = None;
            item.call_id = None;
            return item;
        }
        if !item.is_message() {
            return item;
        }
        // Only the original sender may edit (the spec's rule; others' edits are ignored).
        let latest_edit = self.edits.get(event_id).and_then(|edits| {
            edits
                .iter()
                .filter(|edit| edit.sender == base.sender)
                .max_by_key(|edit| edit.ts)
        });
        if let Some(edit) = latest_edit {
            item.kind = edit.kind;
            item.body = edit.body.clone();
            item.html = edit.html.clone();
            item.edited = true;
            // A media message's edit replaces its caption (MSC2530).
            if let Some(media) = &mut item.media {
                media.caption = (edit.body != media.filename).then(|| edit.body.clone());
            }
        }
        if let Some(list) = self.reactions.get(event_id) {
            for entry in list {
                let index = match item.reactions.iter().position(|r| r.key == entry.key) {
                    Some(index) => index,
                    None => {
                        item.reactions.push(Reaction {
                            key: entry.key.clone(),
                            senders: Vec::new(),
                            own_event: None,
                            own: false,
                        });
                        item.reactions.len() - 1
                    }
                };
                let reaction = &mut item.reactions[index];
                // One reaction per person and key, however many events they sent.
                if reaction.senders.contains(&entry.sender) {
                    continue;
                }
                reaction.senders.push(entry.sender.clone());
            }
        }
        item
    }

    /// Our reaction to `target` with `key`: `Some(Some(event))` once sent, `Some(None)` while
    /// being sent, `None` if we have not reacted so.
    pub(crate) fn own_reaction(
        &self,
        target: &OwnedEventId,
        key: &str,
        own: &UserId,
    ) -> Option<Option<OwnedEventId>> {
        let list = self.reactions.get(target)?;
        list.iter()
            .find(|e| e.key == key && e.sender == own)
            .map(|e| e.event_id.clone())
    }

    /// Marks which reactions are ours; called by the room, which knows who we are.
    pub(crate) fn mark_own_reactions(&self, item: &mut TimelineItem, own: &UserId) {
        let Some(event_id) = &item.event_id else {
            return;
        };
        let Some(list) = self.reactions.get(event_id) else {
            return;
        };
        for reaction in &mut item.reactions {
            let mine = list
                .iter()
                .find(|e| e.key == reaction.key && e.sender == own);
            reaction.own = mine.is_some();
            reaction.own_event = mine.and_then(|e| e.event_id.clone());
        }
    }
}

/// Whether `item` has this [`TimelineItem::key`], without formatting its key.
fn has_key(item: &TimelineItem, key: &str) -> bool {
    match (key.strip_prefix("txn:"), &item.txn_id, &item.event_id) {
        (Some(txn), Some(own), _) => own.as_str() == txn,
        (None, None, Some(event_id)) => event_id.as_str() == key,
        _ => false,
    }
}

/// What the list layout needs of an item: its key, sender, time and whether it is a room
/// change (state changes never group with messages).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outline {
    pub key: String,
    pub sender: OwnedUserId,
    pub ts: MilliSecondsSinceUnixEpoch,
    pub state: bool,
}

impl Timeline {
    /// Every item's [`Outline`], in order, without composing the items.
    pub fn outline(&self) -> Vec<Outline> {
        self.remote
            .iter()
            .chain(&self.local)
            .map(|item| Outline {
                key: item.key(),
                sender: item.sender.clone(),
                ts: item.origin_server_ts,
                state: item.kind == ItemKind::State,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
