//! A room's timeline: remote events in server order, then our own not-yet-confirmed messages.
//!
//! Local echoes live in a separate list so that they always stay at the bottom until the
//! server's copy of the event (the remote echo) arrives and takes their place.

use std::collections::HashSet;

use ruma::{MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedTransactionId, OwnedUserId};

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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ItemKind {
    /// A message someone wrote; `body` is its text.
    Message,
    /// An `m.emote` ("/me waves"); `body` is the action without the name.
    Emote,
    /// A membership or room-setting change described in words, e.g. "alice joined the room".
    Notice,
    /// An `m.room.encrypted` event we cannot decrypt (yet).
    Encrypted,
    /// A message that was deleted.
    Redacted,
}

/// One entry of a timeline as the UI shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// Plain text to show; never HTML.
    pub body: String,
    /// When it was sent (the local clock for local echoes).
    pub origin_server_ts: MilliSecondsSinceUnixEpoch,
    /// Whether it reached the server.
    pub send_state: SendState,
}

impl TimelineItem {
    /// A key that stays the same when a local echo is replaced by its remote echo, so a list
    /// renderer can keep the element.
    pub fn key(&self) -> String {
        match (&self.txn_id, &self.event_id) {
            (Some(txn_id), _) => format!("txn:{txn_id}"),
            (None, Some(event_id)) => event_id.to_string(),
            (None, None) => String::new(),
        }
    }
}

/// The items of one room.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    remote: Vec<TimelineItem>,
    local: Vec<TimelineItem>,
    seen: HashSet<OwnedEventId>,
}

impl Timeline {
    /// All items, oldest first, local echoes last.
    pub fn items(&self) -> impl Iterator<Item = &TimelineItem> {
        self.remote.iter().chain(&self.local)
    }

    /// Number of items, including local echoes.
    pub fn len(&self) -> usize {
        self.remote.len() + self.local.len()
    }

    /// Whether there is nothing to show.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether an event with this ID is already in the timeline.
    pub fn contains(&self, event_id: &OwnedEventId) -> bool {
        self.seen.contains(event_id)
    }

    /// Timestamp of the newest item, for sorting rooms by activity.
    pub fn latest_ts(&self) -> Option<MilliSecondsSinceUnixEpoch> {
        self.items().map(|item| item.origin_server_ts).max()
    }

    /// Appends an event from the server, replacing its local echo if there is one.
    ///
    /// Returns `false` (and changes nothing) when the event is already present: syncs may
    /// repeat events, e.g. after a retried request.
    pub(crate) fn push_remote(&mut self, item: TimelineItem) -> bool {
        let Some(event_id) = item.event_id.clone() else {
            return false;
        };
        if !self.seen.insert(event_id.clone()) {
            return false;
        }
        // The server only echoes `transaction_id` to the sending device, and some servers
        // omit it; the event ID from the send response covers that case.
        self.local.retain(|local| {
            let same_txn = item.txn_id.is_some() && local.txn_id == item.txn_id;
            !same_txn && local.event_id.as_ref() != Some(&event_id)
        });
        self.remote.push(item);
        true
    }

    /// Appends a message we are about to send.
    pub(crate) fn push_local(&mut self, item: TimelineItem) {
        self.local.push(item);
    }

    /// The local echo for `txn_id`, if it has not been replaced by its remote echo yet.
    pub(crate) fn local(&self, txn_id: &OwnedTransactionId) -> Option<&TimelineItem> {
        self.local
            .iter()
            .find(|item| item.txn_id.as_ref() == Some(txn_id))
    }

    /// Records the send response: the message is on the server under `event_id`.
    pub(crate) fn mark_sent(&mut self, txn_id: &OwnedTransactionId, event_id: OwnedEventId) {
        if self.seen.contains(&event_id) {
            // The remote echo came first but could not be matched by transaction ID.
            self.local
                .retain(|item| item.txn_id.as_ref() != Some(txn_id));
        } else if let Some(item) = self.local_mut(txn_id) {
            item.event_id = Some(event_id);
            item.send_state = SendState::Sent;
        }
    }

    /// Sets the send state of a local echo, e.g. `Failed` after an error.
    pub(crate) fn set_send_state(&mut self, txn_id: &OwnedTransactionId, state: SendState) {
        if let Some(item) = self.local_mut(txn_id) {
            item.send_state = state;
        }
    }

    fn local_mut(&mut self, txn_id: &OwnedTransactionId) -> Option<&mut TimelineItem> {
        self.local
            .iter_mut()
            .find(|item| item.txn_id.as_ref() == Some(txn_id))
    }
}

#[cfg(test)]
mod tests {
    use ruma::UInt;

    use super::*;

    fn item(event_id: Option<&str>, txn_id: Option<&str>, body: &str) -> TimelineItem {
        TimelineItem {
            event_id: event_id.map(|id| id.try_into().unwrap()),
            txn_id: txn_id.map(Into::into),
            sender: "@alice:hs".try_into().unwrap(),
            sender_name: "alice".to_owned(),
            kind: ItemKind::Message,
            body: body.to_owned(),
            origin_server_ts: MilliSecondsSinceUnixEpoch(UInt::from(1u32)),
            send_state: if event_id.is_some() {
                SendState::Sent
            } else {
                SendState::Pending
            },
        }
    }

    #[test]
    fn remote_events_are_deduplicated() {
        let mut timeline = Timeline::default();
        assert!(timeline.push_remote(item(Some("$1"), None, "a")));
        assert!(!timeline.push_remote(item(Some("$1"), None, "a")));
        assert_eq!(timeline.len(), 1);
    }

    #[test]
    fn local_echo_stays_last_until_remote_echo() {
        let mut timeline = Timeline::default();
        timeline.push_local(item(None, Some("t1"), "mine"));
        timeline.push_remote(item(Some("$1"), None, "theirs"));
        let bodies: Vec<_> = timeline.items().map(|item| item.body.as_str()).collect();
        assert_eq!(bodies, ["theirs", "mine"]);

        timeline.push_remote(item(Some("$2"), Some("t1"), "mine"));
        let items: Vec<_> = timeline.items().collect();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].send_state, SendState::Sent);
        assert_eq!(items[1].key(), "txn:t1");
    }

    #[test]
    fn send_response_before_remote_echo_without_txn_id() {
        let mut timeline = Timeline::default();
        let txn: OwnedTransactionId = "t1".into();
        timeline.push_local(item(None, Some("t1"), "mine"));
        timeline.mark_sent(&txn, "$9".try_into().unwrap());
        assert_eq!(timeline.items().next().unwrap().send_state, SendState::Sent);
        timeline.push_remote(item(Some("$9"), None, "mine"));
        assert_eq!(timeline.len(), 1);
    }

    #[test]
    fn remote_echo_before_send_response_without_txn_id() {
        let mut timeline = Timeline::default();
        let txn: OwnedTransactionId = "t1".into();
        timeline.push_local(item(None, Some("t1"), "mine"));
        timeline.push_remote(item(Some("$9"), None, "mine"));
        timeline.mark_sent(&txn, "$9".try_into().unwrap());
        assert_eq!(timeline.len(), 1);
    }
}
