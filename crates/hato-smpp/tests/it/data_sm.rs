//! `data_sm` from the SMSC: MO messages and delivery receipts carried in `data_sm` instead of
//! `deliver_sm` become the same events, and are answered with `data_sm_resp` only after the
//! engine's ack.

use std::time::Duration;

use hato_core::simulation::OutcomeMix;
use hato_smpp::simulator::{
    DeliverKind, DeliverResponse, DeliveryPdu, MoMessage, PartOrder, SimulatorConfig,
};
use hato_smpp::status::{ESME_ROK, ESME_RX_T_APPN};
use hato_smpp::{
    LongMessageMode, ReceiptState, SubmitOutcome, canonical_message_id, message_id_candidates,
};

use crate::support::*;

const DATA_SM_RESP: u32 = 0x8000_0103;

fn data_sm_resp(status: u32) -> impl Fn(&DeliverResponse) -> bool {
    move |r| {
        r.sent_as == DeliveryPdu::DataSm
            && r.response_id == DATA_SM_RESP
            && r.command_status == status
    }
}

#[tokio::test]
async fn mo_in_data_sm_single_and_multipart() {
    let mut h = start(SimulatorConfig::default(), |_| {}).await;
    let mut mo = MoMessage::new("+819011112222", "12345", "STOP");
    mo.send_as = DeliveryPdu::DataSm;
    h.sim.send_mo(mo).unwrap();
    let (message, ack) = h.inbound().await;
    assert_eq!(
        (
            message.from.as_str(),
            message.to.as_str(),
            message.body.as_str(),
            message.parts
        ),
        ("+819011112222", "12345", "STOP", 1)
    );
    // Nothing is answered before the engine has stored the message.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(h.sim.deliver_responses().is_empty());
    ack.send(true).unwrap();
    eventually("data_sm_resp", || h.sim.stats().deliver_ok == 1).await;
    assert!(h.sim.deliver_responses().iter().all(data_sm_resp(ESME_ROK)));

    // A long Japanese reply in UDH parts, out of order, each part in its own data_sm.
    h.sim.clear_received();
    let body = "予約を変更したいです。来週の火曜日は空いていますか？";
    let mut mo = MoMessage::new("+819011112222", "12345", body);
    mo.send_as = DeliveryPdu::DataSm;
    mo.units_per_part = Some(10);
    mo.order = PartOrder::Custom(vec![2, 0, 1]);
    assert_eq!(h.sim.send_mo(mo).unwrap(), 3);
    let (message, ack) = h.inbound().await;
    assert_eq!((message.body.as_str(), message.parts), (body, 3));
    ack.send(true).unwrap();
    eventually("every part answered", || {
        h.sim.deliver_responses().len() == 3
    })
    .await;
    assert!(h.sim.deliver_responses().iter().all(data_sm_resp(ESME_ROK)));

    // SAR TLVs next to message_payload.
    h.sim.clear_received();
    let mut mo = MoMessage::new("+819011112222", "12345", "abcdefghijklmnopqrst");
    mo.send_as = DeliveryPdu::DataSm;
    mo.concat = LongMessageMode::Sar;
    mo.units_per_part = Some(10);
    mo.order = PartOrder::Reversed;
    h.sim.send_mo(mo).unwrap();
    let (message, ack) = h.inbound().await;
    assert_eq!(
        (message.body.as_str(), message.parts),
        ("abcdefghijklmnopqrst", 2)
    );
    ack.send(true).unwrap();
    eventually("both parts answered", || {
        h.sim.deliver_responses().len() == 2
    })
    .await;
    assert!(h.sim.deliver_responses().iter().all(data_sm_resp(ESME_ROK)));
    h.expect_no_message_event(Duration::from_millis(50)).await;
    h.stop().await;
}

#[tokio::test]
async fn refused_mo_in_data_sm_gets_a_temporary_error_and_comes_again() {
    let mut h = start(
        SimulatorConfig {
            redeliver_after: Some(Duration::from_millis(20)),
            ..SimulatorConfig::default()
        },
        |_| {},
    )
    .await;
    let mut mo = MoMessage::new("+819011112222", "12345", "1");
    mo.send_as = DeliveryPdu::DataSm;
    h.sim.send_mo(mo).unwrap();
    let (_, ack) = h.inbound().await;
    ack.send(false).unwrap();
    eventually("refused", || h.sim.deliver_responses().len() == 1).await;
    assert!(data_sm_resp(ESME_RX_T_APPN)(&h.sim.deliver_responses()[0]));
    let (again, ack) = h.inbound().await;
    assert_eq!(again.body, "1");
    ack.send(true).unwrap();
    eventually("accepted", || h.sim.deliver_responses().len() == 2).await;
    assert!(data_sm_resp(ESME_ROK)(&h.sim.deliver_responses()[1]));
    h.stop().await;
}

/// A submit whose receipt comes back as a `data_sm`, with TLVs or with the text only.
async fn receipt_in_data_sm(receipt_tlvs: bool) {
    let mut h = start(
        SimulatorConfig {
            receipts_as: DeliveryPdu::DataSm,
            receipt_tlvs,
            outcomes: OutcomeMix {
                delivered: 1,
                undelivered: 1,
                expired: 0,
                rejected: 0,
            },
            undelivered_error: 34,
            ..SimulatorConfig::default()
        },
        |_| {},
    )
    .await;
    let mut submitted = Vec::new();
    for i in 0..2 {
        let SubmitOutcome::Accepted { message_ids } =
            h.connector.submit(sms(&format!("receipt {i}"))).await
        else {
            panic!("not accepted");
        };
        submitted.push(canonical_message_id(&message_ids[0]));
    }
    let mut acks = Vec::new();
    let mut states = Vec::new();
    for _ in 0..2 {
        let (receipt, ack) = h.receipt().await;
        let index = submitted
            .iter()
            .position(|id| message_id_candidates(&receipt.message_id).contains(id))
            .unwrap_or_else(|| panic!("{} matches no submit", receipt.message_id));
        assert_eq!(receipt.recipient, "+819012345678");
        states.push((index, receipt.state, receipt.error_code));
        acks.push(ack);
    }
    states.sort_by_key(|s| s.0);
    let undelivered_error = if receipt_tlvs { "3:34" } else { "034" };
    assert_eq!(
        states,
        [
            (0, ReceiptState::Delivered, None),
            (
                1,
                ReceiptState::Undelivered,
                Some(undelivered_error.to_owned())
            ),
        ],
        "tlvs {receipt_tlvs}"
    );
    // Answered only once acked: the first refused, the second stored.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(h.sim.deliver_responses().is_empty());
    let mut acks = acks.into_iter();
    acks.next().unwrap().send(false).unwrap();
    eventually("refused", || h.sim.deliver_responses().len() == 1).await;
    acks.next().unwrap().send(true).unwrap();
    eventually("stored", || h.sim.deliver_responses().len() == 2).await;
    let responses = h.sim.deliver_responses();
    assert!(data_sm_resp(ESME_RX_T_APPN)(&responses[0]), "{responses:?}");
    assert!(data_sm_resp(ESME_ROK)(&responses[1]), "{responses:?}");
    assert!(
        responses
            .iter()
            .all(|r| matches!(r.kind, DeliverKind::Receipt { .. }))
    );
    h.stop().await;
}

#[tokio::test]
async fn receipts_in_data_sm_with_and_without_tlvs() {
    receipt_in_data_sm(true).await;
    receipt_in_data_sm(false).await;
}
