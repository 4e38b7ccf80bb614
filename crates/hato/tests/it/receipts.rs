//! `hato receipts unmatched`: delivery receipts that matched no message, listed by the real
//! CLI straight from the database, with the server running and after it stopped.

use std::time::Duration;

use hato_core::MessageStatus;
use hato_store::{ReceiptUpdate, UnmatchedFilter, UnmatchedReceipts};
use serde_json::{Value, json};

use crate::support::{TestApp, TestDb, on_both_backends, output, poll_until};

on_both_backends!(unmatched_receipts_are_listed_newest_first);

async fn unmatched(app: &TestApp, args: &[&str]) -> Value {
    let mut command = app.hato();
    command
        .args(["receipts", "unmatched", "--json"])
        .args(args)
        .args(app.db.cli_args());
    let out = output(command).await;
    assert!(
        out.status.success(),
        "hato receipts unmatched {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "JSON expected ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

async fn unmatched_receipts_are_listed_newest_first(db: TestDb) {
    let app = TestApp::start_with(db, |c| {
        c.simulator.transport = "smpp".into();
        // The submit whose response is dropped below times out after 10 s; its retry (with a
        // receipt that may briefly be unmatched too) must not come during the test.
        c.dispatch.retry_schedule = vec![hato::config::HumanDuration(Duration::from_secs(3600))];
    })
    .await;
    assert_eq!(
        unmatched(&app, &[]).await,
        json!({ "data": [], "total": 0 })
    );

    // A real one: the simulator never answers the submit but still sends its receipt, which
    // then names an id Hato was never given (the retry after the timeout gets a new one).
    app.inject_fault(json!({ "fault": "drop_responses", "count": 1 }))
        .await;
    app.send(json!({ "to": "090-1234-5678", "body": "lost response" }))
        .await;
    let store = app.store().clone();
    let real = poll_until("the receipt is kept as unmatched", || async {
        let listed = store
            .unmatched_receipts(&UnmatchedFilter::default())
            .await
            .expect("list");
        listed.into_iter().next()
    })
    .await;
    assert_eq!(real.connector, "simulator");
    assert_eq!(real.status, MessageStatus::Delivered);

    // Two more through the store's public API, one of them newer than everything else.
    let now = jiff::Timestamp::now().as_millisecond();
    let outcomes = store
        .apply_receipts(
            &[
                ReceiptUpdate {
                    connector: "carrier-b".into(),
                    carrier_ids: vec!["0000BEEF".into(), "48879".into()],
                    status: MessageStatus::Undelivered,
                    error_code: Some("011".into()),
                    at: now + 60_000,
                },
                ReceiptUpdate {
                    connector: "carrier-b".into(),
                    carrier_ids: vec!["old-1".into()],
                    status: MessageStatus::Expired,
                    error_code: None,
                    at: real.received_at - 60_000,
                },
            ],
            UnmatchedReceipts::Keep,
        )
        .await
        .expect("apply");
    assert!(
        outcomes
            .iter()
            .all(|o| *o == hato_store::ReceiptOutcome::Unmatched)
    );

    // Listed once per receipt (not once per form of its id), newest first.
    let all = unmatched(&app, &[]).await;
    assert_eq!(all["total"], 3, "{all}");
    let ids: Vec<&str> = all["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| r["carrier_message_id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        ["0000BEEF", real.carrier_message_id.as_str(), "old-1"],
        "{all}"
    );
    let newest = &all["data"][0];
    assert_eq!(newest["connector"], "carrier-b");
    assert_eq!(newest["status"], "undelivered");
    assert_eq!(newest["error_code"], "011");
    assert_eq!(newest["other_forms"], json!(["48879"]));
    assert!(
        newest["received_at"]
            .as_str()
            .is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok()),
        "{newest}"
    );
    assert_eq!(all["data"][1]["connector"], "simulator");
    assert_eq!(all["data"][2]["error_code"], Value::Null);

    // --limit and --connector.
    let first = unmatched(&app, &["--limit", "1"]).await;
    assert_eq!(first["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(first["data"][0]["carrier_message_id"], "0000BEEF");
    assert_eq!(first["total"], 3);
    let simulator = unmatched(&app, &["--connector", "simulator"]).await;
    assert_eq!(simulator["total"], 1, "{simulator}");
    assert_eq!(
        simulator["data"][0]["carrier_message_id"],
        real.carrier_message_id.as_str()
    );
    let none = unmatched(&app, &["--connector", "nobody"]).await;
    assert_eq!(none, json!({ "data": [], "total": 0 }));

    // With the server stopped, the table form.
    let mut app = app;
    app.stop_server().await;
    let mut command = app.hato();
    command
        .args(["receipts", "unmatched", "--connector", "carrier-b"])
        .args(app.db.cli_args());
    let out = output(command).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two rows: {table}");
    assert!(lines[0].starts_with("RECEIVED"), "{table}");
    assert!(
        lines[1].contains("0000BEEF")
            && lines[1].contains("undelivered")
            && lines[1].contains("48879"),
        "{table}"
    );
    assert!(
        lines[2].contains("old-1") && lines[2].contains("expired"),
        "{table}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("2 of 2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut bad = app.hato();
    bad.args(["receipts", "unmatched", "--limit", "0"])
        .args(app.db.cli_args());
    assert!(!output(bad).await.status.success());
    app.shutdown().await;
}
