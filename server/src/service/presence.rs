//! Presence: online, unavailable or offline, with an optional status.
//!
//! [`Presence`] is a part of [`Services`](super::Services): it holds the
//! presence, account and membership areas of storage and the notifier that
//! orders its changes in the stream.

use std::sync::Arc;

use ruma::{UserId, presence::PresenceState};
use serde_json::{Value, json};

use super::{clock::now_ms, notifier::Notifier, room_reader::users_sharing_rooms};
use crate::{
    error::{Error, Result},
    storage::{AccountStore, PresenceRow, PresenceStore, StateStore, StreamPos},
};

/// A user's presence as clients see it.
pub struct PresenceView {
    pub state: String,
    pub status_msg: Option<String>,
    pub last_active_ago: Option<u64>,
    pub currently_active: bool,
}

/// Users' presence.
pub struct Presence {
    storage: Arc<dyn PresenceStore>,
    accounts: Arc<dyn AccountStore>,
    state: Arc<dyn StateStore>,
    notifier: Arc<Notifier>,
}

impl Presence {
    pub(super) fn new(
        storage: Arc<dyn PresenceStore>,
        accounts: Arc<dyn AccountStore>,
        state: Arc<dyn StateStore>,
        notifier: Arc<Notifier>,
    ) -> Self {
        Self {
            storage,
            accounts,
            state,
            notifier,
        }
    }

    /// `PUT /presence/{userId}/status`, and `/sync?set_presence=`.
    pub fn set_presence(&self, user: &UserId, state: &str, status_msg: Option<&str>) -> Result<()> {
        if !matches!(state, "online" | "unavailable" | "offline") {
            return Err(Error::invalid_param(format!("Unknown presence {state}")));
        }
        if status_msg.is_some_and(|m| m.len() > 1024) {
            return Err(Error::invalid_param(
                "Status messages are limited to 1024 bytes",
            ));
        }
        let reservation = self.notifier.reserve();
        let row = PresenceRow {
            state: PresenceState::from(state),
            status_msg: status_msg.map(str::to_owned),
            last_active_ts: now_ms(),
        };
        Ok(self
            .storage
            .set_presence(user, &row, reservation.position())?)
    }

    /// Marks the user online when a sync asks for it, unless already online
    /// (so a client's sync loop does not wake everyone on every request).
    pub fn touch_presence(&self, user: &UserId, state: &str) -> Result<()> {
        let current = self.storage.presence(user)?;
        let status = current.as_ref().and_then(|p| p.status_msg.clone());
        if current.as_ref().is_none_or(|p| p.state.as_str() != state) {
            self.set_presence(user, state, status.as_deref())?;
        }
        Ok(())
    }

    /// `GET /presence/{userId}/status`.
    pub fn presence(&self, user: &UserId) -> Result<PresenceView> {
        if self.accounts.user(user)?.is_none() {
            return Err(Error::not_found("No such user"));
        }
        Ok(match self.storage.presence(user)? {
            Some(row) => PresenceView {
                currently_active: row.state == PresenceState::Online,
                state: row.state.as_str().to_owned(),
                status_msg: row.status_msg,
                last_active_ago: Some((now_ms() - row.last_active_ts).max(0) as u64),
            },
            None => PresenceView {
                state: "offline".into(),
                status_msg: None,
                last_active_ago: None,
                currently_active: false,
            },
        })
    }

    /// `m.presence` events of users sharing a room with `viewer`, changed in `(after, until]`.
    pub fn presence_events(
        &self,
        viewer: &UserId,
        after: Option<StreamPos>,
        until: StreamPos,
    ) -> Result<Vec<Value>> {
        let changed = self
            .storage
            .presence_changes(after.unwrap_or(StreamPos(-1)), until)?;
        if changed.is_empty() {
            return Ok(Vec::new());
        }
        let visible = users_sharing_rooms(&*self.state, viewer)?;
        let mut events = Vec::new();
        for user in changed.into_iter().filter(|u| visible.contains(u)) {
            let p = self.presence(&user)?;
            let (displayname, avatar_url) = self
                .accounts
                .user(&user)?
                .map(|u| (u.displayname, u.avatar_url))
                .unwrap_or_default();
            let mut content =
                json!({ "presence": p.state, "currently_active": p.currently_active });
            if let Some(ago) = p.last_active_ago {
                content["last_active_ago"] = json!(ago);
            }
            for (key, value) in [
                ("status_msg", p.status_msg),
                ("displayname", displayname),
                ("avatar_url", avatar_url),
            ] {
                if let Some(value) = value {
                    content[key] = json!(value);
                }
            }
            events.push(json!({ "type": "m.presence", "sender": user, "content": content }));
        }
        Ok(events)
    }
}
