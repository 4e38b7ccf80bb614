//! Binding: transceiver, transmitter + receiver pairs, several binds, bad credentials.

use hato_smpp::simulator::SimulatorConfig;
use hato_smpp::{BindMode, Connector, ConnectorEvent, SubmitOutcome};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::support::*;

#[tokio::test]
async fn binds_as_transceiver_and_reports_it() {
    let mut h = start(
        SimulatorConfig {
            credentials: credentials(),
            ..SimulatorConfig::default()
        },
        |_| {},
    )
    .await;
    match h.next_event().await {
        ConnectorEvent::BindChanged {
            connector,
            bound,
            total,
        } => {
            assert_eq!((connector.as_str(), bound, total), ("test", 1, 1));
        }
        other => panic!("{other:?}"),
    }
    let snapshot = h.connector.snapshot();
    assert_eq!(
        (
            snapshot.binds_up,
            snapshot.binds_total,
            snapshot.transmitters_up
        ),
        (1, 1, 1)
    );
    assert_eq!(h.sim.stats().bound, 1);
    assert!(h.connector.is_ready());
    h.stop().await;
}

#[tokio::test]
async fn binds_transmitter_receiver_pairs() {
    let h = start(SimulatorConfig::default(), |c| {
        c.bind_mode = BindMode::TransmitterReceiver;
        c.binds = 2;
    })
    .await;
    let snapshot = h.connector.snapshot();
    assert_eq!(
        (
            snapshot.binds_up,
            snapshot.binds_total,
            snapshot.transmitters_up
        ),
        (4, 4, 2)
    );
    assert_eq!(h.sim.stats().bound, 4);
    // Submits work over the transmitters, receipts come over the receivers.
    let mut h = h;
    assert!(matches!(
        h.connector.submit(sms("pair")).await,
        SubmitOutcome::Accepted { .. }
    ));
    let (receipt, ack) = h.receipt().await;
    ack.send(true).unwrap();
    assert_eq!(receipt.state, hato_smpp::ReceiptState::Delivered);
    h.stop().await;
}

#[tokio::test]
async fn bad_credentials_are_rejected_and_submits_are_unavailable() {
    let (sim, sim_shutdown) = simulator(SimulatorConfig {
        credentials: credentials(),
        ..SimulatorConfig::default()
    })
    .await;
    let mut config = connector_config(&sim);
    config.password = "wrong".into();
    let (tx, _events) = mpsc::channel(16);
    let shutdown = CancellationToken::new();
    let connector = Connector::start(config, tx, shutdown.clone()).unwrap();
    eventually("a refused bind", || sim.stats().binds_rejected >= 2).await;
    let snapshot = connector.snapshot();
    assert_eq!(snapshot.binds_up, 0);
    assert!(!connector.is_ready());
    assert!(snapshot.last_error.unwrap().contains("ESME_RINVPASWD"));
    match connector.submit(sms("hello")).await {
        SubmitOutcome::Unavailable { reason } => assert!(reason.contains("no bind")),
        other => panic!("{other:?}"),
    }
    shutdown.cancel();
    guarded(connector.stopped()).await;
    sim_shutdown.cancel();
}

#[tokio::test]
async fn invalid_configuration_is_refused() {
    let (tx, _events) = mpsc::channel(16);
    let mut config =
        hato_smpp::ConnectorConfig::new("x", "127.0.0.1", 1, "a-very-long-system-id", "pw");
    config.window = 1;
    assert!(Connector::start(config, tx, CancellationToken::new()).is_err());
}
