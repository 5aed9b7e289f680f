//! Unread notification counts for `/sync`'s `unread_notifications`.
//!
//! A room's count is the number of events after the user's read point that
//! the user's push rules say notify (and, of those, highlight). The read
//! point is the newest of the user's read receipts and the user's own latest
//! event (your own messages count as read). Counts are evaluated lazily at
//! sync time and cached per user and room, so each event is evaluated at most
//! once per user while the read point stays put.
//!
//! [`Unread`] is a part of [`Services`](super::Services): it holds the cache,
//! the receipt, event and state areas, the account data part (push rules) and
//! the push epoch that says when a cached evaluator is stale.

use std::{
    collections::HashMap,
    future::Future as _,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
};

use ruma::{
    OwnedRoomId, OwnedUserId, RoomId, UInt, UserId,
    events::room::power_levels::{
        RoomPowerLevels, RoomPowerLevelsEventContent, RoomPowerLevelsSource,
    },
    push::{Action, PushConditionPowerLevelsCtx, PushConditionRoomCtx, Ruleset},
    serde::Raw,
};

use super::{account_data::AccountData, pdu::Pdu, room_reader::member_profile};
use crate::{
    error::Result,
    storage::{EventStore, ReceiptStore, StateStore, StoredEvent, StreamPos},
};

/// Newest events looked at when a count is rebuilt; older unread events are
/// not counted (the badge then shows a lower bound, as no one reads 5,000).
const MAX_SCAN: usize = 5_000;
const PAGE: usize = 200;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnreadCounts {
    pub notifications: u64,
    pub highlights: u64,
}

#[derive(Clone)]
struct Entry {
    /// The receipt position the counts were built from.
    receipt: Option<StreamPos>,
    /// Events up to this stream position are counted.
    evaluated_upto: StreamPos,
    counts: UnreadCounts,
    /// The evaluator last used, and the push epoch it was built in.
    evaluator: Option<(u64, Arc<Evaluator>)>,
}

/// The per-user, per-room cache.
#[derive(Default)]
struct UnreadCache {
    entries: Mutex<HashMap<(OwnedUserId, OwnedRoomId), Entry>>,
}

impl UnreadCache {
    fn lock(&self) -> MutexGuard<'_, HashMap<(OwnedUserId, OwnedRoomId), Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Evaluates push rules for one user in one room.
struct Evaluator {
    rules: Ruleset,
    ctx: PushConditionRoomCtx,
}

impl Evaluator {
    /// Whether the event notifies, and whether it highlights.
    fn actions(&self, event: &StoredEvent) -> (bool, bool) {
        let raw: Raw<()> = Raw::from_json(
            match serde_json::value::RawValue::from_string(event.pdu_json.clone()) {
                Ok(raw) => raw,
                Err(_) => return (false, false),
            },
        );
        // Without thread-subscription callbacks ruma's evaluation never
        // awaits anything, so one poll always completes it.
        let future = std::pin::pin!(self.rules.get_actions(&raw, &self.ctx));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match future.poll(&mut cx) {
            std::task::Poll::Ready(actions) => (
                actions.iter().any(Action::should_notify),
                actions.iter().any(Action::is_highlight),
            ),
            std::task::Poll::Pending => (false, false),
        }
    }
}

/// Unread notification counts, per user and room.
pub struct Unread {
    cache: UnreadCache,
    receipts: Arc<dyn ReceiptStore>,
    events: Arc<dyn EventStore>,
    state: Arc<dyn StateStore>,
    account_data: Arc<AccountData>,
    /// Bumped whenever something push rules read may have changed.
    push_epoch: Arc<AtomicU64>,
}

impl Unread {
    pub(super) fn new(
        receipts: Arc<dyn ReceiptStore>,
        events: Arc<dyn EventStore>,
        state: Arc<dyn StateStore>,
        account_data: Arc<AccountData>,
        push_epoch: Arc<AtomicU64>,
    ) -> Self {
        Self {
            cache: UnreadCache::default(),
            receipts,
            events,
            state,
            account_data,
            push_epoch,
        }
    }

    fn unread_cache(&self) -> &UnreadCache {
        &self.cache
    }

    fn push_epoch(&self) -> u64 {
        self.push_epoch.load(Ordering::Acquire)
    }

    /// The user's unread counts in a room, as of stream position `upto`.
    pub fn unread_counts(
        &self,
        user: &UserId,
        room_id: &RoomId,
        upto: StreamPos,
    ) -> Result<UnreadCounts> {
        let receipt = self.receipts.read_up_to(room_id, user)?;
        let key = (user.to_owned(), room_id.to_owned());
        let cached = self.unread_cache().lock().get(&key).cloned();
        let entry = match cached {
            Some(e) if e.receipt == receipt && e.evaluated_upto >= upto => return Ok(e.counts),
            Some(e) if e.receipt == receipt => self.count_forward(user, room_id, e, upto)?,
            cached => {
                let evaluator = cached.and_then(|e| e.evaluator);
                self.count_back(user, room_id, receipt, upto, evaluator)?
            }
        };
        let counts = entry.counts;
        let mut entries = self.unread_cache().lock();
        match entries.get_mut(&key) {
            // Two syncs of the same user may race; keep the further-evaluated one.
            Some(slot)
                if slot.receipt == entry.receipt && slot.evaluated_upto >= entry.evaluated_upto => {
            }
            Some(slot) => *slot = entry,
            None => {
                entries.insert(key, entry);
            }
        }
        Ok(counts)
    }

    /// The evaluator to use now: the cached one unless room state or push
    /// rules changed since it was built.
    fn current_evaluator(
        &self,
        user: &UserId,
        room_id: &RoomId,
        cached: &mut Option<(u64, Arc<Evaluator>)>,
    ) -> Result<Arc<Evaluator>> {
        let epoch = self.push_epoch();
        if let Some((built, evaluator)) = cached.as_ref()
            && *built == epoch
        {
            return Ok(evaluator.clone());
        }
        let evaluator = Arc::new(self.evaluator(user, room_id)?);
        *cached = Some((epoch, evaluator.clone()));
        Ok(evaluator)
    }

    /// Rebuilds counts from scratch: newest first, down to the read receipt
    /// or the user's own latest event.
    fn count_back(
        &self,
        user: &UserId,
        room_id: &RoomId,
        receipt: Option<StreamPos>,
        upto: StreamPos,
        mut cached: Option<(u64, Arc<Evaluator>)>,
    ) -> Result<Entry> {
        let mut counts = UnreadCounts::default();
        let after = receipt.unwrap_or(StreamPos::ZERO);
        let mut evaluator: Option<Arc<Evaluator>> = None;
        let mut cursor = upto;
        let mut scanned = 0;
        'scan: while scanned < MAX_SCAN {
            let page = self.events.room_events_desc(room_id, after, cursor, PAGE)?;
            let exhausted = page.len() < PAGE;
            for event in &page {
                scanned += 1;
                cursor = event.stream - 1;
                let Ok(pdu) = Pdu::from_stored(event) else {
                    continue;
                };
                if pdu.sender == user {
                    break 'scan;
                }
                if event.redacted_by.is_some() {
                    continue;
                }
                let evaluator = match &evaluator {
                    Some(e) => e,
                    None => evaluator.insert(self.current_evaluator(user, room_id, &mut cached)?),
                };
                add(&mut counts, evaluator.actions(event));
            }
            if exhausted {
                break;
            }
        }
        Ok(Entry {
            receipt,
            evaluated_upto: upto,
            counts,
            evaluator: cached,
        })
    }

    /// Adds events after what the entry has counted.
    fn count_forward(
        &self,
        user: &UserId,
        room_id: &RoomId,
        mut entry: Entry,
        upto: StreamPos,
    ) -> Result<Entry> {
        let mut evaluator: Option<Arc<Evaluator>> = None;
        loop {
            let page = self
                .events
                .room_events_asc(room_id, entry.evaluated_upto, upto, PAGE)?;
            let exhausted = page.len() < PAGE;
            for event in &page {
                entry.evaluated_upto = event.stream;
                let Ok(pdu) = Pdu::from_stored(event) else {
                    continue;
                };
                if pdu.sender == user {
                    entry.counts = UnreadCounts::default();
                    continue;
                }
                let evaluator = match &evaluator {
                    Some(e) => e,
                    None => evaluator.insert(self.current_evaluator(
                        user,
                        room_id,
                        &mut entry.evaluator,
                    )?),
                };
                add(&mut entry.counts, evaluator.actions(event));
            }
            if exhausted {
                break;
            }
        }
        entry.evaluated_upto = upto;
        Ok(entry)
    }

    fn evaluator(&self, user: &UserId, room_id: &RoomId) -> Result<Evaluator> {
        let members = self.state.joined_members(room_id)?;
        let display_name = member_profile(&*self.state, room_id, user)?
            .displayname
            .unwrap_or_else(|| user.localpart().to_owned());
        let mut ctx = PushConditionRoomCtx::new(
            room_id.to_owned(),
            UInt::new_saturating(members.len() as u64),
            user.to_owned(),
            display_name,
        );
        ctx.power_levels = self.push_power_levels(room_id)?;
        Ok(Evaluator {
            rules: self.account_data.push_rules(user)?,
            ctx,
        })
    }

    /// The room's power levels as push conditions need them (`None` if the
    /// room's version or power levels cannot be read, so that
    /// `sender_notification_permission` rules simply do not match).
    fn push_power_levels(&self, room_id: &RoomId) -> Result<Option<PushConditionPowerLevelsCtx>> {
        let Some(rules) = self.events.room_version(room_id)?.and_then(|v| v.rules()) else {
            return Ok(None);
        };
        let source = match self
            .state
            .current_state_event(room_id, "m.room.power_levels", "")?
        {
            Some(event) => {
                match Pdu::from_stored(&event)?.content_as::<RoomPowerLevelsEventContent>() {
                    Ok(content) => RoomPowerLevelsSource::Original(content),
                    Err(_) => return Ok(None),
                }
            }
            None => RoomPowerLevelsSource::None,
        };
        let creators = match self
            .state
            .current_state_event(room_id, "m.room.create", "")?
        {
            Some(create) => vec![Pdu::from_stored(&create)?.sender],
            None => Vec::new(),
        };
        Ok(Some(
            RoomPowerLevels::new(source, &rules.authorization, creators).into(),
        ))
    }
}

fn add(counts: &mut UnreadCounts, (notify, highlight): (bool, bool)) {
    if notify {
        counts.notifications += 1;
        if highlight {
            counts.highlights += 1;
        }
    }
}
