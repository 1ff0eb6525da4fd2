//! Endpoint signing secrets (`whsec_` + base64 of at least 24 random bytes), as Standard Webhooks
//! and Svix define them.
//!
//! The key bytes never appear in `Debug` output, so a secret that ends up in a log line by
//! mistake shows as `EndpointSecret(…)` instead of leaking.

use super::ParseError;
use base64::{engine::general_purpose::STANDARD, Engine};
use rand::RngCore;

const PREFIX: &str = "whsec_";

#[derive(Clone, PartialEq, Eq)]
pub struct EndpointSecret {
    key: Vec<u8>,
}

impl EndpointSecret {
    /// 24 random bytes, like Svix: 192 bits is far beyond guessing and keeps the string short.
    pub fn generate() -> Self {
        let mut key = vec![0u8; 24];
        rand::thread_rng().fill_bytes(&mut key);
        Self { key }
    }

    /// Accepts what Svix accepts, `^(whsec_)?[A-Za-z0-9+/=]{32,100}$`: the prefix is
    /// optional on input (it is always there on output), and the base64 must decode to at
    /// least 24 bytes.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let b64 = s.strip_prefix(PREFIX).unwrap_or(s);
        let shape_ok = (32..=100).contains(&b64.len())
            && b64
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        if !shape_ok {
            return Err(ParseError::new(
                "secret must be 32 to 100 base64 characters, optionally after `whsec_`",
            ));
        }
        let key = STANDARD
            .decode(b64)
            .map_err(|_| ParseError::new("secret must be valid base64 after `whsec_`"))?;
        if key.len() < 24 {
            return Err(ParseError::new("secret must encode at least 24 bytes"));
        }
        Ok(Self { key })
    }

    /// The key that HMAC uses.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The `whsec_…` form users copy into their receiver.
    pub fn expose(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.key))
    }
}

impl std::fmt::Debug for EndpointSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EndpointSecret(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_hides_itself() {
        let s = EndpointSecret::generate();
        assert_eq!(EndpointSecret::parse(&s.expose()).unwrap(), s);
        assert!(!format!("{s:?}").contains(&s.expose()[6..]));
    }

    #[test]
    fn accepts_a_secret_without_its_prefix_as_svix_does() {
        let bare = EndpointSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let prefixed = EndpointSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(bare, prefixed);
        assert_eq!(bare.expose(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    }

    #[test]
    fn refuses_malformed_secrets() {
        assert!(EndpointSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS").is_err());
        assert!(EndpointSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw!").is_err());
        assert!(EndpointSecret::parse("whsec_!!!").is_err());
        assert!(EndpointSecret::parse("whsec_c2hvcnQ=").is_err());
    }
}
