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
    event::Event,
    media::Media,
    room::Room,
    timeline::{CallUpdate, Edit, Incoming, ItemKind, ReactionEntry, TimelineItem},
};

/// What `event` does to `room`'s timeline.
///
/// Must be called *before* the event's state is applied to the room, so that changes can be
/// described relative to the previous state ("alice changed their display name to Alice").
pub(crate) fn classify(
    room: &Room,
    event: &Event,
    event_id: OwnedEventId,
    ts: MilliSecondsSinceUnixEpoch,
) -> Incoming {
    let item = |kind: ItemKind, body: String| {
        let mut item = TimelineItem::new(
            event.sender.clone(),
            room.member_name(&event.sender),
            kind,
            body,
            ts,
        );
        item.event_id = Some(event_id.clone());
        item.txn_id = event.unsigned.transaction_id.clone();
        item.sender_avatar = room.member_avatar(&event.sender);
        Incoming::Item(item)
    };
    let actor = || room.member_name(&event.sender);
    let hidden = || Incoming::Hidden(event_id.clone());
    match event.kind.as_str() {
        "m.room.message" => match event.content::<VerificationRequestContent>() {
            // Its body is a fallback for clients without in-room verification, not Weft.
            Some(request) if request.msgtype == "m.key.verification.request" => item(
                ItemKind::State,
                format!(
                    "{} asked {} to verify",
                    actor(),
                    room.member_name(&request.to)
                ),
            ),
            _ => classify_message(event, event_id.clone(), ts, item),
        },
        "m.reaction" => {
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
        "m.room.redaction" => {
            let target = event
                .content::<RedactionContent>()
                .and_then(|c| c.redacts)
                .or_else(|| event.redacts.clone());
            match target {
                Some(target) => Incoming::Redaction { event_id, target },
                None => hidden(),
            }
        }
        "m.call.invite" | "m.call.answer" | "m.call.hangup" | "m.call.reject" => {
            classify_call(event, event_id.clone(), ts, item).unwrap_or_else(hidden)
        }
        "m.room.encrypted" => item(ItemKind::Encrypted, "Encrypted message".to_owned()),
        "m.room.member" => match describe_member(room, event) {
            Some(text) => item(ItemKind::State, text),
            None => hidden(),
        },
        "m.room.name" if event.is_state() => {
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
        "m.room.topic" if event.is_state() => {
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
        "m.room.create" if event.is_state() => {
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
    let (update, shown) = match event.kind.as_str() {
        "m.call.invite" => {
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
        "m.call.answer" => (CallUpdate::Answer { at }, None),
        "m.call.reject" => (CallUpdate::Reject { at }, None),
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
        Some((first, tail)) if first.is_empty() => tail,
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

fn describe_member(room: &Room, event: &Event) -> Option<String> {
    let content: MemberContent = event.content()?;
    let target = <&UserId>::try_from(event.state_key.as_deref()?).ok()?;
    let prev: Option<MemberContent> = event.prev_content();
    // Servers don't always send `prev_content`; what we already know about the member
    // is the same information.
    let prev_membership = prev
        .as_ref()
        .map(|prev| prev.membership.clone())
        .or_else(|| room.member(target).map(|member| member.membership.clone()));
    let actor = room.member_name(&event.sender);
    let old_name = room.member_name(target);
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
