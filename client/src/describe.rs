//! Turns events into what the timeline shows: message text, or a state change in plain words.

use ruma::{UserId, events::room::member::MembershipState};

use crate::{
    content::{MemberContent, MessageContent, NameContent, TopicContent},
    event::Event,
    room::Room,
    timeline::ItemKind,
};

/// How `event` appears in `room`'s timeline, or `None` if it isn't shown at all.
///
/// Must be called *before* the event's state is applied to the room, so that changes can be
/// described relative to the previous state ("alice changed their display name to Alice").
pub(crate) fn describe(room: &Room, event: &Event) -> Option<(ItemKind, String)> {
    let actor = || room.member_name(&event.sender);
    match event.kind.as_str() {
        "m.room.message" => {
            let content: MessageContent = event.content()?;
            match (content.body, content.msgtype.as_deref()) {
                (None, _) => Some((ItemKind::Redacted, "Message deleted".to_owned())),
                (Some(body), Some("m.emote")) => Some((ItemKind::Emote, body)),
                (Some(body), _) => Some((ItemKind::Message, body)),
            }
        }
        "m.room.encrypted" => Some((ItemKind::Encrypted, "Encrypted message".to_owned())),
        "m.room.member" => describe_member(room, event).map(|text| (ItemKind::Notice, text)),
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
            Some((ItemKind::Notice, text))
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
            Some((ItemKind::Notice, text))
        }
        "m.room.create" if event.is_state() => {
            Some((ItemKind::Notice, format!("{} created the room", actor())))
        }
        _ => None,
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
