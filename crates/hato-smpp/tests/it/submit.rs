//! Submitting: short and long messages in every concatenation mode, GSM-7 and Japanese,
//! addresses, window, throughput cap, throttling, rejections, and the spread of the work
//! over several binds.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hato_core::{PhoneNumber, Sender};
use hato_smpp::simulator::{BindRole, Fault, SimulatorConfig};
use hato_smpp::status::{ESME_RINVDSTADR, ESME_RTHROTTLED};
use hato_smpp::{BindMode, LongMessageMode, OutboundSms, SubmitOutcome};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::support::*;

fn accepted(outcome: SubmitOutcome) -> Vec<String> {
    match outcome {
        SubmitOutcome::Accepted { message_ids } => message_ids,
        other => panic!("expected Accepted, got {other:?}"),
    }
}

#[tokio::test]
async fn short_gsm7_message_with_addresses() {
    let h = start(SimulatorConfig::default(), |_| {}).await;
    let ids = accepted(h.connector.submit(sms("Hello {world} €5")).await);
    assert_eq!(ids.len(), 1);
    let received = h.sim.received();
    assert_eq!(received.len(), 1);
    let r = &received[0];
    assert_eq!(r.text, "Hello {world} €5");
    assert_eq!(r.message_id, ids[0]);
    assert_eq!(
        (r.source_ton, r.source_npi, r.source.as_str()),
        (5, 0, "Hato")
    );
    assert_eq!(
        (r.destination_ton, r.destination_npi, r.destination.as_str()),
        (1, 1, "819012345678")
    );
    assert_eq!(
        (r.esm_class, r.data_coding, r.registered_delivery),
        (0x00, 0x00, 0x01)
    );

    // Short codes and numbers choose their own TON/NPI; a message can opt out of receipts.
    let mut message = sms("x");
    message.source = Sender::ShortCode("12345".into());
    message.request_receipt = false;
    accepted(h.connector.submit(message).await);
    let mut message = sms("y");
    message.source = Sender::Number(PhoneNumber::from_trusted("+819011112222".into()));
    accepted(h.connector.submit(message).await);
    let received = h.sim.received();
    assert_eq!(
        (
            received[1].source_ton,
            received[1].source_npi,
            received[1].registered_delivery
        ),
        (3, 0, 0)
    );
    assert_eq!((received[2].source_ton, received[2].source_npi), (1, 1));
    assert_eq!(received[2].source, "819011112222");
    h.stop().await;
}

async fn long_message(mode: LongMessageMode, body: &str, parts: usize) {
    let h = start(SimulatorConfig::default(), |c| c.long_messages = mode).await;
    let ids = accepted(h.connector.submit(sms(body)).await);
    assert_eq!(ids.len(), parts, "{mode:?}");
    let messages = h.sim.received_messages();
    assert_eq!(messages.len(), 1, "{mode:?}");
    assert_eq!(messages[0].text, body, "{mode:?}");
    assert_eq!(messages[0].parts, parts, "{mode:?}");
    let received = h.sim.received();
    match mode {
        LongMessageMode::Udh8 | LongMessageMode::Udh16 => {
            assert!(received.iter().all(|r| r.esm_class == 0x40))
        }
        LongMessageMode::Sar => assert!(
            received
                .iter()
                .all(|r| r.esm_class == 0 && r.concat.is_some())
        ),
        LongMessageMode::Payload => assert!(received[0].payload),
    }
    h.stop().await;
}

#[tokio::test]
async fn long_gsm7_in_every_mode() {
    let body: String = (0..400)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    long_message(LongMessageMode::Udh8, &body, 3).await;
    long_message(LongMessageMode::Udh16, &body, 3).await;
    long_message(LongMessageMode::Sar, &body, 3).await;
    long_message(LongMessageMode::Payload, &body, 1).await;
}

#[tokio::test]
async fn long_japanese_in_every_mode() {
    let body = "明日の予約を確認しました。変更は1、キャンセルは2を返信してください。".repeat(4);
    long_message(LongMessageMode::Udh8, &body, 3).await;
    long_message(LongMessageMode::Udh16, &body, 3).await;
    long_message(LongMessageMode::Sar, &body, 3).await;
    long_message(LongMessageMode::Payload, &body, 1).await;
    let h = start(SimulatorConfig::default(), |_| {}).await;
    accepted(h.connector.submit(sms("こんにちは")).await);
    assert_eq!(h.sim.received()[0].data_coding, 0x08);
    assert_eq!(h.sim.received()[0].text, "こんにちは");
    h.stop().await;
}

#[tokio::test]
async fn window_limits_in_flight_submits() {
    let h = start(SimulatorConfig::default(), |c| c.window = 4).await;
    h.sim.inject(Fault::DelayResponses {
        delay: Duration::from_millis(50),
        count: 40,
    });
    let submits: Vec<_> = (0..40)
        .map(|i| {
            let connector = h.connector.clone();
            tokio::spawn(async move { connector.submit(sms(&format!("m{i}"))).await })
        })
        .collect();
    for submit in submits {
        accepted(guarded(submit).await.unwrap());
    }
    let stats = h.sim.stats();
    assert_eq!(stats.submits, 40);
    assert!(stats.max_outstanding <= 4, "{stats:?}");
    assert!(stats.max_outstanding >= 2, "the window was used: {stats:?}");
    assert_eq!(h.connector.snapshot().window_in_use, 0);
    h.stop().await;
}

#[tokio::test]
async fn throughput_cap_spaces_submits() {
    let h = start(SimulatorConfig::default(), |c| c.throughput = Some(50)).await;
    let start = Instant::now();
    let submits: Vec<_> = (0..26)
        .map(|i| {
            let connector = h.connector.clone();
            tokio::spawn(async move { connector.submit(sms(&format!("m{i}"))).await })
        })
        .collect();
    for submit in submits {
        accepted(guarded(submit).await.unwrap());
    }
    // 26 sends at 50/s with a burst of 2 need at least 23 intervals of 20 ms.
    assert!(
        start.elapsed() >= Duration::from_millis(460),
        "{:?}",
        start.elapsed()
    );
    let received = h.sim.received();
    let spread = received.last().unwrap().received_at - received.first().unwrap().received_at;
    assert!(spread >= Duration::from_millis(440), "{spread:?}");
    h.stop().await;
}

#[tokio::test]
async fn throttling_is_retryable_and_slows_the_connector() {
    let h = start(SimulatorConfig::default(), |c| {
        c.throughput = Some(1000);
        c.throttle_pause = Duration::from_millis(300);
    })
    .await;
    h.sim.inject(Fault::RespondWith {
        status: ESME_RTHROTTLED,
        count: 1,
    });
    match h.connector.submit(sms("busy")).await {
        SubmitOutcome::Retry {
            command_status,
            throttled,
            retry_after,
            ..
        } => {
            assert_eq!(command_status, Some(ESME_RTHROTTLED));
            assert!(throttled);
            assert_eq!(retry_after, Some(Duration::from_millis(300)));
        }
        other => panic!("{other:?}"),
    }
    let snapshot = h.connector.snapshot();
    assert_eq!(snapshot.throttled, 1);
    assert_eq!(snapshot.rate_limit, Some(500.0));
    // The next submit waits out the pause.
    let start = Instant::now();
    accepted(h.connector.submit(sms("later")).await);
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );
    h.stop().await;
}

#[tokio::test]
async fn permanent_and_temporary_errors() {
    let h = start(SimulatorConfig::default(), |_| {}).await;
    h.sim.inject(Fault::RespondWith {
        status: ESME_RINVDSTADR,
        count: 1,
    });
    match h.connector.submit(sms("nope")).await {
        SubmitOutcome::Rejected {
            command_status,
            reason,
        } => {
            assert_eq!(command_status, ESME_RINVDSTADR);
            assert!(reason.contains("ESME_RINVDSTADR"));
        }
        other => panic!("{other:?}"),
    }
    h.sim.inject(Fault::RespondWith {
        status: 0x08,
        count: 1,
    });
    assert!(matches!(
        h.connector.submit(sms("later")).await,
        SubmitOutcome::Retry {
            throttled: false,
            command_status: Some(0x08),
            ..
        }
    ));
    // A multipart message whose second part fails reports the first part's id.
    h.sim.inject(Fault::RespondWith {
        status: 0,
        count: 1,
    });
    h.sim.inject(Fault::RespondWith {
        status: 0x64,
        count: 1,
    });
    match h.connector.submit(sms(&"z".repeat(300))).await {
        SubmitOutcome::Retry { accepted_ids, .. } => assert_eq!(accepted_ids.len(), 1),
        other => panic!("{other:?}"),
    }
    h.stop().await;
}

#[tokio::test]
async fn missing_responses_time_out_as_retry() {
    let h = start(SimulatorConfig::default(), |c| {
        c.response_timeout = Duration::from_millis(300)
    })
    .await;
    h.sim.inject(Fault::DropResponses { count: 1 });
    match guarded(h.connector.submit(sms("lost"))).await {
        SubmitOutcome::Retry {
            command_status: None,
            reason,
            ..
        } => assert!(reason.contains("no response")),
        other => panic!("{other:?}"),
    }
    assert_eq!(h.connector.snapshot().window_in_use, 0);
    accepted(h.connector.submit(sms("fine")).await);
    h.stop().await;
}

/// `submit_sm` received so far by each transmitting session, by session id.
fn submits_per_transmitter(h: &Harness) -> BTreeMap<u64, u64> {
    let stats = h.sim.stats();
    assert!(
        stats
            .sessions
            .iter()
            .filter(|s| s.role == BindRole::Receiver)
            .all(|s| s.submits == 0),
        "{:?}",
        stats.sessions
    );
    stats
        .sessions
        .iter()
        .filter(|s| s.role != BindRole::Receiver)
        .map(|s| (s.id, s.submits))
        .collect()
}

/// Submits `total` messages, `concurrency` at a time, and checks that each of the
/// `transmitters` sessions carried at least a sixth of them.
async fn assert_spread(h: &Harness, total: usize, concurrency: usize, transmitters: usize) {
    let before = submits_per_transmitter(h);
    let gate = Arc::new(Semaphore::new(concurrency));
    let submits: Vec<_> = (0..total)
        .map(|i| {
            let connector = h.connector.clone();
            let gate = Arc::clone(&gate);
            tokio::spawn(async move {
                let _turn = gate.acquire_owned().await.unwrap();
                connector.submit(sms(&format!("m{i}"))).await
            })
        })
        .collect();
    for submit in submits {
        accepted(guarded(submit).await.unwrap());
    }
    let after = submits_per_transmitter(h);
    assert_eq!(after.len(), transmitters, "{after:?}");
    let carried: Vec<u64> = after
        .iter()
        .map(|(id, n)| n - before.get(id).copied().unwrap_or(0))
        .collect();
    assert_eq!(carried.iter().sum::<u64>(), total as u64);
    for &submits in &carried {
        assert!(
            submits as usize >= total / 6,
            "a bind carried {submits} of {total} (concurrency {concurrency}): {carried:?}"
        );
    }
}

#[tokio::test]
async fn several_binds_share_the_work() {
    let h = start(SimulatorConfig::default(), |c| c.binds = 3).await;
    // Everything at once, one at a time, and a few at a time.
    assert_spread(&h, 300, 300, 3).await;
    assert_spread(&h, 60, 1, 3).await;
    assert_spread(&h, 120, 4, 3).await;
    let snapshot = h.connector.snapshot();
    assert_eq!(
        (snapshot.submitted, snapshot.accepted, snapshot.failed),
        (480, 480, 0)
    );
    assert_eq!(h.sim.stats().submits, 480);
    let _ = OutboundSms::clone(&sms("x"));
    h.stop().await;
}

#[tokio::test]
async fn the_work_spreads_over_small_windows_and_transmitter_receiver_pairs() {
    // Windows much smaller than the load: submits queue for a slot, and must still spread.
    let h = start(SimulatorConfig::default(), |c| {
        c.binds = 3;
        c.window = 2;
    })
    .await;
    assert_spread(&h, 300, 300, 3).await;
    h.stop().await;
    // Transmitter + receiver pairs: only the transmitters carry submits.
    let h = start(SimulatorConfig::default(), |c| {
        c.binds = 3;
        c.bind_mode = BindMode::TransmitterReceiver;
    })
    .await;
    assert_spread(&h, 300, 300, 3).await;
    h.stop().await;
}
