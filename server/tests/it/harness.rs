//! Boots a server in-process and gives tests a small Matrix client.

use std::net::SocketAddr;

use serde_json::{Value, json};
use tempfile::TempDir;
use weft_server::config::{Config, FileConfig, Overrides, Registration};

pub struct TestServer {
    pub base: String,
    pub http: reqwest::Client,
    _dir: TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub fn test_config(dir: &std::path::Path, registration: Registration) -> Config {
    test_config_with(dir, registration, FileConfig::default())
}

/// A test configuration over settings of the configuration file.
pub fn test_config_with(
    dir: &std::path::Path,
    registration: Registration,
    file: FileConfig,
) -> Config {
    let overrides = Overrides {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.join("data")),
        server_name: Some("localhost".into()),
        registration: Some(registration),
        registration_token: Some("let-me-in".into()),
        log: None,
        // Tests register and send in quick bursts; the limits have their own test.
        rate_limits: Some(false),
        turn_relay: Some(false),
    };
    Config::merge(file, overrides).unwrap()
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(Registration::Open).await
    }

    pub async fn start_with(registration: Registration) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = test_config(dir.path(), registration);
        Self::start_config(dir, config).await
    }

    /// Starts with a small upload limit.
    pub async fn start_with_upload_limit(bytes: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path(), Registration::Open);
        config.max_upload_size = bytes;
        Self::start_config(dir, config).await
    }

    /// Starts with a TURN server configured.
    pub async fn start_with_turn(uris: Vec<String>, secret: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path(), Registration::Open);
        config.turn = Some(weft_server::config::TurnConfig {
            uris,
            shared_secret: secret.to_owned(),
            ttl: std::time::Duration::from_secs(3600),
            relay: None,
            automatic: false,
        });
        Self::start_config(dir, config).await
    }

    /// Starts with rate limits on, as a default install runs.
    pub async fn start_rate_limited() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path(), Registration::Open);
        config.rate_limits = true;
        Self::start_config(dir, config).await
    }

    pub async fn start_config(dir: TempDir, config: Config) -> Self {
        let services = weft_server::open_services(&config).unwrap();
        let listener = weft_server::bind(&config).await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(weft_server::serve(listener, services, async {
            let _ = rx.await;
        }));
        Self {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            _dir: dir,
            shutdown: Some(tx),
        }
    }

    /// The HTTP client, for requests `call` cannot make (raw bodies, headers).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request; returns status and JSON body (Null if not JSON).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Registers through the user-interactive flow; returns the access token.
    pub async fn register(&self, name: &str) -> String {
        let body = json!({ "username": name, "password": "secret-password" });
        let (status, challenge) = self
            .call(
                reqwest::Method::POST,
                "/_matrix/client/v3/register",
                None,
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 401, "{challenge}");
        let session = challenge["session"].as_str().unwrap().to_owned();
        let mut body = body;
        body["auth"] = json!({ "type": "m.login.dummy", "session": session });
        let (status, ok) = self
            .call(
                reqwest::Method::POST,
                "/_matrix/client/v3/register",
                None,
                Some(body),
            )
            .await;
        assert_eq!(status, 200, "{ok}");
        assert_eq!(ok["user_id"], format!("@{name}:localhost"));
        ok["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn create_room(&self, token: &str, body: Value) -> String {
        let (status, res) = self
            .call(
                reqwest::Method::POST,
                "/_matrix/client/v3/createRoom",
                Some(token),
                Some(body),
            )
            .await;
        assert_eq!(status, 200, "{res}");
        res["room_id"].as_str().unwrap().to_owned()
    }

    pub async fn send_text(&self, token: &str, room: &str, txn: &str, text: &str) -> (u16, Value) {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/m.room.message/{txn}",
            enc(room)
        );
        self.call(
            reqwest::Method::PUT,
            &path,
            Some(token),
            Some(json!({ "msgtype": "m.text", "body": text })),
        )
        .await
    }

    pub async fn sync(&self, token: &str, since: Option<&str>, timeout_ms: u64) -> Value {
        let mut path = format!("/_matrix/client/v3/sync?timeout={timeout_ms}");
        if let Some(since) = since {
            path.push_str(&format!("&since={since}"));
        }
        let (status, res) = self
            .call(reqwest::Method::GET, &path, Some(token), None)
            .await;
        assert_eq!(status, 200, "{res}");
        res
    }
}

/// Percent-encodes a path segment (room IDs contain `!` and `:`).
pub fn enc(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Bodies of `m.room.message` events in a sync response's room timeline.
pub fn timeline_bodies(sync: &Value, room: &str) -> Vec<String> {
    sync["rooms"]["join"][room]["timeline"]["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter(|e| e["type"] == "m.room.message")
                .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
