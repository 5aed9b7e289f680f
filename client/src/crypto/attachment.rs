//! Encrypted attachments (`EncryptedFile`, version `v2`): a file in an encrypted room is
//! AES-256-CTR encrypted with its own key before upload, and the key, counter block and
//! SHA-256 of the ciphertext travel inside the (Megolm-encrypted) event (media.md §8).
//!
//! The browser does the bulk work with WebCrypto; this module owns the JSON shape, the
//! checks a receiver must make (hash before decrypting, key parameters) and a pure-Rust
//! implementation used on the host and for small files.

use std::collections::BTreeMap;

use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};
use ruma::OwnedMxcUri;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vodozemac::{base64_decode, base64_encode};

use super::random::random_bytes;

/// The only version we write and read.
pub const VERSION: &str = "v2";

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// Why an encrypted file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachmentError {
    /// Not `v2` (v1 files from 2016-era clients used another counter convention).
    #[error("unsupported encrypted file version {0}")]
    Version(String),
    /// The JWK is not an AES-256-CTR key usable for decryption.
    #[error("unsupported key: {0}")]
    Key(&'static str),
    /// A field is not valid base64 or has the wrong length.
    #[error("malformed encrypted file: {0}")]
    Malformed(&'static str),
    /// The download is not the file the event describes.
    #[error("the file's SHA-256 does not match")]
    HashMismatch,
}

/// The `key` of an encrypted file: a JSON Web Key as WebCrypto imports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonWebKey {
    /// `oct`.
    pub kty: String,
    /// Must include `encrypt` and `decrypt`.
    pub key_ops: Vec<String>,
    /// `A256CTR`.
    pub alg: String,
    /// The key, URL-safe unpadded base64.
    pub k: String,
    /// `true`: WebCrypto must be allowed to export it.
    pub ext: bool,
}

/// The decryption parameters of a file, without its location: what the encryptor
/// produces before the upload has returned an MXC URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionInfo {
    /// The key.
    pub key: JsonWebKey,
    /// The 16-byte initial counter block, unpadded base64.
    pub iv: String,
    /// `{"sha256": <unpadded base64 SHA-256 of the ciphertext>}`.
    pub hashes: BTreeMap<String, String>,
    /// [`VERSION`].
    pub v: String,
}

/// `EncryptedFile`: `content.file` (or `info.thumbnail_file`) of a media event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedFile {
    /// Where the ciphertext is.
    pub url: OwnedMxcUri,
    /// How to decrypt it.
    #[serde(flatten)]
    pub info: EncryptionInfo,
}

impl EncryptionInfo {
    /// The file at `url`.
    pub fn into_file(self, url: OwnedMxcUri) -> EncryptedFile {
        EncryptedFile { url, info: self }
    }

    /// The checked AES key: an `oct` `A256CTR` key allowed to decrypt, 32 bytes.
    pub fn key_bytes(&self) -> Result<[u8; 32], AttachmentError> {
        if self.v != VERSION {
            return Err(AttachmentError::Version(self.v.clone()));
        }
        if self.key.kty != "oct" {
            return Err(AttachmentError::Key("kty must be oct"));
        }
        if self.key.alg != "A256CTR" {
            return Err(AttachmentError::Key("alg must be A256CTR"));
        }
        if !self.key.key_ops.iter().any(|op| op == "decrypt") {
            return Err(AttachmentError::Key("key_ops must allow decrypt"));
        }
        decode_url_safe(&self.key.k)
            .and_then(|b| b.try_into().ok())
            .ok_or(AttachmentError::Malformed("k"))
    }

    /// The initial counter block.
    pub fn iv_bytes(&self) -> Result<[u8; 16], AttachmentError> {
        base64_decode(&self.iv)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(AttachmentError::Malformed("iv"))
    }

    /// The expected SHA-256 of the ciphertext; every file must carry one.
    pub fn sha256(&self) -> Result<[u8; 32], AttachmentError> {
        let hash = self
            .hashes
            .get("sha256")
            .ok_or(AttachmentError::Malformed("no sha256 hash"))?;
        base64_decode(hash)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(AttachmentError::Malformed("sha256"))
    }

    /// Checks a downloaded ciphertext's hash (for the WebCrypto path, which hashes itself).
    pub fn check_hash(&self, ciphertext_sha256: &[u8; 32]) -> Result<(), AttachmentError> {
        // The hash is public; a plain comparison leaks nothing.
        if self.sha256()? == *ciphertext_sha256 {
            Ok(())
        } else {
            Err(AttachmentError::HashMismatch)
        }
    }

    /// Decrypts a downloaded file, checking every parameter and the hash first.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, AttachmentError> {
        let key = self.key_bytes()?;
        let iv = self.iv_bytes()?;
        self.check_hash(&Sha256::digest(ciphertext).into())?;
        let mut plaintext = ciphertext.to_vec();
        Aes256Ctr::new(&key.into(), &iv.into()).apply_keystream(&mut plaintext);
        Ok(plaintext)
    }
}

impl EncryptedFile {
    /// Decrypts the downloaded ciphertext of this file.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, AttachmentError> {
        self.info.decrypt(ciphertext)
    }
}

/// Encrypts a file with a fresh random key and counter; upload the ciphertext, then
/// [`EncryptionInfo::into_file`] with the MXC URI.
pub fn encrypt(plaintext: &[u8]) -> (Vec<u8>, EncryptionInfo) {
    let mut key = [0u8; 32];
    let mut iv_prefix = [0u8; 8];
    random_bytes(&mut key);
    random_bytes(&mut iv_prefix);
    encrypt_with(plaintext, key, iv_prefix)
}

/// Encrypts with a given key and the counter's random upper half. The lower 64 bits of the
/// counter start at zero, so that WebCrypto's 64-bit counter (`length: 64`) and a 128-bit
/// counter agree for any file size.
pub fn encrypt_with(
    plaintext: &[u8],
    key: [u8; 32],
    iv_prefix: [u8; 8],
) -> (Vec<u8>, EncryptionInfo) {
    let mut iv = [0u8; 16];
    iv[..8].copy_from_slice(&iv_prefix);
    let mut ciphertext = plaintext.to_vec();
    Aes256Ctr::new(&key.into(), &iv.into()).apply_keystream(&mut ciphertext);
    let hash = Sha256::digest(&ciphertext);
    let info = EncryptionInfo {
        key: JsonWebKey {
            kty: "oct".to_owned(),
            key_ops: vec!["encrypt".to_owned(), "decrypt".to_owned()],
            alg: "A256CTR".to_owned(),
            k: encode_url_safe(&key),
            ext: true,
        },
        iv: base64_encode(iv),
        hashes: BTreeMap::from([("sha256".to_owned(), base64_encode(hash))]),
        v: VERSION.to_owned(),
    };
    (ciphertext, info)
}

/// JWK `k` is URL-safe base64 without padding.
fn encode_url_safe(bytes: &[u8]) -> String {
    base64_encode(bytes).replace('+', "-").replace('/', "_")
}

/// Accepts URL-safe or standard base64, padded or not (some clients write either).
fn decode_url_safe(text: &str) -> Option<Vec<u8>> {
    base64_decode(text.replace('-', "+").replace('_', "/")).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    // From matrix-rust-sdk's attachment tests: a file Element encrypted.
    const EXAMPLE_CIPHERTEXT: &[u8] = &[
        179, 154, 118, 127, 186, 127, 110, 33, 203, 33, 33, 134, 67, 100, 173, 46, 235, 27, 215,
        172, 36, 26, 75, 47, 33, 160,
    ];

    fn example() -> EncryptedFile {
        serde_json::from_value(json!({
            "url": "mxc://example.org/abc",
            "v": "v2",
            "key": {"kty": "oct", "alg": "A256CTR", "ext": true,
                    "k": "Voq2nkPme_x8no5-Tjq_laDAdxE6iDbxnlQXxwFPgE4",
                    "key_ops": ["encrypt", "decrypt"]},
            "iv": "i0DovxYdJEcAAAAAAAAAAA",
            "hashes": {"sha256": "ANdt819a8bZl4jKy3Z+jcqtiNICa2y0AW4BBJ/iQRAU"}
        }))
        .unwrap()
    }

    #[test]
    fn decrypts_a_file_element_encrypted() {
        let file = example();
        assert_eq!(
            file.decrypt(EXAMPLE_CIPHERTEXT).unwrap(),
            b"It's a secret to everybody"
        );
        // And encrypting it again with the same key and counter gives the same bytes and
        // JSON (the key uses the URL-safe alphabet).
        let key = file.info.key_bytes().unwrap();
        let iv = file.info.iv_bytes().unwrap();
        let (ciphertext, info) = encrypt_with(
            b"It's a secret to everybody",
            key,
            iv[..8].try_into().unwrap(),
        );
        assert_eq!(ciphertext, EXAMPLE_CIPHERTEXT);
        assert_eq!(info, file.info);
    }

    #[test]
    fn the_hash_is_checked_before_decrypting() {
        let file = example();
        let mut tampered = EXAMPLE_CIPHERTEXT.to_vec();
        tampered[0] ^= 1;
        assert_eq!(file.decrypt(&tampered), Err(AttachmentError::HashMismatch));
        assert_eq!(
            file.decrypt(b"fake message"),
            Err(AttachmentError::HashMismatch)
        );
        let mut no_hash = file.clone();
        no_hash.info.hashes.clear();
        assert!(matches!(
            no_hash.decrypt(EXAMPLE_CIPHERTEXT),
            Err(AttachmentError::Malformed(_))
        ));
    }

    #[test]
    fn key_parameters_are_checked() {
        let with = |f: fn(&mut EncryptionInfo)| {
            let mut file = example();
            f(&mut file.info);
            file.decrypt(EXAMPLE_CIPHERTEXT)
        };
        assert_eq!(
            with(|i| i.v = "v1".into()),
            Err(AttachmentError::Version("v1".into()))
        );
        assert!(matches!(
            with(|i| i.key.alg = "A128CTR".into()),
            Err(AttachmentError::Key(_))
        ));
        assert!(matches!(
            with(|i| i.key.kty = "RSA".into()),
            Err(AttachmentError::Key(_))
        ));
        assert!(matches!(
            with(|i| i.key.key_ops = vec!["encrypt".into()]),
            Err(AttachmentError::Key(_))
        ));
        assert_eq!(
            with(|i| i.key.k = "c2hvcnQ".into()),
            Err(AttachmentError::Malformed("k"))
        );
        assert_eq!(
            with(|i| i.iv = "AAAA".into()),
            Err(AttachmentError::Malformed("iv"))
        );
        // Padded base64 is accepted.
        assert!(with(|i| i.iv.push_str("==")).is_ok());
    }

    #[test]
    fn new_files_round_trip_with_a_zero_low_counter() {
        let data = vec![7u8; 100_000];
        let (ciphertext, info) = encrypt(&data);
        assert_ne!(ciphertext, data);
        let iv = info.iv_bytes().unwrap();
        assert_eq!(iv[8..], [0; 8]);
        let file = info.into_file("mxc://example.org/f".into());
        let json = serde_json::to_value(&file).unwrap();
        assert_eq!(json["v"], "v2");
        assert_eq!(json["key"]["key_ops"], json!(["encrypt", "decrypt"]));
        assert_eq!(json["url"], "mxc://example.org/f");
        assert!(!json["key"]["k"].as_str().unwrap().contains(['+', '/', '=']));
        let parsed: EncryptedFile = serde_json::from_value(json).unwrap();
        assert_eq!(parsed.decrypt(&ciphertext).unwrap(), data);
        // Two encryptions never share key and counter.
        let (again, _) = encrypt(&data);
        assert_ne!(again, ciphertext);
    }
}
