//! Random bytes for the keys we make ourselves (vodozemac draws its own). A module of
//! its own so that every part of `crypto` can reach it without importing another part.

/// Fills `buf` from the platform's secure random source (WebCrypto in the browser).
///
/// # Panics
/// If there is no random source at all, in which case no key can be made safely.
pub(crate) fn random_bytes(buf: &mut [u8]) {
    #[allow(clippy::expect_used)]
    getrandom::fill(buf).expect("the platform has no secure random source");
}
