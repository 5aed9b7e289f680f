//! Rate limits: a token bucket per action and per key (an IP address or a user).
//!
//! A bucket holds up to `burst` tokens and refills at `per_second`; each request takes one.
//! An empty bucket answers 429 `M_LIMIT_EXCEEDED` with the time until the next token. The
//! rates are Synapse-like for login and registration (which guard passwords and accounts)
//! and generous for sending, where a chat must not stall a person typing fast.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::Instant,
};

use super::Services;
use crate::error::{Error, Result};

/// What is being limited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `POST /login`, per client IP.
    Login,
    /// `POST /register`, per client IP (each registration takes two requests).
    Register,
    /// Sending events, per user.
    Send,
    /// `POST /createRoom`, per user.
    CreateRoom,
}

impl Action {
    /// (tokens per second, burst).
    fn rate(self) -> (f64, f64) {
        match self {
            Self::Login => (0.5, 10.0),
            Self::Register => (0.2, 10.0),
            Self::Send => (10.0, 50.0),
            Self::CreateRoom => (1.0, 10.0),
        }
    }
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Buckets beyond this many are pruned of full ones (which carry no information).
const PRUNE_AT: usize = 10_000;

#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<(Action, String), Bucket>>,
}

impl RateLimiter {
    /// Takes a token for `action` by `key`, or says how long to wait (ms).
    fn take(&self, action: Action, key: &str, now: Instant) -> std::result::Result<(), u64> {
        let (per_second, burst) = action.rate();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= PRUNE_AT {
            buckets.retain(|(action, _), bucket| {
                let (rate, burst) = action.rate();
                bucket.tokens + now.duration_since(bucket.updated).as_secs_f64() * rate < burst
            });
        }
        let bucket = buckets
            .entry((action, key.to_owned()))
            .or_insert(Bucket { tokens: burst, updated: now });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / per_second;
            Err((wait * 1000.0).ceil() as u64)
        }
    }
}

impl Services {
    /// Fails with 429 when `key` has used up its allowance for `action`.
    pub fn rate_limit(&self, action: Action, key: &str) -> Result<()> {
        if !self.config().rate_limits {
            return Ok(());
        }
        self.inner_rate_limiter()
            .take(action, key, Instant::now())
            .map_err(|retry_after_ms| Error::RateLimited { retry_after_ms })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn bursts_then_refills() {
        let limiter = RateLimiter::default();
        let start = Instant::now();
        for _ in 0..10 {
            assert!(limiter.take(Action::Login, "1.2.3.4", start).is_ok());
        }
        let wait = limiter.take(Action::Login, "1.2.3.4", start).unwrap_err();
        assert_eq!(wait, 2000);
        // Another address and another action have their own buckets.
        assert!(limiter.take(Action::Login, "5.6.7.8", start).is_ok());
        assert!(limiter.take(Action::Register, "1.2.3.4", start).is_ok());
        // Two seconds later one more login is allowed, and only one.
        let later = start + Duration::from_secs(2);
        assert!(limiter.take(Action::Login, "1.2.3.4", later).is_ok());
        assert!(limiter.take(Action::Login, "1.2.3.4", later).is_err());
    }
}
