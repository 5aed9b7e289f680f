//! Server metadata: small values kept once per server (the signing key, the
//! TURN secret).

use super::types::Result;

pub trait MetaStore: Send + Sync {
    fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Sets the value only if the key is absent; returns the value now stored.
    fn meta_get_or_insert(&self, key: &str, value: &[u8]) -> Result<Vec<u8>>;
}
