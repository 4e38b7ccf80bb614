//! Messages as the API reads them: `sending` comes from a live lease.
//!
//! A claim from the queue leases the message's dispatch job and leaves the message row as it
//! was (`scheduled` or `queued`; see `dispatch.rs`), so a read joins the job: while its lease
//! runs the message is `sending`, since the job's `claimed_at`. A lease that ran out (its
//! process died) shows the stored status again, as the message will be claimed again.

use std::sync::OnceLock;

use hato_core::MessageStatus;

use crate::rows::MESSAGE_COLUMNS;

/// `FROM` clause of a read: the message as `m`, its dispatch job (if any) as `j`.
pub(crate) const FROM_MESSAGES_WITH_JOB: &str =
    "FROM messages m LEFT JOIN jobs j ON j.queue = 'dispatch' AND j.ref_id = m.id";

/// The columns `message_from_row` reads, from `m`, with `status` and `sending_at` as a live
/// lease makes them. `$1` must be bound to the time of the read (unix ms).
pub(crate) fn columns() -> &'static str {
    static COLUMNS: OnceLock<String> = OnceLock::new();
    COLUMNS.get_or_init(|| {
        MESSAGE_COLUMNS
            .split(',')
            .map(str::trim)
            .map(|column| match column {
                "status" => format!("CASE WHEN {LEASED} THEN 'sending' ELSE m.status END AS status"),
                "sending_at" => format!(
                    "CASE WHEN {LEASED} THEN COALESCE(m.sending_at, j.claimed_at) ELSE m.sending_at END AS sending_at"
                ),
                other => format!("m.{other}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// True for a message claimed from the queue and being sent; `$1` is the time of the read.
const LEASED: &str = "m.status IN ('scheduled', 'queued') AND COALESCE(j.lease_until, 0) > $1";

/// The condition a `status` filter adds, with `$param` bound to the status's text.
pub(crate) fn status_condition(status: MessageStatus, param: usize) -> String {
    match status {
        MessageStatus::Sending => format!(" AND (m.status = ${param} OR ({LEASED}))"),
        MessageStatus::Scheduled | MessageStatus::Queued => {
            format!(" AND m.status = ${param} AND COALESCE(j.lease_until, 0) <= $1")
        }
        _ => format!(" AND m.status = ${param}"),
    }
}

/// Whether the dispatch job of a message is leased at `now`, as a `SELECT` with `$1` the
/// message id and `$2` the time: a message being sent cannot be cancelled.
pub(crate) const LEASED_JOB: &str =
    "SELECT 1 FROM jobs WHERE queue = 'dispatch' AND ref_id = $1 AND lease_until > $2";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_is_read_once_from_the_message() {
        let columns = columns();
        assert!(columns.contains("END AS status,") && columns.contains("END AS sending_at,"));
        for column in MESSAGE_COLUMNS.split(',').map(str::trim) {
            assert!(
                columns.contains(&format!("m.{column}")),
                "{column} missing from {columns}"
            );
        }
        assert!(
            !columns.contains("j.id"),
            "nothing of the job's but its lease"
        );
    }
}
