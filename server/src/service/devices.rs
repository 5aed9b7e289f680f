//! Devices, password changes and deactivation: the account-management
//! operations that need the user's password again (user-interactive auth).

use ruma::{
    DeviceId, OwnedDeviceId, UserId,
    api::client::uiaa::{AuthData, AuthFlow, AuthType, UiaaInfo, UserIdentifier},
};

use super::{Services, accounts::hash_password};
use crate::{
    error::{Error, ErrorKind, Result},
    storage::DeviceRow,
};

impl Services {
    /// Passes only if `auth` proves the user's password within a session this
    /// server started; otherwise answers with the 401 challenge.
    pub async fn require_password(&self, user_id: &UserId, auth: Option<&AuthData>) -> Result<()> {
        let challenge = |error: Option<&str>| {
            let mut info = UiaaInfo::new(vec![AuthFlow::new(vec![AuthType::Password])]);
            info.session = Some(self.uia().start());
            if let Some(message) = error {
                info.auth_error = Some(Box::new(ruma::api::error::StandardErrorBody::new(
                    ruma::api::error::ErrorKind::Forbidden,
                    message.to_owned(),
                )));
            }
            Error::Uiaa(Box::new(info))
        };
        let Some(AuthData::Password(password)) = auth else {
            return Err(challenge(None));
        };
        if !password
            .session
            .as_deref()
            .is_some_and(|s| self.uia().is_valid(s))
        {
            return Err(challenge(Some("Unknown or expired session")));
        }
        let claimed = match &password.identifier {
            UserIdentifier::Matrix(id) => Some(id.user.clone()),
            _ => None,
        };
        if let Some(claimed) = claimed
            && self.user_id_for(&claimed).ok().as_deref() != Some(user_id)
        {
            return Err(challenge(Some(
                "You can only confirm with your own password",
            )));
        }
        match self
            .check_password_limited(user_id, password.password.clone())
            .await
        {
            Err(limited @ Error::RateLimited { .. }) => Err(limited),
            Ok(()) => {
                if let Some(session) = &password.session {
                    self.uia().finish(session);
                }
                Ok(())
            }
            Err(_) => Err(challenge(Some("Wrong password"))),
        }
    }

    pub fn devices(&self, user_id: &UserId) -> Result<Vec<DeviceRow>> {
        Ok(self.storage().devices_of(user_id)?)
    }

    pub fn rename_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        name: Option<&str>,
    ) -> Result<()> {
        if self.storage().rename_device(user_id, device_id, name)? {
            Ok(())
        } else {
            Err(Error::not_found("No such device"))
        }
    }

    /// Deletes devices (their tokens stop working).
    pub fn delete_devices(&self, user_id: &UserId, devices: &[OwnedDeviceId]) -> Result<()> {
        for device in devices {
            self.storage().delete_device(user_id, device)?;
        }
        if !devices.is_empty() {
            // Others must stop encrypting for the deleted devices.
            self.device_list_changed(user_id)?;
        }
        Ok(())
    }

    /// Sets a new password; optionally signs out every other device.
    pub async fn change_password(
        &self,
        user_id: &UserId,
        keep_device: Option<&DeviceId>,
        new_password: String,
        logout_devices: bool,
    ) -> Result<()> {
        if new_password.is_empty() {
            return Err(Error::new(
                ErrorKind::MissingParam,
                "The new password must not be empty",
            ));
        }
        let hash = tokio::task::spawn_blocking(move || hash_password(&new_password))
            .await
            .map_err(Error::internal)??;
        self.storage().set_password_hash(user_id, &hash)?;
        if logout_devices {
            let others: Vec<OwnedDeviceId> = self
                .devices(user_id)?
                .into_iter()
                .map(|row| row.device_id)
                .filter(|id| Some(&**id) != keep_device)
                .collect();
            self.delete_devices(user_id, &others)?;
        }
        Ok(())
    }

    /// Deactivates the account: it leaves every room, loses its devices and
    /// can never log in again. The user ID stays reserved.
    pub async fn deactivate(&self, user_id: &UserId) -> Result<()> {
        for row in self.storage().memberships_of(user_id)? {
            if matches!(row.membership.as_str(), "join" | "invite" | "knock")
                && let Err(e) = self.leave(&row.room_id, user_id).await
            {
                tracing::warn!(room_id = %row.room_id, error = %e, "could not leave on deactivation");
            }
        }
        self.storage().deactivate_user(user_id)?;
        self.device_list_changed(user_id)
    }
}
