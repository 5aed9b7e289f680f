use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestServer, enc};

fn bodies(chunk: &Value) -> Vec<String> {
    chunk
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "m.room.message")
        .map(|e| e["content"]["body"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn messages_paginate_back_and_forward_without_gaps() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let room = s.create_room(&alice, json!({})).await;
    for i in 0..25 {
        s.send_text(&alice, &room, &format!("t{i}"), &format!("m{i}"))
            .await;
    }
    let base = format!("/_matrix/client/v3/rooms/{}/messages", enc(&room));
    let mut seen = Vec::new();
    let mut from: Option<String> = None;
    for _ in 0..20 {
        let path = match &from {
            Some(f) => format!("{base}?dir=b&limit=10&from={f}"),
            None => format!("{base}?dir=b&limit=10"),
        };
        let (status, page) = s.call(Method::GET, &path, Some(&alice), None).await;
        assert_eq!(status, 200, "{page}");
        assert!(page["chunk"][0].get("room_id").is_some());
        seen.extend(bodies(&page["chunk"]));
        match page["end"].as_str() {
            Some(end) => from = Some(end.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).rev().map(|i| format!("m{i}")).collect();
    assert_eq!(seen, expected);

    let (_, forward) = s
        .call(
            Method::GET,
            &format!("{base}?dir=f&limit=100"),
            Some(&alice),
            None,
        )
        .await;
    let first = forward["chunk"][0].clone();
    assert_eq!(first["type"], "m.room.create");
    assert_eq!(bodies(&forward["chunk"]).len(), 25);
}

#[tokio::test]
async fn outsiders_cannot_read_and_joined_visibility_hides_the_past() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let eve = s.register("eve").await;
    let room = s
        .create_room(&alice, json!({"preset": "public_chat"}))
        .await;
    let (_, sent) = s.send_text(&alice, &room, "t1", "before").await;
    let event_id = sent["event_id"].as_str().unwrap().to_owned();

    let messages = format!("/_matrix/client/v3/rooms/{}/messages?dir=b", enc(&room));
    let (status, _) = s.call(Method::GET, &messages, Some(&eve), None).await;
    assert_eq!(status, 403);
    let event_path = format!(
        "/_matrix/client/v3/rooms/{}/event/{}",
        enc(&room),
        enc(&event_id)
    );
    let (status, _) = s.call(Method::GET, &event_path, Some(&eve), None).await;
    assert_eq!(status, 404);
    let (status, event) = s.call(Method::GET, &event_path, Some(&alice), None).await;
    assert_eq!((status, &event["content"]["body"]), (200, &json!("before")));

    // Make history visible only to those joined at the time, then let eve in.
    let hv = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.history_visibility/",
        enc(&room)
    );
    let (status, body) = s
        .call(
            Method::PUT,
            &hv,
            Some(&alice),
            Some(json!({"history_visibility": "joined"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    s.send_text(&alice, &room, "t2", "still before eve").await;
    let (status, _) = s
        .call(
            Method::POST,
            &format!("/_matrix/client/v3/rooms/{}/join", enc(&room)),
            Some(&eve),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200);
    s.send_text(&alice, &room, "t3", "after eve joined").await;
    let (status, page) = s
        .call(
            Method::GET,
            &format!("{messages}&limit=50"),
            Some(&eve),
            None,
        )
        .await;
    assert_eq!(status, 200);
    // "before" was sent under `shared` (visible to anyone who joins later);
    // "still before eve" under `joined`, when eve was not a member.
    assert_eq!(bodies(&page["chunk"]), vec!["after eve joined", "before"]);
}

#[tokio::test]
async fn state_read_and_write_follow_power_levels() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let bob = s.register("bob").await;
    let room = s
        .create_room(&alice, json!({"preset": "public_chat", "name": "Old"}))
        .await;
    let (status, _) = s
        .call(
            Method::POST,
            &format!("/_matrix/client/v3/rooms/{}/join", enc(&room)),
            Some(&bob),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200);

    let name = format!("/_matrix/client/v3/rooms/{}/state/m.room.name", enc(&room));
    let (status, body) = s
        .call(
            Method::PUT,
            &format!("{name}/"),
            Some(&bob),
            Some(json!({"name": "Bob's"})),
        )
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "{body}"
    );
    let (status, _) = s
        .call(
            Method::PUT,
            &name,
            Some(&alice),
            Some(json!({"name": "New"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, content) = s.call(Method::GET, &name, Some(&bob), None).await;
    assert_eq!((status, content), (200, json!({"name": "New"})));
    let (status, event) = s
        .call(
            Method::GET,
            &format!("{name}/?format=event"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!((status, &event["type"]), (200, &json!("m.room.name")));

    let (status, state) = s
        .call(
            Method::GET,
            &format!("/_matrix/client/v3/rooms/{}/state", enc(&room)),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let types: Vec<&str> = state
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    for t in [
        "m.room.create",
        "m.room.power_levels",
        "m.room.join_rules",
        "m.room.name",
    ] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }

    let (status, members) = s
        .call(
            Method::GET,
            &format!(
                "/_matrix/client/v3/rooms/{}/members?membership=join",
                enc(&room)
            ),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(members["chunk"].as_array().unwrap().len(), 2);

    let (status, _) = s
        .call(
            Method::GET,
            &format!(
                "/_matrix/client/v3/rooms/{}/state/m.room.topic/",
                enc(&room)
            ),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn context_around_an_event() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let room = s.create_room(&alice, json!({})).await;
    let mut ids = Vec::new();
    for i in 0..9 {
        let (_, sent) = s
            .send_text(&alice, &room, &format!("t{i}"), &format!("m{i}"))
            .await;
        ids.push(sent["event_id"].as_str().unwrap().to_owned());
    }
    let path = format!(
        "/_matrix/client/v3/rooms/{}/context/{}?limit=4",
        enc(&room),
        enc(&ids[4])
    );
    let (status, ctx) = s.call(Method::GET, &path, Some(&alice), None).await;
    assert_eq!(status, 200, "{ctx}");
    assert_eq!(ctx["event"]["content"]["body"], "m4");
    assert_eq!(bodies(&ctx["events_before"]), vec!["m3", "m2"]);
    assert_eq!(bodies(&ctx["events_after"]), vec!["m5", "m6"]);
    // Paginating on from the context's tokens continues without gaps.
    let end = ctx["end"].as_str().unwrap();
    let (_, more) = s
        .call(
            Method::GET,
            &format!(
                "/_matrix/client/v3/rooms/{}/messages?dir=f&from={end}",
                enc(&room)
            ),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(bodies(&more["chunk"]), vec!["m7", "m8"]);
    let start = ctx["start"].as_str().unwrap();
    let (_, earlier) = s
        .call(
            Method::GET,
            &format!(
                "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=2&from={start}",
                enc(&room)
            ),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(bodies(&earlier["chunk"]), vec!["m1", "m0"]);
}

#[tokio::test]
async fn relations_of_an_event() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let eve = s.register("eve").await;
    let room = s.create_room(&alice, json!({})).await;
    let (_, parent) = s.send_text(&alice, &room, "p", "parent").await;
    let parent = parent["event_id"].as_str().unwrap().to_owned();
    let send = |kind: &str, txn: &str, content: Value| {
        let path = format!("/_matrix/client/v3/rooms/{}/send/{kind}/{txn}", enc(&room));
        let (s, alice) = (&s, alice.clone());
        async move {
            s.call(Method::PUT, &path, Some(&alice), Some(content))
                .await
        }
    };
    for (i, key) in ["👍", "🎉"].iter().enumerate() {
        let (status, body) = send(
            "m.reaction",
            &format!("r{i}"),
            json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": parent, "key": key}}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    send("m.room.message", "e1", json!({"msgtype": "m.text", "body": "* edited", "m.new_content": {"msgtype": "m.text", "body": "edited"}, "m.relates_to": {"rel_type": "m.replace", "event_id": parent}})).await;
    for i in 0..3 {
        send("m.room.message", &format!("t{i}"), json!({"msgtype": "m.text", "body": format!("thread {i}"), "m.relates_to": {"rel_type": "m.thread", "event_id": parent}})).await;
    }

    let base = format!(
        "/_matrix/client/v1/rooms/{}/relations/{}",
        enc(&room),
        enc(&parent)
    );
    let (status, all) = s.call(Method::GET, &base, Some(&alice), None).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["chunk"].as_array().unwrap().len(), 6);
    let (_, reactions) = s
        .call(
            Method::GET,
            &format!("{base}/m.annotation/m.reaction"),
            Some(&alice),
            None,
        )
        .await;
    let keys: Vec<_> = reactions["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["content"]["m.relates_to"]["key"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(keys, vec!["🎉", "👍"], "newest first");

    // Paging through a thread two at a time.
    let (_, page1) = s
        .call(
            Method::GET,
            &format!("{base}/m.thread?limit=2"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(page1["chunk"].as_array().unwrap().len(), 2);
    let next = page1["next_batch"].as_str().unwrap();
    let (_, page2) = s
        .call(
            Method::GET,
            &format!("{base}/m.thread?limit=2&from={next}"),
            Some(&alice),
            None,
        )
        .await;
    let bodies: Vec<_> = page2["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["content"]["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(bodies, vec!["thread 0"]);
    assert!(page2.get("next_batch").is_none_or(|n| n.is_null()));

    // Outsiders see nothing.
    let (status, _) = s.call(Method::GET, &base, Some(&eve), None).await;
    assert_eq!(status, 404);
}
