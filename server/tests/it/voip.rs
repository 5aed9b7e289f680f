use hmac::{Hmac, Mac};
use reqwest::Method;
use sha1::Sha1;

use crate::harness::TestServer;

const TURN: &str = "/_matrix/client/v3/voip/turnServer";

#[tokio::test]
async fn turn_credentials_are_coturn_compatible_and_time_limited() {
    let uris = vec![
        "turn:turn.example.org:3478?transport=udp".to_owned(),
        "turns:turn.example.org:5349".to_owned(),
    ];
    let s = TestServer::start_with_turn(uris.clone(), "s3cret").await;
    let alice = s.register("alice").await;
    let (status, res) = s.call(Method::GET, TURN, Some(&alice), None).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["uris"], serde_json::json!(uris));
    assert_eq!(res["ttl"], 3600);
    let username = res["username"].as_str().unwrap();
    let (expiry, user) = username.split_once(':').unwrap();
    assert_eq!(user, "@alice:localhost");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expiry: u64 = expiry.parse().unwrap();
    assert!(
        (now + 3590..=now + 3610).contains(&expiry),
        "{expiry} vs {now}"
    );
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
async fn the_default_relay_has_a_secret_kept_in_the_data_folder() {
    let dir = tempfile::tempdir().unwrap();
    let mut overrides = weft_server::config::Overrides {
        listen: Some("127.0.0.1:8008".into()),
        data_dir: Some(dir.path().join("data")),
        ..Default::default()
    };
    let config = weft_server::config::Config::merge(
        weft_server::config::FileConfig::default(),
        overrides.clone(),
    )
    .unwrap();
    let turn = config.turn.as_ref().expect("a relay by default");
    assert!(turn.automatic);
    assert_eq!(turn.uris, ["turn:127.0.0.1:3478?transport=udp"]);
    assert!(
        turn.relay.as_ref().unwrap().allow_private_peers,
        "a loopback server's peers are local"
    );

    let secret = |config: &weft_server::config::Config| {
        let services = weft_server::open_services(config).unwrap();
        services
            .config()
            .turn
            .as_ref()
            .unwrap()
            .shared_secret
            .clone()
    };
    let first = secret(&config);
    assert_eq!(first.len(), 40);
    assert_eq!(secret(&config), first, "the same secret after a restart");

    overrides.turn_relay = Some(false);
    let config =
        weft_server::config::Config::merge(weft_server::config::FileConfig::default(), overrides)
            .unwrap();
    assert!(config.turn.is_none());
}

#[tokio::test]
async fn without_turn_the_answer_is_empty() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let (status, res) = s.call(Method::GET, TURN, Some(&alice), None).await;
    assert_eq!((status, res), (200, serde_json::json!({})));
}

mod relay {
    use std::{sync::Arc, time::Duration};

    use tokio::net::UdpSocket;
    use turn::client::{Client, ClientConfig};
    use webrtc_util::Conn;
    use weft_server::{config::RelayConfig, service::voip::turn_password, turn_relay::Relay};

    async fn relay(allow_private_peers: bool) -> Relay {
        let config = RelayConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            external_ip: None,
            min_port: 41000,
            max_port: 41999,
            allow_private_peers,
        };
        Relay::start(&config, "s3cret", "localhost").await.unwrap()
    }

    async fn client(relay: &Relay, password: Option<String>) -> Client {
        client_of(relay, "@alice:localhost", password).await
    }

    async fn client_of(relay: &Relay, user: &str, password: Option<String>) -> Client {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let username = format!("{}:{user}", now + 600);
        let password = password.unwrap_or_else(|| turn_password("s3cret", &username));
        let conn = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let client = Client::new(ClientConfig {
            stun_serv_addr: relay.addr.to_string(),
            turn_serv_addr: relay.addr.to_string(),
            username,
            password,
            realm: "localhost".into(),
            software: String::new(),
            rto_in_ms: 0,
            conn,
            vnet: None,
        })
        .await
        .unwrap();
        client.listen().await.unwrap();
        client
    }

    #[tokio::test]
    async fn relays_with_the_turn_server_credentials() {
        let relay = relay(true).await;
        let client = client(&relay, None).await;
        let allocation = client.allocate().await.unwrap();
        let relayed = allocation.local_addr().unwrap();
        assert_eq!(relayed.ip().to_string(), "127.0.0.1");
        assert!((41000..=41999).contains(&relayed.port()));

        let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        allocation
            .send_to(b"ping", peer.local_addr().unwrap())
            .await
            .unwrap();
        let mut buf = [0; 64];
        let (n, from) = tokio::time::timeout(Duration::from_secs(5), peer.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((&buf[..n], from), (&b"ping"[..], relayed));
        peer.send_to(b"pong", relayed).await.unwrap();
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), allocation.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], b"pong");
        client.close().await.unwrap();
        relay.close().await;
    }

    #[tokio::test]
    async fn refuses_wrong_credentials_and_private_peers() {
        let relay = relay(false).await;
        let bad = client(&relay, Some("wrong".into())).await;
        assert!(
            bad.allocate().await.is_err(),
            "a wrong password gets no allocation"
        );
        bad.close().await.unwrap();

        let client = client(&relay, None).await;
        let allocation = client.allocate().await.unwrap();
        let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        allocation
            .send_to(b"into the LAN", peer.local_addr().unwrap())
            .await
            .unwrap();
        let mut buf = [0; 64];
        let got = tokio::time::timeout(Duration::from_millis(700), peer.recv_from(&mut buf)).await;
        assert!(
            got.is_err(),
            "nothing is relayed to a loopback peer by default"
        );
        client.close().await.unwrap();
        relay.close().await;
    }

    #[tokio::test]
    async fn one_user_cannot_hoard_relay_allocations() {
        let relay = relay(true).await;
        let mut clients = Vec::new();
        let mut allocations = Vec::new();
        let mut refused = 0;
        // Each client is a fresh UDP socket (a fresh 5-tuple) with fresh credentials of the
        // same user, as a script hoarding relay ports would use.
        for _ in 0..20 {
            let client = client(&relay, None).await;
            match client.allocate().await {
                Ok(allocation) => allocations.push(allocation),
                Err(_) => refused += 1,
            }
            clients.push(client);
        }
        assert_eq!(
            allocations.len(),
            weft_server::turn_relay::ALLOCATIONS_PER_USER,
            "{refused} refused"
        );
        // Another user is not affected.
        let bob = client_of(&relay, "@bob:localhost", None).await;
        assert!(bob.allocate().await.is_ok(), "bob still gets a relay");
        // Closing allocations gives the quota back.
        allocations.remove(0).close().await.unwrap();
        let mut again = None;
        for _ in 0..50 {
            let client = client(&relay, None).await;
            if client.allocate().await.is_ok() {
                again = Some(client);
                break;
            }
            client.close().await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(again.is_some(), "a freed allocation can be used again");
        for client in clients.into_iter().chain(again).chain([bob]) {
            client.close().await.unwrap();
        }
        relay.close().await;
    }
}
