//! An ESME on smpplib (`peers/esme.py`) against Hato's simulator: bind_transceiver with
//! credentials, submit_sm of short and long texts as `smpplib.gsm.make_parts` splits them (UDH
//! and SAR, GSM-7 and UCS-2), the simulator's receipts, and MO sent with `Simulator::send_mo`.

use std::collections::HashSet;
use std::time::Duration;

use hato_smpp::LongMessageMode;
use hato_smpp::simulator::{
    DeliverKind, IdFormat, MoMessage, Simulator, SimulatorConfig, SimulatorStats,
};
use hato_smpp::status::ESME_ROK;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::peer::{PEER_TIMEOUT, PeerProcess, PythonPeers};

const SYSTEM_ID: &str = "pyesme";
const PASSWORD: &str = "secret";
const ESME_RINVPASWD: u64 = 0x0E;
const HANDSET: &str = "819012345678";

async fn simulator() -> (Simulator, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let shutdown = CancellationToken::new();
    let config = SimulatorConfig {
        credentials: Some((SYSTEM_ID.into(), PASSWORD.into())),
        // One id form, so a client that cannot normalise ids can still match its receipts.
        submit_ids: IdFormat::Hex,
        receipt_ids: IdFormat::Hex,
        ..SimulatorConfig::default()
    };
    let sim = Simulator::start(config, listener, shutdown.clone()).await;
    (sim, shutdown)
}

fn esme(python: &PythonPeers, sim: &Simulator, password: &str, spec: Value) -> PeerProcess {
    let mut spec = spec;
    spec["host"] = json!("127.0.0.1");
    spec["port"] = json!(sim.local_addr().port());
    spec["system_id"] = json!(SYSTEM_ID);
    spec["password"] = json!(password);
    spec["timeout"] = json!(PEER_TIMEOUT.as_secs() - 5);
    python.spawn("esme.py", &[&spec.to_string()])
}

async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PEER_TIMEOUT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn strs(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn smpplib_submits_short_and_long_texts_and_gets_receipts_and_mo() {
    let Some(python) = PythonPeers::find().await else {
        return;
    };
    let (sim, sim_shutdown) = simulator().await;

    let long_gsm = "Hello from smpplib. This text is long enough to need two parts. ".repeat(4);
    let long_japanese = "シミュレーターから長いメッセージを送ります。".repeat(5);
    let long_sar = "Segmented with SAR TLVs instead of a user data header. ".repeat(4);
    // (text, concat, data_coding, parts)
    let messages = [
        ("Hello @ 10:00 {ok} ~ €5", "udh", 0x00, 1),
        ("こんにちは、シミュレーター", "udh", 0x08, 1),
        (long_gsm.as_str(), "udh", 0x00, 2),
        (long_japanese.as_str(), "udh", 0x08, 2),
        (long_sar.as_str(), "sar", 0x00, 2),
    ];
    let spec_messages: Vec<Value> = messages
        .iter()
        .map(|(text, concat, _, _)| {
            json!({"text": text, "concat": concat, "source": "PyESME", "destination": HANDSET})
        })
        .collect();

    // MO: single GSM-7, single UCS-2, a long GSM-7 one in two UDH parts, a short one in
    // three SAR parts.
    let long_mo = "I would like to move my appointment to Thursday afternoon, if possible. \
                   Otherwise Friday morning works too. Please confirm by SMS. Thank you!"
        .repeat(2);
    let mut sar_mo = MoMessage::new("+819011112222", "12345", "Reply YES to confirm it.");
    sar_mo.concat = LongMessageMode::Sar;
    sar_mo.units_per_part = Some(10);
    let mos = [
        (MoMessage::new("+819011112222", "12345", "STOP"), 1),
        (MoMessage::new("+819011112222", "12345", "配信停止"), 1),
        (
            MoMessage::new("+819011112222", "12345", long_mo.as_str()),
            2,
        ),
        (sar_mo, 3),
    ];
    let mo_pdus: usize = mos.iter().map(|(_, pdus)| pdus).sum();

    let mut peer = esme(
        &python,
        &sim,
        PASSWORD,
        json!({"messages": spec_messages, "expect_mo_pdus": mo_pdus}),
    );
    let bound = peer.next_named("bound").await;
    assert_eq!(bound["event"], "bound");
    eventually("the simulator sees the bind", || sim.stats().bound == 1).await;
    for (mo, pdus) in &mos {
        assert_eq!(sim.send_mo(mo.clone()).expect("a receiver is bound"), *pdus);
    }
    let done = peer.next_named("done").await;
    assert_eq!(done["timed_out"], false, "{done:#}");
    assert_eq!(done["unbind_status"], 0, "{done:#}");

    // Every part accepted, as many parts as smpplib made.
    let submits = done["submits"].as_array().expect("submits");
    let mut submitted_ids = HashSet::new();
    for ((text, _, data_coding, parts), submit) in messages.iter().zip(submits) {
        assert_eq!(submit["parts"], *parts, "{text:?}: {submit}");
        assert_eq!(submit["data_coding"], *data_coding, "{text:?}: {submit}");
        assert_eq!(
            submit["statuses"],
            json!(vec![ESME_ROK; *parts]),
            "{submit}"
        );
        let ids = strs(&submit["message_ids"]);
        assert_eq!(ids.len(), *parts, "{submit}");
        submitted_ids.extend(ids.into_iter().map(str::to_owned));
    }

    // The simulator put smpplib's parts back together and decoded the texts.
    let total_parts: usize = messages.iter().map(|m| m.3).sum();
    eventually("every message reassembled", || {
        sim.received_messages().len() == messages.len()
    })
    .await;
    let received = sim.received_messages();
    for (text, _, _, parts) in &messages {
        let message = received
            .iter()
            .find(|m| m.text == *text)
            .unwrap_or_else(|| panic!("the simulator decoded no {text:?}: {received:#?}"));
        assert_eq!(
            (
                message.source.as_str(),
                message.destination.as_str(),
                message.parts
            ),
            ("PyESME", HANDSET, *parts)
        );
    }
    assert_eq!(sim.received().len(), total_parts);
    assert!(sim.received().iter().all(|r| r.system_id == SYSTEM_ID
        && (r.source_ton, r.destination_ton, r.destination_npi) == (5, 1, 1)));

    // One receipt per part, with the submit_sm_resp id in the TLV and the text.
    let receipts = done["receipts"].as_array().expect("receipts");
    assert_eq!(receipts.len(), total_parts, "{receipts:#?}");
    let mut receipted = HashSet::new();
    for receipt in receipts {
        assert_eq!(
            receipt["receipted_message_id"], receipt["text_id"],
            "{receipt}"
        );
        assert_eq!(receipt["stat"], "DELIVRD", "{receipt}");
        assert_eq!(receipt["message_state"], 2, "DELIVERED: {receipt}");
        assert_eq!(receipt["source_addr"], HANDSET, "{receipt}");
        assert_eq!(receipt["destination_addr"], "PyESME", "{receipt}");
        receipted.insert(receipt["text_id"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(receipted, submitted_ids);

    // The MO messages, as smpplib received them (texts decoded and parts joined by esme.py).
    let mo = done["mo"].as_array().expect("mo");
    assert_eq!(done["mo_pdus"], mo_pdus);
    let got: Vec<(&str, &str, &str, u64)> = mo
        .iter()
        .map(|m| {
            (
                m["from"].as_str().unwrap_or_default(),
                m["to"].as_str().unwrap_or_default(),
                m["text"].as_str().unwrap_or_default(),
                m["parts"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    let want: Vec<(&str, &str, &str, u64)> = mos
        .iter()
        .map(|(m, pdus)| ("819011112222", "12345", m.body.as_str(), *pdus as u64))
        .collect();
    assert_eq!(got, want);

    // smpplib answered every deliver_sm with ESME_ROK.
    eventually("every deliver_sm answered", || {
        sim.deliver_responses().len() == total_parts + mo_pdus
    })
    .await;
    let responses = sim.deliver_responses();
    assert!(responses.iter().all(|r| r.command_status == ESME_ROK));
    let mo_answered = responses
        .iter()
        .filter(|r| matches!(r.kind, DeliverKind::Mo { .. }))
        .count();
    assert_eq!(mo_answered, mo_pdus);
    let stats: SimulatorStats = sim.stats();
    assert_eq!(
        (stats.invalid_pdus, stats.generic_nacks, stats.unbinds),
        (0, 0, 1)
    );

    peer.finish().await;
    sim_shutdown.cancel();
    tokio::time::timeout(PEER_TIMEOUT, sim.stopped())
        .await
        .expect("the simulator stops");
}

#[tokio::test]
async fn smpplib_with_a_wrong_password_is_refused() {
    let Some(python) = PythonPeers::find().await else {
        return;
    };
    let (sim, sim_shutdown) = simulator().await;
    let mut peer = esme(&python, &sim, "wrong", json!({"messages": []}));
    let failed = peer.next_named("bind_failed").await;
    assert_eq!(failed["status"], ESME_RINVPASWD);
    assert_eq!(sim.stats().binds_rejected, 1);
    assert_eq!(sim.stats().binds_accepted, 0);
    peer.finish().await;
    sim_shutdown.cancel();
    tokio::time::timeout(PEER_TIMEOUT, sim.stopped())
        .await
        .expect("the simulator stops");
}
