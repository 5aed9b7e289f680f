use reqwest::Method;
use serde_json::json;

use crate::harness::{TestServer, enc, timeline_bodies};

#[tokio::test]
async fn capabilities_and_push_rules_for_element_start_up() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let (status, caps) = s
        .call(
            Method::GET,
            "/_matrix/client/v3/capabilities",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 200, "{caps}");
    assert_eq!(caps["capabilities"]["m.room_versions"]["default"], "11");
    assert_eq!(
        caps["capabilities"]["m.room_versions"]["available"]["10"],
        "stable"
    );

    let (status, rules) = s
        .call(
            Method::GET,
            "/_matrix/client/v3/pushrules/",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let underride = rules["global"]["underride"].as_array().unwrap();
    assert!(
        underride.iter().any(|r| r["rule_id"] == ".m.rule.call"),
        "{rules}"
    );

    let sync = s.sync(&alice, None, 0).await;
    let events = sync["account_data"]["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "m.push_rules" && e["content"]["global"]["underride"].is_array())
    );

    let (status, pushers) = s
        .call(
            Method::GET,
            "/_matrix/client/v3/pushers",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(
        (status, pushers["pushers"].as_array().map(Vec::len)),
        (200, Some(0))
    );
}

#[tokio::test]
async fn account_data_round_trip_and_wakes_sync() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let since = s.sync(&alice, None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();

    let path = "/_matrix/client/v3/user/%40alice%3Alocalhost/account_data/m.direct";
    let direct = json!({"@bob:localhost": ["!room:localhost"]});
    let (status, _) = s
        .call(Method::PUT, path, Some(&alice), Some(direct.clone()))
        .await;
    assert_eq!(status, 200);
    let (status, got) = s.call(Method::GET, path, Some(&alice), None).await;
    assert_eq!((status, got), (200, direct.clone()));

    let sync = s.sync(&alice, Some(&since), 5_000).await;
    let events = sync["account_data"]["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{sync}");
    assert_eq!(events[0]["type"], "m.direct");
    assert_eq!(events[0]["content"], direct);

    // Nobody else's, and not the server-managed push rules.
    let bob = s.register("bob").await;
    let (status, _) = s.call(Method::GET, path, Some(&bob), None).await;
    assert_eq!(status, 403);
    let rules = "/_matrix/client/v3/user/%40alice%3Alocalhost/account_data/m.push_rules";
    let (status, body) = s
        .call(Method::PUT, rules, Some(&alice), Some(json!({})))
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (405, Some("M_BAD_JSON"))
    );
    let missing = "/_matrix/client/v3/user/%40alice%3Alocalhost/account_data/m.nothing";
    let (status, body) = s.call(Method::GET, missing, Some(&alice), None).await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (404, Some("M_NOT_FOUND"))
    );
}

#[tokio::test]
async fn room_account_data_arrives_with_the_room() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let room = s.create_room(&alice, json!({})).await;
    let since = s.sync(&alice, None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!(
        "/_matrix/client/v3/user/%40alice%3Alocalhost/rooms/{}/account_data/m.tag",
        enc(&room)
    );
    let tags = json!({"tags": {"m.favourite": {"order": 0.5}}});
    let (status, _) = s
        .call(Method::PUT, &path, Some(&alice), Some(tags.clone()))
        .await;
    assert_eq!(status, 200);
    let sync = s.sync(&alice, Some(&since), 5_000).await;
    let events = &sync["rooms"]["join"][&room]["account_data"]["events"];
    assert_eq!(events[0]["type"], "m.tag", "{sync}");
    assert_eq!(events[0]["content"], tags);
}

#[tokio::test]
async fn stored_filters_apply_to_sync() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let room = s.create_room(&alice, json!({})).await;
    for i in 0..5 {
        s.send_text(&alice, &room, &format!("t{i}"), &format!("m{i}"))
            .await;
    }
    let filter = json!({"room": {"timeline": {"limit": 2}, "state": {"lazy_load_members": true}}});
    let (status, created) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/user/%40alice%3Alocalhost/filter",
            Some(&alice),
            Some(filter),
        )
        .await;
    assert_eq!(status, 200);
    let id = created["filter_id"].as_str().unwrap().to_owned();
    assert!(!id.starts_with('{'));
    let (status, back) = s
        .call(
            Method::GET,
            &format!("/_matrix/client/v3/user/%40alice%3Alocalhost/filter/{id}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(
        (status, &back["room"]["timeline"]["limit"]),
        (200, &json!(2))
    );

    let (_, sync) = s
        .call(
            Method::GET,
            &format!("/_matrix/client/v3/sync?filter={id}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(timeline_bodies(&sync, &room), vec!["m3", "m4"]);
    assert_eq!(sync["rooms"]["join"][&room]["timeline"]["limited"], true);

    let (status, body) = s
        .call(
            Method::GET,
            "/_matrix/client/v3/sync?filter=999",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (400, Some("M_INVALID_PARAM"))
    );
}

#[tokio::test]
async fn profile_changes_reach_rooms() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let bob = s.register("bob").await;
    let room = s
        .create_room(&alice, json!({"preset": "public_chat"}))
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

    let (status, profile) = s
        .call(
            Method::GET,
            "/_matrix/client/v3/profile/%40alice%3Alocalhost",
            None,
            None,
        )
        .await;
    assert_eq!((status, &profile["displayname"]), (200, &json!("alice")));

    let since = s.sync(&bob, None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = s
        .call(
            Method::PUT,
            "/_matrix/client/v3/profile/%40alice%3Alocalhost/displayname",
            Some(&alice),
            Some(json!({"displayname": "Alice A."})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, name) = s
        .call(
            Method::GET,
            "/_matrix/client/v3/profile/%40alice%3Alocalhost/displayname",
            None,
            None,
        )
        .await;
    assert_eq!(name["displayname"], "Alice A.");

    let sync = s.sync(&bob, Some(&since), 5_000).await;
    let timeline = sync["rooms"]["join"][&room]["timeline"]["events"]
        .as_array()
        .unwrap();
    let member = timeline
        .iter()
        .find(|e| e["type"] == "m.room.member" && e["state_key"] == "@alice:localhost")
        .unwrap();
    assert_eq!(member["content"]["displayname"], "Alice A.");
    assert_eq!(member["unsigned"]["prev_content"]["displayname"], "alice");

    let (status, members) = s
        .call(
            Method::GET,
            &format!("/_matrix/client/v3/rooms/{}/joined_members", enc(&room)),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        members["joined"]["@alice:localhost"]["display_name"],
        "Alice A."
    );
    let (_, joined) = s
        .call(
            Method::GET,
            "/_matrix/client/v3/joined_rooms",
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(joined["joined_rooms"], json!([room]));

    let (status, _) = s
        .call(
            Method::PUT,
            "/_matrix/client/v3/profile/%40alice%3Alocalhost/displayname",
            Some(&bob),
            Some(json!({"displayname": "evil"})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = s
        .call(
            Method::GET,
            "/_matrix/client/v3/profile/%40nobody%3Alocalhost",
            None,
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn push_rules_can_be_changed() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let since = s.sync(&alice, None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let base = "/_matrix/client/v3/pushrules/global";

    // Turn a default rule off, and read it back.
    let (status, _) = s
        .call(
            Method::PUT,
            &format!("{base}/override/.m.rule.master/enabled"),
            Some(&alice),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, enabled) = s
        .call(
            Method::GET,
            &format!("{base}/override/.m.rule.master/enabled"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(enabled["enabled"], true);
    let (status, _) = s
        .call(
            Method::PUT,
            &format!("{base}/underride/.m.rule.message/actions"),
            Some(&alice),
            Some(json!({"actions": []})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, actions) = s
        .call(
            Method::GET,
            &format!("{base}/underride/.m.rule.message/actions"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(actions["actions"], json!([]));

    // A user rule: add, read, delete. Server defaults cannot be deleted.
    let (status, body) = s
        .call(
            Method::PUT,
            &format!("{base}/content/cats"),
            Some(&alice),
            Some(json!({"pattern": "cat*", "actions": ["notify"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, rule) = s
        .call(
            Method::GET,
            &format!("{base}/content/cats"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!((status, &rule["pattern"]), (200, &json!("cat*")));
    assert_eq!(
        s.call(
            Method::DELETE,
            &format!("{base}/content/cats"),
            Some(&alice),
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        s.call(
            Method::GET,
            &format!("{base}/content/cats"),
            Some(&alice),
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        s.call(
            Method::DELETE,
            &format!("{base}/override/.m.rule.master"),
            Some(&alice),
            None
        )
        .await
        .0,
        400
    );
    assert_eq!(
        s.call(
            Method::PUT,
            &format!("{base}/override/.nope/enabled"),
            Some(&alice),
            Some(json!({"enabled": true}))
        )
        .await
        .0,
        404
    );

    // The change reaches sync as m.push_rules account data.
    let sync = s.sync(&alice, Some(&since), 5_000).await;
    let rules = sync["account_data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "m.push_rules")
        .cloned()
        .unwrap();
    let master = rules["content"]["global"]["override"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule_id"] == ".m.rule.master")
        .cloned()
        .unwrap();
    assert_eq!(master["enabled"], true);
}

#[tokio::test]
async fn sync_filters_types_senders_rooms_presence_and_leave() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let bob = s.register("bob").await;
    let room = s
        .create_room(&alice, json!({"preset": "public_chat"}))
        .await;
    let other = s.create_room(&alice, json!({})).await;
    assert_eq!(
        s.call(
            Method::POST,
            &format!("/_matrix/client/v3/rooms/{}/join", enc(&room)),
            Some(&bob),
            Some(json!({}))
        )
        .await
        .0,
        200
    );
    for i in 0..3 {
        s.send_text(&alice, &room, &format!("a{i}"), &format!("alice {i}"))
            .await;
        s.send_text(&bob, &room, &format!("b{i}"), &format!("bob {i}"))
            .await;
    }
    let sync_with = |filter: serde_json::Value| {
        let path = format!(
            "/_matrix/client/v3/sync?filter={}",
            enc(&filter.to_string())
        );
        let alice = alice.clone();
        let s = &s;
        async move { s.call(Method::GET, &path, Some(&alice), None).await.1 }
    };

    // Only messages, only from bob, limit counts matching events.
    let res = sync_with(json!({"room": {"timeline": {"types": ["m.room.*"], "not_types": ["m.room.member"], "senders": ["@bob:localhost"], "limit": 2}}})).await;
    let events = res["rooms"]["join"][&room]["timeline"]["events"]
        .as_array()
        .unwrap()
        .clone();
    let bodies: Vec<_> = events
        .iter()
        .map(|e| e["content"]["body"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(bodies, vec!["bob 1", "bob 2"], "{res}");
    assert_eq!(res["rooms"]["join"][&room]["timeline"]["limited"], true);

    // Rooms, presence and account data can be filtered out.
    let res = sync_with(json!({"room": {"not_rooms": [room]}, "presence": {"not_types": ["*"]}, "account_data": {"not_types": ["*"]}})).await;
    assert!(res["rooms"]["join"].get(&room).is_none());
    assert!(res["rooms"]["join"].get(&other).is_some());
    assert!(
        res["presence"]["events"]
            .as_array()
            .is_none_or(|e| e.is_empty()),
        "{res}"
    );
    assert!(
        res["account_data"]["events"]
            .as_array()
            .is_none_or(|e| e.is_empty())
    );

    // Left rooms only with include_leave.
    assert_eq!(
        s.call(
            Method::POST,
            &format!("/_matrix/client/v3/rooms/{}/leave", enc(&other)),
            Some(&alice),
            Some(json!({}))
        )
        .await
        .0,
        200
    );
    let res = sync_with(json!({})).await;
    assert!(res["rooms"]["leave"].get(&other).is_none());
    let res = sync_with(json!({"room": {"include_leave": true}})).await;
    assert!(res["rooms"]["leave"].get(&other).is_some(), "{res}");
}
