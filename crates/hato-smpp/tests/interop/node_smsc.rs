//! Hato's connector (ESME) against an SMSC on node-smpp (`peers/smsc.js`): binds, submits in
//! GSM-7 and UCS-2 and every long-message scheme as node-smpp decodes them, text delivery
//! receipts back as `ConnectorEvent::Receipt`, and MO (single and UDH-concatenated) as
//! `ConnectorEvent::Inbound`, answered `ESME_ROK` only once acked.

use std::collections::HashSet;
use std::time::Duration;

use hato_core::{PhoneNumber, Sender};
use hato_smpp::{
    BindMode, Connector, ConnectorConfig, ConnectorEvent, DeliveryReceipt, InboundSms,
    LongMessageMode, OutboundSms, ReceiptState, SubmitOutcome, canonical_message_id,
};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::peer::{NodePeers, PEER_TIMEOUT, PeerProcess, named};

const SYSTEM_ID: &str = "hato";
const PASSWORD: &str = "secret";
const ESME_RINVPASWD: u64 = 0x0E;

/// The node-smpp SMSC on a free loopback port.
struct NodeSmsc {
    peer: PeerProcess,
    port: u16,
}

async fn node_smsc() -> Option<NodeSmsc> {
    let peers = NodePeers::find().await?;
    let mut peer = peers.spawn("smsc.js", &["0", SYSTEM_ID, PASSWORD]);
    let port = peer.ready().await;
    Some(NodeSmsc { peer, port })
}

/// A connector towards the node SMSC, and its events.
struct Hato {
    connector: Connector,
    events: mpsc::Receiver<ConnectorEvent>,
    shutdown: CancellationToken,
}

fn config(port: u16) -> ConnectorConfig {
    let mut config = ConnectorConfig::new("node", "127.0.0.1", port, SYSTEM_ID, PASSWORD);
    config.response_timeout = Duration::from_secs(5);
    config.reconnect_min = Duration::from_millis(50);
    config.reconnect_max = Duration::from_millis(500);
    config
}

impl Hato {
    fn start(config: ConnectorConfig) -> Hato {
        let (tx, events) = mpsc::channel(256);
        let shutdown = CancellationToken::new();
        let connector = Connector::start(config, tx, shutdown.clone()).expect("valid config");
        Hato {
            connector,
            events,
            shutdown,
        }
    }

    async fn bound(config: ConnectorConfig) -> Hato {
        let sessions = config.sessions();
        let hato = Hato::start(config);
        let connector = hato.connector.clone();
        eventually("the connector bound to node-smpp", || {
            connector.snapshot().binds_up == sessions
        })
        .await;
        hato
    }

    async fn next_event(&mut self) -> ConnectorEvent {
        tokio::time::timeout(PEER_TIMEOUT, self.events.recv())
            .await
            .expect("a connector event in time")
            .expect("event channel open")
    }

    async fn receipt(&mut self) -> (DeliveryReceipt, oneshot::Sender<bool>) {
        loop {
            match self.next_event().await {
                ConnectorEvent::Receipt { receipt, ack } => return (receipt, ack),
                ConnectorEvent::Inbound { message, .. } => panic!("unexpected inbound {message:?}"),
                ConnectorEvent::BindChanged { .. } => {}
            }
        }
    }

    async fn inbound(&mut self) -> (InboundSms, oneshot::Sender<bool>) {
        loop {
            match self.next_event().await {
                ConnectorEvent::Inbound { message, ack } => return (message, ack),
                ConnectorEvent::Receipt { receipt, .. } => panic!("unexpected receipt {receipt:?}"),
                ConnectorEvent::BindChanged { .. } => {}
            }
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(PEER_TIMEOUT, self.connector.stopped())
            .await
            .expect("the connector stops");
    }
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

fn sms(body: &str) -> OutboundSms {
    OutboundSms {
        source: Sender::Alphanumeric("Hato".into()),
        destination: PhoneNumber::from_trusted("+819012345678".into()),
        body: body.into(),
        request_receipt: true,
        validity: None,
    }
}

async fn accepted(connector: &Connector, body: &str) -> Vec<String> {
    match tokio::time::timeout(PEER_TIMEOUT, connector.submit(sms(body)))
        .await
        .expect("submit answered in time")
    {
        SubmitOutcome::Accepted { message_ids } => message_ids,
        other => panic!("{body:?} not accepted by node-smpp: {other:?}"),
    }
}

/// node-smpp's `submit_sm` events for these ids, in id order.
fn submits_for<'a>(events: &'a [Value], ids: &[String]) -> Vec<&'a Value> {
    ids.iter()
        .map(|id| {
            named(events, "submit_sm")
                .into_iter()
                .find(|e| e["message_id"] == id.as_str())
                .unwrap_or_else(|| panic!("node-smpp saw no submit_sm given id {id}"))
        })
        .collect()
}

fn text(event: &Value) -> &str {
    event["text"].as_str().unwrap_or_default()
}

/// Checks what node-smpp decoded of one message: addresses, coding, and the parts' headers
/// (8-bit reference concatenation, information element 0x00) put back into `body`.
fn check_as_decoded(submits: &[&Value], body: &str, data_coding: u64) {
    let total = submits.len();
    let mut whole = String::new();
    let mut reference = None;
    for (i, submit) in submits.iter().enumerate() {
        assert_eq!(
            (
                submit["source_addr_ton"].as_u64(),
                submit["source_addr_npi"].as_u64(),
                submit["source_addr"].as_str(),
            ),
            (Some(5), Some(0), Some("Hato")),
            "{submit}"
        );
        assert_eq!(
            (
                submit["dest_addr_ton"].as_u64(),
                submit["dest_addr_npi"].as_u64(),
                submit["destination_addr"].as_str(),
            ),
            (Some(1), Some(1), Some("819012345678")),
            "{submit}"
        );
        assert_eq!(
            submit["data_coding"].as_u64(),
            Some(data_coding),
            "{submit}"
        );
        assert_eq!(submit["registered_delivery"].as_u64(), Some(1), "{submit}");
        let esm_class = submit["esm_class"].as_u64().unwrap_or_default();
        let udh: Vec<&str> = submit["udh"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if total == 1 {
            assert_eq!(esm_class & 0x40, 0, "{submit}");
            assert!(udh.is_empty(), "{submit}");
        } else {
            assert_eq!(esm_class & 0x40, 0x40, "UDHI set: {submit}");
            let [element] = udh.as_slice() else {
                panic!("one information element expected: {submit}");
            };
            // 00 03 <ref> <total> <seq>
            assert_eq!(element.len(), 10, "{submit}");
            assert_eq!(&element[..4], "0003", "{submit}");
            let this_reference = &element[4..6];
            assert_eq!(*reference.get_or_insert(this_reference), this_reference);
            assert_eq!(
                &element[6..],
                format!("{total:02x}{:02x}", i + 1),
                "{submit}"
            );
        }
        whole.push_str(text(submit));
    }
    assert_eq!(whole, body, "node-smpp decoded another text");
}

#[tokio::test]
async fn hato_submits_gsm7_ucs2_and_long_messages_and_gets_receipts_from_node_smpp() {
    let Some(mut smsc) = node_smsc().await else {
        return;
    };
    let mut hato = Hato::bound(config(smsc.port)).await;

    // GSM-7 with the escape table ({ } ~ €) and '@' (0x00); UCS-2 Japanese; long ones of each.
    let gsm = "Hato @ 10:00: 50% off {today} ~ only €5!";
    let japanese = "こんにちは、ハトです。明日10時のご予約を承りました。";
    let long_gsm = "Your appointment on Tuesday at 10:00 is confirmed. ".repeat(4);
    let long_japanese = "ご予約の変更は、このメッセージに返信してください。".repeat(4);
    let cases: [(&str, u64, usize); 4] = [
        (gsm, 0x00, 1),
        (japanese, 0x08, 1),
        (&long_gsm, 0x00, 2),
        (&long_japanese, 0x08, 2),
    ];

    let mut all_ids = Vec::new();
    for (body, data_coding, parts) in cases {
        let ids = accepted(&hato.connector, body).await;
        assert_eq!(ids.len(), parts, "{body:?}");
        smsc.peer
            .wait_until("the submit_sm of every part", |events| {
                ids.iter().all(|id| {
                    named(events, "submit_sm")
                        .iter()
                        .any(|e| e["message_id"] == id.as_str())
                })
            })
            .await;
        check_as_decoded(&submits_for(&smsc.peer.events, &ids), body, data_coding);
        all_ids.extend(ids);
    }

    // One text receipt per part, each matched to the id submit_sm_resp gave it.
    let mut expected: HashSet<String> = all_ids.iter().map(|id| canonical_message_id(id)).collect();
    while !expected.is_empty() {
        let (receipt, ack) = hato.receipt().await;
        assert!(
            expected.remove(&canonical_message_id(&receipt.message_id)),
            "a receipt for an unknown or repeated id: {receipt:?} (waiting for {expected:?})"
        );
        assert_eq!(receipt.connector, "node");
        assert_eq!(receipt.state, ReceiptState::Delivered, "{receipt:?}");
        assert_eq!(receipt.error_code, None, "err:000 is no error: {receipt:?}");
        assert_eq!(receipt.recipient, "+819012345678", "{receipt:?}");
        assert!(receipt.submit_date.is_some() && receipt.done_date.is_some());
        ack.send(true).expect("connector waits for the ack");
    }
    let receipts = all_ids.len();
    smsc.peer
        .wait_until("a deliver_sm_resp for every receipt", |events| {
            receipt_responses(events).len() == receipts
        })
        .await;
    assert!(
        receipt_responses(&smsc.peer.events)
            .iter()
            .all(|r| r["command_status"] == 0),
        "{:#?}",
        receipt_responses(&smsc.peer.events)
    );

    hato.stop().await;
    smsc.peer.finish().await;
}

fn receipt_responses(events: &[Value]) -> Vec<&Value> {
    responses(events, "receipt:")
}

fn responses<'a>(events: &'a [Value], tag_prefix: &str) -> Vec<&'a Value> {
    named(events, "deliver_sm_resp")
        .into_iter()
        .filter(|e| {
            e["tag"]
                .as_str()
                .is_some_and(|tag| tag.starts_with(tag_prefix))
        })
        .collect()
}

#[tokio::test]
async fn node_smpp_mo_single_and_concatenated_reach_hato_and_are_acked() {
    let Some(mut smsc) = node_smsc().await else {
        return;
    };
    let mut hato = Hato::bound(config(smsc.port)).await;

    let singles = [("STOP", 0x00, "gsm"), ("配信停止", 0x08, "ucs2")];
    for (body, data_coding, tag) in singles {
        smsc.peer
            .send(&json!({
                "cmd": "mo", "from": "819011112222", "to": "12345",
                "text": body, "data_coding": data_coding, "tag": tag,
            }))
            .await;
        let (message, ack) = hato.inbound().await;
        assert_eq!(
            (
                message.from.as_str(),
                message.to.as_str(),
                message.body.as_str(),
                message.parts
            ),
            ("+819011112222", "12345", body, 1)
        );
        ack.send(true).expect("connector waits for the ack");
        let response = smsc.peer.next_named("deliver_sm_resp").await;
        assert_eq!(
            (
                response["tag"].as_str(),
                response["command_status"].as_u64()
            ),
            (Some(tag), Some(0))
        );
    }

    let concatenated = [
        (
            [
                "Reply 1 to confirm, 2 to cancel, ",
                "3 to move it to next week.",
            ],
            0x00,
            "concat-gsm",
            42,
        ),
        (
            ["来週の火曜日は", "空いていますか？"],
            0x08,
            "concat-ucs2",
            255,
        ),
    ];
    for (parts, data_coding, tag, reference) in concatenated {
        smsc.peer
            .send(&json!({
                "cmd": "mo", "from": "819011112222", "to": "12345", "parts": parts,
                "data_coding": data_coding, "tag": tag, "reference": reference,
            }))
            .await;
        let (message, ack) = hato.inbound().await;
        assert_eq!(message.body, parts.concat(), "{tag}");
        assert_eq!(message.parts, 2, "{tag}");
        assert_eq!(message.from, "+819011112222");
        // Neither part is answered before the whole message is acked.
        smsc.peer.read_for(Duration::from_millis(150)).await;
        assert!(
            responses(&smsc.peer.events, tag).is_empty(),
            "{tag}: answered before the ack"
        );
        ack.send(true).expect("connector waits for the ack");
        smsc.peer
            .wait_until("both parts answered", |events| {
                responses(events, tag).len() == 2
            })
            .await;
        assert!(
            responses(&smsc.peer.events, tag)
                .iter()
                .all(|r| r["command_status"] == 0),
            "{tag}"
        );
    }

    hato.stop().await;
    smsc.peer.finish().await;
}

#[tokio::test]
async fn node_smpp_mo_in_udh16_sar_and_message_payload() {
    let Some(mut smsc) = node_smsc().await else {
        return;
    };
    let mut hato = Hato::bound(config(smsc.port)).await;

    // Text alone in message_payload, short_message empty.
    let body = "A reply carried in message_payload rather than short_message.";
    smsc.peer
        .send(&json!({
            "cmd": "mo", "from": "819011112222", "to": "12345", "text": body,
            "data_coding": 0, "scheme": "payload", "tag": "payload",
        }))
        .await;
    let (message, ack) = hato.inbound().await;
    assert_eq!((message.body.as_str(), message.parts), (body, 1));
    ack.send(true).expect("connector waits for the ack");

    let parts = ["Part one of three, ", "part two of three, ", "part three."];
    for (scheme, data_coding, reference) in [
        ("udh16", 0x00, 0x1234),
        ("sar", 0x00, 0x4321),
        ("payload", 0x00, 7),
        ("payload", 0x08, 8),
    ] {
        let tag = format!("{scheme}-{data_coding}");
        smsc.peer
            .send(&json!({
                "cmd": "mo", "from": "819011112222", "to": "12345", "parts": parts,
                "data_coding": data_coding, "scheme": scheme, "reference": reference,
                "tag": tag,
            }))
            .await;
        let (message, ack) = hato.inbound().await;
        assert_eq!(
            (message.body.as_str(), message.parts),
            (parts.concat().as_str(), 3),
            "{tag}"
        );
        ack.send(true).expect("connector waits for the ack");
        smsc.peer
            .wait_until("every part answered", |events| {
                responses(events, &tag).len() == 3
            })
            .await;
        assert!(
            responses(&smsc.peer.events, &tag)
                .iter()
                .all(|r| r["command_status"] == 0),
            "{tag}"
        );
    }
    hato.stop().await;
    smsc.peer.finish().await;
}

#[tokio::test]
async fn transmitter_and_receiver_binds_work_with_node_smpp() {
    let Some(mut smsc) = node_smsc().await else {
        return;
    };
    let mut config = config(smsc.port);
    config.bind_mode = BindMode::TransmitterReceiver;
    config.enquire_link_interval = Duration::from_millis(100);
    let mut hato = Hato::bound(config).await;
    smsc.peer
        .wait_until("both binds", |events| named(events, "bind").len() == 2)
        .await;
    let commands: HashSet<&str> = smsc
        .peer
        .named("bind")
        .iter()
        .filter_map(|b| b["command"].as_str())
        .collect();
    assert_eq!(
        commands,
        HashSet::from(["bind_transmitter", "bind_receiver"])
    );

    let mut message = sms("Sent on the transmitter, valid for two hours");
    message.validity = Some(Duration::from_secs(2 * 3600));
    let ids = match tokio::time::timeout(PEER_TIMEOUT, hato.connector.submit(message)).await {
        Ok(SubmitOutcome::Accepted { message_ids }) => message_ids,
        other => panic!("not accepted: {other:?}"),
    };
    smsc.peer
        .wait_until("the submit_sm", |events| {
            !named(events, "submit_sm").is_empty()
        })
        .await;
    let validity = smsc.peer.named("submit_sm")[0]["validity_seconds"]
        .as_i64()
        .expect("node-smpp read a validity period");
    assert!((7140..=7200).contains(&validity), "{validity} s");
    let (receipt, ack) = hato.receipt().await;
    assert_eq!(
        canonical_message_id(&receipt.message_id),
        canonical_message_id(&ids[0])
    );
    ack.send(true).expect("connector waits for the ack");
    smsc.peer
        .send(&json!({"cmd": "mo", "from": "819011112222", "to": "12345", "text": "YES"}))
        .await;
    let (message, ack) = hato.inbound().await;
    assert_eq!(message.body, "YES");
    ack.send(true).expect("connector waits for the ack");
    smsc.peer
        .wait_until("receipt and MO answered", |events| {
            named(events, "deliver_sm_resp").len() == 2
        })
        .await;
    // Keepalive on both sessions, then an unbind from each on shutdown.
    smsc.peer
        .wait_until("enquire_link on both sessions", |events| {
            sessions(events, "enquire_link").len() == 2
        })
        .await;
    hato.stop().await;
    smsc.peer
        .wait_until("an unbind from each session", |events| {
            sessions(events, "unbind").len() == 2
        })
        .await;
    smsc.peer.finish().await;
}

/// The sessions that sent an `event`.
fn sessions(events: &[Value], event: &str) -> HashSet<u64> {
    named(events, event)
        .iter()
        .filter_map(|e| e["session"].as_u64())
        .collect()
}

#[tokio::test]
async fn sar_udh16_and_payload_schemes_as_node_smpp_reads_them() {
    let Some(mut smsc) = node_smsc().await else {
        return;
    };
    let body = "A long message, sent in every concatenation scheme Hato supports. ".repeat(3);
    for mode in [
        LongMessageMode::Udh16,
        LongMessageMode::Sar,
        LongMessageMode::Payload,
    ] {
        let mut config = config(smsc.port);
        config.long_messages = mode;
        config.registered_delivery = false;
        let hato = Hato::bound(config).await;
        let ids = accepted(&hato.connector, &body).await;
        smsc.peer
            .wait_until("every part", |events| {
                ids.iter().all(|id| {
                    named(events, "submit_sm")
                        .iter()
                        .any(|e| e["message_id"] == id.as_str())
                })
            })
            .await;
        let submits = submits_for(&smsc.peer.events, &ids);
        let total = submits.len();
        let mut whole = String::new();
        for (i, submit) in submits.iter().enumerate() {
            let seq = i as u64 + 1;
            match mode {
                LongMessageMode::Udh16 => {
                    let element = submit["udh"][0].as_str().unwrap_or_default();
                    assert_eq!(&element[..4], "0804", "{submit}");
                    assert_eq!(&element[8..], format!("{total:02x}{seq:02x}"), "{submit}");
                    whole.push_str(text(submit));
                }
                LongMessageMode::Sar => {
                    assert_eq!(submit["sar_total_segments"].as_u64(), Some(total as u64));
                    assert_eq!(submit["sar_segment_seqnum"].as_u64(), Some(seq));
                    assert!(submit["sar_msg_ref_num"].is_u64(), "{submit}");
                    assert_eq!(submit["esm_class"].as_u64(), Some(0), "{submit}");
                    whole.push_str(text(submit));
                }
                _ => {
                    assert_eq!(total, 1);
                    assert_eq!(text(submit), "", "{submit}");
                    whole.push_str(submit["message_payload"].as_str().unwrap_or_default());
                }
            }
            assert_eq!(submit["registered_delivery"].as_u64(), Some(0), "{submit}");
        }
        assert_eq!(whole, body, "{mode:?}");
        hato.stop().await;
    }
    smsc.peer.finish().await;
}

#[tokio::test]
async fn node_smpp_refuses_a_wrong_password_and_hato_reports_it() {
    let Some(mut smsc) = node_smsc().await else {
        return;
    };
    let mut config = config(smsc.port);
    config.password = "wrong".into();
    let hato = Hato::start(config);
    let bind = smsc.peer.next_named("bind").await;
    assert_eq!(
        bind["password"],
        Value::Null,
        "the SMSC does not echo passwords"
    );
    assert_eq!(bind["command"], "bind_transceiver");
    assert_eq!(bind["system_id"], SYSTEM_ID);
    assert_eq!(bind["interface_version"], 0x34, "SMPP 3.4");
    assert_eq!(bind["command_status"], ESME_RINVPASWD);
    let connector = hato.connector.clone();
    eventually("the bind failure recorded", || {
        connector.snapshot().last_error.is_some()
    })
    .await;
    assert_eq!(hato.connector.snapshot().binds_up, 0);
    assert!(matches!(
        hato.connector.submit(sms("never sent")).await,
        SubmitOutcome::Unavailable { .. }
    ));
    hato.stop().await;
    smsc.peer.finish().await;
}
