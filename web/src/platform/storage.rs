//! Keeps the session in `localStorage` so a reload doesn't need a new login.

use weft_client::Session;

const SESSION_KEY: &str = "weft.session";

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// The saved session, if any and still readable.
pub fn load_session() -> Option<Session> {
    let json = local_storage()?.get_item(SESSION_KEY).ok().flatten()?;
    serde_json::from_str(&json).ok()
}

/// Saves the session; failures (private mode, quota) only cost the restore on reload.
pub fn save_session(session: &Session) {
    if let (Some(storage), Ok(json)) = (local_storage(), serde_json::to_string(session)) {
        let _ = storage.set_item(SESSION_KEY, &json);
    }
}

/// Forgets the saved session.
pub fn clear_session() {
    if let Some(storage) = local_storage() {
        let _ = storage.remove_item(SESSION_KEY);
    }
}
