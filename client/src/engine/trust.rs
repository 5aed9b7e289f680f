//! Trust, driven by the engine: cross-signing bootstrap at first sign-in, signing this
//! device, recovery (secret storage) and the server-side key backup.
//!
//! Like the rest of the crypto, everything goes out through [`Engine::outgoing_requests`]
//! and comes back through [`Engine::mark_request_sent`]; the requests here have IDs starting
//! with `trust-`. Verification and secret sharing are in `engine/verification.rs`.
//!
//! Bootstrap: once our device keys are up and `/keys/query` says we have no master key, new
//! master/self-signing/user-signing keys are made and uploaded — without auth first, then
//! with the password of the fresh sign-in if the server asks ([`Engine::set_sign_in_password`]).
//! Then our device is signed with the self-signing key. If a master key exists already,
//! this device waits to be verified (SAS with another device, or the recovery key).

use std::collections::{BTreeMap, BTreeSet};

use ruma::{
    OwnedRoomId, UserId,
    api::client::{
        backup::{add_backup_keys, create_backup_version, get_backup_keys, get_latest_backup_info},
        config::set_global_account_data,
        keys::{upload_signatures, upload_signing_keys},
    },
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Engine;
use crate::{
    ApiError, HttpRequest, HttpResponse,
    crypto::{
        OutgoingRequest, RequestId,
        backup::{
            AuthData, BackupDecryptionKey, BackupVersion, KeyBackupData, KeysBackupUpload,
            RoomKeyBackup,
        },
        cross_signing::{KeyUsage, SignaturesUpload, sign_master_with_device},
        secret_storage::{
            self, BACKUP_KEY_SECRET, DEFAULT_KEY_EVENT_TYPE, DefaultKeyContent, KeyDescription,
            SecretContent, SecretStorageKey,
        },
        trust::{
            BackupSlot, BackupStatus, CrossSigningStatus, Password, RecoveryStatus, SecurityState,
            Step, is_trust_account_data,
        },
    },
    endpoint::{self, json as json_body},
    requests::target,
};

/// Room keys per backup upload.
const BACKUP_BATCH: usize = 100;

/// Why a trust action could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// This device does not hold the account's cross-signing keys (verify it first).
    #[error("Verify this device first")]
    NotVerified,
    /// The account has no recovery set up.
    #[error("Recovery isn't set up for this account")]
    NoRecovery,
    /// The recovery key is not the account's.
    #[error("That recovery key is not right")]
    WrongRecoveryKey,
    /// The stored secrets do not match the account's published keys.
    #[error("The keys in recovery don't match this account's identity ({0})")]
    Mismatch(String),
    /// No verification with this ID.
    #[error("That verification is over")]
    UnknownVerification,
    /// No direct chat with that user to verify them in.
    #[error("Start a direct chat with them first")]
    NoDirectChat,
}

/// What a trust request was for, for its response.
#[derive(Debug)]
pub(crate) enum TrustRequest {
    /// `/keys/device_signing/upload`, with the password or without.
    SigningKeys {
        with_auth: bool,
    },
    Signatures,
    AccountData,
    CreateBackup(BackupDecryptionKey),
    BackupInfo(BackupDecryptionKey),
    /// After a reload while creating a version: is it there (else create it)?
    ResumeBackup(BackupDecryptionKey),
    BackupUpload(Vec<(OwnedRoomId, String)>),
    BackupDownload,
    /// An in-room verification event sent in the clear, by transaction ID.
    Verification(String),
    /// Signatures on what a verification proved.
    VerifiedSignatures,
}

/// The trust layer's requests in flight (not stored: rebuilt from the state).
#[derive(Debug, Default)]
pub(crate) struct TrustFlight {
    pub(super) in_flight: BTreeMap<RequestId, TrustRequest>,
    pub(super) ready: Vec<(TrustRequest, HttpRequest)>,
    counter: u64,
    /// We re-signed our device once this run (no loop if the server ignores it).
    signed_once: bool,
}

#[derive(Deserialize)]
struct UiaChallenge {
    session: Option<String>,
    #[serde(default)]
    flows: Vec<UiaFlow>,
    errcode: Option<String>,
}

#[derive(Deserialize)]
struct UiaFlow {
    #[serde(default)]
    stages: Vec<String>,
}

#[derive(Deserialize)]
struct CreatedVersion {
    version: String,
}

#[derive(Deserialize)]
struct SignaturesResponse {
    #[serde(default)]
    failures: BTreeMap<String, Value>,
}

impl Engine {
    /// The account password of a fresh sign-in or registration: cross-signing bootstrap may
    /// need it once for user-interactive auth. Kept in memory only (never in
    /// [`Self::crypto_changes`]) and dropped once used. Pump the crypto requests after.
    pub fn set_sign_in_password(&mut self, password: String) {
        self.trust.password = Some(Password(password));
        if self.trust.step == Step::NeedsPassword {
            self.trust.step = Step::UploadKeys;
            self.trust.dirty = true;
        }
    }

    /// This device's cross-signing, recovery and backup state.
    pub fn security(&self) -> SecurityState {
        self.driver.security(self)
    }

    pub(super) fn security_impl(&self) -> SecurityState {
        let own = &self.session.user_id;
        let published = self.published_master(own);
        let trusted = published.is_some() && published == self.trust.trusted_master;
        let signed = self
            .crypto
            .device(own, &self.session.device_id)
            .is_some_and(|d| d.cross_signed);
        let this_device_verified = trusted && signed;
        let cross_signing = match self.trust.step {
            Step::NeedsPassword => CrossSigningStatus::NeedsPassword,
            Step::UploadKeys | Step::SignDevice => CrossSigningStatus::Bootstrapping,
            Step::Idle if this_device_verified => CrossSigningStatus::Ready,
            Step::Idle if published.is_some() && !trusted => CrossSigningStatus::NeedsVerification,
            Step::Idle => CrossSigningStatus::Bootstrapping,
        };
        let recovery = match self.default_key_description() {
            Some(_) => RecoveryStatus::On,
            None => RecoveryStatus::Off,
        };
        let backup = match &self.trust.backup {
            None => BackupStatus::Off,
            Some(slot) if slot.failed => BackupStatus::Failed,
            Some(_) => {
                let uploading = self
                    .trust_flight
                    .in_flight
                    .values()
                    .any(|r| matches!(r, TrustRequest::BackupUpload(_)));
                if uploading || !self.crypto.sessions_to_back_up(1).is_empty() {
                    BackupStatus::Uploading
                } else {
                    BackupStatus::UpToDate
                }
            }
        };
        SecurityState {
            cross_signing,
            recovery,
            backup,
            this_device_verified,
            last_error: self.trust.last_error.clone(),
        }
    }

    fn published_master(&self, user: &UserId) -> Option<String> {
        self.crypto
            .master_key(user)?
            .public_key()
            .ok()
            .map(|k| k.to_base64())
    }

    /// Keeps the secret-storage and backup account data sync brings.
    pub(super) fn trust_account_data(
        &mut self,
        event_type: &str,
        content: &serde_json::value::RawValue,
    ) {
        if is_trust_account_data(event_type)
            && let Ok(value) = crate::event::parse_json::<Value>(content.get())
        {
            self.trust.account_data.insert(event_type.to_owned(), value);
            self.trust.dirty = true;
        }
    }

    fn default_key_description(&self) -> Option<(String, KeyDescription)> {
        let default: DefaultKeyContent =
            serde_json::from_value(self.trust.account_data.get(DEFAULT_KEY_EVENT_TYPE)?.clone())
                .ok()?;
        let description = self
            .trust
            .account_data
            .get(&secret_storage::key_event_type(&default.key))?;
        Some((
            default.key,
            serde_json::from_value(description.clone()).ok()?,
        ))
    }

    fn trust_request(&mut self, what: TrustRequest, request: Result<HttpRequest, ApiError>) {
        match request {
            Ok(request) => self.trust_flight.ready.push((what, request)),
            Err(error) => self.trust.last_error = Some(error.to_string()),
        }
    }

    /// The trust layer's requests (called by [`Self::outgoing_requests`] before the
    /// machine's, so to-device messages queued here go out in the same round).
    pub(super) fn trust_outgoing(&mut self, out: &mut Vec<OutgoingRequest>) {
        self.bootstrap_step();
        self.verification_tick();
        self.backup_step();
        for (what, request) in std::mem::take(&mut self.trust_flight.ready) {
            self.trust_flight.counter += 1;
            let id = RequestId(format!("trust-{}", self.trust_flight.counter));
            self.trust_flight.in_flight.insert(id.clone(), what);
            out.push(OutgoingRequest { id, request });
        }
    }

    fn busy(&self, what: fn(&TrustRequest) -> bool) -> bool {
        self.trust_flight
            .in_flight
            .values()
            .chain(self.trust_flight.ready.iter().map(|(w, _)| w))
            .any(what)
    }

    fn bootstrap_step(&mut self) {
        if !self.crypto.own_identity_known()
            || self.busy(|r| {
                matches!(
                    r,
                    TrustRequest::SigningKeys { .. } | TrustRequest::Signatures
                )
            })
        {
            return;
        }
        let own = self.session.user_id.clone();
        let published = self.published_master(&own);
        let ours = self
            .trust
            .keys
            .master
            .as_ref()
            .map(|k| k.public_key().to_base64());
        if self.trust.step == Step::Idle {
            if published.is_none() && ours.is_none() {
                self.trust.keys = crate::crypto::cross_signing::CrossSigningKeys::generate();
                self.trust.trusted_master = self
                    .trust
                    .keys
                    .master
                    .as_ref()
                    .map(|k| k.public_key().to_base64());
                self.trust.step = Step::UploadKeys;
                self.trust.dirty = true;
            } else if published.is_some()
                && published == self.trust.trusted_master
                && self.trust.keys.self_signing.is_some()
                && !self.trust_flight.signed_once
                && !self
                    .crypto
                    .device(&own, &self.session.device_id)
                    .is_some_and(|d| d.cross_signed)
            {
                self.trust.step = Step::SignDevice;
                self.trust.dirty = true;
            }
        }
        match self.trust.step {
            Step::UploadKeys => {
                if published.is_some() && published != ours {
                    // Another device won the race: don't replace its identity.
                    self.trust.keys = Default::default();
                    self.trust.trusted_master = None;
                    self.trust.step = Step::Idle;
                    self.trust.dirty = true;
                    return;
                }
                let body = match self.trust.keys.upload_body(&own) {
                    Ok(body) => body,
                    Err(error) => {
                        self.trust.last_error = Some(error.to_string());
                        self.trust.step = Step::Idle;
                        return;
                    }
                };
                let mut body = serde_json::to_value(body).unwrap_or(Value::Null);
                // The password is kept until the server took it or refused it: a lost
                // response must not cost the user's one chance.
                let mut with_auth = false;
                if let Some(session) = &self.trust.uia_session
                    && let Some(Password(password)) = &self.trust.password
                {
                    with_auth = true;
                    body["auth"] = json!({
                        "type": "m.login.password", "session": session, "password": password,
                        "identifier": {"type": "m.id.user", "user": own},
                    });
                }
                let request = json_body(&body).and_then(|body| {
                    endpoint::request::<upload_signing_keys::v3::Request>(
                        target(&self.session),
                        &[],
                        &[],
                        body,
                    )
                });
                self.trust_request(TrustRequest::SigningKeys { with_auth }, request);
            }
            Step::SignDevice => {
                let request = self.device_signatures(&own).and_then(|body| {
                    endpoint::request::<upload_signatures::v3::Request>(
                        target(&self.session),
                        &[],
                        &[],
                        body,
                    )
                });
                self.trust_flight.signed_once = true;
                self.trust_request(TrustRequest::Signatures, request);
            }
            Step::Idle | Step::NeedsPassword => {}
        }
    }

    /// Our device keys signed with our self-signing key, and the master key we trust signed
    /// by our device (so our other devices can trust it through this one).
    fn device_signatures(&self, own: &UserId) -> Result<Option<Vec<u8>>, ApiError> {
        let bad = |e: crate::crypto::cross_signing::CrossSigningError| {
            ApiError::InvalidRequest(e.to_string())
        };
        let mut upload = SignaturesUpload::default();
        let mut device_keys = self.crypto.device_keys();
        self.trust
            .keys
            .sign_device(own, &mut device_keys)
            .map_err(bad)?;
        upload.add_device(device_keys).map_err(bad)?;
        let master = match self.trust.keys.key_object(own, KeyUsage::Master) {
            Ok(master) => Some(master),
            Err(_) => self.crypto.master_key(own),
        };
        if let Some(mut master) = master
            && master.public_key().ok().map(|k| k.to_base64()) == self.trust.trusted_master
        {
            master.signatures.clear();
            sign_master_with_device(&mut master, own, &self.session.device_id, |m| {
                self.crypto.sign_bytes(m)
            })
            .map_err(bad)?;
            upload.add_key(&master).map_err(bad)?;
        }
        json_body(&upload)
    }

    /// Takes the response to a trust request; `None` if the ID is not one of ours.
    pub(super) fn trust_mark(
        &mut self,
        id: &RequestId,
        response: Option<HttpResponse<'_>>,
    ) -> Option<Result<(), ApiError>> {
        let what = self.trust_flight.in_flight.remove(id)?;
        self.trust.dirty = true;
        let Some(response) = response else {
            // No answer: the state rebuilds the request, except these one-offs.
            match what {
                TrustRequest::CreateBackup(_)
                | TrustRequest::AccountData
                | TrustRequest::Verification(_)
                | TrustRequest::VerifiedSignatures => {
                    self.trust.last_error = Some("The homeserver could not be reached".into());
                }
                TrustRequest::BackupInfo(key) => {
                    self.request_backup_info(key);
                }
                TrustRequest::BackupDownload => self.request_backup_download(),
                _ => {}
            }
            return Some(Ok(()));
        };
        let own = self.session.user_id.clone();
        let status = response.status().as_u16();
        let result = match what {
            TrustRequest::SigningKeys { with_auth } => {
                if status == 401 {
                    let challenge: Option<UiaChallenge> =
                        serde_json::from_slice(response.body()).ok();
                    let password_flow = challenge.as_ref().is_some_and(|c| {
                        c.flows
                            .iter()
                            .any(|f| f.stages.iter().any(|s| s == "m.login.password"))
                    });
                    // A refusal of the password we sent (servers say M_FORBIDDEN; any 401 to
                    // an authenticated attempt counts, so we never loop).
                    let wrong = with_auth
                        || challenge.as_ref().and_then(|c| c.errcode.as_deref())
                            == Some("M_FORBIDDEN");
                    self.trust.uia_session = challenge.and_then(|c| c.session);
                    if !password_flow {
                        self.trust.last_error =
                            Some("The homeserver asks for a sign-in step Weft can't do".into());
                        self.trust.step = Step::NeedsPassword;
                    } else if self.trust.password.is_some() && !wrong {
                        // Retried with the password at the next round.
                    } else {
                        if wrong {
                            self.trust.last_error = Some("Wrong password".into());
                        }
                        self.trust.password = None;
                        self.trust.step = Step::NeedsPassword;
                    }
                    return Some(Ok(()));
                }
                let result = endpoint::parse_empty(response);
                match &result {
                    Ok(()) => {
                        self.trust.uia_session = None;
                        self.trust.password = None;
                        self.trust.step = Step::SignDevice;
                        self.trust.last_error = None;
                    }
                    Err(error) => {
                        self.trust.last_error = Some(error.to_string());
                        self.trust.step = Step::NeedsPassword;
                    }
                }
                result
            }
            TrustRequest::Signatures => {
                let result = endpoint::parse::<SignaturesResponse>(response);
                self.trust.step = Step::Idle;
                self.crypto.refresh_user(&own);
                match result {
                    Ok(parsed) if parsed.failures.is_empty() => Ok(()),
                    Ok(parsed) => {
                        self.trust.last_error = Some(format!(
                            "The homeserver refused a signature ({})",
                            json!(parsed.failures)
                        ));
                        Ok(())
                    }
                    Err(error) => {
                        self.trust.last_error = Some(error.to_string());
                        Err(error)
                    }
                }
            }
            TrustRequest::AccountData | TrustRequest::VerifiedSignatures => {
                let result = endpoint::parse_empty(response);
                if let Err(error) = &result {
                    self.trust.last_error = Some(error.to_string());
                }
                result
            }
            TrustRequest::CreateBackup(key) => match endpoint::parse::<CreatedVersion>(response) {
                Ok(created) => {
                    self.trust.backup = Some(BackupSlot {
                        version: created.version,
                        key,
                        failed: false,
                    });
                    self.trust.new_backup_key = None;
                    self.crypto.reset_backed_up();
                    Ok(())
                }
                Err(error) => {
                    self.trust.last_error = Some(error.to_string());
                    Err(error)
                }
            },
            TrustRequest::BackupInfo(key) => match endpoint::parse::<BackupVersion>(response) {
                Ok(info) if key.matches(&info) && info.version.is_some() => {
                    self.trust.backup = Some(BackupSlot {
                        version: info.version.unwrap_or_default(),
                        key,
                        failed: false,
                    });
                    self.crypto.reset_backed_up();
                    self.request_backup_download();
                    Ok(())
                }
                Ok(_) => {
                    self.trust.last_error =
                        Some("The backup key doesn't open the current backup".into());
                    Ok(())
                }
                Err(error) => {
                    self.trust.last_error = Some(error.to_string());
                    Err(error)
                }
            },
            TrustRequest::ResumeBackup(key) => {
                let status = response.status().as_u16();
                match endpoint::parse::<BackupVersion>(response) {
                    Ok(info) if key.matches(&info) && info.version.is_some() => {
                        let version = info.version.unwrap_or_default();
                        self.trust.backup = Some(BackupSlot {
                            version,
                            key,
                            failed: false,
                        });
                        self.trust.new_backup_key = None;
                        self.crypto.reset_backed_up();
                        Ok(())
                    }
                    Ok(_) => self
                        .create_backup(key)
                        .map_err(|e| ApiError::InvalidRequest(e.to_string())),
                    Err(_) if status == 404 => self
                        .create_backup(key)
                        .map_err(|e| ApiError::InvalidRequest(e.to_string())),
                    Err(error) => Err(error),
                }
            }
            TrustRequest::BackupUpload(sessions) => {
                let result = endpoint::parse_empty(response);
                match &result {
                    Ok(()) => self.crypto.mark_backed_up(&sessions),
                    Err(ApiError::Server { status: 404, .. }) => self.backup_failed(),
                    Err(ApiError::Server { errcode, .. })
                        if errcode == "M_WRONG_ROOM_KEYS_VERSION" =>
                    {
                        self.backup_failed()
                    }
                    Err(error) => self.trust.last_error = Some(error.to_string()),
                }
                result
            }
            TrustRequest::BackupDownload => match endpoint::parse::<KeysBackupUpload>(response) {
                Ok(keys) => {
                    self.import_backup(keys);
                    Ok(())
                }
                Err(error) => {
                    self.trust.last_error = Some(error.to_string());
                    Err(error)
                }
            },
            TrustRequest::Verification(txn_id) => self.verification_event_sent(&txn_id, response),
        };
        Some(result)
    }

    fn backup_failed(&mut self) {
        if let Some(slot) = &mut self.trust.backup {
            slot.failed = true;
        }
        self.trust.last_error =
            Some("The key backup was replaced or deleted on another device".into());
    }

    /// Uploads the room keys not yet in the backup, a batch at a time.
    fn backup_step(&mut self) {
        if let Some(key) = self.trust.new_backup_key.clone()
            && !self.busy(|r| {
                matches!(
                    r,
                    TrustRequest::CreateBackup(_) | TrustRequest::ResumeBackup(_)
                )
            })
        {
            // Reloaded while a version was being created: it may exist already.
            let request = endpoint::request::<get_latest_backup_info::v3::Request>(
                target(&self.session),
                &[],
                &[],
                None,
            );
            self.trust_request(TrustRequest::ResumeBackup(key), request);
        }
        let Some(slot) = &self.trust.backup else {
            return;
        };
        if slot.failed
            || self.busy(|r| {
                matches!(
                    r,
                    TrustRequest::BackupUpload(_) | TrustRequest::BackupDownload
                )
            })
        {
            return;
        }
        let sessions = self.crypto.sessions_to_back_up(BACKUP_BATCH);
        if sessions.is_empty() {
            return;
        }
        let encryption = crate::crypto::backup::BackupEncryptionKey(slot.key.public_key());
        let version = slot.version.clone();
        let mut body = KeysBackupUpload::default();
        let mut ids = Vec::new();
        for session in sessions {
            let data = KeyBackupData {
                first_message_index: session.first_message_index,
                forwarded_count: 0,
                is_verified: session.is_verified,
                session_data: encryption.encrypt(&session.data),
            };
            body.rooms
                .entry(session.room_id.clone())
                .or_insert_with(RoomKeyBackup::default)
                .sessions
                .insert(session.session_id.clone(), data);
            ids.push((session.room_id, session.session_id));
        }
        let request = json_body(&body).and_then(|body| {
            endpoint::request::<add_backup_keys::v3::Request>(
                target(&self.session),
                &[],
                &[("version", &version)],
                body,
            )
        });
        self.trust_request(TrustRequest::BackupUpload(ids), request);
    }

    /// Sets up recovery: a new secret-storage key holding our cross-signing keys and a new
    /// backup key, and a new backup version that every room key goes to from now on.
    /// Returns the recovery key to show once (groups of four characters). Needs the three
    /// cross-signing private keys (a bootstrapped, recovered or verified-and-shared device).
    pub fn set_up_recovery(&mut self) -> Result<String, TrustError> {
        self.driver.set_up_recovery(self)
    }

    pub(super) fn set_up_recovery_impl(&mut self) -> Result<String, TrustError> {
        let own = self.session.user_id.clone();
        let keys = &self.trust.keys;
        if keys.master.is_none() || keys.self_signing.is_none() || keys.user_signing.is_none() {
            return Err(TrustError::NotVerified);
        }
        if self.published_master(&own) != self.trust.trusted_master {
            return Err(TrustError::NotVerified);
        }
        let key = SecretStorageKey::generate();
        let key_id = secret_storage::new_key_id();
        let backup_key = BackupDecryptionKey::generate();
        let mut writes: Vec<(String, Value)> = vec![
            (
                secret_storage::key_event_type(&key_id),
                json!(KeyDescription::new(&key, None)),
            ),
            (
                DEFAULT_KEY_EVENT_TYPE.to_owned(),
                json!(DefaultKeyContent {
                    key: key_id.clone()
                }),
            ),
            ("m.key_backup".to_owned(), json!({"enabled": true})),
        ];
        let mut secrets: Vec<(&str, String)> = Vec::new();
        for usage in [
            KeyUsage::Master,
            KeyUsage::SelfSigning,
            KeyUsage::UserSigning,
        ] {
            if let Some(secret) = self.trust.keys.export(usage) {
                secrets.push((usage.secret_name(), secret));
            }
        }
        secrets.push((BACKUP_KEY_SECRET, backup_key.to_base64()));
        for (name, secret) in secrets {
            let content = SecretContent {
                encrypted: BTreeMap::from([(key_id.clone(), key.encrypt(name, &secret))]),
            };
            writes.push((name.to_owned(), json!(content)));
        }
        for (event_type, content) in writes {
            let request = json_body(&content).and_then(|body| {
                endpoint::request::<set_global_account_data::v3::Request>(
                    target(&self.session),
                    &[&own, &event_type],
                    &[],
                    body,
                )
            });
            self.trust.account_data.insert(event_type, content);
            self.trust_request(TrustRequest::AccountData, request);
        }
        self.trust.new_backup_key = Some(backup_key.clone());
        self.create_backup(backup_key)?;
        self.trust.last_error = None;
        self.trust.dirty = true;
        Ok(key.to_recovery_key())
    }

    /// Recovers on this device with the recovery key: the cross-signing keys come out of
    /// secret storage (checked against the published ones), this device is signed, and the
    /// backup key is checked against the current backup, whose keys are then downloaded and
    /// the waiting messages decrypted. Pump the crypto requests after.
    pub fn recover(&mut self, recovery_key: &str) -> Result<(), TrustError> {
        self.driver.recover(self, recovery_key)
    }

    pub(super) fn recover_impl(&mut self, recovery_key: &str) -> Result<(), TrustError> {
        let (key_id, description) = self
            .default_key_description()
            .ok_or(TrustError::NoRecovery)?;
        let key = SecretStorageKey::from_recovery_key(recovery_key)
            .map_err(|_| TrustError::WrongRecoveryKey)?;
        description
            .check(&key)
            .map_err(|_| TrustError::WrongRecoveryKey)?;
        let secret = |name: &str| -> Result<Option<String>, TrustError> {
            let Some(content) = self.trust.account_data.get(name) else {
                return Ok(None);
            };
            let content: SecretContent = serde_json::from_value(content.clone())
                .map_err(|_| TrustError::Mismatch(format!("{name} unreadable")))?;
            key.decrypt_secret(&key_id, name, &content)
                .map(Some)
                .map_err(|e| TrustError::Mismatch(e.to_string()))
        };
        let mut found = BTreeMap::new();
        for usage in [
            KeyUsage::Master,
            KeyUsage::SelfSigning,
            KeyUsage::UserSigning,
        ] {
            if let Some(value) = secret(usage.secret_name())? {
                found.insert(usage.secret_name(), value);
            }
        }
        let backup_key = secret(BACKUP_KEY_SECRET)?;
        self.take_secrets(found)?;
        if let Some(backup_key) = backup_key {
            let key = BackupDecryptionKey::from_base64(&backup_key)
                .map_err(|e| TrustError::Mismatch(e.to_string()))?;
            self.request_backup_info(key);
        }
        Ok(())
    }

    /// Stores cross-signing private keys (from secret storage or another device of ours)
    /// after checking them against the published keys, and signs this device.
    pub(super) fn take_secrets(
        &mut self,
        secrets: BTreeMap<&str, String>,
    ) -> Result<(), TrustError> {
        let own = self.session.user_id.clone();
        let master = self
            .crypto
            .master_key(&own)
            .ok_or(TrustError::Mismatch("no published master key".into()))?;
        let mut keys = self.trust.keys.clone();
        if let Some(secret) = secrets.get(KeyUsage::Master.secret_name()) {
            keys.import(KeyUsage::Master, secret, &master)
                .map_err(|e| TrustError::Mismatch(e.to_string()))?;
        }
        if let Some(secret) = secrets.get(KeyUsage::SelfSigning.secret_name()) {
            let ssk = self
                .crypto
                .self_signing_key(&own)
                .ok_or(TrustError::Mismatch("no self-signing key".into()))?;
            keys.import(KeyUsage::SelfSigning, secret, &ssk)
                .map_err(|e| TrustError::Mismatch(e.to_string()))?;
        }
        if let Some(secret) = secrets.get(KeyUsage::UserSigning.secret_name()) {
            let usk = self
                .crypto
                .own_user_signing_key()
                .ok_or(TrustError::Mismatch("no user-signing key".into()))?;
            keys.import(KeyUsage::UserSigning, secret, &usk)
                .map_err(|e| TrustError::Mismatch(e.to_string()))?;
        }
        let master_public = master
            .public_key()
            .map_err(|e| TrustError::Mismatch(e.to_string()))?
            .to_base64();
        if keys.master.is_none() && self.trust.trusted_master.as_deref() != Some(&master_public) {
            return Err(TrustError::Mismatch(
                "the master key is not one this device trusts".into(),
            ));
        }
        self.trust.keys = keys;
        self.trust.trusted_master = Some(master_public);
        if self.trust.keys.self_signing.is_some() {
            self.trust.step = Step::SignDevice;
            self.trust_flight.signed_once = false;
        }
        self.trust.last_error = None;
        self.trust.dirty = true;
        Ok(())
    }

    /// `POST /room_keys/version` for `key`, with `auth_data` signed by this device and our
    /// master key.
    fn create_backup(&mut self, key: BackupDecryptionKey) -> Result<(), TrustError> {
        let own = self.session.user_id.clone();
        let mut auth_data = AuthData::new(key.public_key());
        let device_key_id = format!("ed25519:{}", self.session.device_id);
        let signed = auth_data
            .sign_with(&own, &device_key_id, |m| self.crypto.sign_bytes(m))
            .is_ok()
            && self.trust.keys.master.as_ref().is_some_and(|master| {
                auth_data
                    .sign_with(&own, &master.key_id(), |m| master.sign(m))
                    .is_ok()
            });
        if !signed {
            return Err(TrustError::NotVerified);
        }
        let request = json_body(&BackupVersion::new(auth_data)).and_then(|body| {
            endpoint::request::<create_backup_version::v3::Request>(
                target(&self.session),
                &[],
                &[],
                body,
            )
        });
        self.trust_request(TrustRequest::CreateBackup(key), request);
        Ok(())
    }

    pub(super) fn request_backup_info(&mut self, key: BackupDecryptionKey) {
        let request = endpoint::request::<get_latest_backup_info::v3::Request>(
            target(&self.session),
            &[],
            &[],
            None,
        );
        self.trust_request(TrustRequest::BackupInfo(key), request);
    }

    fn request_backup_download(&mut self) {
        let Some(slot) = &self.trust.backup else {
            return;
        };
        let version = slot.version.clone();
        let request = endpoint::request::<get_backup_keys::v3::Request>(
            target(&self.session),
            &[],
            &[("version", &version)],
            None,
        );
        self.trust_request(TrustRequest::BackupDownload, request);
    }

    /// Imports the backup's room keys and decrypts what waited for them.
    fn import_backup(&mut self, keys: KeysBackupUpload) {
        let Some(slot) = &self.trust.backup else {
            return;
        };
        let key = slot.key.clone();
        let mut imported: BTreeMap<OwnedRoomId, BTreeSet<String>> = BTreeMap::new();
        for (room_id, room) in keys.rooms {
            for (session_id, data) in room.sessions {
                let Ok(plain) = key.decrypt(&data.session_data) else {
                    continue;
                };
                if self.crypto.import_backed_up(&room_id, &session_id, &plain) {
                    imported
                        .entry(room_id.clone())
                        .or_default()
                        .insert(session_id);
                }
            }
        }
        for (room_id, sessions) in imported {
            if let Some(room) = self.rooms.get_mut(&room_id) {
                room.retry_decryption(
                    &sessions,
                    &mut super::Decryptor {
                        driver: self.driver,
                        machine: &mut self.crypto,
                    },
                );
            }
        }
    }

    /// Whether we verified `user` (their current master key is the one we verified, or our
    /// user-signing key signed it); for our own user, whether this device is verified.
    pub fn is_user_verified(&self, user: &UserId) -> bool {
        self.driver.is_user_verified(self, user)
    }

    pub(super) fn is_user_verified_impl(&self, user: &UserId) -> bool {
        if *user == self.session.user_id {
            return self.security().this_device_verified;
        }
        let Some(master) = self.crypto.master_key(user) else {
            return false;
        };
        let Ok(public) = master.public_key() else {
            return false;
        };
        if self.trust.verified_with(user, &public.to_base64()) {
            return true;
        }
        // Signed by our user-signing key: the one we hold, or the published one under the
        // master key we trust.
        let own = &self.session.user_id;
        let usk = match &self.trust.keys.user_signing {
            Some(usk) => Some((usk.key_id(), usk.public_key())),
            None if self.published_master(own).is_some()
                && self.published_master(own) == self.trust.trusted_master =>
            {
                self.crypto
                    .own_user_signing_key()
                    .and_then(|usk| Some((usk.key_id().ok()?, usk.public_key().ok()?)))
            }
            None => None,
        };
        usk.is_some_and(|(key_id, key)| {
            crate::crypto::canonical::verify_json(&master.to_value(), own.as_str(), &key_id, &key)
                .is_ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use ruma::{MilliSecondsSinceUnixEpoch, UInt, owned_room_id};
    use serde_json::json;

    use super::*;
    use crate::{
        Draft, ItemKind, Session,
        crypto::{fake_server::FakeServer, sas::Phase},
        engine::Outgoing,
    };

    pub(crate) fn session(user: &str, device: &str) -> Session {
        Session {
            homeserver: "http://hs".into(),
            user_id: user.try_into().unwrap(),
            device_id: device.into(),
            access_token: format!("tok-{device}"),
        }
    }

    fn drive(server: &mut FakeServer, engines: &mut [&mut Engine]) {
        for _ in 0..40 {
            let mut any = false;
            for engine in engines.iter_mut() {
                engine.set_now(MilliSecondsSinceUnixEpoch(UInt::new(1_000).unwrap()));
                for request in engine.outgoing_requests() {
                    any = true;
                    let (status, body) = server.handle(engine.session(), &request.request);
                    let response = http::Response::builder()
                        .status(status)
                        .body(&body[..])
                        .unwrap();
                    let _ = engine.mark_request_sent(&request.id, Some(response));
                }
            }
            if !any {
                return;
            }
        }
        panic!("requests never settle");
    }

    fn member(user: &str) -> Value {
        json!({"type": "m.room.member", "event_id": format!("$m{user}"), "sender": user, "state_key": user,
               "origin_server_ts": 1, "content": {"membership": "join"}})
    }

    fn room_state(members: &[&str]) -> Vec<Value> {
        let mut state = vec![
            json!({"type": "m.room.create", "event_id": "$c", "sender": members[0], "state_key": "",
                                    "origin_server_ts": 1, "content": {"room_version": "11"}}),
        ];
        state.extend(members.iter().map(|m| member(m)));
        state.push(json!({"type": "m.room.encryption", "event_id": "$enc", "sender": members[0], "state_key": "",
                          "origin_server_ts": 2, "content": {"algorithm": "m.megolm.v1.aes-sha2"}}));
        state
    }

    /// One engine's view of the fake server: which room events it has synced.
    struct Client {
        engine: Engine,
        seen: usize,
        batch: u32,
    }

    impl Client {
        fn new(user: &str, device: &str) -> Self {
            Self {
                engine: Engine::new(session(user, device)),
                seen: 0,
                batch: 0,
            }
        }

        /// A sync with everything new: to-device events, account data, room events (first
        /// time with the room's state), and every tracked user marked changed so device
        /// lists stay fresh.
        fn sync(
            &mut self,
            server: &mut FakeServer,
            rooms: &[(&str, Vec<Value>)],
            direct: Option<Value>,
        ) {
            let user = self.engine.user_id().to_string();
            let mut join = serde_json::Map::new();
            for (room_id, state) in rooms {
                let events: Vec<Value> = server.room_events[self.seen..]
                    .iter()
                    .filter(|e| e["room_id"] == *room_id)
                    .cloned()
                    .collect();
                let state = if self.batch == 0 {
                    state.clone()
                } else {
                    Vec::new()
                };
                join.insert(
                    (*room_id).to_owned(),
                    json!({"state": {"events": state}, "timeline": {"events": events}}),
                );
            }
            self.seen = server.room_events.len();
            self.batch += 1;
            let mut account_data = server.account_data_events(&user);
            if let Some(direct) = direct {
                account_data.push(json!({"type": "m.direct", "content": direct}));
            }
            let changed: Vec<String> = ["@alice:hs", "@bob:hs"]
                .iter()
                .map(|u| (*u).to_owned())
                .collect();
            let body = json!({"next_batch": format!("s{}", self.batch), "to_device": {"events": server.take_to_device(self.engine.session())},
                "account_data": {"events": account_data}, "device_lists": {"changed": changed},
                "rooms": {"join": join}});
            let bytes = serde_json::to_vec(&body).unwrap();
            self.engine
                .handle_sync_response(
                    http::Response::builder()
                        .status(200)
                        .body(&bytes[..])
                        .unwrap(),
                )
                .unwrap();
        }
    }

    fn bootstrapped(server: &mut FakeServer, user: &str, device: &str) -> Client {
        let mut client = Client::new(user, device);
        drive(server, &mut [&mut client.engine]);
        assert_eq!(
            client.engine.security().cross_signing,
            CrossSigningStatus::Ready,
            "{:?}",
            client.engine.security()
        );
        client
    }

    #[test]
    fn first_sign_in_bootstraps_cross_signing_and_signs_the_device() {
        let mut server = FakeServer::default();
        let mut alice = Client::new("@alice:hs", "ALICE");
        drive(&mut server, &mut [&mut alice.engine]);
        let security = alice.engine.security();
        assert_eq!(security.cross_signing, CrossSigningStatus::Ready);
        assert!(security.this_device_verified);
        assert!(alice.engine.is_user_verified(alice.engine.user_id()));
        let master = server.master_key("@alice:hs").unwrap().clone();
        assert!(
            master["signatures"]["@alice:hs"]
                .get("ed25519:ALICE")
                .is_some(),
            "our device vouches for the master key"
        );
        let device = server.device("@alice:hs", "ALICE").unwrap();
        assert_eq!(
            device["signatures"]["@alice:hs"].as_object().unwrap().len(),
            2,
            "self-signed and cross-signed"
        );
        // The private keys are stored, and come back after a reload.
        let stored = alice.engine.crypto_changes().unwrap();
        let restored = Engine::with_crypto(session("@alice:hs", "ALICE"), Some(&stored)).unwrap();
        assert!(restored.trust.keys.master.is_some() && restored.trust.keys.user_signing.is_some());
        assert!(
            !format!("{:?}", restored.trust)
                .contains(&alice.engine.trust.keys.export(KeyUsage::Master).unwrap())
        );
        assert_eq!(
            server
                .paths
                .iter()
                .filter(|p| p.ends_with("/device_signing/upload"))
                .count(),
            1
        );
    }

    #[test]
    fn a_server_asking_for_the_password_gets_it_once() {
        let mut server = FakeServer::default();
        server
            .passwords
            .insert("@alice:hs".into(), "secret-pw".into());
        let mut alice = Client::new("@alice:hs", "ALICE");
        drive(&mut server, &mut [&mut alice.engine]);
        assert_eq!(
            alice.engine.security().cross_signing,
            CrossSigningStatus::NeedsPassword
        );
        alice.engine.set_sign_in_password("wrong".into());
        drive(&mut server, &mut [&mut alice.engine]);
        assert_eq!(
            alice.engine.security().cross_signing,
            CrossSigningStatus::NeedsPassword
        );
        assert_eq!(
            alice.engine.security().last_error.as_deref(),
            Some("Wrong password")
        );
        alice.engine.set_sign_in_password("secret-pw".into());
        // The first try with it gets no answer (network): the password is not lost.
        for request in alice.engine.outgoing_requests() {
            assert!(
                request
                    .request
                    .uri()
                    .path()
                    .ends_with("/device_signing/upload")
            );
            assert!(String::from_utf8_lossy(request.request.body()).contains("secret-pw"));
            alice.engine.mark_request_sent(&request.id, None).unwrap();
        }
        drive(&mut server, &mut [&mut alice.engine]);
        assert_eq!(
            alice.engine.security().cross_signing,
            CrossSigningStatus::Ready
        );
        assert!(alice.engine.trust.password.is_none(), "dropped once used");
        let stored = alice.engine.crypto_changes().unwrap();
        assert!(!stored.contains("secret-pw"));
    }

    #[test]
    fn a_second_device_does_not_replace_the_identity() {
        let mut server = FakeServer::default();
        let mut first = bootstrapped(&mut server, "@alice:hs", "ALICE");
        let master = server.master_key("@alice:hs").unwrap().clone();
        let mut second = Client::new("@alice:hs", "ALICE2");
        drive(&mut server, &mut [&mut second.engine]);
        assert_eq!(
            second.engine.security().cross_signing,
            CrossSigningStatus::NeedsVerification
        );
        assert!(!second.engine.security().this_device_verified);
        assert_eq!(
            server.master_key("@alice:hs").unwrap()["keys"],
            master["keys"]
        );
        assert_eq!(
            server
                .paths
                .iter()
                .filter(|p| p.ends_with("/device_signing/upload"))
                .count(),
            1
        );
        assert!(matches!(
            second.engine.set_up_recovery(),
            Err(TrustError::NotVerified)
        ));

        // The first device does not hand its secrets to a device it hasn't verified.
        first.sync(&mut server, &[], None);
        drive(&mut server, &mut [&mut first.engine]);
        assert!(
            first
                .engine
                .crypto
                .device(first.engine.user_id(), "ALICE2".into())
                .is_some(),
            "it knows the device"
        );
        let request = json!({"sender": "@alice:hs", "type": "m.secret.request", "content": {
            "name": "m.cross_signing.self_signing", "action": "request", "requesting_device_id": "ALICE2", "request_id": "r1"}});
        let body = json!({"next_batch": "s9", "to_device": {"events": [request]}, "device_lists": {"changed": ["@alice:hs"]}});
        let bytes = serde_json::to_vec(&body).unwrap();
        first
            .engine
            .handle_sync_response(
                http::Response::builder()
                    .status(200)
                    .body(&bytes[..])
                    .unwrap(),
            )
            .unwrap();
        drive(&mut server, &mut [&mut first.engine]);
        assert!(
            first
                .engine
                .crypto
                .device(first.engine.user_id(), "ALICE2".into())
                .is_some(),
            "it knows the device"
        );
        assert!(
            !server
                .paths
                .iter()
                .any(|p| p.contains("/sendToDevice/m.room.encrypted/")),
            "no secret sent"
        );
        assert!(
            first.engine.take_to_device_events().is_empty(),
            "the request was handled, not handed on"
        );
    }

    fn say(engine: &mut Engine, room: &str, text: &str, txn: &str) {
        let draft = Draft {
            text: text.into(),
            ..Draft::default()
        };
        let at = MilliSecondsSinceUnixEpoch(UInt::new(50).unwrap());
        let room: OwnedRoomId = room.try_into().unwrap();
        assert!(matches!(
            engine.send_message(&room, draft, txn.into(), at).unwrap(),
            Outgoing::Queued
        ));
    }

    fn item_kind(engine: &Engine, room: &str, event_id: &str) -> (ItemKind, String) {
        let room: OwnedRoomId = room.try_into().unwrap();
        let item = engine
            .room(&room)
            .unwrap()
            .items(engine.user_id())
            .into_iter()
            .find(|i| i.event_id.as_ref().is_some_and(|e| e.as_str() == event_id))
            .unwrap();
        (item.kind, item.body)
    }

    #[test]
    fn recovery_backs_up_keys_and_a_new_device_recovers_them() {
        let mut server = FakeServer::default();
        server
            .members
            .insert("!r:hs".into(), vec![member("@alice:hs")]);
        let state = room_state(&["@alice:hs"]);
        let rooms = [("!r:hs", state)];
        let mut alice = bootstrapped(&mut server, "@alice:hs", "ALICE");
        alice.sync(&mut server, &rooms, None);
        say(&mut alice.engine, "!r:hs", "before recovery", "t1");
        drive(&mut server, &mut [&mut alice.engine]);
        let recovery_key = alice.engine.set_up_recovery().unwrap();
        drive(&mut server, &mut [&mut alice.engine]);
        let security = alice.engine.security();
        assert_eq!(
            (security.recovery, security.backup),
            (RecoveryStatus::On, BackupStatus::UpToDate),
            "{security:?}"
        );
        assert_eq!(server.backup_keys["!r:hs"].len(), 1);
        assert!(server.account_data["@alice:hs"].contains_key("m.cross_signing.self_signing"));
        // Later keys go up too.
        server
            .members
            .insert("!r2:hs".into(), vec![member("@alice:hs")]);
        let rooms = [
            ("!r:hs", rooms[0].1.clone()),
            ("!r2:hs", room_state(&["@alice:hs"])),
        ];
        alice.batch = 0;
        alice.sync(&mut server, &rooms, None);
        say(&mut alice.engine, "!r2:hs", "after", "t2");
        drive(&mut server, &mut [&mut alice.engine]);
        assert_eq!(server.backup_keys["!r2:hs"].len(), 1);

        // A new device sees the message wait for its key, then recovers.
        let mut second = Client::new("@alice:hs", "ALICE2");
        drive(&mut server, &mut [&mut second.engine]);
        second.sync(&mut server, &rooms, None);
        assert_eq!(
            item_kind(&second.engine, "!r:hs", "$ev0").0,
            ItemKind::Encrypted
        );
        assert_eq!(
            second.engine.recover("EsTc 1234 nope"),
            Err(TrustError::WrongRecoveryKey)
        );
        let other_key = SecretStorageKey::generate().to_recovery_key();
        assert_eq!(
            second.engine.recover(&other_key),
            Err(TrustError::WrongRecoveryKey)
        );
        second.engine.recover(&recovery_key).unwrap();
        drive(&mut server, &mut [&mut second.engine]);
        assert_eq!(
            item_kind(&second.engine, "!r:hs", "$ev0"),
            (ItemKind::Message, "before recovery".into())
        );
        let security = second.engine.security();
        assert_eq!(
            security.cross_signing,
            CrossSigningStatus::Ready,
            "{security:?}"
        );
        assert!(security.this_device_verified);
        assert_eq!(security.backup, BackupStatus::UpToDate);

        // Another device replaced the backup: uploads stop and say so.
        server
            .backup_versions
            .push(json!({"algorithm": "x", "auth_data": {}, "version": "99"}));
        say(&mut alice.engine, "!r2:hs", "more", "t3");
        alice
            .engine
            .crypto
            .discard_room_key(&owned_room_id!("!r2:hs"));
        say(&mut alice.engine, "!r2:hs", "more", "t4");
        drive(&mut server, &mut [&mut alice.engine]);
        assert_eq!(alice.engine.security().backup, BackupStatus::Failed);
    }

    #[test]
    fn recovered_secrets_must_match_the_published_keys() {
        let mut server = FakeServer::default();
        let mut alice = bootstrapped(&mut server, "@alice:hs", "ALICE");
        let recovery_key = alice.engine.set_up_recovery().unwrap();
        drive(&mut server, &mut [&mut alice.engine]);
        // Someone with the recovery key put another user-signing key in secret storage.
        let key = SecretStorageKey::from_recovery_key(&recovery_key).unwrap();
        let key_id = server.account_data["@alice:hs"][DEFAULT_KEY_EVENT_TYPE]["key"]
            .as_str()
            .unwrap()
            .to_owned();
        let forged = crate::crypto::cross_signing::SigningKey::generate().to_base64();
        let name = KeyUsage::UserSigning.secret_name();
        let content = SecretContent {
            encrypted: BTreeMap::from([(key_id, key.encrypt(name, &forged))]),
        };
        server
            .account_data
            .get_mut("@alice:hs")
            .unwrap()
            .insert(name.to_owned(), json!(content));
        let mut second = Client::new("@alice:hs", "ALICE2");
        drive(&mut server, &mut [&mut second.engine]);
        second.sync(&mut server, &[], None);
        assert!(matches!(
            second.engine.recover(&recovery_key),
            Err(TrustError::Mismatch(_))
        ));
        assert!(second.engine.trust.keys.master.is_none(), "nothing taken");
        assert_eq!(
            second.engine.security().cross_signing,
            CrossSigningStatus::NeedsVerification
        );
    }

    #[test]
    fn a_reload_while_the_backup_is_created_finds_it() {
        let mut server = FakeServer::default();
        let mut alice = bootstrapped(&mut server, "@alice:hs", "ALICE");
        alice.engine.set_up_recovery().unwrap();
        // Everything goes out, but the app is closed before any answer is read.
        for request in alice.engine.outgoing_requests() {
            server.handle(alice.engine.session(), &request.request);
        }
        let stored = alice.engine.crypto_changes().unwrap();
        let mut restored =
            Engine::with_crypto(session("@alice:hs", "ALICE"), Some(&stored)).unwrap();
        drive(&mut server, &mut [&mut restored]);
        assert_eq!(server.backup_versions.len(), 1, "no second version");
        assert_eq!(
            restored.trust.backup.as_ref().map(|b| b.version.as_str()),
            Some("1")
        );
        assert_eq!(restored.security().backup, BackupStatus::UpToDate);
    }

    fn run_until(
        server: &mut FakeServer,
        clients: &mut [&mut Client],
        rooms: &[(&str, Vec<Value>)],
        direct: &[Value],
        done: impl Fn(&[&mut Client]) -> bool,
    ) {
        for _ in 0..20 {
            for (i, client) in clients.iter_mut().enumerate() {
                drive(server, &mut [&mut client.engine]);
                client.sync(server, rooms, direct.get(i).cloned());
            }
            if done(clients) {
                return;
            }
        }
        panic!(
            "never got there: {:?}",
            clients
                .iter()
                .map(|c| c.engine.verifications())
                .collect::<Vec<_>>()
        );
    }

    fn phase(client: &Client) -> Option<Phase> {
        client
            .engine
            .verifications()
            .first()
            .map(|v| v.phase.clone())
    }

    #[test]
    fn two_users_verify_each_other_in_their_encrypted_direct_chat() {
        let mut server = FakeServer::default();
        server.members.insert(
            "!dm:hs".into(),
            vec![member("@alice:hs"), member("@bob:hs")],
        );
        let rooms = [("!dm:hs", room_state(&["@alice:hs", "@bob:hs"]))];
        let direct = [
            json!({"@bob:hs": ["!dm:hs"]}),
            json!({"@alice:hs": ["!dm:hs"]}),
        ];
        let mut alice = bootstrapped(&mut server, "@alice:hs", "ALICE");
        let mut bob = bootstrapped(&mut server, "@bob:hs", "BOB");
        run_until(
            &mut server,
            &mut [&mut alice, &mut bob],
            &rooms,
            &direct,
            |_| true,
        );
        assert!(!alice.engine.is_user_verified(ruma::user_id!("@bob:hs")));
        let id = alice
            .engine
            .start_verification(ruma::user_id!("@bob:hs"))
            .unwrap();
        run_until(
            &mut server,
            &mut [&mut alice, &mut bob],
            &rooms,
            &direct,
            |c| phase(c[1]).is_some(),
        );
        assert!(
            server
                .room_events
                .iter()
                .all(|e| e["type"] == "m.room.encrypted"),
            "sent encrypted"
        );
        let theirs = bob.engine.verifications()[0].clone();
        assert_eq!(
            (theirs.phase.clone(), theirs.other_user.as_str()),
            (
                Phase::Requested {
                    we_requested: false
                },
                "@alice:hs"
            )
        );
        bob.engine.accept_verification(&theirs.id).unwrap();
        run_until(
            &mut server,
            &mut [&mut alice, &mut bob],
            &rooms,
            &direct,
            |c| phase(c[0]) == Some(Phase::ShowSas) && phase(c[1]) == Some(Phase::ShowSas),
        );
        let (ours, theirs) = (
            alice.engine.verifications()[0].clone(),
            bob.engine.verifications()[0].clone(),
        );
        assert_eq!(ours.id, id);
        assert!(ours.emoji.is_some());
        assert_eq!(ours.emoji, theirs.emoji, "the same emoji on both sides");
        alice.engine.confirm_verification(&ours.id).unwrap();
        bob.engine.confirm_verification(&theirs.id).unwrap();
        run_until(
            &mut server,
            &mut [&mut alice, &mut bob],
            &rooms,
            &direct,
            |c| phase(c[0]) == Some(Phase::Done) && phase(c[1]) == Some(Phase::Done),
        );
        run_until(
            &mut server,
            &mut [&mut alice, &mut bob],
            &rooms,
            &direct,
            |_| true,
        );
        assert!(alice.engine.is_user_verified(ruma::user_id!("@bob:hs")));
        assert!(bob.engine.is_user_verified(ruma::user_id!("@alice:hs")));
        let bob_master = server.master_key("@bob:hs").unwrap();
        assert!(
            bob_master["signatures"]["@alice:hs"]
                .as_object()
                .is_some_and(|s| !s.is_empty()),
            "signed with Alice's USK"
        );
        // The signature alone (as a restored device sees it) says Bob is verified.
        alice.engine.trust.verified_users.clear();
        assert!(alice.engine.is_user_verified(ruma::user_id!("@bob:hs")));
        alice.engine.trust.keys.user_signing = None;
        assert!(
            alice.engine.is_user_verified(ruma::user_id!("@bob:hs")),
            "through the published user-signing key"
        );
        alice.engine.trust.trusted_master = None;
        assert!(
            !alice.engine.is_user_verified(ruma::user_id!("@bob:hs")),
            "not without trusting our own master key"
        );
        alice.engine.cancel_verification(&ours.id).unwrap();
        assert!(alice.engine.verifications().is_empty(), "dismissed");
    }

    #[test]
    fn a_new_device_verified_by_another_gets_the_secrets() {
        let mut server = FakeServer::default();
        server
            .members
            .insert("!r:hs".into(), vec![member("@alice:hs")]);
        let rooms = [("!r:hs", room_state(&["@alice:hs"]))];
        let mut first = bootstrapped(&mut server, "@alice:hs", "ALICE");
        first.sync(&mut server, &rooms, None);
        say(&mut first.engine, "!r:hs", "history", "t1");
        drive(&mut server, &mut [&mut first.engine]);
        first.engine.set_up_recovery().unwrap();
        drive(&mut server, &mut [&mut first.engine]);

        // The request reaches the first device in the same sync as the news of the new
        // device: it fetches the device's keys before taking the request up.
        let mut second = Client::new("@alice:hs", "ALICE2");
        drive(&mut server, &mut [&mut second.engine]);
        second.sync(&mut server, &rooms, None);
        assert!(
            first
                .engine
                .crypto
                .device(first.engine.user_id(), "ALICE2".into())
                .is_none()
        );
        assert_eq!(
            second.engine.security().cross_signing,
            CrossSigningStatus::NeedsVerification
        );
        let id = second
            .engine
            .start_verification(ruma::user_id!("@alice:hs"))
            .unwrap();
        drive(&mut server, &mut [&mut second.engine]);
        first.sync(&mut server, &rooms, None);
        assert!(
            first.engine.verifications().is_empty(),
            "held until the device's keys are known"
        );
        run_until(
            &mut server,
            &mut [&mut first, &mut second],
            &rooms,
            &[],
            |c| phase(c[0]).is_some(),
        );
        let theirs = first.engine.verifications()[0].id.clone();
        first.engine.accept_verification(&theirs).unwrap();
        run_until(
            &mut server,
            &mut [&mut first, &mut second],
            &rooms,
            &[],
            |c| phase(c[0]) == Some(Phase::ShowSas) && phase(c[1]) == Some(Phase::ShowSas),
        );
        assert_eq!(
            first.engine.verifications()[0].emoji,
            second.engine.verifications()[0].emoji
        );
        first.engine.confirm_verification(&theirs).unwrap();
        second.engine.confirm_verification(&id).unwrap();
        run_until(
            &mut server,
            &mut [&mut first, &mut second],
            &rooms,
            &[],
            |c| {
                c[1].engine.security().this_device_verified
                    && c[1].engine.security().backup == BackupStatus::UpToDate
            },
        );
        let security = second.engine.security();
        assert_eq!(security.cross_signing, CrossSigningStatus::Ready);
        assert!(
            second.engine.trust.keys.user_signing.is_some(),
            "all three keys arrived"
        );
        assert_eq!(
            item_kind(&second.engine, "!r:hs", "$ev0"),
            (ItemKind::Message, "history".into())
        );
    }

    #[test]
    fn secret_requests_that_overtake_the_done_are_answered_once_it_comes() {
        let mut server = FakeServer::default();
        server
            .members
            .insert("!r:hs".into(), vec![member("@alice:hs")]);
        let rooms = [("!r:hs", room_state(&["@alice:hs"]))];
        let mut first = bootstrapped(&mut server, "@alice:hs", "ALICE");
        first.sync(&mut server, &rooms, None);
        first.engine.set_up_recovery().unwrap();
        drive(&mut server, &mut [&mut first.engine]);
        let mut second = Client::new("@alice:hs", "ALICE2");
        drive(&mut server, &mut [&mut second.engine]);
        second.sync(&mut server, &rooms, None);
        let id = second
            .engine
            .start_verification(ruma::user_id!("@alice:hs"))
            .unwrap();
        run_until(
            &mut server,
            &mut [&mut first, &mut second],
            &rooms,
            &[],
            |c| phase(c[0]).is_some(),
        );
        let theirs = first.engine.verifications()[0].id.clone();
        first.engine.accept_verification(&theirs).unwrap();
        run_until(
            &mut server,
            &mut [&mut first, &mut second],
            &rooms,
            &[],
            |c| phase(c[0]) == Some(Phase::ShowSas) && phase(c[1]) == Some(Phase::ShowSas),
        );
        // The second's `done` is held up on the way: the first gets the second's MAC, sends
        // its own `done`, the second finishes and asks for the secrets, and those requests
        // reach the first before the held `done` (sent together, they may cross).
        first.engine.confirm_verification(&theirs).unwrap();
        drive(&mut server, &mut [&mut first.engine]);
        second.sync(&mut server, &rooms, None);
        second.engine.confirm_verification(&id).unwrap();
        drive(&mut server, &mut [&mut second.engine]);
        let queue = server.queued_to_device(first.engine.session());
        let at = queue
            .iter()
            .position(|e| e["type"] == "m.key.verification.done")
            .expect("the second's done");
        let held = queue.remove(at);
        first.sync(&mut server, &rooms, None);
        drive(&mut server, &mut [&mut first.engine]);
        second.sync(&mut server, &rooms, None);
        drive(&mut server, &mut [&mut second.engine]);
        assert_eq!(phase(&second), Some(Phase::Done));
        assert_eq!(
            phase(&first),
            Some(Phase::Confirmed),
            "waiting for the second's done"
        );
        let queue = server.queued_to_device(first.engine.session());
        assert!(queue.iter().any(|e| e["type"] == "m.secret.request"));
        queue.push(held);
        first.sync(&mut server, &rooms, None);
        assert_eq!(phase(&first), Some(Phase::Done));
        run_until(
            &mut server,
            &mut [&mut first, &mut second],
            &rooms,
            &[],
            |c| {
                c[1].engine.trust.keys.user_signing.is_some()
                    && c[1].engine.security().backup == BackupStatus::UpToDate
            },
        );
    }
}
