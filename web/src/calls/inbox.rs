//! The manager's input queue: inputs are handled one at a time, start to finish
//! (including the awaits on WebRTC), so the call state machine and the peer connection
//! never see two of them interleaved.

use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    future::Future,
    rc::Rc,
};

use leptos::task::spawn_local;

/// Inputs waiting, and whether a task is handling them.
pub struct Inbox<T> {
    items: RefCell<VecDeque<T>>,
    busy: Cell<bool>,
    closed: Cell<bool>,
}

impl<T: 'static> Inbox<T> {
    pub fn new() -> Rc<Self> {
        Rc::new(Self {
            items: RefCell::default(),
            busy: Cell::new(false),
            closed: Cell::new(false),
        })
    }

    /// Queues `item`. Unless a task is already at work, starts one that hands the queued
    /// inputs to `handle` in order, each after the previous one finished.
    pub fn post<F, Fut>(self: &Rc<Self>, item: T, handle: F)
    where
        F: Fn(T) -> Fut + 'static,
        Fut: Future<Output = ()>,
    {
        if self.closed.get() {
            return;
        }
        self.items.borrow_mut().push_back(item);
        if self.busy.replace(true) {
            return;
        }
        let inbox = self.clone();
        spawn_local(async move {
            loop {
                let next = inbox.items.borrow_mut().pop_front();
                let Some(item) = next else { break };
                handle(item).await;
            }
            inbox.busy.set(false);
        });
    }

    pub fn is_empty(&self) -> bool {
        self.items.borrow().is_empty()
    }

    /// No more inputs: those waiting are dropped, later ones ignored.
    pub fn close(&self) {
        self.closed.set(true);
        self.items.borrow_mut().clear();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }
}
