//! Direct dispatch: while nothing due waits in the queue and a carrier is ready, a single
//! message due now is stored claimed (`sending`) and handed to the dispatcher; otherwise, and
//! for batches, it is queued.

use std::time::Duration;

use hato::config::{Config, ConnectorSettings};
use serde_json::{Value, json};

use crate::support::{
    TestApp, TestDb, free_loopback_addr, on_both_backends, poll_until, time_from_now,
};

on_both_backends!(
    a_due_message_is_stored_sending_and_delivered,
    a_batch_goes_through_the_queue,
    a_message_being_sent_cannot_be_cancelled,
    with_direct_dispatch_off_messages_are_queued,
    with_no_carrier_ready_messages_are_queued_and_cancellable,
);

/// Sends until a message is handed over: right after start the dispatcher has not yet made
/// the claim that finds the queue empty.
async fn send_handed_over(app: &TestApp, body: &str) -> Value {
    poll_until("a message handed over", || async {
        let accepted = app.send(json!({"to": "09012345678", "body": body})).await;
        (accepted["status"] == "sending").then_some(accepted)
    })
    .await
}

async fn a_due_message_is_stored_sending_and_delivered(db: TestDb) {
    let app = TestApp::start(db).await;
    let accepted = send_handed_over(&app, "ご注文の商品を発送しました").await;
    let timestamps = &accepted["timestamps"];
    assert_eq!(timestamps["queued"], accepted["created_at"], "{accepted}");
    assert_eq!(timestamps["sending"], accepted["created_at"], "{accepted}");
    let id = accepted["id"].as_str().expect("id");
    // Stored as answered: a reader sees it claimed, never back in the queue.
    let stored = app.get(&format!("/v1/messages/{id}")).await.body;
    assert_ne!(stored["status"], "queued", "{stored}");
    assert_eq!(stored["timestamps"]["sending"], accepted["created_at"]);
    let delivered = app.until_status(id, "delivered").await;
    assert_eq!(delivered["connector"], "simulator", "{delivered}");
    assert_eq!(delivered["timestamps"]["queued"], accepted["created_at"]);
    app.shutdown().await;
}

async fn a_batch_goes_through_the_queue(db: TestDb) {
    let app = TestApp::start(db).await;
    // The dispatcher takes single sends directly by now, yet a batch is queued.
    send_handed_over(&app, "warm-up").await;
    let mut messages: Vec<Value> = (0..50)
        .map(|i| json!({"to": format!("0901234{i:04}"), "body": format!("batch {i}")}))
        .collect();
    let later = time_from_now(Duration::from_secs(3600));
    messages.push(json!({"to": "09012345678", "body": "later", "send_at": later}));
    let reply = app
        .post("/v1/messages/batch", &json!({ "messages": messages }))
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let accepted = reply.body["accepted"].as_array().expect("accepted").clone();
    assert_eq!(accepted.len(), 51);
    for entry in &accepted[..50] {
        assert_eq!(entry["status"], "queued", "{entry}");
    }
    assert_eq!(accepted[50]["status"], "scheduled");
    for entry in &accepted[..50] {
        app.until_status(entry["id"].as_str().expect("id"), "delivered")
            .await;
    }
    app.shutdown().await;
}

async fn a_message_being_sent_cannot_be_cancelled(db: TestDb) {
    let app = TestApp::start(db).await;
    let accepted = send_handed_over(&app, "on its way").await;
    let id = accepted["id"].as_str().expect("id");
    // Whether the carrier has answered yet or not, it is no longer the caller's to cancel.
    let reply = app
        .post(&format!("/v1/messages/{id}/cancel"), &Value::Null)
        .await;
    reply.assert_error(409, "not_cancellable", None);
    app.until_status(id, "delivered").await;
    app.shutdown().await;
}

async fn with_direct_dispatch_off_messages_are_queued(db: TestDb) {
    let app = TestApp::start_with(db, |config| config.dispatch.direct = false).await;
    for _ in 0..5 {
        let accepted = app.send(json!({"to": "09012345678", "body": "hi"})).await;
        assert_eq!(accepted["status"], "queued", "{accepted}");
        assert!(accepted["timestamps"]["sending"].is_null(), "{accepted}");
        let id = accepted["id"].as_str().expect("id");
        let delivered = app.until_status(id, "delivered").await;
        assert!(
            delivered["timestamps"]["sending"].is_string(),
            "{delivered}"
        );
    }
    app.shutdown().await;
}

/// A connector that never binds: nothing can take a message now, so it is queued, where it
/// waits for a carrier and the caller may still cancel it.
async fn with_no_carrier_ready_messages_are_queued_and_cancellable(db: TestDb) {
    let closed_port = free_loopback_addr().port();
    let app = TestApp::start_with(db, |config| unreachable_connector(config, closed_port)).await;
    for _ in 0..3 {
        let accepted = app.send(json!({"to": "09012345678", "body": "hi"})).await;
        assert_eq!(accepted["status"], "queued", "{accepted}");
        let id = accepted["id"].as_str().expect("id");
        // The dispatcher may be holding it for a moment (a claim finds no carrier and gives
        // it back); between such tries it waits in the queue and can be cancelled.
        let cancelled = poll_until("the queued message cancelled", || async {
            let reply = app
                .post(&format!("/v1/messages/{id}/cancel"), &Value::Null)
                .await;
            (reply.status == 200).then_some(reply)
        })
        .await;
        assert_eq!(cancelled.body["status"], "cancelled");
    }
    app.shutdown().await;
}

fn unreachable_connector(config: &mut Config, port: u16) {
    config.connectors.push(ConnectorSettings::new(
        "down".into(),
        "127.0.0.1".into(),
        port,
        "hato".into(),
        "secret".into(),
    ));
}
