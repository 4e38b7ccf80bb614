//! A short-lived memory of API-key lookups.
//!
//! Every request names its key, and looking it up is a round trip to a database connection's
//! thread: on SQLite a third of all the server's thread switches at 2,500 requests a second.
//! A key seen within the last `ttl` is trusted again without asking. The price is that a
//! revoked key keeps working for at most `ttl` on a running server (revocation is by
//! `hato keys revoke`, another process, so the server cannot be told). Unknown keys are never
//! remembered: a key created a moment ago works at once.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use hato_store::AuthenticatedKey;

/// Most keys remembered; past it, expired entries go, and if none had, everything does.
const MAX_ENTRIES: usize = 10_000;

pub(crate) struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (AuthenticatedKey, Instant)>>,
}

impl KeyCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The key with this hash, if it was found less than `ttl` ago.
    pub(crate) fn get(&self, key_hash: &str) -> Option<AuthenticatedKey> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key_hash)
            .filter(|(_, found_at)| found_at.elapsed() < self.ttl)
            .map(|(key, _)| key.clone())
    }

    pub(crate) fn insert(&self, key_hash: String, key: AuthenticatedKey) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (_, found_at)| found_at.elapsed() < self.ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key_hash, (key, Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use hato_core::{AccountId, ApiKeyId};

    use super::*;

    fn key() -> AuthenticatedKey {
        AuthenticatedKey {
            key_id: ApiKeyId::from_trusted("key_1".into()),
            account_id: AccountId::from_trusted("acc_1".into()),
        }
    }

    #[test]
    fn remembers_for_the_ttl_only() {
        let cache = KeyCache::new(Duration::from_millis(30));
        assert!(cache.get("h").is_none());
        cache.insert("h".into(), key());
        assert_eq!(cache.get("h").map(|k| k.key_id), Some(key().key_id));
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get("h").is_none(), "expired");
    }

    #[test]
    fn a_zero_ttl_remembers_nothing() {
        let cache = KeyCache::new(Duration::ZERO);
        cache.insert("h".into(), key());
        assert!(cache.get("h").is_none());
    }

    #[test]
    fn stays_bounded() {
        let cache = KeyCache::new(Duration::from_secs(60));
        for i in 0..=MAX_ENTRIES {
            cache.insert(format!("h{i}"), key());
        }
        let len = cache.entries.lock().expect("lock").len();
        assert!(len <= MAX_ENTRIES, "{len}");
        assert!(
            cache.get(&format!("h{MAX_ENTRIES}")).is_some(),
            "the newest is kept"
        );
    }
}
