//! The crypto state machine: our Olm account, the devices we track, Olm sessions, and the
//! Megolm sessions of rooms — without I/O, in the manner of matrix-sdk-crypto's `OlmMachine`.
//!
//! It hands out the requests it needs sent (`/keys/upload`, `/keys/query`, `/keys/claim`,
//! `/keys/changes`, to-device messages) through [`Machine::outgoing_requests`] and takes their
//! responses through [`Machine::mark_request_sent`]. Sync feeds it to-device events, device
//! list changes and key counts ([`Machine::receive_sync`]). Rooms ask it to share their key
//! ([`Machine::share_room_key`]) before encrypting ([`Machine::encrypt_room_event`]), and
//! hand it events to decrypt ([`Machine::decrypt_room_event`]).
//!
//! Everything it holds serialises (vodozemac pickles inside), so the whole state can be
//! stored after every change and restored at start.

use std::collections::{BTreeMap, BTreeSet};

use ruma::{
    OwnedDeviceId, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId,
    api::client::{
        keys::{claim_keys, get_key_changes, get_keys, upload_keys},
        to_device::send_event_to_device,
    },
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use vodozemac::{
    Curve25519PublicKey,
    megolm::{self, GroupSession, InboundGroupSession, MegolmMessage, SessionKey},
    olm::{self, Account, OlmMessage},
};

use super::{
    canonical::{sign_json, verify_json},
    devices::{Device, MEGOLM_ALGORITHM, OLM_ALGORITHM, UserDevices},
};
#[path = "machine_trust.rs"]
mod trust_ext;
pub use trust_ext::BackupSession;

use crate::{
    ApiError, HttpRequest, HttpResponse, Session,
    endpoint::{self, json as json_body},
    event::parse_json,
    requests::target,
    sync::RawEvent,
};

/// How long after unwedging a device we may do it again (e2ee.md §4: once an hour).
const UNWEDGE_INTERVAL_MS: u64 = 60 * 60 * 1000;
/// Olm sessions kept per device, least recently used dropped first (the spec asks ≥ 4).
const SESSIONS_PER_DEVICE: usize = 5;
/// Default `rotation_period_ms` of `m.room.encryption`: one week.
pub const DEFAULT_ROTATION_MS: u64 = 7 * 24 * 60 * 60 * 1000;
/// Default `rotation_period_msgs` of `m.room.encryption`.
pub const DEFAULT_ROTATION_MSGS: u64 = 100;

/// Identifies one request handed out by the engine until its response is marked.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId(pub String);

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A request to send, with the ID its response must be marked with.
#[derive(Debug)]
pub struct OutgoingRequest {
    /// Pass to `mark_request_sent` with the response.
    pub id: RequestId,
    /// The request.
    pub request: HttpRequest,
}

/// `m.room_key.withheld` codes: why a sender did not share a room key with us.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum WithheldCode {
    /// `m.blacklisted`: the sender blocked this device.
    Blacklisted,
    /// `m.unverified`: this device is not verified (cross-signed).
    Unverified,
    /// `m.unauthorised`: not allowed to have the key.
    Unauthorised,
    /// `m.unavailable`: the sender does not have the key.
    Unavailable,
    /// `m.no_olm`: no Olm channel could be set up with this device.
    NoOlm,
    /// `m.history_not_shared`: the room's history is not shared with new members.
    HistoryNotShared,
    /// Any other code.
    Other,
}

impl WithheldCode {
    fn parse(code: &str) -> Self {
        match code {
            "m.blacklisted" => Self::Blacklisted,
            "m.unverified" => Self::Unverified,
            "m.unauthorised" => Self::Unauthorised,
            "m.unavailable" => Self::Unavailable,
            "m.no_olm" => Self::NoOlm,
            "m.history_not_shared" => Self::HistoryNotShared,
            _ => Self::Other,
        }
    }
}

/// Why an encrypted room event could not be decrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UtdReason {
    /// We don't have the key (yet); it may still arrive.
    WaitingForKey,
    /// The sender said it will not share the key with this device.
    Withheld(WithheldCode),
    /// The event is not valid: unknown algorithm, a replayed message index, a room or
    /// sender that does not match the key.
    Invalid,
}

impl UtdReason {
    /// The sentence the timeline shows in place of the message.
    pub fn describe(self) -> &'static str {
        match self {
            Self::WaitingForKey => "Waiting for this message's key",
            Self::Withheld(_) => "The sender didn't share the key with this device",
            Self::Invalid => "This message could not be decrypted",
        }
    }
}

/// A decrypted room event.
#[derive(Clone, Debug, PartialEq)]
pub struct Decrypted {
    /// The real event type.
    pub event_type: String,
    /// Its content, with the cleartext `m.relates_to` (servers aggregate on it).
    pub content: Value,
    /// The sending device, when we know it.
    pub sender_device: Option<OwnedDeviceId>,
    /// Whether the sending device is cross-signed by its owner.
    pub cross_signed: bool,
}

/// A to-device event after the machine read it, for whoever handles its type (verification,
/// secret sharing).
#[derive(Clone, Debug, PartialEq)]
pub struct ToDeviceEvent {
    /// Who sent it.
    pub sender: OwnedUserId,
    /// The (decrypted) type.
    pub event_type: String,
    /// The (decrypted) content.
    pub content: Value,
    /// The sending device's curve25519 key, if it came over Olm.
    pub sender_key: Option<String>,
}

/// What a sync changed that the rooms must hear about.
#[derive(Debug, Default)]
pub struct SyncChanges {
    /// Room keys that arrived: `(room, session ID)`; events waiting for them may decrypt.
    pub room_keys: Vec<(OwnedRoomId, String)>,
    /// Room keys the sender withheld: `(room, session ID)`.
    pub withheld: Vec<(OwnedRoomId, String)>,
    /// Other to-device events.
    pub events: Vec<ToDeviceEvent>,
}

/// The sharing settings of an encrypted room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomKeySettings {
    /// `rotation_period_ms`.
    pub rotation_period_ms: u64,
    /// `rotation_period_msgs`.
    pub rotation_period_msgs: u64,
    /// `m.room.history_visibility`: a change rotates the key.
    pub history_visibility: String,
}

impl Default for RoomKeySettings {
    fn default() -> Self {
        Self {
            rotation_period_ms: DEFAULT_ROTATION_MS,
            rotation_period_msgs: DEFAULT_ROTATION_MSGS,
            history_visibility: "shared".to_owned(),
        }
    }
}

/// Whether a room's key has reached everyone it must.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyShare {
    /// Shared: events can be encrypted now.
    Ready,
    /// Requests must be sent first (device lists, one-time keys, the key itself).
    Waiting,
}

/// Why an event could not be encrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncryptError {
    /// The room key is not shared (yet), or is used up and must be rotated first.
    #[error("the room key is not shared yet")]
    NotShared,
}

/// vodozemac types stored as their pickles.
mod pickled {
    macro_rules! pickled {
        ($name:ident, $type:ty, $pickle:ty) => {
            pub(super) mod $name {
                use serde::{Deserialize, Deserializer, Serialize, Serializer};

                pub fn serialize<S: Serializer>(value: &$type, s: S) -> Result<S::Ok, S::Error> {
                    value.pickle().serialize(s)
                }

                pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<$type, D::Error> {
                    Ok(<$type>::from_pickle(<$pickle>::deserialize(d)?))
                }
            }
        };
    }
    pickled!(
        account,
        vodozemac::olm::Account,
        vodozemac::olm::AccountPickle
    );
    pickled!(
        session,
        vodozemac::olm::Session,
        vodozemac::olm::SessionPickle
    );
    pickled!(
        group,
        vodozemac::megolm::GroupSession,
        vodozemac::megolm::GroupSessionPickle
    );
    pickled!(
        inbound,
        vodozemac::megolm::InboundGroupSession,
        vodozemac::megolm::InboundGroupSessionPickle
    );
}

#[derive(Serialize, Deserialize)]
struct OlmSession {
    #[serde(with = "pickled::session")]
    session: olm::Session,
    /// Logical clock of its last decryption (or creation): the freshest is used to send.
    last_use: u64,
}

/// Our Megolm session for one room and who has it.
#[derive(Serialize, Deserialize)]
struct Outbound {
    #[serde(with = "pickled::group")]
    session: GroupSession,
    created_ms: u64,
    settings: RoomKeySettings,
    /// Devices sent the key (true once the to-device request succeeded).
    shared: BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, bool>>,
    /// Devices sent `m.room_key.withheld` instead.
    withheld: BTreeMap<OwnedUserId, BTreeSet<OwnedDeviceId>>,
    /// To-device requests of this session not yet acknowledged.
    pending: BTreeSet<RequestId>,
}

impl Outbound {
    fn expired(&self, now: u64, settings: &RoomKeySettings) -> bool {
        self.settings != *settings
            || now.saturating_sub(self.created_ms) >= settings.rotation_period_ms
            || u64::from(self.session.message_index()) >= settings.rotation_period_msgs
    }

    fn has(&self, user: &UserId, device: &OwnedDeviceId) -> bool {
        self.shared
            .get(user)
            .is_some_and(|d| d.contains_key(device))
            || self.withheld.get(user).is_some_and(|d| d.contains(device))
    }
}

/// A room key someone shared with us.
#[derive(Serialize, Deserialize)]
struct Inbound {
    #[serde(with = "pickled::inbound")]
    session: InboundGroupSession,
    /// The user who shared it: events decrypted with it must come from them.
    sender: OwnedUserId,
    /// The sharing device's curve25519 key (the Olm channel it came over).
    sender_key: String,
    /// The ed25519 key the sharing device claimed in the Olm plaintext.
    ed25519: String,
    /// In the current key backup version (a new copy starts out not backed up).
    #[serde(default)]
    backed_up: bool,
    /// Imported from a backup: the sender is only claimed, nobody vouched for it over Olm.
    #[serde(default)]
    untrusted: bool,
}

/// What a to-device request carries, for its response.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Purpose {
    RoomKey {
        room_id: OwnedRoomId,
        session_id: String,
    },
    Withheld,
    Dummy,
    /// Verification and secret-sharing messages (see `trust_ext`).
    Other,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct ToDevice {
    id: RequestId,
    event_type: String,
    txn_id: String,
    messages: BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, Value>>,
    purpose: Purpose,
}

#[derive(Debug, Serialize, Deserialize)]
enum InFlight {
    Upload,
    Query {
        users: BTreeMap<OwnedUserId, u64>,
    },
    Claim {
        devices: BTreeMap<OwnedUserId, BTreeSet<OwnedDeviceId>>,
    },
    Changes,
    ToDevice(ToDevice),
}

/// The end-to-end encryption state of one device.
#[derive(Serialize, Deserialize)]
pub struct Machine {
    user_id: OwnedUserId,
    device_id: OwnedDeviceId,
    #[serde(with = "pickled::account")]
    account: Account,
    /// Our device keys are on the server.
    keys_published: bool,
    /// The server's count of our unused one-time keys, when known.
    server_otk_count: Option<u64>,
    /// A (new) fallback key must be uploaded.
    fallback_wanted: bool,
    /// Device lists and cross-signing keys of tracked users.
    users: BTreeMap<OwnedUserId, UserDevices>,
    tracked: BTreeSet<OwnedUserId>,
    /// Tracked users whose device list must be fetched, with the generation at which they
    /// became outdated (a query answered after a newer change does not clear them).
    outdated: BTreeMap<OwnedUserId, u64>,
    generation: u64,
    /// Olm sessions by the other device's curve25519 key.
    sessions: BTreeMap<String, Vec<OlmSession>>,
    outbound: BTreeMap<OwnedRoomId, Outbound>,
    inbound: BTreeMap<OwnedRoomId, BTreeMap<String, Inbound>>,
    /// `m.room_key.withheld` we received, by room and session.
    withheld: BTreeMap<OwnedRoomId, BTreeMap<String, WithheldCode>>,
    /// Megolm replay table: session → message index → (event ID, timestamp).
    replay: BTreeMap<String, BTreeMap<u32, (OwnedEventId, u64)>>,
    /// Devices we need an Olm session with (a one-time key to claim).
    claim_wanted: BTreeMap<OwnedUserId, BTreeSet<OwnedDeviceId>>,
    /// Devices whose claim returned no usable key: they get `m.no_olm`.
    no_olm: BTreeMap<OwnedUserId, BTreeSet<OwnedDeviceId>>,
    /// Devices whose session broke: a new session and an `m.dummy` are due.
    wedged: BTreeMap<OwnedUserId, BTreeSet<OwnedDeviceId>>,
    /// When we last unwedged each device (by curve25519 key), in ms.
    last_unwedge: BTreeMap<String, u64>,
    /// To-device requests ready to hand out.
    queue: Vec<ToDevice>,
    in_flight: BTreeMap<RequestId, InFlight>,
    /// Counter for request and transaction IDs.
    counter: u64,
    /// Logical clock for Olm session use.
    clock: u64,
    /// After a restore: ask `/keys/changes` from this token at the next sync.
    changes_from: Option<String>,
    /// Request kinds (upload, query, claim) that failed with an error: they wait for the
    /// next sync before asking again, rather than hammer the server.
    #[serde(skip)]
    paused: BTreeSet<&'static str>,
    /// Rooms whose key sharing failed: their queued events fail.
    #[serde(skip)]
    share_failed: BTreeSet<OwnedRoomId>,
    /// The last time the caller told us, in ms since the epoch.
    #[serde(default)]
    now: u64,
    /// Olm-encrypted to-device events waiting for a session with their device (secrets:
    /// never stored).
    #[serde(skip)]
    olm_pending: Vec<trust_ext::PendingOlm>,
    /// Our user-signing key object as `/keys/query` gave it (only ours is ever given).
    #[serde(default)]
    own_user_signing: Option<Value>,
    #[serde(skip)]
    dirty: bool,
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine")
            .field("user_id", &self.user_id)
            .field("device_id", &self.device_id)
            .field("curve25519", &self.account.curve25519_key().to_base64())
            .finish_non_exhaustive()
    }
}

/// The Olm plaintext of a to-device message (e2ee.md §4).
#[derive(Deserialize)]
struct OlmPlaintext {
    #[serde(rename = "type")]
    event_type: String,
    content: Value,
    sender: OwnedUserId,
    recipient: OwnedUserId,
    recipient_keys: Ed25519Keys,
    keys: Ed25519Keys,
    sender_device_keys: Option<Value>,
}

#[derive(Deserialize)]
struct Ed25519Keys {
    ed25519: String,
}

#[derive(Deserialize)]
struct OlmContent {
    algorithm: String,
    sender_key: String,
    ciphertext: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct RoomKeyContent {
    algorithm: String,
    room_id: OwnedRoomId,
    session_id: String,
    session_key: String,
}

#[derive(Deserialize)]
struct WithheldContent {
    room_id: Option<OwnedRoomId>,
    session_id: Option<String>,
    code: String,
}

#[derive(Deserialize)]
struct MegolmContent {
    algorithm: String,
    session_id: Option<String>,
    ciphertext: Option<String>,
    #[serde(rename = "m.relates_to")]
    relates_to: Option<Value>,
}

#[derive(Deserialize)]
struct MegolmPlaintext {
    #[serde(rename = "type")]
    event_type: String,
    content: Value,
    room_id: OwnedRoomId,
}

#[derive(Deserialize)]
struct ToDeviceShape {
    sender: OwnedUserId,
    #[serde(rename = "type")]
    event_type: String,
    content: Value,
}

#[derive(Deserialize)]
struct UploadResponse {
    #[serde(default)]
    one_time_key_counts: BTreeMap<String, u64>,
}

#[derive(Deserialize)]
struct QueryResponse {
    #[serde(default)]
    device_keys: BTreeMap<OwnedUserId, BTreeMap<String, Value>>,
    #[serde(default)]
    master_keys: BTreeMap<OwnedUserId, Value>,
    #[serde(default)]
    self_signing_keys: BTreeMap<OwnedUserId, Value>,
    #[serde(default)]
    user_signing_keys: BTreeMap<OwnedUserId, Value>,
}

#[derive(Deserialize)]
struct ClaimResponse {
    #[serde(default)]
    one_time_keys: BTreeMap<OwnedUserId, BTreeMap<String, BTreeMap<String, Value>>>,
}

#[derive(Deserialize)]
struct ChangesResponse {
    #[serde(default)]
    changed: Vec<OwnedUserId>,
    #[serde(default)]
    left: Vec<OwnedUserId>,
}

fn insert_device(
    map: &mut BTreeMap<OwnedUserId, BTreeSet<OwnedDeviceId>>,
    user: &UserId,
    device: &OwnedDeviceId,
) {
    map.entry(user.to_owned())
        .or_default()
        .insert(device.clone());
}

fn contains_device(
    map: &BTreeMap<OwnedUserId, BTreeSet<OwnedDeviceId>>,
    user: &UserId,
    device: &OwnedDeviceId,
) -> bool {
    map.get(user).is_some_and(|d| d.contains(device))
}

impl Machine {
    /// A new device identity (a fresh Olm account) for `user_id`/`device_id`. We track our
    /// own user from the start, so our other devices get room keys too.
    pub fn new(user_id: OwnedUserId, device_id: OwnedDeviceId) -> Self {
        let mut machine = Self {
            user_id: user_id.clone(),
            device_id,
            account: Account::new(),
            keys_published: false,
            server_otk_count: None,
            fallback_wanted: true,
            users: BTreeMap::new(),
            tracked: BTreeSet::new(),
            outdated: BTreeMap::new(),
            generation: 0,
            sessions: BTreeMap::new(),
            outbound: BTreeMap::new(),
            inbound: BTreeMap::new(),
            withheld: BTreeMap::new(),
            replay: BTreeMap::new(),
            claim_wanted: BTreeMap::new(),
            no_olm: BTreeMap::new(),
            wedged: BTreeMap::new(),
            last_unwedge: BTreeMap::new(),
            queue: Vec::new(),
            in_flight: BTreeMap::new(),
            counter: 0,
            clock: 0,
            changes_from: None,
            paused: BTreeSet::new(),
            share_failed: BTreeSet::new(),
            now: 0,
            olm_pending: Vec::new(),
            own_user_signing: None,
            dirty: true,
        };
        machine.update_tracked_users([user_id.as_ref()]);
        machine
    }

    /// The user this device belongs to.
    pub fn user_id(&self) -> &UserId {
        &self.user_id
    }

    /// Our device.
    pub fn device_id(&self) -> &ruma::DeviceId {
        &self.device_id
    }

    /// The last time the caller told us (ms since the epoch).
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Our device's ed25519 key (unpadded base64).
    pub fn ed25519_key(&self) -> String {
        self.account.ed25519_key().to_base64()
    }

    /// Our device's curve25519 key (unpadded base64).
    pub fn curve25519_key(&self) -> String {
        self.account.curve25519_key().to_base64()
    }

    /// Tells the machine the time (ms since the epoch); it has no clock of its own.
    pub fn set_now(&mut self, now: u64) {
        self.now = self.now.max(now);
    }

    /// Whether anything changed since [`Self::take_dirty`] was last called.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// Prepares a restored machine: requests that were out when the state was saved are
    /// handed out again (to-device messages with the same transaction ID) or rebuilt, and
    /// `/keys/changes` will be asked from `sync_token` at the next sync.
    pub(crate) fn restored(&mut self, sync_token: Option<String>) {
        for (_, in_flight) in std::mem::take(&mut self.in_flight) {
            if let InFlight::ToDevice(request) = in_flight {
                self.queue.push(request);
            }
        }
        self.changes_from = sync_token;
        self.dirty = true;
    }

    /// Known devices of `user`.
    pub fn devices(&self, user: &UserId) -> Option<&UserDevices> {
        self.users.get(user)
    }

    /// Rooms whose key could not be shared since the last call (their queued events failed).
    pub fn take_share_failures(&mut self) -> BTreeSet<OwnedRoomId> {
        std::mem::take(&mut self.share_failed)
    }

    fn next_id(&mut self, kind: &str) -> RequestId {
        self.counter += 1;
        self.dirty = true;
        // A prefix from our identity key keeps IDs unique across a re-created account.
        let prefix: String = self
            .curve25519_key()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(8)
            .collect();
        RequestId(format!("{kind}-{prefix}-{}", self.counter))
    }

    /// Starts tracking the device lists of `users` (members of encrypted rooms); new ones
    /// are fetched with the next `/keys/query`.
    pub fn update_tracked_users<'a>(&mut self, users: impl IntoIterator<Item = &'a UserId>) {
        for user in users {
            if self.tracked.insert(user.to_owned()) {
                self.generation += 1;
                self.outdated.insert(user.to_owned(), self.generation);
                self.dirty = true;
            }
        }
    }

    /// Whether `user`'s device list is tracked.
    pub fn is_tracked(&self, user: &UserId) -> bool {
        self.tracked.contains(user)
    }

    /// Our device keys as the server lists them, with the signatures others added (our
    /// self-signing key's), else as we signed them: sent as `sender_device_keys`, so a
    /// receiver that doesn't know our device yet can still see it is cross-signed.
    fn sender_device_keys(&self) -> Value {
        let own = self
            .users
            .get(&self.user_id)
            .and_then(|u| u.devices.get(&self.device_id));
        match own {
            Some(device)
                if device.ed25519 == self.ed25519_key()
                    && device.curve25519 == self.curve25519_key() =>
            {
                let mut keys = device.keys.clone();
                if let Value::Object(map) = &mut keys {
                    map.remove("unsigned");
                }
                keys
            }
            _ => self.device_keys(),
        }
    }

    /// Our device keys, signed by our device (what `/keys/upload` sends), for whoever must
    /// sign them further (cross-signing).
    pub fn device_keys(&self) -> Value {
        let keys = self.account.identity_keys();
        let device = self.device_id.as_str();
        let mut value = json!({
            "user_id": self.user_id, "device_id": device,
            "algorithms": [OLM_ALGORITHM, MEGOLM_ALGORITHM],
            "keys": {format!("curve25519:{device}"): keys.curve25519.to_base64(),
                     format!("ed25519:{device}"): keys.ed25519.to_base64()},
        });
        self.sign(&mut value);
        value
    }

    /// Signs `value` with our device's ed25519 key (e.g. our master key, after a bootstrap).
    pub fn sign(&self, value: &mut Value) {
        // Our own objects are always canonical-encodable.
        let _ = sign_json(
            value,
            self.user_id.as_str(),
            &format!("ed25519:{}", self.device_id),
            |m| self.account.sign(m),
        );
    }

    /// Everything that must be sent now. Each request is handed out once until it is marked
    /// with [`Self::mark_request_sent`].
    pub fn outgoing_requests(&mut self, session: &Session) -> Vec<OutgoingRequest> {
        self.flush_olm_pending();
        let mut out = Vec::new();
        let push = |out: &mut Vec<OutgoingRequest>,
                    id: RequestId,
                    request: Result<HttpRequest, ApiError>| {
            if let Ok(request) = request {
                out.push(OutgoingRequest { id, request });
            }
        };
        let busy = |machine: &Self, f: fn(&InFlight) -> bool| machine.in_flight.values().any(f);
        if !self.paused.contains("upload")
            && !busy(self, |r| matches!(r, InFlight::Upload))
            && let Some(body) = self.upload_body()
        {
            let id = self.next_id("upload");
            let request = json_body(&body).and_then(|body| {
                endpoint::request::<upload_keys::v3::Request>(target(session), &[], &[], body)
            });
            self.in_flight.insert(id.clone(), InFlight::Upload);
            push(&mut out, id, request);
        }
        if !self.paused.contains("query") {
            let querying: BTreeSet<OwnedUserId> = self
                .in_flight
                .values()
                .filter_map(|r| match r {
                    InFlight::Query { users } => Some(users.keys().cloned()),
                    _ => None,
                })
                .flatten()
                .collect();
            let users: BTreeMap<OwnedUserId, u64> = self
                .outdated
                .iter()
                .filter(|(user, _)| !querying.contains(*user))
                .map(|(user, generation)| (user.clone(), *generation))
                .collect();
            if !users.is_empty() {
                let body = json!({
                    "device_keys": users.keys().map(|u| (u.to_string(), json!([]))).collect::<serde_json::Map<_, _>>(),
                    "timeout": 10000,
                });
                let id = self.next_id("query");
                let request = json_body(&body).and_then(|body| {
                    endpoint::request::<get_keys::v3::Request>(target(session), &[], &[], body)
                });
                self.in_flight.insert(id.clone(), InFlight::Query { users });
                push(&mut out, id, request);
            }
        }
        if !self.paused.contains("claim")
            && !busy(self, |r| matches!(r, InFlight::Claim { .. }))
            && !self.claim_wanted.is_empty()
        {
            let devices = std::mem::take(&mut self.claim_wanted);
            let body = json!({
                "one_time_keys": devices.iter().map(|(user, devices)| {
                    (user.to_string(), Value::Object(devices.iter().map(|d| (d.to_string(), json!("signed_curve25519"))).collect()))
                }).collect::<serde_json::Map<_, _>>(),
                "timeout": 10000,
            });
            let id = self.next_id("claim");
            let request = json_body(&body).and_then(|body| {
                endpoint::request::<claim_keys::v3::Request>(target(session), &[], &[], body)
            });
            self.in_flight
                .insert(id.clone(), InFlight::Claim { devices });
            push(&mut out, id, request);
        }
        for request in std::mem::take(&mut self.queue) {
            let body = json!({"messages": request.messages});
            let http = json_body(&body).and_then(|body| {
                endpoint::request::<send_event_to_device::v3::Request>(
                    target(session),
                    &[&request.event_type, &request.txn_id],
                    &[],
                    body,
                )
            });
            let id = request.id.clone();
            self.in_flight
                .insert(id.clone(), InFlight::ToDevice(request));
            push(&mut out, id, http);
        }
        if !out.is_empty() {
            self.dirty = true;
        }
        out
    }

    /// `GET /keys/changes` between the token the stored state belongs to and `to`.
    fn changes_request(
        &mut self,
        session: &Session,
        from: &str,
        to: &str,
    ) -> Option<OutgoingRequest> {
        let id = self.next_id("changes");
        let request = endpoint::request::<get_key_changes::v3::Request>(
            target(session),
            &[],
            &[("from", from), ("to", to)],
            None,
        )
        .ok()?;
        self.in_flight.insert(id.clone(), InFlight::Changes);
        Some(OutgoingRequest { id, request })
    }

    /// The `/keys/upload` body, if anything needs uploading: our device keys once, one-time
    /// keys up to the account's maximum, a fallback key when the server used ours.
    fn upload_body(&mut self) -> Option<Value> {
        let mut body = serde_json::Map::new();
        if !self.keys_published {
            body.insert("device_keys".into(), self.device_keys());
        }
        let max = self.account.max_number_of_one_time_keys() as u64;
        let on_server = if self.keys_published {
            self.server_otk_count.unwrap_or(max)
        } else {
            0
        };
        let unpublished = self.account.one_time_keys().len() as u64;
        if on_server + unpublished < max {
            self.account
                .generate_one_time_keys((max - on_server - unpublished) as usize);
            self.dirty = true;
        }
        let mut one_time_keys = serde_json::Map::new();
        for (key_id, key) in self.account.one_time_keys() {
            let mut value = json!({"key": key.to_base64()});
            self.sign(&mut value);
            one_time_keys.insert(format!("signed_curve25519:{}", key_id.to_base64()), value);
        }
        if !one_time_keys.is_empty() {
            body.insert("one_time_keys".into(), Value::Object(one_time_keys));
        }
        if self.fallback_wanted {
            if self.account.fallback_key().is_empty() {
                self.account.generate_fallback_key();
                self.dirty = true;
            }
            let mut fallback = serde_json::Map::new();
            for (key_id, key) in self.account.fallback_key() {
                let mut value = json!({"key": key.to_base64(), "fallback": true});
                self.sign(&mut value);
                fallback.insert(format!("signed_curve25519:{}", key_id.to_base64()), value);
            }
            body.insert("fallback_keys".into(), Value::Object(fallback));
        }
        (!body.is_empty()).then_some(Value::Object(body))
    }

    /// Takes the response to a request from [`Self::outgoing_requests`]; `None` means it got
    /// no response (network error) and will be handed out again. Returns `false` for IDs
    /// that are not the machine's.
    pub fn mark_request_sent(
        &mut self,
        id: &RequestId,
        response: Option<HttpResponse<'_>>,
    ) -> Result<bool, ApiError> {
        let Some(in_flight) = self.in_flight.remove(id) else {
            return Ok(false);
        };
        self.dirty = true;
        let Some(response) = response else {
            match in_flight {
                InFlight::ToDevice(request) => self.queue.push(request),
                InFlight::Claim { devices } => {
                    for (user, devices) in devices {
                        self.claim_wanted.entry(user).or_default().extend(devices);
                    }
                }
                // Rebuilt from the state at the next call.
                InFlight::Upload | InFlight::Query { .. } | InFlight::Changes => {}
            }
            return Ok(true);
        };
        if response.status().as_u16() >= 400 {
            let kind = match in_flight {
                InFlight::Upload => "upload",
                InFlight::Query { .. } => "query",
                InFlight::Claim { .. } => "claim",
                InFlight::Changes | InFlight::ToDevice(_) => "",
            };
            self.paused.insert(kind);
        }
        match in_flight {
            InFlight::Upload => {
                let parsed: UploadResponse = endpoint::parse(response)?;
                self.account.mark_keys_as_published();
                self.keys_published = true;
                self.fallback_wanted = false;
                self.server_otk_count = Some(
                    parsed
                        .one_time_key_counts
                        .get("signed_curve25519")
                        .copied()
                        .unwrap_or(0),
                );
            }
            InFlight::Query { users } => {
                let parsed: QueryResponse = endpoint::parse(response)?;
                self.apply_query(users, parsed);
            }
            InFlight::Claim { devices } => match endpoint::parse::<ClaimResponse>(response) {
                Ok(parsed) => self.apply_claim(devices, parsed),
                Err(error) => {
                    // Without keys these devices cannot get room keys this time.
                    for (user, devices) in devices {
                        self.no_olm.entry(user).or_default().extend(devices);
                    }
                    return Err(error);
                }
            },
            InFlight::Changes => {
                let parsed: ChangesResponse = endpoint::parse(response)?;
                self.apply_device_list_changes(&parsed.changed, &parsed.left);
            }
            InFlight::ToDevice(request) => {
                let result = endpoint::parse_empty(response);
                if let Purpose::RoomKey {
                    room_id,
                    session_id,
                } = &request.purpose
                    && let Some(outbound) = self.outbound.get_mut(room_id)
                    && outbound.session.session_id() == *session_id
                {
                    if result.is_ok() {
                        outbound.pending.remove(id);
                        for (user, devices) in &request.messages {
                            for device in devices.keys() {
                                if let Some(state) = outbound
                                    .shared
                                    .get_mut(user)
                                    .and_then(|d| d.get_mut(device))
                                {
                                    *state = true;
                                }
                            }
                        }
                    } else {
                        // Nobody may get messages under a key some devices never received.
                        self.outbound.remove(room_id);
                        self.share_failed.insert(room_id.clone());
                    }
                }
                result?;
            }
        }
        Ok(true)
    }

    fn apply_query(&mut self, users: BTreeMap<OwnedUserId, u64>, mut response: QueryResponse) {
        for (user, generation) in users {
            if !self.tracked.contains(&user) {
                continue;
            }
            let entry = self.users.entry(user.clone()).or_default();
            if let Some(listed) = response.device_keys.remove(&user) {
                entry.set_devices(&user, &listed);
            }
            entry.set_cross_signing(
                &user,
                response.master_keys.remove(&user),
                response.self_signing_keys.remove(&user),
            );
            if user == self.user_id {
                self.own_user_signing = response.user_signing_keys.remove(&user);
            }
            // They may have uploaded keys since a claim failed.
            self.no_olm.remove(&user);
            if self.outdated.get(&user) == Some(&generation) {
                self.outdated.remove(&user);
            }
        }
    }

    fn apply_claim(
        &mut self,
        devices: BTreeMap<OwnedUserId, BTreeSet<OwnedDeviceId>>,
        mut response: ClaimResponse,
    ) {
        for (user, devices) in devices {
            let mut keys = response.one_time_keys.remove(&user).unwrap_or_default();
            for device_id in devices {
                let created =
                    self.create_outbound_olm(&user, &device_id, keys.remove(device_id.as_str()));
                if !created {
                    insert_device(&mut self.no_olm, &user, &device_id);
                    continue;
                }
                if self
                    .wedged
                    .get_mut(&user)
                    .is_some_and(|d| d.remove(&device_id))
                {
                    self.send_dummy(&user, &device_id);
                }
            }
        }
    }

    /// Creates an Olm session with a device from its claimed one-time key, after checking
    /// the device signed the key.
    fn create_outbound_olm(
        &mut self,
        user: &UserId,
        device_id: &OwnedDeviceId,
        keys: Option<BTreeMap<String, Value>>,
    ) -> bool {
        let Some(device) = self
            .users
            .get(user)
            .and_then(|u| u.devices.get(device_id))
            .cloned()
        else {
            return false;
        };
        let (Some(signing_key), Ok(identity)) = (
            device.ed25519_key(),
            Curve25519PublicKey::from_base64(&device.curve25519),
        ) else {
            return false;
        };
        let Some(one_time_key) = keys.into_iter().flatten().find_map(|(key_id, value)| {
            key_id.starts_with("signed_curve25519:").then_some(())?;
            verify_json(
                &value,
                user.as_str(),
                &format!("ed25519:{device_id}"),
                &signing_key,
            )
            .ok()?;
            Curve25519PublicKey::from_base64(value.get("key")?.as_str()?).ok()
        }) else {
            return false;
        };
        let Ok(session) = self.account.create_outbound_session(
            olm::SessionConfig::version_1(),
            identity,
            one_time_key,
        ) else {
            return false;
        };
        self.store_session(&device.curve25519, session);
        true
    }

    fn store_session(&mut self, curve25519: &str, session: olm::Session) {
        self.clock += 1;
        let sessions = self.sessions.entry(curve25519.to_owned()).or_default();
        sessions.push(OlmSession {
            session,
            last_use: self.clock,
        });
        if sessions.len() > SESSIONS_PER_DEVICE {
            sessions.sort_by_key(|s| std::cmp::Reverse(s.last_use));
            sessions.truncate(SESSIONS_PER_DEVICE);
        }
        self.dirty = true;
    }

    fn has_session(&self, curve25519: &str) -> bool {
        self.sessions.get(curve25519).is_some_and(|s| !s.is_empty())
    }

    /// Encrypts a to-device event for `device` with the freshest Olm session, with the full
    /// Olm plaintext (including our signed device keys).
    fn olm_encrypt(&mut self, device: &Device, event_type: &str, content: Value) -> Option<Value> {
        let plaintext = json!({
            "type": event_type, "content": content,
            "sender": self.user_id, "recipient": device.user_id,
            "recipient_keys": {"ed25519": device.ed25519},
            "keys": {"ed25519": self.ed25519_key()},
            "sender_device_keys": self.sender_device_keys(),
        });
        let session = self
            .sessions
            .get_mut(&device.curve25519)?
            .iter_mut()
            .max_by_key(|s| s.last_use)?;
        let message = session.session.encrypt(plaintext.to_string()).ok()?;
        self.dirty = true;
        Some(json!({
            "algorithm": OLM_ALGORITHM,
            "sender_key": self.curve25519_key(),
            "ciphertext": {device.curve25519.clone(): message},
        }))
    }

    fn send_dummy(&mut self, user: &UserId, device_id: &OwnedDeviceId) {
        let Some(device) = self
            .users
            .get(user)
            .and_then(|u| u.devices.get(device_id))
            .cloned()
        else {
            return;
        };
        let Some(content) = self.olm_encrypt(&device, "m.dummy", json!({})) else {
            return;
        };
        let id = self.next_id("dummy");
        let txn_id = id.0.clone();
        self.queue.push(ToDevice {
            id,
            event_type: "m.room.encrypted".into(),
            txn_id,
            messages: BTreeMap::from([(
                user.to_owned(),
                BTreeMap::from([(device_id.clone(), content)]),
            )]),
            purpose: Purpose::Dummy,
        });
    }

    /// Takes the crypto parts of a sync: to-device events (before the rooms, so their keys
    /// are there for the timeline), device-list changes and our key counts.
    #[allow(clippy::too_many_arguments)]
    pub fn receive_sync(
        &mut self,
        to_device: &[RawEvent],
        changed: &[OwnedUserId],
        left: &[OwnedUserId],
        one_time_key_counts: Option<&BTreeMap<String, u64>>,
        unused_fallback_key_types: Option<&[String]>,
    ) -> SyncChanges {
        // Only what changes the state makes it worth storing again: a quiet sync must not
        // rewrite the whole store. (The stored sync token may lag; `/keys/changes` from an
        // older token only reports more.)
        if !to_device.is_empty() || !changed.is_empty() || !left.is_empty() {
            self.dirty = true;
        }
        let before = (self.server_otk_count, self.fallback_wanted);
        self.paused.clear();
        let mut changes = SyncChanges::default();
        for raw in to_device {
            let Ok(event) = parse_json::<ToDeviceShape>(raw.get()) else {
                continue;
            };
            self.receive_to_device(event, &mut changes);
        }
        self.apply_device_list_changes(changed, left);
        // v1.17 servers may leave out a zero count; only those also send the fallback types.
        let count = match (one_time_key_counts, unused_fallback_key_types) {
            (Some(counts), _) => Some(counts.get("signed_curve25519").copied().unwrap_or(0)),
            (None, Some(_)) => Some(0),
            (None, None) => None,
        };
        if self.keys_published {
            if let Some(count) = count
                && !self
                    .in_flight
                    .values()
                    .any(|r| matches!(r, InFlight::Upload))
            {
                self.server_otk_count = Some(count);
            }
            if let Some(types) = unused_fallback_key_types
                && !types.iter().any(|t| t == "signed_curve25519")
            {
                self.fallback_wanted = true;
            }
        }
        if (self.server_otk_count, self.fallback_wanted) != before {
            self.dirty = true;
        }
        changes
    }

    /// `/keys/changes` for a restored state, once the first sync after the restore gave us
    /// the current token.
    pub fn changes_since_restore(
        &mut self,
        session: &Session,
        to: &str,
    ) -> Option<OutgoingRequest> {
        let from = self.changes_from.take()?;
        self.changes_request(session, &from, to)
    }

    fn apply_device_list_changes(&mut self, changed: &[OwnedUserId], left: &[OwnedUserId]) {
        for user in changed {
            if self.tracked.contains(user) {
                self.generation += 1;
                self.outdated.insert(user.clone(), self.generation);
            }
        }
        for user in left {
            if *user == self.user_id {
                continue;
            }
            self.tracked.remove(user);
            self.outdated.remove(user);
            self.users.remove(user);
        }
    }

    fn receive_to_device(&mut self, event: ToDeviceShape, changes: &mut SyncChanges) {
        match event.event_type.as_str() {
            "m.room.encrypted" => {
                let Ok(content) = serde_json::from_value::<OlmContent>(event.content) else {
                    return;
                };
                let Some(decrypted) = self.decrypt_olm(&event.sender, &content) else {
                    return;
                };
                self.receive_decrypted(&event.sender, &content.sender_key, decrypted, changes);
            }
            "m.room_key.withheld" => {
                let Ok(content) = serde_json::from_value::<WithheldContent>(event.content) else {
                    return;
                };
                let (Some(room_id), Some(session_id)) = (content.room_id, content.session_id)
                else {
                    return;
                };
                if self
                    .inbound
                    .get(&room_id)
                    .is_some_and(|s| s.contains_key(&session_id))
                {
                    return;
                }
                self.withheld
                    .entry(room_id.clone())
                    .or_default()
                    .insert(session_id.clone(), WithheldCode::parse(&content.code));
                changes.withheld.push((room_id, session_id));
            }
            // Room keys are only ever accepted over Olm.
            "m.room_key" | "m.forwarded_room_key" => {}
            _ => changes.events.push(ToDeviceEvent {
                sender: event.sender,
                event_type: event.event_type,
                content: event.content,
                sender_key: None,
            }),
        }
    }

    /// Decrypts an Olm message for us and validates its plaintext (e2ee.md §4 steps 1–4).
    fn decrypt_olm(&mut self, sender: &UserId, content: &OlmContent) -> Option<OlmPlaintext> {
        if content.algorithm != OLM_ALGORITHM {
            return None;
        }
        let message: OlmMessage =
            serde_json::from_value(content.ciphertext.get(&self.curve25519_key())?.clone()).ok()?;
        let sender_key = &content.sender_key;
        let mut plaintext = None;
        if let Some(sessions) = self.sessions.get_mut(sender_key) {
            for stored in sessions.iter_mut() {
                if let Ok(bytes) = stored.session.decrypt(&message) {
                    self.clock += 1;
                    stored.last_use = self.clock;
                    plaintext = Some(bytes);
                    break;
                }
            }
        }
        if plaintext.is_none()
            && let OlmMessage::PreKey(prekey) = &message
            && let Ok(identity) = Curve25519PublicKey::from_base64(sender_key)
            && let Ok(created) = self.account.create_inbound_session(
                olm::SessionConfig::version_1(),
                identity,
                prekey,
            )
        {
            self.store_session(sender_key, created.session);
            plaintext = Some(created.plaintext);
        }
        let Some(plaintext) = plaintext else {
            self.wedged_session(sender, sender_key);
            return None;
        };
        let plaintext: OlmPlaintext = serde_json::from_slice(&plaintext).ok()?;
        self.validate_olm(sender, sender_key, &plaintext)
            .then_some(plaintext)
    }

    /// The checks of e2ee.md §4 step 4.
    fn validate_olm(
        &mut self,
        sender: &UserId,
        sender_key: &str,
        plaintext: &OlmPlaintext,
    ) -> bool {
        if plaintext.sender != sender
            || plaintext.recipient != self.user_id
            || plaintext.recipient_keys.ed25519 != self.ed25519_key()
        {
            return false;
        }
        if let Some(device) = self
            .users
            .get(sender)
            .and_then(|u| u.by_curve_key(sender_key))
            && device.ed25519 != plaintext.keys.ed25519
        {
            return false;
        }
        if let Some(keys) = &plaintext.sender_device_keys {
            let Some(device_id) = keys.get("device_id").and_then(Value::as_str) else {
                return false;
            };
            let Ok(device) = Device::from_keys(sender, device_id, keys) else {
                return false;
            };
            if device.curve25519 != sender_key || device.ed25519 != plaintext.keys.ed25519 {
                return false;
            }
            // A device ID we know with another signing key is not this device.
            if let Some(known) = self
                .users
                .get(sender)
                .and_then(|u| u.devices.get(&device.device_id))
                && known.ed25519 != device.ed25519
            {
                return false;
            }
        } else if self
            .users
            .get(sender)
            .and_then(|u| u.by_curve_key(sender_key))
            .is_none()
            && self.tracked.contains(sender)
        {
            // A device we don't know yet: fetch the list again so the next message checks.
            self.generation += 1;
            self.outdated.insert(sender.to_owned(), self.generation);
        }
        true
    }

    /// An Olm message we could not decrypt: start a new session with the sender's device and
    /// send it an `m.dummy`, at most once an hour per device.
    fn wedged_session(&mut self, sender: &UserId, sender_key: &str) {
        let Some(device) = self
            .users
            .get(sender)
            .and_then(|u| u.by_curve_key(sender_key))
            .cloned()
        else {
            if self.tracked.contains(sender) {
                self.generation += 1;
                self.outdated.insert(sender.to_owned(), self.generation);
            }
            return;
        };
        if self
            .last_unwedge
            .get(sender_key)
            .is_some_and(|at| self.now.saturating_sub(*at) < UNWEDGE_INTERVAL_MS)
        {
            return;
        }
        self.last_unwedge.insert(sender_key.to_owned(), self.now);
        insert_device(&mut self.wedged, sender, &device.device_id);
        insert_device(&mut self.claim_wanted, sender, &device.device_id);
    }

    fn receive_decrypted(
        &mut self,
        sender: &UserId,
        sender_key: &str,
        plaintext: OlmPlaintext,
        changes: &mut SyncChanges,
    ) {
        match plaintext.event_type.as_str() {
            "m.room_key" => {
                let Ok(content) = serde_json::from_value::<RoomKeyContent>(plaintext.content)
                else {
                    return;
                };
                if content.algorithm != MEGOLM_ALGORITHM {
                    return;
                }
                let Ok(key) = SessionKey::from_base64(&content.session_key) else {
                    return;
                };
                let session = InboundGroupSession::new(&key, megolm::SessionConfig::version_1());
                if session.session_id() != content.session_id {
                    return;
                }
                let room = self.inbound.entry(content.room_id.clone()).or_default();
                // Keep the copy that reaches further back, from the same sender only.
                if let Some(old) = room.get(&content.session_id)
                    && (old.sender != sender
                        || old.session.first_known_index() <= session.first_known_index())
                {
                    return;
                }
                room.insert(
                    content.session_id.clone(),
                    Inbound {
                        session,
                        sender: sender.to_owned(),
                        sender_key: sender_key.to_owned(),
                        ed25519: plaintext.keys.ed25519,
                        backed_up: false,
                        untrusted: false,
                    },
                );
                if let Some(withheld) = self.withheld.get_mut(&content.room_id) {
                    withheld.remove(&content.session_id);
                }
                changes
                    .room_keys
                    .push((content.room_id, content.session_id));
            }
            "m.dummy" => {}
            _ => changes.events.push(ToDeviceEvent {
                sender: sender.to_owned(),
                event_type: plaintext.event_type,
                content: plaintext.content,
                sender_key: Some(sender_key.to_owned()),
            }),
        }
    }

    /// Makes sure the room's current Megolm key reached the devices of `recipients` (joined
    /// members, plus invited ones unless history is `joined`, plus ourselves): rotates it when
    /// it is too old or used up, its settings changed or someone it was shared with is no
    /// longer a recipient; queues `/keys/query` and `/keys/claim` as needed; sends
    /// `m.room_key` over Olm to cross-signed devices and `m.room_key.withheld` to the rest.
    pub fn share_room_key(
        &mut self,
        room_id: &RoomId,
        recipients: &BTreeSet<OwnedUserId>,
        settings: &RoomKeySettings,
        now: u64,
    ) -> KeyShare {
        self.set_now(now);
        let mut recipients = recipients.clone();
        recipients.insert(self.user_id.clone());
        self.update_tracked_users(recipients.iter().map(|u| u.as_ref()));
        if recipients.iter().any(|u| self.outdated.contains_key(u)) {
            return KeyShare::Waiting;
        }
        let gone = |machine: &Self, outbound: &Outbound| {
            outbound.shared.iter().any(|(user, devices)| {
                !recipients.contains(user)
                    || devices.keys().any(|d| {
                        !machine
                            .users
                            .get(user)
                            .is_some_and(|u| u.devices.contains_key(d))
                    })
            })
        };
        let rotate = match self.outbound.get(room_id) {
            None => true,
            Some(outbound) => outbound.expired(now, settings) || gone(self, outbound),
        };
        if rotate {
            self.new_outbound(room_id, settings, now);
        }
        let mut keys = Vec::new();
        let mut unverified = Vec::new();
        let mut no_olm = Vec::new();
        let mut waiting = false;
        {
            let outbound = &self.outbound[room_id];
            for user in &recipients {
                let Some(devices) = self.users.get(user) else {
                    continue;
                };
                for device in devices.devices.values() {
                    if (*user == self.user_id && device.device_id == self.device_id)
                        || outbound.has(user, &device.device_id)
                    {
                        continue;
                    }
                    if !device.cross_signed {
                        unverified.push(device.clone());
                    } else if self.has_session(&device.curve25519) {
                        keys.push(device.clone());
                    } else if contains_device(&self.no_olm, user, &device.device_id) {
                        no_olm.push(device.clone());
                    } else {
                        insert_device(&mut self.claim_wanted, user, &device.device_id);
                        waiting = true;
                    }
                }
            }
        }
        if waiting
            || self
                .in_flight
                .values()
                .any(|r| matches!(r, InFlight::Claim { .. }))
        {
            return KeyShare::Waiting;
        }
        let (session_id, session_key) = {
            let outbound = &self.outbound[room_id];
            (
                outbound.session.session_id(),
                outbound.session.session_key().to_base64(),
            )
        };
        if !keys.is_empty() {
            let content = json!({"algorithm": MEGOLM_ALGORITHM, "room_id": room_id, "session_id": session_id, "session_key": session_key});
            let mut messages: BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, Value>> =
                BTreeMap::new();
            for device in &keys {
                if let Some(encrypted) = self.olm_encrypt(device, "m.room_key", content.clone()) {
                    messages
                        .entry(device.user_id.clone())
                        .or_default()
                        .insert(device.device_id.clone(), encrypted);
                }
            }
            let id = self.next_id("roomkey");
            let outbound = self.outbound.get_mut(room_id).expect("created above");
            for (user, devices) in &messages {
                for device in devices.keys() {
                    outbound
                        .shared
                        .entry(user.clone())
                        .or_default()
                        .insert(device.clone(), false);
                }
            }
            outbound.pending.insert(id.clone());
            let txn_id = id.0.clone();
            self.queue.push(ToDevice {
                id,
                event_type: "m.room.encrypted".into(),
                txn_id,
                messages,
                purpose: Purpose::RoomKey {
                    room_id: room_id.to_owned(),
                    session_id: session_id.clone(),
                },
            });
        }
        if !unverified.is_empty() || !no_olm.is_empty() {
            let withheld = |code: &str, reason: &str| {
                json!({"algorithm": MEGOLM_ALGORITHM, "room_id": room_id, "session_id": session_id,
                       "sender_key": self.curve25519_key(), "from_device": self.device_id, "code": code, "reason": reason})
            };
            let unverified_content = withheld(
                "m.unverified",
                "The sender has not shared the key with unverified devices",
            );
            let no_olm_content = withheld("m.no_olm", "Unable to establish a secure channel");
            let mut messages: BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, Value>> =
                BTreeMap::new();
            let outbound = self.outbound.get_mut(room_id).expect("created above");
            for (devices, content) in [
                (&unverified, &unverified_content),
                (&no_olm, &no_olm_content),
            ] {
                for device in devices {
                    messages
                        .entry(device.user_id.clone())
                        .or_default()
                        .insert(device.device_id.clone(), content.clone());
                    outbound
                        .withheld
                        .entry(device.user_id.clone())
                        .or_default()
                        .insert(device.device_id.clone());
                }
            }
            let id = self.next_id("withheld");
            let txn_id = id.0.clone();
            self.queue.push(ToDevice {
                id,
                event_type: "m.room_key.withheld".into(),
                txn_id,
                messages,
                purpose: Purpose::Withheld,
            });
        }
        self.dirty = true;
        if self.outbound[room_id].pending.is_empty() {
            KeyShare::Ready
        } else {
            KeyShare::Waiting
        }
    }

    fn new_outbound(&mut self, room_id: &RoomId, settings: &RoomKeySettings, now: u64) {
        let session = GroupSession::new(megolm::SessionConfig::version_1());
        // Our inbound copy, so we read our own messages.
        let inbound =
            InboundGroupSession::new(&session.session_key(), megolm::SessionConfig::version_1());
        let (sender_key, ed25519) = (self.curve25519_key(), self.ed25519_key());
        self.inbound.entry(room_id.to_owned()).or_default().insert(
            session.session_id(),
            Inbound {
                session: inbound,
                sender: self.user_id.clone(),
                sender_key,
                ed25519,
                backed_up: false,
                untrusted: false,
            },
        );
        self.outbound.insert(
            room_id.to_owned(),
            Outbound {
                session,
                created_ms: now,
                settings: settings.clone(),
                shared: BTreeMap::new(),
                withheld: BTreeMap::new(),
                pending: BTreeSet::new(),
            },
        );
        self.dirty = true;
    }

    /// Drops the room's outbound key, so the next message goes out under a new one (a member
    /// left, or history visibility changed).
    pub fn discard_room_key(&mut self, room_id: &RoomId) {
        if self.outbound.remove(room_id).is_some() {
            self.dirty = true;
        }
    }

    /// Encrypts a room event with the room's shared key: the `m.room.encrypted` content, with
    /// `m.relates_to` copied to the cleartext. [`EncryptError::NotShared`] asks for another
    /// [`Self::share_room_key`] first (which rotates a used-up key).
    pub fn encrypt_room_event(
        &mut self,
        room_id: &RoomId,
        event_type: &str,
        content: &Value,
    ) -> Result<Value, EncryptError> {
        let curve25519 = self.curve25519_key();
        let outbound = self
            .outbound
            .get_mut(room_id)
            .ok_or(EncryptError::NotShared)?;
        if !outbound.pending.is_empty()
            || u64::from(outbound.session.message_index()) >= outbound.settings.rotation_period_msgs
        {
            return Err(EncryptError::NotShared);
        }
        let plaintext = json!({"type": event_type, "content": content, "room_id": room_id});
        let message = outbound.session.encrypt(plaintext.to_string());
        let mut encrypted = json!({
            "algorithm": MEGOLM_ALGORITHM,
            "session_id": outbound.session.session_id(),
            "ciphertext": message.to_base64(),
            "sender_key": curve25519,
            "device_id": self.device_id,
        });
        if let Some(relates_to) = content.get("m.relates_to") {
            encrypted["m.relates_to"] = relates_to.clone();
        }
        self.dirty = true;
        Ok(encrypted)
    }

    /// The session a Megolm event was encrypted with, if it names one.
    pub fn session_id_of(content: &str) -> Option<String> {
        parse_json::<MegolmContent>(content).ok()?.session_id
    }

    /// Decrypts a room event (content of an `m.room.encrypted` event) and checks it: the
    /// plaintext names this room, the sender is the user who shared the key, and no other
    /// event used the same message index of the session (replay).
    pub fn decrypt_room_event(
        &mut self,
        room_id: &RoomId,
        sender: &UserId,
        event_id: &OwnedEventId,
        origin_server_ts: u64,
        content: &str,
    ) -> Result<Decrypted, UtdReason> {
        let content: MegolmContent = parse_json(content).map_err(|_| UtdReason::Invalid)?;
        let clear_relation = content.relates_to;
        let (MEGOLM_ALGORITHM, Some(session_id), Some(ciphertext)) = (
            content.algorithm.as_str(),
            content.session_id,
            content.ciphertext,
        ) else {
            return Err(UtdReason::Invalid);
        };
        let missing = || match self.withheld.get(room_id).and_then(|w| w.get(&session_id)) {
            Some(code) => UtdReason::Withheld(*code),
            None => UtdReason::WaitingForKey,
        };
        let Some(inbound) = self
            .inbound
            .get_mut(room_id)
            .and_then(|s| s.get_mut(&session_id))
        else {
            return Err(missing());
        };
        let message = MegolmMessage::from_base64(&ciphertext).map_err(|_| UtdReason::Invalid)?;
        let decrypted = inbound
            .session
            .decrypt(&message)
            .map_err(|error| match error {
                megolm::DecryptionError::UnknownMessageIndex(..) => UtdReason::WaitingForKey,
                _ => UtdReason::Invalid,
            })?;
        // A key from a backup names no sharing user; the device lookup below still binds
        // its sender key to the event's sender.
        if inbound.sender != sender && !inbound.untrusted {
            return Err(UtdReason::Invalid);
        }
        let (sender_key, ed25519, untrusted) = (
            inbound.sender_key.clone(),
            inbound.ed25519.clone(),
            inbound.untrusted,
        );
        let plaintext: MegolmPlaintext =
            serde_json::from_slice(&decrypted.plaintext).map_err(|_| UtdReason::Invalid)?;
        if plaintext.room_id != room_id {
            return Err(UtdReason::Invalid);
        }
        let seen = self.replay.entry(session_id).or_default();
        match seen.get(&decrypted.message_index) {
            Some((id, ts)) if id != event_id || *ts != origin_server_ts => {
                return Err(UtdReason::Invalid);
            }
            Some(_) => {}
            None => {
                seen.insert(
                    decrypted.message_index,
                    (event_id.clone(), origin_server_ts),
                );
                self.dirty = true;
            }
        }
        let mut content = plaintext.content;
        // Receivers prefer the cleartext relation: the server aggregates on that one.
        if let (Some(relates_to), Value::Object(map)) = (clear_relation, &mut content) {
            map.insert("m.relates_to".into(), relates_to);
        }
        let device = self
            .users
            .get(sender)
            .and_then(|u| u.by_curve_key(&sender_key))
            .filter(|d| d.ed25519 == ed25519);
        Ok(Decrypted {
            event_type: plaintext.event_type,
            content,
            sender_device: device.map(|d| d.device_id.clone()),
            cross_signed: !untrusted && device.is_some_and(|d| d.cross_signed),
        })
    }
}

#[cfg(test)]
mod tests {
    use ruma::{owned_room_id, room_id};

    use super::*;
    use crate::crypto::fake_server::FakeServer;

    pub(crate) fn session(user: &str, device: &str) -> Session {
        Session {
            homeserver: "http://hs".into(),
            user_id: user.try_into().unwrap(),
            device_id: device.into(),
            access_token: format!("tok-{device}"),
        }
    }

    struct Peer {
        session: Session,
        machine: Machine,
    }

    fn peer(user: &str, device: &str) -> Peer {
        let session = session(user, device);
        let machine = Machine::new(session.user_id.clone(), session.device_id.clone());
        Peer { session, machine }
    }

    /// Sends everything each machine wants sent until nobody wants anything.
    fn pump(server: &mut FakeServer, peers: &mut [&mut Peer]) {
        for _ in 0..20 {
            let mut any = false;
            for peer in peers.iter_mut() {
                for request in peer.machine.outgoing_requests(&peer.session) {
                    any = true;
                    let (status, body) = server.handle(&peer.session, &request.request);
                    let response = http::Response::builder()
                        .status(status)
                        .body(&body[..])
                        .unwrap();
                    peer.machine
                        .mark_request_sent(&request.id, Some(response))
                        .unwrap();
                }
            }
            if !any {
                return;
            }
        }
        panic!("requests never settle");
    }

    fn sync(server: &mut FakeServer, peer: &mut Peer) -> SyncChanges {
        let events = server.take_to_device(&peer.session);
        peer.machine.receive_sync(&events, &[], &[], None, None)
    }

    /// Alice and Bob, both cross-signed, keys uploaded and each other's devices known.
    fn alice_and_bob(server: &mut FakeServer) -> (Peer, Peer) {
        server.cross_sign("@alice:hs");
        server.cross_sign("@bob:hs");
        let (mut alice, mut bob) = (peer("@alice:hs", "ALICE"), peer("@bob:hs", "BOB"));
        pump(server, &mut [&mut alice, &mut bob]);
        alice
            .machine
            .update_tracked_users([bob.session.user_id.as_ref()]);
        bob.machine
            .update_tracked_users([alice.session.user_id.as_ref()]);
        pump(server, &mut [&mut alice, &mut bob]);
        (alice, bob)
    }

    fn members(users: &[&str]) -> BTreeSet<OwnedUserId> {
        users
            .iter()
            .map(|u| OwnedUserId::try_from(*u).unwrap())
            .collect()
    }

    /// Shares the room key until it is ready, syncing the recipients in between.
    fn share(
        server: &mut FakeServer,
        sender: &mut Peer,
        room: &RoomId,
        users: &[&str],
        settings: &RoomKeySettings,
        now: u64,
    ) {
        for _ in 0..10 {
            if sender
                .machine
                .share_room_key(room, &members(users), settings, now)
                == KeyShare::Ready
            {
                // Withheld notices may still be queued.
                pump(server, &mut [sender]);
                return;
            }
            pump(server, &mut [sender]);
        }
        panic!("the room key was never shared");
    }

    fn event_id(n: usize) -> OwnedEventId {
        format!("$e{n}").try_into().unwrap()
    }

    /// Every request the machine makes reads as a homeserver (ruma's server side) reads it.
    #[test]
    fn requests_parse_as_a_homeserver_reads_them() {
        use ruma::api::IncomingRequestExt as _;
        let mut server = FakeServer::default();
        let (mut alice, mut bob) = alice_and_bob(&mut server);
        server
            .unsigned_devices
            .push(("@carol:hs".into(), "CAROL".into()));
        server.cross_sign("@carol:hs");
        let mut carol = peer("@carol:hs", "CAROL");
        pump(&mut server, &mut [&mut carol]);
        let mut seen = BTreeSet::new();
        let room = room_id!("!r:hs");
        alice.machine.receive_sync(
            &[],
            &[owned_user("@bob:hs")],
            &[],
            Some(&BTreeMap::new()),
            Some(&[]),
        );
        for _ in 0..10 {
            alice.machine.share_room_key(
                room,
                &members(&["@bob:hs", "@carol:hs"]),
                &RoomKeySettings::default(),
                0,
            );
            let mut requests = alice.machine.outgoing_requests(&alice.session);
            if let Some(changes) = alice.machine.changes_request(&alice.session, "s1", "s2") {
                requests.push(changes);
            }
            if requests.is_empty() {
                break;
            }
            for request in requests {
                let path = request.request.uri().path().to_owned();
                let mut http = http::Request::new(request.request.body().as_slice());
                *http.method_mut() = request.request.method().clone();
                *http.uri_mut() = request.request.uri().clone();
                *http.headers_mut() = request.request.headers().clone();
                let ok = if path.ends_with("/keys/upload") {
                    upload_keys::v3::Request::try_from_http_request(http, &[] as &[&str]).is_ok()
                } else if path.ends_with("/keys/query") {
                    get_keys::v3::Request::try_from_http_request(http, &[] as &[&str]).is_ok()
                } else if path.ends_with("/keys/claim") {
                    claim_keys::v3::Request::try_from_http_request(http, &[] as &[&str]).is_ok()
                } else if path.ends_with("/keys/changes") {
                    get_key_changes::v3::Request::try_from_http_request(http, &[] as &[&str])
                        .is_ok()
                } else if let Some(rest) = path.split("/sendToDevice/").nth(1) {
                    let args: Vec<&str> = rest.split('/').collect();
                    let parsed =
                        send_event_to_device::v3::Request::try_from_http_request(http, &args);
                    parsed.is_ok_and(|r| !r.messages.is_empty())
                } else {
                    false
                };
                assert!(
                    ok,
                    "{path}: {}",
                    String::from_utf8_lossy(request.request.body())
                );
                seen.insert(
                    path.rsplit("/v3/")
                        .next()
                        .unwrap()
                        .split('/')
                        .next()
                        .unwrap()
                        .to_owned(),
                );
                let (status, body) = server.handle(&alice.session, &request.request);
                let response = http::Response::builder()
                    .status(status)
                    .body(&body[..])
                    .unwrap();
                let _ = alice.machine.mark_request_sent(&request.id, Some(response));
            }
        }
        assert_eq!(
            seen,
            ["keys", "sendToDevice"]
                .into_iter()
                .map(String::from)
                .collect()
        );
        let _ = &mut bob;
    }

    #[test]
    fn a_quiet_sync_leaves_the_store_alone() {
        let mut server = FakeServer::default();
        let mut alice = peer("@alice:hs", "ALICE");
        for request in alice.machine.outgoing_requests(&alice.session) {
            let (status, response) = server.handle(&alice.session, &request.request);
            let response = http::Response::builder()
                .status(status)
                .body(&response[..])
                .unwrap();
            alice
                .machine
                .mark_request_sent(&request.id, Some(response))
                .unwrap();
        }
        let counts = BTreeMap::from([("signed_curve25519".to_owned(), 50)]);
        let fallback = ["signed_curve25519".to_owned()];
        alice
            .machine
            .receive_sync(&[], &[], &[], Some(&counts), Some(&fallback));
        alice.machine.take_dirty();
        // The same counts again and nothing else: nothing worth writing.
        alice
            .machine
            .receive_sync(&[], &[], &[], Some(&counts), Some(&fallback));
        assert!(!alice.machine.take_dirty());
        // A changed count is.
        let fewer = BTreeMap::from([("signed_curve25519".to_owned(), 49)]);
        alice
            .machine
            .receive_sync(&[], &[], &[], Some(&fewer), Some(&fallback));
        assert!(alice.machine.take_dirty());
    }

    #[test]
    fn keys_are_uploaded_once_and_topped_up() {
        let mut server = FakeServer::default();
        let mut alice = peer("@alice:hs", "ALICE");
        let first = alice.machine.outgoing_requests(&alice.session);
        let upload = first
            .iter()
            .find(|r| r.request.uri().path().ends_with("/keys/upload"))
            .unwrap();
        let body: Value = serde_json::from_slice(upload.request.body()).unwrap();
        assert_eq!(body["one_time_keys"].as_object().unwrap().len(), 50);
        assert_eq!(body["fallback_keys"].as_object().unwrap().len(), 1);
        let device =
            Device::from_keys(&alice.session.user_id, "ALICE", &body["device_keys"]).unwrap();
        assert_eq!(device.curve25519, alice.machine.curve25519_key());
        // Not handed out twice while in flight.
        assert!(
            alice
                .machine
                .outgoing_requests(&alice.session)
                .iter()
                .all(|r| !r.request.uri().path().ends_with("/keys/upload"))
        );
        // A network error hands out the same keys again.
        alice.machine.mark_request_sent(&upload.id, None).unwrap();
        let again = alice.machine.outgoing_requests(&alice.session);
        let again = again
            .iter()
            .find(|r| r.request.uri().path().ends_with("/keys/upload"))
            .unwrap();
        let again_body: Value = serde_json::from_slice(again.request.body()).unwrap();
        assert_eq!(again_body["one_time_keys"], body["one_time_keys"]);
        let (status, response) = server.handle(&alice.session, &again.request);
        alice
            .machine
            .mark_request_sent(
                &again.id,
                Some(
                    http::Response::builder()
                        .status(status)
                        .body(&response[..])
                        .unwrap(),
                ),
            )
            .unwrap();
        for request in alice.machine.outgoing_requests(&alice.session) {
            assert!(
                !request.request.uri().path().ends_with("/keys/upload"),
                "nothing more to upload"
            );
        }
        // Sync says 20 are left and the fallback key was used: 30 new ones and a new fallback.
        let counts = BTreeMap::from([("signed_curve25519".to_owned(), 20)]);
        alice
            .machine
            .receive_sync(&[], &[], &[], Some(&counts), Some(&[]));
        let top_up = alice.machine.outgoing_requests(&alice.session);
        let top_up = top_up
            .iter()
            .find(|r| r.request.uri().path().ends_with("/keys/upload"))
            .unwrap();
        let body: Value = serde_json::from_slice(top_up.request.body()).unwrap();
        assert_eq!(body["one_time_keys"].as_object().unwrap().len(), 30);
        assert!(body.get("device_keys").is_none());
        assert_eq!(body["fallback_keys"].as_object().unwrap().len(), 1);

        // Refused: no new upload until the next sync, and queries still go out meanwhile.
        let refused = http::Response::builder()
            .status(400)
            .body(&br#"{"errcode":"M_INVALID_PARAM","error":"x"}"#[..])
            .unwrap();
        assert!(
            alice
                .machine
                .mark_request_sent(&top_up.id, Some(refused))
                .is_err()
        );
        alice
            .machine
            .update_tracked_users([ruma::user_id!("@bob:hs")]);
        let paths: Vec<String> = alice
            .machine
            .outgoing_requests(&alice.session)
            .iter()
            .map(|r| r.request.uri().path().to_owned())
            .collect();
        assert!(
            paths.iter().all(|p| !p.ends_with("/keys/upload")),
            "{paths:?}"
        );
        assert!(
            paths.iter().any(|p| p.ends_with("/keys/query")),
            "{paths:?}"
        );
        alice
            .machine
            .receive_sync(&[], &[], &[], Some(&counts), None);
        assert!(
            alice
                .machine
                .outgoing_requests(&alice.session)
                .iter()
                .any(|r| r.request.uri().path().ends_with("/keys/upload"))
        );
    }

    #[test]
    fn other_to_device_events_are_handed_on() {
        let mut alice = peer("@alice:hs", "ALICE");
        let request = json!({"sender": "@bob:hs", "type": "m.key.verification.request",
                             "content": {"from_device": "BOB", "methods": ["m.sas.v1"], "transaction_id": "t", "timestamp": 1}});
        let changes = alice.machine.receive_sync(
            &[serde_json::value::to_raw_value(&request).unwrap()],
            &[],
            &[],
            None,
            None,
        );
        assert_eq!(changes.events.len(), 1);
        assert_eq!(changes.events[0].event_type, "m.key.verification.request");
        assert_eq!(changes.events[0].sender_key, None, "not encrypted");
    }

    #[test]
    fn room_key_over_olm_then_megolm_round_trip() {
        let mut server = FakeServer::default();
        let (mut alice, mut bob) = alice_and_bob(&mut server);
        let room = room_id!("!r:hs");
        let settings = RoomKeySettings::default();
        share(
            &mut server,
            &mut alice,
            room,
            &["@alice:hs", "@bob:hs"],
            &settings,
            1000,
        );
        assert!(server.paths.iter().any(|p| p.ends_with("/keys/claim")));
        // Our keys travel with the self-signing key's signature the server holds.
        let sent_keys = alice.machine.sender_device_keys();
        assert_eq!(
            sent_keys["signatures"]["@alice:hs"]
                .as_object()
                .unwrap()
                .len(),
            2
        );
        assert!(Device::from_keys(&alice.session.user_id, "ALICE", &sent_keys).is_ok());
        let content = json!({"msgtype": "m.text", "body": "hi",
                             "m.relates_to": {"m.in_reply_to": {"event_id": "$x"}}});
        let encrypted = alice
            .machine
            .encrypt_room_event(room, "m.room.message", &content)
            .unwrap();
        assert_eq!(
            encrypted["m.relates_to"], content["m.relates_to"],
            "relation in the clear"
        );
        assert!(!encrypted.to_string().contains("\"hi\""));

        // Before the key arrives: waiting.
        let text = encrypted.to_string();
        assert_eq!(
            bob.machine
                .decrypt_room_event(room, &alice.session.user_id, &event_id(1), 5, &text),
            Err(UtdReason::WaitingForKey)
        );
        let changes = sync(&mut server, &mut bob);
        assert_eq!(
            changes.room_keys,
            vec![(room.to_owned(), Machine::session_id_of(&text).unwrap())]
        );
        let decrypted = bob
            .machine
            .decrypt_room_event(room, &alice.session.user_id, &event_id(1), 5, &text)
            .unwrap();
        assert_eq!(decrypted.event_type, "m.room.message");
        assert_eq!(decrypted.content, content);
        assert_eq!(
            decrypted.sender_device.as_deref().map(|d| d.as_str()),
            Some("ALICE")
        );
        assert!(decrypted.cross_signed);
        // Alice reads her own message with her inbound copy.
        assert!(
            alice
                .machine
                .decrypt_room_event(room, &alice.session.user_id, &event_id(1), 5, &text)
                .is_ok()
        );

        // Another sender, another room, or the same index in another event: refused.
        let bob_id = bob.session.user_id.clone();
        assert_eq!(
            bob.machine
                .decrypt_room_event(room, &bob_id, &event_id(1), 5, &text),
            Err(UtdReason::Invalid)
        );
        assert_eq!(
            bob.machine.decrypt_room_event(
                room_id!("!other:hs"),
                &alice.session.user_id,
                &event_id(1),
                5,
                &text
            ),
            Err(UtdReason::WaitingForKey)
        );
        assert_eq!(
            bob.machine
                .decrypt_room_event(room, &alice.session.user_id, &event_id(2), 6, &text),
            Err(UtdReason::Invalid),
            "replayed message index"
        );
        // The same event again (back-pagination) still decrypts.
        assert!(
            bob.machine
                .decrypt_room_event(room, &alice.session.user_id, &event_id(1), 5, &text)
                .is_ok()
        );
    }

    #[test]
    fn olm_plaintext_must_name_us_and_the_sender() {
        let mut server = FakeServer::default();
        let (mut alice, mut bob) = alice_and_bob(&mut server);
        share(
            &mut server,
            &mut alice,
            room_id!("!r:hs"),
            &["@bob:hs"],
            &RoomKeySettings::default(),
            0,
        );
        // Replay the to-device event as if Carol had sent it: the plaintext names Alice.
        let mut events = server.take_to_device(&bob.session);
        let mut event: Value = serde_json::from_str(events[0].get()).unwrap();
        event["sender"] = json!("@carol:hs");
        events[0] = serde_json::value::to_raw_value(&event).unwrap();
        let changes = bob.machine.receive_sync(&events, &[], &[], None, None);
        assert!(changes.room_keys.is_empty());
        // An unencrypted m.room_key is never accepted.
        let plain = json!({"sender": "@alice:hs", "type": "m.room_key", "content": {
            "algorithm": MEGOLM_ALGORITHM, "room_id": "!r:hs", "session_id": "x", "session_key": "y"}});
        let changes = bob.machine.receive_sync(
            &[serde_json::value::to_raw_value(&plain).unwrap()],
            &[],
            &[],
            None,
            None,
        );
        assert!(changes.room_keys.is_empty());
    }

    #[test]
    fn unverified_devices_get_withheld_and_devices_without_keys_no_olm() {
        let mut server = FakeServer::default();
        server
            .unsigned_devices
            .push(("@bob:hs".into(), "BOB".into()));
        let (mut alice, mut bob) = alice_and_bob(&mut server);
        let room = room_id!("!r:hs");
        share(
            &mut server,
            &mut alice,
            room,
            &["@bob:hs"],
            &RoomKeySettings::default(),
            0,
        );
        assert!(
            !server.paths.iter().any(|p| p.ends_with("/keys/claim")),
            "no Olm session for an unverified device"
        );
        let text = alice
            .machine
            .encrypt_room_event(room, "m.room.message", &json!({"body": "x"}))
            .unwrap()
            .to_string();
        let changes = sync(&mut server, &mut bob);
        assert_eq!(changes.withheld.len(), 1);
        assert_eq!(
            bob.machine
                .decrypt_room_event(room, &alice.session.user_id, &event_id(1), 1, &text),
            Err(UtdReason::Withheld(WithheldCode::Unverified))
        );
    }

    #[test]
    fn rotates_after_the_message_limit_and_when_a_member_leaves() {
        let mut server = FakeServer::default();
        let (mut alice, mut bob) = alice_and_bob(&mut server);
        server.cross_sign("@carol:hs");
        let mut carol = peer("@carol:hs", "CAROL");
        pump(&mut server, &mut [&mut carol]);
        let room = room_id!("!r:hs");
        let settings = RoomKeySettings::default();
        let everyone = ["@bob:hs", "@carol:hs"];
        share(&mut server, &mut alice, room, &everyone, &settings, 0);
        let session_of = |v: &Value| v["session_id"].as_str().unwrap().to_owned();
        let first = session_of(
            &alice
                .machine
                .encrypt_room_event(room, "m.room.message", &json!({}))
                .unwrap(),
        );
        for _ in 1..100 {
            let next = alice
                .machine
                .encrypt_room_event(room, "m.room.message", &json!({}))
                .unwrap();
            assert_eq!(session_of(&next), first);
        }
        assert_eq!(
            alice
                .machine
                .encrypt_room_event(room, "m.room.message", &json!({})),
            Err(EncryptError::NotShared)
        );
        share(&mut server, &mut alice, room, &everyone, &settings, 0);
        let second = session_of(
            &alice
                .machine
                .encrypt_room_event(room, "m.room.message", &json!({}))
                .unwrap(),
        );
        assert_ne!(first, second);

        // Still the same members: no rotation. Carol leaves: rotation, and she gets no key.
        share(&mut server, &mut alice, room, &everyone, &settings, 10);
        assert_eq!(
            session_of(
                &alice
                    .machine
                    .encrypt_room_event(room, "m.room.message", &json!({}))
                    .unwrap()
            ),
            second
        );
        sync(&mut server, &mut carol);
        share(&mut server, &mut alice, room, &["@bob:hs"], &settings, 10);
        let third = alice
            .machine
            .encrypt_room_event(room, "m.room.message", &json!({"body": "secret"}))
            .unwrap();
        assert_ne!(session_of(&third), second);
        assert!(sync(&mut server, &mut carol).room_keys.is_empty());
        let changes = sync(&mut server, &mut bob);
        assert!(
            changes
                .room_keys
                .iter()
                .any(|(_, s)| *s == session_of(&third))
        );

        // A change of history visibility rotates it.
        let joined_only = RoomKeySettings {
            history_visibility: "joined".into(),
            ..settings.clone()
        };
        let before = session_of(
            &alice
                .machine
                .encrypt_room_event(room, "m.room.message", &json!({}))
                .unwrap(),
        );
        share(
            &mut server,
            &mut alice,
            room,
            &["@bob:hs"],
            &joined_only,
            10,
        );
        let after = session_of(
            &alice
                .machine
                .encrypt_room_event(room, "m.room.message", &json!({}))
                .unwrap(),
        );
        assert_ne!(before, after);
        share(&mut server, &mut alice, room, &["@bob:hs"], &settings, 10);

        // A week later the key is rotated too.
        let week = settings.rotation_period_ms;
        share(
            &mut server,
            &mut alice,
            room,
            &["@bob:hs"],
            &settings,
            10 + week,
        );
        assert_ne!(
            session_of(
                &alice
                    .machine
                    .encrypt_room_event(room, "m.room.message", &json!({}))
                    .unwrap()
            ),
            session_of(&third)
        );
    }

    #[test]
    fn a_wedged_session_is_replaced_and_announced_with_a_dummy() {
        let mut server = FakeServer::default();
        let (mut alice, mut bob) = alice_and_bob(&mut server);
        share(
            &mut server,
            &mut alice,
            room_id!("!r:hs"),
            &["@bob:hs"],
            &RoomKeySettings::default(),
            0,
        );
        sync(&mut server, &mut bob);
        // Bob loses his sessions; Alice's next key cannot be read.
        bob.machine.sessions.clear();
        alice.machine.discard_room_key(room_id!("!r:hs"));
        share(
            &mut server,
            &mut alice,
            room_id!("!r:hs"),
            &["@bob:hs"],
            &RoomKeySettings::default(),
            0,
        );
        bob.machine.set_now(5_000);
        // Alice still sends pre-key messages on her session, but their one-time key is gone
        // from Bob's account: he cannot read them.
        let events = server.take_to_device(&bob.session);
        assert!(
            bob.machine
                .receive_sync(&events, &[], &[], None, None)
                .room_keys
                .is_empty()
        );
        pump(&mut server, &mut [&mut bob]);
        let dummy = server.take_to_device(&alice.session);
        assert_eq!(dummy.len(), 1, "one m.dummy to alice");
        let changes = alice.machine.receive_sync(&dummy, &[], &[], None, None);
        assert!(changes.events.is_empty(), "the dummy is consumed");
        // Not again within the hour.
        bob.machine.receive_sync(&events, &[], &[], None, None);
        pump(&mut server, &mut [&mut bob]);
        assert!(server.take_to_device(&alice.session).is_empty());
    }

    #[test]
    fn device_list_changes_mark_users_outdated_and_left_untracks() {
        let mut server = FakeServer::default();
        let (mut alice, _bob) = alice_and_bob(&mut server);
        alice
            .machine
            .update_tracked_users([ruma::user_id!("@bob:hs")]);
        pump(&mut server, &mut [&mut alice]);
        assert!(alice.machine.devices(ruma::user_id!("@bob:hs")).is_some());
        alice
            .machine
            .receive_sync(&[], &[owned_user("@bob:hs")], &[], None, None);
        let requests = alice.machine.outgoing_requests(&alice.session);
        assert!(
            requests
                .iter()
                .any(|r| r.request.uri().path().ends_with("/keys/query"))
        );
        alice
            .machine
            .receive_sync(&[], &[], &[owned_user("@bob:hs")], None, None);
        assert!(!alice.machine.is_tracked(ruma::user_id!("@bob:hs")));
        let _ = owned_room_id!("!unused:hs");
    }

    fn owned_user(user: &str) -> OwnedUserId {
        user.try_into().unwrap()
    }
}
