//! Status webhooks: Standard Webhooks signatures, per-message callbacks, retries that honour
//! `Retry-After`, and secret rotation.

use serde_json::{Value, json};
use standardwebhooks::Webhook;

use crate::support::{
    Reply, TestApp, TestDb, on_both_backends, poll_until,
    sink::{Answer, Received, Sink},
};

on_both_backends!(
    signed_events_reach_the_account_url,
    a_status_callback_overrides_the_account_url,
    failed_deliveries_are_retried_honouring_retry_after,
    after_a_rotation_both_secrets_verify,
    the_webhook_url_is_validated,
    a_gone_receiver_is_not_retried,
);

async fn set_webhook_url(app: &TestApp, url: &str) -> Value {
    let reply = Reply::of(
        app.request(reqwest::Method::PATCH, "/v1/account")
            .json(&json!({ "webhook_url": url })),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["webhook_url"], url);
    reply.body
}

async fn secret(app: &TestApp) -> String {
    let account = app.get("/v1/account").await;
    assert_eq!(account.status, 200, "{account:?}");
    let secret = account.body["webhook_secret"]
        .as_str()
        .expect("webhook_secret")
        .to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    secret
}

#[track_caller]
fn assert_verifies(secret: &str, received: &Received) {
    Webhook::new(secret)
        .expect("a valid secret")
        .verify(&received.body, &received.headers)
        .unwrap_or_else(|e| panic!("signature does not verify ({e:?}): {received:?}"));
}

/// Waits until the sink holds these event types for message `id` (accepted with 2xx).
async fn until_events(sink: &Sink, id: &str, types: &[&str]) -> Vec<Received> {
    poll_until(&format!("webhooks {types:?} for {id}"), || async {
        let received = sink.for_message(id);
        types
            .iter()
            .all(|t| received.iter().any(|r| r.event_type() == *t))
            .then_some(received)
    })
    .await
}

async fn webhook_attempts(app: &TestApp, id: &str) -> Vec<Value> {
    let events = app.get(&format!("/v1/messages/{id}/events")).await;
    assert_eq!(events.status, 200, "{events:?}");
    events.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter(|e| e["type"] == "webhook_attempt")
        .cloned()
        .collect()
}

async fn signed_events_reach_the_account_url(db: TestDb) {
    let app = TestApp::start(db).await;
    let sink = Sink::start().await;
    set_webhook_url(&app, &sink.url("/hooks")).await;
    let secret = secret(&app).await;

    let accepted = app
        .send(json!({"to": "09012345678", "body": "hi", "metadata": {"order": 42}}))
        .await;
    let id = accepted["id"].as_str().expect("id");
    let received = until_events(&sink, id, &["message.sent", "message.delivered"]).await;
    for hook in &received {
        assert_eq!(hook.path, "/hooks");
        assert_verifies(&secret, hook);
        assert!(!hook.header("webhook-id").is_empty());
        assert!(hook.header("webhook-timestamp").parse::<i64>().is_ok());
        assert_eq!(hook.header("content-type"), "application/json");
        let payload = hook.json();
        assert_eq!(payload["data"]["id"], id);
        assert_eq!(payload["data"]["to"], "+819012345678");
        assert_eq!(payload["data"]["metadata"], json!({"order": 42}));
        let status = payload["type"]
            .as_str()
            .and_then(|t| t.strip_prefix("message."))
            .expect("type");
        assert_eq!(payload["data"]["status"], status);
        assert!(payload["timestamp"].is_string());
    }
    let ids: std::collections::HashSet<_> =
        received.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids.len(), received.len(), "one delivery id per event");
    // Tampering breaks the signature.
    let mut forged = received[0].clone();
    forged.body = forged
        .body
        .iter()
        .copied()
        .rev()
        .collect::<Vec<u8>>()
        .into();
    assert!(
        Webhook::new(&secret)
            .expect("secret")
            .verify(&forged.body, &forged.headers)
            .is_err()
    );

    // The events endpoint shows each attempt.
    let attempts = poll_until("attempts recorded", || async {
        let attempts = webhook_attempts(&app, id).await;
        (attempts.len() >= 2).then_some(attempts)
    })
    .await;
    for attempt in &attempts {
        assert_eq!(attempt["attempt"], 1, "{attempt}");
        assert_eq!(attempt["response_status"], 200, "{attempt}");
        assert_eq!(attempt["url"], sink.url("/hooks"));
        assert!(attempt.get("next_attempt_at").is_none(), "{attempt}");
    }
    app.shutdown().await;
}

async fn a_status_callback_overrides_the_account_url(db: TestDb) {
    let app = TestApp::start(db).await;
    let sink = Sink::start().await;
    set_webhook_url(&app, &sink.url("/account")).await;
    let own = app
        .send(json!({"to": "09012345678", "body": "mine", "status_callback": sink.url("/callback?order=7")}))
        .await;
    let plain = app
        .send(json!({"to": "09012345678", "body": "plain"}))
        .await;
    let (own, plain) = (
        own["id"].as_str().expect("id"),
        plain["id"].as_str().expect("id"),
    );
    let secret = secret(&app).await;
    for hook in until_events(&sink, own, &["message.sent", "message.delivered"]).await {
        assert_eq!(hook.path, "/callback", "{hook:?}");
        assert_verifies(&secret, &hook);
    }
    for hook in until_events(&sink, plain, &["message.sent", "message.delivered"]).await {
        assert_eq!(hook.path, "/account", "{hook:?}");
    }
    app.shutdown().await;
}

async fn failed_deliveries_are_retried_honouring_retry_after(db: TestDb) {
    let app = TestApp::start(db).await;
    let sink = Sink::start().await;
    set_webhook_url(&app, &sink.url("/hooks")).await;
    let secret = secret(&app).await;
    let unavailable = Answer {
        status: 503,
        retry_after: Some(1),
    };
    sink.script_for("message.delivered", [unavailable, unavailable]);

    let accepted = app
        .send(json!({"to": "09012345678", "body": "retry"}))
        .await;
    let id = accepted["id"].as_str().expect("id");
    let attempts = poll_until("the third attempt succeeds", || async {
        let attempts: Vec<Value> = webhook_attempts(&app, id)
            .await
            .into_iter()
            .filter(|a| a["webhook_event"] == "message.delivered")
            .collect();
        attempts
            .iter()
            .any(|a| a["response_status"] == 200)
            .then_some(attempts)
    })
    .await;
    let summary: Vec<_> = attempts
        .iter()
        .map(|a| (a["attempt"].as_i64(), a["response_status"].as_i64()))
        .collect();
    assert_eq!(
        summary,
        [
            (Some(1), Some(503)),
            (Some(2), Some(503)),
            (Some(3), Some(200))
        ],
        "{attempts:?}"
    );
    assert!(attempts[0]["next_attempt_at"].is_string(), "{attempts:?}");
    assert!(attempts[0]["error"].is_string(), "{attempts:?}");
    assert!(attempts[2].get("next_attempt_at").is_none(), "{attempts:?}");
    let at =
        |a: &Value| -> jiff::Timestamp { a["at"].as_str().expect("at").parse().expect("time") };
    for pair in attempts.windows(2) {
        let gap = at(&pair[1]) - at(&pair[0]);
        assert!(
            gap.total(jiff::Unit::Millisecond).expect("ms") >= 990.0,
            "Retry-After: 1 honoured over the 100ms/200ms schedule: gap {gap:?} in {attempts:?}"
        );
    }

    // The receiver saw the same delivery three times, each attempt signed afresh.
    let delivered: Vec<Received> = sink
        .for_message(id)
        .into_iter()
        .filter(|r| r.event_type() == "message.delivered")
        .collect();
    assert_eq!(delivered.len(), 3, "{delivered:?}");
    let webhook_id = delivered[0].header("webhook-id");
    assert!(!webhook_id.is_empty());
    for (hook, next) in delivered.iter().zip(delivered.iter().skip(1)) {
        assert_eq!(
            next.header("webhook-id"),
            webhook_id,
            "stable across retries"
        );
        assert_eq!(next.body, hook.body, "the same payload");
        assert!(next.at.duration_since(hook.at).as_millis() >= 990);
    }
    for hook in &delivered {
        assert_verifies(&secret, hook);
    }
    // The sent event, answered 200 at once, was delivered on its first attempt.
    let sent: Vec<_> = webhook_attempts(&app, id)
        .await
        .into_iter()
        .filter(|a| a["webhook_event"] == "message.sent")
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    app.shutdown().await;
}

async fn after_a_rotation_both_secrets_verify(db: TestDb) {
    let app = TestApp::start(db).await;
    let sink = Sink::start().await;
    set_webhook_url(&app, &sink.url("/hooks")).await;
    let old = secret(&app).await;

    let rotated = app
        .post("/v1/account/webhook-secret/rotate", &Value::Null)
        .await;
    assert_eq!(rotated.status, 200, "{rotated:?}");
    let new = rotated.body["webhook_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    assert_ne!(new, old);
    assert!(rotated.body["previous_secret_valid_until"].is_string());
    assert_eq!(secret(&app).await, new);

    let accepted = app
        .send(json!({"to": "09012345678", "body": "rotated"}))
        .await;
    let id = accepted["id"].as_str().expect("id");
    for hook in until_events(&sink, id, &["message.sent", "message.delivered"]).await {
        let signatures: Vec<&str> = hook.header("webhook-signature").split(' ').collect();
        assert_eq!(signatures.len(), 2, "{signatures:?}");
        assert!(signatures.iter().all(|s| s.starts_with("v1,")));
        assert_verifies(&old, &hook);
        assert_verifies(&new, &hook);
        let stranger = hato_api::keys::generate_webhook_secret();
        assert!(
            Webhook::new(&stranger)
                .expect("secret")
                .verify(&hook.body, &hook.headers)
                .is_err()
        );
    }
    app.shutdown().await;
}

async fn the_webhook_url_is_validated(db: TestDb) {
    let app = TestApp::start(db).await;
    for url in ["ftp://example.com/x", "not a url", "http://"] {
        let reply = Reply::of(
            app.request(reqwest::Method::PATCH, "/v1/account")
                .json(&json!({ "webhook_url": url })),
        )
        .await;
        reply.assert_error(422, "invalid_url", Some("webhook_url"));
    }
    let unknown = Reply::of(
        app.request(reqwest::Method::PATCH, "/v1/account")
            .json(&json!({ "webhook": "http://x" })),
    )
    .await;
    unknown.assert_error(422, "unknown_field", Some("webhook"));
    set_webhook_url(&app, "https://example.com/hooks").await;
    let cleared = Reply::of(
        app.request(reqwest::Method::PATCH, "/v1/account")
            .json(&json!({ "webhook_url": null })),
    )
    .await;
    assert_eq!(cleared.status, 200);
    assert!(cleared.body["webhook_url"].is_null(), "{cleared:?}");
    app.shutdown().await;
}

/// `410 Gone` says the endpoint is gone for good: one attempt, no retry scheduled.
async fn a_gone_receiver_is_not_retried(db: TestDb) {
    let app = TestApp::start(db).await;
    let sink = Sink::start().await;
    set_webhook_url(&app, &sink.url("/hooks")).await;
    let gone = Answer {
        status: 410,
        retry_after: None,
    };
    sink.script_for("message.delivered", [gone, gone, gone]);
    let accepted = app.send(json!({"to": "09012345678", "body": "gone"})).await;
    let id = accepted["id"].as_str().expect("id");
    let attempts = poll_until("the delivered event is attempted", || async {
        let attempts: Vec<Value> = webhook_attempts(&app, id)
            .await
            .into_iter()
            .filter(|a| a["webhook_event"] == "message.delivered")
            .collect();
        (!attempts.is_empty()).then_some(attempts)
    })
    .await;
    assert_eq!(attempts[0]["response_status"], 410, "{attempts:?}");
    assert!(
        attempts[0].get("next_attempt_at").is_none(),
        "no retry after 410: {attempts:?}"
    );
    // Longer than the whole test retry schedule (100 + 200 + 300 ms): still one attempt.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let again: Vec<Value> = webhook_attempts(&app, id)
        .await
        .into_iter()
        .filter(|a| a["webhook_event"] == "message.delivered")
        .collect();
    assert_eq!(again.len(), 1, "{again:?}");
    let delivered = sink
        .received()
        .into_iter()
        .filter(|r| r.event_type() == "message.delivered")
        .count();
    assert_eq!(delivered, 1);
    app.shutdown().await;
}
