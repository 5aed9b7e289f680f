//! Trust for the UI: this device's security state, recovery, verifications and turning
//! on encryption in a room. The engine does the work; every action here queues crypto
//! requests, so each one pumps them out.

use leptos::prelude::*;
use ruma::{OwnedRoomId, UserId};
use weft_client::engine::{SecurityState, TrustError, VerificationView};

use super::ClientHandle;
use crate::error::ActionError;

impl ClientHandle {
    // Reactive reads, for views.

    /// Who a verification is with, in words: their name in our DM, or "Your other device".
    pub fn verification_peer_name(&self, verification: &VerificationView) -> String {
        let own = self.user_id_untracked();
        if own.as_deref() == Some(&*verification.other_user) {
            return "Your other device".to_owned();
        }
        match &verification.room_id {
            Some(room_id) => self.member_name_untracked(room_id, &verification.other_user),
            None => verification.other_user.localpart().to_owned(),
        }
    }

    /// This device's cross-signing, recovery and backup state (`None` when signed out).
    pub fn security(&self) -> Option<SecurityState> {
        self.engine
            .with(|engine| engine.as_ref().map(weft_client::Engine::security))
    }

    /// Verifications under way, and finished ones until dismissed.
    pub fn verifications(&self) -> Vec<VerificationView> {
        self.engine.with(|engine| {
            engine
                .as_ref()
                .map(weft_client::Engine::verifications)
                .unwrap_or_default()
        })
    }

    /// Whether we verified `user` (for ourselves: whether this device is verified).
    pub fn is_user_verified(&self, user: &UserId) -> bool {
        self.engine.with(|engine| {
            engine
                .as_ref()
                .is_some_and(|engine| engine.is_user_verified(user))
        })
    }

    // Actions.

    /// Sets up recovery; returns the recovery key to show once.
    pub fn set_up_recovery(&self) -> Result<String, SecurityError> {
        self.trust_action(weft_client::Engine::set_up_recovery)
    }

    /// Verifies this device with the recovery key (and restores the key backup).
    pub fn recover(&self, recovery_key: &str) -> Result<(), SecurityError> {
        self.trust_action(|engine| engine.recover(recovery_key))
    }

    /// Gives cross-signing setup the account password the server asked for.
    pub fn give_password(&self, password: String) -> Result<(), SecurityError> {
        self.trust_action(|engine| {
            engine.set_sign_in_password(password);
            Ok(())
        })
    }

    /// Asks `user` to verify (ourselves: our other devices); returns the verification's ID.
    pub fn start_verification(&self, user: &UserId) -> Result<String, SecurityError> {
        self.trust_action(|engine| engine.start_verification(user))
    }

    /// Accepts the other side's request.
    pub fn accept_verification(&self, id: &str) -> Result<(), SecurityError> {
        self.trust_action(|engine| engine.accept_verification(id))
    }

    /// Our user says the emoji match.
    pub fn confirm_verification(&self, id: &str) -> Result<(), SecurityError> {
        self.trust_action(|engine| engine.confirm_verification(id))
    }

    /// Our user says the emoji differ.
    pub fn mismatch_verification(&self, id: &str) -> Result<(), SecurityError> {
        self.trust_action(|engine| engine.mismatch_verification(id))
    }

    /// Cancels or declines a verification; dismisses a finished one.
    pub fn cancel_verification(&self, id: &str) -> Result<(), SecurityError> {
        self.trust_action(|engine| engine.cancel_verification(id))
    }

    /// Turns on end-to-end encryption in a room (for good).
    pub async fn enable_encryption(&self, room_id: OwnedRoomId) -> Result<(), ActionError> {
        let request = self.with_engine(|engine| engine.enable_encryption_request(&room_id))??;
        self.send_checked(request).await
    }

    fn trust_action<T>(
        &self,
        act: impl FnOnce(&mut weft_client::Engine) -> Result<T, TrustError>,
    ) -> Result<T, SecurityError> {
        let result = self.update_engine(act).map_err(SecurityError::Action)?;
        self.pump_crypto();
        result.map_err(SecurityError::Trust)
    }
}

/// Why a trust action failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityError {
    Action(ActionError),
    Trust(TrustError),
}

impl crate::error::Failure for SecurityError {
    fn worth_logging(&self) -> bool {
        !matches!(self, Self::Action(ActionError::SignedOut))
    }
}

impl std::fmt::Display for SecurityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Action(error) => error.fmt(f),
            Self::Trust(error) => error.fmt(f),
        }
    }
}
