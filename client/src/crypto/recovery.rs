//! The two ways a user holds their secret-storage key: a recovery key to write down, and a
//! passphrase stretched into the key.
//!
//! Recovery key ("key representation" in the secrets module of the spec): the bytes
//! `0x8B 0x01 ‖ key ‖ parity` (parity = XOR of all the preceding bytes) in Bitcoin base58,
//! shown in groups of four characters. Passphrases go through PBKDF2-HMAC-SHA512 with the
//! salt and iteration count stored in the key description (`m.pbkdf2`).

use serde::{Deserialize, Serialize};
use sha2::Sha512;

/// The two bytes every recovery key starts with, so that a recovery key is recognisable and
/// does not collide with Bitcoin's base58 prefixes (keys start with "Es", nearly always "EsT").
const PREFIX: [u8; 2] = [0x8B, 0x01];
/// Prefix, 32-byte key, parity byte.
const DECODED_LEN: usize = 35;

/// The passphrase algorithm the spec defines, and the only one in use.
pub const PBKDF2: &str = "m.pbkdf2";
/// Iterations we use for new passphrases; Element uses the same.
pub const DEFAULT_ITERATIONS: u32 = 500_000;
/// The most iterations we agree to run. The count comes from account data, which the server
/// could change; an absurd count would hang the tab, and no client writes more than this.
pub const MAX_ITERATIONS: u32 = 10_000_000;

/// Why a typed recovery key was refused. The messages are meant for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryKeyError {
    /// A character outside the base58 alphabet (which has no 0, O, I or l).
    #[error("the recovery key contains a character that cannot be in a recovery key")]
    NotBase58,
    /// Too short or too long: a character was left out or added.
    #[error("the recovery key has the wrong length ({0} bytes instead of 35)")]
    Length(usize),
    /// Not a Matrix recovery key at all.
    #[error("this is not a recovery key (wrong prefix)")]
    Prefix,
    /// The checksum does not match: a character is wrong.
    #[error("the recovery key has a typo (parity check failed)")]
    Parity,
}

/// Why a passphrase could not be turned into a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PassphraseError {
    /// Not `m.pbkdf2`.
    #[error("unsupported passphrase algorithm {0}")]
    Algorithm(String),
    /// Secret-storage keys are 256 bits; other sizes are not used by any client.
    #[error("unsupported key size of {0} bits")]
    Bits(u32),
    /// Zero, or more than [`MAX_ITERATIONS`].
    #[error("refusing {0} PBKDF2 iterations")]
    Iterations(u32),
}

/// Encodes a 32-byte key as a recovery key: `EsTx xxxx …`, twelve groups of four.
pub fn encode_recovery_key(key: &[u8; 32]) -> String {
    let mut bytes = Vec::with_capacity(DECODED_LEN);
    bytes.extend_from_slice(&PREFIX);
    bytes.extend_from_slice(key);
    bytes.push(parity(&bytes));
    let encoded = bs58::encode(bytes).into_string();
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 4);
    for (i, c) in encoded.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// Decodes a recovery key as typed or pasted: whitespace anywhere is ignored.
pub fn decode_recovery_key(input: &str) -> Result<[u8; 32], RecoveryKeyError> {
    let compact: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = bs58::decode(compact)
        .into_vec()
        .map_err(|_| RecoveryKeyError::NotBase58)?;
    if bytes.len() != DECODED_LEN {
        return Err(RecoveryKeyError::Length(bytes.len()));
    }
    if bytes[..2] != PREFIX {
        return Err(RecoveryKeyError::Prefix);
    }
    if parity(&bytes[..DECODED_LEN - 1]) != bytes[DECODED_LEN - 1] {
        return Err(RecoveryKeyError::Parity);
    }
    let mut key = [0; 32];
    key.copy_from_slice(&bytes[2..34]);
    Ok(key)
}

fn parity(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |acc, b| acc ^ b)
}

/// The `passphrase` object of an `m.secret_storage.key.*` description: how to stretch the
/// passphrase into the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassphraseInfo {
    /// `m.pbkdf2`.
    pub algorithm: String,
    /// Used as UTF-8 bytes, not decoded.
    pub salt: String,
    /// PBKDF2 rounds.
    pub iterations: u32,
    /// Key length in bits; absent means 256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bits: Option<u32>,
}

impl PassphraseInfo {
    /// Settings for a new passphrase: `m.pbkdf2`, [`DEFAULT_ITERATIONS`], a random salt of
    /// 32 characters.
    pub fn generate() -> Self {
        let mut salt = [0u8; 24];
        super::random::random_bytes(&mut salt);
        Self {
            algorithm: PBKDF2.to_owned(),
            salt: vodozemac::base64_encode(salt),
            iterations: DEFAULT_ITERATIONS,
            bits: None,
        }
    }

    /// Stretches `passphrase` into the 32-byte secret-storage key (PBKDF2-HMAC-SHA512).
    ///
    /// Slow by design (hundreds of milliseconds at the default count); call it off the
    /// UI's critical path.
    pub fn derive_key(&self, passphrase: &str) -> Result<[u8; 32], PassphraseError> {
        if self.algorithm != PBKDF2 {
            return Err(PassphraseError::Algorithm(self.algorithm.clone()));
        }
        match self.bits {
            None | Some(256) => {}
            Some(bits) => return Err(PassphraseError::Bits(bits)),
        }
        if self.iterations == 0 || self.iterations > MAX_ITERATIONS {
            return Err(PassphraseError::Iterations(self.iterations));
        }
        let mut key = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha512>(
            passphrase.as_bytes(),
            self.salt.as_bytes(),
            self.iterations,
            &mut key,
        );
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A recovery key and its bytes, from matrix-rust-sdk's secret-storage tests.
    const KEY_TEXT: &str = "EsTpRvZTnjck8YrhRAtwXLS84Nr2r9S9LGAWDaExVAPBvLRK";
    const KEY_BYTES: [u8; 32] = [
        159, 189, 70, 187, 52, 81, 113, 198, 246, 2, 44, 154, 37, 213, 104, 27, 165, 78, 236, 106,
        108, 73, 83, 243, 173, 192, 185, 110, 157, 145, 173, 163,
    ];

    #[test]
    fn recovery_key_encodes_in_groups_of_four() {
        let encoded = encode_recovery_key(&KEY_BYTES);
        assert_eq!(
            encoded,
            "EsTp RvZT njck 8Yrh RAtw XLS8 4Nr2 r9S9 LGAW DaEx VAPB vLRK"
        );
        assert_eq!(decode_recovery_key(&encoded), Ok(KEY_BYTES));
    }

    #[test]
    fn recovery_key_decoding_ignores_whitespace() {
        let messy = "EsT           pRvZTnjck8    YrhRAtw XLS84Nr2r9S9LGAWDaExVAPBvLRK \n";
        assert_eq!(decode_recovery_key(messy), Ok(KEY_BYTES));
        assert_eq!(decode_recovery_key(KEY_TEXT), Ok(KEY_BYTES));
    }

    #[test]
    fn recovery_key_decoding_names_the_problem() {
        // Last character changed: parity.
        assert_eq!(
            decode_recovery_key("EsTpRvZTnjck8YrhRAtwXLS84Nr2r9S9LGAWDaExVAPBvLRk"),
            Err(RecoveryKeyError::Parity)
        );
        assert_eq!(
            decode_recovery_key("AATpRvZTnjck8YrhRAtwXLS84Nr2r9S9LGAWDaExVAPBvLRk"),
            Err(RecoveryKeyError::Prefix)
        );
        assert!(matches!(
            decode_recovery_key("AATpRvZTnjck8YrhRAtwXLS84Nr2r9S9"),
            Err(RecoveryKeyError::Length(_))
        ));
        // 0, O, I and l are not base58.
        assert_eq!(
            decode_recovery_key("AATpRvZTnjck8YrhRAtwXLS84Nr0OIl"),
            Err(RecoveryKeyError::NotBase58)
        );
    }

    #[test]
    fn a_second_known_recovery_key_decodes() {
        // matrix-rust-sdk's backup tests: this key is RFC 7748's example private key.
        let expected = [
            0x77, 0x07, 0x6D, 0x0A, 0x73, 0x18, 0xA5, 0x7D, 0x3C, 0x16, 0xC1, 0x72, 0x51, 0xB2,
            0x66, 0x45, 0xDF, 0x4C, 0x2F, 0x87, 0xEB, 0xC0, 0x99, 0x2A, 0xB1, 0x77, 0xFB, 0xA5,
            0x1D, 0xB9, 0x2C, 0x2A,
        ];
        let text = "EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4d";
        assert_eq!(decode_recovery_key(text), Ok(expected));
        assert_eq!(encode_recovery_key(&expected), text);
        assert_eq!(
            decode_recovery_key("EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4e"),
            Err(RecoveryKeyError::Parity)
        );
    }

    #[test]
    fn every_key_round_trips() {
        for seed in 0..=255u8 {
            let key: [u8; 32] =
                std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8));
            let text = encode_recovery_key(&key);
            assert!(text.starts_with("Es"), "{text}");
            assert_eq!(decode_recovery_key(&text), Ok(key));
        }
    }

    #[test]
    fn passphrase_derivation_is_pbkdf2_hmac_sha512() {
        // PBKDF2-HMAC-SHA512("password", "salt", c = 1 and 2), first bytes, as computed by
        // Python's hashlib.pbkdf2_hmac.
        let info = PassphraseInfo {
            algorithm: PBKDF2.to_owned(),
            salt: "salt".to_owned(),
            iterations: 1,
            bits: None,
        };
        let key = info.derive_key("password").unwrap();
        assert_eq!(
            key[..8],
            [0x86, 0x7f, 0x70, 0xcf, 0x1a, 0xde, 0x02, 0xcf],
            "PBKDF2-HMAC-SHA512(password, salt, 1)"
        );
        let info = PassphraseInfo {
            iterations: 2,
            ..info
        };
        assert_eq!(
            info.derive_key("password").unwrap()[..8],
            [0xe1, 0xd9, 0xc1, 0x6a, 0xa6, 0x81, 0x70, 0x8a]
        );
    }

    #[test]
    fn passphrase_settings_are_checked() {
        let info = PassphraseInfo::generate();
        assert_eq!(info.salt.len(), 32);
        assert_eq!(info.iterations, DEFAULT_ITERATIONS);
        let bad = PassphraseInfo {
            algorithm: "m.argon2".into(),
            ..info.clone()
        };
        assert!(matches!(
            bad.derive_key("x"),
            Err(PassphraseError::Algorithm(_))
        ));
        let bad = PassphraseInfo {
            bits: Some(128),
            ..info.clone()
        };
        assert_eq!(bad.derive_key("x"), Err(PassphraseError::Bits(128)));
        let bad = PassphraseInfo {
            iterations: 0,
            ..info.clone()
        };
        assert_eq!(bad.derive_key("x"), Err(PassphraseError::Iterations(0)));
        let bad = PassphraseInfo {
            iterations: u32::MAX,
            ..info
        };
        assert_eq!(
            bad.derive_key("x"),
            Err(PassphraseError::Iterations(u32::MAX))
        );
        // `bits` absent on the wire means 256 and stays absent.
        let json = serde_json::json!({"algorithm": "m.pbkdf2", "salt": "s", "iterations": 10});
        let parsed: PassphraseInfo = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(parsed.bits, None);
        assert_eq!(serde_json::to_value(&parsed).unwrap(), json);
    }
}
