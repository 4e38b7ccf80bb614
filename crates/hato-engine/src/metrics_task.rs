//! Samples what only the database knows (queue depth and age) into gauges. It runs when
//! `/metrics` is scraped, the only time the gauges are read, so an idle server never scans
//! its queue.

use hato_core::MessageKind;
use hato_store::Store;

use crate::clock::now_ms;

/// Reads the queue depths once and publishes them.
pub async fn sample(store: &Store) {
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
    if let Ok(unmatched) = store.unmatched_receipt_count().await {
        metrics::gauge!("hato_receipts_unmatched").set(unmatched as f64);
    }
}
