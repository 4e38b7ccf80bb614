//! What every handler can reach.

use std::{sync::Arc, time::Duration};

use hato_engine::Engine;
use hato_store::Store;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::{key_cache::KeyCache, routes::simulator::SharedSimulator};

/// A price per SMS segment, for previews and cost estimates.
#[derive(Debug, Clone, PartialEq)]
pub struct Price {
    pub per_segment: f64,
    /// ISO 4217, e.g. `JPY`.
    pub currency: String,
}

/// Rules the API applies to requests.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Region for numbers written without a country code (`JP`).
    pub default_region: String,
    /// Longest message, in segments (10 = Japan's 670 UCS-2 / 1,530 GSM-7 characters).
    pub max_segments: usize,
    /// Most messages in one batch request.
    pub max_batch: usize,
    pub price: Option<Price>,
    /// How long a found API key is trusted without asking the database again (0: always ask).
    pub key_cache_ttl: Duration,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            default_region: "JP".into(),
            max_segments: hato_core::text::DEFAULT_MAX_SEGMENTS,
            max_batch: 10_000,
            price: None,
            key_cache_ttl: Duration::from_secs(1),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    engine: Engine,
    settings: ApiSettings,
    metrics: Option<PrometheusHandle>,
    simulator: Option<SharedSimulator>,
    keys: KeyCache,
}

impl AppState {
    pub fn new(
        store: Store,
        engine: Engine,
        settings: ApiSettings,
        metrics: Option<PrometheusHandle>,
        simulator: Option<SharedSimulator>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                keys: KeyCache::new(settings.key_cache_ttl),
                store,
                engine,
                settings,
                metrics,
                simulator,
            }),
        }
    }

    /// The embedded SMSC simulator, when the server runs one.
    pub fn simulator(&self) -> Option<&SharedSimulator> {
        self.inner.simulator.as_ref()
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn settings(&self) -> &ApiSettings {
        &self.inner.settings
    }

    pub(crate) fn keys(&self) -> &KeyCache {
        &self.inner.keys
    }

    pub fn metrics(&self) -> Option<&PrometheusHandle> {
        self.inner.metrics.as_ref()
    }
}
