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

/// In headless Chromium (`scripts/test`), against the page's real `localStorage`.
#[cfg(test)]
mod tests {
    use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
    use weft_client::Session;

    use super::*;

    wasm_bindgen_test_configure!(run_in_browser);

    fn session() -> Session {
        Session {
            homeserver: "https://hs.example".into(),
            user_id: "@alice:hs.example".try_into().unwrap(),
            device_id: "DEVICE".into(),
            access_token: "secret".into(),
        }
    }

    #[wasm_bindgen_test]
    fn a_saved_session_comes_back_after_a_reload() {
        clear_session();
        assert_eq!(load_session(), None);
        save_session(&session());
        assert_eq!(load_session(), Some(session()));
        // What a reload reads is what is stored, not something kept in memory.
        let stored = local_storage().unwrap().get_item(SESSION_KEY).unwrap();
        assert!(stored.unwrap().contains("\"access_token\":\"secret\""));
    }

    #[wasm_bindgen_test]
    fn an_unreadable_session_is_no_session() {
        let storage = local_storage().unwrap();
        storage.set_item(SESSION_KEY, "{\"homeserver\":").unwrap();
        assert_eq!(load_session(), None);
        storage
            .set_item(SESSION_KEY, r#"{"homeserver":"h","user_id":"not a user"}"#)
            .unwrap();
        assert_eq!(load_session(), None);
        clear_session();
    }

    #[wasm_bindgen_test]
    fn signing_out_forgets_the_session_and_what_was_kept_with_it() {
        save_session(&session());
        save_selected(Some("!room:hs.example"));
        set_notifications_enabled(true);
        set_relay_only(true);
        set_call_device("audio", "mic-1");
        clear_session();
        assert_eq!(load_session(), None);
        assert_eq!(load_selected(), None);
        assert!(!notifications_enabled());
        // The device's call settings are not the account's: they stay.
        assert!(relay_only());
        assert_eq!(call_device("audio").as_deref(), Some("mic-1"));
        set_relay_only(false);
    }

    #[wasm_bindgen_test]
    fn the_open_room_is_remembered_and_forgotten() {
        save_selected(Some("!a:hs.example"));
        assert_eq!(load_selected().as_deref(), Some("!a:hs.example"));
        save_selected(Some("!b:hs.example"));
        assert_eq!(load_selected().as_deref(), Some("!b:hs.example"));
        save_selected(None);
        assert_eq!(load_selected(), None);
    }

    #[wasm_bindgen_test]
    fn notification_and_relay_choices_are_switches() {
        set_notifications_enabled(true);
        assert!(notifications_enabled());
        set_notifications_enabled(false);
        assert!(!notifications_enabled());
        assert_eq!(local_storage().unwrap().get_item(NOTIFY_KEY).unwrap(), None);

        set_relay_only(true);
        assert!(relay_only());
        set_relay_only(false);
        assert!(!relay_only());
        // Anything but "on" (an older or hand-edited value) is off.
        local_storage()
            .unwrap()
            .set_item(RELAY_KEY, "true")
            .unwrap();
        assert!(!relay_only());
        set_relay_only(false);
    }

    #[wasm_bindgen_test]
    fn the_microphone_and_camera_are_chosen_separately() {
        set_call_device("audio", "mic-2");
        set_call_device("video", "cam-1");
        assert_eq!(call_device("audio").as_deref(), Some("mic-2"));
        assert_eq!(call_device("video").as_deref(), Some("cam-1"));
        set_call_device("video", "cam-2");
        assert_eq!(call_device("video").as_deref(), Some("cam-2"));
        assert_eq!(call_device("audio").as_deref(), Some("mic-2"));
    }
}
