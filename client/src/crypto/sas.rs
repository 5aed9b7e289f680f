//! Interactive verification with short authentication strings (`m.sas.v1`), sans I/O.
//!
//! A [`Verification`] is one flow between our device and one device of another user (or
//! another device of ours): request → ready → start → accept → key ⇄ key → mac ⇄ mac →
//! done. It takes the incoming verification events' contents and the user's choices, and
//! returns the contents to send; the caller wraps them as to-device messages (flow ID =
//! `transaction_id`) or room events (flow ID = the request's event ID, related with
//! `m.reference`). The cryptography is vodozemac's `sas`; this module adds what the spec
//! layers on top: the info strings, the commitment, the MACs of the keys being verified,
//! the tie-break between two `start`s, the cancel codes, and the emoji table.
//!
//! Only `curve25519-hkdf-sha256`, `sha256` and `hkdf-hmac-sha256.v2` are offered and
//! accepted: the spec forbids the older MAC when both sides have v2, and every current
//! client does.

use std::collections::BTreeMap;

use ruma::{DeviceId, OwnedDeviceId, OwnedEventId, OwnedUserId, UserId};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use vodozemac::sas::{EstablishedSas, Mac, Sas};
use vodozemac::{Curve25519PublicKey, Ed25519PublicKey, base64_encode};

use super::canonical;
pub use super::sas_emoji::{SAS_EMOJI, SasEmoji};

/// The verification method.
pub const SAS_V1: &str = "m.sas.v1";
/// The one key agreement protocol we use.
pub const KEY_AGREEMENT: &str = "curve25519-hkdf-sha256";
/// The one hash we use.
pub const HASH: &str = "sha256";
/// The one MAC method we use.
pub const MAC_METHOD: &str = "hkdf-hmac-sha256.v2";
/// Short authentication string kinds we can show.
pub const SAS_METHODS: [&str; 2] = ["decimal", "emoji"];
/// A verification that has not finished after this long is cancelled (`m.timeout`).
pub const TIMEOUT_MS: u64 = 10 * 60 * 1000;
/// A request sent more than this long ago is ignored.
pub const REQUEST_MAX_AGE_MS: u64 = 10 * 60 * 1000;
/// A request dated more than this far in the future is ignored.
pub const REQUEST_MAX_FUTURE_MS: u64 = 5 * 60 * 1000;

/// The event types of the flow.
pub mod event_type {
    /// `m.key.verification.request` (to-device; in rooms it is an `m.room.message` msgtype).
    pub const REQUEST: &str = "m.key.verification.request";
    /// `m.key.verification.ready`.
    pub const READY: &str = "m.key.verification.ready";
    /// `m.key.verification.start`.
    pub const START: &str = "m.key.verification.start";
    /// `m.key.verification.accept`.
    pub const ACCEPT: &str = "m.key.verification.accept";
    /// `m.key.verification.key`.
    pub const KEY: &str = "m.key.verification.key";
    /// `m.key.verification.mac`.
    pub const MAC: &str = "m.key.verification.mac";
    /// `m.key.verification.done`.
    pub const DONE: &str = "m.key.verification.done";
    /// `m.key.verification.cancel`.
    pub const CANCEL: &str = "m.key.verification.cancel";
    /// The room event type carrying an in-room request.
    pub const ROOM_MESSAGE: &str = "m.room.message";
}

/// Why a verification was cancelled (`code` of `m.key.verification.cancel`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelCode {
    /// The user cancelled.
    User,
    /// Not finished in time.
    Timeout,
    /// A message for a flow we do not know.
    UnknownTransaction,
    /// No common method, key agreement, hash, MAC or SAS kind.
    UnknownMethod,
    /// A message out of order.
    UnexpectedMessage,
    /// A MAC did not match the key we know.
    KeyMismatch,
    /// The expected user did not match.
    UserMismatch,
    /// A message was malformed.
    InvalidMessage,
    /// Another device of the user accepted the request.
    Accepted,
    /// The other side's key does not match its commitment.
    MismatchedCommitment,
    /// The user said the emoji or numbers differ.
    MismatchedSas,
    /// A code this client does not know.
    Other(String),
}

impl CancelCode {
    /// The wire form.
    pub fn as_str(&self) -> &str {
        match self {
            Self::User => "m.user",
            Self::Timeout => "m.timeout",
            Self::UnknownTransaction => "m.unknown_transaction",
            Self::UnknownMethod => "m.unknown_method",
            Self::UnexpectedMessage => "m.unexpected_message",
            Self::KeyMismatch => "m.key_mismatch",
            Self::UserMismatch => "m.user_mismatch",
            Self::InvalidMessage => "m.invalid_message",
            Self::Accepted => "m.accepted",
            Self::MismatchedCommitment => "m.mismatched_commitment",
            Self::MismatchedSas => "m.mismatched_sas",
            Self::Other(code) => code,
        }
    }

    /// Parses the wire form.
    pub fn parse(code: &str) -> Self {
        match code {
            "m.user" => Self::User,
            "m.timeout" => Self::Timeout,
            "m.unknown_transaction" => Self::UnknownTransaction,
            "m.unknown_method" => Self::UnknownMethod,
            "m.unexpected_message" => Self::UnexpectedMessage,
            "m.key_mismatch" => Self::KeyMismatch,
            "m.user_mismatch" => Self::UserMismatch,
            "m.invalid_message" => Self::InvalidMessage,
            "m.accepted" => Self::Accepted,
            "m.mismatched_commitment" => Self::MismatchedCommitment,
            "m.mismatched_sas" => Self::MismatchedSas,
            other => Self::Other(other.to_owned()),
        }
    }

    /// A human-readable reason to send along.
    fn reason(&self) -> &'static str {
        match self {
            Self::User => "The user cancelled the verification.",
            Self::Timeout => "The verification timed out.",
            Self::UnknownTransaction => "Unknown verification.",
            Self::UnknownMethod => "No common verification method.",
            Self::UnexpectedMessage => "Unexpected verification message.",
            Self::KeyMismatch => "The keys did not match.",
            Self::UserMismatch => "The user did not match.",
            Self::InvalidMessage => "Invalid verification message.",
            Self::Accepted => "The verification was accepted on another device.",
            Self::MismatchedCommitment => "The key commitment did not match.",
            Self::MismatchedSas => "The short authentication strings did not match.",
            Self::Other(_) => "The verification was cancelled.",
        }
    }
}

/// How the flow's messages travel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    /// To-device messages carrying `transaction_id`.
    ToDevice {
        /// Shared by every message of the flow.
        transaction_id: String,
    },
    /// Events in a (DM) room, related to the request event.
    InRoom {
        /// The `m.key.verification.request` message's event ID, which acts as the flow ID.
        request_event_id: OwnedEventId,
    },
}

impl Flow {
    /// The ID used in the info strings: the transaction ID or the request's event ID.
    pub fn id(&self) -> &str {
        match self {
            Self::ToDevice { transaction_id } => transaction_id,
            Self::InRoom { request_event_id } => request_event_id.as_str(),
        }
    }

    /// The flow ID a verification message's content names, if any.
    pub fn id_of(content: &Value) -> Option<&str> {
        content
            .get("transaction_id")
            .and_then(Value::as_str)
            .or_else(|| {
                content
                    .pointer("/m.relates_to/event_id")
                    .and_then(Value::as_str)
            })
    }

    fn tag(&self, content: &mut Map<String, Value>) {
        match self {
            Self::ToDevice { transaction_id } => {
                content.insert("transaction_id".into(), json!(transaction_id));
            }
            Self::InRoom { request_event_id } => {
                content.insert(
                    "m.relates_to".into(),
                    json!({"rel_type": "m.reference", "event_id": request_event_id}),
                );
            }
        }
    }
}

/// Our side of the verification: who we are and the keys we ask the other side to trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnKeys {
    /// Our user.
    pub user_id: OwnedUserId,
    /// This device.
    pub device_id: OwnedDeviceId,
    /// This device's ed25519 key.
    pub device_key: Ed25519PublicKey,
    /// Our master cross-signing key, if we trust it; MACed so that the other side can
    /// trust it (required when verifying another user).
    pub master_key: Option<Ed25519PublicKey>,
}

/// The other side's keys as we know them from `/keys/query`; the MACs are checked against
/// these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerKeys {
    /// The other user (ourselves when verifying another device of ours).
    pub user_id: OwnedUserId,
    /// Their devices' ed25519 keys (for to-device requests, every device is asked).
    pub devices: BTreeMap<OwnedDeviceId, Ed25519PublicKey>,
    /// Their master key, if they have cross-signing.
    pub master_key: Option<Ed25519PublicKey>,
}

/// One message to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The event type (`m.room.message` for an in-room request).
    pub event_type: &'static str,
    /// The content, already carrying the flow ID (`transaction_id` or `m.relates_to`).
    pub content: Value,
    /// For to-device flows, the recipient device of [`PeerKeys::user_id`]; `None` in rooms.
    pub to_device: Option<OwnedDeviceId>,
}

/// What a finished verification proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedKeys {
    /// The other device and its key, if its MAC checked out.
    pub device: Option<(OwnedDeviceId, Ed25519PublicKey)>,
    /// The other user's master key, if its MAC checked out: sign it with our user-signing
    /// key (another user) or trust it as ours (our own device).
    pub master_key: Option<Ed25519PublicKey>,
}

/// Where the flow is, for the UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the other side to answer our request, or for our user to accept theirs.
    Requested {
        /// Whether we sent the request.
        we_requested: bool,
    },
    /// Both sides are ready; either may start.
    Ready,
    /// SAS started; keys being exchanged.
    Started,
    /// The emoji/numbers can be shown; waiting for our user's answer.
    ShowSas,
    /// Our user confirmed; waiting for the other side.
    Confirmed,
    /// Verified.
    Done,
    /// Cancelled by either side.
    Cancelled {
        /// Why.
        code: CancelCode,
        /// The other side's or our reason text.
        reason: String,
        /// Whether we cancelled.
        by_us: bool,
    },
}

/// Why an incoming request was not taken up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Missing or malformed fields.
    #[error("malformed verification request")]
    Malformed,
    /// Sent too long ago or dated in the future.
    #[error("the verification request has expired")]
    Expired,
    /// An in-room request addressed to someone else.
    #[error("the verification request is not for us")]
    NotForUs,
    /// No method we support (the user should be told, not the other side: another device
    /// of ours may support it).
    #[error("the verification request offers no method we support")]
    NoCommonMethod,
}

/// The negotiated SAS, after both ephemeral keys are known.
struct Shown {
    sas: EstablishedSas,
    emoji: [u8; 7],
    decimals: (u16, u16, u16),
    emoji_allowed: bool,
}

enum State {
    Requested,
    Ready,
    /// We sent `start`; waiting for `accept`.
    WeStarted {
        sas: Sas,
        start: Value,
    },
    /// We accepted their `start`; waiting for their key.
    WeAccepted {
        sas: Sas,
        emoji_allowed: bool,
    },
    /// They accepted our `start`; we sent our key, waiting for theirs.
    TheyAccepted {
        sas: Sas,
        start: Value,
        commitment: String,
        emoji_allowed: bool,
    },
    /// Keys exchanged; waiting for our user and their MAC.
    Keys {
        shown: Box<Shown>,
        their_mac: Option<Value>,
        confirmed: bool,
    },
    /// We sent `done`; waiting for theirs.
    WaitingForDone {
        verified: VerifiedKeys,
    },
    Done {
        verified: VerifiedKeys,
    },
    Cancelled {
        code: CancelCode,
        reason: String,
        by_us: bool,
    },
}

/// One SAS verification flow. See the module docs.
pub struct Verification {
    own: OwnKeys,
    peer: PeerKeys,
    their_device: Option<OwnedDeviceId>,
    flow: Flow,
    we_requested: bool,
    created_ms: u64,
    state: State,
    /// Their `done` came before their `mac` (sent together, they can overtake each other
    /// on the way): it counts once the MAC checks out.
    early_done: bool,
}

impl std::fmt::Debug for Verification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verification")
            .field("flow", &self.flow)
            .field("peer", &self.peer.user_id)
            .field("their_device", &self.their_device)
            .field("phase", &self.phase())
            .finish()
    }
}

/// The content of an in-room request (`m.room.message`, msgtype
/// `m.key.verification.request`) to `to`. Send it, then make the flow with
/// [`Verification::requested_in_room`] and the event ID the server returns.
pub fn in_room_request_content(own: &OwnKeys, to: &UserId) -> Value {
    json!({
        "msgtype": event_type::REQUEST,
        "body": format!("{} is requesting to verify your key, but your client does not support \
                         in-chat key verification.", own.user_id),
        "from_device": own.device_id,
        "methods": [SAS_V1],
        "to": to,
    })
}

/// The SAS info string (`curve25519-hkdf-sha256`), from which both sides derive the emoji.
pub fn sas_info(
    start: (&UserId, &DeviceId, &Curve25519PublicKey),
    accept: (&UserId, &DeviceId, &Curve25519PublicKey),
    flow_id: &str,
) -> String {
    format!(
        "MATRIX_KEY_VERIFICATION_SAS|{}|{}|{}|{}|{}|{}|{flow_id}",
        start.0,
        start.1,
        start.2.to_base64(),
        accept.0,
        accept.1,
        accept.2.to_base64(),
    )
}

/// The info string for the MAC of `key_id` (or `KEY_IDS` for the key list) sent by
/// `sender` to `receiver`.
pub fn mac_info(
    sender: (&UserId, &DeviceId),
    receiver: (&UserId, &DeviceId),
    flow_id: &str,
    key_id: &str,
) -> String {
    format!(
        "MATRIX_KEY_VERIFICATION_MAC{}{}{}{}{flow_id}{key_id}",
        sender.0, sender.1, receiver.0, receiver.1
    )
}

/// The commitment in `accept`: unpadded base64 of SHA-256 over the accepter's ephemeral
/// public key (base64) followed by the canonical JSON of the `start` content.
pub fn commitment(public_key: &Curve25519PublicKey, start_content: &Value) -> Option<String> {
    let canonical = canonical::to_canonical_string(start_content).ok()?;
    let mut hash = Sha256::new();
    hash.update(public_key.to_base64().as_bytes());
    hash.update(canonical.as_bytes());
    Some(base64_encode(hash.finalize()))
}

/// Whether our `start` beats theirs when both sides sent one: the smaller user ID wins,
/// and between devices of one user the smaller device ID.
pub fn our_start_wins(ours: (&UserId, &DeviceId), theirs: (&UserId, &DeviceId)) -> bool {
    (ours.0.as_str(), ours.1.as_str()) < (theirs.0.as_str(), theirs.1.as_str())
}

/// The seven emoji for the indices vodozemac derives.
pub fn emoji_for(indices: [u8; 7]) -> [SasEmoji; 7] {
    indices.map(|i| SAS_EMOJI[usize::from(i & 63)])
}

fn str_list(content: &Value, field: &str) -> Vec<String> {
    content
        .get(field)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

impl Verification {
    fn new(own: OwnKeys, peer: PeerKeys, flow: Flow, we_requested: bool, now_ms: u64) -> Self {
        Self {
            own,
            peer,
            their_device: None,
            flow,
            we_requested,
            created_ms: now_ms,
            state: State::Requested,
            early_done: false,
        }
    }

    /// Asks another user's devices (or our other devices) over to-device messages: one
    /// request to each of `peer.devices` but this one.
    pub fn request_to_device(
        own: OwnKeys,
        peer: PeerKeys,
        transaction_id: String,
        now_ms: u64,
    ) -> (Self, Vec<Outgoing>) {
        let flow = Flow::ToDevice { transaction_id };
        let this = Self::new(own, peer, flow, true, now_ms);
        let content = json!({
            "from_device": this.own.device_id,
            "methods": [SAS_V1],
            "timestamp": now_ms,
        });
        let out = this.to_all(event_type::REQUEST, content);
        (this, out)
    }

    /// The flow for an in-room request we sent (see [`in_room_request_content`]).
    pub fn requested_in_room(
        own: OwnKeys,
        peer: PeerKeys,
        request_event_id: OwnedEventId,
        now_ms: u64,
    ) -> Self {
        Self::new(own, peer, Flow::InRoom { request_event_id }, true, now_ms)
    }

    /// Takes up a request from `peer.user_id`: `content` is the request's content,
    /// `sent_ms` its `timestamp` (to-device) or `origin_server_ts` (in-room), and `flow`
    /// names the transaction or the request event. The user then accepts or cancels.
    pub fn from_request(
        own: OwnKeys,
        peer: PeerKeys,
        flow: Flow,
        content: &Value,
        sent_ms: u64,
        now_ms: u64,
    ) -> Result<Self, RequestError> {
        let from_device = content
            .get("from_device")
            .and_then(Value::as_str)
            .ok_or(RequestError::Malformed)?;
        if now_ms.saturating_sub(sent_ms) > REQUEST_MAX_AGE_MS
            || sent_ms.saturating_sub(now_ms) > REQUEST_MAX_FUTURE_MS
        {
            return Err(RequestError::Expired);
        }
        if matches!(flow, Flow::InRoom { .. })
            && content.get("to").and_then(Value::as_str) != Some(own.user_id.as_str())
        {
            return Err(RequestError::NotForUs);
        }
        if !str_list(content, "methods").iter().any(|m| m == SAS_V1) {
            return Err(RequestError::NoCommonMethod);
        }
        let mut this = Self::new(own, peer, flow, false, now_ms);
        this.their_device = Some(from_device.into());
        Ok(this)
    }

    /// The flow.
    pub fn flow(&self) -> &Flow {
        &self.flow
    }

    /// The other user.
    pub fn their_user_id(&self) -> &UserId {
        &self.peer.user_id
    }

    /// The other device, once known.
    pub fn their_device_id(&self) -> Option<&DeviceId> {
        self.their_device.as_deref()
    }

    /// Where the flow is.
    pub fn phase(&self) -> Phase {
        match &self.state {
            State::Requested => Phase::Requested {
                we_requested: self.we_requested,
            },
            State::Ready => Phase::Ready,
            State::WeStarted { .. } | State::WeAccepted { .. } | State::TheyAccepted { .. } => {
                Phase::Started
            }
            State::Keys {
                confirmed: false, ..
            } => Phase::ShowSas,
            State::Keys {
                confirmed: true, ..
            }
            | State::WaitingForDone { .. } => Phase::Confirmed,
            State::Done { .. } => Phase::Done,
            State::Cancelled {
                code,
                reason,
                by_us,
            } => Phase::Cancelled {
                code: code.clone(),
                reason: reason.clone(),
                by_us: *by_us,
            },
        }
    }

    /// The keys the verification proved, once done.
    pub fn verified(&self) -> Option<&VerifiedKeys> {
        match &self.state {
            State::Done { verified } => Some(verified),
            _ => None,
        }
    }

    /// The seven emoji to show, once the keys are exchanged and if both sides do emoji.
    pub fn emoji(&self) -> Option<[SasEmoji; 7]> {
        match &self.state {
            State::Keys { shown, .. } if shown.emoji_allowed => Some(emoji_for(shown.emoji)),
            _ => None,
        }
    }

    /// The three numbers to show (every SAS client supports these).
    pub fn decimals(&self) -> Option<(u16, u16, u16)> {
        match &self.state {
            State::Keys { shown, .. } => Some(shown.decimals),
            _ => None,
        }
    }

    fn message(&self, event_type: &'static str, content: Value) -> Outgoing {
        let mut content = match content {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        self.flow.tag(&mut content);
        let to_device = match self.flow {
            Flow::ToDevice { .. } => self.their_device.clone(),
            Flow::InRoom { .. } => None,
        };
        Outgoing {
            event_type,
            content: Value::Object(content),
            to_device,
        }
    }

    /// One copy per peer device other than ours (to-device before a device answered).
    fn to_all(&self, event_type: &'static str, content: Value) -> Vec<Outgoing> {
        let template = self.message(event_type, content);
        if matches!(self.flow, Flow::InRoom { .. }) {
            return vec![template];
        }
        self.peer
            .devices
            .keys()
            .filter(|d| !(self.peer.user_id == self.own.user_id && **d == self.own.device_id))
            .map(|d| Outgoing {
                to_device: Some(d.clone()),
                ..template.clone()
            })
            .collect()
    }

    fn finished(&self) -> bool {
        matches!(self.state, State::Done { .. } | State::Cancelled { .. })
    }

    fn cancel_with(&mut self, code: CancelCode) -> Vec<Outgoing> {
        if self.finished() {
            return Vec::new();
        }
        let content = json!({"code": code.as_str(), "reason": code.reason()});
        let out = if self.their_device.is_some() || matches!(self.flow, Flow::InRoom { .. }) {
            vec![self.message(event_type::CANCEL, content)]
        } else {
            self.to_all(event_type::CANCEL, content)
        };
        self.state = State::Cancelled {
            reason: code.reason().to_owned(),
            code,
            by_us: true,
        };
        out
    }

    /// Our user cancels (or declines the request).
    pub fn cancel(&mut self) -> Vec<Outgoing> {
        self.cancel_with(CancelCode::User)
    }

    /// Cancels with `m.timeout` if the flow is older than [`TIMEOUT_MS`] and unfinished.
    pub fn check_timeout(&mut self, now_ms: u64) -> Vec<Outgoing> {
        if now_ms.saturating_sub(self.created_ms) > TIMEOUT_MS {
            self.cancel_with(CancelCode::Timeout)
        } else {
            Vec::new()
        }
    }

    /// Our user accepts their request: sends `ready`.
    pub fn accept(&mut self) -> Vec<Outgoing> {
        if self.we_requested || !matches!(self.state, State::Requested) {
            return Vec::new();
        }
        self.state = State::Ready;
        let content = json!({"from_device": self.own.device_id, "methods": [SAS_V1]});
        vec![self.message(event_type::READY, content)]
    }

    /// Starts SAS once ready (either side may).
    pub fn start_sas(&mut self) -> Vec<Outgoing> {
        if !matches!(self.state, State::Ready) {
            return Vec::new();
        }
        let out = self.message(
            event_type::START,
            json!({
                "from_device": self.own.device_id,
                "method": SAS_V1,
                "key_agreement_protocols": [KEY_AGREEMENT],
                "hashes": [HASH],
                "message_authentication_codes": [MAC_METHOD],
                "short_authentication_string": SAS_METHODS,
            }),
        );
        // The commitment covers the start content exactly as sent, flow ID included.
        self.state = State::WeStarted {
            sas: Sas::new(),
            start: out.content.clone(),
        };
        vec![out]
    }

    /// Our user says the emoji/numbers match: sends our MAC, and checks theirs if it came.
    pub fn confirm(&mut self) -> Vec<Outgoing> {
        let State::Keys {
            shown,
            their_mac,
            confirmed: false,
        } = std::mem::replace(&mut self.state, State::Requested)
        else {
            return Vec::new();
        };
        let mac = self.our_mac(&shown.sas);
        let mut out = vec![self.message(event_type::MAC, mac)];
        match their_mac {
            Some(theirs) => out.extend(self.check_their_mac(&shown.sas, &theirs)),
            None => {
                self.state = State::Keys {
                    shown,
                    their_mac: None,
                    confirmed: true,
                }
            }
        }
        out
    }

    /// Our user says the emoji/numbers differ.
    pub fn mismatch(&mut self) -> Vec<Outgoing> {
        if !matches!(self.state, State::Keys { .. }) {
            return Vec::new();
        }
        self.cancel_with(CancelCode::MismatchedSas)
    }

    fn our_mac(&self, sas: &EstablishedSas) -> Value {
        let Some(their_device) = self.their_device.as_deref() else {
            return Value::Null;
        };
        let mut keys = vec![(
            format!("ed25519:{}", self.own.device_id),
            self.own.device_key.to_base64(),
        )];
        if let Some(master) = self.own.master_key {
            keys.push((
                format!("ed25519:{}", master.to_base64()),
                master.to_base64(),
            ));
        }
        let info = |key_id: &str| {
            mac_info(
                (&self.own.user_id, &self.own.device_id),
                (&self.peer.user_id, their_device),
                self.flow.id(),
                key_id,
            )
        };
        let mut mac = Map::new();
        for (key_id, key) in &keys {
            mac.insert(
                key_id.clone(),
                json!(sas.calculate_mac(key, &info(key_id)).to_base64()),
            );
        }
        let mut ids: Vec<&str> = keys.iter().map(|(id, _)| id.as_str()).collect();
        ids.sort_unstable();
        let keys_mac = sas
            .calculate_mac(&ids.join(","), &info("KEY_IDS"))
            .to_base64();
        json!({"mac": mac, "keys": keys_mac})
    }

    fn check_their_mac(&mut self, sas: &EstablishedSas, content: &Value) -> Vec<Outgoing> {
        let Some(their_device) = self.their_device.clone() else {
            return self.cancel_with(CancelCode::UnexpectedMessage);
        };
        let (Some(macs), Some(keys_mac)) = (
            content.get("mac").and_then(Value::as_object),
            content.get("keys").and_then(Value::as_str),
        ) else {
            return self.cancel_with(CancelCode::InvalidMessage);
        };
        let info = |key_id: &str| {
            mac_info(
                (&self.peer.user_id, &their_device),
                (&self.own.user_id, &self.own.device_id),
                self.flow.id(),
                key_id,
            )
        };
        let check = |input: &str, key_id: &str, tag: &str| {
            Mac::from_base64(tag)
                .ok()
                .is_some_and(|tag| sas.verify_mac(input, &info(key_id), &tag).is_ok())
        };
        // The key list first: it stops a MITM from dropping keys from `mac`.
        let mut ids: Vec<&str> = macs.keys().map(String::as_str).collect();
        ids.sort_unstable();
        if !check(&ids.join(","), "KEY_IDS", keys_mac) {
            return self.cancel_with(CancelCode::KeyMismatch);
        }
        let device_key_id = format!("ed25519:{their_device}");
        let device_key = self.peer.devices.get(&their_device).copied();
        let master_key_id = self
            .peer
            .master_key
            .map(|k| format!("ed25519:{}", k.to_base64()));
        let mut verified = VerifiedKeys {
            device: None,
            master_key: None,
        };
        for (key_id, tag) in macs {
            let Some(tag) = tag.as_str() else {
                return self.cancel_with(CancelCode::InvalidMessage);
            };
            let key = if *key_id == device_key_id {
                device_key
            } else if Some(key_id) == master_key_id.as_ref() {
                self.peer.master_key
            } else {
                // A key we do not know of (say, a device key we have not fetched): it
                // proves nothing, but is no reason to fail.
                continue;
            };
            let Some(key) = key else { continue };
            if !check(&key.to_base64(), key_id, tag) {
                return self.cancel_with(CancelCode::KeyMismatch);
            }
            if *key_id == device_key_id {
                verified.device = Some((their_device.clone(), key));
            } else {
                verified.master_key = Some(key);
            }
        }
        if verified.device.is_none() && verified.master_key.is_none() {
            return self.cancel_with(CancelCode::KeyMismatch);
        }
        let done = vec![self.message(event_type::DONE, json!({}))];
        self.state = if self.early_done {
            State::Done { verified }
        } else {
            State::WaitingForDone { verified }
        };
        done
    }

    /// Handles one incoming message of this flow from `sender`; returns what to send.
    ///
    /// Messages of other flows, our own echoes (in rooms) and anything after the flow
    /// ended are ignored; messages out of order cancel the flow.
    pub fn receive(&mut self, sender: &UserId, event_type: &str, content: &Value) -> Vec<Outgoing> {
        if self.finished()
            || sender != self.peer.user_id
            || Flow::id_of(content) != Some(self.flow.id())
        {
            return Vec::new();
        }
        if let Some(from) = content.get("from_device").and_then(Value::as_str) {
            // Another device of theirs (a to-device request went to all of them), or our
            // own echo in a self-verification: not part of this flow.
            if from == self.own.device_id.as_str() && sender == self.own.user_id {
                return Vec::new();
            }
            if event_type != event_type::READY
                && self
                    .their_device
                    .as_deref()
                    .is_some_and(|d| d.as_str() != from)
            {
                return Vec::new();
            }
        }
        match event_type {
            event_type::CANCEL => {
                let code = content
                    .get("code")
                    .and_then(Value::as_str)
                    .unwrap_or("m.user");
                let reason = content
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                // A device declining our to-device request before any device took it up:
                // the spec has us tell all of that user's devices, so that their prompts go.
                let declined = self.we_requested
                    && self.their_device.is_none()
                    && matches!(self.flow, Flow::ToDevice { .. });
                let out = if declined {
                    self.to_all(
                        event_type::CANCEL,
                        json!({"code": "m.user", "reason": CancelCode::User.reason()}),
                    )
                } else {
                    Vec::new()
                };
                self.state = State::Cancelled {
                    code: CancelCode::parse(code),
                    reason: reason.to_owned(),
                    by_us: false,
                };
                out
            }
            event_type::READY => self.on_ready(content),
            event_type::START => self.on_start(content),
            event_type::ACCEPT => self.on_accept(content),
            event_type::KEY => self.on_key(content),
            event_type::MAC => self.on_mac(content),
            event_type::DONE => {
                match &self.state {
                    State::WaitingForDone { verified } => {
                        self.state = State::Done {
                            verified: verified.clone(),
                        };
                    }
                    // Before their MAC: kept until it arrives.
                    State::Keys { .. } => self.early_done = true,
                    // Otherwise repeated: harmless, and answering it would ping-pong.
                    _ => {}
                }
                Vec::new()
            }
            event_type::REQUEST => Vec::new(),
            _ => Vec::new(),
        }
    }

    fn on_ready(&mut self, content: &Value) -> Vec<Outgoing> {
        if !self.we_requested || !matches!(self.state, State::Requested) {
            // A second device answering, after one already did, is told by our cancel to
            // the other devices; anything else is out of order.
            return match self.state {
                State::Requested => self.cancel_with(CancelCode::UnexpectedMessage),
                _ => Vec::new(),
            };
        }
        let Some(from) = content.get("from_device").and_then(Value::as_str) else {
            return self.cancel_with(CancelCode::InvalidMessage);
        };
        if !str_list(content, "methods").iter().any(|m| m == SAS_V1) {
            self.their_device = Some(from.into());
            return self.cancel_with(CancelCode::UnknownMethod);
        }
        let mut out = Vec::new();
        if matches!(self.flow, Flow::ToDevice { .. }) {
            // Tell the user's other devices to put the request away.
            out = self
                .to_all(
                    event_type::CANCEL,
                    json!({"code": "m.accepted", "reason": CancelCode::Accepted.reason()}),
                )
                .into_iter()
                .filter(|o| o.to_device.as_deref().map(DeviceId::as_str) != Some(from))
                .collect();
        }
        self.their_device = Some(from.into());
        self.state = State::Ready;
        out
    }

    fn on_start(&mut self, content: &Value) -> Vec<Outgoing> {
        match &self.state {
            State::Ready => {}
            State::WeStarted { .. } => {
                let Some(their_device) = self.their_device.as_deref() else {
                    return self.cancel_with(CancelCode::UnexpectedMessage);
                };
                if content.get("method").and_then(Value::as_str) != Some(SAS_V1) {
                    return self.cancel_with(CancelCode::UnexpectedMessage);
                }
                if our_start_wins(
                    (&self.own.user_id, &self.own.device_id),
                    (&self.peer.user_id, their_device),
                ) {
                    return Vec::new();
                }
                // Theirs wins: drop ours and answer theirs.
            }
            _ => return self.cancel_with(CancelCode::UnexpectedMessage),
        }
        if content.get("method").and_then(Value::as_str) != Some(SAS_V1) {
            return self.cancel_with(CancelCode::UnknownMethod);
        }
        let offers = |field: &str, want: &str| str_list(content, field).iter().any(|v| v == want);
        let their_sas = str_list(content, "short_authentication_string");
        let sas_methods: Vec<&str> = SAS_METHODS
            .into_iter()
            .filter(|m| their_sas.iter().any(|t| t == m))
            .collect();
        if !offers("key_agreement_protocols", KEY_AGREEMENT)
            || !offers("hashes", HASH)
            || !offers("message_authentication_codes", MAC_METHOD)
            || !sas_methods.contains(&"decimal")
        {
            return self.cancel_with(CancelCode::UnknownMethod);
        }
        let sas = Sas::new();
        let Some(commitment) = commitment(&sas.public_key(), content) else {
            return self.cancel_with(CancelCode::InvalidMessage);
        };
        let out = self.message(
            event_type::ACCEPT,
            json!({
                "method": SAS_V1,
                "key_agreement_protocol": KEY_AGREEMENT,
                "hash": HASH,
                "message_authentication_code": MAC_METHOD,
                "short_authentication_string": sas_methods,
                "commitment": commitment,
            }),
        );
        self.state = State::WeAccepted {
            sas,
            emoji_allowed: sas_methods.contains(&"emoji"),
        };
        vec![out]
    }

    fn on_accept(&mut self, content: &Value) -> Vec<Outgoing> {
        let State::WeStarted { sas, start } = std::mem::replace(&mut self.state, State::Requested)
        else {
            return self.restore_and_cancel();
        };
        let field = |name: &str| content.get(name).and_then(Value::as_str);
        let sas_methods = str_list(content, "short_authentication_string");
        let (Some(commitment), true) = (
            field("commitment"),
            field("key_agreement_protocol") == Some(KEY_AGREEMENT)
                && field("hash") == Some(HASH)
                && field("message_authentication_code") == Some(MAC_METHOD)
                && sas_methods
                    .iter()
                    .all(|m| SAS_METHODS.contains(&m.as_str()))
                && !sas_methods.is_empty(),
        ) else {
            self.state = State::WeStarted { sas, start };
            return self.cancel_with(CancelCode::UnknownMethod);
        };
        let key = sas.public_key().to_base64();
        self.state = State::TheyAccepted {
            sas,
            start,
            commitment: commitment.to_owned(),
            emoji_allowed: sas_methods.iter().any(|m| m == "emoji"),
        };
        vec![self.message(event_type::KEY, json!({"key": key}))]
    }

    fn restore_and_cancel(&mut self) -> Vec<Outgoing> {
        // Reached when a message does not fit the state, after `mem::replace` took the
        // state out: cancelling replaces the placeholder, so nothing needs restoring.
        self.state = State::Ready;
        self.cancel_with(CancelCode::UnexpectedMessage)
    }

    fn on_key(&mut self, content: &Value) -> Vec<Outgoing> {
        let Some(their_key) = content
            .get("key")
            .and_then(Value::as_str)
            .and_then(|k| Curve25519PublicKey::from_base64(k).ok())
        else {
            return self.cancel_with(CancelCode::InvalidMessage);
        };
        let Some(their_device) = self.their_device.clone() else {
            return self.cancel_with(CancelCode::UnexpectedMessage);
        };
        let own = (self.own.user_id.as_ref(), self.own.device_id.as_ref());
        let peer = (self.peer.user_id.as_ref(), their_device.as_ref());
        match std::mem::replace(&mut self.state, State::Requested) {
            State::WeAccepted { sas, emoji_allowed } => {
                let our_key = sas.public_key();
                let Ok(established) = sas.diffie_hellman(their_key) else {
                    self.state = State::Ready;
                    return self.cancel_with(CancelCode::InvalidMessage);
                };
                // They started: their key comes first in the info.
                let info = sas_info(
                    (peer.0, peer.1, &their_key),
                    (own.0, own.1, &our_key),
                    self.flow.id(),
                );
                self.state = State::Keys {
                    shown: Box::new(shown(established, &info, emoji_allowed)),
                    their_mac: None,
                    confirmed: false,
                };
                vec![self.message(event_type::KEY, json!({"key": our_key.to_base64()}))]
            }
            State::TheyAccepted {
                sas,
                start,
                commitment: expected,
                emoji_allowed,
            } => {
                if commitment(&their_key, &start).as_deref() != Some(expected.as_str()) {
                    self.state = State::Ready;
                    return self.cancel_with(CancelCode::MismatchedCommitment);
                }
                let our_key = sas.public_key();
                let Ok(established) = sas.diffie_hellman(their_key) else {
                    self.state = State::Ready;
                    return self.cancel_with(CancelCode::InvalidMessage);
                };
                let info = sas_info(
                    (own.0, own.1, &our_key),
                    (peer.0, peer.1, &their_key),
                    self.flow.id(),
                );
                self.state = State::Keys {
                    shown: Box::new(shown(established, &info, emoji_allowed)),
                    their_mac: None,
                    confirmed: false,
                };
                Vec::new()
            }
            _ => self.restore_and_cancel(),
        }
    }

    fn on_mac(&mut self, content: &Value) -> Vec<Outgoing> {
        if matches!(self.state, State::WaitingForDone { .. }) {
            // A repeated MAC after we verified theirs changes nothing.
            return Vec::new();
        }
        match std::mem::replace(&mut self.state, State::Requested) {
            State::Keys {
                shown,
                their_mac: None,
                confirmed: true,
            } => self.check_their_mac(&shown.sas, content),
            State::Keys {
                shown,
                their_mac: None,
                confirmed: false,
            } => {
                // Checked once our user has compared the emoji.
                self.state = State::Keys {
                    shown,
                    their_mac: Some(content.clone()),
                    confirmed: false,
                };
                Vec::new()
            }
            _ => self.restore_and_cancel(),
        }
    }
}

fn shown(sas: EstablishedSas, info: &str, emoji_allowed: bool) -> Shown {
    let bytes = sas.bytes(info);
    Shown {
        emoji: bytes.emoji_indices(),
        decimals: bytes.decimals(),
        sas,
        emoji_allowed,
    }
}

#[cfg(test)]
mod tests {
    use ruma::{event_id, owned_device_id, user_id};
    use vodozemac::Ed25519SecretKey;

    use super::*;

    struct Side {
        own: OwnKeys,
        signing: Ed25519SecretKey,
        master: Ed25519SecretKey,
    }

    fn side(user: &str, device: &str) -> Side {
        let signing = Ed25519SecretKey::new();
        let master = Ed25519SecretKey::new();
        Side {
            own: OwnKeys {
                user_id: UserId::parse(user).unwrap(),
                device_id: device.into(),
                device_key: signing.public_key(),
                master_key: Some(master.public_key()),
            },
            signing,
            master,
        }
    }

    fn peer_of(side: &Side, extra_devices: &[&str]) -> PeerKeys {
        let mut devices = BTreeMap::from([(side.own.device_id.clone(), side.signing.public_key())]);
        for d in extra_devices {
            devices.insert((*d).into(), Ed25519SecretKey::new().public_key());
        }
        PeerKeys {
            user_id: side.own.user_id.clone(),
            devices,
            master_key: Some(side.master.public_key()),
        }
    }

    /// Delivers every message in `out` from `from` to `to`, returning the replies.
    fn deliver(from: &Verification, to: &mut Verification, out: Vec<Outgoing>) -> Vec<Outgoing> {
        let mut replies = Vec::new();
        for msg in out {
            if msg
                .to_device
                .as_ref()
                .is_some_and(|d| *d != to.own.device_id)
            {
                continue;
            }
            replies.extend(to.receive(&from.own.user_id, msg.event_type, &msg.content));
        }
        replies
    }

    /// Runs request → done between Alice and Bob, with `starter_is_alice` choosing who
    /// sends `start`; returns both flows.
    fn run(
        alice: &Side,
        bob: &Side,
        in_room: bool,
        starter_is_alice: bool,
    ) -> (Verification, Verification) {
        let now = 1_700_000_000_000;
        let (mut a, request) = if in_room {
            let content = in_room_request_content(&alice.own, &bob.own.user_id);
            let event_id = event_id!("$request:example.org").to_owned();
            let a = Verification::requested_in_room(
                alice.own.clone(),
                peer_of(bob, &[]),
                event_id,
                now,
            );
            (
                a,
                vec![Outgoing {
                    event_type: event_type::ROOM_MESSAGE,
                    content,
                    to_device: None,
                }],
            )
        } else {
            Verification::request_to_device(
                alice.own.clone(),
                peer_of(bob, &["BOB2"]),
                "txn1".into(),
                now,
            )
        };
        let request = request
            .into_iter()
            .find(|o| o.to_device.as_ref().is_none_or(|d| *d == bob.own.device_id))
            .unwrap();
        let flow = if in_room {
            Flow::InRoom {
                request_event_id: event_id!("$request:example.org").to_owned(),
            }
        } else {
            Flow::ToDevice {
                transaction_id: "txn1".into(),
            }
        };
        let mut b = Verification::from_request(
            bob.own.clone(),
            peer_of(alice, &[]),
            flow,
            &request.content,
            now,
            now + 1000,
        )
        .unwrap();
        assert_eq!(
            b.phase(),
            Phase::Requested {
                we_requested: false
            }
        );

        let ready = b.accept();
        let cancels_to_others = deliver(&b, &mut a, ready);
        if !in_room {
            // Bob's other device is told the request was accepted elsewhere.
            assert_eq!(cancels_to_others.len(), 1);
            assert_eq!(
                cancels_to_others[0]
                    .to_device
                    .as_deref()
                    .map(DeviceId::as_str),
                Some("BOB2")
            );
            assert_eq!(cancels_to_others[0].content["code"], "m.accepted");
        }
        assert_eq!(a.phase(), Phase::Ready);

        let (starter, other) = if starter_is_alice {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        let start = starter.start_sas();
        let accept = deliver(starter, other, start);
        let starter_key = deliver(other, starter, accept);
        let accepter_key = deliver(starter, other, starter_key);
        assert!(deliver(other, starter, accepter_key).is_empty());
        assert_eq!(a.phase(), Phase::ShowSas);
        assert_eq!(b.phase(), Phase::ShowSas);
        (a, b)
    }

    fn finish(a: &mut Verification, b: &mut Verification) {
        let mac_a = a.confirm();
        assert!(deliver(a, b, mac_a).is_empty(), "Bob has not confirmed yet");
        let mut mac_and_done_b = b.confirm();
        assert_eq!(mac_and_done_b.len(), 2);
        let done_b = mac_and_done_b.pop().unwrap();
        let done_a = deliver(b, a, mac_and_done_b);
        assert_eq!(done_a.len(), 1);
        deliver(b, a, vec![done_b]);
        deliver(a, b, done_a);
        assert_eq!(a.phase(), Phase::Done);
        assert_eq!(b.phase(), Phase::Done);
    }

    #[test]
    fn two_devices_agree_on_the_emoji_and_verify_each_other_to_device() {
        let alice = side("@alice:example.org", "ALICE");
        let bob = side("@bob:example.org", "BOB");
        for starter_is_alice in [true, false] {
            let (mut a, mut b) = run(&alice, &bob, false, starter_is_alice);
            assert_eq!(a.emoji().unwrap(), b.emoji().unwrap());
            assert_eq!(a.decimals(), b.decimals());
            let (n1, n2, n3) = a.decimals().unwrap();
            assert!([n1, n2, n3].iter().all(|n| (1000..=9191).contains(n)));
            finish(&mut a, &mut b);
            let verified = a.verified().unwrap();
            assert_eq!(
                verified.device,
                Some((owned_device_id!("BOB"), bob.signing.public_key()))
            );
            assert_eq!(verified.master_key, Some(bob.master.public_key()));
            let verified = b.verified().unwrap();
            assert_eq!(
                verified.device,
                Some((owned_device_id!("ALICE"), alice.signing.public_key()))
            );
            assert_eq!(verified.master_key, Some(alice.master.public_key()));
        }
    }

    #[test]
    fn a_done_that_overtakes_its_mac_still_finishes() {
        let alice = side("@alice:example.org", "ALICE");
        let bob = side("@bob:example.org", "BOB");
        for in_room in [false, true] {
            let (mut a, mut b) = run(&alice, &bob, in_room, true);
            let mac_a = a.confirm();
            assert!(deliver(&a, &mut b, mac_a).is_empty());
            let mut mac_and_done_b = b.confirm();
            let done_b = mac_and_done_b.pop().unwrap();
            assert_eq!(done_b.event_type, event_type::DONE);
            // Bob's done arrives first, then his MAC.
            assert!(deliver(&b, &mut a, vec![done_b]).is_empty());
            assert_eq!(a.phase(), Phase::Confirmed, "nothing proved yet");
            let done_a = deliver(&b, &mut a, mac_and_done_b);
            assert_eq!(a.phase(), Phase::Done);
            deliver(&a, &mut b, done_a);
            assert_eq!(b.phase(), Phase::Done);
        }
    }

    #[test]
    fn in_room_messages_relate_to_the_request_and_verify() {
        let alice = side("@alice:example.org", "ALICE");
        let bob = side("@bob:example.org", "BOB");
        let (mut a, mut b) = run(&alice, &bob, true, true);
        assert!(a.emoji().is_some());
        assert_eq!(a.emoji(), b.emoji());
        let mac = a.confirm();
        assert_eq!(mac[0].to_device, None);
        assert_eq!(
            mac[0].content["m.relates_to"],
            json!({"rel_type": "m.reference", "event_id": "$request:example.org"})
        );
        assert!(mac[0].content.get("transaction_id").is_none());
        deliver(&a, &mut b, mac);
        let mut out = b.confirm();
        let done_b = out.pop().unwrap();
        let done_a = deliver(&b, &mut a, out);
        deliver(&b, &mut a, vec![done_b]);
        deliver(&a, &mut b, done_a);
        assert_eq!(a.phase(), Phase::Done);
        assert!(b.verified().is_some());
        // Our own echo in the room is ignored.
        let echo = json!({"m.relates_to": {"rel_type": "m.reference", "event_id": "$request:example.org"}, "code": "m.user"});
        assert!(
            b.receive(&bob.own.user_id, event_type::CANCEL, &echo)
                .is_empty()
        );
        assert_eq!(b.phase(), Phase::Done);
    }

    #[test]
    fn a_man_in_the_middle_key_is_caught_by_the_commitment() {
        let alice = side("@alice:example.org", "ALICE");
        let bob = side("@bob:example.org", "BOB");
        let now = 1_700_000_000_000;
        let (mut a, req) =
            Verification::request_to_device(alice.own.clone(), peer_of(&bob, &[]), "t".into(), now);
        let mut b = Verification::from_request(
            bob.own.clone(),
            peer_of(&alice, &[]),
            Flow::ToDevice {
                transaction_id: "t".into(),
            },
            &req[0].content,
            now,
            now,
        )
        .unwrap();
        let ready = b.accept();
        deliver(&b, &mut a, ready);
        let start = a.start_sas();
        let accept = deliver(&a, &mut b, start);
        let key_a = deliver(&b, &mut a, accept);
        let _ = deliver(&a, &mut b, key_a);
        // A key other than the one committed to reaches Alice.
        let forged = json!({"transaction_id": "t", "key": Curve25519PublicKey::from(&vodozemac::Curve25519SecretKey::new()).to_base64()});
        let out = a.receive(&bob.own.user_id, event_type::KEY, &forged);
        assert_eq!(out[0].event_type, event_type::CANCEL);
        assert_eq!(out[0].content["code"], "m.mismatched_commitment");
        assert!(matches!(
            a.phase(),
            Phase::Cancelled {
                code: CancelCode::MismatchedCommitment,
                by_us: true,
                ..
            }
        ));
    }

    #[test]
    fn a_wrong_device_key_fails_the_mac() {
        let alice = side("@alice:example.org", "ALICE");
        let bob = side("@bob:example.org", "BOB");
        let (mut a, mut b) = run(&alice, &bob, false, true);
        // Alice's record of Bob's device key is not the key Bob's device has.
        a.peer
            .devices
            .insert("BOB".into(), Ed25519SecretKey::new().public_key());
        let mac_b = b.confirm();
        deliver(&b, &mut a, mac_b);
        let out = a.confirm();
        assert_eq!(out.last().unwrap().content["code"], "m.key_mismatch");
        assert!(matches!(
            a.phase(),
            Phase::Cancelled {
                code: CancelCode::KeyMismatch,
                ..
            }
        ));
        // Bob is told, and does not answer the cancel.
        let cancel = out.last().unwrap().clone();
        assert!(deliver(&a, &mut b, vec![cancel]).is_empty());
        assert!(matches!(b.phase(), Phase::Cancelled { by_us: false, .. }));
    }

    #[test]
    fn a_mac_with_a_key_dropped_fails_the_key_list() {
        let alice = side("@alice:example.org", "ALICE");
        let bob = side("@bob:example.org", "BOB");
        let (mut a, mut b) = run(&alice, &bob, false, true);
        a.confirm();
        let mut mac_b = b.confirm();
        let master_id = format!("ed25519:{}", bob.master.public_key().to_base64());
        mac_b[0].content["mac"]
            .as_object_mut()
            .unwrap()
            .remove(&master_id);
        let out = deliver(&b, &mut a, mac_b);
        assert_eq!(out[0].content["code"], "m.key_mismatch");
    }

    #[test]
    fn simultaneous_starts_resolve_to_the_smaller_user() {
        let alice = side("@alice:example.org", "ALICE");
        let bob = side("@bob:example.org", "BOB");
        let now = 1;
        let (mut a, req) =
            Verification::request_to_device(alice.own.clone(), peer_of(&bob, &[]), "t".into(), now);
        let mut b = Verification::from_request(
            bob.own.clone(),
            peer_of(&alice, &[]),
            Flow::ToDevice {
                transaction_id: "t".into(),
            },
            &req[0].content,
            now,
            now,
        )
        .unwrap();
        let ready = b.accept();
        deliver(&b, &mut a, ready);
        let start_a = a.start_sas();
        let start_b = b.start_sas();
        // Alice's start wins: she ignores Bob's, Bob accepts hers.
        assert!(deliver(&b, &mut a, start_b).is_empty());
        let accept = deliver(&a, &mut b, start_a);
        assert_eq!(accept[0].event_type, event_type::ACCEPT);
        let key_a = deliver(&b, &mut a, accept);
        let key_b = deliver(&a, &mut b, key_a);
        deliver(&b, &mut a, key_b);
        assert_eq!(a.emoji(), b.emoji());
        assert!(a.emoji().is_some());
        finish(&mut a, &mut b);

        assert!(our_start_wins(
            (user_id!("@a:x"), "Z".into()),
            (user_id!("@b:x"), "A".into())
        ));
        assert!(our_start_wins(
            (user_id!("@a:x"), "A".into()),
            (user_id!("@a:x"), "B".into())
        ));
        assert!(!our_start_wins(
            (user_id!("@b:x"), "A".into()),
            (user_id!("@a:x"), "Z".into())
        ));
    }

    #[test]
    fn self_verification_between_two_of_our_devices() {
        let first = side("@alice:example.org", "AAAA");
        let mut second = side("@alice:example.org", "BBBB");
        // One user, one master key.
        second.master = Ed25519SecretKey::from_slice(&first.master.to_bytes());
        second.own.master_key = first.own.master_key;
        let peer_for_first = PeerKeys {
            user_id: first.own.user_id.clone(),
            devices: BTreeMap::from([
                (first.own.device_id.clone(), first.signing.public_key()),
                (second.own.device_id.clone(), second.signing.public_key()),
            ]),
            master_key: first.own.master_key,
        };
        let (mut a, req) = Verification::request_to_device(
            first.own.clone(),
            peer_for_first.clone(),
            "t".into(),
            5,
        );
        // Not sent to ourselves.
        assert_eq!(req.len(), 1);
        assert_eq!(
            req[0].to_device.as_deref().map(DeviceId::as_str),
            Some("BBBB")
        );
        let mut b = Verification::from_request(
            second.own.clone(),
            peer_for_first,
            Flow::ToDevice {
                transaction_id: "t".into(),
            },
            &req[0].content,
            5,
            5,
        )
        .unwrap();
        let ready = b.accept();
        deliver(&b, &mut a, ready);
        let start = a.start_sas();
        let accept = deliver(&a, &mut b, start);
        let key = deliver(&b, &mut a, accept);
        let key = deliver(&a, &mut b, key);
        deliver(&b, &mut a, key);
        assert!(a.emoji().is_some());
        assert_eq!(a.emoji(), b.emoji());
        finish(&mut a, &mut b);
        assert_eq!(
            a.verified().unwrap().device.as_ref().unwrap().0.as_str(),
            "BBBB"
        );
    }

    #[test]
    fn a_declined_to_device_request_is_withdrawn_from_every_device() {
        let alice = side("@alice:example.org", "ALICE");
        let bob = side("@bob:example.org", "BOB");
        let (mut a, requests) = Verification::request_to_device(
            alice.own.clone(),
            peer_of(&bob, &["BOB2"]),
            "t".into(),
            0,
        );
        assert_eq!(requests.len(), 2);
        let decline = json!({"transaction_id": "t", "code": "m.user", "reason": "no"});
        let out = a.receive(&bob.own.user_id, event_type::CANCEL, &decline);
        let mut to: Vec<_> = out.iter().map(|o| o.to_device.clone().unwrap()).collect();
        to.sort();
        assert_eq!(to, [owned_device_id!("BOB"), owned_device_id!("BOB2")]);
        assert!(out.iter().all(|o| o.content["code"] == "m.user"));
        assert!(matches!(a.phase(), Phase::Cancelled { by_us: false, .. }));
    }

    #[test]
    fn requests_are_checked_and_timeouts_cancel() {
        let alice = side("@alice:example.org", "ALICE");
        let bob = side("@bob:example.org", "BOB");
        let flow = Flow::ToDevice {
            transaction_id: "t".into(),
        };
        let content = json!({"from_device": "ALICE", "methods": [SAS_V1], "timestamp": 0, "transaction_id": "t"});
        let take = |content: &Value, sent: u64, now: u64| {
            Verification::from_request(
                bob.own.clone(),
                peer_of(&alice, &[]),
                flow.clone(),
                content,
                sent,
                now,
            )
        };
        assert!(take(&content, 0, REQUEST_MAX_AGE_MS).is_ok());
        assert_eq!(
            take(&content, 0, REQUEST_MAX_AGE_MS + 1).unwrap_err(),
            RequestError::Expired
        );
        assert_eq!(
            take(&content, REQUEST_MAX_FUTURE_MS + 1, 0).unwrap_err(),
            RequestError::Expired
        );
        let qr_only = json!({"from_device": "ALICE", "methods": ["m.qr_code.scan.v1"]});
        assert_eq!(
            take(&qr_only, 0, 0).unwrap_err(),
            RequestError::NoCommonMethod
        );
        assert_eq!(
            take(&json!({"methods": [SAS_V1]}), 0, 0).unwrap_err(),
            RequestError::Malformed
        );
        // In-room requests must be addressed to us.
        let in_room = Flow::InRoom {
            request_event_id: event_id!("$r:x").to_owned(),
        };
        let to_carol = in_room_request_content(&alice.own, user_id!("@carol:example.org"));
        assert_eq!(
            Verification::from_request(
                bob.own.clone(),
                peer_of(&alice, &[]),
                in_room,
                &to_carol,
                0,
                0
            )
            .unwrap_err(),
            RequestError::NotForUs
        );

        let mut b = take(&content, 0, 0).unwrap();
        assert!(b.check_timeout(TIMEOUT_MS).is_empty());
        let out = b.check_timeout(TIMEOUT_MS + 1);
        assert_eq!(out[0].content["code"], "m.timeout");
        assert_eq!(
            out[0].to_device.as_deref().map(DeviceId::as_str),
            Some("ALICE")
        );
        // Nothing more once cancelled.
        assert!(b.cancel().is_empty());
    }

    #[test]
    fn out_of_order_and_unsupported_messages_cancel() {
        let alice = side("@alice:example.org", "ALICE");
        let bob = side("@bob:example.org", "BOB");
        let content = json!({"from_device": "ALICE", "methods": [SAS_V1], "timestamp": 0, "transaction_id": "t"});
        let new_b = || {
            Verification::from_request(
                bob.own.clone(),
                peer_of(&alice, &[]),
                Flow::ToDevice {
                    transaction_id: "t".into(),
                },
                &content,
                0,
                0,
            )
            .unwrap()
        };
        // A key before anything was started.
        let mut b = new_b();
        b.accept();
        let out = b.receive(
            &alice.own.user_id,
            event_type::KEY,
            &json!({"transaction_id": "t", "key": "x"}),
        );
        assert_eq!(out[0].content["code"], "m.invalid_message");
        let mut b = new_b();
        b.accept();
        let key = Curve25519PublicKey::from(&vodozemac::Curve25519SecretKey::new()).to_base64();
        let out = b.receive(
            &alice.own.user_id,
            event_type::KEY,
            &json!({"transaction_id": "t", "key": key}),
        );
        assert_eq!(out[0].content["code"], "m.unexpected_message");
        // A start with only the old MAC method.
        let mut b = new_b();
        b.accept();
        let start = json!({"transaction_id": "t", "from_device": "ALICE", "method": SAS_V1,
            "key_agreement_protocols": [KEY_AGREEMENT], "hashes": [HASH],
            "message_authentication_codes": ["hkdf-hmac-sha256"], "short_authentication_string": ["decimal", "emoji"]});
        let out = b.receive(&alice.own.user_id, event_type::START, &start);
        assert_eq!(out[0].content["code"], "m.unknown_method");
        // Decimal only: accepted, emoji not offered.
        let mut b = new_b();
        b.accept();
        let mut start = start;
        start["message_authentication_codes"] = json!([MAC_METHOD]);
        start["short_authentication_string"] = json!(["decimal"]);
        let out = b.receive(&alice.own.user_id, event_type::START, &start);
        assert_eq!(
            out[0].content["short_authentication_string"],
            json!(["decimal"])
        );
        // Its commitment is over the start content as received.
        let ours = Curve25519PublicKey::from(&vodozemac::Curve25519SecretKey::new());
        assert_ne!(
            commitment(&ours, &start),
            out[0].content["commitment"].as_str().map(str::to_owned)
        );
        // Other flows and other users are ignored.
        let mut b = new_b();
        let other_flow = json!({"transaction_id": "other", "code": "m.user"});
        assert!(
            b.receive(&alice.own.user_id, event_type::CANCEL, &other_flow)
                .is_empty()
        );
        let this_flow = json!({"transaction_id": "t", "code": "m.user", "reason": "no"});
        assert!(
            b.receive(
                user_id!("@mallory:example.org"),
                event_type::CANCEL,
                &this_flow
            )
            .is_empty()
        );
        assert_eq!(
            b.phase(),
            Phase::Requested {
                we_requested: false
            }
        );
        b.receive(&alice.own.user_id, event_type::CANCEL, &this_flow);
        assert_eq!(
            b.phase(),
            Phase::Cancelled {
                code: CancelCode::User,
                reason: "no".into(),
                by_us: false
            }
        );
    }

    #[test]
    fn info_strings_follow_the_spec() {
        let a_key = Curve25519PublicKey::from_bytes([1; 32]);
        let b_key = Curve25519PublicKey::from_bytes([2; 32]);
        assert_eq!(
            sas_info(
                (user_id!("@alice:example.org"), "AAA".into(), &a_key),
                (user_id!("@bob:example.org"), "BBB".into(), &b_key),
                "txn"
            ),
            format!(
                "MATRIX_KEY_VERIFICATION_SAS|@alice:example.org|AAA|{}|@bob:example.org|BBB|{}|txn",
                a_key.to_base64(),
                b_key.to_base64()
            )
        );
        assert_eq!(
            mac_info(
                (user_id!("@alice:example.org"), "AAA".into()),
                (user_id!("@bob:example.org"), "BBB".into()),
                "txn",
                "KEY_IDS"
            ),
            "MATRIX_KEY_VERIFICATION_MAC@alice:example.orgAAA@bob:example.orgBBBtxnKEY_IDS"
        );
        // SHA-256 over key ‖ canonical JSON, unpadded base64; checked with Python's hashlib.
        let start = json!({"transaction_id": "t", "method": "m.sas.v1", "from_device": "A"});
        assert_eq!(commitment(&a_key, &start).unwrap(), COMMITMENT_VECTOR);
    }
    const COMMITMENT_VECTOR: &str = "ItfEaQfaLrdPw9l/hAITam3vl91tp5ngLkpM+BD4QUc";

    #[test]
    fn the_emoji_table_matches_the_spec() {
        assert_eq!(SAS_EMOJI.len(), 64);
        assert_eq!(
            SAS_EMOJI[0],
            SasEmoji {
                symbol: "🐶",
                description: "Dog"
            }
        );
        assert_eq!(
            SAS_EMOJI[21],
            SasEmoji {
                symbol: "☁\u{FE0F}",
                description: "Cloud"
            }
        );
        assert_eq!(SAS_EMOJI[36].description, "Thumbs Up");
        assert_eq!(
            SAS_EMOJI[63],
            SasEmoji {
                symbol: "📌",
                description: "Pin"
            }
        );
        let names: std::collections::BTreeSet<_> =
            SAS_EMOJI.iter().map(|e| e.description).collect();
        assert_eq!(names.len(), 64);
        assert_eq!(
            emoji_for([0, 1, 2, 3, 4, 5, 63]).map(|e| e.description),
            ["Dog", "Cat", "Lion", "Horse", "Unicorn", "Pig", "Pin"]
        );
    }
}
