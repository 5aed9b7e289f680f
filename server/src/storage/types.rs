//! The types every storage area shares: the stream position and the error
//! and result of every call. Kept apart from `storage.rs` so the areas import
//! them from here and never from the module that re-exports them.

/// A position in the server-wide stream: every change a sync reports (an
/// event, account data, a receipt, a device-list change, ...) has one, and
/// positions only grow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamPos(pub i64);

impl StreamPos {
    /// Before anything was written.
    pub const ZERO: Self = Self(0);
}

/// `n` positions later.
impl std::ops::Add<i64> for StreamPos {
    type Output = Self;

    fn add(self, n: i64) -> Self {
        Self(self.0 + n)
    }
}

/// `n` positions earlier.
impl std::ops::Sub<i64> for StreamPos {
    type Output = Self;

    fn sub(self, n: i64) -> Self {
        Self(self.0 - n)
    }
}

impl std::fmt::Display for StreamPos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What a storage call can fail with. The service layer maps every one to
/// an internal error: none of them is the client's doing.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database refused or failed the operation.
    #[error("database: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
    /// A stored value does not parse as what it should be (an ID, a version).
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// The database was written by a newer version of weft.
    #[error("{0}")]
    Schema(String),
    /// The database's files could not be reached (flushing the log).
    #[error("{0}")]
    Io(String),
}

/// The result of every storage call.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
