//! The dispatcher's writes: claiming due messages and recording what the carriers answered.
//!
//! Both run on the single SQLite writer at the message rate, so each is a handful of
//! multi-row statements per batch, never a statement per message.

use hato_core::{Message, MessageId, MessageStatus};

use crate::{
    Result, Store,
    db::Tx,
    jobs::{self, ClaimedJob, Queue},
    receipts::{apply_early_receipts, insert_parts},
    rows::{MESSAGE_COLUMNS, message_from_row, ts},
    sql::{placeholder_list, rows_per_statement, shaped, statement_chunks, values_rows},
    transitions::{self, Change, Outbox},
};

/// A claimed dispatch job with its message, now `sending`.
///
/// A claim from the queue does not rewrite the message row (one update less per message on
/// the single writer, 3.5 µs of its time in a drain): the row keeps `scheduled` or `queued`,
/// and the job's live lease is what makes the API show it `sending` since the job's
/// `claimed_at` (`leased.rs`). The outcome then stores that time as `sending_at`. A message
/// handed over on insert is stored `sending` already.
#[derive(Debug, Clone)]
pub struct DispatchJob {
    pub job: ClaimedJob,
    pub message: Message,
}

/// The outcome of submitting one message to a carrier.
#[derive(Debug, Clone)]
pub enum SubmitResult {
    /// The carrier took every part; one carrier id per part.
    Sent {
        job_id: i64,
        message_id: MessageId,
        connector: String,
        carrier_ids: Vec<String>,
        at: i64,
    },
    /// Try again at `run_at`.
    Retry {
        job_id: i64,
        message_id: MessageId,
        run_at: i64,
    },
    /// No carrier could take it: try again at `run_at`, without counting this as an attempt.
    Wait {
        job_id: i64,
        message_id: MessageId,
        run_at: i64,
    },
    /// Rejected for good.
    Failed {
        job_id: i64,
        message_id: MessageId,
        connector: Option<String>,
        code: String,
        reason: String,
        at: i64,
    },
    /// Its validity ran out before it could be sent.
    Expired {
        job_id: i64,
        message_id: MessageId,
        at: i64,
    },
}

impl Store {
    /// Claims due dispatch jobs and reads their messages, in one transaction; the messages
    /// come back `sending` since `now` (their rows are left as they are, see
    /// [`DispatchJob`]). Jobs whose message is no longer sendable (cancelled, final) are
    /// dropped.
    pub async fn claim_dispatch(
        &self,
        now: i64,
        lease_until: i64,
        limit: usize,
    ) -> Result<Vec<DispatchJob>> {
        self.on_writer("claim_dispatch", move |store| async move {
            store.claim_dispatch_now(now, lease_until, limit).await
        })
        .await
    }

    async fn claim_dispatch_now(
        &self,
        now: i64,
        lease_until: i64,
        limit: usize,
    ) -> Result<Vec<DispatchJob>> {
        let mut tx = self.write().begin().await?;
        let jobs = jobs::claim(
            &mut tx,
            self.backend(),
            Queue::Dispatch,
            now,
            lease_until,
            limit,
        )
        .await?;
        if jobs.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let mut rows = Vec::with_capacity(jobs.len());
        for chunk in statement_chunks(&jobs, rows_per_statement(1)) {
            // `sending` is included: a message left `sending` by a process that died (or
            // handed over on insert) is retried.
            let shape = shaped(0, chunk.len(), || {
                format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages \
                     WHERE status IN ('scheduled', 'queued', 'sending') AND id IN ({})",
                    placeholder_list(1, chunk.len())
                )
            });
            let mut query = shape.query();
            for job in chunk {
                query = query.bind(job.ref_id.as_str());
            }
            rows.extend(query.fetch_all(&mut tx).await?);
        }
        let mut messages: std::collections::HashMap<String, Message> = rows
            .iter()
            .map(|row| {
                message_from_row(row).map(|mut m| {
                    if m.status != MessageStatus::Sending {
                        m.status = MessageStatus::Sending;
                        m.timestamps.sending = Some(ts(now));
                    }
                    (m.id.as_str().to_owned(), m)
                })
            })
            .collect::<Result<_>>()?;
        let mut claimed = Vec::with_capacity(jobs.len());
        let mut stale = Vec::new();
        for job in jobs {
            match messages.remove(&job.ref_id) {
                Some(message) => claimed.push(DispatchJob { job, message }),
                None => stale.push(job.id),
            }
        }
        jobs::delete(&mut tx, &stale).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records the outcomes of submissions in one transaction: a few multi-row statements
    /// whatever the number of outcomes.
    pub async fn record_submit_results(&self, results: &[SubmitResult]) -> Result<()> {
        if results.is_empty() {
            return Ok(());
        }
        let results = results.to_vec();
        self.on_writer("submit_results", move |store| async move {
            store.record_submit_results_now(&results).await
        })
        .await
    }

    async fn record_submit_results_now(&self, results: &[SubmitResult]) -> Result<()> {
        let mut tx = self.write().begin().await?;
        let mut outbox = Outbox::default();
        let mut parts = Vec::new();
        let mut changes = Vec::with_capacity(results.len());
        let mut done_jobs = Vec::with_capacity(results.len());
        let mut requeue = Vec::new();
        for result in results {
            match result {
                SubmitResult::Sent {
                    job_id,
                    message_id,
                    connector,
                    carrier_ids,
                    at,
                } => {
                    parts.push((message_id, connector.as_str(), carrier_ids.as_slice(), *at));
                    changes.push(Change {
                        message_id: message_id.as_str(),
                        status: MessageStatus::Sent,
                        at: *at,
                        connector: Some(connector),
                        error: None,
                    });
                    done_jobs.push(*job_id);
                }
                SubmitResult::Retry {
                    job_id,
                    message_id,
                    run_at,
                } => requeue.push((*job_id, message_id, *run_at, false)),
                SubmitResult::Wait {
                    job_id,
                    message_id,
                    run_at,
                } => requeue.push((*job_id, message_id, *run_at, true)),
                SubmitResult::Failed {
                    job_id,
                    message_id,
                    connector,
                    code,
                    reason,
                    at,
                } => {
                    changes.push(Change {
                        message_id: message_id.as_str(),
                        status: MessageStatus::Failed,
                        at: *at,
                        connector: connector.as_deref(),
                        error: Some((code, reason)),
                    });
                    done_jobs.push(*job_id);
                }
                SubmitResult::Expired {
                    job_id,
                    message_id,
                    at,
                } => {
                    changes.push(Change {
                        message_id: message_id.as_str(),
                        status: MessageStatus::Expired,
                        at: *at,
                        connector: None,
                        error: Some((
                            "validity_expired",
                            "the message expired before it could be sent",
                        )),
                    });
                    done_jobs.push(*job_id);
                }
            }
        }
        insert_parts(&mut tx, &parts).await?;
        transitions::advance_many(&mut tx, &mut outbox, &changes).await?;
        requeue_jobs(&mut tx, &requeue).await?;
        jobs::delete(&mut tx, &done_jobs).await?;
        // Receipts that arrived before these submit responses can be applied now.
        let mut by_connector: Vec<(&str, Vec<&str>)> = Vec::new();
        for (_, connector, carrier_ids, _) in &parts {
            let ids = carrier_ids.iter().map(String::as_str);
            match by_connector.iter_mut().find(|(c, _)| c == connector) {
                Some((_, known)) => known.extend(ids),
                None => by_connector.push((connector, ids.collect())),
            }
        }
        for (connector, ids) in by_connector {
            apply_early_receipts(&mut tx, &mut outbox, connector, &ids).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Puts messages a carrier could not take now back in the queue at their `run_at`; a `Wait`
/// (no carrier available) gives its attempt back.
async fn requeue_jobs(conn: &mut Tx, requeue: &[(i64, &MessageId, i64, bool)]) -> Result<()> {
    const COLS: usize = 3;
    for chunk in statement_chunks(requeue, rows_per_statement(COLS)) {
        let shape = shaped(0, chunk.len(), || {
            format!(
                "UPDATE messages SET status = 'queued' WHERE status IN ('scheduled', 'sending') AND id IN ({})",
                placeholder_list(1, chunk.len())
            )
        });
        let mut query = shape.query();
        for (_, message_id, _, _) in chunk {
            query = query.bind(message_id.as_str());
        }
        query.execute(&mut *conn).await?;
        let shape = shaped(0, chunk.len(), || {
            format!(
                "UPDATE jobs SET run_at = v.column2, lease_until = 0, \
                   attempts = CASE WHEN v.column3 = 1 AND jobs.attempts > 0 THEN jobs.attempts - 1 ELSE jobs.attempts END \
                 FROM (VALUES {}) AS v WHERE jobs.id = v.column1",
                values_rows(chunk.len(), COLS)
            )
        });
        let mut query = shape.query();
        for (job_id, _, run_at, uncount) in chunk {
            query = query.bind(*job_id).bind(*run_at).bind(i64::from(*uncount));
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}
