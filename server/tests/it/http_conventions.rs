use reqwest::Method;

use crate::harness::TestServer;

#[tokio::test]
async fn versions_and_well_known() {
    let s = TestServer::start().await;
    let (status, body) = s
        .call(Method::GET, "/_matrix/client/versions", None, None)
        .await;
    assert_eq!(status, 200);
    let versions: Vec<&str> = body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(versions.contains(&"v1.11"), "{versions:?}");
    let (status, body) = s
        .call(Method::GET, "/.well-known/matrix/client", None, None)
        .await;
    assert_eq!(status, 200);
    assert!(
        body["m.homeserver"]["base_url"]
            .as_str()
            .unwrap()
            .starts_with("http")
    );
}

#[tokio::test]
async fn unknown_endpoints_and_methods_are_unrecognized() {
    let s = TestServer::start().await;
    let (status, body) = s
        .call(Method::GET, "/_matrix/client/v3/no_such_thing", None, None)
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (404, Some("M_UNRECOGNIZED"))
    );
    let (status, body) = s
        .call(Method::DELETE, "/_matrix/client/versions", None, None)
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (405, Some("M_UNRECOGNIZED"))
    );
}

#[tokio::test]
async fn cors_on_every_path_and_options_without_auth() {
    let s = TestServer::start().await;
    for path in [
        "/_matrix/client/v3/sync",
        "/_matrix/media/v3/upload",
        "/.well-known/matrix/client",
    ] {
        let res = s
            .http
            .request(Method::OPTIONS, s.url(path))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        assert_eq!(res.headers()["access-control-allow-origin"], "*");
        assert!(
            res.headers()["access-control-allow-headers"]
                .to_str()
                .unwrap()
                .contains("Authorization")
        );
    }
    let res = s
        .http
        .get(s.url("/_matrix/client/versions"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn bad_bodies_get_matrix_errors() {
    let s = TestServer::start().await;
    let token = s.register("erin").await;
    let res = s
        .http
        .post(s.url("/_matrix/client/v3/createRoom"))
        .bearer_auth(&token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["errcode"], "M_NOT_JSON");

    let (status, body) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/createRoom",
            Some(&token),
            Some(serde_json::json!({"invite": "not-a-list"})),
        )
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (400, Some("M_BAD_JSON")),
        "{body}"
    );
}

#[tokio::test]
async fn client_is_served_with_spa_fallback_or_a_clear_message() {
    let s = TestServer::start().await;
    let res = s
        .http
        .get(s.url("/rooms/some/client/route"))
        .send()
        .await
        .unwrap();
    // With a built client: index.html (no-cache, CSP); without: 503 saying how to build it.
    match res.status().as_u16() {
        200 => {
            assert_eq!(res.headers()["cache-control"], "no-cache");
            let csp = res.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .to_owned();
            assert!(
                csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
                "{csp}"
            );
            assert!(res.text().await.unwrap().contains("<html"));
        }
        503 => assert!(res.text().await.unwrap().contains("not built")),
        other => panic!("unexpected status {other}"),
    }
    let res = s.http.get(s.url("/missing-asset.js")).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn malformed_login_is_a_400_not_a_dropped_connection() {
    let s = TestServer::start().await;
    for body in [
        serde_json::json!({}),
        serde_json::json!({"password": "x"}),
        serde_json::json!({"type": 5}),
    ] {
        let (status, res) = s
            .call(
                Method::POST,
                "/_matrix/client/v3/login",
                None,
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 400, "{body} -> {res}");
        assert!(res["errcode"].is_string());
    }
    let res = s
        .http
        .post(s.url("/_matrix/client/v3/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let s = TestServer::start_rate_limited().await;
    // Registration: two requests per account, ten per address in a burst.
    let mut limited = None;
    for i in 0..12 {
        let body =
            serde_json::json!({ "username": format!("user{i}"), "password": "secret-password" });
        let (status, answer) = s
            .call(
                Method::POST,
                "/_matrix/client/v3/register",
                None,
                Some(body),
            )
            .await;
        if status == 429 {
            limited = Some(answer);
            break;
        }
        assert_eq!(status, 401, "{answer}");
    }
    let answer = limited.expect("the eleventh registration request is limited");
    assert_eq!(answer["errcode"], "M_LIMIT_EXCEEDED");
    assert!(answer["retry_after_ms"].as_u64().unwrap() > 0, "{answer}");

    // Sending: a burst of 50 per user, then 429 until the bucket refills.
    let s = TestServer::start_rate_limited().await;
    let alice = s.register("alice").await;
    let room = s.create_room(&alice, serde_json::json!({})).await;
    let mut statuses = Vec::new();
    for i in 0..70 {
        let (status, _) = s.send_text(&alice, &room, &format!("t{i}"), "hi").await;
        statuses.push(status);
    }
    assert!(statuses[..50].iter().all(|s| *s == 200), "{statuses:?}");
    assert!(statuses[50..].contains(&429), "{statuses:?}");
}
