//! [`ClientHandle`]: the one object components talk to.
//!
//! It owns the engine in a signal, sends the engine's requests through [`crate::platform`],
//! and manages the session's lifetime: restore on load, the sync task ([`sync`]), sign-out. Room data
//! reaches views through per-room signals fed by the engine's change reports ([`views`]);
//! the engine signal itself serves only account-wide state (trust, calls, invites). The
//! user-facing actions live in [`actions`].

use leptos::prelude::*;
use ruma::{OwnedRoomId, OwnedUserId, RoomId};
use weft_client::{
    ApiError, Engine, HttpRequest, HttpResponse, InviteEntry, Session, TimelineItem,
};

use crate::{
    error::ActionError,
    platform::{
        net::{self, Abort, AbortToken},
        storage,
    },
};

mod actions;
mod calls;
mod crypto;
mod media;
mod messages;
mod notifications;
mod rooms;
mod security;
mod stored;
mod sync;
mod views;

pub(crate) use calls::CallDesk;
pub use media::{Fetch, UploadEntry};
pub use security::SecurityError;
pub use views::OpenRoom;

/// State of the connection to the homeserver, as the sync loop sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    /// Waiting for the first sync to complete.
    Connecting,
    /// The last sync succeeded.
    Online,
    /// Syncing fails; retrying with back-off.
    Offline,
}

/// What the room view shows of one room besides its timeline and typing line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomSnapshot {
    pub name: String,
    pub avatar: Option<weft_client::Mxc>,
    pub topic: Option<String>,
    pub loaded: bool,
    /// No older history to load.
    pub reached_start: bool,
    /// We may delete other people's messages.
    pub can_redact_others: bool,
    /// Joined and invited members we know of, highest power first.
    pub members: Vec<MemberEntry>,
    /// We may rename the room / change its topic / remove people.
    pub can_edit_name: bool,
    pub can_edit_topic: bool,
    pub can_kick: bool,
    /// Our power level.
    pub own_power: i64,
    /// `m.room.encryption` is set: Weft sends nothing here but deletions, typing and
    /// receipts until it encrypts.
    pub encrypted: bool,
    /// We may turn on encryption (send `m.room.encryption`).
    pub can_encrypt: bool,
}

/// One row of the member list.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MemberEntry {
    pub user_id: OwnedUserId,
    pub name: String,
    pub power: i64,
    pub invited: bool,
    pub avatar: Option<weft_client::Mxc>,
    /// We verified them (never set for ourselves).
    pub verified: bool,
}

/// The running sync task: dropping it aborts the in-flight long-poll.
struct SyncTask {
    _abort: Abort,
}

/// Cheap to copy: all fields are arena handles.
#[derive(Clone, Copy)]
pub struct ClientHandle {
    engine: RwSignal<Option<Engine>>,
    connection: RwSignal<Connection>,
    /// A session is starting: waiting for this device's crypto store.
    starting: RwSignal<bool>,
    selected: RwSignal<Option<OwnedRoomId>>,
    notice: RwSignal<Option<String>>,
    sync_task: StoredValue<Option<SyncTask>, LocalStorage>,
    generation: StoredValue<u64>,
    /// The room whose history is being fetched, if any.
    paginating: RwSignal<Option<OwnedRoomId>>,
    /// Where and when we last said "typing", to renew it rarely and stop it once.
    typing_sent: StoredValue<Option<(OwnedRoomId, f64)>>,
    /// Unread counts at the last sync, to notify only about new messages.
    last_unread: StoredValue<std::collections::HashMap<OwnedRoomId, u64>>,
    /// Running and failed uploads, as the composer lists them.
    uploads: RwSignal<Vec<UploadEntry>>,
    /// The server's upload size limit (`m.upload.size`), once known.
    upload_limit: RwSignal<Option<u64>>,
    /// Upload jobs and the blob-URL cache (browser objects, so kept on this thread).
    media: StoredValue<media::MediaState, LocalStorage>,
    /// Call requests and events for the lazily loaded call manager.
    calls: CallDesk,
    /// The device's crypto store and the order of writes to it.
    crypto: StoredValue<crypto::CryptoDesk, LocalStorage>,
    /// Saving the engine state (see [`stored`]).
    stored: StoredValue<stored::StateDesk, LocalStorage>,
    /// Per-room signals fed by the engine's change reports.
    views: StoredValue<views::Views>,
}

impl ClientHandle {
    /// Creates the handle, provides it as context, and restores a saved session.
    pub fn provide() -> Self {
        let handle = Self {
            engine: RwSignal::new(None),
            connection: RwSignal::new(Connection::Connecting),
            starting: RwSignal::new(false),
            selected: RwSignal::new(None),
            notice: RwSignal::new(None),
            sync_task: StoredValue::new_local(None),
            generation: StoredValue::new(0),
            paginating: RwSignal::new(None),
            typing_sent: StoredValue::new(None),
            last_unread: StoredValue::new(std::collections::HashMap::new()),
            uploads: RwSignal::new(Vec::new()),
            upload_limit: RwSignal::new(None),
            media: StoredValue::new_local(media::MediaState::default()),
            calls: CallDesk::new(),
            crypto: StoredValue::new_local(crypto::CryptoDesk::default()),
            stored: StoredValue::new_local(stored::StateDesk::default()),
            views: StoredValue::new(views::Views::default()),
        };
        provide_context(handle);
        if let Some(session) = storage::load_session() {
            handle.start_session(session, None);
            let selected = storage::load_selected().and_then(|id| OwnedRoomId::try_from(id).ok());
            handle.selected.set(selected);
        }
        handle
    }

    /// The handle provided by [`Self::provide`].
    pub fn expect() -> Self {
        expect_context()
    }

    // Reactive reads, for views.

    /// Whether someone is signed in.
    pub fn is_signed_in(&self) -> bool {
        self.engine.with(Option::is_some)
    }

    /// The signed-in user.
    pub fn user_id(&self) -> Option<OwnedUserId> {
        self.engine
            .with(|engine| engine.as_ref().map(|engine| engine.user_id().to_owned()))
    }

    /// The signed-in user, read once (e.g. when a component is created).
    pub fn user_id_untracked(&self) -> Option<OwnedUserId> {
        self.with_engine(|engine| engine.user_id().to_owned()).ok()
    }

    /// Whether the first sync has arrived.
    pub fn has_synced(&self) -> bool {
        self.engine
            .with(|engine| engine.as_ref().is_some_and(Engine::has_synced))
    }

    /// Pending invites.
    pub fn invites(&self) -> Vec<InviteEntry> {
        self.engine
            .with(|engine| engine.as_ref().map(Engine::invites).unwrap_or_default())
    }

    /// A member's display name in a room, read once (for tooltips).
    pub fn member_name_untracked(&self, room_id: &RoomId, user_id: &ruma::UserId) -> String {
        self.with_engine(|engine| engine.room(room_id).map(|room| room.member_name(user_id)))
            .ok()
            .flatten()
            .unwrap_or_else(|| user_id.localpart().to_owned())
    }

    /// One item of a room's timeline, read once (for reply quotes).
    pub fn item_untracked(
        &self,
        room_id: &RoomId,
        event_id: &ruma::OwnedEventId,
    ) -> Option<TimelineItem> {
        self.with_engine(|engine| engine.room(room_id)?.timeline().item(event_id))
            .ok()
            .flatten()
    }

    /// Our newest message in a room that can be edited (for the Up-arrow shortcut).
    pub fn last_editable(&self, room_id: &RoomId) -> Option<TimelineItem> {
        self.with_engine(|engine| {
            engine
                .room(room_id)?
                .timeline()
                .last_editable_by(engine.user_id())
        })
        .ok()
        .flatten()
    }

    /// Whether older history of `room_id` is being fetched.
    pub fn is_paginating(&self, room_id: &RoomId) -> bool {
        self.paginating.with(|p| p.as_deref() == Some(room_id))
    }

    /// Connection state for the offline indicator.
    pub fn connection(&self) -> Connection {
        self.connection.get()
    }

    /// The room shown in the main pane.
    pub fn selected(&self) -> Option<OwnedRoomId> {
        self.selected.get()
    }

    /// Shows `room_id` in the main pane (`None`: back to the room list on phones).
    pub fn select(&self, room_id: Option<OwnedRoomId>) {
        storage::save_selected(room_id.as_ref().map(|id| id.as_str()));
        self.selected.set(room_id);
    }

    /// A message about the session, e.g. that another tab holds it while it starts.
    pub fn notice(&self) -> Option<String> {
        self.notice.get()
    }

    /// A message for the sign-in screen, e.g. why the session ended; read once on mount.
    pub fn notice_untracked(&self) -> Option<String> {
        self.notice.get_untracked()
    }

    // Session lifetime, also used by the sync loop.

    /// Starts `session`: opens the device's crypto store (once this tab owns it), builds the
    /// engine from it and starts syncing. Returns at once; the start finishes in the
    /// background unless another session starts or this one ends meanwhile.
    ///
    /// `password` (a fresh sign-in) lets the engine set up cross-signing when the account
    /// has none; it lives only in the engine's memory until used.
    pub(crate) fn start_session(&self, session: Session, password: Option<String>) {
        storage::save_session(&session);
        self.stop_sync();
        self.notice.set(None);
        self.selected.set(None);
        self.connection.set(Connection::Connecting);
        self.clear_media();
        self.set_crypto_store(None);
        self.starting.set(true);
        let generation = self.generation.get_value();
        let handle = *self;
        leptos::task::spawn_local(async move {
            let opened = handle.open_engine(session).await;
            if !handle.is_current(generation) {
                return;
            }
            handle.starting.set(false);
            match opened {
                Ok((mut engine, store)) => {
                    if let Some(password) = password {
                        engine.set_sign_in_password(password);
                    }
                    handle.notice.set(None);
                    handle.set_crypto_store(Some(store));
                    handle.install_engine(Some(engine));
                    // Rooms restored from storage are not news.
                    handle.set_unread_baseline();
                    sync::start(handle);
                    handle.fetch_upload_limit();
                    handle.pump_crypto();
                }
                Err(notice) => handle.end_session(Some(notice)),
            }
        });
    }

    /// Whether a session is starting (waiting for the crypto store).
    pub fn is_starting(&self) -> bool {
        self.starting.get()
    }

    /// Forgets the session locally, with this device's crypto store; `notice` explains why
    /// on the sign-in screen.
    pub(crate) fn end_session(&self, notice: Option<String>) {
        let device = self.with_engine(|engine| {
            (
                engine.user_id().to_string(),
                engine.session().device_id.to_string(),
            )
        });
        self.stop_sync();
        storage::clear_session();
        self.selected.set(None);
        self.install_engine(None);
        self.starting.set(false);
        self.clear_media();
        if let Ok((user, device)) = device {
            self.delete_crypto_store(user, device);
        }
        self.notice.set(notice);
    }

    /// Registers a new sync task; returns its generation and the token that aborts it.
    pub(crate) fn begin_sync(&self) -> (u64, AbortToken) {
        let abort = Abort::new();
        let token = abort.token();
        self.sync_task.set_value(Some(SyncTask { _abort: abort }));
        let generation = self.generation.get_value();
        (generation, token)
    }

    /// Whether the sync task of `generation` should keep running.
    pub(crate) fn is_current(&self, generation: u64) -> bool {
        self.generation.try_get_value() == Some(generation)
    }

    fn stop_sync(&self) {
        self.generation.update_value(|generation| *generation += 1);
        // Dropping the task aborts its request.
        self.sync_task.set_value(None);
    }

    pub(crate) fn set_connection(&self, connection: Connection) {
        if self.connection.get_untracked() != connection {
            self.connection.set(connection);
        }
    }

    /// Runs `f` on the engine without subscribing to changes.
    pub(crate) fn with_engine<T>(&self, f: impl FnOnce(&Engine) -> T) -> Result<T, ActionError> {
        self.engine
            .try_with_untracked(|engine| engine.as_ref().map(f))
            .flatten()
            .ok_or(ActionError::SignedOut)
    }

    /// Runs `f` on the engine without notifying views, for changes no view shows (the
    /// crypto state taken for storing).
    pub(crate) fn update_engine_quietly<T>(
        &self,
        f: impl FnOnce(&mut Engine) -> T,
    ) -> Result<T, ActionError> {
        self.engine
            .try_update_untracked(|engine| engine.as_mut().map(f))
            .flatten()
            .ok_or(ActionError::SignedOut)
    }

    /// Runs `f` on the engine, then updates the room views it changed and notifies the
    /// account-wide ones.
    pub(crate) fn update_engine<T>(
        &self,
        f: impl FnOnce(&mut Engine) -> T,
    ) -> Result<T, ActionError> {
        let (result, changes) = self
            .engine
            .try_update_untracked(|engine| {
                engine.as_mut().map(|engine| {
                    let result = f(engine);
                    (result, engine.take_changes())
                })
            })
            .flatten()
            .ok_or(ActionError::SignedOut)?;
        self.dispatch(changes);
        self.engine.notify();
        Ok(result)
    }

    /// Sends an authenticated request to the current homeserver.
    pub(crate) async fn send(
        &self,
        request: HttpRequest,
    ) -> Result<http::Response<Vec<u8>>, ActionError> {
        let homeserver = self.with_engine(|engine| engine.session().homeserver.clone())?;
        send(&homeserver, request, None).await
    }

    /// Flattens an engine result, ending the session when the token turned out invalid.
    pub(crate) fn check<T>(
        &self,
        result: Result<Result<T, ApiError>, ActionError>,
    ) -> Result<T, ActionError> {
        match result? {
            Err(ApiError::UnknownToken) => {
                self.end_session(Some(ApiError::UnknownToken.to_string()));
                Err(ApiError::UnknownToken.into())
            }
            other => other.map_err(ActionError::from),
        }
    }
}

/// Sends `request`; a missing response is reported against `homeserver`.
pub(crate) async fn send(
    homeserver: &str,
    request: HttpRequest,
    abort: Option<&AbortToken>,
) -> Result<http::Response<Vec<u8>>, ActionError> {
    net::send(request, abort)
        .await
        .map_err(|_| ActionError::Network {
            homeserver: weft_client::session::normalize_homeserver(homeserver),
        })
}

/// Borrows a received response in the form the engine parses.
pub(crate) fn as_borrowed(response: &http::Response<Vec<u8>>) -> HttpResponse<'_> {
    let mut borrowed = http::Response::new(response.body().as_slice());
    *borrowed.status_mut() = response.status();
    borrowed
}
