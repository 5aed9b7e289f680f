//! User-interactive authentication sessions (`/register` for now).
//!
//! A session remembers which stages the client completed. Sessions live in
//! memory: a restart only makes a client start its (short) flow again.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use rand::distr::{Alphanumeric, SampleString};

const SESSION_TTL: Duration = Duration::from_secs(15 * 60);
const MAX_SESSIONS: usize = 10_000;

/// In-memory UIA sessions.
#[derive(Default)]
pub struct UiaSessions {
    sessions: Mutex<HashMap<String, Instant>>,
}

impl UiaSessions {
    /// Starts a new session and returns its ID.
    pub fn start(&self) -> String {
        let id = Alphanumeric.sample_string(&mut rand::rng(), 24);
        let mut sessions = self.lock();
        if sessions.len() >= MAX_SESSIONS {
            let now = Instant::now();
            sessions.retain(|_, created| now.duration_since(*created) < SESSION_TTL);
        }
        sessions.insert(id.clone(), Instant::now());
        id
    }

    /// Whether the session exists and has not expired.
    pub fn is_valid(&self, id: &str) -> bool {
        self.lock()
            .get(id)
            .is_some_and(|created| created.elapsed() < SESSION_TTL)
    }

    /// Ends a session once its request succeeded.
    pub fn finish(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}
