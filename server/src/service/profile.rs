//! User profiles: display name and avatar, propagated into rooms.

use std::sync::Arc;

use ruma::UserId;
use ruma::events::room::member::MembershipState;
use serde_json::json;

use super::{
    accounts::Accounts,
    appender::{Appender, EventSpec},
};
use crate::{
    error::{Error, Result},
    storage::{AccountStore, ProfileField, StateStore},
};

/// Changing profiles: the account area for the fields, the memberships to
/// find the user's rooms, and the appender to post the new member events.
pub struct Profile {
    store: Arc<dyn AccountStore>,
    state: Arc<dyn StateStore>,
    accounts: Arc<Accounts>,
    appender: Arc<Appender>,
}

impl Profile {
    pub fn new(
        store: Arc<dyn AccountStore>,
        state: Arc<dyn StateStore>,
        accounts: Arc<Accounts>,
        appender: Arc<Appender>,
    ) -> Self {
        Self {
            store,
            state,
            accounts,
            appender,
        }
    }

    /// Sets one of the user's profile fields and, as the spec asks, sends an
    /// updated `m.room.member` event into every room they have joined.
    pub async fn set_profile_field(
        &self,
        user_id: &UserId,
        field: ProfileField,
        value: Option<&str>,
    ) -> Result<()> {
        if value.is_some_and(|v| v.len() > 256) {
            return Err(Error::invalid_param(
                "Profile values are limited to 256 bytes",
            ));
        }
        self.store.set_profile_field(user_id, field, value)?;
        let (displayname, avatar_url) = self.accounts.profile(user_id)?.unwrap_or_default();
        for row in self.state.memberships_of(user_id)? {
            if row.membership != MembershipState::Join {
                continue;
            }
            let mut content = json!({ "membership": "join" });
            if let Some(name) = &displayname {
                content["displayname"] = json!(name);
            }
            if let Some(avatar) = &avatar_url {
                content["avatar_url"] = json!(avatar);
            }
            let spec = EventSpec::state("m.room.member", user_id.as_str(), content)?;
            if let Err(e) = self
                .appender
                .append(&row.room_id, user_id, spec, None)
                .await
            {
                // One room refusing (e.g. power levels) must not undo the others.
                tracing::warn!(room_id = %row.room_id, error = %e, "profile change not propagated");
            }
        }
        Ok(())
    }
}
