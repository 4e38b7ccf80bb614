//! Faults: disconnects, keep-alive, shutdown with a full window, garbage on the wire.

use std::time::Duration;

use hato_smpp::simulator::{Fault, SimulatorConfig};
use hato_smpp::{Connector, ConnectorEvent, SubmitOutcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::support::*;

#[tokio::test]
async fn reconnects_after_a_disconnect_and_loses_no_submit() {
    let h = start(SimulatorConfig::default(), |c| {
        c.binds = 2;
        c.window = 8;
    })
    .await;
    h.sim.inject(Fault::DelayResponses {
        delay: Duration::from_millis(20),
        count: 100,
    });
    let submits: Vec<_> = (0..200)
        .map(|i| {
            let connector = h.connector.clone();
            tokio::spawn(async move { connector.submit(sms(&format!("m{i}"))).await })
        })
        .collect();
    eventually("some traffic", || h.sim.stats().submits >= 20).await;
    h.sim.inject(Fault::DisconnectAll);
    let mut accepted = 0;
    let mut retry = 0;
    let mut unavailable = 0;
    for submit in submits {
        match guarded(submit).await.unwrap() {
            SubmitOutcome::Accepted { .. } => accepted += 1,
            SubmitOutcome::Retry { .. } => retry += 1,
            SubmitOutcome::Unavailable { .. } => unavailable += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(accepted + retry + unavailable, 200);
    assert!(accepted > 0);
    // Back up: both binds reconnect and new submits go through.
    h.wait_bound(2).await;
    assert!(matches!(
        h.connector.submit(sms("after")).await,
        SubmitOutcome::Accepted { .. }
    ));
    assert!(h.sim.stats().binds_accepted >= 4);
    h.stop().await;
}

#[tokio::test]
async fn sends_enquire_link() {
    let h = start(SimulatorConfig::default(), |c| {
        c.enquire_link_interval = Duration::from_millis(30)
    })
    .await;
    eventually("enquire_links", || h.sim.stats().enquire_links >= 3).await;
    assert_eq!(h.connector.snapshot().binds_up, 1);
    h.stop().await;
}

#[tokio::test]
async fn shutdown_drains_the_window_and_unbinds() {
    let mut h = start(SimulatorConfig::default(), |c| c.window = 10).await;
    h.sim.inject(Fault::DelayResponses {
        delay: Duration::from_millis(200),
        count: 10,
    });
    let submits: Vec<_> = (0..10)
        .map(|i| {
            let connector = h.connector.clone();
            tokio::spawn(async move { connector.submit(sms(&format!("m{i}"))).await })
        })
        .collect();
    eventually("a full window", || {
        h.connector.snapshot().window_in_use == 10
    })
    .await;
    h.shutdown.cancel();
    assert!(matches!(
        h.connector.submit(sms("late")).await,
        SubmitOutcome::Unavailable { .. }
    ));
    guarded(h.connector.stopped()).await;
    for submit in submits {
        assert!(matches!(
            submit.await.unwrap(),
            SubmitOutcome::Accepted { .. }
        ));
    }
    assert_eq!(h.sim.stats().unbinds, 1);
    let mut saw_down = false;
    while let Ok(event) = h.events.try_recv() {
        if let ConnectorEvent::BindChanged { bound: 0, .. } = event {
            saw_down = true;
        }
    }
    assert!(saw_down);
    h.sim_shutdown.cancel();
}

#[tokio::test]
async fn the_simulator_survives_garbage() {
    let h = start(SimulatorConfig::default(), |_| {}).await;
    for garbage in [
        vec![0u8, 0, 0, 3, 1, 2, 3],
        vec![
            0, 0, 0, 20, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF,
        ],
        (0..=255u8).collect(),
    ] {
        let mut raw = TcpStream::connect(h.sim.local_addr()).await.unwrap();
        raw.write_all(&garbage).await.unwrap();
        let mut buf = [0u8; 64];
        // Either an answer (generic_nack) or a closed socket; never a hang.
        let _ = tokio::time::timeout(Duration::from_secs(2), raw.read(&mut buf)).await;
    }
    assert!(matches!(
        h.connector.submit(sms("still here")).await,
        SubmitOutcome::Accepted { .. }
    ));
    assert!(h.sim.stats().invalid_pdus >= 2);
    h.stop().await;
}

async fn read_pdu(stream: &mut TcpStream) -> Vec<u8> {
    let mut length = [0u8; 4];
    stream.read_exact(&mut length).await.unwrap();
    let mut rest = vec![0u8; u32::from_be_bytes(length) as usize - 4];
    stream.read_exact(&mut rest).await.unwrap();
    rest
}

fn pdu(command_id: u32, status: u32, sequence: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(16 + body.len() as u32).to_be_bytes());
    out.extend_from_slice(&command_id.to_be_bytes());
    out.extend_from_slice(&status.to_be_bytes());
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A hand-written SMSC: binds the connector, sends an enquire_link, an unknown PDU, a broken
/// deliver_sm, then garbage framing; the connector must answer the first three and reconnect
/// after the last.
#[tokio::test]
async fn the_connector_survives_garbage_from_the_smsc() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, _events) = mpsc::channel(16);
    let shutdown = CancellationToken::new();
    let mut config =
        hato_smpp::ConnectorConfig::new("raw", addr.ip().to_string(), addr.port(), "hato", "pw");
    config.reconnect_min = Duration::from_millis(10);
    let connector = Connector::start(config, tx, shutdown.clone()).unwrap();

    let (mut smsc, _) = guarded(listener.accept()).await.unwrap();
    let bind = read_pdu(&mut smsc).await;
    assert_eq!(&bind[..4], &0x0000_0009u32.to_be_bytes());
    smsc.write_all(&pdu(0x8000_0009, 0, 1, b"raw\0"))
        .await
        .unwrap();
    eventually("bound", || connector.snapshot().binds_up == 1).await;

    // enquire_link from the SMSC is answered.
    smsc.write_all(&pdu(0x0000_0015, 0, 76, &[])).await.unwrap();
    let answer = guarded(read_pdu(&mut smsc)).await;
    assert_eq!(&answer[..4], &0x8000_0015u32.to_be_bytes());
    assert_eq!(&answer[8..12], &76u32.to_be_bytes());

    smsc.write_all(&pdu(0x0000_0999, 0, 77, &[])).await.unwrap();
    let nack = guarded(read_pdu(&mut smsc)).await;
    assert_eq!(&nack[..4], &0x8000_0000u32.to_be_bytes());
    assert_eq!(&nack[4..8], &3u32.to_be_bytes());
    assert_eq!(&nack[8..12], &77u32.to_be_bytes());

    smsc.write_all(&pdu(0x0000_0005, 0, 78, &[0xC3, 0xA9, 0x00]))
        .await
        .unwrap();
    let answer = guarded(read_pdu(&mut smsc)).await;
    assert_eq!(&answer[8..12], &78u32.to_be_bytes());
    assert_ne!(&answer[4..8], &0u32.to_be_bytes());

    smsc.write_all(&[0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3])
        .await
        .unwrap();
    let (mut again, _) = guarded(listener.accept()).await.unwrap();
    let bind = guarded(read_pdu(&mut again)).await;
    assert_eq!(&bind[..4], &0x0000_0009u32.to_be_bytes());
    assert!(connector.snapshot().last_error.is_some());
    shutdown.cancel();
    guarded(connector.stopped()).await;
}

/// Binds a connector to a hand-written SMSC on `listener`; returns the SMSC's socket, the
/// connector and its events.
async fn raw_smsc(
    listener: &TcpListener,
    configure: impl FnOnce(&mut hato_smpp::ConnectorConfig),
) -> (
    TcpStream,
    Connector,
    mpsc::Receiver<ConnectorEvent>,
    CancellationToken,
) {
    let addr = listener.local_addr().unwrap();
    let (tx, events) = mpsc::channel(16);
    let shutdown = CancellationToken::new();
    let mut config =
        hato_smpp::ConnectorConfig::new("raw", addr.ip().to_string(), addr.port(), "hato", "pw");
    configure(&mut config);
    let connector = Connector::start(config, tx, shutdown.clone()).unwrap();
    let (mut smsc, _) = guarded(listener.accept()).await.unwrap();
    let bind = guarded(read_pdu(&mut smsc)).await;
    assert_eq!(&bind[..4], &0x0000_0009u32.to_be_bytes());
    smsc.write_all(&pdu(0x8000_0009, 0, 1, b"raw\0"))
        .await
        .unwrap();
    eventually("bound", || connector.snapshot().binds_up == 1).await;
    (smsc, connector, events, shutdown)
}

/// (command_id, command_status, sequence_number) of a PDU read by [`read_pdu`].
fn header(pdu: &[u8]) -> (u32, u32, u32) {
    let word = |i: usize| u32::from_be_bytes([pdu[i], pdu[i + 1], pdu[i + 2], pdu[i + 3]]);
    (word(0), word(4), word(8))
}

/// Whatever an SMSC sends that an ESME does not serve, the session lives on: PDUs without a
/// response (alert_notification, outbind) and stray responses are not answered, requests
/// meant for an SMSC get their own response with ESME_RINVBNDSTS, unknown command ids a
/// generic_nack with ESME_RINVCMDID.
#[tokio::test]
async fn unexpected_pdus_from_the_smsc_are_answered_as_smpp_says() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (mut smsc, connector, mut events, shutdown) = raw_smsc(&listener, |c| {
        // No keep-alive of the connector's own in the middle of the exchange.
        c.enquire_link_interval = Duration::from_secs(3600);
    })
    .await;

    // alert_notification: source 1/1 "819011112222", esme 1/1 "12345". No response exists.
    smsc.write_all(&pdu(
        0x0000_0102,
        0,
        10,
        b"\x01\x01819011112222\0\x01\x0112345\0",
    ))
    .await
    .unwrap();
    // outbind on a bound session: no response exists either.
    smsc.write_all(&pdu(0x0000_000B, 0, 11, b"smsc\0pw\0"))
        .await
        .unwrap();
    // Stray responses to nothing the connector sent.
    smsc.write_all(&pdu(0x8000_0004, 0, 12, b"abc\0"))
        .await
        .unwrap();
    smsc.write_all(&pdu(0x8000_0000, 8, 13, &[])).await.unwrap();
    // query_sm and bind_transmitter are SMPP requests, but for an SMSC to serve.
    smsc.write_all(&pdu(0x0000_0003, 0, 14, b"1\0\0\0\0"))
        .await
        .unwrap();
    smsc.write_all(&pdu(0x0000_0002, 0, 15, b"x\0\0\0\x34\0\0\0"))
        .await
        .unwrap();
    // An unknown command id, with a body.
    smsc.write_all(&pdu(0x0000_0777, 0, 16, &[1, 2, 3]))
        .await
        .unwrap();
    // Then an enquire_link: its answer comes right after the three above, so nothing was
    // said to the others, and the session is alive.
    smsc.write_all(&pdu(0x0000_0015, 0, 17, &[])).await.unwrap();

    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(header(&guarded(read_pdu(&mut smsc)).await));
    }
    assert_eq!(
        answers,
        [
            (0x8000_0003, 0x04, 14), // query_sm_resp, ESME_RINVBNDSTS
            (0x8000_0002, 0x04, 15), // bind_transmitter_resp, ESME_RINVBNDSTS
            (0x8000_0000, 0x03, 16), // generic_nack, ESME_RINVCMDID
            (0x8000_0015, 0x00, 17), // enquire_link_resp
        ]
    );
    assert_eq!(connector.snapshot().binds_up, 1);
    assert!(connector.snapshot().last_error.is_none());

    // Still a working session: a deliver_sm after all that becomes an inbound message,
    // answered once acked.
    let deliver_sm = b"\0\x01\x01819011112222\0\x03\x0012345\0\0\0\0\0\0\0\0\0\0\x02hi";
    smsc.write_all(&pdu(0x0000_0005, 0, 18, deliver_sm))
        .await
        .unwrap();
    let (message, ack) = loop {
        match guarded(events.recv()).await.expect("events open") {
            ConnectorEvent::Inbound { message, ack } => break (message, ack),
            ConnectorEvent::BindChanged { .. } => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        (message.from.as_str(), message.body.as_str()),
        ("+819011112222", "hi")
    );
    ack.send(true).unwrap();
    assert_eq!(
        header(&guarded(read_pdu(&mut smsc)).await),
        (0x8000_0005, 0, 18)
    );

    // The connector unbinds on this very socket: it never reconnected.
    shutdown.cancel();
    let unbind = header(&guarded(read_pdu(&mut smsc)).await);
    assert_eq!(unbind.0, 0x0000_0006);
    smsc.write_all(&pdu(0x8000_0006, 0, unbind.2, &[]))
        .await
        .unwrap();
    guarded(connector.stopped()).await;
}
