//! Group commit: single-message inserts from concurrent requests share one transaction.
//!
//! A commit costs a disk sync; a request costs a row. One task takes whatever inserts are
//! waiting (up to a limit), writes them in one transaction and answers each, so throughput
//! grows with concurrency instead of being capped by sync latency. No insert is answered before
//! its transaction committed.

use std::{collections::HashMap, time::Instant};

use tokio::sync::{mpsc, oneshot};

use crate::{
    Result, StoreError,
    db::WriteDb,
    jobs::ClaimedJob,
    messages::{InsertOutcome, NewMessage, insert_one_idempotent, insert_rows},
    writer::record_write,
};

pub(crate) struct InsertRequest {
    pub message: NewMessage,
    pub reply: oneshot::Sender<Result<InsertOutcome>>,
    /// When it was handed to the writer, for the wait metric.
    pub queued: Instant,
}

/// The group commit loop, run on the writer thread until every sender is gone.
pub(crate) async fn run(
    write: WriteDb,
    mut requests: mpsc::Receiver<InsertRequest>,
    max_batch: usize,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while requests.recv_many(&mut batch, max_batch).await > 0 {
        let started = Instant::now();
        let written = write_batch(&write, &batch).await;
        // The group waited as long as its oldest request.
        let oldest = batch.iter().map(|r| r.queued).min().unwrap_or(started);
        record_write("insert", started - oldest, started.elapsed());
        match written {
            Ok(outcomes) => {
                for (request, outcome) in batch.drain(..).zip(outcomes) {
                    let _ = request.reply.send(Ok(outcome));
                }
            }
            Err(error) => {
                tracing::error!(error = ?error, size = batch.len(), "group commit failed");
                for request in batch.drain(..) {
                    let _ = request
                        .reply
                        .send(Err(StoreError::GroupCommit(error.to_string())));
                }
            }
        }
    }
}

async fn write_batch(write: &WriteDb, batch: &[InsertRequest]) -> Result<Vec<InsertOutcome>> {
    // Messages without an idempotency key cannot conflict: insert them as multi-row statements.
    let plain: Vec<&NewMessage> = batch
        .iter()
        .filter(|r| r.message.idempotency_key.is_none())
        .map(|r| &r.message)
        .collect();
    let mut tx = write.begin().await?;
    let mut claimed: HashMap<String, ClaimedJob> = insert_rows(&mut tx, &plain)
        .await?
        .into_iter()
        .map(|job| (job.ref_id.clone(), job))
        .collect();
    let mut outcomes = Vec::with_capacity(batch.len());
    for request in batch {
        if request.message.idempotency_key.is_some() {
            outcomes.push(insert_one_idempotent(&mut tx, &request.message).await?);
        } else {
            outcomes.push(InsertOutcome::Inserted {
                claimed: claimed.remove(request.message.id.as_str()),
            });
        }
    }
    tx.commit().await?;
    Ok(outcomes)
}
