//! Applying delivery reports. Reports are taken in batches and written in one transaction;
//! each is acknowledged to its carrier only after that transaction commits, so a crash never
//! loses a report the carrier thinks was delivered.

use std::sync::Arc;

use hato_core::MessageStatus;
use hato_store::{ReceiptOutcome, ReceiptUpdate, Store};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{CarrierEvent, DeliveryOutcome, EngineConfig, clock::now_ms};

pub(crate) async fn run(
    store: Store,
    config: Arc<EngineConfig>,
    mut events: mpsc::Receiver<CarrierEvent>,
    shutdown: CancellationToken,
) {
    let mut batch = Vec::with_capacity(config.receipt_batch);
    loop {
        let received = tokio::select! {
            n = events.recv_many(&mut batch, config.receipt_batch) => n,
            () = shutdown.cancelled() => {
                // Drain what already arrived, then stop.
                while let Ok(event) = events.try_recv() {
                    batch.push(event);
                }
                if !batch.is_empty() {
                    apply(&store, std::mem::take(&mut batch)).await;
                }
                return;
            }
        };
        if received == 0 {
            return;
        }
        apply(&store, std::mem::take(&mut batch)).await;
    }
}

async fn apply(store: &Store, events: Vec<CarrierEvent>) {
    let now = now_ms();
    let mut updates = Vec::with_capacity(events.len());
    let mut acks = Vec::with_capacity(events.len());
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
        }
    }
    let stored = match store.apply_receipts(&updates).await {
        Ok(outcomes) => {
            for (update, outcome) in updates.iter().zip(&outcomes) {
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
            true
        }
        Err(error) => {
            tracing::error!(error = ?error, count = updates.len(), "storing delivery reports failed");
            false
        }
    };
    for ack in acks.into_iter().flatten() {
        let _ = ack.send(stored);
    }
}
