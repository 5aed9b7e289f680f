use hmac::{Hmac, Mac};
use reqwest::Method;
use sha1::Sha1;

use crate::harness::TestServer;

const TURN: &str = "/_matrix/client/v3/voip/turnServer";

#[tokio::test]
async fn turn_credentials_are_coturn_compatible_and_time_limited() {
    let uris = vec!["turn:turn.example.org:3478?transport=udp".to_owned(), "turns:turn.example.org:5349".to_owned()];
    let s = TestServer::start_with_turn(uris.clone(), "s3cret").await;
    let alice = s.register("alice").await;
    let (status, res) = s.call(Method::GET, TURN, Some(&alice), None).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["uris"], serde_json::json!(uris));
    assert_eq!(res["ttl"], 3600);
    let username = res["username"].as_str().unwrap();
    let (expiry, user) = username.split_once(':').unwrap();
    assert_eq!(user, "@alice:localhost");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let expiry: u64 = expiry.parse().unwrap();
    assert!((now + 3590..=now + 3610).contains(&expiry), "{expiry} vs {now}");
    // What coturn computes with static-auth-secret=s3cret.
    let mut mac = Hmac::<Sha1>::new_from_slice(b"s3cret").unwrap();
    mac.update(username.as_bytes());
    use base64::Engine as _;
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(res["password"], expected);

    let (status, _) = s.call(Method::GET, TURN, None, None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn without_turn_the_answer_is_empty() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let (status, res) = s.call(Method::GET, TURN, Some(&alice), None).await;
    assert_eq!((status, res), (200, serde_json::json!({})));
}
