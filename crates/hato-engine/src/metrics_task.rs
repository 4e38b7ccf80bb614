//! Samples what only the database knows (queue depth and age) into gauges. It runs when
//! `/metrics` is scraped, the only time the gauges are read, so an idle server never scans
//! its queue.
//!
//! Counting the queue reads every job row (`Store::queue_depths`), so it runs at most once per
//! [`QUEUE_SAMPLE_INTERVAL`] however often `/metrics` is scraped; scrapes in between see the
//! last sample. A dashboard or the bench polling every 20 ms had the read pool scan 40,000
//! jobs 50 times a second during a drain: ~7 % of both cores (`perf`, BENCHMARKS.md session 9).
//! The unmatched-receipt count is read on every scrape: its table is empty but for receipts
//! waiting for their submit result, and `hato bench` needs it current to count deliveries.

use std::time::{Duration, Instant};

use hato_core::MessageKind;
use hato_store::Store;
use tokio::sync::Mutex;

use crate::clock::now_ms;

/// The longest the queue gauges are older than the scrape that reads them.
pub const QUEUE_SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// When the queue was last counted, shared by concurrent scrapes.
#[derive(Debug, Default)]
pub struct QueueSampler {
    last: Mutex<Option<Instant>>,
}

impl QueueSampler {
    /// Publishes the gauges: the queue depths when the last count is older than
    /// [`QUEUE_SAMPLE_INTERVAL`], and the unmatched receipts always.
    pub async fn sample(&self, store: &Store) {
        {
            // Held while counting, so scrapes that arrive meanwhile wait and reuse it.
            let mut last = self.last.lock().await;
            let now = Instant::now();
            if is_due(*last, now) {
                sample_queue(store).await;
                *last = Some(now);
            }
        }
        if let Ok(unmatched) = store.unmatched_receipt_count().await {
            metrics::gauge!("hato_receipts_unmatched").set(unmatched as f64);
        }
    }
}

/// Whether a count last taken at `last` is too old at `now`.
fn is_due(last: Option<Instant>, now: Instant) -> bool {
    last.is_none_or(|last| now.duration_since(last) >= QUEUE_SAMPLE_INTERVAL)
}

/// Reads the queue depths once and publishes them.
async fn sample_queue(store: &Store) {
    let now = now_ms();
    match store.queue_depths(now).await {
        Ok(depths) => {
            let dispatch_lanes =
                MessageKind::ALL.map(|kind| ("dispatch", kind.lane(), kind.as_str()));
            for (queue, lane, lane_name) in dispatch_lanes
                .into_iter()
                .chain([("webhook", 0, "default")])
            {
                let depth = depths.iter().find(|d| d.queue == queue && d.lane == lane);
                let ready = depth.map_or(0, |d| d.ready);
                let delayed = depth.map_or(0, |d| d.delayed);
                let leased = depth.map_or(0, |d| d.leased);
                let age = depth
                    .and_then(|d| d.oldest_ready_at)
                    .map_or(0.0, |at| (now - at).max(0) as f64 / 1000.0);
                metrics::gauge!("hato_queue_ready", "queue" => queue, "lane" => lane_name)
                    .set(ready as f64);
                metrics::gauge!("hato_queue_delayed", "queue" => queue, "lane" => lane_name)
                    .set(delayed as f64);
                metrics::gauge!("hato_queue_leased", "queue" => queue, "lane" => lane_name)
                    .set(leased as f64);
                metrics::gauge!("hato_queue_oldest_age_seconds", "queue" => queue, "lane" => lane_name).set(age);
            }
        }
        Err(error) => tracing::warn!(error = ?error, "sampling queue depth failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_counted_first_and_then_once_per_interval() {
        let start = Instant::now();
        assert!(is_due(None, start));
        assert!(!is_due(Some(start), start));
        assert!(!is_due(
            Some(start),
            start + QUEUE_SAMPLE_INTERVAL - Duration::from_millis(1)
        ));
        assert!(is_due(Some(start), start + QUEUE_SAMPLE_INTERVAL));
    }
}
