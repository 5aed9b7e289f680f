use reqwest::Method;
use serde_json::json;

use crate::harness::{TestServer, enc};

#[tokio::test]
async fn kick_ban_unban_follow_power_levels() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let bob = s.register("bob").await;
    let carol = s.register("carol").await;
    let room = s
        .create_room(&alice, json!({"preset": "public_chat"}))
        .await;
    let join = format!("/_matrix/client/v3/rooms/{}/join", enc(&room));
    for token in [&bob, &carol] {
        assert_eq!(
            s.call(Method::POST, &join, Some(token), Some(json!({})))
                .await
                .0,
            200
        );
    }
    let path = |action: &str| format!("/_matrix/client/v3/rooms/{}/{action}", enc(&room));

    // Bob (power 0) cannot kick carol; alice (100) can.
    let (status, body) = s
        .call(
            Method::POST,
            &path("kick"),
            Some(&bob),
            Some(json!({"user_id": "@carol:localhost"})),
        )
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_FORBIDDEN"))
    );
    let (status, _) = s
        .call(
            Method::POST,
            &path("kick"),
            Some(&alice),
            Some(json!({"user_id": "@carol:localhost", "reason": "test"})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, members) = s
        .call(
            Method::GET,
            &format!("{}?membership=join", path("members")),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(members["chunk"].as_array().unwrap().len(), 2);

    // A banned user cannot come back until unbanned.
    let (status, _) = s
        .call(
            Method::POST,
            &path("ban"),
            Some(&alice),
            Some(json!({"user_id": "@carol:localhost"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        s.call(Method::POST, &join, Some(&carol), Some(json!({})))
            .await
            .0,
        403
    );
    let (status, _) = s
        .call(
            Method::POST,
            &path("unban"),
            Some(&alice),
            Some(json!({"user_id": "@carol:localhost"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        s.call(Method::POST, &join, Some(&carol), Some(json!({})))
            .await
            .0,
        200
    );

    // Forget only after leaving.
    let (status, _) = s
        .call(Method::POST, &path("forget"), Some(&carol), Some(json!({})))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        s.call(Method::POST, &path("leave"), Some(&carol), Some(json!({})))
            .await
            .0,
        200
    );
    assert_eq!(
        s.call(Method::POST, &path("forget"), Some(&carol), Some(json!({})))
            .await
            .0,
        200
    );
    let (_, joined) = s
        .call(
            Method::GET,
            "/_matrix/client/v3/joined_rooms",
            Some(&carol),
            None,
        )
        .await;
    assert_eq!(joined["joined_rooms"], json!([]));
}

#[tokio::test]
async fn logout_all_and_username_availability() {
    let s = TestServer::start().await;
    let first = s.register("dan").await;
    let login = json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "dan"}, "password": "secret-password"});
    let (_, second) = s
        .call(Method::POST, "/_matrix/client/v3/login", None, Some(login))
        .await;
    let second = second["access_token"].as_str().unwrap().to_owned();
    let (status, _) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/logout/all",
            Some(&first),
            None,
        )
        .await;
    assert_eq!(status, 200);
    for token in [&first, &second] {
        let (status, _) = s
            .call(
                Method::GET,
                "/_matrix/client/v3/account/whoami",
                Some(token),
                None,
            )
            .await;
        assert_eq!(status, 401);
    }

    let (status, body) = s
        .call(
            Method::GET,
            "/_matrix/client/v3/register/available?username=dan",
            None,
            None,
        )
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (400, Some("M_USER_IN_USE"))
    );
    let (status, body) = s
        .call(
            Method::GET,
            "/_matrix/client/v3/register/available?username=fresh",
            None,
            None,
        )
        .await;
    assert_eq!((status, &body["available"]), (200, &json!(true)));
    let (status, body) = s
        .call(
            Method::GET,
            "/_matrix/client/v3/register/available?username=Bad%20Name",
            None,
            None,
        )
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (400, Some("M_INVALID_USERNAME"))
    );

    let token = s.register("erin").await;
    let (status, body) = s
        .call(
            Method::GET,
            "/_matrix/client/v3/thirdparty/protocols",
            Some(&token),
            None,
        )
        .await;
    assert_eq!((status, body), (200, json!({})));
}

#[tokio::test]
async fn redactions_need_power_for_others_and_strip_content() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let bob = s.register("bob").await;
    let room = s
        .create_room(&alice, json!({"preset": "public_chat"}))
        .await;
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
    let (_, a) = s.send_text(&alice, &room, "a1", "alice's secret").await;
    let (_, b) = s.send_text(&bob, &room, "b1", "bob's oops").await;
    let (a, b) = (
        a["event_id"].as_str().unwrap().to_owned(),
        b["event_id"].as_str().unwrap().to_owned(),
    );
    let redact = |event: &str, txn: &str| {
        format!(
            "/_matrix/client/v3/rooms/{}/redact/{}/{txn}",
            enc(&room),
            enc(event)
        )
    };

    let (status, body) = s
        .call(Method::PUT, &redact(&a, "r1"), Some(&bob), Some(json!({})))
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "{body}"
    );
    let (status, own) = s
        .call(
            Method::PUT,
            &redact(&b, "r2"),
            Some(&bob),
            Some(json!({"reason": "typo"})),
        )
        .await;
    assert_eq!(status, 200, "{own}");
    let (status, mod_redaction) = s
        .call(
            Method::PUT,
            &redact(&a, "r3"),
            Some(&alice),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200);
    // Idempotent per transaction.
    let (_, again) = s
        .call(
            Method::PUT,
            &redact(&a, "r3"),
            Some(&alice),
            Some(json!({})),
        )
        .await;
    assert_eq!(again["event_id"], mod_redaction["event_id"]);

    let (_, event) = s
        .call(
            Method::GET,
            &format!("/_matrix/client/v3/rooms/{}/event/{}", enc(&room), enc(&a)),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(event["content"], json!({}), "{event}");
    assert_eq!(
        event["unsigned"]["redacted_because"]["type"],
        "m.room.redaction"
    );
    let sync = s.sync(&bob, None, 0).await;
    let timeline = sync["rooms"]["join"][&room]["timeline"]["events"]
        .as_array()
        .unwrap();
    let bobs = timeline.iter().find(|e| e["event_id"] == b).unwrap();
    assert_eq!(bobs["content"], json!({}));
    assert_eq!(
        bobs["unsigned"]["redacted_because"]["content"]["reason"],
        "typo"
    );

    let (status, _) = s
        .call(
            Method::PUT,
            &redact("$unknown", "r4"),
            Some(&alice),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 404);
}
