//! Mobile-originated messages through SMPP: stored as inbound messages of the inbound
//! account, with their `message.received` webhook queued, and acknowledged to the SMSC only
//! after that.

use hato_core::{Direction, Message, MessageStatus};
use hato_smpp::simulator::{MoMessage, PartOrder, SimulatorConfig};

use crate::support::{Smsc, TestApp, TestDb, connector, eventually, on_both_backends};

async fn wait_inbound(app: &TestApp, count: usize) -> Vec<Message> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let inbound = app.inbound().await;
        if inbound.len() >= count {
            return inbound;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {count} inbound messages, found {inbound:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn wait_bound(app: &TestApp) {
    let carrier = app.carriers[0].clone();
    assert!(
        eventually(|| {
            let ready = hato_engine::Carrier::is_ready(carrier.as_ref());
            async move { ready }
        })
        .await,
        "connector bound"
    );
}

async fn single_mo_is_stored_with_its_webhook(db: &TestDb) {
    let smsc = Smsc::start(SimulatorConfig::default()).await;
    let app = TestApp::start(db, vec![connector("smsc", smsc.addr())]).await;
    wait_bound(&app).await;
    smsc.sim
        .send_mo(MoMessage::new("+819011112222", "12345", "STOP"))
        .expect("send mo");
    let inbound = wait_inbound(&app, 1).await;
    let message = &inbound[0];
    assert_eq!(message.direction, Direction::Inbound);
    assert_eq!(message.status, MessageStatus::Received);
    assert_eq!(message.from.as_deref(), Some("+819011112222"));
    assert_eq!(message.to, "12345", "a short code stays as received");
    assert_eq!(message.body, "STOP");
    assert_eq!(message.connector.as_deref(), Some("smsc"));
    assert!(message.timestamps.received.is_some());
    let deliveries = app
        .store
        .message_webhook_deliveries(app.account_id(), &message.id)
        .await
        .expect("deliveries");
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].event_type, "message.received");
    assert!(deliveries[0].payload.contains("\"STOP\""));
    // Acknowledged to the SMSC once stored.
    assert!(
        eventually(|| {
            let responses = smsc.sim.deliver_responses();
            async move { responses.iter().any(|r| r.command_status == 0) }
        })
        .await,
        "deliver_sm_resp ESME_ROK"
    );
    app.stop().await;
    smsc.stop().await;
}
on_both_backends!(single_mo_is_stored_with_its_webhook);

async fn multipart_mo_out_of_order(db: &TestDb) {
    let smsc = Smsc::start(SimulatorConfig::default()).await;
    let app = TestApp::start(db, vec![connector("smsc", smsc.addr())]).await;
    wait_bound(&app).await;
    let body = "こんにちは、これは長い返信のメッセージです。順番が逆でも一つになります。";
    let mut mo = MoMessage::new("09011112222", "+81312345678", body);
    mo.units_per_part = Some(10);
    mo.order = PartOrder::Reversed;
    let parts = smsc.sim.send_mo(mo).expect("send mo");
    assert!(parts > 1);
    let inbound = wait_inbound(&app, 1).await;
    assert_eq!(inbound.len(), 1, "stored once, not per part");
    let message = &inbound[0];
    assert_eq!(message.body, body);
    assert_eq!(message.from.as_deref(), Some("+819011112222"));
    assert_eq!(message.to, "+81312345678");
    assert_eq!(message.encoding, hato_core::text::Encoding::Ucs2);
    assert!(
        eventually(|| {
            let ok = smsc
                .sim
                .deliver_responses()
                .iter()
                .filter(|r| r.command_status == 0)
                .count();
            async move { ok == parts }
        })
        .await,
        "every part acknowledged"
    );
    app.stop().await;
    smsc.stop().await;
}
on_both_backends!(multipart_mo_out_of_order);
