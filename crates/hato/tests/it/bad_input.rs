//! Bad requests: every one is a 4xx with the error envelope naming the field, never a 5xx,
//! and none leaves anything stored.

use reqwest::{Method, header::HeaderValue};
use serde_json::{Value, json};

use crate::support::{Reply, TestApp, TestDb, on_both_backends};

on_both_backends!(
    bad_sends_are_refused_with_the_field_named,
    characters_after_the_json_are_refused,
);

/// One bad request to `POST /v1/messages` and what it must get back.
struct Case {
    name: &'static str,
    body: Body,
    content_type: Option<&'static str>,
    idempotency_key: Option<HeaderValue>,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
}

enum Body {
    Json(Value),
    Raw(Vec<u8>),
}

fn case(
    name: &'static str,
    body: Value,
    status: u16,
    code: &'static str,
    field: &'static str,
) -> Case {
    Case {
        name,
        body: Body::Json(body),
        content_type: Some("application/json"),
        idempotency_key: None,
        status,
        code,
        field: (!field.is_empty()).then_some(field),
    }
}

fn raw(name: &'static str, body: impl Into<Vec<u8>>, status: u16, code: &'static str) -> Case {
    Case {
        name,
        body: Body::Raw(body.into()),
        content_type: Some("application/json"),
        idempotency_key: None,
        status,
        code,
        field: None,
    }
}

fn ok_body() -> Value {
    json!({"to": "09012345678", "body": "hello"})
}

fn with(field: &str, value: Value) -> Value {
    let mut body = ok_body();
    body[field] = value;
    body
}

fn cases() -> Vec<Case> {
    let far = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 400)).to_string();
    vec![
        raw("malformed JSON", r#"{"to": "0901"#, 400, "malformed_json"),
        raw(
            "not UTF-8",
            b"{\"to\": \"\xff\xfe\", \"body\": \"x\"}".to_vec(),
            400,
            "malformed_json",
        ),
        raw("empty request body", "", 400, "malformed_json"),
        raw(
            "nested too deep",
            "[".repeat(100_000),
            400,
            "malformed_json",
        ),
        case("an array", json!([ok_body()]), 422, "invalid_field", ""),
        case("a string", json!("hello"), 422, "invalid_field", ""),
        case("null", Value::Null, 422, "invalid_field", ""),
        case(
            "to is a number",
            with("to", json!(9012345678_u64)),
            422,
            "invalid_field",
            "to",
        ),
        case(
            "body is a list",
            with("body", json!(["hi"])),
            422,
            "invalid_field",
            "body",
        ),
        case(
            "kind unknown",
            with("kind", json!("spam")),
            422,
            "invalid_field",
            "kind",
        ),
        case(
            "reference is a number",
            with("reference", json!(7)),
            422,
            "invalid_field",
            "reference",
        ),
        case(
            "unknown field",
            with("colour", json!("red")),
            422,
            "unknown_field",
            "colour",
        ),
        case(
            "missing to",
            json!({"body": "x"}),
            422,
            "missing_field",
            "to",
        ),
        case(
            "missing body",
            json!({"to": "09012345678"}),
            422,
            "missing_field",
            "body",
        ),
        case(
            "empty body",
            with("body", json!("")),
            422,
            "empty_body",
            "body",
        ),
        case(
            "11 UCS-2 segments",
            with("body", json!("あ".repeat(671))),
            422,
            "body_too_long",
            "body",
        ),
        case(
            "11 GSM-7 segments",
            with("body", json!("a".repeat(1531))),
            422,
            "body_too_long",
            "body",
        ),
        case(
            "number too short",
            with("to", json!("12345")),
            422,
            "invalid_phone_number",
            "to",
        ),
        case(
            "number of letters",
            with("to", json!("call me")),
            422,
            "invalid_phone_number",
            "to",
        ),
        case(
            "empty number",
            with("to", json!("")),
            422,
            "invalid_phone_number",
            "to",
        ),
        case(
            "sender too long",
            with("from", json!("ThisIsTooLongASender")),
            422,
            "invalid_sender",
            "from",
        ),
        case(
            "send_at not a time",
            with("send_at", json!("tomorrow")),
            422,
            "invalid_time",
            "send_at",
        ),
        case(
            "send_at without offset",
            with("send_at", json!("2030-01-01T09:00:00")),
            422,
            "invalid_time",
            "send_at",
        ),
        case(
            "send_at in the past",
            with("send_at", json!("2020-01-01T00:00:00Z")),
            422,
            "send_at_in_past",
            "send_at",
        ),
        case(
            "send_at too far",
            with("send_at", json!(far)),
            422,
            "send_at_too_far",
            "send_at",
        ),
        case(
            "ftp callback",
            with("status_callback", json!("ftp://x")),
            422,
            "invalid_url",
            "status_callback",
        ),
        case(
            "callback not a URL",
            with("status_callback", json!("example.com/hook")),
            422,
            "invalid_url",
            "status_callback",
        ),
        case(
            "metadata a string",
            with("metadata", json!("x")),
            422,
            "invalid_metadata",
            "metadata",
        ),
        case(
            "metadata a list",
            with("metadata", json!([1, 2])),
            422,
            "invalid_metadata",
            "metadata",
        ),
        case(
            "metadata too big",
            with("metadata", json!({"x": "y".repeat(5000)})),
            422,
            "metadata_too_large",
            "metadata",
        ),
        case(
            "validity abc",
            with("validity", json!("abc")),
            422,
            "invalid_duration",
            "validity",
        ),
        case(
            "validity zero",
            with("validity", json!(0)),
            422,
            "invalid_duration",
            "validity",
        ),
        case(
            "validity 31 days",
            with("validity", json!("31days")),
            422,
            "invalid_duration",
            "validity",
        ),
        case(
            "validity negative",
            with("validity", json!(-5)),
            422,
            "invalid_field",
            "validity",
        ),
        case(
            "empty reference",
            with("reference", json!("")),
            422,
            "invalid_reference",
            "reference",
        ),
        case(
            "reference too long",
            with("reference", json!("r".repeat(257))),
            422,
            "invalid_reference",
            "reference",
        ),
        Case {
            content_type: Some("text/plain"),
            ..case("text/plain", ok_body(), 415, "unsupported_media_type", "")
        },
        Case {
            content_type: None,
            ..case(
                "no content type",
                ok_body(),
                415,
                "unsupported_media_type",
                "",
            )
        },
        Case {
            content_type: Some("application/x-www-form-urlencoded"),
            ..raw(
                "a form",
                "to=09012345678&body=hi",
                415,
                "unsupported_media_type",
            )
        },
        Case {
            idempotency_key: Some(HeaderValue::from_str(&"k".repeat(256)).expect("header")),
            ..case(
                "idempotency key too long",
                ok_body(),
                400,
                "invalid_idempotency_key",
                "Idempotency-Key",
            )
        },
        Case {
            idempotency_key: Some(HeaderValue::from_static("two words")),
            ..case(
                "idempotency key with a space",
                ok_body(),
                400,
                "invalid_idempotency_key",
                "Idempotency-Key",
            )
        },
        Case {
            idempotency_key: Some(HeaderValue::from_bytes(b"caf\xc3\xa9").expect("header")),
            ..case(
                "idempotency key not ASCII",
                ok_body(),
                400,
                "invalid_idempotency_key",
                "Idempotency-Key",
            )
        },
    ]
}

async fn bad_sends_are_refused_with_the_field_named(db: TestDb) {
    let app = TestApp::start(db).await;
    let mut failures = Vec::new();
    for case in cases() {
        let mut request = app.request(Method::POST, "/v1/messages");
        if let Some(content_type) = case.content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(key) = &case.idempotency_key {
            request = request.header("idempotency-key", key.clone());
        }
        request = match &case.body {
            Body::Json(value) => request.body(value.to_string()),
            Body::Raw(bytes) => request.body(bytes.clone()),
        };
        let reply = Reply::of(request).await;
        let error = &reply.body["error"];
        let ok = reply.status.as_u16() == case.status
            && error["code"] == case.code
            && error["message"].as_str().is_some_and(|m| !m.is_empty())
            && case.field.is_none_or(|f| error["field"] == f);
        assert!(!reply.status.is_server_error(), "{}: {reply:?}", case.name);
        if !ok {
            failures.push(format!(
                "{}: expected {} {} {:?}, got {} {}",
                case.name, case.status, case.code, case.field, reply.status, reply.body
            ));
        }
    }

    // A body over the 32 MiB limit (`oversized_body.rs` shows the connection's side).
    let huge = json!({"to": "09012345678", "body": "x".repeat(33 * 1024 * 1024)}).to_string();
    let response = app
        .request(Method::POST, "/v1/messages")
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .expect("the 413 reaches a client that sent the whole body");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status != 413 || body["error"]["code"] != "body_too_large" {
        failures.push(format!(
            "over 32 MiB: expected 413 body_too_large, got {status} {body}"
        ));
    }

    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        app.all_messages("").await.is_empty(),
        "nothing half-written"
    );
    app.shutdown().await;
}

/// `{…} x` is not JSON: nothing may be sent because of what a strict parser refuses.
async fn characters_after_the_json_are_refused(db: TestDb) {
    let app = TestApp::start(db).await;
    for (path, body) in [
        ("/v1/messages", r#"{"to": "09012345678", "body": "x"} x"#),
        (
            "/v1/messages",
            r#"{"to": "09012345678", "body": "x"}{"to": "09012345678", "body": "y"}"#,
        ),
        (
            "/v1/messages/batch",
            r#"{"messages": [{"to": "09012345678", "body": "x"}]}]"#,
        ),
    ] {
        let reply = Reply::of(
            app.request(Method::POST, path)
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
        reply.assert_error(400, "malformed_json", None);
    }
    assert!(app.all_messages("").await.is_empty(), "nothing stored");
    app.shutdown().await;
}
