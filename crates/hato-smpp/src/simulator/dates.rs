//! `YYMMDDhhmm` receipt dates from the system clock (UTC), without a date library.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, as receipts write it.
pub(super) fn now_yymmddhhmm() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_yymmddhhmm(secs)
}

/// `secs` since the Unix epoch as `YYMMDDhhmm` (UTC).
pub(super) fn format_yymmddhhmm(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let minute_of_day = (secs % 86_400) / 60;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{:02}{:02}{:02}{:02}{:02}",
        year.rem_euclid(100),
        month,
        day,
        minute_of_day / 60,
        minute_of_day % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(format_yymmddhhmm(0), "7001010000");
        // 2024-02-29 13:45 UTC
        assert_eq!(format_yymmddhhmm(1_709_214_300), "2402291345");
        assert_eq!(now_yymmddhhmm().len(), 10);
    }
}
