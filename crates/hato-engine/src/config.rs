//! Tuning for the workers. The binary fills it from `hato.toml`.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Messages claimed per dispatcher round.
    pub dispatch_batch: usize,
    /// Messages being submitted at once, across rounds.
    pub dispatch_in_flight: usize,
    /// How long a claimed job stays leased before another worker may take it.
    pub lease: Duration,
    /// Hand due messages to the dispatcher as they are stored, claimed in the same
    /// transaction, while the queue has nothing due (see `handoff`); off, every message goes
    /// through the queue and a claim.
    pub direct_dispatch: bool,
    /// Once work is flowing, how long the dispatcher and the receipt writer let more of it
    /// gather before their next transaction. Under load this makes each transaction carry
    /// many messages instead of one; when quiet, a message waits at most this long.
    pub gather: Duration,
    /// Sleep of an idle worker: the delay before a due scheduled message or retry is noticed
    /// (new messages wake the dispatcher at once).
    pub idle_poll: Duration,
    /// Delays between attempts after temporary carrier errors; one attempt more than entries.
    pub retry_schedule: Vec<Duration>,
    /// Delay before trying again when no carrier is available; such waits never fail a message.
    pub unavailable_retry: Duration,
    /// Reports applied per transaction.
    pub receipt_batch: usize,
    /// Region for numbers carriers send without a country code (`"JP"`).
    pub default_region: String,
    /// Name of the account inbound messages belong to, created if missing. `None` refuses
    /// inbound messages (the carrier keeps them and delivers them again later).
    pub inbound_account: Option<String>,
    /// An inbound message identical to one stored within this window is a redelivery and is
    /// stored once (see `hato_store::InboundOptions`).
    pub inbound_dedup_window: Duration,
    pub webhooks: WebhookConfig,
}

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Delays between attempts; the delivery gives up after `retry_schedule.len() + 1` attempts.
    pub retry_schedule: Vec<Duration>,
    /// Each delay is spread by up to ± this fraction, so retries of many events do not align.
    pub jitter: f64,
    pub timeout: Duration,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// The longest `Retry-After` honoured.
    pub max_retry_after: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            dispatch_batch: 200,
            dispatch_in_flight: 4000,
            lease: Duration::from_secs(60),
            direct_dispatch: true,
            gather: Duration::from_millis(5),
            idle_poll: Duration::from_millis(200),
            retry_schedule: [1, 5, 30, 120, 600, 1800].map(Duration::from_secs).to_vec(),
            unavailable_retry: Duration::from_secs(2),
            receipt_batch: 1000,
            default_region: "JP".into(),
            inbound_account: Some("default".into()),
            inbound_dedup_window: Duration::from_secs(600),
            webhooks: WebhookConfig::default(),
        }
    }
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            retry_schedule: [5, 60, 300, 1800, 7200, 28800]
                .map(Duration::from_secs)
                .to_vec(),
            jitter: 0.2,
            timeout: Duration::from_secs(10),
            concurrency: 64,
            max_retry_after: Duration::from_secs(24 * 3600),
        }
    }
}
