//! The CLI as an API client: `hato send` and `hato messages` against a running server.

use serde_json::Value;

use crate::support::{TestApp, TestDb, on_both_backends, output};

on_both_backends!(cli_sends_and_reads_messages);

fn client(app: &TestApp, args: &[&str]) -> std::process::Command {
    let mut command = app.hato();
    command
        .args(args)
        .env("HATO_URL", &app.base)
        .env("HATO_API_KEY", &app.key);
    command
}

async fn json_of(app: &TestApp, args: &[&str]) -> Value {
    let out = output(client(app, args)).await;
    assert!(
        out.status.success(),
        "hato {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "hato {args:?} prints JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

async fn cli_sends_and_reads_messages(db: TestDb) {
    let app = TestApp::start(db).await;
    let sent = json_of(
        &app,
        &[
            "send",
            "--to",
            "09012345678",
            "--body",
            "hi",
            "--reference",
            "cli",
        ],
    )
    .await;
    // Queued, or already handed to the dispatcher (see direct_dispatch.rs).
    assert!(
        ["queued", "sending"].contains(&sent["status"].as_str().unwrap_or("")),
        "{sent}"
    );
    assert_eq!(sent["to"], "+819012345678");
    let id = sent["id"].as_str().expect("id").to_owned();
    app.until_status(&id, "delivered").await;

    let got = json_of(&app, &["messages", "get", &id]).await;
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["status"], "delivered");
    assert_eq!(got["reference"], "cli");

    let listed = json_of(&app, &["messages", "list", "--status", "delivered"]).await;
    assert_eq!(listed["data"][0]["id"], id.as_str());
    let events = json_of(&app, &["messages", "events", &id]).await;
    assert!(
        events["data"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["status"] == "delivered")),
        "{events}"
    );

    // Idempotent retries of the command are safe.
    let first = json_of(
        &app,
        &[
            "send",
            "--to",
            "09012345678",
            "--body",
            "once",
            "--idempotency-key",
            "cli-1",
        ],
    )
    .await;
    let again = json_of(
        &app,
        &[
            "send",
            "--to",
            "09012345678",
            "--body",
            "once",
            "--idempotency-key",
            "cli-1",
        ],
    )
    .await;
    assert_eq!(first["id"], again["id"]);

    // Refusals exit non-zero and say which field.
    let bad = output(client(&app, &["send", "--to", "12", "--body", "x"])).await;
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("422") && stderr.contains("`to`"),
        "{stderr}"
    );
    let mut keyless = client(&app, &["messages", "get", &id]);
    keyless.env_remove("HATO_API_KEY");
    let keyless = output(keyless).await;
    assert!(!keyless.status.success());
    assert!(
        String::from_utf8_lossy(&keyless.stderr).contains("HATO_API_KEY"),
        "{}",
        String::from_utf8_lossy(&keyless.stderr)
    );
    app.shutdown().await;
}
