//! Accounts, devices and access tokens, and the password checks in front of them.
//!
//! [`Accounts`] is a part of [`Services`](super::Services): it holds the account and
//! device areas of storage, the user-interactive auth sessions and the shared rate
//! limits (wrong password guesses are limited per account). Signing devices out also
//! changes device lists, so that stays with the services that reach the keys.
//!
//! Passwords are hashed with argon2id (on a blocking thread: hashing is
//! deliberately slow). Access tokens are 256 random bits; only their SHA-256
//! is stored, so lookups compare hashes, never the secret itself.

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier, password_hash::SaltString};
use rand::{
    RngCore,
    distr::{Alphanumeric, SampleString},
};
use std::sync::Arc;

use ruma::{
    DeviceId, OwnedDeviceId, OwnedServerName, OwnedUserId, UserId,
    api::client::uiaa::{AuthData, AuthFlow, AuthType, UiaaInfo, UserIdentifier},
};
use sha2::{Digest, Sha256};

use super::{
    ratelimit::{Action, Limits},
    uia::UiaSessions,
};
use crate::{
    error::{Error, ErrorKind, Result},
    storage::{AccountStore, DeviceRow, DeviceStore, TokenOwner, UserRow},
};

/// A successful login or registration.
pub struct NewSession {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub access_token: String,
}

/// Who made an authenticated request.
#[derive(Clone, Debug)]
pub struct Requester {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(Error::internal)?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(Error::internal)?
        .to_string())
}

/// A hash of a random password with the same parameters as real ones, made once, for
/// checks against accounts that have no hash.
fn dummy_hash() -> Result<String> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash.clone());
    }
    let hash = hash_password(&Alphanumeric.sample_string(&mut rand::rng(), 32))?;
    Ok(DUMMY.get_or_init(|| hash).clone())
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(Error::internal)
}

/// Checks a requested localpart against the spec's grammar for new users.
pub fn validate_localpart(localpart: &str) -> Result<()> {
    let ok = !localpart.is_empty()
        && localpart.bytes().all(
            |b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'=' | b'-' | b'/' | b'+'),
        );
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidUsername,
            "User names may only contain a-z, 0-9 and . _ = - / +",
        ))
    }
}

/// Accounts, their devices' sessions and the checks of their passwords.
pub struct Accounts {
    server_name: OwnedServerName,
    accounts: Arc<dyn AccountStore>,
    devices: Arc<dyn DeviceStore>,
    uia: UiaSessions,
    limits: Arc<Limits>,
}

impl Accounts {
    pub(super) fn new(
        server_name: OwnedServerName,
        accounts: Arc<dyn AccountStore>,
        devices: Arc<dyn DeviceStore>,
        limits: Arc<Limits>,
    ) -> Self {
        Self {
            server_name,
            accounts,
            devices,
            uia: UiaSessions::default(),
            limits,
        }
    }

    /// The user-interactive auth sessions this server started.
    pub fn uia(&self) -> &UiaSessions {
        &self.uia
    }

    /// The full user ID for a localpart (or a full ID on this server).
    pub fn user_id_for(&self, name: &str) -> Result<OwnedUserId> {
        let server = &self.server_name;
        let user_id = if name.starts_with('@') {
            UserId::parse(name.to_lowercase())
                .map_err(|_| Error::new(ErrorKind::InvalidUsername, "Not a valid user ID"))?
        } else {
            let localpart = name.to_lowercase();
            validate_localpart(&localpart)?;
            UserId::parse(format!("@{localpart}:{server}"))
                .map_err(|_| Error::new(ErrorKind::InvalidUsername, "User ID too long"))?
        };
        if user_id.server_name() != server {
            return Err(Error::forbidden("That user is not on this server"));
        }
        Ok(user_id)
    }

    /// The user ID a new account would get: like [`Self::user_id_for`], but a full user ID
    /// must also follow the localpart grammar for new users (`@Eve!X:server` is refused,
    /// not turned into `@eve!x`).
    pub fn new_user_id_for(&self, name: &str) -> Result<OwnedUserId> {
        let user_id = self.user_id_for(name)?;
        validate_localpart(user_id.localpart())?;
        Ok(user_id)
    }

    /// Creates an account. `Ok(false)` if the name is taken.
    pub async fn create_account(
        &self,
        user_id: &UserId,
        password: Option<String>,
        admin: bool,
    ) -> Result<bool> {
        let password_hash = match password {
            Some(p) => Some(blocking(move || hash_password(&p)).await??),
            None => None,
        };
        let row = UserRow {
            user_id: user_id.to_owned(),
            password_hash,
            displayname: Some(user_id.localpart().to_owned()),
            avatar_url: None,
            admin,
            deactivated: false,
        };
        Ok(self.accounts.create_user(&row)?)
    }

    /// Checks a password; the error and the time taken are the same for unknown users
    /// (and accounts without a password) as for wrong passwords, so neither reveals which
    /// accounts exist: without a hash of its own, the password is checked against a dummy.
    pub async fn check_password(&self, user_id: &UserId, password: String) -> Result<()> {
        let wrong = || Error::forbidden("Invalid username or password");
        let user = self.accounts.user(user_id)?;
        let hash = user.as_ref().and_then(|u| u.password_hash.clone());
        let has_hash = hash.is_some();
        let hash = match hash {
            Some(hash) => hash,
            None => dummy_hash()?,
        };
        let matches = blocking(move || verify_password(&password, &hash)).await?;
        match user {
            Some(user) if user.deactivated => Err(Error::new(
                ErrorKind::UserDeactivated,
                "This account has been deactivated",
            )),
            Some(_) if matches && has_hash => Ok(()),
            _ => Err(wrong()),
        }
    }

    /// Spends the time of one password check, for a login that failed before reaching
    /// one (a name that is not a user ID of this server), so it answers no faster.
    pub async fn waste_password_check(&self, password: String) -> Result<()> {
        let hash = dummy_hash()?;
        blocking(move || verify_password(&password, &hash)).await?;
        Ok(())
    }

    /// Creates (or takes over) a device and issues it a fresh access token.
    pub fn new_device_session(
        &self,
        user_id: &UserId,
        device_id: Option<OwnedDeviceId>,
        display_name: Option<&str>,
    ) -> Result<NewSession> {
        let device_id = device_id.unwrap_or_else(|| {
            let id: String = Alphanumeric
                .sample_string(&mut rand::rng(), 10)
                .to_uppercase();
            OwnedDeviceId::from(id)
        });
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let access_token = format!(
            "wft_{}",
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, raw)
        );
        self.devices.upsert_device(
            user_id,
            &device_id,
            display_name,
            &token_hash(&access_token),
        )?;
        Ok(NewSession {
            user_id: user_id.to_owned(),
            device_id,
            access_token,
        })
    }

    /// Resolves an access token to its user and device.
    pub fn authenticate(&self, token: &str) -> Result<Requester> {
        match self.devices.device_for_token(&token_hash(token))? {
            Some(TokenOwner { user_id, device_id }) => Ok(Requester { user_id, device_id }),
            None => Err(Error::new(
                ErrorKind::UnknownToken,
                "Unknown or expired access token",
            )),
        }
    }

    /// Whether the user ID is taken (deactivated accounts keep theirs).
    pub fn user_exists(&self, user_id: &UserId) -> Result<bool> {
        Ok(self.accounts.user(user_id)?.is_some())
    }

    /// The display name and avatar of one of our users.
    pub fn profile(&self, user_id: &UserId) -> Result<Option<(Option<String>, Option<String>)>> {
        Ok(self
            .accounts
            .user(user_id)?
            .map(|u| (u.displayname, u.avatar_url)))
    }

    /// Checks a password for `user_id` under the per-account limit on wrong guesses: none
    /// is checked while the account's allowance is used up, and each wrong one uses some.
    pub async fn check_password_limited(&self, user_id: &UserId, password: String) -> Result<()> {
        self.limits
            .check(Action::PasswordFailure, user_id.as_str())?;
        let outcome = self.check_password(user_id, password).await;
        if outcome.is_err() {
            // Only uses up allowance: the answer is the wrong password's, not a 429.
            let _ = self.limits.take(Action::PasswordFailure, user_id.as_str());
        }
        outcome
    }

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

    /// Stores a new password (hashed).
    pub async fn set_password(&self, user_id: &UserId, new_password: String) -> Result<()> {
        if new_password.is_empty() {
            return Err(Error::new(
                ErrorKind::MissingParam,
                "The new password must not be empty",
            ));
        }
        let hash = blocking(move || hash_password(&new_password)).await??;
        Ok(self.accounts.set_password_hash(user_id, &hash)?)
    }

    pub fn devices(&self, user_id: &UserId) -> Result<Vec<DeviceRow>> {
        Ok(self.devices.devices_of(user_id)?)
    }

    pub fn rename_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        name: Option<&str>,
    ) -> Result<()> {
        if self.devices.rename_device(user_id, device_id, name)? {
            Ok(())
        } else {
            Err(Error::not_found("No such device"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_round_trip() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong", &hash));
    }

    #[test]
    fn localpart_grammar() {
        assert!(validate_localpart("alice.b-1_=/+").is_ok());
        assert!(validate_localpart("Alice").is_err());
        assert!(validate_localpart("").is_err());
        assert!(validate_localpart("a b").is_err());
    }
}
