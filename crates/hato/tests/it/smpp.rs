//! The default carrier path: `hato serve` bound over real SMPP to its embedded SMSC simulator,
//! and to an external SMSC given as a connector. Handset replies and faults are driven through
//! the API (`/v1/simulator`), so everything crosses TCP as it would with a carrier.

use std::{process::Stdio, time::Duration};

use hato::config::{Config, ConnectorSettings, HumanDuration, ReplySettings};
use serde_json::{Value, json};
use standardwebhooks::Webhook;
use tokio_util::sync::CancellationToken;

use crate::support::{
    PATIENCE, Reply, Running, TestApp, TestDb, acme_smsc, free_loopback_addr, hato_command,
    on_both_backends, poll_for, poll_until, sink::Sink,
};

on_both_backends!(
    the_standalone_smsc_answers_by_rule,
    a_scripted_handset_answers_what_it_is_sent,
    messages_go_out_over_smpp_and_are_delivered,
    a_handset_reply_is_stored_and_announced,
    throttling_and_disconnects_lose_nothing,
    receipts_before_responses_still_deliver,
    a_message_claimed_from_the_queue_reads_as_sending_until_answered,
    an_external_smsc_replaces_the_simulator,
);

fn smpp(config: &mut Config) {
    config.simulator.transport = "smpp".into();
}

async fn send_many(app: &TestApp, count: usize, body: &str) -> Vec<String> {
    let messages: Vec<Value> = (0..count)
        .map(|i| json!({ "to": format!("+8190{:08}", 10_000_000 + i), "body": body }))
        .collect();
    let reply = app
        .post("/v1/messages/batch", &json!({ "messages": messages }))
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    reply.body["accepted"]
        .as_array()
        .expect("accepted")
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Generous: after a disconnect, parts in flight are retried only once their response times
/// out (10 s) and the reconnect backs off; this asserts that nothing is lost, not speed.
async fn until_all_delivered(app: &TestApp, count: usize) {
    poll_for(
        Duration::from_secs(90),
        "every message is delivered",
        || async {
            let delivered = app.all_messages("&status=delivered").await.len();
            (delivered == count).then_some(())
        },
    )
    .await;
}

async fn messages_go_out_over_smpp_and_are_delivered(db: TestDb) {
    let app = TestApp::start_with(db, smpp).await;
    let long_japanese = "ご予約ありがとうございます。".repeat(8);
    let sent = app
        .send(json!({ "to": "090-1234-5678", "body": long_japanese }))
        .await;
    assert_eq!(sent["segments"], 2);
    let message = app
        .until_status(sent["id"].as_str().unwrap(), "delivered")
        .await;
    assert_eq!(message["connector"], "simulator");
    assert!(
        message["timestamps"]["sent"].is_string() && message["timestamps"]["delivered"].is_string()
    );
    // The simulator's receipt says `err:000`: no error, so none is shown.
    assert!(message["error"].is_null(), "{message}");

    let connectors = app.get("/v1/connectors").await;
    assert_eq!(connectors.status, 200, "{connectors:?}");
    let simulator = &connectors.body["data"][0];
    assert_eq!(simulator["type"], "smpp");
    assert_eq!(simulator["binds"]["up"], 2, "{simulator}");
    assert_eq!(simulator["counters"]["accepted"], 2, "both parts accepted");

    let stats = app.get("/v1/simulator").await;
    assert_eq!(
        stats.body["submits_ok"], 2,
        "two submit_sm for two segments: {:?}",
        stats.body
    );
    app.shutdown().await;
}

async fn a_handset_reply_is_stored_and_announced(db: TestDb) {
    let app = TestApp::start_with(db, smpp).await;
    let sink = Sink::start().await;
    let patch = Reply::of(
        app.request(reqwest::Method::PATCH, "/v1/account")
            .json(&json!({ "webhook_url": sink.url("/hook") })),
    )
    .await;
    assert_eq!(patch.status, 200, "{patch:?}");
    let secret = app.get("/v1/account").await.body["webhook_secret"]
        .as_str()
        .unwrap()
        .to_owned();

    // Three parts sent last first: the connector must reassemble them.
    let mo = app
        .post(
            "/v1/simulator/mo",
            &json!({ "from": "090-1111-2222", "to": "12345", "body": "予約を変更したいです", "units_per_part": 4, "order": "reversed" }),
        )
        .await;
    assert_eq!(mo.status, 202, "{mo:?}");
    assert_eq!(mo.body["pdus"], 3);

    let inbound = poll_until("the reply is stored", || async {
        let messages = app.all_messages("&direction=inbound").await;
        messages.into_iter().next()
    })
    .await;
    assert_eq!(inbound["status"], "received");
    assert_eq!(inbound["body"], "予約を変更したいです");
    assert_eq!(inbound["from"], "+819011112222");
    assert_eq!(inbound["to"], "12345");

    let webhook = poll_until("message.received reaches the sink", || async {
        sink.received()
            .into_iter()
            .find(|r| r.event_type() == "message.received")
    })
    .await;
    Webhook::new(&secret)
        .unwrap()
        .verify(&webhook.body, &webhook.headers)
        .expect("the signature verifies");
    assert_eq!(webhook.json()["data"]["id"], inbound["id"]);

    // The SMSC got its acknowledgement only after storing: every part answered OK.
    let stats = app.get("/v1/simulator").await;
    assert_eq!(stats.body["deliver_ok"], 3, "{:?}", stats.body);
    app.shutdown().await;
}

async fn throttling_and_disconnects_lose_nothing(db: TestDb) {
    let app = TestApp::start_with(db, smpp).await;
    app.inject_fault(json!({ "fault": "respond_with", "status": 88, "count": 2 }))
        .await;
    let ids = send_many(&app, 50, "Your code is 123456").await;
    assert_eq!(ids.len(), 50);
    until_all_delivered(&app, 50).await;

    app.inject_fault(json!({ "fault": "disconnect_all" })).await;
    send_many(&app, 100, "after the reconnect").await;
    until_all_delivered(&app, 150).await;
    let bad = app
        .post("/v1/simulator/faults", &json!({ "fault": "explode" }))
        .await;
    bad.assert_error(422, "invalid_fault", Some("fault"));
    app.shutdown().await;
}

async fn receipts_before_responses_still_deliver(db: TestDb) {
    let app = TestApp::start_with(db, smpp).await;
    app.inject_fault(json!({ "fault": "receipts_before_responses", "count": 10 }))
        .await;
    send_many(&app, 10, "early receipt").await;
    until_all_delivered(&app, 10).await;
    app.shutdown().await;
}

/// A claim leaves the message row `queued`; its lease is what the API shows as `sending`,
/// lists under `?status=sending` and refuses to cancel, until the SMSC answers.
async fn a_message_claimed_from_the_queue_reads_as_sending_until_answered(db: TestDb) {
    let app = TestApp::start_with(db, |config| {
        smpp(config);
        config.dispatch.direct = false;
    })
    .await;
    app.inject_fault(json!({ "fault": "delay_responses", "delay_ms": 3000, "count": 1 }))
        .await;
    let accepted = app
        .send(json!({ "to": "09012345678", "body": "held at the SMSC" }))
        .await;
    assert_eq!(accepted["status"], "queued", "{accepted}");
    let id = accepted["id"].as_str().expect("id").to_owned();
    let sending = poll_until("claimed", || async {
        let message = app.get(&format!("/v1/messages/{id}")).await.body;
        (message["status"] == "sending").then_some(message)
    })
    .await;
    let since = sending["timestamps"]["sending"].clone();
    assert!(since.is_string(), "{sending}");
    let listed = app.get("/v1/messages?status=sending").await.body;
    assert_eq!(listed["data"][0]["id"], id.as_str(), "{listed}");
    let queued = app.get("/v1/messages?status=queued").await.body;
    assert_eq!(queued["data"], json!([]), "{queued}");
    app.post(&format!("/v1/messages/{id}/cancel"), &Value::Null)
        .await
        .assert_error(409, "not_cancellable", None);
    let delivered = app.until_status(&id, "delivered").await;
    assert_eq!(delivered["timestamps"]["sending"], since, "{delivered}");
    app.shutdown().await;
}

async fn an_external_smsc_replaces_the_simulator(db: TestDb) {
    let shutdown = CancellationToken::new();
    let smsc = acme_smsc(shutdown.clone()).await;
    let addr = smsc.local_addr();
    let app = TestApp::start_with(db, |config| {
        config.connectors.push(ConnectorSettings {
            bind_mode: Some("transmitter_receiver".into()),
            long_messages: Some("sar".into()),
            default_sender: Some("ACME".into()),
            ..ConnectorSettings::new(
                "acme".into(),
                addr.ip().to_string(),
                addr.port(),
                "acme".into(),
                "s3cret".into(),
            )
        });
    })
    .await;
    let sent = app
        .send(json!({ "to": "+81 80 1234 5678", "body": "€ and {braces} cost two septets" }))
        .await;
    let message = app
        .until_status(sent["id"].as_str().unwrap(), "delivered")
        .await;
    assert_eq!(message["connector"], "acme");
    let received = smsc.received_messages();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].text, "€ and {braces} cost two septets");
    assert_eq!(received[0].source, "ACME");
    let simulator = app.get("/v1/simulator").await;
    simulator.assert_error(404, "no_simulator", None);
    app.shutdown().await;
    shutdown.cancel();
}

/// The inbound messages, once there are at least `count` (handsets' answers).
async fn answers(app: &TestApp, count: usize) -> Vec<Value> {
    poll_until("the handsets answered", || async {
        let messages = app.all_messages("&direction=inbound").await;
        (messages.len() >= count).then_some(messages)
    })
    .await
}

/// The answer from `number` among `answers`.
fn answer_from<'a>(answers: &'a [Value], number: &str) -> &'a Value {
    answers
        .iter()
        .find(|m| m["from"] == number)
        .unwrap_or_else(|| panic!("no answer from {number}: {answers:?}"))
}

/// `[[simulator.replies]]`: a handset answers a reminder by rule, and the answer comes back
/// as an inbound message from that number, like a person replying. Long messages are
/// answered once, when all their parts have arrived; messages no rule matches get no answer.
async fn a_scripted_handset_answers_what_it_is_sent(db: TestDb) {
    let app = TestApp::start_with(db, |config| {
        smpp(config);
        config.simulator.replies = vec![
            ReplySettings {
                to_prefix: "+8190".into(),
                contains: "reply 1 to confirm".into(),
                reply: "1".into(),
                delay: HumanDuration(Duration::from_millis(50)),
            },
            ReplySettings {
                to_prefix: String::new(),
                contains: "ご予約".into(),
                reply: "変更したいです".into(),
                delay: HumanDuration(Duration::ZERO),
            },
        ];
    })
    .await;
    app.send(json!({ "to": "090-1111-2222", "from": "12345", "body": "Dentist at 10:00 tomorrow. Reply 1 to confirm, 2 to cancel." }))
        .await;
    // Three UCS-2 segments: answered once, after the last part.
    let long = "明日10時のご予約です。".repeat(15);
    let japanese = app
        .send(json!({ "to": "+81 80 3333 4444", "from": "12345", "body": long }))
        .await;
    assert_eq!(japanese["segments"], 3, "{japanese}");
    app.send(
        json!({ "to": "+81 90 5555 6666", "from": "12345", "body": "Your parcel is on its way" }),
    )
    .await;

    let replies = answers(&app, 2).await;
    assert_eq!(answer_from(&replies, "+819011112222")["body"], "1");
    assert_eq!(answer_from(&replies, "+819011112222")["to"], "12345");
    assert_eq!(
        answer_from(&replies, "+818033334444")["body"],
        "変更したいです"
    );
    // The third message reached its handset, which had nothing to say.
    poll_for(
        Duration::from_secs(15),
        "every message delivered",
        || async {
            let delivered = app.all_messages("&status=delivered").await;
            (delivered.len() == 3).then_some(())
        },
    )
    .await;
    let inbound = app.all_messages("&direction=inbound").await;
    assert_eq!(
        inbound.len(),
        2,
        "one answer each, none for the parcel: {inbound:?}"
    );
    // What the SMSC delivered: a receipt per part (1 + 3 + 1) and two answers. Hato stores
    // a repeated text from one number once, so this is where an answer per part would show.
    let acknowledged = poll_until("the SMSC has every acknowledgement", || async {
        let stats = app.get("/v1/simulator").await;
        let acknowledged = stats.body["deliver_ok"].as_u64().unwrap_or(0);
        (acknowledged >= 7).then_some(acknowledged)
    })
    .await;
    assert_eq!(acknowledged, 7, "an answer per part, or to the parcel");
    app.shutdown().await;
}

/// `hato smsc --reply TEXT=REPLY`: the standalone simulator's handsets answer by rule too.
async fn the_standalone_smsc_answers_by_rule(db: TestDb) {
    let port = free_loopback_addr().port();
    let mut smsc = hato_command(&db);
    smsc.args(["smsc", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--receipt-delay", "20ms", "--reply-delay", "10ms"])
        .args(["--reply", "confirm=YES", "--reply", "=?"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _smsc = Running(smsc.spawn().expect("start hato smsc"));
    poll_for(PATIENCE, "hato smsc listens", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(drop)
    })
    .await;
    let app = TestApp::start_with(db, |config| {
        config.connectors.push(ConnectorSettings::new(
            "standalone".into(),
            "127.0.0.1".into(),
            port,
            "hato".into(),
            "pw".into(),
        ));
    })
    .await;
    app.send(json!({ "to": "+81 90 1234 0000", "body": "Please CONFIRM your booking" }))
        .await;
    app.send(json!({ "to": "+81 90 1234 0001", "body": "Anything else" }))
        .await;
    let replies = answers(&app, 2).await;
    assert_eq!(answer_from(&replies, "+819012340000")["body"], "YES");
    assert_eq!(
        answer_from(&replies, "+819012340001")["body"],
        "?",
        "the catch-all rule"
    );
    app.shutdown().await;
}
