//! The in-process simulated carrier: accepts every message, then reports an outcome from the
//! configured mix after a delay, through the same report channel a real carrier uses.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures::{FutureExt, future::BoxFuture};
use hato_core::simulation::{OutcomeMix, SimulatedOutcome};
use tokio::sync::mpsc;

use crate::{Carrier, CarrierEvent, DeliveryOutcome, DeliveryReport, OutboundSms, SubmitOutcome};

/// Settings of the simulated carrier.
#[derive(Debug, Clone)]
pub struct SimulatedConfig {
    pub name: String,
    pub mix: OutcomeMix,
    /// Time between acceptance and the delivery report.
    pub report_delay: Duration,
}

pub struct SimulatedCarrier {
    config: SimulatedConfig,
    counter: AtomicU64,
    /// Distinguishes this process's ids from an earlier run's, as a carrier's ids would be.
    epoch: u64,
    submitted: AtomicU64,
    events: mpsc::Sender<CarrierEvent>,
}

impl SimulatedCarrier {
    pub fn new(config: SimulatedConfig, events: mpsc::Sender<CarrierEvent>) -> Arc<Self> {
        Arc::new(Self {
            config,
            counter: AtomicU64::new(0),
            epoch: jiff::Timestamp::now().as_millisecond() as u64,
            submitted: AtomicU64::new(0),
            events,
        })
    }
}

impl Carrier for SimulatedCarrier {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn is_ready(&self) -> bool {
        true
    }

    fn submit(&self, sms: OutboundSms) -> BoxFuture<'static, SubmitOutcome> {
        let key = self.counter.fetch_add(1, Ordering::Relaxed);
        let outcome = self.config.mix.outcome(key);
        if outcome == SimulatedOutcome::Rejected {
            return futures::future::ready(SubmitOutcome::Rejected {
                code: "0x0000000b".into(),
                reason: "invalid destination address (simulated)".into(),
            })
            .boxed();
        }
        self.submitted.fetch_add(1, Ordering::Relaxed);
        let parts = hato_core::text::split(&sms.body).1.len().max(1);
        let carrier_ids: Vec<String> = (0..parts)
            .map(|part| format!("sim{:x}-{key:x}p{part}", self.epoch))
            .collect();
        if sms.request_receipt {
            let events = self.events.clone();
            let ids = carrier_ids.clone();
            let name = self.config.name.clone();
            let delay = self.config.report_delay;
            let (outcome, error) = match outcome {
                SimulatedOutcome::Undelivered => {
                    (DeliveryOutcome::Undelivered, Some("001".to_owned()))
                }
                SimulatedOutcome::Expired => (DeliveryOutcome::Expired, Some("002".to_owned())),
                _ => (DeliveryOutcome::Delivered, None),
            };
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                for id in ids {
                    let report = DeliveryReport {
                        connector: name.clone(),
                        carrier_ids: vec![id],
                        outcome,
                        error_code: error.clone(),
                        ack: None,
                    };
                    if events.send(CarrierEvent::Report(report)).await.is_err() {
                        return;
                    }
                }
            });
        }
        futures::future::ready(SubmitOutcome::Accepted { carrier_ids }).boxed()
    }

    fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.config.name,
            "type": "simulated",
            "state": "ready",
            "submitted": self.submitted.load(Ordering::Relaxed),
        })
    }
}
