//! Many handset messages at once: `count` on `POST /v1/simulator/mo`, and the `mo` scenario of
//! `hato bench` run for real (a small N: this checks the wiring and the counting, not speed).

use serde_json::json;

use crate::support::{
    TestApp, TestDb, bench_figure as figure, bench_report, on_both_backends, output, poll_until,
};

on_both_backends!(
    one_request_sends_many_numbered_mo_messages,
    hato_bench_mo_counts_every_message_stored_and_acknowledged,
);

async fn one_request_sends_many_numbered_mo_messages(db: TestDb) {
    let app = TestApp::start_with(db, |c| c.simulator.transport = "smpp".into()).await;
    let mo = app
        .post(
            "/v1/simulator/mo",
            &json!({ "from": "+819011112222", "to": "12345", "body": "STOP", "count": 40 }),
        )
        .await;
    assert_eq!(mo.status, 202, "{mo:?}");
    assert_eq!(mo.body, json!({ "messages": 40, "pdus": 40 }));

    // Each is stored on its own: numbered bodies are not taken for redeliveries.
    let inbound = poll_until("40 inbound messages are stored", || async {
        let listed = app.all_messages("&direction=inbound").await;
        (listed.len() >= 40).then_some(listed)
    })
    .await;
    let mut bodies: Vec<String> = inbound
        .iter()
        .map(|m| m["body"].as_str().expect("body").to_owned())
        .collect();
    bodies.sort_by_key(|b| b.trim_start_matches("STOP #").parse::<u32>().unwrap_or(0));
    let expected: Vec<String> = (1..=40).map(|i| format!("STOP #{i}")).collect();
    assert_eq!(bodies, expected);
    assert!(inbound.iter().all(|m| m["from"] == "+819011112222"));
    let stats = poll_until("the simulator saw 40 acknowledgements", || async {
        let stats = app.get("/v1/simulator").await.body;
        (stats["deliver_ok"] == 40).then_some(stats)
    })
    .await;
    assert_eq!(stats["deliver_failed"], 0, "{stats}");
    // `hato serve` binds twice as a transceiver; the MOs went out over those sessions.
    let sessions = stats["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 2, "{stats}");
    assert!(
        sessions.iter().all(|s| s["role"] == "transceiver"),
        "{stats}"
    );
    let delivers: u64 = sessions
        .iter()
        .map(|s| s["delivers"].as_u64().unwrap())
        .sum();
    assert_eq!(delivers, 40, "{stats}");

    // One message keeps its body as written; out-of-range counts are refused.
    let one = app
        .post(
            "/v1/simulator/mo",
            &json!({ "from": "+819011112222", "to": "12345", "body": "HELP" }),
        )
        .await;
    assert_eq!(one.body["messages"], 1, "{one:?}");
    poll_until("HELP is stored as written", || async {
        let listed = app.all_messages("&direction=inbound").await;
        listed.iter().any(|m| m["body"] == "HELP").then_some(())
    })
    .await;
    for count in [0, 1_000_001] {
        app.post(
            "/v1/simulator/mo",
            &json!({ "from": "+819011112222", "to": "12345", "body": "x", "count": count }),
        )
        .await
        .assert_error(422, "invalid_count", Some("count"));
    }
    app.shutdown().await;
}

async fn hato_bench_mo_counts_every_message_stored_and_acknowledged(db: TestDb) {
    let report = bench_report(&db, &["--scenario", "mo", "--messages", "500"]).await;
    assert_eq!(report["scenario"], "mo");
    assert_eq!(figure(&report, "stored"), 500.0, "{report}");
    assert_eq!(figure(&report, "acknowledged"), 500.0, "{report}");
    assert_eq!(figure(&report, "refused"), 0.0, "{report}");
    assert_eq!(figure(&report, "duplicates"), 0.0, "{report}");
    assert!(figure(&report, "mo_rate") > 0.0, "{report}");
    // Storing 500 messages took write transactions, and the bench saw them in /metrics.
    assert!(
        figure(&report, "store_write_us_per_message") > 0.0,
        "{report}"
    );
    assert!(figure(&report, "store_write_busy") > 0.0, "{report}");

    // The inline carrier has no simulator to send MO messages: refused up front.
    let mut inline = crate::support::hato_command(&db);
    inline.args(["bench", "--scenario", "mo", "--transport", "inline"]);
    let refused = output(inline).await;
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--scenario mo needs"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
