//! Delivery reports wait for the submit results that came before them.
//!
//! A carrier sends a receipt after the `submit_sm_resp` that names its id, but the two reach
//! the store by different writers: the dispatcher's outcome recorder stores the part with its
//! carrier id, the receipt writer applies the report. When the recorder is behind (under load
//! its transactions carry a thousand outcomes), the report arrives first, finds no part, and
//! takes the slow way: kept as unmatched, then applied when the part is recorded (on
//! PostgreSQL, by the reconciliation a second later). The busier the store, the more receipts
//! went that way (measured at 256 clients: 7–15 %), and the unmatched list an operator reads
//! filled with receipts that were only early.
//!
//! So the recorder counts the outcomes handed to it and those it has stored, and the receipt
//! writer, given back the reports of a batch that matched nothing, waits (a little, never
//! forever) until every outcome handed over before then is stored and tries them again. The
//! reports that matched never wait; only those that truly come before their response (an
//! SMSC may do that) still go the slow way.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use tokio::sync::watch;

/// Outcomes handed to the recorder, and outcomes it has stored.
pub(crate) struct Recorded {
    handed_over: AtomicU64,
    stored: watch::Sender<u64>,
}

impl Recorded {
    pub(crate) fn new() -> Self {
        Self {
            handed_over: AtomicU64::new(0),
            stored: watch::Sender::new(0),
        }
    }

    /// One outcome is on its way to the recorder (counted before it is sent, so a waiter never
    /// misses it).
    pub(crate) fn handed_over(&self) {
        self.handed_over.fetch_add(1, Ordering::AcqRel);
    }

    /// The recorder is done with `count` outcomes: stored, or given up on after retries.
    pub(crate) fn stored(&self, count: usize) {
        self.stored.send_modify(|stored| *stored += count as u64);
    }

    /// Waits until every outcome handed over before this call is stored, at most `limit`.
    /// Returns whether it caught up.
    pub(crate) async fn caught_up(&self, limit: Duration) -> bool {
        let target = self.handed_over.load(Ordering::Acquire);
        let mut stored = self.stored.subscribe();
        matches!(
            tokio::time::timeout(limit, stored.wait_for(|stored| *stored >= target)).await,
            Ok(Ok(_))
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn waits_for_what_was_handed_over_before_and_only_that() {
        let recorded = Arc::new(Recorded::new());
        assert!(recorded.caught_up(Duration::ZERO).await, "nothing pending");
        recorded.handed_over();
        recorded.handed_over();
        let waiter = {
            let recorded = recorded.clone();
            tokio::spawn(async move { recorded.caught_up(Duration::from_secs(10)).await })
        };
        recorded.stored(1);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "one of two is still being stored");
        // Handed over after the waiter started: not waited for.
        recorded.handed_over();
        recorded.stored(1);
        assert!(waiter.await.unwrap());
        assert!(
            !recorded.caught_up(Duration::from_millis(10)).await,
            "gives up after its limit"
        );
    }
}
