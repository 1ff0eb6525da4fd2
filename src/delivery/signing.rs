//! Standard Webhooks signatures (the scheme Svix uses, so its libraries verify ours).
//!
//! `v1,` + base64(HMAC-SHA256(key, "{msg_id}.{timestamp}.{body}")). During a secret rotation
//! several signatures are sent, separated by spaces, and a receiver accepts any one of them.

use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// One `v1,` signature of a delivery.
pub fn sign(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Whether `header` (a `webhook-signature` value: space-separated `v1,<base64>` entries) holds
/// a signature of this delivery under `key`; compared in constant time. What a receiver does,
/// and what the fuzz targets check signing against.
pub fn verify(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    use subtle::ConstantTimeEq;
    let expected = sign(key, msg_id, timestamp, body);
    header
        .split(' ')
        .filter(|s| s.starts_with("v1,"))
        .fold(false, |found, s| {
            found | bool::from(s.as_bytes().ct_eq(expected.as_bytes()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EndpointSecret;

    /// The published test vector (DESIGN.md, from the Standard Webhooks specification).
    #[test]
    fn standard_webhooks_test_vector() {
        let secret = EndpointSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = sign(
            secret.key(),
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn any_change_changes_the_signature() {
        let key = b"0123456789abcdef01234567";
        let base = sign(key, "msg_1", 1, b"{}");
        assert_ne!(base, sign(key, "msg_2", 1, b"{}"));
        assert_ne!(base, sign(key, "msg_1", 2, b"{}"));
        assert_ne!(base, sign(key, "msg_1", 1, b"{ }"));
    }
}
