//! `POST /v1/messages/preview` and `hato preview`.

use serde_json::{Value, json};

use crate::support::{TestApp, TestDb, hato_command, on_both_backends};

on_both_backends!(
    preview_explains_the_encoding,
    preview_prices_when_pricing_is_configured,
    cli_preview_prints_the_encoding,
);

async fn preview(app: &TestApp, body: &str) -> Value {
    let reply = app
        .post("/v1/messages/preview", &json!({ "body": body }))
        .await;
    assert_eq!(reply.status, 200, "{body}: {reply:?}");
    reply.body
}

async fn preview_explains_the_encoding(db: TestDb) {
    let app = TestApp::start(db).await;

    let quotes = preview(&app, "It’s “great”").await;
    assert_eq!(quotes["encoding"], "ucs2");
    assert_eq!(quotes["segments"], 1);
    assert_eq!(
        quotes["forcing_ucs2"],
        json!([
            {"character": "’", "position": 2, "replacement": "'"},
            {"character": "“", "position": 5, "replacement": "\""},
            {"character": "”", "position": 11, "replacement": "\""},
        ])
    );
    assert_eq!(
        quotes["gsm7_alternative"],
        json!({"body": "It's \"great\"", "segments": 1})
    );
    assert!(quotes.get("price").is_none(), "no pricing configured");

    let extended = preview(&app, "{€").await;
    assert_eq!(extended["encoding"], "gsm7");
    assert_eq!(extended["characters"], 2);
    assert_eq!(
        extended["units"], 4,
        "each extension character is 2 septets"
    );
    assert_eq!(extended["forcing_ucs2"], json!([]));
    assert!(extended.get("gsm7_alternative").is_none());

    let plain = preview(&app, "hello").await;
    assert_eq!(plain["units"], 5);
    assert_eq!(plain["units_per_segment"], 160);
    assert_eq!(plain["units_left_in_last_segment"], 155);

    let long = preview(&app, &"あ".repeat(671)).await;
    assert_eq!(long["encoding"], "ucs2");
    assert_eq!(long["segments"], 11);
    assert_eq!(long["max_segments"], 10);
    assert_eq!(long["within_limit"], false);
    assert_eq!(long["units_per_segment"], 67);
    let limit = preview(&app, &"あ".repeat(670)).await;
    assert_eq!(limit["segments"], 10);
    assert_eq!(limit["within_limit"], true);

    // Japanese has no GSM-7 way out.
    let japanese = preview(&app, "ご予約").await;
    assert_eq!(japanese["forcing_ucs2"].as_array().map(Vec::len), Some(3));
    assert!(japanese.get("gsm7_alternative").is_none());

    app.post("/v1/messages/preview", &json!({"body": ""}))
        .await
        .assert_error(422, "empty_body", Some("body"));
    app.post("/v1/messages/preview", &json!({"text": "x"}))
        .await
        .assert_error(422, "unknown_field", Some("text"));
    assert!(
        app.all_messages("").await.is_empty(),
        "previews store nothing"
    );
    app.shutdown().await;
}

async fn preview_prices_when_pricing_is_configured(db: TestDb) {
    let app = TestApp::start_with(db, |config| {
        config.pricing = Some(hato::config::PricingConfig {
            per_segment: 3.3,
            currency: "JPY".into(),
        });
    })
    .await;
    let two = preview(&app, &"あ".repeat(71)).await;
    assert_eq!(two["segments"], 2);
    let price = &two["price"];
    assert_eq!(price["currency"], "JPY");
    assert_eq!(price["per_segment"], 3.3);
    let total = price["total"].as_f64().expect("total");
    assert!((total - 6.6).abs() < 1e-9, "{price}");
    app.shutdown().await;
}

async fn cli_preview_prints_the_encoding(db: TestDb) {
    let ok = hato_command(&db)
        .args(["preview", "本文"])
        .output()
        .expect("run hato");
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(stdout.contains("ucs2"), "{stdout}");
    assert!(stdout.contains("segments:  1"), "{stdout}");

    let json = hato_command(&db)
        .args(["preview", "--json", "It’s"])
        .output()
        .expect("run hato");
    assert!(json.status.success());
    let parsed: Value = serde_json::from_slice(&json.stdout).expect("JSON on stdout");
    assert_eq!(parsed["encoding"], "ucs2");
    assert_eq!(parsed["gsm7_alternative"]["body"], "It's");

    let too_long = hato_command(&db)
        .args(["preview", &"あ".repeat(671)])
        .output()
        .expect("run hato");
    assert!(!too_long.status.success(), "over the limit exits non-zero");
    assert!(
        String::from_utf8_lossy(&too_long.stderr).contains("11 segments"),
        "{}",
        String::from_utf8_lossy(&too_long.stderr)
    );
}
