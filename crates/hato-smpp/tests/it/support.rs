//! Shared setup: a simulator on port 0, a connector with short timers, event helpers.

use std::future::Future;
use std::time::Duration;

use hato_core::{PhoneNumber, Sender};
use hato_smpp::simulator::{Simulator, SimulatorConfig};
use hato_smpp::{
    Connector, ConnectorConfig, ConnectorEvent, DeliveryReceipt, InboundSms, OutboundSms,
};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

pub const SYSTEM_ID: &str = "hato";
pub const PASSWORD: &str = "secret";

pub struct Harness {
    pub sim: Simulator,
    pub connector: Connector,
    pub events: mpsc::Receiver<ConnectorEvent>,
    pub shutdown: CancellationToken,
    pub sim_shutdown: CancellationToken,
}

pub async fn simulator(config: SimulatorConfig) -> (Simulator, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = CancellationToken::new();
    let sim = Simulator::start(config, listener, shutdown.clone()).await;
    (sim, shutdown)
}

pub fn credentials() -> Option<(String, String)> {
    Some((SYSTEM_ID.into(), PASSWORD.into()))
}

/// Short timers so tests run fast without depending on wall-clock speed.
pub fn connector_config(sim: &Simulator) -> ConnectorConfig {
    let addr = sim.local_addr();
    let mut config = ConnectorConfig::new(
        "test",
        addr.ip().to_string(),
        addr.port(),
        SYSTEM_ID,
        PASSWORD,
    );
    config.response_timeout = Duration::from_secs(5);
    config.reconnect_min = Duration::from_millis(20);
    config.reconnect_max = Duration::from_millis(200);
    config.throttle_pause = Duration::from_millis(200);
    config
}

pub async fn start(
    sim_config: SimulatorConfig,
    configure: impl FnOnce(&mut ConnectorConfig),
) -> Harness {
    let (sim, sim_shutdown) = simulator(sim_config).await;
    let mut config = connector_config(&sim);
    configure(&mut config);
    let sessions = config.sessions();
    let (tx, events) = mpsc::channel(1024);
    let shutdown = CancellationToken::new();
    let connector = Connector::start(config, tx, shutdown.clone()).unwrap();
    let harness = Harness {
        sim,
        connector,
        events,
        shutdown,
        sim_shutdown,
    };
    harness.wait_bound(sessions).await;
    harness
}

impl Harness {
    pub async fn wait_bound(&self, sessions: usize) {
        let connector = self.connector.clone();
        eventually("connector bound", || {
            connector.snapshot().binds_up == sessions
        })
        .await;
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.connector.stopped())
            .await
            .expect("connector stops");
        self.sim_shutdown.cancel();
        self.sim.stopped().await;
    }

    /// The next receipt, skipping bind events.
    pub async fn receipt(&mut self) -> (DeliveryReceipt, oneshot::Sender<bool>) {
        loop {
            match self.next_event().await {
                ConnectorEvent::Receipt { receipt, ack } => return (receipt, ack),
                ConnectorEvent::Inbound { message, .. } => panic!("unexpected inbound {message:?}"),
                ConnectorEvent::BindChanged { .. } => {}
            }
        }
    }

    /// The next inbound message, skipping bind events.
    pub async fn inbound(&mut self) -> (InboundSms, oneshot::Sender<bool>) {
        loop {
            match self.next_event().await {
                ConnectorEvent::Inbound { message, ack } => return (message, ack),
                ConnectorEvent::Receipt { receipt, .. } => panic!("unexpected receipt {receipt:?}"),
                ConnectorEvent::BindChanged { .. } => {}
            }
        }
    }

    pub async fn next_event(&mut self) -> ConnectorEvent {
        tokio::time::timeout(Duration::from_secs(10), self.events.recv())
            .await
            .expect("an event within 10 s")
            .expect("event channel open")
    }

    /// Waits until no event but bind changes arrives for `quiet`.
    pub async fn expect_no_message_event(&mut self, quiet: Duration) {
        let deadline = tokio::time::Instant::now() + quiet;
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            if !matches!(event, ConnectorEvent::BindChanged { .. }) {
                panic!("unexpected event {event:?}");
            }
        }
    }
}

pub fn sms(body: &str) -> OutboundSms {
    OutboundSms {
        source: Sender::Alphanumeric("Hato".into()),
        destination: PhoneNumber::from_trusted("+819012345678".into()),
        body: body.into(),
        request_receipt: true,
        validity: None,
    }
}

/// Polls `condition` every 5 ms for up to 10 s.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Runs `future` with a 20 s guard so a hang fails the test instead of blocking CI.
pub async fn guarded<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .expect("finished within 20 s")
}
