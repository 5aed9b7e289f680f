//! The time, as the services read it.

/// Milliseconds since the Unix epoch, now, as storage keeps timestamps.
pub fn now_ms() -> i64 {
    i64::from(now().0)
}

/// Milliseconds since the Unix epoch, now.
pub fn now() -> ruma::MilliSecondsSinceUnixEpoch {
    ruma::MilliSecondsSinceUnixEpoch::now()
}
