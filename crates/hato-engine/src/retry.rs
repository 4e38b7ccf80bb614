//! Retry delays with jitter.

use std::time::Duration;

use rand::RngExt;

/// The delay before attempt `attempt + 1` (attempts count from 1), or None when the schedule is
/// exhausted. Jitter spreads it by up to ± `jitter` of itself.
pub fn delay_after(schedule: &[Duration], attempt: usize, jitter: f64) -> Option<Duration> {
    let base = *schedule.get(attempt.checked_sub(1)?)?;
    if jitter <= 0.0 {
        return Some(base);
    }
    let spread = rand::rng().random_range(-jitter..=jitter);
    Some(base.mul_f64((1.0 + spread).max(0.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_schedule_then_stops() {
        let schedule = [Duration::from_secs(5), Duration::from_secs(60)];
        assert_eq!(delay_after(&schedule, 1, 0.0), Some(Duration::from_secs(5)));
        assert_eq!(
            delay_after(&schedule, 2, 0.0),
            Some(Duration::from_secs(60))
        );
        assert_eq!(delay_after(&schedule, 3, 0.0), None);
        assert_eq!(delay_after(&schedule, 0, 0.0), None);
    }

    #[test]
    fn jitter_stays_in_bounds() {
        let schedule = [Duration::from_secs(100)];
        for _ in 0..200 {
            let delay = delay_after(&schedule, 1, 0.2).unwrap();
            assert!(
                delay >= Duration::from_secs(80) && delay <= Duration::from_secs(120),
                "{delay:?}"
            );
        }
    }
}
