//! Attacks on restricted rooms (`join_rule: restricted`): only members of a
//! room in the `allow` list may join, and only through the server's own
//! check; nobody can name their own authoriser.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestServer, enc};

/// A space-like room alice runs, and a room restricted to its members.
async fn restricted_setup(s: &TestServer, alice: &str, join_rule: &str) -> (String, String) {
    let parent = s
        .create_room(alice, json!({ "preset": "public_chat", "name": "Parent" }))
        .await;
    let room = s
        .create_room(
            alice,
            json!({
                "preset": "private_chat",
                "room_version": "11",
                "initial_state": [{
                    "type": "m.room.join_rules",
                    "state_key": "",
                    "content": {
                        "join_rule": join_rule,
                        "allow": [{ "type": "m.room_membership", "room_id": parent }]
                    }
                }]
            }),
        )
        .await;
    (parent, room)
}

async fn post(s: &TestServer, token: &str, path: &str) -> (u16, Value) {
    s.call(Method::POST, path, Some(token), Some(json!({})))
        .await
}

async fn joined_members(s: &TestServer, token: &str, room: &str) -> Vec<String> {
    let path = format!("/_matrix/client/v3/rooms/{}/joined_members", enc(room));
    let (status, body) = s.call(Method::GET, &path, Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    body["joined"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_join_naming_its_own_authoriser_is_refused() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let eve = s.register("eve").await;
    let (_, room) = restricted_setup(&s, &alice, "restricted").await;

    let path = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
        enc(&room),
        enc("@eve:localhost")
    );
    let forged =
        json!({ "membership": "join", "join_authorised_via_users_server": "@alice:localhost" });
    let (status, body) = s.call(Method::PUT, &path, Some(&eve), Some(forged)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["errcode"], "M_FORBIDDEN");
    assert!(
        !joined_members(&s, &alice, &room)
            .await
            .contains(&"@eve:localhost".to_owned())
    );
}

#[tokio::test]
async fn a_restricted_room_refuses_those_outside_its_allowed_rooms() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let eve = s.register("eve").await;
    for rule in ["restricted", "knock_restricted"] {
        let (_, room) = restricted_setup(&s, &alice, rule).await;
        for path in [
            format!("/_matrix/client/v3/rooms/{}/join", enc(&room)),
            format!("/_matrix/client/v3/join/{}", enc(&room)),
        ] {
            let (status, body) = post(&s, &eve, &path).await;
            assert_eq!(
                (status, body["errcode"].as_str()),
                (403, Some("M_FORBIDDEN")),
                "{rule} {path}: {body}"
            );
        }
        assert!(
            !joined_members(&s, &alice, &room)
                .await
                .contains(&"@eve:localhost".to_owned())
        );
    }
}

#[tokio::test]
async fn members_of_an_allowed_room_join_a_restricted_room_authorised_by_a_local_member() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let bob = s.register("bob").await;
    let carol = s.register("carol").await;
    for rule in ["restricted", "knock_restricted"] {
        let (parent, room) = restricted_setup(&s, &alice, rule).await;
        let (status, body) = post(
            &s,
            &bob,
            &format!("/_matrix/client/v3/rooms/{}/join", enc(&parent)),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = post(
            &s,
            &carol,
            &format!("/_matrix/client/v3/join/{}", enc(&parent)),
        )
        .await;
        assert_eq!(status, 200, "{body}");

        let (status, body) = post(
            &s,
            &bob,
            &format!("/_matrix/client/v3/rooms/{}/join", enc(&room)),
        )
        .await;
        assert_eq!(status, 200, "{rule}: {body}");
        let (status, body) = post(
            &s,
            &carol,
            &format!("/_matrix/client/v3/join/{}", enc(&room)),
        )
        .await;
        assert_eq!(status, 200, "{rule}: {body}");
        let members = joined_members(&s, &alice, &room).await;
        assert!(
            members.contains(&"@bob:localhost".to_owned())
                && members.contains(&"@carol:localhost".to_owned())
        );

        // The join names alice (the only member who may invite) as authoriser.
        let path = format!(
            "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
            enc(&room),
            enc("@bob:localhost")
        );
        let (status, member) = s.call(Method::GET, &path, Some(&alice), None).await;
        assert_eq!(status, 200);
        assert_eq!(
            member["join_authorised_via_users_server"], "@alice:localhost",
            "{member}"
        );
    }
}

#[tokio::test]
async fn a_qualifying_join_written_as_a_member_event_gets_the_servers_authoriser() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let bob = s.register("bob").await;
    let (parent, room) = restricted_setup(&s, &alice, "restricted").await;
    let (status, body) = post(
        &s,
        &bob,
        &format!("/_matrix/client/v3/rooms/{}/join", enc(&parent)),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let path = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
        enc(&room),
        enc("@bob:localhost")
    );
    let (status, body) = s
        .call(
            Method::PUT,
            &path,
            Some(&bob),
            Some(json!({ "membership": "join" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, member) = s.call(Method::GET, &path, Some(&alice), None).await;
    assert_eq!(
        member["join_authorised_via_users_server"], "@alice:localhost",
        "{member}"
    );
    // Once joined, a profile change that repeats the field (as Element's
    // per-room nick does) is no join and passes, without the field.
    let again = json!({ "membership": "join", "displayname": "Bob here", "join_authorised_via_users_server": "@alice:localhost" });
    let (status, body) = s.call(Method::PUT, &path, Some(&bob), Some(again)).await;
    assert_eq!(status, 200, "{body}");
    let (_, member) = s.call(Method::GET, &path, Some(&alice), None).await;
    assert_eq!(
        (
            member["displayname"].as_str(),
            member.get("join_authorised_via_users_server")
        ),
        (Some("Bob here"), None)
    );
}
