//! Desktop notifications for new messages while the tab is hidden (opt-in).

use leptos::prelude::*;

use weft_client::ItemKind;

use super::ClientHandle;
use crate::platform::{document, notify, storage};

impl ClientHandle {
    /// Whether desktop notifications are on for this device.
    pub fn notifications_enabled(&self) -> bool {
        storage::notifications_enabled() && notify::is_granted()
    }

    /// Turns notifications on (asking the browser) or off; returns the resulting state.
    pub async fn set_notifications(&self, on: bool) -> bool {
        let granted = on && notify::request_permission().await;
        storage::set_notifications_enabled(granted);
        granted
    }

    /// Takes the unread counts as they are as the baseline (rooms restored from storage),
    /// so only what the next syncs add is notified.
    pub(crate) fn set_unread_baseline(&self) {
        if let Ok(rooms) = self.with_engine(|engine| engine.room_list()) {
            self.last_unread
                .set_value(rooms.into_iter().map(|r| (r.room_id, r.unread)).collect());
        }
    }

    /// After a sync: notify about rooms whose unread count grew while the tab is hidden.
    /// Runs after every sync, so it only reads counts; message text is looked up just for
    /// the rooms it notifies about.
    pub(crate) fn notify_new_messages(&self) {
        let Ok(counts) = self.with_engine(weft_client::Engine::unread_counts) else {
            return;
        };
        let before = self.last_unread.get_value();
        if self.notifications_enabled() && document::is_hidden() {
            for (room_id, _) in counts
                .iter()
                .filter(|(id, unread)| *unread > before.get(id).copied().unwrap_or(0))
            {
                let Ok(Some((name, latest))) = self.with_engine(|engine| {
                    Some((engine.room_name(room_id)?, latest_message(engine, room_id)))
                }) else {
                    continue;
                };
                notify::show(
                    &name,
                    latest.as_deref().unwrap_or("New message"),
                    room_id.as_str(),
                );
            }
        }
        self.last_unread.set_value(counts.into_iter().collect());
    }
}

/// "sender: text" of the newest message from someone else in the room.
fn latest_message(engine: &weft_client::Engine, room_id: &ruma::RoomId) -> Option<String> {
    let room = engine.room(room_id)?;
    room.items(engine.user_id())
        .into_iter()
        .rev()
        .find(|item| item.sender != engine.user_id() && item.kind != ItemKind::State)
        .map(|item| format!("{}: {}", item.sender_name, item.body))
}
