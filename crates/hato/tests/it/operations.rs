//! What infrastructure looks at: health, readiness, metrics, and the OpenAPI document (with a
//! snapshot of it committed as `docs/openapi.json`).

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::support::{Reply, TestApp, TestDb, on_both_backends};

on_both_backends!(health_readiness_and_metrics, the_served_openapi_document);

async fn health_readiness_and_metrics(db: TestDb) {
    let app = TestApp::start(db).await;
    let health = Reply::of(app.http.get(app.url("/healthz"))).await;
    assert_eq!(health.status, 200, "{health:?}");
    assert_eq!(health.body["status"], "ok");

    let ready = Reply::of(app.http.get(app.url("/readyz"))).await;
    assert_eq!(ready.status, 200, "{ready:?}");
    assert_eq!(ready.body["status"], "ready");
    assert_eq!(ready.body["database"], "ok");
    assert!(
        ready.body["carriers"]
            .as_array()
            .is_some_and(|c| !c.is_empty() && c.iter().all(|c| c["ready"] == true)),
        "{ready:?}"
    );

    let accepted = app
        .send(json!({"to": "09012345678", "body": "count me"}))
        .await;
    app.until_status(accepted["id"].as_str().expect("id"), "delivered")
        .await;
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain")),
        "{:?}",
        metrics.headers()
    );
    let text = metrics.text().await.expect("text");
    for name in [
        "hato_messages_accepted_total",
        "hato_queue_ready",
        "hato_queue_leased",
        "hato_http_request_duration_seconds",
        "hato_store_write_seconds",
        "hato_store_write_wait_seconds",
    ] {
        assert!(text.contains(name), "/metrics lacks {name}:\n{text}");
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("hato_messages_accepted_total") && l.contains("transactional")),
        "{text}"
    );
    // The single-message insert and the record of its submission both went through the
    // writer (a claim may not have: the message can be handed to the dispatcher directly).
    for operation in ["insert", "submit_results"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with("hato_store_write_seconds_count")
                    && l.contains(&format!("operation=\"{operation}\""))),
            "no write timing for {operation}:\n{text}"
        );
    }

    let unknown = Reply::of(app.http.get(app.url("/v2/nothing"))).await;
    unknown.assert_error(404, "not_found", None);
    app.shutdown().await;
}

async fn the_served_openapi_document(db: TestDb) {
    let app = TestApp::start(db).await;
    let served = Reply::of(app.http.get(app.url("/v1/openapi.json"))).await;
    assert_eq!(served.status, 200, "served without a key");
    let document = served.body;
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        document["openapi"]
    );
    for (path, methods) in [
        ("/v1/messages", &["get", "post"][..]),
        ("/v1/messages/batch", &["post"]),
        ("/v1/messages/{id}", &["get"]),
        ("/v1/messages/{id}/cancel", &["post"]),
        ("/v1/messages/{id}/events", &["get"]),
        ("/v1/messages/preview", &["post"]),
        ("/v1/account", &["get", "patch"]),
        ("/v1/account/webhook-secret/rotate", &["post"]),
    ] {
        for method in methods {
            assert!(
                document["paths"][path][method].is_object(),
                "{method} {path} is documented"
            );
        }
    }
    assert!(document["components"]["securitySchemes"]["api_key"].is_object());
    assert_eq!(
        document,
        serde_json::to_value(hato_api::openapi::document()).expect("json"),
        "the served document is the generated one"
    );
    app.shutdown().await;
}

/// The generated document matches the committed `docs/openapi.json`, so API changes show up in
/// review. `UPDATE_OPENAPI=1` writes it.
#[test]
fn the_committed_openapi_document_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let generated = serde_json::to_string_pretty(&hato_api::openapi::document())
        .expect("serialise the document")
        + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write docs/openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let committed_value: Value = serde_json::from_str(&committed).unwrap_or(Value::Null);
    let generated_value: Value = serde_json::from_str(&generated).expect("json");
    assert!(
        committed_value == generated_value,
        "docs/openapi.json is missing or out of date: run \
         `UPDATE_OPENAPI=1 cargo nextest run -p hato --test it -E 'test(openapi)'` and commit it"
    );
}
