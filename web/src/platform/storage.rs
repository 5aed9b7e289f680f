//! Keeps the session in `localStorage` so a reload doesn't need a new login.

use weft_client::Session;

use super::panic::OrWarn;

const SESSION_KEY: &str = "weft.session";

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// Stores `value` under `key`, or removes the key for `None`. A refusal (private mode,
/// quota) costs only what a reload would have restored; the console names the key.
fn write(key: &str, value: Option<&str>) {
    if let Some(storage) = local_storage() {
        match value {
            Some(value) => storage.set_item(key, value),
            None => storage.remove_item(key),
        }
        .or_warn(key);
    }
}

/// The saved session, if any and still readable.
pub fn load_session() -> Option<Session> {
    let json = local_storage()?.get_item(SESSION_KEY).ok().flatten()?;
    // from_slice: the reader the engine parses with, so the bundle keeps one copy of it.
    serde_json::from_slice(json.as_bytes()).ok()
}

/// Saves the session; failures (private mode, quota) only cost the restore on reload.
pub fn save_session(session: &Session) {
    if let Ok(json) = serde_json::to_string(session) {
        write(SESSION_KEY, Some(&json));
    }
}

/// Forgets the saved session and everything kept with it.
pub fn clear_session() {
    for key in [SESSION_KEY, SELECTED_KEY, NOTIFY_KEY] {
        write(key, None);
    }
}

const SELECTED_KEY: &str = "weft.selected_room";

/// Remembers which room is open, so a reload comes back to it.
pub fn save_selected(room_id: Option<&str>) {
    write(SELECTED_KEY, room_id);
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
    write(NOTIFY_KEY, on.then_some("on"));
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
    write(RELAY_KEY, on.then_some("on"));
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
    write(&format!("weft.calls.{kind}_device"), Some(id));
}
