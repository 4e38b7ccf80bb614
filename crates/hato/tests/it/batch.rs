//! `POST /v1/messages/batch`: partial acceptance, limits, volume and idempotency.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Reply, TestApp, TestDb, on_both_backends};

on_both_backends!(
    valid_items_are_accepted_and_invalid_ones_named,
    a_batch_with_nothing_valid_is_refused,
    batch_size_is_bounded,
    ten_thousand_messages_are_all_stored,
    a_full_batch_of_long_messages_fits_the_body_limit,
    a_replayed_batch_returns_the_first_answer_and_stores_nothing,
);

async fn valid_items_are_accepted_and_invalid_ones_named(db: TestDb) {
    let app = TestApp::start(db).await;
    let reply = app
        .post(
            "/v1/messages/batch",
            &json!({"messages": [
                {"to": "09012345678", "body": "one"},
                {"to": "12", "body": "bad number"},
                {"to": "+819012345679", "body": "ご予約"},
                {"to": "09012345678", "body": ""},
                {"to": "090-1234-5670", "body": "three", "kind": "otp"},
            ]}),
        )
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let body = &reply.body;
    assert_eq!(body["accepted_count"], 3);
    assert_eq!(body["rejected_count"], 2);
    let accepted = body["accepted"].as_array().expect("accepted");
    let indexes: Vec<_> = accepted.iter().map(|a| a["index"].as_u64()).collect();
    assert_eq!(indexes, [Some(0), Some(2), Some(4)]);
    assert_eq!(accepted[1]["encoding"], "ucs2");
    assert_eq!(accepted[2]["to"], "+819012345670");
    let rejected = body["rejected"].as_array().expect("rejected");
    assert_eq!(rejected[0]["index"], 1);
    assert_eq!(rejected[0]["error"]["code"], "invalid_phone_number");
    assert_eq!(rejected[0]["error"]["field"], "messages[1].to");
    assert_eq!(rejected[1]["index"], 3);
    assert_eq!(rejected[1]["error"]["code"], "empty_body");
    assert_eq!(rejected[1]["error"]["field"], "messages[3].body");

    for item in accepted {
        app.until_status(item["id"].as_str().expect("id"), "delivered")
            .await;
    }
    assert_eq!(app.all_messages("").await.len(), 3);
    app.shutdown().await;
}

async fn a_batch_with_nothing_valid_is_refused(db: TestDb) {
    let app = TestApp::start(db).await;
    let reply = app
        .post(
            "/v1/messages/batch",
            &json!({"messages": [
                {"to": "nope", "body": "x"},
                {"body": "no recipient"},
                {"to": "09012345678", "body": "x", "colour": "red"},
            ]}),
        )
        .await;
    assert_eq!(reply.status, 422, "{reply:?}");
    assert_eq!(reply.body["accepted_count"], 0);
    assert_eq!(reply.body["rejected_count"], 3);
    let fields: Vec<_> = reply.body["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|r| r["error"]["field"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        fields,
        ["messages[0].to", "messages[1].to", "messages[2].colour"]
    );
    assert!(app.all_messages("").await.is_empty());
    app.shutdown().await;
}

async fn batch_size_is_bounded(db: TestDb) {
    let app = TestApp::start(db).await;
    let item = json!({"to": "09012345678", "body": "x"});
    let too_many = json!({"messages": vec![item; 10_001]});
    app.post("/v1/messages/batch", &too_many)
        .await
        .assert_error(422, "invalid_batch_size", Some("messages"));
    app.post("/v1/messages/batch", &json!({"messages": []}))
        .await
        .assert_error(422, "invalid_batch_size", Some("messages"));
    app.post("/v1/messages/batch", &json!({}))
        .await
        .assert_error(422, "missing_field", Some("messages"));
    app.post("/v1/messages/batch", &json!({"messages": "x"}))
        .await
        .assert_error(422, "invalid_field", Some("messages"));
    assert!(app.all_messages("").await.is_empty());
    app.shutdown().await;
}

async fn ten_thousand_messages_are_all_stored(db: TestDb) {
    // Statuses keep moving while the list is walked; the walk must not miss or repeat any.
    let app = TestApp::start(db).await;
    let messages: Vec<Value> = (0..10_000)
        .map(|i| json!({"to": format!("0901{:07}", i), "body": format!("message {i}"), "reference": "bulk"}))
        .collect();
    let reply = app
        .post("/v1/messages/batch", &json!({"messages": messages}))
        .await;
    assert_eq!(reply.status, 202, "{:?}", reply.body["rejected"]);
    assert_eq!(reply.body["accepted_count"], 10_000);
    assert_eq!(reply.body["rejected_count"], 0);
    let accepted: HashSet<String> = reply.body["accepted"]
        .as_array()
        .expect("accepted")
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(accepted.len(), 10_000, "distinct ids");

    let stored = app.all_messages("&reference=bulk").await;
    let stored_ids: HashSet<String> = stored
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(stored.len(), 10_000, "each stored once");
    assert_eq!(stored_ids, accepted);
    app.shutdown().await;
}

/// 10,000 messages of 5 UCS-2 segments: about 10 MB of JSON, under the 32 MiB limit.
async fn a_full_batch_of_long_messages_fits_the_body_limit(db: TestDb) {
    let app = TestApp::start(db).await;
    let body = "ご予約ありがとうございます。".repeat(23);
    let messages: Vec<Value> = (0..10_000)
        .map(|i| json!({"to": format!("0901{:07}", i), "body": body, "send_at": crate::support::time_from_now(std::time::Duration::from_secs(3600))}))
        .collect();
    let request = json!({ "messages": messages });
    assert!(request.to_string().len() > 8 * 1024 * 1024);
    let reply = app.post("/v1/messages/batch", &request).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["accepted_count"], 10_000);
    assert_eq!(reply.body["accepted"][0]["segments"], 5);
    app.shutdown().await;
}

async fn a_replayed_batch_returns_the_first_answer_and_stores_nothing(db: TestDb) {
    let app = TestApp::start(db).await;
    let batch = json!({"messages": [
        {"to": "09012345678", "body": "a"},
        {"to": "bad", "body": "b"},
        {"to": "09012345679", "body": "c"},
    ]});
    let send = |body: &Value| {
        Reply::of(
            app.request(Method::POST, "/v1/messages/batch")
                .header("idempotency-key", "batch-1")
                .json(body),
        )
    };
    let first = send(&batch).await;
    assert_eq!(first.status, 202, "{first:?}");
    let again = send(&batch).await;
    assert_eq!(again.status, 202, "{again:?}");
    assert_eq!(again.body, first.body, "the same answer");
    assert_eq!(
        again
            .headers
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    assert_eq!(app.all_messages("").await.len(), 2, "nothing new stored");

    let conflict = send(&json!({"messages": [{"to": "09012345678", "body": "other"}]})).await;
    conflict.assert_error(422, "idempotency_key_reused", Some("Idempotency-Key"));
    assert_eq!(app.all_messages("").await.len(), 2);

    // A rejected-only batch is remembered too.
    let none_valid = json!({"messages": [{"to": "bad", "body": "x"}]});
    let refused = |body: &Value| {
        Reply::of(
            app.request(Method::POST, "/v1/messages/batch")
                .header("idempotency-key", "batch-2")
                .json(body),
        )
    };
    let first = refused(&none_valid).await;
    assert_eq!(first.status, 422);
    let again = refused(&none_valid).await;
    assert_eq!(again.status, 422);
    assert_eq!(again.body, first.body);
    assert_eq!(app.all_messages("").await.len(), 2);
    app.shutdown().await;
}
