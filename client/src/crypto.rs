//! End-to-end encryption (Olm/Megolm) on vodozemac, without I/O.
//!
//! Everything here is deterministic given its inputs and the random keys vodozemac makes, so
//! the whole protocol — signing, sessions, sharing policy, verification, backup — is tested
//! on the host. See `../shared/spec/e2ee.md` for the rules these modules follow.

pub mod attachment;
pub mod backup;
pub mod canonical;
pub mod cross_signing;
pub mod devices;
#[cfg(test)]
pub(crate) mod fake_server;
pub mod machine;
mod random;
pub mod recovery;
pub mod sas;
pub mod sas_emoji;
pub mod secret_storage;
pub mod trust;

pub use machine::{
    Decrypted, EncryptError, KeyShare, Machine, OutgoingRequest, RequestId, RoomKeySettings,
    SyncChanges, ToDeviceEvent, UtdReason, WithheldCode,
};
