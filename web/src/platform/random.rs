//! Randomness that needs no cryptographic strength (call IDs only have to be unlikely to
//! collide).

/// `n` random ASCII letters, as Element's call IDs end.
pub fn letters(n: usize) -> String {
    (0..n)
        .map(|_| {
            let n = (js_sys::Math::random() * 52.0) as u8 % 52;
            char::from(if n < 26 { b'A' + n } else { b'a' + n - 26 })
        })
        .collect()
}
