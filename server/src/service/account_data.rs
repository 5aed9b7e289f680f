//! Account data (global and per room), filters and push rules.
//!
//! Push rules live in the `m.push_rules` global account data; until a user
//! changes them they are the spec's server-default rule set (which includes
//! `.m.rule.call`, needed for Element to ring, and the legacy mention rules:
//! [`push_defaults`]). Stored rules are brought up to date with the defaults
//! when read, keeping what the user switched on or off.
//!
//! [`AccountData`] is a part of [`Services`](super::Services) holding only the
//! account-data area of storage, the notifier that orders its changes, and the
//! push epoch it moves when push rules change.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use ruma::{RoomId, UserId, push::Ruleset};
use serde_json::value::RawValue;

mod push_defaults;

use super::notifier::Notifier;
use crate::{
    error::{Error, ErrorKind, Result},
    storage::AccountDataStore,
};

/// Types the server manages itself; clients may not write them directly.
const SERVER_MANAGED: [&str; 2] = ["m.push_rules", "m.fully_read"];

/// Account data, filters and push rules.
pub struct AccountData {
    storage: Arc<dyn AccountDataStore>,
    notifier: Arc<Notifier>,
    /// Bumped whenever something push rules read may have changed (room
    /// state, a user's push rules), so cached evaluators know to rebuild.
    push_epoch: Arc<AtomicU64>,
}

impl AccountData {
    pub(super) fn new(
        storage: Arc<dyn AccountDataStore>,
        notifier: Arc<Notifier>,
        push_epoch: Arc<AtomicU64>,
    ) -> Self {
        Self {
            storage,
            notifier,
            push_epoch,
        }
    }

    fn storage(&self) -> &dyn AccountDataStore {
        &*self.storage
    }

    /// `PUT .../account_data/{type}`: stores a JSON object.
    pub fn set_account_data(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        event_type: &str,
        content: &RawValue,
    ) -> Result<()> {
        if SERVER_MANAGED.contains(&event_type) {
            return Err(Error::with_status(
                ErrorKind::BadJson,
                http::StatusCode::METHOD_NOT_ALLOWED,
                format!("{event_type} is managed by the server and cannot be set here"),
            ));
        }
        self.write_account_data(user_id, room_id, event_type, content.get())
    }

    /// Writes account data (server-managed types included) and wakes syncs.
    pub fn write_account_data(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        event_type: &str,
        content: &str,
    ) -> Result<()> {
        if !content.trim_start().starts_with('{') {
            return Err(Error::bad_json(
                "Account data content must be a JSON object",
            ));
        }
        if content.len() > 65_536 {
            return Err(Error::new(
                ErrorKind::TooLarge,
                "Account data is limited to 64 KiB",
            ));
        }
        let reservation = self.notifier.reserve();
        self.storage().set_account_data(
            user_id,
            room_id,
            event_type,
            content,
            reservation.position(),
        )?;
        if event_type == "m.push_rules" {
            self.push_epoch.fetch_add(1, Ordering::AcqRel);
        }
        Ok(())
    }

    /// `GET .../account_data/{type}`.
    pub fn account_data(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        event_type: &str,
    ) -> Result<Box<RawValue>> {
        if room_id.is_none() && event_type == "m.push_rules" {
            return Ok(serde_json::value::to_raw_value(
                &serde_json::json!({ "global": self.push_rules(user_id)? }),
            )?);
        }
        let stored = self.storage().account_data(user_id, room_id, event_type)?;
        match stored {
            Some(json) => Ok(RawValue::from_string(json)?),
            None => Err(Error::not_found("No account data of that type")),
        }
    }

    /// The user's push rules.
    pub fn push_rules(&self, user_id: &UserId) -> Result<Ruleset> {
        #[derive(serde::Deserialize)]
        struct Stored {
            global: Ruleset,
        }
        let defaults = push_defaults::server_default(user_id);
        match self.storage().account_data(user_id, None, "m.push_rules")? {
            Some(json) => {
                let mut rules = serde_json::from_str::<Stored>(&json)?.global;
                rules.update_with_server_default(defaults);
                Ok(rules)
            }
            None => Ok(defaults),
        }
    }

    /// `POST /user/{userId}/filter`: stores the filter, returns its ID.
    pub fn create_filter(&self, user_id: &UserId, filter_json: &str) -> Result<String> {
        Ok(self.storage().create_filter(user_id, filter_json)?)
    }

    /// A stored filter's JSON.
    pub fn filter(&self, user_id: &UserId, filter_id: &str) -> Result<String> {
        self.storage()
            .filter(user_id, filter_id)?
            .ok_or_else(|| Error::not_found(format!("No filter with ID {filter_id}")))
    }

    /// Changes the user's push rules with `change` and stores the result
    /// (as `m.push_rules` account data, so syncs report it).
    pub fn update_push_rules<T>(
        &self,
        user_id: &UserId,
        change: impl FnOnce(&mut Ruleset) -> Result<T>,
    ) -> Result<T> {
        let mut rules = self.push_rules(user_id)?;
        let out = change(&mut rules)?;
        let content = serde_json::json!({ "global": rules }).to_string();
        self.write_account_data(user_id, None, "m.push_rules", &content)?;
        Ok(out)
    }
}
