//! `hato bench`'s load generator run for real against a server (a small N: this checks that
//! every request is sent, answered and counted, not speed).

use crate::support::{
    TestApp, TestDb, bench_figure as figure, bench_report, on_both_backends, output,
};

on_both_backends!(
    hato_bench_single_over_smpp_counts_every_message_sent_and_delivered,
    requests_the_server_refuses_are_failures_with_its_answer,
);

async fn hato_bench_single_over_smpp_counts_every_message_sent_and_delivered(db: TestDb) {
    let report = bench_report(
        &db,
        &[
            "--scenario",
            "single",
            "--transport",
            "smpp",
            "--messages",
            "300",
            // Each of the 8 workers opens a connection of its own.
            "--concurrency",
            "8",
        ],
    )
    .await;
    assert_eq!(report["scenario"], "single");
    // The end-to-end figure exists only once all 300 were seen delivered.
    assert!(figure(&report, "e2e_rate") > 0.0, "{report}");
    assert!(figure(&report, "accepted_rate") > 0.0, "{report}");
    assert_eq!(figure(&report, "errors"), 0.0, "{report}");
    assert!(figure(&report, "p50_ms") > 0.0, "{report}");
    // CPU per message, the server's and its store writer thread's (read from /proc).
    assert!(
        figure(&report, "server_cpu_us_per_message") > 0.0,
        "{report}"
    );
    assert!(
        figure(&report, "writer_cpu_us_per_message") >= 0.0,
        "{report}"
    );
}

async fn requests_the_server_refuses_are_failures_with_its_answer(db: TestDb) {
    let app = TestApp::start(db).await;
    let mut bench = crate::support::hato_command(&app.db);
    bench.args([
        "bench",
        "--scenario",
        "single",
        "--url",
        &app.base,
        "--api-key",
        "hato_sk_not_a_key",
        "--messages",
        "20",
        "--concurrency",
        "4",
        "--runs",
        "1",
    ]);
    let out = output(bench).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    // The status and the start of the server's own error envelope.
    assert!(
        stderr.contains("no message was accepted: 401") && stderr.contains("\"error\""),
        "{stderr}"
    );
    app.shutdown().await;
}
