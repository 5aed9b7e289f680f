//! What a room keeps of its sync data for the engine's stored snapshot
//! (`engine/stored.rs` writes it out): its current state events and newest timeline
//! batches, as received.

use std::collections::{BTreeMap, VecDeque};

use ruma::{EventId, MilliSecondsSinceUnixEpoch, UserId};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::{
    event::Event,
    sync::{RawEvent, Timeline},
};

/// Timeline events stored per room (whole sync batches, newest first, at least one batch).
pub(crate) const STORED_EVENTS: usize = 50;
/// Events kept in memory per room for the next snapshot before whole old batches go.
const KEPT_EVENTS: usize = 2 * STORED_EVENTS;

/// One sync batch of a room's timeline as received.
#[derive(Clone, Debug)]
struct Batch {
    prev_batch: Option<String>,
    events: Vec<RawEvent>,
}

/// What a room keeps of its sync data for the next snapshot.
#[derive(Clone, Debug, Default)]
pub(crate) struct RoomRecord {
    /// The current state events, by (type, state key), as applied.
    pub(crate) state: BTreeMap<(String, String), RawEvent>,
    /// The newest sync batches, oldest first; a limited sync starts over.
    batches: VecDeque<Batch>,
}

impl RoomRecord {
    /// Notes a state event the room applied (it replaces the one of its type and key).
    pub(crate) fn note_state(&mut self, event: &Event) {
        let Some(state_key) = &event.state_key else {
            return;
        };
        let out = StateOut {
            kind: event.kind.as_str(),
            sender: &event.sender,
            event_id: event.event_id.as_deref(),
            origin_server_ts: event.origin_server_ts,
            state_key,
            content: &event.content,
        };
        if let Ok(raw) = serde_json::value::to_raw_value(&out) {
            self.state
                .insert((event.kind.as_str().to_owned(), state_key.clone()), raw);
        }
    }

    /// Notes a sync's timeline; `restart` when the room's timeline starts over with it
    /// (the room's first sync, or a limited one).
    pub(crate) fn note_timeline(&mut self, timeline: &Timeline, restart: bool) {
        if restart {
            self.batches.clear();
        }
        if timeline.events.is_empty() {
            return;
        }
        self.batches.push_back(Batch {
            prev_batch: timeline.prev_batch.clone(),
            events: timeline.events.clone(),
        });
        let mut total: usize = self.batches.iter().map(|b| b.events.len()).sum();
        while total > KEPT_EVENTS && self.batches.len() > 1 {
            total -= self.batches.pop_front().map_or(0, |b| b.events.len());
        }
    }

    /// The newest whole batches up to `max` events (at least one batch): where the window
    /// starts and its events, oldest first.
    pub(crate) fn window(&self, max: usize) -> (Option<&str>, Vec<&RawValue>) {
        let mut count = 0;
        let mut start = self.batches.len();
        for (i, batch) in self.batches.iter().enumerate().rev() {
            if start != self.batches.len() && count + batch.events.len() > max {
                break;
            }
            count += batch.events.len();
            start = i;
        }
        let prev_batch = self
            .batches
            .get(start)
            .and_then(|b| b.prev_batch.as_deref());
        let events = self
            .batches
            .iter()
            .skip(start)
            .flat_map(|b| b.events.iter().map(AsRef::as_ref))
            .collect();
        (prev_batch, events)
    }
}

/// A state event written back in the client-server format.
#[derive(Serialize)]
struct StateOut<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    sender: &'a UserId,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<&'a EventId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin_server_ts: Option<MilliSecondsSinceUnixEpoch>,
    state_key: &'a str,
    content: &'a RawValue,
}
