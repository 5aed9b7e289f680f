//! Stream positions and waking `/sync` long-polls.
//!
//! Every change a sync can report (events, account data, typing, ...) takes
//! a position from one server-wide counter. Writers reserve a position,
//! write, and drop the reservation; the published position only advances to
//! the highest one below which every reservation has finished, so a sync that
//! reads "up to N" never misses a change at N or below that commits later.
//!
//! A `watch` channel carries the published position. A sync subscribes
//! *before* it reads storage, so a change published between its read and its
//! wait still marks the receiver changed: no missed wake-ups, no polling.

use std::{collections::BTreeSet, sync::Mutex};

use tokio::sync::watch;

use crate::storage::StreamPos;

/// Hands out stream positions and broadcasts the latest complete one.
pub struct Notifier {
    tx: watch::Sender<StreamPos>,
    ids: Mutex<Ids>,
}

struct Ids {
    next: i64,
    pending: BTreeSet<i64>,
}

/// A reserved position; dropping it (after the write committed, or failed)
/// lets the published position move past it.
#[must_use]
pub struct Reservation<'a> {
    notifier: &'a Notifier,
    position: i64,
}

impl Reservation<'_> {
    pub fn position(&self) -> StreamPos {
        StreamPos(self.position)
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.notifier.complete(self.position);
    }
}

impl Notifier {
    /// Starts after `position`, the highest position already stored.
    pub fn new(position: StreamPos) -> Self {
        Self {
            tx: watch::channel(position).0,
            ids: Mutex::new(Ids {
                next: position.0 + 1,
                pending: BTreeSet::new(),
            }),
        }
    }

    /// Reserves the next position.
    pub fn reserve(&self) -> Reservation<'_> {
        let mut ids = self.lock();
        let position = ids.next;
        ids.next += 1;
        ids.pending.insert(position);
        Reservation {
            notifier: self,
            position,
        }
    }

    fn complete(&self, position: i64) {
        let upto = {
            let mut ids = self.lock();
            ids.pending.remove(&position);
            match ids.pending.first() {
                Some(first) => first - 1,
                None => ids.next - 1,
            }
        };
        self.tx.send_if_modified(|current| {
            if upto > current.0 {
                *current = StreamPos(upto);
                true
            } else {
                false
            }
        });
    }

    /// Subscribes; the receiver treats the current position as seen.
    pub fn subscribe(&self) -> watch::Receiver<StreamPos> {
        self.tx.subscribe()
    }

    /// The highest position below which every write has finished.
    pub fn position(&self) -> StreamPos {
        *self.tx.borrow()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ids> {
        self.ids.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn write_between_read_and_wait_still_wakes() {
        let n = Notifier::new(StreamPos(5));
        let mut rx = n.subscribe();
        // The "read" happened here; a write lands before we start waiting.
        drop(n.reserve());
        tokio::time::timeout(std::time::Duration::from_secs(1), rx.changed())
            .await
            .expect("woken")
            .unwrap();
        assert_eq!(*rx.borrow(), StreamPos(6));
    }

    #[test]
    fn published_position_waits_for_earlier_writers() {
        let n = Notifier::new(StreamPos(0));
        let first = n.reserve();
        let second = n.reserve();
        assert_eq!(
            (first.position(), second.position()),
            (StreamPos(1), StreamPos(2))
        );
        drop(second);
        // 2 is done but 1 is not: a reader must not be told "up to 2" yet.
        assert_eq!(n.position(), StreamPos(0));
        drop(first);
        assert_eq!(n.position(), StreamPos(2));
    }
}
