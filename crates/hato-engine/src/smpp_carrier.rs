//! The [`Carrier`] over an SMPP connector.
//!
//! Submits go straight to [`hato_smpp::Connector::submit`]; the connector's outcomes map onto
//! the engine's. Receipts and inbound messages come out of the connector as
//! [`ConnectorEvent`]s; a bridge task turns them into [`CarrierEvent`]s for the receipt handler,
//! passing the connector's ack along, so the SMSC hears `deliver_sm_resp` only after the
//! engine stored the event.
//!
//! Carrier ids are stored in [`canonical_message_id`] form and receipts are matched with
//! every [`message_id_candidates`] form, so an SMSC answering in hex and reporting in decimal
//! still matches.

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};
use hato_core::Sender;
use hato_smpp::{
    ConfigError, Connector, ConnectorConfig, ConnectorEvent, ConnectorSnapshot, DeliveryReceipt,
    ReceiptState, canonical_message_id, message_id_candidates,
};
use tokio::sync::mpsc;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    Carrier, CarrierEvent, DeliveryOutcome, DeliveryReport, InboundReport, OutboundSms,
    SubmitOutcome,
};

/// Events buffered between the connector and the bridge.
const EVENT_BUFFER: usize = 1024;

/// Sender id used for messages stored without one when no default is configured.
const FALLBACK_SENDER: &str = "Hato";

/// An SMPP connection (one SMSC, one or more binds) as a carrier.
pub struct SmppCarrier {
    connector: Connector,
    default_sender: Sender,
    bridge: TaskTracker,
}

impl SmppCarrier {
    /// Starts the connector and the bridge carrying its receipts and inbound messages to
    /// `events`. Messages without a sender go out from `default_sender` (alphanumeric
    /// `"Hato"` when `None`). Cancelling `shutdown` drains the connector's window, unbinds,
    /// then stops the bridge; await [`SmppCarrier::stopped`].
    pub fn start(
        config: ConnectorConfig,
        default_sender: Option<Sender>,
        events: mpsc::Sender<CarrierEvent>,
        shutdown: CancellationToken,
    ) -> Result<Arc<SmppCarrier>, ConfigError> {
        let (connector_events, receiver) = mpsc::channel(EVENT_BUFFER);
        let connector = Connector::start(config, connector_events, shutdown.clone())?;
        let bridge = TaskTracker::new();
        bridge.spawn(run_bridge(connector.clone(), receiver, events, shutdown));
        bridge.close();
        Ok(Arc::new(SmppCarrier {
            connector,
            default_sender: default_sender
                .unwrap_or_else(|| Sender::Alphanumeric(FALLBACK_SENDER.to_owned())),
            bridge,
        }))
    }

    /// The underlying connector, for status pages and tests.
    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    /// Resolves once the connector has unbound and the bridge has handed over every event.
    pub async fn stopped(&self) {
        self.connector.stopped().await;
        self.bridge.wait().await;
    }
}

impl Carrier for SmppCarrier {
    fn name(&self) -> &str {
        self.connector.name()
    }

    fn is_ready(&self) -> bool {
        self.connector.is_ready()
    }

    fn submit(&self, sms: OutboundSms) -> BoxFuture<'static, SubmitOutcome> {
        let connector = self.connector.clone();
        let sms = hato_smpp::OutboundSms {
            source: sms.from.unwrap_or_else(|| self.default_sender.clone()),
            destination: sms.to,
            body: sms.body,
            request_receipt: sms.request_receipt,
            validity: sms.validity,
        };
        async move { submit_outcome(connector.submit(sms).await) }.boxed()
    }

    fn snapshot(&self) -> serde_json::Value {
        snapshot_json(&self.connector.snapshot())
    }
}

fn status_code(status: u32) -> String {
    format!("0x{status:08x}")
}

fn submit_outcome(outcome: hato_smpp::SubmitOutcome) -> SubmitOutcome {
    match outcome {
        hato_smpp::SubmitOutcome::Accepted { message_ids } => SubmitOutcome::Accepted {
            carrier_ids: message_ids
                .iter()
                .map(|id| canonical_message_id(id))
                .collect(),
        },
        hato_smpp::SubmitOutcome::Retry {
            command_status,
            reason,
            throttled,
            retry_after,
            ..
        } => SubmitOutcome::Retry {
            code: command_status.map_or_else(|| "timeout".to_owned(), status_code),
            reason,
            throttled,
            retry_after,
        },
        hato_smpp::SubmitOutcome::Rejected {
            command_status,
            reason,
        } => SubmitOutcome::Rejected {
            code: status_code(command_status),
            reason,
        },
        hato_smpp::SubmitOutcome::Unavailable { reason } => SubmitOutcome::Unavailable { reason },
    }
}

fn snapshot_json(s: &ConnectorSnapshot) -> serde_json::Value {
    let state = if s.transmitters_up > 0 {
        "ready"
    } else {
        "down"
    };
    serde_json::json!({
        "type": "smpp",
        "name": s.name,
        "state": state,
        "binds": {
            "up": s.binds_up,
            "total": s.binds_total,
            "transmitters_up": s.transmitters_up,
        },
        "window": { "in_use": s.window_in_use },
        "counters": {
            "submitted": s.submitted,
            "accepted": s.accepted,
            "failed": s.failed,
            "throttled": s.throttled,
            "receipts": s.receipts,
            "inbound": s.inbound,
        },
        "last_error": s.last_error,
        "rate": { "current": s.current_rate, "limit": s.rate_limit },
    })
}

/// The final outcome a receipt reports; `None` for intermediate states, which change nothing.
fn receipt_outcome(state: ReceiptState) -> Option<DeliveryOutcome> {
    match state {
        ReceiptState::Delivered => Some(DeliveryOutcome::Delivered),
        ReceiptState::Expired => Some(DeliveryOutcome::Expired),
        ReceiptState::Undelivered
        | ReceiptState::Deleted
        | ReceiptState::Rejected
        | ReceiptState::Unknown => Some(DeliveryOutcome::Undelivered),
        ReceiptState::Accepted | ReceiptState::Enroute => None,
    }
}

fn report(receipt: DeliveryReceipt, outcome: DeliveryOutcome) -> DeliveryReport {
    DeliveryReport {
        carrier_ids: message_id_candidates(&receipt.message_id),
        connector: receipt.connector,
        outcome,
        error_code: receipt.error_code,
        ack: None,
    }
}

/// Carries connector events to the engine until shutdown, then what the connector still
/// emits while it drains, until it has stopped.
async fn run_bridge(
    connector: Connector,
    mut from_connector: mpsc::Receiver<ConnectorEvent>,
    to_engine: mpsc::Sender<CarrierEvent>,
    shutdown: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            event = from_connector.recv() => event,
            () = shutdown.cancelled() => break,
        };
        match event {
            Some(event) => forward(event, &to_engine).await,
            None => return,
        }
    }
    let stopped = connector.stopped();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            event = from_connector.recv() => match event {
                Some(event) => forward(event, &to_engine).await,
                None => return,
            },
            () = &mut stopped => break,
        }
    }
    while let Ok(event) = from_connector.try_recv() {
        forward(event, &to_engine).await;
    }
}

/// Hands one event to the engine. If the engine is gone the ack is dropped, which the
/// connector answers with a temporary error so the SMSC delivers it again later.
async fn forward(event: ConnectorEvent, to_engine: &mpsc::Sender<CarrierEvent>) {
    let event = match event {
        ConnectorEvent::Receipt { receipt, ack } => {
            let Some(outcome) = receipt_outcome(receipt.state) else {
                tracing::debug!(connector = %receipt.connector, carrier_id = %receipt.message_id, state = ?receipt.state, "intermediate receipt");
                let _ = ack.send(true);
                return;
            };
            let mut report = report(receipt, outcome);
            report.ack = Some(ack);
            CarrierEvent::Report(report)
        }
        ConnectorEvent::Inbound { message, ack } => CarrierEvent::Inbound(InboundReport {
            connector: message.connector,
            from: message.from,
            to: message.to,
            body: message.body,
            parts: message.parts,
            ack: Some(ack),
        }),
        ConnectorEvent::BindChanged {
            connector,
            bound,
            total,
        } => {
            tracing::info!(connector = %connector, bound, total, "binds changed");
            return;
        }
    };
    if to_engine.send(event).await.is_err() {
        tracing::warn!("engine stopped: leaving a carrier event unacknowledged");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_map() {
        let accepted = submit_outcome(hato_smpp::SubmitOutcome::Accepted {
            message_ids: vec!["000A1B".into(), "FF".into()],
        });
        assert_eq!(
            accepted,
            SubmitOutcome::Accepted {
                carrier_ids: vec!["a1b".into(), "ff".into()]
            }
        );
        let retry = submit_outcome(hato_smpp::SubmitOutcome::Retry {
            command_status: Some(0x58),
            reason: "throttled".into(),
            throttled: true,
            accepted_ids: vec![],
            retry_after: Some(std::time::Duration::from_secs(1)),
        });
        assert!(
            matches!(retry, SubmitOutcome::Retry { ref code, throttled: true, .. } if code == "0x00000058")
        );
        let timeout = submit_outcome(hato_smpp::SubmitOutcome::Retry {
            command_status: None,
            reason: "lost".into(),
            throttled: false,
            accepted_ids: vec![],
            retry_after: None,
        });
        assert!(matches!(timeout, SubmitOutcome::Retry { ref code, .. } if code == "timeout"));
        let rejected = submit_outcome(hato_smpp::SubmitOutcome::Rejected {
            command_status: 0x0b,
            reason: "bad".into(),
        });
        assert_eq!(
            rejected,
            SubmitOutcome::Rejected {
                code: "0x0000000b".into(),
                reason: "bad".into()
            }
        );
    }

    #[test]
    fn receipt_states_map() {
        assert_eq!(
            receipt_outcome(ReceiptState::Delivered),
            Some(DeliveryOutcome::Delivered)
        );
        assert_eq!(
            receipt_outcome(ReceiptState::Expired),
            Some(DeliveryOutcome::Expired)
        );
        assert_eq!(
            receipt_outcome(ReceiptState::Rejected),
            Some(DeliveryOutcome::Undelivered)
        );
        assert_eq!(receipt_outcome(ReceiptState::Enroute), None);
        assert_eq!(receipt_outcome(ReceiptState::Accepted), None);
    }
}
