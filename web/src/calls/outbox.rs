//! Call events on their way to the homeserver: sent in order by one task, each retried
//! with back-off (1 s, 2 s, 4 s, 8 s, as matrix-js-sdk does) under the same transaction
//! ID, so a retry whose first try did arrive is not sent twice.

use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    rc::Rc,
    time::Duration,
};

use leptos::task::spawn_local;
use ruma::OwnedRoomId;
use serde_json::Value;

use crate::{
    handle::ClientHandle,
    platform::{clock, panic::warn, timer::sleep},
};

/// Sending a call event is tried this often.
const SEND_TRIES: u32 = 5;

/// One call event to send, for call number `call` (see the manager).
pub struct Envelope {
    pub call: u64,
    pub room_id: OwnedRoomId,
    pub event_type: &'static str,
    pub content: Value,
}

pub struct Outbox {
    handle: ClientHandle,
    queue: RefCell<VecDeque<Envelope>>,
    sending: Cell<bool>,
    closed: Cell<bool>,
}

impl Outbox {
    pub fn new(handle: ClientHandle) -> Rc<Self> {
        Rc::new(Self {
            handle,
            queue: RefCell::default(),
            sending: Cell::new(false),
            closed: Cell::new(false),
        })
    }

    /// Queues `envelope`. When every try of an event fails, `lost` hears of it with the
    /// event's call number and type.
    pub fn send(self: &Rc<Self>, envelope: Envelope, lost: impl Fn(u64, &'static str) + 'static) {
        if self.closed.get() {
            return;
        }
        self.queue.borrow_mut().push_back(envelope);
        if self.sending.replace(true) {
            return;
        }
        let outbox = self.clone();
        spawn_local(async move {
            loop {
                let next = outbox.queue.borrow_mut().pop_front();
                let Some(envelope) = next else { break };
                let txn_id = clock::new_txn_id();
                let mut tries = 0;
                while !outbox.closed.get() {
                    let sent = outbox
                        .handle
                        .send_call_event(
                            &envelope.room_id,
                            envelope.event_type,
                            &envelope.content,
                            &txn_id,
                        )
                        .await;
                    let Err(error) = sent else { break };
                    tries += 1;
                    warn(&format!(
                        "Weft calls: sending {} failed (try {tries} of {SEND_TRIES}): {error}",
                        envelope.event_type
                    ));
                    if tries == SEND_TRIES {
                        lost(envelope.call, envelope.event_type);
                        break;
                    }
                    sleep(Duration::from_millis(500 << tries)).await;
                }
            }
            outbox.sending.set(false);
        });
    }

    /// The session ended: queued events are dropped, a retry stops.
    pub fn close(&self) {
        self.closed.set(true);
        self.queue.borrow_mut().clear();
    }
}
