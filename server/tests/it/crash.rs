//! Durability: `kill -9` under write load loses no acknowledged event, and
//! the server starts cleanly on the same data folder afterwards.

use std::{
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::harness::enc;

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) async fn start(data: &std::path::Path, port: u16) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--server-name",
            "localhost",
            "--registration",
            "open",
            "--no-rate-limits",
            "--no-turn-relay",
        ])
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("http://127.0.0.1:{port}/_matrix/client/versions"))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "weft did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child
}

pub(crate) async fn post(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut child = start(&data, port).await;

    let register = json!({"username": "alice", "password": "pw"});
    let (_, challenge) = post(
        &http,
        format!("{base}/_matrix/client/v3/register"),
        None,
        register.clone(),
    )
    .await;
    let mut register = register;
    register["auth"] = json!({"type": "m.login.dummy", "session": challenge["session"]});
    let (status, account) = post(
        &http,
        format!("{base}/_matrix/client/v3/register"),
        None,
        register,
    )
    .await;
    assert_eq!(status, 200, "{account}");
    let token = account["access_token"].as_str().unwrap().to_owned();
    let (_, room) = post(
        &http,
        format!("{base}/_matrix/client/v3/createRoom"),
        Some(&token),
        json!({}),
    )
    .await;
    let room = room["room_id"].as_str().unwrap().to_owned();

    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..4 {
        let (http, base, token, room, acked) = (
            http.clone(),
            base.clone(),
            token.clone(),
            room.clone(),
            acked.clone(),
        );
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let url = format!(
                    "{base}/_matrix/client/v3/rooms/{}/send/m.room.message/w{w}-{i}",
                    enc(&room)
                );
                let sent = http
                    .put(url)
                    .bearer_auth(&token)
                    .json(&json!({"msgtype": "m.text", "body": format!("{w}-{i}")}))
                    .send()
                    .await;
                let Ok(res) = sent else { return };
                let Ok(body) = res.json::<Value>().await else {
                    return;
                };
                if let Some(id) = body["event_id"].as_str() {
                    acked.lock().unwrap().push(id.to_owned());
                }
            }
        }));
    }
    // Let the load build up, then kill without warning.
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < 200 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for w in writers {
        let _ = w.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 200,
        "only {} events acknowledged before the kill",
        acked.len()
    );

    let mut child = start(&data, port).await;
    let login = json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"}, "password": "pw"});
    let (status, session) = post(
        &http,
        format!("{base}/_matrix/client/v3/login"),
        None,
        login,
    )
    .await;
    assert_eq!(status, 200);
    let token = session["access_token"].as_str().unwrap().to_owned();
    for id in &acked {
        let url = format!(
            "{base}/_matrix/client/v3/rooms/{}/event/{}",
            enc(&room),
            enc(id)
        );
        let res = http.get(url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(res.status(), 200, "acknowledged event {id} was lost");
    }
    // And the server keeps working.
    let url = format!(
        "{base}/_matrix/client/v3/rooms/{}/send/m.room.message/after",
        enc(&room)
    );
    let res = http
        .put(url)
        .bearer_auth(&token)
        .json(&json!({"msgtype": "m.text", "body": "after"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    child.kill().unwrap();
    child.wait().unwrap();
}
