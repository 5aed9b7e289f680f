//! Rate limits: a token bucket per action and per key (an IP address or a user).
//!
//! A bucket holds up to `burst` tokens and refills at `per_second`; each request takes one.
//! An empty bucket answers 429 `M_LIMIT_EXCEEDED` with the time until the next token. The
//! rates are Synapse-like for login, registration, joins and password guesses (which guard
//! passwords, accounts and other servers' rooms) and generous for sending, typing and
//! receipts, where a chat must not stall a person typing fast. Every write a client can
//! make has a bucket.

use std::{collections::HashMap, sync::Mutex, time::Instant};

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
    /// State events, leaving, kicks, bans (`PUT /state`, `/leave`, `/kick`, ...), per user.
    State,
    /// Redactions, per user.
    Redact,
    /// Invites sent, per user.
    Invite,
    /// Joins (by room ID or alias), per user.
    Join,
    /// `PUT /sendToDevice`, per user.
    ToDevice,
    /// Media uploads (`/upload`, `/create`), per user.
    MediaUpload,
    /// Display name and avatar changes (each rewrites a member event in every room), per user.
    Profile,
    /// Typing notices, per user.
    Typing,
    /// Read receipts and read markers, per user.
    Receipt,
    /// Key uploads: device, one-time, fallback and cross-signing keys and signatures, per user.
    KeyUpload,
    /// Other writes: account data, push rules, filters, presence, devices, aliases, the
    /// room directory, forgetting rooms; per user.
    OtherWrite,
    /// Wrong passwords, per account, at login and in user-interactive auth (a stolen token
    /// must not allow guessing the password). Taken only by failures.
    PasswordFailure,
}

impl Action {
    /// (tokens per second, burst).
    fn rate(self) -> (f64, f64) {
        match self {
            Self::Login => (0.5, 10.0),
            Self::Register => (0.2, 10.0),
            Self::Send => (10.0, 50.0),
            Self::CreateRoom => (1.0, 10.0),
            Self::State => (1.0, 30.0),
            Self::Redact => (1.0, 30.0),
            Self::Invite => (0.3, 10.0),
            Self::Join => (0.1, 10.0),
            Self::ToDevice => (20.0, 100.0),
            Self::MediaUpload => (2.0, 30.0),
            Self::Profile => (0.2, 10.0),
            Self::Typing => (2.0, 20.0),
            Self::Receipt => (5.0, 50.0),
            Self::KeyUpload => (2.0, 30.0),
            Self::OtherWrite => (5.0, 50.0),
            Self::PasswordFailure => (0.17, 3.0),
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
    #[cfg(test)]
    fn take(&self, action: Action, key: &str, now: Instant) -> std::result::Result<(), u64> {
        self.update(action, key, now, true)
    }

    /// Refills `key`'s bucket for `action`; with `take`, uses a token if one is there.
    fn update(
        &self,
        action: Action,
        key: &str,
        now: Instant,
        take: bool,
    ) -> std::result::Result<(), u64> {
        let (per_second, burst) = action.rate();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= PRUNE_AT {
            buckets.retain(|(action, _), bucket| {
                let (rate, burst) = action.rate();
                bucket.tokens + now.duration_since(bucket.updated).as_secs_f64() * rate < burst
            });
        }
        let bucket = buckets.entry((action, key.to_owned())).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            if take {
                bucket.tokens -= 1.0;
            }
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / per_second;
            Err((wait * 1000.0).ceil() as u64)
        }
    }
}

/// The rate limiter as the services use it: off when the configuration turns rate
/// limits off (tests, a trusted deployment). Shared by the parts that limit something.
pub struct Limits {
    limiter: RateLimiter,
    enabled: bool,
}

impl Limits {
    pub fn new(enabled: bool) -> Self {
        Self {
            limiter: RateLimiter::default(),
            enabled,
        }
    }

    /// Fails with 429 when `key` has used up its allowance for `action`.
    pub fn take(&self, action: Action, key: &str) -> Result<()> {
        self.limited(action, key, true)
    }

    /// Fails with 429 when `key` has no allowance left for `action`, without using any.
    pub fn check(&self, action: Action, key: &str) -> Result<()> {
        self.limited(action, key, false)
    }

    fn limited(&self, action: Action, key: &str, take: bool) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        self.limiter
            .update(action, key, Instant::now(), take)
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
