//! Secrets the engine creates on its own: the webhook secret of an account it creates for
//! inbound messages. Same form as the API's (`whsec_` and 32 random bytes in base64, the
//! Standard Webhooks shape), kept here so the engine does not depend on the API crate.

use base64::Engine as _;
use rand::RngExt;

/// A new Standard Webhooks secret from the OS-seeded random source.
pub fn generate_webhook_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_well_formed() {
        let a = generate_webhook_secret();
        assert!(a.starts_with("whsec_"));
        assert_eq!(a.len(), "whsec_".len() + 44);
        assert_ne!(a, generate_webhook_secret());
    }
}
