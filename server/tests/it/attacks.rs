//! Regression tests for holes found by probing the server as an attacker would
//! (issue 12). Each test is named after the attack it keeps out.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestServer, enc};

async fn login(s: &TestServer, user: &str, password: &str, device: Option<&str>) -> (u16, Value) {
    let mut body = json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": password});
    if let Some(device) = device {
        body["device_id"] = json!(device);
    }
    s.call(Method::POST, "/_matrix/client/v3/login", None, Some(body))
        .await
}

async fn login_device(s: &TestServer, user: &str) -> (String, String) {
    let (status, res) = login(s, user, "secret-password", None).await;
    assert_eq!(status, 200, "{res}");
    (
        res["access_token"].as_str().unwrap().to_owned(),
        res["device_id"].as_str().unwrap().to_owned(),
    )
}

const SIGNING_UPLOAD: &str = "/_matrix/client/v3/keys/device_signing/upload";

#[tokio::test]
async fn a_stolen_token_cannot_replace_the_self_signing_or_user_signing_key() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    // Real keys: the server checks that the master key signed the others.
    let cross = crate::keys::CrossSigning::new("@alice:localhost");
    let first = cross.upload_body();
    let (status, body) = s
        .call(
            Method::POST,
            SIGNING_UPLOAD,
            Some(&alice),
            Some(first.clone()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Uploading the same keys again is harmless and needs no password.
    let (status, body) = s
        .call(Method::POST, SIGNING_UPLOAD, Some(&alice), Some(first))
        .await;
    assert_eq!(status, 200, "{body}");

    let mut evil = crate::keys::CrossSigning::new("@alice:localhost");
    evil.master = cross.master.clone();
    for (field, key) in [
        ("self_signing_key", evil.self_signing_key()),
        ("user_signing_key", evil.user_signing_key()),
    ] {
        let replace = json!({ field: key });
        let (status, body) = s
            .call(
                Method::POST,
                SIGNING_UPLOAD,
                Some(&alice),
                Some(replace.clone()),
            )
            .await;
        assert_eq!(status, 401, "replacing {field} needs the password: {body}");
        assert!(body["flows"].is_array(), "{body}");
        // With the password, it works.
        let mut with_auth = replace;
        with_auth["auth"] = json!({
            "type": "m.login.password", "session": body["session"],
            "identifier": {"type": "m.id.user", "user": "alice"}, "password": "secret-password",
        });
        let (status, body) = s
            .call(Method::POST, SIGNING_UPLOAD, Some(&alice), Some(with_auth))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (_, keys) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/keys/query",
            Some(&alice),
            Some(json!({"device_keys": {"@alice:localhost": []}})),
        )
        .await;
    let evil_key = format!("ed25519:{}", crate::keys::public(&evil.self_signing));
    assert!(
        keys["self_signing_keys"]["@alice:localhost"]["keys"][evil_key].is_string(),
        "{keys}"
    );
}

/// How long a failing login takes, in milliseconds.
async fn failed_login_ms(s: &TestServer, user: &str, password: &str) -> f64 {
    let started = std::time::Instant::now();
    let (status, body) = login(s, user, password, None).await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "{body}"
    );
    started.elapsed().as_secs_f64() * 1000.0
}

#[tokio::test]
async fn login_timing_does_not_reveal_which_accounts_exist() {
    let s = TestServer::start().await;
    s.register("alice").await;
    // The fastest of interleaved tries of each kind: load from other tests or processes
    // can only make a try slower, never faster, so each minimum tends to the real cost.
    // Under heavy load one kind may go several tries without a quiet moment, so rounds
    // continue (up to a bound) until the minimums show it; never fewer than MIN_ROUNDS, so
    // a cheap unknown-user path cannot pass on a few tries that happened to be slowed.
    // Without the dummy hash an unknown user costs about a millisecond against a whole
    // argon2 verification, and no amount of load makes the wrong-password minimum drop
    // below that verification, so a server that skips the hash fails every round.
    const MIN_ROUNDS: usize = 5;
    const MAX_ROUNDS: usize = 40;
    let (mut wrong_password, mut unknown_user, mut foreign_user) = (f64::MAX, f64::MAX, f64::MAX);
    // Each spends one argon2 verification: within a factor of the wrong password's.
    let alike = |other: f64, wrong_password: f64| other > wrong_password * 0.4;
    for round in 1..=MAX_ROUNDS {
        wrong_password = wrong_password.min(failed_login_ms(&s, "alice", "not-her-password").await);
        unknown_user =
            unknown_user.min(failed_login_ms(&s, "nobody-here", "not-her-password").await);
        foreign_user =
            foreign_user.min(failed_login_ms(&s, "@x:elsewhere.example", "whatever").await);
        if round >= MIN_ROUNDS
            && alike(unknown_user, wrong_password)
            && alike(foreign_user, wrong_password)
        {
            break;
        }
    }
    eprintln!(
        "login: wrong password {wrong_password:.1} ms, unknown user {unknown_user:.1} ms, foreign ID {foreign_user:.1} ms"
    );
    assert!(
        alike(unknown_user, wrong_password),
        "unknown user {unknown_user:.1} ms vs wrong password {wrong_password:.1} ms"
    );
    assert!(
        alike(foreign_user, wrong_password),
        "foreign user {foreign_user:.1} ms vs wrong password {wrong_password:.1} ms"
    );
}

#[tokio::test]
async fn registering_a_full_user_id_cannot_bypass_the_localpart_grammar() {
    let s = TestServer::start().await;
    for name in [
        "@Eve!X:localhost",
        "@eve x:localhost",
        "@eve\"<script>:localhost",
        "@:localhost",
    ] {
        let body = json!({"username": name, "password": "secret-password", "auth": {"type": "m.login.dummy"}});
        let (status, res) = s
            .call(
                Method::POST,
                "/_matrix/client/v3/register",
                None,
                Some(body),
            )
            .await;
        assert_eq!(
            (status, res["errcode"].as_str()),
            (400, Some("M_INVALID_USERNAME")),
            "{name}: {res}"
        );
        let path = format!(
            "/_matrix/client/v3/register/available?username={}",
            enc(name)
        );
        let (status, res) = s.call(Method::GET, &path, None, None).await;
        assert_eq!(
            (status, res["errcode"].as_str()),
            (400, Some("M_INVALID_USERNAME")),
            "{name}: {res}"
        );
    }
    // A valid full ID still works (and is lower-cased like a bare name).
    let body = json!({"username": "@Eve:localhost", "password": "secret-password", "auth": {"type": "m.login.dummy"}});
    let (status, res) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/register",
            None,
            Some(body),
        )
        .await;
    assert_eq!(
        (status, &res["user_id"]),
        (200, &json!("@eve:localhost")),
        "{res}"
    );
}

fn to_device_events(sync: &Value) -> Vec<Value> {
    sync["to_device"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn to_device_messages_cannot_be_planted_for_a_device_that_does_not_exist_yet() {
    let s = TestServer::start().await;
    s.register("alice").await;
    s.register("bob").await;
    let (alice, _) = login_device(&s, "alice").await;
    // Alice queues a fake key share for a device bob does not have (yet), and for a user
    // who does not exist.
    let body = json!({"messages": {
        "@bob:localhost": {"FUTUREDEV": {"forged": "room key"}},
        "@ghost:localhost": {"GHOSTDEV": {"forged": "room key"}},
    }});
    let (status, res) = s
        .call(
            Method::PUT,
            "/_matrix/client/v3/sendToDevice/m.room_key/plant1",
            Some(&alice),
            Some(body),
        )
        .await;
    assert_eq!(status, 200, "{res}");
    // Bob later signs in with exactly that device ID: nothing is waiting for it.
    let (status, res) = login(&s, "bob", "secret-password", Some("FUTUREDEV")).await;
    assert_eq!(status, 200, "{res}");
    let bob = res["access_token"].as_str().unwrap().to_owned();
    let sync = s.sync(&bob, None, 0).await;
    assert!(to_device_events(&sync).is_empty(), "{sync}");
    // The ghost registers and signs in as GHOSTDEV: nothing either.
    s.register("ghost").await;
    let (_, res) = login(&s, "ghost", "secret-password", Some("GHOSTDEV")).await;
    let sync = s.sync(res["access_token"].as_str().unwrap(), None, 0).await;
    assert!(to_device_events(&sync).is_empty(), "{sync}");
}

#[tokio::test]
async fn a_to_device_flood_cannot_fill_a_device_queue_without_bound() {
    let dir = tempfile::tempdir().unwrap();
    let mut config =
        crate::harness::test_config(dir.path(), weft_server::config::Registration::Open);
    config.to_device_queue_limit = 25;
    let s = TestServer::start_config(dir, config).await;
    s.register("alice").await;
    s.register("bob").await;
    let (alice, _) = login_device(&s, "alice").await;
    let (bob, bob_dev) = login_device(&s, "bob").await;
    for i in 0..40 {
        let body = json!({"messages": {"@bob:localhost": {bob_dev.clone(): {"n": i}}}});
        let path = format!("/_matrix/client/v3/sendToDevice/m.flood/t{i}");
        assert_eq!(
            s.call(Method::PUT, &path, Some(&alice), Some(body)).await.0,
            200
        );
    }
    let sync = s.sync(&bob, None, 0).await;
    let events = to_device_events(&sync);
    assert_eq!(events.len(), 25, "the queue holds at most its limit");
    assert_eq!(events[0]["content"]["n"], 0, "the oldest are kept");
    // Once bob acknowledges them, the queue takes messages again.
    let next = sync["next_batch"].as_str().unwrap().to_owned();
    assert!(to_device_events(&s.sync(&bob, Some(&next), 0).await).is_empty());
    let body = json!({"messages": {"@bob:localhost": {bob_dev.clone(): {"n": "after"}}}});
    assert_eq!(
        s.call(
            Method::PUT,
            "/_matrix/client/v3/sendToDevice/m.flood/after",
            Some(&alice),
            Some(body)
        )
        .await
        .0,
        200
    );
    let sync = s.sync(&bob, Some(&next), 5_000).await;
    assert_eq!(to_device_events(&sync).len(), 1, "{sync}");
}

async fn joined_rooms(s: &TestServer, token: &str) -> Value {
    let (status, res) = s
        .call(
            Method::GET,
            "/_matrix/client/v3/joined_rooms",
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, 200);
    res["joined_rooms"].clone()
}

#[tokio::test]
async fn a_create_room_that_fails_late_leaves_no_half_built_room() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    s.register("bob").await;
    let failing = [
        // The override takes alice's power away: the join rules event fails the auth rules.
        json!({"room_alias_name": "plaza", "power_level_content_override": {"users": {}}}),
        // Not an integer where room version 11 needs one.
        json!({"room_alias_name": "plaza", "power_level_content_override": {"ban": "fifty"}}),
        // An invitee who does not exist, after all the state.
        json!({"room_alias_name": "plaza", "name": "Plaza", "invite": ["@bob:localhost", "@nobody:localhost"]}),
        // Content that is not canonical JSON, late in initial_state.
        json!({"room_alias_name": "plaza", "initial_state": [{"type": "m.room.topic", "content": {"topic": "x", "weight": 1.5}}]}),
    ];
    for body in failing {
        let (status, res) = s
            .call(
                Method::POST,
                "/_matrix/client/v3/createRoom",
                Some(&alice),
                Some(body.clone()),
            )
            .await;
        assert!((400..500).contains(&status), "{body} -> {status} {res}");
        assert_eq!(joined_rooms(&s, &alice).await, json!([]), "after {body}");
        let sync = s.sync(&alice, None, 0).await;
        assert!(
            sync["rooms"]["join"]
                .as_object()
                .is_none_or(|r| r.is_empty()),
            "{body}: {sync}"
        );
        let (status, _) = s
            .call(
                Method::GET,
                "/_matrix/client/v3/directory/room/%23plaza%3Alocalhost",
                None,
                None,
            )
            .await;
        assert_eq!(
            status, 404,
            "the alias of a failed createRoom stays free ({body})"
        );
    }
    let (_, bob_login) = login(&s, "bob", "secret-password", None).await;
    let sync = s
        .sync(bob_login["access_token"].as_str().unwrap(), None, 0)
        .await;
    assert!(
        sync["rooms"]["invite"]
            .as_object()
            .is_none_or(|r| r.is_empty()),
        "no invite from a failed room: {sync}"
    );
    // The alias is still free for a room that works.
    s.create_room(&alice, json!({"room_alias_name": "plaza"}))
        .await;
}

#[tokio::test]
async fn a_room_cannot_claim_another_rooms_alias_as_its_canonical_alias() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let eve = s.register("eve").await;
    let lobby = s
        .create_room(
            &alice,
            json!({"visibility": "public", "room_alias_name": "lobby"}),
        )
        .await;
    let spoof = s
        .create_room(&eve, json!({"room_alias_name": "eves-room"}))
        .await;
    let path = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.canonical_alias",
        enc(&spoof)
    );
    for content in [
        json!({"alias": "#lobby:localhost"}),
        json!({"alias": "#eves-room:localhost", "alt_aliases": ["#lobby:localhost"]}),
        json!({"alias": "#nowhere:localhost"}),
        json!({"alt_aliases": ["#eves-room:localhost", "#lobby:elsewhere.example"]}),
    ] {
        let (status, res) = s
            .call(Method::PUT, &path, Some(&eve), Some(content.clone()))
            .await;
        assert_eq!(
            (status, res["errcode"].as_str()),
            (400, Some("M_BAD_ALIAS")),
            "{content}: {res}"
        );
    }
    let (status, res) = s
        .call(
            Method::PUT,
            &path,
            Some(&eve),
            Some(json!({"alias": "not an alias"})),
        )
        .await;
    assert_eq!(
        (status, res["errcode"].as_str()),
        (400, Some("M_INVALID_PARAM")),
        "{res}"
    );
    // Nor at creation, through initial_state.
    let body = json!({"initial_state": [{"type": "m.room.canonical_alias", "content": {"alias": "#lobby:localhost"}}]});
    let (status, res) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/createRoom",
            Some(&eve),
            Some(body),
        )
        .await;
    assert_eq!(
        (status, res["errcode"].as_str()),
        (400, Some("M_BAD_ALIAS")),
        "{res}"
    );

    // Her own aliases are fine, and so is naming none.
    assert_eq!(
        s.call(
            Method::PUT,
            "/_matrix/client/v3/directory/room/%23eve2%3Alocalhost",
            Some(&eve),
            Some(json!({"room_id": spoof}))
        )
        .await
        .0,
        200
    );
    for content in [
        json!({"alias": "#eves-room:localhost", "alt_aliases": ["#eve2:localhost"]}),
        json!({}),
    ] {
        let (status, res) = s
            .call(Method::PUT, &path, Some(&eve), Some(content.clone()))
            .await;
        assert_eq!(status, 200, "{content}: {res}");
    }
    let (_, canonical) = s
        .call(
            Method::GET,
            &format!(
                "/_matrix/client/v3/rooms/{}/state/m.room.canonical_alias",
                enc(&lobby)
            ),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(canonical["alias"], "#lobby:localhost");
}

/// Sends `request` until it is answered 429; returns how many got through first.
async fn until_limited(
    s: &TestServer,
    token: &str,
    max: usize,
    mut request: impl FnMut(usize) -> (Method, String, Value),
) -> usize {
    for i in 0..max {
        let (method, path, body) = request(i);
        let (status, res) = s.call(method, &path, Some(token), Some(body)).await;
        if status == 429 {
            assert_eq!(res["errcode"], "M_LIMIT_EXCEEDED", "{path}: {res}");
            assert!(
                res["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0),
                "{path}: {res}"
            );
            return i;
        }
        assert!(status < 500, "{path}: {status} {res}");
    }
    panic!(
        "{max} requests and never rate limited: {:?}",
        request(max).1
    );
}

/// Builds the `i`th request of one kind: method, path and body.
type WriteMaker<'a> = dyn FnMut(usize) -> (Method, String, Value) + 'a;

#[tokio::test]
async fn one_user_cannot_flood_any_kind_of_write() {
    let s = TestServer::start_rate_limited().await;
    let alice = s.register("alice").await;
    let room = s
        .create_room(&alice, json!({"preset": "public_chat"}))
        .await;
    let r = enc(&room);
    let (_, sent) = s.send_text(&alice, &room, "t0", "hello").await;
    let event = sent["event_id"].as_str().unwrap().to_owned();
    let e = enc(&event);
    let writes: Vec<(&str, Box<WriteMaker<'_>>)> = vec![
        (
            "state events",
            Box::new(|i| {
                (
                    Method::PUT,
                    format!("/_matrix/client/v3/rooms/{r}/state/m.room.topic"),
                    json!({"topic": format!("t{i}")}),
                )
            }),
        ),
        (
            "redactions",
            Box::new(|i| {
                (
                    Method::PUT,
                    format!("/_matrix/client/v3/rooms/{r}/redact/{e}/r{i}"),
                    json!({}),
                )
            }),
        ),
        (
            "invites",
            Box::new(|i| {
                (
                    Method::POST,
                    format!("/_matrix/client/v3/rooms/{r}/invite"),
                    json!({"user_id": format!("@nobody{i}:localhost")}),
                )
            }),
        ),
        (
            "joins",
            Box::new(|_| {
                (
                    Method::POST,
                    format!("/_matrix/client/v3/rooms/{r}/join"),
                    json!({}),
                )
            }),
        ),
        (
            "to-device",
            Box::new(|i| {
                (
                    Method::PUT,
                    format!("/_matrix/client/v3/sendToDevice/m.x/d{i}"),
                    json!({"messages": {}}),
                )
            }),
        ),
        (
            "profile",
            Box::new(|i| {
                (
                    Method::PUT,
                    "/_matrix/client/v3/profile/@alice:localhost/displayname".to_owned(),
                    json!({"displayname": format!("a{i}")}),
                )
            }),
        ),
        (
            "typing",
            Box::new(|i| {
                (
                    Method::PUT,
                    format!("/_matrix/client/v3/rooms/{r}/typing/@alice:localhost"),
                    json!({"typing": i % 2 == 0, "timeout": 1000}),
                )
            }),
        ),
        (
            "receipts",
            Box::new(|_| {
                (
                    Method::POST,
                    format!("/_matrix/client/v3/rooms/{r}/receipt/m.read/{e}"),
                    json!({}),
                )
            }),
        ),
        (
            "key uploads",
            Box::new(|i| {
                (
                    Method::POST,
                    "/_matrix/client/v3/keys/upload".to_owned(),
                    json!({"one_time_keys": {format!("signed_curve25519:K{i}"): {"key": "k"}}}),
                )
            }),
        ),
    ];
    for (what, request) in writes {
        let allowed = until_limited(&s, &alice, 300, request).await;
        eprintln!("{what}: limited after {allowed}");
    }
    // Media uploads are raw bodies, not JSON.
    let mut limited = false;
    for _ in 0..300 {
        let res = s
            .http()
            .post(s.url("/_matrix/media/v3/upload"))
            .bearer_auth(&alice)
            .body("x")
            .send()
            .await
            .unwrap();
        if res.status() == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "media uploads are limited");
}

#[tokio::test]
async fn a_stolen_token_cannot_brute_force_the_password_through_user_interactive_auth() {
    let s = TestServer::start_rate_limited().await;
    let token = s.register("alice").await;
    let path = "/_matrix/client/v3/account/password";
    let attempt = |password: &str, session: &Value| {
        json!({"new_password": "owned", "auth": {
            "type": "m.login.password", "session": session,
            "identifier": {"type": "m.id.user", "user": "alice"}, "password": password,
        }})
    };
    let (_, challenge) = s
        .call(
            Method::POST,
            path,
            Some(&token),
            Some(json!({"new_password": "owned"})),
        )
        .await;
    let mut session = challenge["session"].clone();
    let mut limited = None;
    for i in 0..20 {
        let (status, res) = s
            .call(
                Method::POST,
                path,
                Some(&token),
                Some(attempt(&format!("guess{i}"), &session)),
            )
            .await;
        if status == 429 {
            limited = Some(i);
            break;
        }
        assert_eq!(status, 401, "{res}");
        session = res["session"].clone();
    }
    let limited = limited.expect("password guesses through UIA are rate limited");
    assert!(limited <= 5, "limited only after {limited} guesses");
    // While limited, not even the right password is checked.
    let (status, res) = s
        .call(
            Method::POST,
            path,
            Some(&token),
            Some(attempt("secret-password", &session)),
        )
        .await;
    assert_eq!(
        (status, res["errcode"].as_str()),
        (429, Some("M_LIMIT_EXCEEDED")),
        "{res}"
    );
    // Nor through login with a fresh address.
    let body = json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"}, "password": "guess-again"});
    let (status, _) = s
        .call(Method::POST, "/_matrix/client/v3/login", None, Some(body))
        .await;
    assert_eq!(
        status, 429,
        "failed guesses count per account, whatever the endpoint"
    );
}

async fn registrations_until_limited(
    s: &TestServer,
    forwarded_for: impl Fn(usize) -> String,
) -> Option<usize> {
    for i in 0..15 {
        let res = s
            .http()
            .post(s.url("/_matrix/client/v3/register"))
            .header("x-forwarded-for", forwarded_for(i))
            .json(&json!({"username": format!("user{i}"), "password": "secret-password"}))
            .send()
            .await
            .unwrap();
        if res.status() == 429 {
            return Some(i);
        }
    }
    None
}

#[tokio::test]
async fn a_forged_x_forwarded_for_does_not_dodge_per_address_limits() {
    // No trusted proxies (the default): the header is ignored, even from loopback.
    let s = TestServer::start_rate_limited().await;
    let limited = registrations_until_limited(&s, |i| format!("203.0.113.{i}")).await;
    assert_eq!(
        limited,
        Some(10),
        "a new X-Forwarded-For per request must not make a new bucket"
    );
}

#[tokio::test]
async fn x_forwarded_for_names_the_client_only_behind_a_trusted_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let file = weft_server::config::FileConfig {
        trusted_proxies: vec!["127.0.0.0/8".into()],
        ..Default::default()
    };
    let mut config =
        crate::harness::test_config_with(dir.path(), weft_server::config::Registration::Open, file);
    config.rate_limits = true;
    let s = TestServer::start_config(dir, config).await;
    // Behind the proxy, each client has its own bucket ...
    assert_eq!(
        registrations_until_limited(&s, |i| format!("198.51.100.7, 203.0.113.{i}")).await,
        None
    );
    // ... and one client is limited whatever it puts in front of the proxy's entry.
    assert_eq!(
        registrations_until_limited(&s, |i| format!("10.0.0.{i}, 203.0.113.99")).await,
        Some(10)
    );
}
