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
        // Claimed from the queue and being sent.
        let leased = format!("m.status IN ('scheduled', 'queued') AND {LIVE_LEASE}");
        MESSAGE_COLUMNS
            .split(',')
            .map(str::trim)
            .map(|column| match column {
                "status" => format!("CASE WHEN {leased} THEN 'sending' ELSE m.status END AS status"),
                "sending_at" => format!(
                    "CASE WHEN {leased} THEN COALESCE(m.sending_at, j.claimed_at) ELSE m.sending_at END AS sending_at"
                ),
                // Named, so `ORDER BY id` means the message's, also in a `UNION`.
                other => format!("m.{other} AS {other}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// A listing of one account's messages (`$2`), with `conditions` (` AND …` on `m`) and, when
/// given, a status filter whose text is bound to `$param`; ordered by the caller on `id`.
///
/// A filter on `sending` must find messages whose row says `queued` or `scheduled` as well:
/// one branch per stored status, each walking its own range of the status index, so the
/// listing costs the messages in flight and waiting, never the account's whole history.
pub(crate) fn select(status: Option<(MessageStatus, usize)>, conditions: &str) -> String {
    let branch = |status: &str| {
        format!(
            "SELECT {} {FROM_MESSAGES_WITH_JOB} WHERE m.account_id = $2 AND m.status = {status}{conditions}",
            columns()
        )
    };
    match status {
        None => format!(
            "SELECT {} {FROM_MESSAGES_WITH_JOB} WHERE m.account_id = $2{conditions}",
            columns()
        ),
        Some((MessageStatus::Sending, param)) => [
            branch(&format!("${param}")),
            format!("{} AND {LIVE_LEASE}", branch("'queued'")),
            format!("{} AND {LIVE_LEASE}", branch("'scheduled'")),
        ]
        .join(" UNION ALL "),
        Some((MessageStatus::Scheduled | MessageStatus::Queued, param)) => {
            format!("{} AND NOT {LIVE_LEASE}", branch(&format!("${param}")))
        }
        Some((_, param)) => branch(&format!("${param}")),
    }
}

/// The message's dispatch job is leased at the time of the read (`$1`).
const LIVE_LEASE: &str = "COALESCE(j.lease_until, 0) > $1";

/// Whether the dispatch job of a message is leased at `now`, as a `SELECT` with `$1` the
/// message id and `$2` the time: a message being sent cannot be cancelled.
pub(crate) const LEASED_JOB: &str =
    "SELECT 1 FROM jobs WHERE queue = 'dispatch' AND ref_id = $1 AND lease_until > $2";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_is_read_from_the_message() {
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
