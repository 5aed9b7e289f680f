//! The service layer: Matrix behaviour on top of storage. Handlers in `api`
//! call these; nothing here knows about HTTP.

pub mod account_data;
pub mod accounts;
pub mod appender;
pub mod clock;
pub mod devices;
pub mod directory;
pub mod durability;
pub mod ephemeral;
pub mod history;
pub mod key_backup;
pub mod keys;
pub mod media;
pub mod notifier;
pub mod pdu;
pub mod presence;
pub mod profile;
pub mod ratelimit;
mod rehearsal;
pub mod room_cache;
pub mod room_reader;
pub mod rooms;
pub mod sync;
pub mod thumbnail;
pub mod uia;
pub mod unread;
pub mod voip;

use std::sync::Arc;

pub use clock::{now, now_ms};

use ruma::signatures::Ed25519KeyPair;

use crate::{
    config::Config,
    error::{Error, Result},
    storage::Storage,
};

/// Everything a request handler can reach. Cheap to clone.
///
/// Every part has a boundary of its own (its state and only the storage
/// areas it needs) and is a field; [`Inner`] keeps only what handlers read
/// directly: the configuration, the public signing key, the notifier and
/// the rate limits.
#[derive(Clone)]
pub struct Services {
    /// The content repository and thumbnails.
    pub media: Arc<media::Media>,
    /// Server-side key backups.
    pub key_backup: Arc<key_backup::KeyBackup>,
    /// Users' presence.
    pub presence: Arc<presence::Presence>,
    /// Account data, filters and push rules.
    pub account_data: Arc<account_data::AccountData>,
    /// Accounts, device sessions, password checks and UIA sessions.
    pub accounts: Arc<accounts::Accounts>,
    /// Device keys, one-time keys, cross-signing, device lists and to-device.
    pub keys: Arc<keys::Keys>,
    /// Room aliases, the public room directory and the user directory.
    pub directory: Arc<directory::Directory>,
    /// Typing notifications and read receipts.
    pub ephemeral: Arc<ephemeral::Ephemeral>,
    /// Unread notification counts.
    pub unread: Arc<unread::Unread>,
    /// TURN credentials for calls.
    pub voip: Arc<voip::Voip>,
    /// Reading room history under the visibility rules.
    pub history: Arc<history::History>,
    /// Profile changes, posted into the user's rooms.
    pub profile: Arc<profile::Profile>,
    /// Creating rooms, membership, state, and appending events.
    pub rooms: Arc<rooms::Rooms>,
    /// Signing devices out, password changes and deactivation.
    pub devices: Arc<devices::Devices>,
    /// `/sync`, gathered from the other parts.
    pub sync: Arc<sync::Syncer>,
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    signing_public_key: [u8; 32],
    notifier: Arc<notifier::Notifier>,
    limits: Arc<ratelimit::Limits>,
}

const SIGNING_KEY_META: &str = "signing_key_ed25519";
const TURN_SECRET_META: &str = "turn_shared_secret";
/// The key ID's version part (`ed25519:<version>`).
const SIGNING_KEY_VERSION: &str = "a_weft";

impl Services {
    /// Builds the services over an opened storage, loading (or creating on
    /// first start) the server's ed25519 signing key.
    pub fn new(mut config: Config, storage: Arc<dyn Storage>) -> Result<Self> {
        if let Some(turn) = config.turn.as_mut().filter(|turn| turn.automatic) {
            // Generated once and kept, so credentials survive restarts.
            let fresh = rand::distr::SampleString::sample_string(
                &rand::distr::Alphanumeric,
                &mut rand::rng(),
                40,
            );
            let stored = storage.meta_get_or_insert(TURN_SECRET_META, fresh.as_bytes())?;
            turn.shared_secret = String::from_utf8(stored)
                .map_err(|_| Error::internal("stored TURN secret is unreadable"))?;
        }
        let generated = Ed25519KeyPair::generate();
        let der = storage.meta_get_or_insert(SIGNING_KEY_META, &generated)?;
        let signing_key = Ed25519KeyPair::from_der(&der, SIGNING_KEY_VERSION.to_owned())
            .map_err(|e| Error::Internal(format!("stored signing key is unreadable: {e}")))?;
        let notifier = Arc::new(notifier::Notifier::new(storage.max_stream()?));
        let push_epoch = Arc::new(std::sync::atomic::AtomicU64::default());
        let durability = durability::Durability::start(storage.clone());
        let limits = Arc::new(ratelimit::Limits::new(config.rate_limits));
        let accounts = Arc::new(accounts::Accounts::new(
            config.server_name.clone(),
            storage.clone(),
            storage.clone(),
            limits.clone(),
        ));
        let account_data = Arc::new(account_data::AccountData::new(
            storage.clone(),
            notifier.clone(),
            push_epoch.clone(),
        ));
        let directory = Arc::new(directory::Directory::new(
            config.server_name.clone(),
            storage.clone(),
            room_reader::RoomReader::new(storage.clone(), storage.clone()),
            storage.clone(),
        ));
        let signing_public_key = signing_key.public_key();
        let appender = Arc::new(appender::Appender::new(appender::AppenderParts {
            server_name: config.server_name.clone(),
            signing_key,
            events: storage.clone(),
            state: storage.clone(),
            directory: directory.clone(),
            notifier: notifier.clone(),
            durability,
            push_epoch: push_epoch.clone(),
        }));
        let rooms = Arc::new(rooms::Rooms::new(rooms::RoomsParts {
            server_name: config.server_name.clone(),
            account_store: storage.clone(),
            directory_store: storage.clone(),
            events: storage.clone(),
            state: storage.clone(),
            accounts: accounts.clone(),
            directory: directory.clone(),
            appender: appender.clone(),
        }));
        let keys = Arc::new(keys::Keys::new(
            &config,
            storage.clone(),
            storage.clone(),
            storage.clone(),
            storage.clone(),
            accounts.clone(),
            notifier.clone(),
        ));
        let presence = Arc::new(presence::Presence::new(
            storage.clone(),
            storage.clone(),
            storage.clone(),
            notifier.clone(),
        ));
        let ephemeral = Arc::new(ephemeral::Ephemeral::new(
            storage.clone(),
            room_reader::RoomReader::new(storage.clone(), storage.clone()),
            notifier.clone(),
            account_data.clone(),
        ));
        let history = Arc::new(history::History::new(
            storage.clone(),
            storage.clone(),
            notifier.clone(),
        ));
        let unread = Arc::new(unread::Unread::new(
            storage.clone(),
            storage.clone(),
            storage.clone(),
            account_data.clone(),
            push_epoch.clone(),
        ));
        let sync = Arc::new(sync::Syncer::new(sync::SyncerParts {
            account_data_store: storage.clone(),
            state: storage.clone(),
            events: storage.clone(),
            notifier: notifier.clone(),
            history: history.clone(),
            keys: keys.clone(),
            presence: presence.clone(),
            ephemeral: ephemeral.clone(),
            unread: unread.clone(),
            account_data: account_data.clone(),
        }));
        let devices = Arc::new(devices::Devices::new(devices::DevicesParts {
            account_store: storage.clone(),
            device_store: storage.clone(),
            state: storage.clone(),
            accounts: accounts.clone(),
            keys: keys.clone(),
            rooms: rooms.clone(),
        }));
        Ok(Self {
            devices,
            rooms,
            sync,
            profile: Arc::new(profile::Profile::new(
                storage.clone(),
                storage.clone(),
                accounts.clone(),
                appender.clone(),
            )),
            directory,
            keys,
            media: Arc::new(media::Media::new(&config, storage.clone())),
            key_backup: Arc::new(key_backup::KeyBackup::new(storage.clone())),
            presence,
            ephemeral,
            voip: Arc::new(voip::Voip::new(config.turn.clone())),
            history,
            unread,
            account_data,
            accounts,
            inner: Arc::new(Inner {
                config,
                signing_public_key,
                notifier,
                limits,
            }),
        })
    }

    /// The configuration, with defaults filled in from the data folder.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The public half of the server's ed25519 signing key.
    pub fn signing_public_key(&self) -> [u8; 32] {
        self.inner.signing_public_key
    }

    pub fn notifier(&self) -> &notifier::Notifier {
        &self.inner.notifier
    }

    /// Fails with 429 when `key` has used up its allowance for `action`.
    pub fn rate_limit(&self, action: ratelimit::Action, key: &str) -> Result<()> {
        self.inner.limits.take(action, key)
    }
}
