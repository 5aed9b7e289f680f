//! Canonical JSON and the signed-JSON rules of the Matrix appendix.
//!
//! Device keys, one-time keys, cross-signing keys and backup auth data are all signed the
//! same way: drop `signatures` and `unsigned`, encode as canonical JSON (keys sorted, no
//! insignificant whitespace, integers only), sign the bytes with ed25519, and store the
//! unpadded base64 signature under `signatures[user_id][key_id]`. These objects are
//! arbitrary JSON from other clients (unknown fields must be signed too), so this is one of
//! the few places that works on [`serde_json::Value`].

use serde_json::{Map, Value};
use vodozemac::{Ed25519PublicKey, Ed25519Signature};

/// Why a signed object was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The object is not a JSON object, or holds a float, which canonical JSON forbids.
    #[error("not canonical JSON: {0}")]
    NotCanonical(&'static str),
    /// No signature by this user with this key ID.
    #[error("no signature by {user_id} with {key_id}")]
    Missing {
        /// Whose signature we looked for.
        user_id: String,
        /// Which key's.
        key_id: String,
    },
    /// The signature is not valid base64 ed25519.
    #[error("malformed signature")]
    Malformed,
    /// The signature does not match the bytes and key.
    #[error("signature does not verify")]
    Invalid,
}

/// Encodes `value` as canonical JSON: object keys sorted by code point, no whitespace.
///
/// Floats are refused: canonical JSON only has integers, and a float would sign differently
/// on another client.
pub fn to_canonical_string(value: &Value) -> Result<String, SignatureError> {
    let mut out = String::new();
    write_canonical(value, &mut out)?;
    Ok(out)
}

fn write_canonical(value: &Value, out: &mut String) -> Result<(), SignatureError> {
    match value {
        Value::Object(map) => {
            // Sorting here, not relying on serde_json's map order: another crate in the
            // build may turn on `preserve_order`.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out)?;
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out)?;
            }
            out.push(']');
        }
        Value::Number(n) if !(n.is_i64() || n.is_u64()) => {
            return Err(SignatureError::NotCanonical("floats are not allowed"));
        }
        other => out.push_str(&other.to_string()),
    }
    Ok(())
}

/// The bytes a signature covers: the object without `signatures` and `unsigned`.
pub fn signing_bytes(value: &Value) -> Result<Vec<u8>, SignatureError> {
    let Value::Object(map) = value else {
        return Err(SignatureError::NotCanonical(
            "a signed value must be an object",
        ));
    };
    let stripped: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| k.as_str() != "signatures" && k.as_str() != "unsigned")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(to_canonical_string(&Value::Object(stripped))?.into_bytes())
}

/// Signs `value` in place with `sign`, adding `signatures[user_id][key_id]` and keeping any
/// signatures already there.
pub fn sign_json(
    value: &mut Value,
    user_id: &str,
    key_id: &str,
    sign: impl FnOnce(&[u8]) -> Ed25519Signature,
) -> Result<(), SignatureError> {
    let signature = sign(&signing_bytes(value)?).to_base64();
    let Value::Object(map) = value else {
        return Err(SignatureError::NotCanonical(
            "a signed value must be an object",
        ));
    };
    let signatures = map
        .entry("signatures")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(signatures) = signatures else {
        return Err(SignatureError::NotCanonical(
            "`signatures` must be an object",
        ));
    };
    let by_user = signatures
        .entry(user_id)
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(by_user) = by_user else {
        return Err(SignatureError::NotCanonical(
            "`signatures` must map users to objects",
        ));
    };
    by_user.insert(key_id.to_owned(), Value::String(signature));
    Ok(())
}

/// Checks the signature by `user_id` under `key_id` on `value` with `key`.
pub fn verify_json(
    value: &Value,
    user_id: &str,
    key_id: &str,
    key: &Ed25519PublicKey,
) -> Result<(), SignatureError> {
    let signature = value
        .get("signatures")
        .and_then(|s| s.get(user_id))
        .and_then(|s| s.get(key_id))
        .and_then(Value::as_str)
        .ok_or_else(|| SignatureError::Missing {
            user_id: user_id.to_owned(),
            key_id: key_id.to_owned(),
        })?;
    let signature =
        Ed25519Signature::from_base64(signature).map_err(|_| SignatureError::Malformed)?;
    key.verify(&signing_bytes(value)?, &signature)
        .map_err(|_| SignatureError::Invalid)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use vodozemac::Ed25519SecretKey;

    use super::*;

    #[test]
    fn canonical_json_sorts_keys_and_drops_whitespace() {
        // The appendix's examples.
        let value = json!({"b": "2", "a": "1"});
        assert_eq!(to_canonical_string(&value).unwrap(), r#"{"a":"1","b":"2"}"#);
        let value = json!({
            "auth": {"success": true, "mxid": "@john.doe:example.com",
                     "profile": {"display_name": "John Doe", "three_pids": [
                        {"medium": "email", "address": "john.doe@example.org"},
                        {"medium": "msisdn", "address": "123456789"}]}}});
        assert_eq!(
            to_canonical_string(&value).unwrap(),
            r#"{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}"#
        );
        let value = json!({"a": "日本語"});
        assert_eq!(to_canonical_string(&value).unwrap(), "{\"a\":\"日本語\"}");
        let value = json!({"本": 2, "日": 1});
        assert_eq!(to_canonical_string(&value).unwrap(), "{\"日\":1,\"本\":2}");
        let value = json!({"a": "\u{1F600}", "b": "\u{0000}"});
        assert_eq!(
            to_canonical_string(&value).unwrap(),
            "{\"a\":\"\u{1F600}\",\"b\":\"\\u0000\"}"
        );
        assert!(to_canonical_string(&json!({"a": 1.5})).is_err());
    }

    #[test]
    fn the_appendix_signing_example_verifies() {
        // Appendix "Cryptographic test vectors": this seed, server `domain`, key `ed25519:1`.
        // The seed is "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1", whose last character
        // carries stray bits that strict base64 refuses; these are its bytes.
        let seed = [
            96, 144, 193, 3, 213, 231, 175, 107, 21, 169, 112, 253, 86, 62, 215, 85, 73, 230, 21,
            151, 25, 174, 92, 60, 49, 222, 228, 49, 111, 183, 92, 13,
        ];
        let secret = Ed25519SecretKey::from_slice(&seed);
        let public = secret.public_key();
        let mut value = json!({});
        sign_json(&mut value, "domain", "ed25519:1", |b| secret.sign(b)).unwrap();
        assert_eq!(
            value["signatures"]["domain"]["ed25519:1"],
            "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"
        );
        let mut value = json!({"one": 1, "two": "Two"});
        sign_json(&mut value, "domain", "ed25519:1", |b| secret.sign(b)).unwrap();
        assert_eq!(
            value["signatures"]["domain"]["ed25519:1"],
            "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"
        );
        verify_json(&value, "domain", "ed25519:1", &public).unwrap();
        // `unsigned` is not covered; everything else is.
        value["unsigned"] = json!({"age_ts": 1});
        verify_json(&value, "domain", "ed25519:1", &public).unwrap();
        value["one"] = json!(2);
        assert_eq!(
            verify_json(&value, "domain", "ed25519:1", &public),
            Err(SignatureError::Invalid)
        );
        assert!(matches!(
            verify_json(&value, "other", "ed25519:1", &public),
            Err(SignatureError::Missing { .. })
        ));
    }
}
