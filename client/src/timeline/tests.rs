//! The timeline on its own: order, local and remote echoes, relations (edits, reactions,
//! redactions) whenever they arrive, pages of history, and what each change reports.

use ruma::UInt;

use super::*;
use crate::media::MediaKind;

fn id(event_id: &str) -> OwnedEventId {
    event_id.try_into().unwrap()
}

fn user(name: &str) -> OwnedUserId {
    format!("@{name}:hs").try_into().unwrap()
}

fn txn(txn_id: &str) -> OwnedTransactionId {
    txn_id.into()
}

fn ts(at: u32) -> MilliSecondsSinceUnixEpoch {
    MilliSecondsSinceUnixEpoch(UInt::from(at))
}

/// A sent message `event_id` from `sender`.
fn message(event_id: &str, sender: &str, body: &str, at: u32) -> TimelineItem {
    let mut item = TimelineItem::new(
        user(sender),
        sender.to_owned(),
        ItemKind::Message,
        body.to_owned(),
        ts(at),
    );
    item.event_id = Some(id(event_id));
    item
}

fn msg(event_id: &str, sender: &str, body: &str, at: u32) -> Incoming {
    Incoming::Item(message(event_id, sender, body, at))
}

fn state(event_id: &str, sender: &str, body: &str) -> Incoming {
    let mut item = message(event_id, sender, body, 0);
    item.kind = ItemKind::State;
    Incoming::Item(item)
}

/// Our message under `txn_id`, not yet acknowledged.
fn local(txn_id: &str, body: &str) -> TimelineItem {
    let mut item = TimelineItem::new(
        user("me"),
        "me".to_owned(),
        ItemKind::Message,
        body.to_owned(),
        ts(1000),
    );
    item.txn_id = Some(txn(txn_id));
    item.send_state = SendState::Pending;
    item
}

fn edit(event_id: &str, target: &str, sender: &str, body: &str, at: u32) -> Incoming {
    Incoming::Edit {
        event_id: id(event_id),
        target: id(target),
        edit: Edit {
            sender: user(sender),
            ts: ts(at),
            kind: ItemKind::Message,
            body: body.to_owned(),
            html: Some(format!("<b>{body}</b>")),
        },
    }
}

fn reaction(
    event_id: Option<&str>,
    target: &str,
    key: &str,
    sender: &str,
    txn_id: Option<&str>,
) -> ReactionEntry {
    ReactionEntry {
        target: id(target),
        key: key.to_owned(),
        sender: user(sender),
        event_id: event_id.map(id),
        txn_id: txn_id.map(txn),
    }
}

fn react(event_id: &str, target: &str, key: &str, sender: &str) -> Incoming {
    Incoming::Reaction(reaction(Some(event_id), target, key, sender, None))
}

fn redaction(event_id: &str, target: &str) -> Incoming {
    Incoming::Redaction {
        event_id: id(event_id),
        target: id(target),
    }
}

/// A timeline holding `events` from sync, its changes so far taken.
fn timeline(events: Vec<Incoming>) -> Timeline {
    let mut timeline = Timeline::default();
    for event in events {
        assert!(timeline.push_back(event));
    }
    timeline.take_diffs();
    timeline
}

fn bodies(timeline: &Timeline) -> Vec<String> {
    timeline.items().into_iter().map(|item| item.body).collect()
}

fn update(key: &str) -> ItemDiff {
    ItemDiff::Update(key.to_owned())
}

#[test]
fn items_keep_the_servers_order_and_report_each_append() {
    let mut timeline = Timeline::default();
    assert!(timeline.is_empty());
    // Timestamps do not reorder: the server's order is the order.
    assert!(timeline.push_back(msg("$1", "alice", "one", 30)));
    assert!(timeline.push_back(state("$2", "bob", "bob joined the room")));
    assert!(timeline.push_back(msg("$3", "alice", "three", 10)));
    assert_eq!(bodies(&timeline), ["one", "bob joined the room", "three"]);
    assert_eq!(timeline.keys(), ["$1", "$2", "$3"]);
    assert_eq!(timeline.len(), 3);
    assert_eq!(
        timeline.take_diffs(),
        [
            ItemDiff::PushBack("$1".into()),
            ItemDiff::PushBack("$2".into()),
            ItemDiff::PushBack("$3".into())
        ]
    );
    assert!(timeline.take_diffs().is_empty(), "taken means taken");
    assert_eq!(
        timeline.latest_remote().and_then(|i| i.event_id.clone()),
        Some(id("$3"))
    );
    assert!(timeline.contains(&id("$2")) && !timeline.contains(&id("$4")));
    assert_eq!(timeline.item(&id("$3")).unwrap().body, "three");
    assert_eq!(timeline.key_of(&id("$2")).as_deref(), Some("$2"));
    assert_eq!(timeline.item_by_key("$1").unwrap().body, "one");
    assert_eq!(timeline.item_by_key("$9"), None);
}

#[test]
fn an_event_seen_twice_is_kept_once() {
    let mut timeline = timeline(vec![
        msg("$1", "alice", "one", 1),
        react("$r", "$1", "👍", "bob"),
    ]);
    // A retried sync repeats events: the second copy changes nothing, even a newer one.
    assert!(!timeline.push_back(msg("$1", "alice", "changed", 2)));
    assert!(!timeline.push_back(react("$r", "$1", "👍", "bob")));
    assert!(!timeline.push_back(edit("$r", "$1", "alice", "not an edit", 3)));
    assert_eq!(bodies(&timeline), ["one"]);
    assert_eq!(timeline.items()[0].reactions[0].senders, [user("bob")]);
    assert!(!timeline.items()[0].edited);
    assert!(timeline.take_diffs().is_empty());
    // A page of history overlapping what sync brought adds only what is new.
    timeline.push_front(vec![
        msg("$0", "alice", "zero", 0),
        msg("$1", "alice", "one", 1),
    ]);
    assert_eq!(timeline.keys(), ["$0", "$1"]);
    assert_eq!(
        timeline.take_diffs(),
        [ItemDiff::PushFront(vec!["$0".into()])]
    );
    // An event without an ID (which a server never sends) is not taken.
    let mut anonymous = message("$x", "alice", "?", 1);
    anonymous.event_id = None;
    assert!(!timeline.push_back(Incoming::Item(anonymous)));
    assert_eq!(timeline.len(), 2);
}

#[test]
fn local_echoes_stay_below_the_servers_events() {
    let mut timeline = timeline(vec![msg("$1", "alice", "one", 1)]);
    timeline.push_local(local("t1", "mine"));
    assert!(timeline.push_back(msg("$2", "alice", "two", 2)));
    assert_eq!(bodies(&timeline), ["one", "two", "mine"]);
    assert_eq!(timeline.keys(), ["$1", "$2", "txn:t1"]);
    assert_eq!(
        timeline.take_diffs(),
        [
            ItemDiff::PushBack("txn:t1".into()),
            ItemDiff::PushBack("$2".into())
        ]
    );
    let mine = timeline.item_by_key("txn:t1").unwrap();
    assert_eq!((mine.event_id, mine.send_state), (None, SendState::Pending));
    // The newest item from the server is what a read receipt may point at.
    assert_eq!(
        timeline.latest_remote().and_then(|i| i.event_id.clone()),
        Some(id("$2"))
    );
}

#[test]
fn the_remote_echo_takes_the_local_echos_place_and_key() {
    let mut timeline = timeline(vec![msg("$1", "alice", "one", 1)]);
    timeline.push_local(local("t1", "first"));
    timeline.push_local(local("t2", "second"));
    timeline.take_diffs();
    // Matched by transaction ID (the server echoes it to the sending device).
    let mut echo = message("$e1", "me", "first", 5);
    echo.txn_id = Some(txn("t1"));
    assert!(timeline.push_back(Incoming::Item(echo)));
    assert_eq!(timeline.keys(), ["$1", "txn:t1", "txn:t2"]);
    assert_eq!(
        timeline.take_diffs(),
        [ItemDiff::Confirmed("txn:t1".into())]
    );
    let confirmed = timeline.item_by_key("txn:t1").unwrap();
    assert_eq!(confirmed.event_id, Some(id("$e1")));
    assert_eq!(confirmed.send_state, SendState::Sent);
    assert_eq!(confirmed.origin_server_ts, ts(5), "the server's copy wins");

    // Matched by the event ID of the send response (a server that omits it).
    timeline.mark_sent(&txn("t2"), id("$e2"));
    assert_eq!(timeline.take_diffs(), [update("txn:t2")]);
    let sent = timeline.item_by_key("txn:t2").unwrap();
    assert_eq!(
        (sent.event_id, sent.send_state),
        (Some(id("$e2")), SendState::Sent)
    );
    assert!(timeline.push_back(msg("$e2", "me", "second", 6)));
    assert_eq!(
        timeline.take_diffs(),
        [ItemDiff::Confirmed("txn:t2".into())]
    );
    assert_eq!(timeline.keys(), ["$1", "txn:t1", "txn:t2"]);
    assert_eq!(bodies(&timeline), ["one", "first", "second"]);
    assert_eq!(timeline.len(), 3, "no copy is left behind");
}

#[test]
fn a_remote_echo_before_the_send_response_removes_the_local_echo_once_sent() {
    let mut timeline = Timeline::default();
    timeline.push_local(local("t1", "hi"));
    // No transaction ID and no event ID yet: it cannot be matched, so both show...
    assert!(timeline.push_back(msg("$h", "me", "hi", 5)));
    assert_eq!(timeline.keys(), ["$h", "txn:t1"]);
    timeline.take_diffs();
    // ...until the send response names the event already received.
    timeline.mark_sent(&txn("t1"), id("$h"));
    assert_eq!(timeline.take_diffs(), [ItemDiff::Remove("txn:t1".into())]);
    assert_eq!(timeline.keys(), ["$h"]);
    // A second response for it changes nothing.
    timeline.mark_sent(&txn("t1"), id("$h"));
    assert!(timeline.take_diffs().is_empty());
}

#[test]
fn a_local_echo_records_its_send_state_and_encryption() {
    let mut timeline = Timeline::default();
    timeline.push_local(local("t1", "hi"));
    timeline.take_diffs();
    timeline.set_send_state(&txn("t1"), SendState::Failed);
    timeline.mark_local_encrypted(&txn("t1"));
    assert_eq!(timeline.take_diffs(), [update("txn:t1"), update("txn:t1")]);
    let item = timeline.item_by_key("txn:t1").unwrap();
    assert_eq!(item.send_state, SendState::Failed);
    assert!(item.encrypted);
    // Unknown transactions are ignored.
    timeline.set_send_state(&txn("t9"), SendState::Sent);
    timeline.mark_local_encrypted(&txn("t9"));
    timeline.mark_sent(&txn("t9"), id("$9"));
    assert!(timeline.take_diffs().is_empty());
}

#[test]
fn the_senders_latest_edit_shows_whenever_it_arrived() {
    let mut timeline = timeline(vec![
        msg("$1", "alice", "one", 1),
        msg("$2", "bob", "two", 2),
    ]);
    assert!(timeline.push_back(edit("$e2", "$1", "alice", "newest", 20)));
    assert!(timeline.push_back(edit("$e1", "$1", "alice", "older", 10)));
    // Only the original sender may edit.
    assert!(timeline.push_back(edit("$e3", "$1", "bob", "bob's", 30)));
    assert_eq!(
        timeline.take_diffs(),
        [update("$1"), update("$1"), update("$1")]
    );
    let edited = timeline.item(&id("$1")).unwrap();
    assert_eq!(edited.body, "newest");
    assert_eq!(edited.html.as_deref(), Some("<b>newest</b>"));
    assert!(edited.edited);
    let untouched = timeline.item(&id("$2")).unwrap();
    assert!(!untouched.edited && untouched.body == "two");
    // Edits are not items: nothing was added.
    assert_eq!(timeline.keys(), ["$1", "$2"]);
    // Only bob's edit touches bob's message, and none touches a room change.
    assert!(timeline.push_back(edit("$e4", "$2", "bob", "deux", 3)));
    assert!(timeline.push_back(state("$3", "bob", "bob changed the topic")));
    assert!(timeline.push_back(edit("$e5", "$3", "bob", "nope", 4)));
    assert_eq!(
        bodies(&timeline),
        ["newest", "deux", "bob changed the topic"]
    );

    // An edit that came before its target (back-pagination brings the edit first).
    let mut timeline = Timeline::default();
    assert!(timeline.push_back(edit("$e", "$0", "alice", "fixed", 5)));
    assert!(timeline.take_diffs().is_empty(), "nothing shown changed");
    timeline.push_front(vec![msg("$0", "alice", "typo", 0)]);
    assert_eq!(bodies(&timeline), ["fixed"]);
    assert!(timeline.items()[0].edited);
}

#[test]
fn editing_a_media_message_changes_its_caption() {
    let mut photo = message("$p", "alice", "cat.png", 1);
    photo.media = Some(Media {
        kind: MediaKind::Image,
        source: Mxc::parse("mxc://hs/cat").unwrap(),
        source_file: None,
        filename: "cat.png".into(),
        caption: None,
        mimetype: Some("image/png".into()),
        size: None,
        width: None,
        height: None,
        duration_ms: None,
        thumbnail: None,
        thumbnail_file: None,
        blurhash: None,
    });
    let mut timeline = timeline(vec![Incoming::Item(photo)]);
    timeline.push_back(edit("$e1", "$p", "alice", "my cat", 2));
    let media = timeline.item(&id("$p")).unwrap().media.unwrap();
    assert_eq!(media.caption.as_deref(), Some("my cat"));
    assert_eq!(media.filename, "cat.png");
    // An edit back to the bare file name takes the caption away.
    timeline.push_back(edit("$e2", "$p", "alice", "cat.png", 3));
    let media = timeline.item(&id("$p")).unwrap().media.unwrap();
    assert_eq!(media.caption, None);
}

#[test]
fn a_redacted_message_shows_as_deleted() {
    let mut reply = message("$2", "bob", "yes", 2);
    reply.reply_to = Some(id("$1"));
    reply.html = Some("<i>yes</i>".into());
    let mut timeline = timeline(vec![msg("$1", "alice", "one", 1), Incoming::Item(reply)]);
    timeline.push_back(edit("$e", "$2", "bob", "yes!", 3));
    timeline.take_diffs();
    assert!(timeline.push_back(redaction("$x", "$2")));
    assert_eq!(timeline.take_diffs(), [update("$2")]);
    let deleted = timeline.item(&id("$2")).unwrap();
    assert_eq!(deleted.kind, ItemKind::Redacted);
    assert_eq!(deleted.body, "Message deleted");
    assert_eq!((&deleted.html, &deleted.reply_to), (&None, &None));
    assert!(!deleted.is_message(), "nobody can reply to it or edit it");
    assert_eq!(
        timeline.item(&id("$1")).unwrap().body,
        "one",
        "only its target"
    );
    assert_eq!(timeline.keys(), ["$1", "$2"], "it keeps its place");
    assert_eq!(
        timeline.latest_message_like().unwrap().body,
        "Message deleted"
    );

    // Our own redaction failed to send: the message comes back, edit and all.
    timeline.unredact(&id("$2"));
    assert_eq!(timeline.take_diffs(), [update("$2")]);
    assert_eq!(timeline.item(&id("$2")).unwrap().body, "yes!");

    // A redaction that came before its target (back-pagination).
    let mut timeline = Timeline::default();
    timeline.push_back(redaction("$x", "$0"));
    timeline.push_front(vec![msg("$0", "alice", "secret", 0)]);
    assert_eq!(bodies(&timeline), ["Message deleted"]);
}

#[test]
fn reactions_are_counted_per_key_once_per_person() {
    let mut timeline = timeline(vec![
        msg("$1", "alice", "one", 1),
        msg("$2", "alice", "two", 2),
    ]);
    for event in [
        react("$r1", "$1", "👍", "bob"),
        react("$r2", "$1", "🎉", "carol"),
        react("$r3", "$1", "👍", "carol"),
        // Bob again with the same key, from another device: still one.
        react("$r4", "$1", "👍", "bob"),
    ] {
        assert!(timeline.push_back(event));
    }
    assert_eq!(timeline.take_diffs(), vec![update("$1"); 4]);
    let item = timeline.item(&id("$1")).unwrap();
    let shown: Vec<_> = item
        .reactions
        .iter()
        .map(|r| (r.key.as_str(), r.senders.clone()))
        .collect();
    assert_eq!(
        shown,
        [
            ("👍", vec![user("bob"), user("carol")]),
            ("🎉", vec![user("carol")])
        ],
        "keys in the order they first appeared, people in the order they reacted"
    );
    assert!(timeline.item(&id("$2")).unwrap().reactions.is_empty());
    assert_eq!(timeline.keys(), ["$1", "$2"], "reactions are not items");

    // Taking one back (redacting the reaction) removes only that person's.
    timeline.push_back(redaction("$x", "$r3"));
    assert!(timeline.take_diffs().contains(&update("$1")));
    let item = timeline.item(&id("$1")).unwrap();
    assert_eq!(item.reactions[0].senders, [user("bob")]);
    // The last reaction with a key goes, and its key with it.
    timeline.push_back(redaction("$y", "$r2"));
    let item = timeline.item(&id("$1")).unwrap();
    assert_eq!(item.reactions.len(), 1);
    assert_eq!(item.reactions[0].key, "👍");
}

#[test]
fn our_reaction_goes_from_sending_to_sent_and_its_echo_does_not_count_twice() {
    let me = user("me");
    let mut timeline = timeline(vec![msg("$1", "alice", "one", 1)]);
    timeline.add_reaction(reaction(None, "$1", "👍", "me", Some("t1")));
    assert_eq!(timeline.take_diffs(), [update("$1")]);
    assert_eq!(timeline.own_reaction(&id("$1"), "👍", &me), Some(None));
    assert_eq!(timeline.own_reaction(&id("$1"), "🎉", &me), None);
    let mut item = timeline.item(&id("$1")).unwrap();
    timeline.mark_own_reactions(&mut item, &me);
    assert!(item.reactions[0].own);
    assert_eq!(
        item.reactions[0].own_event, None,
        "nothing to take back yet"
    );

    timeline.reaction_sent(&txn("t1"), id("$r"));
    assert_eq!(timeline.take_diffs(), [update("$1")]);
    assert_eq!(
        timeline.own_reaction(&id("$1"), "👍", &me),
        Some(Some(id("$r")))
    );
    // The remote echo (with our transaction ID) replaces the local one.
    timeline.push_back(Incoming::Reaction(reaction(
        Some("$r"),
        "$1",
        "👍",
        "me",
        Some("t1"),
    )));
    let mut item = timeline.item(&id("$1")).unwrap();
    timeline.mark_own_reactions(&mut item, &me);
    assert_eq!(item.reactions.len(), 1);
    assert_eq!(item.reactions[0].senders, [user("me")]);
    assert_eq!(item.reactions[0].own_event, Some(id("$r")));

    // The remote echo may come before the send response: then it is sent, not sending.
    timeline.add_reaction(reaction(None, "$1", "🎉", "me", Some("t2")));
    timeline.push_back(Incoming::Reaction(reaction(
        Some("$r2"),
        "$1",
        "🎉",
        "me",
        Some("t2"),
    )));
    assert_eq!(
        timeline.own_reaction(&id("$1"), "🎉", &me),
        Some(Some(id("$r2")))
    );
    // Others' reactions are not ours.
    timeline.push_back(react("$b", "$1", "👀", "bob"));
    let mut item = timeline.item(&id("$1")).unwrap();
    timeline.mark_own_reactions(&mut item, &me);
    let own: Vec<_> = item
        .reactions
        .iter()
        .map(|r| (r.key.as_str(), r.own))
        .collect();
    assert_eq!(own, [("👍", true), ("🎉", true), ("👀", false)]);
}

#[test]
fn a_reaction_that_failed_to_send_is_dropped_but_a_sent_one_stays() {
    let me = user("me");
    let mut timeline = timeline(vec![msg("$1", "alice", "one", 1)]);
    timeline.add_reaction(reaction(None, "$1", "👍", "me", Some("t1")));
    timeline.add_reaction(reaction(None, "$1", "🎉", "me", Some("t2")));
    timeline.reaction_sent(&txn("t2"), id("$r2"));
    timeline.take_diffs();
    timeline.reaction_failed(&txn("t1"));
    timeline.reaction_failed(&txn("t2"));
    assert_eq!(timeline.take_diffs(), [update("$1")], "only t1 went");
    assert_eq!(timeline.own_reaction(&id("$1"), "👍", &me), None);
    assert_eq!(
        timeline.own_reaction(&id("$1"), "🎉", &me),
        Some(Some(id("$r2")))
    );
    let keys: Vec<_> = timeline.items()[0]
        .reactions
        .iter()
        .map(|r| r.key.clone())
        .collect();
    assert_eq!(keys, ["🎉"]);
}

#[test]
fn a_page_of_history_goes_in_front_oldest_first() {
    let mut timeline = timeline(vec![msg("$3", "alice", "three", 3)]);
    timeline.push_local(local("t1", "mine"));
    timeline.take_diffs();
    timeline.push_front(vec![
        msg("$1", "alice", "one", 1),
        react("$r", "$1", "👍", "bob"),
        msg("$2", "bob", "two", 2),
    ]);
    assert_eq!(timeline.keys(), ["$1", "$2", "$3", "txn:t1"]);
    assert_eq!(
        timeline.take_diffs(),
        [ItemDiff::PushFront(vec!["$1".into(), "$2".into()])],
        "one diff for the page, naming only items"
    );
    assert_eq!(timeline.items()[0].reactions.len(), 1);
    // An older page again goes in front of that.
    timeline.push_front(vec![msg("$0", "alice", "zero", 0)]);
    assert_eq!(timeline.keys(), ["$0", "$1", "$2", "$3", "txn:t1"]);
    // A page of only relations adds no items and says so with no diff.
    timeline.take_diffs();
    timeline.push_front(vec![react("$r0", "$9", "👍", "bob")]);
    assert!(timeline.take_diffs().is_empty());
    assert_eq!(timeline.len(), 5);
}

#[test]
fn hidden_events_and_relations_stand_at_the_item_before_them() {
    let mut timeline = timeline(vec![msg("$1", "alice", "one", 1)]);
    timeline.push_back(Incoming::Hidden(id("$h")));
    timeline.push_back(react("$r", "$1", "👍", "bob"));
    timeline.push_back(msg("$2", "alice", "two", 2));
    timeline.push_back(edit("$e", "$1", "alice", "uno", 3));
    // A receipt on a hidden event shows on the item shown before it.
    assert_eq!(timeline.anchor(&id("$h")), &id("$1"));
    assert_eq!(timeline.anchor(&id("$r")), &id("$1"));
    assert_eq!(timeline.anchor(&id("$e")), &id("$2"));
    assert_eq!(
        timeline.anchor(&id("$2")),
        &id("$2"),
        "items stand for themselves"
    );
    assert!(timeline.contains(&id("$h")), "hidden, but seen");
    assert!(!timeline.push_back(Incoming::Hidden(id("$h"))));
    assert_eq!(timeline.keys(), ["$1", "$2"]);

    // In a page of history, at the older item before them in the page.
    timeline.push_front(vec![
        msg("$a", "alice", "a", 0),
        Incoming::Hidden(id("$ha")),
        msg("$b", "alice", "b", 0),
    ]);
    assert_eq!(timeline.anchor(&id("$ha")), &id("$a"));
}

#[test]
fn a_decrypted_event_takes_its_placeholders_place() {
    let mut placeholder = message("$u", "alice", "", 1);
    placeholder.kind = ItemKind::Encrypted;
    let mut timeline = timeline(vec![
        msg("$1", "alice", "one", 1),
        Incoming::Item(placeholder.clone()),
        msg("$2", "alice", "two", 2),
    ]);
    timeline.set_utd(&id("$u"), UtdReason::Invalid);
    assert_eq!(timeline.take_diffs(), [update("$u")]);
    let utd = timeline.item(&id("$u")).unwrap();
    assert_eq!(utd.utd, Some(UtdReason::Invalid));
    assert_eq!(utd.body, UtdReason::Invalid.describe());
    // Only undecryptable items are marked.
    timeline.set_utd(&id("$1"), UtdReason::Invalid);
    assert!(timeline.take_diffs().is_empty());
    assert_eq!(timeline.item(&id("$1")).unwrap().utd, None);

    // It was a message: it replaces the placeholder, in place.
    timeline.replace(&id("$u"), msg("$u", "alice", "secret", 1));
    assert_eq!(timeline.take_diffs(), [update("$u")]);
    assert_eq!(bodies(&timeline), ["one", "secret", "two"]);

    // It was an edit: the placeholder goes and the edit applies.
    timeline.push_back(Incoming::Item({
        let mut p = placeholder.clone();
        p.event_id = Some(id("$u2"));
        p
    }));
    timeline.take_diffs();
    timeline.replace(&id("$u2"), edit("$u2", "$1", "alice", "uno", 5));
    assert_eq!(
        timeline.take_diffs(),
        [ItemDiff::Remove("$u2".into()), update("$1")]
    );
    assert_eq!(bodies(&timeline), ["uno", "secret", "two"]);
    // A receipt on it now shows on the item before where it stood.
    assert_eq!(timeline.anchor(&id("$u2")), &id("$2"));

    // An unknown event ID changes nothing.
    timeline.replace(&id("$none"), msg("$none", "alice", "?", 9));
    assert!(timeline.take_diffs().is_empty());
    assert_eq!(timeline.len(), 3);
}

#[test]
fn a_decrypted_reaction_or_redaction_applies_in_place_of_its_placeholder() {
    let placeholder = |event_id: &str| {
        let mut p = message(event_id, "bob", "", 1);
        p.kind = ItemKind::Encrypted;
        Incoming::Item(p)
    };
    let mut timeline = timeline(vec![
        msg("$1", "alice", "one", 1),
        placeholder("$u1"),
        placeholder("$u2"),
    ]);
    timeline.replace(&id("$u1"), react("$u1", "$1", "👍", "bob"));
    timeline.replace(&id("$u2"), redaction("$u2", "$1"));
    assert_eq!(timeline.keys(), ["$1"]);
    assert_eq!(timeline.items()[0].kind, ItemKind::Redacted);
}

#[test]
fn a_gap_forgets_the_servers_items_but_not_local_echoes_or_relations() {
    let mut timeline = timeline(vec![
        msg("$1", "alice", "one", 1),
        edit("$e", "$1", "alice", "uno", 2),
    ]);
    timeline.push_local(local("t1", "mine"));
    timeline.take_diffs();
    timeline.clear_remote();
    assert_eq!(timeline.take_diffs(), [ItemDiff::Reset]);
    assert_eq!(timeline.keys(), ["txn:t1"]);
    assert!(!timeline.contains(&id("$1")));
    // The restarted timeline may bring the same events again; they are taken.
    assert!(timeline.push_back(msg("$1", "alice", "one", 1)));
    assert_eq!(bodies(&timeline), ["uno", "mine"], "the edit still applies");
}

#[test]
fn up_arrow_edits_our_newest_message_only_once_it_is_sent() {
    let me = user("me");
    let mut timeline = timeline(vec![
        msg("$1", "me", "mine", 1),
        msg("$2", "alice", "theirs", 2),
        state("$3", "me", "me changed the topic"),
    ]);
    assert_eq!(timeline.last_editable_by(&me).unwrap().body, "mine");
    assert_eq!(timeline.last_editable_by(&user("bob")), None);
    // While a newer one is being sent, none: the older one must not be edited by mistake.
    timeline.push_local(local("t1", "sending"));
    assert_eq!(timeline.last_editable_by(&me), None);
    timeline.mark_sent(&txn("t1"), id("$4"));
    assert_eq!(timeline.last_editable_by(&me).unwrap().body, "sending");
    // A deleted message is not editable either.
    timeline.push_back(msg("$4", "me", "sending", 4));
    timeline.push_back(redaction("$x", "$4"));
    assert_eq!(timeline.last_editable_by(&me).unwrap().body, "mine");
}

#[test]
fn the_room_list_preview_skips_room_changes_but_not_calls() {
    let mut timeline = timeline(vec![
        msg("$1", "alice", "hello", 1),
        state("$2", "bob", "bob joined the room"),
    ]);
    assert_eq!(timeline.latest_message_like().unwrap().body, "hello");
    let mut call = message("$3", "bob", "Incoming call", 3);
    call.kind = ItemKind::State;
    call.call_id = Some("c1".into());
    timeline.push_back(Incoming::Item(call));
    assert_eq!(
        timeline.latest_message_like().unwrap().body,
        "Incoming call"
    );
    timeline.push_local(local("t1", "on my way"));
    assert_eq!(timeline.latest_message_like().unwrap().body, "on my way");
    assert_eq!(Timeline::default().latest_message_like(), None);
}

#[test]
fn later_call_events_update_the_calls_line() {
    let invite = |event_id: &str, call_id: &str| {
        let mut line = message(event_id, "alice", "Incoming call", 1);
        line.kind = ItemKind::State;
        line.call_id = Some(call_id.into());
        Incoming::Call {
            event_id: id(event_id),
            call_id: call_id.into(),
            sender: user("alice"),
            update: CallUpdate::Invite {
                caller: user("alice"),
                invitee: None,
                video: false,
                at: 1,
            },
            shown: Some(line),
        }
    };
    let mut timeline = timeline(vec![invite("$i1", "c1"), invite("$i2", "c2")]);
    assert!(timeline.push_back(Incoming::Call {
        event_id: id("$a"),
        call_id: "c1".into(),
        sender: user("me"),
        update: CallUpdate::Answer { at: 2 },
        shown: None,
    }));
    assert_eq!(
        timeline.take_diffs(),
        [update("$i1")],
        "only call c1's line"
    );
    assert_eq!(timeline.keys(), ["$i1", "$i2"], "the answer is no item");
    assert_eq!(timeline.anchor(&id("$a")), &id("$i2"));
    assert!(timeline.call("c1").is_some() && timeline.call("c3").is_none());
    // A hangup seen before its invite (back-pagination) is kept for when it comes.
    let mut timeline = Timeline::default();
    timeline.push_back(Incoming::Call {
        event_id: id("$h"),
        call_id: "c9".into(),
        sender: user("alice"),
        update: CallUpdate::Hangup {
            at: 9,
            reason: "user_hangup".into(),
        },
        shown: None,
    });
    assert!(timeline.is_empty() && timeline.call("c9").is_some());
}

#[test]
fn the_outline_gives_each_items_key_sender_time_and_kind() {
    let mut timeline = timeline(vec![
        msg("$1", "alice", "one", 7),
        state("$2", "bob", "bob joined the room"),
    ]);
    timeline.push_local(local("t1", "mine"));
    let outline = timeline.outline();
    let summary: Vec<_> = outline
        .iter()
        .map(|o| (o.key.as_str(), o.sender.as_str(), o.ts, o.state))
        .collect();
    assert_eq!(
        summary,
        [
            ("$1", "@alice:hs", ts(7), false),
            ("$2", "@bob:hs", ts(0), true),
            ("txn:t1", "@me:hs", ts(1000), false)
        ]
    );
    assert_eq!(
        timeline.keys(),
        outline.iter().map(|o| o.key.clone()).collect::<Vec<_>>()
    );
}

#[test]
fn keys_name_local_echoes_by_transaction_and_others_by_event() {
    let mut item = message("$1", "alice", "one", 1);
    assert_eq!(item.key(), "$1");
    assert!(has_key(&item, "$1") && !has_key(&item, "txn:$1"));
    item.txn_id = Some(txn("t1"));
    assert_eq!(item.key(), "txn:t1", "the key a local echo had stays");
    assert!(has_key(&item, "txn:t1") && !has_key(&item, "$1"));
    item.event_id = None;
    item.txn_id = None;
    assert_eq!(item.key(), "");
    assert!(!has_key(&item, ""));
}
