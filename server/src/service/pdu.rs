//! Persistent data units: building, hashing, signing and reading room events.
//!
//! Every event this server creates is a real PDU for its room version
//! (content hash, ed25519 signature, reference-hash event ID, prev/auth
//! events, depth), so federation can be added without rewriting history.

use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, EventId, MilliSecondsSinceUnixEpoch, OwnedEventId,
    OwnedRoomId, OwnedUserId, RoomId, UserId, events::TimelineEventType,
    room_version_rules::RoomVersionRules, serde::Raw, signatures::Ed25519KeyPair,
};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{
    error::{Error, Result},
    storage::StoredEvent,
};

/// A room event with its ID: built by [`build_signed`] or read back from storage.
#[derive(Clone, Debug)]
pub struct Pdu {
    pub event_id: OwnedEventId,
    pub room_id: OwnedRoomId,
    pub sender: OwnedUserId,
    pub origin_server_ts: MilliSecondsSinceUnixEpoch,
    pub kind: TimelineEventType,
    pub content: Box<RawValue>,
    pub state_key: Option<String>,
    pub prev_events: Vec<OwnedEventId>,
    pub auth_events: Vec<OwnedEventId>,
    pub redacts: Option<OwnedEventId>,
    pub depth: u64,
}

/// A PDU's JSON as signed and stored. From room version 3 on, the event ID is not
/// inside (it is the reference hash), so it is read apart and only a [`Pdu`] has one.
#[derive(Deserialize)]
struct PduJson {
    room_id: OwnedRoomId,
    sender: OwnedUserId,
    origin_server_ts: MilliSecondsSinceUnixEpoch,
    #[serde(rename = "type")]
    kind: TimelineEventType,
    content: Box<RawValue>,
    #[serde(default)]
    state_key: Option<String>,
    #[serde(default)]
    prev_events: Vec<OwnedEventId>,
    #[serde(default)]
    auth_events: Vec<OwnedEventId>,
    #[serde(default)]
    redacts: Option<OwnedEventId>,
    depth: u64,
}

impl Pdu {
    /// Parses a stored event.
    pub fn from_stored(stored: &StoredEvent) -> Result<Self> {
        Self::parse(stored.event_id.clone(), &stored.pdu_json)
    }

    /// Parses a PDU's JSON, which does not hold its ID.
    fn parse(event_id: OwnedEventId, json: &str) -> Result<Self> {
        let PduJson {
            room_id,
            sender,
            origin_server_ts,
            kind,
            content,
            state_key,
            prev_events,
            auth_events,
            redacts,
            depth,
        } = serde_json::from_str(json)?;
        Ok(Self {
            event_id,
            room_id,
            sender,
            origin_server_ts,
            kind,
            content,
            state_key,
            prev_events,
            auth_events,
            redacts,
            depth,
        })
    }

    /// The content deserialised into a typed event content.
    pub fn content_as<T: for<'de> Deserialize<'de>>(&self) -> Result<T> {
        serde_json::from_str(self.content.get())
            .map_err(|e| Error::bad_json(format!("invalid {} content: {e}", self.kind)))
    }
}

impl ruma::state_res::Event for Pdu {
    type Id = OwnedEventId;

    fn event_id(&self) -> &Self::Id {
        &self.event_id
    }

    fn room_id(&self) -> Option<&RoomId> {
        Some(&self.room_id)
    }

    fn sender(&self) -> &UserId {
        &self.sender
    }

    fn origin_server_ts(&self) -> MilliSecondsSinceUnixEpoch {
        self.origin_server_ts
    }

    fn event_type(&self) -> &TimelineEventType {
        &self.kind
    }

    fn content(&self) -> &RawValue {
        &self.content
    }

    fn state_key(&self) -> Option<&str> {
        self.state_key.as_deref()
    }

    fn prev_events(&self) -> Box<dyn DoubleEndedIterator<Item = &Self::Id> + '_> {
        Box::new(self.prev_events.iter())
    }

    fn auth_events(&self) -> Box<dyn DoubleEndedIterator<Item = &Self::Id> + '_> {
        Box::new(self.auth_events.iter())
    }

    fn redacts(&self) -> Option<&Self::Id> {
        self.redacts.as_ref()
    }

    fn rejected(&self) -> bool {
        // Rejected events are never stored.
        false
    }
}

/// The fields of a new event before hashing and signing.
pub struct PduTemplate<'a> {
    pub room_id: &'a RoomId,
    pub sender: &'a UserId,
    pub kind: &'a TimelineEventType,
    pub state_key: Option<&'a str>,
    pub content: &'a RawValue,
    pub prev_events: Vec<OwnedEventId>,
    pub auth_events: Vec<OwnedEventId>,
    pub depth: u64,
    pub origin_server_ts: MilliSecondsSinceUnixEpoch,
}

/// Builds the canonical JSON of a new PDU, adds its content hash and this
/// server's signature, and derives its event ID from the reference hash.
pub fn build_signed(
    template: PduTemplate<'_>,
    server_name: &str,
    key: &Ed25519KeyPair,
    rules: &RoomVersionRules,
) -> Result<(OwnedEventId, CanonicalJsonObject, Pdu)> {
    let content: CanonicalJsonValue = serde_json::from_str(template.content.get())
        .map_err(|e| Error::bad_json(format!("content is not canonical JSON: {e}")))?;
    let ids = |ids: &[OwnedEventId]| {
        CanonicalJsonValue::Array(
            ids.iter()
                .map(|id| CanonicalJsonValue::String(id.to_string()))
                .collect(),
        )
    };
    let mut object = CanonicalJsonObject::new();
    object.insert("auth_events".into(), ids(&template.auth_events));
    object.insert("content".into(), content);
    object.insert(
        "depth".into(),
        CanonicalJsonValue::Integer(ruma::Int::try_from(template.depth).map_err(Error::internal)?),
    );
    object.insert(
        "origin_server_ts".into(),
        CanonicalJsonValue::Integer(ruma::Int::from(template.origin_server_ts.0)),
    );
    object.insert("prev_events".into(), ids(&template.prev_events));
    object.insert(
        "room_id".into(),
        CanonicalJsonValue::String(template.room_id.to_string()),
    );
    object.insert(
        "sender".into(),
        CanonicalJsonValue::String(template.sender.to_string()),
    );
    object.insert(
        "type".into(),
        CanonicalJsonValue::String(template.kind.to_string()),
    );
    if let Some(state_key) = template.state_key {
        object.insert(
            "state_key".into(),
            CanonicalJsonValue::String(state_key.to_owned()),
        );
    }
    if *template.kind == TimelineEventType::RoomRedaction
        && let Some(CanonicalJsonValue::Object(c)) = object.get("content")
        && let Some(redacts) = c.get("redacts").cloned()
    {
        // Room versions before 11 carry `redacts` at the top level; keeping it
        // there for every version is harmless and helps older readers.
        object.insert("redacts".into(), redacts);
    }

    ruma::signatures::hash_and_sign_event(server_name, key, &mut object, &rules.redaction)
        .map_err(|e| {
            Error::new(
                crate::error::ErrorKind::TooLarge,
                format!("cannot sign event: {e}"),
            )
        })?;
    let hash = ruma::signatures::reference_hash(&object, rules).map_err(|e| {
        Error::new(
            crate::error::ErrorKind::TooLarge,
            format!("event too large: {e}"),
        )
    })?;
    let event_id = OwnedEventId::try_from(format!("${hash}")).map_err(Error::internal)?;

    let json = serde_json::to_string(&object)?;
    let pdu = Pdu::parse(event_id.clone(), &json)?;
    Ok((event_id, object, pdu))
}

/// How to render an event for a client.
pub struct RenderOptions<'a> {
    /// The device asking (gets `transaction_id` on its own events).
    pub viewer: Option<(&'a UserId, &'a ruma::DeviceId)>,
    pub now: MilliSecondsSinceUnixEpoch,
    /// False inside `/sync`, whose events omit `room_id`.
    pub with_room_id: bool,
    pub prev_content: Option<&'a RawValue>,
    /// For a redacted event: the redacted content and the redaction event.
    pub redacted: Option<(&'a RawValue, &'a RawValue)>,
}

/// Renders a stored PDU in the client format (`ClientEvent`), adding the
/// `unsigned` fields the spec asks for.
pub fn client_event(
    stored: &StoredEvent,
    options: RenderOptions<'_>,
) -> Result<Raw<ruma::events::AnyTimelineEvent>> {
    #[derive(serde::Serialize)]
    struct ClientEvent<'a> {
        content: &'a RawValue,
        event_id: &'a EventId,
        origin_server_ts: MilliSecondsSinceUnixEpoch,
        #[serde(skip_serializing_if = "Option::is_none")]
        room_id: Option<&'a RoomId>,
        sender: &'a UserId,
        #[serde(skip_serializing_if = "Option::is_none")]
        state_key: Option<&'a str>,
        #[serde(rename = "type")]
        kind: &'a TimelineEventType,
        #[serde(skip_serializing_if = "Option::is_none")]
        redacts: Option<&'a EventId>,
        unsigned: Unsigned<'a>,
    }
    #[derive(serde::Serialize)]
    struct Unsigned<'a> {
        age: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        transaction_id: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        prev_content: Option<&'a RawValue>,
        #[serde(skip_serializing_if = "Option::is_none")]
        replaces_state: Option<&'a EventId>,
        #[serde(skip_serializing_if = "Option::is_none")]
        redacted_because: Option<&'a RawValue>,
    }

    let pdu = Pdu::from_stored(stored)?;
    let transaction_id = match (&stored.txn, options.viewer) {
        (Some(txn), Some((viewer_user, viewer_device)))
            if txn.user_id == viewer_user && txn.device_id == viewer_device =>
        {
            Some(txn.txn_id.as_str())
        }
        _ => None,
    };
    let age = i64::from(options.now.0) - i64::from(pdu.origin_server_ts.0);
    let (content, redacted_because) = match options.redacted {
        Some((content, because)) => (content, Some(because)),
        None => (&*pdu.content, None),
    };
    let event = ClientEvent {
        content,
        event_id: &stored.event_id,
        origin_server_ts: pdu.origin_server_ts,
        room_id: options.with_room_id.then_some(&*pdu.room_id),
        sender: &pdu.sender,
        state_key: pdu.state_key.as_deref(),
        kind: &pdu.kind,
        redacts: pdu.redacts.as_deref(),
        unsigned: Unsigned {
            age: age.max(0),
            transaction_id,
            prev_content: options.prev_content,
            replaces_state: stored.replaces_state.as_deref(),
            redacted_because,
        },
    };
    Ok(Raw::from_json(serde_json::value::to_raw_value(&event)?))
}

/// The content of `pdu` as the room version's redaction algorithm leaves it.
pub fn redacted_content(pdu: &Pdu, rules: &RoomVersionRules) -> Result<Box<RawValue>> {
    let mut content: CanonicalJsonObject = serde_json::from_str(pdu.content.get())?;
    ruma::canonical_json::redact_content_in_place(
        &mut content,
        &rules.redaction,
        pdu.kind.to_string(),
    );
    Ok(serde_json::value::to_raw_value(&content)?)
}

#[cfg(test)]
mod tests {
    use ruma::{
        RoomVersionId,
        serde::Base64,
        signatures::{PublicKeyMap, Verified, verify_event},
    };

    use super::*;

    #[test]
    fn signed_event_verifies_and_its_id_is_the_reference_hash() {
        let key = Ed25519KeyPair::from_der(&Ed25519KeyPair::generate(), "a_test".into()).unwrap();
        let rules = RoomVersionId::V11.rules().unwrap();
        let room_id = ruma::room_id!("!room:example.org");
        let sender = ruma::user_id!("@alice:example.org");
        let content = serde_json::value::to_raw_value(
            &serde_json::json!({"msgtype": "m.text", "body": "hi"}),
        )
        .unwrap();
        let kind = TimelineEventType::RoomMessage;
        let (event_id, object, pdu) = build_signed(
            PduTemplate {
                room_id,
                sender,
                kind: &kind,
                state_key: None,
                content: &content,
                prev_events: vec![],
                auth_events: vec![],
                depth: 3,
                origin_server_ts: MilliSecondsSinceUnixEpoch(1_000u32.into()),
            },
            "example.org",
            &key,
            &rules,
        )
        .unwrap();

        let mut keys = PublicKeyMap::new();
        keys.insert(
            "example.org".into(),
            [(
                "ed25519:a_test".to_owned(),
                Base64::new(key.public_key().to_vec()),
            )]
            .into(),
        );
        assert_eq!(verify_event(&keys, &object, &rules).unwrap(), Verified::All);
        let hash = ruma::signatures::reference_hash(&object, &rules).unwrap();
        assert_eq!(event_id.as_str(), format!("${hash}"));
        assert_eq!(pdu.depth, 3);

        // Tampering with the content breaks the content hash.
        let mut tampered = object.clone();
        tampered.insert(
            "content".into(),
            CanonicalJsonValue::Object(Default::default()),
        );
        assert_ne!(
            verify_event(&keys, &tampered, &rules).unwrap(),
            Verified::All
        );
    }
}
