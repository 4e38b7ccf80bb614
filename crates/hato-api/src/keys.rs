//! API keys and webhook secrets: generated from the OS random source, keys stored only as
//! SHA-256 hashes (a key is 256 bits of randomness, so a fast hash is enough: there is no
//! password to brute-force).

use rand::{RngExt, distr::Alphanumeric};
use sha2::{Digest, Sha256};

const KEY_PREFIX: &str = "hato_sk_";
/// Characters shown to recognise a key in listings.
const SHOWN_PREFIX_LEN: usize = KEY_PREFIX.len() + 6;

/// A new key: the secret (shown once), its hash (stored) and its recognisable prefix.
pub struct NewKey {
    pub secret: String,
    pub hash: String,
    pub prefix: String,
}

pub fn generate_key() -> NewKey {
    let random: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(43)
        .map(char::from)
        .collect();
    let secret = format!("{KEY_PREFIX}{random}");
    NewKey {
        hash: hash_key(&secret),
        prefix: secret[..SHOWN_PREFIX_LEN].to_owned(),
        secret,
    }
}

pub fn hash_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A Standard Webhooks secret (`whsec_` and 32 random bytes in base64); the engine makes the
/// same kind for accounts it creates, so there is one generator.
pub use hato_engine::secrets::generate_webhook_secret;

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    #[test]
    fn keys_are_unique_and_hash_stably() {
        let a = generate_key();
        let b = generate_key();
        assert_ne!(a.secret, b.secret);
        assert_eq!(hash_key(&a.secret), a.hash);
        assert!(a.secret.starts_with(&a.prefix));
        assert_eq!(a.hash.len(), 64);
    }

    #[test]
    fn webhook_secrets_decode_to_32_bytes() {
        let secret = generate_webhook_secret();
        let raw = secret.strip_prefix("whsec_").unwrap();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(raw)
                .unwrap()
                .len(),
            32
        );
    }
}
