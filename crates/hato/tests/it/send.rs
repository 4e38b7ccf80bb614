//! Sending one message: normalisation, encoding, delivery, idempotency, scheduling,
//! cancelling and expiry.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Reply, TestApp, TestDb, on_both_backends, poll_until, time_from_now};

on_both_backends!(
    a_message_is_normalised_encoded_and_delivered,
    idempotency_keys_replay_and_refuse_reuse,
    every_kind_is_accepted_and_sent,
    a_scheduled_message_can_be_cancelled_and_is_never_sent,
    a_delivered_message_cannot_be_cancelled,
    a_message_past_its_validity_expires_unsent,
);

async fn a_message_is_normalised_encoded_and_delivered(db: TestDb) {
    let app = TestApp::start(db).await;
    let cases = [
        ("Your code is 1234", "gsm7", 1),
        ("ご予約を承りました。", "ucs2", 1),
        (&*"あ".repeat(70), "ucs2", 1),
        (&*"あ".repeat(71), "ucs2", 2),
        (&*"a".repeat(160), "gsm7", 1),
        (&*"a".repeat(161), "gsm7", 2),
    ];
    let mut ids = Vec::new();
    for (body, encoding, segments) in cases {
        let accepted = app.send(json!({"to": "090-1234-5678", "body": body})).await;
        let id = accepted["id"].as_str().expect("id").to_owned();
        assert!(id.starts_with("msg_"), "{accepted}");
        assert_eq!(accepted["to"], "+819012345678");
        // Queued, or already handed to the dispatcher (see direct_dispatch.rs).
        let status = accepted["status"].as_str().unwrap_or_default();
        assert!(["queued", "sending"].contains(&status), "{accepted}");
        assert_eq!(accepted["direction"], "outbound");
        assert_eq!(accepted["kind"], "transactional");
        assert_eq!(accepted["body"], body);
        assert_eq!(accepted["encoding"], encoding, "{body}");
        assert_eq!(accepted["segments"], segments, "{body}");
        assert!(accepted["timestamps"]["queued"].is_string(), "{accepted}");
        ids.push(id);
    }
    for id in &ids {
        let delivered = app.until_status(id, "delivered").await;
        assert_eq!(delivered["to"], "+819012345678");
        assert_eq!(delivered["connector"], "simulator", "{delivered}");
        let timestamps = &delivered["timestamps"];
        let at = |name: &str| -> jiff::Timestamp {
            timestamps[name]
                .as_str()
                .unwrap_or_else(|| panic!("timestamps.{name}: {delivered}"))
                .parse()
                .expect("RFC 3339")
        };
        assert!(at("queued") <= at("sent"), "{timestamps}");
        assert!(at("sent") <= at("delivered"), "{timestamps}");
        assert!(delivered["error"].is_null());
    }
    app.shutdown().await;
}

async fn idempotency_keys_replay_and_refuse_reuse(db: TestDb) {
    let app = TestApp::start(db).await;
    let body = json!({"to": "09012345678", "body": "once only", "reference": "order-1"});
    let send = |body: Value, key: &'static str| {
        Reply::of(
            app.request(Method::POST, "/v1/messages")
                .header("idempotency-key", key)
                .json(&body),
        )
    };
    let first = send(body.clone(), "k-1").await;
    assert_eq!(first.status, 202, "{first:?}");
    assert!(first.headers.get("idempotent-replayed").is_none());
    let id = first.body["id"].as_str().expect("id").to_owned();

    let again = send(body.clone(), "k-1").await;
    assert_eq!(again.status, 202, "{again:?}");
    assert_eq!(again.body["id"], id.as_str());
    assert_eq!(
        again
            .headers
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    // The same request with its keys in another order is the same request.
    let reordered: Value = serde_json::from_str(
        r#"{"reference": "order-1", "body": "once only", "to": "09012345678"}"#,
    )
    .expect("json");
    let reordered = Reply::of(
        app.request(Method::POST, "/v1/messages")
            .header("idempotency-key", "k-1")
            .header("content-type", "application/json")
            .body(reordered.to_string()),
    )
    .await;
    assert_eq!(reordered.status, 202, "{reordered:?}");
    assert_eq!(reordered.body["id"], id.as_str());

    let conflict = send(
        json!({"to": "09012345678", "body": "something else"}),
        "k-1",
    )
    .await;
    conflict.assert_error(422, "idempotency_key_reused", Some("Idempotency-Key"));

    // Another key is another message.
    let other = send(body.clone(), "k-2").await;
    assert_eq!(other.status, 202);
    assert_ne!(other.body["id"], id.as_str());

    let all = app.all_messages("").await;
    assert_eq!(all.len(), 2, "one message per key: {all:?}");
    // Replays after delivery still answer with the message.
    app.until_status(&id, "delivered").await;
    let late = send(body, "k-1").await;
    assert_eq!(late.status, 202);
    assert_eq!(late.body["id"], id.as_str());
    assert_eq!(late.body["status"], "delivered");
    assert_eq!(app.all_messages("").await.len(), 2);
    app.shutdown().await;
}

async fn every_kind_is_accepted_and_sent(db: TestDb) {
    let app = TestApp::start(db).await;
    for kind in ["otp", "promotional", "transactional"] {
        let accepted = app
            .send(json!({"to": "+819012345678", "body": format!("{kind} text"), "kind": kind}))
            .await;
        assert_eq!(accepted["kind"], kind);
        let id = accepted["id"].as_str().expect("id");
        let delivered = app.until_status(id, "delivered").await;
        assert_eq!(delivered["kind"], kind);
    }
    let bad = app
        .post(
            "/v1/messages",
            &json!({"to": "09012345678", "body": "x", "kind": "marketing"}),
        )
        .await;
    bad.assert_error(422, "invalid_field", Some("kind"));
    app.shutdown().await;
}

async fn a_scheduled_message_can_be_cancelled_and_is_never_sent(db: TestDb) {
    let app = TestApp::start(db).await;
    let send_at = time_from_now(Duration::from_secs(2));
    let doomed = app
        .send(json!({"to": "09012345678", "body": "cancel me", "send_at": send_at}))
        .await;
    assert_eq!(doomed["status"], "scheduled", "{doomed}");
    assert!(doomed["send_at"].is_string());
    let id = doomed["id"].as_str().expect("id");
    // A witness scheduled just after it: once the witness is delivered, the cancelled one
    // would have been sent too had the cancel not held.
    let witness = app
        .send(json!({"to": "09012345678", "body": "witness", "send_at": time_from_now(Duration::from_millis(2500))}))
        .await;

    let cancelled = app
        .post(&format!("/v1/messages/{id}/cancel"), &Value::Null)
        .await;
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    assert_eq!(cancelled.body["status"], "cancelled");
    assert!(cancelled.body["timestamps"]["cancelled"].is_string());
    // Cancelling again is harmless.
    let again = app
        .post(&format!("/v1/messages/{id}/cancel"), &Value::Null)
        .await;
    assert_eq!(again.status, 200, "{again:?}");

    app.until_status(witness["id"].as_str().expect("id"), "delivered")
        .await;
    let after = app.get(&format!("/v1/messages/{id}")).await;
    assert_eq!(after.body["status"], "cancelled", "{after:?}");
    assert!(after.body["timestamps"]["sent"].is_null(), "{after:?}");
    assert!(after.body["connector"].is_null(), "{after:?}");
    app.shutdown().await;
}

async fn a_delivered_message_cannot_be_cancelled(db: TestDb) {
    let app = TestApp::start(db).await;
    let accepted = app.send(json!({"to": "09012345678", "body": "hi"})).await;
    let id = accepted["id"].as_str().expect("id");
    app.until_status(id, "delivered").await;
    let reply = app
        .post(&format!("/v1/messages/{id}/cancel"), &Value::Null)
        .await;
    reply.assert_error(409, "not_cancellable", None);
    assert_eq!(
        app.get(&format!("/v1/messages/{id}")).await.body["status"],
        "delivered"
    );
    let wrong_method = app.get(&format!("/v1/messages/{id}/cancel")).await;
    assert!(wrong_method.status.is_client_error(), "{wrong_method:?}");
    let missing = app
        .post(
            "/v1/messages/msg_00000000000000000000000000000000/cancel",
            &Value::Null,
        )
        .await;
    missing.assert_error(404, "not_found", None);
    app.shutdown().await;
}

/// Validity counts from `send_at`, so the only way to see a message expire before it is sent
/// is to keep the dispatcher away until its validity has run out: stop the server, wait, start
/// it again on the same database.
async fn a_message_past_its_validity_expires_unsent(db: TestDb) {
    let mut app = TestApp::start(db).await;
    let accepted = app
        .send(json!({
            "to": "09012345678",
            "body": "too late",
            "send_at": time_from_now(Duration::from_secs(1)),
            "validity": "1s",
        }))
        .await;
    let id = accepted["id"].as_str().expect("id").to_owned();
    let expires_at: jiff::Timestamp = accepted["expires_at"]
        .as_str()
        .expect("expires_at")
        .parse()
        .expect("RFC 3339");
    app.stop_server().await;
    poll_until("the validity has run out", || async {
        (jiff::Timestamp::now() > expires_at).then_some(())
    })
    .await;
    app.restart().await;
    let expired = app.until_status(&id, "expired").await;
    assert!(expired["timestamps"]["sent"].is_null(), "{expired}");
    assert!(expired["timestamps"]["expired"].is_string(), "{expired}");
    app.shutdown().await;
}
