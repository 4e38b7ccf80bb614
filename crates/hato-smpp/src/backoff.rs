//! Reconnect delays: exponential steps with "equal jitter".
//!
//! After an SMSC outage every session of every Hato process notices at about the same
//! moment. Sleeping exactly `reconnect_min`, then twice that, and so on would bring them all
//! back in the same instant, again and again. So each wait is drawn at random from the upper
//! half of the current step: `[step / 2, step]`. The step starts at `reconnect_min`, doubles
//! after every wait, and never exceeds `reconnect_max`. A session that stayed bound for
//! [`STABLE_SESSION`] resets it; a shorter one does not, so an SMSC that accepts binds and
//! drops them at once (a flapping link, a full license) is retried less and less often instead
//! of every `reconnect_min`.
//!
//! Equal jitter rather than full jitter (`[0, step]`): a wait never drops below half of
//! `reconnect_min`, so a bind that fails at once cannot spin in a tight loop, while the
//! spread is still as wide as the step is long.

use std::time::Duration;

use rand::{Rng, RngExt};

/// How long a session must stay bound for the next failure to start from `reconnect_min`.
pub(crate) const STABLE_SESSION: Duration = Duration::from_secs(30);

/// The growing, jittered delay between one session's reconnect attempts.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    step: Duration,
}

impl Backoff {
    /// Steps from `min` doubling to `max` (`max` below `min` is taken as `min`).
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        let max = max.max(min);
        Self {
            min,
            max,
            step: min,
        }
    }

    /// Back to the first step.
    pub(crate) fn reset(&mut self) {
        self.step = self.min;
    }

    /// A bound session ended after `lasted`: only a stable one starts the steps over.
    pub(crate) fn session_ended(&mut self, lasted: Duration) {
        if lasted >= STABLE_SESSION {
            self.reset();
        }
    }

    /// The current step: the longest the next wait can be.
    #[cfg(test)]
    fn step(&self) -> Duration {
        self.step
    }

    /// The next wait, drawn from `[step / 2, step]` with `rng`; then the step doubles
    /// (capped at `max`).
    pub(crate) fn next_delay<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Duration {
        let step = duration_nanos(self.step);
        let delay = Duration::from_nanos(rng.random_range(step - step / 2..=step));
        self.step = self.step.saturating_mul(2).min(self.max);
        delay
    }
}

/// Nanoseconds, saturating at `u64::MAX` (about 584 years).
fn duration_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }

    /// Draws `samples` delays at each of the first `steps` steps.
    fn delays_per_step(min: Duration, max: Duration, steps: usize) -> Vec<Vec<Duration>> {
        let mut rng = StdRng::seed_from_u64(7);
        let mut per_step = vec![Vec::new(); steps];
        for _ in 0..500 {
            let mut backoff = Backoff::new(min, max);
            for delays in per_step.iter_mut() {
                delays.push(backoff.next_delay(&mut rng));
            }
        }
        per_step
    }

    #[test]
    fn steps_double_up_to_the_cap() {
        let mut backoff = Backoff::new(ms(100), ms(1_000));
        let mut rng = StdRng::seed_from_u64(1);
        let mut steps = Vec::new();
        for _ in 0..7 {
            steps.push(backoff.step());
            backoff.next_delay(&mut rng);
        }
        assert_eq!(
            steps,
            [100, 200, 400, 800, 1_000, 1_000, 1_000].map(ms).to_vec()
        );
        backoff.reset();
        assert_eq!(backoff.step(), ms(100));
    }

    #[test]
    fn only_a_stable_session_starts_the_steps_over() {
        let mut backoff = Backoff::new(ms(100), ms(10_000));
        let mut rng = StdRng::seed_from_u64(2);
        for _ in 0..3 {
            backoff.next_delay(&mut rng);
        }
        assert_eq!(backoff.step(), ms(800));
        // Bound, then dropped at once: the next wait keeps growing.
        backoff.session_ended(Duration::from_millis(50));
        assert_eq!(backoff.step(), ms(800));
        backoff.next_delay(&mut rng);
        assert_eq!(backoff.step(), ms(1_600));
        backoff.session_ended(STABLE_SESSION);
        assert_eq!(backoff.step(), ms(100));
    }

    #[test]
    fn every_delay_lies_in_the_upper_half_of_its_step() {
        let expected_steps = [100, 200, 400, 800, 1_000, 1_000].map(ms);
        for (delays, step) in delays_per_step(ms(100), ms(1_000), 6)
            .iter()
            .zip(expected_steps)
        {
            for delay in delays {
                assert!(
                    *delay >= step / 2 && *delay <= step,
                    "{delay:?} outside [{:?}, {step:?}]",
                    step / 2
                );
            }
        }
    }

    #[test]
    fn delays_are_spread_over_the_whole_range() {
        // 500 sessions reconnecting at the same step must not pick the same instant: the
        // draws cover both ends of [step/2, step] and are nearly all distinct.
        for (delays, step) in delays_per_step(ms(1_000), ms(60_000), 3)
            .iter()
            .zip([1_000, 2_000, 4_000].map(ms))
        {
            let low = delays.iter().filter(|d| **d < step * 6 / 10).count();
            let high = delays.iter().filter(|d| **d > step * 9 / 10).count();
            assert!(low > 50 && high > 50, "low {low}, high {high} for {step:?}");
            let mut distinct = delays.clone();
            distinct.sort();
            distinct.dedup();
            assert!(distinct.len() > 490, "{} distinct", distinct.len());
        }
    }

    #[test]
    fn the_cap_holds_however_long_it_fails() {
        let mut backoff = Backoff::new(ms(20), ms(200));
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..10_000 {
            let delay = backoff.next_delay(&mut rng);
            assert!(delay <= ms(200));
        }
        assert_eq!(backoff.step(), ms(200));
        // Past the cap the waits still vary, so sessions stuck at the cap stay apart.
        let late: Vec<_> = (0..100).map(|_| backoff.next_delay(&mut rng)).collect();
        assert!(late.iter().all(|d| *d >= ms(100)));
        assert!(late.iter().any(|d| *d != late[0]));
    }

    #[test]
    fn degenerate_bounds() {
        let mut rng = StdRng::seed_from_u64(5);
        // max below min: the step stays at min.
        let mut backoff = Backoff::new(ms(50), ms(10));
        for _ in 0..10 {
            let delay = backoff.next_delay(&mut rng);
            assert!(delay >= ms(25) && delay <= ms(50));
        }
        // A one-nanosecond step rounds its lower half up: never zero.
        let mut backoff = Backoff::new(Duration::from_nanos(1), Duration::from_nanos(1));
        assert_eq!(backoff.next_delay(&mut rng), Duration::from_nanos(1));
        // Huge durations saturate instead of overflowing.
        let mut backoff = Backoff::new(Duration::MAX / 2, Duration::MAX);
        for _ in 0..4 {
            backoff.next_delay(&mut rng);
        }
        assert_eq!(backoff.step(), Duration::MAX);
    }
}
