//! The one door every new event goes through: it picks prev/auth events,
//! builds and signs the PDU, checks the auth rules against current state
//! (ruma-state-res), stores it and wakes waiting syncs.
//!
//! The appender owns what appending needs and nothing else: the event lock
//! with the room cache under it, group commit, the signing key, the event
//! and state areas, the notifier and the push epoch. Parts that post events
//! (rooms, profiles) hold it instead of the whole `Services`.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use ruma::{
    OwnedEventId, OwnedServerName, RoomId, UserId,
    events::{StateEventType, TimelineEventType, room::member::MembershipState},
    signatures::Ed25519KeyPair,
    state_res,
};
use serde_json::{Value, value::RawValue};

use super::{
    accounts::Requester,
    directory::Directory,
    durability::Durability,
    notifier::Notifier,
    now,
    pdu::{Pdu, PduTemplate, build_signed},
    room_cache::RoomStates,
    room_reader::{self, level, user_level},
};
use crate::{
    error::{Error, Result},
    storage::{EventStore, NewEvent, StateStore, TxnOrigin},
};

/// An event to append, before it becomes a PDU.
pub struct EventSpec {
    pub kind: TimelineEventType,
    pub state_key: Option<String>,
    pub content: Box<RawValue>,
}

impl EventSpec {
    pub fn state(kind: &str, state_key: &str, content: Value) -> Result<Self> {
        Ok(Self {
            kind: kind.into(),
            state_key: Some(state_key.to_owned()),
            content: serde_json::value::to_raw_value(&content)?,
        })
    }
}

/// The sending device's transaction, for idempotency and echo.
pub struct Txn<'a> {
    pub who: &'a Requester,
    pub txn_id: &'a str,
    /// The endpoint-specific scope, e.g. `send/!room/m.room.message/txn`.
    pub scope: String,
}

pub(crate) fn auth_failed(reason: String) -> Error {
    Error::forbidden(format!("Not allowed: {reason}"))
}

/// The auth events a new event names: those of the types the room version's
/// rules ask for, from `state`.
pub(crate) fn auth_events_for(
    spec: &EventSpec,
    sender: &UserId,
    rules: &ruma::room_version_rules::RoomVersionRules,
    state: &HashMap<(String, String), OwnedEventId>,
) -> Result<Vec<OwnedEventId>> {
    let auth_types = state_res::auth_types_for_event(
        &spec.kind,
        sender,
        spec.state_key.as_deref(),
        &spec.content,
        &rules.authorization,
    )
    .map_err(|e| Error::bad_json(format!("Invalid event: {e}")))?;
    Ok(auth_types
        .iter()
        .filter_map(|(t, k)| state.get(&(t.to_string(), k.clone())).cloned())
        .collect())
}

/// Appends events to rooms under the auth rules, one at a time.
pub struct Appender {
    server_name: OwnedServerName,
    signing_key: Ed25519KeyPair,
    events: Arc<dyn EventStore>,
    state: Arc<dyn StateStore>,
    directory: Arc<Directory>,
    notifier: Arc<Notifier>,
    durability: Arc<Durability>,
    /// Serialises event creation so each room's DAG stays linear (one
    /// forward extremity) while the server does not federate.
    event_lock: tokio::sync::Mutex<RoomStates>,
    /// Bumped whenever room state changes, so cached push rule evaluators
    /// know to rebuild.
    push_epoch: Arc<AtomicU64>,
}

/// What an [`Appender`] is built from.
pub struct AppenderParts {
    pub server_name: OwnedServerName,
    pub signing_key: Ed25519KeyPair,
    pub events: Arc<dyn EventStore>,
    pub state: Arc<dyn StateStore>,
    pub directory: Arc<Directory>,
    pub notifier: Arc<Notifier>,
    pub durability: Arc<Durability>,
    pub push_epoch: Arc<AtomicU64>,
}

impl Appender {
    pub fn new(parts: AppenderParts) -> Self {
        let AppenderParts {
            server_name,
            signing_key,
            events,
            state,
            directory,
            notifier,
            durability,
            push_epoch,
        } = parts;
        Self {
            server_name,
            signing_key,
            events,
            state,
            directory,
            notifier,
            durability,
            event_lock: tokio::sync::Mutex::new(RoomStates::default()),
            push_epoch,
        }
    }

    /// The server's signing key (createRoom's rehearsal signs with it too).
    pub fn signing_key(&self) -> &Ed25519KeyPair {
        &self.signing_key
    }

    /// Appends an event to a room, enforcing the auth rules. Returns the new
    /// event's ID (or the original one for a repeated transaction).
    pub async fn append(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        spec: EventSpec,
        txn: Option<Txn<'_>>,
    ) -> Result<OwnedEventId> {
        if spec.kind == TimelineEventType::RoomCanonicalAlias && spec.state_key.is_some() {
            self.directory
                .check_canonical_alias(room_id, &spec.content, None)?;
        }
        let mut _guard = self.event_lock.lock().await;

        if let Some(txn) = &txn
            && let Some(existing) =
                self.events
                    .txn_event(&txn.who.user_id, &txn.who.device_id, &txn.scope)?
        {
            // The original may still be waiting for its flush; answer only
            // once everything committed so far is durable.
            drop(_guard);
            let ticket = self.durability.ticket();
            self.durability.wait(ticket).await?;
            return Ok(existing);
        }

        let version = self
            .events
            .room_version(room_id)?
            .ok_or_else(|| Error::not_found("Unknown room"))?;
        let rules = version
            .rules()
            .ok_or_else(|| Error::internal("room version without rules"))?;

        let cached = _guard.room(room_id, &*self.state)?;
        let state = &cached.state;

        let auth_events = auth_events_for(&spec, sender, &rules, state)?;

        let redacts = if spec.kind == TimelineEventType::RoomRedaction {
            Some(self.check_redaction(room_id, sender, &spec.content)?)
        } else {
            None
        };

        let head = self.events.room_head(room_id)?;
        let (prev_events, depth) = match head {
            Some(head) => (vec![head.event_id], head.depth as u64 + 1),
            None => (vec![], 1),
        };

        let (event_id, object, pdu) = build_signed(
            PduTemplate {
                room_id,
                sender,
                kind: &spec.kind,
                state_key: spec.state_key.as_deref(),
                content: &spec.content,
                prev_events,
                auth_events,
                depth,
                origin_server_ts: now(),
            },
            self.server_name.as_str(),
            &self.signing_key,
            &rules,
        )?;

        let load = |id: &ruma::EventId| cached.pdu(id, &*self.events);
        state_res::check_state_independent_auth_rules(&rules.authorization, &pdu, load)
            .map_err(auth_failed)?;
        state_res::check_state_dependent_auth_rules(
            &rules.authorization,
            &pdu,
            |t: &StateEventType, k: &str| {
                state
                    .get(&(t.to_string(), k.to_owned()))
                    .and_then(|id| load(id))
            },
        )
        .map_err(auth_failed)?;

        let membership = (spec.kind == TimelineEventType::RoomMember)
            .then(|| {
                serde_json::from_str::<Value>(spec.content.get())
                    .ok()
                    .and_then(|c| {
                        c.get("membership")
                            .and_then(Value::as_str)
                            .map(MembershipState::from)
                    })
            })
            .flatten();

        let pdu_json = serde_json::to_string(&object)?;
        let reservation = self.notifier.reserve();
        self.events.append_event(&NewEvent {
            stream: reservation.position(),
            event_id: event_id.clone(),
            room_id: room_id.to_owned(),
            event_type: spec.kind.to_string(),
            state_key: spec.state_key.clone(),
            sender: sender.to_owned(),
            depth: depth as i64,
            pdu_json,
            txn: txn.as_ref().map(|t| TxnOrigin {
                user_id: t.who.user_id.clone(),
                device_id: t.who.device_id.clone(),
                txn_id: t.txn_id.into(),
            }),
            txn_scope: txn.map(|t| t.scope),
            membership,
            redacts,
            relation: relation_of(&spec.content),
        })?;
        if let Some(state_key) = spec.state_key {
            _guard.state_changed(
                room_id,
                spec.kind.to_string(),
                state_key,
                event_id.clone(),
                pdu,
            );
            self.push_epoch.fetch_add(1, Ordering::AcqRel);
        }
        let ticket = self.durability.ticket();
        // Let the next append build while this one waits for the shared flush.
        drop(_guard);
        self.durability.wait(ticket).await?;
        drop(reservation);
        Ok(event_id)
    }

    /// A redaction must name an event of this room; redacting someone else's
    /// event needs the room's `redact` power level.
    fn check_redaction(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        content: &RawValue,
    ) -> Result<OwnedEventId> {
        #[derive(serde::Deserialize)]
        struct Redaction {
            redacts: Option<OwnedEventId>,
        }
        let target = serde_json::from_str::<Redaction>(content.get())
            .ok()
            .and_then(|r| r.redacts)
            .ok_or_else(|| Error::bad_json("A redaction needs `redacts`"))?;
        let event = self
            .events
            .event(&target)?
            .filter(|e| e.room_id == room_id)
            .ok_or_else(|| Error::not_found("No such event in this room"))?;
        let target_sender = Pdu::from_stored(&event)?.sender;
        if target_sender != sender {
            let power = room_reader::power_levels(&*self.state, room_id)?;
            if user_level(&power, sender) < level(&power, "redact", 50) {
                return Err(Error::forbidden(
                    "You need a higher power level to delete others' messages",
                ));
            }
        }
        Ok(target)
    }
}

/// `m.relates_to` of a content: the parent event and the relation type
/// (replies via `m.in_reply_to` alone are not relations).
fn relation_of(content: &RawValue) -> Option<(OwnedEventId, String)> {
    #[derive(serde::Deserialize)]
    struct Content {
        #[serde(rename = "m.relates_to")]
        relates_to: Option<RelatesTo>,
    }
    #[derive(serde::Deserialize)]
    struct RelatesTo {
        rel_type: Option<String>,
        event_id: Option<OwnedEventId>,
    }
    let relates_to = serde_json::from_str::<Content>(content.get())
        .ok()?
        .relates_to?;
    Some((relates_to.event_id?, relates_to.rel_type?))
}
