//! Encrypted attachments in the browser: files for an encrypted room are encrypted before
//! upload, and downloaded ones decrypted, with WebCrypto (AES-256-CTR, SHA-256 of the
//! ciphertext), as media.md §8 and Element do.
//!
//! The file's bytes stay in JavaScript (`Blob`, `ArrayBuffer`) from end to end: only the
//! 32-byte key, the counter block and the hash pass through wasm, where `weft-client` checks
//! them and writes the `EncryptedFile` JSON.

use js_sys::{Array, ArrayBuffer, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AesCtrParams, AesKeyGenParams, Blob, BlobPropertyBag, CryptoKey, SubtleCrypto};
use weft_client::{
    HttpRequest, MediaKind,
    crypto::attachment::{EncryptionInfo, JsonWebKey, VERSION},
};

use super::files::{LocalFile, ObjectUrl};

/// WebCrypto's AES-CTR counter width: the low 64 bits of the 16-byte block count (and start
/// at zero), the high 64 are the random per-file nonce.
const COUNTER_BITS: u8 = 64;

fn subtle() -> Result<SubtleCrypto, JsValue> {
    Ok(web_sys::window().ok_or("no window")?.crypto()?.subtle())
}

fn ctr_params(iv: &[u8; 16]) -> AesCtrParams {
    AesCtrParams::new_with_u8_array("AES-CTR", &Uint8Array::from(&iv[..]), COUNTER_BITS)
}

async fn sha256(data: &ArrayBuffer) -> Result<[u8; 32], JsValue> {
    let digest =
        JsFuture::from(subtle()?.digest_with_str_and_buffer_source("SHA-256", data)?).await?;
    let mut hash = [0u8; 32];
    Uint8Array::new(&digest).copy_to(&mut hash);
    Ok(hash)
}

/// The blob's bytes, still in JavaScript.
async fn bytes_of(blob: &Blob) -> Result<ArrayBuffer, JsValue> {
    Ok(JsFuture::from(blob.array_buffer()).await?.unchecked_into())
}

fn blob_of(data: &ArrayBuffer, mimetype: &str) -> Result<Blob, JsValue> {
    let options = BlobPropertyBag::new();
    options.set_type(mimetype);
    Blob::new_with_buffer_source_sequence_and_options(&Array::of1(data), &options)
}

/// Encrypts `file` with a fresh key and counter: the ciphertext (named like the file, typed
/// `application/octet-stream`) to upload, and its keys for the event.
pub async fn encrypt(file: &LocalFile) -> Result<(LocalFile, EncryptionInfo), JsValue> {
    let subtle = subtle()?;
    let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
    let params = AesKeyGenParams::new("AES-CTR", 256);
    let key: CryptoKey = JsFuture::from(subtle.generate_key_with_object(&params, true, &usages)?)
        .await?
        .unchecked_into();
    let mut iv = [0u8; 16];
    web_sys::window()
        .ok_or("no window")?
        .crypto()?
        .get_random_values_with_u8_array(&mut iv[..8])?;
    let plaintext = bytes_of(file.blob()).await?;
    let ciphertext: ArrayBuffer = JsFuture::from(subtle.encrypt_with_object_and_buffer_source(
        &ctr_params(&iv),
        &key,
        &plaintext,
    )?)
    .await?
    .unchecked_into();
    let hash = sha256(&ciphertext).await?;
    // The JWK export gives `k` in the URL-safe unpadded alphabet the event wants.
    let jwk = JsFuture::from(subtle.export_key("jwk", &key)?).await?;
    let k = Reflect::get(&jwk, &"k".into())?
        .as_string()
        .ok_or("the key has no k")?;
    let info = EncryptionInfo {
        key: JsonWebKey {
            kty: "oct".to_owned(),
            key_ops: vec!["encrypt".to_owned(), "decrypt".to_owned()],
            alg: "A256CTR".to_owned(),
            k,
            ext: true,
        },
        iv: vodozemac::base64_encode(iv),
        hashes: [("sha256".to_owned(), vodozemac::base64_encode(hash))].into(),
        v: VERSION.to_owned(),
    };
    let upload = LocalFile::from_blob(
        blob_of(&ciphertext, "application/octet-stream")?,
        file.name().to_owned(),
    );
    Ok((upload, info))
}

/// Why an encrypted file could not be shown.
pub enum FetchFailure {
    /// The download failed: its HTTP status, 0 without one, 413 when over the limit.
    Status(u16),
    /// The download is not the file the event describes (wrong hash), or its keys are not
    /// usable: "This file could not be decrypted".
    Undecryptable,
}

/// Downloads an encrypted file with `request`, checks its SHA-256 against the event's, and
/// decrypts it into a blob URL typed `mimetype` (as [`super::net::fetch_object_url`] types
/// what it shows: media types browsers play, else `application/octet-stream`). With
/// `limit`, a larger download is refused as 413 before it is read.
pub async fn fetch_decrypted(
    request: HttpRequest,
    keys: &EncryptionInfo,
    mimetype: Option<&str>,
    limit: Option<u64>,
) -> Result<ObjectUrl, FetchFailure> {
    // Checked before any download: a file whose keys can't work is not fetched.
    let (Ok(key), Ok(iv), Ok(_)) = (keys.key_bytes(), keys.iv_bytes(), keys.sha256()) else {
        return Err(FetchFailure::Undecryptable);
    };
    let ciphertext = download(request, limit).await?;
    let hash = sha256(&ciphertext)
        .await
        .map_err(|_| FetchFailure::Status(0))?;
    // The hash is checked before decrypting (AES-CTR has no integrity of its own).
    keys.check_hash(&hash)
        .map_err(|_| FetchFailure::Undecryptable)?;
    let plaintext = decrypt(&ciphertext, &key, &iv)
        .await
        .map_err(|_| FetchFailure::Undecryptable)?;
    let mimetype = mimetype
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    let safe = if MediaKind::for_mimetype(mimetype) == MediaKind::File {
        "application/octet-stream"
    } else {
        mimetype
    };
    let blob = blob_of(&plaintext, safe).map_err(|_| FetchFailure::Status(0))?;
    ObjectUrl::new(&blob).ok_or(FetchFailure::Status(0))
}

async fn decrypt(
    ciphertext: &ArrayBuffer,
    key: &[u8; 32],
    iv: &[u8; 16],
) -> Result<ArrayBuffer, JsValue> {
    let subtle = subtle()?;
    let key: CryptoKey = JsFuture::from(subtle.import_key_with_str(
        "raw",
        &Uint8Array::from(&key[..]),
        "AES-CTR",
        false,
        &Array::of1(&"decrypt".into()),
    )?)
    .await?
    .unchecked_into();
    Ok(JsFuture::from(subtle.decrypt_with_object_and_buffer_source(
        &ctr_params(iv),
        &key,
        ciphertext,
    )?)
    .await?
    .unchecked_into())
}

/// The response body of `request` (an authenticated media download), still in JavaScript.
async fn download(request: HttpRequest, limit: Option<u64>) -> Result<ArrayBuffer, FetchFailure> {
    let mut builder = gloo_net::http::RequestBuilder::new(&request.uri().to_string())
        .method(request.method().clone());
    for (name, value) in request.headers() {
        if let Ok(value) = value.to_str() {
            builder = builder.header(name.as_str(), value);
        }
    }
    let response = builder
        .build()
        .map_err(|_| FetchFailure::Status(0))?
        .send()
        .await
        .map_err(|_| FetchFailure::Status(0))?;
    if !response.ok() {
        return Err(FetchFailure::Status(response.status()));
    }
    let length = response
        .headers()
        .get("content-length")
        .and_then(|l| l.parse::<u64>().ok());
    if let (Some(limit), Some(length)) = (limit, length)
        && length > limit
    {
        return Err(FetchFailure::Status(413));
    }
    let promise = web_sys::Response::from(response)
        .array_buffer()
        .map_err(|_| FetchFailure::Status(0))?;
    Ok(JsFuture::from(promise)
        .await
        .map_err(|_| FetchFailure::Status(0))?
        .unchecked_into())
}

/// In headless Chromium (`scripts/test`): files encrypted for upload, served back through
/// [`super::net`]'s stand-in for `fetch`, and decrypted for showing.
#[cfg(test)]
mod tests {
    use js_sys::{Array, Uint8Array};
    use wasm_bindgen::JsValue;
    use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
    use web_sys::{Blob, BlobPropertyBag};
    use weft_client::crypto::attachment::EncryptionInfo;

    use super::{FetchFailure, encrypt, fetch_decrypted};
    use crate::platform::{
        files::LocalFile,
        net::tests::{read, serve},
    };

    wasm_bindgen_test_configure!(run_in_browser);

    fn file(text: &str, mimetype: &str) -> LocalFile {
        let options = BlobPropertyBag::new();
        options.set_type(mimetype);
        let parts = Array::of1(&Uint8Array::from(text.as_bytes()));
        let blob = Blob::new_with_u8_array_sequence_and_options(&parts, &options).unwrap();
        LocalFile::from_blob(blob, "note.txt".into())
    }

    /// `text` encrypted and served at `url`, with the keys the event would carry.
    async fn uploaded(url: &str, text: &str) -> EncryptionInfo {
        let (ciphertext, keys) = encrypt(&file(text, "text/html")).await.unwrap();
        assert_eq!(ciphertext.name(), "note.txt");
        assert_eq!(ciphertext.mimetype(), "application/octet-stream");
        assert_eq!(
            ciphertext.size(),
            text.len() as u64,
            "AES-CTR adds no bytes"
        );
        serve(
            url,
            ciphertext.blob(),
            "application/octet-stream",
            200,
            None,
        );
        keys
    }

    fn get(url: &str) -> weft_client::HttpRequest {
        http::Request::get(url).body(Vec::new()).unwrap()
    }

    #[wasm_bindgen_test]
    async fn a_file_decrypts_to_what_was_sent_typed_safely() {
        let url = "https://media.test/encrypted";
        let keys = uploaded(url, "<b>hello</b>").await;
        let shown = |mimetype: &'static str| {
            let keys = keys.clone();
            async move {
                let object = fetch_decrypted(get(url), &keys, Some(mimetype), None)
                    .await
                    .ok()
                    .unwrap();
                read(object.as_str()).await.unwrap()
            }
        };
        assert_eq!(
            shown("image/png").await,
            ("image/png".to_owned(), "<b>hello</b>".to_owned())
        );
        assert_eq!(shown("video/mp4; codecs=x").await.0, "video/mp4");
        // The event's type is the sender's word: HTML would run as our origin.
        assert_eq!(shown("text/html").await.0, "application/octet-stream");
        assert_eq!(shown("image/svg+xml").await.0, "application/octet-stream");
        let object = fetch_decrypted(get(url), &keys, None, None)
            .await
            .ok()
            .unwrap();
        assert_eq!(
            read(object.as_str()).await.unwrap().0,
            "application/octet-stream"
        );
    }

    #[wasm_bindgen_test]
    async fn a_file_that_is_not_the_one_the_event_names_is_not_decrypted() {
        let url = "https://media.test/swapped";
        let keys = uploaded(url, "original").await;
        // Another file (or the same one tampered with) at the URL: its hash differs.
        serve(
            url,
            &JsValue::from_str("imposter"),
            "application/octet-stream",
            200,
            None,
        );
        assert!(matches!(
            fetch_decrypted(get(url), &keys, Some("image/png"), None).await,
            Err(FetchFailure::Undecryptable)
        ));
        // Keys that cannot work are refused before anything is downloaded.
        let mut broken = keys.clone();
        broken.iv = "not base64!".into();
        serve(url, &JsValue::NULL, "text/plain", 500, None);
        assert!(matches!(
            fetch_decrypted(get(url), &broken, None, None).await,
            Err(FetchFailure::Undecryptable)
        ));
        assert!(matches!(
            fetch_decrypted(get(url), &keys, None, None).await,
            Err(FetchFailure::Status(500))
        ));
    }
}
