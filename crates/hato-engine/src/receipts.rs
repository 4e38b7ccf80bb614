//! Applying delivery reports and storing inbound messages. Events are taken in batches; the
//! reports of a batch are written in one transaction (those that matched no part yet in a
//! second one, once the submit results ahead of them are stored: `recorded.rs`) and its
//! inbound messages in another, and each event is acknowledged to its carrier only after its
//! transaction commits, so a crash never loses a report or a message the carrier thinks was
//! delivered.

use std::{sync::Arc, time::Duration};

use hato_core::MessageStatus;
use hato_store::{ReceiptOutcome, ReceiptUpdate, Store, UnmatchedReceipts};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::{
    CarrierEvent, DeliveryOutcome, EngineConfig, clock::now_ms, inbound::InboundStore,
    recorded::Recorded,
};

pub(crate) async fn run(
    store: Store,
    config: Arc<EngineConfig>,
    mut events: mpsc::Receiver<CarrierEvent>,
    recorded: Arc<Recorded>,
    shutdown: CancellationToken,
) {
    let inbound = InboundStore::new(store.clone(), &config);
    let mut batch = Vec::with_capacity(config.receipt_batch);
    let mut reconcile = tokio::time::interval(RECONCILE_EVERY);
    reconcile.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let received = tokio::select! {
            n = events.recv_many(&mut batch, config.receipt_batch) => n,
            _ = reconcile.tick() => {
                reconcile_unmatched(&store).await;
                continue;
            }
            () = shutdown.cancelled() => {
                // Drain what already arrived, then stop.
                while let Ok(event) = events.try_recv() {
                    batch.push(event);
                }
                if !batch.is_empty() {
                    apply(&store, &inbound, &recorded, std::mem::take(&mut batch)).await;
                }
                return;
            }
        };
        if received == 0 {
            return;
        }
        if batch.len() < config.receipt_batch {
            // Reports arrive one by one: let more gather so one transaction carries many.
            tokio::select! {
                () = tokio::time::sleep(config.gather) => {}
                () = shutdown.cancelled() => {}
            }
            while batch.len() < config.receipt_batch
                && let Ok(event) = events.try_recv()
            {
                batch.push(event);
            }
        }
        apply(&store, &inbound, &recorded, std::mem::take(&mut batch)).await;
    }
}

/// How often receipts kept as unmatched are checked against parts recorded since.
const RECONCILE_EVERY: Duration = Duration::from_secs(1);

async fn reconcile_unmatched(store: &Store) {
    match store.reconcile_unmatched_receipts(1000).await {
        Ok(0) => {}
        Ok(applied) => {
            metrics::counter!("hato_receipts_total", "result" => "reconciled", "status" => "any")
                .increment(applied as u64);
            tracing::debug!(
                applied,
                "applied receipts that arrived before their submit response"
            );
        }
        Err(error) => tracing::error!(error = ?error, "reconciling unmatched receipts failed"),
    }
}

/// Longest receipts that matched no part wait for the submit results handed over before
/// them ([`Recorded`]); a recorder stuck retrying delays them by no more than this.
const WAIT_FOR_RESULTS: Duration = Duration::from_secs(1);

async fn apply(
    store: &Store,
    inbound: &InboundStore,
    recorded: &Recorded,
    events: Vec<CarrierEvent>,
) {
    let now = now_ms();
    let mut updates = Vec::with_capacity(events.len());
    let mut acks = Vec::with_capacity(events.len());
    let mut messages = Vec::new();
    for event in events {
        match event {
            CarrierEvent::Report(report) => {
                updates.push(ReceiptUpdate {
                    connector: report.connector,
                    carrier_ids: report.carrier_ids,
                    status: match report.outcome {
                        DeliveryOutcome::Delivered => MessageStatus::Delivered,
                        DeliveryOutcome::Undelivered => MessageStatus::Undelivered,
                        DeliveryOutcome::Expired => MessageStatus::Expired,
                    },
                    error_code: report.error_code,
                    at: now,
                });
                acks.push(report.ack);
            }
            CarrierEvent::Inbound(message) => messages.push(message),
        }
    }
    if !updates.is_empty() {
        apply_receipts(store, recorded, updates, acks).await;
    }
    if !messages.is_empty() {
        inbound.store(messages, now).await;
    }
}

/// Applies receipts, acknowledging each once stored. Those that match no part yet are tried
/// again once the submit results handed over before them are stored (most had only
/// overtaken their result on its way to the store), and only then kept as unmatched.
async fn apply_receipts(
    store: &Store,
    recorded: &Recorded,
    updates: Vec<ReceiptUpdate>,
    acks: Vec<Option<oneshot::Sender<bool>>>,
) {
    let outcomes = match store
        .apply_receipts(&updates, UnmatchedReceipts::Return)
        .await
    {
        Ok(outcomes) => outcomes,
        Err(error) => {
            tracing::error!(error = ?error, count = updates.len(), "storing delivery reports failed");
            acknowledge(acks, false);
            return;
        }
    };
    let mut again = Vec::new();
    let mut again_acks = Vec::new();
    for ((update, outcome), ack) in updates.into_iter().zip(&outcomes).zip(acks) {
        if *outcome == ReceiptOutcome::Unmatched {
            again.push(update);
            again_acks.push(ack);
        } else {
            count(&update, outcome);
            acknowledge([ack], true);
        }
    }
    if again.is_empty() {
        return;
    }
    if !recorded.caught_up(WAIT_FOR_RESULTS).await {
        tracing::debug!("submit results still being stored; keeping receipts as unmatched");
    }
    match store.apply_receipts(&again, UnmatchedReceipts::Keep).await {
        Ok(outcomes) => {
            for (update, outcome) in again.iter().zip(&outcomes) {
                count(update, outcome);
            }
            acknowledge(again_acks, true);
        }
        Err(error) => {
            tracing::error!(error = ?error, count = again.len(), "storing delivery reports failed");
            acknowledge(again_acks, false);
        }
    }
}

fn count(update: &ReceiptUpdate, outcome: &ReceiptOutcome) {
    match outcome {
        ReceiptOutcome::Applied {
            status: Some(status),
            ..
        } => {
            metrics::counter!("hato_receipts_total", "result" => "applied", "status" => status.as_str())
                .increment(1);
        }
        ReceiptOutcome::Applied { status: None, .. } => {
            metrics::counter!("hato_receipts_total", "result" => "part", "status" => update.status.as_str())
                .increment(1);
        }
        ReceiptOutcome::Unmatched => {
            tracing::info!(connector = %update.connector, carrier_id = ?update.carrier_ids.first(), "receipt matches no message yet; kept");
            metrics::counter!("hato_receipts_total", "result" => "unmatched", "status" => update.status.as_str())
                .increment(1);
        }
    }
}

/// Tells the carrier whether the reports are stored (it delivers them again if not).
fn acknowledge(acks: impl IntoIterator<Item = Option<oneshot::Sender<bool>>>, stored: bool) {
    for ack in acks.into_iter().flatten() {
        let _ = ack.send(stored);
    }
}
