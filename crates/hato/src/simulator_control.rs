//! The API's view of the SMPP simulator: turns API requests into simulator calls.

use std::time::Duration;

use hato_api::routes::simulator::{SimulatedFault, SimulatedMo, SimulatorControl};
use hato_smpp::{
    LongMessageMode,
    simulator::{BindRole, Fault, MoMessage, PartOrder, Simulator},
};

pub struct SmppSimulatorControl(pub Simulator);

impl SimulatorControl for SmppSimulatorControl {
    fn send_mo(&self, mo: &SimulatedMo) -> Result<usize, String> {
        let concat = match mo.concat.as_deref() {
            None | Some("udh") => LongMessageMode::Udh8,
            Some("udh16") => LongMessageMode::Udh16,
            Some("sar") => LongMessageMode::Sar,
            Some("payload") => LongMessageMode::Payload,
            Some(other) => {
                return Err(format!(
                    "concat `{other}` is not udh, udh16, sar or payload"
                ));
            }
        };
        let order = match mo.order.as_deref() {
            None | Some("in_order") => PartOrder::InOrder,
            Some("reversed") => PartOrder::Reversed,
            Some(other) => return Err(format!("order `{other}` is not in_order or reversed")),
        };
        // The simulator takes one message at a time; `count` is a loop here, each queued
        // for its session at once (no waiting for the answers).
        let mut pdus = 0;
        for index in 1..=mo.count() {
            let mut message = MoMessage::new(&mo.from, &mo.to, mo.body_of(index));
            message.concat = concat;
            message.units_per_part = mo.units_per_part;
            message.order = order.clone();
            pdus += self.0.send_mo(message).map_err(|e| {
                if index == 1 {
                    e.to_string()
                } else {
                    format!("{e} (after {} of {} messages)", index - 1, mo.count())
                }
            })?;
        }
        Ok(pdus)
    }

    fn inject(&self, fault: &SimulatedFault) -> Result<(), String> {
        let count = fault.count.unwrap_or(1);
        let fault = match fault.fault.as_str() {
            "clear" => {
                self.0.clear_faults();
                return Ok(());
            }
            "disconnect_all" => Fault::DisconnectAll,
            "respond_with" => Fault::RespondWith {
                status: fault
                    .status
                    .ok_or("`respond_with` needs `status` (an SMPP command status)")?,
                count,
            },
            "delay_responses" => Fault::DelayResponses {
                delay: Duration::from_millis(
                    fault.delay_ms.ok_or("`delay_responses` needs `delay_ms`")?,
                ),
                count,
            },
            "drop_responses" => Fault::DropResponses { count },
            "receipts_before_responses" => Fault::ReceiptsBeforeResponses { count },
            other => return Err(format!("`{other}` is not a fault this simulator knows")),
        };
        self.0.inject(fault);
        Ok(())
    }

    fn stats(&self) -> serde_json::Value {
        let stats = self.0.stats();
        serde_json::json!({
            "address": self.0.local_addr().to_string(),
            "bound": stats.bound,
            "binds_accepted": stats.binds_accepted,
            "binds_rejected": stats.binds_rejected,
            "submits": stats.submits,
            "submits_ok": stats.submits_ok,
            "submits_failed": stats.submits_failed,
            "receipts_sent": stats.receipts_sent,
            "mo_sent": stats.mo_sent,
            "deliver_ok": stats.deliver_ok,
            "deliver_failed": stats.deliver_failed,
            "submit_rate": stats.submit_rate,
            // Per bound session: how the work spreads over a connector's binds.
            "sessions": stats.sessions.iter().map(|session| serde_json::json!({
                "id": session.id,
                "system_id": session.system_id,
                "role": match session.role {
                    BindRole::Transmitter => "transmitter",
                    BindRole::Receiver => "receiver",
                    BindRole::Transceiver => "transceiver",
                },
                "submits": session.submits,
                "delivers": session.delivers,
            })).collect::<Vec<_>>(),
        })
    }
}
