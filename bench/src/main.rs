//! `weft-bench`: drives the same Matrix workload against one or more running
//! homeservers and prints a comparison table.
//!
//! Workload (from the homeserver issue): N users in one room, each sending M
//! messages with K in flight while all N long-poll `/sync`; then unloaded
//! send→delivery; then the initial sync of a user in R rooms × E messages.
//! Memory comes from `/proc/<pid>/status` and the WAL size from the file.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use clap::Parser;
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "Matrix homeserver load benchmark; prints a table")]
struct Args {
    /// A server to measure: NAME=URL[,pid=PID][,wal=PATH]. Repeat for a side-by-side table.
    #[arg(long = "target", required = true)]
    targets: Vec<String>,
    #[arg(long, default_value_t = 20)]
    users: usize,
    #[arg(long, default_value_t = 50)]
    messages: usize,
    #[arg(long, default_value_t = 10)]
    in_flight: usize,
    #[arg(long, default_value_t = 50)]
    rooms: usize,
    #[arg(long, default_value_t = 20)]
    room_messages: usize,
}

struct Target {
    name: String,
    base: String,
    pid: Option<u32>,
    wal: Option<PathBuf>,
}

fn parse_target(spec: &str) -> Target {
    let (name, rest) = spec
        .split_once('=')
        .expect("target is NAME=URL[,pid=..][,wal=..]");
    let mut parts = rest.split(',');
    let base = parts.next().unwrap().trim_end_matches('/').to_owned();
    let (mut pid, mut wal) = (None, None);
    for part in parts {
        match part.split_once('=') {
            Some(("pid", v)) => pid = v.parse().ok(),
            Some(("wal", v)) => wal = Some(PathBuf::from(v)),
            _ => panic!("unknown target option {part}"),
        }
    }
    Target {
        name: name.to_owned(),
        base,
        pid,
        wal,
    }
}

#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("request failed");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn register(http: &reqwest::Client, base: &str, name: &str) -> Client {
    let url = format!("{base}/_matrix/client/v3/register");
    let body = json!({"username": name, "password": "bench-password-1", "inhibit_login": false});
    let (_, challenge) = call(
        http,
        reqwest::Method::POST,
        url.clone(),
        None,
        Some(body.clone()),
    )
    .await;
    let mut body = body;
    body["auth"] = json!({"type": "m.login.dummy", "session": challenge["session"]});
    let (status, res) = call(http, reqwest::Method::POST, url, None, Some(body)).await;
    assert_eq!(status, 200, "register {name}: {res}");
    Client {
        http: http.clone(),
        base: base.to_owned(),
        token: res["access_token"].as_str().unwrap().to_owned(),
    }
}

impl Client {
    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, res) = call(
            &self.http,
            reqwest::Method::POST,
            format!("{}{path}", self.base),
            Some(&self.token),
            Some(body),
        )
        .await;
        assert_eq!(status, 200, "POST {path}: {res}");
        res
    }

    async fn send(&self, room: &str, txn: &str, body: &str) {
        let path = format!(
            "{}/_matrix/client/v3/rooms/{}/send/m.room.message/{txn}",
            self.base,
            enc(room)
        );
        let (status, res) = call(
            &self.http,
            reqwest::Method::PUT,
            path,
            Some(&self.token),
            Some(json!({"msgtype": "m.text", "body": body})),
        )
        .await;
        assert_eq!(status, 200, "send: {res}");
    }

    async fn sync(&self, since: Option<&str>, timeout_ms: u64) -> Value {
        let filter = r#"{"room":{"timeline":{"limit":100}}}"#;
        let mut url = format!(
            "{}/_matrix/client/v3/sync?timeout={timeout_ms}&filter={}",
            self.base,
            enc(filter)
        );
        if let Some(s) = since {
            url.push_str(&format!("&since={}", enc(s)));
        }
        let (status, res) = call(
            &self.http,
            reqwest::Method::GET,
            url,
            Some(&self.token),
            None,
        )
        .await;
        assert_eq!(status, 200, "sync: {res}");
        res
    }
}

impl Client {
    /// Bodies of messages between two tokens, paging backwards.
    async fn messages_between(&self, room: &str, from: &str, to: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut from = from.to_owned();
        for _ in 0..100 {
            let url = format!(
                "{}/_matrix/client/v3/rooms/{}/messages?dir=b&limit=100&from={}&to={}",
                self.base,
                enc(room),
                enc(&from),
                enc(to)
            );
            let (status, page) = call(
                &self.http,
                reqwest::Method::GET,
                url,
                Some(&self.token),
                None,
            )
            .await;
            assert_eq!(status, 200, "messages: {page}");
            if let Some(chunk) = page["chunk"].as_array() {
                out.extend(
                    chunk
                        .iter()
                        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned)),
                );
            }
            match page["end"].as_str() {
                Some(end) if page["chunk"].as_array().is_some_and(|c| !c.is_empty()) => {
                    from = end.to_owned()
                }
                _ => break,
            }
        }
        out
    }
}

fn bodies(sync: &Value, room: &str) -> Vec<String> {
    sync["rooms"]["join"][room]["timeline"]["events"]
        .as_array()
        .map(|evs| {
            evs.iter()
                .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn rss_kb(pid: Option<u32>, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    // Synapse runs as one Python process; weft as one binary. Both report here.
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

struct Results {
    rows: Vec<(&'static str, String)>,
}

/// Long-polls as one user and records when each body first arrives.
fn spawn_listener(
    client: Client,
    room: String,
    since: String,
    seen: Arc<Mutex<HashMap<String, Instant>>>,
    stop: Arc<tokio::sync::Notify>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut since = since;
        loop {
            let sync = tokio::select! {
                s = client.sync(Some(&since), 30_000) => s,
                () = stop.notified() => return,
            };
            let now = Instant::now();
            let timeline = &sync["rooms"]["join"][&room]["timeline"];
            let mut got = bodies(&sync, &room);
            if timeline["limited"] == true {
                // A gap: fetch what the limited timeline left out, as clients do.
                if let Some(prev) = timeline["prev_batch"].as_str() {
                    got.extend(client.messages_between(&room, prev, &since).await);
                }
            }
            {
                let mut seen = seen.lock().unwrap();
                for body in got {
                    seen.entry(body).or_insert(now);
                }
            }
            since = sync["next_batch"].as_str().unwrap().to_owned();
        }
    })
}

async fn run(target: &Target, args: &Args) -> Results {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let tag = format!("b{}", std::process::id());
    let idle_rss = rss_kb(target.pid, "VmRSS:");

    let mut users = Vec::new();
    for i in 0..args.users {
        users.push(register(&http, &target.base, &format!("{tag}u{i}")).await);
    }
    let room = users[0]
        .post(
            "/_matrix/client/v3/createRoom",
            json!({"preset": "public_chat"}),
        )
        .await["room_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for u in &users[1..] {
        u.post(
            &format!("/_matrix/client/v3/join/{}", enc(&room)),
            json!({}),
        )
        .await;
    }

    // Every user long-polls; each records when bodies arrive.
    let stop = Arc::new(tokio::sync::Notify::new());
    let mut seen_by = Vec::new();
    let mut listeners = Vec::new();
    for u in &users {
        let since = u.sync(None, 0).await["next_batch"]
            .as_str()
            .unwrap()
            .to_owned();
        let seen = Arc::new(Mutex::new(HashMap::new()));
        listeners.push(spawn_listener(
            u.clone(),
            room.clone(),
            since,
            seen.clone(),
            stop.clone(),
        ));
        seen_by.push(seen);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Load: each user sends M messages, K in flight.
    let sent_at: Arc<Mutex<HashMap<String, (usize, Instant)>>> = Arc::default();
    let send_latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let started = Instant::now();
    let mut senders = Vec::new();
    for (ui, u) in users.iter().enumerate() {
        for lane in 0..args.in_flight {
            let (u, room, sent_at, lat) = (
                u.clone(),
                room.clone(),
                sent_at.clone(),
                send_latencies.clone(),
            );
            let (messages, in_flight) = (args.messages, args.in_flight);
            senders.push(tokio::spawn(async move {
                for i in (lane..messages).step_by(in_flight) {
                    let body = format!("load-{ui}-{i}");
                    let t0 = Instant::now();
                    sent_at.lock().unwrap().insert(body.clone(), (ui, t0));
                    u.send(&room, &format!("load{i}"), &body).await;
                    lat.lock().unwrap().push(t0.elapsed());
                }
            }));
        }
    }
    for s in senders {
        s.await.unwrap();
    }
    let load_time = started.elapsed();
    let total = args.users * args.messages;
    // Wait until the observers have everything (bounded).
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let complete = seen_by.iter().all(|s| {
            s.lock()
                .unwrap()
                .keys()
                .filter(|b| b.starts_with("load-"))
                .count()
                >= total
        });
        if complete {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut delivery = Vec::new();
    let mut missing = 0;
    for (body, (sender, t0)) in sent_at.lock().unwrap().iter() {
        // Delivery to the next user along (never the sender).
        let observer = &seen_by[(sender + 1) % seen_by.len()];
        match observer.lock().unwrap().get(body) {
            Some(t) => delivery.push(t.saturating_duration_since(*t0)),
            None => missing += 1,
        }
    }
    delivery.sort();
    let mut sends = send_latencies.lock().unwrap().clone();
    sends.sort();

    // Unloaded send → delivery, one at a time.
    let mut unloaded = Vec::new();
    for i in 0..30 {
        let body = format!("quiet-{i}");
        let t0 = Instant::now();
        users[0].send(&room, &format!("quiet{i}"), &body).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(t) = seen_by[1].lock().unwrap().get(&body) {
                unloaded.push(t.saturating_duration_since(t0));
                break;
            }
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    unloaded.sort();
    stop.notify_waiters();
    for l in listeners {
        l.abort();
    }

    // Initial sync of a user in R rooms × E messages.
    let wide = register(&http, &target.base, &format!("{tag}wide")).await;
    for r in 0..args.rooms {
        let room = wide
            .post(
                "/_matrix/client/v3/createRoom",
                json!({"name": format!("room {r}")}),
            )
            .await["room_id"]
            .as_str()
            .unwrap()
            .to_owned();
        for m in 0..args.room_messages {
            wide.send(&room, &format!("w{r}-{m}"), &format!("wide {r} {m}"))
                .await;
        }
    }
    let mut initial = Vec::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        let sync = wide.sync(None, 0).await;
        initial.push(t0.elapsed());
        assert!(sync["rooms"]["join"].as_object().map_or(0, |m| m.len()) >= args.rooms);
    }
    initial.sort();

    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    let mb =
        |kb: Option<u64>| kb.map_or("n/a".into(), |kb| format!("{:.1} MB", kb as f64 / 1024.0));
    let wal = target
        .wal
        .as_ref()
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()));
    Results {
        rows: vec![
            (
                "events/s (send, under load)",
                format!("{:.0}", total as f64 / load_time.as_secs_f64()),
            ),
            ("send p50", ms(percentile(&sends, 0.5))),
            ("send p95", ms(percentile(&sends, 0.95))),
            ("send→delivery p50 (load)", ms(percentile(&delivery, 0.5))),
            ("send→delivery p95 (load)", ms(percentile(&delivery, 0.95))),
            ("undelivered after 120 s", missing.to_string()),
            (
                "send→delivery p50 (unloaded)",
                ms(percentile(&unloaded, 0.5)),
            ),
            (
                "send→delivery p95 (unloaded)",
                ms(percentile(&unloaded, 0.95)),
            ),
            (
                "initial sync, 50 rooms × 20 msgs (median)",
                ms(percentile(&initial, 0.5)),
            ),
            ("idle RSS (before load)", mb(idle_rss)),
            ("peak RSS", mb(rss_kb(target.pid, "VmHWM:"))),
            ("RSS after", mb(rss_kb(target.pid, "VmRSS:"))),
            (
                "WAL size after",
                wal.map_or("n/a".into(), |b| {
                    format!("{:.1} MB", b as f64 / 1_048_576.0)
                }),
            ),
        ],
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let targets: Vec<Target> = args.targets.iter().map(|t| parse_target(t)).collect();
    let mut columns = Vec::new();
    for target in &targets {
        eprintln!("benchmarking {} at {} ...", target.name, target.base);
        columns.push(run(target, &args).await);
    }
    println!(
        "\n{} users × {} messages ({} in flight each), all long-polling /sync\n",
        args.users, args.messages, args.in_flight
    );
    print!("| {:<44} |", "metric");
    for t in &targets {
        print!(" {:>14} |", t.name);
    }
    println!();
    print!("|{}|", "-".repeat(46));
    for _ in &targets {
        print!("{}|", "-".repeat(16));
    }
    println!();
    for (i, (label, _)) in columns[0].rows.iter().enumerate() {
        print!("| {label:<44} |");
        for c in &columns {
            print!(" {:>14} |", c.rows[i].1);
        }
        println!();
    }
}
