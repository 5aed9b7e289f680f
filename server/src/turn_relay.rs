//! The embedded TURN relay (webrtc-rs `turn`), so calls connect across NATs without a
//! separate coturn.
//!
//! It accepts the same time-limited credentials `/voip/turnServer` hands out (`expiry:user`,
//! HMAC-SHA1 under the shared secret), so an external coturn with the same secret is
//! interchangeable with it. Relayed traffic to and from loopback, private, link-local and
//! other non-public addresses is dropped unless `allow_private_peers` is set: a relay on a
//! server must not become a way into the server's own network.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use tokio::net::UdpSocket;
use turn::{
    auth::{AuthHandler, generate_auth_key},
    relay::{RelayAddressGenerator, relay_range::RelayAddressGeneratorRanges},
    server::{
        Server,
        config::{ConnConfig, ServerConfig},
    },
};
use webrtc_util::{Conn, vnet::net::Net};

use crate::{config::RelayConfig, service::voip::turn_password};

/// Live allocations one user may hold at once (coturn's `user-quota`; a call needs one or two).
pub const ALLOCATIONS_PER_USER: usize = 12;

/// Live allocations per user (the user part of `expiry:user`, so fresh credentials do
/// not make a fresh quota).
///
/// The `turn` crate does not tell the relay allocator who asked. It handles one request
/// at a time per listener (we have one) and authenticates an Allocate request just before
/// allocating its relay, so the user authenticated last is the one allocating.
#[derive(Default)]
struct Quota {
    state: Mutex<QuotaState>,
}

#[derive(Default)]
struct QuotaState {
    last_user: Option<String>,
    live: HashMap<String, usize>,
}

impl Quota {
    fn lock(&self) -> std::sync::MutexGuard<'_, QuotaState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One live allocation counted against its user; dropping it gives it back.
struct QuotaGuard {
    quota: Arc<Quota>,
    user: String,
}

impl Drop for QuotaGuard {
    fn drop(&mut self) {
        let mut state = self.quota.lock();
        if let Some(live) = state.live.get_mut(&self.user) {
            *live = live.saturating_sub(1);
            if *live == 0 {
                state.live.remove(&self.user);
            }
        }
    }
}

/// Checks `expiry:user` usernames against the shared secret.
struct SecretAuth {
    secret: String,
    quota: Arc<Quota>,
}

impl AuthHandler for SecretAuth {
    fn auth_handle(
        &self,
        username: &str,
        realm: &str,
        _src: SocketAddr,
    ) -> Result<Vec<u8>, turn::Error> {
        let (expiry, user) = username.split_once(':').unwrap_or((username, ""));
        let expiry = expiry
            .parse::<u64>()
            .map_err(|_| turn::Error::Other("username is not `expiry:user`".into()))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        if expiry < now {
            return Err(turn::Error::Other("expired credentials".into()));
        }
        self.quota.lock().last_user = Some(user.to_owned());
        Ok(generate_auth_key(
            username,
            realm,
            &turn_password(&self.secret, username),
        ))
    }
}

/// Whether a peer address is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
                || v6.to_ipv4_mapped().is_some_and(|v4| !is_public(IpAddr::V4(v4))))
        }
    }
}

/// A relay socket that drops traffic to and from peers the rules do not allow.
struct PeerFilter {
    inner: Arc<dyn Conn + Send + Sync>,
    allow_private: bool,
    /// Released when the allocation closes (or, failing that, when it is dropped).
    quota: Mutex<Option<QuotaGuard>>,
}

impl PeerFilter {
    fn allowed(&self, peer: SocketAddr) -> bool {
        self.allow_private || is_public(peer.ip())
    }
}

#[async_trait]
impl Conn for PeerFilter {
    async fn connect(&self, addr: SocketAddr) -> webrtc_util::Result<()> {
        self.inner.connect(addr).await
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        Ok(self.recv_from(buf).await?.0)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        loop {
            let (n, peer) = self.inner.recv_from(buf).await?;
            if self.allowed(peer) {
                return Ok((n, peer));
            }
        }
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        self.inner.send(buf).await
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        if !self.allowed(target) {
            // Dropped like any lost datagram; the sender learns nothing about our network.
            return Ok(buf.len());
        }
        self.inner.send_to(buf, target).await
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner.remote_addr()
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        drop(self.quota.lock().unwrap_or_else(|p| p.into_inner()).take());
        self.inner.close().await
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

/// Allocates relay sockets in the configured port range, wrapped in the peer filter.
struct FilteredRelays {
    ranges: RelayAddressGeneratorRanges,
    allow_private: bool,
    quota: Arc<Quota>,
}

#[async_trait]
impl RelayAddressGenerator for FilteredRelays {
    fn validate(&self) -> Result<(), turn::Error> {
        self.ranges.validate()
    }

    async fn allocate_conn(
        &self,
        use_ipv4: bool,
        requested_port: u16,
    ) -> Result<(Arc<dyn Conn + Send + Sync>, SocketAddr), turn::Error> {
        let user = self.quota.lock().last_user.clone().unwrap_or_default();
        if self.quota.lock().live.get(&user).copied().unwrap_or(0) >= ALLOCATIONS_PER_USER {
            tracing::info!(%user, "TURN allocation refused: the user's quota is used up");
            return Err(turn::Error::Other("allocation quota reached".into()));
        }
        let (conn, addr) = self.ranges.allocate_conn(use_ipv4, requested_port).await?;
        *self.quota.lock().live.entry(user.clone()).or_default() += 1;
        let guard = QuotaGuard {
            quota: self.quota.clone(),
            user,
        };
        Ok((
            Arc::new(PeerFilter {
                inner: conn,
                allow_private: self.allow_private,
                quota: Mutex::new(Some(guard)),
            }),
            addr,
        ))
    }
}

/// A running relay; dropping it does not stop it, [`Relay::close`] does.
pub struct Relay {
    server: Server,
    pub addr: SocketAddr,
}

impl Relay {
    /// Binds the UDP listener and starts relaying.
    pub async fn start(config: &RelayConfig, secret: &str, realm: &str) -> std::io::Result<Self> {
        let socket = UdpSocket::bind(config.listen).await?;
        let addr = socket.local_addr()?;
        let quota = Arc::new(Quota::default());
        let relays = FilteredRelays {
            ranges: RelayAddressGeneratorRanges {
                relay_address: config.external_ip.unwrap_or(addr.ip()),
                min_port: config.min_port,
                max_port: config.max_port,
                max_retries: 20,
                address: addr.ip().to_string(),
                net: Arc::new(Net::new(None)),
            },
            allow_private: config.allow_private_peers,
            quota: quota.clone(),
        };
        let server = Server::new(ServerConfig {
            conn_configs: vec![ConnConfig {
                conn: Arc::new(socket),
                relay_addr_generator: Box::new(relays),
            }],
            realm: realm.to_owned(),
            auth_handler: Arc::new(SecretAuth {
                secret: secret.to_owned(),
                quota,
            }),
            channel_bind_timeout: std::time::Duration::from_secs(0),
            alloc_close_notify: None,
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Self { server, addr })
    }

    pub async fn close(&self) {
        let _ = self.server.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_peers_by_default() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.5",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
