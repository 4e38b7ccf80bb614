//! API keys through the real CLI, and the walls between accounts.

use reqwest::Method;
use serde_json::json;

use crate::support::{Reply, TestApp, TestDb, on_both_backends, output};

on_both_backends!(
    cli_keys_create_list_and_revoke,
    requests_without_a_key_are_refused,
    accounts_see_only_their_own_messages,
);

async fn run(app: &TestApp, args: &[&str]) -> std::process::Output {
    let mut command = app.hato();
    command.args(args).args(app.db.cli_args());
    let output = output(command).await;
    assert!(
        output.status.success(),
        "hato {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

async fn cli_keys_create_list_and_revoke(db: TestDb) {
    let app = TestApp::start(db).await;

    let created = run(
        &app,
        &["keys", "create", "--name", "ci-bot", "--account", "acme"],
    )
    .await;
    let stdout = String::from_utf8(created.stdout).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "the key alone on stdout: {stdout:?}");
    let key = lines[0];
    assert!(key.starts_with("hato_sk_") && key.len() > 20, "{key}");

    // The key works, for the account it was made for.
    let account = Reply::of(app.request_as(key, Method::GET, "/v1/account")).await;
    assert_eq!(account.status, 200, "{account:?}");
    assert_eq!(account.body["name"], "acme");
    let sent = Reply::of(
        app.request_as(key, Method::POST, "/v1/messages")
            .json(&json!({"to": "09012345678", "body": "hi"})),
    )
    .await;
    assert_eq!(sent.status, 202, "{sent:?}");

    // Listed by name and id, never with its secret.
    let listed = run(&app, &["keys", "list", "--account", "acme"]).await;
    let listing = String::from_utf8(listed.stdout).expect("utf-8");
    assert!(!listing.contains(key), "the secret is never listed");
    let row = listing
        .lines()
        .find(|line| line.contains("ci-bot"))
        .unwrap_or_else(|| panic!("the key is listed: {listing}"));
    assert!(row.contains("acme"), "{row}");
    assert!(row.trim_end().ends_with('-'), "not revoked yet: {row}");
    let key_id = row.split_whitespace().next().expect("id column");
    assert!(key_id.starts_with("key_"), "{row}");

    // Revoked while the server runs: refused once the server's memory of the key
    // (`api_key_cache`, 1 s by default) has run out.
    run(&app, &["keys", "revoke", key_id]).await;
    let revoked_at = std::time::Instant::now();
    let refused = loop {
        let reply = Reply::of(app.request_as(key, Method::GET, "/v1/messages")).await;
        if reply.status != 200 || revoked_at.elapsed() > std::time::Duration::from_secs(5) {
            break reply;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    refused.assert_error(401, "invalid_api_key", Some("Authorization"));
    let listing = String::from_utf8(run(&app, &["keys", "list"]).await.stdout).expect("utf-8");
    let row = listing
        .lines()
        .find(|line| line.contains(key_id))
        .expect("still listed");
    assert!(!row.trim_end().ends_with('-'), "shown revoked: {row}");
    // The default account's key is untouched.
    assert_eq!(app.get("/v1/messages").await.status, 200);

    let mut command = app.hato();
    command
        .args(["keys", "revoke", "key_doesnotexist"])
        .args(app.db.cli_args());
    let unknown = output(command).await;
    assert!(!unknown.status.success(), "revoking an unknown key fails");
    app.shutdown().await;
}

async fn requests_without_a_key_are_refused(db: TestDb) {
    let app = TestApp::start(db).await;
    for path in ["/v1/messages", "/v1/account", "/v1/messages/msg_x"] {
        let reply = Reply::of(app.http.get(app.url(path))).await;
        reply.assert_error(401, "missing_api_key", Some("Authorization"));
    }
    let basic = Reply::of(
        app.http
            .get(app.url("/v1/messages"))
            .header("authorization", "Basic dXNlcjpwYXNz"),
    )
    .await;
    basic.assert_error(401, "missing_api_key", Some("Authorization"));
    let wrong = Reply::of(app.request_as("hato_sk_nope", Method::GET, "/v1/messages")).await;
    wrong.assert_error(401, "invalid_api_key", Some("Authorization"));
    let send = Reply::of(
        app.http
            .post(app.url("/v1/messages"))
            .json(&json!({"to": "09012345678", "body": "hi"})),
    )
    .await;
    send.assert_error(401, "missing_api_key", Some("Authorization"));
    assert!(app.all_messages("").await.is_empty(), "nothing was stored");
    app.shutdown().await;
}

async fn accounts_see_only_their_own_messages(db: TestDb) {
    let app = TestApp::start(db).await;
    let other = app.create_key("other").await;
    let mine = app
        .send(json!({"to": "09012345678", "body": "for A", "send_at": crate::support::time_from_now(std::time::Duration::from_secs(3600))}))
        .await;
    let id = mine["id"].as_str().expect("id");

    for path in [
        format!("/v1/messages/{id}"),
        format!("/v1/messages/{id}/events"),
    ] {
        let reply = Reply::of(app.request_as(&other, Method::GET, &path)).await;
        reply.assert_error(404, "not_found", None);
    }
    let cancel =
        Reply::of(app.request_as(&other, Method::POST, &format!("/v1/messages/{id}/cancel"))).await;
    cancel.assert_error(404, "not_found", None);
    assert!(app.all_messages_as(&other, "").await.is_empty());

    // B's own message is invisible to A the same way.
    let theirs = Reply::of(
        app.request_as(&other, Method::POST, "/v1/messages")
            .json(&json!({"to": "09012345678", "body": "for B"})),
    )
    .await;
    assert_eq!(theirs.status, 202);
    let theirs_id = theirs.body["id"].as_str().expect("id");
    app.get(&format!("/v1/messages/{theirs_id}"))
        .await
        .assert_error(404, "not_found", None);
    let listed: Vec<_> = app.all_messages("").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id);

    // A's message was not cancelled by B's attempt.
    let still = app.get(&format!("/v1/messages/{id}")).await;
    assert_eq!(still.body["status"], "scheduled");
    app.shutdown().await;
}
