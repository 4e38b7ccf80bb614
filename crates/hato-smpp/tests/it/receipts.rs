//! Delivery receipts: matching ids across hex/decimal forms, outcomes, ack-gated responses.

use std::time::Duration;

use hato_core::simulation::OutcomeMix;
use hato_smpp::simulator::{DeliverKind, Fault, IdFormat, SimulatorConfig};
use hato_smpp::status::{ESME_ROK, ESME_RX_T_APPN};
use hato_smpp::{ReceiptState, SubmitOutcome, canonical_message_id, message_id_candidates};

use crate::support::*;

async fn matched_in_both_forms(submit_ids: IdFormat, receipt_ids: IdFormat, tlvs: bool) {
    let mut h = start(
        SimulatorConfig {
            submit_ids,
            receipt_ids,
            receipt_tlvs: tlvs,
            ..SimulatorConfig::default()
        },
        |_| {},
    )
    .await;
    let SubmitOutcome::Accepted { message_ids } = h.connector.submit(sms("receipt please")).await
    else {
        panic!("not accepted");
    };
    let stored = canonical_message_id(&message_ids[0]);
    let (receipt, ack) = h.receipt().await;
    assert!(
        message_id_candidates(&receipt.message_id).contains(&stored),
        "{} vs {}",
        receipt.message_id,
        message_ids[0]
    );
    assert_eq!(receipt.state, ReceiptState::Delivered);
    assert_eq!(receipt.connector, "test");
    assert_eq!(receipt.recipient, "+819012345678");
    assert_eq!(receipt.submit_date.as_ref().map(String::len), Some(12));
    ack.send(true).unwrap();
    eventually("deliver_sm_resp", || h.sim.stats().deliver_ok == 1).await;
    h.stop().await;
}

#[tokio::test]
async fn receipts_match_in_either_id_form() {
    matched_in_both_forms(IdFormat::Hex, IdFormat::Decimal, true).await;
    matched_in_both_forms(IdFormat::Decimal, IdFormat::Hex, true).await;
    matched_in_both_forms(IdFormat::Hex, IdFormat::Decimal, false).await;
    matched_in_both_forms(IdFormat::Decimal, IdFormat::Decimal, false).await;
}

#[tokio::test]
async fn outcome_mix_and_error_codes() {
    let mut h = start(
        SimulatorConfig {
            outcomes: OutcomeMix {
                delivered: 1,
                undelivered: 1,
                expired: 1,
                rejected: 1,
            },
            undelivered_error: 34,
            ..SimulatorConfig::default()
        },
        |_| {},
    )
    .await;
    let mut outcomes = Vec::new();
    for i in 0..4 {
        outcomes.push(h.connector.submit(sms(&format!("m{i}"))).await);
    }
    assert!(matches!(
        outcomes[3],
        SubmitOutcome::Rejected {
            command_status: 0x0B,
            ..
        }
    ));
    let mut states = Vec::new();
    for _ in 0..3 {
        let (receipt, ack) = h.receipt().await;
        ack.send(true).unwrap();
        states.push((receipt.state, receipt.error_code));
    }
    states.sort_by_key(|(s, _)| format!("{s:?}"));
    assert_eq!(
        states,
        vec![
            (ReceiptState::Delivered, None),
            (ReceiptState::Expired, None),
            (ReceiptState::Undelivered, Some("3:34".into())),
        ]
    );
    h.stop().await;
}

#[tokio::test]
async fn receipt_before_the_submit_response_still_arrives() {
    let mut h = start(SimulatorConfig::default(), |_| {}).await;
    h.sim.inject(Fault::ReceiptsBeforeResponses { count: 1 });
    let SubmitOutcome::Accepted { message_ids } = h.connector.submit(sms("fast")).await else {
        panic!("not accepted");
    };
    let (receipt, ack) = h.receipt().await;
    ack.send(true).unwrap();
    assert!(
        message_id_candidates(&receipt.message_id).contains(&canonical_message_id(&message_ids[0]))
    );
    h.stop().await;
}

#[tokio::test]
async fn the_smsc_hears_ok_only_after_the_engine_stored_the_receipt() {
    let mut h = start(
        SimulatorConfig {
            redeliver_after: Some(Duration::from_millis(50)),
            ..SimulatorConfig::default()
        },
        |_| {},
    )
    .await;
    assert!(matches!(
        h.connector.submit(sms("x")).await,
        SubmitOutcome::Accepted { .. }
    ));
    let (first, ack) = h.receipt().await;
    // Nothing is answered while the engine has not decided.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(h.sim.deliver_responses().is_empty());
    // Not stored: a temporary error, and the simulator delivers again.
    ack.send(false).unwrap();
    let (again, ack) = h.receipt().await;
    assert_eq!(again.message_id, first.message_id);
    // Dropping the ack counts as not stored too.
    drop(ack);
    let (third, ack) = h.receipt().await;
    assert_eq!(third.message_id, first.message_id);
    ack.send(true).unwrap();
    eventually("three answers", || h.sim.deliver_responses().len() == 3).await;
    let statuses: Vec<u32> = h
        .sim
        .deliver_responses()
        .iter()
        .map(|r| r.command_status)
        .collect();
    assert_eq!(statuses, vec![ESME_RX_T_APPN, ESME_RX_T_APPN, ESME_ROK]);
    assert!(matches!(
        h.sim.deliver_responses()[0].kind,
        DeliverKind::Receipt { .. }
    ));
    h.stop().await;
}

#[tokio::test]
async fn a_simulator_not_recording_keeps_counts_but_no_answers() {
    // `hato serve` runs the simulator for as long as it runs: answers to the receipt of every
    // message must not pile up in memory.
    let mut h = start(
        SimulatorConfig {
            record: false,
            ..SimulatorConfig::default()
        },
        |_| {},
    )
    .await;
    for text in ["one", "two", "three"] {
        assert!(matches!(
            h.connector.submit(sms(text)).await,
            SubmitOutcome::Accepted { .. }
        ));
        let (_, ack) = h.receipt().await;
        ack.send(true).unwrap();
    }
    eventually("three receipts answered", || h.sim.stats().deliver_ok == 3).await;
    assert!(h.sim.deliver_responses().is_empty());
    assert!(h.sim.received().is_empty());
    h.stop().await;
}
