//! What people do with messages: send (markdown, replies, edits), react, delete, read,
//! type, and page back through history. Each action updates the model at once (local echo)
//! and returns the request for the caller to send.

use std::time::Duration;

use ruma::{MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedTransactionId, OwnedUserId, RoomId};

use super::{Engine, Outgoing, crypto::SendKind};
use crate::{
    ApiError, HttpRequest, HttpResponse, Room, markdown,
    media::MediaDraft,
    messaging::{self, MentionsOut, MessageOut, RelationOut, ReplyOut},
    requests,
    timeline::{Edit, ItemKind, ReactionEntry, SendState, TimelineItem},
};

/// What the composer sends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Draft {
    /// The text as typed (markdown).
    pub text: String,
    /// The message this one answers.
    pub reply_to: Option<OwnedEventId>,
    /// The message this one replaces (an edit).
    pub edit_of: Option<OwnedEventId>,
}

/// Our message as shown until the server confirms it.
fn local_echo(
    room: &Room,
    own: &OwnedUserId,
    kind: ItemKind,
    body: String,
    txn_id: &OwnedTransactionId,
    now: MilliSecondsSinceUnixEpoch,
) -> TimelineItem {
    let mut item = TimelineItem::new(own.clone(), room.member_name(own), kind, body, now);
    item.txn_id = Some(txn_id.clone());
    item.sender_avatar = room.member_avatar(own);
    item.send_state = SendState::Pending;
    item
}

/// How long a typing notice lasts unless renewed.
pub const TYPING_TIMEOUT: Duration = Duration::from_secs(30);

impl Engine {
    /// Adds the local echo of a message (or applies an edit) and returns the request that
    /// sends it, or [`Outgoing::Queued`] in an encrypted room. `txn_id` must be unique per
    /// message; reuse it only through [`Self::retry_send`].
    pub fn send_message(
        &mut self,
        room_id: &RoomId,
        draft: Draft,
        txn_id: OwnedTransactionId,
        now: MilliSecondsSinceUnixEpoch,
    ) -> Result<Outgoing, ApiError> {
        self.set_now(now);
        let own = self.session.user_id.clone();
        let (kind, text) = match draft.text.strip_prefix("/me ") {
            Some(action) => (ItemKind::Emote, action.to_owned()),
            None => (ItemKind::Message, draft.text.clone()),
        };
        let html = markdown::to_html(&text);
        let mut content = MessageOut::text(text.clone(), html.clone());
        if kind == ItemKind::Emote {
            content.msgtype = "m.emote";
        }
        let room = self.room_mut(room_id)?;
        if let Some(target) = draft.edit_of {
            let mut new_content = content.clone();
            new_content.mentions = None;
            content.body = format!("* {text}");
            content.formatted_body = html.as_ref().map(|html| format!("* {html}"));
            content.new_content = Some(Box::new(new_content));
            content.relates_to = Some(RelationOut {
                rel_type: Some("m.replace"),
                event_id: Some(target.clone()),
                key: None,
                in_reply_to: None,
            });
            let edit = Edit {
                sender: own,
                ts: now,
                kind,
                body: text,
                html,
            };
            room.timeline_mut().add_edit(target, edit);
        } else {
            let mut item = local_echo(room, &own, kind, text, &txn_id, now);
            item.html = html;
            if let Some(target) = draft.reply_to {
                // Mention the author of what we answer, as other clients do.
                let replied = room.timeline().item(&target).map(|item| item.sender);
                content.mentions = Some(MentionsOut {
                    user_ids: replied
                        .filter(|sender| *sender != own)
                        .into_iter()
                        .collect(),
                });
                content.relates_to = Some(RelationOut {
                    rel_type: None,
                    event_id: None,
                    key: None,
                    in_reply_to: Some(ReplyOut {
                        event_id: target.clone(),
                    }),
                });
                item.reply_to = Some(target);
            }
            room.timeline_mut().push_local(item);
            room.bump_activity(now);
        }
        self.queue_message(room_id, txn_id, content)
    }

    /// Adds the local echo of a media message whose file is uploaded, and returns the request
    /// that sends it (or [`Outgoing::Queued`] in an encrypted room).
    pub fn send_media(
        &mut self,
        room_id: &RoomId,
        draft: &MediaDraft,
        txn_id: OwnedTransactionId,
        now: MilliSecondsSinceUnixEpoch,
    ) -> Result<Outgoing, ApiError> {
        self.set_now(now);
        // A file in the clear must not be linked from an encrypted room: its upload was
        // readable by the server. (Encrypted drafts go through the encrypted send path in
        // `queue_message` like any message.)
        let unencrypted = draft.encryption.is_none()
            || draft
                .thumbnail
                .as_ref()
                .is_some_and(|t| t.encryption.is_none());
        if unencrypted && self.is_encrypted(room_id) {
            return Err(ApiError::InvalidRequest(
                "a file for an encrypted room must be encrypted".into(),
            ));
        }
        let own = self.session.user_id.clone();
        let content = MessageOut::media(draft);
        let room = self.room_mut(room_id)?;
        let mut item = local_echo(
            room,
            &own,
            ItemKind::Message,
            content.body.clone(),
            &txn_id,
            now,
        );
        item.media = Some(draft.to_media());
        room.timeline_mut().push_local(item);
        room.bump_activity(now);
        self.queue_message(room_id, txn_id, content)
    }

    /// The request for an `m.room.message`, kept in the outbox until it is confirmed so that
    /// [`Self::retry_send`] can send the same content again; queued for encryption in an
    /// encrypted room.
    fn queue_message(
        &mut self,
        room_id: &RoomId,
        txn_id: OwnedTransactionId,
        content: MessageOut,
    ) -> Result<Outgoing, ApiError> {
        if self.is_encrypted(room_id) {
            let content = serde_json::to_value(&content)
                .map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
            return Ok(self.queue_encrypted(
                room_id,
                txn_id,
                "m.room.message",
                content,
                SendKind::Message,
            ));
        }
        let request =
            requests::send_request(&self.session, room_id, "m.room.message", &txn_id, &content)?;
        self.outbox.insert(txn_id, content);
        Ok(Outgoing::Now(request))
    }

    /// Whether events to `room_id` must be encrypted.
    pub(crate) fn is_encrypted(&self, room_id: &RoomId) -> bool {
        self.rooms.get(room_id).is_some_and(Room::is_encrypted)
    }

    /// Marks a failed local echo as pending again and rebuilds its request, with the same
    /// transaction ID so the server can tell a retry from a new message. In an encrypted
    /// room the same ciphertext is queued again.
    pub fn retry_send(
        &mut self,
        room_id: &RoomId,
        txn_id: &OwnedTransactionId,
    ) -> Result<Outgoing, ApiError> {
        if self.retry_queued(txn_id) {
            self.room_mut(room_id)?
                .timeline_mut()
                .set_send_state(txn_id, SendState::Pending);
            return Ok(Outgoing::Queued);
        }
        let content = self
            .outbox
            .get(txn_id)
            .cloned()
            .ok_or_else(|| ApiError::InvalidRequest("that message was already sent".into()))?;
        if self.is_encrypted(room_id) {
            // Tried in the clear before the room was encrypted: now it goes encrypted.
            self.outbox.remove(txn_id);
            self.room_mut(room_id)?
                .timeline_mut()
                .set_send_state(txn_id, SendState::Pending);
            return self.queue_message(room_id, txn_id.clone(), content);
        }
        self.room_mut(room_id)?
            .timeline_mut()
            .set_send_state(txn_id, SendState::Pending);
        requests::send_request(&self.session, room_id, "m.room.message", txn_id, &content)
            .map(Outgoing::Now)
    }

    /// Records the send response for the message `txn_id`.
    pub fn handle_send_response(
        &mut self,
        room_id: &RoomId,
        txn_id: &OwnedTransactionId,
        response: HttpResponse<'_>,
    ) -> Result<OwnedEventId, ApiError> {
        let result = requests::parse_send(response);
        if result.is_ok() {
            self.outbox.remove(txn_id);
        }
        if let Ok(room) = self.room_mut(room_id) {
            let timeline = room.timeline_mut();
            match &result {
                Ok(event_id) => timeline.mark_sent(txn_id, event_id.clone()),
                Err(_) => timeline.set_send_state(txn_id, SendState::Failed),
            }
        }
        result
    }

    /// Marks a message as failed when its request never got a response.
    pub fn mark_send_failed(&mut self, room_id: &RoomId, txn_id: &OwnedTransactionId) {
        if let Ok(room) = self.room_mut(room_id) {
            room.timeline_mut()
                .set_send_state(txn_id, SendState::Failed);
        }
    }

    /// Adds our reaction `key` to `target` (shown at once) and returns its request (or
    /// [`Outgoing::Queued`] in an encrypted room, its response then going to
    /// [`Self::mark_request_sent`]).
    pub fn react(
        &mut self,
        room_id: &RoomId,
        target: OwnedEventId,
        key: String,
        txn_id: OwnedTransactionId,
    ) -> Result<Outgoing, ApiError> {
        let request = if self.is_encrypted(room_id) {
            let content = serde_json::json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": key}});
            self.queue_encrypted(
                room_id,
                txn_id.clone(),
                "m.reaction",
                content,
                SendKind::Reaction,
            )
        } else {
            Outgoing::Now(messaging::reaction_request(
                &self.session,
                room_id,
                txn_id.clone(),
                target.clone(),
                key.clone(),
            )?)
        };
        let sender = self.session.user_id.clone();
        self.room_mut(room_id)?
            .timeline_mut()
            .add_reaction(ReactionEntry {
                target,
                key,
                sender,
                event_id: None,
                txn_id: Some(txn_id),
            });
        Ok(request)
    }

    /// Records the response to [`Self::react`]; a failed reaction disappears again.
    pub fn handle_reaction_response(
        &mut self,
        room_id: &RoomId,
        txn_id: &OwnedTransactionId,
        response: Option<HttpResponse<'_>>,
    ) -> Result<(), ApiError> {
        let result = match response {
            Some(response) => requests::parse_send(response),
            None => Err(ApiError::InvalidRequest("no response".into())),
        };
        let timeline = self.room_mut(room_id)?.timeline_mut();
        match result {
            Ok(event_id) => {
                timeline.reaction_sent(txn_id, event_id);
                Ok(())
            }
            Err(error) => {
                timeline.reaction_failed(txn_id);
                Err(error)
            }
        }
    }

    /// Refuses, in a room with `m.room.encryption`, what would go out in the clear there:
    /// an upload of a file that was not encrypted first (events go through the encrypted
    /// queue instead). Redactions, typing notices and receipts are never encrypted and
    /// stay allowed.
    pub fn check_plaintext_allowed(&self, room_id: &RoomId) -> Result<(), ApiError> {
        match self.rooms.get(room_id) {
            Some(room) if room.is_encrypted() => Err(ApiError::EncryptedRoom),
            _ => Ok(()),
        }
    }

    /// The upload of a file (or its thumbnail) for a media message to `room_id`. In an
    /// encrypted room the caller must have encrypted it (`encrypted`): the ciphertext goes
    /// up as `application/octet-stream` without its name, and a file in the clear is
    /// refused, since the server would keep a readable copy.
    pub fn message_upload_request(
        &self,
        room_id: &RoomId,
        mimetype: &str,
        filename: &str,
        encrypted: bool,
    ) -> Result<HttpRequest, ApiError> {
        if encrypted {
            return crate::media::encrypted_upload_request(&self.session);
        }
        self.check_plaintext_allowed(room_id)?;
        crate::media::upload_request(&self.session, mimetype, filename)
    }

    /// Whether files sent to `room_id` must be encrypted before upload.
    pub fn files_need_encryption(&self, room_id: &RoomId) -> bool {
        self.is_encrypted(room_id)
    }

    /// Deletes an event (a message, or our reaction), shown at once.
    pub fn redact(
        &mut self,
        room_id: &RoomId,
        event_id: OwnedEventId,
        txn_id: OwnedTransactionId,
    ) -> Result<HttpRequest, ApiError> {
        let request = messaging::redact_request(&self.session, room_id, event_id.clone(), txn_id)?;
        self.room_mut(room_id)?.timeline_mut().redact(event_id);
        Ok(request)
    }

    /// Records the response to [`Self::redact`]; on failure the event comes back.
    pub fn handle_redact_response(
        &mut self,
        room_id: &RoomId,
        event_id: &OwnedEventId,
        response: Option<HttpResponse<'_>>,
    ) -> Result<(), ApiError> {
        let result = match response {
            Some(response) => messaging::parse_redact(response).map(drop),
            None => Err(ApiError::InvalidRequest("no response".into())),
        };
        if result.is_err() {
            self.room_mut(room_id)?.timeline_mut().unredact(event_id);
        }
        result
    }

    /// A read receipt for the newest event in the room, unless we already sent one for it.
    /// Clears the room's unread count at once.
    pub fn read_receipt_request(&mut self, room_id: &RoomId) -> Option<HttpRequest> {
        // Rooms shown from storage may be behind: read up to what the server says is new.
        if !self.live {
            return None;
        }
        let own = self.session.user_id.clone();
        let room = self.rooms.get_mut(room_id)?;
        let latest = room.timeline().latest_remote()?.event_id.clone()?;
        if room.receipt_of(&own) == Some(&latest) {
            return None;
        }
        room.set_receipt(own, latest.clone());
        room.clear_unread();
        messaging::receipt_request(&self.session, room_id, latest).ok()
    }

    /// Says we are typing in `room_id` (or stopped).
    pub fn typing_request(&self, room_id: &RoomId, typing: bool) -> Result<HttpRequest, ApiError> {
        messaging::typing_request(&self.session, room_id, typing.then_some(TYPING_TIMEOUT))
    }

    /// The request for the page of history before what we have, or `None` when there is
    /// no more (or the room is unknown).
    pub fn back_page_request(&self, room_id: &RoomId) -> Option<BackPage> {
        let from = self.rooms.get(room_id)?.prev_batch()?;
        let request = messaging::messages_request(&self.session, room_id, from).ok()?;
        Some(BackPage {
            request,
            from: from.to_owned(),
        })
    }

    /// Adds a page of history to the room, asked for from `from` (the [`BackPage`]'s). A
    /// page that no longer fits is dropped: a limited sync that came meanwhile started the
    /// timeline over from a newer point, and the page would sit above it with a hole.
    pub fn handle_back_page(
        &mut self,
        room_id: &RoomId,
        from: &str,
        response: HttpResponse<'_>,
    ) -> Result<(), ApiError> {
        let page = messaging::parse_messages(response)?;
        let room = self
            .rooms
            .get_mut(room_id)
            .ok_or_else(|| ApiError::InvalidRequest(format!("not joined to {room_id}")))?;
        if room.prev_batch() != Some(from) {
            return Ok(());
        }
        room.apply_back_page(
            page,
            &mut super::Decryptor {
                driver: self.driver,
                machine: &mut self.crypto,
            },
        );
        Ok(())
    }
}

/// A request for older history, and the token it starts from.
#[derive(Debug)]
#[non_exhaustive]
pub struct BackPage {
    /// The `/messages` request.
    pub request: HttpRequest,
    /// Where it starts: pass it back to [`Engine::handle_back_page`] with the answer.
    pub from: String,
}

#[cfg(test)]
mod tests {
    use ruma::{OwnedRoomId, UInt, owned_room_id};
    use serde_json::{Value, json};

    use super::*;
    use crate::TimelineItem;

    fn engine() -> Engine {
        let mut engine = Engine::new(crate::engine::tests::session());
        sync(
            &mut engine,
            json!({"next_batch": "s1", "rooms": {"join": {"!r:hs": {
                "state": {"events": [member("@alice:hs", "Alice"), member("@bob:hs", "Bob")]},
                "timeline": {"events": [text("$1", "@alice:hs", "one", 1)], "prev_batch": "p1"},
            }}}}),
        );
        engine
    }

    fn room() -> OwnedRoomId {
        owned_room_id!("!r:hs")
    }

    #[test]
    fn own_display_name_comes_from_our_member_event() {
        let mut engine = Engine::new(crate::engine::tests::session());
        assert_eq!(engine.own_display_name(), None);
        sync(
            &mut engine,
            json!({"next_batch": "s1", "rooms": {"join": {"!r:hs": {
                "state": {"events": [member("@carol:hs", "Carol")]},
                "timeline": {"events": [], "prev_batch": "p1"},
            }}}}),
        );
        assert_eq!(
            engine.own_display_name(),
            None,
            "someone else's name is not ours"
        );
        let own = engine.user_id().to_string();
        sync(
            &mut engine,
            json!({"next_batch": "s2", "rooms": {"join": {"!r:hs": {
                "timeline": {"events": [member(&own, "Me Myself")]},
            }}}}),
        );
        assert_eq!(engine.own_display_name(), Some("Me Myself"));
    }

    fn ts(ms: u32) -> MilliSecondsSinceUnixEpoch {
        MilliSecondsSinceUnixEpoch(UInt::from(ms))
    }

    fn member(user: &str, name: &str) -> Value {
        json!({"type": "m.room.member", "event_id": format!("$m{user}"), "sender": user, "state_key": user,
               "origin_server_ts": 0, "content": {"membership": "join", "displayname": name}})
    }

    fn text(id: &str, sender: &str, body: &str, at: u64) -> Value {
        json!({"type": "m.room.message", "event_id": id, "sender": sender, "origin_server_ts": at,
               "content": {"msgtype": "m.text", "body": body}})
    }

    fn sync(engine: &mut Engine, body: Value) {
        let bytes = serde_json::to_vec(&body).unwrap();
        engine
            .handle_sync_response(
                http::Response::builder()
                    .status(200)
                    .body(&bytes[..])
                    .unwrap(),
            )
            .unwrap();
    }

    fn timeline(engine: &mut Engine, events: Vec<Value>) {
        sync(
            engine,
            json!({"next_batch": "s2", "rooms": {"join": {"!r:hs": {"timeline": {"events": events}}}}}),
        );
    }

    fn items(engine: &Engine) -> Vec<TimelineItem> {
        engine.room(&room()).unwrap().items(engine.user_id())
    }

    fn ok(body: Value) -> Vec<u8> {
        serde_json::to_vec(&body).unwrap()
    }

    #[test]
    fn markdown_reply_and_mentions_go_out_with_the_message() {
        let mut engine = engine();
        let draft = Draft {
            text: "**yes**".into(),
            reply_to: Some("$1".try_into().unwrap()),
            edit_of: None,
        };
        let request = engine
            .send_message(&room(), draft, "t1".into(), ts(5))
            .unwrap()
            .now()
            .unwrap();
        let body: Value = serde_json::from_slice(request.body()).unwrap();
        assert_eq!(body["body"], "**yes**");
        assert_eq!(body["format"], "org.matrix.custom.html");
        assert_eq!(body["formatted_body"], "<strong>yes</strong>");
        assert_eq!(body["m.relates_to"]["m.in_reply_to"]["event_id"], "$1");
        assert_eq!(body["m.mentions"]["user_ids"], json!(["@alice:hs"]));
        let echo = items(&engine).pop().unwrap();
        assert_eq!(echo.reply_to.as_ref().unwrap().as_str(), "$1");
        assert_eq!(echo.html.as_deref(), Some("<strong>yes</strong>"));
    }

    #[test]
    fn edits_apply_to_the_original_only_from_its_sender() {
        let mut engine = engine();
        let edit = |id: &str, sender: &str, body: &str, at: u64| {
            json!({"type": "m.room.message", "event_id": id, "sender": sender, "origin_server_ts": at,
                   "content": {"msgtype": "m.text", "body": format!("* {body}"),
                               "m.new_content": {"msgtype": "m.text", "body": body},
                               "m.relates_to": {"rel_type": "m.replace", "event_id": "$1"}}})
        };
        timeline(
            &mut engine,
            vec![
                edit("$e1", "@alice:hs", "one!", 2),
                edit("$e2", "@bob:hs", "hijack", 3),
            ],
        );
        let shown = items(&engine);
        assert_eq!(shown.len(), 1, "edits are not items of their own");
        assert_eq!(shown[0].body, "one!");
        assert!(shown[0].edited);

        // Our own edit: shown at once, sent as m.replace with m.new_content.
        let _ = engine
            .send_message(
                &room(),
                Draft {
                    text: "mine".into(),
                    ..Draft::default()
                },
                "t1".into(),
                ts(4),
            )
            .unwrap();
        let body = ok(json!({"event_id": "$mine"}));
        engine
            .handle_send_response(
                &room(),
                &"t1".into(),
                http::Response::builder()
                    .status(200)
                    .body(&body[..])
                    .unwrap(),
            )
            .unwrap();
        let draft = Draft {
            text: "mine, fixed".into(),
            edit_of: Some("$mine".try_into().unwrap()),
            reply_to: None,
        };
        let request = engine
            .send_message(&room(), draft, "t2".into(), ts(6))
            .unwrap()
            .now()
            .unwrap();
        let sent: Value = serde_json::from_slice(request.body()).unwrap();
        assert_eq!(sent["body"], "* mine, fixed");
        assert_eq!(sent["m.new_content"]["body"], "mine, fixed");
        assert_eq!(sent["m.relates_to"]["rel_type"], "m.replace");
        let last = items(&engine).pop().unwrap();
        assert_eq!((last.body.as_str(), last.edited), ("mine, fixed", true));
        assert_eq!(
            engine
                .room(&room())
                .unwrap()
                .timeline()
                .last_editable_by(engine.user_id())
                .unwrap()
                .body,
            "mine, fixed"
        );
    }

    #[test]
    fn reactions_aggregate_toggle_and_disappear_when_redacted() {
        let mut engine = engine();
        let reaction = |id: &str, sender: &str, key: &str| {
            json!({"type": "m.reaction", "event_id": id, "sender": sender, "origin_server_ts": 2,
                   "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$1", "key": key}}})
        };
        timeline(
            &mut engine,
            vec![
                reaction("$r1", "@alice:hs", "👍"),
                reaction("$r2", "@carol:hs", "👍"),
                reaction("$r3", "@alice:hs", "🎉"),
            ],
        );
        let reactions = &items(&engine)[0].reactions;
        assert_eq!(reactions.len(), 2);
        assert_eq!(reactions[0].key, "👍");
        assert_eq!(reactions[0].senders.len(), 2);
        assert!(!reactions[0].own);

        // Ours shows at once, and its event ID arrives with the response.
        let _ = engine
            .react(&room(), "$1".try_into().unwrap(), "👍".into(), "t1".into())
            .unwrap();
        let thumbs = items(&engine)[0].reactions[0].clone();
        assert_eq!(
            (thumbs.senders.len(), thumbs.own, thumbs.own_event.is_none()),
            (3, true, true)
        );
        let body = ok(json!({"event_id": "$mine"}));
        engine
            .handle_reaction_response(
                &room(),
                &"t1".into(),
                Some(
                    http::Response::builder()
                        .status(200)
                        .body(&body[..])
                        .unwrap(),
                ),
            )
            .unwrap();
        assert_eq!(
            items(&engine)[0].reactions[0]
                .own_event
                .as_ref()
                .unwrap()
                .as_str(),
            "$mine"
        );

        // Taking it back is a redaction of our reaction event.
        let request = engine
            .redact(&room(), "$mine".try_into().unwrap(), "t2".into())
            .unwrap();
        assert!(
            request.uri().path().contains("/redact/$mine/t2"),
            "{}",
            request.uri()
        );
        assert_eq!(items(&engine)[0].reactions[0].senders.len(), 2);

        // Someone else's reaction redacted through sync.
        timeline(
            &mut engine,
            vec![
                json!({"type": "m.room.redaction", "event_id": "$x", "sender": "@alice:hs",
            "origin_server_ts": 3, "content": {"redacts": "$r3"}}),
            ],
        );
        assert_eq!(items(&engine)[0].reactions.len(), 1);
    }

    #[test]
    fn redacted_messages_read_as_deleted_and_failures_restore_them() {
        let mut engine = engine();
        engine
            .redact(&room(), "$1".try_into().unwrap(), "t1".into())
            .unwrap();
        assert_eq!(items(&engine)[0].body, "Message deleted");
        let error = br#"{"errcode":"M_FORBIDDEN","error":"no"}"#;
        let failed = http::Response::builder()
            .status(403)
            .body(&error[..])
            .unwrap();
        assert!(
            engine
                .handle_redact_response(&room(), &"$1".try_into().unwrap(), Some(failed))
                .is_err()
        );
        assert_eq!(items(&engine)[0].body, "one");
        // Older room versions put `redacts` at the top level.
        timeline(
            &mut engine,
            vec![
                json!({"type": "m.room.redaction", "event_id": "$x", "sender": "@alice:hs",
            "origin_server_ts": 3, "redacts": "$1", "content": {}}),
            ],
        );
        assert_eq!(items(&engine)[0].kind, ItemKind::Redacted);
    }

    #[test]
    fn reply_fallbacks_are_stripped() {
        let mut engine = engine();
        timeline(
            &mut engine,
            vec![
                json!({"type": "m.room.message", "event_id": "$2", "sender": "@alice:hs",
            "origin_server_ts": 2, "content": {"msgtype": "m.text",
            "body": "> <@bob:hs> one\n> more\n\nthe answer",
            "format": "org.matrix.custom.html",
            "formatted_body": "<mx-reply><blockquote>one</blockquote></mx-reply>the <b>answer</b>",
            "m.relates_to": {"m.in_reply_to": {"event_id": "$1"}}}}),
            ],
        );
        let reply = items(&engine).pop().unwrap();
        assert_eq!(reply.body, "the answer");
        assert_eq!(reply.html.as_deref(), Some("the <b>answer</b>"));
        assert_eq!(reply.reply_to.unwrap().as_str(), "$1");
    }

    #[test]
    fn back_pagination_prepends_without_duplicates_and_stops_at_the_start() {
        let mut engine = engine();
        let request = engine.back_page_request(&room()).unwrap().request;
        let query = request.uri().query().unwrap().to_owned();
        assert!(
            query.contains("from=p1") && query.contains("dir=b"),
            "{query}"
        );
        // The server repeats "$1" (pages may overlap) and introduces carol's member event.
        let page = ok(json!({"start": "p1", "end": "p2", "chunk": [
            text("$1", "@alice:hs", "one", 1), text("$0", "@carol:hs", "zero", 0), text("$-1", "@alice:hs", "minus", 0)],
            "state": [member("@carol:hs", "Carol")]}));
        engine
            .handle_back_page(
                &room(),
                "p1",
                http::Response::builder()
                    .status(200)
                    .body(&page[..])
                    .unwrap(),
            )
            .unwrap();
        let bodies: Vec<_> = items(&engine)
            .into_iter()
            .map(|i| (i.body, i.sender_name))
            .collect();
        assert_eq!(
            bodies,
            [
                ("minus".into(), "Alice".into()),
                ("zero".into(), "Carol".into()),
                ("one".to_owned(), "Alice".to_owned())
            ]
        );
        assert!(
            engine
                .back_page_request(&room())
                .unwrap()
                .request
                .uri()
                .query()
                .unwrap()
                .contains("from=p2")
        );

        let last = ok(json!({"start": "p2", "chunk": []}));
        engine
            .handle_back_page(
                &room(),
                "p2",
                http::Response::builder()
                    .status(200)
                    .body(&last[..])
                    .unwrap(),
            )
            .unwrap();
        assert!(engine.room(&room()).unwrap().reached_start());
        assert!(engine.back_page_request(&room()).is_none());
    }

    /// A limited sync that starts the timeline over at "fifty", with history before "p50".
    fn limited_sync_at_fifty(engine: &mut Engine) {
        sync(
            engine,
            json!({"next_batch": "s3", "rooms": {"join": {"!r:hs": {"timeline": {
            "events": [text("$50", "@alice:hs", "fifty", 50)], "limited": true, "prev_batch": "p50"}}}}}),
        );
    }

    /// The query of the next history request for the room.
    fn next_page_query(engine: &Engine) -> String {
        let page = engine.back_page_request(&room()).unwrap();
        page.request.uri().query().unwrap().to_owned()
    }

    #[test]
    fn a_limited_sync_starts_the_timeline_over_instead_of_leaving_a_gap() {
        let mut engine = engine();
        limited_sync_at_fifty(&mut engine);
        let bodies: Vec<_> = items(&engine).into_iter().map(|i| i.body).collect();
        assert_eq!(bodies, ["fifty"]);
        assert!(next_page_query(&engine).contains("from=p50"));
    }

    #[test]
    fn a_page_asked_for_before_a_limited_sync_is_dropped() {
        let mut engine = engine();
        let asked = engine.back_page_request(&room()).unwrap();
        // While the request is out, a limited sync starts the timeline over at "fifty".
        limited_sync_at_fifty(&mut engine);
        // The answer holds what came before the old start: above "fifty" it would leave a hole.
        let page =
            ok(json!({"start": "p1", "end": "p0", "chunk": [text("$0", "@alice:hs", "zero", 0)]}));
        engine
            .handle_back_page(
                &room(),
                &asked.from,
                http::Response::builder()
                    .status(200)
                    .body(&page[..])
                    .unwrap(),
            )
            .unwrap();
        let bodies: Vec<_> = items(&engine).into_iter().map(|i| i.body).collect();
        assert_eq!(bodies, ["fifty"]);
        assert!(next_page_query(&engine).contains("from=p50"));
    }

    #[test]
    fn receipts_typing_and_unread_counts() {
        let mut engine = engine();
        timeline(
            &mut engine,
            vec![
                text("$2", "@alice:hs", "two", 2),
                json!({"type": "m.reaction", "event_id": "$r", "sender": "@alice:hs", "origin_server_ts": 3,
                   "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$1", "key": "x"}}}),
            ],
        );
        sync(
            &mut engine,
            json!({"next_batch": "s3", "rooms": {"join": {"!r:hs": {
            "unread_notifications": {"notification_count": 2, "highlight_count": 1},
            "ephemeral": {"events": [
                {"type": "m.typing", "content": {"user_ids": ["@alice:hs", "@bob:hs"]}},
                // Carol's receipt is on a hidden event (a reaction): it shows on the item before.
                {"type": "m.receipt", "content": {"$1": {"m.read": {"@alice:hs": {"ts": 1}}},
                                                  "$r": {"m.read": {"@carol:hs": {"ts": 1}}}}}]}}}}}),
        );
        let shown = items(&engine);
        assert_eq!(shown[0].read_by, ["@alice:hs"]);
        assert_eq!(shown[1].read_by, ["@carol:hs"]);
        let r = engine.room(&room()).unwrap();
        assert_eq!(r.typing(engine.user_id()), ["@alice:hs"]);
        let entry = &engine.room_list()[0];
        assert_eq!((entry.unread, entry.highlights), (2, 1));

        // Reading sends one receipt for the newest event and clears the count.
        let request = engine.read_receipt_request(&room()).unwrap();
        assert!(
            request.uri().path().ends_with("/receipt/m.read/$2"),
            "{}",
            request.uri()
        );
        assert_eq!(engine.room_list()[0].unread, 0);
        assert!(engine.read_receipt_request(&room()).is_none());
    }

    #[test]
    fn direct_rooms_come_from_m_direct() {
        let mut engine = engine();
        assert!(!engine.room_list()[0].is_direct);
        sync(
            &mut engine,
            json!({"next_batch": "s3", "account_data": {"events": [
            {"type": "m.direct", "content": {"@alice:hs": ["!r:hs"]}}]}}),
        );
        assert!(engine.room_list()[0].is_direct);
    }

    #[test]
    fn creators_of_version_12_rooms_outrank_power_levels() {
        let mut engine = engine();
        let create = |version: &str| {
            json!({"type": "m.room.create", "event_id": format!("$c{version}"), "sender": "@alice:hs", "state_key": "",
                   "origin_server_ts": 0, "content": {"room_version": version, "additional_creators": ["@carol:hs"]}})
        };
        let power = json!({"type": "m.room.power_levels", "event_id": "$p", "sender": "@alice:hs", "state_key": "",
                           "origin_server_ts": 0, "content": {"users": {"@bob:hs": 50}}});
        timeline(&mut engine, vec![create("11"), power]);
        let r = engine.room(&room()).unwrap();
        let alice: &ruma::UserId = "@alice:hs".try_into().unwrap();
        let bob: &ruma::UserId = "@bob:hs".try_into().unwrap();
        assert_eq!((r.power_level(alice), r.power_level(bob)), (0, 50));
        assert!(r.can_kick(bob) && !r.can_set_state(alice, "m.room.name"));

        timeline(&mut engine, vec![create("12")]);
        let r = engine.room(&room()).unwrap();
        assert_eq!(r.power_level(alice), i64::MAX);
        assert_eq!(r.power_level("@carol:hs".try_into().unwrap()), i64::MAX);
        assert!(r.can_set_state(alice, "m.room.name"));
        assert_eq!(r.power_level(bob), 50);
    }

    fn encrypt_room(engine: &mut Engine) {
        timeline(
            engine,
            vec![
                json!({"type": "m.room.encryption", "event_id": "$enc", "sender": "@alice:hs",
            "state_key": "", "origin_server_ts": 3, "content": {"algorithm": "m.megolm.v1.aes-sha2"}}),
            ],
        );
    }

    #[track_caller]
    fn queued(result: Result<Outgoing, ApiError>) {
        match result {
            Ok(Outgoing::Now(request)) => panic!(
                "built a plaintext request in an encrypted room: {} {}",
                request.method(),
                request.uri()
            ),
            Ok(Outgoing::Queued) => {}
            Err(error) => panic!("refused: {error}"),
        }
    }

    #[test]
    fn nothing_goes_out_in_the_clear_in_an_encrypted_room() {
        let mut engine = engine();
        // A message sent before the room was encrypted must not be retried in the clear.
        let _ = engine
            .send_message(
                &room(),
                Draft {
                    text: "early".into(),
                    ..Draft::default()
                },
                "t0".into(),
                ts(2),
            )
            .unwrap();
        engine.mark_send_failed(&room(), &"t0".into());
        encrypt_room(&mut engine);
        let one: OwnedEventId = "$1".try_into().unwrap();

        queued(engine.send_message(
            &room(),
            Draft {
                text: "secret".into(),
                ..Draft::default()
            },
            "t1".into(),
            ts(5),
        ));
        queued(engine.send_message(
            &room(),
            Draft {
                text: "/me whispers".into(),
                ..Draft::default()
            },
            "t2".into(),
            ts(5),
        ));
        let reply = Draft {
            text: "re".into(),
            reply_to: Some(one.clone()),
            edit_of: None,
        };
        queued(engine.send_message(&room(), reply, "t3".into(), ts(5)));
        let edit = Draft {
            text: "fixed".into(),
            reply_to: None,
            edit_of: Some(one.clone()),
        };
        queued(engine.send_message(&room(), edit, "t4".into(), ts(5)));
        let mut draft = MediaDraft {
            kind: crate::MediaKind::File,
            url: crate::Mxc::parse("mxc://hs/doc").unwrap(),
            encryption: None,
            filename: "plans.pdf".into(),
            caption: None,
            mimetype: "application/pdf".into(),
            size: 1,
            width: None,
            height: None,
            duration_ms: None,
            thumbnail: None,
            blurhash: None,
        };
        // A file uploaded in the clear is refused, before its upload and at sending.
        assert!(engine.files_need_encryption(&room()));
        assert_eq!(
            engine
                .message_upload_request(&room(), "application/pdf", "plans.pdf", false)
                .unwrap_err(),
            ApiError::EncryptedRoom
        );
        assert!(
            engine
                .send_media(&room(), &draft, "t5".into(), ts(5))
                .is_err()
        );
        // Encrypted, its ciphertext goes up nameless and the message goes out encrypted.
        let upload = engine
            .message_upload_request(&room(), "application/pdf", "plans.pdf", true)
            .unwrap();
        assert_eq!(upload.headers()["content-type"], "application/octet-stream");
        assert!(!upload.uri().to_string().contains("plans"));
        draft.encryption = Some(crate::crypto::attachment::encrypt(b"%PDF").1);
        queued(engine.send_media(&room(), &draft, "t5".into(), ts(5)));
        let echo = engine
            .room(&room())
            .unwrap()
            .timeline()
            .items()
            .iter()
            .rev()
            .find_map(|i| i.media.clone())
            .unwrap();
        assert_eq!(echo.source_file, draft.encryption);
        queued(engine.react(&room(), one.clone(), "👍".into(), "t6".into()));
        queued(engine.retry_send(&room(), &"t0".into()));
        for event_type in [
            "m.call.invite",
            "m.call.answer",
            "m.call.candidates",
            "m.call.hangup",
        ] {
            queued(engine.call_event_request(
                &room(),
                event_type,
                &json!({"call_id": "c", "version": "1"}),
                &format!("t7{event_type}").into(),
            ));
        }
        // Whatever goes out now is a member list or a key request, never an event in the clear.
        for request in engine.outgoing_requests() {
            let path = request.request.uri().path().to_owned();
            assert!(
                !path.contains("/send/m.room.message")
                    && !path.contains("/send/m.reaction")
                    && !path.contains("/send/m.call"),
                "{path}"
            );
        }

        // Never encrypted, so still allowed: deleting, typing, read receipts.
        engine.redact(&room(), one, "t8".into()).unwrap();
        engine.typing_request(&room(), true).unwrap();
        timeline(&mut engine, vec![text("$2", "@alice:hs", "two", 6)]);
        assert!(engine.read_receipt_request(&room()).is_some());
    }

    fn avatar_of(engine: &Engine, user: &str) -> Option<String> {
        let user: &ruma::UserId = user.try_into().unwrap();
        engine
            .room(&room())
            .unwrap()
            .member(user)
            .and_then(|m| m.avatar_url.clone())
    }

    fn pictured(id: &str, user: &str, url: &str, replaces: Option<&str>) -> Value {
        let mut event = json!({"type": "m.room.member", "event_id": id, "sender": user, "state_key": user,
            "origin_server_ts": 10, "content": {"membership": "join", "displayname": "Alice", "avatar_url": url}});
        if let Some(replaces) = replaces {
            event["unsigned"] = json!({"replaces_state": replaces});
        }
        event
    }

    #[test]
    fn an_older_member_event_in_state_does_not_undo_a_newer_one() {
        // Alice's avatar arrives in the timeline; a later sync lists in `state` the member
        // event before it (Synapse does, as the state at the start of a timeline whose
        // first event was created beside the profile update).
        let mut timeline_first = engine();
        timeline(
            &mut timeline_first,
            vec![pictured("$pic", "@alice:hs", "mxc://hs/alice", None)],
        );
        assert_eq!(
            avatar_of(&timeline_first, "@alice:hs").as_deref(),
            Some("mxc://hs/alice")
        );
        sync(
            &mut timeline_first,
            json!({"next_batch": "s3", "rooms": {"join": {"!r:hs": {
            "state": {"events": [member("@alice:hs", "Alice")]},
            "timeline": {"events": [text("$5", "@alice:hs", "hi", 11)]}}}}}),
        );
        assert_eq!(
            avatar_of(&timeline_first, "@alice:hs").as_deref(),
            Some("mxc://hs/alice")
        );

        // The same when we only know the older event from `replaces_state`.
        let mut fresh = engine();
        timeline(
            &mut fresh,
            vec![pictured(
                "$pic",
                "@alice:hs",
                "mxc://hs/alice",
                Some("$old"),
            )],
        );
        sync(
            &mut fresh,
            json!({"next_batch": "s3", "rooms": {"join": {"!r:hs": {
            "state": {"events": [json!({"type": "m.room.member", "event_id": "$old", "sender": "@alice:hs",
                "state_key": "@alice:hs", "origin_server_ts": 1, "content": {"membership": "join"}})]},
            "timeline": {"events": [text("$5", "@alice:hs", "hi", 11)]}}}}}),
        );
        assert_eq!(
            avatar_of(&fresh, "@alice:hs").as_deref(),
            Some("mxc://hs/alice")
        );
    }

    #[test]
    fn the_member_list_brings_later_member_events_for_people_already_listed() {
        let mut engine = engine();
        let members = |events: Vec<Value>| ok(json!({"chunk": events}));
        // Sync missed alice's new avatar (a gap, say): the full member list has it.
        let list = members(vec![
            pictured("$pic", "@alice:hs", "mxc://hs/alice", Some("$m@alice:hs")),
            member("@bob:hs", "Bob"),
        ]);
        engine
            .handle_members_response(
                &room(),
                http::Response::builder()
                    .status(200)
                    .body(&list[..])
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(
            avatar_of(&engine, "@alice:hs").as_deref(),
            Some("mxc://hs/alice")
        );

        // A list computed before a change sync has since brought does not undo it.
        timeline(
            &mut engine,
            vec![pictured(
                "$pic2",
                "@alice:hs",
                "mxc://hs/alice2",
                Some("$pic"),
            )],
        );
        engine
            .handle_members_response(
                &room(),
                http::Response::builder()
                    .status(200)
                    .body(&list[..])
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(
            avatar_of(&engine, "@alice:hs").as_deref(),
            Some("mxc://hs/alice2")
        );
    }

    #[test]
    fn state_repeated_in_the_timeline_is_described_from_its_before() {
        let mut engine = engine();
        let renamed = json!({"type": "m.room.member", "event_id": "$rename", "sender": "@alice:hs",
            "state_key": "@alice:hs", "origin_server_ts": 5,
            "content": {"membership": "join", "displayname": "Ally"}});
        sync(
            &mut engine,
            json!({"next_batch": "s3", "rooms": {"join": {"!r:hs": {
            "state": {"events": [renamed.clone()]}, "timeline": {"events": [renamed]}}}}}),
        );
        assert_eq!(
            items(&engine).pop().unwrap().body,
            "Alice changed their display name to Ally"
        );
    }
}
