//! Keeps the session in `localStorage` so a reload doesn't need a new login.

use weft_client::Session;

use super::panic::OrWarn;

const SESSION_KEY: &str = "weft.session";

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// The saved session, if any and still readable.
pub fn load_session() -> Option<Session> {
    let json = local_storage()?.get_item(SESSION_KEY).ok().flatten()?;
    // from_slice: the reader the engine parses with, so the bundle keeps one copy of it.
    serde_json::from_slice(json.as_bytes()).ok()
}

/// Saves the session; failures (private mode, quota) only cost the restore on reload.
pub fn save_session(session: &Session) {
    if let (Some(storage), Ok(json)) = (local_storage(), serde_json::to_string(session)) {
        storage.set_item(SESSION_KEY, &json).or_warn("save session");
    }
}

/// Forgets the saved session and everything kept with it.
pub fn clear_session() {
    if let Some(storage) = local_storage() {
        for key in [SESSION_KEY, SELECTED_KEY, NOTIFY_KEY] {
            storage.remove_item(key).or_warn("remove setting");
        }
    }
}

const SELECTED_KEY: &str = "weft.selected_room";

/// Remembers which room is open, so a reload comes back to it.
pub fn save_selected(room_id: Option<&str>) {
    if let Some(storage) = local_storage() {
        match room_id {
            Some(room_id) => storage.set_item(SELECTED_KEY, room_id),
            None => storage.remove_item(SELECTED_KEY),
        }
        .or_warn("save open room");
    }
}

/// The room that was open before the reload.
pub fn load_selected() -> Option<String> {
    local_storage()?.get_item(SELECTED_KEY).ok().flatten()
}

const NOTIFY_KEY: &str = "weft.notifications";

/// Whether the person opted in to desktop notifications on this device.
pub fn notifications_enabled() -> bool {
    local_storage()
        .and_then(|s| s.get_item(NOTIFY_KEY).ok().flatten())
        .as_deref()
        == Some("on")
}

/// Records the notification opt-in.
pub fn set_notifications_enabled(on: bool) {
    if let Some(storage) = local_storage() {
        if on {
            storage.set_item(NOTIFY_KEY, "on")
        } else {
            storage.remove_item(NOTIFY_KEY)
        }
        .or_warn("save notification setting");
    }
}

const RELAY_KEY: &str = "weft.calls.relay_only";

/// Whether calls on this device go only through the TURN relay, so the other side never
/// learns our IP address (Element's "force TURN"; the call tests use it too).
pub fn relay_only() -> bool {
    local_storage()
        .and_then(|s| s.get_item(RELAY_KEY).ok().flatten())
        .as_deref()
        == Some("on")
}

/// Records the relay-only choice.
pub fn set_relay_only(on: bool) {
    if let Some(storage) = local_storage() {
        if on {
            storage.set_item(RELAY_KEY, "on")
        } else {
            storage.remove_item(RELAY_KEY)
        }
        .or_warn("save relay setting");
    }
}

/// The microphone (`"audio"`) or camera (`"video"`) chosen for calls on this device.
pub fn call_device(kind: &str) -> Option<String> {
    local_storage()?
        .get_item(&format!("weft.calls.{kind}_device"))
        .ok()
        .flatten()
}

/// Records the device chosen for calls.
pub fn set_call_device(kind: &str, id: &str) {
    if let Some(storage) = local_storage() {
        storage
            .set_item(&format!("weft.calls.{kind}_device"), id)
            .or_warn("save device choice");
    }
}
