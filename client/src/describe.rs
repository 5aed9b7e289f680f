//! Turns events into what the timeline shows: messages, relations (edits, reactions,
//! deletions), or a state change in plain words.

use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedUserId, UserId,
    events::room::member::MembershipState,
};

use crate::{
    content::{
        MemberContent, MessageContent, NameContent, ReactionContent, RedactionContent, TopicContent,
    },
    event::{Event, EventKind},
    media::Media,
    member::{self, Members},
    timeline::{CallUpdate, Edit, Incoming, ItemKind, ReactionEntry, TimelineItem},
};

/// What `event` does to the timeline of a room with these `members`.
///
/// Must be called *before* the event's state is applied to the room, so that changes can be
/// described relative to the previous state ("alice changed their display name to Alice").
pub(crate) fn classify(
    members: &Members,
    event: &Event,
    event_id: OwnedEventId,
    ts: MilliSecondsSinceUnixEpoch,
) -> Incoming {
    let item = |kind: ItemKind, body: String| {
        let mut item = TimelineItem::new(
            event.sender.clone(),
            member::name(members, &event.sender),
            kind,
            body,
            ts,
        );
        item.event_id = Some(event_id.clone());
        item.txn_id = event.unsigned.transaction_id.clone();
        item.sender_avatar = member::avatar(members, &event.sender);
        Incoming::Item(item)
    };
    let actor = || member::name(members, &event.sender);
    let hidden = || Incoming::Hidden(event_id.clone());
    match &event.kind {
        EventKind::Message => match event.content::<VerificationRequestContent>() {
            // Its body is a fallback for clients without in-room verification, not Weft.
            Some(request) if request.msgtype == "m.key.verification.request" => item(
                ItemKind::State,
                format!(
                    "{} asked {} to verify",
                    actor(),
                    member::name(members, &request.to)
                ),
            ),
            _ => classify_message(event, event_id.clone(), ts, item),
        },
        EventKind::Reaction => {
            let Some(relates_to) = event
                .content::<ReactionContent>()
                .and_then(|c| c.relates_to)
            else {
                return hidden();
            };
            match (
                relates_to.rel_type.as_deref(),
                relates_to.event_id,
                relates_to.key,
            ) {
                (Some("m.annotation"), Some(target), Some(key)) => {
                    Incoming::Reaction(ReactionEntry {
                        target,
                        key,
                        sender: event.sender.clone(),
                        event_id: Some(event_id),
                        txn_id: event.unsigned.transaction_id.clone(),
                    })
                }
                _ => hidden(),
            }
        }
        EventKind::Redaction => {
            let target = event
                .content::<RedactionContent>()
                .and_then(|c| c.redacts)
                .or_else(|| event.redacts.clone());
            match target {
                Some(target) => Incoming::Redaction { event_id, target },
                None => hidden(),
            }
        }
        EventKind::CallInvite
        | EventKind::CallAnswer
        | EventKind::CallHangup
        | EventKind::CallReject => {
            classify_call(event, event_id.clone(), ts, item).unwrap_or_else(hidden)
        }
        EventKind::Encrypted => item(ItemKind::Encrypted, "Encrypted message".to_owned()),
        EventKind::Member => match describe_member(members, event) {
            Some(text) => item(ItemKind::State, text),
            None => hidden(),
        },
        EventKind::Name if event.is_state() => {
            let name = event
                .content::<NameContent>()
                .map(|c| c.name)
                .unwrap_or_default();
            let text = if name.is_empty() {
                format!("{} removed the room name", actor())
            } else {
                format!("{} changed the room name to {name}", actor())
            };
            item(ItemKind::State, text)
        }
        EventKind::Topic if event.is_state() => {
            let topic = event
                .content::<TopicContent>()
                .map(|c| c.topic)
                .unwrap_or_default();
            let text = if topic.is_empty() {
                format!("{} removed the topic", actor())
            } else {
                format!("{} changed the topic to {topic}", actor())
            };
            item(ItemKind::State, text)
        }
        EventKind::Create if event.is_state() => {
            item(ItemKind::State, format!("{} created the room", actor()))
        }
        _ => hidden(),
    }
}

fn classify_message(
    event: &Event,
    event_id: OwnedEventId,
    ts: MilliSecondsSinceUnixEpoch,
    item: impl Fn(ItemKind, String) -> Incoming,
) -> Incoming {
    let Some(content) = event.content::<MessageContent>() else {
        return item(ItemKind::Redacted, "Message deleted".to_owned());
    };
    if event.unsigned.redacted_because.is_some() || content.body.is_none() {
        return item(ItemKind::Redacted, "Message deleted".to_owned());
    }
    let relates_to = content.relates_to.as_ref();
    if let (Some("m.replace"), Some(target), Some(new)) = (
        relates_to.and_then(|r| r.rel_type.as_deref()),
        relates_to.and_then(|r| r.event_id.clone()),
        content.new_content.as_ref(),
    ) {
        return Incoming::Edit {
            event_id,
            target,
            edit: Edit {
                sender: event.sender.clone(),
                ts,
                kind: kind_of(new.msgtype.as_deref()),
                body: new.body.clone().unwrap_or_default(),
                html: new.html().map(ToOwned::to_owned),
            },
        };
    }
    let reply_to = relates_to
        .and_then(|r| r.in_reply_to.as_ref())
        .map(|r| r.event_id.clone());
    let mut body = content.body.clone().unwrap_or_default();
    let mut html = content.html().map(ToOwned::to_owned);
    if reply_to.is_some() {
        body = strip_reply_fallback(&body);
        html = html.map(|html| strip_html_reply_fallback(&html));
    }
    let Incoming::Item(mut shown) = item(kind_of(content.msgtype.as_deref()), body) else {
        unreachable!("item() always makes an item")
    };
    shown.html = html;
    shown.reply_to = reply_to;
    shown.media = Media::from_content(
        content.msgtype.as_deref(),
        &shown.body,
        content.url.as_deref(),
        content.file.as_deref(),
        content.filename.as_deref(),
        content.info.as_deref(),
    );
    shown.mentions = content.mentions.map(|m| m.user_ids).unwrap_or_default();
    Incoming::Item(shown)
}

/// An in-room verification request (`m.room.message` of msgtype
/// `m.key.verification.request`).
#[derive(serde::Deserialize)]
struct VerificationRequestContent {
    msgtype: String,
    to: OwnedUserId,
}

/// The parts of a call event its line in the history needs.
#[derive(serde::Deserialize)]
struct CallEventContent {
    call_id: String,
    invitee: Option<OwnedUserId>,
    offer: Option<Sdp>,
    reason: Option<String>,
}

#[derive(serde::Deserialize)]
struct Sdp {
    sdp: String,
}

/// A call event: the invite becomes the call's line; the others update it.
fn classify_call(
    event: &Event,
    event_id: OwnedEventId,
    ts: MilliSecondsSinceUnixEpoch,
    item: impl Fn(ItemKind, String) -> Incoming,
) -> Option<Incoming> {
    let content: CallEventContent = event.content()?;
    let at = u64::from(ts.get());
    let sender = event.sender.clone();
    let (update, shown) = match event.kind {
        EventKind::CallInvite => {
            let video = content
                .offer
                .is_some_and(|offer| crate::call::Sdp::new(offer.sdp).has_video());
            let Incoming::Item(mut line) = item(ItemKind::State, String::new()) else {
                return None;
            };
            line.call_id = Some(content.call_id.clone());
            (
                CallUpdate::Invite {
                    caller: sender.clone(),
                    invitee: content.invitee,
                    video,
                    at,
                },
                Some(line),
            )
        }
        EventKind::CallAnswer => (CallUpdate::Answer { at }, None),
        EventKind::CallReject => (CallUpdate::Reject { at }, None),
        _ => (
            CallUpdate::Hangup {
                at,
                reason: content.reason.unwrap_or_else(|| "user_hangup".into()),
            },
            None,
        ),
    };
    Some(Incoming::Call {
        event_id,
        call_id: content.call_id,
        sender,
        update,
        shown,
    })
}

fn kind_of(msgtype: Option<&str>) -> ItemKind {
    match msgtype {
        Some("m.emote") => ItemKind::Emote,
        Some("m.notice") => ItemKind::Notice,
        _ => ItemKind::Message,
    }
}

/// Drops the quoted lines older clients put before a reply's text.
fn strip_reply_fallback(body: &str) -> String {
    if !body.starts_with("> ") {
        return body.to_owned();
    }
    let mut lines = body.lines().skip_while(|line| line.starts_with('>'));
    // The quote is followed by one empty line.
    let rest: Vec<&str> = lines.by_ref().collect();
    let rest = match rest.split_first() {
        Some((&"", tail)) => tail,
        _ => &rest[..],
    };
    rest.join("\n")
}

/// Drops the `<mx-reply>` block from a reply's HTML.
fn strip_html_reply_fallback(html: &str) -> String {
    match (html.find("<mx-reply>"), html.find("</mx-reply>")) {
        (Some(start), Some(end)) if start < end => {
            format!("{}{}", &html[..start], &html[end + "</mx-reply>".len()..])
        }
        _ => html.to_owned(),
    }
}

fn describe_member(members: &Members, event: &Event) -> Option<String> {
    let content: MemberContent = event.content()?;
    let target = <&UserId>::try_from(event.state_key.as_deref()?).ok()?;
    let prev: Option<MemberContent> = event.prev_content();
    // Servers don't always send `prev_content`; what we already know about the member
    // is the same information.
    let prev_membership = prev
        .as_ref()
        .map(|prev| prev.membership.clone())
        .or_else(|| members.get(target).map(|member| member.membership.clone()));
    let actor = member::name(members, &event.sender);
    let old_name = member::name(members, target);
    let new_name = content
        .displayname
        .clone()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| target.localpart().to_owned());
    let by_self = event.sender == target;

    let text = match content.membership {
        MembershipState::Join if prev_membership == Some(MembershipState::Join) => {
            if old_name == new_name {
                // An avatar change or a repeated join: nothing worth a line.
                return None;
            }
            format!("{old_name} changed their display name to {new_name}")
        }
        MembershipState::Join => format!("{new_name} joined the room"),
        MembershipState::Invite => format!("{actor} invited {new_name}"),
        MembershipState::Leave if by_self => match prev_membership {
            Some(MembershipState::Invite) => format!("{old_name} rejected the invitation"),
            _ => format!("{old_name} left the room"),
        },
        MembershipState::Leave => match prev_membership {
            Some(MembershipState::Invite) => format!("{actor} withdrew {old_name}'s invitation"),
            Some(MembershipState::Ban) => format!("{actor} unbanned {old_name}"),
            _ => format!("{actor} removed {old_name}"),
        },
        MembershipState::Ban => format!("{actor} banned {old_name}"),
        MembershipState::Knock => format!("{old_name} asked to join"),
        _ => return None,
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use ruma::{owned_event_id, uint};
    use serde_json::{Value, json};

    use super::*;
    use crate::member::Member;

    /// alice (named "Alice") and bob (no display name) are joined; carol is invited.
    fn members() -> Members {
        let member = |name: Option<&str>, membership| Member {
            display_name: name.map(ToOwned::to_owned),
            membership,
            avatar_url: None,
            event_id: None,
        };
        [
            ("@alice:hs", member(Some("Alice"), MembershipState::Join)),
            ("@bob:hs", member(None, MembershipState::Join)),
            ("@carol:hs", member(Some("Carol"), MembershipState::Invite)),
        ]
        .into_iter()
        .map(|(user, member)| (OwnedUserId::try_from(user).unwrap(), member))
        .collect()
    }

    fn classified(members: &Members, event: Value) -> Incoming {
        let raw = serde_json::value::to_raw_value(&event).unwrap();
        let event = Event::parse(&raw).expect("an event");
        classify(
            members,
            &event,
            owned_event_id!("$e"),
            MilliSecondsSinceUnixEpoch(uint!(1000)),
        )
    }

    /// The item's kind and words, or `None` when the event shows nothing.
    fn shown(event: Value) -> Option<(ItemKind, String)> {
        match classified(&members(), event) {
            Incoming::Item(item) => Some((item.kind, item.body)),
            Incoming::Hidden(_) => None,
            other => panic!("not an item: {other:?}"),
        }
    }

    /// The words of a state change.
    fn said(event: Value) -> String {
        match shown(event) {
            Some((ItemKind::State, text)) => text,
            other => panic!("not a state line: {other:?}"),
        }
    }

    fn state(sender: &str, kind: &str, state_key: &str, content: Value) -> Value {
        json!({"type": kind, "event_id": "$e", "sender": sender, "origin_server_ts": 1000,
               "state_key": state_key, "content": content})
    }

    /// A member event about `target` by `sender`, with what it replaced (`null`: not sent).
    fn member(sender: &str, target: &str, content: Value, prev: Value) -> Value {
        let mut event = state(sender, "m.room.member", target, content);
        if !prev.is_null() {
            event["unsigned"] = json!({"prev_content": prev});
        }
        event
    }

    fn message(sender: &str, content: Value) -> Value {
        json!({"type": "m.room.message", "event_id": "$e", "sender": sender,
               "origin_server_ts": 1000, "content": content})
    }

    #[test]
    fn joins_use_the_new_name_and_renames_both() {
        let join = json!({"membership": "join", "displayname": "Dave"});
        assert_eq!(
            said(member("@dave:hs", "@dave:hs", join, Value::Null)),
            "Dave joined the room"
        );
        let join = json!({"membership": "join"});
        assert_eq!(
            said(member("@dave:hs", "@dave:hs", join, Value::Null)),
            "dave joined the room",
            "without a display name, the localpart"
        );
        let renamed = json!({"membership": "join", "displayname": "Ally"});
        let before = json!({"membership": "join", "displayname": "Alice"});
        assert_eq!(
            said(member("@alice:hs", "@alice:hs", renamed.clone(), before)),
            "Alice changed their display name to Ally"
        );
        // Without `prev_content`, what the room knows of alice says she was joined.
        assert_eq!(
            said(member("@alice:hs", "@alice:hs", renamed, Value::Null)),
            "Alice changed their display name to Ally"
        );
    }

    #[test]
    fn an_avatar_change_or_a_repeated_join_shows_nothing() {
        let same =
            json!({"membership": "join", "displayname": "Alice", "avatar_url": "mxc://hs/a"});
        let before = json!({"membership": "join", "displayname": "Alice"});
        assert_eq!(shown(member("@alice:hs", "@alice:hs", same, before)), None);
    }

    #[test]
    fn invitations_and_their_ends() {
        let invite = json!({"membership": "invite", "displayname": "Dave"});
        assert_eq!(
            said(member("@alice:hs", "@dave:hs", invite, Value::Null)),
            "Alice invited Dave"
        );
        let leave = json!({"membership": "leave"});
        let invited = json!({"membership": "invite"});
        assert_eq!(
            said(member(
                "@carol:hs",
                "@carol:hs",
                leave.clone(),
                invited.clone()
            )),
            "Carol rejected the invitation"
        );
        assert_eq!(
            said(member("@alice:hs", "@carol:hs", leave.clone(), invited)),
            "Alice withdrew Carol's invitation"
        );
        // carol is known as invited: the same words without `prev_content`.
        assert_eq!(
            said(member("@carol:hs", "@carol:hs", leave, Value::Null)),
            "Carol rejected the invitation"
        );
    }

    #[test]
    fn leaving_removing_banning_and_knocking() {
        let leave = json!({"membership": "leave"});
        let joined = json!({"membership": "join"});
        assert_eq!(
            said(member("@bob:hs", "@bob:hs", leave.clone(), joined.clone())),
            "bob left the room"
        );
        assert_eq!(
            said(member("@alice:hs", "@bob:hs", leave.clone(), joined)),
            "Alice removed bob"
        );
        let ban = json!({"membership": "ban"});
        assert_eq!(
            said(member("@alice:hs", "@bob:hs", ban.clone(), Value::Null)),
            "Alice banned bob"
        );
        assert_eq!(
            said(member("@alice:hs", "@bob:hs", leave, ban)),
            "Alice unbanned bob"
        );
        let knock = json!({"membership": "knock", "displayname": "Dave"});
        assert_eq!(
            said(member("@dave:hs", "@dave:hs", knock, Value::Null)),
            "dave asked to join",
            "a knocker is named as the room knows them"
        );
    }

    #[test]
    fn a_member_event_without_a_user_id_for_state_key_shows_nothing() {
        let join = json!({"membership": "join"});
        assert_eq!(shown(member("@bob:hs", "bob", join, Value::Null)), None);
    }

    #[test]
    fn room_name_and_topic_changes() {
        assert_eq!(
            said(state(
                "@alice:hs",
                "m.room.name",
                "",
                json!({"name": "Lobby"})
            )),
            "Alice changed the room name to Lobby"
        );
        assert_eq!(
            said(state("@bob:hs", "m.room.name", "", json!({"name": ""}))),
            "bob removed the room name"
        );
        assert_eq!(
            said(state("@bob:hs", "m.room.name", "", json!({}))),
            "bob removed the room name"
        );
        assert_eq!(
            said(state(
                "@alice:hs",
                "m.room.topic",
                "",
                json!({"topic": "Plans"})
            )),
            "Alice changed the topic to Plans"
        );
        assert_eq!(
            said(state("@alice:hs", "m.room.topic", "", json!({"topic": ""}))),
            "Alice removed the topic"
        );
        assert_eq!(
            said(state("@alice:hs", "m.room.create", "", json!({}))),
            "Alice created the room"
        );
    }

    #[test]
    fn state_types_sent_as_messages_and_unknown_types_show_nothing() {
        let name = json!({"type": "m.room.name", "event_id": "$e", "sender": "@alice:hs",
                          "origin_server_ts": 1000, "content": {"name": "Lobby"}});
        assert_eq!(shown(name), None);
        assert_eq!(
            shown(state("@alice:hs", "m.room.power_levels", "", json!({}))),
            None
        );
        let mut custom = message("@alice:hs", json!({"body": "x"}));
        custom["type"] = json!("org.example.custom");
        assert_eq!(shown(custom), None);
    }

    #[test]
    fn messages_by_msgtype() {
        let text = |msgtype: &str| {
            shown(message(
                "@alice:hs",
                json!({"msgtype": msgtype, "body": "hello"}),
            ))
        };
        assert_eq!(text("m.text"), Some((ItemKind::Message, "hello".into())));
        assert_eq!(text("m.emote"), Some((ItemKind::Emote, "hello".into())));
        assert_eq!(text("m.notice"), Some((ItemKind::Notice, "hello".into())));
        let Incoming::Item(item) = classified(
            &members(),
            message("@alice:hs", json!({"msgtype": "m.text", "body": "hi"})),
        ) else {
            panic!("an item")
        };
        assert_eq!(item.sender_name, "Alice");
        assert_eq!(item.event_id, Some(owned_event_id!("$e")));
    }

    #[test]
    fn deleted_messages_say_so() {
        let redacted = json!({"type": "m.room.message", "event_id": "$e", "sender": "@alice:hs",
                              "origin_server_ts": 1000, "content": {},
                              "unsigned": {"redacted_because": {"type": "m.room.redaction"}}});
        assert_eq!(
            shown(redacted),
            Some((ItemKind::Redacted, "Message deleted".into()))
        );
        assert_eq!(
            shown(message("@alice:hs", json!({"msgtype": "m.text"}))),
            Some((ItemKind::Redacted, "Message deleted".into())),
            "no body: what a redaction leaves"
        );
    }

    #[test]
    fn replies_lose_their_quoted_fallback() {
        let reply = message(
            "@bob:hs",
            json!({"msgtype": "m.text", "body": "> <@alice:hs> hi\n> there\n\nhello back",
                   "format": "org.matrix.custom.html",
                   "formatted_body": "<mx-reply><blockquote>hi</blockquote></mx-reply><b>hello</b> back",
                   "m.relates_to": {"m.in_reply_to": {"event_id": "$1"}}}),
        );
        let Incoming::Item(item) = classified(&members(), reply) else {
            panic!("an item")
        };
        assert_eq!(item.body, "hello back");
        assert_eq!(item.html.as_deref(), Some("<b>hello</b> back"));
        assert_eq!(item.reply_to, Some(owned_event_id!("$1")));
        // A message that merely starts with "> " and replies to nothing keeps its quote.
        assert_eq!(
            shown(message(
                "@bob:hs",
                json!({"msgtype": "m.text", "body": "> quoted"})
            )),
            Some((ItemKind::Message, "> quoted".into()))
        );
    }

    #[test]
    fn edits_and_reactions_are_relations() {
        let edit = message(
            "@alice:hs",
            json!({"msgtype": "m.text", "body": "* fixed",
                   "m.new_content": {"msgtype": "m.emote", "body": "fixed"},
                   "m.relates_to": {"rel_type": "m.replace", "event_id": "$1"}}),
        );
        let Incoming::Edit { target, edit, .. } = classified(&members(), edit) else {
            panic!("an edit")
        };
        assert_eq!(target, owned_event_id!("$1"));
        assert_eq!((edit.kind, edit.body.as_str()), (ItemKind::Emote, "fixed"));

        let reaction = |relates_to: Value| {
            json!({"type": "m.reaction", "event_id": "$e", "sender": "@bob:hs",
                   "origin_server_ts": 1000, "content": {"m.relates_to": relates_to}})
        };
        let Incoming::Reaction(entry) = classified(
            &members(),
            reaction(json!({"rel_type": "m.annotation", "event_id": "$1", "key": "👍"})),
        ) else {
            panic!("a reaction")
        };
        assert_eq!((entry.target.as_str(), entry.key.as_str()), ("$1", "👍"));
        assert!(matches!(
            classified(
                &members(),
                reaction(json!({"rel_type": "m.reference", "event_id": "$1", "key": "👍"}))
            ),
            Incoming::Hidden(_)
        ));
    }

    #[test]
    fn redactions_name_their_target_in_the_content_or_the_event() {
        let redaction = |content: Value, redacts: Option<&str>| {
            let mut event = json!({"type": "m.room.redaction", "event_id": "$e",
                                   "sender": "@alice:hs", "origin_server_ts": 1000,
                                   "content": content});
            if let Some(redacts) = redacts {
                event["redacts"] = json!(redacts);
            }
            classified(&members(), event)
        };
        let target = |incoming| match incoming {
            Incoming::Redaction { target, .. } => Some(target.to_string()),
            _ => None,
        };
        assert_eq!(
            target(redaction(json!({"redacts": "$1"}), None)).as_deref(),
            Some("$1")
        );
        assert_eq!(
            target(redaction(json!({}), Some("$2"))).as_deref(),
            Some("$2"),
            "room versions before 11"
        );
        assert!(matches!(redaction(json!({}), None), Incoming::Hidden(_)));
    }

    #[test]
    fn encrypted_events_and_verification_requests() {
        let encrypted = json!({"type": "m.room.encrypted", "event_id": "$e", "sender": "@bob:hs",
                               "origin_server_ts": 1000, "content": {"algorithm": "m.megolm.v1.aes-sha2"}});
        assert_eq!(
            shown(encrypted),
            Some((ItemKind::Encrypted, "Encrypted message".into()))
        );
        let request = message(
            "@alice:hs",
            json!({"msgtype": "m.key.verification.request", "body": "Alice wants to verify",
                   "to": "@bob:hs", "from_device": "D", "methods": ["m.sas.v1"]}),
        );
        assert_eq!(said(request), "Alice asked bob to verify");
    }

    #[test]
    fn calls_update_one_record_and_the_invite_is_its_line() {
        let call = |kind: &str, content: Value| {
            classified(
                &members(),
                json!({"type": kind, "event_id": "$e", "sender": "@alice:hs",
                       "origin_server_ts": 1000, "content": content}),
            )
        };
        let sdp = |sdp: &str| json!({"type": "offer", "sdp": sdp});
        let Incoming::Call {
            call_id,
            update: CallUpdate::Invite { video, at, .. },
            shown: Some(line),
            ..
        } = call(
            "m.call.invite",
            json!({"call_id": "c1", "version": "1", "lifetime": 60000,
                   "offer": sdp("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n")}),
        )
        else {
            panic!("an invite with its line")
        };
        assert_eq!((call_id.as_str(), video, at), ("c1", true, 1000));
        assert_eq!(line.call_id.as_deref(), Some("c1"));
        let Incoming::Call {
            update: CallUpdate::Invite { video, .. },
            ..
        } = call(
            "m.call.invite",
            json!({"call_id": "c2", "version": "1", "lifetime": 60000,
                   "offer": sdp("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n")}),
        )
        else {
            panic!("an invite")
        };
        assert!(!video, "voice only");
        assert!(matches!(
            call("m.call.answer", json!({"call_id": "c1", "version": "1"})),
            Incoming::Call {
                update: CallUpdate::Answer { at: 1000 },
                shown: None,
                ..
            }
        ));
        assert!(matches!(
            call("m.call.reject", json!({"call_id": "c1", "version": "1"})),
            Incoming::Call {
                update: CallUpdate::Reject { .. },
                shown: None,
                ..
            }
        ));
        let Incoming::Call {
            update: CallUpdate::Hangup { reason, .. },
            ..
        } = call("m.call.hangup", json!({"call_id": "c1", "version": "1"}))
        else {
            panic!("a hangup")
        };
        assert_eq!(reason, "user_hangup", "the spec's default reason");
        assert!(
            matches!(
                call("m.call.hangup", json!({"version": "1"})),
                Incoming::Hidden(_)
            ),
            "no call ID: nothing to update"
        );
    }
}
