//! Server configuration: a TOML file, `WEFT_*` environment variables and
//! command-line flags, merged in that order of precedence (flag wins).
//!
//! Everything is validated before the server touches the disk, and every
//! problem names the key it is about.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use ruma::{OwnedServerName, ServerName};
use serde::Deserialize;

/// Who may create accounts through `/register`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Anyone who can reach the server (the `m.login.dummy` flow).
    Open,
    /// Only with a registration token (`m.login.registration_token`).
    Token,
    /// Nobody; accounts come from `weft user add`.
    Closed,
}

/// The configuration file's shape. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub server_name: Option<String>,
    pub registration: Option<Registration>,
    #[serde(default)]
    pub registration_tokens: Vec<String>,
    pub public_baseurl: Option<String>,
    pub log: Option<String>,
    /// Largest upload, in bytes.
    pub max_upload_size: Option<u64>,
    /// Rate limits on login, registration, every write and wrong passwords (default on).
    pub rate_limits: Option<bool>,
    /// TURN servers for calls.
    pub turn: Option<TurnFileConfig>,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For` names the client.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

/// `[turn]`: where clients find TURN relays and the secret shared with them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TurnFileConfig {
    #[serde(default)]
    pub uris: Vec<String>,
    pub shared_secret: Option<String>,
    pub ttl_seconds: Option<u64>,
    /// Run the embedded relay.
    pub relay: Option<bool>,
    /// UDP address it listens on (default 0.0.0.0:3478).
    pub relay_listen: Option<String>,
    /// The address clients reach relays at, when the server is behind NAT.
    pub relay_external_ip: Option<String>,
    pub relay_min_port: Option<u16>,
    pub relay_max_port: Option<u16>,
    /// Relay to loopback and private addresses too (tests, LAN-only installs).
    pub allow_private_peers: Option<bool>,
}

/// The embedded relay's settings.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    pub listen: SocketAddr,
    pub external_ip: Option<std::net::IpAddr>,
    pub min_port: u16,
    pub max_port: u16,
    pub allow_private_peers: bool,
}

/// Validated TURN settings. `Debug` never shows the secret.
#[derive(Clone)]
pub struct TurnConfig {
    pub uris: Vec<String>,
    pub shared_secret: String,
    pub ttl: std::time::Duration,
    /// The embedded relay, when enabled.
    pub relay: Option<RelayConfig>,
    /// Not configured, only defaulted: the secret comes from the data folder (generated
    /// once), and a relay port in use is a warning rather than a failed start.
    pub automatic: bool,
}

impl std::fmt::Debug for TurnConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnConfig")
            .field("uris", &self.uris)
            .field("shared_secret", &"<redacted>")
            .field("ttl", &self.ttl)
            .field("relay", &self.relay)
            .finish()
    }
}

/// Values given on the command line or through `WEFT_*` variables (clap merges
/// the two); they override the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub server_name: Option<String>,
    pub registration: Option<Registration>,
    pub registration_token: Option<String>,
    pub log: Option<String>,
    pub rate_limits: Option<bool>,
    /// `Some(false)` turns off the default embedded TURN relay.
    pub turn_relay: Option<bool>,
}

/// The validated configuration the server runs with.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub server_name: OwnedServerName,
    pub registration: Registration,
    pub registration_tokens: Vec<String>,
    /// Base URL advertised in `.well-known/matrix/client`, if set.
    pub public_baseurl: Option<String>,
    /// Log filter (tracing `EnvFilter` syntax); `RUST_LOG` wins over it.
    pub log: String,
    /// Largest upload in bytes (`m.upload.size`); larger ones get 413 `M_TOO_LARGE`.
    pub max_upload_size: u64,
    /// Whether rate limits apply (see `service::ratelimit` for the rates).
    pub rate_limits: bool,
    /// TURN relays offered to clients, if any.
    pub turn: Option<TurnConfig>,
    /// Most to-device messages waiting for one device; more are dropped until it syncs.
    pub to_device_queue_limit: usize,
    /// Peers whose `X-Forwarded-For` is believed (reverse proxies); nobody's by default.
    pub trusted_proxies: Vec<IpRange>,
}

/// An address or CIDR range, as `trusted_proxies` lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpRange {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl IpRange {
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        // An IPv4 client seen over IPv6 (::ffff:a.b.c.d) is the IPv4 client.
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
            v4 => v4,
        };
        let bits = |ip: std::net::IpAddr| -> (u128, u8) {
            match ip {
                std::net::IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, 32),
                std::net::IpAddr::V6(v6) => (u128::from(v6), 128),
            }
        };
        let ((net, width), (candidate, candidate_width)) = (bits(self.addr), bits(ip));
        if width != candidate_width {
            return false;
        }
        let mask = if self.prefix == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(self.prefix))
        };
        net & mask == candidate & mask
    }
}

impl std::str::FromStr for IpRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (addr, prefix) = text
            .split_once('/')
            .map_or((text, None), |(a, p)| (a, Some(p)));
        let addr: std::net::IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not an address or CIDR range"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}` has a bad prefix length"))?,
            None => max,
        };
        Ok(Self { addr, prefix })
    }
}

/// The default cap on one device's queue of undelivered to-device messages.
pub const DEFAULT_TO_DEVICE_QUEUE_LIMIT: usize = 10_000;

/// The default upload limit: 100 MiB.
/// The log filter when neither `RUST_LOG` nor `log` (file, `WEFT_LOG`, `--log`) sets one.
/// ruma's state resolution logs every auth check it passes at INFO (two or three lines for
/// each accepted event), which would drown everything else; its warnings still show.
pub const DEFAULT_LOG: &str = "info,ruma_state_res=warn";

pub const DEFAULT_MAX_UPLOAD_SIZE: u64 = 100 * 1024 * 1024;

/// A configuration problem, naming the key at fault.
#[derive(Debug, thiserror::Error)]
#[error("configuration error in `{key}`: {problem}")]
pub struct ConfigError {
    pub key: String,
    pub problem: String,
}

fn err(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_owned(),
        problem: problem.into(),
    }
}

impl Config {
    /// Reads the optional TOML file and merges the overrides over it.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Self, ConfigError> {
        let file_config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| err("config", format!("cannot read {}: {e}", path.display())))?;
                toml::from_str::<FileConfig>(&text).map_err(|e| {
                    err(
                        "config",
                        format!("{} is not valid: {}", path.display(), e.message()),
                    )
                    .with_key_from(&e)
                })?
            }
            None => FileConfig::default(),
        };
        Self::merge(file_config, overrides)
    }

    /// Merges and validates.
    pub fn merge(file: FileConfig, o: Overrides) -> Result<Self, ConfigError> {
        let listen_text = o
            .listen
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8008".to_owned());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            err(
                "listen",
                format!("`{listen_text}` is not an address like 127.0.0.1:8008"),
            )
        })?;

        let server_name_text = o.server_name.or(file.server_name).unwrap_or_else(|| {
            if listen.ip().is_loopback() {
                "localhost".to_owned()
            } else {
                listen.ip().to_string()
            }
        });
        let server_name = ServerName::parse(&server_name_text).map_err(|e| {
            err(
                "server_name",
                format!("`{server_name_text}` is not a valid server name ({e})"),
            )
        })?;

        let registration =
            o.registration
                .or(file.registration)
                .unwrap_or(if listen.ip().is_loopback() {
                    Registration::Open
                } else {
                    Registration::Token
                });

        let mut registration_tokens = file.registration_tokens;
        registration_tokens.extend(o.registration_token);
        if registration_tokens
            .iter()
            .any(|t| t.is_empty() || t.len() > 64)
        {
            return Err(err(
                "registration_tokens",
                "tokens must be 1 to 64 characters long",
            ));
        }

        let data_dir = o
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
        if data_dir.as_os_str().is_empty() {
            return Err(err("data_dir", "must not be empty"));
        }

        if let Some(url) = &file.public_baseurl
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(err(
                "public_baseurl",
                format!("`{url}` must start with http:// or https://"),
            ));
        }

        let max_upload_size = file.max_upload_size.unwrap_or(DEFAULT_MAX_UPLOAD_SIZE);
        if max_upload_size == 0 {
            return Err(err("max_upload_size", "must be at least 1 byte"));
        }

        let turn = match file.turn {
            None if o.turn_relay != Some(false) => Some(default_turn(listen)),
            None => None,
            Some(turn) if turn.uris.is_empty() && turn.relay != Some(true) => None,
            Some(turn) => {
                if let Some(bad) = turn.uris.iter().find(|u| {
                    !(u.starts_with("turn:") || u.starts_with("turns:") || u.starts_with("stun:"))
                }) {
                    return Err(err(
                        "turn.uris",
                        format!("`{bad}` must start with turn:, turns: or stun:"),
                    ));
                }
                let shared_secret = turn.shared_secret.filter(|s| !s.is_empty()).ok_or_else(|| {
                    err("turn.shared_secret", "is required when turn.uris is set (the same as coturn's static-auth-secret)")
                })?;
                let ttl = turn.ttl_seconds.unwrap_or(86_400);
                if ttl == 0 {
                    return Err(err("turn.ttl_seconds", "must be at least 1"));
                }
                let relay = if turn.relay == Some(true) {
                    let listen_text = turn
                        .relay_listen
                        .unwrap_or_else(|| "0.0.0.0:3478".to_owned());
                    let listen: SocketAddr = listen_text.parse().map_err(|_| {
                        err(
                            "turn.relay_listen",
                            format!("`{listen_text}` is not an address like 0.0.0.0:3478"),
                        )
                    })?;
                    let external_ip = match turn.relay_external_ip {
                        Some(ip) => Some(ip.parse().map_err(|_| {
                            err(
                                "turn.relay_external_ip",
                                format!("`{ip}` is not an IP address"),
                            )
                        })?),
                        None => None,
                    };
                    let (min_port, max_port) = (
                        turn.relay_min_port.unwrap_or(49152),
                        turn.relay_max_port.unwrap_or(65535),
                    );
                    if min_port == 0 || max_port < min_port {
                        return Err(err(
                            "turn.relay_min_port",
                            "the relay port range must be 1..=65535 with min ≤ max",
                        ));
                    }
                    Some(RelayConfig {
                        listen,
                        external_ip,
                        min_port,
                        max_port,
                        allow_private_peers: turn.allow_private_peers.unwrap_or(false),
                    })
                } else {
                    None
                };
                let mut uris = turn.uris;
                if uris.is_empty()
                    && let Some(relay) = &relay
                {
                    let host = relay.external_ip.unwrap_or(relay.listen.ip());
                    if host.is_unspecified() {
                        return Err(err(
                            "turn.uris",
                            "set turn.uris or turn.relay_external_ip so clients know where the relay is",
                        ));
                    }
                    uris.push(turn_uri(host, relay.listen.port()));
                }
                Some(TurnConfig {
                    uris,
                    shared_secret,
                    ttl: std::time::Duration::from_secs(ttl),
                    relay,
                    automatic: false,
                })
            }
        };

        let trusted_proxies = file
            .trusted_proxies
            .iter()
            .map(|text| {
                text.parse::<IpRange>()
                    .map_err(|problem| err("trusted_proxies", problem))
            })
            .collect::<Result<Vec<_>, _>>()?;

        Ok(Self {
            trusted_proxies,
            turn,
            max_upload_size,
            to_device_queue_limit: DEFAULT_TO_DEVICE_QUEUE_LIMIT,
            rate_limits: o.rate_limits.or(file.rate_limits).unwrap_or(true),
            listen,
            data_dir,
            server_name,
            registration,
            registration_tokens,
            public_baseurl: file.public_baseurl,
            log: o.log.or(file.log).unwrap_or_else(|| DEFAULT_LOG.to_owned()),
        })
    }
}

/// The `turn:` URI of a relay at `ip:port` over UDP.
fn turn_uri(ip: std::net::IpAddr, port: u16) -> String {
    format!("turn:{}?transport=udp", SocketAddr::new(ip, port))
}

/// With no `[turn]` section, the embedded relay runs on the server's own address, port
/// 3478, so a fresh install can make calls that need a relay. On a loopback-only server
/// every peer is local, so relaying to private addresses is allowed there.
fn default_turn(listen: SocketAddr) -> TurnConfig {
    let ip = listen.ip();
    let relay = RelayConfig {
        listen: SocketAddr::new(ip, 3478),
        external_ip: None,
        min_port: 49152,
        max_port: 65535,
        allow_private_peers: ip.is_loopback(),
    };
    // An unspecified listen address (0.0.0.0) names no reachable host: the relay still runs
    // but is not advertised until `turn.uris` or `turn.relay_external_ip` is set.
    let uris = if ip.is_unspecified() {
        Vec::new()
    } else {
        vec![turn_uri(ip, 3478)]
    };
    TurnConfig {
        uris,
        shared_secret: String::new(),
        ttl: std::time::Duration::from_secs(86_400),
        relay: Some(relay),
        automatic: true,
    }
}

trait WithKey {
    fn with_key_from(self, e: &toml::de::Error) -> Self;
}

impl WithKey for ConfigError {
    /// toml's message names the field for unknown or mistyped keys; keep the
    /// top-level key `config` but add the line so the user finds it.
    fn with_key_from(mut self, e: &toml::de::Error) -> Self {
        if let Some(span) = e.span() {
            self.problem.push_str(&format!(" (at byte {})", span.start));
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|e| err("config", e.message()))?;
        Config::merge(file, Overrides::default())
    }

    #[test]
    fn defaults_are_loopback_open() {
        let c = parse("").unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8008");
        assert_eq!(c.registration, Registration::Open);
        assert_eq!(c.server_name.as_str(), "localhost");
        assert_eq!(c.data_dir, PathBuf::from("data"));
    }

    #[test]
    fn default_log_quiets_auth_checks_and_a_set_filter_wins() {
        use tracing::Level;
        // What a subscriber built from `config.log` (as main.rs builds it) shows: ruma's auth
        // checks at INFO, its warnings, weft's own INFO.
        let shows = |config: Config| {
            let filter = tracing_subscriber::EnvFilter::try_new(&config.log).unwrap();
            let subscriber = tracing_subscriber::fmt().with_env_filter(filter).finish();
            tracing::subscriber::with_default(subscriber, || {
                (
                    tracing::enabled!(target: "ruma_state_res::event_auth", Level::INFO),
                    tracing::enabled!(target: "ruma_state_res::event_auth", Level::WARN),
                    tracing::enabled!(target: "weft_server::api", Level::INFO),
                )
            })
        };
        assert_eq!(shows(parse("").unwrap()), (false, true, true));
        assert_eq!(
            shows(parse("log = \"info\"").unwrap()),
            (true, true, true),
            "the file's filter wins"
        );
        let o = Overrides {
            log: Some("debug".into()),
            ..Default::default()
        };
        assert_eq!(
            shows(Config::merge(FileConfig::default(), o).unwrap()),
            (true, true, true),
            "so does --log"
        );
    }

    #[test]
    fn public_listen_defaults_to_token_registration() {
        let c = parse("listen = \"0.0.0.0:8008\"\nserver_name = \"example.org\"").unwrap();
        assert_eq!(c.registration, Registration::Token);
    }

    #[test]
    fn flags_override_file() {
        let file: FileConfig = toml::from_str("listen = \"127.0.0.1:1\"").unwrap();
        let o = Overrides {
            listen: Some("127.0.0.1:2".into()),
            ..Default::default()
        };
        assert_eq!(Config::merge(file, o).unwrap().listen.port(), 2);
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges() {
        let c = parse("trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"fd00::/8\"]").unwrap();
        let trusted = |ip: &str| {
            c.trusted_proxies
                .iter()
                .any(|r| r.contains(ip.parse().unwrap()))
        };
        assert!(
            trusted("127.0.0.1")
                && trusted("10.200.1.2")
                && trusted("fd12::1")
                && trusted("::ffff:10.0.0.1")
        );
        assert!(!trusted("127.0.0.2") && !trusted("11.0.0.1") && !trusted("::1"));
        assert!(
            parse("").unwrap().trusted_proxies.is_empty(),
            "nobody is trusted by default"
        );
        assert_eq!(
            parse("trusted_proxies = [\"nginx\"]").unwrap_err().key,
            "trusted_proxies"
        );
        assert_eq!(
            parse("trusted_proxies = [\"10.0.0.0/33\"]")
                .unwrap_err()
                .key,
            "trusted_proxies"
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        assert_eq!(parse("listen = \"nope\"").unwrap_err().key, "listen");
        assert_eq!(
            parse("server_name = \"bad name!\"").unwrap_err().key,
            "server_name"
        );
        assert_eq!(
            parse("public_baseurl = \"ftp://x\"").unwrap_err().key,
            "public_baseurl"
        );
        let unknown = parse("lisen = \"x\"").unwrap_err();
        assert!(unknown.problem.contains("lisen"), "{unknown}");
        let bad_enum = parse("registration = \"sometimes\"").unwrap_err();
        assert!(bad_enum.problem.contains("sometimes"), "{bad_enum}");
    }
}
