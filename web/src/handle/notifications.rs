//! Desktop notifications for new messages while the tab is hidden (opt-in).

use leptos::prelude::*;

use weft_client::ItemKind;

use super::ClientHandle;
use crate::platform::{document, notify, storage};

impl ClientHandle {
    /// Whether desktop notifications are on for this device.
    pub fn notifications_enabled(&self) -> bool {
        storage::notifications_enabled()
            && notify::permission() == web_sys::NotificationPermission::Granted
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
            self.last_unread.set_value(rooms.into_iter().map(|r| (r.room_id, r.unread)).collect());
        }
    }

    /// After a sync: notify about rooms whose unread count grew while the tab is hidden.
    /// Runs after every sync, so it only reads counts; message text is looked up just for
    /// the rooms it notifies about.
    pub(crate) fn notify_new_messages(&self) {
        let Ok(rooms) = self.with_engine(|engine| engine.room_list()) else { return };
        let before = self.last_unread.get_value();
        if self.notifications_enabled() && document::is_hidden() {
            for entry in rooms.iter().filter(|r| r.unread > before.get(&r.room_id).copied().unwrap_or(0)) {
                let latest = self.with_engine(|engine| latest_message(engine, &entry.room_id)).ok().flatten();
                notify::show(&entry.name, latest.as_deref().unwrap_or("New message"), entry.room_id.as_str());
            }
        }
        self.last_unread.set_value(rooms.into_iter().map(|r| (r.room_id, r.unread)).collect());
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
