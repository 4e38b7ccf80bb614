//! Messages reach `delivered` through SMPP: receipts in either id form, multipart messages
//! only when every part is.

use hato_core::{MessageStatus, simulation::OutcomeMix};
use hato_smpp::simulator::{Fault, IdFormat, SimulatorConfig};

use crate::support::{Smsc, TestApp, TestDb, connector, on_both_backends};

async fn delivered_with(db: &TestDb, config: SimulatorConfig) {
    let smsc = Smsc::start(config).await;
    let app = TestApp::start(db, vec![connector("smsc", smsc.addr())]).await;
    let ids = [
        app.send("Hello from Hato").await,
        app.send("Second one").await,
    ];
    for id in &ids {
        let message = app.wait_status(id, MessageStatus::Delivered).await;
        assert_eq!(message.connector.as_deref(), Some("smsc"));
        assert!(message.timestamps.sent.is_some());
    }
    let received = smsc.sim.received_messages();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].destination, "819012345678");
    // No sender stored: the default alphanumeric one is used.
    assert_eq!(received[0].source, "Hato");
    assert_eq!(app.store.unmatched_receipt_count().await.ok(), Some(0));
    app.stop().await;
    smsc.stop().await;
}

async fn hex_ids_decimal_receipts(db: &TestDb) {
    delivered_with(
        db,
        SimulatorConfig {
            submit_ids: IdFormat::Hex,
            receipt_ids: IdFormat::Decimal,
            ..SimulatorConfig::default()
        },
    )
    .await;
}
on_both_backends!(hex_ids_decimal_receipts);

async fn decimal_ids_hex_receipts(db: &TestDb) {
    delivered_with(
        db,
        SimulatorConfig {
            submit_ids: IdFormat::Decimal,
            receipt_ids: IdFormat::Hex,
            ..SimulatorConfig::default()
        },
    )
    .await;
}
on_both_backends!(decimal_ids_hex_receipts);

async fn receipts_before_submit_responses(db: &TestDb) {
    let smsc = Smsc::start(SimulatorConfig {
        receipt_delay: std::time::Duration::ZERO,
        ..SimulatorConfig::default()
    })
    .await;
    smsc.sim.inject(Fault::ReceiptsBeforeResponses { count: 1 });
    let app = TestApp::start(db, vec![connector("smsc", smsc.addr())]).await;
    let id = app.send("early receipt").await;
    app.wait_status(&id, MessageStatus::Delivered).await;
    app.stop().await;
    smsc.stop().await;
}
on_both_backends!(receipts_before_submit_responses);

fn long_body() -> String {
    "A multipart message. ".repeat(12)
}

async fn multipart_delivered(db: &TestDb) {
    let smsc = Smsc::start(SimulatorConfig::default()).await;
    let app = TestApp::start(db, vec![connector("smsc", smsc.addr())]).await;
    let body = long_body();
    let id = app.send(&body).await;
    let message = app.wait_status(&id, MessageStatus::Delivered).await;
    assert_eq!(message.segments, 2);
    assert_eq!(smsc.sim.received().len(), 2, "one submit_sm per part");
    assert_eq!(smsc.sim.received_messages()[0].text, body);
    app.stop().await;
    smsc.stop().await;
}
on_both_backends!(multipart_delivered);

async fn multipart_with_one_part_undelivered(db: &TestDb) {
    // Outcomes follow the submit counter: the first part is delivered, the second is not.
    let smsc = Smsc::start(SimulatorConfig {
        outcomes: OutcomeMix {
            delivered: 1,
            undelivered: 1,
            expired: 0,
            rejected: 0,
        },
        ..SimulatorConfig::default()
    })
    .await;
    let app = TestApp::start(db, vec![connector("smsc", smsc.addr())]).await;
    let id = app.send(&long_body()).await;
    let message = app.wait_status(&id, MessageStatus::Undelivered).await;
    assert!(message.timestamps.delivered.is_none());
    assert!(message.error.is_some());
    app.stop().await;
    smsc.stop().await;
}
on_both_backends!(multipart_with_one_part_undelivered);

async fn rejected_submit_fails_with_the_smpp_status(db: &TestDb) {
    let smsc = Smsc::start(SimulatorConfig {
        outcomes: OutcomeMix {
            delivered: 0,
            undelivered: 0,
            expired: 0,
            rejected: 1,
        },
        ..SimulatorConfig::default()
    })
    .await;
    let app = TestApp::start(db, vec![connector("smsc", smsc.addr())]).await;
    let id = app.send("to a bad number").await;
    let message = app.wait_status(&id, MessageStatus::Failed).await;
    let error = message.error.expect("an error");
    assert_eq!(error.code, "0x0000000b");
    app.stop().await;
    smsc.stop().await;
}
on_both_backends!(rejected_submit_fails_with_the_smpp_status);
