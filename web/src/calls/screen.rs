//! What the call screen shows, kept apart from how calls work: the phase of the call,
//! the buttons' states, the two media streams, and for a few seconds how the call ended.
//! The manager writes it; `call_screen.rs` reads it.

use std::{cell::Cell, rc::Rc, time::Duration};

use leptos::{prelude::*, task::spawn_local};
use ruma::OwnedRoomId;

use crate::platform::{timer::sleep, webrtc::Stream};

/// How long the end of a call stays on screen.
const ENDED_SHOWN: Duration = Duration::from_secs(4);

/// Where the call is, as the screen shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Someone calls us; `video` if they offer video.
    Incoming { video: bool },
    /// We call; getting the camera or waiting for an answer.
    Outgoing,
    /// Answered; media being set up (or re-established: `reconnecting`).
    Connecting { reconnecting: bool },
    /// Media flows, since this time (ms).
    Connected { since: u64 },
    /// Over, in words ("Call ended · 1:04", "Call declined", an error).
    Ended(String),
}

/// What the call screen shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Screen {
    pub room_id: OwnedRoomId,
    pub peer_name: String,
    pub phase: Phase,
    /// We send video (the camera is on).
    pub camera: bool,
    pub muted: bool,
    /// The other side sends video ...
    pub remote_video: bool,
    /// ... unless they turned their camera off.
    pub remote_camera_off: bool,
    pub remote_muted: bool,
    /// We put the call on hold / they did.
    pub on_hold: bool,
    pub remote_hold: bool,
}

impl Screen {
    pub fn new(room_id: OwnedRoomId, peer_name: String, phase: Phase, camera: bool) -> Self {
        Self {
            room_id,
            peer_name,
            phase,
            camera,
            muted: false,
            remote_video: false,
            remote_camera_off: false,
            remote_muted: false,
            on_hold: false,
            remote_hold: false,
        }
    }

    /// Whether the other side's video is worth showing.
    pub fn shows_remote_video(&self) -> bool {
        self.remote_video && !self.remote_camera_off
    }
}

/// The screen's state. Cheap to clone; all clones are the same.
#[derive(Clone)]
pub struct CallView {
    /// `None` when there is no call.
    pub screen: RwSignal<Option<Screen>>,
    /// The media elements' streams: (ours, theirs), bumped in `streams`.
    pub local: StoredValue<Option<Stream>, LocalStorage>,
    pub remote: StoredValue<Option<Stream>, LocalStorage>,
    pub streams: RwSignal<u32>,
    /// Counts the ends of calls shown, so each is cleared by its own timer only.
    endings: Rc<Cell<u64>>,
}

impl CallView {
    pub fn new() -> Self {
        Self {
            screen: RwSignal::new(None),
            local: StoredValue::new_local(None),
            remote: StoredValue::new_local(None),
            streams: RwSignal::new(0),
            endings: Rc::default(),
        }
    }

    /// Changes what is shown of the call, if there is one.
    pub fn update(&self, change: impl FnOnce(&mut Screen)) {
        self.screen.update(|s| {
            if let Some(s) = s {
                change(s);
            }
        });
    }

    /// Shows a new call.
    pub fn set(&self, screen: Screen) {
        self.screen.set(Some(screen));
    }

    /// The room of the call shown.
    pub fn room_id(&self) -> Option<OwnedRoomId> {
        self.screen
            .with_untracked(|s| s.as_ref().map(|s| s.room_id.clone()))
    }

    /// The screen as it is, untracked.
    pub fn get(&self) -> Option<Screen> {
        self.screen.get_untracked()
    }

    /// Shows `next`, unless the screen shows exactly that already (ticks come ten times a
    /// second; the screen changes far less often).
    pub fn set_if_changed(&self, next: Screen) {
        if self.screen.with_untracked(|s| s.as_ref() != Some(&next)) {
            self.screen.set(Some(next));
        }
    }

    /// The screen shows an incoming call.
    pub fn ringing(&self) -> bool {
        self.screen.with_untracked(|s| {
            s.as_ref()
                .is_some_and(|s| matches!(s.phase, Phase::Incoming { .. }))
        })
    }

    /// Shows our camera (or nothing).
    pub fn show_local(&self, stream: Option<Stream>) {
        self.local.set_value(stream);
        self.streams.update(|n| *n += 1);
    }

    /// Shows their stream (or nothing), if it is not the one shown already.
    pub fn show_remote(&self, stream: Option<&Stream>) {
        let changed = self
            .remote
            .with_value(|shown| shown.as_ref().map(Stream::id) != stream.map(Stream::id));
        if changed {
            self.remote.set_value(stream.cloned());
            self.streams.update(|n| *n += 1);
        }
    }

    /// A stream's tracks changed (a camera switched): the media elements take it again.
    pub fn streams_changed(&self) {
        self.streams.update(|n| *n += 1);
    }

    /// Shows `text` as the end of the call in `room_id` for a few seconds.
    pub fn ended(&self, room_id: OwnedRoomId, text: String) {
        self.show_local(None);
        self.show_remote(None);
        let peer_name = self
            .screen
            .with_untracked(|s| s.as_ref().map(|s| s.peer_name.clone()))
            .unwrap_or_default();
        self.screen.set(Some(Screen::new(
            room_id,
            peer_name,
            Phase::Ended(text),
            false,
        )));
        // Numbered: the timer of an earlier end must not clear this one, even when both
        // say the same ("Call ended · 0:01").
        let number = self.endings.get() + 1;
        self.endings.set(number);
        let (screen, endings) = (self.screen, self.endings.clone());
        spawn_local(async move {
            sleep(ENDED_SHOWN).await;
            // Only if no new call took the screen meanwhile (and it still exists).
            let still_this_end = screen.try_with_untracked(|s| {
                s.as_ref()
                    .is_some_and(|s| matches!(s.phase, Phase::Ended(_)))
            });
            if endings.get() == number && still_this_end == Some(true) {
                screen.try_set(None);
            }
        });
    }
}
