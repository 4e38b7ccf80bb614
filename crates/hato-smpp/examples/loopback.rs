//! Pushes submits through a connector into the simulator over loopback and prints the rate.
//!
//! `cargo run --release -p hato-smpp --example loopback -- [messages] [binds] [window]`

use std::time::{Duration, Instant};

use hato_core::{PhoneNumber, Sender};
use hato_smpp::simulator::{Simulator, SimulatorConfig};
use hato_smpp::{Connector, ConnectorConfig, OutboundSms, SubmitOutcome};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let messages = args.first().copied().unwrap_or(200_000);
    let binds = args.get(1).copied().unwrap_or(2);
    let window = args.get(2).copied().unwrap_or(256);

    let shutdown = CancellationToken::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_config = SimulatorConfig {
        record: false,
        ..SimulatorConfig::default()
    };
    let sim = Simulator::start(sim_config, listener, shutdown.clone()).await;
    let addr = sim.local_addr();
    let mut config = ConnectorConfig::new(
        "bench",
        addr.ip().to_string(),
        addr.port(),
        "bench",
        "bench",
    );
    config.binds = binds;
    config.window = window;
    config.registered_delivery = false;
    let (tx, mut events) = mpsc::channel(1024);
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    let connector = Connector::start(config, tx, shutdown.clone()).unwrap();
    while connector.snapshot().transmitters_up < binds {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let workers = binds * window;
    let start = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let connector = connector.clone();
            tokio::spawn(async move {
                let mut accepted = 0usize;
                for _ in (w..messages).step_by(workers) {
                    let sms = OutboundSms {
                        source: Sender::Alphanumeric("Hato".into()),
                        destination: PhoneNumber::from_trusted("+819012345678".into()),
                        body: "Your code is 123456".into(),
                        request_receipt: false,
                        validity: None,
                    };
                    if matches!(connector.submit(sms).await, SubmitOutcome::Accepted { .. }) {
                        accepted += 1;
                    }
                }
                accepted
            })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        accepted += task.await.unwrap();
    }
    let elapsed = start.elapsed();
    println!(
        "{accepted}/{messages} accepted in {elapsed:.2?}: {:.0} submit_sm/s (binds {binds}, window {window}); simulator saw {:.0}/s",
        accepted as f64 / elapsed.as_secs_f64(),
        sim.stats().submit_rate
    );
    shutdown.cancel();
    connector.stopped().await;
}
