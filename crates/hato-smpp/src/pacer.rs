//! The connector's throughput control: a configured cap, and slowing down when the SMSC says
//! it is overloaded.
//!
//! Spacing uses GCRA (a token bucket written as "the theoretical time of the next send"): each
//! caller reserves the next slot and sleeps until it, so waiters do not stampede. A burst of
//! about 50 ms of traffic may go at once.
//!
//! On `ESME_RTHROTTLED` / `ESME_RMSGQFUL` every send pauses for `throttle_pause` and the rate
//! is halved (from the current limit, or from the observed rate when there is none) at most
//! once per pause; it then grows by 25% per second until it reaches the cap again (or, without
//! a cap, the rate seen before the throttling, where the limit is lifted).

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
struct State {
    limit: Option<f64>,
    recover_to: Option<f64>,
    next_free: Instant,
    paused_until: Option<Instant>,
    last_change: Instant,
    bucket_start: Instant,
    count_this: u64,
    count_prev: u64,
}

/// Shared by every submit of a connector.
#[derive(Debug)]
pub(crate) struct Pacer {
    cap: Option<f64>,
    pause: Duration,
    state: Mutex<State>,
}

enum Reservation {
    Go,
    Paused(Instant),
    Slot(Instant),
}

const BUCKET: Duration = Duration::from_secs(1);

impl Pacer {
    pub(crate) fn new(cap: Option<u32>, pause: Duration) -> Self {
        let now = Instant::now();
        let cap = cap.map(f64::from);
        Self {
            cap,
            pause,
            state: Mutex::new(State {
                limit: cap,
                recover_to: cap,
                next_free: now,
                paused_until: None,
                last_change: now,
                bucket_start: now,
                count_this: 0,
                count_prev: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the right to send one PDU.
    pub(crate) async fn acquire(&self) {
        loop {
            match self.reserve() {
                Reservation::Go => return,
                Reservation::Paused(until) => tokio::time::sleep_until(until).await,
                Reservation::Slot(at) => {
                    tokio::time::sleep_until(at).await;
                    if self.take_reserved() {
                        return;
                    }
                }
            }
        }
    }

    fn reserve(&self) -> Reservation {
        let mut state = self.lock();
        let now = Instant::now();
        self.recover(&mut state, now);
        if let Some(paused) = state.paused_until.filter(|p| *p > now) {
            return Reservation::Paused(paused);
        }
        let Some(limit) = state.limit else {
            Self::count(&mut state, now);
            return Reservation::Go;
        };
        let interval = Duration::from_secs_f64(1.0 / limit);
        let tolerance = interval.mul_f64((limit / 20.0).max(1.0) - 1.0);
        let tat = state.next_free.max(now);
        state.next_free = tat + interval;
        let slot = tat.checked_sub(tolerance).unwrap_or(now).max(now);
        if slot <= now {
            Self::count(&mut state, now);
            Reservation::Go
        } else {
            Reservation::Slot(slot)
        }
    }

    /// Takes a reserved slot unless a pause started meanwhile.
    fn take_reserved(&self) -> bool {
        let mut state = self.lock();
        let now = Instant::now();
        if state.paused_until.is_some_and(|p| p > now) {
            return false;
        }
        Self::count(&mut state, now);
        true
    }

    fn count(state: &mut State, now: Instant) {
        Self::roll(state, now);
        state.count_this += 1;
    }

    fn roll(state: &mut State, now: Instant) {
        let elapsed = now.saturating_duration_since(state.bucket_start);
        if elapsed >= BUCKET * 2 {
            state.count_prev = 0;
            state.count_this = 0;
            state.bucket_start = now;
        } else if elapsed >= BUCKET {
            state.count_prev = state.count_this;
            state.count_this = 0;
            state.bucket_start += BUCKET;
        }
    }

    fn observed(state: &mut State, now: Instant) -> f64 {
        Self::roll(state, now);
        let fraction = now
            .saturating_duration_since(state.bucket_start)
            .as_secs_f64()
            / BUCKET.as_secs_f64();
        state.count_prev as f64 * (1.0 - fraction).max(0.0) + state.count_this as f64
    }

    fn recover(&self, state: &mut State, now: Instant) {
        let Some(limit) = state.limit else {
            return;
        };
        if state.paused_until.is_some_and(|p| p > now)
            || now.saturating_duration_since(state.last_change) < Duration::from_secs(1)
        {
            return;
        }
        let elapsed = now.saturating_duration_since(state.last_change);
        let steps = elapsed.as_secs().min(64) as i32;
        state.last_change += Duration::from_secs(steps as u64);
        let raised = limit * 1.25f64.powi(steps);
        state.limit = match state.recover_to {
            Some(target) if raised < target => Some(raised),
            _ => self.cap,
        };
    }

    /// The SMSC said it is overloaded.
    pub(crate) fn throttled(&self) {
        let mut state = self.lock();
        let now = Instant::now();
        if state.paused_until.is_some_and(|p| p > now) {
            return;
        }
        let observed = Self::observed(&mut state, now);
        let base = match state.limit {
            Some(limit) => limit,
            None => observed.max(2.0),
        };
        state.recover_to = Some(self.cap.unwrap_or(base));
        state.limit = Some((base / 2.0).max(1.0));
        state.paused_until = Some(now + self.pause);
        state.last_change = now + self.pause;
        state.next_free = now + self.pause;
    }

    /// (observed rate, current limit).
    pub(crate) fn rates(&self) -> (f64, Option<f64>) {
        let mut state = self.lock();
        let now = Instant::now();
        self.recover(&mut state, now);
        (Self::observed(&mut state, now), state.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_sends_at_the_cap() {
        let pacer = Pacer::new(Some(10), Duration::from_secs(1));
        let start = Instant::now();
        for _ in 0..21 {
            pacer.acquire().await;
        }
        // 20 intervals of 100 ms after the first send.
        assert!(Instant::now() - start >= Duration::from_millis(2000));
        assert!(Instant::now() - start < Duration::from_millis(2100));
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_pauses_halves_and_recovers() {
        let pacer = Pacer::new(Some(100), Duration::from_secs(2));
        pacer.acquire().await;
        pacer.throttled();
        assert_eq!(pacer.rates().1, Some(50.0));
        // A second throttle inside the pause does not halve again.
        pacer.throttled();
        assert_eq!(pacer.rates().1, Some(50.0));
        let start = Instant::now();
        pacer.acquire().await;
        assert!(Instant::now() - start >= Duration::from_secs(2));
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(pacer.rates().1, Some(100.0));
    }

    #[tokio::test(start_paused = true)]
    async fn uncapped_limit_is_lifted_after_recovery() {
        let pacer = Pacer::new(None, Duration::from_millis(100));
        for _ in 0..40 {
            pacer.acquire().await;
        }
        pacer.throttled();
        let limit = pacer.rates().1.unwrap();
        assert!((1.0..=20.0).contains(&limit), "{limit}");
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(pacer.rates().1, None);
    }
}
