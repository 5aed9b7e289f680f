use reqwest::Method;
use serde_json::json;
use weft_server::config::Registration;

use crate::harness::TestServer;

#[tokio::test]
async fn register_needs_uia_and_rejects_taken_and_bad_names() {
    let s = TestServer::start().await;
    // Never succeeds without `auth`, even with only the dummy stage.
    let (status, body) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/register",
            None,
            Some(json!({"username": "alice", "password": "pw"})),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["flows"][0]["stages"][0], "m.login.dummy");
    assert!(body["session"].is_string());

    // A made-up session is refused.
    let (status, body) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/register",
            None,
            Some(json!({"username": "alice", "password": "pw", "auth": {"type": "m.login.dummy", "session": "nope"}})),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["errcode"], "M_FORBIDDEN");

    s.register("alice").await;
    let (status, body) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/register",
            None,
            Some(json!({"username": "alice", "password": "pw"})),
        )
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (400, Some("M_USER_IN_USE"))
    );

    // The single dummy stage may be completed up front, without a session.
    let (status, body) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/register",
            None,
            Some(json!({"username": "eager", "password": "pw", "auth": {"type": "m.login.dummy"}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/register",
            None,
            Some(json!({"username": "bad name", "password": "pw"})),
        )
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (400, Some("M_INVALID_USERNAME"))
    );
}

#[tokio::test]
async fn login_whoami_logout() {
    let s = TestServer::start().await;
    s.register("bob").await;

    let (status, flows) = s
        .call(Method::GET, "/_matrix/client/v3/login", None, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(flows["flows"][0]["type"], "m.login.password");

    let wrong = json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "bob"}, "password": "nope"});
    let (status, body) = s
        .call(Method::POST, "/_matrix/client/v3/login", None, Some(wrong))
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_FORBIDDEN"))
    );

    // Legacy top-level `user` with a full user ID.
    let legacy = json!({"type": "m.login.password", "user": "@bob:localhost", "password": "secret-password"});
    let (status, body) = s
        .call(Method::POST, "/_matrix/client/v3/login", None, Some(legacy))
        .await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let device = body["device_id"].as_str().unwrap().to_owned();

    let (status, me) = s
        .call(
            Method::GET,
            "/_matrix/client/v3/account/whoami",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(me["user_id"], "@bob:localhost");
    assert_eq!(me["device_id"], device);

    let (status, _) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/logout",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = s
        .call(
            Method::GET,
            "/_matrix/client/v3/account/whoami",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (401, Some("M_UNKNOWN_TOKEN"))
    );
    let (status, body) = s
        .call(Method::GET, "/_matrix/client/v3/account/whoami", None, None)
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (401, Some("M_MISSING_TOKEN"))
    );
}

#[tokio::test]
async fn token_and_closed_registration() {
    let s = TestServer::start_with(Registration::Token).await;
    let body = json!({"username": "carol", "password": "pw"});
    let (_, challenge) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/register",
            None,
            Some(body.clone()),
        )
        .await;
    assert_eq!(
        challenge["flows"][0]["stages"][0],
        "m.login.registration_token"
    );
    let session = challenge["session"].as_str().unwrap();
    let mut wrong = body.clone();
    wrong["auth"] =
        json!({"type": "m.login.registration_token", "token": "guess", "session": session});
    let (status, _) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/register",
            None,
            Some(wrong),
        )
        .await;
    assert_eq!(status, 401);
    let mut right = body;
    right["auth"] =
        json!({"type": "m.login.registration_token", "token": "let-me-in", "session": session});
    let (status, ok) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/register",
            None,
            Some(right),
        )
        .await;
    assert_eq!(status, 200, "{ok}");

    let closed = TestServer::start_with(Registration::Closed).await;
    let (status, body) = closed
        .call(
            Method::POST,
            "/_matrix/client/v3/register",
            None,
            Some(json!({"username": "dave", "password": "pw"})),
        )
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_FORBIDDEN"))
    );
}

#[tokio::test]
async fn devices_password_change_and_deactivation_need_the_password() {
    let s = TestServer::start().await;
    let first = s.register("fay").await;
    let login = |password: &str| json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "fay"}, "password": password, "initial_device_display_name": "Laptop"});
    let (_, second) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/login",
            None,
            Some(login("secret-password")),
        )
        .await;
    let second_device = second["device_id"].as_str().unwrap().to_owned();
    let second = second["access_token"].as_str().unwrap().to_owned();

    let (status, devices) = s
        .call(
            Method::GET,
            "/_matrix/client/v3/devices",
            Some(&first),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(devices["devices"].as_array().unwrap().len(), 2);
    let path = format!("/_matrix/client/v3/devices/{second_device}");
    let (_, one) = s.call(Method::GET, &path, Some(&first), None).await;
    assert_eq!(one["display_name"], "Laptop");
    let (status, _) = s
        .call(
            Method::PUT,
            &path,
            Some(&first),
            Some(json!({"display_name": "Old laptop"})),
        )
        .await;
    assert_eq!(status, 200);

    // Deleting needs the password: first a challenge, a wrong password fails.
    let (status, challenge) = s
        .call(Method::DELETE, &path, Some(&first), Some(json!({})))
        .await;
    assert_eq!(status, 401);
    assert_eq!(challenge["flows"][0]["stages"][0], "m.login.password");
    let session = challenge["session"].as_str().unwrap();
    let auth = |pw: &str, session: &str| json!({"auth": {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "fay"}, "password": pw, "session": session}});
    let (status, _) = s
        .call(
            Method::DELETE,
            &path,
            Some(&first),
            Some(auth("wrong", session)),
        )
        .await;
    assert_eq!(status, 401);
    let (_, challenge) = s
        .call(Method::DELETE, &path, Some(&first), Some(json!({})))
        .await;
    let (status, _) = s
        .call(
            Method::DELETE,
            &path,
            Some(&first),
            Some(auth(
                "secret-password",
                challenge["session"].as_str().unwrap(),
            )),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        s.call(
            Method::GET,
            "/_matrix/client/v3/account/whoami",
            Some(&second),
            None
        )
        .await
        .0,
        401
    );

    // Password change keeps this device, signs out the rest.
    let (_, third) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/login",
            None,
            Some(login("secret-password")),
        )
        .await;
    let third = third["access_token"].as_str().unwrap().to_owned();
    let (_, challenge) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/account/password",
            Some(&first),
            Some(json!({"new_password": "new-secret"})),
        )
        .await;
    let mut body = auth("secret-password", challenge["session"].as_str().unwrap());
    body["new_password"] = json!("new-secret");
    let (status, res) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/account/password",
            Some(&first),
            Some(body),
        )
        .await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(
        s.call(
            Method::GET,
            "/_matrix/client/v3/account/whoami",
            Some(&first),
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        s.call(
            Method::GET,
            "/_matrix/client/v3/account/whoami",
            Some(&third),
            None
        )
        .await
        .0,
        401
    );
    assert_eq!(
        s.call(
            Method::POST,
            "/_matrix/client/v3/login",
            None,
            Some(login("secret-password"))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        s.call(
            Method::POST,
            "/_matrix/client/v3/login",
            None,
            Some(login("new-secret"))
        )
        .await
        .0,
        200
    );

    // Deactivation blocks login for good.
    let (_, challenge) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/account/deactivate",
            Some(&first),
            Some(json!({})),
        )
        .await;
    let (status, _) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/account/deactivate",
            Some(&first),
            Some(auth("new-secret", challenge["session"].as_str().unwrap())),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/login",
            None,
            Some(login("new-secret")),
        )
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_USER_DEACTIVATED"))
    );
    let (status, _) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/register",
            None,
            Some(json!({"username": "fay", "password": "x"})),
        )
        .await;
    assert_eq!(status, 400, "the name stays taken");
}
