//! Desktop notifications for new messages while the tab is hidden (opt-in).

use std::collections::HashMap;

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

    /// After a sync: notify about rooms whose unread count grew while the tab is hidden.
    pub(crate) fn notify_new_messages(&self) {
        let Ok(now) = self.with_engine(|engine| {
            engine
                .room_list()
                .into_iter()
                .map(|entry| {
                    let latest = engine.room(&entry.room_id).and_then(|room| {
                        room.items(engine.user_id())
                            .into_iter()
                            .rev()
                            .find(|item| {
                                item.sender != engine.user_id() && item.kind != ItemKind::State
                            })
                            .map(|item| format!("{}: {}", item.sender_name, item.body))
                    });
                    (entry.room_id, (entry.unread, entry.name, latest))
                })
                .collect::<HashMap<_, _>>()
        }) else {
            return;
        };
        let before = self.last_unread.get_value();
        let show = self.notifications_enabled() && document::is_hidden();
        for (room_id, (unread, name, latest)) in &now {
            if show && *unread > before.get(room_id).copied().unwrap_or(0) {
                notify::show(
                    name,
                    latest.as_deref().unwrap_or("New message"),
                    room_id.as_str(),
                );
            }
        }
        self.last_unread.set_value(
            now.into_iter()
                .map(|(room, (unread, ..))| (room, unread))
                .collect(),
        );
    }
}
