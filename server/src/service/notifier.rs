//! Wakes waiting `/sync` long-polls when the event stream moves.
//!
//! A `watch` channel carries the newest stream position. A sync subscribes
//! *before* it reads storage, so a write that lands between its read and its
//! wait still marks the receiver changed: no missed wake-ups, no polling.

use tokio::sync::watch;

/// Broadcasts the latest stream position.
pub struct Notifier {
    tx: watch::Sender<i64>,
}

impl Notifier {
    pub fn new(position: i64) -> Self {
        Self { tx: watch::channel(position).0 }
    }

    /// Subscribes; the receiver treats the current position as seen.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.tx.subscribe()
    }

    /// Announces that everything up to `position` is committed.
    pub fn notify(&self, position: i64) {
        self.tx.send_if_modified(|current| {
            if position > *current {
                *current = position;
                true
            } else {
                false
            }
        });
    }

    pub fn position(&self) -> i64 {
        *self.tx.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn write_between_read_and_wait_still_wakes() {
        let n = Notifier::new(5);
        let mut rx = n.subscribe();
        // The "read" happened here; a write lands before we start waiting.
        n.notify(6);
        tokio::time::timeout(std::time::Duration::from_secs(1), rx.changed())
            .await
            .expect("woken")
            .unwrap();
        assert_eq!(*rx.borrow(), 6);
    }

    #[test]
    fn never_moves_backwards() {
        let n = Notifier::new(5);
        n.notify(3);
        assert_eq!(n.position(), 5);
    }
}
