//! Configuration through `HATO_*` environment variables, on the real binary: the variables
//! override `hato.toml` (top-level and nested settings, `__` between levels), the server
//! listens and writes where they say, and a bad value stops it with a message naming it.

use std::{
    net::SocketAddr,
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use hato_core::MessageId;
use hato_store::{Store, StoreOptions};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::support::{
    PATIENCE, Reply, Running, TestDb, acme_smsc, free_loopback_addr, hato_command,
    on_both_backends, output, poll_for,
};

on_both_backends!(hato_variables_configure_the_server);
on_both_backends!(connectors_and_routes_come_from_the_environment);

/// What the file says; the environment says otherwise for each of these.
const FILE: &str = r#"
default_region = "GB"

[simulator]
transport = "smpp"
"#;

/// `hato` with the test's settings in the environment only.
fn with_env(db: &TestDb, data_dir: &Path, listen: SocketAddr) -> Command {
    let mut command = hato_command(db);
    command
        .env("HATO_LISTEN", listen.to_string())
        .env("HATO_DEFAULT_REGION", "US")
        .env("HATO_SIMULATOR__TRANSPORT", "inline")
        .env("HATO_SIMULATOR__REPORT_DELAY", "20ms");
    match &db.postgres {
        Some(pg) => command.env("HATO_DATABASE_URL", &pg.url),
        None => command.env("HATO_DATA_DIR", data_dir),
    };
    command
}

/// Runs `hato keys create` as `command` is configured; the key it printed.
async fn create_key(mut command: Command) -> String {
    command.args(["keys", "create", "--name", "env"]);
    let created = output(command).await;
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    String::from_utf8(created.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// Starts `hato serve` as `command` is configured, its log in `log`.
fn serve(mut command: Command, log: &Path) -> Running {
    let log = std::fs::File::create(log).expect("log");
    Running(
        command
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start hato serve"),
    )
}

/// Sends one message to a US number and waits until it is delivered; its JSON then.
async fn send_until_delivered(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    body: &str,
) -> serde_json::Value {
    let sent = Reply::of(
        http.post(format!("{base}/v1/messages"))
            .bearer_auth(key)
            .json(&json!({ "to": "(202) 555-0123", "body": body })),
    )
    .await;
    assert_eq!(sent.status, 202, "{sent:?}");
    let id = sent.body["id"].as_str().expect("id").to_owned();
    poll_for(PATIENCE, "the message is delivered", || async {
        let got = Reply::of(
            http.get(format!("{base}/v1/messages/{id}"))
                .bearer_auth(key),
        )
        .await;
        (got.body["status"] == "delivered").then_some(got.body)
    })
    .await
}

/// Starts `command` as `hato serve`, which must refuse to start; its standard error.
async fn refused_start(mut command: Command) -> String {
    command.arg("serve");
    let refused = tokio::time::timeout(Duration::from_secs(60), output(command))
        .await
        .expect("a refused start ends at once");
    assert!(!refused.status.success());
    String::from_utf8_lossy(&refused.stderr).into_owned()
}

async fn hato_variables_configure_the_server(db: TestDb) {
    std::fs::write(db.dir.path().join("hato.toml"), FILE).expect("hato.toml");
    let data_dir = db.dir.path().join("data-from-env");
    let listen = free_loopback_addr();

    // `hato keys create` finds the database through the same variables.
    let key = create_key(with_env(&db, &data_dir, listen)).await;
    let mut server = serve(
        with_env(&db, &data_dir, listen),
        &db.dir.path().join("serve.log"),
    );
    let http = reqwest::Client::new();
    let base = format!("http://{listen}");
    // Listens where HATO_LISTEN says.
    poll_for(PATIENCE, "hato serve answers on HATO_LISTEN", || async {
        let ready = http.get(format!("{base}/readyz")).send().await.ok()?;
        ready.status().is_success().then_some(())
    })
    .await;

    // HATO_SIMULATOR__TRANSPORT (nested) beat the file: no SMSC simulator behind the API.
    let simulator = Reply::of(http.get(format!("{base}/v1/simulator")).bearer_auth(&key)).await;
    simulator.assert_error(404, "no_simulator", None);
    // HATO_DEFAULT_REGION beat the file: a US number without its country code.
    let delivered = send_until_delivered(&http, &base, &key, "configured by the environment").await;
    assert_eq!(delivered["to"], "+12025550123");
    let id = delivered["id"].as_str().expect("id").to_owned();

    // SIGTERM, then the database is where the variables said.
    let term = output({
        let mut kill = Command::new("kill");
        kill.args(["-TERM", &server.0.id().to_string()]);
        kill
    })
    .await;
    assert!(term.status.success());
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let exited = loop {
        if let Some(status) = server.0.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "hato serve did not exit within {PATIENCE:?} of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exited.success(), "{exited:?}");
    let url = match &db.postgres {
        Some(pg) => pg.url.clone(),
        None => {
            assert!(
                data_dir.join("hato.db").is_file(),
                "SQLite in HATO_DATA_DIR"
            );
            assert!(
                !db.dir.path().join("hato-data").exists(),
                "nothing in the default ./hato-data"
            );
            format!("sqlite://{}", data_dir.join("hato.db").display())
        }
    };
    let store = Store::open(&url, StoreOptions::default())
        .await
        .expect("open the store");
    let account = store
        .authenticate(&hato_api::keys::hash_key(&key))
        .await
        .expect("authenticate")
        .expect("the key is in this database")
        .account_id;
    let stored = store
        .message(&account, &MessageId::from_trusted(id.clone()))
        .await
        .expect("read");
    store.close().await;
    assert_eq!(
        stored.map(|m| m.status),
        Some(hato_core::MessageStatus::Delivered),
        "{id} is in the database HATO_* named"
    );

    // A bad value is refused at start, naming the setting's value and what is expected.
    let mut bad = with_env(&db, &data_dir, free_loopback_addr());
    bad.env("HATO_WEBHOOKS__TIMEOUT", "soon");
    let stderr = refused_start(bad).await;
    assert!(
        stderr.contains("`soon` is not a duration"),
        "the error names the value: {stderr}"
    );
}

/// `[[connectors]]` and `[[routes]]` as inline arrays of tables in `HATO_CONNECTORS` and
/// `HATO_ROUTES`, for deployments configured by environment only (containers): the server
/// binds to the SMSC they name, routes by them, and sends through it.
async fn connectors_and_routes_come_from_the_environment(db: TestDb) {
    let shutdown = CancellationToken::new();
    let smsc = acme_smsc(shutdown.clone()).await;
    let port = smsc.local_addr().port();
    let data_dir = db.dir.path().join("data-from-env");
    let listen = free_loopback_addr();
    let configure = |command: &mut Command| {
        command
            .env(
                "HATO_CONNECTORS",
                format!(
                    r#"[{{name="from-env", host="127.0.0.1", port={port}, system_id="acme", password="s3cret", binds=1}}]"#
                ),
            )
            .env("HATO_ROUTES", r#"[{prefixes=["+1"], connectors=["from-env"]}]"#);
    };

    let mut create = with_env(&db, &data_dir, listen);
    configure(&mut create);
    let key = create_key(create).await;
    let mut command = with_env(&db, &data_dir, listen);
    configure(&mut command);
    let _server = serve(command, &db.dir.path().join("serve-connectors.log"));
    let http = reqwest::Client::new();
    let base = format!("http://{listen}");
    poll_for(
        PATIENCE,
        "the connector from HATO_CONNECTORS is bound",
        || async {
            let list = http
                .get(format!("{base}/v1/connectors"))
                .bearer_auth(&key)
                .send()
                .await
                .ok()?;
            let list: serde_json::Value = list.json().await.ok()?;
            let connector = &list["data"][0];
            (connector["name"] == "from-env" && connector["binds"]["up"] == 1).then_some(())
        },
    )
    .await;
    let delivered = send_until_delivered(&http, &base, &key, "routed by HATO_ROUTES").await;
    assert_eq!(delivered["connector"], "from-env");
    assert_eq!(smsc.stats().submits_ok, 1, "sent through the SMSC named");

    // A malformed value is refused at start with the setting named.
    let mut bad = with_env(&db, &data_dir, free_loopback_addr());
    bad.env("HATO_CONNECTORS", r#"[{name="x", port=2775}]"#);
    let stderr = refused_start(bad).await;
    assert!(
        stderr.contains("host"),
        "the error names the missing field: {stderr}"
    );
    shutdown.cancel();
}
